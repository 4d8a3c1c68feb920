//! Decoding page bytes as a browser does, and recording why.
//!
//! Order (WHATWG): byte order mark, then the HTTP `Content-Type` charset, then a `<meta>`
//! prescan of the first 1024 bytes, then statistical detection (chardetng, as Firefox).
//! Two corrections real Chinese sites need:
//! - `gb2312`/`gbk` labels decode as GB18030: such pages routinely contain GBK-only characters
//!   (and 4-byte GB18030 sequences such as `©`), which a strict GB2312 decoder loses;
//! - bytes that are valid UTF-8 under a legacy label decode as UTF-8 (a template converted to
//!   UTF-8 whose `<meta>` was never updated).

use encoding_rs::{Encoding, GB18030, GBK, UTF_8};
use serde::Serialize;

/// How much of the document the `<meta>` prescan reads, as in the HTML standard.
const PRESCAN_BYTES: usize = 1024;
/// A labelled decoding with at least this many U+FFFD is checked against the detector's...
const OVERRIDE_MIN_REPLACEMENTS: usize = 8;
/// ...which wins when it produces at most a tenth of them.
const OVERRIDE_RATIO: usize = 10;

/// Which rule chose the encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CharsetSource {
    Bom,
    Header,
    Meta,
    Detector,
    /// A legacy label was given but the bytes are valid UTF-8.
    Utf8Valid,
    /// The label (header or meta) decoded the bytes badly (many U+FFFD) and the detector's
    /// encoding reads them cleanly: the detector's is used, the label kept in the record.
    DetectorOverride,
}

impl CharsetSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bom => "bom",
            Self::Header => "header",
            Self::Meta => "meta",
            Self::Detector => "detector",
            Self::Utf8Valid => "utf8-valid",
            Self::DetectorOverride => "detector-override",
        }
    }
}

/// Every input to the decision, and the decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CharsetDecision {
    pub bom: Option<&'static str>,
    /// The charset parameter of the HTTP header, as written.
    pub header_label: Option<String>,
    /// The charset named by the page's `<meta>`, as written.
    pub meta_label: Option<String>,
    /// chardetng's guess (only computed when no label decided).
    pub detected: Option<&'static str>,
    pub encoding: &'static str,
    pub source: CharsetSource,
    /// U+FFFD characters produced by decoding (bytes the encoding could not read).
    pub replacement_chars: usize,
}

/// A decoded page.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// The page as text, its element nesting capped ([`crate::nesting`]).
    pub text: String,
    /// Set when the page was nested deeper than [`crate::nesting::MAX_DEPTH`] and flattened.
    pub nesting: Option<crate::nesting::DepthCapped>,
    pub decision: CharsetDecision,
}

/// Decodes `bytes` given the HTTP `Content-Type` header value (if any).
pub fn decode(bytes: &[u8], content_type: Option<&str>) -> Decoded {
    let header_label = content_type.and_then(charset_param);
    let meta_label = prescan_meta_charset(&bytes[..bytes.len().min(PRESCAN_BYTES)]);

    let (encoding, source, bom, detected, body) = if let Some((enc, bom_len)) = Encoding::for_bom(bytes) {
        (enc, CharsetSource::Bom, Some(enc.name()), None, &bytes[bom_len..])
    } else if let Some(enc) = header_label.as_deref().and_then(label_to_encoding) {
        (enc, CharsetSource::Header, None, None, bytes)
    } else if let Some(enc) = meta_label.as_deref().and_then(label_to_encoding).map(meta_prescan_result) {
        (enc, CharsetSource::Meta, None, None, bytes)
    } else {
        let guess = detect(bytes);
        (guess, CharsetSource::Detector, None, Some(guess.name()), bytes)
    };

    // A legacy label on bytes that are entirely valid UTF-8 (and not plain ASCII) is a stale label.
    let (encoding, source) =
        if encoding != UTF_8 && source != CharsetSource::Bom && !body.is_ascii() && std::str::from_utf8(body).is_ok() {
            (UTF_8, CharsetSource::Utf8Valid)
        } else {
            (encoding, source)
        };

    let (text, had_errors) = encoding.decode_without_bom_handling(body);
    let replacement_chars = if had_errors {
        count_replacement_chars(text.as_bytes()).saturating_sub(body_replacement_chars_already_present(body, encoding))
    } else {
        0
    };

    // A wrong label (a GBK page served as `charset=utf-8` by a misconfigured server): when the
    // labelled decoding is broken and the detector's multi-byte guess reads the bytes cleanly,
    // browsers' users see mojibake but an archive wants the text. Single-byte guesses never
    // produce U+FFFD, so they prove nothing and do not override.
    let (text, encoding, source, detected, replacement_chars) = match source {
        CharsetSource::Header | CharsetSource::Meta if replacement_chars >= OVERRIDE_MIN_REPLACEMENTS => {
            let guess = detect(body);
            let (alt, alt_errors) = if guess != encoding && !guess.is_single_byte() {
                let (t, e) = guess.decode_without_bom_handling(body);
                let n = if e { count_replacement_chars(t.as_bytes()) } else { 0 };
                (Some(t), n)
            } else {
                (None, 0)
            };
            match alt {
                Some(alt) if alt_errors * OVERRIDE_RATIO <= replacement_chars => {
                    (alt, guess, CharsetSource::DetectorOverride, Some(guess.name()), alt_errors)
                }
                _ => (text, encoding, source, Some(guess.name()), replacement_chars),
            }
        }
        _ => (text, encoding, source, detected, replacement_chars),
    };
    // Every parser downstream (extractors, link discovery) sees the page with its nesting capped.
    let text = text.into_owned();
    let (text, nesting) = match crate::nesting::cap_depth(&text, crate::nesting::MAX_DEPTH) {
        Some((capped, c)) => (capped, Some(c)),
        None => (text, None),
    };
    Decoded {
        text,
        nesting,
        decision: CharsetDecision {
            bom,
            header_label,
            meta_label,
            detected,
            encoding: encoding.name(),
            source,
            replacement_chars,
        },
    }
}

/// The HTML standard's correction of a `<meta>` prescan result ("prescan a byte stream to
/// determine its encoding"): a page whose `<meta>` could be read as ASCII is not UTF-16, so a
/// declared UTF-16BE/LE means UTF-8; `x-user-defined` means windows-1252.
fn meta_prescan_result(enc: &'static Encoding) -> &'static Encoding {
    if enc == encoding_rs::UTF_16LE || enc == encoding_rs::UTF_16BE {
        UTF_8
    } else if enc == encoding_rs::X_USER_DEFINED {
        encoding_rs::WINDOWS_1252
    } else {
        enc
    }
}

/// U+FFFD written literally in UTF-8 pages is text, not a decoding failure.
fn body_replacement_chars_already_present(body: &[u8], encoding: &'static Encoding) -> usize {
    if encoding != UTF_8 {
        return 0;
    }
    count_replacement_chars(body)
}

/// U+FFFD in UTF-8 bytes.
fn count_replacement_chars(utf8: &[u8]) -> usize {
    memchr::memmem::find_iter(utf8, "\u{FFFD}".as_bytes()).count()
}

/// Maps a label to the encoding caiji decodes with: GB2312 and GBK become GB18030, a
/// superset whose decoder reads every byte sequence the smaller ones can.
pub fn label_to_encoding(label: &str) -> Option<&'static Encoding> {
    let enc = Encoding::for_label_no_replacement(label.trim().as_bytes())?;
    Some(if enc == GBK { GB18030 } else { enc })
}

/// How much non-ASCII text chardetng sees: it is confident long before, and it reads ~5 MB/s,
/// so the whole of a 50 KB page would cost more than parsing it.
const DETECT_BYTES: usize = 2 * 1024;

fn detect(bytes: &[u8]) -> &'static Encoding {
    let mut det = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
    // Start at the first non-ASCII byte (scripts and styles before it say nothing).
    let start = bytes.iter().position(|b| !b.is_ascii()).unwrap_or(bytes.len());
    let end = (start + DETECT_BYTES).min(bytes.len());
    det.feed(&bytes[start..end], end == bytes.len());
    // No TLD hint: it can override clear evidence in the content (a GBK page guessed as Big5).
    let enc = det.guess(None, chardetng::Utf8Detection::Allow);
    if enc == GBK {
        return GB18030;
    }
    // chardetng rejects GBK over a couple of truncated sequences (a title cut mid-character)
    // and falls back to windows-1252. A page that reads as thousands of hanzi in GB18030 with
    // a handful of bad bytes is GB18030 (seen in the CWCED benchmark).
    if enc.is_single_byte() && reads_as_chinese(bytes, GB18030) {
        return GB18030;
    }
    enc
}

/// Decodes to mostly CJK ideographs with at most one bad sequence per 200 of them.
fn reads_as_chinese(bytes: &[u8], enc: &'static Encoding) -> bool {
    let (text, _) = enc.decode_without_bom_handling(bytes);
    let (mut hanzi, mut bad) = (0usize, 0usize);
    for c in text.chars() {
        match c {
            '\u{4E00}'..='\u{9FFF}' => hanzi += 1,
            '\u{FFFD}' => bad += 1,
            _ => {}
        }
    }
    hanzi >= 50 && bad * 200 <= hanzi
}

/// The `charset=` parameter of a Content-Type value.
pub fn charset_param(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|param| {
        let (k, v) = param.split_once('=')?;
        if !k.trim().eq_ignore_ascii_case("charset") {
            return None;
        }
        let v = v.trim().trim_matches(|c| c == '"' || c == '\'').trim();
        (!v.is_empty()).then(|| v.to_string())
    })
}

/// A simplified WHATWG `<meta>` prescan: the first `<meta charset=…>` or
/// `<meta http-equiv="Content-Type" content="…; charset=…">` in the bytes, skipping comments.
/// The label is returned lowercased (labels are case-insensitive).
pub fn prescan_meta_charset(head: &[u8]) -> Option<String> {
    let lower: Vec<u8> = head.iter().map(|b| b.to_ascii_lowercase()).collect();
    let mut i = 0;
    while i < lower.len() {
        if lower[i..].starts_with(b"<!--") {
            i = find(&lower, b"-->", i + 4).map_or(lower.len(), |j| j + 3);
            continue;
        }
        if lower[i..].starts_with(b"<meta") && lower.get(i + 5).is_some_and(|b| b.is_ascii_whitespace() || *b == b'/') {
            let end = find(&lower, b">", i).unwrap_or(lower.len());
            let tag = &lower[i + 5..end];
            if let Some(label) = charset_in_meta(tag) {
                return Some(label);
            }
            i = end;
            continue;
        }
        i += 1;
    }
    None
}

fn charset_in_meta(tag: &[u8]) -> Option<String> {
    let pos = find(tag, b"charset", 0)?;
    let mut j = pos + "charset".len();
    while tag.get(j).is_some_and(|b| b.is_ascii_whitespace()) {
        j += 1;
    }
    if tag.get(j) != Some(&b'=') {
        return charset_in_meta(&tag[pos + 7..]);
    }
    j += 1;
    while tag.get(j).is_some_and(|b| b.is_ascii_whitespace() || *b == b'"' || *b == b'\'') {
        j += 1;
    }
    let start = j;
    while tag.get(j).is_some_and(|b| !b.is_ascii_whitespace() && !matches!(b, b'"' | b'\'' | b';' | b'>' | b'/')) {
        j += 1;
    }
    (j > start).then(|| String::from_utf8_lossy(&tag[start..j]).into_owned())
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?.windows(needle.len()).position(|w| w == needle).map(|p| p + from)
}

#[cfg(test)]
mod tests {

    const PAGE: &str = "<html><head><title>区政府召开防汛工作会议</title></head><body><p>本周三上午，区政府召开防汛工作会议。</p></body></html>";

    #[test]
    fn every_byte_order_mark_decides_first_and_is_not_binary() {
        let utf16 = |be: bool| -> Vec<u8> {
            let mut v = if be { vec![0xFE, 0xFF] } else { vec![0xFF, 0xFE] };
            for u in PAGE.encode_utf16() {
                v.extend(if be { u.to_be_bytes() } else { u.to_le_bytes() });
            }
            v
        };
        let mut utf8 = vec![0xEF, 0xBB, 0xBF];
        utf8.extend(PAGE.as_bytes());
        for (bytes, name) in [(utf8, "UTF-8"), (utf16(false), "UTF-16LE"), (utf16(true), "UTF-16BE")] {
            assert_eq!(crate::registry::not_html_reason(&bytes, Some("text/html")), None, "{name}");
            // A BOM wins over a header and a meta naming something else.
            let d = decode(&bytes, Some("text/html; charset=gbk"));
            assert_eq!((d.decision.encoding, d.decision.source), (name, CharsetSource::Bom));
            assert_eq!(d.text, PAGE, "{name}");
        }
    }

    #[test]
    fn a_meta_declared_utf16_means_utf8() {
        let ncr: String =
            PAGE.chars().map(|c| if c.is_ascii() { c.to_string() } else { format!("&#{};", c as u32) }).collect();
        for label in
            ["utf-16", "UTF-16", "utf-16le", "utf-16be", "unicodefffe", "csunicode", "ucs-2", "iso-10646-ucs-2"]
        {
            let meta = format!("<meta http-equiv=\"Content-Type\" content=\"text/html; charset={label}\">");
            for body in [PAGE.to_string(), ncr.clone()] {
                let page = body.replacen("<head>", &format!("<head>{meta}"), 1);
                let d = decode(page.as_bytes(), Some("text/html"));
                assert_eq!((d.decision.encoding, d.decision.source), ("UTF-8", CharsetSource::Meta), "{label}");
                assert_eq!(
                    d.decision.meta_label.as_deref().map(str::to_ascii_lowercase),
                    Some(label.to_ascii_lowercase())
                );
                assert!(d.text.contains("区政府召开防汛工作会议") || d.text.contains("&#21306;"), "{label}");
                assert_eq!(d.decision.replacement_chars, 0, "{label}");
            }
        }
        let d = decode(b"<meta charset=x-user-defined><p>caf\xe9</p>", None);
        assert_eq!(d.decision.encoding, "windows-1252");
        assert!(d.text.contains("café"));
    }

    #[test]
    fn a_broken_label_is_overridden_by_a_clean_detection() {
        let page = format!(
            "<html><head><title>关于做好冬季安全生产工作的通知</title></head><body>{}</body></html>",
            "<p>各乡镇人民政府，县直各有关单位：为切实做好冬季安全生产工作，现将有关事项通知如下。</p>".repeat(4)
        );
        let (gbk, _, _) = encoding_rs::GBK.encode(&page);
        let d = decode(&gbk, Some("text/html; charset=utf-8"));
        assert_eq!((d.decision.encoding, d.decision.source), ("gb18030", CharsetSource::DetectorOverride));
        assert_eq!(d.decision.header_label.as_deref(), Some("utf-8"));
        assert_eq!(d.decision.replacement_chars, 0);
        assert_eq!(d.text, page);
        // A UTF-8 page with one stray bad byte keeps its label.
        let mut bytes = page.clone().into_bytes();
        bytes.insert(200, 0xFF);
        let d = decode(&bytes, Some("text/html; charset=utf-8"));
        assert_eq!((d.decision.encoding, d.decision.source), ("UTF-8", CharsetSource::Header));
    }

    use super::*;

    #[test]
    fn gb2312_label_decodes_gbk_only_characters() {
        // 為 (GBK-only, 0x9E 0xE9) and — (A1AA) under a gb2312 meta.
        let (bytes, _, _) = GB18030.encode("<meta charset=\"gb2312\"><p>為人民—服务</p>");
        let d = decode(&bytes, Some("text/html"));
        assert_eq!(d.decision.source, CharsetSource::Meta);
        assert_eq!(d.decision.meta_label.as_deref(), Some("gb2312"));
        assert_eq!(d.decision.encoding, "gb18030");
        assert!(d.text.contains("為人民—服务"), "{}", d.text);
        assert_eq!(d.decision.replacement_chars, 0);
    }

    #[test]
    fn header_beats_meta_and_bom_beats_header() {
        let page = "<meta charset=gbk><p>中文</p>";
        let d = decode(page.as_bytes(), Some("text/html; charset=\"UTF-8\""));
        assert_eq!(d.decision.source, CharsetSource::Header);
        assert_eq!(d.decision.header_label.as_deref(), Some("UTF-8"));
        let mut with_bom = vec![0xEF, 0xBB, 0xBF];
        with_bom.extend_from_slice(page.as_bytes());
        let d = decode(&with_bom, Some("text/html; charset=gbk"));
        assert_eq!(d.decision.source, CharsetSource::Bom);
        assert!(d.text.starts_with("<meta"));
    }

    #[test]
    fn valid_utf8_under_legacy_label_is_utf8() {
        let d = decode("<meta charset=gb2312><p>中文内容</p>".as_bytes(), None);
        assert_eq!(d.decision.source, CharsetSource::Utf8Valid);
        assert_eq!(d.decision.encoding, "UTF-8");
        assert!(d.text.contains("中文内容"));
    }

    #[test]
    fn unlabelled_gbk_is_detected() {
        let (bytes, _, _) =
            GB18030.encode("<html><body><p>全市作风建设暨自贸试验区工作推进大会上讲话，同志们，市民朋友们：大家下午好！</p></body></html>");
        let d = decode(&bytes, None);
        assert_eq!(d.decision.source, CharsetSource::Detector);
        assert_eq!(d.decision.encoding, "gb18030");
        assert!(d.text.contains("自贸试验区"));
    }

    #[test]
    fn gbk_with_a_truncated_sequence_is_still_gbk() {
        let mut bytes = GB18030
            .encode(&"<p>太行山上主要讲述八路军总司令朱德率领刚刚改编完的八路军三个主力师东渡黄河。</p>".repeat(10))
            .0
            .into_owned();
        bytes.extend_from_slice(b"<p>\xbc</p>"); // a title cut in the middle of a character
        let d = decode(&bytes, None);
        assert_eq!(d.decision.encoding, "gb18030");
        assert!(d.text.contains("八路军总司令"));
        assert_eq!(d.decision.replacement_chars, 1);
    }

    #[test]
    fn unlabelled_big5_is_not_mistaken_for_gbk() {
        let text = "<html><body><p>李小敏強調，全市上下要堅持以習近平新時代中國特色社會主義思想為指導，聚焦省委提出的目標和對無錫提出的要求，既突出問題導向又堅持實踐取向，紮實深入開展解放思想大討論活動。</p></body></html>";
        let (bytes, _, _) = encoding_rs::BIG5.encode(text);
        let d = decode(&bytes, None);
        assert_eq!(d.decision.encoding, "Big5");
        assert!(d.text.contains("解放思想大討論"));
    }

    #[test]
    fn replacement_characters_are_counted() {
        let bytes = b"<meta charset=utf-8><p>ok \xff\xfe bad</p>";
        let d = decode(bytes, None);
        assert_eq!(d.decision.replacement_chars, 2);
    }

    #[test]
    fn http_equiv_and_comments() {
        assert_eq!(
            prescan_meta_charset(
                b"<!-- <meta charset=big5> --><META http-equiv=\"Content-Type\" content=\"text/html; charset=GBK\">"
            )
            .as_deref(),
            Some("gbk")
        );
        assert_eq!(charset_param("text/html;charset=gb2312").as_deref(), Some("gb2312"));
        assert_eq!(charset_param("text/html"), None);
    }
}

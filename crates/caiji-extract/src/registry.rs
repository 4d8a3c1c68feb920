//! Extractors by name, and the one entry point from raw bytes to a record.

use crate::charset::{CharsetDecision, Decoded, decode};
use crate::generic::Generic;
use crate::{Extractor, Flag, Page, Record, sites};

/// All extractors caiji knows, by name.
pub struct Registry {
    extractors: Vec<&'static dyn Extractor>,
}

impl Default for Registry {
    fn default() -> Self {
        let mut extractors: Vec<&'static dyn Extractor> = sites::ALL.to_vec();
        extractors.push(&Generic);
        Self { extractors }
    }
}

impl Registry {
    pub fn get(&self, name: &str) -> Option<&'static dyn Extractor> {
        self.extractors.iter().copied().find(|e| e.name() == name)
    }

    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.extractors.iter().map(|e| e.name())
    }
}

/// Why a body is not handed to an HTML extractor.
pub fn not_html_reason(bytes: &[u8], content_type: Option<&str>) -> Option<String> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Some("empty body".into());
    }
    if let Some(ct) = content_type {
        let mime = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        if !mime.is_empty()
            && !mime.contains("html")
            && !mime.starts_with("text/")
            && mime != "application/octet-stream"
        {
            return Some(format!("content type {mime}"));
        }
    }
    // The byte order mark first, as the Encoding standard orders it: a UTF-16 page is full of
    // NUL bytes and is text all the same.
    if encoding_rs::Encoding::for_bom(bytes).is_some() {
        return None;
    }
    let head = &bytes[..bytes.len().min(1024)];
    const MAGIC: &[(&[u8], &str)] = &[
        (b"%PDF-", "PDF document"),
        (b"\x89PNG", "PNG image"),
        (b"GIF8", "GIF image"),
        (b"\xff\xd8\xff", "JPEG image"),
        (b"PK\x03\x04", "ZIP archive (docx, xlsx, ...)"),
        (b"\xd0\xcf\x11\xe0", "OLE document (doc, xls, ...)"),
        (b"\x1f\x8b", "gzip data"),
    ];
    if let Some((_, what)) = MAGIC.iter().find(|(m, _)| head.starts_with(m)) {
        return Some((*what).into());
    }
    // Binary formats are full of NUL bytes; a stray one in a broken page is still a page.
    if head.iter().filter(|&&b| b == 0).count() > 8 {
        return Some("binary content".into());
    }
    None
}

/// Decodes `bytes` through the charset pipeline and runs `extractor` on them. Bodies that are
/// not HTML give a record flagged `not_html` and no paragraphs.
pub fn extract_bytes(
    extractor: &dyn Extractor,
    bytes: &[u8],
    url: &str,
    content_type: Option<&str>,
) -> (Record, Option<CharsetDecision>) {
    if let Some(reason) = not_html_reason(bytes, content_type) {
        let mut rec = Record::new(url, extractor);
        rec.flag(Flag::NotHtml);
        rec.meta.insert("not_html".into(), serde_json::Value::String(reason));
        return (rec, None);
    }
    let decoded = decode(bytes, content_type);
    (extract_decoded(extractor, url, &decoded), Some(decoded.decision))
}

/// Runs `extractor` on a page decoded by [`decode`], flagging what decoding changed
/// ([`Flag::TooDeep`], with `meta.nesting_depth`).
pub fn extract_decoded(extractor: &dyn Extractor, url: &str, decoded: &Decoded) -> Record {
    let page = Page { url, html: &decoded.text, charset: Some(&decoded.decision) };
    let mut rec = extractor.extract(&page);
    rec.strip_nul();
    if let Some(n) = decoded.nesting.filter(|n| n.dropped > 0) {
        rec.flag(Flag::TooDeep);
        rec.meta.insert("nesting_depth".into(), serde_json::Value::from(n.depth));
    }
    rec
}

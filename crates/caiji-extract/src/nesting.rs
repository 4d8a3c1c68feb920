//! A cap on element nesting, applied before any HTML parser sees a page.
//!
//! html5ever's tree builder walks the stack of open elements for many start tags, so its time
//! grows with the square of the nesting depth (100,000 nested `<div>`s: ~30 s of CPU), and
//! recursive walks of the tree overflow the stack. Browsers bound this: Blink's parser puts
//! elements deeper than 512 beside their parent instead of inside it
//! (`kMaximumHTMLParserDOMTreeDepth`). caiji does the same on the markup: start tags that would
//! open an element deeper than [`MAX_DEPTH`] are dropped with their matching end tags, so the
//! content they held stays in the page, one level up. Pages under the cap are not touched.
//!
//! The depth is counted on a tokenizer-level scan (comments, raw-text elements, quoted
//! attributes and void elements understood; elements whose end tag is optional not counted),
//! so it approximates the tree builder's stack from below.

use std::borrow::Cow;

/// Deepest element nesting kept, as in Blink.
pub const MAX_DEPTH: usize = 512;

/// Attributes kept on one start tag: html5ever checks each new attribute against the tag's
/// others, so a tag with 200,000 of them costs minutes. Real pages use a few dozen.
pub const MAX_ATTRIBUTES: usize = 256;

/// What [`cap_depth`] did to a page that was too deep (or had a tag with too many attributes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DepthCapped {
    /// The deepest nesting the markup asked for.
    pub depth: usize,
    /// Start and end tags dropped for depth.
    pub dropped: usize,
    /// Start tags whose attributes past [`MAX_ATTRIBUTES`] were dropped.
    pub attributes_cut: usize,
}

const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr", "param",
    "keygen", "basefont", "bgsound", "frame",
];
/// Elements whose end tag may be omitted: the tree builder closes them implicitly, so they are
/// not counted (counting them would over-count a page of unclosed `<p>`s).
const OPTIONAL_END: &[&str] = &[
    "p", "li", "dt", "dd", "option", "optgroup", "tr", "td", "th", "tbody", "thead", "tfoot", "rb", "rt", "rp", "rtc",
    "colgroup", "caption", "html", "head", "body",
];
const RAW_TEXT: &[&str] =
    &["script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes", "plaintext"];

/// `html` with its nesting capped at `max` (see the module doc); `None` when nothing exceeds it.
pub fn cap_depth(html: &str, max: usize) -> Option<(String, DepthCapped)> {
    let bytes = html.as_bytes();
    // (name, dropped) of each open counted element, and how many of each name are open (an
    // end tag of a name not open is skipped at once, not searched for down the whole stack).
    let mut stack: Vec<(&str, bool)> = Vec::new();
    let mut open: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut attributes_cut = 0usize;
    let mut depth_drops = 0usize;
    let mut kept_depth = 0usize;
    let mut deepest = 0usize;
    let mut dropped_ranges: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while let Some(off) = memchr::memchr(b'<', &bytes[i..]) {
        let lt = i + off;
        let rest = &bytes[lt + 1..];
        if rest.starts_with(b"!--") {
            i = match memchr::memmem::find(&rest[3..], b"-->") {
                Some(p) => lt + 1 + 3 + p + 3,
                None => bytes.len(),
            };
            continue;
        }
        if rest.first().is_some_and(|b| *b == b'!' || *b == b'?') {
            i = tag_end(bytes, lt + 1).unwrap_or(bytes.len());
            continue;
        }
        let (closing, name_start) = if rest.first() == Some(&b'/') { (true, lt + 2) } else { (false, lt + 1) };
        let name_end = bytes[name_start..]
            .iter()
            .position(|b| !(b.is_ascii_alphanumeric() || *b == b'-' || *b == b':'))
            .map_or(bytes.len(), |p| name_start + p);
        if name_end == name_start || !bytes[name_start].is_ascii_alphabetic() {
            i = lt + 1; // a '<' in text
            continue;
        }
        let Some(end) = tag_end(bytes, name_end) else { break };
        let name = &html[name_start..name_end];
        let lower = name.to_ascii_lowercase();
        if closing {
            if open.get(&lower).is_some_and(|n| *n > 0)
                && let Some(pos) = stack.iter().rposition(|(n, _)| n.eq_ignore_ascii_case(name))
            {
                let (_, dropped) = stack[pos];
                // Elements left open inside it are closed with it.
                for (n, d) in stack.drain(pos..) {
                    if !d {
                        kept_depth -= 1;
                    }
                    if let Some(c) = open.get_mut(&n.to_ascii_lowercase()) {
                        *c = c.saturating_sub(1);
                    }
                }
                if dropped {
                    dropped_ranges.push((lt, end));
                    depth_drops += 1;
                }
            }
            i = end;
            continue;
        }
        let self_closing = end >= 2 && bytes[end - 2] == b'/';
        if RAW_TEXT.contains(&lower.as_str()) {
            // Skip to the matching end tag: its content is text, not markup.
            i = find_end_tag(bytes, end, lower.as_bytes()).unwrap_or(bytes.len());
            continue;
        }
        let cut = attribute_cut(bytes, name_end, end);
        if self_closing || VOID.contains(&lower.as_str()) || OPTIONAL_END.contains(&lower.as_str()) {
            if let Some(c) = cut {
                dropped_ranges.push((c, end - 1));
                attributes_cut += 1;
            }
            i = end;
            continue;
        }
        deepest = deepest.max(stack.len() + 1);
        let drop = kept_depth >= max;
        if drop {
            dropped_ranges.push((lt, end));
            depth_drops += 1;
        } else {
            kept_depth += 1;
            if let Some(c) = cut {
                dropped_ranges.push((c, end - 1));
                attributes_cut += 1;
            }
        }
        stack.push((name, drop));
        *open.entry(lower).or_default() += 1;
        i = end;
    }
    if dropped_ranges.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(html.len());
    let mut at = 0;
    for &(s, e) in &dropped_ranges {
        out.push_str(&html[at..s]);
        at = e;
    }
    out.push_str(&html[at..]);
    Some((out, DepthCapped { depth: deepest, dropped: depth_drops, attributes_cut }))
}

/// [`cap_depth`] at [`MAX_DEPTH`], borrowing the page when nothing changes.
pub fn capped(html: &str) -> (Cow<'_, str>, Option<DepthCapped>) {
    match cap_depth(html, MAX_DEPTH) {
        Some((s, c)) => (Cow::Owned(s), Some(c)),
        None => (Cow::Borrowed(html), None),
    }
}

/// Where to cut a start tag (spanning `from..end`, `end` just past its `>`) so that it keeps
/// [`MAX_ATTRIBUTES`] attributes: the start of the first one past them, if any.
fn attribute_cut(bytes: &[u8], from: usize, end: usize) -> Option<usize> {
    let mut quote = None;
    let mut count = 0usize;
    let mut prev_space = true;
    for (k, &b) in bytes[from..end.saturating_sub(1)].iter().enumerate() {
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'"' || b == b'\'' => quote = Some(b),
            None if b.is_ascii_whitespace() => prev_space = true,
            None => {
                if prev_space && b != b'/' && b != b'=' {
                    count += 1;
                    if count > MAX_ATTRIBUTES {
                        return Some(from + k);
                    }
                }
                prev_space = false;
            }
        }
    }
    None
}

/// Index just past the `>` closing the tag whose name ends at `from` (quotes respected).
fn tag_end(bytes: &[u8], from: usize) -> Option<usize> {
    let mut quote = None;
    for (k, &b) in bytes[from..].iter().enumerate() {
        match (quote, b) {
            (Some(q), _) if b == q => quote = None,
            (Some(_), _) => {}
            (None, b'"' | b'\'') => quote = Some(b),
            (None, b'>') => return Some(from + k + 1),
            _ => {}
        }
    }
    None
}

/// Index of the `<` of `</name` (ASCII case-insensitive) at or after `from`.
fn find_end_tag(bytes: &[u8], from: usize, name: &[u8]) -> Option<usize> {
    let mut i = from;
    while let Some(off) = memchr::memmem::find(&bytes[i..], b"</") {
        let at = i + off;
        let n = &bytes[at + 2..];
        if n.len() >= name.len() && n[..name.len()].eq_ignore_ascii_case(name) {
            return Some(at);
        }
        i = at + 2;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shallow_pages_are_untouched() {
        let page = "<html><body><div class=\"a>b\"><p>一<p>二<ul><li>x<li>y</ul><br><img src=x></div>\
                    <script>if (a<b) { document.write('<div><div>') }</script></body></html>";
        assert_eq!(cap_depth(page, 3), None);
    }

    #[test]
    fn deep_nesting_is_flattened_and_text_kept() {
        let n = 2000;
        let page = format!(
            "<html><body>{}<p>正文第一段。</p><p>第二段。</p>{}</body></html>",
            "<div>".repeat(n),
            "</div>".repeat(n)
        );
        let (out, capped) = cap_depth(&page, 512).expect("capped");
        assert_eq!(capped.depth, n);
        assert_eq!(capped.dropped, 2 * (n - 512));
        assert_eq!(capped.attributes_cut, 0);
        assert_eq!(out.matches("<div>").count(), 512);
        assert_eq!(out.matches("</div>").count(), 512);
        assert!(out.contains("<p>正文第一段。</p><p>第二段。</p>"));
    }

    #[test]
    fn unclosed_formatting_tags_are_capped() {
        let page = format!("<body>{}文字", "<font color=red>".repeat(600));
        let (out, capped) = cap_depth(&page, 100).expect("capped");
        assert_eq!(capped.depth, 600);
        assert_eq!(out.matches("<font").count(), 100);
        assert!(out.ends_with("文字"));
    }

    #[test]
    fn unmatched_end_tags_cost_nothing_and_huge_tags_are_cut() {
        // 60,000 nested tables: <tr>/<td> are not counted, their end tags are never open.
        let n = 60_000;
        let page = format!("{}x{}", "<table><tr><td>".repeat(n), "</td></tr></table>".repeat(n));
        let started = std::time::Instant::now();
        let (_, capped) = cap_depth(&page, 512).expect("capped");
        assert_eq!(capped.depth, n);
        // Linear: a quadratic scan of 60,000 takes minutes; this bound is loose on purpose.
        assert!(started.elapsed() < std::time::Duration::from_secs(20), "{:?}", started.elapsed());
        let attrs: String = (0..1000).map(|i| format!(" a{i}=\"{i}\"")).collect();
        let page = format!("<div{attrs}>正文</div><img{attrs}>");
        let (out, capped) = cap_depth(&page, 512).expect("cut");
        assert_eq!((capped.dropped, capped.attributes_cut), (0, 2));
        assert!(out.contains(" a255=\"255\" >正文</div>"), "{}", &out[..200]);
        assert!(!out.contains("a256="));
    }

    #[test]
    fn truncated_and_odd_markup_does_not_panic() {
        for page in
            ["<", "<div", "<div a='>", "</", "<!--", "<!doctype", "<a\u{4e2d}>", "<<<>>>", "<script>", "</div></div>"]
        {
            let _ = cap_depth(page, 1);
        }
    }
}

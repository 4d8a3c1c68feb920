//! DOM → paragraphs, the way a reader sees the page.
//!
//! Inline elements never break a line: keyword links (`<a class="keylink">` in the middle of a
//! sentence) and Word-paste `<span>` runs around numbers were the cause of seed 000's lines cut
//! after 党委 / 书记 / 心得. Block elements and `<br>` runs do break: a `<br>` inside one `<p>`
//! separates two paragraphs (fanwen), one paragraph per `<p>` (dede). Non-text elements
//! (scripts, styles, images and their alt text, form controls) contribute nothing.

use ego_tree::NodeRef;
use scraper::{ElementRef, Html, Node, Selector};

/// Elements whose content is never article text.
const SKIPPED: &[&str] = &[
    "script", "style", "noscript", "template", "iframe", "object", "embed", "svg", "canvas", "img", "picture", "video",
    "audio", "select", "option", "textarea", "button", "input", "head", "title", "map", "frame", "frameset",
];

/// Elements that start and end a line.
const BLOCKS: &[&str] = &[
    "p",
    "div",
    "section",
    "article",
    "main",
    "aside",
    "header",
    "footer",
    "nav",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "ul",
    "ol",
    "li",
    "dl",
    "dt",
    "dd",
    "table",
    "thead",
    "tbody",
    "tfoot",
    "tr",
    "td",
    "th",
    "caption",
    "blockquote",
    "pre",
    "address",
    "figure",
    "figcaption",
    "form",
    "fieldset",
    "legend",
    "hr",
    "center",
    "details",
    "summary",
    "body",
    "html",
];

pub fn is_block(name: &str) -> bool {
    BLOCKS.contains(&name)
}

pub fn is_skipped(name: &str) -> bool {
    SKIPPED.contains(&name)
}

/// The cells of a data-table row, tab-separated, with the number of its characters inside
/// links: a `<tr>` of two or more cells none of which holds a block (layout tables put
/// paragraphs and divs in their cells). `None` for anything else.
pub fn data_row(tr: ElementRef<'_>) -> Option<(String, usize)> {
    let cells: Vec<ElementRef<'_>> =
        tr.children().filter_map(ElementRef::wrap).filter(|c| matches!(c.value().name(), "td" | "th")).collect();
    if cells.len() < 2 {
        return None;
    }
    let mut texts = Vec::with_capacity(cells.len());
    let mut links = 0;
    for cell in &cells {
        // `descendants` starts with the cell itself (a block): only what is inside it counts.
        if cell.descendants().skip(1).filter_map(ElementRef::wrap).any(|e| is_block(e.value().name())) {
            return None;
        }
        texts.push(text_of(*cell));
        links += cell
            .descendants()
            .filter_map(ElementRef::wrap)
            .filter(|e| e.value().name() == "a")
            .map(|a| a.text().flat_map(|t| t.chars()).filter(|c| !c.is_whitespace()).count())
            .sum::<usize>();
    }
    if texts.iter().all(|t| t.is_empty()) {
        return None;
    }
    Some((texts.join("\t"), links))
}

/// Rows of plain cells a table needs to be read as data, row by row (fewer: a layout table or
/// a small facts box, read cell by cell as before).
pub const DATA_TABLE_ROWS: usize = 5;

/// A row is data, not a link list, when under a third of its characters sit in links.
pub fn mostly_text(text: &str, link_chars: usize) -> bool {
    link_chars * 3 < text.chars().filter(|c| !c.is_whitespace()).count()
}

/// Whether the table holding `tr` has at least [`DATA_TABLE_ROWS`] data rows (computed once per
/// table).
fn in_data_table(tr: ElementRef<'_>, seen: &mut std::collections::HashMap<ego_tree::NodeId, bool>) -> bool {
    let Some(table) = tr.ancestors().filter_map(ElementRef::wrap).find(|a| a.value().name() == "table") else {
        return false;
    };
    *seen.entry(table.id()).or_insert_with(|| {
        table
            .descendants()
            .filter_map(ElementRef::wrap)
            .filter(|e| e.value().name() == "tr")
            .filter(|r| {
                r.ancestors().filter_map(ElementRef::wrap).find(|a| a.value().name() == "table").map(|t| t.id())
                    == Some(table.id())
            })
            .filter_map(data_row)
            .filter(|(text, links)| mostly_text(text, *links))
            .take(DATA_TABLE_ROWS)
            .count()
            >= DATA_TABLE_ROWS
    })
}

/// Collects the lines of a subtree. `skip` removes elements (share bars, related lists, ...)
/// chosen by the caller.
pub fn lines(root: ElementRef<'_>, skip: &dyn Fn(&ElementRef<'_>) -> bool) -> Vec<String> {
    let mut w = LineWriter::default();
    walk(*root, skip, &mut w);
    w.flush();
    w.lines
}

/// Like [`lines`], with the number of characters of each line that sit inside links (for
/// link-density filtering), and each data-table row ([`data_row`]) as one line, its cells
/// separated by a tab.
pub fn lines_with_link_chars(root: ElementRef<'_>, skip: &dyn Fn(&ElementRef<'_>) -> bool) -> Vec<(String, usize)> {
    let mut w = LineWriter { track_links: true, table_rows: true, ..LineWriter::default() };
    walk(*root, skip, &mut w);
    w.flush();
    w.lines.into_iter().zip(w.link_chars).collect()
}

/// The first lines of a subtree, stopping once about `max_chars` bytes of text are collected
/// (bylines and datelines sit near the top: the rest of a long page need not be built).
pub fn lines_prefix(root: ElementRef<'_>, max_chars: usize) -> Vec<String> {
    let mut w = LineWriter { limit: max_chars, ..LineWriter::default() };
    walk(*root, &|_| false, &mut w);
    w.flush();
    w.lines
}

/// The text of a subtree on one line (inline view), whitespace collapsed and trimmed.
pub fn text_of(el: ElementRef<'_>) -> String {
    let mut w = LineWriter::default();
    walk_inline(*el, &mut w);
    w.pending = None;
    w.current.trim().to_string()
}

fn walk(node: NodeRef<'_, Node>, skip: &dyn Fn(&ElementRef<'_>) -> bool, w: &mut LineWriter) {
    for child in node.children() {
        if w.limit > 0 && w.written >= w.limit {
            return;
        }
        match child.value() {
            Node::Text(t) => w.push_text(t),
            Node::Element(e) => {
                let name = e.name();
                if is_skipped(name) {
                    continue;
                }
                let Some(el) = ElementRef::wrap(child) else {
                    continue;
                };
                if skip(&el) {
                    continue;
                }
                if name == "br" {
                    w.flush();
                } else if w.table_rows
                    && name == "tr"
                    && in_data_table(el, &mut w.data_tables)
                    && let Some((row, links)) = data_row(el)
                {
                    w.flush();
                    w.written += row.len();
                    w.lines.push(row);
                    w.link_chars.push(links);
                } else if is_block(name) {
                    w.flush();
                    walk(child, skip, w);
                    w.flush();
                } else if name == "a" {
                    w.in_link += 1;
                    walk(child, skip, w);
                    w.in_link -= 1;
                } else {
                    walk(child, skip, w);
                }
            }
            _ => {}
        }
    }
}

fn walk_inline(node: NodeRef<'_, Node>, w: &mut LineWriter) {
    for child in node.children() {
        match child.value() {
            Node::Text(t) => w.push_text(t),
            Node::Element(e) if !is_skipped(e.name()) => {
                if e.name() == "br" {
                    w.push_text(" ");
                } else {
                    walk_inline(child, w);
                }
            }
            _ => {}
        }
    }
}

/// Builds lines with HTML whitespace collapsing: runs of ASCII whitespace become one space;
/// no-break spaces and ideographic spaces are text and are kept for the cleaning passes.
/// As browsers do (CSS Text, segment break transformation), a run containing a line break
/// between two CJK characters disappears: `党委\n<a>书记</a>` reads `党委书记`.
#[derive(Default)]
struct LineWriter {
    current: String,
    lines: Vec<String>,
    /// A collapsed whitespace run waiting for the next character; `true` if it held a newline.
    pending: Option<bool>,
    track_links: bool,
    in_link: usize,
    current_link_chars: usize,
    /// Per line in `lines`, when `track_links`.
    link_chars: Vec<usize>,
    /// Stop walking once `written` bytes of lines exist (0: no limit).
    limit: usize,
    written: usize,
    /// Data-table rows as one tab-separated line each (needs `track_links`).
    table_rows: bool,
    /// Tables seen, by node: whether they are data tables.
    data_tables: std::collections::HashMap<ego_tree::NodeId, bool>,
}

impl LineWriter {
    fn push_text(&mut self, text: &str) {
        for c in text.chars() {
            if matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0c') {
                let newline = c == '\n' || c == '\r';
                self.pending = Some(self.pending.unwrap_or(false) || newline);
            } else {
                if let Some(newline) = self.pending.take() {
                    let prev = self.current.chars().last();
                    let joins_cjk = newline && prev.is_some_and(crate::clean::is_cjk) && crate::clean::is_cjk(c);
                    if prev.is_some() && !joins_cjk {
                        self.current.push(' ');
                    }
                }
                self.current.push(c);
                if self.in_link > 0 {
                    self.current_link_chars += 1;
                }
            }
        }
    }

    fn flush(&mut self) {
        self.pending = None;
        let line = self.current.trim_matches(|c: char| c.is_ascii_whitespace());
        if line.chars().any(|c| !c.is_whitespace()) {
            self.written += line.len();
            self.lines.push(line.to_string());
            if self.track_links {
                self.link_chars.push(self.current_link_chars);
            }
        }
        self.current.clear();
        self.current_link_chars = 0;
    }
}

/// A selector known at compile time, parsed once per process (parsing costs more than most
/// selections). Selectors are literals in this crate; a typo is a programming error caught by
/// every test that runs the extractor.
pub fn sel(css: &'static str) -> &'static Selector {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static CACHE: OnceLock<Mutex<HashMap<&'static str, &'static Selector>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let mut map = cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    map.entry(css).or_insert_with(|| match Selector::parse(css) {
        Ok(s) => Box::leak(Box::new(s)),
        Err(e) => panic!("invalid built-in selector {css:?}: {e}"),
    })
}

/// The first `max_chars` or so of a subtree's text (inline view), without building the rest.
pub fn text_prefix(el: ElementRef<'_>, max_chars: usize) -> String {
    let mut out = String::new();
    for t in el.text() {
        out.push_str(t);
        if out.len() >= max_chars * 3 {
            break;
        }
    }
    out
}

/// The page without the contents of `<script>`, `<style>` and comments, which carry no text
/// but cost the HTML tokenizer most of its time on script-heavy pages. Ends each at its first
/// closing tag, as the tokenizer does. JSON-LD scripts are kept (they carry dates and authors).
pub fn strip_inert(html: &str) -> std::borrow::Cow<'_, str> {
    let bytes = html.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0; // bytes of `html` already copied to `out`
    let mut i = 0;
    while let Some(off) = html[i..].find('<') {
        let at = i + off;
        let rest = &bytes[at..];
        let (end_marker, skip_from): (&[u8], usize) = if rest.starts_with(b"<!--") {
            (b"-->", at)
        } else if starts_with_ci(rest, b"<script") && !is_json_ld(rest) {
            (b"</script", at + tag_end(rest))
        } else if starts_with_ci(rest, b"<style") {
            (b"</style", at + tag_end(rest))
        } else if starts_with_ci(rest, b"<svg") {
            // Icons: hundreds of path nodes the extractors skip anyway (`SKIPPED`).
            (b"</svg", at + tag_end(rest))
        } else {
            i = at + 1;
            continue;
        };
        let Some(close) = find_ci(&bytes[skip_from..], end_marker).map(|p| p + skip_from) else { break };
        let buf = out.get_or_insert_with(|| String::with_capacity(html.len()));
        if rest.starts_with(b"<!--") {
            buf.push_str(&html[copied..at]);
            copied = close + end_marker.len();
        } else {
            // Keep the element (empty) so the tree keeps its shape.
            buf.push_str(&html[copied..skip_from]);
            copied = close;
        }
        i = copied.max(at + 1);
    }
    match out {
        Some(mut buf) => {
            buf.push_str(&html[copied..]);
            std::borrow::Cow::Owned(buf)
        }
        None => std::borrow::Cow::Borrowed(html),
    }
}

fn starts_with_ci(hay: &[u8], prefix: &[u8]) -> bool {
    hay.len() >= prefix.len()
        && hay[..prefix.len()].eq_ignore_ascii_case(prefix)
        && hay.get(prefix.len()).is_none_or(|b| !b.is_ascii_alphanumeric())
}

/// Offset just past the `>` of the start tag at the beginning of `rest`.
fn tag_end(rest: &[u8]) -> usize {
    rest.iter().position(|&b| b == b'>').map_or(rest.len(), |p| p + 1)
}

fn is_json_ld(rest: &[u8]) -> bool {
    let tag = &rest[..tag_end(rest)];
    find_ci(tag, b"ld+json").is_some()
}

/// First ASCII-case-insensitive occurrence of `needle`. Closing markers start with `<` or `-`,
/// so memchr finds the candidates (scripts are long; this is on every page's path).
fn find_ci(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let first = *needle.first()?;
    if first.is_ascii_alphabetic() {
        return hay.windows(needle.len()).position(|w| w.eq_ignore_ascii_case(needle));
    }
    memchr::memchr_iter(first, hay)
        .find(|&p| hay.get(p..p + needle.len()).is_some_and(|w| w.eq_ignore_ascii_case(needle)))
}

/// Case-insensitive ASCII substring test without allocating.
pub fn contains_ignore_case(hay: &str, needle: &str) -> bool {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    n.is_empty() || h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
}

/// The first element matching `selector`.
pub fn first<'a>(doc: &'a Html, selector: &Selector) -> Option<ElementRef<'a>> {
    doc.select(selector).next()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body_lines(html: &str) -> Vec<String> {
        let doc = Html::parse_document(html);
        let body = first(&doc, sel("body")).expect("body");
        lines(body, &|_| false)
    }

    #[test]
    fn inline_elements_do_not_break_lines() {
        let l =
            body_lines("<p>党委\n<a class=keylink href=/tag/x>书记</a>\n“创新突破”<span lang=EN-US>2020</span>年</p>");
        assert_eq!(l, vec!["党委书记 “创新突破”2020年"]);
    }

    #[test]
    fn br_runs_and_blocks_break_lines() {
        let l = body_lines("<div>甲<br><br><br>乙<p>丙</p>丁<script>x()</script><img alt=图></div>");
        assert_eq!(l, vec!["甲", "乙", "丙", "丁"]);
    }

    #[test]
    fn inert_content_is_stripped_but_text_kept() {
        let html = "<p>甲<script>if (a<b) document.write('<p>x</p>')</SCRIPT>乙<!-- <p>注释</p> -->丙<style>p{}</style></p><script type=\"application/ld+json\">{}</script>";
        let stripped = strip_inert(html);
        assert_eq!(
            stripped,
            "<p>甲<script></SCRIPT>乙丙<style></style></p><script type=\"application/ld+json\">{}</script>"
        );
        assert_eq!(body_lines(&stripped), body_lines(html));
        assert_eq!(strip_inert("<p>plain</p>"), "<p>plain</p>");
        assert_eq!(strip_inert("<p>a<script>never closed"), "<p>a<script>never closed");
    }

    #[test]
    fn nbsp_and_ideographic_space_are_kept() {
        let l = body_lines("<td>\u{a0}\u{a0}甲\u{3000}\u{3000}乙</td>");
        assert_eq!(l, vec!["\u{a0}\u{a0}甲\u{3000}\u{3000}乙"]);
    }
}

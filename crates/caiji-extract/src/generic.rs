//! The generic main-content extractor, for hosts without a site module and for pages whose
//! site container is missing.
//!
//! Readability's idea, tuned for Chinese: text blocks score by their length and their
//! Chinese punctuation (，。、；！？), scores flow to parent and grandparent, and the best
//! container (discounted by its link density) is the article.

use ego_tree::NodeId;
use rustc_hash::FxHashMap;
use scraper::{ElementRef, Html, Node};

use crate::clean::{drop_cjk_spaces, iso_datetime, trim_all};
use crate::dom;
use crate::{Extractor, Flag, Page, Record};

pub struct Generic;

pub const NAME: &str = "generic";
pub const VERSION: &str = "0.4.0";

impl Extractor for Generic {
    fn name(&self) -> &'static str {
        NAME
    }
    fn version(&self) -> &'static str {
        VERSION
    }
    fn extract(&self, page: &Page<'_>) -> Record {
        let doc = Html::parse_document(&dom::strip_inert(page.html));
        let mut rec = Record::new(page.url, self);
        extract_into(&doc, &mut rec);
        rec
    }
}

/// Fills `rec` from `doc`; used by site extractors as their fallback.
pub fn extract_into(doc: &Html, rec: &mut Record) {
    let landmarks = Landmarks::find(doc);
    rec.title = title(&landmarks);
    rec.published_at = landmarks.metas.published.as_deref().and_then(iso_datetime);
    rec.author = landmarks.metas.author.clone().filter(|a| a.chars().count() <= 20);
    let Some(body) = landmarks.body else {
        rec.flag(Flag::Empty);
        return;
    };
    let Some(best) = best_container(doc, body) else {
        rec.flag(Flag::Empty);
        return;
    };
    let lines: Vec<(String, usize)> = dom::lines_with_link_chars(best, &|el| is_boilerplate(el))
        .into_iter()
        .map(|(l, links)| (drop_cjk_spaces(trim_all(&l)), links))
        .filter(|(l, _)| !l.is_empty() && Some(l) != rec.title.as_ref())
        .collect();
    rec.paragraphs = keep_text_lines(lines);
    if rec.published_at.is_none() {
        // Datelines sit near the top of the article or just above it.
        rec.published_at =
            iso_datetime(&dom::text_prefix(best, 2000)).or_else(|| iso_datetime(&dom::text_prefix(body, 4000)));
    }
    if rec.paragraphs.is_empty() {
        rec.flag(Flag::Empty);
    }
}

/// The elements the generic extractor needs by name, found in one walk of the tree (a CSS
/// selector per element walks the whole tree each time, and this runs on every page).
struct Landmarks<'a> {
    metas: Metas,
    h1: Option<ElementRef<'a>>,
    title: Option<ElementRef<'a>>,
    body: Option<ElementRef<'a>>,
}

impl<'a> Landmarks<'a> {
    fn find(doc: &'a Html) -> Self {
        let mut l = Landmarks { metas: Metas::default(), h1: None, title: None, body: None };
        for el in doc.root_element().descendants().filter_map(ElementRef::wrap) {
            match el.value().name() {
                "meta" => l.metas.read(el),
                "h1" if l.h1.is_none() => l.h1 = Some(el),
                "title" if l.title.is_none() => l.title = Some(el),
                "body" if l.body.is_none() => l.body = Some(el),
                _ => {}
            }
        }
        l
    }
}

/// Sorts the container's lines the way jusText does: a line that is mostly link text is
/// boilerplate (related lists, pagers); a long or punctuated line is text; short lines are kept
/// only between two text lines (headings, datelines at the edges go).
fn keep_text_lines(lines: Vec<(String, usize)>) -> Vec<String> {
    #[derive(PartialEq)]
    enum Kind {
        Text,
        Short,
        Links,
    }
    let kinds: Vec<Kind> = lines
        .iter()
        .map(|(l, links)| {
            let n = l.chars().count();
            let punct = l
                .chars()
                .filter(|c| matches!(c, '，' | '。' | '；' | '！' | '？' | '、' | ',' | ';' | '!' | '?'))
                .count();
            if *links * 2 > n {
                Kind::Links
            } else if n >= 40 || (punct >= 2 && n >= 15) || l.ends_with(['。', '！', '？']) && n >= 10 {
                Kind::Text
            } else {
                Kind::Short
            }
        })
        .collect();
    let (Some(first), Some(last)) =
        (kinds.iter().position(|k| *k == Kind::Text), kinds.iter().rposition(|k| *k == Kind::Text))
    else {
        // No line looks like prose: keep what is not a link list.
        return lines.into_iter().zip(kinds).filter(|(_, k)| *k != Kind::Links).map(|((l, _), _)| l).collect();
    };
    lines
        .into_iter()
        .zip(kinds)
        .enumerate()
        .filter(|(i, (_, k))| *i >= first && (*i <= last || *k == Kind::Short) && *k != Kind::Links)
        .map(|(_, ((l, _), _))| l)
        .collect()
}

/// The `<meta>` values the generic extractor reads, in one pass over the meta tags.
#[derive(Default)]
struct Metas {
    published: Option<String>,
    author: Option<String>,
    og_title: Option<String>,
}

impl Metas {
    fn read(&mut self, el: ElementRef<'_>) {
        let v = el.value();
        let (Some(key), Some(content)) = (v.attr("name").or_else(|| v.attr("property")), v.attr("content")) else {
            return;
        };
        let content = content.trim();
        if content.is_empty() {
            return;
        }
        let slot = match key.to_ascii_lowercase().as_str() {
            "article:published_time" | "pubdate" | "publishdate" | "og:release_date" => &mut self.published,
            "author" | "article:author" => &mut self.author,
            "og:title" => &mut self.og_title,
            _ => return,
        };
        slot.get_or_insert_with(|| content.to_string());
    }
}

fn title(l: &Landmarks<'_>) -> Option<String> {
    let h1 = l.h1.map(dom::text_of).filter(|t| t.chars().count() >= 4);
    h1.or_else(|| l.metas.og_title.clone())
        .or_else(|| {
            l.title.map(|t| {
                let t = dom::text_of(t);
                // "文章标题_站点名" / "文章标题 - 站点名"
                t.split(['_', '|']).next().unwrap_or(&t).split(" - ").next().unwrap_or(&t).trim().to_string()
            })
        })
        .filter(|t| !t.is_empty())
}

fn is_boilerplate(el: &ElementRef<'_>) -> bool {
    let v = el.value();
    let (class, id) = (v.attr("class").unwrap_or(""), v.attr("id").unwrap_or(""));
    if class.is_empty() && id.is_empty() {
        return false;
    }
    ["share", "comment", "footer", "breadcrumb", "related", "recommend", "sidebar", "nav", "copyright"]
        .iter()
        .any(|k| dom::contains_ignore_case(class, k) || dom::contains_ignore_case(id, k))
}

/// Readability's class weight: ids and classes that name comments, sidebars or navigation
/// count against a container, ones that name the article count for it.
fn class_weight(el: &ElementRef<'_>) -> f64 {
    let v = el.value();
    let (class, id) = (v.attr("class").unwrap_or(""), v.attr("id").unwrap_or(""));
    if class.is_empty() && id.is_empty() {
        return 1.0;
    }
    let has = |k: &&str| dom::contains_ignore_case(class, k) || dom::contains_ignore_case(id, k);
    const NEGATIVE: &[&str] = &[
        "comment",
        "reply",
        "feedback",
        "footer",
        "sidebar",
        "side",
        "related",
        "recommend",
        "nav",
        "menu",
        "share",
        "copyright",
        "advert",
        "banner",
        "hot",
        "rank",
        "links",
        "foot",
        "widget",
        "tags",
    ];
    const POSITIVE: &[&str] =
        &["article", "content", "text", "body", "post", "entry", "main", "news", "detail", "zhengwen", "zw", "con"];
    if NEGATIVE.iter().any(has) {
        0.3
    } else if POSITIVE.iter().any(has) {
        1.5
    } else {
        1.0
    }
}

/// A best container scoring below this holds no real paragraph: one block of 20 characters
/// with a few commas already scores about 4, a short news item 30 or more.
const NO_PROSE_SCORE: f64 = 10.0;

struct Stats {
    chars: usize,
    link_chars: usize,
}

fn best_container<'a>(doc: &'a Html, body: ElementRef<'a>) -> Option<ElementRef<'a>> {
    // Fx hashing: node ids are small integers from our own parse, and SipHash showed in profiles.
    let mut scores: FxHashMap<NodeId, f64> = FxHashMap::default();
    let mut stats: FxHashMap<NodeId, Stats> = FxHashMap::default();
    collect(body, &mut stats);
    for el in body.descendants().filter_map(ElementRef::wrap) {
        if !matches!(el.value().name(), "p" | "td" | "pre" | "div" | "section" | "li" | "span" | "font") {
            continue;
        }
        // Text directly inside the element (all of it for a <p>), counted without copying.
        let (mut len, mut punct) = (0usize, 0usize);
        let mut count = |t: &str| {
            for c in t.chars() {
                if !c.is_whitespace() && c != '\u{a0}' && c != '\u{3000}' {
                    len += 1;
                    if matches!(c, '，' | '。' | '、' | '；' | '！' | '？' | ',' | ';') {
                        punct += 1;
                    }
                }
            }
        };
        if el.value().name() == "p" {
            el.text().for_each(&mut count);
        } else {
            el.children().for_each(|c| {
                if let Node::Text(t) = c.value() {
                    count(t)
                }
            });
        }
        if len < 20 {
            continue;
        }
        let score = 1.0 + punct as f64 + (len as f64 / 100.0).min(3.0);
        let mut node = el.parent();
        let mut weight = 1.0;
        for _ in 0..2 {
            let Some(p) = node else { break };
            *scores.entry(p.id()).or_default() += score * weight;
            weight /= 2.0;
            node = p.parent();
        }
    }
    scores
        .into_iter()
        .filter_map(|(id, s)| {
            let el = ElementRef::wrap(doc.tree.get(id)?)?;
            let st = stats.get(&id)?;
            let density = if st.chars == 0 { 1.0 } else { st.link_chars as f64 / st.chars as f64 };
            Some((el, s * (1.0 - density) * class_weight(&el)))
        })
        .max_by(|a, b| a.1.total_cmp(&b.1).then_with(|| b.0.id().cmp(&a.0.id())))
        // No block scored like prose (forms, error and login pages): what the page says is
        // all of its text, so the whole body goes to the line filter.
        .map(|(el, score)| if score < NO_PROSE_SCORE { body } else { el })
}

/// Character and link-character counts of every element, bottom-up.
fn collect(el: ElementRef<'_>, stats: &mut FxHashMap<NodeId, Stats>) -> (usize, usize) {
    let mut chars = 0;
    let mut link_chars = 0;
    for child in el.children() {
        match child.value() {
            Node::Text(t) => chars += t.chars().filter(|c| !c.is_whitespace()).count(),
            Node::Element(e) if !dom::is_skipped(e.name()) => {
                if let Some(c) = ElementRef::wrap(child) {
                    let (n, l) = collect(c, stats);
                    chars += n;
                    link_chars += if e.name() == "a" { n } else { l };
                }
            }
            _ => {}
        }
    }
    stats.insert(el.id(), Stats { chars, link_chars });
    (chars, link_chars)
}

//! The generic main-content extractor, for hosts without a site module and for pages whose
//! site container is missing.
//!
//! Readability's idea, tuned for Chinese: text blocks score by their length and their
//! Chinese punctuation (，。、；！？), scores flow to parent and grandparent, and the best
//! container (discounted by its link density) is the article.

use std::collections::HashMap;

use ego_tree::NodeId;
use scraper::{ElementRef, Html, Node};

use crate::clean::{drop_cjk_spaces, iso_datetime, trim_all};
use crate::dom::{self, first, meta_content, sel};
use crate::{Extractor, Flag, Page, Record};

pub struct Generic;

pub const NAME: &str = "generic";
pub const VERSION: &str = "0.1.0";

impl Extractor for Generic {
    fn name(&self) -> &'static str {
        NAME
    }
    fn version(&self) -> &'static str {
        VERSION
    }
    fn extract(&self, page: &Page<'_>) -> Record {
        let doc = Html::parse_document(page.html);
        let mut rec = Record::new(page.url, self);
        extract_into(&doc, &mut rec);
        rec
    }
}

/// Fills `rec` from `doc`; used by site extractors as their fallback.
pub fn extract_into(doc: &Html, rec: &mut Record) {
    rec.title = title(doc);
    rec.published_at = meta_content(doc, "article:published_time")
        .or_else(|| meta_content(doc, "pubdate"))
        .or_else(|| meta_content(doc, "PubDate"))
        .and_then(|d| iso_datetime(&d));
    rec.author = meta_content(doc, "author").filter(|a| a.chars().count() <= 20);
    let Some(best) = best_container(doc) else {
        rec.flag(Flag::Empty);
        return;
    };
    let lines = dom::lines(best, &|el| is_boilerplate(el));
    rec.paragraphs = lines
        .into_iter()
        .map(|l| drop_cjk_spaces(trim_all(&l)))
        .filter(|l| !l.is_empty() && Some(l) != rec.title.as_ref())
        .collect();
    if rec.published_at.is_none() {
        rec.published_at = iso_datetime(&dom::text_of(best))
            .or_else(|| first(doc, &sel("body")).and_then(|b| iso_datetime(&dom::text_of(b))));
    }
    if rec.paragraphs.is_empty() {
        rec.flag(Flag::Empty);
    }
}

fn title(doc: &Html) -> Option<String> {
    let h1 = first(doc, &sel("h1")).map(dom::text_of).filter(|t| t.chars().count() >= 4);
    h1.or_else(|| meta_content(doc, "og:title"))
        .or_else(|| {
            first(doc, &sel("title")).map(|t| {
                let t = dom::text_of(t);
                // "文章标题_站点名" / "文章标题 - 站点名"
                t.split(['_', '|']).next().unwrap_or(&t).split(" - ").next().unwrap_or(&t).trim().to_string()
            })
        })
        .filter(|t| !t.is_empty())
}

fn is_boilerplate(el: &ElementRef<'_>) -> bool {
    let v = el.value();
    let marker = format!("{} {}", v.attr("class").unwrap_or(""), v.attr("id").unwrap_or("")).to_ascii_lowercase();
    ["share", "comment", "footer", "breadcrumb", "related", "recommend", "sidebar", "nav", "copyright"]
        .iter()
        .any(|k| marker.contains(k))
}

struct Stats {
    chars: usize,
    link_chars: usize,
}

fn best_container(doc: &Html) -> Option<ElementRef<'_>> {
    let body = first(doc, &sel("body"))?;
    let mut scores: HashMap<NodeId, f64> = HashMap::new();
    let mut stats: HashMap<NodeId, Stats> = HashMap::new();
    collect(body, &mut stats);
    for el in body.descendants().filter_map(ElementRef::wrap) {
        if !matches!(el.value().name(), "p" | "td" | "pre" | "div" | "section" | "li" | "span" | "font") {
            continue;
        }
        let own: String = el
            .children()
            .filter_map(|c| match c.value() {
                Node::Text(t) => Some(t.to_string()),
                _ => None,
            })
            .collect::<String>()
            + &if el.value().name() == "p" { dom::text_of(el) } else { String::new() };
        let len = trim_all(&own).chars().count();
        if len < 20 {
            continue;
        }
        let punct = own.chars().filter(|c| "，。、；！？,;".contains(*c)).count();
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
            Some((el, s * (1.0 - density)))
        })
        .max_by(|a, b| a.1.total_cmp(&b.1).then_with(|| b.0.id().cmp(&a.0.id())))
        .map(|(el, _)| el)
}

/// Character and link-character counts of every element, bottom-up.
fn collect(el: ElementRef<'_>, stats: &mut HashMap<NodeId, Stats>) -> (usize, usize) {
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

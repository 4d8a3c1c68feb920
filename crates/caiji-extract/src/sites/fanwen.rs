//! fanwen: a 范文/心得体会 essay-template site (compilation pages `(大全N篇)`, GB18030 bytes
//! under a gb2312 label).
//!
//! Page: `<h1>` in `div.title`; text in `div.content` (a second `div.content-more` after the
//! disclaimer and ad slot). Section headings `…篇一` are `<h3>` paragraphs.

use regex::Regex;
use scraper::Html;

use crate::dom::{first, sel, text_of};
use crate::{Extractor, Flag, Page, Record};

pub struct Fanwen;

/// The teaser link the site puts where it removed text (seed 000: `…发展机遇当前隐藏内容免费查看前所未有`).
const TEASER: &str = "当前隐藏内容免费查看";

impl Extractor for Fanwen {
    fn name(&self) -> &'static str {
        "fanwen"
    }
    fn version(&self) -> &'static str {
        "1.0.0"
    }
    fn extract(&self, page: &Page<'_>) -> Record {
        let doc = Html::parse_document(page.html);
        let mut rec = Record::new(page.url, self);
        let Some(containers) = super::containers_or_fallback(&doc, sel("div.content"), &mut rec) else { return rec };
        rec.title = first(&doc, sel("div.title h1")).or_else(|| first(&doc, sel("h1"))).map(text_of);

        // Teasers are inline links: skipping them joins the text around them, as the gold wants.
        let mut teasers = 0;
        for c in &containers {
            teasers += c.select(sel("a")).filter(|a| text_of(*a).contains(TEASER)).count();
        }
        let lines = super::clean_lines(&containers, &|el| {
            el.value().has_class("hide-more", scraper::CaseSensitivity::AsciiCaseInsensitive)
                || (el.value().name() == "a" && text_of(*el).contains(TEASER))
        });
        let first_heading = lines.iter().position(|l| is_section_heading(l)).unwrap_or(0);
        rec.paragraphs = lines
            .into_iter()
            .enumerate()
            .filter(|(i, l)| !(is_lead_in(l) || (*i < first_heading && l.contains("小编"))))
            .map(|(_, l)| l.replace(TEASER, ""))
            .filter(|l| !l.is_empty())
            .collect();
        if teasers > 0 {
            rec.flag(Flag::ContentMissing);
            rec.meta.insert("teasers_removed".into(), teasers.into());
        }
        rec
    }
}

/// `…篇一`, `…篇二`: the compilation's section headings (kept as paragraphs).
fn is_section_heading(line: &str) -> bool {
    static RE: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| Regex::new(r"篇[一二三四五六七八九十]+$").unwrap_or_else(|e| panic!("{e}"))).is_match(line)
}

/// The site's per-section lead-in: `下面是小编为大家整理的…，供大家参考。` (seed 000 after 篇一).
fn is_lead_in(line: &str) -> bool {
    static RE: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"^下面(是|为|就是)?小编.{0,80}(供大家参考|希望.{0,20}帮助)[。！!.]?$")
            .unwrap_or_else(|e| panic!("{e}"))
    })
    .is_match(line)
}

//! ttnews: ttnews.xyz (天天新聞), an aggregator serving machine-converted traditional text.
//!
//! Page: `<h1 class=post-title>` (traditional); date only in `<time datetime>` (the ObjectId in
//! the URL is the aggregation time, not the publication date); `div.post-content`, one `<p>`
//! per paragraph with WeChat-style `<br>`/`<span>` line breaks inside; lone section numbers in
//! their own `<p>`; share bar, tags and 相關文章 after it.

use scraper::Html;

use crate::clean::{drop_cjk_spaces, iso_datetime, trim_all};
use crate::dom::{first, sel, text_of};
use crate::{Extractor, Page, Record};

pub struct Ttnews;

impl Extractor for Ttnews {
    fn name(&self) -> &'static str {
        "ttnews"
    }
    fn version(&self) -> &'static str {
        "1.0.0"
    }
    fn extract(&self, page: &Page<'_>) -> Record {
        let doc = Html::parse_document(page.html);
        let mut rec = Record::new(page.url, self);
        let Some(containers) = super::containers_or_fallback(&doc, sel("div.post-content"), &mut rec) else {
            return rec;
        };
        rec.title = first(&doc, sel("h1.post-title")).or_else(|| first(&doc, sel("h1"))).map(text_of);
        rec.published_at =
            first(&doc, sel("time[datetime]")).and_then(|t| t.value().attr("datetime")).and_then(iso_datetime);
        rec.meta.insert("script".into(), "traditional".into());

        let mut paragraphs: Vec<String> = Vec::new();
        let mut pending_number: Option<String> = None;
        for p in containers[0].select(sel("p")) {
            // A `<br>` inside a `<p>` is a WeChat line wrap, not a paragraph break (seed 004:
            // 全市上下必須深刻認識到, / 唯有解放思想, / 才能…).
            let text: String = crate::dom::lines(p, &|_| false).iter().map(|l| trim_all(l)).collect();
            let text = drop_cjk_spaces(trim_all(&text));
            if text.is_empty() {
                continue; // image-only paragraphs (their alt text is not text)
            }
            // A lone section number `1` joins its heading with one space: `1 圍繞產業強市…`.
            if text.chars().all(|c| c.is_ascii_digit()) && text.len() <= 2 {
                pending_number = Some(text);
                continue;
            }
            match pending_number.take() {
                Some(n) => paragraphs.push(format!("{n} {text}")),
                None => paragraphs.push(text),
            }
        }
        if let Some(n) = pending_number {
            paragraphs.push(n);
        }
        rec.paragraphs = paragraphs;
        rec
    }
}

//! wnwk: first version (container text).

use scraper::Html;

use crate::dom::{first, sel};
use crate::{Extractor, Page, Record};

pub struct Wnwk;

impl Extractor for Wnwk {
    fn name(&self) -> &'static str {
        "wnwk"
    }
    fn version(&self) -> &'static str {
        "0.1.0"
    }
    fn extract(&self, page: &Page<'_>) -> Record {
        let doc = Html::parse_document(page.html);
        let mut rec = Record::new(page.url, self);
        let Some(containers) = super::containers_or_fallback(&doc, &sel("div.content"), &mut rec) else {
            return rec;
        };
        rec.title = first(&doc, &sel("h1")).map(crate::dom::text_of);
        rec.paragraphs = super::clean_lines(&containers, &|_| false);
        rec
    }
}

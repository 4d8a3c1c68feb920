//! One module per source site. To add a site, see `docs/adding-a-site.md`.

pub mod dede;
pub mod fanwen;
pub mod job328;
pub mod ttnews;
pub mod wnwk;

use scraper::{ElementRef, Html, Selector};

use crate::clean::{drop_cjk_spaces, trim_all};
use crate::{Extractor, Flag, Record, dom, generic};

/// Every site extractor; the registry adds `generic`.
pub static ALL: &[&dyn Extractor] = &[&fanwen::Fanwen, &wnwk::Wnwk, &dede::Dede, &job328::Job328, &ttnews::Ttnews];

/// The site's containers, or the generic extractor flagged `fallback` when none is on the page
/// (a template change, an error page).
pub(crate) fn containers_or_fallback<'a>(
    doc: &'a Html,
    selector: &Selector,
    rec: &mut Record,
) -> Option<Vec<ElementRef<'a>>> {
    let found: Vec<ElementRef<'a>> = doc.select(selector).collect();
    if found.is_empty() {
        generic::extract_into(doc, rec);
        rec.flag(Flag::Fallback);
        // The record is the generic extractor's work: its version is part of the record's.
        rec.extractor_version = format!("{}+generic-{}", rec.extractor_version, generic::VERSION);
        return None;
    }
    Some(found)
}

/// Lines of the containers, trimmed and with stray spaces around quotes removed.
pub(crate) fn clean_lines(containers: &[ElementRef<'_>], skip: &dyn Fn(&ElementRef<'_>) -> bool) -> Vec<String> {
    containers
        .iter()
        .flat_map(|c| dom::lines(*c, skip))
        .map(|l| drop_cjk_spaces(trim_all(&l)))
        .filter(|l| !l.is_empty())
        .collect()
}

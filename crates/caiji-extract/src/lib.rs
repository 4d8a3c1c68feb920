//! caiji's extractors: pure functions from a decoded page and its URL to an article record.
//! No I/O, no HTTP, no SQL: they can be fuzzed, benchmarked and snapshot-tested alone.
//!
//! - [`charset`]: the byte → text pipeline shared with the crawler.
//! - [`dom`] and [`clean`]: the shared cleaning passes (DOM → paragraphs, text fixes).
//! - [`sites`]: one module per source site; [`generic`]: the fallback for everything else.
//! - [`registry`]: name → extractor, and [`extract_bytes`], the one entry point callers use.

pub mod byline;
pub mod charset;
pub mod clean;
pub mod dom;
pub mod generic;
pub mod nesting;
pub mod registry;
pub mod sites;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub use charset::{CharsetDecision, CharsetSource, Decoded, decode};
pub use registry::{Registry, extract_bytes, extract_decoded};

/// What an extractor sees: the decoded page, where it came from and how it was decoded.
#[derive(Debug, Clone, Copy)]
pub struct Page<'a> {
    pub url: &'a str,
    pub html: &'a str,
    pub charset: Option<&'a CharsetDecision>,
}

/// The article record (the gold schema, plus site metadata and flags).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Record {
    pub url: String,
    pub title: Option<String>,
    /// ISO 8601 without time zone, at the precision the page shows (`2014-05-17`,
    /// `2021-11-03T10:32:35`).
    pub published_at: Option<String>,
    pub author: Option<String>,
    pub paragraphs: Vec<String>,
    /// Site metadata the page states (来源, document id, script, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub meta: BTreeMap<String, serde_json::Value>,
    /// Conditions a researcher must know about: see [`Flag`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<Flag>,
    /// Which extractor made the record, and its version.
    pub extractor: String,
    pub extractor_version: String,
}

/// Flags set on records (stored as their snake_case names in `extractions.flags`, where a
/// CHECK constraint lists them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flag {
    /// A teaser or paywall removed text from the page: the paragraphs are incomplete.
    ContentMissing,
    /// The site's content container was not found; the generic extractor ran instead.
    Fallback,
    /// The input is not an HTML page (binary, PDF, empty): no paragraphs.
    NotHtml,
    /// No main text was found.
    Empty,
    /// The page nested elements deeper than [`nesting::MAX_DEPTH`]: the deeper tags were
    /// dropped before parsing (their text kept), as browsers do.
    TooDeep,
}

impl Flag {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ContentMissing => "content_missing",
            Self::Fallback => "fallback",
            Self::NotHtml => "not_html",
            Self::Empty => "empty",
            Self::TooDeep => "too_deep",
        }
    }
}

impl Record {
    pub fn new(url: &str, extractor: &dyn Extractor) -> Self {
        Self {
            url: url.to_string(),
            extractor: extractor.name().to_string(),
            extractor_version: extractor.version().to_string(),
            ..Self::default()
        }
    }

    pub fn flag(&mut self, flag: Flag) {
        if !self.flags.contains(&flag) {
            self.flags.push(flag);
        }
    }

    pub fn has_flag(&self, flag: Flag) -> bool {
        self.flags.contains(&flag)
    }

    /// Removes U+0000 from every string of the record. A page can carry it (inside a script's
    /// JSON-LD, where the HTML parser leaves text alone), no archive text column can hold it
    /// (PostgreSQL rejects it in `text` and `jsonb`), and no reader wants it.
    pub fn strip_nul(&mut self) {
        fn clean(s: &mut String) {
            if s.contains('\0') {
                s.retain(|c| c != '\0');
            }
        }
        fn clean_json(v: &mut serde_json::Value) {
            match v {
                serde_json::Value::String(s) => clean(s),
                serde_json::Value::Array(a) => a.iter_mut().for_each(clean_json),
                serde_json::Value::Object(o) => {
                    let keys: Vec<String> = o.keys().filter(|k| k.contains('\0')).cloned().collect();
                    for k in keys {
                        if let Some(val) = o.remove(&k) {
                            o.insert(k.replace('\0', ""), val);
                        }
                    }
                    o.values_mut().for_each(clean_json);
                }
                _ => {}
            }
        }
        for s in [&mut self.title, &mut self.author, &mut self.published_at].into_iter().flatten() {
            clean(s);
        }
        self.paragraphs.iter_mut().for_each(clean);
        self.paragraphs.retain(|p| !p.trim().is_empty());
        self.meta.values_mut().for_each(clean_json);
    }

    /// The paragraphs as plain text, separated by blank lines.
    pub fn text(&self) -> String {
        self.paragraphs.join("\n\n")
    }
}

/// One extractor: a name, a version, and a pure function.
///
/// Changing what an extractor outputs means bumping its version (the snapshot tests in
/// `tests/snapshots.rs` are keyed by version and fail on a silent change).
pub trait Extractor: Send + Sync {
    fn name(&self) -> &'static str;
    fn version(&self) -> &'static str;
    /// Deterministic: same page, same record.
    fn extract(&self, page: &Page<'_>) -> Record;
}

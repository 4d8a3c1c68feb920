//! Snapshots of every fixture page's record through its site's extractor and through the
//! generic one: one file per page and extractor (`tests/snapshots/<extractor>/<site>/<page>.json`),
//! the extractor's version inside it; git keeps the history of older versions.
//!
//! - same version, different output: a failure (an extractor changed what it outputs without
//!   bumping its version, and the archive could not tell the two outputs apart);
//! - a new version: a failure until recorded with `CAIJI_BLESS=1 cargo test -p caiji-extract
//!   --test extract snapshots` (commit the snapshots with the version bump);
//! - blessing never overwrites a snapshot whose version equals the code's.

use crate::common;

use std::path::PathBuf;

use caiji_extract::{Registry, extract_bytes};

fn snapshot_path(extractor: &str, site: &str, rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(extractor)
        .join(site)
        .join(format!("{rel}.json"))
}

#[test]
fn every_fixture_page_matches_its_versioned_snapshot() {
    let bless = std::env::var_os("CAIJI_BLESS").is_some();
    let registry = Registry::default();
    let mut failures = Vec::new();
    let mut compared = 0;
    for page in common::pages() {
        // Each page through its own site's extractor and through the generic one.
        for name in [page.site.as_str(), "generic"] {
            let extractor = registry.get(name).expect("extractor");
            let (rec, _) = extract_bytes(extractor, &common::read(&page.path), &page.url, None);
            let got = serde_json::to_string_pretty(&rec).expect("json") + "\n";
            let path = snapshot_path(name, &page.site, &page.rel);
            let stored = std::fs::read_to_string(&path).ok();
            // The version inside the snapshot (a fallback record carries the generic version too).
            let stored_version = stored
                .as_deref()
                .and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok())
                .and_then(|v| v["extractor_version"].as_str().map(str::to_string));
            let what = format!("{} {} on {}/{}", rec.extractor, rec.extractor_version, page.site, page.rel);
            match (stored, stored_version) {
                (Some(want), _) if want == got => compared += 1,
                (Some(_), Some(v)) if v == rec.extractor_version => {
                    failures.push(format!("{what}: output changed without a version bump"))
                }
                _ if bless => {
                    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
                    std::fs::write(&path, got).expect("write snapshot");
                }
                (Some(_), v) => failures.push(format!(
                    "{what}: the snapshot is of version {v:?}: record the new version with CAIJI_BLESS=1"
                )),
                (None, _) => failures.push(format!("{what}: no snapshot yet: record it with CAIJI_BLESS=1")),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(bless || compared > 40, "compared only {compared}");
}

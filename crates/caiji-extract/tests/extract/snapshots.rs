//! Snapshots of every fixture page's record, keyed by extractor name and version: changing what
//! an extractor outputs without bumping its version fails here.
//!
//! A new version records its snapshots with `CAIJI_BLESS=1 cargo test -p caiji-extract --test
//! extract snapshots`; commit them with the version bump. Snapshots of older versions stay as history.
//! (Blessing never overwrites a snapshot that exists: changed output under an existing version
//! is always a failure.)

use crate::common;

use std::path::PathBuf;

use caiji_extract::{Registry, extract_bytes};

fn snapshot_path(extractor: &str, version: &str, site: &str, rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(format!("{extractor}-{version}"))
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
            // Keyed by the record's version: a fallback record carries the generic version too.
            let path = snapshot_path(&rec.extractor, &rec.extractor_version, &page.site, &page.rel);
            match std::fs::read_to_string(&path) {
                Ok(want) if want == got => compared += 1,
                Err(_) if bless => {
                    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
                    std::fs::write(&path, got).expect("write snapshot");
                }
                Ok(_) => failures.push(format!(
                    "{} {} changed its output on {}/{} without a version bump",
                    rec.extractor, rec.extractor_version, page.site, page.rel
                )),
                Err(_) => failures.push(format!(
                    "no snapshot for {} {} on {}/{}: a new version? record with CAIJI_BLESS=1",
                    rec.extractor, rec.extractor_version, page.site, page.rel
                )),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(bless || compared > 40, "compared only {compared}");
}

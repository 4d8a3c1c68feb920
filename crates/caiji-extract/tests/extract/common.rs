//! Fixture pages for the extractor tests: `fixtures/sites/<site>/pages` with their URLs.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

pub struct FixturePage {
    pub site: String,
    pub rel: String,
    pub url: String,
    pub path: PathBuf,
    pub expected: Option<PathBuf>,
}

pub fn sites_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/sites")
}

/// Every page of every fixture site (HTML, robots.txt, sitemap), sorted.
pub fn pages() -> Vec<FixturePage> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(sites_dir()).expect("fixtures/sites") {
        let dir = entry.expect("entry").path();
        let Ok(toml) = std::fs::read_to_string(dir.join("site.toml")) else { continue };
        let field = |k: &str| {
            toml.lines()
                .find_map(|l| {
                    l.strip_prefix(&format!("{k} = \"")).and_then(|r| r.split('"').next()).map(str::to_string)
                })
                .expect("site.toml field")
        };
        let (site, host, scheme) = (field("name"), field("host"), field("scheme"));
        let pages = dir.join("pages");
        for f in walkdir::WalkDir::new(&pages).sort_by_file_name().into_iter().filter_map(|e| e.ok()) {
            if !f.file_type().is_file() {
                continue;
            }
            let rel = f.path().strip_prefix(&pages).expect("under pages").to_string_lossy().replace('\\', "/");
            let expected = dir.join("expected").join(format!("{rel}.json"));
            out.push(FixturePage {
                site: site.clone(),
                url: format!("{scheme}://{host}/{rel}"),
                rel,
                path: f.path().to_path_buf(),
                expected: expected.is_file().then_some(expected),
            });
        }
    }
    out.sort_by(|a, b| (&a.site, &a.rel).cmp(&(&b.site, &b.rel)));
    out
}

pub fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// `container_marker` of a fixture site's `site.toml`: the markup its extractor finds the
/// content by.
pub fn container_marker(site: &str) -> String {
    let toml = std::fs::read_to_string(sites_dir().join(site).join("site.toml")).expect("site.toml");
    toml.lines()
        .find_map(|l| l.strip_prefix("container_marker = '").and_then(|r| r.split('\'').next()).map(str::to_string))
        .unwrap_or_else(|| panic!("fixtures/sites/{site}/site.toml: no container_marker (docs/adding-a-site.md)"))
}

//! Shared by the crawl tests: the repository's config with test-speed politeness, fixture paths.
#![allow(dead_code)]

use std::path::PathBuf;

use caiji_archive::testing::TestDb;
use caiji_crawl::replay::ReplayServer;
use caiji_crawl::{Config, CrawlOptions, crawl};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn fixtures() -> PathBuf {
    repo().join("fixtures/sites")
}

/// The repository's config, with a short per-host interval and a low Crawl-delay cap so the
/// suite stays fast (tests that measure gaps compare them with these effective values).
pub fn test_config(min_interval_ms: u64, crawl_delay_cap_secs: f64) -> Config {
    let mut config = Config::load(&repo().join("config/caiji.toml")).expect("repository config loads");
    config.global.fetch.min_interval_ms = min_interval_ms;
    config.global.fetch.crawl_delay_cap_secs = crawl_delay_cap_secs;
    config.global.fetch.retry_base_ms = 20;
    config
}

/// A fresh database holding one completed crawl of the recorded fixture sites.
pub async fn crawled() -> (TestDb, Config) {
    let db = TestDb::new().await.expect("test database");
    let server = ReplayServer::start(&fixtures()).await.expect("replay server");
    let config = test_config(5, 0.05);
    let opts = CrawlOptions { routes: server.routes(), ..Default::default() };
    crawl(&config, &db.archive, &db.url, &opts).await.expect("crawl");
    (db, config)
}

/// (site, url path) of every fixture article, from the fixtures' site.toml files.
pub fn fixture_articles() -> Vec<(String, String, PathBuf)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(fixtures()).expect("fixtures") {
        let dir = entry.expect("entry").path();
        let Ok(text) = std::fs::read_to_string(dir.join("site.toml")) else { continue };
        let t: toml::Table = toml::from_str(&text).expect("site.toml");
        let name = t["name"].as_str().expect("name").to_string();
        let host = t["host"].as_str().expect("host");
        let scheme = t["scheme"].as_str().expect("scheme");
        for p in t["article_pages"].as_array().expect("article_pages") {
            let path = p.as_str().expect("path");
            out.push((
                name.clone(),
                format!("{scheme}://{host}{path}"),
                dir.join("pages").join(path.trim_start_matches('/')),
            ));
        }
    }
    out.sort();
    out
}

/// One recorded site of `fixtures/sites/` (from its `site.toml`).
pub struct FixtureSite {
    pub name: String,
    pub host: String,
    pub dir: PathBuf,
}

/// Every recorded site, by name: tests derive sites and counts from here, so adding a site
/// (docs/adding-a-site.md) needs no test edited.
pub fn fixture_sites() -> Vec<FixtureSite> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(fixtures()).expect("fixtures") {
        let dir = entry.expect("entry").path();
        let Ok(text) = std::fs::read_to_string(dir.join("site.toml")) else { continue };
        let t: toml::Table = toml::from_str(&text).expect("site.toml");
        out.push(FixtureSite {
            name: t["name"].as_str().expect("name").to_string(),
            host: t["host"].as_str().expect("host").to_string(),
            dir,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The expected (gold) record of a fixture article, from `expected/<path>.json`.
pub fn expected_record(site: &str, url: &str) -> serde_json::Value {
    let path = url::Url::parse(url).expect("url").path().trim_start_matches('/').to_string();
    let file = fixtures().join(site).join("expected").join(format!("{path}.json"));
    serde_json::from_str(&std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display())))
        .expect("expected record")
}

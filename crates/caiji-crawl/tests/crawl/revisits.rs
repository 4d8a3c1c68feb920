//! Incremental recrawl: revisits with conditional GETs, identical payloads, changed and removed
//! pages, and the adaptive schedule, on a loopback site with a clock the test sets.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};

use crate::support::*;
use caiji_archive::testing::TestDb;
use caiji_crawl::{Config, CrawlOptions, CrawlSummary, crawl};

const HOST: &str = "rv.test";

/// A one-site config whose site file gets `extra` lines (the revisit policy, sitemaps).
fn site_config(dir: &std::path::Path, extra: &str) -> Config {
    config(dir, "allow_private_addresses = true", "", &[("rv", &[HOST], "http://rv.test/list/")]);
    let file = dir.join("sites/rv.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, format!("{text}{extra}\n")).unwrap();
    Config::load(&dir.join("caiji.toml")).expect("config")
}

async fn run(config: &Config, db: &TestDb, addr: std::net::SocketAddr, now: DateTime<Utc>, all: bool) -> CrawlSummary {
    let opts = CrawlOptions { routes: routes(addr, &[HOST]), now: Some(now), revisit_all: all, ..Default::default() };
    crawl(config, &db.archive, &db.url, &opts).await.expect("crawl")
}

fn paths(n: std::ops::RangeInclusive<usize>) -> Vec<String> {
    n.map(|i| format!("/a/{i}")).collect()
}

/// (status, outcome, revisit_of, body_sha256 is null) of every capture of `path`, oldest first.
async fn captures_of(db: &TestDb, path: &str) -> Vec<(i64, Option<i16>, String, Option<i64>, bool)> {
    sqlx::query_as(
        "SELECT id, status, outcome, revisit_of, body_sha256 IS NULL FROM captures WHERE canonical_url = $1 ORDER BY id",
    )
    .bind(format!("http://{HOST}{path}"))
    .fetch_all(db.archive.pool())
    .await
    .unwrap()
}

async fn extractions_of(db: &TestDb, path: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM extraction_records e JOIN captures c ON c.id = e.capture_id WHERE c.canonical_url = $1",
    )
    .bind(format!("http://{HOST}{path}"))
    .fetch_one(db.archive.pool())
    .await
    .unwrap()
}

fn changed_article(n: usize) -> Page {
    Page::html(format!(
        "<html><head><title>文章{n}（更正）</title></head><body><div class=\"content\"><p>这是第{n}篇文章更正后的正文，数字已经更新。</p>\
         <p>第二段也改写了，读者看到的是新的版本。</p></div></body></html>"
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_crawl_revisits_conditionally_and_records_what_changed() {
    let db = TestDb::new().await.expect("test database");
    let web = Arc::new(Web::default());
    let addr = serve(web.clone()).await;
    web.set(HOST, "/list/", list(&paths(1..=5)));
    web.set(HOST, "/a/1", article(1).with("etag", "\"v1\""));
    web.set(HOST, "/a/2", article(2));
    web.sequence(HOST, "/a/3", vec![article(3), changed_article(3)]);
    web.sequence(HOST, "/a/4", vec![article(4), Page::status(404)]);
    web.set(HOST, "/a/5", article(5).with("last-modified", "Tue, 01 Dec 2026 08:00:00 GMT"));
    let dir = tempfile::tempdir().unwrap();
    let config = site_config(dir.path(), "revisit_after = \"0s\"");
    let t0 = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();

    let first = run(&config, &db, addr, t0, false).await;
    assert_eq!(first.sites["rv"].articles, 5, "{first:?}");
    assert_eq!(first.sites["rv"].revisits_queued, 0);
    let bodies_before = scalar_i64(&db, "SELECT count(*) FROM bodies").await;
    web.conditionals.lock().unwrap().clear();

    let second = run(&config, &db, addr, t0 + chrono::Duration::hours(1), false).await;
    let c = &second.sites["rv"];
    assert_eq!((c.revisits_queued, c.unchanged, c.changed, c.gone), (5, 3, 1, 1), "{second:?}");
    assert_eq!(c.articles, 1, "only the changed page is a new article capture");

    // A page with an ETag is asked with If-None-Match; its 304 is a capture confirming the first.
    let sent = web.conditionals.lock().unwrap().clone();
    let asked = |p: &str| sent.iter().find(|(path, ..)| path == p).cloned().expect("requested");
    assert_eq!(asked("/a/1").1.as_deref(), Some("\"v1\""));
    assert_eq!(asked("/a/5").2.as_deref(), Some("Tue, 01 Dec 2026 08:00:00 GMT"));
    assert_eq!((asked("/a/2").1, asked("/a/2").2), (None, None), "no validators, no conditional headers");
    assert_eq!((asked("/list/").1, asked("/list/").2), (None, None), "list pages are read in full every run");
    for p in ["/a/1", "/a/5"] {
        let caps = captures_of(&db, p).await;
        assert_eq!(caps.len(), 2, "{p}");
        assert_eq!(
            (caps[1].1, caps[1].2.as_str(), caps[1].3, caps[1].4),
            (Some(304), "not_modified", Some(caps[0].0), true),
            "{p}"
        );
        assert_eq!(extractions_of(&db, p).await, 1, "{p}: a 304 is not extracted");
    }
    // No validators, same bytes: a 200 capture naming the first, no new body row, no extraction.
    let caps = captures_of(&db, "/a/2").await;
    assert_eq!((caps[1].1, caps[1].2.as_str(), caps[1].3, caps[1].4), (Some(200), "ok", Some(caps[0].0), false));
    assert_eq!(extractions_of(&db, "/a/2").await, 1);
    // The changed page's new body is the only new body (the 404 has none).
    assert_eq!(scalar_i64(&db, "SELECT count(*) FROM bodies").await, bodies_before + 1);

    // Changed: documents has the new text, the versions view both, with their dates.
    let caps = captures_of(&db, "/a/3").await;
    assert_eq!((caps.len(), caps[1].3), (2, None));
    assert_eq!(extractions_of(&db, "/a/3").await, 2);
    let (title, text): (Option<String>, String) =
        sqlx::query_as("SELECT title, text FROM documents WHERE url = 'http://rv.test/a/3'")
            .fetch_one(db.archive.pool())
            .await
            .unwrap();
    assert!(text.contains("更正后") && title.as_deref().is_some_and(|t| t.contains("更正")), "{title:?} {text}");
    let versions: Vec<(String, DateTime<Utc>, DateTime<Utc>, i64)> = sqlx::query_as(
        "SELECT text, first_seen_at, last_seen_at, captures FROM document_versions
         WHERE url = 'http://rv.test/a/3' ORDER BY first_seen_at",
    )
    .fetch_all(db.archive.pool())
    .await
    .unwrap();
    assert_eq!(versions.len(), 2);
    assert!(versions[0].0.contains("这是第3篇文章的正文") && versions[1].0.contains("更正后"));
    assert!(versions[0].2 < versions[1].1, "the old text was last seen before the new one was first seen");
    // What `caiji diff --url` prints from.
    let history = db.archive.page_history("http://rv.test/a/3").await.unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!((history[0].text.as_str(), history[1].text.as_str()), (versions[0].0.as_str(), versions[1].0.as_str()));
    assert!(history[1].title.as_deref().is_some_and(|t| t.contains("更正")));
    // Unchanged pages: one version, seen by both captures.
    let seen: (i64, i64) = sqlx::query_as(
        "SELECT count(*), sum(captures)::bigint FROM document_versions WHERE url IN ('http://rv.test/a/1', 'http://rv.test/a/2')",
    )
    .fetch_one(db.archive.pool())
    .await
    .unwrap();
    assert_eq!(seen, (2, 4));
    let (last_seen, second_fetch): (DateTime<Utc>, DateTime<Utc>) = sqlx::query_as(
        "SELECT d.last_seen_at, (SELECT max(fetched_at) FROM captures WHERE canonical_url = d.url)
         FROM documents d WHERE d.url = 'http://rv.test/a/1'",
    )
    .fetch_one(db.archive.pool())
    .await
    .unwrap();
    assert_eq!(last_seen, second_fetch, "a 304 moves last_seen_at");

    // Removed: gone, with the date, and still answerable with its last text.
    let (state, gone_since): (String, Option<DateTime<Utc>>) =
        sqlx::query_as("SELECT state, gone_since FROM frontier WHERE canonical_url = 'http://rv.test/a/4'")
            .fetch_one(db.archive.pool())
            .await
            .unwrap();
    assert_eq!(state, "gone");
    let gone_since = gone_since.expect("gone_since");
    let (text, doc_gone): (String, Option<DateTime<Utc>>) =
        sqlx::query_as("SELECT text, gone_since FROM documents WHERE url = 'http://rv.test/a/4'")
            .fetch_one(db.archive.pool())
            .await
            .unwrap();
    assert!(text.contains("这是第4篇文章"));
    assert_eq!(doc_gone, Some(gone_since));
    assert_eq!(scalar_i64(&db, "SELECT count(*) FROM documents WHERE gone_since IS NULL").await, 4);

    // Third run: the gone page is left alone; the changed page, stable now, is an identical payload.
    let before = web.requests(HOST, "/a/4").len();
    let third = run(&config, &db, addr, t0 + chrono::Duration::hours(2), false).await;
    assert_eq!(web.requests(HOST, "/a/4").len(), before, "a gone page is not revisited");
    assert_eq!((third.sites["rv"].revisits_queued, third.sites["rv"].unchanged), (4, 4), "{third:?}");
    assert_eq!(extractions_of(&db, "/a/3").await, 2);
}

/// The adaptive schedule, with a clock the test moves: unchanged pages drift apart, changing
/// ones come back sooner, pages not due are not fetched, a sitemap's newer <lastmod> brings a
/// page forward, and --revisit-all forces every page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adaptive_schedule_follows_the_runs_clock() {
    let db = TestDb::new().await.expect("test database");
    let web = Arc::new(Web::default());
    let addr = serve(web.clone()).await;
    web.set(HOST, "/list/", list(&paths(1..=2)));
    web.set(HOST, "/a/1", article(1));
    // /a/2 changes at every fetch.
    web.sequence(HOST, "/a/2", (0..60).map(|i| article(200 + i)).collect());
    let sitemap = |lastmod: &str| {
        Page::typed(
            "application/xml",
            format!(
                "<?xml version=\"1.0\"?><urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\
                 <url><loc>http://rv.test/a/1</loc><lastmod>{lastmod}</lastmod></url></urlset>"
            ),
        )
    };
    web.set(HOST, "/sitemap.xml", sitemap("2026-11-01"));
    let dir = tempfile::tempdir().unwrap();
    let config = site_config(
        dir.path(),
        "revisit_after = \"10d\"\nrevisit_min = \"2d\"\nrevisit_max = \"30d\"\nsitemaps = [\"http://rv.test/sitemap.xml\"]",
    );
    let t0 = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
    let day = |d: f64| t0 + chrono::Duration::seconds((d * 86400.0) as i64);
    let schedule = |db: &TestDb, path: &str| {
        let pool = db.archive.pool().clone();
        let url = format!("http://{HOST}{path}");
        async move {
            let (secs, next): (Option<i64>, Option<DateTime<Utc>>) =
                sqlx::query_as("SELECT revisit_interval_secs, next_visit_at FROM frontier WHERE canonical_url = $1")
                    .bind(url)
                    .fetch_one(&pool)
                    .await
                    .unwrap();
            (secs.map(|s| s as f64 / 86400.0), next)
        }
    };
    let fetches = |p: &str| web.requests(HOST, p).len();

    run(&config, &db, addr, t0, false).await;
    assert_eq!(schedule(&db, "/a/1").await, (Some(10.0), Some(day(10.0))));
    assert_eq!(fetches("/a/1") + fetches("/a/2"), 2);

    // Day 5: nothing is due; only the list and sitemap are read.
    let s = run(&config, &db, addr, day(5.0), false).await;
    assert_eq!((s.sites["rv"].revisits_queued, fetches("/a/1"), fetches("/a/2")), (0, 1, 1));

    // Day 10: both due. Unchanged: 10 × 1.4 = 14 days; changed: 10 × 0.8 = 8 days.
    let s = run(&config, &db, addr, day(10.0), false).await;
    assert_eq!((s.sites["rv"].unchanged, s.sites["rv"].changed), (1, 1), "{s:?}");
    assert_eq!(schedule(&db, "/a/1").await, (Some(14.0), Some(day(24.0))));
    assert_eq!(schedule(&db, "/a/2").await, (Some(8.0), Some(day(18.0))));

    // Day 18: only /a/2 (8 × 0.8 = 6.4 days).
    run(&config, &db, addr, day(18.0), false).await;
    assert_eq!((fetches("/a/1"), fetches("/a/2")), (2, 3));
    assert_eq!(schedule(&db, "/a/2").await.0, Some(6.4));

    // Day 19: the sitemap says /a/1 changed on day 18.5, after caiji last saw it (day 10): it
    // is revisited now, not on day 24.
    web.set(HOST, "/sitemap.xml", sitemap("2026-12-19T12:00:00Z"));
    run(&config, &db, addr, day(19.0), false).await;
    assert_eq!(fetches("/a/1"), 3, "a newer <lastmod> brings the page forward");
    assert_eq!(schedule(&db, "/a/1").await, (Some(19.6), Some(day(38.6))));
    // The same lastmod again is no news.
    run(&config, &db, addr, day(20.0), false).await;
    assert_eq!(fetches("/a/1"), 3);

    // Intervals stop at the bounds: /a/2 keeps changing and settles at revisit_min.
    for d in (25..=70).step_by(3) {
        run(&config, &db, addr, day(d as f64), false).await;
    }
    assert_eq!(schedule(&db, "/a/2").await.0, Some(2.0));

    // --revisit-all: everything, due or not.
    let before = (fetches("/a/1"), fetches("/a/2"));
    let s = run(&config, &db, addr, day(70.0), true).await;
    assert_eq!(s.sites["rv"].revisits_queued, 2);
    assert_eq!((fetches("/a/1"), fetches("/a/2")), (before.0 + 1, before.1 + 1));
}

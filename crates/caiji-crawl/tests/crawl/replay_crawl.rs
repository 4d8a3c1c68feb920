//! The spine end to end: the five recorded sites crawled from loopback into a real PostgreSQL.

use std::collections::HashMap;
use std::time::Duration;

use crate::support::*;
use caiji_archive::testing::TestDb;
use caiji_crawl::replay::ReplayServer;
use caiji_crawl::{CrawlOptions, crawl};
use regex::Regex;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_crawl_archives_every_fixture_article_once_politely() {
    check_replay_crawl_archives_every_fixture_article_once_politely().await;
}

/// The test's body, over whichever project [`use_project`] chose (the sixth-site test reuses it).
pub async fn check_replay_crawl_archives_every_fixture_article_once_politely() {
    let db = TestDb::new().await.expect("test database");
    let server = ReplayServer::start(&fixtures()).await.expect("replay server");
    let cap = 0.25;
    let mut config = test_config(5, cap);
    // Follow every link on fanwen, so the crawler meets robots-disallowed paths (/member/,
    // /search.php) and must refuse them itself.
    let fanwen = config.sites.iter_mut().find(|s| s.name() == "fanwen").expect("fanwen site");
    fanwen.follow = vec![Regex::new(r"^https://www\.fanwen\.example/").expect("regex")];

    let opts = CrawlOptions { routes: server.routes(), ..Default::default() };
    let summary = crawl(&config, &db.archive, &db.url, &opts).await.expect("crawl");
    assert_eq!(summary.outcome, caiji_archive::RunOutcome::Done, "{summary:?}");
    let pool = db.archive.pool();

    // Each fixture article exactly once, bodies byte-identical to the files.
    let articles = fixture_articles();
    assert!(!articles.is_empty());
    for (site, url, file) in &articles {
        let rows: Vec<(String, Vec<u8>)> = sqlx::query_as(
            "SELECT c.site, b.content FROM captures c JOIN bodies b ON b.sha256 = c.body_sha256
             WHERE c.canonical_url = $1 AND c.outcome = 'ok'",
        )
        .bind(url)
        .fetch_all(pool)
        .await
        .expect("query");
        assert_eq!(rows.len(), 1, "{url} captured {} times", rows.len());
        assert_eq!(&rows[0].0, site);
        let expected = std::fs::read(file).expect("fixture file");
        assert!(rows[0].1 == expected, "stored body of {url} differs from {}", file.display());
    }
    let (docs, sites): (i64, i64) = sqlx::query_as("SELECT count(*), count(DISTINCT site) FROM documents")
        .fetch_one(pool)
        .await
        .expect("documents");
    assert_eq!((docs as usize, sites as usize), (articles.len(), fixture_sites().len()));

    // fanwen says gb2312; its bytes are GB18030 with characters GB2312 lacks: 來 and the em
    // dash — (a GB2312 decoder turns it into ―) in 1562047's gold text.
    let (meta, used, replaced, text): (Option<String>, Option<String>, Option<i32>, String) = sqlx::query_as(
        "SELECT c.charset_meta, c.encoding_used, c.replacement_chars, d.text
         FROM documents d JOIN captures c ON c.id = d.capture_id
         WHERE d.url = 'https://www.fanwen.example/xindetihui/1562047.html'",
    )
    .fetch_one(pool)
    .await
    .expect("fanwen document");
    assert_eq!(meta.as_deref(), Some("gb2312"));
    assert_eq!(used.as_deref(), Some("gb18030"));
    assert_eq!(replaced, Some(0));
    assert!(text.contains('來') && text.contains('—'), "GBK-only characters lost");
    assert!(!text.contains('―'));
    assert!(!text.contains('\u{FFFD}'));

    // robots.txt: disallowed paths were met (frontier says so) and never requested (server says so).
    let disallowed: Vec<String> = sqlx::query_scalar("SELECT canonical_url FROM frontier WHERE state = 'disallowed'")
        .fetch_all(pool)
        .await
        .expect("frontier");
    assert!(
        disallowed.iter().any(|u| u.contains("/member/")),
        "the broad fanwen config should have met /member/ links: {disallowed:?}"
    );
    let requests = server.requests();
    let robots: HashMap<String, Vec<String>> = fixture_sites()
        .into_iter()
        .map(|site| {
            let text = std::fs::read_to_string(site.dir.join("pages/robots.txt")).unwrap_or_default();
            let prefixes = text
                .lines()
                .filter_map(|l| l.strip_prefix("Disallow:"))
                .map(|p| p.trim().trim_end_matches('*').to_string())
                .filter(|p| !p.is_empty() && !p.contains('*'))
                .collect();
            (site.host, prefixes)
        })
        .collect();
    for r in &requests {
        for prefix in &robots[r.host.as_str()] {
            assert!(!r.path.starts_with(prefix.as_str()), "requested disallowed {}{}", r.host, r.path);
        }
        assert!(r.user_agent.as_deref().is_some_and(|ua| ua.starts_with("caiji/")));
    }
    for u in &disallowed {
        let path = url::Url::parse(u).expect("url").path().to_string();
        assert!(!requests.iter().any(|r| r.path == path), "{u} was requested");
    }
    // robots.txt fetched once per host.
    for host in robots.keys() {
        let n = requests.iter().filter(|r| r.host == *host && r.path == "/robots.txt").count();
        assert_eq!(n, 1, "robots.txt of {host} fetched {n} times");
    }

    // job328's Crawl-delay: 10 is honoured up to the cap: gaps between its requests, measured
    // on the server, are at least the effective delay.
    let job: Vec<_> = requests.iter().filter(|r| r.host == "www.328job.com").collect();
    assert!(job.len() > 10, "job328 requests: {}", job.len());
    let effective = Duration::from_secs_f64(cap);
    for pair in job.windows(2) {
        let gap = pair[1].at.duration_since(pair[0].at);
        assert!(
            gap + Duration::from_millis(15) >= effective,
            "gap {gap:?} < {effective:?} between {} and {}",
            pair[0].path,
            pair[1].path
        );
    }
    // ... while other hosts went at their own (faster) pace.
    let dede: Vec<_> = requests.iter().filter(|r| r.host == "www.bjxhtouch.com").collect();
    let dede_span = dede.last().expect("dede").at.duration_since(dede[0].at);
    let job_span = job.last().expect("job").at.duration_since(job[0].at);
    assert!(dede_span < job_span / 2, "dede {dede_span:?} vs job328 {job_span:?}");

    // A second run fetches the list pages again but no article already captured.
    let before = server.requests().len();
    let again = crawl(&config, &db.archive, &db.url, &opts).await.expect("second crawl");
    let second: Vec<_> = server.requests().into_iter().skip(before).collect();
    for (_, url, _) in &articles {
        let path = url::Url::parse(url).expect("url").path().to_string();
        assert!(!second.iter().any(|r| r.path == path), "second run refetched {url}");
    }
    assert!(second.iter().any(|r| r.path == "/news/list-3-1.html"), "start URLs are refetched every run");
    assert_eq!(again.sites.values().map(|c| c.articles).sum::<u64>(), 0);
}

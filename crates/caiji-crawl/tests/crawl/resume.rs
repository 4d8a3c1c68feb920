//! A crawl killed mid-way and run again: no article captured twice, none missing.

use std::time::{Duration, Instant};

use crate::support::*;
use caiji_archive::testing::TestDb;
use caiji_crawl::replay::ReplayServer;
use caiji_crawl::{CrawlOptions, crawl};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aborted_crawl_resumes_without_duplicates_or_gaps() {
    check_aborted_crawl_resumes_without_duplicates_or_gaps().await;
}

/// The test's body, over whichever project [`use_project`] chose (the sixth-site test reuses it).
pub async fn check_aborted_crawl_resumes_without_duplicates_or_gaps() {
    let db = TestDb::new().await.expect("test database");
    let server = ReplayServer::start(&fixtures()).await.expect("replay server");
    let config = test_config(40, 0.1);
    let opts = CrawlOptions { routes: server.routes(), ..Default::default() };

    // First run: killed as soon as a few articles are in. It has its own connection pool, closed
    // after the abort, as a killed process's connections are: a statement it had queued but not
    // sent cannot reach the server later on a connection the second run reuses.
    let first_archive = caiji_archive::Archive::connect(&db.url).await.expect("first run's pool");
    let task = {
        let (config, archive, url, opts) = (config.clone(), first_archive.clone(), db.url.clone(), opts.clone());
        tokio::spawn(async move { crawl(&config, &archive, &url, &opts).await })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM extractions").fetch_one(db.archive.pool()).await.unwrap();
        if n >= 3 {
            break;
        }
        assert!(Instant::now() < deadline, "first crawl made no progress");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    first_archive.pool().close().await;
    let first: i64 = sqlx::query_scalar("SELECT count(*) FROM captures WHERE outcome = 'ok'")
        .fetch_one(db.archive.pool())
        .await
        .unwrap();
    let in_progress: i64 =
        sqlx::query_scalar("SELECT count(*) FROM frontier WHERE state IN ('pending', 'in_progress')")
            .fetch_one(db.archive.pool())
            .await
            .unwrap();
    assert!(in_progress > 0, "the first crawl was not interrupted");
    let captured_first: Vec<String> = sqlx::query_scalar("SELECT canonical_url FROM captures c JOIN frontier f USING (canonical_url) WHERE f.kind = 'article' AND c.outcome = 'ok'")
        .fetch_all(db.archive.pool())
        .await
        .unwrap();

    // The dropped run's lock connection may take a moment to be noticed by the server.
    let requests_before = server.requests().len();
    let deadline = Instant::now() + Duration::from_secs(10);
    let summary = loop {
        match crawl(&config, &db.archive, &db.url, &opts).await {
            Ok(s) => break s,
            Err(e) if e.is_lock_held() && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => panic!("second crawl: {e}"),
        }
    };
    assert_eq!(summary.outcome, caiji_archive::RunOutcome::Done);

    for (_, url, _) in fixture_articles() {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM captures WHERE canonical_url = $1 AND outcome = 'ok'")
            .bind(&url)
            .fetch_one(db.archive.pool())
            .await
            .unwrap();
        assert_eq!(n, 1, "{url} captured {n} times (first run had {first} ok captures)");
    }
    let docs: i64 = sqlx::query_scalar("SELECT count(*) FROM documents").fetch_one(db.archive.pool()).await.unwrap();
    assert_eq!(docs as usize, fixture_articles().len());
    // What the first run captured was not requested again.
    let second: Vec<(String, String)> =
        server.requests().into_iter().skip(requests_before).map(|r| (r.host, r.path)).collect();
    for url in &captured_first {
        let u = url::Url::parse(url).unwrap();
        let key = (u.host_str().unwrap_or_default().to_string(), u.path().to_string());
        assert!(!second.contains(&key), "{url} refetched after resume");
    }
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM frontier WHERE state IN ('pending', 'in_progress')")
        .fetch_one(db.archive.pool())
        .await
        .unwrap();
    assert_eq!(left, 0);
}

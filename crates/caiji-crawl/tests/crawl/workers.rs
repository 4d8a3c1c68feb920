//! Host-level scheduling and many workers on one archive: a site on several hosts is fetched
//! on all of them at once, each host at its interval; two workers on the same site share the
//! frontier (no URL fetched twice) and the hosts' intervals (booked in the archive).

use std::sync::Arc;
use std::time::Duration;

use crate::support::*;
use caiji_archive::testing::TestDb;
use caiji_crawl::{CrawlOptions, crawl};

const HOSTS: [&str; 4] = ["a.test", "b.test", "c.test", "d.test"];
const ARTICLES_PER_HOST: usize = 8;
const INTERVAL_MS: u64 = 60;
/// Arrival times are taken by a test server sharing two cores with the crawler and PostgreSQL:
/// they carry this much scheduling noise (as in `replay_crawl.rs`).
const NOISE_MS: u64 = 15;

/// One site on four hosts: a.test's list links to the other hosts' lists; every list links
/// its host's articles.
fn spread_web() -> Arc<Web> {
    let web = Arc::new(Web::default());
    for (h, host) in HOSTS.iter().enumerate() {
        let mut links: Vec<String> = (0..ARTICLES_PER_HOST).map(|k| format!("/a/{h}-{k}.html")).collect();
        if h == 0 {
            links.extend(HOSTS[1..].iter().map(|o| format!("http://{o}/list/0.html")));
        }
        web.set(host, "/list/0.html", list(&links));
        web.set(host, "/robots.txt", Page::typed("text/plain", "User-agent: *\nDisallow: /private/\n"));
        for k in 0..ARTICLES_PER_HOST {
            web.set(host, &format!("/a/{h}-{k}.html"), article(h * 100 + k));
        }
    }
    web
}

fn spread_config(dir: &std::path::Path) -> caiji_crawl::Config {
    spread_config_with(dir, "")
}

fn spread_config_with(dir: &std::path::Path, fetch: &str) -> caiji_crawl::Config {
    config(dir, fetch, "max_hosts_in_flight = 16", &[("spread", &HOSTS, "http://a.test/list/0.html")]);
    // The site's own interval, above the test default.
    let site = dir.join("sites/spread.toml");
    let text = std::fs::read_to_string(&site).unwrap();
    std::fs::write(&site, format!("{text}min_interval_ms = {INTERVAL_MS}\n")).unwrap();
    caiji_crawl::Config::load(&dir.join("caiji.toml")).expect("config")
}

/// Gaps between consecutive requests to each host, as the server saw them.
fn gaps(web: &Web) -> Vec<(String, Duration)> {
    let log = web.log.lock().unwrap();
    let mut out = Vec::new();
    for host in HOSTS {
        let times: Vec<_> = log.iter().filter(|r| r.1 == host).map(|r| r.0).collect();
        out.extend(times.windows(2).map(|w| (host.to_string(), w[1].duration_since(w[0]))));
    }
    out
}

/// A fresh archive, the spread web on loopback, its config and the options routing to it.
struct Spread {
    db: TestDb,
    web: Arc<Web>,
    _dir: tempfile::TempDir,
    config: caiji_crawl::Config,
    opts: CrawlOptions,
}

async fn spread() -> Spread {
    let db = TestDb::new().await.expect("test database");
    let web = spread_web();
    let addr = serve(web.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = spread_config(dir.path());
    let opts = CrawlOptions { routes: routes(addr, &HOSTS), ..Default::default() };
    Spread { db, web, _dir: dir, config, opts }
}

fn expected_articles() -> i64 {
    (HOSTS.len() * ARTICLES_PER_HOST) as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_worker_keeps_every_host_busy_at_its_interval() {
    let Spread { db, web, _dir, config, opts } = spread().await;
    let summary = crawl(&config, &db.archive, &db.url, &opts).await.expect("crawl");
    assert_eq!(summary.outcome, caiji_archive::RunOutcome::Done, "{:?}", summary.reason);
    assert_eq!(scalar_i64(&db, "SELECT count(*) FROM documents").await, expected_articles());

    // Every host at its interval, never closer.
    let gaps = gaps(&web);
    for (host, gap) in &gaps {
        assert!(
            *gap + Duration::from_millis(NOISE_MS) >= Duration::from_millis(INTERVAL_MS),
            "{host}: gap {gap:?} under {INTERVAL_MS} ms"
        );
    }
    // Hosts fetched side by side, not one after the other: requests to different hosts
    // arrive within one interval of each other.
    let log = web.log.lock().unwrap().clone();
    let overlapping = log
        .windows(2)
        .filter(|w| w[0].1 != w[1].1 && w[1].0.duration_since(w[0].0) < Duration::from_millis(INTERVAL_MS / 2))
        .count();
    assert!(overlapping >= 10, "hosts were not fetched in parallel ({overlapping} close pairs across hosts)");
    // Turns were booked in the archive for every request (robots.txt included; a turn missed
    // on a loaded machine is booked again).
    let booked = scalar_i64(&db, "SELECT sum(requests)::bigint FROM host_turns").await;
    assert!(booked as usize >= log.len(), "{booked} turns booked");
    // The run's texts are found by substring, and its end merged their pending index entries.
    assert!(scalar_i64(&db, "SELECT count(*) FROM texts_containing('文章')").await > 0);
    assert_eq!(scalar_i64(&db, "SELECT gin_clean_pending_list('texts_chars_idx')").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_share_a_site_without_fetching_twice_or_crowding_a_host() {
    let Spread { db, web, _dir, config, opts } = spread().await;
    let joining = CrawlOptions { join: true, ..opts.clone() };
    // The second worker joins once the first has seeded the site and holds its lock.
    let second = async {
        while scalar_i64(&db, "SELECT count(*) FROM captures").await < 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        crawl(&config, &db.archive, &db.url, &joining).await
    };
    let (first, second) = tokio::join!(crawl(&config, &db.archive, &db.url, &opts), second);
    let (first, second) = (first.expect("first worker"), second.expect("second worker"));
    assert_ne!(first.run_id, second.run_id);

    // Every URL fetched once across both workers (lists and robots.txt included: robots.txt may
    // be read once per worker, each read booked like any request).
    let log = web.log.lock().unwrap().clone();
    for r in &log {
        let n = log.iter().filter(|o| o.1 == r.1 && o.3 == r.3).count();
        let max = if r.2 == "/robots.txt" { 2 } else { 1 };
        assert!(n <= max, "{}{} requested {n} times", r.1, r.3);
    }
    assert_eq!(
        scalar_i64(&db, "SELECT count(*) FROM (SELECT canonical_url FROM captures WHERE url NOT LIKE '%/robots.txt' GROUP BY 1 HAVING count(*) > 1) d").await,
        0,
        "a URL captured twice"
    );
    assert_eq!(scalar_i64(&db, "SELECT count(*) FROM documents").await, expected_articles());
    // Both did part of the work.
    let by_run: Vec<(i64, i64)> =
        sqlx::query_as("SELECT crawl_run_id, count(*) FROM captures WHERE url LIKE '%/a/%' GROUP BY 1 ORDER BY 1")
            .fetch_all(db.archive.pool())
            .await
            .unwrap();
    assert_eq!(by_run.len(), 2, "one worker did everything: {by_run:?}");
    // Each host's interval held across both workers, as the server saw it.
    for (host, gap) in gaps(&web) {
        assert!(
            gap + Duration::from_millis(NOISE_MS) >= Duration::from_millis(INTERVAL_MS),
            "{host}: gap {gap:?} under {INTERVAL_MS} ms across workers"
        );
    }
    assert_eq!(scalar_i64(&db, "SELECT count(*) FROM frontier WHERE state IN ('pending', 'in_progress')").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_workers_claims_return_to_the_frontier() {
    let Spread { db, _dir, config, opts, .. } = spread().await;
    crawl(&config, &db.archive, &db.url, &opts).await.expect("crawl");
    // A worker that claimed two articles and died (its run holds no liveness lock), and one
    // that is alive and holds a fresh claim.
    let dead: i64 = sqlx::query_scalar(
        "INSERT INTO crawl_runs (command, caiji_version, sites) VALUES ('crawl', 'test', '{spread}') RETURNING id",
    )
    .fetch_one(db.archive.pool())
    .await
    .unwrap();
    sqlx::query(
        "UPDATE frontier SET state = 'in_progress', last_run_id = $1, lease_until = now() + interval '10 minutes'
         WHERE canonical_url IN ('http://a.test/a/0-1.html', 'http://b.test/a/1-2.html')",
    )
    .bind(dead)
    .execute(db.archive.pool())
    .await
    .unwrap();
    let released = db.archive.release_dead_claims(&["spread".to_string()]).await.unwrap();
    assert_eq!(released, 2);
    assert_eq!(scalar_i64(&db, "SELECT count(*) FROM frontier WHERE state = 'in_progress'").await, 0);
    // A live run's claim with a lease still running is left alone; once the lease has run
    // out, it returns too.
    let info = caiji_archive::store::RunInfo {
        command: "crawl".into(),
        arguments: serde_json::json!({}),
        sites: vec!["spread".into()],
        caiji_version: "test".into(),
        git_commit: None,
    };
    let lease = db.archive.begin_run(&db.url, &info, &[]).await.unwrap();
    sqlx::query(
        "UPDATE frontier SET state = 'in_progress', last_run_id = $1, lease_until = now() + interval '10 minutes'
         WHERE canonical_url = 'http://c.test/a/2-3.html'",
    )
    .bind(lease.run_id())
    .execute(db.archive.pool())
    .await
    .unwrap();
    assert_eq!(db.archive.release_dead_claims(&["spread".to_string()]).await.unwrap(), 0);
    sqlx::query("UPDATE frontier SET lease_until = now() - interval '1 second' WHERE canonical_url = 'http://c.test/a/2-3.html'")
        .execute(db.archive.pool())
        .await
        .unwrap();
    assert_eq!(db.archive.release_dead_claims(&["spread".to_string()]).await.unwrap(), 1);
    lease.release().await;
}

/// `politeness = "ip"`: the four hosts are served from one address (the test server's), so
/// they share one turn: requests to any of them reach the server the interval apart (per host,
/// they come 17 ms apart across hosts), and the turns are held on the address, not the hosts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_ip_politeness_spaces_hosts_sharing_an_address() {
    let db = TestDb::new().await.expect("test database");
    let web = spread_web();
    let addr = serve(web.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = spread_config_with(dir.path(), "politeness = \"ip\"");
    let opts = CrawlOptions { routes: routes(addr, &HOSTS), ..Default::default() };
    let summary = crawl(&config, &db.archive, &db.url, &opts).await.expect("crawl");
    assert_eq!(summary.outcome, caiji_archive::RunOutcome::Done, "{:?}", summary.reason);
    assert_eq!(scalar_i64(&db, "SELECT count(*) FROM documents").await, expected_articles());

    let log = web.log.lock().unwrap().clone();
    assert!(log.len() as i64 > expected_articles());
    for w in log.windows(2) {
        let gap = w[1].0.duration_since(w[0].0);
        assert!(
            gap + Duration::from_millis(NOISE_MS) >= Duration::from_millis(INTERVAL_MS),
            "{} then {}: {gap:?} apart, under {INTERVAL_MS} ms for one address",
            w[0].1,
            w[1].1
        );
    }
    let keys: Vec<String> =
        sqlx::query_scalar("SELECT host FROM host_turns ORDER BY host").fetch_all(db.archive.pool()).await.unwrap();
    assert_eq!(keys, vec![format!("ip:{}", addr.ip())]);
}

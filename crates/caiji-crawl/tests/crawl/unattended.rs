//! What a crawl left alone with cron promises (docs/promises.md): each fault of issue 13's
//! table, on real PostgreSQL and loopback servers, asserting nothing lost, nothing archived
//! twice, and the recorded outcome.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::{Page, Web, article, config, list, routes, scalar_i64, serve};
use caiji_archive::testing::TestDb;
use caiji_archive::{ArchiveError, RunOutcome};
use caiji_crawl::{Config, CrawlError, CrawlOptions, crawl};

/// Row 1: a page of 100,000 nested `<div>`s is recorded (capture kept, extraction flagged
/// `too_deep`, its text kept), the pages after it are crawled. Row 8: a GBK page labelled
/// UTF-8 is decoded by the detector, the override recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_page_is_flagged_and_a_wrongly_labelled_page_is_decoded() {
    let db = TestDb::new().await.expect("test database");
    let web = Arc::new(Web::default());
    let host = "deep.test";
    web.set(host, "/", list(&["/a/deep".into(), "/a/ok".into(), "/a/gbk".into()]));
    let depth = 100_000;
    let paragraphs: String =
        (1..=5).map(|i| format!("<p>深层页面的第{i}段正文，文字足够长，可以被提取出来。</p>")).collect();
    web.set(
        host,
        "/a/deep",
        Page::html(format!(
            "<html><body>{}{paragraphs}{}</body></html>",
            "<div>".repeat(depth),
            "</div>".repeat(depth)
        )),
    );
    web.set(host, "/a/ok", article(1));
    let title = "关于做好冬季安全生产工作的通知";
    let gbk_page = format!(
        "<html><head><title>{title}</title></head><body><div class=\"content\">{}</div></body></html>",
        "<p>各乡镇人民政府，县直各有关单位：为切实做好冬季安全生产工作，防范各类事故发生，现将有关事项通知如下。</p>"
            .repeat(6)
    );
    let (gbk, _, _) = encoding_rs::GBK.encode(&gbk_page);
    web.set(host, "/a/gbk", Page::typed("text/html; charset=utf-8", gbk.into_owned()));
    let addr = serve(web.clone()).await;
    let tmp = tempfile::tempdir().unwrap();
    let config = config(tmp.path(), "", "", &[("deep", &[host], "http://deep.test/")]);
    let opts = CrawlOptions { routes: routes(addr, &[host]), ..Default::default() };
    let summary = crawl(&config, &db.archive, &db.url, &opts).await.expect("the crawl survives a deep page");
    assert_eq!(summary.outcome, RunOutcome::Done, "{summary:?}");

    let (outcome, flags, text): (String, Vec<String>, String) = sqlx::query_as(
        "SELECT c.outcome, e.flags, e.text FROM captures c JOIN extractions e ON e.capture_id = c.id
         WHERE c.url = 'http://deep.test/a/deep'",
    )
    .fetch_one(db.archive.pool())
    .await
    .expect("the deep page is captured and extracted");
    assert_eq!(outcome, "ok");
    assert!(flags.contains(&"too_deep".to_string()), "{flags:?}");
    for i in 1..=5 {
        assert!(text.contains(&format!("深层页面的第{i}段正文")), "paragraph {i} lost: {text}");
    }
    assert_eq!(scalar_i64(&db, "SELECT count(*) FROM documents WHERE url = 'http://deep.test/a/ok'").await, 1);

    let (source, header, used, replacements, doc_title): (String, String, String, i32, String) = sqlx::query_as(
        "SELECT c.charset_source, c.charset_header, c.encoding_used, c.replacement_chars, d.title
         FROM captures c JOIN documents d ON d.capture_id = c.id WHERE c.url = 'http://deep.test/a/gbk'",
    )
    .fetch_one(db.archive.pool())
    .await
    .unwrap();
    assert_eq!(
        (source.as_str(), header.as_str(), used.as_str(), replacements),
        ("detector-override", "utf-8", "gb18030", 0)
    );
    assert_eq!(doc_title, title);
}

/// Row 2: a page whose analysis is slow runs off the scheduler: another site keeps its pace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_analysis_does_not_stall_other_sites() {
    let db = TestDb::new().await.expect("test database");
    let web = Arc::new(Web::default());
    // ~6 MB of links that match no rule of the site: all parsing, nothing to enqueue.
    let links: String = (0..120_000).map(|i| format!("<div><a href=\"/x/{i}\">链接{i}</a></div>\n")).collect();
    web.set("big.test", "/", Page::html(format!("<html><body>{links}</body></html>")));
    let steady: Vec<String> = (0..40).map(|i| format!("/a/{i}")).collect();
    web.set("steady.test", "/", list(&steady));
    for (i, p) in steady.iter().enumerate() {
        web.set("steady.test", p, article(i));
    }
    let addr = serve(web.clone()).await;
    let tmp = tempfile::tempdir().unwrap();
    let config = config(
        tmp.path(),
        "max_body_bytes = 20000000",
        "",
        &[("big", &["big.test"], "http://big.test/"), ("steady", &["steady.test"], "http://steady.test/")],
    );
    let opts = CrawlOptions { routes: routes(addr, &["big.test", "steady.test"]), ..Default::default() };
    let summary = crawl(&config, &db.archive, &db.url, &opts).await.expect("crawl");
    assert_eq!(summary.sites["steady"].extracted, 40, "{summary:?}");
    assert_eq!(summary.sites["big"].ok, 1, "{summary:?}");

    // The steady site never waited on it: no gap between its requests is anywhere near the
    // time the big page's analysis ran on its worker thread.
    let log = web.log.lock().unwrap().clone();
    let times: Vec<Instant> = log.iter().filter(|r| r.1 == "steady.test").map(|r| r.0).collect();
    let worst = times.windows(2).map(|w| w[1].duration_since(w[0])).max().unwrap();
    assert!(worst < Duration::from_millis(1500), "steady.test waited {worst:?} between two requests");
}

/// Row 2's bound: an analysis past `parse_timeout_secs` (here 0: always) is given up, the
/// capture kept and the reason recorded; the run goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_analysis_past_its_limit_keeps_the_capture() {
    let db = TestDb::new().await.expect("test database");
    let web = Arc::new(Web::default());
    let host = "limit.test";
    // Thousands of links: parsing takes far longer than the timer's 1 ms resolution.
    let mut links: Vec<String> = (0..20_000).map(|i| format!("/x/{i}")).collect();
    links.push("/a/1".into());
    web.set(host, "/list/", list(&links));
    web.set(host, "/a/1", article(1));
    let addr = serve(web.clone()).await;
    let tmp = tempfile::tempdir().unwrap();
    let config = config(tmp.path(), "", "parse_timeout_secs = 0.0", &[("limit", &[host], "http://limit.test/list/")]);
    let opts = CrawlOptions { routes: routes(addr, &[host]), ..Default::default() };
    let summary = crawl(&config, &db.archive, &db.url, &opts).await.expect("crawl");
    assert_eq!(summary.outcome, RunOutcome::Done, "{summary:?}");
    let (outcome, error, extractions): (String, Option<String>, i64) = sqlx::query_as(
        "SELECT c.outcome, f.last_error, (SELECT count(*) FROM extractions e WHERE e.capture_id = c.id)
         FROM captures c JOIN frontier f ON f.last_capture_id = c.id WHERE c.url = 'http://limit.test/list/'",
    )
    .fetch_one(db.archive.pool())
    .await
    .unwrap();
    assert_eq!((outcome.as_str(), extractions), ("ok", 0));
    assert!(error.as_deref().unwrap_or("").contains("analysis gave up"), "{error:?}");
    assert_eq!(web.requests(host, "/a/1").len(), 0, "the list page's links were never read");
}

/// Row 3: a robots.txt outage, with no copy of the file in the archive, defers the host: its
/// URLs stay pending, the run is not `done` (exit 1), the robots.txt answer is archived; the
/// next run gets every article.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn robots_outage_defers_the_host_and_loses_nothing() {
    let db = TestDb::new().await.expect("test database");
    let web = Arc::new(Web::default());
    let host = "outage.test";
    let articles: Vec<String> = (1..=10).map(|i| format!("/a/{i}.html")).collect();
    web.set(host, "/robots.txt", Page::status(503));
    web.set(host, "/list/1.html", list(&articles));
    for (i, p) in articles.iter().enumerate() {
        web.set(host, p, article(i));
    }
    let addr = serve(web.clone()).await;
    let tmp = tempfile::tempdir().unwrap();
    let config = config(tmp.path(), "", "", &[("outage", &[host], "http://outage.test/list/1.html")]);
    let opts = || CrawlOptions { routes: routes(addr, &[host]), ..Default::default() };

    let first = crawl(&config, &db.archive, &db.url, &opts()).await.expect("run 1 records its outcome");
    assert_eq!(first.outcome, RunOutcome::Incomplete, "{first:?}");
    assert!(first.reason.as_deref().unwrap_or("").contains("deferred"), "{first:?}");
    assert_eq!(first.sites["outage"].disallowed, 0);
    assert_eq!(first.sites["outage"].fetched, 0, "nothing may be requested while robots.txt is unavailable");
    assert_eq!(web.requests_to(host), web.requests(host, "/robots.txt").len());
    let (outcome, error): (String, Option<String>) =
        sqlx::query_as("SELECT outcome, error FROM crawl_runs WHERE id = $1")
            .bind(first.run_id)
            .fetch_one(db.archive.pool())
            .await
            .unwrap();
    assert_eq!(outcome, "incomplete");
    assert!(error.is_some());
    assert_eq!(
        scalar_i64(&db, "SELECT count(*) FROM frontier WHERE state = 'pending'").await,
        1,
        "the start URL stays pending"
    );
    assert_eq!(scalar_i64(&db, "SELECT count(*) FROM frontier WHERE state IN ('disallowed', 'in_progress')").await, 0);

    web.set(host, "/robots.txt", Page::typed("text/plain", "User-agent: *\nDisallow: /private/\n"));
    let second = crawl(&config, &db.archive, &db.url, &opts()).await.expect("run 2");
    assert_eq!(second.outcome, RunOutcome::Done, "{second:?}");
    // The robots.txt answers are archived, each with its run.
    let robots: Vec<(i16, i64)> = sqlx::query_as(
        "SELECT status, crawl_run_id FROM captures WHERE url = 'http://outage.test/robots.txt' ORDER BY id",
    )
    .fetch_all(db.archive.pool())
    .await
    .unwrap();
    assert_eq!(robots, vec![(503, first.run_id), (200, second.run_id)]);
    assert_eq!(
        scalar_i64(&db, "SELECT count(DISTINCT canonical_url) FROM captures WHERE url LIKE '%/a/%' AND outcome = 'ok'")
            .await,
        10,
        "every article archived"
    );
    assert_eq!(scalar_i64(&db, "SELECT count(*) FROM captures WHERE url LIKE '%/a/%'").await, 10, "and none twice");
}

/// RFC 9309 §2.4 and §2.3.1.4: the robots.txt in the archive is obeyed without asking again
/// for `robots_fresh_secs` (here a day), by any run; by default every crawl asks again, and
/// while the file is unreachable the archived copy is obeyed (its rules still hold) instead of
/// deferring the host, the run reporting the outage (`done_with_failures`, exit 1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archived_robots_txt_is_obeyed_for_a_day_and_through_an_outage() {
    let db = TestDb::new().await.expect("test database");
    let web = Arc::new(Web::default());
    let host = "cached.test";
    let mut articles: Vec<String> = (1..=3).map(|i| format!("/a/{i}.html")).collect();
    articles.push("/a/private/1.html".into());
    web.set(host, "/robots.txt", Page::typed("text/plain", "User-agent: *\nDisallow: /a/private/\n"));
    web.set(host, "/list/1.html", list(&articles));
    for i in 1..=6 {
        web.set(host, &format!("/a/{i}.html"), article(i));
    }
    web.set(host, "/a/private/1.html", article(99));
    let addr = serve(web.clone()).await;
    let opts = || CrawlOptions { routes: routes(addr, &[host]), ..Default::default() };
    let site = [("cached", &[host][..], "http://cached.test/list/1.html")];
    let tmp = tempfile::tempdir().unwrap();
    let daily = config(&tmp.path().join("daily"), "robots_fresh_secs = 86400", "", &site);
    let always = config(&tmp.path().join("always"), "", "", &site);

    let first = crawl(&daily, &db.archive, &db.url, &opts()).await.expect("run 1");
    assert_eq!(
        (first.outcome, first.sites["cached"].articles, first.sites["cached"].disallowed),
        (RunOutcome::Done, 3, 1)
    );
    assert_eq!(web.requests(host, "/robots.txt").len(), 1);

    // Within the day: not asked again (the server would answer 503), and still obeyed.
    web.set(host, "/robots.txt", Page::status(503));
    articles.insert(0, "/a/4.html".into());
    web.set(host, "/list/1.html", list(&articles));
    let second = crawl(&daily, &db.archive, &db.url, &opts()).await.expect("run 2");
    assert_eq!(second.outcome, RunOutcome::Done, "{second:?}");
    assert_eq!(second.sites["cached"].articles, 1, "{second:?}");
    assert_eq!(web.requests(host, "/robots.txt").len(), 1, "a fresh archived copy is not fetched again");

    // Asked again (the default): unreachable, so the archived copy holds and nothing is deferred;
    // the outage is the run's failure.
    articles.insert(0, "/a/5.html".into());
    articles.push("/a/private/2.html".into());
    web.set(host, "/list/1.html", list(&articles));
    let third = crawl(&always, &db.archive, &db.url, &opts()).await.expect("run 3");
    assert_eq!(third.outcome, RunOutcome::DoneWithFailures, "{third:?}");
    assert!(third.reason.as_deref().unwrap_or("").contains("robots.txt unreachable"), "{third:?}");
    let c = &third.sites["cached"];
    assert_eq!((c.articles, c.deferred, c.robots_unreachable), (1, 0, 1), "{third:?}");
    assert!(web.requests(host, "/robots.txt").len() >= 2, "asked again once the copy is stale");
    assert!(web.requests(host, "/a/private/1.html").is_empty() && web.requests(host, "/a/private/2.html").is_empty());
    assert_eq!(
        scalar_i64(
            &db,
            "SELECT count(*) FROM frontier WHERE canonical_url LIKE '%/private/%' AND state = 'disallowed'"
        )
        .await,
        2
    );

    // A good answer again: it is what the next runs obey.
    web.set(host, "/robots.txt", Page::typed("text/plain", "User-agent: *\nDisallow: /a/6\n"));
    articles.insert(0, "/a/6.html".into());
    web.set(host, "/list/1.html", list(&articles));
    let fourth = crawl(&always, &db.archive, &db.url, &opts()).await.expect("run 4");
    assert_eq!((fourth.outcome, fourth.sites["cached"].disallowed), (RunOutcome::Done, 1), "{fourth:?}");
    assert!(web.requests(host, "/a/6.html").is_empty());
}

/// Row 5: the run's session dies (as in a PostgreSQL restart) while it waits on a slow
/// response; a second crawl of the site takes the lock. The first stops without storing, and
/// no URL is archived twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_lock_stops_the_crawl_and_nothing_is_archived_twice() {
    let db = TestDb::new().await.expect("test database");
    let web = Arc::new(Web::default());
    let host = "lock.test";
    web.set(host, "/robots.txt", Page::status(404));
    web.set(host, "/list/1.html", list(&["/a/1.html".into(), "/a/2.html".into()]));
    web.set(host, "/a/1.html", article(1).slow(Duration::from_secs(3)));
    web.set(host, "/a/2.html", article(2).slow(Duration::from_secs(1)));
    let addr = serve(web.clone()).await;
    let tmp = tempfile::tempdir().unwrap();
    let config = Arc::new(config(tmp.path(), "", "", &[("lock", &[host], "http://lock.test/list/1.html")]));
    let opts = CrawlOptions { routes: routes(addr, &[host]), ..Default::default() };

    let first = {
        let (config, archive, url, opts) = (config.clone(), db.archive.clone(), db.url.clone(), opts.clone());
        tokio::spawn(async move { crawl(&config, &archive, &url, &opts).await })
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while web.requests(host, "/a/1.html").is_empty() {
        assert!(Instant::now() < deadline, "run 1 never asked for /a/1.html");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // What a restart does to the run's session: its advisory locks are gone.
    let killed = scalar_i64(
        &db,
        "SELECT count(pg_terminate_backend(pid)) FROM pg_locks WHERE locktype = 'advisory' AND database =
           (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    .await;
    assert_eq!(killed, 2, "site and run locks are held by one session");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let second = crawl(&config, &db.archive, &db.url, &opts).await.expect("run 2 takes the free lock and crawls");
    assert_eq!(second.sites["lock"].articles, 2, "{second:?}");

    let first = first.await.unwrap();
    match first {
        Err(CrawlError::Archive(ArchiveError::LockLost(site))) => assert_eq!(site, "lock"),
        other => panic!("run 1 must stop on its lost lock: {other:?}"),
    }
    let doubles = scalar_i64(
        &db,
        "SELECT count(*) FROM (SELECT canonical_url FROM captures WHERE status = 200 AND url LIKE '%/a/%'
           GROUP BY canonical_url HAVING count(*) > 1) d",
    )
    .await;
    assert_eq!(doubles, 0, "an article was archived by both runs");
    assert_eq!(scalar_i64(&db, "SELECT count(*) FROM documents").await, 2);
    let outcome: String = sqlx::query_scalar("SELECT outcome FROM crawl_runs ORDER BY id LIMIT 1")
        .fetch_one(db.archive.pool())
        .await
        .unwrap();
    assert_eq!(outcome, "failed", "run 1 records why it stopped");
}

/// Rows 6 and 7: a redirect off the site's hosts is recorded, not followed; an address that is
/// not globally routable is refused on the first request, on a redirect hop and after DNS
/// resolution (`localhost`), before anything (robots.txt included) is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn off_site_redirects_and_private_addresses_are_refused() {
    let db = TestDb::new().await.expect("test database");
    let web = Arc::new(Web::default());
    let addr = serve(web.clone()).await;
    let port = addr.port();
    let host = "scoped.test";
    web.set(host, "/robots.txt", Page::status(404));
    web.set(host, "/list/", list(&["/a/ok".into(), "/a/off".into(), "/a/private".into()]));
    web.set(host, "/a/ok", article(1));
    web.set(host, "/a/off", Page::redirect("http://elsewhere.test/secret"));
    web.set(host, "/a/private", Page::redirect(&format!("http://127.0.0.1:{port}/a/secret")));
    web.set("elsewhere.test", "/secret", Page::html("SECRET-INTERNAL-DATA"));
    web.set("127.0.0.1", "/a/secret", Page::html("SECRET-INTERNAL-DATA"));
    web.set("127.0.0.1", "/", list(&["/a/secret".into()]));
    let tmp = tempfile::tempdir().unwrap();
    let start_ip = format!("http://127.0.0.1:{port}/");
    let config = config(
        tmp.path(),
        "",
        "",
        &[("scoped", &[host, "127.0.0.1"], "http://scoped.test/list/"), ("literal", &["127.0.0.1"], &start_ip)],
    );
    // Only the scoped site's names are routed to the test server; 127.0.0.1 is reached (or
    // not) as a live crawl would.
    let opts = CrawlOptions { routes: routes(addr, &[host, "elsewhere.test"]), ..Default::default() };
    let summary = crawl(&config, &db.archive, &db.url, &opts).await.expect("crawl");
    assert_eq!(summary.sites["scoped"].refused, 2, "{summary:?}");
    assert_eq!(summary.outcome, RunOutcome::DoneWithFailures, "refusals are reported: {summary:?}");

    assert_eq!(web.requests_to("elsewhere.test"), 0, "the off-site target was requested");
    assert_eq!(web.requests_to("127.0.0.1"), 0, "a loopback literal was requested");
    let rows: Vec<(String, String, Option<String>, String)> = sqlx::query_as(
        "SELECT c.url, c.outcome, c.error, f.state FROM captures c JOIN frontier f ON f.last_capture_id = c.id
         WHERE c.outcome <> 'ok' ORDER BY c.url",
    )
    .fetch_all(db.archive.pool())
    .await
    .unwrap();
    let find = |u: &str| rows.iter().find(|r| r.0 == u).unwrap_or_else(|| panic!("no capture of {u}: {rows:?}"));
    let off = find("http://scoped.test/a/off");
    assert_eq!((off.1.as_str(), off.3.as_str()), ("redirect_off_site", "refused"));
    assert!(off.2.as_deref().unwrap_or("").contains("elsewhere.test"), "{off:?}");
    let private = find("http://scoped.test/a/private");
    assert_eq!((private.1.as_str(), private.3.as_str()), ("address_refused", "refused"));
    assert!(private.2.as_deref().unwrap_or("").contains("127.0.0.1"), "{private:?}");
    let r = find(&start_ip);
    assert_eq!(r.1, "address_refused", "{r:?}");
    assert!(r.2.as_deref().unwrap_or("").contains("allow_private_addresses"), "{r:?}");
    assert_eq!(scalar_i64(&db, "SELECT count(*) FROM documents WHERE text LIKE '%SECRET%'").await, 0);
    assert_eq!(scalar_i64(&db, "SELECT count(*) FROM documents WHERE url = 'http://scoped.test/a/ok'").await, 1);
}

/// Row 7, live (no routes): a name that resolves to loopback (`localhost`, checked in the
/// resolver the client connects with) and an IPv6 loopback literal are refused; nothing is
/// sent, robots.txt included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_resolving_to_private_addresses_are_refused() {
    let db = TestDb::new().await.expect("test database");
    let web = Arc::new(Web::default());
    let addr = serve(web.clone()).await;
    web.set("localhost", "/list/", list(&["/a/1".into()]));
    let tmp = tempfile::tempdir().unwrap();
    let named = format!("http://localhost:{}/list/", addr.port());
    let v6 = format!("http://[::1]:{}/list/", addr.port());
    let config = config(tmp.path(), "", "", &[("named", &["localhost"], &named), ("v6", &["[::1]"], &v6)]);
    let summary = crawl(&config, &db.archive, &db.url, &CrawlOptions::default()).await.expect("crawl");
    assert_eq!(summary.sites["named"].refused, 1, "{summary:?}");
    assert_eq!(summary.sites["v6"].refused, 1, "{summary:?}");
    assert_eq!(web.log.lock().unwrap().len(), 0, "a private address was requested");
    let rows: Vec<(String, String, Option<String>)> =
        sqlx::query_as("SELECT url, outcome, error FROM captures ORDER BY url")
            .fetch_all(db.archive.pool())
            .await
            .unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    for (url, outcome, error) in &rows {
        assert_eq!(outcome, "address_refused", "{url}");
        assert!(error.as_deref().unwrap_or("").contains("globally routable"), "{url}: {error:?}");
    }
}

/// Row 7's opt-in: with `allow_private_addresses = true` the same loopback site is crawled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_addresses_are_crawled_when_allowed() {
    let db = TestDb::new().await.expect("test database");
    let web = Arc::new(Web::default());
    let addr = serve(web.clone()).await;
    web.set("127.0.0.1", "/list/", list(&["/a/1".into()]));
    web.set("127.0.0.1", "/a/1", article(1));
    let tmp = tempfile::tempdir().unwrap();
    let start = format!("http://127.0.0.1:{}/list/", addr.port());
    // A host entry with a port: that host on that port only.
    let host = format!("127.0.0.1:{}", addr.port());
    let config = config(tmp.path(), "allow_private_addresses = true", "", &[("intranet", &[host.as_str()], &start)]);
    let site = config.site("intranet").unwrap();
    assert!(site.owns_url(&url::Url::parse(&start).unwrap()));
    assert!(!site.owns_url(&url::Url::parse("http://127.0.0.1:1/list/").unwrap()));
    let summary = crawl(&config, &db.archive, &db.url, &CrawlOptions::default()).await.expect("crawl");
    assert_eq!((summary.outcome, summary.sites["intranet"].extracted), (RunOutcome::Done, 1), "{summary:?}");
}

/// No input can make caiji panic or abort: random and adversarial pages, robots.txt files and
/// sitemaps, through the analyze stage alone (many cases) and through the whole crawl (real
/// server, real archive).
mod adversarial {
    use super::*;
    use caiji_archive::UrlKind;
    use caiji_crawl::crawl::analyze;
    use caiji_fetch::{Fetched, Outcome};
    use proptest::prelude::*;

    const TOKENS: &[&str] = &[
        "<div>",
        "</div>",
        "<p>",
        "</p>",
        "<a href=\"",
        "\">",
        "</a>",
        "<!--",
        "-->",
        "<script>",
        "</script>",
        "<style>",
        "中文正文，",
        "。",
        "\u{FFFD}",
        "&#",
        "&#x110000;",
        "&amp",
        "<meta charset=gbk>",
        "<meta charset=\"utf-16\">",
        "\0",
        "<table>",
        "<tr>",
        "<td>",
        "<svg>",
        "<math>",
        "<br/>",
        "'",
        "\"",
        "<",
        ">",
        "</",
        "<title>",
        "</title>",
        "<html>",
        "<body>",
        "<frameset>",
        "<template>",
        "<select>",
        "<option>",
        "<textarea>",
        "<plaintext>",
        "<loc>",
        "</loc>",
        "<urlset>",
        "<![CDATA[",
        "]]>",
        "http://fuzz.test/a/",
        "<font>",
        "<b>",
        "<i>",
        "</b>",
        "<noscript>",
        "<base href=//x>",
        "<a href=javascript:x>",
    ];

    fn body() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..2048),
            proptest::collection::vec(proptest::sample::select(TOKENS), 0..400).prop_map(|t| t.concat().into_bytes()),
            (1usize..4000).prop_map(|n| format!("{}<p>正文</p>", "<div><span>".repeat(n)).into_bytes()),
            proptest::collection::vec(any::<u8>(), 0..512).prop_map(|mut b| {
                let mut v = b"\x1f\x8b\x08\x00".to_vec();
                v.append(&mut b);
                v
            }),
            proptest::collection::vec(any::<u8>(), 0..512).prop_map(|mut b| {
                let mut v = b"\xff\xfe<\0h\0t\0m\0l\0>\0".to_vec();
                v.append(&mut b);
                v
            }),
        ]
    }

    fn content_type() -> impl Strategy<Value = String> {
        proptest::sample::select(vec![
            "text/html",
            "text/html; charset=gbk",
            "text/html; charset=utf-8",
            "text/html; charset=utf-16",
            "text/html; charset=bogus",
            "application/octet-stream",
            "text/plain",
            "application/xml",
            "",
        ])
        .prop_map(str::to_string)
    }

    fn fetched(body: Vec<u8>, ct: String) -> Fetched {
        let url = url::Url::parse("http://fuzz.test/list/1").unwrap();
        Fetched {
            url: url.clone(),
            final_url: Some(url),
            redirect_chain: vec![],
            status: Some(200),
            headers: if ct.is_empty() { vec![] } else { vec![("content-type".into(), ct)] },
            body: Some(body.into()),
            outcome: Outcome::Ok,
            error: None,
            attempts: 1,
            fetched_at: chrono::Utc::now(),
            duration: Duration::ZERO,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 160, failure_persistence: None, ..ProptestConfig::default() })]
        #[test]
        fn analyze_never_panics(body in body(), ct in content_type()) {
            let generic = caiji_extract::Registry::default().get("generic");
            let f = fetched(body, ct);
            for kind in [UrlKind::Article, UrlKind::List, UrlKind::Sitemap, UrlKind::Feed] {
                let a = analyze(kind, generic, &f);
                for found in &a.found {
                    prop_assert!(found.url.scheme() == "http" || found.url.scheme() == "https", "{}", found.url);
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 3, failure_persistence: None, ..ProptestConfig::default() })]
        #[test]
        fn random_sites_never_break_the_crawl(
            pages in proptest::collection::vec((body(), content_type(), proptest::sample::select(vec![200u16, 200, 200, 404, 500, 301])), 6),
            robots in body(),
            sitemap in body(),
        ) {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            rt.block_on(async move {
                let db = TestDb::new().await.expect("test database");
                let web = Arc::new(Web::default());
                let host = "fuzz.test";
                let paths: Vec<String> = (0..pages.len()).map(|i| format!("/a/{i}")).collect();
                web.set(host, "/robots.txt", Page::typed("text/plain", robots));
                web.set(host, "/sitemap.xml", Page::typed("application/xml", sitemap));
                web.set(host, "/list/", list(&paths));
                for (p, (body, ct, status)) in paths.iter().zip(pages) {
                    let mut page = Page::typed(&ct, body);
                    page.status = status;
                    if status == 301 {
                        page.headers.push(("location", "/a/0".into()));
                    }
                    web.set(host, p, page);
                }
                let addr = serve(web.clone()).await;
                let tmp = tempfile::tempdir().unwrap();
                let dir = tmp.path();
                std::fs::create_dir_all(dir.join("sites")).unwrap();
                std::fs::write(dir.join("caiji.toml"), "[fetch]\nmin_interval_ms = 5\nmax_retries = 0\ntimeout_secs = 10\n").unwrap();
                std::fs::write(
                    dir.join("sites/fuzz.toml"),
                    "name = \"fuzz\"\nhosts = [\"fuzz.test\"]\nstart_urls = [\"http://fuzz.test/list/\"]\n\
                     sitemaps = [\"http://fuzz.test/sitemap.xml\"]\narticles = ['/a/']\nextractor = \"generic\"\n",
                )
                .unwrap();
                let config = Config::load(&dir.join("caiji.toml")).unwrap();
                let opts = CrawlOptions { routes: routes(addr, &[host]), ..Default::default() };
                let summary = crawl(&config, &db.archive, &db.url, &opts).await.expect("the crawl ends normally");
                assert_ne!(summary.outcome, RunOutcome::Failed);
                // Whatever robots.txt said, every URL was settled and nothing is in flight.
                assert_eq!(scalar_i64(&db, "SELECT count(*) FROM frontier WHERE state IN ('in_progress')").await, 0);
                let settled = scalar_i64(&db, "SELECT count(*) FROM frontier WHERE kind = 'article' AND state <> 'pending'").await;
                let captured = scalar_i64(&db, "SELECT count(DISTINCT canonical_url) FROM captures WHERE url LIKE '%/a/%'").await;
                let doubles = scalar_i64(&db, "SELECT count(*) FROM (SELECT canonical_url FROM captures GROUP BY canonical_url HAVING count(*) > 1) d").await;
                assert_eq!(doubles, 0);
                assert!(captured <= settled, "{captured} captured, {settled} settled");
            });
        }
    }
}

/// Inputs found by trying to break the crawl: a Crawl-delay too large for any duration, NUL
/// characters where PostgreSQL text cannot hold them (JSON-LD, a `<meta charset>` label), a
/// sitemap listing a page twice, a robots.txt over 500 KiB. Each is recorded; none stops a run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_robots_labels_and_sitemaps_do_not_stop_a_site() {
    let db = TestDb::new().await.expect("test database");
    let web = Arc::new(Web::default());
    let (a, b) = ("huge-delay.test", "nul.test");
    web.set(
        a,
        "/robots.txt",
        Page::typed("text/plain", "User-agent: *\nCrawl-delay: 99999999999999999999999\nAllow: /\n"),
    );
    web.set(a, "/list/", list(&["/a/1".into()]));
    web.set(a, "/a/1", article(1));
    // 600 KiB of comments, then a rule: the first 500 KiB are obeyed, the rest cut.
    let long_robots =
        format!("User-agent: *\nDisallow: /private/\n{}Disallow: /a/2\n", "# padding line\n".repeat(600 * 1024 / 15));
    web.set(b, "/robots.txt", Page::typed("text/plain", long_robots));
    web.set(b, "/list/", Page::html(b"<html><head><meta charset=\"utf\x008\"></head><body><a href=\"/a/1\">1</a><a href=\"/a/2\">2</a></body></html>".to_vec()));
    let jsonld = "<html><head><title>有空字符的文章</title><script type=\"application/ld+json\">{\"@type\":\"NewsArticle\",\"author\":{\"name\":\"张\\u0000三\"},\"headline\":\"标\u{0}题\"}</script></head>\
        <body><div class=\"content\"><p>正文第一段，内容完整，句子足够长，可以被提取。</p><p>第二段\u{0}也有足够的文字。</p></div></body></html>";
    web.set(b, "/a/1", Page::html(jsonld));
    web.set(b, "/a/2", article(2));
    web.set(b, "/sitemap.xml", Page::typed("application/xml", "<urlset><url><loc>http://nul.test/a/1</loc></url><url><loc>http://nul.test/a/2</loc></url><url><loc>http://nul.test/a/1#top</loc></url></urlset>"));
    let addr = serve(web.clone()).await;
    let tmp = tempfile::tempdir().unwrap();
    let mut config = config(
        tmp.path(),
        "",
        "",
        &[("delay", &[a], "http://huge-delay.test/list/"), ("nul", &[b], "http://nul.test/list/")],
    );
    config.sites[1].file.sitemaps.push("http://nul.test/sitemap.xml".into());
    config.global.fetch.crawl_delay_cap_secs = 0.05;
    let opts = CrawlOptions { routes: routes(addr, &[a, b]), ..Default::default() };
    for run in 1..=2 {
        let summary = crawl(&config, &db.archive, &db.url, &opts).await.unwrap_or_else(|e| panic!("run {run}: {e}"));
        assert_ne!(summary.outcome, RunOutcome::Failed, "run {run}: {summary:?}");
    }
    assert_eq!(scalar_i64(&db, "SELECT count(*) FROM frontier WHERE state IN ('in_progress', 'pending')").await, 0);
    assert_eq!(scalar_i64(&db, "SELECT count(*) FROM documents WHERE url = 'http://huge-delay.test/a/1'").await, 1);
    let (author, text): (Option<String>, String) =
        sqlx::query_as("SELECT author, text FROM documents WHERE url = 'http://nul.test/a/1'")
            .fetch_one(db.archive.pool())
            .await
            .unwrap();
    assert!(!text.contains('\0') && text.contains("第二段也有足够的文字"), "{text}");
    assert!(author.as_deref().is_none_or(|a| !a.contains('\0')));
    let meta: Option<String> =
        sqlx::query_scalar("SELECT charset_meta FROM captures WHERE url = 'http://nul.test/list/' LIMIT 1")
            .fetch_one(db.archive.pool())
            .await
            .unwrap();
    assert_eq!(meta.as_deref(), Some("utf\u{FFFD}8"), "the label kept as evidence, NUL shown as U+FFFD");
    // The rule past 500 KiB was cut: /a/2 is not disallowed; the one before it holds.
    let state: String = sqlx::query_scalar("SELECT state FROM frontier WHERE url = 'http://nul.test/a/2'")
        .fetch_one(db.archive.pool())
        .await
        .unwrap();
    assert_eq!(state, "done");
    let robots_error: Option<String> =
        sqlx::query_scalar("SELECT error FROM captures WHERE url = 'http://nul.test/robots.txt' ORDER BY id LIMIT 1")
            .fetch_one(db.archive.pool())
            .await
            .unwrap();
    assert!(robots_error.unwrap_or_default().contains("RFC 9309"));
}

//! Reading the web as browsers and archives do (issue 14's kinds), each against its standard,
//! through the whole crawl on loopback servers.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use crate::support::{Page, Web, config, list, routes, scalar_i64, serve};
use caiji_archive::RunOutcome;
use caiji_archive::testing::TestDb;
use caiji_crawl::{CrawlOptions, crawl};

const NOTICE: &str = "<html><head><title>区政府召开常务会议</title></head><body><div class=\"content\">\
    <p>本周三上午，区政府召开常务会议，研究部署近期重点工作。会议指出，要抓好各项任务落实。</p>\
    <p>会议强调，各部门要加强协作，确保各项工作按期完成，切实提高服务群众的水平。</p></div></body></html>";

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// RFC 9110 §8.4.1: content-coding names are case-insensitive, `x-gzip` is `gzip`; an unknown
/// coding is recorded as such with the raw bytes, not archived as the page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_codings_are_read_case_insensitively_and_x_gzip_is_gzip() {
    let db = TestDb::new().await.expect("test database");
    let web = Arc::new(Web::default());
    let host = "coded.test";
    let paths: Vec<String> = (1..=4).map(|i| format!("/a/{i}.html")).collect();
    web.set(host, "/list/", list(&paths));
    for (p, coding) in paths.iter().zip(["gzip", "x-gzip", "GZIP", "compress-zz"]) {
        let mut page = Page::html(gzip(NOTICE.as_bytes()));
        page.headers.push(("content-encoding", coding.to_string()));
        web.set(host, p, page);
    }
    let addr = serve(web.clone()).await;
    let tmp = tempfile::tempdir().unwrap();
    let config = config(tmp.path(), "", "", &[("coded", &[host], "http://coded.test/list/")]);
    let opts = CrawlOptions { routes: routes(addr, &[host]), ..Default::default() };
    crawl(&config, &db.archive, &db.url, &opts).await.expect("crawl");

    let rows: Vec<(String, String, Vec<u8>, Option<String>)> = sqlx::query_as(
        "SELECT c.url, c.outcome, b.content, d.text FROM captures c JOIN bodies b ON b.sha256 = c.body_sha256
         LEFT JOIN documents d ON d.capture_id = c.id WHERE c.url LIKE '%/a/%' ORDER BY c.url",
    )
    .fetch_all(db.archive.pool())
    .await
    .unwrap();
    assert_eq!(rows.len(), 4, "{rows:?}");
    for (url, outcome, body, text) in &rows[..3] {
        assert_eq!(outcome, "ok", "{url}");
        assert_eq!(body.as_slice(), NOTICE.as_bytes(), "{url}: the archived body is the decoded page");
        assert!(text.as_deref().unwrap_or("").starts_with("本周三上午，区政府召开"), "{url}: {text:?}");
    }
    let (url, outcome, body, text) = &rows[3];
    assert_eq!(outcome, "unsupported_encoding", "{url}");
    assert_eq!(body, &gzip(NOTICE.as_bytes()), "the raw bytes are kept");
    assert_eq!(text, &None, "an undecoded body is not a document");
}

/// RFC 9110 §5.6.7: a recipient MUST accept all three HTTP-date forms; a 503 with
/// `Retry-After: <date>` pauses the host until then, whichever form the date takes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_dates_in_every_form_pause_the_host() {
    let db = TestDb::new().await.expect("test database");
    let web = Arc::new(Web::default());
    let when: chrono::DateTime<chrono::Utc> = chrono::Utc::now() + chrono::Duration::seconds(4);
    let forms = [
        ("imf.test", when.format("%a, %d %b %Y %H:%M:%S GMT").to_string()),
        ("rfc850.test", when.format("%A, %d-%b-%y %H:%M:%S GMT").to_string()),
        ("asctime.test", when.format("%a %b %e %H:%M:%S %Y").to_string()),
    ];
    for (host, date) in &forms {
        let mut busy = Page::status(503);
        busy.headers.push(("retry-after", date.clone()));
        web.sequence(host, "/list/", vec![busy, list(&[])]);
    }
    let addr = serve(web.clone()).await;
    let tmp = tempfile::tempdir().unwrap();
    let sites: Vec<(String, String)> =
        forms.iter().map(|(h, _)| (h.replace('.', "-"), format!("http://{h}/list/"))).collect();
    let hosts: Vec<[&str; 1]> = forms.iter().map(|(h, _)| [*h]).collect();
    let site_refs: Vec<(&str, &[&str], &str)> =
        sites.iter().zip(&hosts).map(|((n, u), h)| (n.as_str(), &h[..], u.as_str())).collect();
    let config = config(tmp.path(), "max_retry_after_secs = 30", "", &site_refs);
    let opts =
        CrawlOptions { routes: routes(addr, &forms.iter().map(|(h, _)| *h).collect::<Vec<_>>()), ..Default::default() };
    let summary = crawl(&config, &db.archive, &db.url, &opts).await.expect("crawl");
    assert_eq!(summary.outcome, RunOutcome::Done, "{summary:?}");
    for (host, date) in &forms {
        let times = web.requests(host, "/list/");
        assert_eq!(times.len(), 2, "{host}: {date}");
        let gap = times[1].duration_since(times[0]);
        assert!(gap >= Duration::from_secs(2), "{host}: retried after {gap:?}, not at {date}");
    }
}

/// WHATWG URL: percent-encoded bytes are opaque. Dropping a tracking parameter must not decode
/// a GBK query as UTF-8; raw hanzi in a GBK page's query are encoded in GBK, as browsers do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gbk_queries_survive_tracking_parameter_removal() {
    let db = TestDb::new().await.expect("test database");
    let web = Arc::new(Web::default());
    let host = "gbk.test";
    let page = "<html><head><meta charset=gb2312></head><body>\
        <a href=\"/a/show.asp?id=12&kw=%D6%D0%CE%C4&spm=a2c4g.11186623\">一</a>\
        <a href=\"/a/show.asp?id=13&kw=新闻&utm_source=wechat\">二</a>\
        <a href=\"/a/show.asp?id=14&kw=%D6%D0%CE%C4\">三</a></body></html>";
    let (bytes, _, _) = encoding_rs::GBK.encode(page);
    web.set(host, "/list/", Page::typed("text/html", bytes.into_owned()));
    web.set(host, "/a/show.asp", Page::html("<p>文章</p>"));
    let addr = serve(web.clone()).await;
    let tmp = tempfile::tempdir().unwrap();
    let config = config(tmp.path(), "", "", &[("gbk", &[host], "http://gbk.test/list/")]);
    let opts = CrawlOptions { routes: routes(addr, &[host]), ..Default::default() };
    crawl(&config, &db.archive, &db.url, &opts).await.expect("crawl");
    let mut asked: Vec<String> = web.targets(host).into_iter().filter(|t| t.starts_with("/a/")).collect();
    asked.sort();
    assert_eq!(
        asked,
        ["/a/show.asp?id=12&kw=%D6%D0%CE%C4", "/a/show.asp?id=13&kw=%D0%C2%CE%C5", "/a/show.asp?id=14&kw=%D6%D0%CE%C4"]
    );
    assert_eq!(scalar_i64(&db, "SELECT count(*) FROM frontier WHERE url LIKE '%EF%BF%BD%'").await, 0);
}

/// WHATWG HTML "shared declarative refresh steps": a page that refreshes to another (by
/// `<meta http-equiv=refresh>`, however old its markup, or by the `Refresh` header) leads the
/// crawl there, as it leads a browser; the target records where it was discovered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meta_refresh_and_refresh_header_are_followed() {
    let db = TestDb::new().await.expect("test database");
    let web = Arc::new(Web::default());
    let host = "moved.test";
    web.set(
        host,
        "/",
        Page::html(
            "<HTML><HEAD><META HTTP-EQUIV=REFRESH CONTENT=\"0; URL=/news/list_1.html\"></HEAD><BODY></BODY></HTML>",
        ),
    );
    let mut old = Page::html("");
    old.headers.push(("refresh", "0; url=/news/list_2.html".into()));
    web.set(host, "/old/", old);
    web.set(host, "/news/list_1.html", list(&["/a/1.html".into()]));
    web.set(host, "/news/list_2.html", list(&["/a/2.html".into()]));
    web.set(host, "/a/1.html", Page::html(NOTICE));
    web.set(host, "/a/2.html", Page::html(NOTICE.replace("本周三", "本周四")));
    let addr = serve(web.clone()).await;
    let tmp = tempfile::tempdir().unwrap();
    let config = config(tmp.path(), "", "", &[("moved", &[host], "http://moved.test/")]);
    let mut config = config;
    config.sites[0].file.start_urls.push("http://moved.test/old/".into());
    let opts = CrawlOptions { routes: routes(addr, &[host]), ..Default::default() };
    crawl(&config, &db.archive, &db.url, &opts).await.expect("crawl");
    for p in ["/news/list_1.html", "/news/list_2.html", "/a/1.html", "/a/2.html"] {
        assert_eq!(web.requests(host, p).len(), 1, "{p} not fetched");
    }
    let from: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT url, discovered_from FROM frontier WHERE url LIKE '%/news/%' ORDER BY url")
            .fetch_all(db.archive.pool())
            .await
            .unwrap();
    assert_eq!(
        from,
        [
            ("http://moved.test/news/list_1.html".to_string(), Some("http://moved.test/".to_string())),
            ("http://moved.test/news/list_2.html".to_string(), Some("http://moved.test/old/".to_string())),
        ]
    );
    assert_eq!(scalar_i64(&db, "SELECT count(*) FROM documents").await, 2);
}

/// sitemaps.org: a `<sitemapindex>` names sitemaps to read as such, gzipped or not; `<loc>` is
/// XML (entities, CDATA); `<lastmod>` is kept on the frontier for recrawl.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sitemap_indexes_lead_to_their_children() {
    let db = TestDb::new().await.expect("test database");
    let web = Arc::new(Web::default());
    let host = "maps.test";
    web.set(
        host,
        "/sitemap_index.xml",
        Page::typed(
            "application/xml",
            r#"<?xml version="1.0" encoding="UTF-8"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <sitemap><loc>http://maps.test/sitemap-news-1.xml</loc><lastmod>2026-11-30</lastmod></sitemap>
  <sitemap><loc>http://maps.test/sitemap-news-2.xml.gz</loc></sitemap>
</sitemapindex>"#,
        ),
    );
    web.set(
        host,
        "/sitemap-news-1.xml",
        Page::typed(
            "application/xml",
            r#"<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <url><loc>http://maps.test/a/1.html?x=1&amp;y=2</loc><lastmod>2026-11-29T10:00:00+08:00</lastmod></url>
  <url><loc><![CDATA[http://maps.test/a/2.html]]></loc></url>
</urlset>"#,
        ),
    );
    // An index listing another index (the protocol forbids it; sites do it): read, one level.
    let child2 = r#"<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><sitemap><loc>http://maps.test/deep/sitemap-3.xml</loc></sitemap></sitemapindex>"#;
    web.set(host, "/deep/sitemap-3.xml", Page::typed("text/xml", r#"<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>http://maps.test/a/3.html?q=&apos;x&apos;</loc></url></urlset>"#));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(child2.as_bytes()).unwrap();
    web.set(host, "/sitemap-news-2.xml.gz", Page::typed("application/octet-stream", gz.finish().unwrap()));
    for p in ["/a/1.html", "/a/2.html", "/a/3.html"] {
        web.set(host, p, Page::html(NOTICE));
    }
    let addr = serve(web.clone()).await;
    let tmp = tempfile::tempdir().unwrap();
    let mut config = config(tmp.path(), "", "", &[("maps", &[host], "http://maps.test/sitemap_index.xml")]);
    let site = &mut config.sites[0].file;
    site.sitemaps = std::mem::take(&mut site.start_urls);
    let opts = CrawlOptions { routes: routes(addr, &[host]), ..Default::default() };
    let summary = crawl(&config, &db.archive, &db.url, &opts).await.expect("crawl");
    assert_eq!(summary.sites["maps"].articles, 3, "{summary:?}");
    assert_eq!(
        web.targets(host).iter().filter(|t| t.starts_with("/a/")).cloned().collect::<std::collections::BTreeSet<_>>(),
        ["/a/1.html?x=1&y=2", "/a/2.html", "/a/3.html?q=%27x%27"].map(String::from).into_iter().collect()
    );
    let kinds: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT url, kind, to_char(lastmod AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') FROM frontier ORDER BY url",
    )
    .fetch_all(db.archive.pool())
    .await
    .unwrap();
    let get = |u: &str| kinds.iter().find(|k| k.0 == u).unwrap_or_else(|| panic!("{u}: {kinds:?}")).clone();
    assert_eq!(get("http://maps.test/sitemap-news-1.xml").1, "sitemap");
    assert_eq!(get("http://maps.test/deep/sitemap-3.xml").1, "sitemap");
    assert_eq!(get("http://maps.test/sitemap-news-1.xml").2.as_deref(), Some("2026-11-30 00:00"));
    assert_eq!(get("http://maps.test/a/1.html?x=1&y=2").2.as_deref(), Some("2026-11-29 02:00"));
}

/// Feeds (RSS 2.0 and Atom): from the site file and from a start page's `<link
/// rel="alternate">`; their entries' links go through the site's article rules.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feeds_lead_to_their_articles() {
    let db = TestDb::new().await.expect("test database");
    let web = Arc::new(Web::default());
    let host = "feeds.test";
    web.set(host, "/", Page::html("<html><head><link rel=\"alternate\" type=\"application/atom+xml\" title=\"新闻\" href=\"/atom.xml\"></head><body>首页</body></html>"));
    web.set(host, "/rss.xml", Page::typed("application/rss+xml", r#"<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>新闻</title><link>http://feeds.test/</link>
  <item><title>一</title><link>http://feeds.test/a/1.html</link><pubDate>Mon, 30 Nov 2026 08:00:00 +0800</pubDate></item>
  <item><title>站外</title><link>http://elsewhere.test/a/9.html</link></item>
  <item><title>不是文章</title><link>http://feeds.test/about.html</link></item>
</channel></rss>"#));
    web.set(host, "/atom.xml", Page::typed("application/atom+xml", r#"<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>新闻</title><id>urn:x</id><updated>2026-11-30T00:00:00Z</updated>
  <entry><title>二</title><id>urn:2</id><link rel="alternate" href="/a/2.html"/><updated>2026-11-29T00:00:00Z</updated></entry>
</feed>"#));
    web.set(host, "/a/1.html", Page::html(NOTICE));
    web.set(host, "/a/2.html", Page::html(NOTICE.replace("本周三", "本周五")));
    let addr = serve(web.clone()).await;
    let tmp = tempfile::tempdir().unwrap();
    let mut config = config(tmp.path(), "", "", &[("feeds", &[host], "http://feeds.test/")]);
    config.sites[0].file.feeds.push("http://feeds.test/rss.xml".into());
    let opts = CrawlOptions { routes: routes(addr, &[host]), ..Default::default() };
    let summary = crawl(&config, &db.archive, &db.url, &opts).await.expect("crawl");
    assert_eq!(summary.sites["feeds"].extracted, 2, "{summary:?}");
    assert_eq!(web.requests(host, "/about.html").len(), 0, "not an article by the rules");
    let feeds: Vec<String> = sqlx::query_scalar("SELECT url FROM frontier WHERE kind = 'feed' ORDER BY url")
        .fetch_all(db.archive.pool())
        .await
        .unwrap();
    assert_eq!(feeds, ["http://feeds.test/atom.xml", "http://feeds.test/rss.xml"]);
    let lastmod: Option<String> = sqlx::query_scalar(
        "SELECT to_char(lastmod AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') FROM frontier WHERE url = 'http://feeds.test/a/1.html'",
    )
    .fetch_one(db.archive.pool())
    .await
    .unwrap();
    assert_eq!(lastmod.as_deref(), Some("2026-11-30 00:00"));
}

/// RFC 9110 §7.6.1: a host whose next request cannot come before an idle connection would be
/// dropped (`keep_alive_ms`) is asked to close it with the response, so neither side holds a
/// socket and its buffers between requests; a host asked more often keeps its connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_kept_only_for_hosts_asked_again_soon() {
    let db = TestDb::new().await.expect("test database");
    let (near, far) = ("near.test", "far.test");
    let paths: Vec<String> = (1..=3).map(|i| format!("/a/{i}.html")).collect();
    // One server per host: a connection pooled for one host cannot carry the other's requests.
    let mut all_routes = std::collections::HashMap::new();
    let mut webs = Vec::new();
    for host in [near, far] {
        let web = Arc::new(Web::default());
        web.set(host, "/list/", list(&paths));
        for (i, p) in paths.iter().enumerate() {
            web.set(host, p, crate::support::article(i + 1));
        }
        all_routes.extend(routes(serve(web.clone()).await, &[host]));
        webs.push(web);
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut config = config(
        tmp.path(),
        "keep_alive_ms = 100",
        "",
        &[("near", &[near], "http://near.test/list/"), ("far", &[far], "http://far.test/list/")],
    );
    for site in &mut config.sites {
        site.file.min_interval_ms = Some(if site.file.name == "far" { 150 } else { 20 });
    }
    let opts = CrawlOptions { routes: all_routes, ..Default::default() };
    crawl(&config, &db.archive, &db.url, &opts).await.expect("crawl");

    for (web, host) in webs.iter().zip([near, far]) {
        let seen = web.connections.lock().unwrap().clone();
        assert_eq!(seen.len(), 5, "{host}: robots.txt, the list and 3 articles: {seen:?}");
        let closes = seen.iter().filter(|c| c.2.as_deref().is_some_and(|v| v.eq_ignore_ascii_case("close"))).count();
        let peers: std::collections::HashSet<_> = seen.iter().map(|c| c.1).collect();
        if host == far {
            assert_eq!(closes, 5, "every request to a host asked every 150 ms carries Connection: close: {seen:?}");
            assert_eq!(peers.len(), 5, "each on a connection of its own: {seen:?}");
        } else {
            assert_eq!(closes, 0, "a host asked every 20 ms is not told to close: {seen:?}");
            assert!(peers.len() < 5, "its requests share connections: {seen:?}");
        }
    }
}

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

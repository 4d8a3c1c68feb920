//! A fault server on loopback: every failure a real site produces is recorded with a clear
//! outcome, retried where that helps, and never loses the rest of the crawl.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Response, StatusCode, Uri, header};
use caiji_archive::testing::TestDb;
use caiji_crawl::{Config, CrawlOptions, crawl};
use serde_json::Value;

/// url, outcome, status, attempts, error, redirect_chain, body_length, extractions
type CaptureRow = (String, String, Option<i16>, i16, Option<String>, Value, Option<i64>, i64);

#[derive(Default)]
struct Faults {
    log: Mutex<Vec<(Instant, String, String)>>,
    hits: Mutex<HashMap<String, u32>>,
}

const INDEX: &str = r#"<html><body>
<a href="/a/flaky">flaky</a> <a href="/a/busy">busy</a> <a href="/a/loop">loop</a>
<a href="/a/big">big</a> <a href="/a/big-chunked">big chunked</a> <a href="/a/trickle">trickle</a>
<a href="/a/doc.pdf">pdf</a> <a href="/a/malformed">malformed</a> <a href="/a/gone">gone</a>
</body></html>"#;

async fn handler(State(st): State<Arc<Faults>>, headers: HeaderMap, uri: Uri) -> Response<Body> {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("").to_string();
    let path = uri.path().to_string();
    st.log.lock().unwrap().push((Instant::now(), host.clone(), path.clone()));
    let hit = {
        let mut hits = st.hits.lock().unwrap();
        let n = hits.entry(format!("{host}{path}")).or_default();
        *n += 1;
        *n
    };
    let html = |s: String| {
        Response::builder().header(header::CONTENT_TYPE, "text/html; charset=utf-8").body(Body::from(s)).unwrap()
    };
    let status = |code: StatusCode| Response::builder().status(code).body(Body::empty()).unwrap();
    if host == "steady.test" {
        return match path.as_str() {
            "/robots.txt" => status(StatusCode::NOT_FOUND),
            "/" => html((1..=12).map(|i| format!("<a href=\"/p/{i}\">{i}</a>")).collect()),
            p => html(format!(
                "<html><body><div><p>平稳的页面 {p}，内容正常。这里是正文，有足够的文字。</p></div></body></html>"
            )),
        };
    }
    match path.as_str() {
        "/robots.txt" => Response::new(Body::from("User-agent: *\nDisallow: /private/\n")),
        "/" => html(INDEX.to_string()),
        "/a/flaky" if hit == 1 => status(StatusCode::INTERNAL_SERVER_ERROR),
        "/a/flaky" => html("<html><body><p>第二次成功了，这是正文内容。</p></body></html>".into()),
        "/a/busy" if hit == 1 => Response::builder().status(StatusCode::TOO_MANY_REQUESTS).header(header::RETRY_AFTER, "2").body(Body::empty()).unwrap(),
        "/a/busy" => html("<html><body><p>等待之后成功了。</p></body></html>".into()),
        "/a/loop" => Response::builder().status(StatusCode::FOUND).header(header::LOCATION, "/a/loop2").body(Body::empty()).unwrap(),
        "/a/loop2" => Response::builder().status(StatusCode::MOVED_PERMANENTLY).header(header::LOCATION, "http://faults.test/a/loop").body(Body::empty()).unwrap(),
        "/a/big" => html("很".repeat(400_000)), // 1.2 MB with Content-Length
        "/a/big-chunked" => {
            let chunks = (0..40).map(|_| Ok::<_, std::io::Error>(vec![b'x'; 64 * 1024]));
            Response::builder().header(header::CONTENT_TYPE, "text/html").body(Body::from_stream(futures::stream::iter(chunks))).unwrap()
        }
        "/a/trickle" => {
            let stream = futures::stream::unfold((), |()| async {
                tokio::time::sleep(Duration::from_millis(100)).await;
                Some((Ok::<_, std::io::Error>(b"<p>".to_vec()), ()))
            });
            Response::builder().header(header::CONTENT_TYPE, "text/html").body(Body::from_stream(stream)).unwrap()
        }
        "/a/doc.pdf" => Response::builder().header(header::CONTENT_TYPE, "application/pdf").body(Body::from(&b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\n"[..])).unwrap(),
        "/a/malformed" => Response::builder()
            .header(header::CONTENT_TYPE, "text/html")
            .body(Body::from(&b"<html><body><p>\xd5\xfd\xce\xc4<div><table><tr><td>\xff\xfe\x00\x01<p></span></b><a href=\"\x80\">\xb2\xbb</td></html><<<"[..]))
            .unwrap(),
        _ => status(StatusCode::NOT_FOUND),
    }
}

fn write_config(dir: &std::path::Path) -> Config {
    std::fs::create_dir_all(dir.join("sites")).unwrap();
    std::fs::write(
        dir.join("caiji.toml"),
        "[fetch]\nmin_interval_ms = 50\nmax_body_bytes = 1048576\ntimeout_secs = 1.5\nconnect_timeout_secs = 1\nmax_retries = 1\nretry_base_ms = 20\nmax_redirects = 5\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("sites/faults.toml"),
        "name = \"faults\"\nhosts = [\"faults.test\"]\nstart_urls = [\"http://faults.test/\"]\narticles = ['^http://faults\\.test/a/']\nextractor = \"generic\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("sites/steady.toml"),
        "name = \"steady\"\nhosts = [\"steady.test\"]\nstart_urls = [\"http://steady.test/\"]\narticles = ['^http://steady\\.test/p/']\nextractor = \"generic\"\nmin_interval_ms = 100\n",
    )
    .unwrap();
    Config::load(&dir.join("caiji.toml")).expect("config")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_is_recorded_and_other_hosts_keep_going() {
    let db = TestDb::new().await.expect("test database");
    let state = Arc::new(Faults::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().fallback(handler).with_state(state.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let tmp = tempfile::tempdir().unwrap();
    let config = write_config(tmp.path());
    let routes = [("faults.test".to_string(), addr), ("steady.test".to_string(), addr)].into_iter().collect();
    let opts = CrawlOptions { routes, ..Default::default() };
    let summary = crawl(&config, &db.archive, &db.url, &opts).await.expect("crawl runs to the end");
    assert_eq!(summary.outcome, caiji_archive::RunOutcome::DoneWithFailures);

    let rows: Vec<CaptureRow> = sqlx::query_as(
        "SELECT c.url, c.outcome, c.status, c.attempts, c.error, c.redirect_chain, c.body_length,
                (SELECT count(*) FROM extractions e WHERE e.capture_id = c.id)
         FROM captures c WHERE c.site = 'faults'",
    )
    .fetch_all(db.archive.pool())
    .await
    .unwrap();
    let by_path: HashMap<String, _> =
        rows.into_iter().map(|r| (r.0.trim_start_matches("http://faults.test").to_string(), r)).collect();
    let get = |p: &str| by_path.get(p).unwrap_or_else(|| panic!("no capture for {p}: {:?}", by_path.keys()));

    // 500 then 200: retried and captured.
    let flaky = get("/a/flaky");
    assert_eq!((flaky.1.as_str(), flaky.2, flaky.3), ("ok", Some(200), 2));
    assert_eq!(flaky.7, 1, "flaky page extracted");

    // 429 Retry-After: 2: this host waited at least 2 s...
    let busy = get("/a/busy");
    assert_eq!((busy.1.as_str(), busy.3), ("ok", 2));
    let log = state.log.lock().unwrap().clone();
    let busy_times: Vec<Instant> = log.iter().filter(|r| r.2 == "/a/busy").map(|r| r.0).collect();
    assert_eq!(busy_times.len(), 2);
    let (t0, t1) = (busy_times[0], busy_times[1]);
    assert!(t1.duration_since(t0) >= Duration::from_secs(2), "retried after {:?}", t1.duration_since(t0));
    let faults_during_pause = log.iter().filter(|r| r.1 == "faults.test" && r.0 > t0 && r.0 < t1).count();
    assert_eq!(faults_during_pause, 0, "faults.test was requested during its Retry-After pause");
    // ... while the other host kept going.
    let steady_during_pause = log.iter().filter(|r| r.1 == "steady.test" && r.0 > t0 && r.0 < t1).count();
    assert!(steady_during_pause >= 5, "steady.test got only {steady_during_pause} requests during the pause");

    // A redirect loop stops, with its chain recorded.
    let lp = get("/a/loop");
    assert_eq!(lp.1, "redirect_loop");
    let chain = lp.5.as_array().unwrap();
    assert_eq!(chain.len(), 2);
    assert_eq!(chain[0]["status"], 302);
    assert_eq!(chain[1]["location"], "http://faults.test/a/loop");

    // Bodies over the limit are refused (by Content-Length, and while streaming), not stored.
    for p in ["/a/big", "/a/big-chunked"] {
        let big = get(p);
        assert_eq!(big.1, "too_large", "{p}");
        assert_eq!(big.6, None, "{p} body stored");
        assert!(big.4.as_deref().unwrap_or("").contains("1048576"), "{p}: {:?}", big.4);
    }

    // A body that trickles forever times out (and was retried once).
    let trickle = get("/a/trickle");
    assert_eq!((trickle.1.as_str(), trickle.3), ("timeout", 2));

    // A PDF is stored but not extracted.
    let pdf = get("/a/doc.pdf");
    assert_eq!(pdf.1, "ok");
    assert!(pdf.6.unwrap_or(0) > 0);
    assert_eq!(pdf.7, 0, "a PDF must not be extracted");

    // Malformed HTML with broken bytes: captured and extracted, no panic.
    let bad = get("/a/malformed");
    assert_eq!((bad.1.as_str(), bad.7), ("ok", 1));

    // 404: recorded as a capture, the frontier says gone, not a failure.
    assert_eq!(get("/a/gone").2, Some(404));
    let failed = summary.sites["faults"].failed;
    assert_eq!(failed, 4, "loop, big, big-chunked, trickle: {summary:?}");
    assert_eq!(summary.sites["steady"].failed, 0);
    assert_eq!(summary.sites["steady"].extracted, 12);
}

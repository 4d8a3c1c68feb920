//! Shared by the crawl tests: the repository's config with test-speed politeness, fixture paths.
#![allow(dead_code)]

use std::path::PathBuf;

use caiji_archive::testing::TestDb;
use caiji_crawl::replay::ReplayServer;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Response, Uri, header};
use caiji_crawl::{Config, CrawlOptions, crawl};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

thread_local! {
    /// A project folder (with `config/` and `fixtures/sites/`) standing in for the repository's,
    /// for this test thread: the sixth-site test runs the fixture-driven tests over a copy.
    static PROJECT: std::cell::RefCell<Option<PathBuf>> = const { std::cell::RefCell::new(None) };
}

/// Runs the fixture-driven tests of this thread against `dir` instead of the repository.
pub fn use_project(dir: PathBuf) {
    PROJECT.with(|p| *p.borrow_mut() = Some(dir));
}

/// The project whose `config/` and `fixtures/` the fixture-driven tests use.
pub fn project() -> PathBuf {
    PROJECT.with(|p| p.borrow().clone()).unwrap_or_else(repo)
}

pub fn fixtures() -> PathBuf {
    project().join("fixtures/sites")
}

/// The repository's config, with a short per-host interval and a low Crawl-delay cap so the
/// suite stays fast (tests that measure gaps compare them with these effective values).
pub fn test_config(min_interval_ms: u64, crawl_delay_cap_secs: f64) -> Config {
    let mut config = Config::load(&project().join("config/caiji.toml")).expect("repository config loads");
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

/// One response as a test page serves it.
#[derive(Clone)]
pub struct Page {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
    pub delay: Duration,
}

impl Page {
    pub fn html(body: impl Into<Vec<u8>>) -> Self {
        Self::typed("text/html; charset=utf-8", body)
    }
    pub fn typed(content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status: 200,
            headers: vec![("content-type", content_type.to_string())],
            body: body.into(),
            delay: Duration::ZERO,
        }
    }
    pub fn status(status: u16) -> Self {
        Self { status, headers: vec![], body: vec![], delay: Duration::ZERO }
    }
    pub fn redirect(to: &str) -> Self {
        Self { status: 302, headers: vec![("location", to.to_string())], body: vec![], delay: Duration::ZERO }
    }
    /// The page with a response header added (`etag`, `last-modified`: the server then answers
    /// matching conditional requests with 304).
    pub fn with(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_string()));
        self
    }
    pub fn slow(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// (path, If-None-Match, If-Modified-Since) of one request.
pub type Conditional = (String, Option<String>, Option<String>);

/// The pages of one (host, path), and how many requests it has answered.
pub type Served = (Vec<Page>, usize);

/// A loopback web: pages by (Host, path), every request logged as (time, host, path, path
/// with query). A path given several pages serves them in turn, the last one from then on.
#[derive(Default)]
pub struct Web {
    pub pages: Mutex<HashMap<(String, String), Served>>,
    pub log: Mutex<Vec<(Instant, String, String, String)>>,
    /// (path, If-None-Match, If-Modified-Since) of every request, in order.
    pub conditionals: Mutex<Vec<Conditional>>,
    /// (host, the client's address: one per connection, its `Connection` header) of every
    /// request, in order.
    pub connections: Mutex<Vec<(String, SocketAddr, Option<String>)>>,
}

impl Web {
    pub fn set(&self, host: &str, path: &str, page: Page) {
        self.sequence(host, path, vec![page]);
    }
    pub fn sequence(&self, host: &str, path: &str, pages: Vec<Page>) {
        self.pages.lock().unwrap().insert((host.to_string(), path.to_string()), (pages, 0));
    }
    pub fn requests(&self, host: &str, path: &str) -> Vec<Instant> {
        self.log.lock().unwrap().iter().filter(|r| r.1 == host && r.2 == path).map(|r| r.0).collect()
    }
    pub fn requests_to(&self, host: &str) -> usize {
        self.log.lock().unwrap().iter().filter(|r| r.1 == host).count()
    }
    /// Request targets (path and query, as sent) to `host`, in order.
    pub fn targets(&self, host: &str) -> Vec<String> {
        self.log.lock().unwrap().iter().filter(|r| r.1 == host).map(|r| r.3.clone()).collect()
    }
}

pub async fn serve(web: Arc<Web>) -> SocketAddr {
    async fn handler(
        State(web): State<Arc<Web>>,
        ConnectInfo(peer): ConnectInfo<SocketAddr>,
        headers: HeaderMap,
        uri: Uri,
    ) -> Response<Body> {
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("").to_string();
        let host = host.split(':').next().unwrap_or("").to_string();
        let connection = headers.get(header::CONNECTION).and_then(|v| v.to_str().ok()).map(str::to_string);
        web.connections.lock().unwrap().push((host.clone(), peer, connection));
        let path = uri.path().to_string();
        let target = uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| path.clone());
        web.log.lock().unwrap().push((Instant::now(), host.clone(), path.clone(), target));
        let header_of = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        let (if_none_match, if_modified_since) = (header_of("if-none-match"), header_of("if-modified-since"));
        web.conditionals.lock().unwrap().push((path.clone(), if_none_match.clone(), if_modified_since.clone()));
        let page = {
            let mut pages = web.pages.lock().unwrap();
            match pages.get_mut(&(host, path)) {
                Some((seq, hits)) => {
                    let p = seq[(*hits).min(seq.len() - 1)].clone();
                    *hits += 1;
                    p
                }
                None => Page::status(404),
            }
        };
        tokio::time::sleep(page.delay).await;
        // A server that honours validators (RFC 9110 §13.1): a match is a bodiless 304 carrying
        // the validators again.
        let validator = |name: &str| page.headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone());
        let (etag, last_modified) = (validator("etag"), validator("last-modified"));
        let not_modified = match (&if_none_match, &etag) {
            (Some(sent), Some(current)) => sent == current,
            (Some(_), None) => false,
            (None, _) => if_modified_since.is_some() && if_modified_since == last_modified,
        };
        if page.status == 200 && not_modified {
            let mut r = Response::builder().status(304);
            for (k, v) in page.headers.iter().filter(|(k, _)| *k == "etag" || *k == "last-modified") {
                r = r.header(*k, v);
            }
            return r.body(Body::empty()).unwrap();
        }
        let mut r = Response::builder().status(page.status);
        for (k, v) in &page.headers {
            r = r.header(*k, v);
        }
        r.body(Body::from(page.body)).unwrap()
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().fallback(handler).with_state(web);
    tokio::spawn(async move {
        axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await.unwrap()
    });
    addr
}

/// A config folder: `caiji.toml` with test-speed politeness plus `extra` lines under
/// `[fetch]`, and one site file per `(name, hosts, start_url)`.
pub fn config(dir: &std::path::Path, extra_fetch: &str, crawl: &str, sites: &[(&str, &[&str], &str)]) -> Config {
    std::fs::create_dir_all(dir.join("sites")).unwrap();
    std::fs::write(
        dir.join("caiji.toml"),
        format!(
            "[fetch]\nmin_interval_ms = 20\ntimeout_secs = 10\nconnect_timeout_secs = 2\nmax_retries = 1\nretry_base_ms = 20\n{extra_fetch}\n[crawl]\n{crawl}\n"
        ),
    )
    .unwrap();
    for (name, hosts, start) in sites {
        let hosts = hosts.iter().map(|h| format!("{h:?}")).collect::<Vec<_>>().join(", ");
        std::fs::write(
            dir.join(format!("sites/{name}.toml")),
            format!(
                "name = {name:?}\nhosts = [{hosts}]\nstart_urls = [{start:?}]\nfollow = ['/list/']\narticles = ['/a/']\nextractor = \"generic\"\n"
            ),
        )
        .unwrap();
    }
    Config::load(&dir.join("caiji.toml")).expect("config")
}

pub fn routes(addr: SocketAddr, hosts: &[&str]) -> HashMap<String, SocketAddr> {
    hosts.iter().map(|h| (h.to_string(), addr)).collect()
}

pub fn article(n: usize) -> Page {
    Page::html(format!(
        "<html><head><title>文章{n}</title></head><body><div class=\"content\"><p>这是第{n}篇文章的正文，内容完整，句子足够长。</p>\
         <p>第二段也有足够的文字，说明这是一篇正常的文章。</p></div></body></html>"
    ))
}

pub fn list(paths: &[String]) -> Page {
    Page::html(format!(
        "<html><body><ul>{}</ul></body></html>",
        paths.iter().map(|p| format!("<li><a href=\"{p}\">{p}</a></li>")).collect::<String>()
    ))
}

pub async fn scalar_i64(db: &TestDb, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(db.archive.pool()).await.unwrap_or_else(|e| panic!("{sql}: {e}"))
}

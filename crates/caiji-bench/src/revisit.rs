//! `caiji-bench revisit [N] [CHANGE_PCT]`: what a second crawl of an N-article site costs when
//! CHANGE_PCT % of its articles changed in between, against a full refetch of the same web.
//!
//! A loopback server (axum, one host) serves N articles of Chinese HTML (~20 KB in UTF-8, every
//! other one GBK, ~13 KB) linked from list pages of 50. Three scenarios, each in its own fresh database:
//! - `validators`: the server sends `ETag`/`Last-Modified` and answers conditional requests
//!   with 304; crawl, change CHANGE_PCT %, crawl again with `revisit_after = "0s"`.
//! - `no-validators`: the same without validators: every page comes back in full and the
//!   unchanged ones are identical-payload revisits.
//! - `full-refetch` (the baseline): the changed web crawled from scratch into an empty archive,
//!   what a crawler without revisits pays for every nightly run.
//!
//! Reported for the second crawl of each scenario (the whole crawl for the baseline): requests,
//! response body bytes sent by the server, 304s, rows added to captures / bodies /
//! extraction_records / texts, database growth in bytes, wall time. One JSON line each, then a
//! table of ratios against the baseline.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use anyhow::Context;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Response, Uri, header};
use caiji_archive::Archive;
use caiji_crawl::{Config, CrawlOptions, crawl};
use sqlx::Connection;

const HOST: &str = "bench.test";
const PER_LIST: usize = 50;

/// The web the server serves: article versions, whether validators are sent, and counters.
struct Web {
    /// Version of each article (bumped when it changes).
    versions: RwLock<Vec<u32>>,
    validators: AtomicBool,
    requests: AtomicU64,
    body_bytes: AtomicU64,
    not_modified: AtomicU64,
    n: usize,
}

impl Web {
    fn reset_counters(&self) {
        self.requests.store(0, Ordering::SeqCst);
        self.body_bytes.store(0, Ordering::SeqCst);
        self.not_modified.store(0, Ordering::SeqCst);
    }
}

/// ~20 KB of article HTML: a page chrome like the fixtures' plus paragraphs varied by `i` and
/// `version`, in GBK for odd `i` (declared in a meta tag, as such sites do).
fn article_page(i: usize, version: u32) -> Vec<u8> {
    const SENTENCES: [&str; 6] = [
        "市政府召开常务会议，研究部署今年下半年的重点工作，要求各部门切实抓好落实。",
        "会议指出，要坚持稳中求进工作总基调，扎实做好保就业、保民生、保市场主体工作。",
        "据统计，全市规模以上工业增加值同比增长百分之六点八，固定资产投资稳步回升。",
        "专家认为，推动高质量发展必须坚持创新驱动，加快培育新的经济增长点。",
        "记者从有关部门获悉，今年以来全市新增城镇就业人员两万余人，失业率保持稳定。",
        "下一步，将继续优化营商环境，深化放管服改革，为企业发展提供更好的服务。",
    ];
    let gbk = i % 2 == 1;
    let charset = if gbk { "gbk" } else { "utf-8" };
    let mut paragraphs = String::new();
    let mut p = 0;
    while paragraphs.len() < 14_000 {
        let s = SENTENCES[(i + p) % SENTENCES.len()];
        let t = SENTENCES[(i * 7 + p * 3) % SENTENCES.len()];
        paragraphs.push_str(&format!("<p>第{p}段（文章{i}）：{s}{t}</p>\n"));
        p += 1;
    }
    let correction = if version > 0 {
        format!("<p>更正（第{version}版）：文中数字已于今日更新为最新统计。</p>")
    } else {
        String::new()
    };
    let html = format!(
        "<!DOCTYPE html><html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset={charset}\">\
         <title>关于全市经济运行情况的通报（第{i}号）_本地新闻</title></head><body>\
         <div class=\"nav\"><a href=\"/\">首页</a> | <a href=\"/list/0\">本地新闻</a> | <a href=\"/list/1\">通知公告</a></div>\
         <div class=\"content\"><h1>关于全市经济运行情况的通报（第{i}号）</h1>\
         <div class=\"info\">发布时间：2026-11-{day:02} 09:30 来源：市政府办公室 作者：张伟</div>\n{paragraphs}{correction}</div>\
         <div class=\"footer\">版权所有 © 2026 本地新闻网 备案号：京ICP备00000000号</div></body></html>",
        day = 1 + i % 28,
    );
    if gbk { encoding_rs::GBK.encode(&html).0.into_owned() } else { html.into_bytes() }
}

fn list_page(n: usize, list: usize) -> Vec<u8> {
    let links: String = (list * PER_LIST..((list + 1) * PER_LIST).min(n))
        .map(|i| format!("<li><a href=\"/a/{i}\">关于全市经济运行情况的通报（第{i}号）</a></li>\n"))
        .collect();
    format!("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>本地新闻 第{list}页</title></head><body><ul>{links}</ul></body></html>")
        .into_bytes()
}

async fn handler(State(web): State<Arc<Web>>, headers: HeaderMap, uri: Uri) -> Response<Body> {
    web.requests.fetch_add(1, Ordering::SeqCst);
    let path = uri.path();
    let html = |body: Vec<u8>| {
        web.body_bytes.fetch_add(body.len() as u64, Ordering::SeqCst);
        Response::builder().status(200).header(header::CONTENT_TYPE, "text/html")
    };
    if let Some(list) = path.strip_prefix("/list/").and_then(|l| l.parse::<usize>().ok()) {
        let body = list_page(web.n, list);
        return html(body.clone()).body(Body::from(body)).unwrap_or_default();
    }
    let Some(i) = path.strip_prefix("/a/").and_then(|a| a.parse::<usize>().ok()).filter(|i| *i < web.n) else {
        return Response::builder().status(404).body(Body::empty()).unwrap_or_default();
    };
    let version = web.versions.read().map(|v| v[i]).unwrap_or(0);
    let body = article_page(i, version);
    if !web.validators.load(Ordering::SeqCst) {
        return html(body.clone()).body(Body::from(body)).unwrap_or_default();
    }
    // Validators as a CMS derives them: an ETag per version, Last-Modified its date.
    let etag = format!("\"a{i}-v{version}\"");
    let last_modified = format!("Sun, {:02} Nov 2026 09:30:00 GMT", 1 + version);
    let sent = |name| headers.get(name).and_then(|v| v.to_str().ok());
    if sent(header::IF_NONE_MATCH) == Some(etag.as_str()) {
        web.not_modified.fetch_add(1, Ordering::SeqCst);
        return Response::builder()
            .status(304)
            .header(header::ETAG, etag)
            .header(header::LAST_MODIFIED, last_modified)
            .body(Body::empty())
            .unwrap_or_default();
    }
    html(body.clone())
        .header(header::ETAG, etag)
        .header(header::LAST_MODIFIED, last_modified)
        .body(Body::from(body))
        .unwrap_or_default()
}

async fn serve(web: Arc<Web>) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = Router::new().fallback(handler).with_state(web);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr)
}

fn write_config(dir: &std::path::Path, n: usize) -> anyhow::Result<Config> {
    std::fs::create_dir_all(dir.join("sites"))?;
    std::fs::write(
        dir.join("caiji.toml"),
        "[fetch]\nmin_interval_ms = 1\ntimeout_secs = 30\nallow_private_addresses = true\n[crawl]\n",
    )?;
    let starts: Vec<String> = (0..n.div_ceil(PER_LIST)).map(|l| format!("\"http://{HOST}/list/{l}\"")).collect();
    std::fs::write(
        dir.join("sites/bench.toml"),
        format!(
            "name = \"bench\"\nhosts = [\"{HOST}\"]\nstart_urls = [{}]\nfollow = ['/list/']\narticles = ['/a/']\n\
             extractor = \"generic\"\nrevisit_after = \"0s\"\n",
            starts.join(", ")
        ),
    )?;
    Ok(Config::load(&dir.join("caiji.toml"))?)
}

/// Row counts and size of the archive, to subtract before from after.
#[derive(Clone, Copy, Default)]
struct Rows {
    captures: i64,
    bodies: i64,
    extraction_records: i64,
    texts: i64,
    db_bytes: i64,
}

async fn rows(archive: &Archive) -> anyhow::Result<Rows> {
    let (captures, bodies, extraction_records, texts, db_bytes): (i64, i64, i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM captures), (SELECT count(*) FROM bodies),
                (SELECT count(*) FROM extraction_records), (SELECT count(*) FROM texts),
                pg_database_size(current_database())",
    )
    .fetch_one(archive.pool())
    .await?;
    Ok(Rows { captures, bodies, extraction_records, texts, db_bytes })
}

struct Measure {
    scenario: &'static str,
    requests: u64,
    body_bytes: u64,
    not_modified: u64,
    rows: Rows,
    seconds: f64,
}

impl Measure {
    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "scenario": self.scenario, "requests": self.requests, "body_bytes": self.body_bytes,
            "not_modified": self.not_modified, "captures": self.rows.captures, "bodies": self.rows.bodies,
            "extraction_records": self.rows.extraction_records, "texts": self.rows.texts,
            "db_growth_bytes": self.rows.db_bytes, "seconds": self.seconds,
        })
    }
}

/// Creates (or re-creates) database `name` on `server` and opens it migrated.
async fn fresh_archive(server: &str, name: &str) -> anyhow::Result<(Archive, String)> {
    let mut conn = sqlx::PgConnection::connect(server).await?;
    for sql in [format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"), format!("CREATE DATABASE {name}")] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await?;
    }
    conn.close().await.ok();
    let url = caiji_archive::testing::with_database(server, name);
    Ok((Archive::connect(&url).await?, url))
}

async fn timed_crawl(
    config: &Config,
    (archive, url): &(Archive, String),
    web: &Web,
    routes: &HashMap<String, SocketAddr>,
    scenario: &'static str,
) -> anyhow::Result<Measure> {
    let before = rows(archive).await?;
    web.reset_counters();
    let opts = CrawlOptions { routes: routes.clone(), ..Default::default() };
    let started = Instant::now();
    let summary = crawl(config, archive, url, &opts).await?;
    let seconds = started.elapsed().as_secs_f64();
    anyhow::ensure!(summary.failed() == 0, "{scenario}: failures in the crawl: {summary:?}");
    let after = rows(archive).await?;
    Ok(Measure {
        scenario,
        requests: web.requests.load(Ordering::SeqCst),
        body_bytes: web.body_bytes.load(Ordering::SeqCst),
        not_modified: web.not_modified.load(Ordering::SeqCst),
        rows: Rows {
            captures: after.captures - before.captures,
            bodies: after.bodies - before.bodies,
            extraction_records: after.extraction_records - before.extraction_records,
            texts: after.texts - before.texts,
            db_bytes: after.db_bytes - before.db_bytes,
        },
        seconds,
    })
}

pub async fn run(server: &str, n: usize, change_pct: f64) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let config = write_config(dir.path(), n)?;
    let web = Arc::new(Web {
        versions: RwLock::new(vec![0; n]),
        validators: AtomicBool::new(true),
        requests: AtomicU64::new(0),
        body_bytes: AtomicU64::new(0),
        not_modified: AtomicU64::new(0),
        n,
    });
    let addr = serve(web.clone()).await?;
    let routes: HashMap<String, SocketAddr> = [(HOST.to_string(), addr)].into();
    // Every step'th article changes between the crawls (spread over lists and charsets).
    let changed = ((n as f64 * change_pct / 100.0).round() as usize).max(1);
    let step = (n / changed).max(1);
    let change = |web: &Web, bump: bool| -> anyhow::Result<()> {
        let mut v = web.versions.write().map_err(|_| anyhow::anyhow!("poisoned"))?;
        for i in (0..n).step_by(step).take(changed) {
            v[i] = u32::from(bump);
        }
        Ok(())
    };

    let mut results = Vec::new();
    for (scenario, validators) in [("validators", true), ("no-validators", false)] {
        web.validators.store(validators, Ordering::SeqCst);
        change(&web, false)?;
        let archive = fresh_archive(server, &format!("bench_revisit_{}", scenario.replace('-', "_"))).await?;
        let first = timed_crawl(&config, &archive, &web, &routes, "first").await?;
        tracing::info!(scenario, seconds = first.seconds, requests = first.requests, "first crawl");
        change(&web, true)?;
        results.push(timed_crawl(&config, &archive, &web, &routes, scenario).await?);
        archive.0.pool().close().await;
    }
    // The baseline: the changed web fetched whole into an empty archive.
    web.validators.store(true, Ordering::SeqCst);
    let archive = fresh_archive(server, "bench_revisit_full").await?;
    results.push(timed_crawl(&config, &archive, &web, &routes, "full-refetch").await?);
    archive.0.pool().close().await;

    let base = results.last().context("baseline")?.json();
    #[allow(clippy::print_stdout)]
    {
        println!("# N = {n} articles, {changed} changed ({change_pct}%), second crawl against a full refetch");
        for r in &results {
            println!("{}", r.json());
        }
        println!(
            "{:<14} {:>9} {:>12} {:>6} {:>9} {:>7} {:>11} {:>6} {:>11} {:>8}",
            "scenario",
            "requests",
            "body bytes",
            "304s",
            "captures",
            "bodies",
            "extractions",
            "texts",
            "db growth",
            "seconds"
        );
        for r in &results {
            let j = r.json();
            let ratio = |k: &str| {
                let (a, b) = (j[k].as_f64().unwrap_or(0.0), base[k].as_f64().unwrap_or(0.0));
                if b > 0.0 { format!("{a} ({:.2})", a / b) } else { format!("{a}") }
            };
            println!(
                "{:<14} {:>9} {:>12} {:>6} {:>9} {:>7} {:>11} {:>6} {:>11} {:>8}",
                r.scenario,
                ratio("requests"),
                ratio("body_bytes"),
                r.not_modified,
                ratio("captures"),
                ratio("bodies"),
                ratio("extraction_records"),
                ratio("texts"),
                ratio("db_growth_bytes"),
                format!("{:.1} ({:.2})", r.seconds, r.seconds / base["seconds"].as_f64().unwrap_or(1.0)),
            );
        }
    }
    Ok(())
}

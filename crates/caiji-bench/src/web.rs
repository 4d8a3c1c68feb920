//! `caiji-bench web HOSTS PORT LOG`: the loopback web of `just bench-crawl`. HOSTS hosts, each
//! its own address (127.1.x.y, all on PORT), each with a robots.txt, 5 list pages and 40
//! articles of about 20 KB of Chinese HTML; odd hosts serve GBK (header and meta), even ones
//! UTF-8. Every request's arrival is logged (host, path, nanoseconds since start); the log is
//! written to LOG on SIGTERM or SIGINT, for the politeness gaps.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context;
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{Response, Uri, header};
use rand::{Rng, SeedableRng, rngs::StdRng};

pub const LISTS: usize = 5;
pub const ARTICLES_PER_LIST: usize = 8;

/// The address of host `i` (0-based): 127.1.0.1 and up, never 127.0.0.1.
pub fn host_ip(i: usize) -> Ipv4Addr {
    let n = i + 1;
    Ipv4Addr::new(127, 1, (n / 250) as u8, (n % 250) as u8 + 1)
}

struct Web {
    started: Instant,
    log: Mutex<Vec<(u32, String, u64)>>,
}

/// Sentences the articles are drawn from (government-report and news register, as the sites in
/// `shared/seeds` publish).
const SENTENCES: &[&str] = &[
    "坚持以人民为中心的发展思想，推动高质量发展取得新成效。",
    "全面深化改革开放，持续激发市场主体活力和社会创造力。",
    "加快建设现代化产业体系，推进新型工业化和信息化深度融合。",
    "扎实推进乡村振兴，巩固拓展脱贫攻坚成果同乡村振兴有效衔接。",
    "坚持教育优先发展，办好人民满意的教育，促进教育公平。",
    "实施就业优先战略，强化就业服务，稳定和扩大就业岗位。",
    "深入推进生态文明建设，持续打好蓝天、碧水、净土保卫战。",
    "统筹发展和安全，有效防范化解重点领域风险，守住不发生系统性风险的底线。",
    "会议指出，要把思想和行动统一到中央的决策部署上来。",
    "本报记者从市人力资源和社会保障局获悉，今年以来全市新增就业人数稳步增长。",
    "各级领导干部要切实增强责任感和紧迫感，抓好各项任务的落实。",
    "据统计，前三季度全区地区生产总值同比增长百分之五点二。",
    "该项目总投资约十二亿元，建成后将带动周边上千人就业。",
    "专家认为，数字经济正在成为推动经济增长的重要引擎。",
    "学校组织师生开展形式多样的主题教育活动，营造浓厚的学习氛围。",
    "活动现场，志愿者们为群众提供政策咨询和便民服务。",
];

fn article_html(host: usize, k: usize, gbk: bool) -> Vec<u8> {
    let mut rng = StdRng::seed_from_u64((host as u64) << 20 | k as u64);
    let mut paras = String::new();
    // About 20 KB of UTF-8 in all (GBK: about two thirds of that).
    for _ in 0..24 {
        paras.push_str("<p>");
        for _ in 0..6 {
            paras.push_str(SENTENCES[rng.random_range(0..SENTENCES.len())]);
        }
        paras.push_str("</p>\n");
    }
    let charset = if gbk { "gbk" } else { "utf-8" };
    let html = format!(
        "<!DOCTYPE html><html><head><meta charset=\"{charset}\"><title>第{k}号通知_主机{host}新闻网</title></head>\
         <body><div class=\"header\"><a href=\"/\">首页</a> | <a href=\"/list/1.html\">新闻中心</a></div>\
         <div class=\"main\"><h1>关于做好第{k}项重点工作的通知</h1><div class=\"info\">发布时间：2026-11-{d:02} 来源：本站</div>\
         <div class=\"content\">\n{paras}</div></div><div class=\"footer\">版权所有 主机{host}新闻网</div></body></html>",
        d = 1 + k % 28
    );
    encode(&html, gbk)
}

fn list_html(page: usize, gbk: bool) -> Vec<u8> {
    let mut links = String::new();
    for j in 0..ARTICLES_PER_LIST {
        let k = (page - 1) * ARTICLES_PER_LIST + j;
        links.push_str(&format!("<li><a href=\"/a/{k}.html\">第{k}号通知</a></li>\n"));
    }
    let next = if page < LISTS { format!("<a href=\"/list/{}.html\">下一页</a>", page + 1) } else { String::new() };
    let charset = if gbk { "gbk" } else { "utf-8" };
    encode(
        &format!(
            "<!DOCTYPE html><html><head><meta charset=\"{charset}\"><title>新闻中心 第{page}页</title></head>\
             <body><ul>{links}</ul>{next}</body></html>"
        ),
        gbk,
    )
}

fn encode(html: &str, gbk: bool) -> Vec<u8> {
    if gbk { encoding_rs::GBK.encode(html).0.into_owned() } else { html.as_bytes().to_vec() }
}

async fn handle(
    State((web, index)): State<(Arc<Web>, usize)>,
    ConnectInfo(_peer): ConnectInfo<SocketAddr>,
    uri: Uri,
) -> Response<Body> {
    let at = web.started.elapsed().as_nanos() as u64;
    let path = uri.path().to_string();
    // The script's readiness probe is no crawler's request.
    if path == "/__ready" {
        return Response::builder().status(204).body(Body::empty()).unwrap_or_default();
    }
    if let Ok(mut log) = web.log.lock() {
        log.push((index as u32, path.clone(), at));
    }
    let gbk = index % 2 == 1;
    let ctype = if gbk { "text/html; charset=GBK" } else { "text/html; charset=utf-8" };
    let ok = |ct: &str, body: Vec<u8>| {
        Response::builder().header(header::CONTENT_TYPE, ct).body(Body::from(body)).unwrap_or_default()
    };
    if path == "/robots.txt" {
        return ok("text/plain", b"User-agent: *\nDisallow: /private/\n".to_vec());
    }
    let num = |p: &str, prefix: &str| p.strip_prefix(prefix)?.strip_suffix(".html")?.parse::<usize>().ok();
    if let Some(page) = num(&path, "/list/").filter(|p| (1..=LISTS).contains(p)) {
        return ok(ctype, list_html(page, gbk));
    }
    if let Some(k) = num(&path, "/a/").filter(|k| *k < LISTS * ARTICLES_PER_LIST) {
        return ok(ctype, article_html(index, k, gbk));
    }
    Response::builder().status(404).body(Body::empty()).unwrap_or_default()
}

pub async fn serve(hosts: usize, port: u16, log_path: &str) -> anyhow::Result<()> {
    let web = Arc::new(Web { started: Instant::now(), log: Mutex::new(Vec::new()) });
    for i in 0..hosts {
        let addr = SocketAddr::from((host_ip(i), port));
        let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
        let app = Router::new().fallback(handle).with_state((web.clone(), i));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await;
        });
    }
    eprintln!("serving {hosts} hosts on port {port}");
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    let log = web.log.lock().map(|l| l.clone()).unwrap_or_default();
    let mut out = String::new();
    for (host, path, at) in log {
        out.push_str(&format!("{}\t{path}\t{at}\n", host_ip(host as usize)));
    }
    std::fs::write(log_path, out)?;
    Ok(())
}

/// Politeness gaps from a server log: per host, the smallest gap between consecutive requests
/// and how many gaps were under `interval_ms`. Prints one JSON object.
pub fn gaps(log_path: &str, interval_ms: f64) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(log_path)?;
    let mut by_host: std::collections::HashMap<&str, Vec<u64>> = std::collections::HashMap::new();
    let mut requests = 0usize;
    for line in text.lines() {
        let mut f = line.split('\t');
        let (Some(h), Some(_), Some(t)) = (f.next(), f.next(), f.next()) else { continue };
        by_host.entry(h).or_default().push(t.parse()?);
        requests += 1;
    }
    let (mut under, mut min_gap, mut gaps) = (0usize, f64::INFINITY, 0usize);
    for times in by_host.values_mut() {
        times.sort_unstable();
        for w in times.windows(2) {
            let g = (w[1] - w[0]) as f64 / 1e6;
            gaps += 1;
            min_gap = min_gap.min(g);
            if g < interval_ms {
                under += 1;
            }
        }
    }
    println!(
        "{}",
        serde_json::json!({"requests": requests, "hosts": by_host.len(), "gaps": gaps, "under_interval": under,
                           "min_gap_ms": if min_gap.is_finite() { min_gap } else { 0.0 }})
    );
    Ok(())
}

//! `caiji-bench extract DIR [SECONDS]`: the generic extractor on one core, in an in-process
//! loop over pages already in memory (bytes → charset → record), like the Python baselines in
//! `bench/baselines.py`. Prints one JSON line: pages, seconds, pages per second, peak RSS.

mod generate;
mod revisit;
mod web;

// Parsing allocates and frees many small nodes per page: mimalloc makes extraction about 6%
// faster than glibc malloc (`just bench-extract`). Library crates leave the choice to binaries.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use caiji_extract::generic::Generic;
use caiji_extract::{Extractor, extract_bytes};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("web") => {
            let usage = "usage: caiji-bench web HOSTS PORT LOG";
            let hosts: usize = args.get(2).context(usage)?.parse()?;
            let port: u16 = args.get(3).context(usage)?.parse()?;
            let log = args.get(4).context(usage)?.clone();
            tokio::runtime::Runtime::new()?.block_on(web::serve(hosts, port, &log))
        }
        Some("gaps") => {
            let usage = "usage: caiji-bench gaps LOG INTERVAL_MS";
            web::gaps(args.get(2).context(usage)?, args.get(3).context(usage)?.parse()?)
        }
        Some("web-hosts") => {
            // caiji-bench web-hosts HOSTS PORT: the hosts as `ip:port`, one per line.
            let hosts: usize = args.get(2).context("HOSTS")?.parse()?;
            let port: u16 = args.get(3).context("PORT")?.parse()?;
            #[allow(clippy::print_stdout)]
            for i in 0..hosts {
                println!("{}:{port}", web::host_ip(i));
            }
            Ok(())
        }
        Some("gen-archive") => {
            // caiji-bench gen-archive CLUSTER_DIR DB N FIXTURES: prints the database URL.
            let usage = "usage: caiji-bench gen-archive CLUSTER_DIR DB N FIXTURES_DIR";
            let (dir, db, n, fixtures) = (
                args.get(2).context(usage)?,
                args.get(3).context(usage)?,
                args.get(4).context(usage)?,
                args.get(5).context(usage)?,
            );
            let n: usize = n.parse()?;
            let rt = tokio::runtime::Runtime::new()?;
            let url = rt.block_on(async {
                let server = match std::env::var("DATABASE_URL") {
                    Ok(u) => u,
                    Err(_) => caiji_archive::EmbeddedCluster::new(dir)?.ensure_running().await?,
                };
                let started = Instant::now();
                let url = generate::generate(&server, db, std::path::Path::new(fixtures), n).await?;
                eprintln!("generated {n} captures in {:.1}s", started.elapsed().as_secs_f64());
                Ok::<_, anyhow::Error>(url)
            })?;
            #[allow(clippy::print_stdout)]
            {
                println!("{url}");
            }
            Ok(())
        }
        Some("archive-url") => {
            // caiji-bench archive-url CLUSTER_DIR DB: the URL of a database gen-archive made,
            // starting its cluster if needed.
            let usage = "usage: caiji-bench archive-url CLUSTER_DIR DB";
            let (dir, db) = (args.get(2).context(usage)?, args.get(3).context(usage)?);
            let rt = tokio::runtime::Runtime::new()?;
            let server = match std::env::var("DATABASE_URL") {
                Ok(u) => u,
                Err(_) => rt.block_on(caiji_archive::EmbeddedCluster::new(dir)?.ensure_running())?,
            };
            #[allow(clippy::print_stdout)]
            {
                println!("{}", caiji_archive::testing::with_database(&server, db));
            }
            Ok(())
        }
        Some("revisit") => {
            // caiji-bench revisit [N] [CHANGE_PCT]: a second crawl with revisits against a full
            // refetch (see revisit.rs); the cluster under target/bench-pg unless DATABASE_URL.
            let n: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(1000);
            let pct: f64 = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(5.0);
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(async {
                let server = match std::env::var("DATABASE_URL") {
                    Ok(u) => u,
                    Err(_) => caiji_archive::EmbeddedCluster::new("target/bench-pg")?.ensure_running().await?,
                };
                revisit::run(&server, n, pct).await
            })
        }
        Some("extract-generated") => {
            // The limit: the same generated pages, in memory, extracted on all cores.
            let usage = "usage: caiji-bench extract-generated FIXTURES_DIR N";
            let (fixtures, n) = (args.get(2).context(usage)?, args.get(3).context(usage)?.parse::<usize>()?);
            extract_generated(std::path::Path::new(fixtures), n)
        }
        Some("decode-each") => {
            let dir = args.get(2).context("usage: caiji-bench decode-each DIR")?;
            let mut rows = Vec::new();
            for e in std::fs::read_dir(dir)?.filter_map(|e| e.ok()) {
                let b = std::fs::read(e.path())?;
                let t = Instant::now();
                let mut d = caiji_extract::decode(&b, None);
                for _ in 0..20 {
                    d = caiji_extract::decode(&b, None);
                }
                rows.push((
                    t.elapsed().as_secs_f64() * 1000.0 / 21.0,
                    b.len(),
                    d.decision.source.as_str(),
                    e.file_name(),
                ));
            }
            rows.sort_by(|a, b| b.0.total_cmp(&a.0));
            #[allow(clippy::print_stdout)]
            for r in rows.iter().take(8) {
                println!("{:.3} ms {} bytes {} {:?}", r.0, r.1, r.2, r.3);
            }
            Ok(())
        }
        Some("parse-only") => {
            // The floor: charset decoding and HTML parsing alone.
            let dir = args.get(2).context("usage: caiji-bench parse-only DIR")?;
            let pages: Vec<Vec<u8>> = std::fs::read_dir(dir)?
                .filter_map(|e| e.ok())
                .map(|e| std::fs::read(e.path()))
                .collect::<Result<_, _>>()?;
            let start = Instant::now();
            let mut n = 0usize;
            while start.elapsed() < Duration::from_secs(3) {
                for b in &pages {
                    let d = caiji_extract::decode(b, None);
                    if std::env::var_os("DECODE_ONLY").is_none() {
                        let doc = scraper::Html::parse_document(&d.text);
                        n += doc.tree.nodes().count().min(1) - 1;
                    }
                    n += d.text.len().min(1);
                }
            }
            #[allow(clippy::print_stdout)]
            {
                println!("parse-only ms/page {:.3}", start.elapsed().as_secs_f64() * 1000.0 / n as f64);
            }
            Ok(())
        }
        Some("extract") => {
            let dir = args.get(2).context("usage: caiji-bench extract DIR [SECONDS]")?;
            let seconds: f64 = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(5.0);
            extract(dir, Duration::from_secs_f64(seconds))
        }
        _ => bail!("usage: caiji-bench extract DIR [SECONDS]"),
    }
}

fn extract(dir: &str, budget: Duration) -> anyhow::Result<()> {
    let mut pages: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .map(|p| Ok((p.display().to_string(), std::fs::read(&p)?)))
        .collect::<anyhow::Result<_>>()?;
    pages.sort();
    if pages.is_empty() {
        bail!("no pages in {dir}");
    }
    let extractor: &dyn Extractor = &Generic;
    // Warm-up pass (page faults, lazy statics), not timed.
    let mut chars = 0usize;
    for (url, bytes) in &pages {
        chars += extract_bytes(extractor, bytes, url, None).0.text().len();
    }
    let start = Instant::now();
    let mut n = 0usize;
    while start.elapsed() < budget {
        for (url, bytes) in &pages {
            let (rec, _) = extract_bytes(extractor, bytes, url, None);
            chars = chars.wrapping_add(rec.paragraphs.len());
            n += 1;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let out = serde_json::json!({
        "tool": "caiji-generic",
        "version": extractor.version(),
        "pages": n,
        "seconds": secs,
        "pages_per_second": n as f64 / secs,
        "ms_per_page": secs * 1000.0 / n as f64,
        "peak_rss_mb": peak_rss_mb(),
        "checksum": chars,
    });
    #[allow(clippy::print_stdout)]
    {
        println!("{out}");
    }
    Ok(())
}

fn extract_generated(fixtures: &std::path::Path, n: usize) -> anyhow::Result<()> {
    use rayon::prelude::*;
    let templates = generate::templates(fixtures)?;
    let registry = caiji_extract::Registry::default();
    let pages: Vec<(String, String, Vec<u8>)> = (0..n)
        .into_par_iter()
        .map(|k| {
            let t = &templates[k % templates.len()];
            let html = generate::vary(&t.html, k as u64, 15);
            (t.site.clone(), t.url(k), t.encoding.encode(&html).0.into_owned())
        })
        .collect();
    let start = Instant::now();
    let paragraphs: usize = pages
        .par_iter()
        .map(|(site, url, body)| {
            let extractor = registry.get(site).unwrap_or(&caiji_extract::generic::Generic);
            let (rec, _) = extract_bytes(extractor, body, url, None);
            rec.paragraphs.len()
        })
        .sum();
    let secs = start.elapsed().as_secs_f64();
    let out = serde_json::json!({
        "tool": "extract-in-memory", "pages": n, "threads": rayon::current_num_threads(), "seconds": secs,
        "pages_per_second": n as f64 / secs, "checksum": paragraphs,
    });
    #[allow(clippy::print_stdout)]
    {
        println!("{out}");
    }
    Ok(())
}

/// VmHWM: the process's peak resident set size.
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

//! `caiji-peers text DIR OUT`: each peer's main text of every page in DIR, as OUT/<tool>/<id>.txt.
//! `caiji-peers speed DIR SECONDS`: pages per second of each peer, one JSON line per tool.
//!
//! Pages are decoded by caiji's charset pipeline first (both peers take `&str`), outside the
//! timed loop: the peers are timed on extraction alone, caiji's figure includes decoding.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};

type Peer = (&'static str, fn(&str, &str) -> String);

const PEERS: [Peer; 2] = [("dom_smoothie", dom_smoothie_text), ("rs-trafilatura", rs_trafilatura_text)];

fn dom_smoothie_text(html: &str, url: &str) -> String {
    let cfg = dom_smoothie::Config { text_mode: dom_smoothie::TextMode::Formatted, ..Default::default() };
    dom_smoothie::Readability::new(html, Some(url), Some(cfg))
        .and_then(|mut r| r.parse())
        .map(|a| a.text_content.to_string())
        .unwrap_or_default()
}

fn rs_trafilatura_text(html: &str, _url: &str) -> String {
    rs_trafilatura::extract(html).map(|r| r.content_text).unwrap_or_default()
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: caiji-peers text DIR OUT | speed DIR SECONDS";
    let dir = args.get(2).context(usage)?;
    let mut pages: Vec<(String, String)> = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let bytes = std::fs::read(&path)?;
        let id = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
        pages.push((id, caiji_extract::decode(&bytes, None).text));
    }
    pages.sort();
    match args.get(1).map(String::as_str) {
        Some("text") => {
            let out = std::path::Path::new(args.get(3).context(usage)?);
            for (tool, f) in PEERS {
                std::fs::create_dir_all(out.join(tool))?;
                for (id, html) in &pages {
                    std::fs::write(
                        out.join(tool).join(format!("{id}.txt")),
                        f(html, &format!("http://bench.invalid/{id}")),
                    )?;
                }
            }
        }
        Some("speed") => {
            let secs: f64 = args.get(3).context(usage)?.parse()?;
            for (tool, f) in PEERS {
                let url = "http://bench.invalid/page";
                let mut sink = 0usize;
                for (_, html) in &pages {
                    sink += f(html, url).len();
                }
                let (start, mut n) = (Instant::now(), 0usize);
                while start.elapsed() < Duration::from_secs_f64(secs) {
                    for (_, html) in &pages {
                        sink = sink.wrapping_add(f(html, url).len());
                        n += 1;
                    }
                }
                let s = start.elapsed().as_secs_f64();
                println!(
                    "{}",
                    serde_json::json!({"tool": tool, "pages": n, "seconds": s, "pages_per_second": n as f64 / s,
                        "ms_per_page": s * 1000.0 / n as f64, "peak_rss_mb": peak_rss_mb(), "checksum": sink})
                );
            }
        }
        _ => bail!(usage),
    }
    Ok(())
}

/// VmHWM of this process (grows monotonically: later tools include earlier ones' peak).
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:").map(|v| v.trim().trim_end_matches(" kB").trim().to_string()))
        })
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

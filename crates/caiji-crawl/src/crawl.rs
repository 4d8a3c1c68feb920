//! The crawl loop: one worker per site (its hosts are fetched one request at a time, paced by
//! the fetcher), sites in parallel.

use std::collections::{BTreeMap, HashMap};
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use caiji_archive::store::CharsetRecord;
use caiji_archive::{Archive, CaptureOutcome, NewCapture, NewExtraction, NewUrl, UrlKind};
use caiji_extract::Registry;
use caiji_fetch::{Fetched, Fetcher, Outcome};
use futures::future::join_all;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use tokio::sync::Semaphore;
use url::Url;

use crate::replay::ReplayServer;
use crate::{CAIJI_VERSION, Config, CrawlError, SiteConfig, canon, git_commit, run_info};

#[derive(Debug, Clone, Default)]
pub struct CrawlOptions {
    /// Sites to crawl (empty: all configured sites).
    pub sites: Vec<String>,
    /// Stop after this many fetches in this run (robots.txt not counted).
    pub max_pages: Option<u64>,
    /// Serve recorded sites from this folder on loopback instead of the network.
    pub replay: Option<PathBuf>,
    /// Hosts routed to loopback servers the caller runs (tests); like `replay`, a crawl with
    /// routes never reaches the network.
    pub routes: HashMap<String, SocketAddr>,
    /// The command line, recorded on the run.
    pub arguments: serde_json::Value,
    /// Show a progress bar (terminals only).
    pub progress: bool,
}

/// Per-site counts of one run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SiteCounts {
    pub fetched: u64,
    pub ok: u64,
    /// 4xx: the page is gone; recorded, not a crawler failure.
    pub gone: u64,
    pub failed: u64,
    pub disallowed: u64,
    pub articles: u64,
    pub extracted: u64,
    pub discovered: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct CrawlSummary {
    pub run_id: i64,
    pub sites: BTreeMap<String, SiteCounts>,
    /// done | done_with_failures
    pub outcome: String,
}

impl CrawlSummary {
    pub fn failed(&self) -> u64 {
        self.sites.values().map(|c| c.failed).sum()
    }
}

/// Runs one crawl. Errors before any fetch (config, lock, database) are returned; fetch
/// failures are recorded and counted in the summary.
pub async fn crawl(
    config: &Config,
    archive: &Archive,
    db_url: &str,
    opts: &CrawlOptions,
) -> Result<CrawlSummary, CrawlError> {
    let sites = config.select_sites(&opts.sites)?;
    let names: Vec<String> = sites.iter().map(|s| s.name().to_string()).collect();
    // Cron-safe: a second crawl of a site already being crawled stops here.
    let locks = archive.lock_sites(db_url, &names).await?;

    let replay = match &opts.replay {
        Some(dir) => Some(ReplayServer::start(dir).await?),
        None => None,
    };
    let fetch_config = config.fetch_config();
    let mut routes = opts.routes.clone();
    if let Some(server) = &replay {
        routes.extend(server.routes());
    }
    let fetcher = Fetcher::with_routes(fetch_config, routes)?;

    let run_id = archive.start_run(&run_info("crawl", &opts.arguments, &names)).await?;
    let resumed = archive.reset_in_progress(&names).await?;
    if resumed > 0 {
        tracing::info!(resumed, "resuming URLs left in progress by an interrupted crawl");
    }
    tracing::info!(run_id, sites = ?names, replay = opts.replay.is_some(), "crawl started");

    let progress = (opts.progress && std::io::stderr().is_terminal()).then(|| {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {elapsed} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    });
    let ctx = Arc::new(RunContext {
        archive: archive.clone(),
        fetcher,
        registry: Registry::default(),
        run_id,
        budget: opts.max_pages,
        fetched: AtomicU64::new(0),
        progress,
    });
    let semaphore = Arc::new(Semaphore::new(config.global.crawl.max_concurrent_sites.max(1)));
    let workers = sites.iter().map(|site| {
        let ctx = ctx.clone();
        let semaphore = semaphore.clone();
        let site = (*site).clone();
        async move {
            let _permit = semaphore.acquire().await;
            let name = site.name().to_string();
            let result = crawl_site(&ctx, &site).await;
            (name, result)
        }
    });
    let results = join_all(workers).await;
    if let Some(bar) = &ctx.progress {
        bar.finish_and_clear();
    }

    let mut summary = CrawlSummary { run_id, sites: BTreeMap::new(), outcome: String::new() };
    let mut fatal = None;
    for (name, result) in results {
        match result {
            Ok(counts) => {
                summary.sites.insert(name, counts);
            }
            Err((counts, e)) => {
                tracing::error!(site = %name, error = %e, "site crawl stopped");
                summary.sites.insert(name, counts);
                fatal.get_or_insert(e);
            }
        }
    }
    summary.outcome = if fatal.is_some() {
        "failed".into()
    } else if summary.failed() > 0 {
        "done_with_failures".into()
    } else {
        "done".into()
    };
    let counts = serde_json::to_value(&summary.sites).unwrap_or_default();
    // The database may be the reason for the failure: recording the outcome is best effort.
    if let Err(e) = archive.finish_run(run_id, &summary.outcome, &counts).await {
        tracing::error!(error = %e, "could not record the run's outcome");
    }
    locks.release().await;
    match fatal {
        Some(e) => Err(e),
        None => {
            tracing::info!(run_id, outcome = %summary.outcome, "crawl finished");
            Ok(summary)
        }
    }
}

struct RunContext {
    archive: Archive,
    fetcher: Fetcher,
    registry: Registry,
    run_id: i64,
    budget: Option<u64>,
    fetched: AtomicU64,
    progress: Option<ProgressBar>,
}

impl RunContext {
    /// Takes one fetch from the run's `--max-pages` budget.
    fn take_budget(&self) -> bool {
        let n = self.fetched.fetch_add(1, Ordering::SeqCst);
        self.budget.is_none_or(|max| n < max)
    }
}

async fn crawl_site(ctx: &RunContext, site: &SiteConfig) -> Result<SiteCounts, (SiteCounts, CrawlError)> {
    let mut counts = SiteCounts::default();
    let name = site.name().to_string();
    let seeds = seed_urls(ctx, site).await;
    if let Err(e) = ctx.archive.enqueue(ctx.run_id, &name, &seeds).await {
        return Err((counts, e.into()));
    }
    loop {
        if !ctx.take_budget() {
            tracing::info!(site = %name, "page budget reached");
            break;
        }
        let item = match ctx.archive.claim_next(ctx.run_id, &name).await {
            Ok(Some(item)) => item,
            Ok(None) => break,
            Err(e) => return Err((counts, e.into())),
        };
        if let Err(e) = process(ctx, site, &item, &mut counts).await {
            return Err((counts, e));
        }
        if let Some(bar) = &ctx.progress {
            bar.set_message(format!("{name}: {} fetched, {} articles", counts.fetched, counts.articles));
        }
    }
    Ok(counts)
}

/// Start URLs and sitemaps from the site file, plus sitemaps its robots.txt names.
async fn seed_urls(ctx: &RunContext, site: &SiteConfig) -> Vec<NewUrl> {
    let mut out: Vec<NewUrl> = Vec::new();
    let mut push = |raw: &str, kind: UrlKind| {
        if let Ok(u) = Url::parse(raw)
            && let Some(c) = canon::canonicalize(&u)
            && !out.iter().any(|n| n.canonical_url == c.as_str())
        {
            out.push(NewUrl { canonical_url: c.to_string(), url: raw.to_string(), kind, discovered_from: None });
        }
    };
    for u in &site.file.start_urls {
        push(u, UrlKind::Start);
    }
    for u in &site.file.sitemaps {
        push(u, UrlKind::Sitemap);
    }
    if let Some(first) = site.file.start_urls.first().and_then(|u| Url::parse(u).ok()) {
        for sm in ctx.fetcher.robots_sitemaps(&first).await {
            if Url::parse(&sm).ok().and_then(|u| u.host_str().map(|h| site.owns_host(h))).unwrap_or(false) {
                push(&sm, UrlKind::Sitemap);
            }
        }
    }
    out
}

async fn process(
    ctx: &RunContext,
    site: &SiteConfig,
    item: &caiji_archive::FrontierItem,
    counts: &mut SiteCounts,
) -> Result<(), CrawlError> {
    let Ok(url) = Url::parse(&item.url) else {
        ctx.archive.mark(&item.canonical_url, "failed", Some("unparsable URL")).await?;
        counts.failed += 1;
        return Ok(());
    };
    let fetched = ctx.fetcher.fetch(&url).await;
    if fetched.outcome == Outcome::Disallowed {
        tracing::info!(url = %url, "robots.txt disallows: not fetched");
        ctx.archive.mark(&item.canonical_url, "disallowed", fetched.error.as_deref()).await?;
        counts.disallowed += 1;
        return Ok(());
    }
    counts.fetched += 1;
    let content_type = fetched.header("content-type").map(str::to_string);
    let body = fetched.body.as_deref();

    // Decode once: the decision is recorded on the capture; the text feeds links and extraction.
    let is_html = body.is_some_and(|b| caiji_extract::registry::not_html_reason(b, content_type.as_deref()).is_none());
    let decoded = match body {
        Some(b) if is_html || item.kind == UrlKind::Sitemap => Some(caiji_extract::decode(b, content_type.as_deref())),
        _ => None,
    };

    let mut extraction = None;
    if fetched.outcome == Outcome::Ok && item.kind == UrlKind::Article {
        counts.articles += 1;
        match (&decoded, ctx.registry.get(&site.file.extractor)) {
            // The page decoded once above feeds the extractor too.
            (Some(d), Some(extractor)) => {
                let page = caiji_extract::Page { url: url.as_str(), html: &d.text, charset: Some(&d.decision) };
                extraction = Some(to_new_extraction(extractor.extract(&page), site, ctx.run_id));
                counts.extracted += 1;
            }
            (None, _) => tracing::info!(url = %url, "article body is not HTML: stored, not extracted"),
            (Some(_), None) => {}
        }
    }

    // Links from list pages and sitemaps (articles are leaves).
    if fetched.outcome == Outcome::Ok && item.kind != UrlKind::Article {
        let base = fetched.final_url.clone().unwrap_or_else(|| url.clone());
        let found = match (&decoded, item.kind) {
            (Some(d), UrlKind::Sitemap) => canon::sitemap_locs(&d.text),
            (Some(d), _) => {
                canon::links(&d.text, &base, encoding_rs::Encoding::for_label(d.decision.encoding.as_bytes()))
            }
            _ => Vec::new(),
        };
        let new: Vec<NewUrl> = found
            .into_iter()
            .filter(|u| u.host_str().is_some_and(|h| site.owns_host(h)))
            .filter_map(|u| {
                let kind = if site.is_article(u.as_str()) {
                    UrlKind::Article
                } else if site.is_followed(u.as_str()) {
                    UrlKind::List
                } else {
                    return None;
                };
                Some(NewUrl {
                    canonical_url: u.to_string(),
                    url: u.to_string(),
                    kind,
                    discovered_from: Some(item.canonical_url.clone()),
                })
            })
            .collect();
        counts.discovered += ctx.archive.enqueue(ctx.run_id, site.name(), &new).await?;
    }

    let state = match fetched.outcome {
        Outcome::Ok => {
            counts.ok += 1;
            "done"
        }
        Outcome::HttpStatus if fetched.status.is_some_and(|s| (400..500).contains(&s) && s != 429) => {
            counts.gone += 1;
            "gone"
        }
        _ => {
            counts.failed += 1;
            tracing::warn!(url = %url, outcome = ?fetched.outcome, status = ?fetched.status, error = ?fetched.error, "fetch failed");
            "failed"
        }
    };
    let capture = to_new_capture(
        &fetched,
        site,
        &item.canonical_url,
        ctx.run_id,
        content_type,
        decoded.as_ref().map(|d| &d.decision),
    );
    ctx.archive.store_capture(&capture, extraction.as_ref(), Some(state)).await?;
    tracing::debug!(url = %url, status = ?fetched.status, outcome = ?fetched.outcome, "captured");
    Ok(())
}

fn to_new_capture(
    f: &Fetched,
    site: &SiteConfig,
    canonical_url: &str,
    run_id: i64,
    content_type: Option<String>,
    charset: Option<&caiji_extract::CharsetDecision>,
) -> NewCapture {
    let outcome = match f.outcome {
        Outcome::Ok => CaptureOutcome::Ok,
        Outcome::HttpStatus => CaptureOutcome::HttpStatus,
        Outcome::TooLarge => CaptureOutcome::TooLarge,
        Outcome::Timeout => CaptureOutcome::Timeout,
        Outcome::RedirectLoop => CaptureOutcome::RedirectLoop,
        Outcome::TooManyRedirects => CaptureOutcome::TooManyRedirects,
        Outcome::NetworkError | Outcome::Disallowed => CaptureOutcome::NetworkError,
    };
    NewCapture {
        crawl_run_id: Some(run_id),
        site: site.name().to_string(),
        url: f.url.to_string(),
        canonical_url: canonical_url.to_string(),
        final_url: f.final_url.as_ref().map(|u| u.to_string()),
        redirect_chain: serde_json::to_value(&f.redirect_chain).unwrap_or_default(),
        outcome,
        error: f.error.clone(),
        status: f.status,
        fetched_at: f.fetched_at,
        duration_ms: f.duration.as_millis().min(i32::MAX as u128) as i32,
        attempts: f.attempts.min(i16::MAX as u32) as i16,
        response_headers: f.headers_json(),
        content_type,
        body: f.body.as_ref().map(|b| b.to_vec()),
        charset: charset
            .map(|d| CharsetRecord {
                bom: d.bom.map(str::to_string),
                header: d.header_label.clone(),
                meta: d.meta_label.clone(),
                detected: d.detected.map(str::to_string),
                used: Some(d.encoding.to_string()),
                source: Some(d.source.as_str().to_string()),
                replacement_chars: Some(d.replacement_chars.min(i32::MAX as usize) as i32),
            })
            .unwrap_or_default(),
    }
}

/// An extractor's record as an `extractions` row.
pub fn to_new_extraction(record: caiji_extract::Record, site: &SiteConfig, run_id: i64) -> NewExtraction {
    let mut e = to_new_extraction_without_words(record, site.extractor_config_hash(), run_id);
    e.search_words = caiji_extract::search::search_words(e.text());
    e
}

/// The row without its word index (the caller fills `search_words` when the text is new).
pub fn to_new_extraction_without_words(
    record: caiji_extract::Record,
    config_hash: String,
    run_id: i64,
) -> NewExtraction {
    let published_ts = record.published_at.as_deref().and_then(parse_published);
    NewExtraction {
        search_words: String::new(),
        extractor: record.extractor,
        extractor_version: record.extractor_version,
        config_hash,
        crawl_run_id: Some(run_id),
        caiji_version: CAIJI_VERSION.into(),
        git_commit: git_commit(),
        title: record.title,
        published_at: record.published_at,
        published_ts,
        author: record.author,
        content: caiji_archive::ExtractedText::new(record.paragraphs),
        metadata: serde_json::to_value(record.meta).unwrap_or_default(),
        flags: record.flags,
    }
}

fn parse_published(s: &str) -> Option<chrono::NaiveDateTime> {
    use chrono::{NaiveDate, NaiveDateTime};
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M"))
        .ok()
        .or_else(|| NaiveDate::parse_from_str(s.get(..10)?, "%Y-%m-%d").ok()?.and_hms_opt(0, 0, 0))
}

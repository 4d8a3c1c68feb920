//! The crawl loop: one worker per site (its hosts are fetched one request at a time, paced by
//! the fetcher), sites in parallel.
//!
//! Each claimed URL goes through named stages, as Heritrix's processor chain does:
//! **fetch** (politeness, robots, scope, address guard) → **analyze** (decode, then extract an
//! article or discover links; pure, on a worker thread with a time limit, so a pathological
//! page never stalls the other sites) → **dispose** (what the outcome means for the frontier, a
//! [`Disposition`]) → **store** (one transaction, fenced by the run's claim). Every fault is one
//! stage's rule: a robots.txt outage defers the host, an off-site redirect is refused, a page
//! that takes too long to parse is kept unextracted.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use caiji_archive::store::CharsetRecord;
use caiji_archive::{
    Archive, ArchiveError, CaptureOutcome, CaptureWrite, CaptureWriter, FrontierItem, FrontierState, NewCapture,
    NewExtraction, NewUrl, RunLease, RunOutcome, Settle, UrlKind, Visit,
};
use caiji_extract::{Extractor, Registry};
use caiji_fetch::{Fetched, Fetcher, Outcome};
use futures::future::join_all;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
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
    pub routes: std::collections::HashMap<String, SocketAddr>,
    /// The command line, recorded on the run.
    pub arguments: serde_json::Value,
    /// Show a progress bar (terminals only).
    pub progress: bool,
    /// Cancelled on SIGINT/SIGTERM: workers stop claiming, in-flight URLs are released, the
    /// run is recorded `interrupted`.
    pub cancel: CancellationToken,
    /// Revisit every captured article of the selected sites this run (`--revisit-all`), due or
    /// not, whatever their revisit policy.
    pub revisit_all: bool,
    /// The run's clock for revisit schedules (which pages are due, when they are due next);
    /// `None`: now. Tests set it to replay weeks of schedules without sleeping.
    pub now: Option<chrono::DateTime<chrono::Utc>>,
    /// Join the crawl of these sites another worker is running (`caiji crawl --join`), sharing
    /// its frontier, instead of stopping with "lock held": the run takes no site lock.
    pub join: bool,
}

/// Per-site counts of one run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SiteCounts {
    /// Claimed URLs fetched or attempted (robots.txt not counted; URLs refused by robots.txt or
    /// deferred are not attempted).
    pub fetched: u64,
    pub ok: u64,
    /// 4xx: the page is gone; recorded, not a crawler failure.
    pub gone: u64,
    pub failed: u64,
    pub disallowed: u64,
    /// Not followed by caiji's rules (off-site redirect, private address): recorded.
    pub refused: u64,
    /// Claimed but given back unattempted (robots.txt unavailable): pending for the next run.
    pub deferred: u64,
    pub articles: u64,
    pub extracted: u64,
    pub discovered: u64,
    /// Captured articles queued again by the revisit policy (or `--revisit-all`).
    pub revisits_queued: u64,
    /// Revisits that found the page unchanged: a `304`, or the same body (no body or extraction
    /// stored again).
    pub unchanged: u64,
    /// Revisits that found new content (a new capture and extraction).
    pub changed: u64,
    /// robots.txt fetches that failed (5xx, timeout, unreachable): the host was deferred, or
    /// the archived copy obeyed. A failure of the run either way (exit 1).
    pub robots_unreachable: u64,
}

impl SiteCounts {
    /// Adds another tally (one URL's) to this one.
    pub fn add(&mut self, o: &SiteCounts) {
        self.fetched += o.fetched;
        self.ok += o.ok;
        self.gone += o.gone;
        self.failed += o.failed;
        self.disallowed += o.disallowed;
        self.refused += o.refused;
        self.deferred += o.deferred;
        self.articles += o.articles;
        self.extracted += o.extracted;
        self.discovered += o.discovered;
        self.revisits_queued += o.revisits_queued;
        self.unchanged += o.unchanged;
        self.changed += o.changed;
        self.robots_unreachable += o.robots_unreachable;
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct CrawlSummary {
    pub run_id: i64,
    pub sites: BTreeMap<String, SiteCounts>,
    pub outcome: RunOutcome,
    /// Why the run is not `done`, when it is not.
    pub reason: Option<String>,
}

impl CrawlSummary {
    pub fn failed(&self) -> u64 {
        self.sites.values().map(|c| c.failed).sum()
    }

    pub fn deferred(&self) -> u64 {
        self.sites.values().map(|c| c.deferred).sum()
    }
}

/// Runs one crawl. Errors before the run is recorded (config, lock held, database) are
/// returned; after it, a fatal error (database gone, lock lost) is recorded on the run as
/// `failed` and returned; fetch failures are recorded per capture and counted in the summary.
pub async fn crawl(
    config: &Config,
    archive: &Archive,
    db_url: &str,
    opts: &CrawlOptions,
) -> Result<CrawlSummary, CrawlError> {
    let sites = config.select_sites(&opts.sites)?;
    let names: Vec<String> = sites.iter().map(|s| s.name().to_string()).collect();
    // Cron-safe: a second crawl of a site already being crawled stops here.
    // A worker that joins takes the locks nobody holds (it leads those sites) and shares the
    // others' frontier with the run holding them (claims are leases, turns are booked in the
    // archive).
    let info = run_info("crawl", &opts.arguments, &names);
    let lease = if opts.join {
        archive.begin_joining_run(db_url, &info, &names).await?
    } else {
        archive.begin_run(db_url, &info, &names).await?
    };
    let run_id = lease.run_id();
    let result = run_sites(config, archive, opts, &sites, &lease).await;
    if result.is_ok() {
        crate::merge_search_index(archive).await;
    }

    let (outcome, reason, sites_counts, fatal) = match result {
        Ok(counts) => {
            let deferred: u64 = counts.values().map(|c| c.deferred).sum();
            let failed: u64 = counts.values().map(|c| c.failed).sum();
            let refused: u64 = counts.values().map(|c| c.refused).sum();
            let robots: u64 = counts.values().map(|c| c.robots_unreachable).sum();
            let (outcome, reason) = if opts.cancel.is_cancelled() {
                (RunOutcome::Interrupted, Some("stopped by a signal; in-flight URLs released".to_string()))
            } else if deferred > 0 {
                (
                    RunOutcome::Incomplete,
                    Some(format!(
                        "{deferred} URLs deferred (robots.txt unavailable); they stay pending for the next run"
                    )),
                )
            } else if failed + refused + robots > 0 {
                (
                    RunOutcome::DoneWithFailures,
                    Some({
                        let mut why =
                            format!("{failed} fetches failed, {refused} refused (off-site redirect, private address)");
                        if robots > 0 {
                            why += &format!(", {robots} robots.txt unreachable (the archived copy obeyed)");
                        }
                        why
                    }),
                )
            } else {
                (RunOutcome::Done, None)
            };
            (outcome, reason, counts, None)
        }
        Err((counts, e)) => (RunOutcome::Failed, Some(e.to_string()), counts, Some(e)),
    };
    let counts = serde_json::to_value(&sites_counts).unwrap_or_default();
    // The database may be the reason for the failure: recording the outcome is best effort
    // (a run left `running` is marked `abandoned` by the next caiji once its lock is gone).
    if let Err(e) = archive.finish_run(run_id, outcome, &counts, reason.as_deref()).await {
        tracing::error!(error = %e, "could not record the run's outcome");
    }
    lease.release().await;
    match fatal {
        Some(e) => Err(e),
        None => {
            let total = |f: fn(&SiteCounts) -> u64| sites_counts.values().map(f).sum::<u64>();
            tracing::info!(
                run_id,
                outcome = outcome.as_str(),
                reason = reason.as_deref(),
                fetched = total(|c| c.fetched),
                ok = total(|c| c.ok),
                gone = total(|c| c.gone),
                failed = total(|c| c.failed),
                refused = total(|c| c.refused),
                deferred = total(|c| c.deferred),
                articles = total(|c| c.articles),
                extracted = total(|c| c.extracted),
                "crawl finished"
            );
            Ok(CrawlSummary { run_id, sites: sites_counts, outcome, reason })
        }
    }
}

type SitesResult = Result<BTreeMap<String, SiteCounts>, (BTreeMap<String, SiteCounts>, CrawlError)>;

async fn run_sites(
    config: &Config,
    archive: &Archive,
    opts: &CrawlOptions,
    sites: &[&SiteConfig],
    lease: &RunLease,
) -> SitesResult {
    let empty = BTreeMap::new;
    let replay = match &opts.replay {
        Some(dir) => Some(ReplayServer::start(dir).await.map_err(|e| (empty(), e))?),
        None => None,
    };
    let mut routes = opts.routes.clone();
    if let Some(server) = &replay {
        routes.extend(server.routes());
    }
    // The crawl this run is part of (its own start, or a running crawl it joined): robots.txt
    // fetched since then is shared, not asked again.
    let mut epoch = chrono::Utc::now();
    for s in sites {
        match archive.crawl_epoch(lease.run_id(), s.name()).await {
            Ok(t) => epoch = epoch.min(t),
            Err(e) => return Err((empty(), e.into())),
        }
    }
    // Every request books its host's turn in the archive: the interval holds across workers.
    let turns = Arc::new(ArchiveTurns { archive: archive.clone() });
    let fetcher = Fetcher::with_routes(config.fetch_config(), routes)
        .map_err(|e| (empty(), e.into()))?
        .with_turns(turns)
        .with_robots_store(Arc::new(ArchiveRobots { archive: archive.clone(), epoch }));
    let names: Vec<String> = sites.iter().map(|s| s.name().to_string()).collect();
    // Claims of workers that are gone (killed, crashed) come back; live workers' stay theirs.
    let resumed = archive.release_dead_claims(&names).await.map_err(|e| (empty(), e.into()))?;
    if resumed > 0 {
        tracing::info!(resumed, "resuming URLs left in progress by an interrupted crawl");
    }
    tracing::info!(run_id = lease.run_id(), sites = %names.join(","), replay = opts.replay.is_some(), "crawl started");

    let progress = (opts.progress && std::io::stderr().is_terminal()).then(|| {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {elapsed} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    });
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let ctx = Arc::new(RunContext {
        archive: archive.clone(),
        fetcher,
        registry: Registry::default(),
        run_id: lease.run_id(),
        budget: opts.max_pages,
        fetched: AtomicU64::new(0),
        progress,
        analysis: Arc::new(Semaphore::new(cores)),
        unstored: Arc::new(Semaphore::new(MAX_UNSTORED_PAGES)),
        parse_timeout: crate::config::secs(config.global.crawl.parse_timeout_secs),
        cancel: opts.cancel.clone(),
        all_sites: config.sites.clone(),
        robots_unreachable: Default::default(),
        settled: AtomicU64::new(0),
        failures: AtomicU64::new(0),
        started: std::time::Instant::now(),
        now: opts.now.unwrap_or_else(chrono::Utc::now),
        revisit_all: opts.revisit_all,
        max_hosts_in_flight: config.global.crawl.max_hosts_in_flight,
        // One batch in flight while the next fills. A second writer halved the batches (about 2
        // pages at 1,000 hosts) for no more pages/s: one writer took PostgreSQL's CPU per page
        // from 2.0-2.1 to 1.4-1.7 ms at H = 1,000 and from 1.0-1.1 to 0.9 ms at H = 200, same
        // wall time (3 alternating pairs each, scripts/bench-crawl.sh's web; issue 16).
        writer: CaptureWriter::spawn(archive.clone(), 1, 64),
    });
    let semaphore = Arc::new(Semaphore::new(config.global.crawl.max_concurrent_sites.max(1)));
    let workers = sites.iter().map(|site| {
        let ctx = ctx.clone();
        let semaphore = semaphore.clone();
        let site = (*site).clone();
        async move {
            let _permit = semaphore.acquire().await;
            let name = site.name().to_string();
            let result = crawl_site(&ctx, lease, &site).await;
            (name, result)
        }
    });
    let results = join_all(workers).await;
    if let Some(bar) = &ctx.progress {
        bar.finish_and_clear();
    }
    // robots.txt fetched last (by the final claims) still belongs in the archive.
    if let Err(e) = store_robots_fetches(&ctx, sites.first().map(|s| s.name()).unwrap_or_default()).await {
        tracing::warn!(error = %e, "could not archive robots.txt fetches");
    }
    let robots_unreachable = match ctx.robots_unreachable.lock() {
        Ok(m) => m.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    };
    let mut counts = BTreeMap::new();
    let mut fatal = None;
    for (name, result) in results {
        let robots = robots_unreachable.get(&name).copied().unwrap_or(0);
        match result {
            Ok(mut c) => {
                c.robots_unreachable += robots;
                counts.insert(name, c);
            }
            Err((mut c, e)) => {
                tracing::error!(site = %name, error = %e, "site crawl stopped");
                c.robots_unreachable += robots;
                counts.insert(name, c);
                fatal.get_or_insert(e);
            }
        }
    }
    match fatal {
        Some(e) => Err((counts, e)),
        None => Ok(counts),
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
    /// Analyses running at once (one per core): a page that parses for minutes holds one.
    analysis: Arc<Semaphore>,
    /// Pages analysed or being analysed and not yet stored ([`MAX_UNSTORED_PAGES`]).
    unstored: Arc<Semaphore>,
    parse_timeout: Duration,
    cancel: CancellationToken,
    /// Every configured site, to file robots.txt captures under the site owning the host.
    all_sites: Vec<SiteConfig>,
    /// Per site, robots.txt fetches that failed (counted when archived).
    robots_unreachable: std::sync::Mutex<BTreeMap<String, u64>>,
    /// For the progress line: URLs settled and failed so far, across sites.
    settled: AtomicU64,
    failures: AtomicU64,
    started: std::time::Instant,
    /// The run's clock for revisit schedules.
    now: chrono::DateTime<chrono::Utc>,
    revisit_all: bool,
    /// Per site: hosts with a request in flight at once.
    max_hosts_in_flight: usize,
    /// Stores the pages' captures in batches (one transaction for the pages done meanwhile).
    writer: CaptureWriter,
}

/// robots.txt answers from the archive's captures (every worker's): obeyed for a day without
/// asking again, and during an outage.
struct ArchiveRobots {
    archive: Archive,
    /// When the crawl this run is part of began: copies fetched since are this crawl's.
    epoch: chrono::DateTime<chrono::Utc>,
}

impl caiji_fetch::RobotsStore for ArchiveRobots {
    fn newest<'a>(
        &'a self,
        robots_url: &'a url::Url,
    ) -> caiji_fetch::TurnFuture<'a, Option<caiji_fetch::StoredRobots>> {
        Box::pin(async move {
            let canonical =
                canon::canonicalize(robots_url).map(|u| u.to_string()).unwrap_or_else(|| robots_url.to_string());
            match self.archive.newest_robots_txt(&canonical).await {
                Ok(found) => found.map(|(fetched_at, status, body)| caiji_fetch::StoredRobots {
                    fetched_at,
                    status: status.max(0) as u16,
                    body,
                    same_crawl: fetched_at >= self.epoch,
                }),
                Err(e) => {
                    // Only a cache: the file is fetched as if none were kept.
                    tracing::warn!(url = %robots_url, error = %e, "cannot read archived robots.txt");
                    None
                }
            }
        })
    }
}

/// Host turns booked in the archive (`host_turns`), shared by every worker of it.
struct ArchiveTurns {
    archive: Archive,
}

impl caiji_fetch::HostTurns for ArchiveTurns {
    fn take<'a>(&'a self, host: &'a str, hold: Duration) -> caiji_fetch::TurnFuture<'a, Result<u64, Duration>> {
        Box::pin(async move {
            match self.archive.take_host_turn(host, hold).await {
                Ok(turn) => turn,
                Err(e) => {
                    // The database is gone: the run will stop at its next claim or store. Until
                    // then this request waits a second and goes without a shared turn (token 0
                    // matches no row).
                    tracing::warn!(host, error = %e, "cannot take a turn in the archive: waiting a second");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    Ok(0)
                }
            }
        })
    }

    fn give_back<'a>(&'a self, host: &'a str, token: u64, interval: Duration) -> caiji_fetch::TurnFuture<'a, ()> {
        Box::pin(async move {
            if let Err(e) = self.archive.give_back_host_turn(host, token, interval).await {
                // The host stays held until its hold runs out: slower, never less polite.
                tracing::warn!(host, error = %e, "cannot give a turn back to the archive");
            }
        })
    }

    fn pause<'a>(&'a self, host: &'a str, wait: Duration) -> caiji_fetch::TurnFuture<'a, ()> {
        Box::pin(async move {
            if let Err(e) = self.archive.pause_host(host, wait).await {
                tracing::warn!(host, error = %e, "cannot record a Retry-After pause in the archive");
            }
        })
    }
}

impl RunContext {
    /// Takes one fetch from the run's `--max-pages` budget.
    fn take_budget(&self) -> bool {
        let n = self.fetched.fetch_add(1, Ordering::SeqCst);
        self.budget.is_none_or(|max| n < max)
    }
}

/// What one claimed URL comes to: the rule the stages applied.
#[derive(Debug)]
pub enum Disposition {
    /// A request was made: store the capture (and extraction), settle the frontier row.
    Captured {
        capture: Box<NewCapture>,
        extraction: Option<Box<NewExtraction>>,
        state: FrontierState,
        /// Links in the site's scope and rules, to enqueue.
        discovered: Vec<NewUrl>,
        /// Why nothing was extracted, when that is worth recording (`frontier.last_error`).
        note: Option<String>,
        /// The page answered (2xx, 304): what the visit found, for the revisit schedule.
        visit: Option<Visit>,
    },
    /// Nothing was requested, for good (robots.txt forbids it, the URL cannot be parsed).
    Settled { state: FrontierState, reason: String },
    /// Nothing was requested, for now (robots.txt unavailable): the URL goes back to pending
    /// and its host is skipped for the rest of the run.
    Deferred { host_prefix: String, reason: String },
}

async fn crawl_site(
    ctx: &Arc<RunContext>,
    lease: &RunLease,
    site: &SiteConfig,
) -> Result<SiteCounts, (SiteCounts, CrawlError)> {
    let mut counts = SiteCounts::default();
    let name = site.name().to_string();
    let epoch = match ctx.archive.crawl_epoch(ctx.run_id, &name).await {
        Ok(t) => t,
        Err(e) => return Err((counts, e.into())),
    };
    if lease.leads(&name) {
        seed_site(ctx, site, &mut counts, epoch).await?;
    } else {
        tracing::info!(site = %name, "joining the crawl another worker leads: its frontier is shared");
    }

    // Hosts deferred for this run (robots.txt unavailable): no claim on them.
    let mut deferred_hosts: Vec<String> = Vec::new();
    // Per host, the URL in flight (one at a time) and the URLs claimed for it waiting behind it
    // (a host queue, as in Heritrix and Nutch): a host's next URL starts as its last one ends,
    // and its queue is refilled by a claim that probes only that host.
    let mut busy: HashMap<String, FrontierItem> = HashMap::new();
    let mut queued: HashMap<String, VecDeque<(FrontierItem, Instant)>> = HashMap::new();
    // Hosts whose queue ran dry, refilled by the next claim.
    let mut dry: Vec<String> = Vec::new();
    // Each URL in flight is a task of its own: it books its host's turn and sends on time
    // whatever this loop is waiting for (a store, a claim). Dropped, the set aborts them.
    let mut in_flight: tokio::task::JoinSet<Settled> = tokio::task::JoinSet::new();
    let mut hosts_by_task: HashMap<tokio::task::Id, String> = HashMap::new();
    let shared_site = Arc::new(site.clone());
    let limit = ctx.max_hosts_in_flight.max(1);
    let per_host = claims_per_host(
        site.file.min_interval_ms.map(Duration::from_millis).unwrap_or(ctx.fetcher.config().min_interval),
    );
    let mut exhausted = false;
    let mut budget_left = true;
    // Looking for new hosts reads the site's whole frontier: done when hosts are free, and at
    // most once a second while it finds fewer than there is room for.
    let mut next_new_hosts = Instant::now();
    loop {
        // Claims wait until a sixteenth of the hosts in flight need one: one statement serves many.
        let refill_at = (in_flight.len() / 16).max(1);
        let free = limit - in_flight.len();
        let claiming = !ctx.cancel.is_cancelled() && budget_left;
        let refill = !dry.is_empty() && (dry.len() >= refill_at || in_flight.is_empty());
        let new_hosts = free > 0 && (in_flight.is_empty() || (free >= refill_at && Instant::now() >= next_new_hosts));
        if claiming && (refill || new_hosts) {
            // Never claim without the site's lock (it dies with a database restart).
            if let Err(e) = lease.verify().await {
                release_all(ctx, &busy, &queued).await;
                return Err((counts, e.into()));
            }
            let mut items = match ctx.archive.claim_more(ctx.run_id, &name, &dry, per_host).await {
                Ok(items) => items,
                Err(e) => {
                    release_all(ctx, &busy, &queued).await;
                    return Err((counts, e.into()));
                }
            };
            dry.clear();
            let refilled: HashSet<String> = items.iter().map(|i| i.host.clone()).collect();
            let free = free.saturating_sub(refilled.len());
            if free > 0 && (Instant::now() >= next_new_hosts || (in_flight.is_empty() && refilled.is_empty())) {
                let mut skip: Vec<String> = busy.keys().cloned().collect();
                skip.extend(deferred_hosts.iter().cloned());
                skip.extend(refilled.iter().cloned());
                let more = match ctx.archive.claim_batch(ctx.run_id, &name, free, per_host, &skip).await {
                    Ok(items) => items,
                    Err(e) => {
                        release_all(ctx, &busy, &queued).await;
                        return Err((counts, e.into()));
                    }
                };
                let found: HashSet<&str> = more.iter().map(|i| i.host.as_str()).collect();
                next_new_hosts =
                    if found.len() < free { Instant::now() + Duration::from_secs(1) } else { Instant::now() };
                items.extend(more);
            }
            exhausted = items.is_empty();
            let claimed_at = Instant::now();
            for item in items {
                queued.entry(item.host.clone()).or_default().push_back((item, claimed_at));
            }
        }
        // Start every host with a queue and nothing in flight.
        let idle: Vec<String> = queued.keys().filter(|h| !busy.contains_key(*h)).cloned().collect();
        for host in idle {
            if !start_next(ctx, &shared_site, epoch, &host, &mut queued, &mut busy, &mut in_flight, &mut hosts_by_task)
                .await
            {
                budget_left = false;
            }
        }
        if in_flight.is_empty() {
            // Nothing in flight and nothing to claim: the site is done for this run, unless a
            // dead worker's claims came back meanwhile.
            if exhausted && !ctx.cancel.is_cancelled() && budget_left {
                match ctx.archive.release_dead_claims(std::slice::from_ref(&name)).await {
                    Ok(n) if n > 0 => {
                        tracing::info!(site = %name, released = n, "claims of a worker that is gone returned to the frontier");
                        continue;
                    }
                    Ok(_) => {}
                    Err(e) => return Err((counts, e.into())),
                }
                // Another worker's pages in flight may still lead to new URLs, and a host it
                // has a request out on is passed over for now: the site is done when nobody
                // holds a claim on it and nothing claimable is left.
                match ctx.archive.unsettled(&name, &deferred_hosts).await {
                    Ok(0) => {}
                    Ok(_) => {
                        tokio::select! {
                            () = ctx.cancel.cancelled() => {}
                            () = tokio::time::sleep(Duration::from_millis(100)) => {}
                        }
                        continue;
                    }
                    Err(e) => return Err((counts, e.into())),
                }
            }
            break;
        }
        let next = tokio::select! {
            biased;
            () = ctx.cancel.cancelled() => None,
            next = in_flight.join_next_with_id() => next,
        };
        let Settled { item, deferred, stored, counts: local } = match next {
            Some(Ok((id, done))) => {
                hosts_by_task.remove(&id);
                done
            }
            Some(Err(e)) => {
                // A task that panicked (a bug, never an input's fault by design): its URL goes
                // back to pending, its host is free again, the crawl goes on.
                if let Some(host) = hosts_by_task.remove(&e.id())
                    && let Some(item) = busy.remove(&host)
                {
                    tracing::error!(url = %item.url, error = %e, "fetch task failed: URL released");
                    if let Err(e) = ctx.archive.release(ctx.run_id, &item.canonical_url, "fetch task failed").await {
                        tracing::warn!(url = %item.url, error = %e, "could not release a URL");
                    }
                }
                continue;
            }
            None => {
                // Interrupted: every URL still in flight goes back to pending.
                in_flight.abort_all();
                release_all(ctx, &busy, &queued).await;
                break;
            }
        };
        busy.remove(&item.host);
        counts.add(&local);
        if deferred {
            if !deferred_hosts.contains(&item.host) {
                deferred_hosts.push(item.host.clone());
            }
            release_queue(ctx, queued.remove(&item.host), "host deferred: robots.txt unavailable").await;
        } else if queued.get(&item.host).is_some_and(|q| !q.is_empty()) {
            if !start_next(
                ctx,
                &shared_site,
                epoch,
                &item.host,
                &mut queued,
                &mut busy,
                &mut in_flight,
                &mut hosts_by_task,
            )
            .await
            {
                budget_left = false;
            }
        } else {
            queued.remove(&item.host);
            if !ctx.cancel.is_cancelled() && budget_left {
                dry.push(item.host.clone());
            }
        }
        match stored {
            Ok(()) => {}
            Err(ArchiveError::ClaimLost(url)) => {
                // Someone else holds this URL now: only possible if our lock was lost. The
                // check decides whether the run may go on.
                tracing::warn!(url = %url, "claim taken over by another run: this fetch is not stored");
                if let Err(e) = lease.verify().await {
                    in_flight.abort_all();
                    release_all(ctx, &busy, &queued).await;
                    return Err((counts, e.into()));
                }
            }
            Err(e) => {
                in_flight.abort_all();
                release_all(ctx, &busy, &queued).await;
                return Err((counts, e.into()));
            }
        }
        if let Some(bar) = &ctx.progress {
            let settled = ctx.settled.fetch_add(1, Ordering::Relaxed) + 1;
            let failures = ctx.failures.load(Ordering::Relaxed);
            let rate = settled as f64 / ctx.started.elapsed().as_secs_f64().max(0.001);
            bar.set_message(format!(
                "{settled} URLs settled ({failures} failed or refused), {rate:.1}/s; {name}: {} fetched, {} articles",
                counts.fetched, counts.articles
            ));
        }
    }
    Ok(counts)
}

/// Queues a site's seeds (start URLs, sitemaps, feeds, robots.txt's sitemaps) and the articles
/// due for a revisit: done by the worker that holds the site's lock.
async fn seed_site(
    ctx: &RunContext,
    site: &SiteConfig,
    counts: &mut SiteCounts,
    epoch: chrono::DateTime<chrono::Utc>,
) -> Result<(), (SiteCounts, CrawlError)> {
    let name = site.name().to_string();
    // Seeding may fetch robots.txt (a slow server): a signal must not wait for it.
    let seeds = tokio::select! {
        biased;
        () = ctx.cancel.cancelled() => return Ok(()),
        seeds = seed_urls(ctx, site) => seeds,
    };
    if let Err(e) = ctx.archive.enqueue(ctx.run_id, &name, &seeds, epoch).await {
        return Err((counts.clone(), e.into()));
    }
    if site.revisit.is_some() || ctx.revisit_all {
        match ctx.archive.queue_revisits(ctx.run_id, &name, ctx.now, ctx.revisit_all).await {
            Ok(n) => {
                counts.revisits_queued = n;
                if n > 0 {
                    tracing::info!(site = %name, revisits = n, "articles due for a revisit queued");
                }
            }
            Err(e) => return Err((counts.clone(), e.into())),
        }
    }
    Ok(())
}

/// What a URL's task comes back with.
struct Settled {
    item: FrontierItem,
    /// Its host was deferred (robots.txt unavailable): no more claims on it this run.
    deferred: bool,
    /// The store stage's result.
    stored: Result<(), ArchiveError>,
    counts: SiteCounts,
}

/// Gives back the URLs still in flight (interrupted run, fatal error): pending again for the
/// next run or another worker. Best effort: a URL not released is returned by
/// [`Archive::release_dead_claims`] once this run is over.
async fn release_all(
    ctx: &RunContext,
    busy: &HashMap<String, FrontierItem>,
    queued: &HashMap<String, VecDeque<(FrontierItem, Instant)>>,
) {
    let mut items: Vec<&FrontierItem> = busy.values().collect();
    for q in queued.values() {
        items.extend(q.iter().map(|(item, _)| item));
    }
    for item in items {
        if let Err(e) =
            ctx.archive.release(ctx.run_id, &item.canonical_url, "run stopped before this URL was stored").await
        {
            tracing::warn!(url = %item.url, error = %e, "could not release an in-flight URL");
        }
    }
}

/// Gives back the claimed URLs of a host's queue, unattempted.
async fn release_queue(ctx: &RunContext, queue: Option<VecDeque<(FrontierItem, Instant)>>, why: &str) {
    for (item, _) in queue.into_iter().flatten() {
        if let Err(e) = ctx.archive.release(ctx.run_id, &item.canonical_url, why).await {
            tracing::warn!(url = %item.url, error = %e, "could not release a claimed URL");
        }
    }
}

/// URLs claimed per host at a time: about a minute of the host's fetches at its interval,
/// from 1 to 8. Fewer claims (each a statement) without holding many URLs away from other
/// workers, and without a queue outliving its claims' lease.
fn claims_per_host(interval: Duration) -> usize {
    (60_000 / interval.as_millis().max(1)).clamp(1, 8) as usize
}

/// Starts the next URL of `host`'s queue as a task. A claim older than half its lease is
/// given back instead (with the rest of the queue: older still), so that no fetch starts
/// on a claim about to expire. Returns false when the run's page budget is spent (the queue
/// is given back).
#[allow(clippy::too_many_arguments)]
async fn start_next(
    ctx: &Arc<RunContext>,
    site: &Arc<SiteConfig>,
    epoch: chrono::DateTime<chrono::Utc>,
    host: &str,
    queued: &mut HashMap<String, VecDeque<(FrontierItem, Instant)>>,
    busy: &mut HashMap<String, FrontierItem>,
    in_flight: &mut tokio::task::JoinSet<Settled>,
    hosts_by_task: &mut HashMap<tokio::task::Id, String>,
) -> bool {
    let Some(queue) = queued.get_mut(host) else { return true };
    let Some((item, claimed_at)) = queue.pop_front() else { return true };
    let stale = claimed_at.elapsed() > caiji_archive::CLAIM_LEASE / 2;
    let give_back = if stale {
        Some("claim too old to start: back to the frontier")
    } else if !ctx.take_budget() {
        tracing::info!(site = %site.name(), "page budget reached");
        Some("page budget reached")
    } else {
        None
    };
    if let Some(why) = give_back {
        let mut rest = queued.remove(host).unwrap_or_default();
        rest.push_front((item, claimed_at));
        release_queue(ctx, Some(rest), why).await;
        return stale;
    }
    busy.insert(host.to_string(), item.clone());
    let (task_ctx, task_site) = (ctx.clone(), site.clone());
    let handle = in_flight.spawn(async move {
        // All four stages in the task: stores run side by side on the pool's connections, not
        // one after another in the claiming loop.
        let mut counts = SiteCounts::default();
        let (d, _unstored) = fetch_and_analyze(&task_ctx, &task_site, &item, &mut counts).await;
        let deferred = matches!(d, Disposition::Deferred { .. });
        let stored = match store_robots_fetches(&task_ctx, task_site.name()).await {
            Ok(()) => store(&task_ctx, &task_site, &item, d, &mut counts, epoch).await,
            Err(e) => Err(e),
        };
        Settled { item, deferred, stored, counts }
    });
    hosts_by_task.insert(handle.id(), host.to_string());
    true
}

/// Start URLs and sitemaps from the site file, plus sitemaps its robots.txt names.
async fn seed_urls(ctx: &RunContext, site: &SiteConfig) -> Vec<NewUrl> {
    let mut out: Vec<NewUrl> = Vec::new();
    let mut push = |raw: &str, kind: UrlKind| {
        if let Ok(u) = Url::parse(raw)
            && let Some(c) = canon::canonicalize(&u)
            && !out.iter().any(|n| n.canonical_url == c.as_str())
        {
            out.push(NewUrl {
                canonical_url: c.to_string(),
                url: raw.to_string(),
                kind,
                discovered_from: None,
                depth: 0,
                lastmod: None,
            });
        }
    };
    for u in &site.file.start_urls {
        push(u, UrlKind::Start);
    }
    for u in &site.file.sitemaps {
        push(u, UrlKind::Sitemap);
    }
    for u in &site.file.feeds {
        push(u, UrlKind::Feed);
    }
    if let Some(first) = site.file.start_urls.first().and_then(|u| Url::parse(u).ok()) {
        for sm in ctx.fetcher.robots_sitemaps(&first).await {
            if Url::parse(&sm).ok().is_some_and(|u| site.owns_url(&u)) {
                push(&sm, UrlKind::Sitemap);
            }
        }
    }
    out
}

/// Pages past their fetch and not yet stored, across the run's sites. The rest wait after
/// their fetch holding only the body: when the database falls behind (a checkpoint, an index
/// merge), a 1,000-host crawl would otherwise hold a parsed page, its text and its links for
/// every host (peak memory rose by 50 MB in the second half of such a run). Four of the
/// writer's batches of 64: a backlog of well under a second at 500 pages/s.
const MAX_UNSTORED_PAGES: usize = 256;

/// Stages 1 to 3: fetch, analyze, dispose. With the disposition, the page's place among the
/// [`MAX_UNSTORED_PAGES`], to hold until it is stored (`None` when nothing was fetched).
async fn fetch_and_analyze(
    ctx: &RunContext,
    site: &SiteConfig,
    item: &FrontierItem,
    counts: &mut SiteCounts,
) -> (Disposition, Option<tokio::sync::OwnedSemaphorePermit>) {
    let Ok(url) = Url::parse(&item.url) else {
        return (Disposition::Settled { state: FrontierState::Failed, reason: "unparsable URL".into() }, None);
    };
    // A revisit asks conditionally, and compares what it gets with what the archive holds.
    let previous = if item.kind == UrlKind::Article && item.revisit {
        match ctx.archive.previous_content(&item.canonical_url).await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(url = %item.url, error = %e, "previous capture unreadable: revisiting unconditionally");
                None
            }
        }
    } else {
        None
    };
    let validators = previous
        .as_ref()
        .map(|p| caiji_fetch::Validators { etag: p.etag.clone(), last_modified: p.last_modified.clone() })
        .unwrap_or_default();
    let fetched = ctx.fetcher.fetch_conditional(&url, &|u: &Url| site.owns_url(u), &validators).await;
    match fetched.outcome {
        Outcome::Disallowed => {
            let reason = fetched.error.unwrap_or_else(|| "robots.txt disallows it".into());
            return (Disposition::Settled { state: FrontierState::Disallowed, reason }, None);
        }
        Outcome::RobotsUnavailable => {
            let host_prefix = format!("{}/", caiji_fetch::host_key(&url));
            let reason = fetched.error.unwrap_or_else(|| "robots.txt unavailable".into());
            return (Disposition::Deferred { host_prefix, reason }, None);
        }
        _ => {}
    }
    counts.fetched += 1;
    // Never closed: acquiring cannot fail, but a failure would only lift the bound.
    let unstored = ctx.unstored.clone().acquire_owned().await.ok();
    // Unchanged: a 304, or the very bytes the archive holds. Nothing to analyze or extract.
    let confirms = previous.as_ref().filter(|p| match fetched.outcome {
        Outcome::NotModified => true,
        Outcome::Ok => {
            fetched.body.as_deref().is_some_and(|b| p.body_sha256.as_deref() == Some(&caiji_archive::sha256(b)[..]))
        }
        _ => false,
    });
    let (fetched, analysis) = if confirms.is_some() {
        (fetched, Analysis::default())
    } else {
        let extractor = if item.kind == UrlKind::Article { ctx.registry.get(&site.file.extractor) } else { None };
        analyze_off_thread(ctx, item.kind, extractor, fetched).await
    };
    let mut disposition = dispose(site, item, ctx.run_id, fetched, analysis);
    if let Disposition::Captured { capture, state, visit, extraction, .. } = &mut disposition
        && (capture.outcome == CaptureOutcome::Ok || capture.outcome == CaptureOutcome::NotModified)
    {
        capture.revisit_of = confirms.map(|p| p.capture_id);
        if capture.outcome == CaptureOutcome::NotModified {
            *state = FrontierState::Done;
        }
        // Changed: new content. A new body whose text is the one already extracted is not a
        // change of the document (a rotating banner, a timestamp in the footer).
        let changed = match (&previous, confirms) {
            (None, _) => true,
            (Some(_), Some(_)) => false,
            (Some(p), None) => match (p.text_sha256.as_deref(), extraction.as_ref()) {
                (Some(old), Some(new)) => old != &new.content.sha256()[..],
                _ => true,
            },
        };
        let next_interval = match (&site.revisit, item.kind) {
            (Some(policy), UrlKind::Article) => Some(
                policy.next_interval(item.revisit_interval_secs.map(|s| Duration::from_secs(s.max(0) as u64)), changed),
            ),
            _ => None,
        };
        *visit = Some(Visit { at: ctx.now, changed, next_interval });
    }
    (disposition, unstored)
}

/// How a URL was found, which decides what it becomes in the frontier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hint {
    /// A link (`<a href>`), a sitemap `<url>`, a feed entry: the site's rules decide.
    Link,
    /// Where a page refreshes to: a list page unless the rules say article.
    Refresh,
    /// A child of a sitemap index: read as a sitemap.
    Sitemap,
    /// A feed a page announces (`<link rel="alternate" type="application/rss+xml">`).
    Feed,
}

/// A URL the analyze stage found.
#[derive(Debug, Clone)]
pub struct Found {
    pub url: Url,
    pub hint: Hint,
    /// The page's last modification, as a sitemap or feed states it.
    pub lastmod: Option<chrono::DateTime<chrono::Utc>>,
}

impl Found {
    fn link(url: Url) -> Self {
        Self { url, hint: Hint::Link, lastmod: None }
    }
}

/// What the analyze stage learnt from a response.
#[derive(Debug, Default)]
pub struct Analysis {
    pub decoded: Option<caiji_extract::CharsetDecision>,
    /// The article's record (articles with an HTML body).
    pub record: Option<caiji_extract::Record>,
    /// URLs found, before the site's scope and rules.
    pub found: Vec<Found>,
    /// Why nothing was extracted or discovered, when that is worth recording.
    pub note: Option<String>,
}

/// Stage 2, pure: decode the body, then extract the article or discover URLs (links, refresh
/// targets, announced feeds; sitemap and feed entries). Never panics on any input it is given
/// (see `tests/crawl/unattended.rs`'s property tests); deep pages are flattened by the decoder
/// ([`caiji_extract::nesting`]).
pub fn analyze(kind: UrlKind, extractor: Option<&dyn Extractor>, fetched: &Fetched) -> Analysis {
    let mut out = Analysis::default();
    let Some(body) = fetched.body.as_deref() else { return out };
    if fetched.outcome != Outcome::Ok {
        return out;
    }
    let content_type = fetched.header("content-type");
    let base = fetched.final_url.clone().unwrap_or_else(|| fetched.url.clone());
    // The header counts whatever the body is (often empty).
    if let Some(target) = fetched.header("refresh").and_then(|r| canon::refresh_target(r, &base)) {
        out.found.push(Found { url: target, hint: Hint::Refresh, lastmod: None });
    }
    match kind {
        UrlKind::Sitemap => {
            match crate::sitemap::parse(body) {
                Ok(parsed) => {
                    let (entries, hint) = match parsed.sitemap {
                        crate::sitemap::Sitemap::UrlSet(u) => (u, Hint::Link),
                        crate::sitemap::Sitemap::Index(u) => (u, Hint::Sitemap),
                    };
                    out.found.extend(entries.into_iter().filter_map(|e| {
                        Some(Found {
                            url: canon::canonicalize(&e.loc)?,
                            hint,
                            lastmod: e.lastmod.as_deref().and_then(parse_w3c_datetime),
                        })
                    }));
                    out.note = parsed.warning;
                }
                Err(e) => out.note = Some(format!("not read as a sitemap: {e}")),
            }
            return out;
        }
        UrlKind::Feed => {
            match feed_rs::parser::parse(body) {
                Ok(feed) => {
                    for entry in feed.entries {
                        // The entry's page: its alternate link (Atom), else its only link (RSS).
                        let link = entry
                            .links
                            .iter()
                            .find(|l| l.rel.as_deref().is_none_or(|r| r == "alternate"))
                            .and_then(|l| base.join(l.href.trim()).ok())
                            .and_then(|u| canon::canonicalize(&u));
                        if let Some(url) = link {
                            out.found.push(Found { url, hint: Hint::Link, lastmod: entry.updated.or(entry.published) });
                        }
                    }
                }
                Err(e) => out.note = Some(format!("not read as a feed: {e}")),
            }
            return out;
        }
        _ => {}
    }
    let not_html = caiji_extract::registry::not_html_reason(body, content_type);
    if not_html.is_some() {
        out.note = not_html.map(|r| format!("not extracted: {r}"));
        return out;
    }
    let decoded = caiji_extract::decode(body, content_type);
    match kind {
        UrlKind::Article => {
            out.found.extend(canon::meta_refresh_targets(&decoded.text, &base).into_iter().map(|url| Found {
                url,
                hint: Hint::Refresh,
                lastmod: None,
            }));
            if let Some(extractor) = extractor {
                out.record = Some(caiji_extract::extract_decoded(extractor, base.as_str(), &decoded));
            }
        }
        _ => {
            let enc = encoding_rs::Encoding::for_label(decoded.decision.encoding.as_bytes());
            let page = canon::discover(&decoded.text, &base, enc);
            out.found.extend(page.refresh.into_iter().map(|url| Found { url, hint: Hint::Refresh, lastmod: None }));
            out.found.extend(page.feeds.into_iter().map(|url| Found { url, hint: Hint::Feed, lastmod: None }));
            out.found.extend(page.links.into_iter().map(Found::link));
        }
    }
    out.decoded = Some(decoded.decision);
    out
}

/// A W3C Datetime (sitemaps' `<lastmod>`): `2026-11-30T08:00:00+08:00`, `2026-11-30`, `2026-11`,
/// `2026`; a date alone is midnight UTC.
fn parse_w3c_datetime(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let s = s.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&chrono::Utc));
    }
    // Minutes without seconds, as the W3C profile allows.
    if let Ok(t) = chrono::DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M%:z") {
        return Some(t.with_timezone(&chrono::Utc));
    }
    let padded = match s.len() {
        4 => format!("{s}-01-01"),
        7 => format!("{s}-01"),
        _ => s.get(..10)?.to_string(),
    };
    Some(chrono::NaiveDate::parse_from_str(&padded, "%Y-%m-%d").ok()?.and_hms_opt(0, 0, 0)?.and_utc())
}

/// How deep sitemap indexes may lead: a seed sitemap (depth 0) may be an index whose children
/// (depth 1) are read; an index among those (the protocol forbids it, sites do it) once more.
const MAX_SITEMAP_DEPTH: i16 = 2;

/// Runs [`analyze`] on a blocking-pool thread (at most one per core), giving up after the
/// configured time: the crawl's scheduler threads only ever wait on I/O.
async fn analyze_off_thread(
    ctx: &RunContext,
    kind: UrlKind,
    extractor: Option<&'static dyn Extractor>,
    fetched: Fetched,
) -> (Fetched, Analysis) {
    if fetched.outcome != Outcome::Ok || fetched.body.is_none() {
        return (fetched, Analysis::default());
    }
    let input = fetched.clone(); // the body is shared (`Bytes`), not copied
    let slots = ctx.analysis.clone();
    // The limit covers waiting for a free slot too: pages that parse for minutes on every core
    // must not hold up the other sites' pages.
    let work = async move {
        let permit = slots.acquire_owned().await.map_err(|e| e.to_string())?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit; // held until the work ends, even if nobody waits for it any more
            analyze(kind, extractor, &input)
        })
        .await
        .map_err(|e| e.to_string())
    };
    let analysis = match tokio::time::timeout(ctx.parse_timeout, work).await {
        Ok(Ok(a)) => a,
        Ok(Err(e)) => {
            tracing::error!(url = %fetched.url, error = %e, "page analysis failed: capture kept, not extracted");
            Analysis { note: Some(format!("analysis failed: {e}")), ..Default::default() }
        }
        Err(_) => {
            tracing::warn!(url = %fetched.url, secs = ctx.parse_timeout.as_secs_f64(), "page analysis timed out: capture kept, not extracted");
            Analysis {
                note: Some(format!(
                    "analysis gave up after {:.0} s (parsing, or waiting for a core busy with other pages): capture kept, not extracted",
                    ctx.parse_timeout.as_secs_f64()
                )),
                ..Default::default()
            }
        }
    };
    (fetched, analysis)
}

/// Stage 3: what the fetch and its analysis mean for the frontier.
fn dispose(site: &SiteConfig, item: &FrontierItem, run_id: i64, fetched: Fetched, analysis: Analysis) -> Disposition {
    let state = match fetched.outcome {
        Outcome::Ok | Outcome::NotModified => FrontierState::Done,
        Outcome::HttpStatus if fetched.status.is_some_and(|s| (400..500).contains(&s) && s != 429) => {
            FrontierState::Gone
        }
        Outcome::RedirectOffSite | Outcome::AddressRefused => FrontierState::Refused,
        _ => FrontierState::Failed,
    };
    let extraction = analysis.record.map(|r| Box::new(to_new_extraction(r, site.extractor_config_hash(), run_id)));
    let content_type = fetched.header("content-type").map(str::to_string);
    let capture = to_new_capture(&fetched, site, &item.canonical_url, run_id, content_type, analysis.decoded.as_ref());
    let mut discovered: Vec<NewUrl> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    // Refresh targets first: a moved page's target is a list page even if a link says otherwise.
    let mut found = analysis.found;
    found.sort_by_key(|f| f.hint != Hint::Refresh);
    for f in found {
        if !site.owns_url(&f.url) || !seen.insert(f.url.to_string()) {
            continue;
        }
        let kind = match f.hint {
            Hint::Sitemap if item.depth < MAX_SITEMAP_DEPTH => UrlKind::Sitemap,
            Hint::Sitemap => continue,
            Hint::Feed => UrlKind::Feed,
            _ if site.is_article(f.url.as_str()) => UrlKind::Article,
            Hint::Refresh => UrlKind::List,
            Hint::Link if site.is_followed(f.url.as_str()) => UrlKind::List,
            Hint::Link => continue,
        };
        discovered.push(NewUrl {
            canonical_url: f.url.to_string(),
            url: f.url.to_string(),
            kind,
            discovered_from: Some(item.canonical_url.clone()),
            depth: item.depth.saturating_add(1),
            lastmod: f.lastmod,
        });
    }
    Disposition::Captured { capture, extraction, state, discovered, note: analysis.note, visit: None }
}

/// Stage 4: the capture goes into the run's next batch (group commit), fenced by the run's claim.
async fn store(
    ctx: &RunContext,
    site: &SiteConfig,
    item: &FrontierItem,
    disposition: Disposition,
    counts: &mut SiteCounts,
    epoch: chrono::DateTime<chrono::Utc>,
) -> Result<(), ArchiveError> {
    match disposition {
        Disposition::Settled { state, reason } => {
            tracing::info!(url = %item.url, state = state.as_str(), reason = %reason, "not fetched");
            ctx.archive.settle(ctx.run_id, &item.canonical_url, state, Some(&reason)).await?;
            match state {
                FrontierState::Disallowed => counts.disallowed += 1,
                _ => counts.failed += 1,
            }
        }
        Disposition::Deferred { host_prefix, reason } => {
            tracing::warn!(url = %item.url, host = %host_prefix, reason = %reason, "host deferred: URL stays pending");
            ctx.archive.release(ctx.run_id, &item.canonical_url, &reason).await?;
            counts.deferred += 1;
        }
        Disposition::Captured { capture, extraction, state, discovered, note, visit } => {
            if !discovered.is_empty() {
                counts.discovered += ctx.archive.enqueue(ctx.run_id, site.name(), &discovered, epoch).await?;
            }
            // No lock check here: the claim fence inside `store_capture` refuses the write if
            // another run took the URL, and the caller then checks the lock (one round trip
            // saved per page).
            if item.revisit {
                match &visit {
                    Some(v) if v.changed => counts.changed += 1,
                    Some(_) => counts.unchanged += 1,
                    None => {}
                }
            }
            let settle = Settle {
                run_id: ctx.run_id,
                state,
                error: capture.error.clone().or(note.clone()),
                visit: visit.clone(),
            };
            let (status, outcome, revisit_of) = (capture.status, capture.outcome, capture.revisit_of);
            let (bytes, ms, error) =
                (capture.body.as_ref().map(|b| b.len()), capture.duration_ms, capture.error.clone());
            let extracted = extraction.is_some();
            // Written with the other pages stored meanwhile (group commit), fenced per URL.
            ctx.writer.store(CaptureWrite { capture, extraction, settle }).await?;
            tracing::info!(
                url = %item.url,
                status,
                outcome = outcome.as_str(),
                bytes,
                ms,
                state = state.as_str(),
                revisit_of,
                changed = visit.as_ref().map(|v| v.changed),
                error = error.as_deref(),
                "fetched"
            );
            match state {
                FrontierState::Done => counts.ok += 1,
                FrontierState::Gone => counts.gone += 1,
                FrontierState::Refused => counts.refused += 1,
                _ => counts.failed += 1,
            }
            if matches!(state, FrontierState::Refused | FrontierState::Failed) {
                ctx.failures.fetch_add(1, Ordering::Relaxed);
            }
            if item.kind == UrlKind::Article && outcome == CaptureOutcome::Ok && revisit_of.is_none() {
                counts.articles += 1;
                if extracted {
                    counts.extracted += 1;
                }
            }
        }
    }
    Ok(())
}

/// Archives the robots.txt fetches made so far, each under the site owning its host.
async fn store_robots_fetches(ctx: &RunContext, default_site: &str) -> Result<(), ArchiveError> {
    for f in ctx.fetcher.take_robots_fetches() {
        let site = ctx.all_sites.iter().find(|s| s.owns_url(&f.url)).map(|s| s.name()).unwrap_or(default_site);
        let canonical = canon::canonicalize(&f.url).map(|u| u.to_string()).unwrap_or_else(|| f.url.to_string());
        let capture = capture_of(&f, site, &canonical, ctx.run_id, f.header("content-type").map(str::to_string), None);
        // A 4xx is an answer (no rules); a 5xx or no answer is the site's outage.
        if f.status.is_none_or(|s| s >= 500)
            && let Ok(mut m) = ctx.robots_unreachable.lock()
        {
            *m.entry(site.to_string()).or_default() += 1;
        }
        ctx.archive.store_capture(&capture, None, None).await?;
    }
    Ok(())
}

fn to_new_capture(
    f: &Fetched,
    site: &SiteConfig,
    canonical_url: &str,
    run_id: i64,
    content_type: Option<String>,
    charset: Option<&caiji_extract::CharsetDecision>,
) -> Box<NewCapture> {
    Box::new(capture_of(f, site.name(), canonical_url, run_id, content_type, charset))
}

pub(crate) fn capture_of(
    f: &Fetched,
    site: &str,
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
        Outcome::RedirectOffSite => CaptureOutcome::RedirectOffSite,
        Outcome::AddressRefused => CaptureOutcome::AddressRefused,
        Outcome::UnsupportedEncoding => CaptureOutcome::UnsupportedEncoding,
        Outcome::NotModified => CaptureOutcome::NotModified,
        // Never captured: the crawl settles or defers these before storing (a robots.txt
        // fetch that fails is a network error of that fetch).
        Outcome::NetworkError | Outcome::Disallowed | Outcome::RobotsUnavailable => CaptureOutcome::NetworkError,
    };
    NewCapture {
        crawl_run_id: Some(run_id),
        site: site.to_string(),
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
        revisit_of: None,
    }
}

/// An extractor's record as an `extractions` row, written by run `run_id` with the
/// extractor's configuration hash `config_hash`.
pub fn to_new_extraction(record: caiji_extract::Record, config_hash: String, run_id: i64) -> NewExtraction {
    let published_ts = record.published_at.as_deref().and_then(parse_published);
    NewExtraction {
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
        flags: record.flags.iter().map(|f| f.as_str().to_string()).collect(),
    }
}

fn parse_published(s: &str) -> Option<chrono::NaiveDateTime> {
    use chrono::{NaiveDate, NaiveDateTime};
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M"))
        .ok()
        .or_else(|| NaiveDate::parse_from_str(s.get(..10)?, "%Y-%m-%d").ok()?.and_hms_opt(0, 0, 0))
}

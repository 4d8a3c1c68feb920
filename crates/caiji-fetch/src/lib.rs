//! caiji's polite HTTP fetcher. Knows nothing of SQL or of extraction.
//!
//! - one `governor` limiter per host (rate from config; robots.txt `Crawl-delay` honoured up
//!   to a cap), hosts independent of each other;
//! - robots.txt fetched once per host per [`Fetcher`] (one crawl run), cached and obeyed
//!   (RFC 9309: 4xx = everything allowed, 5xx or unreachable = everything disallowed);
//! - limits with recorded outcomes: connect and total timeouts, body size, redirects (chain
//!   recorded, loops stopped), retries with exponential backoff and jitter on timeouts, network
//!   errors and 5xx; 429/503 `Retry-After` pauses that host only;
//! - bodies returned exactly as received after transfer decoding (gzip, deflate, br);
//! - scope: a redirect to a host outside the caller's scope is recorded, not followed
//!   ([`Outcome::RedirectOffSite`]); every address connected to must be globally routable
//!   unless `allow_private_addresses` ([`address`], [`Outcome::AddressRefused`]);
//! - robots.txt outages (5xx, unreachable) defer the host ([`Outcome::RobotsUnavailable`]);
//!   they are not a refusal. Every robots.txt fetch is handed to the caller to archive
//!   ([`Fetcher::take_robots_fetches`]).

pub mod address;
pub mod content;
mod host;
pub mod robots;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::{Mutex, OnceCell};
use url::Url;

use host::HostState;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("cannot build the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    #[error("invalid configuration: {0}")]
    Config(String),
}

/// Fetcher settings (from `config/caiji.toml` `[fetch]`, per-site overrides on top).
#[derive(Debug, Clone)]
pub struct FetchConfig {
    pub user_agent: String,
    /// Minimum gap between two requests to one host.
    pub min_interval: Duration,
    /// Per-host overrides of `min_interval`.
    pub host_intervals: HashMap<String, Duration>,
    /// robots.txt `Crawl-delay` is obeyed up to this.
    pub crawl_delay_cap: Duration,
    /// What a turn is held on: each host, or each IP address (hosts sharing a server share
    /// its turns, as Heritrix's and Nutch's per-IP queues do).
    pub politeness: Politeness,
    /// A robots.txt kept by the fetcher's [`RobotsStore`] from an earlier crawl is obeyed
    /// without asking again while younger than this (RFC 9309 §2.4: no more than 24 hours).
    /// Zero (the default): asked again by every crawl, once (its workers share the answer).
    pub robots_fresh_for: Duration,
    pub connect_timeout: Duration,
    /// How long an idle connection is kept for the next request to its host. A host whose
    /// interval is longer is asked with `Connection: close` (RFC 9110 §7.6.1), so the
    /// connection is not kept for a request that cannot come in time: 1,000 hosts at 2 s hold
    /// no idle sockets and their read buffers (about 75 KB each, measured) between requests.
    /// Zero: every request on a connection of its own.
    pub keep_alive: Duration,
    /// From the start of the request until the last body byte.
    pub total_timeout: Duration,
    pub max_body_bytes: u64,
    pub max_redirects: usize,
    /// Extra attempts after the first, on timeouts, network errors, 5xx and 429.
    pub max_retries: u32,
    pub retry_base_delay: Duration,
    /// A `Retry-After` longer than this is not waited for: the fetch fails with the status.
    pub max_retry_after: Duration,
    /// Obey robots.txt (only tests of the fetcher itself turn this off).
    pub obey_robots: bool,
    /// Connect to loopback, private, link-local, ... addresses too (tests, intranet archives).
    /// Off by default: see [`address`].
    pub allow_private_addresses: bool,
}

impl Default for FetchConfig {
    fn default() -> Self {
        Self {
            user_agent: concat!("caiji/", env!("CARGO_PKG_VERSION"), " (+https://example.invalid/caiji)").into(),
            min_interval: Duration::from_secs(1),
            host_intervals: HashMap::new(),
            crawl_delay_cap: Duration::from_secs(30),
            robots_fresh_for: Duration::ZERO,
            politeness: Politeness::Host,
            connect_timeout: Duration::from_secs(10),
            keep_alive: Duration::from_secs(1),
            total_timeout: Duration::from_secs(30),
            max_body_bytes: 10 * 1024 * 1024,
            max_redirects: 10,
            max_retries: 3,
            retry_base_delay: Duration::from_millis(500),
            max_retry_after: Duration::from_secs(120),
            obey_robots: true,
            allow_private_addresses: false,
        }
    }
}

/// How a fetch ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    HttpStatus,
    TooLarge,
    Timeout,
    RedirectLoop,
    TooManyRedirects,
    NetworkError,
    /// robots.txt forbids the URL: nothing was requested.
    Disallowed,
    /// The host's robots.txt could not be read (5xx, timeout, network error): RFC 9309 §2.3.1.4
    /// says assume complete disallow *for now*. Nothing was requested; try again later.
    RobotsUnavailable,
    /// A redirect pointed outside the fetch's scope (the site's hosts): recorded, not followed.
    RedirectOffSite,
    /// The address to connect to is not globally routable (see [`address`]).
    AddressRefused,
    /// The body's `Content-Encoding` names a coding caiji cannot undo (or the bytes do not
    /// decode with it): the body is kept exactly as received, not treated as the page.
    UnsupportedEncoding,
    /// `304 Not Modified` to a conditional request (RFC 9110 §15.4.5): the representation the
    /// validators came from is still current; no body.
    NotModified,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::HttpStatus => "http_status",
            Self::TooLarge => "too_large",
            Self::Timeout => "timeout",
            Self::RedirectLoop => "redirect_loop",
            Self::TooManyRedirects => "too_many_redirects",
            Self::NetworkError => "network_error",
            Self::Disallowed => "disallowed",
            Self::RobotsUnavailable => "robots_unavailable",
            Self::RedirectOffSite => "redirect_off_site",
            Self::AddressRefused => "address_refused",
            Self::UnsupportedEncoding => "unsupported_encoding",
            Self::NotModified => "not_modified",
        }
    }

    /// Whether a request was sent at all (robots refusals and outages send none).
    pub fn requested(self) -> bool {
        !matches!(self, Self::Disallowed | Self::RobotsUnavailable)
    }
}

/// Validators of a representation caiji already holds, from its response headers, for a
/// conditional GET (RFC 9110 §13.1.1 `If-None-Match`, §13.1.3 `If-Modified-Since`). Both are sent
/// when both are known: a server that honours `If-None-Match` ignores the other (§13.2.2).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    /// The `ETag` value, as received (strong or `W/` weak: GET compares weakly, §13.1.2).
    pub etag: Option<String>,
    /// The `Last-Modified` value, as received (an HTTP-date).
    pub last_modified: Option<String>,
}

impl Validators {
    /// Whether there is anything to send.
    pub fn is_empty(&self) -> bool {
        self.etag.is_none() && self.last_modified.is_none()
    }
}

/// One redirect hop.
#[derive(Debug, Clone, Serialize)]
pub struct Hop {
    pub url: String,
    pub status: u16,
    pub location: Option<String>,
}

/// Everything known about one fetch (after retries).
#[derive(Debug, Clone)]
pub struct Fetched {
    pub url: Url,
    pub final_url: Option<Url>,
    pub redirect_chain: Vec<Hop>,
    pub status: Option<u16>,
    pub headers: Vec<(String, String)>,
    pub body: Option<Bytes>,
    pub outcome: Outcome,
    pub error: Option<String>,
    pub attempts: u32,
    pub fetched_at: DateTime<Utc>,
    pub duration: Duration,
}

impl Fetched {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Headers as a JSON object of name → list of values.
    pub fn headers_json(&self) -> serde_json::Value {
        let mut map = serde_json::Map::new();
        for (k, v) in &self.headers {
            let entry = map.entry(k.clone()).or_insert_with(|| serde_json::Value::Array(vec![]));
            if let serde_json::Value::Array(a) = entry {
                a.push(serde_json::Value::String(v.clone()));
            }
        }
        serde_json::Value::Object(map)
    }
}

/// A boxed future, for [`HostTurns`]' methods.
pub type TurnFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// Where the turns of a host are held when several workers (processes, machines) fetch from
/// it. Every request to a host, robots.txt and redirect hops included, takes the host's turn,
/// is sent, and gives the turn back once the response has begun: the host is then free again
/// `interval` later, for whichever worker. As a request reaches the server before its answer
/// leaves it, two requests to a host arrive at least the interval apart whatever delays a
/// worker suffers (a loaded machine, a slow network): politeness does not depend on anyone's
/// timing. caiji's crawl keeps the turns in PostgreSQL (`host_turns`); without them, the
/// fetcher's own per-host limiter is the only pacing (one process).
pub trait HostTurns: Send + Sync {
    /// Takes the turn of `host` (`scheme://host[:port]`) if it is free, holding it for at most
    /// `hold` (a worker that dies holding it frees the host when the hold runs out). Returns
    /// the turn's token when taken, else how long until the host may be free.
    fn take<'a>(&'a self, host: &'a str, hold: Duration) -> TurnFuture<'a, Result<u64, Duration>>;
    /// Gives back the turn `token` of `host`: free again `interval` from now.
    fn give_back<'a>(&'a self, host: &'a str, token: u64, interval: Duration) -> TurnFuture<'a, ()>;
    /// No request to `host` by anyone for `wait` from now (a `Retry-After`, a `Crawl-delay` just
    /// read).
    fn pause<'a>(&'a self, host: &'a str, wait: Duration) -> TurnFuture<'a, ()>;
}

/// The unit of politeness: one request at a time, an interval apart, per this key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Politeness {
    /// Per `scheme://host[:port]`.
    #[default]
    Host,
    /// Per IP address the host resolves to (its first address; the replay server's for routed
    /// hosts): many sites on one shared server get one server's share. Applies to the turns
    /// shared through [`HostTurns`] (caiji's crawl); a fetcher without them paces per host.
    Ip,
}

/// A robots.txt answer read earlier (by this worker or another one) and kept by the caller.
#[derive(Debug, Clone)]
pub struct StoredRobots {
    /// When it was fetched.
    pub fetched_at: chrono::DateTime<chrono::Utc>,
    /// The HTTP status of its final answer: 2xx (rules in `body`) or 4xx (no rules).
    pub status: u16,
    /// The body as received (the first 500 KiB at most).
    pub body: Vec<u8>,
    /// Fetched by the crawl this fetcher is part of (this run, or another worker of the same
    /// crawl): obeyed without asking again, whatever `robots_fresh_for` says.
    pub same_crawl: bool,
}

/// Where robots.txt answers fetched earlier are kept (caiji's crawl: the archive's captures,
/// shared by every worker of it). RFC 9309 §2.4: a copy fetched by the same crawl, or younger
/// than [`FetchConfig::robots_fresh_for`], is obeyed without a request; §2.3.1.4: while the file is unreachable
/// the newest copy is obeyed, whatever its age, instead of deferring the host.
pub trait RobotsStore: Send + Sync {
    /// The newest readable answer (2xx or 4xx) to `robots_url`, if any was kept.
    fn newest<'a>(&'a self, robots_url: &'a Url) -> TurnFuture<'a, Option<StoredRobots>>;
}

/// The longest RFC 9309 §2.4 lets a crawler obey a kept robots.txt without asking again.
pub const ROBOTS_FRESH_FOR: Duration = Duration::from_secs(24 * 3600);

/// A host's turn, held while a request is out.
pub(crate) struct Turn {
    host: String,
    token: u64,
}

/// The fetcher for one crawl run.
pub struct Fetcher {
    client: reqwest::Client,
    config: FetchConfig,
    /// Hosts served by a loopback replay server: host → its address (plain HTTP, `Host` header).
    routes: HashMap<String, SocketAddr>,
    hosts: Mutex<HashMap<String, Arc<OnceCell<Arc<HostState>>>>>,
    /// robots.txt fetches not yet taken by the caller (to be archived).
    robots_fetches: std::sync::Mutex<Vec<Fetched>>,
    /// Turns shared with other workers, when there are any.
    turns: Option<Arc<dyn HostTurns>>,
    /// `host_key` → what its turns are held on (`ip:ADDRESS` under [`Politeness::Ip`]).
    turn_keys: std::sync::Mutex<HashMap<String, String>>,
    /// Turn key → when a turn this fetcher gave back makes the key free again, by this
    /// process's clock (read after the give-back was acknowledged, so never before the
    /// shared record's time): the next take waits for it instead of asking early and failing.
    turns_free_at: std::sync::Mutex<HashMap<String, Instant>>,
    /// robots.txt answers kept from earlier fetches, when the caller keeps them.
    robots_store: Option<Arc<dyn RobotsStore>>,
}

impl Fetcher {
    pub fn new(config: FetchConfig) -> Result<Self, FetchError> {
        Self::with_routes(config, HashMap::new())
    }

    /// A fetcher that sends requests for the given hosts to loopback servers instead of the
    /// network (`caiji crawl --replay`); every other rule applies unchanged.
    pub fn with_routes(config: FetchConfig, routes: HashMap<String, SocketAddr>) -> Result<Self, FetchError> {
        if config.max_body_bytes == 0 {
            return Err(FetchError::Config("max_body_bytes must be positive".into()));
        }
        // TLS by rustls on *ring* (reqwest's default, aws-lc, takes a C toolchain and a minute of
        // every cold build). Installed for the process once; a provider installed before wins.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder();
        if !config.allow_private_addresses {
            builder = builder.dns_resolver(address::GlobalOnlyResolver);
        }
        let client = builder
            .user_agent(config.user_agent.clone())
            .redirect(reqwest::redirect::Policy::none()) // followed by hand, to record the chain
            .connect_timeout(config.connect_timeout)
            .pool_idle_timeout(config.keep_alive)
            .pool_max_idle_per_host(if config.keep_alive.is_zero() { 0 } else { usize::MAX })
            .timeout(config.total_timeout)
            .gzip(true)
            .deflate(true)
            .brotli(true)
            .build()?;
        Ok(Self {
            client,
            config,
            routes,
            hosts: Mutex::new(HashMap::new()),
            robots_fetches: Default::default(),
            turns: None,
            turn_keys: Default::default(),
            turns_free_at: Default::default(),
            robots_store: None,
        })
    }

    /// Books every request's turn with `turns` too (shared with other workers), on top of this
    /// fetcher's own per-host limiter.
    pub fn with_turns(mut self, turns: Arc<dyn HostTurns>) -> Self {
        self.turns = Some(turns);
        self
    }

    /// Reads robots.txt from `store` first: a copy younger than `robots_fresh_for` is obeyed
    /// without a request, and during an outage the newest copy is obeyed instead of deferring
    /// the host (RFC 9309 §2.4, §2.3.1.4).
    pub fn with_robots_store(mut self, store: Arc<dyn RobotsStore>) -> Self {
        self.robots_store = Some(store);
        self
    }

    pub(crate) fn robots_store(&self) -> Option<&dyn RobotsStore> {
        self.robots_store.as_deref()
    }

    /// Waits for, and takes, the turn of `url`'s host with the shared [`HostTurns`], if any;
    /// give it back with [`Self::give_back`] once the response has begun (or the request failed).
    pub(crate) async fn shared_turn(&self, url: &Url, interval: Duration) -> Option<Turn> {
        let turns = self.turns.as_ref()?;
        let host = self.turn_key(url).await;
        // Held at most this long: a worker that dies mid-request frees the host after it.
        let hold = self.config.total_timeout + self.config.connect_timeout;
        // A take before the time this fetcher's own give-back set would only be refused.
        let free_at = self.turns_free_at.lock().ok().and_then(|f| f.get(&host).copied());
        if let Some(t) = free_at.filter(|t| *t > Instant::now()) {
            tokio::time::sleep_until(t.into()).await;
        }
        loop {
            match turns.take(&host, hold).await {
                Ok(token) => return Some(Turn { host, token }),
                // While another worker's request is out the host's time is its hold, not when it
                // will be free: look again within an interval.
                Err(wait) => {
                    tokio::time::sleep(wait.clamp(Duration::from_millis(1), interval.max(Duration::from_millis(10))))
                        .await
                }
            }
        }
    }

    /// What the turns of `url`'s host are held on: its `scheme://host[:port]`, or under
    /// [`Politeness::Ip`] `ip:ADDRESS` (resolved once per host and run; a host that does not
    /// resolve keeps its own key, and its request fails as it would anyway).
    pub(crate) async fn turn_key(&self, url: &Url) -> String {
        let host = host_key(url);
        if self.config.politeness == Politeness::Host {
            return host;
        }
        if let Some(key) = self.turn_keys.lock().ok().and_then(|k| k.get(&host).cloned()) {
            return key;
        }
        let name = url.host_str().unwrap_or_default().to_string();
        let ip = match (self.routes.get(&name), url.host()) {
            (Some(addr), _) => Some(addr.ip()),
            (None, Some(url::Host::Ipv4(ip))) => Some(ip.into()),
            (None, Some(url::Host::Ipv6(ip))) => Some(ip.into()),
            _ => tokio::net::lookup_host((name.as_str(), url.port_or_known_default().unwrap_or(80)))
                .await
                .ok()
                .and_then(|mut addrs| addrs.next())
                .map(|a| a.ip()),
        };
        let key = ip.map(|ip| format!("ip:{ip}")).unwrap_or_else(|| host.clone());
        if let Ok(mut keys) = self.turn_keys.lock() {
            keys.insert(host, key.clone());
        }
        key
    }

    /// Gives a turn back: the host is free again `interval` from now.
    pub(crate) async fn give_back(&self, turn: Option<Turn>, interval: Duration) {
        if let (Some(turns), Some(turn)) = (&self.turns, turn) {
            turns.give_back(&turn.host, turn.token, interval).await;
            let free_at = Instant::now() + interval;
            if let Ok(mut f) = self.turns_free_at.lock() {
                // Bounded: times already passed say nothing. Swept as the map grows through a
                // power of two, not on every give-back once many hosts are live.
                if f.len() >= 4096 && f.len().is_power_of_two() {
                    let now = Instant::now();
                    f.retain(|_, t| *t > now);
                }
                f.insert(turn.host, free_at);
            }
        }
    }

    /// The robots.txt fetches made since the last call (each one a complete record, as for a
    /// page), for the caller to archive.
    pub fn take_robots_fetches(&self) -> Vec<Fetched> {
        match self.robots_fetches.lock() {
            Ok(mut v) => std::mem::take(&mut *v),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        }
    }

    pub(crate) fn record_robots_fetch(&self, f: Fetched) {
        match self.robots_fetches.lock() {
            Ok(mut v) => v.push(f),
            Err(poisoned) => poisoned.into_inner().push(f),
        }
    }

    /// Why a request to `url` must not be sent, when it is an IP literal that is not globally
    /// routable and private addresses are not allowed (names are checked by the resolver).
    /// Routed hosts (replay, tests) go to the loopback servers the caller started: allowed.
    pub fn address_refusal(&self, url: &Url) -> Option<String> {
        if self.config.allow_private_addresses || self.routes.contains_key(url.host_str().unwrap_or_default()) {
            return None;
        }
        let ip: std::net::IpAddr = match url.host()? {
            url::Host::Ipv4(v4) => v4.into(),
            url::Host::Ipv6(v6) => v6.into(),
            url::Host::Domain(_) => return None,
        };
        (!address::is_global(ip)).then(|| {
            format!("{ip} is not a globally routable address; set [fetch] allow_private_addresses = true to crawl it")
        })
    }

    pub fn config(&self) -> &FetchConfig {
        &self.config
    }

    /// Sitemaps named by a host's robots.txt (fetching it if needed).
    pub async fn robots_sitemaps(&self, url: &Url) -> Vec<String> {
        self.host(url).await.sitemaps()
    }

    /// The effective gap between requests to the host of `url` (rate and Crawl-delay).
    pub async fn effective_interval(&self, url: &Url) -> Duration {
        self.host(url).await.interval
    }

    /// The state of a host, loading its robots.txt on first use (once, even when several
    /// tasks ask at the same moment).
    async fn host(&self, url: &Url) -> Arc<HostState> {
        let cell = {
            let mut hosts = self.hosts.lock().await;
            hosts.entry(host_key(url)).or_default().clone()
        };
        cell.get_or_init(|| async { Arc::new(HostState::load(self, url).await) }).await.clone()
    }

    /// Fetches `url` politely: robots, rate limit, retries, redirects, limits; any host.
    pub async fn fetch(&self, url: &Url) -> Fetched {
        self.fetch_within(url, &|_: &Url| true).await
    }

    /// Fetches `url` politely, following redirects only to URLs for which `in_scope` holds
    /// (a site's own hosts); a redirect elsewhere ends the fetch as
    /// [`Outcome::RedirectOffSite`], its chain recorded.
    pub async fn fetch_within(&self, url: &Url, in_scope: &(dyn Fn(&Url) -> bool + Sync)) -> Fetched {
        self.fetch_conditional(url, in_scope, &Validators::default()).await
    }

    /// [`Self::fetch_within`], conditionally: `If-None-Match` / `If-Modified-Since` from
    /// `validators` (on every hop, as browsers keep them across redirects). A `304` answer is
    /// [`Outcome::NotModified`]; a `304` to a request without validators stays an HTTP status.
    pub async fn fetch_conditional(
        &self,
        url: &Url,
        in_scope: &(dyn Fn(&Url) -> bool + Sync),
        validators: &Validators,
    ) -> Fetched {
        let started = Instant::now();
        let fetched_at = Utc::now();
        let mut attempts = 0;
        loop {
            attempts += 1;
            let mut result = self.fetch_once(url, in_scope, validators).await;
            result.attempts = attempts;
            result.fetched_at = fetched_at;
            result.duration = started.elapsed();
            let retry_after = retry_after(&result);
            let retryable = match result.outcome {
                Outcome::Timeout | Outcome::NetworkError => true,
                Outcome::HttpStatus => result.status.is_some_and(|s| s >= 500 || s == 429),
                _ => false,
            };
            if !retryable || attempts > self.config.max_retries {
                return result;
            }
            match retry_after {
                Some(wait) if wait > self.config.max_retry_after => {
                    result.error = Some(format!(
                        "Retry-After {}s exceeds the {}s cap",
                        wait.as_secs(),
                        self.config.max_retry_after.as_secs()
                    ));
                    return result;
                }
                // fetch_once already paused the host; the next attempt's wait_turn honours it.
                Some(wait) => tracing::info!(url = %url, wait_s = wait.as_secs_f64(), "Retry-After: host paused"),
                None => {
                    let wait = backoff(self.config.retry_base_delay, attempts);
                    tracing::debug!(url = %url, attempt = attempts, wait_ms = wait.as_millis() as u64, outcome = result.outcome.as_str(), "retrying");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    async fn fetch_once(
        &self,
        url: &Url,
        in_scope: &(dyn Fn(&Url) -> bool + Sync),
        validators: &Validators,
    ) -> Fetched {
        // A validator that is no valid header value (bytes a server sent) is not sent: the
        // request goes unconditional rather than failing.
        let value = |v: &Option<String>| v.as_deref().and_then(|v| reqwest::header::HeaderValue::from_str(v).ok());
        let (if_none_match, if_modified_since) = (value(&validators.etag), value(&validators.last_modified));
        let mut current = url.clone();
        let mut chain: Vec<Hop> = Vec::new();
        let mut out = Fetched {
            url: url.clone(),
            final_url: None,
            redirect_chain: Vec::new(),
            status: None,
            headers: Vec::new(),
            body: None,
            outcome: Outcome::NetworkError,
            error: None,
            attempts: 0,
            fetched_at: Utc::now(),
            duration: Duration::ZERO,
        };
        loop {
            if let Some(why) = self.address_refusal(&current) {
                out.outcome = Outcome::AddressRefused;
                out.error = Some(why);
                out.redirect_chain = chain;
                return out;
            }
            let host = self.host(&current).await;
            if let Some(why) = host.refused() {
                out.outcome = Outcome::AddressRefused;
                out.error = Some(why.to_string());
                out.redirect_chain = chain;
                return out;
            }
            if self.config.obey_robots
                && let Some(why) = host.robots_unavailable()
            {
                out.outcome = Outcome::RobotsUnavailable;
                out.error = Some(format!("host deferred: {why}"));
                out.redirect_chain = chain;
                return out;
            }
            if self.config.obey_robots && !host.allowed(&current) {
                out.outcome = Outcome::Disallowed;
                out.error = Some(format!("robots.txt disallows {current}"));
                out.redirect_chain = chain;
                return out;
            }
            // Shared turns cover this process's requests too: one rule, not two.
            let turn = if self.turns.is_some() {
                host.wait_pause().await;
                self.shared_turn(&current, host.interval).await
            } else {
                host.wait_turn().await;
                None
            };
            let request = match self.request(&current, host.interval) {
                Ok(mut r) => {
                    if let Some(etag) = &if_none_match {
                        r = r.header(reqwest::header::IF_NONE_MATCH, etag.clone());
                    }
                    if let Some(date) = &if_modified_since {
                        r = r.header(reqwest::header::IF_MODIFIED_SINCE, date.clone());
                    }
                    r
                }
                Err(msg) => {
                    self.give_back(turn, host.interval).await;
                    out.error = Some(msg);
                    out.redirect_chain = chain;
                    return out;
                }
            };
            let sent = request.send().await;
            // The server has the request (or never will): the host is free an interval from now.
            self.give_back(turn, host.interval).await;
            let response = match sent {
                Ok(r) => r,
                Err(e) => {
                    if let Some(why) = address::find_refusal(&e) {
                        out.outcome = Outcome::AddressRefused;
                        out.error = Some(why);
                    } else {
                        out.outcome = if e.is_timeout() { Outcome::Timeout } else { Outcome::NetworkError };
                        out.error = Some(error_chain(&e));
                    }
                    out.final_url = Some(current);
                    out.redirect_chain = chain;
                    return out;
                }
            };
            let status = response.status().as_u16();
            out.status = Some(status);
            out.headers = response
                .headers()
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
                .collect();
            out.final_url = Some(current.clone());
            if response.status().is_redirection()
                && let Some(location) = response.headers().get(reqwest::header::LOCATION)
            {
                let location = String::from_utf8_lossy(location.as_bytes()).into_owned();
                chain.push(Hop { url: current.to_string(), status, location: Some(location.clone()) });
                let next = match current.join(&location) {
                    Ok(n) => n,
                    Err(e) => {
                        out.outcome = Outcome::NetworkError;
                        out.error = Some(format!("bad Location {location:?}: {e}"));
                        out.redirect_chain = chain;
                        return out;
                    }
                };
                if next == *url || chain.iter().any(|h| h.url == next.as_str()) {
                    out.outcome = Outcome::RedirectLoop;
                    out.error = Some(format!("redirect loop back to {next} after {} hops", chain.len()));
                    out.redirect_chain = chain;
                    return out;
                }
                let next_host = next.host_str().unwrap_or_default();
                if !in_scope(&next) {
                    out.outcome = Outcome::RedirectOffSite;
                    out.error = Some(format!("redirect to a host not in the site's hosts: {next_host} ({next})"));
                    out.redirect_chain = chain;
                    return out;
                }
                if chain.len() >= self.config.max_redirects {
                    out.outcome = Outcome::TooManyRedirects;
                    out.error = Some(format!("more than {} redirects", self.config.max_redirects));
                    out.redirect_chain = chain;
                    return out;
                }
                current = next;
                continue;
            }
            out.redirect_chain = chain;
            if status == 304 && (if_none_match.is_some() || if_modified_since.is_some()) {
                out.outcome = Outcome::NotModified;
                return out;
            }
            let retry_after_header = out.header("retry-after").map(str::to_string);
            if matches!(status, 429 | 503)
                && let Some(ra) = retry_after_header.as_deref().and_then(parse_retry_after)
            {
                // Pause the host now, before the caller's retry, so no other task of this
                // host sneaks a request in.
                host.pause_for(ra.min(self.config.max_retry_after)).await;
                if let Some(turns) = &self.turns {
                    turns.pause(&self.turn_key(&current).await, ra.min(self.config.max_retry_after)).await;
                }
            }
            match self.read_body(response).await {
                Ok(body) => match content::decode(&out.headers, body, self.config.max_body_bytes) {
                    Ok(body) => {
                        out.body = Some(body);
                        out.outcome = if (200..300).contains(&status) { Outcome::Ok } else { Outcome::HttpStatus };
                    }
                    Err((outcome, msg, raw)) => {
                        out.body = raw;
                        out.outcome = outcome;
                        out.error = Some(msg);
                    }
                },
                Err((outcome, msg)) => {
                    out.outcome = outcome;
                    out.error = Some(msg);
                }
            }
            return out;
        }
    }

    /// The request for `url`, to a host whose requests are `interval` apart: to the network, or
    /// to the replay server routing its host. In replay mode a host without a route is refused,
    /// so a replay never reaches the network.
    fn request(&self, url: &Url, interval: Duration) -> Result<reqwest::RequestBuilder, String> {
        let request = self.request_to(url)?;
        // The host's next request cannot come before the connection would be dropped as idle:
        // the server closes it after this response instead of both sides keeping it.
        Ok(if interval > self.config.keep_alive {
            request.header(reqwest::header::CONNECTION, "close")
        } else {
            request
        })
    }

    fn request_to(&self, url: &Url) -> Result<reqwest::RequestBuilder, String> {
        let host = url.host_str().unwrap_or_default();
        if self.routes.is_empty() {
            return Ok(self.client.get(url.clone()));
        }
        let Some(addr) = self.routes.get(host) else {
            return Err(format!("replay mode: no recorded site serves host {host:?}"));
        };
        let mut target = format!("http://{addr}{}", url.path());
        if let Some(q) = url.query() {
            target.push('?');
            target.push_str(q);
        }
        let host_header = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        };
        Ok(self
            .client
            .get(target)
            .header(reqwest::header::HOST, host_header)
            .header("x-caiji-replay-scheme", url.scheme()))
    }

    /// The first `max` bytes of a body (the rest is not read): robots.txt, where RFC 9309 §2.5
    /// asks crawlers to parse at least 500 KiB and a longer file is cut, not refused.
    pub(crate) async fn read_body_prefix(
        &self,
        mut response: reqwest::Response,
        max: usize,
    ) -> Result<(Bytes, bool), (Outcome, String)> {
        let mut body = BytesMut::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    let room = max - body.len();
                    if chunk.len() >= room {
                        body.extend_from_slice(&chunk[..room]);
                        return Ok((body.freeze(), true));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => return Ok((body.freeze(), false)),
                Err(e) if e.is_timeout() => return Err((Outcome::Timeout, error_chain(&e))),
                Err(e) => return Err((Outcome::NetworkError, error_chain(&e))),
            }
        }
    }

    pub(crate) async fn read_body(&self, mut response: reqwest::Response) -> Result<Bytes, (Outcome, String)> {
        let limit = self.config.max_body_bytes;
        if let Some(len) = response.content_length()
            && len > limit
        {
            return Err((Outcome::TooLarge, format!("Content-Length {len} exceeds the {limit}-byte limit")));
        }
        let mut body = BytesMut::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() as u64 + chunk.len() as u64 > limit {
                        return Err((Outcome::TooLarge, format!("body exceeds the {limit}-byte limit")));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => return Ok(body.freeze()),
                Err(e) if e.is_timeout() => {
                    return Err((
                        Outcome::Timeout,
                        format!("body not complete after {:?}: {}", self.config.total_timeout, error_chain(&e)),
                    ));
                }
                Err(e) => return Err((Outcome::NetworkError, error_chain(&e))),
            }
        }
    }
}

/// `scheme://host[:port]`: the unit of politeness and of robots.txt.
pub fn host_key(url: &Url) -> String {
    format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default())
        + &url.port().map(|p| format!(":{p}")).unwrap_or_default()
}

fn retry_after(f: &Fetched) -> Option<Duration> {
    if !matches!(f.status, Some(429 | 503)) {
        return None;
    }
    f.header("retry-after").and_then(parse_retry_after)
}

/// `Retry-After: <delay-seconds>` or `Retry-After: <HTTP-date>` (RFC 9110 §10.2.3), the date in
/// any of the three forms a recipient MUST accept (§5.6.7: IMF-fixdate, RFC 850, asctime;
/// parsed by `httpdate`). A date in the past means now.
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(when.duration_since(std::time::SystemTime::now()).unwrap_or(Duration::ZERO))
}

/// Exponential backoff with full jitter in the upper half: base·2^(n-1) · [0.5, 1).
fn backoff(base: Duration, attempt: u32) -> Duration {
    let exp = base.saturating_mul(1 << attempt.saturating_sub(1).min(10));
    let jitter: f64 = 0.5 + rand::random::<f64>() * 0.5;
    exp.mul_f64(jitter)
}

pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after(" 120 "), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon"), None);
        // The same instant 100 s ahead in each of the three HTTP-date forms.
        let when = std::time::SystemTime::now() + Duration::from_secs(100);
        let imf = httpdate::fmt_http_date(when); // "Sun, 06 Nov 1994 08:49:37 GMT"
        let dt: DateTime<Utc> = when.into();
        let rfc850 = dt.format("%A, %d-%b-%y %H:%M:%S GMT").to_string();
        let asctime = dt.format("%a %b %e %H:%M:%S %Y").to_string();
        for form in [imf, rfc850, asctime] {
            let wait = parse_retry_after(&form).unwrap_or_else(|| panic!("{form:?} not accepted"));
            assert!(wait > Duration::from_secs(95) && wait <= Duration::from_secs(100), "{form:?}: {wait:?}");
        }
    }

    /// Turns kept in memory as the archive keeps them (free-at time and token per host),
    /// counting the takes granted and refused.
    #[derive(Default)]
    struct MemoryTurns {
        hosts: std::sync::Mutex<HashMap<String, (Instant, u64)>>,
        granted: std::sync::atomic::AtomicU32,
        refused: std::sync::atomic::AtomicU32,
    }

    impl HostTurns for MemoryTurns {
        fn take<'a>(&'a self, host: &'a str, hold: Duration) -> TurnFuture<'a, Result<u64, Duration>> {
            Box::pin(async move {
                let mut hosts = self.hosts.lock().unwrap();
                let now = Instant::now();
                let (free_at, token) = hosts.entry(host.to_string()).or_insert((now, 0));
                if *free_at <= now {
                    *free_at = now + hold;
                    *token += 1;
                    self.granted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    Ok(*token)
                } else {
                    self.refused.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    Err(*free_at - now)
                }
            })
        }
        fn give_back<'a>(&'a self, host: &'a str, token: u64, interval: Duration) -> TurnFuture<'a, ()> {
            Box::pin(async move {
                if let Some((free_at, t)) = self.hosts.lock().unwrap().get_mut(host)
                    && *t == token
                {
                    *free_at = Instant::now() + interval;
                }
            })
        }
        fn pause<'a>(&'a self, _host: &'a str, _wait: Duration) -> TurnFuture<'a, ()> {
            Box::pin(async {})
        }
    }

    /// A worker fetching one host's pages in a row asks for the turn when its own give-back
    /// made the host free, not before: every take is granted, none refused (a refused take is
    /// a wasted statement on the archive, about one per page before).
    #[tokio::test]
    async fn a_worker_asks_for_a_turn_when_its_give_back_made_it_free() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new().fallback(|| async { "ok" });
        tokio::spawn(async move { axum::serve(listener, app).await });
        let config = FetchConfig {
            min_interval: Duration::from_millis(100),
            obey_robots: false,
            allow_private_addresses: true,
            max_retries: 0,
            ..Default::default()
        };
        let turns = Arc::new(MemoryTurns::default());
        let fetcher = Fetcher::new(config).unwrap().with_turns(turns.clone());
        let started = Instant::now();
        for n in 0..4 {
            let fetched = fetcher.fetch(&Url::parse(&format!("http://{addr}/{n}")).unwrap()).await;
            assert_eq!(fetched.status, Some(200), "{:?}", fetched.error);
        }
        assert!(started.elapsed() >= Duration::from_millis(300), "{:?}", started.elapsed());
        assert_eq!(turns.granted.load(std::sync::atomic::Ordering::SeqCst), 4);
        assert_eq!(turns.refused.load(std::sync::atomic::Ordering::SeqCst), 0);
    }

    #[test]
    fn backoff_grows() {
        let b = Duration::from_millis(100);
        for _ in 0..20 {
            let one = backoff(b, 1);
            let three = backoff(b, 3);
            assert!(one >= Duration::from_millis(50) && one < Duration::from_millis(100));
            assert!(three >= Duration::from_millis(200) && three < Duration::from_millis(400));
        }
    }
}

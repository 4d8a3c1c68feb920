//! Per-host politeness: robots rules, a rate limiter, and a pause set by `Retry-After`.

use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::Mutex;
use url::Url;

use crate::robots::RobotsRules;
use crate::{Fetched, Fetcher, Hop, Outcome, StoredRobots, error_chain, host_key};

/// robots.txt bodies larger than this are cut, not refused (RFC 9309 §2.5: at least 500 KiB).
const ROBOTS_MAX_BYTES: usize = 500 * 1024;
const ROBOTS_MAX_REDIRECTS: usize = 5;

pub(crate) struct HostState {
    robots: RobotsRules,
    /// Gap between two requests: the configured interval, or Crawl-delay up to the cap.
    pub(crate) interval: Duration,
    limiter: DefaultDirectRateLimiter,
    paused_until: Mutex<Option<Instant>>,
}

impl HostState {
    pub(crate) async fn load(fetcher: &Fetcher, url: &Url) -> Self {
        let cfg = fetcher.config();
        let host = url.host_str().unwrap_or_default();
        let base = cfg.host_intervals.get(host).copied().unwrap_or(cfg.min_interval);
        let (robots, requested) = if cfg.obey_robots {
            read_robots(fetcher, url, base.max(Duration::from_millis(1))).await
        } else {
            (RobotsRules::AllowAll, false)
        };
        let crawl_delay = robots
            .crawl_delay()
            .filter(|d| d.is_finite() && *d > 0.0)
            // Any value a robots.txt may write, 1e30 included, ends at the cap (never a panic).
            .map(|d| Duration::try_from_secs_f32(d).unwrap_or(cfg.crawl_delay_cap).min(cfg.crawl_delay_cap));
        let interval = base.max(crawl_delay.unwrap_or(Duration::ZERO)).max(Duration::from_millis(1));
        tracing::debug!(host = %host_key(url), interval_ms = interval.as_millis() as u64, ?crawl_delay, "host ready");
        let quota = Quota::with_period(interval)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::MIN);
        let limiter = RateLimiter::direct(quota);
        if requested {
            // The robots.txt request was this host's first: the next one waits a full interval
            // (its Crawl-delay now known), here and for every worker sharing the host's turns.
            let _ = limiter.check();
            if let Some(turns) = &fetcher.turns {
                turns.pause(&fetcher.turn_key(url).await, interval).await;
            }
        }
        Self { robots, interval, limiter, paused_until: Mutex::new(None) }
    }

    /// Why the host's robots.txt could not be read, when it could not (an outage: retry later).
    pub(crate) fn robots_unavailable(&self) -> Option<&str> {
        match &self.robots {
            RobotsRules::Unavailable(why) => Some(why),
            _ => None,
        }
    }

    /// Why the host may not be connected to, when it may not.
    pub(crate) fn refused(&self) -> Option<&str> {
        match &self.robots {
            RobotsRules::Refused(why) => Some(why),
            _ => None,
        }
    }

    pub(crate) fn allowed(&self, url: &Url) -> bool {
        self.robots.allowed(url.as_str())
    }

    pub(crate) fn sitemaps(&self) -> Vec<String> {
        self.robots.sitemaps()
    }

    /// Waits out a `Retry-After` pause, then the rate limiter.
    pub(crate) async fn wait_turn(&self) {
        self.wait_pause().await;
        self.limiter.until_ready().await;
    }

    /// Waits out a `Retry-After` pause.
    pub(crate) async fn wait_pause(&self) {
        loop {
            let until = *self.paused_until.lock().await;
            match until {
                Some(t) if t > Instant::now() => tokio::time::sleep_until(t.into()).await,
                _ => break,
            }
        }
    }

    pub(crate) async fn pause_for(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut p = self.paused_until.lock().await;
        if p.is_none_or(|t| t < until) {
            *p = Some(until);
        }
    }
}

/// The rules of a host's robots.txt, and whether a request was sent for them. A copy the
/// fetcher's [`crate::RobotsStore`] kept is obeyed without a request while younger than
/// `robots_fresh_for` (RFC 9309 §2.4); otherwise the file is fetched, and when it is
/// unreachable the newest kept copy, of any age, is obeyed rather than deferring the host
/// (§2.3.1.4 allows a crawler to keep using a cached copy).
async fn read_robots(fetcher: &Fetcher, url: &Url, interval: Duration) -> (RobotsRules, bool) {
    let mut robots_url = url.clone();
    robots_url.set_path("/robots.txt");
    robots_url.set_query(None);
    robots_url.set_fragment(None);
    let stored = match fetcher.robots_store() {
        Some(store) if fetcher.address_refusal(&robots_url).is_none() => store.newest(&robots_url).await,
        _ => None,
    };
    let age = |s: &StoredRobots| (chrono::Utc::now() - s.fetched_at).to_std().unwrap_or(Duration::ZERO);
    if let Some(s) = &stored
        && (s.same_crawl || age(s) < fetcher.config().robots_fresh_for.min(crate::ROBOTS_FRESH_FOR))
    {
        tracing::debug!(url = %robots_url, age_s = age(s).as_secs(), status = s.status, "robots.txt: the archived copy");
        return (stored_rules(fetcher, s), false);
    }
    let rules = fetch_robots(fetcher, robots_url, interval).await;
    match (rules, stored) {
        (RobotsRules::Unavailable(why), Some(s)) => {
            tracing::warn!(
                url = %url, error = %why, fetched_at = %s.fetched_at, status = s.status,
                "robots.txt unreachable: obeying the newest archived copy (RFC 9309 §2.3.1.4)"
            );
            (stored_rules(fetcher, &s), true)
        }
        (rules, _) => (rules, true),
    }
}

/// The rules of a kept answer: a 2xx body's rules, none for a 4xx.
fn stored_rules(fetcher: &Fetcher, s: &StoredRobots) -> RobotsRules {
    if (200..300).contains(&s.status) {
        RobotsRules::parse(&fetcher.config().user_agent, &s.body[..s.body.len().min(ROBOTS_MAX_BYTES)])
    } else {
        RobotsRules::AllowAll
    }
}

/// Fetches and parses a host's robots.txt (RFC 9309): redirects followed up to five hops,
/// 4xx = no rules, 5xx or unreachable = unavailable (the host is deferred, not refused). The
/// fetch itself is recorded like a page's, for the archive.
async fn fetch_robots(fetcher: &Fetcher, mut robots_url: Url, interval: Duration) -> RobotsRules {
    let started = std::time::Instant::now();
    let mut record = Fetched {
        url: robots_url.clone(),
        final_url: None,
        redirect_chain: Vec::new(),
        status: None,
        headers: Vec::new(),
        body: None,
        outcome: Outcome::NetworkError,
        error: None,
        attempts: 1,
        fetched_at: chrono::Utc::now(),
        duration: Duration::ZERO,
    };
    let rules = robots_exchange(fetcher, &mut robots_url, &mut record, interval).await;
    record.duration = started.elapsed();
    if record.status.is_some() || !matches!(rules, RobotsRules::Refused(_)) {
        fetcher.record_robots_fetch(record);
    }
    rules
}

async fn robots_exchange(
    fetcher: &Fetcher,
    robots_url: &mut Url,
    record: &mut Fetched,
    interval: Duration,
) -> RobotsRules {
    for _ in 0..=ROBOTS_MAX_REDIRECTS {
        if let Some(why) = fetcher.address_refusal(robots_url) {
            record.outcome = Outcome::AddressRefused;
            record.error = Some(why.clone());
            return RobotsRules::Refused(why);
        }
        record.final_url = Some(robots_url.clone());
        let request = match fetcher.request(robots_url, interval) {
            Ok(r) => r,
            Err(msg) => {
                // Replay mode and a host no recorded site serves: never reachable in this run.
                record.outcome = Outcome::AddressRefused;
                record.error = Some(msg.clone());
                return RobotsRules::Refused(msg);
            }
        };
        // A request like any other: it takes the host's turn, shared with other workers.
        let turn = fetcher.shared_turn(robots_url, interval).await;
        let sent = request.send().await;
        fetcher.give_back(turn, interval).await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => {
                if let Some(why) = crate::address::find_refusal(&e) {
                    record.outcome = Outcome::AddressRefused;
                    record.error = Some(why.clone());
                    return RobotsRules::Refused(why);
                }
                record.outcome = if e.is_timeout() { Outcome::Timeout } else { Outcome::NetworkError };
                let msg = format!("robots.txt unreachable: {}", error_chain(&e));
                record.error = Some(msg.clone());
                tracing::warn!(url = %robots_url, error = %msg, "robots.txt unavailable: host deferred");
                return RobotsRules::Unavailable(msg);
            }
        };
        let status = response.status();
        record.status = Some(status.as_u16());
        record.headers = response
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        if status.is_redirection() {
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .map(|l| String::from_utf8_lossy(l.as_bytes()).into_owned());
            record.redirect_chain.push(Hop {
                url: robots_url.to_string(),
                status: status.as_u16(),
                location: location.clone(),
            });
            match location.and_then(|l| robots_url.join(&l).ok()) {
                Some(n) => {
                    *robots_url = n;
                    continue;
                }
                None => {
                    record.outcome = Outcome::HttpStatus;
                    return RobotsRules::AllowAll;
                }
            }
        }
        let body = fetcher.read_body_prefix(response, ROBOTS_MAX_BYTES).await;
        let body = match body {
            Ok((b, truncated)) => {
                if truncated {
                    record.error = Some(format!(
                        "robots.txt longer than {ROBOTS_MAX_BYTES} bytes: the first {ROBOTS_MAX_BYTES} were read and obeyed (RFC 9309 §2.5)"
                    ));
                }
                b
            }
            Err((outcome, msg)) => {
                record.outcome = outcome;
                record.error = Some(msg.clone());
                if status.is_success() {
                    tracing::warn!(url = %robots_url, error = %msg, "robots.txt body unreadable: host deferred");
                    return RobotsRules::Unavailable(format!("robots.txt body: {msg}"));
                }
                return if status.is_client_error() { RobotsRules::AllowAll } else { RobotsRules::Unavailable(msg) };
            }
        };
        record.body = Some(body.clone());
        record.outcome = if status.is_success() { Outcome::Ok } else { Outcome::HttpStatus };
        if status.is_client_error() {
            return RobotsRules::AllowAll;
        }
        if !status.is_success() {
            let msg = format!("robots.txt answered {status}");
            record.error = Some(msg.clone());
            tracing::warn!(url = %robots_url, %status, "robots.txt unavailable: host deferred");
            return RobotsRules::Unavailable(msg);
        }
        return RobotsRules::parse(&fetcher.config().user_agent, &body);
    }
    record.error = Some(format!("more than {ROBOTS_MAX_REDIRECTS} redirects"));
    RobotsRules::AllowAll
}

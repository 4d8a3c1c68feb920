//! Per-host politeness: robots rules, a rate limiter, and a pause set by `Retry-After`.

use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::Mutex;
use url::Url;

use crate::robots::RobotsRules;
use crate::{Fetcher, host_key};

/// robots.txt bodies larger than this are cut (Google reads 500 KiB).
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
        let robots = if cfg.obey_robots { fetch_robots(fetcher, url).await } else { RobotsRules::AllowAll };
        let host = url.host_str().unwrap_or_default();
        let base = cfg.host_intervals.get(host).copied().unwrap_or(cfg.min_interval);
        let crawl_delay = robots
            .crawl_delay()
            .filter(|d| d.is_finite() && *d > 0.0)
            .map(|d| Duration::from_secs_f32(d).min(cfg.crawl_delay_cap));
        let interval = base.max(crawl_delay.unwrap_or(Duration::ZERO)).max(Duration::from_millis(1));
        tracing::debug!(host = %host_key(url), interval_ms = interval.as_millis() as u64, ?crawl_delay, "host ready");
        let quota = Quota::with_period(interval)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::MIN);
        let limiter = RateLimiter::direct(quota);
        if cfg.obey_robots {
            // The robots.txt request was this host's first: the next one waits a full interval.
            let _ = limiter.check();
        }
        Self { robots, interval, limiter, paused_until: Mutex::new(None) }
    }

    pub(crate) fn allowed(&self, url: &Url) -> bool {
        self.robots.allowed(url.as_str())
    }

    pub(crate) fn sitemaps(&self) -> Vec<String> {
        self.robots.sitemaps()
    }

    /// Waits out a `Retry-After` pause, then the rate limiter.
    pub(crate) async fn wait_turn(&self) {
        loop {
            let until = *self.paused_until.lock().await;
            match until {
                Some(t) if t > Instant::now() => tokio::time::sleep_until(t.into()).await,
                _ => break,
            }
        }
        self.limiter.until_ready().await;
    }

    pub(crate) async fn pause_for(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut p = self.paused_until.lock().await;
        if p.is_none_or(|t| t < until) {
            *p = Some(until);
        }
    }
}

async fn fetch_robots(fetcher: &Fetcher, url: &Url) -> RobotsRules {
    let mut robots_url = url.clone();
    robots_url.set_path("/robots.txt");
    robots_url.set_query(None);
    robots_url.set_fragment(None);
    for _ in 0..=ROBOTS_MAX_REDIRECTS {
        let request = match fetcher.request(&robots_url) {
            Ok(r) => r,
            Err(msg) => return RobotsRules::DisallowAll(msg),
        };
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(url = %robots_url, error = %e, "robots.txt unreachable: host disallowed for this run");
                return RobotsRules::DisallowAll(format!("robots.txt unreachable: {e}"));
            }
        };
        let status = response.status();
        if status.is_redirection() {
            let next = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .and_then(|l| robots_url.join(l).ok());
            match next {
                Some(n) => {
                    robots_url = n;
                    continue;
                }
                None => return RobotsRules::AllowAll,
            }
        }
        if status.is_client_error() {
            return RobotsRules::AllowAll;
        }
        if !status.is_success() {
            tracing::warn!(url = %robots_url, %status, "robots.txt server error: host disallowed for this run");
            return RobotsRules::DisallowAll(format!("robots.txt answered {status}"));
        }
        return match response.bytes().await {
            Ok(body) => RobotsRules::parse(&fetcher.config().user_agent, &body[..body.len().min(ROBOTS_MAX_BYTES)]),
            Err(e) => RobotsRules::DisallowAll(format!("robots.txt body: {e}")),
        };
    }
    RobotsRules::AllowAll
}

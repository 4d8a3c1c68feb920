//! The crawl frontier: every known URL with its state. Lives in Postgres so a killed crawl
//! resumes where it stopped, and articles already captured are never fetched again.

use crate::{Archive, ArchiveError, FrontierState, UrlKind};

/// A claim statement: `$with` (`WITH`, and any CTEs before `pick`, ending with a comma) and
/// `$hosts`, a FROM item `h(host)` naming the hosts to claim from; for each, its next `$6`
/// pending URLs in claim order (one probe of `frontier_pending_host_idx`) become `in_progress`
/// for run `$1`, leased for `$5` seconds. Rows another transaction has locked (another
/// worker's claim, an enqueue) are skipped, not waited for: two claims locking rows of one
/// host in different orders deadlocked, and one of the two workers stopped. Parameters: run,
/// site, hosts, host count, lease, per host ([`Archive::claim`] binds them).
macro_rules! claim_sql {
    ($with:literal, $hosts:literal) => {
        concat!(
            $with,
            " pick AS (
                SELECT n.canonical_url FROM ",
            $hosts,
            " CROSS JOIN LATERAL (
                    SELECT canonical_url FROM frontier
                    WHERE site = $2 AND state = 'pending' AND host = h.host
                    ORDER BY (kind = 'article'), revisit, seq LIMIT $6
                    FOR UPDATE SKIP LOCKED) n
             )
             UPDATE frontier f SET state = 'in_progress', attempts = f.attempts + 1, last_run_id = $1,
                    updated_at = now(), lease_until = now() + make_interval(secs => $5)
             FROM pick
             WHERE f.canonical_url = pick.canonical_url AND f.state = 'pending'
             RETURNING f.canonical_url, f.url, f.site, f.kind, f.attempts, f.depth, f.revisit, f.revisit_interval_secs,
                       f.host, f.seq"
        )
    };
}

#[derive(Debug, Clone)]
pub struct NewUrl {
    pub canonical_url: String,
    pub url: String,
    pub kind: UrlKind,
    pub discovered_from: Option<String>,
    /// Hops from a seed (0 for start URLs, site sitemaps and feeds).
    pub depth: i16,
    /// When a sitemap's `<lastmod>` or a feed entry says the page last changed.
    pub lastmod: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Debug, Clone)]
pub struct FrontierItem {
    pub canonical_url: String,
    pub url: String,
    pub site: String,
    pub kind: UrlKind,
    pub attempts: i32,
    /// Hops from a seed.
    pub depth: i16,
    /// Queued again by the revisit policy (it was captured before).
    pub revisit: bool,
    /// The interval its current schedule was computed with (`frontier.revisit_interval_secs`).
    pub revisit_interval_secs: Option<i64>,
    /// `scheme://host[:port]` (`frontier.host`): what politeness and claims are keyed on.
    pub host: String,
}

/// How long a claim holds its URL when its worker neither settles nor releases it (hung): after
/// that another worker may claim it. Longer than any fetch can take (timeouts, retries,
/// Retry-After, the host's queue); a worker that dies is noticed at once instead (its run's
/// liveness lock is gone).
pub const CLAIM_LEASE: std::time::Duration = std::time::Duration::from_secs(600);

/// What the archive holds of a URL's newest live capture, for a revisit: what to send in a
/// conditional GET, and what to compare a new body and text with.
#[derive(Debug, Clone)]
pub struct PreviousContent {
    /// The capture holding the content (a revisit's `revisit_of`, else the capture itself).
    pub capture_id: i64,
    pub body_sha256: Option<Vec<u8>>,
    /// Newest `ETag` and `Last-Modified` seen for this content (a 304 may bring a new ETag).
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// The text of its newest extraction.
    pub text_sha256: Option<Vec<u8>>,
}

crate::from_row!(PreviousContent { capture_id, body_sha256, etag, last_modified, text_sha256 });

impl Archive {
    /// Claims left by workers that are gone go back to `pending`: `in_progress` rows whose
    /// lease ran out, or whose run no longer holds its liveness lock (the process died). Safe
    /// at any time, with other workers running: a live worker's claims are left alone. Returns
    /// how many rows were released.
    pub async fn release_dead_claims(&self, sites: &[String]) -> Result<u64, ArchiveError> {
        let r = sqlx::query(
            "UPDATE frontier f SET state = 'pending', lease_until = NULL, updated_at = now()
             WHERE f.state = 'in_progress' AND f.site = ANY($1)
               AND (f.lease_until IS NULL OR f.lease_until < now() OR f.last_run_id IS NULL
                    OR NOT EXISTS (
                      SELECT 1 FROM pg_locks l
                      WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
                        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                        AND l.classid::bigint = $2 AND l.objid::bigint = f.last_run_id))",
        )
        .bind(sites)
        .bind(i64::from(crate::lease::LOCK_NAMESPACE_RUN))
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected())
    }

    /// How many URLs of `site` are not settled yet: claimed (`in_progress`) by any worker, or
    /// `pending` on a host other than `skip_hosts` (a claim passes over a host while another
    /// worker has a request out on it). The site is done for a worker when this is 0.
    pub async fn unsettled(&self, site: &str, skip_hosts: &[String]) -> Result<i64, ArchiveError> {
        Ok(sqlx::query_scalar(
            "SELECT count(*) FROM frontier
             WHERE site = $1 AND (state = 'in_progress' OR (state = 'pending' AND host <> ALL($2)))",
        )
        .bind(site)
        .bind(skip_hosts)
        .fetch_one(&self.pool)
        .await?)
    }

    /// Adds URLs; known ones are left alone, except that start, sitemap and list pages
    /// settled in an earlier run are queued again (they change between runs), and failed or
    /// disallowed articles get another chance in a new run (robots.txt changes too; a
    /// still-disallowed URL is checked against the rules again, never requested).
    ///
    /// "Earlier run" means settled before `epoch`, the start of the crawl this run is part of
    /// ([`Archive::crawl_epoch`]): a worker that joined another's crawl re-queues nothing that
    /// crawl already fetched.
    pub async fn enqueue(
        &self,
        run_id: i64,
        site: &str,
        urls: &[NewUrl],
        epoch: chrono::DateTime<chrono::Utc>,
    ) -> Result<u64, ArchiveError> {
        // One row per URL: a statement may not settle the same row twice (a sitemap that lists
        // a page twice, two links that canonicalise alike). The first occurrence wins.
        let mut seen = std::collections::HashSet::new();
        let mut urls: Vec<&NewUrl> = urls.iter().filter(|u| seen.insert(u.canonical_url.as_str())).collect();
        // Rows locked in key order (byte order, as the capture fence locks them): two workers
        // enqueueing the same links wait for each other instead of deadlocking.
        urls.sort_unstable_by(|a, b| a.canonical_url.cmp(&b.canonical_url));
        if urls.is_empty() {
            return Ok(0);
        }
        let canon: Vec<&str> = urls.iter().map(|u| u.canonical_url.as_str()).collect();
        let raw: Vec<&str> = urls.iter().map(|u| u.url.as_str()).collect();
        let kind: Vec<UrlKind> = urls.iter().map(|u| u.kind).collect();
        let from: Vec<Option<&str>> = urls.iter().map(|u| u.discovered_from.as_deref()).collect();
        let depth: Vec<i16> = urls.iter().map(|u| u.depth).collect();
        let lastmod: Vec<Option<chrono::DateTime<chrono::Utc>>> = urls.iter().map(|u| u.lastmod).collect();
        // A done article comes back (as a revisit) when a sitemap or feed says it changed after
        // caiji last saw it, and its site revisits pages (next_visit_at is set).
        let r = crate::retry_transient(|| {
            sqlx::query(
                "INSERT INTO frontier (canonical_url, site, url, kind, discovered_from, queued_run_id, depth, lastmod)
             SELECT c, $2, u, k, f, $1, d, m
             FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::smallint[], $8::timestamptz[])
                  AS t(c, u, k, f, d, m)
             ON CONFLICT (canonical_url) DO UPDATE
               SET state = 'pending', queued_run_id = $1, updated_at = now(),
                   revisit = frontier.kind = 'article' AND frontier.state = 'done',
                   lastmod = coalesce(excluded.lastmod, frontier.lastmod)
             WHERE frontier.updated_at < $9
               AND frontier.state NOT IN ('in_progress', 'pending')
               AND (frontier.kind IN ('start', 'list', 'sitemap', 'feed') OR frontier.state IN ('failed', 'disallowed')
                    OR (frontier.kind = 'article' AND frontier.state = 'done' AND frontier.next_visit_at IS NOT NULL
                        AND excluded.lastmod > greatest(coalesce(frontier.lastmod, '-infinity'),
                                                        coalesce(frontier.last_visit_at, '-infinity'))))",
            )
            .bind(run_id)
            .bind(site)
            .bind(&canon)
            .bind(&raw)
            .bind(&kind)
            .bind(&from)
            .bind(&depth)
            .bind(&lastmod)
            .bind(epoch)
            .execute(&self.pool)
        })
        .await?;
        Ok(r.rows_affected())
    }

    /// When the crawl of `site` that run `run_id` works on began: the start of the oldest live
    /// crawl run of the site (the worker that leads it, when `run_id` joined one), else of
    /// `run_id` itself.
    pub async fn crawl_epoch(&self, run_id: i64, site: &str) -> Result<chrono::DateTime<chrono::Utc>, ArchiveError> {
        Ok(sqlx::query_scalar(
            "SELECT least(
                 (SELECT started_at FROM crawl_runs WHERE id = $1),
                 (SELECT min(started_at) FROM crawl_runs
                  WHERE outcome = 'running' AND command = 'crawl' AND $2 = ANY(sites) AND id <> $1))",
        )
        .bind(run_id)
        .bind(site)
        .fetch_one(&self.pool)
        .await?)
    }

    /// Claims the next URLs of up to `hosts` hosts of `site` for run `run_id`, up to
    /// `per_host` each: the hosts whose first pending URL comes first (list pages before
    /// articles, new pages before revisits, then discovery order), none of `skip_hosts` and none
    /// another live worker holds claims on (so a host is crawled by one worker at a time and
    /// workers spread over hosts instead of taking turns on the same ones). Each host's URLs in that same order. Each claim is
    /// a lease ([`CLAIM_LEASE`]) fenced by the run: the row records `last_run_id`, and only
    /// that run can settle it ([`Archive::store_capture`], [`Archive::settle`]). Two workers
    /// claiming at once never get the same row (the update re-checks `pending` under its row
    /// lock). Reads every pending row of the site (one index scan): call it for new hosts,
    /// and [`Archive::claim_more`] for hosts already being crawled.
    pub async fn claim_batch(
        &self,
        run_id: i64,
        site: &str,
        hosts: usize,
        per_host: usize,
        skip_hosts: &[String],
    ) -> Result<Vec<FrontierItem>, ArchiveError> {
        if hosts == 0 || per_host == 0 {
            return Ok(Vec::new());
        }
        self.claim(
            claim_sql!(
                "WITH first_per_host AS (
                    SELECT DISTINCT ON (host) host, (kind = 'article') AS article, revisit, seq
                    FROM frontier
                    WHERE site = $2 AND state = 'pending' AND host <> ALL($3)
                    ORDER BY host, (kind = 'article'), revisit, seq
                 ), others AS (
                    -- Hosts another live worker holds claims on (one partial-index scan).
                    SELECT DISTINCT host FROM frontier
                    WHERE site = $2 AND state = 'in_progress' AND last_run_id <> $1 AND lease_until > now()
                 ), chosen AS (
                    -- A host is crawled by one worker at a time: workers spread over hosts
                    -- instead of queueing for the same ones' turns (a host another worker has
                    -- a request out on waits too).
                    SELECT f.host FROM first_per_host f
                    WHERE f.host NOT IN (SELECT host FROM others)
                      AND NOT EXISTS (SELECT 1 FROM host_turns t
                                      WHERE t.host = f.host AND t.held AND t.next_fetch_at > now())
                    ORDER BY f.article, f.revisit, f.seq LIMIT $4
                 ),",
                "chosen AS h"
            ),
            run_id,
            site,
            skip_hosts,
            hosts,
            per_host,
        )
        .await
    }

    /// Claims the next URLs (up to `per_host` each, in claim order) of hosts this run is
    /// already crawling, as [`Archive::claim_batch`] does but with one index probe per host:
    /// a host's queue refilled without reading the rest of the frontier.
    pub async fn claim_more(
        &self,
        run_id: i64,
        site: &str,
        hosts: &[String],
        per_host: usize,
    ) -> Result<Vec<FrontierItem>, ArchiveError> {
        if hosts.is_empty() || per_host == 0 {
            return Ok(Vec::new());
        }
        self.claim(
            claim_sql!("WITH", "(SELECT u.host FROM unnest($3::text[]) AS u(host) LIMIT $4) AS h"),
            run_id,
            site,
            hosts,
            hosts.len(),
            per_host,
        )
        .await
    }

    /// Runs a claim statement (parameters: run, site, hosts, host count, lease, per host) and
    /// returns its rows in claim order: by host, and in each host lists first, new before
    /// revisits, then discovery order (RETURNING has no order).
    async fn claim(
        &self,
        sql: &'static str,
        run_id: i64,
        site: &str,
        hosts: &[String],
        host_count: usize,
        per_host: usize,
    ) -> Result<Vec<FrontierItem>, ArchiveError> {
        #[allow(clippy::type_complexity)]
        let mut rows: Vec<(String, String, String, UrlKind, i32, i16, bool, Option<i64>, Option<String>, i64)> =
            crate::retry_transient(|| {
                sqlx::query_as(sql)
                    .bind(run_id)
                    .bind(site)
                    .bind(hosts)
                    .bind(host_count as i64)
                    .bind(CLAIM_LEASE.as_secs_f64())
                    .bind(per_host as i64)
                    .fetch_all(&self.pool)
            })
            .await?;
        rows.sort_by(|a, b| (&a.8, a.3 == UrlKind::Article, a.6, a.9).cmp(&(&b.8, b.3 == UrlKind::Article, b.6, b.9)));
        Ok(rows
            .into_iter()
            .map(|(canonical_url, url, site, kind, attempts, depth, revisit, revisit_interval_secs, host, _)| {
                FrontierItem {
                    canonical_url,
                    url,
                    site,
                    kind,
                    attempts,
                    depth,
                    revisit,
                    revisit_interval_secs,
                    host: host.unwrap_or_default(),
                }
            })
            .collect())
    }

    /// Takes the turn of `host` (`scheme://host[:port]`) if it is free (its `next_fetch_at`
    /// has passed, or it has no row yet), holding it for at most `hold`: `next_fetch_at`
    /// moves to now + `hold`, by the database's clock, in one statement (the row lock orders
    /// concurrent takers; workers' clocks may differ). Returns the turn's token (the host's
    /// request count) when taken, else how long until the host may be free. Give the turn back
    /// with [`Archive::give_back_host_turn`] once the request's response has begun.
    pub async fn take_host_turn(
        &self,
        host: &str,
        hold: std::time::Duration,
    ) -> Result<Result<u64, std::time::Duration>, ArchiveError> {
        let (token, wait_ms): (Option<i64>, f64) = sqlx::query_as(
            "WITH taken AS (
                INSERT INTO host_turns AS h (host, next_fetch_at, interval_ms, requests, held)
                VALUES ($1, clock_timestamp() + make_interval(secs => $2), 0, 1, true)
                ON CONFLICT (host) DO UPDATE
                  SET next_fetch_at = clock_timestamp() + make_interval(secs => $2),
                      requests = h.requests + 1, held = true, updated_at = now()
                  WHERE h.next_fetch_at <= clock_timestamp()
                RETURNING requests)
             SELECT (SELECT requests FROM taken),
                    coalesce((SELECT extract(epoch FROM (next_fetch_at - clock_timestamp())) * 1000
                              FROM host_turns WHERE host = $1), 0)::float8",
        )
        .bind(host)
        .bind(hold.as_secs_f64())
        .fetch_one(&self.pool)
        .await?;
        Ok(match token {
            Some(t) => Ok(t.max(0) as u64),
            None => Err(std::time::Duration::from_secs_f64((wait_ms.max(0.0) / 1000.0).min(86_400.0))),
        })
    }

    /// Gives back the turn `token` of `host` ([`Archive::take_host_turn`]): the host is free
    /// again `interval` from now. A turn whose hold ran out and was taken by another worker
    /// meanwhile is not touched.
    pub async fn give_back_host_turn(
        &self,
        host: &str,
        token: u64,
        interval: std::time::Duration,
    ) -> Result<(), ArchiveError> {
        sqlx::query(
            "UPDATE host_turns SET next_fetch_at = clock_timestamp() + make_interval(secs => $3),
                    interval_ms = $4, held = false, updated_at = now()
             WHERE host = $1 AND requests = $2",
        )
        .bind(host)
        .bind(token as i64)
        .bind(interval.as_secs_f64())
        .bind(interval.as_millis().min(i32::MAX as u128) as i32)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Keeps every worker off `host` for `wait` from now (a `Retry-After`).
    pub async fn pause_host(&self, host: &str, wait: std::time::Duration) -> Result<(), ArchiveError> {
        sqlx::query(
            "INSERT INTO host_turns AS h (host, next_fetch_at, interval_ms)
             VALUES ($1, clock_timestamp() + make_interval(secs => $2), 0)
             ON CONFLICT (host) DO UPDATE
               SET next_fetch_at = greatest(h.next_fetch_at, clock_timestamp() + make_interval(secs => $2)),
                   updated_at = now()",
        )
        .bind(host)
        .bind(wait.as_secs_f64().min(86_400.0))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Queues a site's articles for a revisit: those whose `next_visit_at` is at or before `now`
    /// (or all captured ones with `all`, `caiji crawl --revisit-all`), including those whose last
    /// revisit failed. Pages that are gone are not revisited. Returns how many were queued. Call
    /// only while holding the site's crawl lock.
    pub async fn queue_revisits(
        &self,
        run_id: i64,
        site: &str,
        now: chrono::DateTime<chrono::Utc>,
        all: bool,
    ) -> Result<u64, ArchiveError> {
        let r = sqlx::query(
            "UPDATE frontier SET state = 'pending', revisit = true, queued_run_id = $1, updated_at = now()
             WHERE site = $2 AND kind = 'article' AND last_capture_id IS NOT NULL
               AND (state = 'done' OR (state = 'failed' AND last_visit_at IS NOT NULL))
               AND ($4 OR next_visit_at <= $3)",
        )
        .bind(run_id)
        .bind(site)
        .bind(now)
        .bind(all)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected())
    }

    /// The newest live capture of `canonical_url` (2xx or 304) and the content it holds or
    /// confirms; `None` for a URL never captured live.
    pub async fn previous_content(&self, canonical_url: &str) -> Result<Option<PreviousContent>, ArchiveError> {
        let row = sqlx::query_as(
            "SELECT cc.id AS capture_id, cc.body_sha256,
                    coalesce(n.response_headers->'etag'->>0, cc.response_headers->'etag'->>0) AS etag,
                    coalesce(n.response_headers->'last-modified'->>0, cc.response_headers->'last-modified'->>0)
                        AS last_modified,
                    (SELECT e.text_sha256 FROM extraction_records e WHERE e.capture_id = cc.id
                     ORDER BY e.extracted_at DESC, e.id DESC LIMIT 1) AS text_sha256
             FROM captures n JOIN captures cc ON cc.id = coalesce(n.revisit_of, n.id)
             WHERE n.canonical_url = $1 AND n.outcome IN ('ok', 'not_modified')
             ORDER BY n.fetched_at DESC, n.id DESC LIMIT 1",
        )
        .bind(canonical_url)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row)
    }

    /// Settles a URL this run claimed, without a capture (robots disallowed, bad URL).
    /// Fenced like [`Archive::store_capture`]: [`ArchiveError::ClaimLost`] when the claim is
    /// no longer this run's.
    pub async fn settle(
        &self,
        run_id: i64,
        canonical_url: &str,
        state: FrontierState,
        error: Option<&str>,
    ) -> Result<(), ArchiveError> {
        let r = sqlx::query(
            "UPDATE frontier SET state = $3, last_error = $4, updated_at = now()
             WHERE canonical_url = $1 AND state = 'in_progress' AND last_run_id = $2",
        )
        .bind(canonical_url)
        .bind(run_id)
        .bind(state)
        .bind(error.map(crate::store::pg_text))
        .execute(&self.pool)
        .await?;
        if r.rows_affected() == 0 {
            return Err(ArchiveError::ClaimLost(canonical_url.to_string()));
        }
        Ok(())
    }

    /// Gives a claimed URL back, unattempted (host deferred, run interrupted): `pending`
    /// again, the claim's attempt not counted, `why` kept as `last_error`. A claim that is no
    /// longer this run's is left alone. Returns whether the row was released.
    pub async fn release(&self, run_id: i64, canonical_url: &str, why: &str) -> Result<bool, ArchiveError> {
        let r = sqlx::query(
            "UPDATE frontier SET state = 'pending', attempts = greatest(attempts - 1, 0), last_error = $3,
                 updated_at = now(), lease_until = NULL
             WHERE canonical_url = $1 AND state = 'in_progress' AND last_run_id = $2",
        )
        .bind(canonical_url)
        .bind(run_id)
        .bind(crate::store::pg_text(why))
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }
}

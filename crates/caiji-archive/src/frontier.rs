//! The crawl frontier: every known URL with its state. Lives in Postgres so a killed crawl
//! resumes where it stopped, and articles already captured are never fetched again.

use crate::{Archive, ArchiveError, FrontierState, UrlKind};

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
}

/// What the archive holds of a URL's newest live capture, for a revisit: what to send in a
/// conditional GET, and what to compare a new body and text with.
#[derive(Debug, Clone, sqlx::FromRow)]
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

impl Archive {
    /// Rows left `in_progress` by a killed crawl go back to `pending`. Call only while holding
    /// the sites' crawl locks.
    pub async fn reset_in_progress(&self, sites: &[String]) -> Result<u64, ArchiveError> {
        let r = sqlx::query(
            "UPDATE frontier SET state = 'pending', updated_at = now() WHERE state = 'in_progress' AND site = ANY($1)",
        )
        .bind(sites)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected())
    }

    /// Adds URLs; known ones are left alone, except that start, sitemap and list pages
    /// settled in an earlier run are queued again (they change between runs), and failed or
    /// disallowed articles get another chance in a new run (robots.txt changes too; a
    /// still-disallowed URL is checked against the rules again, never requested).
    pub async fn enqueue(&self, run_id: i64, site: &str, urls: &[NewUrl]) -> Result<u64, ArchiveError> {
        // One row per URL: a statement may not settle the same row twice (a sitemap that lists
        // a page twice, two links that canonicalise alike). The first occurrence wins.
        let mut seen = std::collections::HashSet::new();
        let urls: Vec<&NewUrl> = urls.iter().filter(|u| seen.insert(u.canonical_url.as_str())).collect();
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
        let r = sqlx::query(
            "INSERT INTO frontier (canonical_url, site, url, kind, discovered_from, queued_run_id, depth, lastmod)
             SELECT c, $2, u, k, f, $1, d, m
             FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::smallint[], $8::timestamptz[])
                  AS t(c, u, k, f, d, m)
             ON CONFLICT (canonical_url) DO UPDATE
               SET state = 'pending', queued_run_id = $1, updated_at = now(),
                   revisit = frontier.kind = 'article' AND frontier.state = 'done',
                   lastmod = coalesce(excluded.lastmod, frontier.lastmod)
             WHERE frontier.queued_run_id IS DISTINCT FROM $1
               AND frontier.state <> 'in_progress'
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
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected())
    }

    /// Claims the next pending URL of a site (list pages before articles, then discovery
    /// order), skipping URLs that start with one of `skip_prefixes` (hosts deferred for this
    /// run, as `scheme://host[:port]/`). The claim is fenced: the row records `last_run_id`, and
    /// only that run can settle it ([`Archive::store_capture`], [`Archive::settle`]).
    pub async fn claim_next(
        &self,
        run_id: i64,
        site: &str,
        skip_prefixes: &[String],
    ) -> Result<Option<FrontierItem>, ArchiveError> {
        let patterns: Vec<String> = skip_prefixes.iter().map(|p| format!("{}%", like_escape(p))).collect();
        #[allow(clippy::type_complexity)]
        let row: Option<(String, String, String, UrlKind, i32, i16, bool, Option<i64>)> = sqlx::query_as(
            "UPDATE frontier SET state = 'in_progress', attempts = attempts + 1, last_run_id = $1, updated_at = now()
             WHERE canonical_url = (
                SELECT canonical_url FROM frontier
                WHERE site = $2 AND state = 'pending' AND NOT (canonical_url LIKE ANY($3))
                ORDER BY (kind = 'article'), revisit, seq
                LIMIT 1 FOR UPDATE SKIP LOCKED)
             RETURNING canonical_url, url, site, kind, attempts, depth, revisit, revisit_interval_secs",
        )
        .bind(run_id)
        .bind(site)
        .bind(&patterns)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(canonical_url, url, site, kind, attempts, depth, revisit, revisit_interval_secs)| FrontierItem {
            canonical_url,
            url,
            site,
            kind,
            attempts,
            depth,
            revisit,
            revisit_interval_secs,
        }))
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
                 updated_at = now()
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

/// `p` as a literal LIKE prefix (backslash is LIKE's default escape).
fn like_escape(p: &str) -> String {
    p.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

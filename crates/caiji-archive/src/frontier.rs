//! The crawl frontier: every known URL with its state. Lives in Postgres so a killed crawl
//! resumes where it stopped, and articles already captured are never fetched again.

use crate::{Archive, ArchiveError};

/// What a URL is to its site; decides whether it is refetched on the next run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlKind {
    /// A start URL from the site config: requeued every run.
    Start,
    /// A list/pagination page: requeued when rediscovered in a later run.
    List,
    /// A sitemap: requeued every run, like a start URL.
    Sitemap,
    /// An article: fetched once; later runs skip it once captured.
    Article,
}

impl UrlKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::List => "list",
            Self::Sitemap => "sitemap",
            Self::Article => "article",
        }
    }

    pub fn parse(s: &str) -> Self {
        match s {
            "start" => Self::Start,
            "sitemap" => Self::Sitemap,
            "article" => Self::Article,
            _ => Self::List,
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewUrl {
    pub canonical_url: String,
    pub url: String,
    pub kind: UrlKind,
    pub discovered_from: Option<String>,
}

#[derive(Debug, Clone)]
pub struct FrontierItem {
    pub canonical_url: String,
    pub url: String,
    pub site: String,
    pub kind: UrlKind,
    pub attempts: i32,
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
    /// settled in an earlier run are queued again (they change between runs), and failed
    /// articles get another chance in a new run.
    pub async fn enqueue(&self, run_id: i64, site: &str, urls: &[NewUrl]) -> Result<u64, ArchiveError> {
        if urls.is_empty() {
            return Ok(0);
        }
        let canon: Vec<&str> = urls.iter().map(|u| u.canonical_url.as_str()).collect();
        let raw: Vec<&str> = urls.iter().map(|u| u.url.as_str()).collect();
        let kind: Vec<&str> = urls.iter().map(|u| u.kind.as_str()).collect();
        let from: Vec<Option<&str>> = urls.iter().map(|u| u.discovered_from.as_deref()).collect();
        let r = sqlx::query(
            "INSERT INTO frontier (canonical_url, site, url, kind, discovered_from, queued_run_id)
             SELECT c, $2, u, k, f, $1 FROM unnest($3::text[], $4::text[], $5::text[], $6::text[]) AS t(c, u, k, f)
             ON CONFLICT (canonical_url) DO UPDATE
               SET state = 'pending', queued_run_id = $1, updated_at = now()
             WHERE frontier.queued_run_id IS DISTINCT FROM $1
               AND frontier.state <> 'in_progress'
               AND (frontier.kind IN ('start', 'list', 'sitemap') OR frontier.state = 'failed')",
        )
        .bind(run_id)
        .bind(site)
        .bind(&canon)
        .bind(&raw)
        .bind(&kind)
        .bind(&from)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected())
    }

    /// Claims the next pending URL of a site (list pages before articles, then discovery order).
    pub async fn claim_next(&self, run_id: i64, site: &str) -> Result<Option<FrontierItem>, ArchiveError> {
        let row: Option<(String, String, String, String, i32)> = sqlx::query_as(
            "UPDATE frontier SET state = 'in_progress', attempts = attempts + 1, last_run_id = $1, updated_at = now()
             WHERE canonical_url = (
                SELECT canonical_url FROM frontier
                WHERE site = $2 AND state = 'pending'
                ORDER BY (kind = 'article'), seq
                LIMIT 1 FOR UPDATE SKIP LOCKED)
             RETURNING canonical_url, url, site, kind, attempts",
        )
        .bind(run_id)
        .bind(site)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(canonical_url, url, site, kind, attempts)| FrontierItem {
            canonical_url,
            url,
            site,
            kind: UrlKind::parse(&kind),
            attempts,
        }))
    }

    /// Settles a URL without a capture (robots disallowed, bad URL).
    pub async fn mark(&self, canonical_url: &str, state: &str, error: Option<&str>) -> Result<(), ArchiveError> {
        sqlx::query("UPDATE frontier SET state = $2, last_error = $3, updated_at = now() WHERE canonical_url = $1")
            .bind(canonical_url)
            .bind(state)
            .bind(error)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

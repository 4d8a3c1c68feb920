//! Writes: crawl runs, captures (with their content-addressed bodies) and extractions.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::Value;
use sqlx::{Postgres, Transaction};

use crate::{Archive, ArchiveError, CaptureOutcome, FrontierState, RunOutcome, sha256};

/// Identity of one caiji invocation, recorded on `crawl_runs` and on every extraction.
#[derive(Debug, Clone)]
pub struct RunInfo {
    pub command: String,
    pub arguments: Value,
    pub sites: Vec<String>,
    pub caiji_version: String,
    pub git_commit: Option<String>,
}

/// The charset decision made when the body was decoded (all labels as found).
#[derive(Debug, Clone, Default)]
pub struct CharsetRecord {
    pub bom: Option<String>,
    pub header: Option<String>,
    pub meta: Option<String>,
    pub detected: Option<String>,
    pub used: Option<String>,
    pub source: Option<String>,
    pub replacement_chars: Option<i32>,
}

#[derive(Debug, Clone)]
pub struct NewCapture {
    pub crawl_run_id: Option<i64>,
    pub site: String,
    pub url: String,
    pub canonical_url: String,
    pub final_url: Option<String>,
    pub redirect_chain: Value,
    pub outcome: CaptureOutcome,
    pub error: Option<String>,
    pub status: Option<u16>,
    pub fetched_at: DateTime<Utc>,
    pub duration_ms: i32,
    pub attempts: i16,
    pub response_headers: Value,
    pub content_type: Option<String>,
    pub body: Option<Vec<u8>>,
    pub charset: CharsetRecord,
    /// A revisit that found the page unchanged: the capture whose body this one confirms (a
    /// `304`, or a `200` whose body is that capture's, byte for byte; the body row is not
    /// written again).
    pub revisit_of: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct NewExtraction {
    pub extractor: String,
    pub extractor_version: String,
    pub config_hash: String,
    pub crawl_run_id: Option<i64>,
    pub caiji_version: String,
    pub git_commit: Option<String>,
    pub title: Option<String>,
    pub published_at: Option<String>,
    pub published_ts: Option<NaiveDateTime>,
    pub author: Option<String>,
    pub content: ExtractedText,
    pub metadata: Value,
    pub flags: Vec<String>,
}

impl NewExtraction {
    pub fn text(&self) -> &str {
        self.content.text()
    }
}

/// An extraction's paragraphs, their text (joined with blank lines), its sha256 (the key
/// into `texts`) and its distinct characters (`texts.chars`): computed once, where the
/// extraction happens (in parallel), not again by the single writer.
#[derive(Debug, Clone)]
pub struct ExtractedText {
    paragraphs: Vec<String>,
    text: String,
    sha256: [u8; 32],
    chars: String,
}

impl ExtractedText {
    /// Paragraphs as extracted; U+0000, which no PostgreSQL text can hold, is removed first.
    pub fn new(mut paragraphs: Vec<String>) -> Self {
        for p in paragraphs.iter_mut().filter(|p| p.contains('\0')) {
            p.retain(|c| c != '\0');
        }
        let text = paragraphs.join("\n\n");
        let sha256 = crate::sha256(text.as_bytes());
        let mut chars: Vec<char> = text.chars().collect();
        chars.sort_unstable();
        chars.dedup();
        Self { paragraphs, text, sha256, chars: chars.into_iter().collect() }
    }

    pub fn paragraphs(&self) -> &[String] {
        &self.paragraphs
    }

    /// `texts.chars`: the text's distinct characters in code point order (which is UTF-8 byte
    /// order, PostgreSQL's `COLLATE "C"`), each once, whitespace included. The search index
    /// (`texts_chars_idx`) is built on it: sorted, its keys need no comparison sort in
    /// PostgreSQL.
    pub fn chars(&self) -> &str {
        &self.chars
    }

    /// The paragraphs as `texts.paragraphs` stores them: `None` when splitting the text on
    /// blank lines gives them back (as the views do, `caiji_paragraphs()`), so a text is stored
    /// once; the array itself when a paragraph holds a blank line or is empty.
    pub fn stored_paragraphs(&self) -> Option<&[String]> {
        let derivable = if self.text.is_empty() {
            self.paragraphs.is_empty()
        } else {
            self.text.split("\n\n").eq(self.paragraphs.iter().map(String::as_str))
        };
        (!derivable).then_some(&self.paragraphs[..])
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn sha256(&self) -> &[u8; 32] {
        &self.sha256
    }
}

impl Archive {
    /// Records a run without a lease (tests, tools). Crawls and re-extractions use
    /// [`Archive::begin_run`], which also takes the run's locks.
    pub async fn start_run(&self, run: &RunInfo) -> Result<i64, ArchiveError> {
        let mut tx = self.pool.begin().await?;
        let id = insert_run(&mut tx, run).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Records how a run ended, its counts, and why when it did not succeed.
    pub async fn finish_run(
        &self,
        run_id: i64,
        outcome: RunOutcome,
        counts: &Value,
        error: Option<&str>,
    ) -> Result<(), ArchiveError> {
        let mut tx = self.pool.begin().await?;
        // The run's end is on disk when this returns, and with it every commit before it
        // (the pool's sessions commit without waiting: `Archive::connect`).
        sqlx::query("SET LOCAL synchronous_commit = on").execute(&mut *tx).await?;
        sqlx::query("UPDATE crawl_runs SET finished_at = now(), outcome = $2, counts = $3, error = $4 WHERE id = $1")
            .bind(run_id)
            .bind(outcome)
            .bind(counts)
            .bind(error.map(pg_text))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Stores a capture, its body (once per distinct sha256) and, when given, its extraction,
    /// all in one transaction: a crash leaves either everything or nothing, so a resumed crawl
    /// never stores a page twice.
    ///
    /// With `settle`, the capture's frontier row is settled in the same transaction, and only
    /// if it is still claimed by `settle.run_id` (`in_progress`, `last_run_id`): otherwise
    /// nothing is written and the error is [`ArchiveError::ClaimLost`]. This fencing is what
    /// keeps two runs from archiving one URL twice when a lock was lost.
    pub async fn store_capture(
        &self,
        capture: &NewCapture,
        extraction: Option<&NewExtraction>,
        settle: Option<Settle>,
    ) -> Result<i64, ArchiveError> {
        let mut tx = self.pool.begin().await?;
        // The capture and its frontier row commit together: a commit lost to a server crash
        // (never to a caiji crash; sessions do not wait for the disk, `Archive::connect`)
        // loses both, and the URL is fetched again.
        if let Some(s) = &settle {
            // First, so the row is locked for the transaction: a concurrent reset waits for it.
            let claimed = sqlx::query(
                "SELECT 1 FROM frontier WHERE canonical_url = $1 AND state = 'in_progress' AND last_run_id = $2
                 FOR UPDATE",
            )
            .bind(&capture.canonical_url)
            .bind(s.run_id)
            .fetch_optional(&mut *tx)
            .await?;
            if claimed.is_none() {
                return Err(ArchiveError::ClaimLost(capture.canonical_url.clone()));
            }
        }
        let capture_id = insert_capture(&mut tx, capture).await?;
        if let Some(e) = extraction {
            insert_extraction(&mut tx, capture_id, e).await?;
        }
        if let Some(s) = settle {
            let visit = s.visit.as_ref();
            let interval = visit.and_then(|v| v.next_interval).map(|d| d.as_secs().min(i64::MAX as u64 / 2) as i64);
            // gone_since: the first 4xx after the page was live (kept through later 4xx, cleared
            // when it answers again). A visit moves the revisit schedule; other outcomes keep it,
            // so a failed revisit is due again at once.
            sqlx::query(
                "UPDATE frontier SET state = $2, last_capture_id = $3, last_error = $4, updated_at = now(), revisit = false,
                     gone_since = CASE WHEN $2 = 'gone' THEN coalesce(gone_since, $5)
                                       WHEN $6 THEN NULL ELSE gone_since END,
                     last_visit_at = CASE WHEN $6 THEN $7 ELSE last_visit_at END,
                     changed_at = CASE WHEN $8 THEN $7 ELSE changed_at END,
                     revisit_interval_secs = CASE WHEN $6 THEN $9 ELSE revisit_interval_secs END,
                     next_visit_at = CASE WHEN $6 THEN $7 + make_interval(secs => $9) ELSE next_visit_at END
                 WHERE canonical_url = $1",
            )
            .bind(&capture.canonical_url)
            .bind(s.state)
            .bind(capture_id)
            .bind(s.error.as_deref().or(capture.error.as_deref()).map(pg_text))
            .bind(capture.fetched_at)
            .bind(visit.is_some())
            .bind(visit.map(|v| v.at))
            .bind(visit.is_some_and(|v| v.changed))
            .bind(interval)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(capture_id)
    }

    /// Stores many settled captures in one transaction, a few statements for the lot (arrays
    /// unnested server-side): what [`Archive::store_capture`] does for one, with the same claim
    /// fence. Returns one result per write, in order: the capture's id, or
    /// [`ArchiveError::ClaimLost`] for a URL this run no longer holds (nothing of it written).
    /// The outer error is the transaction's: nothing was written, and the caller may store the
    /// writes one by one to learn which of them is at fault.
    ///
    /// Rows are locked in key order (frontier URLs in byte order, as [`Archive::enqueue`] locks
    /// them, whatever the database's collation; body and text digests), so two batches written
    /// side by side wait for each other instead of deadlocking. A batch holding several runs'
    /// pages (not one a crawl makes) locks its URLs run by run.
    pub async fn store_captures(
        &self,
        writes: &[CaptureWrite],
    ) -> Result<Vec<Result<i64, ArchiveError>>, ArchiveError> {
        if writes.is_empty() {
            return Ok(vec![]);
        }
        let mut tx = self.pool.begin().await?;
        // As in `store_capture`: a commit lost to a server crash loses the frontier row's
        // settlement too, and the URL is fetched again.
        // The fence, per run (a batch is one run's in practice): a plain `= ANY` plans in a
        // few microseconds where a join on unnested pairs took 0.18 ms to plan, every batch.
        let mut runs: Vec<i64> = writes.iter().map(|w| w.settle.run_id).collect();
        runs.sort_unstable();
        runs.dedup();
        let mut claimed: Vec<String> = Vec::with_capacity(writes.len());
        for run in runs {
            let urls: Vec<&str> =
                writes.iter().filter(|w| w.settle.run_id == run).map(|w| w.capture.canonical_url.as_str()).collect();
            claimed.extend(
                sqlx::query_scalar::<_, String>(
                    "SELECT canonical_url FROM frontier
                     WHERE canonical_url = ANY($1) AND last_run_id = $2 AND state = 'in_progress'
                     ORDER BY canonical_url COLLATE \"C\" FOR UPDATE",
                )
                .bind(&urls)
                .bind(run)
                .fetch_all(&mut *tx)
                .await?,
            );
        }
        let claimed: std::collections::HashSet<&str> = claimed.iter().map(String::as_str).collect();
        let kept: Vec<&CaptureWrite> =
            writes.iter().filter(|w| claimed.contains(w.capture.canonical_url.as_str())).collect();
        let ids = insert_captures(&mut tx, &kept).await?;
        let extractions: Vec<(i64, &NewExtraction)> =
            kept.iter().zip(&ids).filter_map(|(w, id)| w.extraction.as_deref().map(|e| (*id, e))).collect();
        if !extractions.is_empty() {
            insert_extractions(&mut tx, &extractions).await?;
        }
        settle_frontier(&mut tx, &kept, &ids).await?;
        tx.commit().await?;
        let by_url: std::collections::HashMap<&str, i64> =
            kept.iter().zip(&ids).map(|(w, id)| (w.capture.canonical_url.as_str(), *id)).collect();
        Ok(writes
            .iter()
            .map(|w| match by_url.get(w.capture.canonical_url.as_str()) {
                Some(id) => Ok(*id),
                None => Err(ArchiveError::ClaimLost(w.capture.canonical_url.clone())),
            })
            .collect())
    }

    pub async fn store_extraction(&self, capture_id: i64, e: &NewExtraction) -> Result<i64, ArchiveError> {
        let mut tx = self.pool.begin().await?;
        let id = insert_extraction(&mut tx, capture_id, e).await?;
        tx.commit().await?;
        Ok(id)
    }
}

/// One settled capture for [`Archive::store_captures`]: the capture, its extraction, and how
/// its frontier row settles.
#[derive(Debug, Clone)]
pub struct CaptureWrite {
    pub capture: Box<NewCapture>,
    pub extraction: Option<Box<NewExtraction>>,
    pub settle: Settle,
}

/// How a stored capture settles its frontier row.
#[derive(Debug, Clone)]
pub struct Settle {
    /// The run that claimed the URL (the fence).
    pub run_id: i64,
    pub state: FrontierState,
    /// Recorded as `frontier.last_error` (default: the capture's error).
    pub error: Option<String>,
    /// The page answered (2xx or 304): its schedule and what the visit found.
    pub visit: Option<Visit>,
}

/// A visit that reached the page, for the frontier's revisit schedule (`frontier.next_visit_at`,
/// `revisit_interval_secs`, `last_visit_at`, `changed_at`).
#[derive(Debug, Clone)]
pub struct Visit {
    /// The run's clock (crawls take it as an option, so schedules are testable without sleeps).
    pub at: DateTime<Utc>,
    /// Whether the content is new (a first capture, or a revisit that found a change).
    pub changed: bool,
    /// The interval until the next revisit, when the site has a revisit policy.
    pub next_interval: Option<std::time::Duration>,
}

pub(crate) async fn insert_run(tx: &mut Transaction<'_, Postgres>, run: &RunInfo) -> Result<i64, ArchiveError> {
    let host = std::fs::read_to_string("/etc/hostname").ok().map(|s| s.trim().to_string());
    let id = sqlx::query_scalar(
        "INSERT INTO crawl_runs (command, arguments, sites, caiji_version, git_commit, hostname, pid)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(&run.command)
    .bind(&run.arguments)
    .bind(&run.sites)
    .bind(&run.caiji_version)
    .bind(&run.git_commit)
    .bind(host)
    .bind(std::process::id() as i32)
    .fetch_one(&mut **tx)
    .await?;
    Ok(id)
}

/// `s` as PostgreSQL `text` can hold it: U+0000 (which it rejects) shown as U+FFFD. For what a
/// server sent (labels, headers, error messages quoting it), where the bytes are evidence.
pub(crate) fn pg_text(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains('\0') { std::borrow::Cow::Owned(s.replace('\0', "\u{FFFD}")) } else { std::borrow::Cow::Borrowed(s) }
}

pub(crate) async fn insert_capture(tx: &mut Transaction<'_, Postgres>, c: &NewCapture) -> Result<i64, ArchiveError> {
    let (digest, length) = match &c.body {
        // An identical payload: the body row exists (the capture it revisits references it).
        Some(body) if c.revisit_of.is_some() => (Some(sha256(body).to_vec()), Some(body.len() as i64)),
        Some(body) => {
            let digest = sha256(body).to_vec();
            sqlx::query(
                "INSERT INTO bodies (sha256, length, content) VALUES ($1, $2, $3) ON CONFLICT (sha256) DO NOTHING",
            )
            .bind(&digest)
            .bind(body.len() as i64)
            .bind(body)
            .execute(&mut **tx)
            .await?;
            (Some(digest), Some(body.len() as i64))
        }
        None => (None, None),
    };
    let id = sqlx::query_scalar(
        "INSERT INTO captures (crawl_run_id, site, url, canonical_url, final_url, redirect_chain, outcome, error,
             status, fetched_at, duration_ms, attempts, response_headers, content_type, body_sha256, body_length,
             charset_bom, charset_header, charset_meta, charset_detected, encoding_used, charset_source, replacement_chars,
             revisit_of)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23,$24)
         RETURNING id",
    )
    .bind(c.crawl_run_id)
    .bind(&c.site)
    .bind(&c.url)
    .bind(&c.canonical_url)
    .bind(&c.final_url)
    .bind(&c.redirect_chain)
    .bind(c.outcome)
    .bind(c.error.as_deref().map(pg_text))
    .bind(c.status.map(|s| s as i16))
    .bind(c.fetched_at)
    .bind(c.duration_ms)
    .bind(c.attempts)
    .bind(&c.response_headers)
    .bind(c.content_type.as_deref().map(pg_text))
    .bind(digest)
    .bind(length)
    .bind(&c.charset.bom)
    .bind(c.charset.header.as_deref().map(pg_text))
    .bind(c.charset.meta.as_deref().map(pg_text))
    .bind(&c.charset.detected)
    .bind(&c.charset.used)
    .bind(&c.charset.source)
    .bind(c.charset.replacement_chars)
    .bind(c.revisit_of)
    .fetch_one(&mut **tx)
    .await?;
    Ok(id)
}

/// Inserts captures (and their new bodies) with arrays unnested server-side; returns their
/// ids in the order given. Canonical URLs are distinct within a batch (one claim each).
async fn insert_captures(
    tx: &mut Transaction<'_, Postgres>,
    writes: &[&CaptureWrite],
) -> Result<Vec<i64>, ArchiveError> {
    if writes.is_empty() {
        return Ok(vec![]);
    }
    let tx = &mut **tx;
    let digests: Vec<Option<[u8; 32]>> = writes.iter().map(|w| w.capture.body.as_deref().map(sha256)).collect();
    // New bodies, once each, in digest order (the lock order of concurrent batches).
    let mut bodies: Vec<(&[u8; 32], &[u8])> = writes
        .iter()
        .zip(&digests)
        .filter(|(w, _)| w.capture.revisit_of.is_none())
        .filter_map(|(w, d)| Some((d.as_ref()?, w.capture.body.as_deref()?)))
        .collect();
    bodies.sort_by(|a, b| a.0.cmp(b.0));
    bodies.dedup_by(|a, b| a.0 == b.0);
    if !bodies.is_empty() {
        let sha: Vec<&[u8]> = bodies.iter().map(|(d, _)| &d[..]).collect();
        let len: Vec<i64> = bodies.iter().map(|(_, b)| b.len() as i64).collect();
        let content: Vec<&[u8]> = bodies.iter().map(|(_, b)| *b).collect();
        sqlx::query(
            "INSERT INTO bodies (sha256, length, content)
             SELECT * FROM unnest($1::bytea[], $2::bigint[], $3::bytea[]) ON CONFLICT (sha256) DO NOTHING",
        )
        .bind(&sha)
        .bind(&len)
        .bind(&content)
        .execute(&mut *tx)
        .await?;
    }
    let text = |f: &dyn Fn(&NewCapture) -> Option<&str>| -> Vec<Option<String>> {
        writes.iter().map(|w| f(&w.capture).map(|s| pg_text(s).into_owned())).collect()
    };
    // JSON sent as text and parsed by PostgreSQL: no `Value` clone per row.
    let json = |f: &dyn Fn(&NewCapture) -> &Value| -> Vec<String> {
        writes.iter().map(|w| f(&w.capture).to_string()).collect()
    };
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "INSERT INTO captures (crawl_run_id, site, url, canonical_url, final_url, redirect_chain, outcome, error,
             status, fetched_at, duration_ms, attempts, response_headers, content_type, body_sha256, body_length,
             charset_bom, charset_header, charset_meta, charset_detected, encoding_used, charset_source, replacement_chars,
             revisit_of)
         SELECT run, site, url, canonical_url, final_url, redirect_chain::jsonb, outcome, error, status, fetched_at,
                duration_ms, attempts, response_headers::jsonb, content_type, body_sha256, body_length, charset_bom,
                charset_header, charset_meta, charset_detected, encoding_used, charset_source, replacement_chars, revisit_of
         FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
                     $9::smallint[], $10::timestamptz[], $11::int[], $12::smallint[], $13::text[], $14::text[],
                     $15::bytea[], $16::bigint[], $17::text[], $18::text[], $19::text[], $20::text[], $21::text[],
                     $22::text[], $23::int[], $24::bigint[])
              AS t(run, site, url, canonical_url, final_url, redirect_chain, outcome, error, status, fetched_at,
                   duration_ms, attempts, response_headers, content_type, body_sha256, body_length, charset_bom,
                   charset_header, charset_meta, charset_detected, encoding_used, charset_source, replacement_chars,
                   revisit_of)
         RETURNING canonical_url, id",
    )
    .bind(writes.iter().map(|w| w.capture.crawl_run_id).collect::<Vec<_>>())
    .bind(writes.iter().map(|w| w.capture.site.as_str()).collect::<Vec<_>>())
    .bind(writes.iter().map(|w| w.capture.url.as_str()).collect::<Vec<_>>())
    .bind(writes.iter().map(|w| w.capture.canonical_url.as_str()).collect::<Vec<_>>())
    .bind(writes.iter().map(|w| w.capture.final_url.as_deref()).collect::<Vec<_>>())
    .bind(json(&|c| &c.redirect_chain))
    .bind(writes.iter().map(|w| w.capture.outcome.as_str()).collect::<Vec<_>>())
    .bind(text(&|c| c.error.as_deref()))
    .bind(writes.iter().map(|w| w.capture.status.map(|s| s as i16)).collect::<Vec<_>>())
    .bind(writes.iter().map(|w| w.capture.fetched_at).collect::<Vec<_>>())
    .bind(writes.iter().map(|w| w.capture.duration_ms).collect::<Vec<_>>())
    .bind(writes.iter().map(|w| w.capture.attempts).collect::<Vec<_>>())
    .bind(json(&|c| &c.response_headers))
    .bind(text(&|c| c.content_type.as_deref()))
    .bind(digests.iter().map(|d| d.as_ref().map(|d| &d[..])).collect::<Vec<_>>())
    .bind(writes.iter().map(|w| w.capture.body.as_ref().map(|b| b.len() as i64)).collect::<Vec<_>>())
    .bind(writes.iter().map(|w| w.capture.charset.bom.as_deref()).collect::<Vec<_>>())
    .bind(text(&|c| c.charset.header.as_deref()))
    .bind(text(&|c| c.charset.meta.as_deref()))
    .bind(writes.iter().map(|w| w.capture.charset.detected.as_deref()).collect::<Vec<_>>())
    .bind(writes.iter().map(|w| w.capture.charset.used.as_deref()).collect::<Vec<_>>())
    .bind(writes.iter().map(|w| w.capture.charset.source.as_deref()).collect::<Vec<_>>())
    .bind(writes.iter().map(|w| w.capture.charset.replacement_chars).collect::<Vec<_>>())
    .bind(writes.iter().map(|w| w.capture.revisit_of).collect::<Vec<_>>())
    .fetch_all(&mut *tx)
    .await?;
    let by_url: std::collections::HashMap<String, i64> = rows.into_iter().collect();
    writes
        .iter()
        .map(|w| {
            by_url.get(&w.capture.canonical_url).copied().ok_or_else(|| {
                ArchiveError::Query(format!("capture of {} not returned by its insert", w.capture.canonical_url))
            })
        })
        .collect()
}

/// Settles the frontier rows of stored captures (`ids` in the order of `writes`), as
/// [`Archive::store_capture`] does for one.
async fn settle_frontier(
    tx: &mut Transaction<'_, Postgres>,
    writes: &[&CaptureWrite],
    ids: &[i64],
) -> Result<(), ArchiveError> {
    if writes.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE frontier f SET state = j.state, last_capture_id = j.capture_id, last_error = j.error, updated_at = now(),
             revisit = false,
             gone_since = CASE WHEN j.state = 'gone' THEN coalesce(f.gone_since, j.fetched_at)
                               WHEN j.visited THEN NULL ELSE f.gone_since END,
             last_visit_at = CASE WHEN j.visited THEN j.at ELSE f.last_visit_at END,
             changed_at = CASE WHEN j.changed THEN j.at ELSE f.changed_at END,
             revisit_interval_secs = CASE WHEN j.visited THEN j.secs ELSE f.revisit_interval_secs END,
             next_visit_at = CASE WHEN j.visited THEN j.at + make_interval(secs => j.secs) ELSE f.next_visit_at END
         FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::timestamptz[], $6::bool[],
                     $7::timestamptz[], $8::bool[], $9::bigint[])
              AS j(u, state, capture_id, error, fetched_at, visited, at, changed, secs)
         WHERE f.canonical_url = j.u",
    )
    .bind(writes.iter().map(|w| w.capture.canonical_url.as_str()).collect::<Vec<_>>())
    .bind(writes.iter().map(|w| w.settle.state.as_str()).collect::<Vec<_>>())
    .bind(ids)
    .bind(
        writes
            .iter()
            .map(|w| w.settle.error.as_deref().or(w.capture.error.as_deref()).map(|s| pg_text(s).into_owned()))
            .collect::<Vec<_>>(),
    )
    .bind(writes.iter().map(|w| w.capture.fetched_at).collect::<Vec<_>>())
    .bind(writes.iter().map(|w| w.settle.visit.is_some()).collect::<Vec<_>>())
    .bind(writes.iter().map(|w| w.settle.visit.as_ref().map(|v| v.at)).collect::<Vec<_>>())
    .bind(writes.iter().map(|w| w.settle.visit.as_ref().is_some_and(|v| v.changed)).collect::<Vec<_>>())
    .bind(
        writes
            .iter()
            .map(|w| {
                w.settle
                    .visit
                    .as_ref()
                    .and_then(|v| v.next_interval)
                    .map(|d| d.as_secs().min(i64::MAX as u64 / 2) as i64)
            })
            .collect::<Vec<_>>(),
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub(crate) async fn insert_extraction(
    tx: &mut Transaction<'_, Postgres>,
    capture_id: i64,
    e: &NewExtraction,
) -> Result<i64, ArchiveError> {
    let text_sha = e.content.sha256().to_vec();
    sqlx::query(
        "INSERT INTO texts (sha256, text, paragraphs, chars) VALUES ($1, $2, $3, $4) ON CONFLICT (sha256) DO NOTHING",
    )
    .bind(&text_sha)
    .bind(e.text())
    .bind(e.content.stored_paragraphs().map(|p| serde_json::to_value(p).unwrap_or(Value::Array(vec![]))))
    .bind(e.content.chars())
    .execute(&mut **tx)
    .await?;
    let id = sqlx::query_scalar(
        "INSERT INTO extraction_records (capture_id, extractor, extractor_version, config_hash, crawl_run_id,
             caiji_version, git_commit, title, published_at, published_ts, author, metadata, flags, text_sha256)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14) RETURNING id",
    )
    .bind(capture_id)
    .bind(&e.extractor)
    .bind(&e.extractor_version)
    .bind(&e.config_hash)
    .bind(e.crawl_run_id)
    .bind(&e.caiji_version)
    .bind(&e.git_commit)
    .bind(&e.title)
    .bind(&e.published_at)
    .bind(e.published_ts)
    .bind(&e.author)
    .bind(&e.metadata)
    .bind(&e.flags)
    .bind(&text_sha)
    .fetch_one(&mut **tx)
    .await?;
    Ok(id)
}

impl Archive {
    /// Inserts many extractions at once (arrays unnested server-side): the batched write path
    /// of `caiji extract --rerun`. A text already in `texts` is not sent again, so re-extracting
    /// unchanged pages writes one small row each. Takes a connection the caller keeps: a
    /// connection's buffers grow to its largest message (a batch of texts: tens of MB) and never
    /// shrink, so a long re-extraction writes through one connection, not every one in the pool.
    pub async fn store_extractions(
        conn: &mut sqlx::PgConnection,
        rows: &[(i64, NewExtraction)],
    ) -> Result<u64, ArchiveError> {
        use sqlx::Connection;
        if rows.is_empty() {
            return Ok(0);
        }
        let mut tx = conn.begin().await?;
        // A batch lost to a server crash is redone by the resuming run.
        let rows: Vec<(i64, &NewExtraction)> = rows.iter().map(|(id, e)| (*id, e)).collect();
        let n = insert_extractions(&mut tx, &rows).await?;
        tx.commit().await?;
        Ok(n)
    }
}

/// Inserts extractions of captures (`(capture_id, extraction)`) with arrays unnested
/// server-side: texts not yet in `texts` (once each, in sha256 order so that concurrent
/// batches take their locks in one order), then one record per row.
pub(crate) async fn insert_extractions(
    tx: &mut Transaction<'_, Postgres>,
    rows: &[(i64, &NewExtraction)],
) -> Result<u64, ArchiveError> {
    {
        let tx = &mut **tx;
        let text_sha: Vec<Vec<u8>> = rows.iter().map(|(_, e)| e.content.sha256().to_vec()).collect();
        let known: Vec<Vec<u8>> = sqlx::query_scalar("SELECT sha256 FROM texts WHERE sha256 = ANY($1)")
            .bind(&text_sha)
            .fetch_all(&mut *tx)
            .await?;
        let known: std::collections::HashSet<Vec<u8>> = known.into_iter().collect();
        let mut sent = std::collections::HashSet::new();
        let (mut new_sha, mut new_text, mut new_paragraphs, mut new_chars) = (vec![], vec![], vec![], vec![]);
        let mut order: Vec<usize> = (0..rows.len()).collect();
        order.sort_by(|a, b| text_sha[*a].cmp(&text_sha[*b]));
        for i in order {
            let e = rows[i].1;
            if known.contains(&text_sha[i]) || !sent.insert(&text_sha[i]) {
                continue;
            }
            new_sha.push(text_sha[i].clone());
            new_text.push(e.text());
            // Sent as JSON text and cast by Postgres: a `serde_json::Value` tree per paragraph
            // list would cost an allocation per string on the writer's side.
            new_paragraphs
                .push(e.content.stored_paragraphs().map(|p| serde_json::to_string(p).unwrap_or_else(|_| "[]".into())));
            new_chars.push(e.content.chars());
        }
        if !new_sha.is_empty() {
            sqlx::query(
                "INSERT INTO texts (sha256, text, paragraphs, chars)
                 SELECT h, t, p::jsonb, c FROM unnest($1::bytea[], $2::text[], $3::text[], $4::text[]) AS x(h, t, p, c)
                 ON CONFLICT (sha256) DO NOTHING",
            )
            .bind(&new_sha)
            .bind(&new_text)
            .bind(&new_paragraphs)
            .bind(&new_chars)
            .execute(&mut *tx)
            .await?;
        }
        // Borrowed columns: no copy of each row's strings just to send them.
        let col = |f: &dyn Fn(&NewExtraction) -> Option<&str>| rows.iter().map(|(_, e)| f(e)).collect::<Vec<_>>();
        let capture_ids: Vec<i64> = rows.iter().map(|(id, _)| *id).collect();
        let run_id: Vec<Option<i64>> = rows.iter().map(|(_, e)| e.crawl_run_id).collect();
        let published_ts: Vec<Option<NaiveDateTime>> = rows.iter().map(|(_, e)| e.published_ts).collect();
        let metadata: Vec<Value> = rows.iter().map(|(_, e)| e.metadata.clone()).collect();
        // Flags are identifiers (`content_missing`, ...): one space-separated string per row
        // is split by Postgres without parsing JSON or running a subquery per row.
        let flags: Vec<String> = rows.iter().map(|(_, e)| e.flags.join(" ")).collect();
        let r = sqlx::query(
            "INSERT INTO extraction_records (capture_id, extractor, extractor_version, config_hash, crawl_run_id,
                 caiji_version, git_commit, title, published_at, published_ts, author, metadata, flags, text_sha256)
             SELECT t.capture_id, t.extractor, t.version, t.config_hash, t.run_id, t.caiji_version, t.git_commit, t.title,
                    t.published_at, t.published_ts, t.author, t.metadata,
                    coalesce(string_to_array(nullif(t.flags, ''), ' '), '{}'), t.text_sha
             FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::text[], $8::text[],
                         $9::text[], $10::timestamp[], $11::text[], $12::jsonb[], $13::text[], $14::bytea[])
                  AS t(capture_id, extractor, version, config_hash, run_id, caiji_version, git_commit, title, published_at,
                       published_ts, author, metadata, flags, text_sha)",
        )
        .bind(&capture_ids)
        .bind(col(&|e| Some(e.extractor.as_str())))
        .bind(col(&|e| Some(e.extractor_version.as_str())))
        .bind(col(&|e| Some(e.config_hash.as_str())))
        .bind(&run_id)
        .bind(col(&|e| Some(e.caiji_version.as_str())))
        .bind(col(&|e| e.git_commit.as_deref()))
        .bind(col(&|e| e.title.as_deref()))
        .bind(col(&|e| e.published_at.as_deref()))
        .bind(&published_ts)
        .bind(col(&|e| e.author.as_deref()))
        .bind(&metadata)
        .bind(&flags)
        .bind(&text_sha)
        .execute(&mut *tx)
        .await?;
        Ok(r.rows_affected())
    }
}

impl Archive {
    /// The newest readable answer captured for a robots.txt URL (its canonical form): a
    /// complete 2xx or 4xx response, as (fetched_at, status, body; empty when none was kept).
    /// What the crawl obeys instead of asking again (RFC 9309 §2.4) or during an outage.
    pub async fn newest_robots_txt(
        &self,
        canonical_url: &str,
    ) -> Result<Option<(DateTime<Utc>, i16, Vec<u8>)>, ArchiveError> {
        let row: Option<(DateTime<Utc>, i16, Option<Vec<u8>>)> = sqlx::query_as(
            "SELECT c.fetched_at, c.status, b.content FROM captures c LEFT JOIN bodies b ON b.sha256 = c.body_sha256
             WHERE c.canonical_url = $1 AND c.outcome IN ('ok', 'http_status')
               AND (c.status BETWEEN 200 AND 299 OR c.status BETWEEN 400 AND 499)
             ORDER BY c.fetched_at DESC LIMIT 1",
        )
        .bind(canonical_url)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(at, status, body)| (at, status, body.unwrap_or_default())))
    }

    /// Merges the search index's pending entries (GIN's pending list, where new texts wait)
    /// into the index: `gin_clean_pending_list`. Searches are right either way; merged, they
    /// read fewer pages. Returns how many pending pages were merged.
    ///
    /// Errors: the database's (a role that does not own `texts` may not merge).
    pub async fn merge_search_index(&self) -> Result<i64, ArchiveError> {
        Ok(sqlx::query_scalar("SELECT gin_clean_pending_list('texts_chars_idx')").fetch_one(&self.pool).await?)
    }
}

#[cfg(test)]
mod paragraph_tests {
    use super::ExtractedText;

    fn owned(p: &[&str]) -> Vec<String> {
        p.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn paragraphs_are_stored_only_when_the_text_cannot_give_them_back() {
        // Splitting the text on blank lines gives them back: not stored.
        for p in [&["第一段", "第二段"][..], &["一段"], &[], &["a\nb", "c"], &["a", ""]] {
            let t = ExtractedText::new(owned(p));
            assert_eq!(t.stored_paragraphs(), None, "{p:?}");
            let derived: Vec<&str> = if t.text().is_empty() { vec![] } else { t.text().split("\n\n").collect() };
            assert_eq!(derived, p.to_vec());
        }
        // A paragraph holding a blank line, an empty one, one ending in a line break: the join
        // loses the boundaries, so the array is stored.
        for p in [&["a\n\nb", "c"][..], &[""], &["a\n", "b"]] {
            let t = ExtractedText::new(owned(p));
            assert_eq!(t.stored_paragraphs().map(<[String]>::to_vec), Some(owned(p)), "{p:?}");
        }
    }
}

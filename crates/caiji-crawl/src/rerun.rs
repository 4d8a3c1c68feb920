//! `caiji extract --rerun`: the current extractors over stored captures, no network.
//!
//! A three-stage pipeline with bounded memory whatever the archive's size: a reader pages
//! through captures by id (keyset pagination, `batch_size` bodies at a time), an extraction
//! stage runs each batch on all cores (rayon), a writer inserts each batch in one statement.
//! Channels hold at most two batches between stages. Every older extraction stays; a capture
//! already extracted by the same extractor name, version and configuration is skipped unless
//! `--force`. A killed run resumes: without `--force` the finished batches are skipped as
//! up to date; with `--force` the next identical run continues the interrupted one.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::Instant;

use caiji_archive::{Archive, NewExtraction, RunOutcome};
use caiji_extract::{Extractor, Flag, Registry, extract_bytes};
use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::crawl::to_new_extraction;
use crate::{Config, CrawlError, run_info};

#[derive(Debug, Clone)]
pub struct RerunOptions {
    pub sites: Vec<String>,
    /// Run this extractor instead of each site's own (e.g. `generic`).
    pub extractor: Option<String>,
    /// Only captures fetched at or after this instant.
    pub since: Option<DateTime<Utc>>,
    pub force: bool,
    pub batch_size: usize,
    pub progress: bool,
    pub arguments: serde_json::Value,
}

impl Default for RerunOptions {
    fn default() -> Self {
        Self {
            sites: Vec::new(),
            extractor: None,
            since: None,
            force: false,
            batch_size: 128,
            progress: false,
            arguments: serde_json::Value::Null,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct RerunSummary {
    pub run_id: i64,
    /// Article captures looked at.
    pub examined: u64,
    /// New extraction rows written.
    pub extracted: u64,
    /// Already extracted by this extractor, version and configuration.
    pub skipped: u64,
    /// Extracted, and the text differs from the newest earlier extraction by the same extractor.
    pub changed: u64,
    /// Extracted, same text as before.
    pub unchanged: u64,
    /// Extracted for the first time by this extractor.
    pub first: u64,
    /// Captures that gave no record, by reason.
    pub failed: BTreeMap<String, u64>,
    pub seconds: f64,
    /// A run with `--force` that continued an interrupted one.
    pub resumed_run: Option<i64>,
}

/// One capture as read from the archive.
struct Row {
    capture_id: i64,
    url: String,
    content_type: Option<String>,
    /// None when skipped (the body is then not even read).
    body: Option<Vec<u8>>,
    /// The newest earlier extraction by the same extractor.
    previous: Option<Previous>,
}

/// What an earlier extraction said: the fields `documents` serves (text by its hash).
struct Previous {
    text_sha256: Vec<u8>,
    title: Option<String>,
    author: Option<String>,
    published_at: Option<String>,
}

/// One candidate capture as read from the archive.
struct CandidateRow {
    id: i64,
    canonical_url: String,
    content_type: Option<String>,
    content: Option<Vec<u8>>,
    prev_sha: Option<Vec<u8>>,
    prev_title: Option<String>,
    prev_author: Option<String>,
    prev_published_at: Option<String>,
}

caiji_archive::from_row!(CandidateRow {
    id,
    canonical_url,
    content_type,
    content,
    prev_sha,
    prev_title,
    prev_author,
    prev_published_at
});

enum Outcome {
    Extracted { row: Box<(i64, NewExtraction)>, previous: Option<bool> },
    Skipped,
    Failed(String),
}

pub async fn rerun(
    config: &Config,
    archive: &Archive,
    db_url: &str,
    opts: &RerunOptions,
) -> Result<RerunSummary, CrawlError> {
    let sites = config.select_sites(&opts.sites)?;
    let registry = Registry::default();
    if let Some(name) = &opts.extractor
        && registry.get(name).is_none()
    {
        return Err(CrawlError::Config(format!("unknown extractor `{name}`")));
    }
    let lock_names: Vec<String> = sites.iter().map(|s| format!("extract:{}", s.name())).collect();
    let names: Vec<String> = sites.iter().map(|s| s.name().to_string()).collect();
    let lease = archive.begin_run(db_url, &run_info("extract", &opts.arguments, &names), &lock_names).await?;
    let run_id = lease.run_id();

    // With --force, a run identical to one that did not finish (its process died, or it was
    // stopped) continues it.
    let resumed_run: Option<i64> = if opts.force {
        sqlx::query_scalar(
            "SELECT id FROM crawl_runs
             WHERE command = 'extract' AND outcome IN ('running', 'abandoned') AND arguments = $1 AND id <> $2
             ORDER BY id DESC LIMIT 1",
        )
        .bind(&opts.arguments)
        .bind(run_id)
        .fetch_optional(archive.pool())
        .await
        .map_err(caiji_archive::ArchiveError::from)?
    } else {
        None
    };
    if let Some(old) = resumed_run {
        tracing::info!(run_id = old, "continuing an interrupted forced re-extraction");
        archive
            .finish_run(
                old,
                RunOutcome::Interrupted,
                &serde_json::json!({"continued_by_next_run": run_id}),
                Some("continued by a later run"),
            )
            .await?;
    }
    let started = Instant::now();
    let mut summary = RerunSummary { run_id, resumed_run, ..Default::default() };

    // The count only sizes the progress bar: without a terminal (cron) it is not worth a scan
    // of the whole archive before the first extraction.
    let bar = if opts.progress && std::io::stderr().is_terminal() {
        Some(count_candidates(archive, &names, opts.since).await?)
    } else {
        None
    };
    let bar = bar.map(|total| {
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} captures {per_sec} eta {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    });

    let plans: Vec<SitePlan> = sites
        .iter()
        .filter_map(|site| {
            let extractor = match &opts.extractor {
                Some(name) => registry.get(name),
                None => registry.get(&site.file.extractor),
            }?;
            Some(SitePlan {
                site: site.name().to_string(),
                extractor,
                config_hash: site.config_hash_for(extractor.name()),
            })
        })
        .collect();
    let result = run_pipeline(archive, plans, run_id, resumed_run, opts, &mut summary, bar.as_ref()).await;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    summary.seconds = started.elapsed().as_secs_f64();
    let (outcome, error) = match (&result, summary.failed.is_empty()) {
        (Err(e), _) => (RunOutcome::Failed, Some(e.to_string())),
        (Ok(()), true) => (RunOutcome::Done, None),
        (Ok(()), false) => (RunOutcome::DoneWithFailures, None),
    };
    if result.is_ok() {
        crate::merge_search_index(archive).await;
    }
    let counts = serde_json::to_value(&summary).unwrap_or_default();
    if let Err(e) = archive.finish_run(run_id, outcome, &counts, error.as_deref()).await {
        tracing::error!(error = %e, "could not record the run's outcome");
    }
    lease.release().await;
    result.map(|()| summary)
}

async fn count_candidates(
    archive: &Archive,
    sites: &[String],
    since: Option<DateTime<Utc>>,
) -> Result<u64, CrawlError> {
    let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        // Built from constants only.
        "SELECT count(*) FROM captures c WHERE c.site = ANY($1) AND {}",
        candidate("")
    )))
    .bind(sites)
    .bind(since)
    .fetch_one(archive.pool())
    .await
    .map_err(caiji_archive::ArchiveError::from)?;
    Ok(n.max(0) as u64)
}

/// Captures worth extracting: extracted before, or an article to the frontier.
/// `$2` is the optional `--since`; `settled_first` is a condition (ending in `OR`) checked
/// before the others, or empty. The `LIMIT 1` subqueries keep both checks per-row index
/// lookups: as `EXISTS` under `OR`, Postgres hashes the whole frontier for every batch. The
/// integer lookup comes before the text-keyed frontier lookup: Postgres evaluates `OR` arms in
/// order, and on a re-extraction almost every capture passes it.
fn candidate(settled_first: &str) -> String {
    format!(
        "c.outcome = 'ok' AND c.body_sha256 IS NOT NULL
    AND ($2::timestamptz IS NULL OR c.fetched_at >= $2)
    AND ({settled_first} (SELECT true FROM extraction_records x WHERE x.capture_id = c.id LIMIT 1)
         OR (SELECT true FROM frontier f WHERE f.canonical_url = c.canonical_url AND f.kind = 'article' LIMIT 1))"
    )
}

/// Postgres re-plans a prepared statement for each execution while it judges the generic plan
/// dearer; the re-extraction's statements have the same plan whatever their values (index
/// lookups per capture, inserts from arrays), and re-planning the reader cost about a
/// millisecond per batch.
async fn use_generic_plans(conn: &mut sqlx::PgConnection) -> Result<(), caiji_archive::ArchiveError> {
    sqlx::raw_sql("SET plan_cache_mode = force_generic_plan").execute(conn).await?;
    Ok(())
}

/// One site's share of a re-extraction: which extractor runs on its captures, under which
/// configuration hash.
struct SitePlan {
    site: String,
    extractor: &'static dyn Extractor,
    config_hash: String,
}

/// A batch of captures from one site (`plan` indexes the plans).
struct Batch {
    plan: usize,
    rows: Vec<Row>,
}

/// The three stages over every site in turn: one pipeline and one reader and one writer
/// connection for the whole run, so the cores stay busy from the first site to the last
/// (a pipeline per site drained and refilled at every site boundary).
async fn run_pipeline(
    archive: &Archive,
    plans: Vec<SitePlan>,
    run_id: i64,
    resumed_run: Option<i64>,
    opts: &RerunOptions,
    summary: &mut RerunSummary,
    bar: Option<&ProgressBar>,
) -> Result<(), CrawlError> {
    let plans = std::sync::Arc::new(plans);
    // The writer's one connection, closed at the end rather than returned to the pool with its
    // grown buffers (see `Archive::store_extractions`).
    let mut write_conn = archive.pool().acquire().await.map_err(caiji_archive::ArchiveError::from)?;
    write_conn.close_on_drop();
    use_generic_plans(&mut write_conn).await?;
    let (batch_tx, mut batch_rx) = mpsc::channel::<Batch>(2);
    let (done_tx, mut done_rx) = mpsc::channel::<Vec<Outcome>>(2);

    // Stage 1: read batches of captures by id.
    let reader = {
        let (archive, plans) = (archive.clone(), plans.clone());
        let (since, force, batch) = (opts.since, opts.force, opts.batch_size.max(1) as i64);
        tokio::spawn(async move {
            // Whether a capture is skipped: with --force only when the interrupted run being
            // continued already wrote it; otherwise when this extractor, version and
            // configuration already did. Scalar `LIMIT 1` subqueries, never `EXISTS`: Postgres
            // may turn an `EXISTS` into a hashed subplan that scans `extraction_records`
            // whole for every batch, which grows with the archive.
            let skip = match (force, resumed_run) {
                (true, None) => "false",
                (true, Some(_)) => {
                    "coalesce((SELECT true FROM extraction_records e
                         WHERE e.capture_id = c.id AND e.crawl_run_id = $7 LIMIT 1), false)"
                }
                (false, _) => {
                    "coalesce((SELECT true FROM extraction_records e WHERE e.capture_id = c.id AND e.extractor = $4
                         AND (e.extractor_version = $5 OR e.extractor_version LIKE $5 || '+%') AND e.config_hash = $6
                         LIMIT 1), false)"
                }
            };
            let sql = format!(
                "SELECT c.id, c.canonical_url, c.content_type,
                        CASE WHEN skip.yes THEN NULL ELSE b.content END AS content, prev.id AS prev_id,
                        prev.text_sha256 AS prev_sha, prev.title AS prev_title, prev.author AS prev_author,
                        prev.published_at AS prev_published_at
                 FROM captures c
                 JOIN bodies b ON b.sha256 = c.body_sha256
                 LEFT JOIN LATERAL (SELECT e.id, e.text_sha256, e.title, e.author, e.published_at FROM extraction_records e
                      WHERE e.capture_id = c.id AND e.extractor = $4 ORDER BY e.id DESC LIMIT 1) prev ON true
                 CROSS JOIN LATERAL (SELECT {skip} AS yes) skip
                 WHERE c.site = $1 AND c.id > $3 AND {candidate}
                 ORDER BY c.id LIMIT $8",
                // A previous extraction by this extractor (already looked up) settles it first.
                candidate = candidate("prev.id IS NOT NULL OR")
            );
            // One connection for the whole read, closed at the end, as the writer's.
            let mut conn = archive.pool().acquire().await?;
            conn.close_on_drop();
            use_generic_plans(&mut conn).await?;
            for (plan_index, plan) in plans.iter().enumerate() {
                let (name, version) = (plan.extractor.name(), plan.extractor.version());
                let mut after = 0i64;
                loop {
                    let rows: Vec<CandidateRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())) // constants only
                        .bind(&plan.site)
                        .bind(since)
                        .bind(after)
                        .bind(name)
                        .bind(version)
                        .bind(&plan.config_hash)
                        .bind(resumed_run.unwrap_or(-1))
                        .bind(batch)
                        .fetch_all(&mut *conn)
                        .await?;
                    let Some(last) = rows.last() else { break };
                    after = last.id;
                    let rows: Vec<Row> = rows
                        .into_iter()
                        .map(|r| Row {
                            capture_id: r.id,
                            url: r.canonical_url,
                            content_type: r.content_type,
                            body: r.content,
                            previous: r.prev_sha.map(|text_sha256| Previous {
                                text_sha256,
                                title: r.prev_title,
                                author: r.prev_author,
                                published_at: r.prev_published_at,
                            }),
                        })
                        .collect();
                    if batch_tx.send(Batch { plan: plan_index, rows }).await.is_err() {
                        return Ok(());
                    }
                }
            }
            Ok::<(), caiji_archive::ArchiveError>(())
        })
    };

    // Stage 2: extract each batch on all cores.
    let extract_stage = {
        let plans = plans.clone();
        tokio::spawn(async move {
            while let Some(batch) = batch_rx.recv().await {
                let plans = plans.clone();
                let outcomes = tokio::task::spawn_blocking(move || {
                    let plan = &plans[batch.plan];
                    batch
                        .rows
                        .into_par_iter()
                        .map(|row| extract_row(row, plan.extractor, &plan.config_hash, run_id))
                        .collect::<Vec<_>>()
                })
                .await;
                let Ok(outcomes) = outcomes else { break };
                if done_tx.send(outcomes).await.is_err() {
                    break;
                }
            }
        })
    };

    // Stage 3: write each batch in one statement, all on one connection.
    let mut write_error = None;
    while let Some(outcomes) = done_rx.recv().await {
        let mut rows = Vec::with_capacity(outcomes.len());
        for o in outcomes {
            summary.examined += 1;
            match o {
                Outcome::Skipped => summary.skipped += 1,
                Outcome::Failed(reason) => *summary.failed.entry(reason).or_default() += 1,
                Outcome::Extracted { row, previous } => {
                    match previous {
                        None => summary.first += 1,
                        Some(true) => summary.changed += 1,
                        Some(false) => summary.unchanged += 1,
                    }
                    rows.push(*row);
                }
            }
        }
        if let Some(bar) = bar {
            bar.inc(rows.len() as u64);
        }
        match Archive::store_extractions(&mut write_conn, &rows).await {
            Ok(n) => summary.extracted += n,
            Err(e) => {
                write_error = Some(e);
                break;
            }
        }
    }
    drop(done_rx);
    drop(write_conn);
    let _ = extract_stage.await;
    let read_result = reader.await.map_err(|e| CrawlError::Config(format!("reader task: {e}")))?;
    if let Some(e) = write_error {
        return Err(e.into());
    }
    read_result?;
    Ok(())
}

fn extract_row(row: Row, extractor: &dyn Extractor, config_hash: &str, run_id: i64) -> Outcome {
    let Some(body) = row.body else { return Outcome::Skipped };
    let (record, _) = extract_bytes(extractor, &body, &row.url, row.content_type.as_deref());
    if record.has_flag(Flag::NotHtml) {
        let reason = record.meta.get("not_html").and_then(|v| v.as_str()).unwrap_or("not HTML").to_string();
        return Outcome::Failed(format!("not HTML: {reason}"));
    }
    let extraction = to_new_extraction(record, config_hash.to_string(), run_id);
    // Changed: any field `documents` serves differs (a fix that only finds the author counts).
    let previous = row.previous.as_ref().map(|p| {
        p.text_sha256.as_slice() != extraction.content.sha256()
            || p.title != extraction.title
            || p.author != extraction.author
            || p.published_at != extraction.published_at
    });
    Outcome::Extracted { row: Box::new((row.capture_id, extraction)), previous }
}

/// Parses `--since`: `YYYY-MM-DD` (midnight UTC) or RFC 3339.
pub fn parse_since(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    let d = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    Some(d.and_hms_opt(0, 0, 0)?.and_utc())
}

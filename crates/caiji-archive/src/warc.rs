//! The archive's side of WARC import and export: where each imported record came from
//! (`warc_records`, migration 0008), and the captures an export reads, in id order.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::store::{NewCapture, NewExtraction, insert_capture, insert_extraction, pg_text};
use crate::{Archive, ArchiveError, CaptureOutcome, WarcRecordStatus};

/// Where one WARC (or ARC) record was read from, and what it was.
#[derive(Debug, Clone)]
pub struct WarcSource {
    pub run_id: i64,
    pub file_name: String,
    /// sha256 of the whole file as stored: with the offset, the record's identity.
    pub file_sha256: [u8; 32],
    /// Byte offset of the record in the file (of its gzip member when compressed).
    pub offset: u64,
    pub record_id: Option<String>,
    pub record_type: String,
    pub target_uri: Option<String>,
    pub warc_date: Option<DateTime<Utc>>,
    /// The record's WARC header fields, name → [values].
    pub headers: Value,
}

/// One capture as `caiji export warc` writes it.
#[derive(Debug, Clone)]
pub struct ExportCapture {
    pub id: i64,
    pub crawl_run_id: Option<i64>,
    pub site: String,
    pub url: String,
    pub final_url: Option<String>,
    pub redirect_chain: Value,
    pub outcome: CaptureOutcome,
    pub status: Option<i16>,
    pub fetched_at: DateTime<Utc>,
    pub response_headers: Value,
    pub content_type: Option<String>,
    pub body_sha256: Option<Vec<u8>>,
    /// The body (a revisit's too: its payload digest is computed from it).
    pub body: Option<Vec<u8>>,
    pub charset_bom: Option<String>,
    pub charset_header: Option<String>,
    pub charset_meta: Option<String>,
    pub charset_detected: Option<String>,
    pub encoding_used: Option<String>,
    pub charset_source: Option<String>,
    pub replacement_chars: Option<i32>,
    pub revisit_of: Option<i64>,
    /// The referred capture's URL and date (revisit records name them).
    pub revisit_of_url: Option<String>,
    pub revisit_of_fetched_at: Option<DateTime<Utc>>,
    /// Where the crawl found this URL (the frontier's `discovered_from`).
    pub discovered_from: Option<String>,
    /// The capture id the URL was imported from a WARC record, when it was.
    pub imported_from: Option<String>,
}

crate::from_row!(ExportCapture {
    id,
    crawl_run_id,
    site,
    url,
    final_url,
    redirect_chain,
    outcome,
    status,
    fetched_at,
    response_headers,
    content_type,
    body_sha256,
    body,
    charset_bom,
    charset_header,
    charset_meta,
    charset_detected,
    encoding_used,
    charset_source,
    replacement_chars,
    revisit_of,
    revisit_of_url,
    revisit_of_fetched_at,
    discovered_from,
    imported_from
});

/// Which captures an export reads.
#[derive(Debug, Clone, Default)]
pub struct ExportFilter {
    pub sites: Vec<String>,
    pub since: Option<DateTime<Utc>>,
    pub run_id: Option<i64>,
}

/// One record of an import batch: where it came from and what it became.
#[derive(Debug)]
pub struct ImportedRecord {
    pub source: WarcSource,
    /// The capture it became (`status` Imported), with its extraction.
    pub capture: Option<Box<NewCapture>>,
    pub extraction: Option<Box<NewExtraction>>,
    pub status: WarcRecordStatus,
    /// Why skipped or rejected.
    pub reason: Option<String>,
}

impl Archive {
    /// Stores a batch of import records in one transaction: each capture, its extraction and
    /// its provenance row together. Returns, per record, the status it was stored with (`None`:
    /// an earlier import recorded it; nothing of it is written). A record the database refuses
    /// (a value it does not accept) is stored `rejected` with the database's reason.
    pub async fn store_import_batch(
        &self,
        batch: &[ImportedRecord],
    ) -> Result<Vec<Option<WarcRecordStatus>>, ArchiveError> {
        let mut tx = self.pool.begin().await?;
        let mut out = Vec::with_capacity(batch.len());
        for r in batch {
            sqlx::query("SAVEPOINT record").execute(&mut *tx).await?;
            let stored: Result<bool, ArchiveError> = async {
                let capture_id = match &r.capture {
                    Some(c) => {
                        let id = insert_capture(&mut tx, c).await?;
                        if let Some(e) = &r.extraction {
                            insert_extraction(&mut tx, id, e).await?;
                        }
                        Some(id)
                    }
                    None => None,
                };
                insert_source(&mut tx, &r.source, r.status, r.reason.as_deref(), capture_id).await
            }
            .await;
            let new = match stored {
                Ok(true) => {
                    sqlx::query("RELEASE SAVEPOINT record").execute(&mut *tx).await?;
                    Some(r.status)
                }
                Ok(false) => {
                    sqlx::query("ROLLBACK TO SAVEPOINT record").execute(&mut *tx).await?;
                    None
                }
                // A value the database refuses (it checks more than the reader can): this
                // record is refused with the reason, the batch goes on.
                Err(ArchiveError::Database(e)) if e.as_database_error().is_some() => {
                    sqlx::query("ROLLBACK TO SAVEPOINT record").execute(&mut *tx).await?;
                    let why = format!("the archive refused it: {e}");
                    tracing::warn!(offset = r.source.offset, reason = %why, "record rejected");
                    insert_source(&mut tx, &r.source, WarcRecordStatus::Rejected, Some(&why), None)
                        .await?
                        .then_some(WarcRecordStatus::Rejected)
                }
                Err(e) => return Err(e),
            };
            out.push(new);
        }
        tx.commit().await?;
        Ok(out)
    }

    /// Whether the record at (`file_sha256`, `offset`) was read by an earlier import.
    pub async fn warc_record_known(&self, file_sha256: &[u8; 32], offset: u64) -> Result<bool, ArchiveError> {
        let known: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM warc_records WHERE file_sha256 = $1 AND record_offset = $2")
                .bind(&file_sha256[..])
                .bind(offset as i64)
                .fetch_optional(&self.pool)
                .await?;
        Ok(known.is_some())
    }

    /// Archives an imported capture, its extraction and its provenance row in one transaction.
    /// `Ok(None)` when another import recorded the same record first (nothing is written).
    pub async fn store_imported(
        &self,
        capture: &NewCapture,
        extraction: Option<&NewExtraction>,
        source: &WarcSource,
    ) -> Result<Option<i64>, ArchiveError> {
        let mut tx = self.pool.begin().await?;
        let capture_id = insert_capture(&mut tx, capture).await?;
        if let Some(e) = extraction {
            insert_extraction(&mut tx, capture_id, e).await?;
        }
        if insert_source(&mut tx, source, WarcRecordStatus::Imported, None, Some(capture_id)).await? {
            tx.commit().await?;
            Ok(Some(capture_id))
        } else {
            tx.rollback().await?;
            Ok(None)
        }
    }

    /// Records a record that did not become a capture, with why. `false` when it was recorded
    /// already.
    pub async fn store_unimported(
        &self,
        source: &WarcSource,
        status: WarcRecordStatus,
        reason: &str,
    ) -> Result<bool, ArchiveError> {
        let mut tx = self.pool.begin().await?;
        let new = insert_source(&mut tx, source, status, Some(reason), None).await?;
        tx.commit().await?;
        Ok(new)
    }

    /// The capture an imported record with this `WARC-Record-ID` became.
    pub async fn capture_of_record_id(&self, record_id: &str) -> Result<Option<i64>, ArchiveError> {
        Ok(sqlx::query_scalar(
            "SELECT capture_id FROM warc_records WHERE record_id = $1 AND capture_id IS NOT NULL ORDER BY id LIMIT 1",
        )
        .bind(record_id)
        .fetch_optional(&self.pool)
        .await?
        .flatten())
    }

    /// The newest capture of `canonical_url` with a body, at or before `at` when given: what a
    /// revisit record without a resolvable `WARC-Refers-To` confirms. Returns its id and body.
    pub async fn newest_capture_with_body(
        &self,
        canonical_url: &str,
        at: Option<DateTime<Utc>>,
    ) -> Result<Option<(i64, Vec<u8>)>, ArchiveError> {
        Ok(sqlx::query_as(
            "SELECT c.id, b.content FROM captures c JOIN bodies b ON b.sha256 = c.body_sha256
             WHERE c.canonical_url = $1 AND ($2::timestamptz IS NULL OR c.fetched_at <= $2)
             ORDER BY c.fetched_at DESC, c.id DESC LIMIT 1",
        )
        .bind(canonical_url)
        .bind(at)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// The body of capture `id`, when it has one.
    pub async fn capture_body(&self, id: i64) -> Result<Option<Vec<u8>>, ArchiveError> {
        Ok(sqlx::query_scalar(
            "SELECT b.content FROM captures c JOIN bodies b ON b.sha256 = c.body_sha256 WHERE c.id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Up to `limit` captures with a response (a status) or a body without one (an imported
    /// resource) after capture id `after`, in id order,
    /// as an export writes them.
    pub async fn export_captures(
        &self,
        filter: &ExportFilter,
        after: i64,
        limit: i64,
    ) -> Result<Vec<ExportCapture>, ArchiveError> {
        Ok(sqlx::query_as(
            "SELECT c.id, c.crawl_run_id, c.site, c.url, c.final_url, c.redirect_chain, c.outcome, c.status,
                    c.fetched_at, c.response_headers, c.content_type, c.body_sha256,
                    b.content AS body,
                    c.charset_bom, c.charset_header, c.charset_meta, c.charset_detected, c.encoding_used,
                    c.charset_source, c.replacement_chars, c.revisit_of,
                    r.url AS revisit_of_url, r.fetched_at AS revisit_of_fetched_at,
                    f.discovered_from,
                    (SELECT w.file_name || '#' || w.record_offset FROM warc_records w
                      WHERE w.capture_id = c.id LIMIT 1) AS imported_from
             FROM captures c
             LEFT JOIN bodies b ON b.sha256 = c.body_sha256
             LEFT JOIN captures r ON r.id = c.revisit_of
             LEFT JOIN frontier f ON f.canonical_url = c.canonical_url
             WHERE c.id > $1 AND (c.status IS NOT NULL OR (c.outcome = 'ok' AND c.body_sha256 IS NOT NULL))
               AND (cardinality($2::text[]) = 0 OR c.site = ANY($2))
               AND ($3::timestamptz IS NULL OR c.fetched_at >= $3)
               AND ($4::bigint IS NULL OR c.crawl_run_id = $4)
             ORDER BY c.id LIMIT $5",
        )
        .bind(after)
        .bind(&filter.sites)
        .bind(filter.since)
        .bind(filter.run_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }
}

async fn insert_source(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    s: &WarcSource,
    status: WarcRecordStatus,
    reason: Option<&str>,
    capture_id: Option<i64>,
) -> Result<bool, ArchiveError> {
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO warc_records (crawl_run_id, file_name, file_sha256, record_offset, record_id, record_type,
             target_uri, warc_date, status, reason, capture_id, warc_headers)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)
         ON CONFLICT (file_sha256, record_offset) DO NOTHING RETURNING id",
    )
    .bind(s.run_id)
    .bind(pg_text(&s.file_name))
    .bind(&s.file_sha256[..])
    .bind(s.offset as i64)
    .bind(s.record_id.as_deref().map(pg_text))
    .bind(pg_text(&s.record_type))
    .bind(s.target_uri.as_deref().map(pg_text))
    .bind(s.warc_date)
    .bind(status)
    .bind(reason.map(pg_text))
    .bind(capture_id)
    .bind(&s.headers)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(id.is_some())
}

/// One row of `caiji export documents`: the `documents` view's answer for a URL, with its
/// capture's body digest.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DocumentRow {
    pub url: String,
    pub site: String,
    pub title: Option<String>,
    pub published_at: Option<String>,
    pub author: Option<String>,
    pub text: String,
    pub paragraphs: sqlx::types::Json<Vec<String>>,
    pub extractor: String,
    pub extractor_version: String,
    pub capture_id: i64,
    /// sha256 of the raw body, lowercase hex.
    pub body_sha256: Option<String>,
    pub fetched_at: DateTime<Utc>,
    pub last_seen_at: Option<DateTime<Utc>>,
    pub gone_since: Option<DateTime<Utc>>,
}

crate::from_row!(DocumentRow {
    url,
    site,
    title,
    published_at,
    author,
    text,
    paragraphs,
    extractor,
    extractor_version,
    capture_id,
    body_sha256,
    fetched_at,
    last_seen_at,
    gone_since
});

impl Archive {
    /// Up to `limit` documents whose capture id is above `after`, in capture id order.
    pub async fn export_documents(
        &self,
        filter: &ExportFilter,
        after: i64,
        limit: i64,
    ) -> Result<Vec<DocumentRow>, ArchiveError> {
        Ok(sqlx::query_as(
            "SELECT d.url, d.site, d.title, d.published_at, d.author, d.text, d.paragraphs, d.extractor,
                    d.extractor_version, d.capture_id, encode(c.body_sha256, 'hex') AS body_sha256, d.fetched_at,
                    d.last_seen_at, d.gone_since
             FROM documents d JOIN captures c ON c.id = d.capture_id
             WHERE d.capture_id > $1
               AND (cardinality($2::text[]) = 0 OR d.site = ANY($2))
               AND ($3::timestamptz IS NULL OR d.fetched_at >= $3)
             ORDER BY d.capture_id LIMIT $4",
        )
        .bind(after)
        .bind(&filter.sites)
        .bind(filter.since)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }
}

//! Read-only access for people: ad-hoc SQL (`caiji sql`) and extractor version comparison
//! (`caiji diff`).

use serde_json::{Map, Value};
use sqlx::Row;

use crate::{Archive, ArchiveError};

/// Column names and rows of an ad-hoc query.
#[derive(Debug, Clone, Default)]
pub struct QueryResult {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

/// Two extractions of one capture by two versions of an extractor.
#[derive(Debug, Clone)]
pub struct VersionPair {
    pub url: String,
    pub old_text: String,
    pub new_text: String,
}

impl Archive {
    /// Runs one SELECT in a read-only transaction; each row comes back as JSON (Postgres does
    /// the type conversion, so any column type prints).
    pub async fn query_json(&self, sql: &str) -> Result<QueryResult, ArchiveError> {
        let sql = sql.trim().trim_end_matches(';');
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION READ ONLY").execute(&mut *tx).await?;
        let wrapped = format!("SELECT row_to_json(q)::text FROM ({sql}) q");
        // The user's SQL is the point of this command; the transaction is read-only.
        let rows = sqlx::query(sqlx::AssertSqlSafe(wrapped)).fetch_all(&mut *tx).await.map_err(|e| {
            match e.as_database_error().and_then(|d| d.try_downcast_ref::<sqlx::postgres::PgDatabaseError>()) {
                // The user's mistake, said once: message, position in their query, hint.
                Some(pg) => {
                    let mut msg = pg.message().to_string();
                    if let Some(sqlx::postgres::PgErrorPosition::Original(p)) = pg.position() {
                        // The query was wrapped: point into what the user wrote.
                        let offset = "SELECT row_to_json(q)::text FROM (".chars().count();
                        msg.push_str(&format!(" (at character {})", p.saturating_sub(offset)));
                    }
                    if let Some(hint) = pg.hint() {
                        msg.push_str(&format!("; hint: {hint}"));
                    }
                    if sql.split_whitespace().next().is_some_and(|w| {
                        !w.eq_ignore_ascii_case("select")
                            && !w.eq_ignore_ascii_case("with")
                            && !w.eq_ignore_ascii_case("values")
                            && !w.eq_ignore_ascii_case("table")
                    }) {
                        msg.push_str("; `caiji sql` runs one read-only SELECT");
                    }
                    ArchiveError::Query(msg)
                }
                None => ArchiveError::Database(e),
            }
        })?;
        tx.rollback().await?;
        let mut out = QueryResult::default();
        for row in rows {
            let text: String = row.try_get(0)?;
            let obj: Map<String, Value> = serde_json::from_str(&text).unwrap_or_default();
            if out.columns.is_empty() {
                out.columns = obj.keys().cloned().collect();
            }
            out.rows.push(obj.into_values().collect());
        }
        Ok(out)
    }

    /// Versions of an extractor in the archive, newest first (by latest extraction time).
    pub async fn extractor_versions(&self, extractor: &str) -> Result<Vec<String>, ArchiveError> {
        Ok(sqlx::query_scalar(
            "SELECT extractor_version FROM extraction_records WHERE extractor = $1
             GROUP BY extractor_version ORDER BY max(extracted_at) DESC, max(id) DESC",
        )
        .bind(extractor)
        .fetch_all(&self.pool)
        .await?)
    }

    /// How many captures both versions extracted, how many of them changed, and a sample of
    /// the changed ones (by URL).
    pub async fn version_diff(
        &self,
        extractor: &str,
        from: &str,
        to: &str,
        limit: i64,
    ) -> Result<(i64, i64, Vec<VersionPair>), ArchiveError> {
        let (compared, changed): (i64, i64) = sqlx::query_as(
            "SELECT count(*), count(*) FILTER (WHERE a.text_sha256 IS DISTINCT FROM b.text_sha256
                                                 OR a.title IS DISTINCT FROM b.title)
             FROM extraction_versions a JOIN extraction_versions b USING (capture_id)
             WHERE a.extractor = $1 AND b.extractor = $1 AND a.extractor_version = $2 AND b.extractor_version = $3",
        )
        .bind(extractor)
        .bind(from)
        .bind(to)
        .fetch_one(&self.pool)
        .await?;
        let sample: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT a.url, a.text, b.text
             FROM extraction_versions a JOIN extraction_versions b USING (capture_id)
             WHERE a.extractor = $1 AND b.extractor = $1 AND a.extractor_version = $2 AND b.extractor_version = $3
               AND a.text_sha256 IS DISTINCT FROM b.text_sha256
             ORDER BY a.url LIMIT $4",
        )
        .bind(extractor)
        .bind(from)
        .bind(to)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let pairs =
            sample.into_iter().map(|(url, old_text, new_text)| VersionPair { url, old_text, new_text }).collect();
        Ok((compared, changed, pairs))
    }
}

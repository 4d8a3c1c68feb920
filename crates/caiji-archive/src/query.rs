//! Read-only access for people: ad-hoc SQL (`caiji sql`) and extractor version comparison
//! (`caiji diff`).

use serde_json::Value;
use sqlx::Row;

use crate::{Archive, ArchiveError};

/// Column names and rows of an ad-hoc query.
#[derive(Debug, Clone, Default)]
pub struct QueryResult {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

/// What a document says: the fields `documents` serves. Two extractions are the same document
/// when all four are equal (a parser fix that only finds the author is a change).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DocumentFields {
    pub title: Option<String>,
    pub author: Option<String>,
    pub published_at: Option<String>,
    pub text: String,
}

impl DocumentFields {
    /// The fields as lines for a line diff: `title: …`, `author: …`, `published_at: …`, a blank
    /// line, then the text. A missing field prints as `-`.
    pub fn render(&self) -> String {
        let f = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        format!(
            "title: {}\nauthor: {}\npublished_at: {}\n\n{}\n",
            f(&self.title),
            f(&self.author),
            f(&self.published_at),
            self.text
        )
    }
}

/// One distinct text a URL has had (a row of `document_versions`).
#[derive(Debug, Clone)]
pub struct PageVersion {
    pub first_seen_at: chrono::DateTime<chrono::Utc>,
    pub last_seen_at: chrono::DateTime<chrono::Utc>,
    /// Captures that showed this text, revisits included.
    pub captures: i64,
    pub title: Option<String>,
    pub text: String,
}

/// Two extractions of one capture by two versions of an extractor.
#[derive(Debug, Clone)]
pub struct VersionPair {
    pub url: String,
    pub old: DocumentFields,
    pub new: DocumentFields,
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
            // Read as pairs, not a map: `SELECT count(*), count(x)` names two columns `count`.
            let Pairs(pairs) = serde_json::from_str(&text).unwrap_or_default();
            if out.columns.is_empty() {
                out.columns = pairs.iter().map(|(k, _)| k.clone()).collect();
            }
            out.rows.push(pairs.into_iter().map(|(_, v)| v).collect());
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
        // Compared on what `documents` serves: text, title, author, date.
        const PAIRS: &str = "FROM extraction_versions a JOIN extraction_versions b USING (capture_id)
             JOIN extraction_records ra ON ra.id = a.extraction_id
             JOIN extraction_records rb ON rb.id = b.extraction_id
             WHERE a.extractor = $1 AND b.extractor = $1 AND a.extractor_version = $2 AND b.extractor_version = $3";
        const CHANGED: &str = "(a.text_sha256 IS DISTINCT FROM b.text_sha256 OR a.title IS DISTINCT FROM b.title
              OR ra.author IS DISTINCT FROM rb.author OR a.published_at IS DISTINCT FROM b.published_at)";
        let (compared, changed): (i64, i64) =
            sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT count(*), count(*) FILTER (WHERE {CHANGED}) {PAIRS}"))) // constants only
                .bind(extractor)
                .bind(from)
                .bind(to)
                .fetch_one(&self.pool)
                .await?;
        #[allow(clippy::type_complexity)]
        let sample: Vec<(
            String,
            Option<String>,
            Option<String>,
            Option<String>,
            String,
            Option<String>,
            Option<String>,
            Option<String>,
            String,
        )> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT a.url, a.title, ra.author, a.published_at, a.text, b.title, rb.author, b.published_at, b.text
                 {PAIRS} AND {CHANGED} ORDER BY a.url LIMIT $4"
        ))) // constants only
        .bind(extractor)
        .bind(from)
        .bind(to)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let pairs = sample
            .into_iter()
            .map(|(url, t1, a1, p1, x1, t2, a2, p2, x2)| VersionPair {
                url,
                old: DocumentFields { title: t1, author: a1, published_at: p1, text: x1 },
                new: DocumentFields { title: t2, author: a2, published_at: p2, text: x2 },
            })
            .collect();
        Ok((compared, changed, pairs))
    }

    /// Every distinct text `url` (a canonical URL) has had, oldest first (`document_versions`).
    pub async fn page_history(&self, url: &str) -> Result<Vec<PageVersion>, ArchiveError> {
        type Row = (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>, i64, Option<String>, String);
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT first_seen_at, last_seen_at, captures, title, text FROM document_versions
                 WHERE url = $1 ORDER BY first_seen_at, first_capture_id",
        )
        .bind(url)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(first_seen_at, last_seen_at, captures, title, text)| PageVersion {
                first_seen_at,
                last_seen_at,
                captures,
                title,
                text,
            })
            .collect())
    }
}

/// A JSON object's members in order, duplicate names kept (PostgreSQL's `row_to_json` writes a
/// member per column, whatever the names).
#[derive(Default)]
struct Pairs(Vec<(String, Value)>);

impl<'de> serde::Deserialize<'de> for Pairs {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Pairs;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Pairs, A::Error> {
                let mut out = Vec::new();
                while let Some(pair) = map.next_entry::<String, Value>()? {
                    out.push(pair);
                }
                Ok(Pairs(out))
            }
        }
        d.deserialize_map(Visit)
    }
}

#[cfg(test)]
mod pairs_tests {
    use super::Pairs;

    #[test]
    fn duplicate_column_names_are_kept_in_order() {
        let Pairs(p) = serde_json::from_str(r#"{"count": 3, "count": 5, "site": "dede"}"#).unwrap();
        let names: Vec<&str> = p.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["count", "count", "site"]);
        assert_eq!(p[1].1, serde_json::json!(5));
    }
}

//! Real PostgreSQL for tests: a fresh database per test, on `DATABASE_URL` when set, else on a
//! private cluster shared by all test processes of this checkout (started once, under the
//! cluster's file lock). No mocks.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::{Connection, PgConnection};

use crate::{Archive, ArchiveError, EmbeddedCluster};

/// A throwaway database on a real server.
pub struct TestDb {
    pub url: String,
    pub archive: Archive,
}

/// The server tests use: `DATABASE_URL`, or the private test cluster.
pub async fn server_url() -> Result<String, ArchiveError> {
    if let Ok(url) = std::env::var("DATABASE_URL") {
        return Ok(url);
    }
    let cluster = EmbeddedCluster::new(test_cluster_root())?;
    cluster.ensure_running().await
}

/// One cluster per checkout, outside the tree so its socket path stays short.
pub fn test_cluster_root() -> PathBuf {
    let here = env!("CARGO_MANIFEST_DIR");
    let digest = crate::sha256_hex(here.as_bytes());
    std::env::temp_dir().join(format!("caiji-test-pg-{}", &digest[..10]))
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl TestDb {
    /// Creates an empty, migrated database with a unique name.
    pub async fn new() -> Result<Self, ArchiveError> {
        let url = Self::create_unmigrated().await?;
        let archive = Archive::connect(&url).await?;
        Ok(Self { url, archive })
    }

    /// Creates an empty database with a unique name and no schema (for migration tests);
    /// returns its URL.
    pub async fn create_unmigrated() -> Result<String, ArchiveError> {
        let server = server_url().await?;
        let name = format!(
            "caiji_test_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst),
            chrono::Utc::now().timestamp_micros() % 1_000_000_000
        );
        let mut conn = PgConnection::connect(&server).await?;
        drop_databases_of_dead_processes(&mut conn).await;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await?;
        conn.close().await.ok();
        Ok(with_database(&server, &name))
    }
}

/// Test databases are named after their process; those of processes that have ended are
/// dropped, so the shared test cluster does not grow run after run.
async fn drop_databases_of_dead_processes(conn: &mut PgConnection) {
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'caiji\\_test\\_%'")
            .fetch_all(&mut *conn)
            .await
            .unwrap_or_default();
    for name in names {
        let pid =
            name.strip_prefix("caiji_test_").and_then(|r| r.split('_').next()).and_then(|p| p.parse::<u32>().ok());
        let alive = pid.is_some_and(|p| std::path::Path::new(&format!("/proc/{p}")).exists());
        if pid.is_some() && !alive && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            // Another process may be dropping it too: errors are fine.
            let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
                .execute(&mut *conn)
                .await;
        }
    }
}

/// Replaces the database name in a postgres URL, keeping host and query parameters.
pub fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    // postgresql://user@host[:port]/dbname
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let path_start = base[scheme_end..].find('/').map(|i| i + scheme_end);
    let authority = match path_start {
        Some(i) => &base[..i],
        None => base,
    };
    match query {
        Some(q) => format!("{authority}/{db}?{q}"),
        None => format!("{authority}/{db}"),
    }
}

//! caiji's PostgreSQL archive: the private cluster, the migrations, and every read and write
//! the crawler and the extractors make. Knows nothing of HTTP.
//!
//! Tables (see `migrations/` and `docs/schema.md`): `crawl_runs`, `bodies` (content-addressed),
//! `captures` (one per fetch, immutable), `extractions` (one per extractor run), `frontier`;
//! view `documents`.

pub mod embedded;
pub mod frontier;
pub mod query;
pub mod store;
pub mod testing;

use sha2::{Digest, Sha256};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgConnection, PgPool};
use std::str::FromStr;
use std::time::Duration;

pub use embedded::{ClusterStatus, EmbeddedCluster};
pub use frontier::{FrontierItem, NewUrl, UrlKind};
pub use store::{CaptureOutcome, ExtractedText, NewCapture, NewExtraction, RunInfo};

/// Migrations compiled into the binary, applied on every start.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("{0}")]
    MissingBinaries(String),
    #[error("private PostgreSQL cluster: {0}")]
    Cluster(String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("another caiji crawl holds the lock for site `{0}`")]
    LockHeld(String),
}

/// A connection pool to a migrated archive.
#[derive(Clone, Debug)]
pub struct Archive {
    pool: PgPool,
}

impl Archive {
    /// Connects and applies pending migrations (idempotent; sqlx serialises concurrent
    /// migrators with an advisory lock).
    pub async fn connect(url: &str) -> Result<Self, ArchiveError> {
        // Batched writes of a few hundred texts take seconds by design (search indexes): sqlx's
        // default warning for statements over one second would flood cron logs.
        let options = PgConnectOptions::from_str(url)?
            .application_name("caiji")
            .log_slow_statements(log::LevelFilter::Warn, Duration::from_secs(30));
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Takes one session-level advisory lock per site on a dedicated connection; the locks
    /// last as long as the returned guard's connection (and vanish if the process dies).
    pub async fn lock_sites(&self, url: &str, sites: &[String]) -> Result<SiteLocks, ArchiveError> {
        let mut conn = PgConnection::connect(url).await?;
        for site in sites {
            let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1, hashtext($2))")
                .bind(LOCK_NAMESPACE_CRAWL)
                .bind(site)
                .fetch_one(&mut conn)
                .await?;
            if !got {
                conn.close().await.ok();
                return Err(ArchiveError::LockHeld(site.clone()));
            }
        }
        Ok(SiteLocks { conn })
    }
}

/// First key of caiji's two-key advisory locks on sites (the second is `hashtext(site)`).
pub const LOCK_NAMESPACE_CRAWL: i32 = 0x6361_696a; // "caij"

/// Holds the per-site crawl locks until dropped or released.
pub struct SiteLocks {
    conn: PgConnection,
}

impl SiteLocks {
    pub async fn release(self) {
        self.conn.close().await.ok();
    }
}

pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha256(bytes))
}

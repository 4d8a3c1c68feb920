//! caiji's PostgreSQL archive: the private cluster, the migrations, and every read and write
//! the crawler and the extractors make. Knows nothing of HTTP.
//!
//! Tables (see `migrations/` and `docs/schema.md`): `crawl_runs`, `bodies` (content-addressed),
//! `captures` (one per fetch, immutable), `extractions` (one per extractor run), `frontier`;
//! view `documents`.

/// Implements `sqlx::FromRow` for a struct of named fields, reading each field from the column
/// of its name: `from_row!(Row { id, url })`. By hand rather than `#[derive(sqlx::FromRow)]`
/// (see `states.rs`: sqlx's derive macros double the cold build of its driver).
#[macro_export]
macro_rules! from_row {
    ($t:ident { $($field:ident),+ $(,)? }) => {
        impl<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> for $t {
            fn from_row(row: &'r sqlx::postgres::PgRow) -> Result<Self, sqlx::Error> {
                use sqlx::Row;
                Ok(Self { $($field: row.try_get(stringify!($field))?),+ })
            }
        }
    };
}

pub mod embedded;
pub mod frontier;
pub mod lease;
pub mod query;
pub mod states;
pub mod store;
pub mod testing;
pub mod warc;
pub mod writer;

use sha2::{Digest, Sha256};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgPool};
use std::str::FromStr;
use std::time::Duration;

pub use embedded::{ClusterStatus, EmbeddedCluster};
pub use frontier::{CLAIM_LEASE, FrontierItem, NewUrl, PreviousContent};
pub use lease::RunLease;
pub use states::{CaptureOutcome, FrontierState, RunOutcome, UrlKind, WarcRecordStatus};
pub use store::{CaptureWrite, ExtractedText, NewCapture, NewExtraction, RunInfo, Settle, Visit};
pub use warc::{DocumentRow, ExportCapture, ExportFilter, ImportedRecord, WarcSource};
pub use writer::CaptureWriter;

/// Migrations compiled into the binary, applied on every start.
pub static MIGRATOR: std::sync::LazyLock<sqlx::migrate::Migrator> = std::sync::LazyLock::new(|| {
    use sqlx::migrate::{Migration, MigrationType, Migrator};
    // (version, description, SQL) of each file in `migrations/`, embedded by build.rs the way
    // `sqlx::migrate!` embeds them: same descriptions, same checksums (SHA-384 of the file).
    let migrations: &[(i64, &str, &'static str)] = include!(concat!(env!("OUT_DIR"), "/migrations.rs"));
    Migrator {
        migrations: std::borrow::Cow::Owned(
            migrations
                .iter()
                .map(|(version, description, sql)| {
                    Migration::new(
                        *version,
                        std::borrow::Cow::Borrowed(description),
                        MigrationType::Simple,
                        sqlx::SqlStr::from_static(sql),
                        sql.starts_with("-- no-transaction"),
                    )
                })
                .collect(),
        ),
        ..Migrator::DEFAULT
    }
});

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
    /// The run's session ended (database restart, network) and another run took a site's lock
    /// before this one could take it back: the run must stop.
    #[error("lost the crawl lock for site `{0}` (the database session ended and another run holds it now)")]
    LockLost(String),
    /// The frontier row is no longer this run's claim (another run reset or claimed it): what
    /// this run fetched for it is not stored.
    #[error("the claim on {0} was taken over by another run")]
    ClaimLost(String),
    /// The user's query was refused by PostgreSQL (syntax, unknown column, a write in a
    /// read-only query): the message, position and hint, once.
    #[error("query refused: {0}")]
    Query(String),
    /// The server cannot be reached: which one, and why.
    #[error("cannot connect to PostgreSQL at {target}: {cause}")]
    Unreachable { target: String, cause: String },
    /// The capture writer's tasks ended before answering (the runtime is shutting down).
    #[error("the capture writer stopped before storing the page")]
    WriterGone,
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
        // One direct connection first: the pool would only say "pool timed out" after 10 s.
        let target = match (options.get_host(), options.get_port()) {
            (h, _) if h.starts_with('/') => format!("{h} (unix socket)"),
            (h, p) => format!("{h}:{p}"),
        };
        match <sqlx::PgConnection as sqlx::Connection>::connect_with(&options).await {
            Ok(conn) => {
                let _ = sqlx::Connection::close(conn).await;
            }
            Err(e) => return Err(ArchiveError::Unreachable { target, cause: e.to_string() }),
        }
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            // Commits do not wait for the disk: a server crash can lose the last fraction of a
            // second of commits, never consistency, and everything caiji writes during a run is
            // redone by the next one (a capture with its frontier row, a host turn). One flush
            // per page and per turn was a fifth of PostgreSQL's CPU on a 1,000-host crawl. A
            // run's last commit ([`Archive::finish_run`]) waits, which makes every earlier
            // commit durable too. A SET, not a startup option, which poolers such as PgBouncer
            // refuse.
            .after_connect(|conn, _| {
                Box::pin(async move {
                    sqlx::query("SET synchronous_commit = off").execute(conn).await?;
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        let archive = Self { pool };
        let abandoned = archive.mark_abandoned_runs().await?;
        if abandoned > 0 {
            tracing::warn!(abandoned, "runs whose process died without recording an outcome marked abandoned");
        }
        Ok(archive)
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// Runs a single-statement operation again (up to 3 more times, 50 ms, 100 ms, 200 ms apart)
/// when PostgreSQL aborted it for a deadlock (SQLSTATE 40P01) or a serialization failure
/// (40001): the statement was rolled back whole, and running it again is what PostgreSQL's
/// documentation prescribes. Any other error is returned at once.
pub(crate) async fn retry_transient<T, F, Fut>(mut op: F) -> Result<T, sqlx::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, sqlx::Error>>,
{
    let mut delay = Duration::from_millis(50);
    for _ in 0..3 {
        match op().await {
            Err(sqlx::Error::Database(e)) if matches!(e.code().as_deref(), Some("40P01" | "40001")) => {
                tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "statement aborted by the database: retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            other => return other,
        }
    }
    op().await
}

pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha256(bytes))
}

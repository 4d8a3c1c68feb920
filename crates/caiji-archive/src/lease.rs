//! A run's hold on the archive: the `crawl_runs` row and the advisory locks that make it
//! exclusive, on one dedicated session.
//!
//! - One session-level advisory lock per site (cron-safe: a second crawl of a site stops at
//!   once with [`ArchiveError::LockHeld`]).
//! - One advisory lock on the run's id, held for as long as the process lives: a `running` row
//!   whose lock nobody holds belongs to a process that died, and [`Archive::mark_abandoned_runs`]
//!   (run by every [`Archive::connect`]) marks it `abandoned`.
//! - Session locks die with their session (a PostgreSQL restart, a network cut). [`RunLease::verify`]
//!   notices, reconnects and takes them back, or fails with [`ArchiveError::LockLost`] when
//!   another run took them meanwhile: a crawl never goes on without its locks. The frontier's
//!   claim fencing (`last_run_id`) covers the moment between the loss and the check.

use std::time::Duration;

use sqlx::{Connection, PgConnection};
use tokio::sync::Mutex;

use crate::store::RunInfo;
use crate::{Archive, ArchiveError};

/// First key of caiji's two-key advisory locks on sites (the second is `hashtext(site)`).
pub const LOCK_NAMESPACE_CRAWL: i32 = 0x6361_696a; // "caij"
/// First key of the per-run liveness locks (the second is the run's id).
pub const LOCK_NAMESPACE_RUN: i32 = 0x6361_6972; // "cair"

/// How long [`RunLease::verify`] keeps trying to reconnect after its session ended.
const RECONNECT_ATTEMPTS: u32 = 5;
const RECONNECT_PAUSE: Duration = Duration::from_secs(2);

/// A started run with its locks; release it when the run has recorded its outcome.
pub struct RunLease {
    url: String,
    locks: Vec<String>,
    run_id: i64,
    conn: Mutex<Option<PgConnection>>,
}

impl Archive {
    /// Takes the locks named in `locks` (site names, or `extract:<site>`), then records the run
    /// and takes its liveness lock in one transaction on the same dedicated session, so no other
    /// caiji can see the `running` row without its lock.
    ///
    /// Errors: [`ArchiveError::LockHeld`] (nothing recorded) or a database error.
    pub async fn begin_run(&self, url: &str, run: &RunInfo, locks: &[String]) -> Result<RunLease, ArchiveError> {
        self.begin_run_with(url, run, locks, false).await
    }

    /// [`Archive::begin_run`] for a worker that may join others (`caiji crawl --join`): it
    /// takes the locks it can, and a lock another run holds is no error. The lease's
    /// [`RunLease::leads`] names the sites whose lock it took (it seeds them); on the others it
    /// works the frontier the lock holder seeded.
    pub async fn begin_joining_run(
        &self,
        url: &str,
        run: &RunInfo,
        sites: &[String],
    ) -> Result<RunLease, ArchiveError> {
        self.begin_run_with(url, run, sites, true).await
    }

    async fn begin_run_with(
        &self,
        url: &str,
        run: &RunInfo,
        locks: &[String],
        join: bool,
    ) -> Result<RunLease, ArchiveError> {
        let mut conn = PgConnection::connect(url).await?;
        let mut held = Vec::new();
        for site in locks {
            if try_lock_site(&mut conn, site).await? {
                held.push(site.clone());
            } else if !join {
                conn.close().await.ok();
                return Err(ArchiveError::LockHeld(site.clone()));
            }
        }
        let locks = &held[..];
        let mut tx = conn.begin().await?;
        let run_id = crate::store::insert_run(&mut tx, run).await?;
        sqlx::query("SELECT pg_advisory_lock($1, $2::int)")
            .bind(LOCK_NAMESPACE_RUN)
            .bind(run_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(RunLease { url: url.to_string(), locks: locks.to_vec(), run_id, conn: Mutex::new(Some(conn)) })
    }

    /// Marks `abandoned` every `running` run of this database whose liveness lock nobody holds
    /// (its process died: SIGKILL, crash, power loss). Returns how many.
    pub async fn mark_abandoned_runs(&self) -> Result<u64, ArchiveError> {
        let r = sqlx::query(
            "UPDATE crawl_runs r
             SET outcome = 'abandoned', finished_at = now(),
                 error = 'the process ended without recording an outcome (killed, crashed, or its database session was lost)'
             WHERE r.outcome = 'running'
               AND NOT EXISTS (
                 SELECT 1 FROM pg_locks l
                 WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
                   AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                   AND l.classid::bigint = $1 AND l.objid::bigint = r.id)",
        )
        .bind(i64::from(LOCK_NAMESPACE_RUN))
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected())
    }
}

impl RunLease {
    pub fn run_id(&self) -> i64 {
        self.run_id
    }

    /// Whether this run holds `site`'s lock (it seeds the site); a worker that joined another
    /// run's crawl of the site does not.
    pub fn leads(&self, site: &str) -> bool {
        self.locks.iter().any(|l| l == site)
    }

    /// Checks that this run still holds its locks. A live session holds them (they are never
    /// released early); after the session ended, reconnects (a few attempts, 2 s apart) and
    /// takes every lock back.
    ///
    /// Errors: [`ArchiveError::LockLost`] when another run holds a site's lock now, a database
    /// error when the server stays unreachable. Either way the run must stop.
    pub async fn verify(&self) -> Result<(), ArchiveError> {
        let mut slot = self.conn.lock().await;
        if let Some(conn) = slot.as_mut() {
            if sqlx::query("SELECT 1").execute(&mut *conn).await.is_ok() {
                return Ok(());
            }
            tracing::warn!(run_id = self.run_id, "the run's database session ended: taking its locks back");
        }
        *slot = None;
        let mut conn = self.reconnect().await?;
        for site in &self.locks {
            if !try_lock_site(&mut conn, site).await? {
                conn.close().await.ok();
                return Err(ArchiveError::LockLost(site.clone()));
            }
        }
        sqlx::query("SELECT pg_advisory_lock($1, $2::int)")
            .bind(LOCK_NAMESPACE_RUN)
            .bind(self.run_id)
            .execute(&mut conn)
            .await?;
        // Another caiji may have seen the row without its lock in the meantime.
        sqlx::query(
            "UPDATE crawl_runs SET outcome = 'running', finished_at = NULL, error = NULL
             WHERE id = $1 AND outcome = 'abandoned'",
        )
        .bind(self.run_id)
        .execute(&mut conn)
        .await?;
        tracing::info!(run_id = self.run_id, "locks taken back after the database session ended");
        *slot = Some(conn);
        Ok(())
    }

    async fn reconnect(&self) -> Result<PgConnection, ArchiveError> {
        let mut last = None;
        for attempt in 1..=RECONNECT_ATTEMPTS {
            match PgConnection::connect(&self.url).await {
                Ok(c) => return Ok(c),
                Err(e) => {
                    tracing::warn!(attempt, error = %e, "reconnecting to the archive");
                    last = Some(e);
                }
            }
            tokio::time::sleep(RECONNECT_PAUSE).await;
        }
        Err(last.map(ArchiveError::from).unwrap_or_else(|| ArchiveError::Cluster("cannot reconnect".into())))
    }

    /// Ends the session, releasing every lock (call after recording the run's outcome).
    pub async fn release(self) {
        if let Some(conn) = self.conn.into_inner() {
            conn.close().await.ok();
        }
    }
}

async fn try_lock_site(conn: &mut PgConnection, site: &str) -> Result<bool, ArchiveError> {
    Ok(sqlx::query_scalar("SELECT pg_try_advisory_lock($1, hashtext($2))")
        .bind(LOCK_NAMESPACE_CRAWL)
        .bind(site)
        .fetch_one(conn)
        .await?)
}

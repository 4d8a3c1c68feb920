//! A private PostgreSQL cluster run from the machine's own binaries (`initdb`, `pg_ctl`).
//!
//! Layout under the cluster root (default `.caiji/pg`):
//! `data/` the cluster, `run/` its unix socket (no TCP listener, so no port can clash),
//! `server.log`, and `lock` (an advisory file lock so two caiji processes never start the
//! cluster twice). When caiji runs as root (CI, containers), `initdb` and `postgres` refuse to
//! run, so they run as the unprivileged `postgres` user through `runuser`, owning the root dir.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::ArchiveError;

/// Name of the database and superuser inside the private cluster.
pub const DB_NAME: &str = "caiji";

/// Where Debian and Ubuntu install the server binaries (not on PATH).
const DEBIAN_PG_ROOT: &str = "/usr/lib/postgresql";

/// Unix socket paths are limited to ~107 bytes; keep a margin.
const MAX_SOCKET_PATH: usize = 100;

const INSTALL_HINT: &str = "PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or under \
/usr/lib/postgresql/*/bin: install them (Debian/Ubuntu: `apt-get install postgresql`; \
Fedora: `dnf install postgresql-server`; macOS: `brew install postgresql`) or set DATABASE_URL";

/// A cluster directory caiji owns.
#[derive(Debug, Clone)]
pub struct EmbeddedCluster {
    root: PathBuf,
    bin_dir: PathBuf,
    run_as: Option<String>,
    requested: PathBuf,
}

/// Where root's private clusters live when `postgres` cannot reach the configured folder.
pub const ROOT_FALLBACK_DIR: &str = "/var/lib/caiji";

/// What `caiji db status` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterStatus {
    NotInitialised,
    Stopped,
    Running,
}

impl EmbeddedCluster {
    /// Locates the binaries; does not touch the disk.
    ///
    /// As root, the server runs as `postgres`, which must be able to enter every folder above
    /// the cluster. When it cannot (a clone under `/root`, any mode-700 folder: containers do
    /// this every day), the cluster lives in [`ROOT_FALLBACK_DIR`]`/pg-<hash of the requested
    /// path>` instead, one per requested path, and caiji says so when it creates it.
    pub fn new(root: impl AsRef<Path>) -> Result<Self, ArchiveError> {
        let requested = absolute(root.as_ref())?;
        let bin_dir = find_bin_dir().ok_or_else(|| ArchiveError::MissingBinaries(INSTALL_HINT.into()))?;
        let run_as = if is_root() { Some("postgres".to_string()) } else { None };
        let root = match (&run_as, blocked_ancestor(&requested)) {
            (Some(_), Some(_)) => fallback_root(&requested),
            _ => requested.clone(),
        };
        Ok(Self { root, bin_dir, run_as, requested })
    }

    /// The folder the configuration asked for (differs from [`Self::root`] when root's
    /// cluster had to move where `postgres` can reach it).
    pub fn requested_root(&self) -> &Path {
        &self.requested
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    /// The socket directory: inside the root, unless that path is too long for a unix socket,
    /// then a short per-root directory under /tmp.
    pub fn socket_dir(&self) -> PathBuf {
        let inside = self.root.join("run");
        if inside.join(".s.PGSQL.5432").as_os_str().len() <= MAX_SOCKET_PATH {
            return inside;
        }
        let digest = crate::sha256_hex(self.root.to_string_lossy().as_bytes());
        std::env::temp_dir().join(format!("caiji-pg-{}", &digest[..12]))
    }

    /// A URL that both sqlx and `psql` accept.
    pub fn url(&self) -> String {
        format!("postgresql://{DB_NAME}@localhost/{DB_NAME}?host={}", self.socket_dir().display())
    }

    fn admin_url(&self) -> String {
        format!("postgresql://{DB_NAME}@localhost/postgres?host={}", self.socket_dir().display())
    }

    pub fn status(&self) -> Result<ClusterStatus, ArchiveError> {
        if !self.data_dir().join("PG_VERSION").exists() {
            return Ok(ClusterStatus::NotInitialised);
        }
        // pg_ctl status: 0 running, 3 not running, 4 no accessible data directory.
        let out = self.pg_command("pg_ctl", &["status", "-D", &self.data_dir().to_string_lossy()])?;
        Ok(if out.status.success() { ClusterStatus::Running } else { ClusterStatus::Stopped })
    }

    /// Initialises (first time) and starts the cluster, and creates the `caiji` database.
    /// Safe to call from several processes at once: they serialise on the lock file.
    pub async fn ensure_running(&self) -> Result<String, ArchiveError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.ensure_running_blocking())
            .await
            .map_err(|e| ArchiveError::Cluster(format!("cluster start task failed: {e}")))??;
        self.ensure_database().await?;
        Ok(self.url())
    }

    fn ensure_running_blocking(&self) -> Result<(), ArchiveError> {
        fs::create_dir_all(&self.root).map_err(|e| io_err(&self.root, e))?;
        let lock_path = self.root.join("lock");
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| io_err(&lock_path, e))?;
        lock.lock().map_err(|e| io_err(&lock_path, e))?;
        let result = self.start_locked();
        let _ = lock.unlock();
        result
    }

    fn start_locked(&self) -> Result<(), ArchiveError> {
        let data = self.data_dir();
        let socket_dir = self.socket_dir();
        fs::create_dir_all(&socket_dir).map_err(|e| io_err(&socket_dir, e))?;
        if self.root != self.requested && !data.join("PG_VERSION").exists() {
            let (blocked, mode) = blocked_ancestor(&self.requested).unwrap_or_default();
            tracing::warn!(
                requested = %self.requested.display(),
                cluster = %self.root.display(),
                "the private cluster runs as `postgres`, which cannot enter {} (mode {mode:o}): its data lives in {} instead (`caiji db status` shows it)",
                blocked.display(),
                self.root.display(),
            );
            // Whatever the umask, `postgres` must be able to enter the parent folder.
            use std::os::unix::fs::PermissionsExt;
            let _ = fs::set_permissions(ROOT_FALLBACK_DIR, fs::Permissions::from_mode(0o755));
            // A pointer where the user looks for the archive.
            if fs::create_dir_all(&self.requested).is_ok() {
                let _ = fs::write(
                    self.requested.join("WHERE.txt"),
                    format!("caiji's private cluster for this folder lives in {}\n", self.root.display()),
                );
            }
        }
        if let Some(user) = &self.run_as {
            self.check_traversable(user)?;
            // initdb and pg_ctl (run as `user`) write data/, run/ and server.log here.
            chown(&self.root, user)?;
            chown(&socket_dir, user)?;
        }
        if !data.join("PG_VERSION").exists() {
            tracing::info!(dir = %data.display(), "initialising private PostgreSQL cluster");
            // A half-made data dir (initdb killed) would make initdb refuse: start clean.
            if data.exists() {
                fs::remove_dir_all(&data).map_err(|e| io_err(&data, e))?;
            }
            // C.UTF-8 whatever the caller's locale: cron has no LANG, and a UTF-8 database is
            // what texts and their characters (`texts.chars`) assume.
            let out = self.pg_command(
                "initdb",
                &[
                    "-D",
                    &data.to_string_lossy(),
                    "-U",
                    DB_NAME,
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                    "--no-instructions",
                ],
            )?;
            if !out.status.success() {
                return Err(ArchiveError::Cluster(format!(
                    "initdb failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                )));
            }
        }
        if self.status()? == ClusterStatus::Running {
            if socket_dir.join(".s.PGSQL.5432").exists() {
                return Ok(());
            }
            // Running, but its socket is gone (its folder was deleted and made anew while it
            // ran): a restart recreates it.
            tracing::warn!("private cluster is running without its socket: restarting it");
            self.stop()?;
        }
        tracing::info!(dir = %data.display(), "starting private PostgreSQL cluster");
        let log = self.root.join("server.log");
        let options = format!(
            "-c listen_addresses='' -c unix_socket_directories='{}' -c max_connections=100 -c fsync=on",
            socket_dir.display()
        );
        let out = self.pg_command(
            "pg_ctl",
            &["start", "-w", "-t", "60", "-D", &data.to_string_lossy(), "-l", &log.to_string_lossy(), "-o", &options],
        )?;
        if !out.status.success() {
            let tail = fs::read_to_string(&log)
                .map(|s| s.lines().rev().take(5).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join(" | "))
                .unwrap_or_default();
            return Err(ArchiveError::Cluster(format!(
                "pg_ctl start failed: {} {}; server log: {tail}",
                String::from_utf8_lossy(&out.stdout).trim(),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(())
    }

    async fn ensure_database(&self) -> Result<(), ArchiveError> {
        use sqlx::Connection;
        let mut conn = connect_retrying(&self.admin_url()).await?;
        let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
            .bind(DB_NAME)
            .fetch_optional(&mut conn)
            .await?;
        if exists.is_none() {
            // Two processes may race here; the loser sees duplicate_database (42P04).
            if let Err(e) = sqlx::query("CREATE DATABASE caiji").execute(&mut conn).await {
                let duplicate =
                    e.as_database_error().and_then(|d| d.code()).is_some_and(|c| c == "42P04" || c == "23505");
                if !duplicate {
                    return Err(e.into());
                }
            }
        }
        conn.close().await.ok();
        Ok(())
    }

    pub fn stop(&self) -> Result<bool, ArchiveError> {
        if self.status()? != ClusterStatus::Running {
            return Ok(false);
        }
        let out = self.pg_command("pg_ctl", &["stop", "-w", "-m", "fast", "-D", &self.data_dir().to_string_lossy()])?;
        if !out.status.success() {
            return Err(ArchiveError::Cluster(format!(
                "pg_ctl stop failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(true)
    }

    fn pg_command(&self, program: &str, args: &[&str]) -> Result<std::process::Output, ArchiveError> {
        let exe = self.bin_dir.join(program);
        let mut cmd = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.arg("-u").arg(user).arg("--").arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        cmd.args(args);
        // Neither the caller's locale nor its PG* variables may leak into the private cluster.
        cmd.env("LC_ALL", "C.UTF-8").env_remove("PGDATA").env_remove("PGHOST").env_remove("PGPORT");
        cmd.current_dir(&self.root);
        cmd.output().map_err(|e| {
            ArchiveError::Cluster(format!(
                "cannot run {} ({}): {e}",
                exe.display(),
                if self.run_as.is_some() { "via runuser" } else { "directly" }
            ))
        })
    }

    /// As root the server runs as `postgres`, which must be able to reach the root directory.
    fn check_traversable(&self, user: &str) -> Result<(), ArchiveError> {
        use std::os::unix::fs::PermissionsExt;
        let mut dir = self.root.parent();
        while let Some(d) = dir {
            if let Ok(meta) = fs::metadata(d)
                && meta.permissions().mode() & 0o001 == 0
            {
                return Err(ArchiveError::Cluster(format!(
                    "running as root, the private cluster runs as user `{user}`, which cannot enter {} (mode {:o}); \
                     choose a database.data_dir elsewhere (e.g. /var/tmp/caiji-pg) or set DATABASE_URL",
                    d.display(),
                    meta.permissions().mode() & 0o777
                )));
            }
            dir = d.parent();
        }
        Ok(())
    }
}

/// sqlx connects before the server is accepting when two processes race at start.
async fn connect_retrying(url: &str) -> Result<sqlx::PgConnection, ArchiveError> {
    use sqlx::Connection;
    let mut last = None;
    for _ in 0..50 {
        match sqlx::PgConnection::connect(url).await {
            Ok(c) => return Ok(c),
            Err(e) => {
                last = Some(e);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    Err(last.map(ArchiveError::from).unwrap_or_else(|| ArchiveError::Cluster("cannot connect".into())))
}

fn find_bin_dir() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if dir.join("initdb").is_file() && dir.join("pg_ctl").is_file() {
                return Some(dir);
            }
        }
    }
    // Highest installed major version first.
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir(DEBIAN_PG_ROOT)
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let major = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            (bin.join("initdb").is_file() && bin.join("pg_ctl").is_file()).then_some((major, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// The nearest folder above `path` that others cannot enter (no `x` for others), with its mode.
fn blocked_ancestor(path: &Path) -> Option<(PathBuf, u32)> {
    use std::os::unix::fs::PermissionsExt;
    let mut dir = path.parent();
    while let Some(d) = dir {
        if let Ok(meta) = fs::metadata(d) {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o001 == 0 {
                return Some((d.to_path_buf(), mode));
            }
        }
        dir = d.parent();
    }
    None
}

fn fallback_root(requested: &Path) -> PathBuf {
    let digest = crate::sha256_hex(requested.to_string_lossy().as_bytes());
    Path::new(ROOT_FALLBACK_DIR).join(format!("pg-{}", &digest[..12]))
}

fn is_root() -> bool {
    // /proc/self is owned by the process's effective uid.
    use std::os::unix::fs::MetadataExt;
    fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

fn chown(path: &Path, user: &str) -> Result<(), ArchiveError> {
    let status = Command::new("chown")
        .arg(format!("{user}:"))
        .arg(path)
        .status()
        .map_err(|e| ArchiveError::Cluster(format!("cannot run chown: {e}")))?;
    if !status.success() {
        return Err(ArchiveError::Cluster(format!(
            "chown {user} {} failed (does the `{user}` user exist? it comes with the postgresql package)",
            path.display()
        )));
    }
    Ok(())
}

fn absolute(p: &Path) -> Result<PathBuf, ArchiveError> {
    std::path::absolute(p).map_err(|e| io_err(p, e))
}

fn io_err(path: &Path, e: std::io::Error) -> ArchiveError {
    ArchiveError::Cluster(format!("{}: {e}", path.display()))
}

//! The crawl: site config → frontier → fetch → archive → extract. Joins the fetcher (HTTP)
//! and the archive (SQL), which know nothing of each other.

pub mod canon;
pub mod config;
pub mod crawl;
pub mod database;
pub mod documents;
pub mod replay;
pub mod rerun;
pub mod revisit;
pub mod sitemap;
pub mod warc;

pub use config::{Config, SiteConfig};
pub use crawl::{CrawlOptions, CrawlSummary, crawl};
pub use tokio_util::sync::CancellationToken;

/// Merges the search index's pending entries once a run that wrote texts has ended (crawl,
/// re-extraction, import): searches find them either way, and read fewer pages merged. A
/// failure loses nothing; a role that does not own the index (SQLSTATE 42501) can never merge,
/// so that is told at debug level only.
pub(crate) async fn merge_search_index(archive: &caiji_archive::Archive) {
    match archive.merge_search_index().await {
        Ok(pages) => tracing::debug!(pending_pages = pages, "search index merged"),
        Err(caiji_archive::ArchiveError::Database(e))
            if e.as_database_error().and_then(|d| d.code()).is_some_and(|c| c == "42501") =>
        {
            tracing::debug!(error = %e, "search index not merged: this role does not own it");
        }
        Err(e) => tracing::warn!(error = %e, "search index's pending entries not merged: `caiji index` will do it"),
    }
}

/// caiji's version, recorded on every run and extraction.
pub const CAIJI_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The commit caiji was built from, when built from a git checkout.
pub fn git_commit() -> Option<String> {
    option_env!("CAIJI_GIT_COMMIT").map(str::to_string)
}

/// A progress bar on standard error for `total` items (`None`: no bar; `total` unknown: a
/// counter), drawn only when asked (terminals).
pub fn progress_bar(show: bool, unit: &str) -> Option<indicatif::ProgressBar> {
    if !show {
        return None;
    }
    let bar = indicatif::ProgressBar::new_spinner();
    let style = indicatif::ProgressStyle::with_template(&format!(
        "{{spinner}} {{pos}} {unit} ({{per_sec}}) {{elapsed}} {{msg}}"
    ))
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner());
    bar.set_style(style);
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    Some(bar)
}

/// A `crawl_runs` row for this build of caiji.
pub(crate) fn run_info(command: &str, arguments: &serde_json::Value, sites: &[String]) -> caiji_archive::RunInfo {
    caiji_archive::RunInfo {
        command: command.into(),
        arguments: arguments.clone(),
        sites: sites.to_vec(),
        caiji_version: CAIJI_VERSION.into(),
        git_commit: git_commit(),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CrawlError {
    #[error("configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Archive(#[from] caiji_archive::ArchiveError),
    #[error(transparent)]
    Fetch(#[from] caiji_fetch::FetchError),
    #[error("replay server: {0}")]
    Replay(String),
    /// A command line that cannot be carried out as given (exit 2).
    #[error("{0}")]
    Usage(String),
    /// `caiji db status`: the private cluster is not running (exit 1).
    #[error("the private cluster is not running")]
    NotRunning,
    /// Writing the command's output failed (a closed pipe, a full disk).
    #[error("writing output: {0}")]
    Output(String),
    /// An export could not write its files (exit 4).
    #[error("export: {0}")]
    Export(String),
    /// An import could not read a file at all (exit 4; bad records are counted, not errors).
    #[error("import: {0}")]
    Import(String),
    /// Stopped by a signal (exit 130 for SIGINT, 143 for SIGTERM: the code is carried).
    #[error("stopped by a signal")]
    Interrupted(u8),
}

impl CrawlError {
    pub fn is_lock_held(&self) -> bool {
        matches!(self, Self::Archive(caiji_archive::ArchiveError::LockHeld(_)))
    }
}

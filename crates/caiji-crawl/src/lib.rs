//! The crawl: site config → frontier → fetch → archive → extract. Joins the fetcher (HTTP)
//! and the archive (SQL), which know nothing of each other.

pub mod canon;
pub mod config;
pub mod crawl;
pub mod database;
pub mod replay;
pub mod rerun;
pub mod revisit;
pub mod sitemap;

pub use config::{Config, SiteConfig};
pub use crawl::{CrawlOptions, CrawlSummary, crawl};
pub use tokio_util::sync::CancellationToken;

/// caiji's version, recorded on every run and extraction.
pub const CAIJI_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The commit caiji was built from, when built from a git checkout.
pub fn git_commit() -> Option<String> {
    option_env!("CAIJI_GIT_COMMIT").map(str::to_string)
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
}

impl CrawlError {
    pub fn is_lock_held(&self) -> bool {
        matches!(self, Self::Archive(caiji_archive::ArchiveError::LockHeld(_)))
    }
}

//! `caiji`: the command line. Parses arguments and calls the library crates.

mod parse;
mod report;

// Parsing allocates and frees many small nodes per page: mimalloc makes extraction about 6%
// faster than glibc malloc (`just bench-extract`). Library crates leave the choice to binaries.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use caiji_crawl::database::DatabaseTarget;
use caiji_crawl::{Config, CrawlError, CrawlOptions};
use clap::{Parser, Subcommand, ValueEnum};

const EXIT_CODES: &str = "\
EXIT CODES:
    0    done: every fetch succeeded (pages answering 4xx are recorded as gone, not failures)
    1    done with failures, or incomplete: some fetches failed (timeouts, 5xx after retries,
         refused bodies, ...), or some hosts were deferred because their robots.txt was
         unavailable (their URLs stay pending for the next run); all recorded in the archive
    2    bad configuration or command line (a query `caiji sql` cannot run included)
    3    another caiji crawl holds the lock for one of the sites (nothing was done)
    4    runtime failure: database unreachable or gone mid-run, lock lost, archive error
    130  interrupted by SIGINT (in-flight URLs released, run recorded `interrupted`)
    143  interrupted by SIGTERM (likewise)
`caiji db status` exits 0 when the private cluster runs, 1 when it does not.";

/// Exit codes (also in `--help` and the README).
mod exit {
    pub const DONE: u8 = 0;
    pub const DONE_WITH_FAILURES: u8 = 1;
    pub const BAD_CONFIG: u8 = 2;
    pub const LOCK_HELD: u8 = 3;
    pub const RUNTIME: u8 = 4;
    pub const SIGINT: u8 = 130;
    pub const SIGTERM: u8 = 143;
}

#[derive(Parser)]
#[command(name = "caiji", version, about = "采集: polite crawler, raw archive in PostgreSQL, per-site extraction", after_help = EXIT_CODES)]
struct Cli {
    /// Global configuration file; site files live in its `sites/` folder.
    #[arg(long, global = true, env = "CAIJI_CONFIG", default_value = "config/caiji.toml")]
    config: PathBuf,
    /// The private cluster's folder (overrides `database.data_dir`; relative to the working
    /// directory).
    #[arg(long, global = true, env = "CAIJI_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Log format on stderr: readable text or JSON lines (for cron and log shippers).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// More logging (-v debug, -vv trace); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Crawl sites into the archive.
    Crawl(CrawlArgs),
    /// Crawl the recorded fixture sites from loopback into the default archive, then print
    /// what landed (`caiji crawl --replay fixtures/sites` + a summary from SQL).
    Demo {
        /// Folder of recorded sites.
        #[arg(long, default_value = "fixtures/sites")]
        replay: PathBuf,
    },
    /// Manage the archive database.
    Db {
        #[command(subcommand)]
        action: DbAction,
    },
    /// Extract the record of saved pages (one file, or a folder to a folder).
    Parse(parse::ParseArgs),
    /// Re-run the current extractors over the archive (no network).
    Extract(ExtractArgs),
    /// Compare two versions of an extractor over the archive (`--extractor`), or the texts a page
    /// had over time (`--url`).
    Diff(DiffArgs),
    /// Run a read-only SQL query against the archive.
    Sql(SqlArgs),
    /// Merge the search index's pending entries (new texts wait in GIN's pending list) into
    /// the index. A crawl, a re-extraction and an import do it when they end; this is for after a
    /// killed run.
    Index,
    /// Validate the configuration and every site file, resolve the start URLs' hosts (and say
    /// which a live crawl would refuse); fetches nothing. Exit 0 all good, 1 warnings, 2 errors.
    Check {
        /// Only this site (repeatable); default: all.
        #[arg(long = "site")]
        sites: Vec<String>,
    },
    /// Write the archive out: WARC files (`export warc`) or a documents dataset (`export documents`).
    Export {
        #[command(subcommand)]
        what: ExportWhat,
    },
    /// Bring WARC or ARC files written by other tools into the archive (`import warc FILE...`).
    Import {
        #[command(subcommand)]
        what: ImportWhat,
    },
    /// Print the crontab lines the sites' `schedule` fields describe (install with `crontab`).
    Schedule {
        /// Folder for the JSON log files (one per site).
        #[arg(long, default_value = "/var/log/caiji")]
        log_dir: PathBuf,
    },
}

#[derive(clap::Subcommand)]
enum ExportWhat {
    /// Captures as WARC/1.1 files (gzip per record, rolling over at --max-size); see docs/warc.md.
    Warc {
        /// Only this site (repeatable); default: all.
        #[arg(long = "site")]
        sites: Vec<String>,
        /// Only captures fetched on or after this date (YYYY-MM-DD or RFC 3339).
        #[arg(long)]
        since: Option<String>,
        /// Only captures of this crawl run.
        #[arg(long)]
        run: Option<i64>,
        /// Folder the WARC files are written to.
        #[arg(long)]
        out: PathBuf,
        /// Start a new file once one holds this many bytes (suffixes K, M, G: 1024-based).
        #[arg(long, default_value = "1G")]
        max_size: String,
        /// File name prefix: PREFIX-YYYYMMDDhhmmss-NNNNN.warc.gz.
        #[arg(long, default_value = "caiji")]
        prefix: String,
    },
    /// The documents view, one row per URL, as JSON Lines or Parquet.
    Documents {
        #[arg(long, value_enum)]
        format: DocFormat,
        /// Only this site (repeatable); default: all.
        #[arg(long = "site")]
        sites: Vec<String>,
        /// Only documents whose capture was fetched on or after this date.
        #[arg(long)]
        since: Option<String>,
        /// The file to write.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum DocFormat {
    Jsonl,
    Parquet,
}

#[derive(clap::Subcommand)]
enum ImportWhat {
    /// WARC (gzip per record or not) and ARC files; each capture lands as if crawled. Importing
    /// a file twice adds nothing. Exit 1 when a record was rejected (reasons in warc_records).
    Warc {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(clap::Args)]
struct ExtractArgs {
    /// Re-extract stored captures (the only mode: extraction at crawl time is automatic).
    #[arg(long, required = true)]
    rerun: bool,
    /// Only this site (repeatable); default: all.
    #[arg(long = "site")]
    sites: Vec<String>,
    /// Run this extractor instead of each site's own (e.g. generic).
    #[arg(long)]
    extractor: Option<String>,
    /// Only captures fetched on or after this date (YYYY-MM-DD or RFC 3339).
    #[arg(long)]
    since: Option<String>,
    /// Extract again even where this extractor version and configuration already did.
    #[arg(long)]
    force: bool,
    /// Captures per batch. Memory is bounded by the seven batches in flight: with 20 KB pages,
    /// about 100 MB at 128 when texts are unchanged and 240 MB when every text is new (512:
    /// 170 and 550 MB, for no measured gain in speed).
    #[arg(long, default_value_t = 128)]
    batch_size: usize,
}

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["extractor", "url"])))]
struct DiffArgs {
    /// The extractor whose versions to compare.
    #[arg(long)]
    extractor: Option<String>,
    /// A page (its canonical URL): the changes between the texts it had over time.
    #[arg(long, conflicts_with_all = ["from", "to"])]
    url: Option<String>,
    /// Older version (default: the second newest in the archive).
    #[arg(long)]
    from: Option<String>,
    /// Newer version (default: the newest in the archive).
    #[arg(long)]
    to: Option<String>,
    /// How many changed documents to show as unified diffs.
    #[arg(long, default_value_t = 3)]
    limit: i64,
}

#[derive(clap::Args)]
struct SqlArgs {
    /// One SELECT (run in a read-only transaction).
    query: String,
    #[arg(long, value_enum, default_value_t = report::SqlFormat::Table)]
    format: report::SqlFormat,
}

#[derive(clap::Args)]
struct CrawlArgs {
    /// Crawl only this site (repeatable); default: every site in config/sites/.
    #[arg(long = "site")]
    sites: Vec<String>,
    /// Stop after this many fetches.
    #[arg(long)]
    max_pages: Option<u64>,
    /// Serve recorded sites (layout of fixtures/sites/) from a loopback server instead of the network.
    #[arg(long)]
    replay: Option<PathBuf>,
    /// Obey robots.txt Crawl-delay only up to this many seconds (overrides the config).
    #[arg(long)]
    crawl_delay_cap: Option<f64>,
    /// Minimum gap between two requests to one host, in milliseconds (overrides the global
    /// config and every site file's `min_interval_ms`).
    #[arg(long)]
    min_interval_ms: Option<u64>,
    /// Revisit every captured article of the selected sites this run (conditional GETs where
    /// the server gave validators), due or not, whatever the sites' `revisit_after`.
    #[arg(long)]
    revisit_all: bool,
    /// Join the crawl another worker is running on these sites (this machine or another, same
    /// archive) instead of exiting 3: the workers share the frontier (claims are leases), and
    /// each host's interval holds across all of them (turns booked in the archive).
    #[arg(long)]
    join: bool,
}

#[derive(Subcommand)]
enum DbAction {
    /// Start the private cluster (no-op with DATABASE_URL).
    Start,
    /// Stop the private cluster.
    Stop,
    /// Is the private cluster running?
    Status,
    /// Print a URL psql accepts: psql "$(caiji db url)".
    Url,
    /// Apply pending migrations.
    Migrate,
}

/// `--data-dir` / `CAIJI_DATA_DIR`, applied to every configuration this process loads.
static DATA_DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

fn load_config(path: &std::path::Path) -> Result<Config, CrawlError> {
    let mut config = Config::load(path)?;
    if let Some(dir) = DATA_DIR.get() {
        config.global.database.data_dir = dir.clone();
    }
    Ok(config)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(dir) = &cli.data_dir {
        let _ = DATA_DIR.set(dir.clone());
    }
    init_logging(cli.log_format, cli.verbose);
    // No transparent huge pages for this process (nor the PostgreSQL it starts, which inherits
    // the flag): mimalloc asks for them on its arenas, and a 2 MiB page stays resident while
    // any 4 KiB of it is in use. A crawl of 1,000 hosts peaked at 148 MB with them and 98 MB
    // without, with the same CPU per page; extraction speed is unchanged (issue 16).
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::thread::disable_transparent_huge_pages(true) {
        tracing::debug!(error = %e, "cannot turn transparent huge pages off: memory use may be higher");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the async runtime");
            return ExitCode::from(exit::RUNTIME);
        }
    };
    let code = runtime.block_on(run(cli));
    // Analyses given up on (a page parsing for minutes) may still run on blocking threads:
    // their results are not wanted, and the exit must not wait for them.
    runtime.shutdown_background();
    ExitCode::from(code)
}

async fn run(cli: Cli) -> u8 {
    // In JSON mode every line caiji writes is JSON, summaries included (cron appends stdout and
    // stderr to one file).
    let json = matches!(cli.log_format, LogFormat::Json);
    match cli.command {
        Command::Parse(args) => match parse::run(&cli.config, args) {
            Ok(code) => code,
            Err(e) => {
                tracing::error!("{e:#}");
                exit::BAD_CONFIG
            }
        },
        Command::Crawl(args) => {
            let arguments = serde_json::json!({
                "command": "crawl", "sites": args.sites, "max_pages": args.max_pages,
                "replay": args.replay, "crawl_delay_cap": args.crawl_delay_cap, "min_interval_ms": args.min_interval_ms,
                "join": args.join,
            });
            let mut config = match load_config(&cli.config) {
                Ok(c) => c,
                Err(e) => return report(&e),
            };
            if let Some(cap) = args.crawl_delay_cap {
                config.global.fetch.crawl_delay_cap_secs = cap;
            }
            if let Some(ms) = args.min_interval_ms {
                config.global.fetch.min_interval_ms = ms;
                // The command line wins over the site files too, as its help says.
                for site in &mut config.sites {
                    site.file.min_interval_ms = None;
                }
            }
            let opts = CrawlOptions {
                sites: args.sites,
                max_pages: args.max_pages,
                replay: args.replay,
                routes: Default::default(),
                arguments,
                progress: true,
                cancel: Default::default(),
                revisit_all: args.revisit_all,
                now: None,
                join: args.join,
            };
            let signal = stop_on_signals(&opts.cancel);
            match crawl(&config, &opts).await {
                Ok(summary) => {
                    print_crawl_summary(&summary, json);
                    crawl_exit_code(&summary, &signal)
                }
                Err(e) => report(&e),
            }
        }
        Command::Demo { replay } => {
            let config = match load_config(&cli.config) {
                Ok(mut c) => {
                    // Recorded sites on loopback: keep robots' Crawl-delay (job328 asks 10 s) but
                    // cap it at 1 s so the demo takes a minute, not several.
                    c.global.fetch.crawl_delay_cap_secs = c.global.fetch.crawl_delay_cap_secs.min(1.0);
                    c
                }
                Err(e) => return report(&e),
            };
            let arguments = serde_json::json!({"command": "demo", "replay": replay, "crawl_delay_cap": 1.0});
            let opts = CrawlOptions {
                sites: vec![],
                max_pages: None,
                replay: Some(replay),
                routes: Default::default(),
                arguments,
                progress: true,
                cancel: Default::default(),
                revisit_all: false,
                now: None,
                join: false,
            };
            let signal = stop_on_signals(&opts.cancel);
            let code = match crawl(&config, &opts).await {
                Ok(summary) => {
                    print_crawl_summary(&summary, json);
                    crawl_exit_code(&summary, &signal)
                }
                Err(e) => return report(&e),
            };
            if code >= exit::SIGINT {
                return code;
            }
            match demo_report(&config).await {
                Ok(()) => code,
                Err(e) => {
                    tracing::error!("{e:#}");
                    exit::RUNTIME
                }
            }
        }
        Command::Extract(args) => {
            let config = match load_config(&cli.config) {
                Ok(c) => c,
                Err(e) => return report(&e),
            };
            let since = match args.since.as_deref().map(|s| (s, caiji_crawl::rerun::parse_since(s))) {
                Some((s, None)) => {
                    tracing::error!("--since {s:?}: expected YYYY-MM-DD or an RFC 3339 timestamp");
                    return exit::BAD_CONFIG;
                }
                Some((_, t)) => t,
                None => None,
            };
            let arguments = serde_json::json!({
                "command": "extract --rerun", "sites": args.sites, "extractor": args.extractor,
                "since": args.since, "force": args.force,
            });
            let opts = caiji_crawl::rerun::RerunOptions {
                sites: args.sites,
                extractor: args.extractor,
                since,
                force: args.force,
                batch_size: args.batch_size,
                progress: true,
                arguments,
            };
            let result = async {
                config.select_sites(&opts.sites)?;
                let (archive, url) = DatabaseTarget::from_config(&config)?.open_existing().await?;
                caiji_crawl::rerun::rerun(&config, &archive, &url, &opts).await
            }
            .await;
            match result {
                Ok(summary) => {
                    print_rerun_summary(&summary, json);
                    if summary.failed.is_empty() { exit::DONE } else { exit::DONE_WITH_FAILURES }
                }
                Err(e) => report(&e),
            }
        }
        Command::Diff(args) => match diff(&cli.config, args).await {
            Ok(()) => exit::DONE,
            Err(e) => report(&e),
        },
        Command::Check { sites } => match check(&cli.config, &sites, json).await {
            Ok(code) => code,
            Err(e) => report(&e),
        },
        Command::Export { what } => match export(&cli.config, what, json).await {
            Ok(()) => exit::DONE,
            Err(e) => report(&e),
        },
        Command::Import { what: ImportWhat::Warc { files } } => match import(&cli.config, files, json).await {
            Ok(s) if s.rejected > 0 || s.damaged_files > 0 => exit::DONE_WITH_FAILURES,
            Ok(_) => exit::DONE,
            Err(e) => report(&e),
        },
        Command::Schedule { log_dir } => match schedule(&cli.config, &log_dir) {
            Ok(()) => exit::DONE,
            Err(e) => report(&e),
        },
        Command::Index => {
            let result = async {
                let config = load_config(&cli.config)?;
                let (archive, _) = DatabaseTarget::from_config(&config)?.open_existing().await?;
                Ok::<_, CrawlError>(archive.merge_search_index().await?)
            }
            .await;
            match result {
                Ok(pages) => {
                    tracing::info!(pending_pages = pages, "search index merged");
                    exit::DONE
                }
                Err(e) => report(&e),
            }
        }
        Command::Sql(args) => match sql(&cli.config, args).await {
            Ok(()) => exit::DONE,
            Err(e) => report(&e),
        },
        Command::Db { action } => match db(&cli.config, action).await {
            Ok(()) => exit::DONE,
            Err(CrawlError::NotRunning) => exit::DONE_WITH_FAILURES,
            Err(e) => report(&e),
        },
    }
}

/// `--max-size 1G`: bytes, with an optional K/M/G suffix (1024-based).
fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let (digits, unit) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => (&s[..i], s[i..].trim().to_ascii_uppercase()),
        None => (s, String::new()),
    };
    let n: u64 = digits.parse().ok()?;
    let shift = match unit.trim_end_matches('B').trim_end_matches('I') {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => return None,
    };
    n.checked_mul(1u64 << shift)
}

fn since_arg(since: Option<&str>) -> Result<Option<chrono::DateTime<chrono::Utc>>, CrawlError> {
    match since {
        None => Ok(None),
        Some(s) => caiji_crawl::rerun::parse_since(s)
            .map(Some)
            .ok_or_else(|| CrawlError::Usage(format!("--since {s:?}: expected YYYY-MM-DD or an RFC 3339 timestamp"))),
    }
}

async fn export(config_path: &std::path::Path, what: ExportWhat, json: bool) -> Result<(), CrawlError> {
    let config = load_config(config_path)?;
    let progress = std::io::stderr().is_terminal();
    match what {
        ExportWhat::Warc { sites, since, run, out, max_size, prefix } => {
            if out.exists() && !out.is_dir() {
                return Err(CrawlError::Usage(format!("--out {}: exists and is not a folder", out.display())));
            }
            let max_size = parse_size(&max_size).ok_or_else(|| {
                CrawlError::Usage(format!("--max-size {max_size:?}: expected e.g. 1G, 500M, 1048576"))
            })?;
            if prefix.is_empty() || prefix.contains('/') || prefix.len() > 100 {
                return Err(CrawlError::Usage(format!("--prefix {prefix:?}: a file name prefix without '/'")));
            }
            let filter = caiji_archive::ExportFilter { sites, since: since_arg(since.as_deref())?, run_id: run };
            let (archive, _) = DatabaseTarget::from_config(&config)?.open_existing().await?;
            known_sites(&config, &archive, &filter.sites).await?;
            let cancel = caiji_crawl::CancellationToken::new();
            let signal = stop_on_signals(&cancel);
            let opts = caiji_crawl::warc::export::WarcExportOptions { filter, out, prefix, max_size, progress, cancel };
            let s = caiji_crawl::warc::export::export_warc(&config, &archive, &opts).await?;
            if s.interrupted {
                tracing::warn!(files = s.files.len(), "export stopped by a signal: the files written are complete");
                return Err(CrawlError::Interrupted(signal.load(std::sync::atomic::Ordering::SeqCst)));
            }
            print_line(json, serde_json::json!({"summary": "export warc", "result": s}), || {
                format!(
                    "exported {} captures ({} responses, {} revisits) as {} records, {} bytes: {}",
                    s.captures,
                    s.responses,
                    s.revisits,
                    s.records,
                    s.bytes,
                    caiji_crawl::warc::export::describe(&s.files)
                )
            })
        }
        ExportWhat::Documents { format, sites, since, out } => {
            let filter = caiji_archive::ExportFilter { sites, since: since_arg(since.as_deref())?, run_id: None };
            let (archive, _) = DatabaseTarget::from_config(&config)?.open_existing().await?;
            known_sites(&config, &archive, &filter.sites).await?;
            let format = match format {
                DocFormat::Jsonl => caiji_crawl::documents::DocumentFormat::Jsonl,
                DocFormat::Parquet => caiji_crawl::documents::DocumentFormat::Parquet,
            };
            let opts = caiji_crawl::documents::DocumentExportOptions { filter, format, out, progress };
            let s = caiji_crawl::documents::export_documents(&archive, &opts).await?;
            print_line(json, serde_json::json!({"summary": "export documents", "result": s}), || {
                format!("exported {} documents, {} bytes: {}", s.documents, s.bytes, s.path.display())
            })
        }
    }
}

async fn import(
    config_path: &std::path::Path,
    files: Vec<PathBuf>,
    json: bool,
) -> Result<caiji_crawl::warc::import::WarcImportSummary, CrawlError> {
    let config = load_config(config_path)?;
    let (archive, url) = DatabaseTarget::from_config(&config)?.open().await?;
    let arguments = serde_json::json!({"command": "import warc", "files": files});
    let cancel = caiji_crawl::CancellationToken::new();
    let signal = stop_on_signals(&cancel);
    let opts = caiji_crawl::warc::import::WarcImportOptions {
        files,
        arguments,
        progress: std::io::stderr().is_terminal(),
        cancel: cancel.clone(),
    };
    let s = caiji_crawl::warc::import::import_warc(&config, &archive, &url, &opts).await?;
    if cancel.is_cancelled() {
        tracing::warn!(
            run_id = s.run_id,
            imported = s.imported,
            "import stopped by a signal: what was committed stays"
        );
        return Err(CrawlError::Interrupted(signal.load(std::sync::atomic::Ordering::SeqCst)));
    }
    print_line(json, serde_json::json!({"summary": "import warc", "result": s}), || {
        format!(
            "import run {}: {} records in {} files: {} imported ({} extracted), {} skipped, {} rejected, {} already imported{}",
            s.run_id,
            s.records,
            s.files,
            s.imported,
            s.extracted,
            s.skipped,
            s.rejected,
            s.already_imported,
            if s.damaged_files > 0 { format!(", {} damaged files", s.damaged_files) } else { String::new() }
        )
    })?;
    Ok(s)
}

/// `--site` names for an export: configured sites, or sites the archive holds captures of
/// (an import files hosts no site owns under the host's name).
async fn known_sites(config: &Config, archive: &caiji_archive::Archive, sites: &[String]) -> Result<(), CrawlError> {
    for site in sites {
        if config.site(site).is_some() {
            continue;
        }
        let held: Option<i32> = sqlx::query_scalar("SELECT 1 FROM captures WHERE site = $1 LIMIT 1")
            .bind(site)
            .fetch_optional(archive.pool())
            .await
            .map_err(caiji_archive::ArchiveError::from)?;
        if held.is_none() {
            return Err(CrawlError::Usage(format!(
                "--site {site:?}: no such site in the configuration or the archive"
            )));
        }
    }
    Ok(())
}

/// A command's summary: one JSON object in JSON mode, a sentence otherwise.
#[allow(clippy::print_stdout)]
fn print_line(json: bool, value: serde_json::Value, text: impl FnOnce() -> String) -> Result<(), CrawlError> {
    use std::io::Write;
    let line = if json { value.to_string() } else { text() };
    writeln!(std::io::stdout(), "{line}").map_err(|e| CrawlError::Output(e.to_string()))
}

async fn crawl(config: &Config, opts: &CrawlOptions) -> Result<caiji_crawl::CrawlSummary, CrawlError> {
    config.select_sites(&opts.sites)?; // a typo in --site is a usage error, whatever the database
    let target = DatabaseTarget::from_config(config)?;
    let (archive, url) = target.open().await?;
    caiji_crawl::crawl(config, &archive, &url, opts).await
}

/// The exit code of a crawl that ran to its end (see EXIT CODES).
fn crawl_exit_code(summary: &caiji_crawl::CrawlSummary, signal: &std::sync::Arc<std::sync::atomic::AtomicU8>) -> u8 {
    use caiji_archive::RunOutcome;
    match summary.outcome {
        RunOutcome::Interrupted => match signal.load(std::sync::atomic::Ordering::SeqCst) {
            0 => exit::SIGINT,
            code => code,
        },
        RunOutcome::Done => exit::DONE,
        RunOutcome::DoneWithFailures | RunOutcome::Incomplete => exit::DONE_WITH_FAILURES,
        RunOutcome::Failed | RunOutcome::Running | RunOutcome::Abandoned => exit::RUNTIME,
    }
}

/// On the first SIGINT or SIGTERM, cancels `cancel` (the crawl stops claiming, releases its
/// in-flight URLs and records `interrupted`) and remembers the exit code (130 or 143); a second
/// signal exits at once (the run is then marked `abandoned` by the next caiji).
fn stop_on_signals(cancel: &caiji_crawl::CancellationToken) -> std::sync::Arc<std::sync::atomic::AtomicU8> {
    use std::sync::atomic::{AtomicU8, Ordering};
    use tokio::signal::unix::{SignalKind, signal};
    let code = std::sync::Arc::new(AtomicU8::new(0));
    let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
        tracing::warn!("cannot install signal handlers: SIGINT/SIGTERM will end the crawl without recording it");
        return code;
    };
    let cancel = cancel.clone();
    let seen = code.clone();
    tokio::spawn(async move {
        loop {
            let got = tokio::select! {
                _ = int.recv() => exit::SIGINT,
                _ = term.recv() => exit::SIGTERM,
            };
            if seen.load(Ordering::SeqCst) != 0 {
                tracing::error!("second signal: exiting now");
                std::process::exit(i32::from(got));
            }
            seen.store(got, Ordering::SeqCst);
            tracing::warn!(exit_code = got, "signal received: finishing in-flight work, then stopping");
            cancel.cancel();
        }
    });
    code
}

/// The one mapping from an error's kind to the exit code, for every command.
fn report(e: &CrawlError) -> u8 {
    tracing::error!("{e}");
    exit_code(e)
}

fn exit_code(e: &CrawlError) -> u8 {
    use caiji_archive::ArchiveError;
    match e {
        CrawlError::Config(_) | CrawlError::Usage(_) | CrawlError::Archive(ArchiveError::Query(_)) => exit::BAD_CONFIG,
        CrawlError::Archive(ArchiveError::LockHeld(_)) => exit::LOCK_HELD,
        CrawlError::NotRunning => exit::DONE_WITH_FAILURES,
        CrawlError::Interrupted(code) if *code != 0 => *code,
        CrawlError::Interrupted(_) => exit::SIGINT,
        _ => exit::RUNTIME,
    }
}

#[allow(clippy::print_stdout)] // the CLI's output is for the user
fn print_crawl_summary(s: &caiji_crawl::CrawlSummary, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::json!({"summary": "crawl", "run_id": s.run_id, "outcome": s.outcome, "reason": s.reason, "sites": s.sites})
        );
        return;
    }
    match &s.reason {
        Some(why) => println!("crawl run {} finished: {} ({why})", s.run_id, s.outcome),
        None => println!("crawl run {} finished: {}", s.run_id, s.outcome),
    }
    println!(
        "{:<10} {:>8} {:>6} {:>6} {:>7} {:>10} {:>8} {:>9} {:>9} {:>10} {:>9} {:>9} {:>8}",
        "site",
        "fetched",
        "ok",
        "gone",
        "failed",
        "disallowed",
        "refused",
        "deferred",
        "articles",
        "extracted",
        "revisits",
        "unchanged",
        "changed"
    );
    for (site, c) in &s.sites {
        println!(
            "{:<10} {:>8} {:>6} {:>6} {:>7} {:>10} {:>8} {:>9} {:>9} {:>10} {:>9} {:>9} {:>8}",
            site,
            c.fetched,
            c.ok,
            c.gone,
            c.failed,
            c.disallowed,
            c.refused,
            c.deferred,
            c.articles,
            c.extracted,
            c.revisits_queued,
            c.unchanged,
            c.changed
        );
    }
}

#[allow(clippy::print_stdout)]
fn print_rerun_summary(s: &caiji_crawl::rerun::RerunSummary, json: bool) {
    if json {
        let mut v = serde_json::to_value(s).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            o.insert("summary".into(), "extract".into());
            o.insert("peak_rss_mb".into(), peak_rss_mb().into());
        }
        println!("{v}");
        return;
    }
    println!(
        "extract run {}: examined {}, extracted {}, skipped {} (up to date), changed {}, unchanged {}, first {}, failed {} in {:.1}s ({:.0} captures/s){}",
        s.run_id,
        s.examined,
        s.extracted,
        s.skipped,
        s.changed,
        s.unchanged,
        s.first,
        s.failed.values().sum::<u64>(),
        s.seconds,
        s.examined as f64 / s.seconds.max(1e-9),
        s.resumed_run.map(|r| format!(", continuing run {r}")).unwrap_or_default()
    );
    for (reason, n) in &s.failed {
        println!("  failed: {n} x {reason}");
    }
    if let Some(rss) = peak_rss_mb() {
        println!("  peak memory: {rss:.0} MB");
    }
}

/// VmHWM of this process.
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = status.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

async fn diff(config_path: &std::path::Path, args: DiffArgs) -> Result<(), CrawlError> {
    let config = load_config(config_path)?;
    let (archive, _) = DatabaseTarget::from_config(&config)?.open_existing().await?;
    if let Some(url) = &args.url {
        let versions = archive.page_history(url).await?;
        if versions.is_empty() {
            return Err(CrawlError::Usage(format!("no document for {url} in the archive (give its canonical URL)")));
        }
        return report::print_history(url, &versions, &mut std::io::stdout().lock())
            .map_err(|e| CrawlError::Output(e.to_string()));
    }
    let extractor = args.extractor.unwrap_or_default();
    let versions = archive.extractor_versions(&extractor).await?;
    let to = args.to.or_else(|| versions.first().cloned());
    let from = args.from.or_else(|| versions.iter().find(|v| Some(*v) != to.as_ref()).cloned());
    let (Some(from), Some(to)) = (from, to) else {
        return Err(CrawlError::Usage(format!(
            "`{extractor}` has fewer than two versions in the archive (found: {versions:?})"
        )));
    };
    let (compared, changed, sample) = archive.version_diff(&extractor, &from, &to, args.limit).await?;
    report::print_diff(&extractor, &from, &to, compared, changed, &sample, &mut std::io::stdout().lock())
        .map_err(|e| CrawlError::Output(e.to_string()))?;
    Ok(())
}

async fn sql(config_path: &std::path::Path, args: SqlArgs) -> Result<(), CrawlError> {
    let config = load_config(config_path)?;
    let (archive, _) = DatabaseTarget::from_config(&config)?.open_existing().await?;
    let result = archive.query_json(&args.query).await?;
    report::print_query(&result, args.format, &mut std::io::stdout().lock())
        .map_err(|e| CrawlError::Output(e.to_string()))?;
    Ok(())
}

#[allow(clippy::print_stdout)]
async fn demo_report(config: &Config) -> anyhow::Result<()> {
    let target = DatabaseTarget::from_config(config)?;
    let (archive, url) = target.open().await?;
    let rows: Vec<(String, String, Option<String>, Option<String>)> =
        sqlx::query_as("SELECT site, url, title, published_at FROM documents ORDER BY site, url")
            .fetch_all(archive.pool())
            .await
            .context("reading documents")?;
    println!("\ndocuments in the archive ({}):", rows.len());
    let mut last_site = String::new();
    for (site, url, title, date) in &rows {
        if *site != last_site {
            println!("  {site}");
            last_site = site.clone();
        }
        println!("    {:<19} {}  <{}>", date.as_deref().unwrap_or("-"), title.as_deref().unwrap_or("(no title)"), url);
    }
    println!("\nquery it:  psql \"{url}\" -c 'select site, count(*) from documents group by site'");
    Ok(())
}

#[allow(clippy::print_stdout)]
async fn db(config_path: &std::path::Path, action: DbAction) -> Result<(), CrawlError> {
    let config = load_config(config_path)?;
    let target = DatabaseTarget::from_config(&config)?;
    match action {
        DbAction::Start => {
            let url = target.url().await?;
            println!("running: {url}");
        }
        DbAction::Stop => match &target {
            DatabaseTarget::Embedded(c) => {
                let stopped = c.stop()?;
                println!("{}", if stopped { "stopped" } else { "not running" });
            }
            DatabaseTarget::Url(_) => {
                println!("DATABASE_URL is set: caiji does not manage that server")
            }
        },
        DbAction::Status => match &target {
            DatabaseTarget::Embedded(c) => {
                let status = c.status()?;
                println!("{status:?} ({})", c.root().display());
                if status != caiji_archive::ClusterStatus::Running {
                    // Like `pg_ctl status`: scripts can test whether the archive is up.
                    return Err(CrawlError::NotRunning);
                }
            }
            DatabaseTarget::Url(u) => println!("external server: {}", redact_password(u)),
        },
        DbAction::Url => {
            target.require_existing()?;
            let url = target.url().await?;
            println!("{url}");
        }
        DbAction::Migrate => {
            let (_, url) = target.open().await?;
            println!("migrated: {url}");
        }
    }
    Ok(())
}

/// `caiji check`: what a crawl would do with this configuration, without fetching anything.
#[allow(clippy::print_stdout)]
async fn check(config_path: &std::path::Path, names: &[String], json: bool) -> Result<u8, CrawlError> {
    let config = load_config(config_path)?;
    let sites = config.select_sites(names)?;
    let allow_private = config.global.fetch.allow_private_addresses;
    let mut warnings = 0;
    for site in sites {
        let mut hosts = Vec::new();
        for u in site.file.start_urls.iter().chain(&site.file.sitemaps) {
            let Ok(url) = url::Url::parse(u) else { continue };
            let Some(host) = url.host_str().map(str::to_string) else { continue };
            if hosts.iter().any(|(h, _, _): &(String, _, _)| *h == host) {
                continue;
            }
            let port = url.port_or_known_default().unwrap_or(80);
            let bare = host.trim_matches(['[', ']']).to_string();
            let lookup = tokio::net::lookup_host((bare.as_str(), port)).await;
            let (addrs, problem) = match lookup {
                Ok(a) => {
                    let addrs: Vec<std::net::IpAddr> = a.map(|s| s.ip()).collect();
                    let refused = !allow_private && !addrs.iter().any(|ip| caiji_fetch::address::is_global(*ip));
                    let problem = refused.then(|| {
                        "not globally routable: a live crawl refuses it (allow_private_addresses = false)".to_string()
                    });
                    (addrs, problem)
                }
                Err(e) => (Vec::new(), Some(format!("does not resolve: {e}"))),
            };
            warnings += usize::from(problem.is_some());
            hosts.push((host, addrs, problem));
        }
        if json {
            let hosts: Vec<serde_json::Value> = hosts
                .iter()
                .map(|(h, a, p)| serde_json::json!({"host": h, "addresses": a.iter().map(|ip| ip.to_string()).collect::<Vec<_>>(), "problem": p}))
                .collect();
            println!(
                "{}",
                serde_json::json!({"check": "site", "site": site.name(), "file": site.path, "extractor": site.file.extractor,
                    "start_urls": site.file.start_urls, "sitemaps": site.file.sitemaps, "schedule": site.file.schedule, "hosts": hosts})
            );
        } else {
            println!("{} ({}): extractor {}", site.name(), site.path.display(), site.file.extractor);
            for (h, addrs, problem) in &hosts {
                let list = addrs.iter().map(|ip| ip.to_string()).collect::<Vec<_>>().join(", ");
                match problem {
                    Some(p) => println!("  {h}: {p} [{list}]"),
                    None => println!("  {h}: {list}"),
                }
            }
            if let Some(cron) = &site.file.schedule {
                println!("  schedule: {cron}");
            }
        }
    }
    let target = DatabaseTarget::from_config(&config)?;
    let db = match &target {
        DatabaseTarget::Embedded(c) => format!("private cluster in {} ({:?})", c.root().display(), c.status()?),
        DatabaseTarget::Url(u) => format!("server {}", redact_password(u)),
    };
    if json {
        println!("{}", serde_json::json!({"check": "database", "archive": db, "warnings": warnings}));
    } else {
        println!("archive: {db}");
        println!("{warnings} warning(s)");
    }
    Ok(if warnings > 0 { exit::DONE_WITH_FAILURES } else { exit::DONE })
}

/// `caiji schedule`: the crontab lines of the sites' `schedule` fields.
#[allow(clippy::print_stdout)]
fn schedule(config_path: &std::path::Path, log_dir: &std::path::Path) -> Result<(), CrawlError> {
    let config = load_config(config_path)?;
    let exe = std::env::current_exe().map_err(|e| CrawlError::Usage(format!("cannot locate the caiji binary: {e}")))?;
    let cwd = config.root();
    let config_abs = std::path::absolute(config_path).unwrap_or_else(|_| config_path.to_path_buf());
    println!("# caiji crawls, from the `schedule` of each file in {}", config_abs.display());
    println!("# overlapping runs of a site exit 3 at once; exit 1 = failures or deferred hosts (see the log)");
    for site in &config.sites {
        match &site.file.schedule {
            Some(cron) => println!(
                "{cron}  cd {} && {} --config {} crawl --site {} --log-format json >> {}/{}.jsonl 2>&1",
                shell_quote(&cwd.display().to_string()),
                shell_quote(&exe.display().to_string()),
                shell_quote(&config_abs.display().to_string()),
                site.name(),
                shell_quote(&log_dir.display().to_string()),
                site.name()
            ),
            None => println!("# {}: no schedule in {}", site.name(), site.path.display()),
        }
    }
    Ok(())
}

/// Single-quotes `s` for a POSIX shell when it holds anything but safe characters.
fn shell_quote(s: &str) -> String {
    if s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+:,@".contains(c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// `postgresql://user:secret@host/db` → `postgresql://user:***@host/db`.
fn redact_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

fn init_logging(format: LogFormat, verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "info,sqlx=warn,html5ever=error",
        1 => "debug,sqlx=warn,hyper=info,reqwest=info,html5ever=error,selectors=warn",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    use std::io::IsTerminal;
    // Colours only for a person at a terminal: escape codes in a cron log are noise.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).init(),
    }
}

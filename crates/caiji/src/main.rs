//! `caiji`: the command line. Parses arguments and calls the library crates.

mod parse;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use caiji_crawl::database::DatabaseTarget;
use caiji_crawl::{Config, CrawlError, CrawlOptions};
use clap::{Parser, Subcommand, ValueEnum};

const EXIT_CODES: &str = "\
EXIT CODES:
    0  done: every fetch succeeded (pages answering 4xx are recorded as gone, not failures)
    1  done with failures: some fetches failed (timeouts, 5xx after retries, refused bodies, ...);
       all of them are recorded in the archive
    2  bad configuration or command line
    3  another caiji crawl holds the lock for one of the sites (nothing was done)
    4  runtime failure: database unreachable, cluster cannot start, archive error";

/// Exit codes (also in `--help` and the README).
mod exit {
    pub const DONE: u8 = 0;
    pub const DONE_WITH_FAILURES: u8 = 1;
    pub const BAD_CONFIG: u8 = 2;
    pub const LOCK_HELD: u8 = 3;
    pub const RUNTIME: u8 = 4;
}

#[derive(Parser)]
#[command(name = "caiji", version, about = "采集: polite crawler, raw archive in PostgreSQL, per-site extraction", after_help = EXIT_CODES)]
struct Cli {
    /// Global configuration file; site files live in its `sites/` folder.
    #[arg(long, global = true, env = "CAIJI_CONFIG", default_value = "config/caiji.toml")]
    config: PathBuf,
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
    /// Minimum gap between two requests to one host, in milliseconds (overrides the config).
    #[arg(long)]
    min_interval_ms: Option<u64>,
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format, cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the async runtime");
            return ExitCode::from(exit::RUNTIME);
        }
    };
    let code = runtime.block_on(run(cli));
    ExitCode::from(code)
}

async fn run(cli: Cli) -> u8 {
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
            });
            let mut config = match Config::load(&cli.config) {
                Ok(c) => c,
                Err(e) => return report(&e),
            };
            if let Some(cap) = args.crawl_delay_cap {
                config.global.fetch.crawl_delay_cap_secs = cap;
            }
            if let Some(ms) = args.min_interval_ms {
                config.global.fetch.min_interval_ms = ms;
            }
            let opts = CrawlOptions {
                sites: args.sites,
                max_pages: args.max_pages,
                replay: args.replay,
                routes: Default::default(),
                arguments,
                progress: true,
            };
            match crawl(&config, &opts).await {
                Ok(summary) => {
                    print_crawl_summary(&summary);
                    if summary.failed() > 0 { exit::DONE_WITH_FAILURES } else { exit::DONE }
                }
                Err(e) => report(&e),
            }
        }
        Command::Demo { replay } => {
            let config = match Config::load(&cli.config) {
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
            };
            let code = match crawl(&config, &opts).await {
                Ok(summary) => {
                    print_crawl_summary(&summary);
                    if summary.failed() > 0 { exit::DONE_WITH_FAILURES } else { exit::DONE }
                }
                Err(e) => return report(&e),
            };
            match demo_report(&config).await {
                Ok(()) => code,
                Err(e) => {
                    tracing::error!("{e:#}");
                    exit::RUNTIME
                }
            }
        }
        Command::Db { action } => match db(&cli.config, action).await {
            Ok(()) => exit::DONE,
            Err(e) => report(&e),
        },
    }
}

async fn crawl(config: &Config, opts: &CrawlOptions) -> Result<caiji_crawl::CrawlSummary, CrawlError> {
    config.select_sites(&opts.sites)?; // a typo in --site is a usage error, whatever the database
    let target = DatabaseTarget::from_config(config)?;
    let (archive, url) = target.open().await?;
    caiji_crawl::crawl(config, &archive, &url, opts).await
}

fn report(e: &CrawlError) -> u8 {
    tracing::error!("{e}");
    match e {
        CrawlError::Config(_) => exit::BAD_CONFIG,
        e if e.is_lock_held() => exit::LOCK_HELD,
        _ => exit::RUNTIME,
    }
}

#[allow(clippy::print_stdout)] // the CLI's output is for the user
fn print_crawl_summary(s: &caiji_crawl::CrawlSummary) {
    println!("crawl run {} finished: {}", s.run_id, s.outcome);
    println!(
        "{:<10} {:>8} {:>6} {:>6} {:>7} {:>10} {:>9} {:>10}",
        "site", "fetched", "ok", "gone", "failed", "disallowed", "articles", "extracted"
    );
    for (site, c) in &s.sites {
        println!(
            "{:<10} {:>8} {:>6} {:>6} {:>7} {:>10} {:>9} {:>10}",
            site, c.fetched, c.ok, c.gone, c.failed, c.disallowed, c.articles, c.extracted
        );
    }
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
    let config = Config::load(config_path)?;
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
            DatabaseTarget::Embedded(c) => println!("{:?} ({})", c.status()?, c.root().display()),
            DatabaseTarget::Url(u) => println!("external server: {u}"),
        },
        DbAction::Url => {
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

fn init_logging(format: LogFormat, verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "info,sqlx=warn,html5ever=error",
        1 => "debug,sqlx=warn,hyper=info,reqwest=info,html5ever=error",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).init(),
    }
}

//! `caiji parse`: the extractors on saved pages, without the archive.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use caiji_crawl::Config;
use caiji_extract::{Extractor, Record, Registry, extract_bytes};
use clap::ValueEnum;
use rayon::prelude::*;

#[derive(clap::Args)]
pub struct ParseArgs {
    /// Extractor to use; default: by the URL's host from config/sites/, else `generic`.
    #[arg(long)]
    site: Option<String>,
    /// The page's URL (single file).
    #[arg(long, conflicts_with = "out")]
    url: Option<String>,
    /// Batch mode: a page's URL is PREFIX + its path relative to IN_DIR.
    #[arg(long, requires = "out")]
    url_prefix: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Json)]
    format: Format,
    /// Batch mode: write OUT_DIR/<relative path>.json (or .txt) for every file under the input folder.
    #[arg(long)]
    out: Option<PathBuf>,
    /// A saved page, or (with --out) a folder of them.
    input: PathBuf,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Format {
    Json,
    Text,
}

struct Chooser {
    registry: Registry,
    forced: Option<&'static dyn Extractor>,
    config: Option<Config>,
}

impl Chooser {
    fn new(config_path: &Path, site: Option<&str>) -> anyhow::Result<Self> {
        let registry = Registry::default();
        let forced = match site {
            Some(name) => Some(registry.get(name).with_context(|| {
                format!("unknown extractor `{name}` (known: {})", registry.names().collect::<Vec<_>>().join(", "))
            })?),
            None => None,
        };
        // Without a config (parse run elsewhere), host-based choice falls back to `generic`.
        let config = if forced.is_none() { Config::load(config_path).ok() } else { None };
        Ok(Self { registry, forced, config })
    }

    fn for_url(&self, url: &str) -> &'static dyn Extractor {
        if let Some(e) = self.forced {
            return e;
        }
        let by_host = url::Url::parse(url).ok().and_then(|u| {
            let host = u.host_str()?.to_string();
            let site = self.config.as_ref()?.site_for_host(&host)?;
            self.registry.get(&site.file.extractor)
        });
        by_host.unwrap_or(&caiji_extract::generic::Generic)
    }
}

pub fn run(config_path: &Path, args: ParseArgs) -> anyhow::Result<u8> {
    let chooser = Chooser::new(config_path, args.site.as_deref())?;
    match &args.out {
        None => {
            if args.input.is_dir() {
                bail!("{} is a folder: give --out OUT_DIR for batch mode", args.input.display());
            }
            let url = args.url.clone().unwrap_or_else(|| format!("file://{}", absolute(&args.input).display()));
            let record = parse_file(&chooser, &args.input, &url)?;
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(render(&record, args.format)?.as_bytes())?;
            stdout.write_all(b"\n")?;
            Ok(0)
        }
        Some(out) => batch(&chooser, &args, out),
    }
}

fn batch(chooser: &Chooser, args: &ParseArgs, out: &Path) -> anyhow::Result<u8> {
    if !args.input.is_dir() {
        bail!("{} is not a folder", args.input.display());
    }
    let files: Vec<PathBuf> = walkdir::WalkDir::new(&args.input)
        .sort_by_file_name()
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect();
    let prefix = args.url_prefix.clone().unwrap_or_default();
    let ext = if args.format == Format::Json { "json" } else { "txt" };
    let failures: Vec<String> = files
        .par_iter()
        .filter_map(|file| {
            let rel = file.strip_prefix(&args.input).ok()?;
            let rel_url = rel.to_string_lossy().replace('\\', "/");
            let url = format!("{prefix}{rel_url}");
            let result = parse_file(chooser, file, &url).and_then(|record| {
                let target = out.join(format!("{}.{ext}", rel.display()));
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                std::fs::write(&target, render(&record, args.format)? + "\n")?;
                Ok(())
            });
            result.err().map(|e| format!("{}: {e:#}", file.display()))
        })
        .collect();
    for f in &failures {
        tracing::error!("{f}");
    }
    tracing::info!(files = files.len(), failed = failures.len(), out = %out.display(), "parse finished");
    Ok(if failures.is_empty() { 0 } else { 1 })
}

fn parse_file(chooser: &Chooser, file: &Path, url: &str) -> anyhow::Result<Record> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let extractor = chooser.for_url(url);
    // No HTTP header for a saved page: the charset comes from BOM, meta or detection.
    let (record, _) = extract_bytes(extractor, &bytes, url, None);
    Ok(record)
}

fn render(record: &Record, format: Format) -> anyhow::Result<String> {
    Ok(match format {
        Format::Json => serde_json::to_string_pretty(record)?,
        Format::Text => record.text(),
    })
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

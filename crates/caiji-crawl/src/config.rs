//! `config/caiji.toml` (global settings) and `config/sites/<site>.toml` (one per source site).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use regex::Regex;
use serde::Deserialize;

use crate::CrawlError;

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// A server to use instead of the private cluster (DATABASE_URL wins over this).
    pub url: Option<String>,
    /// The private cluster's directory. Relative paths are resolved against the project root
    /// when the file is loaded (see [`project_root`]); `--data-dir` / `CAIJI_DATA_DIR` override it.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
}

fn default_data_dir() -> PathBuf {
    PathBuf::from(".caiji/pg")
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FetchSettings {
    pub user_agent: String,
    pub min_interval_ms: u64,
    pub crawl_delay_cap_secs: f64,
    /// A robots.txt in the archive from an earlier crawl, younger than this, is obeyed without
    /// fetching it again (RFC 9309 §2.4 allows up to a day). 0 (default): every crawl asks once
    /// per host, its workers share the answer. During an outage the newest archived one is
    /// obeyed whatever its age.
    pub robots_fresh_secs: f64,
    /// `"host"` (default): one request at a time per host; `"ip"`: per IP address, so hosts
    /// sharing a server share its interval.
    pub politeness: caiji_fetch::Politeness,
    pub connect_timeout_secs: f64,
    /// How long an idle connection is kept for its host's next request; hosts whose interval
    /// is longer are asked with `Connection: close`. 0: a connection per request.
    pub keep_alive_ms: u64,
    pub timeout_secs: f64,
    pub max_body_bytes: u64,
    pub max_redirects: usize,
    pub max_retries: u32,
    pub retry_base_ms: u64,
    pub max_retry_after_secs: f64,
    /// Connect to loopback, private, link-local, ... addresses (tests, intranet archives).
    /// Off: every address a request connects to must be globally routable.
    pub allow_private_addresses: bool,
}

impl Default for FetchSettings {
    fn default() -> Self {
        let d = caiji_fetch::FetchConfig::default();
        Self {
            user_agent: d.user_agent,
            min_interval_ms: d.min_interval.as_millis() as u64,
            crawl_delay_cap_secs: d.crawl_delay_cap.as_secs_f64(),
            robots_fresh_secs: d.robots_fresh_for.as_secs_f64(),
            politeness: d.politeness,
            connect_timeout_secs: d.connect_timeout.as_secs_f64(),
            keep_alive_ms: d.keep_alive.as_millis() as u64,
            timeout_secs: d.total_timeout.as_secs_f64(),
            max_body_bytes: d.max_body_bytes,
            max_redirects: d.max_redirects,
            max_retries: d.max_retries,
            retry_base_ms: d.retry_base_delay.as_millis() as u64,
            max_retry_after_secs: d.max_retry_after.as_secs_f64(),
            allow_private_addresses: d.allow_private_addresses,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CrawlSettings {
    /// Sites crawled at the same time.
    pub max_concurrent_sites: usize,
    /// Hosts a site has a request in flight on at once, per worker (each host one request at a
    /// time, paced by its interval). A site on 1,000 hosts at a 2 s interval needs 1,000 to
    /// fetch at its politeness budget; they are futures of one task, not threads.
    pub max_hosts_in_flight: usize,
    /// Folder of per-site files, relative to the global config file.
    pub sites_dir: PathBuf,
    /// A page's decoding, parsing and extraction (run on a worker thread, off the crawl's
    /// scheduler) is given up after this many seconds: the capture is kept, unextracted.
    pub parse_timeout_secs: f64,
}

impl Default for CrawlSettings {
    fn default() -> Self {
        Self {
            max_concurrent_sites: 16,
            max_hosts_in_flight: 256,
            sites_dir: PathBuf::from("sites"),
            parse_timeout_secs: 60.0,
        }
    }
}

/// `config/caiji.toml`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct GlobalConfig {
    #[serde(default)]
    pub database: DatabaseConfig,
    #[serde(default)]
    pub fetch: FetchSettings,
    #[serde(default)]
    pub crawl: CrawlSettings,
}

/// `config/sites/<name>.toml`, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteFile {
    pub name: String,
    pub hosts: Vec<String>,
    #[serde(default)]
    pub start_urls: Vec<String>,
    #[serde(default)]
    pub sitemaps: Vec<String>,
    /// RSS or Atom feeds whose entries are candidate articles (also found on start pages
    /// through `<link rel="alternate" type="application/rss+xml">`).
    #[serde(default)]
    pub feeds: Vec<String>,
    /// URL patterns (regex) of pages whose links are followed: pagination, list pages.
    #[serde(default)]
    pub follow: Vec<String>,
    /// URL patterns (regex) of article pages: captured once and extracted.
    pub articles: Vec<String>,
    pub extractor: String,
    /// Options handed to the extractor; part of its configuration hash.
    #[serde(default)]
    pub extract: toml::Table,
    /// Minimum gap between requests to this site's hosts (overrides the global one).
    pub min_interval_ms: Option<u64>,
    /// The intended schedule, as a 5-field cron expression (documentation for cron users;
    /// validated here).
    pub schedule: Option<String>,
    /// Revisit captured articles after this long (`"30d"`, `"12h"`, `"0s"` = every run);
    /// absent: never. The interval then adapts per page ([`crate::revisit`]).
    pub revisit_after: Option<String>,
    /// Bounds of the adaptive revisit interval (default: a quarter and sixteen times
    /// `revisit_after`).
    pub revisit_min: Option<String>,
    pub revisit_max: Option<String>,
}

/// A validated site.
#[derive(Debug, Clone)]
pub struct SiteConfig {
    pub file: SiteFile,
    pub follow: Vec<Regex>,
    pub articles: Vec<Regex>,
    pub path: PathBuf,
    /// From `revisit_after` / `revisit_min` / `revisit_max`; `None`: articles are never revisited.
    pub revisit: Option<crate::revisit::RevisitPolicy>,
}

impl SiteConfig {
    pub fn name(&self) -> &str {
        &self.file.name
    }

    pub fn is_article(&self, url: &str) -> bool {
        self.articles.iter().any(|r| r.is_match(url))
    }

    pub fn is_followed(&self, url: &str) -> bool {
        self.follow.iter().any(|r| r.is_match(url))
    }

    /// Whether `host` (a URL's host, without port) is one of the site's hosts, whatever the
    /// port (entries with a port match that host on that port only: see [`Self::owns_url`]).
    pub fn owns_host(&self, host: &str) -> bool {
        self.file.hosts.iter().any(|h| split_port(h).0.eq_ignore_ascii_case(host))
    }

    /// Whether `url` is on one of the site's hosts: `example.com` matches that host on any port,
    /// `127.0.0.1:8765` or `[::1]:8080` that host on that port only.
    pub fn owns_url(&self, url: &url::Url) -> bool {
        let Some(host) = url.host_str() else { return false };
        self.file.hosts.iter().any(|entry| {
            let (h, port) = split_port(entry);
            h.eq_ignore_ascii_case(host) && port.is_none_or(|p| url.port_or_known_default() == Some(p))
        })
    }

    /// sha256 of everything that shapes this site's extraction output besides the code.
    pub fn extractor_config_hash(&self) -> String {
        self.config_hash_for(&self.file.extractor)
    }

    /// The configuration hash when `extractor` runs on this site (`extract --extractor`).
    pub fn config_hash_for(&self, extractor: &str) -> String {
        config_hash(extractor, &self.file.extract)
    }
}

/// The configuration hash of `extractor` with no site settings: what a capture of a host no
/// site owns is extracted with (`caiji import warc`).
pub fn default_config_hash(extractor: &str) -> String {
    config_hash(extractor, &toml::Table::new())
}

/// sha256 of an extractor's name and its site settings (`extraction_records.config_hash`).
fn config_hash(extractor: &str, extract: &toml::Table) -> String {
    let json = serde_json::json!({"extractor": extractor, "extract": extract});
    caiji_archive::sha256_hex(json.to_string().as_bytes())
}

/// Global settings plus every site.
#[derive(Debug, Clone)]
pub struct Config {
    pub global: GlobalConfig,
    pub sites: Vec<SiteConfig>,
    pub path: PathBuf,
}

/// The folder that relative paths in the global config file are resolved against: the file's
/// own folder, or its parent when that folder is named `config` (`/srv/caiji/config/caiji.toml`
/// → `/srv/caiji`). This is Cargo's rule for `.cargo/config.toml`, and it keeps the layout of
/// this repository (`config/caiji.toml`, archive in `.caiji/pg`) the same from any working
/// directory. An empty parent (a bare `caiji.toml`) is the working directory.
pub fn project_root(config_path: &Path) -> PathBuf {
    let dir = match config_path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let dir = std::path::absolute(&dir).unwrap_or(dir);
    if dir.file_name().is_some_and(|n| n == "config") {
        dir.parent().map(Path::to_path_buf).unwrap_or(dir)
    } else {
        dir
    }
}

impl Config {
    /// The project root of this configuration (see [`project_root`]).
    pub fn root(&self) -> PathBuf {
        project_root(&self.path)
    }

    /// Loads `path` and the site files in its `sites_dir`. A missing global file means
    /// defaults; a broken one is an error naming the file.
    pub fn load(path: &Path) -> Result<Self, CrawlError> {
        let global: GlobalConfig = if path.exists() {
            read_toml(path)?
        } else {
            return Err(CrawlError::Config(format!(
                "{}: no such config file (run caiji from the repository root, or pass --config)",
                path.display()
            )));
        };
        let mut global = global;
        let root = project_root(path);
        if global.database.data_dir.is_relative() {
            global.database.data_dir = root.join(&global.database.data_dir);
        }
        let base = path.parent().unwrap_or(Path::new("."));
        let sites_dir = base.join(&global.crawl.sites_dir);
        let mut sites = Vec::new();
        if sites_dir.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(&sites_dir)
                .map_err(|e| CrawlError::Config(format!("{}: {e}", sites_dir.display())))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect();
            files.sort();
            for f in files {
                sites.push(load_site(&f)?);
            }
        }
        let mut names: Vec<&str> = sites.iter().map(|s| s.name()).collect();
        names.sort();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(CrawlError::Config(format!("two site files are named `{}`", w[0])));
        }
        Ok(Self { global, sites, path: path.to_path_buf() })
    }

    pub fn site(&self, name: &str) -> Option<&SiteConfig> {
        self.sites.iter().find(|s| s.name() == name)
    }

    /// The named sites (all when `names` is empty); an unknown name is a config error.
    pub fn select_sites(&self, names: &[String]) -> Result<Vec<&SiteConfig>, CrawlError> {
        let sites: Vec<&SiteConfig> = if names.is_empty() {
            self.sites.iter().collect()
        } else {
            names
                .iter()
                .map(|n| {
                    self.site(n)
                        .ok_or_else(|| CrawlError::Config(format!("no site named `{n}` in {}", self.path.display())))
                })
                .collect::<Result<_, _>>()?
        };
        if sites.is_empty() {
            return Err(CrawlError::Config("no sites configured".into()));
        }
        Ok(sites)
    }

    /// The site whose hosts include `host`.
    pub fn site_for_host(&self, host: &str) -> Option<&SiteConfig> {
        self.sites.iter().find(|s| s.owns_host(host))
    }

    pub fn fetch_config(&self) -> caiji_fetch::FetchConfig {
        let f = &self.global.fetch;
        let mut host_intervals = HashMap::new();
        for s in &self.sites {
            if let Some(ms) = s.file.min_interval_ms {
                for h in &s.file.hosts {
                    host_intervals.insert(split_port(h).0.to_string(), Duration::from_millis(ms));
                }
            }
        }
        caiji_fetch::FetchConfig {
            user_agent: f.user_agent.clone(),
            min_interval: Duration::from_millis(f.min_interval_ms),
            host_intervals,
            crawl_delay_cap: secs(f.crawl_delay_cap_secs),
            robots_fresh_for: secs(f.robots_fresh_secs),
            politeness: f.politeness,
            connect_timeout: secs(f.connect_timeout_secs),
            keep_alive: Duration::from_millis(f.keep_alive_ms),
            total_timeout: secs(f.timeout_secs),
            max_body_bytes: f.max_body_bytes,
            max_redirects: f.max_redirects,
            max_retries: f.max_retries,
            retry_base_delay: Duration::from_millis(f.retry_base_ms),
            max_retry_after: secs(f.max_retry_after_secs),
            obey_robots: true,
            allow_private_addresses: f.allow_private_addresses,
        }
    }
}

/// `host:port` → (`host`, Some(port)); `host`, `[::1]` → (host, None).
fn split_port(entry: &str) -> (&str, Option<u16>) {
    match entry.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && (!h.contains(':') || h.ends_with(']')) => match p.parse() {
            Ok(port) => (h, Some(port)),
            Err(_) => (entry, None),
        },
        _ => (entry, None),
    }
}

pub(crate) fn secs(s: f64) -> Duration {
    Duration::try_from_secs_f64(s.max(0.0)).unwrap_or(Duration::MAX)
}

fn read_toml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, CrawlError> {
    let text = std::fs::read_to_string(path).map_err(|e| CrawlError::Config(format!("{}: {e}", path.display())))?;
    toml::from_str(&text).map_err(|e| CrawlError::Config(format!("{}: {e}", path.display())))
}

fn load_site(path: &Path) -> Result<SiteConfig, CrawlError> {
    let file: SiteFile = read_toml(path)?;
    let bad = |msg: String| CrawlError::Config(format!("{}: {msg}", path.display()));
    let compile = |pats: &[String]| -> Result<Vec<Regex>, CrawlError> {
        pats.iter().map(|p| Regex::new(p).map_err(|e| bad(format!("pattern {p:?}: {e}")))).collect()
    };
    let follow = compile(&file.follow)?;
    let articles = compile(&file.articles)?;
    if file.hosts.is_empty() {
        return Err(bad("`hosts` is empty".into()));
    }
    if file.start_urls.is_empty() && file.sitemaps.is_empty() && file.feeds.is_empty() {
        return Err(bad("give at least one of `start_urls`, `sitemaps`, `feeds`".into()));
    }
    for u in file.start_urls.iter().chain(&file.sitemaps).chain(&file.feeds) {
        let parsed = url::Url::parse(u).map_err(|e| bad(format!("start URL {u:?}: {e}")))?;
        let owned = file.hosts.iter().any(|entry| {
            let (h, port) = split_port(entry);
            parsed.host_str().is_some_and(|x| h.eq_ignore_ascii_case(x))
                && port.is_none_or(|p| parsed.port_or_known_default() == Some(p))
        });
        if !owned {
            return Err(bad(format!("start URL {u} is not on one of the site's hosts")));
        }
    }
    if caiji_extract::Registry::default().get(&file.extractor).is_none() {
        return Err(bad(format!("unknown extractor `{}`", file.extractor)));
    }
    if let Some(cron) = &file.schedule {
        cron.parse::<croner::Cron>().map_err(|e| bad(format!("schedule {cron:?}: {e}")))?;
    }
    let revisit = match &file.revisit_after {
        Some(after) => Some(
            crate::revisit::RevisitPolicy::parse(after, file.revisit_min.as_deref(), file.revisit_max.as_deref())
                .map_err(bad)?,
        ),
        None if file.revisit_min.is_some() || file.revisit_max.is_some() => {
            return Err(bad("revisit_min / revisit_max need revisit_after".into()));
        }
        None => None,
    };
    Ok(SiteConfig { file, follow, articles, path: path.to_path_buf(), revisit })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_root_is_the_folder_holding_config() {
        assert_eq!(project_root(Path::new("/srv/caiji/config/caiji.toml")), PathBuf::from("/srv/caiji"));
        assert_eq!(project_root(Path::new("/srv/caiji/caiji.toml")), PathBuf::from("/srv/caiji"));
        assert_eq!(project_root(Path::new("/etc/caiji/prod.toml")), PathBuf::from("/etc/caiji"));
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(project_root(Path::new("caiji.toml")), cwd);
        assert_eq!(project_root(Path::new("config/caiji.toml")), cwd);
        // Only a folder named exactly `config` is skipped.
        assert_eq!(project_root(Path::new("/srv/configs/caiji.toml")), PathBuf::from("/srv/configs"));
    }
}

//! A loopback server for recorded sites (`caiji crawl --replay DIR`, the demo, the tests).
//!
//! DIR holds one folder per site in the layout of `fixtures/sites/`: `site.toml` (host,
//! `http_content_type`) and `pages/<url path>` with the bytes as served (`/` → `index.html`).
//! Requests are told apart by their `Host` header; unknown paths get 404. Every request is
//! logged so tests can check, on the server side, what the crawler asked for and when.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::CrawlError;

#[derive(Debug, Deserialize)]
struct RecordedSite {
    host: String,
    #[serde(default = "default_content_type")]
    http_content_type: String,
}

fn default_content_type() -> String {
    "text/html".into()
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct LoggedRequest {
    pub at: Instant,
    pub host: String,
    pub path: String,
    pub user_agent: Option<String>,
    pub status: u16,
}

struct Served {
    sites: HashMap<String, (PathBuf, String)>,
    log: Mutex<Vec<LoggedRequest>>,
}

/// A running replay server; stops when dropped.
pub struct ReplayServer {
    addr: SocketAddr,
    hosts: Vec<String>,
    state: Arc<Served>,
    task: tokio::task::JoinHandle<()>,
}

impl ReplayServer {
    pub async fn start(dir: &Path) -> Result<Self, CrawlError> {
        let mut sites = HashMap::new();
        let entries =
            std::fs::read_dir(dir).map_err(|e| CrawlError::Config(format!("replay dir {}: {e}", dir.display())))?;
        for entry in entries.filter_map(|e| e.ok()) {
            let toml_path = entry.path().join("site.toml");
            if !toml_path.is_file() {
                continue;
            }
            let text = std::fs::read_to_string(&toml_path)
                .map_err(|e| CrawlError::Config(format!("{}: {e}", toml_path.display())))?;
            let site: RecordedSite =
                toml::from_str(&text).map_err(|e| CrawlError::Config(format!("{}: {e}", toml_path.display())))?;
            sites.insert(site.host.to_ascii_lowercase(), (entry.path().join("pages"), site.http_content_type));
        }
        if sites.is_empty() {
            return Err(CrawlError::Config(format!("replay dir {}: no <site>/site.toml found", dir.display())));
        }
        let mut hosts: Vec<String> = sites.keys().cloned().collect();
        hosts.sort();
        let state = Arc::new(Served { sites, log: Mutex::new(Vec::new()) });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| CrawlError::Replay(format!("bind 127.0.0.1: {e}")))?;
        let addr = listener.local_addr().map_err(|e| CrawlError::Replay(e.to_string()))?;
        let app = Router::new().fallback(serve).with_state(state.clone());
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "replay server stopped");
            }
        });
        tracing::info!(%addr, hosts = %hosts.join(","), "replay server started");
        Ok(Self { addr, hosts, state, task })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// host → this server, for [`caiji_fetch::Fetcher::with_routes`].
    pub fn routes(&self) -> HashMap<String, SocketAddr> {
        self.hosts.iter().map(|h| (h.clone(), self.addr)).collect()
    }

    /// Every request served so far.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.state.log.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

impl Drop for ReplayServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(State(state): State<Arc<Served>>, headers: HeaderMap, uri: Uri) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|h| h.split(':').next().unwrap_or(h).to_ascii_lowercase())
        .unwrap_or_default();
    let path = uri.path().to_string();
    let response = match state.sites.get(&host) {
        Some((pages, content_type)) => match file_for(pages, &path) {
            Some(file) => match tokio::fs::read(&file).await {
                Ok(bytes) => {
                    let ct = if path == "/robots.txt" {
                        "text/plain".to_string()
                    } else if path.ends_with(".xml") {
                        "application/xml".to_string()
                    } else {
                        content_type.clone()
                    };
                    let mut r = Response::new(Body::from(bytes));
                    if let Ok(v) = HeaderValue::from_str(&ct) {
                        r.headers_mut().insert(header::CONTENT_TYPE, v);
                    }
                    r
                }
                Err(_) => StatusCode::NOT_FOUND.into_response(),
            },
            None => StatusCode::NOT_FOUND.into_response(),
        },
        None => (StatusCode::MISDIRECTED_REQUEST, "no recorded site for this host").into_response(),
    };
    if let Ok(mut log) = state.log.lock() {
        log.push(LoggedRequest {
            at: Instant::now(),
            host,
            path: uri.path_and_query().map(|p| p.to_string()).unwrap_or(path),
            user_agent: headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_string),
            status: response.status().as_u16(),
        });
    }
    response
}

/// The recorded file for a URL path; never outside `pages` (no `..`).
fn file_for(pages: &Path, url_path: &str) -> Option<PathBuf> {
    let decoded = percent_decode(url_path)?;
    let mut rel = decoded.trim_start_matches('/').to_string();
    if rel.is_empty() || rel.ends_with('/') {
        rel.push_str("index.html");
    }
    let rel = Path::new(&rel);
    if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return None;
    }
    let file = pages.join(rel);
    file.is_file().then_some(file)
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes: Vec<u8> = url::form_urlencoded::parse(format!("p={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned().into_bytes())?;
    String::from_utf8(bytes).ok()
}

//! `caiji export warc`: captures as WARC/1.1 files, one gzip member per record, rolling over
//! at a size. Per capture: a `request` record (reconstructed: caiji keeps no request headers),
//! a `response` record (status line and headers as received, but for the ones the decoded body
//! makes false, see [`super::RENAMED_ON_EXPORT`]), or a `revisit` record (server-not-modified
//! for a 304, identical-payload-digest for a body already written), and a `metadata` record
//! with what WARC has no field for (the charset decision, where the URL was found). Every file
//! starts with a `warcinfo` record. Record ids are stable: the same capture of the same archive
//! gets the same ids on every export (docs/warc.md).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use caiji_archive::{Archive, CaptureOutcome, ExportCapture, ExportFilter};
use chrono::Utc;

use super::{ORIGINAL_PREFIX, RENAMED_ON_EXPORT, sha1_base32, stable_record_id, warc_date};
use crate::{CAIJI_VERSION, Config, CrawlError};

/// What `caiji export warc` was asked for.
#[derive(Debug, Clone)]
pub struct WarcExportOptions {
    pub filter: ExportFilter,
    /// Folder the files are written to (created if missing; existing files are never
    /// overwritten).
    pub out: PathBuf,
    /// File name prefix: `{prefix}-{YYYYMMDDhhmmss}-{serial:05}.warc.gz`.
    pub prefix: String,
    /// A file is closed once it holds this many bytes (compressed) and the next capture goes
    /// to a new one; a capture's records are never split across files.
    pub max_size: u64,
    pub progress: bool,
    /// Cancelled on SIGINT/SIGTERM: the export stops after the capture in hand and closes its
    /// file, so every file written is complete.
    pub cancel: crate::CancellationToken,
}

/// What an export wrote.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct WarcExportSummary {
    pub files: Vec<PathBuf>,
    pub captures: u64,
    pub responses: u64,
    pub revisits: u64,
    /// Captures with no HTTP exchange, written as `resource` records.
    pub resources: u64,
    pub records: u64,
    /// Bytes written, compressed.
    pub bytes: u64,
    /// Body bytes exported (uncompressed payloads).
    pub payload_bytes: u64,
    /// Stopped by a signal before the last capture.
    pub interrupted: bool,
}

/// One record to write: its WARC header fields (Content-Length added) and its block.
struct Record {
    fields: Vec<(&'static str, String)>,
    block: Vec<u8>,
}

/// The file being written: `NAME.open`, renamed to `path` when complete.
struct OpenFile {
    file: std::io::BufWriter<std::fs::File>,
    written: u64,
    path: PathBuf,
    open: PathBuf,
}

struct RollingWriter {
    dir: PathBuf,
    prefix: String,
    stamp: String,
    max_size: u64,
    serial: u32,
    warcinfo: Vec<u8>,
    current: Option<OpenFile>,
    summary: WarcExportSummary,
}

/// A record as ISO 28500 frames it, compressed as one gzip member (RFC 1952): readers can
/// seek to any record's offset, and a damaged member costs one record.
fn record_member(r: &Record) -> std::io::Result<Vec<u8>> {
    let mut head = String::from("WARC/1.1\r\n");
    for (k, v) in &r.fields {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", r.block.len()));
    let mut gz =
        flate2::write::GzEncoder::new(Vec::with_capacity(r.block.len() / 3 + 256), flate2::Compression::default());
    gz.write_all(head.as_bytes())?;
    gz.write_all(&r.block)?;
    gz.write_all(b"\r\n\r\n")?;
    gz.finish()
}

impl RollingWriter {
    fn open(&mut self) -> Result<(), CrawlError> {
        // The next serial whose name is free (another export may have written this second),
        // written as `NAME.open` and renamed when complete (as Heritrix does): a file under a
        // final name is always whole.
        let (name, path, open, file) = loop {
            let name = format!("{}-{}-{:05}.warc.gz", self.prefix, self.stamp, self.serial);
            self.serial += 1;
            let path = self.dir.join(&name);
            let open = self.dir.join(format!("{name}.open"));
            if path.exists() {
                continue;
            }
            match std::fs::OpenOptions::new().write(true).create_new(true).open(&open) {
                Ok(f) => break (name, path, open, f),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(CrawlError::Export(format!("{}: {e}", open.display()))),
            }
        };
        self.current = Some(OpenFile { file: std::io::BufWriter::new(file), written: 0, path, open });
        let info = Record {
            fields: vec![
                ("WARC-Type", "warcinfo".into()),
                ("WARC-Record-ID", stable_record_id(&format!("warcinfo:{name}"))),
                ("WARC-Date", warc_date(Utc::now())),
                ("WARC-Filename", name),
                ("Content-Type", "application/warc-fields".into()),
            ],
            block: self.warcinfo.clone(),
        };
        self.write(info)
    }

    fn write(&mut self, r: Record) -> Result<(), CrawlError> {
        if self.current.is_none() {
            self.open()?;
        }
        let Some(f) = self.current.as_mut() else { return Ok(()) };
        let io = |e: std::io::Error| CrawlError::Export(format!("{}: {e}", f.open.display()));
        let member = record_member(&r).map_err(io)?;
        f.file.write_all(&member).map_err(io)?;
        f.written += member.len() as u64;
        self.summary.records += 1;
        Ok(())
    }

    /// Closes the current file if it reached the size limit.
    fn roll_if_full(&mut self) -> Result<(), CrawlError> {
        let full = self.current.as_ref().is_some_and(|f| f.written >= self.max_size);
        if full { self.close() } else { Ok(()) }
    }

    fn close(&mut self) -> Result<(), CrawlError> {
        if let Some(f) = self.current.take() {
            let io = |e: std::io::Error| CrawlError::Export(format!("{}: {e}", f.open.display()));
            let file = f.file.into_inner().map_err(|e| io(e.into_error()))?;
            file.sync_all().map_err(io)?;
            std::fs::rename(&f.open, &f.path).map_err(io)?;
            self.summary.bytes += f.written;
            self.summary.files.push(f.path);
        }
        Ok(())
    }
}

/// The canonical reason phrase of a status (the archive keeps the status, not the phrase).
fn reason(status: u16) -> &'static str {
    axum::http::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("")
}

/// The HTTP response head as exported: the status line, the headers as received except those
/// the decoded body makes false (renamed `X-Caiji-Original-*`), and a `Content-Length` that is
/// the body's when the original had one.
pub fn response_head(status: u16, headers: &serde_json::Value, body_len: Option<usize>) -> Vec<u8> {
    let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    let mut had_length = false;
    if let Some(map) = headers.as_object() {
        for (name, values) in map {
            let renamed = RENAMED_ON_EXPORT.contains(&name.to_ascii_lowercase().as_str());
            had_length |= name.eq_ignore_ascii_case("content-length");
            for v in values.as_array().into_iter().flatten().filter_map(|v| v.as_str()) {
                // Header values were received as text; line breaks cannot be in them, but a
                // stray one would break the record, so they are folded to spaces.
                let v = v.replace(['\r', '\n'], " ");
                if renamed {
                    head.push_str(&format!("{ORIGINAL_PREFIX}{name}: {v}\r\n"));
                } else {
                    head.push_str(&format!("{name}: {v}\r\n"));
                }
            }
        }
    }
    if let (true, Some(len)) = (had_length, body_len) {
        head.push_str(&format!("content-length: {len}\r\n"));
    }
    head.push_str("\r\n");
    head.into_bytes()
}

fn request_block(url: &str, user_agent: &str) -> Vec<u8> {
    let parsed = url::Url::parse(url).ok();
    let target = parsed
        .as_ref()
        .map(|u| match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_string(),
        })
        .unwrap_or_else(|| "/".into());
    let host = parsed
        .as_ref()
        .and_then(|u| {
            u.host_str().map(|h| match u.port() {
                Some(p) => format!("{h}:{p}"),
                None => h.to_string(),
            })
        })
        .unwrap_or_default();
    format!(
        "GET {target} HTTP/1.1\r\nhost: {host}\r\nuser-agent: {user_agent}\r\naccept-encoding: gzip, deflate, br\r\n\r\n"
    )
    .into_bytes()
}

/// What WARC has no field for, as `application/warc-fields`.
fn metadata_block(c: &ExportCapture) -> Vec<u8> {
    let mut out = String::new();
    let mut field = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            out.push_str(&format!("{k}: {}\r\n", v.replace(['\r', '\n'], " ")));
        }
    };
    field("caiji-capture-id", Some(c.id.to_string()));
    field("caiji-site", Some(c.site.clone()));
    field("caiji-run", c.crawl_run_id.map(|r| r.to_string()));
    field("caiji-outcome", Some(c.outcome.as_str().to_string()));
    field("via", c.discovered_from.clone());
    field("requested-url", (c.final_url.as_deref().is_some_and(|f| f != c.url)).then(|| c.url.clone()));
    field(
        "redirect-chain",
        c.redirect_chain.as_array().filter(|a| !a.is_empty()).map(|_| c.redirect_chain.to_string()),
    );
    field("charset-bom", c.charset_bom.clone());
    field("charset-header", c.charset_header.clone());
    field("charset-meta", c.charset_meta.clone());
    field("charset-detected", c.charset_detected.clone());
    field("charset-source", c.charset_source.clone());
    field("encoding-used", c.encoding_used.clone());
    field("replacement-chars", c.replacement_chars.map(|n| n.to_string()));
    field("payload-sha256", c.body_sha256.as_ref().map(|s| data_encoding::HEXLOWER.encode(s)));
    field("imported-from", c.imported_from.clone());
    out.into_bytes()
}

fn warcinfo_block(config: &Config, filter: &ExportFilter) -> Vec<u8> {
    let config_hash = std::fs::read(&config.path).map(|b| caiji_archive::sha256_hex(&b)).unwrap_or_default();
    let mut out = format!(
        "software: caiji/{CAIJI_VERSION}\r\nformat: WARC File Format 1.1\r\n\
         conformsTo: https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/\r\n\
         config-sha256: {config_hash}\r\n"
    );
    if let Some(commit) = crate::git_commit() {
        out.push_str(&format!("caiji-commit: {commit}\r\n"));
    }
    if let Ok(host) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        out.push_str(&format!("hostname: {}\r\n", host.trim()));
    }
    if !filter.sites.is_empty() {
        out.push_str(&format!("caiji-sites: {}\r\n", filter.sites.join(", ")));
    }
    if let Some(run) = filter.run_id {
        out.push_str(&format!("caiji-run: {run}\r\n"));
    }
    if let Some(since) = filter.since {
        out.push_str(&format!("caiji-since: {}\r\n", warc_date(since)));
    }
    out.into_bytes()
}

/// A capture's stable record id: `kind` is request, response, revisit or metadata. The
/// archive's identity is its database name and the capture's id, URL and date.
fn record_id(c_id: i64, url: &str, fetched: chrono::DateTime<Utc>, kind: &str) -> String {
    stable_record_id(&format!("caiji:{c_id}:{url}:{}:{kind}", fetched.timestamp_micros()))
}

/// Writes the selected captures as WARC files under `opts.out`.
///
/// Errors: the output folder or a file cannot be written ([`CrawlError::Export`]), the
/// database fails. Files already written stay; nothing is overwritten.
pub async fn export_warc(
    config: &Config,
    archive: &Archive,
    opts: &WarcExportOptions,
) -> Result<WarcExportSummary, CrawlError> {
    std::fs::create_dir_all(&opts.out).map_err(|e| CrawlError::Export(format!("{}: {e}", opts.out.display())))?;
    let mut w = RollingWriter {
        dir: opts.out.clone(),
        prefix: opts.prefix.clone(),
        stamp: Utc::now().format("%Y%m%d%H%M%S").to_string(),
        max_size: opts.max_size.max(1),
        serial: 0,
        warcinfo: warcinfo_block(config, &opts.filter),
        current: None,
        summary: WarcExportSummary::default(),
    };
    let user_agent = config.global.fetch.user_agent.clone();
    let bar = crate::progress_bar(opts.progress, "captures");
    // The first record written for each body: later captures with it are revisits of it.
    let mut written: HashMap<Vec<u8>, (String, String, String)> = HashMap::new();
    let mut after = 0i64;
    loop {
        let batch = archive.export_captures(&opts.filter, after, 200).await?;
        let Some(last) = batch.last() else { break };
        after = last.id;
        if w.summary.interrupted {
            break;
        }
        for c in batch {
            if opts.cancel.is_cancelled() {
                w.summary.interrupted = true;
                break;
            }
            write_capture(&mut w, &c, &user_agent, &mut written)?;
            w.summary.captures += 1;
            if let Some(b) = &bar {
                b.inc(1);
            }
            w.roll_if_full()?;
        }
        if w.summary.interrupted {
            break;
        }
    }
    w.close()?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Ok(w.summary)
}

fn write_capture(
    w: &mut RollingWriter,
    c: &ExportCapture,
    user_agent: &str,
    written: &mut HashMap<Vec<u8>, (String, String, String)>,
) -> Result<(), CrawlError> {
    let uri = c.final_url.clone().unwrap_or_else(|| c.url.clone());
    let date = warc_date(c.fetched_at);
    let Some(status) = c.status else {
        // A capture with no HTTP exchange (an imported `resource` record): a resource record
        // with its content type, and its metadata.
        let body = c.body.clone().unwrap_or_default();
        let id = record_id(c.id, &uri, c.fetched_at, "resource");
        w.summary.payload_bytes += body.len() as u64;
        w.write(Record {
            fields: vec![
                ("WARC-Type", "resource".to_string()),
                ("WARC-Record-ID", id.clone()),
                ("WARC-Date", date.clone()),
                ("WARC-Target-URI", uri.clone()),
                ("WARC-Payload-Digest", sha1_base32(&body)),
                ("WARC-Block-Digest", sha1_base32(&body)),
                ("Content-Type", c.content_type.clone().unwrap_or_else(|| "application/octet-stream".into())),
            ],
            block: body,
        })?;
        w.summary.resources += 1;
        return w.write(metadata_record(c, uri, date, id));
    };
    let status = status.max(0) as u16;
    let request_id = record_id(c.id, &uri, c.fetched_at, "request");
    let earlier = c.body_sha256.as_ref().and_then(|sha| written.get(sha)).cloned();
    let not_modified = c.outcome == CaptureOutcome::NotModified;
    // A revisit: a 304 confirms the capture it names (server-not-modified); a body already
    // written (by this URL's earlier capture, or another URL's) is an identical payload.
    let referent = match (c.revisit_of, earlier) {
        (Some(of), _) => {
            let of_uri = c.revisit_of_url.clone().unwrap_or_else(|| uri.clone());
            let of_at = c.revisit_of_fetched_at.unwrap_or(c.fetched_at);
            Some((record_id(of, &of_uri, of_at, "response"), of_uri, warc_date(of_at)))
        }
        (None, earlier) => earlier,
    };
    let (main_id, main) = if let Some((refers_id, refers_uri, refers_date)) = referent {
        let id = record_id(c.id, &uri, c.fetched_at, "revisit");
        // The block is the HTTP head alone.
        let head = response_head(status, &c.response_headers, None);
        let profile = if not_modified { "server-not-modified" } else { "identical-payload-digest" };
        let mut fields = vec![
            ("WARC-Type", "revisit".to_string()),
            ("WARC-Record-ID", id.clone()),
            ("WARC-Date", date.clone()),
            ("WARC-Target-URI", uri.clone()),
            ("WARC-Concurrent-To", request_id.clone()),
            ("WARC-Profile", format!("http://netpreserve.org/warc/1.1/revisit/{profile}")),
            ("WARC-Refers-To", refers_id),
            ("WARC-Refers-To-Target-URI", refers_uri),
            ("WARC-Refers-To-Date", refers_date),
        ];
        if let Some(body) = &c.body {
            fields.push(("WARC-Payload-Digest", sha1_base32(body)));
        }
        fields.push(("WARC-Block-Digest", sha1_base32(&head)));
        fields.push(("Content-Type", "application/http; msgtype=response".into()));
        w.summary.revisits += 1;
        (id, Record { fields, block: head })
    } else {
        let body = c.body.as_deref().unwrap_or_default();
        let mut block = response_head(status, &c.response_headers, Some(body.len()));
        block.extend_from_slice(body);
        let id = record_id(c.id, &uri, c.fetched_at, "response");
        let payload_digest = sha1_base32(body);
        let fields = vec![
            ("WARC-Type", "response".to_string()),
            ("WARC-Record-ID", id.clone()),
            ("WARC-Date", date.clone()),
            ("WARC-Target-URI", uri.clone()),
            ("WARC-Concurrent-To", request_id.clone()),
            ("WARC-Payload-Digest", payload_digest),
            ("WARC-Block-Digest", sha1_base32(&block)),
            ("Content-Type", "application/http; msgtype=response".into()),
        ];
        if let Some(sha) = &c.body_sha256 {
            written.insert(sha.clone(), (id.clone(), uri.clone(), date.clone()));
        }
        w.summary.responses += 1;
        w.summary.payload_bytes += body.len() as u64;
        (id, Record { fields, block })
    };
    // What a capture knows that no WARC field says, on the record itself so an import restores
    // it (docs/warc.md): the URL asked for when a redirect led elsewhere, the hops, an outcome
    // the status does not imply.
    let mut main = main;
    if c.final_url.as_deref().is_some_and(|f| f != c.url) {
        main.fields.push(("Caiji-Requested-URI", c.url.clone()));
    }
    if c.redirect_chain.as_array().is_some_and(|a| !a.is_empty()) {
        main.fields.push(("Caiji-Redirect-Chain", c.redirect_chain.to_string()));
    }
    let implied = match status {
        200..=299 => CaptureOutcome::Ok,
        304 if c.revisit_of.is_some() => CaptureOutcome::NotModified,
        _ => CaptureOutcome::HttpStatus,
    };
    if c.outcome != implied {
        main.fields.push(("Caiji-Outcome", c.outcome.as_str().to_string()));
    }
    let request = request_block(&uri, user_agent);
    w.write(Record {
        fields: vec![
            ("WARC-Type", "request".to_string()),
            ("WARC-Record-ID", request_id),
            ("WARC-Date", date.clone()),
            ("WARC-Target-URI", uri.clone()),
            ("WARC-Concurrent-To", main_id.clone()),
            ("WARC-Block-Digest", sha1_base32(&request)),
            ("Content-Type", "application/http; msgtype=request".into()),
        ],
        block: request,
    })?;
    w.write(main)?;
    w.write(metadata_record(c, uri, date, main_id))
}

/// The `metadata` record of capture `c`, referring to the record `refers_to` that holds it.
fn metadata_record(c: &ExportCapture, uri: String, date: String, refers_to: String) -> Record {
    Record {
        fields: vec![
            ("WARC-Type", "metadata".to_string()),
            ("WARC-Record-ID", record_id(c.id, &uri, c.fetched_at, "metadata")),
            ("WARC-Date", date),
            ("WARC-Target-URI", uri),
            ("WARC-Refers-To", refers_to),
            ("Content-Type", "application/warc-fields".into()),
        ],
        block: metadata_block(c),
    }
}

/// The files an export wrote, in a few words (for its summary line).
pub fn describe(files: &[PathBuf]) -> String {
    match files {
        [] => "no file".into(),
        [one] => one.display().to_string(),
        [first, .., last] => format!("{} files, {} … {}", files.len(), name(first), name(last)),
    }
}

fn name(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

//! `caiji import warc FILE...`: WARC files (gzip per record or not) and ARC files from other
//! tools into the archive, each capture as if crawled: the site owning the URL's host (or the
//! host itself when no site does, extracted by the generic extractor), the charset decision
//! recorded, articles extracted. Every record read is a `warc_records` row naming the file and
//! offset; one that cannot be archived says why. A record already imported (same file bytes,
//! same offset) is not read again, so importing a file twice adds nothing.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use caiji_archive::{Archive, CaptureOutcome, RunOutcome, UrlKind, WarcRecordStatus, WarcSource};
use caiji_fetch::{Fetched, Outcome};
use chrono::Utc;
use sha2::Digest as _;
use warcat::http::h1::header::StartLine;
use warcat::http::h1::recv::{Receiver, ReceiverEvent};
use warcat::warc::{Decoder, DecoderConfig};

use super::{ORIGINAL_PREFIX, digest_matches, headers_json, parse_warc_date};
use crate::crawl::{analyze, capture_of, to_new_extraction, to_new_extraction_without_words};
use crate::{Config, CrawlError, canon, run_info};

/// What `caiji import warc` was asked for.
#[derive(Debug, Clone, Default)]
pub struct WarcImportOptions {
    pub files: Vec<PathBuf>,
    /// The command line, recorded on the run.
    pub arguments: serde_json::Value,
    pub progress: bool,
}

/// Counts of one import run.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct WarcImportSummary {
    pub run_id: i64,
    pub files: u64,
    /// Records read (every record, whatever became of it).
    pub records: u64,
    /// Records that became captures.
    pub imported: u64,
    /// Of those, articles extracted.
    pub extracted: u64,
    /// Records with nothing to archive (warcinfo, request, metadata).
    pub skipped: u64,
    /// Records refused, each with its reason in `warc_records`.
    pub rejected: u64,
    /// Records an earlier import already read.
    pub already_imported: u64,
    /// Files that could not be read to their end (framing lost); their records before the
    /// fault are imported.
    pub damaged_files: u64,
}

/// One record as read: where, its WARC fields (an ARC record's as WARC names them), its block.
pub(super) struct RawRecord {
    pub(super) offset: u64,
    pub(super) fields: Vec<(String, String)>,
    pub(super) block: Vec<u8>,
    /// Why the record is cut short, when the file ends inside it.
    pub(super) short: Option<String>,
}

/// What becomes of a record.
enum Verdict {
    Capture(Box<caiji_archive::NewCapture>, Option<Box<caiji_archive::NewExtraction>>),
    Skip(String),
    Reject(String),
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// Imports `opts.files` in one run (command `import`).
///
/// Errors: a file that cannot be opened, the database. A malformed or truncated record is not
/// an error: it is recorded `rejected` with its reason and counted; a file whose framing is
/// lost stops there (counted in `damaged_files`).
pub async fn import_warc(
    config: &Config,
    archive: &Archive,
    db_url: &str,
    opts: &WarcImportOptions,
) -> Result<WarcImportSummary, CrawlError> {
    for f in &opts.files {
        if !f.is_file() {
            return Err(CrawlError::Usage(format!("{}: no such file (or not a regular file)", f.display())));
        }
    }
    let lease = archive.begin_run(db_url, &run_info("import", &opts.arguments, &[]), &[]).await?;
    let mut summary = WarcImportSummary { run_id: lease.run_id(), ..Default::default() };
    let bar = crate::progress_bar(opts.progress, "records");
    let mut fatal = None;
    for path in &opts.files {
        if let Err(e) = import_file(config, archive, path, &mut summary, bar.as_ref()).await {
            fatal = Some(e);
            break;
        }
        summary.files += 1;
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let (outcome, error) = match &fatal {
        Some(e) => (RunOutcome::Failed, Some(e.to_string())),
        None if summary.rejected > 0 || summary.damaged_files > 0 => (
            RunOutcome::DoneWithFailures,
            Some(format!(
                "{} records rejected, {} files damaged (see warc_records)",
                summary.rejected, summary.damaged_files
            )),
        ),
        None => (RunOutcome::Done, None),
    };
    let counts = serde_json::to_value(&summary).unwrap_or_default();
    archive.finish_run(summary.run_id, outcome, &counts, error.as_deref()).await?;
    lease.release().await;
    match fatal {
        Some(e) => Err(e),
        None => Ok(summary),
    }
}

async fn import_file(
    config: &Config,
    archive: &Archive,
    path: &Path,
    summary: &mut WarcImportSummary,
    bar: Option<&indicatif::ProgressBar>,
) -> Result<(), CrawlError> {
    let io = |e: std::io::Error| CrawlError::Import(format!("{}: {e}", path.display()));
    let file_sha256: [u8; 32] = {
        let mut h = sha2::Sha256::new();
        let mut f = std::fs::File::open(path).map_err(io)?;
        std::io::copy(&mut f, &mut h).map_err(io)?;
        h.finalize().into()
    };
    let (records, damage) = read_records(path).map_err(io)?;
    let name = path.display().to_string();
    for r in records {
        summary.records += 1;
        if let Some(b) = bar {
            b.inc(1);
        }
        if archive.warc_record_known(&file_sha256, r.offset).await? {
            summary.already_imported += 1;
            continue;
        }
        let record_type = field(&r.fields, "WARC-Type").unwrap_or("arc").to_ascii_lowercase();
        let source = WarcSource {
            run_id: summary.run_id,
            file_name: name.clone(),
            file_sha256,
            offset: r.offset,
            record_id: field(&r.fields, "WARC-Record-ID").map(str::to_string),
            record_type: record_type.clone(),
            target_uri: field(&r.fields, "WARC-Target-URI").map(|u| u.trim_matches(['<', '>']).to_string()),
            warc_date: field(&r.fields, "WARC-Date").and_then(parse_warc_date),
            headers: headers_json(&r.fields),
        };
        let verdict = match &r.short {
            Some(why) => Verdict::Reject(why.clone()),
            None => judge(config, archive, &record_type, &r, &source).await?,
        };
        match verdict {
            Verdict::Capture(mut capture, extraction) => {
                capture.crawl_run_id = Some(summary.run_id);
                let extracted = extraction.is_some();
                if archive.store_imported(&capture, extraction.as_deref(), &source).await?.is_some() {
                    summary.imported += 1;
                    summary.extracted += u64::from(extracted);
                    tracing::info!(url = %capture.url, status = capture.status, offset = r.offset, file = %name, "imported");
                } else {
                    summary.already_imported += 1;
                }
            }
            Verdict::Skip(reason) => {
                archive.store_unimported(&source, WarcRecordStatus::Skipped, &reason).await?;
                summary.skipped += 1;
            }
            Verdict::Reject(reason) => {
                tracing::warn!(file = %name, offset = r.offset, record_type, reason = %reason, "record rejected");
                archive.store_unimported(&source, WarcRecordStatus::Rejected, &reason).await?;
                summary.rejected += 1;
            }
        }
    }
    if let Some(why) = damage {
        tracing::warn!(file = %name, reason = %why, "file damaged: records after this point were not read");
        summary.damaged_files += 1;
    }
    Ok(())
}

/// Reads every record of a WARC or ARC file, gzip-compressed (one member per record, or one
/// for the whole file) or not. Returns the records and, when the file's framing broke before
/// its end, why (the records before that point are returned).
fn read_records(path: &Path) -> std::io::Result<(Vec<RawRecord>, Option<String>)> {
    let mut head = [0u8; 2];
    let n = std::fs::File::open(path)?.read(&mut head)?;
    let gzip = n == 2 && head == [0x1f, 0x8b];
    let peek = {
        let f = BufReader::new(std::fs::File::open(path)?);
        let mut buf = Vec::new();
        if gzip {
            flate2::bufread::MultiGzDecoder::new(f).take(16).read_to_end(&mut buf).ok();
        } else {
            f.take(16).read_to_end(&mut buf)?;
        }
        buf
    };
    if peek.starts_with(b"filedesc://") {
        return super::arc::read_arc(path, gzip);
    }
    if !peek.starts_with(b"WARC/") {
        return Ok((Vec::new(), Some("neither a WARC nor an ARC file (no WARC/ or filedesc:// at its start)".into())));
    }
    if !gzip {
        return parse_warc_stream(BufReader::new(std::fs::File::open(path)?));
    }
    // One gzip member at a time (flate2 reads exactly one and leaves the rest), so each
    // record's offset is its member's offset in the file, as CDX indexes give it. A file
    // compressed as one member (not one per record) gets offsets in its uncompressed stream.
    let mut src = CountingRead { inner: BufReader::new(std::fs::File::open(path)?), pos: 0 };
    let mut out = Vec::new();
    loop {
        if src.fill_buf()?.is_empty() {
            return Ok((out, None));
        }
        let member_offset = src.pos;
        let mut member = Vec::new();
        let read = flate2::bufread::GzDecoder::new(&mut src).take(MAX_MEMBER + 1).read_to_end(&mut member);
        if let Err(e) = read {
            return Ok((out, Some(format!("gzip member at offset {member_offset} does not decompress: {e}"))));
        }
        if member.len() as u64 > MAX_MEMBER {
            return Ok((
                out,
                Some(format!(
                    "gzip member at offset {member_offset} is over {MAX_MEMBER} bytes: write one member per record"
                )),
            ));
        }
        let (mut records, damage) = parse_warc_stream(&member[..])?;
        if records.len() == 1 {
            records[0].offset = member_offset;
        }
        out.extend(records);
        if let Some(why) = damage {
            return Ok((out, Some(format!("in the gzip member at offset {member_offset}: {why}"))));
        }
    }
}

/// The largest gzip member read (decompressed): a record, or a whole file compressed as one.
const MAX_MEMBER: u64 = 1 << 30;

/// A reader that counts the bytes consumed from it (the offset of the next gzip member).
struct CountingRead<R> {
    inner: R,
    pos: u64,
}

impl<R: BufRead> Read for CountingRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl<R: BufRead> BufRead for CountingRead<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.inner.fill_buf()
    }
    fn consume(&mut self, amt: usize) {
        self.pos += amt as u64;
        self.inner.consume(amt);
    }
}

/// Uncompressed WARC records from `input`, with their offsets in it.
fn parse_warc_stream<R: Read>(input: R) -> std::io::Result<(Vec<RawRecord>, Option<String>)> {
    let mut out = Vec::new();
    let mut decoder = match Decoder::new(input, DecoderConfig::default()) {
        Ok(d) => d,
        Err(e) => return Ok((out, Some(format!("cannot start reading: {e}")))),
    };
    loop {
        match decoder.has_next_record() {
            Ok(true) => {}
            Ok(false) => return Ok((out, None)),
            Err(e) => {
                let why = format!("after record {}: {e}", out.len());
                return Ok((out, Some(why)));
            }
        }
        let offset = decoder.record_boundary_position();
        let (header, mut block_reader) = match decoder.read_header() {
            Ok(x) => x,
            Err(e) => return Ok((out, Some(format!("record at offset {offset}: bad WARC header: {e}")))),
        };
        let fields: Vec<(String, String)> = header.fields.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let expected = header.content_length().unwrap_or(0);
        let mut block = Vec::new();
        let read = block_reader.read_to_end(&mut block);
        let short = match read {
            Err(e) if (block.len() as u64) >= expected => {
                Some(format!("the record does not end where its Content-Length ({expected}) says: {e}"))
            }
            Err(e) => Some(format!("truncated: {} of {expected} block bytes before the data ends ({e})", block.len())),
            Ok(_) if (block.len() as u64) < expected => {
                Some(format!("truncated: {} of {expected} block bytes before the data ends", block.len()))
            }
            Ok(_) => None,
        };
        let cut = short.is_some();
        out.push(RawRecord { offset, fields, block, short });
        if cut {
            return Ok((
                out,
                Some(format!("record at offset {offset} is damaged; the records after it cannot be located")),
            ));
        }
        decoder = match block_reader.finish_block() {
            Ok(d) => d,
            Err(e) => return Ok((out, Some(format!("record at offset {offset}: no record end after its block: {e}")))),
        };
    }
}

/// Decides what a record becomes.
async fn judge(
    config: &Config,
    archive: &Archive,
    record_type: &str,
    r: &RawRecord,
    source: &WarcSource,
) -> Result<Verdict, CrawlError> {
    if let Some(v) = field(&r.fields, "WARC-Truncated") {
        return Ok(Verdict::Reject(format!("truncated by the tool that wrote it (WARC-Truncated: {v})")));
    }
    if let Some(d) = field(&r.fields, "WARC-Block-Digest")
        && digest_matches(d, &r.block) == Some(false)
    {
        return Ok(Verdict::Reject(format!("WARC-Block-Digest {d} does not match the block")));
    }
    let http = matches!(record_type, "response" | "request" | "revisit")
        && field(&r.fields, "Content-Type").is_none_or(|t| t.to_ascii_lowercase().starts_with("application/http"));
    if http && let Some(d) = field(&r.fields, "WARC-Payload-Digest") {
        let payload = split_head(&r.block).map(|(_, p)| p).unwrap_or_default();
        // The revisit's payload is elsewhere; a request's and a response's is here (as
        // transferred: chunked framing included, as warcio computes it).
        if record_type != "revisit" && digest_matches(d, payload) == Some(false) {
            return Ok(Verdict::Reject(format!("WARC-Payload-Digest {d} does not match the payload")));
        }
    }
    let Some(uri) = source.target_uri.as_deref() else {
        return Ok(match record_type {
            "warcinfo" | "metadata" | "request" => Verdict::Skip(format!("{record_type} record: nothing to archive")),
            _ => Verdict::Reject(format!("{record_type} record without WARC-Target-URI")),
        });
    };
    match record_type {
        "warcinfo" | "metadata" | "request" | "conversion" | "continuation" => {
            return Ok(Verdict::Skip(format!("{record_type} record: nothing to archive as a capture")));
        }
        "response" | "resource" | "revisit" | "arc" => {}
        other => return Ok(Verdict::Skip(format!("record type {other:?} is not archived"))),
    }
    let Ok(url) = url::Url::parse(uri) else {
        return Ok(Verdict::Reject(format!("WARC-Target-URI {uri:?} is not a URL")));
    };
    if !matches!(url.scheme(), "http" | "https") {
        return Ok(Verdict::Skip(format!("{} URL: not an HTTP capture", url.scheme())));
    }
    let fetched_at = source.warc_date.unwrap_or_else(Utc::now);
    // The HTTP message: status, headers and the body after transfer and content decoding (as
    // caiji stores what it fetches), or a resource's block as it is.
    let (status, headers, body) = if record_type == "resource" {
        let ct = field(&r.fields, "Content-Type").unwrap_or("application/octet-stream").to_string();
        (None, vec![("content-type".to_string(), ct)], Some(r.block.clone()))
    } else {
        match parse_http(&r.block, record_type == "revisit") {
            Ok(x) => x,
            Err(why) => return Ok(Verdict::Reject(why)),
        }
    };
    let headers = restore_originals(headers);

    // A revisit confirms a capture the archive holds: the one the record refers to.
    let mut revisit_of = None;
    let mut body = body;
    let mut not_modified = false;
    if record_type == "revisit" {
        let profile = field(&r.fields, "WARC-Profile").unwrap_or("");
        not_modified = profile.ends_with("server-not-modified");
        let referent = match field(&r.fields, "WARC-Refers-To") {
            Some(id) => archive.capture_of_record_id(id).await?,
            None => None,
        };
        let referent = match referent {
            Some(id) => Some(id),
            None => {
                let target = field(&r.fields, "WARC-Refers-To-Target-URI").unwrap_or(uri);
                let at = field(&r.fields, "WARC-Refers-To-Date").and_then(parse_warc_date);
                let canonical =
                    url::Url::parse(target.trim_matches(['<', '>'])).ok().and_then(|u| canon::canonicalize(&u));
                match canonical {
                    Some(c) => archive.newest_capture_with_body(c.as_str(), at).await?.map(|(id, _)| id),
                    None => None,
                }
            }
        };
        let Some(of) = referent else {
            return Ok(Verdict::Reject(
                "revisit of a record the archive does not hold (import that file first)".into(),
            ));
        };
        revisit_of = Some(of);
        body = if not_modified { None } else { archive.capture_body(of).await? };
    }

    let requested = field(&r.fields, "Caiji-Requested-URI").and_then(|u| url::Url::parse(u).ok());
    let outcome = match status {
        _ if not_modified => Outcome::NotModified,
        Some(s) if (200..300).contains(&s) => Outcome::Ok,
        None => Outcome::Ok,
        Some(_) => Outcome::HttpStatus,
    };
    let fetched = Fetched {
        url: requested.clone().unwrap_or_else(|| url.clone()),
        final_url: Some(url.clone()),
        redirect_chain: Vec::new(),
        status,
        headers,
        body: body.map(Bytes::from),
        outcome,
        error: None,
        attempts: 1,
        fetched_at,
        duration: std::time::Duration::ZERO,
    };
    let request_url = requested.unwrap_or(url.clone());
    let canonical = canon::canonicalize(&request_url).map(|u| u.to_string()).unwrap_or_else(|| request_url.to_string());
    let host = url.host_str().unwrap_or_default().to_string();
    let site = config.site_for_host(&host);
    let site_name = site.map(|s| s.name().to_string()).unwrap_or(host);
    let kind = match site {
        Some(s) if s.is_article(url.as_str()) => UrlKind::Article,
        Some(_) => UrlKind::List,
        None => UrlKind::Article,
    };
    let registry = caiji_extract::Registry::default();
    let extractor = match (kind, site) {
        (UrlKind::Article, Some(s)) => registry.get(&s.file.extractor),
        (UrlKind::Article, None) => registry.get("generic"),
        _ => None,
    };
    // A revisit that confirms a body adds no extraction (as in a crawl).
    // robots.txt is archived undecoded and unread, as the crawl archives it; so is a capture
    // whose recorded outcome says its body is not the page (cut at the size limit, say).
    let robots = url.path() == "/robots.txt" && url.query().is_none();
    let recorded_outcome = field(&r.fields, "Caiji-Outcome").and_then(outcome_named);
    let analysis = if robots || recorded_outcome.is_some_and(|o| o != CaptureOutcome::Ok) {
        crate::crawl::Analysis::default()
    } else {
        analyze(kind, if revisit_of.is_some() { None } else { extractor }, &fetched)
    };
    let content_type = fetched.header("content-type").map(str::to_string);
    let mut capture =
        capture_of(&fetched, &site_name, &canonical, source.run_id, content_type, analysis.decoded.as_ref());
    capture.revisit_of = revisit_of;
    if let Some(chain) = field(&r.fields, "Caiji-Redirect-Chain").and_then(|c| serde_json::from_str(c).ok()) {
        capture.redirect_chain = chain;
    }
    if let Some(o) = recorded_outcome
        && o != CaptureOutcome::NotModified
    {
        capture.outcome = o;
    }
    let extraction = analysis.record.map(|rec| match site {
        Some(s) => Box::new(to_new_extraction(rec, s, source.run_id)),
        None => {
            let mut e =
                to_new_extraction_without_words(rec, crate::config::default_config_hash("generic"), source.run_id);
            e.search_words = caiji_extract::search::search_words(e.text());
            Box::new(e)
        }
    });
    Ok(Verdict::Capture(Box::new(capture), extraction))
}

fn outcome_named(name: &str) -> Option<CaptureOutcome> {
    use CaptureOutcome::*;
    [
        Ok,
        HttpStatus,
        TooLarge,
        Timeout,
        RedirectLoop,
        TooManyRedirects,
        NetworkError,
        RedirectOffSite,
        AddressRefused,
        UnsupportedEncoding,
        NotModified,
    ]
    .into_iter()
    .find(|o| o.as_str() == name.trim())
}

/// The HTTP head and the payload of a block (split at the first empty line).
fn split_head(block: &[u8]) -> Option<(&[u8], &[u8])> {
    let i = block.windows(4).position(|w| w == b"\r\n\r\n").map(|i| (i, 4)).or_else(|| {
        // Some writers (ARC, old tools) end the head with bare LFs.
        block.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2))
    })?;
    Some((&block[..i.0], &block[i.0 + i.1..]))
}

type HttpMessage = (Option<u16>, Vec<(String, String)>, Option<Vec<u8>>);

/// Parses an HTTP response block: status, headers as received, body decoded (chunked
/// framing and content codings undone, as the fetcher stores bodies). `head_only`: a revisit's
/// block, whose body is elsewhere.
pub(crate) fn parse_http(block: &[u8], head_only: bool) -> Result<HttpMessage, String> {
    let mut receiver = Receiver::new();
    receiver.recv_data(block);
    let mut headers = Vec::new();
    let mut status = None;
    let mut body = Vec::new();
    let mut got_header = false;
    loop {
        let event = receiver.get_event().map_err(|e| match got_header {
            false => format!("not an HTTP response: {e}"),
            true => format!("HTTP body does not decode: {e}"),
        })?;
        match event {
            ReceiverEvent::Header(h) => {
                got_header = true;
                match &h.start_line {
                    StartLine::Status(s) => status = Some(s.status_code),
                    StartLine::Request(_) => return Err("an HTTP request where a response was expected".into()),
                }
                for (k, v) in h.fields.iter() {
                    headers.push((k.to_string(), v.to_string_lossy().into_owned()));
                }
                if head_only {
                    break;
                }
            }
            ReceiverEvent::Body(b) => body.extend_from_slice(b),
            ReceiverEvent::Trailer(_) => {}
            ReceiverEvent::End => break,
            // All the data is in: a body without framing ends here.
            ReceiverEvent::WantData => {
                if !got_header {
                    return Err("not an HTTP response: the head does not end".into());
                }
                break;
            }
        }
    }
    Ok((status, headers, (!head_only).then_some(body)))
}

/// Headers caiji renamed on export (`X-Caiji-Original-Content-Encoding: gzip`) get their
/// names back, replacing the value the export computed.
fn restore_originals(headers: Vec<(String, String)>) -> Vec<(String, String)> {
    let (originals, rest): (Vec<_>, Vec<_>) =
        headers.into_iter().partition(|(k, _)| k.to_ascii_lowercase().starts_with(ORIGINAL_PREFIX));
    if originals.is_empty() {
        return rest;
    }
    let names: Vec<String> = originals.iter().map(|(k, _)| k[ORIGINAL_PREFIX.len()..].to_ascii_lowercase()).collect();
    let mut out: Vec<(String, String)> =
        rest.into_iter().filter(|(k, _)| !names.contains(&k.to_ascii_lowercase())).collect();
    out.extend(originals.into_iter().map(|(k, v)| (k[ORIGINAL_PREFIX.len()..].to_string(), v)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_bodies_are_stored_decoded() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut gz, "<p>中文</p>".as_bytes()).unwrap();
        let body = gz.finish().unwrap();
        // Chunked over gzip, as a server streams a compressed page.
        let mut block = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        let (a, b) = body.split_at(body.len() / 2);
        for part in [a, b] {
            block.extend(format!("{:x}\r\n", part.len()).bytes());
            block.extend_from_slice(part);
            block.extend_from_slice(b"\r\n");
        }
        block.extend_from_slice(b"0\r\n\r\n");
        let (status, headers, body) = parse_http(&block, false).unwrap();
        assert_eq!(status, Some(200));
        assert_eq!(body.as_deref(), Some("<p>中文</p>".as_bytes()));
        assert!(
            headers.iter().any(|(k, v)| k == "Content-Encoding" && v == "gzip"),
            "headers as received: {headers:?}"
        );
        // A revisit's block: the head alone.
        let (status, _, body) = parse_http(b"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n", true).unwrap();
        assert_eq!((status, body), (Some(304), None));
        assert!(parse_http(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", false).is_err());
        assert!(parse_http(b"\x00\x01 binary", false).is_err());
    }

    #[test]
    fn renamed_headers_get_their_names_back() {
        let h = vec![
            ("content-type".to_string(), "text/html".to_string()),
            ("content-length".to_string(), "120".to_string()),
            ("x-caiji-original-content-length".to_string(), "40".to_string()),
            ("x-caiji-original-content-encoding".to_string(), "gzip".to_string()),
        ];
        let mut got = restore_originals(h);
        got.sort();
        assert_eq!(
            got,
            [("content-encoding", "gzip"), ("content-length", "40"), ("content-type", "text/html")]
                .map(|(k, v)| (k.to_string(), v.to_string()))
        );
    }
}

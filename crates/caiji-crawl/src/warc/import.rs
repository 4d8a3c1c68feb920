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
use sha2::Digest as _;

use super::{ORIGINAL_PREFIX, digest_matches, headers_json, parse_warc_date};
use crate::crawl::{analyze, capture_of, to_new_extraction};
use crate::{Config, CrawlError, canon, run_info};

/// What `caiji import warc` was asked for.
#[derive(Debug, Clone, Default)]
pub struct WarcImportOptions {
    pub files: Vec<PathBuf>,
    /// The command line, recorded on the run.
    pub arguments: serde_json::Value,
    pub progress: bool,
    /// Cancelled on SIGINT/SIGTERM: the import stops after the record in hand and is recorded
    /// `interrupted`; what was committed stays and a re-run goes on from there.
    pub cancel: crate::CancellationToken,
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
        if opts.cancel.is_cancelled() {
            break;
        }
        if let Err(e) = import_file(config, archive, path, &mut summary, &opts.cancel, bar.as_ref()).await {
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
        None if opts.cancel.is_cancelled() => {
            (RunOutcome::Interrupted, Some("stopped by a signal; records committed so far are kept".to_string()))
        }
        None if summary.rejected > 0 || summary.damaged_files > 0 => (
            RunOutcome::DoneWithFailures,
            Some(format!(
                "{} records rejected, {} files damaged (see warc_records)",
                summary.rejected, summary.damaged_files
            )),
        ),
        None => (RunOutcome::Done, None),
    };
    if fatal.is_none() {
        crate::merge_search_index(archive).await;
    }
    let counts = serde_json::to_value(&summary).unwrap_or_default();
    archive.finish_run(summary.run_id, outcome, &counts, error.as_deref()).await?;
    lease.release().await;
    match fatal {
        Some(e) => Err(e),
        None => Ok(summary),
    }
}

/// Records stored per transaction: an import commits in batches (one commit per record would
/// cost a WAL flush each); a batch is all or nothing, and a re-run skips what was committed.
const BATCH: usize = 64;

async fn import_file(
    config: &Config,
    archive: &Archive,
    path: &Path,
    summary: &mut WarcImportSummary,
    cancel: &crate::CancellationToken,
    bar: Option<&indicatif::ProgressBar>,
) -> Result<(), CrawlError> {
    let io = |e: std::io::Error| CrawlError::Import(format!("{}: {e}", path.display()));
    let file_sha256: [u8; 32] = {
        let mut h = sha2::Sha256::new();
        let mut f = std::fs::File::open(path).map_err(io)?;
        std::io::copy(&mut f, &mut h).map_err(io)?;
        h.finalize().into()
    };
    // Records are read on a blocking thread and handed over one by one (bounded): a file is
    // never held in memory, whatever its size.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<RawRecord>(16);
    let limit = config.global.fetch.max_body_bytes.saturating_add(1 << 20);
    let reader_path = path.to_path_buf();
    let reader =
        tokio::task::spawn_blocking(move || read_records(&reader_path, limit, |r| tx.blocking_send(r).is_ok()));
    let name = path.display().to_string();
    let mut batch: Vec<caiji_archive::warc::ImportedRecord> = Vec::new();
    while let Some(r) = rx.recv().await {
        if cancel.is_cancelled() {
            break;
        }
        summary.records += 1;
        if let Some(b) = bar {
            b.inc(1);
        }
        if archive.warc_record_known(&file_sha256, r.offset).await? || batch.iter().any(|b| b.source.offset == r.offset)
        {
            summary.already_imported += 1;
            continue;
        }
        let record_type = field(&r.fields, "WARC-Type").map(str::to_ascii_lowercase);
        let source = WarcSource {
            run_id: summary.run_id,
            file_name: name.clone(),
            file_sha256,
            offset: r.offset,
            record_id: field(&r.fields, "WARC-Record-ID").map(str::to_string),
            record_type: record_type.clone().unwrap_or_else(|| "(none)".into()),
            target_uri: field(&r.fields, "WARC-Target-URI").map(|u| u.trim_matches(['<', '>']).to_string()),
            warc_date: field(&r.fields, "WARC-Date").and_then(parse_warc_date),
            headers: headers_json(&r.fields),
        };
        // A revisit may refer to a record of this batch: store the batch first.
        if record_type.as_deref() == Some("revisit") && !batch.is_empty() {
            flush(archive, &mut batch, summary).await?;
        }
        let verdict = match (&r.short, &record_type) {
            (Some(why), _) => Verdict::Reject(why.clone()),
            (None, None) => Verdict::Reject("no WARC-Type".into()),
            (None, Some(t)) => judge(config, archive, t, &r, &source).await?,
        };
        let (capture, extraction, status, reason) = match verdict {
            Verdict::Capture(mut capture, extraction) => {
                capture.crawl_run_id = Some(summary.run_id);
                tracing::info!(url = %capture.url, status = capture.status, offset = r.offset, file = %name, "imported");
                (Some(capture), extraction, WarcRecordStatus::Imported, None)
            }
            Verdict::Skip(reason) => (None, None, WarcRecordStatus::Skipped, Some(reason)),
            Verdict::Reject(reason) => {
                tracing::warn!(file = %name, offset = r.offset, record_type = source.record_type, reason = %reason, "record rejected");
                (None, None, WarcRecordStatus::Rejected, Some(reason))
            }
        };
        batch.push(caiji_archive::warc::ImportedRecord { source, capture, extraction, status, reason });
        if batch.len() >= BATCH {
            flush(archive, &mut batch, summary).await?;
        }
    }
    flush(archive, &mut batch, summary).await?;
    drop(rx);
    let damage = match reader.await {
        Ok(result) => result.map_err(io)?,
        Err(e) => Some(format!("the reader stopped: {e}")),
    };
    if let Some(why) = damage
        && !cancel.is_cancelled()
    {
        tracing::warn!(file = %name, reason = %why, "file damaged: records after this point were not read");
        summary.damaged_files += 1;
    }
    Ok(())
}

/// Stores a batch in one transaction and counts what it held.
async fn flush(
    archive: &Archive,
    batch: &mut Vec<caiji_archive::warc::ImportedRecord>,
    summary: &mut WarcImportSummary,
) -> Result<(), CrawlError> {
    if batch.is_empty() {
        return Ok(());
    }
    let stored = archive.store_import_batch(batch).await?;
    for (r, status) in batch.iter().zip(stored) {
        match status {
            None => summary.already_imported += 1,
            Some(WarcRecordStatus::Imported) => {
                summary.imported += 1;
                summary.extracted += u64::from(r.extraction.is_some());
            }
            Some(WarcRecordStatus::Skipped) => summary.skipped += 1,
            Some(WarcRecordStatus::Rejected) => summary.rejected += 1,
        }
    }
    batch.clear();
    Ok(())
}

/// Reads every record of a WARC or ARC file, gzip-compressed (one member per record, or one
/// for the whole file) or not, handing each to `emit` (which returns false to stop). Returns,
/// when the file's framing broke before its end, why (the records before are emitted).
/// Blocks larger than `limit` bytes are skipped and emitted as refused.
fn read_records(path: &Path, limit: u64, mut emit: impl FnMut(RawRecord) -> bool) -> std::io::Result<Option<String>> {
    let mut head = [0u8; 2];
    let n = std::fs::File::open(path)?.read(&mut head)?;
    let gzip = n == 2 && head == [0x1f, 0x8b];
    let peek = {
        let f = BufReader::new(std::fs::File::open(path)?);
        let mut buf = Vec::new();
        if gzip {
            flate2::bufread::MultiGzDecoder::new(f).take(64).read_to_end(&mut buf).ok();
        } else {
            f.take(64).read_to_end(&mut buf)?;
        }
        // Blank lines before the first record are tolerated (as between records).
        let start = buf.iter().take_while(|b| b.is_ascii_whitespace()).count();
        buf.split_off(start)
    };
    if peek.starts_with(b"filedesc://") {
        let (records, damage) = super::arc::read_arc(path, gzip)?;
        for r in records {
            if !emit(r) {
                return Ok(None);
            }
        }
        return Ok(damage);
    }
    if !peek.starts_with(b"WARC/") {
        return Ok(Some("neither a WARC nor an ARC file (no WARC/ or filedesc:// at its start)".into()));
    }
    if !gzip {
        return read_warc_stream(
            &mut CountingRead { inner: BufReader::new(std::fs::File::open(path)?), pos: 0 },
            limit,
            &mut emit,
        );
    }
    // One gzip member at a time (flate2 reads exactly one and leaves the rest), so a record's
    // offset is its member's offset in the file, as CDX indexes give it; a member holding
    // several records (a file compressed as one) gives offsets in its uncompressed stream.
    let mut src = CountingRead { inner: BufReader::new(std::fs::File::open(path)?), pos: 0 };
    loop {
        if src.fill_buf()?.is_empty() {
            return Ok(None);
        }
        let member_offset = src.pos;
        let mut member = CountingRead { inner: BufReader::new(flate2::bufread::GzDecoder::new(&mut src)), pos: 0 };
        let mut held: Option<RawRecord> = None;
        let mut count = 0usize;
        let mut stopped = false;
        let damage = read_warc_stream(&mut member, limit, &mut |r| {
            count += 1;
            // The first record waits: its offset is the member's if it is the member's only one.
            if let Some(first) = held.take()
                && !emit(first)
            {
                stopped = true;
                return false;
            }
            if count == 1 {
                held = Some(r);
                true
            } else if !emit(r) {
                stopped = true;
                false
            } else {
                true
            }
        });
        let damage = match damage {
            Ok(d) => d,
            Err(e) => Some(format!("gzip member at offset {member_offset} does not decompress: {e}")),
        };
        if let Some(mut first) = held.take() {
            if count == 1 {
                first.offset = member_offset;
            }
            if !emit(first) {
                return Ok(None);
            }
        }
        if stopped {
            return Ok(None);
        }
        if let Some(why) = damage {
            return Ok(Some(format!("in the gzip member at offset {member_offset}: {why}")));
        }
    }
}

/// A reader that counts the bytes consumed from it (offsets of records and gzip members).
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

/// The largest WARC header block read (names and values of one record).
const MAX_HEADER: usize = 64 * 1024;

/// Uncompressed WARC records from `input`, with their offsets in it, each handed to `emit`.
/// The framing is ISO 28500's: a `WARC/` version line, header fields up to an empty line
/// (continuation lines folded), `Content-Length` bytes of block, then CRLF CRLF. Returns why
/// reading stopped early, when it did. A record that cannot be archived but whose end is known
/// (a header that is not UTF-8, a block over `limit`) is emitted refused and reading goes on.
fn read_warc_stream<R: BufRead>(
    input: &mut CountingRead<R>,
    limit: u64,
    emit: &mut dyn FnMut(RawRecord) -> bool,
) -> std::io::Result<Option<String>> {
    loop {
        // Between records: the CRLF CRLF that ends the previous one (or stray line breaks).
        loop {
            let buf = input.fill_buf()?;
            if buf.is_empty() {
                return Ok(None);
            }
            let skip = buf.iter().take_while(|b| **b == b'\r' || **b == b'\n').count();
            if skip == 0 {
                break;
            }
            input.consume(skip);
        }
        let offset = input.pos;
        let mut head = Vec::new();
        let mut ended = false;
        while head.len() <= MAX_HEADER {
            let mut line = Vec::new();
            if (&mut *input).take(MAX_HEADER as u64 + 1).read_until(b'\n', &mut line)? == 0 {
                break;
            }
            if line == b"\r\n" || line == b"\n" {
                ended = true;
                break;
            }
            head.extend_from_slice(&line);
        }
        if !head.starts_with(b"WARC/") {
            return Ok(Some(format!("offset {offset}: no WARC record starts here")));
        }
        if !ended {
            let why = if head.len() > MAX_HEADER {
                format!("a WARC header over {MAX_HEADER} bytes")
            } else {
                "truncated: the data ends inside the record's header".to_string()
            };
            emit(RawRecord { offset, fields: parse_fields(&head).0, block: Vec::new(), short: Some(why.clone()) });
            return Ok(Some(format!("record at offset {offset}: {why}")));
        }
        let (fields, utf8) = parse_fields(&head);
        let Some(length) = field(&fields, "Content-Length").and_then(|v| v.trim().parse::<u64>().ok()) else {
            let why = "no valid Content-Length: the record's end cannot be found".to_string();
            emit(RawRecord { offset, fields, block: Vec::new(), short: Some(why.clone()) });
            return Ok(Some(format!("record at offset {offset}: {why}")));
        };
        let mut block = Vec::new();
        let mut refused = None;
        if length > limit {
            // Skipped, not held: the next record is still found.
            let skipped = std::io::copy(&mut (&mut *input).take(length), &mut std::io::sink())?;
            if skipped < length {
                let why = format!("truncated: {skipped} of {length} block bytes before the data ends");
                emit(RawRecord { offset, fields, block, short: Some(why.clone()) });
                return Ok(Some(format!("record at offset {offset} is cut short")));
            }
            refused = Some(format!(
                "a {length}-byte block, over the import limit of {limit} bytes (fetch.max_body_bytes + 1 MiB)"
            ));
        } else {
            (&mut *input).take(length).read_to_end(&mut block)?;
            if (block.len() as u64) < length {
                let why = format!("truncated: {} of {length} block bytes before the data ends", block.len());
                emit(RawRecord { offset, fields, block, short: Some(why.clone()) });
                return Ok(Some(format!("record at offset {offset} is cut short")));
            }
        }
        // The record must end here: a Content-Length that is wrong leaves the next record's
        // start unknown.
        let next = input.fill_buf()?;
        let ends = next.is_empty() || next[0] == b'\r' || next[0] == b'\n';
        if !ends {
            let why = format!("the record does not end where its Content-Length ({length}) says");
            emit(RawRecord { offset, fields, block, short: Some(why) });
            return Ok(Some(format!(
                "record at offset {offset}: its Content-Length is wrong; the records after it cannot be located"
            )));
        }
        if !utf8 && refused.is_none() {
            refused = Some("a WARC header value is not UTF-8".into());
        }
        if !emit(RawRecord { offset, fields, block, short: refused }) {
            return Ok(None);
        }
    }
}

/// The fields of a WARC header block (after its version line), continuation lines folded into
/// the value before them; `false` when a byte was not UTF-8 (it is replaced).
fn parse_fields(head: &[u8]) -> (Vec<(String, String)>, bool) {
    let text = String::from_utf8_lossy(head);
    let utf8 = std::str::from_utf8(head).is_ok();
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in text.lines().skip(1) {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = fields.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
            continue;
        }
        if let Some((k, v)) = line.split_once(':') {
            fields.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    (fields, utf8)
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
    // WARC-Date is mandatory (ISO 28500 §5.4): without it the capture has no date.
    let Some(fetched_at) = source.warc_date else {
        return Ok(Verdict::Reject(match field(&r.fields, "WARC-Date") {
            Some(d) => format!("WARC-Date {d:?} is not a date"),
            None => "no WARC-Date".into(),
        }));
    };
    // The HTTP message: status, headers and the body after transfer and content decoding (as
    // caiji stores what it fetches), or a resource's block as it is.
    let limit = config.global.fetch.max_body_bytes;
    let message = if record_type == "resource" {
        let ct = field(&r.fields, "Content-Type").unwrap_or("application/octet-stream").to_string();
        let (body, failed) = if r.block.len() as u64 > limit {
            (
                None,
                Some((
                    Outcome::TooLarge,
                    format!("resource of {} bytes exceeds the {limit}-byte limit", r.block.len()),
                )),
            )
        } else {
            (Some(r.block.clone()), None)
        };
        HttpMessage { status: None, headers: vec![("content-type".to_string(), ct)], body, failed }
    } else {
        match parse_http(&r.block, record_type == "revisit", limit) {
            Ok(x) => x,
            Err(why) => return Ok(Verdict::Reject(why)),
        }
    };
    let (status, body, failed) = (message.status, message.body, message.failed);
    let headers = restore_originals(message.headers);

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
        _ if failed.is_some() => failed.as_ref().map(|f| f.0).unwrap_or(Outcome::Ok),
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
        error: failed.map(|f| f.1),
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
    let recorded_outcome = field(&r.fields, "Caiji-Outcome").and_then(|o| CaptureOutcome::from_name(o.trim()));
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
        Some(s) => Box::new(to_new_extraction(rec, s.extractor_config_hash(), source.run_id)),
        None => Box::new(to_new_extraction(rec, crate::config::default_config_hash("generic"), source.run_id)),
    });
    Ok(Verdict::Capture(Box::new(capture), extraction))
}

/// The HTTP head and the payload of a block (split at the first empty line).
fn split_head(block: &[u8]) -> Option<(&[u8], &[u8])> {
    let i = block.windows(4).position(|w| w == b"\r\n\r\n").map(|i| (i, 4)).or_else(|| {
        // Some writers (ARC, old tools) end the head with bare LFs.
        block.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2))
    })?;
    Some((&block[..i.0], &block[i.0 + i.1..]))
}

/// An HTTP response as read from a record.
#[derive(Debug)]
pub(crate) struct HttpMessage {
    pub status: Option<u16>,
    /// As received, in order.
    pub headers: Vec<(String, String)>,
    /// After transfer and content decoding; `None` for a revisit's head-only block or when
    /// the body is over the size limit.
    pub body: Option<Vec<u8>>,
    /// When the body could not be stored as the page: `too_large` or `unsupported_encoding`
    /// with why (the body is then the raw one, or none), as the fetcher records such bodies.
    pub failed: Option<(Outcome, String)>,
}

/// Parses an HTTP response block: status, headers as received, body decoded (chunked framing
/// undone per RFC 9112 §7.1, then content codings per RFC 9110 §8.4 with the fetcher's code and
/// size limit), as the fetcher stores bodies. `head_only`: a revisit's block, whose body is
/// elsewhere. Errors: why the record is refused (not a response, a malformed or truncated
/// body).
pub(crate) fn parse_http(block: &[u8], head_only: bool, limit: u64) -> Result<HttpMessage, String> {
    // httparse (hyper's parser), lenient as archives need: obsolete line folding, spaces
    // before the colon, invalid header lines skipped, bare LF line ends.
    let mut slots = vec![httparse::EMPTY_HEADER; 512];
    let mut response = httparse::Response::new(&mut slots);
    let parsed = httparse::ParserConfig::default()
        .allow_obsolete_multiline_headers_in_responses(true)
        .allow_spaces_after_header_name_in_responses(true)
        .ignore_invalid_headers_in_responses(true)
        .parse_response(&mut response, block);
    let head_len = match parsed {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Err("not an HTTP response: the head does not end".into()),
        Err(e) => {
            let mut slots = [httparse::EMPTY_HEADER; 64];
            if httparse::Request::new(&mut slots).parse(block).is_ok() {
                return Err("an HTTP request where a response was expected".into());
            }
            return Err(format!("not an HTTP response: {e}"));
        }
    };
    let status = match response.code {
        Some(code) if (100..=999).contains(&code) => code,
        code => return Err(format!("HTTP status {} is not a status code", code.unwrap_or(0))),
    };
    let headers: Vec<(String, String)> = response
        .headers
        .iter()
        .map(|h| (h.name.to_string(), String::from_utf8_lossy(h.value).trim().to_string()))
        .collect();
    if head_only {
        return Ok(HttpMessage { status: Some(status), headers, body: None, failed: None });
    }
    let raw = &block[head_len..];
    let transfer: Vec<String> = headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("transfer-encoding"))
        .flat_map(|(_, v)| v.split(','))
        .map(|c| c.trim().to_ascii_lowercase())
        .filter(|c| !c.is_empty() && c != "identity")
        .collect();
    let mut body = if transfer.last().is_some_and(|c| c == "chunked") {
        dechunk(raw, limit)?
    } else {
        let declared = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.trim().parse::<u64>().ok());
        if let Some(n) = declared
            && (raw.len() as u64) < n
            && transfer.is_empty()
        {
            return Err(format!("truncated: {} of the {n} body bytes its Content-Length says", raw.len()));
        }
        raw.to_vec()
    };
    if body.len() as u64 > limit {
        let why = format!("body of {} bytes exceeds the {limit}-byte limit", body.len());
        return Ok(HttpMessage { status: Some(status), headers, body: None, failed: Some((Outcome::TooLarge, why)) });
    }
    // Transfer codings other than chunked are content codings in practice (gzip as TE).
    let mut codings: Vec<(String, String)> = transfer
        .iter()
        .filter(|c| c.as_str() != "chunked")
        .map(|c| ("content-encoding".to_string(), c.clone()))
        .collect();
    codings.extend(headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case("content-encoding")).cloned());
    let mut failed = None;
    if !codings.is_empty() {
        match caiji_fetch::content::decode(&codings, bytes::Bytes::from(body), limit) {
            Ok(decoded) => body = decoded.to_vec(),
            Err((outcome, why, raw)) => {
                failed = Some((outcome, why));
                body = raw.map(|b| b.to_vec()).unwrap_or_default();
            }
        }
    }
    let body = match &failed {
        Some((Outcome::TooLarge, _)) => None,
        _ => Some(body),
    };
    Ok(HttpMessage { status: Some(status), headers, body, failed })
}

/// Undoes chunked transfer coding (RFC 9112 §7.1): hex sizes (extensions ignored), data,
/// CRLF, a last chunk of size 0 and an optional trailer. Errors: a malformed size, data shorter
/// than its size, no last chunk, or a body over `limit`.
fn dechunk(mut raw: &[u8], limit: u64) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let line_end = raw.iter().position(|b| *b == b'\n').ok_or("truncated chunked body: no last chunk")?;
        let line = String::from_utf8_lossy(&raw[..line_end]);
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = u64::from_str_radix(size_text, 16)
            .map_err(|_| format!("invalid chunked body: chunk size {size_text:?}"))?;
        raw = &raw[line_end + 1..];
        if size == 0 {
            return Ok(out);
        }
        if size > raw.len() as u64 {
            return Err(format!("truncated chunked body: a {size}-byte chunk with {} bytes left", raw.len()));
        }
        if out.len() as u64 + size > limit {
            return Err(format!("chunked body over the {limit}-byte limit"));
        }
        let size = size as usize;
        out.extend_from_slice(&raw[..size]);
        raw = &raw[size..];
        // The CRLF after the data (a bare LF is tolerated).
        raw = raw.strip_prefix(b"\r\n").or_else(|| raw.strip_prefix(b"\n")).unwrap_or(raw);
    }
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

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut gz, data).unwrap();
        gz.finish().unwrap()
    }

    #[test]
    fn http_bodies_are_stored_decoded() {
        let body = gzip("<p>中文</p>".as_bytes());
        // Chunked over gzip, as a server streams a compressed page.
        let mut block = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        let (a, b) = body.split_at(body.len() / 2);
        for part in [a, b] {
            block.extend(format!("{:x};ext=1\r\n", part.len()).bytes());
            block.extend_from_slice(part);
            block.extend_from_slice(b"\r\n");
        }
        block.extend_from_slice(b"0\r\nX-Trailer: 1\r\n\r\n");
        let m = parse_http(&block, false, 1 << 20).unwrap();
        assert_eq!((m.status, m.failed.is_none()), (Some(200), true));
        assert_eq!(m.body.as_deref(), Some("<p>中文</p>".as_bytes()));
        assert!(
            m.headers.iter().any(|(k, v)| k == "Content-Encoding" && v == "gzip"),
            "headers as received: {:?}",
            m.headers
        );
        // gzip applied twice is undone twice.
        let twice =
            [b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip, gzip\r\n\r\n".to_vec(), gzip(&gzip(b"<p>x</p>"))].concat();
        assert_eq!(parse_http(&twice, false, 1 << 20).unwrap().body.as_deref(), Some(&b"<p>x</p>"[..]));
        // A revisit's block: the head alone.
        let m = parse_http(b"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n", true, 1 << 20).unwrap();
        assert_eq!((m.status, m.body), (Some(304), None));
    }

    #[test]
    fn malformed_and_hostile_bodies_are_refused_or_flagged_never_stored_as_pages() {
        let refused = |block: &[u8]| parse_http(block, false, 1 << 20).expect_err("refused");
        assert!(refused(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").contains("request"));
        assert!(refused(b"\x00\x01 binary").contains("not an HTTP response"));
        assert!(refused(b"HTTP/1.1 000 Zero\r\n\r\nx").contains("not a status code"));
        // Chunk sizes that overflow 64 bits, or promise more than there is, or never end.
        assert!(
            refused(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\nx\r\n0\r\n\r\n")
                .contains("chunk size")
        );
        assert!(
            refused(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n100\r\nshort\r\n0\r\n\r\n")
                .contains("truncated")
        );
        assert!(
            refused(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n").contains("no last chunk")
        );
        assert!(refused(b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\nonly this").contains("truncated"));
        // A gzip body cut short is kept raw and flagged, as the fetcher flags it.
        let mut cut = gzip(&[b'a'; 5000]);
        cut.truncate(cut.len() - 10);
        let block = [b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n\r\n".to_vec(), cut.clone()].concat();
        let m = parse_http(&block, false, 1 << 20).unwrap();
        assert_eq!(m.failed.as_ref().map(|f| f.0), Some(Outcome::UnsupportedEncoding), "{:?}", m.failed);
        assert_eq!(m.body, Some(cut));
        // A decompression bomb stops at the limit: too_large, no body.
        let bomb = [b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n\r\n".to_vec(), gzip(&vec![0u8; 4 << 20])].concat();
        let m = parse_http(&bomb, false, 1 << 20).unwrap();
        assert_eq!((m.failed.map(|f| f.0), m.body), (Some(Outcome::TooLarge), None));
    }

    fn records(data: &[u8]) -> (Vec<RawRecord>, Option<String>) {
        let mut out = Vec::new();
        let damage = read_warc_stream(&mut CountingRead { inner: data, pos: 0 }, 1 << 20, &mut |r| {
            out.push(r);
            true
        })
        .unwrap();
        (out, damage)
    }

    fn record(headers: &[u8], block: &[u8]) -> Vec<u8> {
        [
            b"WARC/1.1\r\n".as_slice(),
            headers,
            format!("Content-Length: {}\r\n\r\n", block.len()).as_bytes(),
            block,
            b"\r\n\r\n",
        ]
        .concat()
    }

    #[test]
    fn framing_survives_cut_files_bad_lengths_and_bad_bytes() {
        let good = record(
            b"WARC-Type: resource\r\nWARC-Target-URI: http://a/\r\nWARC-Date: 2026-01-01T00:00:00Z\r\n",
            b"<p>x</p>",
        );
        let (rs, damage) = records(&[good.clone(), good.clone()].concat());
        assert_eq!((rs.len(), damage, rs[1].offset), (2, None, good.len() as u64));
        // Cut anywhere: the whole records before are read, a cut inside a record is reported
        // (the cut record refused when its header got as far as `WARC/`), nothing hangs.
        let two = [good.clone(), good.clone()].concat();
        for cut in 1..two.len() {
            let (rs, damage) = records(&two[..cut]);
            let within = cut % good.len();
            let whole = cut / good.len() + usize::from(within >= good.len() - 4);
            assert_eq!(rs.iter().filter(|r| r.short.is_none()).count(), whole, "cut at {cut}");
            if within > 0 && within < good.len() - 4 {
                assert!(damage.is_some(), "cut at {cut}");
                if within >= 5 {
                    assert!(rs.last().is_some_and(|r| r.short.is_some()), "cut at {cut}");
                }
            } else {
                assert_eq!(damage, None, "cut at {cut}");
            }
        }
        // A Content-Length of 2^64 - 1: skipped, found cut short, no allocation.
        let huge = b"WARC/1.1\r\nWARC-Type: response\r\nContent-Length: 18446744073709551615\r\n\r\nabc".to_vec();
        let (rs, damage) = records(&huge);
        assert!(
            damage.is_some() && rs[0].short.as_deref().is_some_and(|s| s.contains("truncated")),
            "{:?}",
            rs[0].short
        );
        // A header value that is not UTF-8: that record refused, the next one read.
        let bad = record(b"WARC-Type: resource\r\nX-Name: \xff\xfe\r\n", b"x");
        let (rs, damage) = records(&[bad, good.clone()].concat());
        assert_eq!((rs.len(), damage), (2, None));
        assert!(rs[0].short.as_deref().is_some_and(|s| s.contains("UTF-8")) && rs[1].short.is_none());
        // A wrong Content-Length: refused, and reading stops (the next start is unknown).
        let wrong = [b"WARC/1.1\r\nContent-Length: 2\r\n\r\nabc\r\n\r\n".to_vec(), good.clone()].concat();
        let (rs, damage) = records(&wrong);
        assert_eq!(rs.len(), 1);
        assert!(damage.is_some() && rs[0].short.as_deref().is_some_and(|s| s.contains("Content-Length")));
        // Line endings that are bare LFs, and folded header lines.
        let lf = b"WARC/1.0\nWARC-Type: resource\nWARC-Target-URI: http://a/\n  folded\nContent-Length: 1\n\nx\n\n";
        let (rs, damage) = records(lf);
        assert_eq!((rs.len(), damage), (1, None));
        assert_eq!(field(&rs[0].fields, "WARC-Target-URI"), Some("http://a/ folded"));
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

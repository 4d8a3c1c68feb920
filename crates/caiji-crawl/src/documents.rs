//! `caiji export documents`: the `documents` view as a dataset corpus builders load directly,
//! one row per URL (its newest text): JSON Lines, or Parquet (readable by pyarrow, pandas,
//! DuckDB, Spark). Columns, in order: url, site, title, published_at, author, text, paragraphs
//! (a list of strings), extractor, extractor_version, capture_id, body_sha256 (hex),
//! fetched_at, last_seen_at, gone_since (timestamps, UTC microseconds in Parquet, RFC 3339 in
//! JSON).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use caiji_archive::{Archive, DocumentRow, ExportFilter};
use parquet::basic::Compression;
use parquet::data_type::{ByteArray, ByteArrayType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;

use crate::CrawlError;

/// Output format of `caiji export documents`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentFormat {
    Jsonl,
    Parquet,
}

#[derive(Debug, Clone)]
pub struct DocumentExportOptions {
    pub filter: ExportFilter,
    pub format: DocumentFormat,
    /// The file written (replaced only once complete: written to a temporary name first).
    pub out: PathBuf,
    pub progress: bool,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct DocumentExportSummary {
    pub documents: u64,
    pub bytes: u64,
    pub path: PathBuf,
}

/// Rows per Parquet row group (and per database batch).
const BATCH: i64 = 1000;

const SCHEMA: &str = "message document {
    REQUIRED BYTE_ARRAY url (UTF8);
    REQUIRED BYTE_ARRAY site (UTF8);
    OPTIONAL BYTE_ARRAY title (UTF8);
    OPTIONAL BYTE_ARRAY published_at (UTF8);
    OPTIONAL BYTE_ARRAY author (UTF8);
    REQUIRED BYTE_ARRAY text (UTF8);
    REQUIRED group paragraphs (LIST) {
        REPEATED group list {
            REQUIRED BYTE_ARRAY element (UTF8);
        }
    }
    REQUIRED BYTE_ARRAY extractor (UTF8);
    REQUIRED BYTE_ARRAY extractor_version (UTF8);
    REQUIRED INT64 capture_id;
    OPTIONAL BYTE_ARRAY body_sha256 (UTF8);
    REQUIRED INT64 fetched_at (TIMESTAMP(MICROS,true));
    OPTIONAL INT64 last_seen_at (TIMESTAMP(MICROS,true));
    OPTIONAL INT64 gone_since (TIMESTAMP(MICROS,true));
}";

fn err(path: &Path, e: impl std::fmt::Display) -> CrawlError {
    CrawlError::Export(format!("{}: {e}", path.display()))
}

/// Writes the documents the filter selects to `opts.out`.
///
/// Errors: the file cannot be written ([`CrawlError::Export`]), the database. A failed export
/// leaves no partial file under the final name.
pub async fn export_documents(
    archive: &Archive,
    opts: &DocumentExportOptions,
) -> Result<DocumentExportSummary, CrawlError> {
    let out = &opts.out;
    // Written under `OUT.partial` and renamed over OUT: only a regular file may be replaced
    // (not a device, a directory or a link to one).
    if let Ok(meta) = std::fs::symlink_metadata(out)
        && !meta.file_type().is_file()
    {
        return Err(CrawlError::Usage(format!("--out {}: exists and is not a regular file", out.display())));
    }
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| err(dir, e))?;
    }
    let tmp = PathBuf::from(format!("{}.partial", out.display()));
    let file = std::fs::File::create(&tmp).map_err(|e| err(&tmp, e))?;
    let bar = crate::progress_bar(opts.progress, "documents");
    let mut summary = DocumentExportSummary { path: out.clone(), ..Default::default() };
    let result = async {
        let mut sink = match opts.format {
            DocumentFormat::Jsonl => Sink::Jsonl(std::io::BufWriter::new(file)),
            DocumentFormat::Parquet => {
                let schema = Arc::new(parse_message_type(SCHEMA).map_err(|e| err(&tmp, e))?);
                let props = Arc::new(WriterProperties::builder().set_compression(Compression::SNAPPY).build());
                Sink::Parquet(Box::new(SerializedFileWriter::new(file, schema, props).map_err(|e| err(&tmp, e))?))
            }
        };
        let mut after = 0;
        loop {
            let rows = archive.export_documents(&opts.filter, after, BATCH).await?;
            let Some(last) = rows.last() else { break };
            after = last.capture_id;
            sink.write(&rows).map_err(|e| err(&tmp, e))?;
            summary.documents += rows.len() as u64;
            if let Some(b) = &bar {
                b.inc(rows.len() as u64);
            }
        }
        sink.finish().map_err(|e| err(&tmp, e))
    }
    .await;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, out).map_err(|e| err(out, e))?;
    summary.bytes = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0);
    Ok(summary)
}

enum Sink {
    Jsonl(std::io::BufWriter<std::fs::File>),
    Parquet(Box<SerializedFileWriter<std::fs::File>>),
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl Sink {
    fn write(&mut self, rows: &[DocumentRow]) -> Result<(), BoxError> {
        match self {
            Sink::Jsonl(w) => {
                for r in rows {
                    serde_json::to_writer(&mut *w, r)?;
                    w.write_all(b"\n")?;
                }
                Ok(())
            }
            Sink::Parquet(w) => write_row_group(w, rows),
        }
    }

    fn finish(self) -> Result<(), BoxError> {
        match self {
            Sink::Jsonl(mut w) => {
                w.flush()?;
                w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
            }
            Sink::Parquet(w) => {
                w.close()?;
            }
        }
        Ok(())
    }
}

fn bytes(s: &str) -> ByteArray {
    ByteArray::from(s.as_bytes().to_vec())
}

/// An optional text column: the values present and a definition level per row.
fn optional(values: impl Iterator<Item = Option<String>>) -> (Vec<ByteArray>, Vec<i16>) {
    let (mut present, mut levels) = (Vec::new(), Vec::new());
    for v in values {
        levels.push(i16::from(v.is_some()));
        if let Some(v) = v {
            present.push(bytes(&v));
        }
    }
    (present, levels)
}

fn optional_time(values: impl Iterator<Item = Option<chrono::DateTime<chrono::Utc>>>) -> (Vec<i64>, Vec<i16>) {
    let (mut present, mut levels) = (Vec::new(), Vec::new());
    for v in values {
        levels.push(i16::from(v.is_some()));
        if let Some(v) = v {
            present.push(v.timestamp_micros());
        }
    }
    (present, levels)
}

/// One row group: the columns in schema order.
fn write_row_group(w: &mut SerializedFileWriter<std::fs::File>, rows: &[DocumentRow]) -> Result<(), BoxError> {
    let mut group = w.next_row_group()?;
    let mut index = 0;
    while let Some(mut column) = group.next_column()? {
        match index {
            0 | 1 | 5 | 7 | 8 => {
                let values: Vec<ByteArray> = rows
                    .iter()
                    .map(|r| match index {
                        0 => bytes(&r.url),
                        1 => bytes(&r.site),
                        5 => bytes(&r.text),
                        7 => bytes(&r.extractor),
                        _ => bytes(&r.extractor_version),
                    })
                    .collect();
                column.typed::<ByteArrayType>().write_batch(&values, None, None)?;
            }
            2 | 3 | 4 | 10 => {
                let (values, levels) = optional(rows.iter().map(|r| match index {
                    2 => r.title.clone(),
                    3 => r.published_at.clone(),
                    4 => r.author.clone(),
                    _ => r.body_sha256.clone(),
                }));
                column.typed::<ByteArrayType>().write_batch(&values, Some(&levels), None)?;
            }
            6 => {
                // paragraphs: list<string>. Definition level 1 = an element, 0 = an empty list;
                // repetition level 0 starts a row, 1 continues its list.
                let (mut values, mut def, mut rep) = (Vec::new(), Vec::new(), Vec::new());
                for r in rows {
                    if r.paragraphs.0.is_empty() {
                        def.push(0);
                        rep.push(0);
                    }
                    for (i, p) in r.paragraphs.0.iter().enumerate() {
                        values.push(bytes(p));
                        def.push(1);
                        rep.push(i16::from(i > 0));
                    }
                }
                column.typed::<ByteArrayType>().write_batch(&values, Some(&def), Some(&rep))?;
            }
            9 => {
                let values: Vec<i64> = rows.iter().map(|r| r.capture_id).collect();
                column.typed::<Int64Type>().write_batch(&values, None, None)?;
            }
            11 => {
                let values: Vec<i64> = rows.iter().map(|r| r.fetched_at.timestamp_micros()).collect();
                column.typed::<Int64Type>().write_batch(&values, None, None)?;
            }
            12 | 13 => {
                let (values, levels) =
                    optional_time(rows.iter().map(|r| if index == 12 { r.last_seen_at } else { r.gone_since }));
                column.typed::<Int64Type>().write_batch(&values, Some(&levels), None)?;
            }
            _ => return Err("more Parquet columns than the schema names".into()),
        }
        column.close()?;
        index += 1;
    }
    group.close()?;
    Ok(())
}

//! WARC in and out: warcio's own test files imported (or refused with a reason), a crawled
//! archive exported and imported back unchanged, record ids stable across exports, and the
//! documents dataset as JSON Lines and Parquet read back.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::support::*;
use caiji_archive::testing::TestDb;
use caiji_archive::{ExportFilter, WarcRecordStatus};
use caiji_crawl::documents::{DocumentExportOptions, DocumentFormat, export_documents};
use caiji_crawl::warc::export::{WarcExportOptions, export_warc};
use caiji_crawl::warc::import::{WarcImportOptions, WarcImportSummary, import_warc};

fn samples() -> PathBuf {
    repo().join("fixtures/warc/warcio")
}

async fn import(db: &TestDb, files: Vec<PathBuf>) -> WarcImportSummary {
    let config = test_config(5, 0.05);
    let opts = WarcImportOptions { files, ..Default::default() };
    import_warc(&config, &db.archive, &db.url, &opts).await.expect("import runs")
}

/// (record_type, status, reason) of every record read from `file`, in file order.
async fn records_of(db: &TestDb, file: &str) -> Vec<(String, WarcRecordStatus, Option<String>, Option<i64>)> {
    sqlx::query_as(
        "SELECT record_type, status, reason, capture_id FROM warc_records WHERE file_name LIKE '%' || $1 ORDER BY record_offset",
    )
    .bind(file)
    .fetch_all(db.archive.pool())
    .await
    .unwrap()
}

async fn capture(db: &TestDb, id: i64) -> (String, Option<i16>, String, Option<i64>, Vec<u8>, Option<String>) {
    sqlx::query_as(
        "SELECT c.url, c.status, c.outcome, c.revisit_of, coalesce(b.content, ''::bytea), c.content_type
         FROM captures c LEFT JOIN bodies b ON b.sha256 = c.body_sha256 WHERE c.id = $1",
    )
    .bind(id)
    .fetch_one(db.archive.pool())
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warcio_samples_import_or_are_refused_with_a_reason() {
    use WarcRecordStatus::*;
    let db = TestDb::new().await.expect("test database");
    let mut files: Vec<PathBuf> = std::fs::read_dir(samples())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains(".warc"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 5, "{files:?}");
    let s = import(&db, files.clone()).await;
    assert_eq!((s.files, s.imported, s.rejected, s.damaged_files), (5, 4, 2, 1), "{s:?}");
    assert_eq!(s.records, s.imported + s.skipped + s.rejected);

    // A response whose body was sent gzip-encoded: stored decoded, headers as received.
    let recs = records_of(&db, "/example.warc.gz").await;
    let kinds: Vec<(&str, WarcRecordStatus)> = recs.iter().map(|r| (r.0.as_str(), r.1)).collect();
    assert_eq!(
        kinds,
        [
            ("warcinfo", Skipped),
            ("warcinfo", Skipped),
            ("response", Imported),
            ("request", Skipped),
            ("revisit", Imported),
            ("request", Skipped)
        ]
    );
    let response = capture(&db, recs[2].3.unwrap()).await;
    assert_eq!((response.1, response.2.as_str(), response.3), (Some(200), "ok", None));
    assert!(response.4.starts_with(b"<!doctype html>"), "{:?}", String::from_utf8_lossy(&response.4[..40]));
    let revisit = capture(&db, recs[4].3.unwrap()).await;
    assert_eq!(revisit.3, recs[2].3, "the revisit confirms the response it refers to");
    assert_eq!(revisit.4, response.4, "an identical payload: the same body row");
    let headers: serde_json::Value = sqlx::query_scalar("SELECT response_headers FROM captures WHERE id = $1")
        .bind(recs[2].3)
        .fetch_one(db.archive.pool())
        .await
        .unwrap();
    assert_eq!(headers["Content-Encoding"], serde_json::json!(["gzip"]), "{headers}");

    // A chunked body is de-chunked: no chunk sizes left, the page whole.
    let recs = records_of(&db, "chunked.warc").await;
    let iana = capture(&db, recs[1].3.expect("imported")).await;
    let text = String::from_utf8_lossy(&iana.4);
    assert!(
        text.trim_start().starts_with("<!doctype html>") && text.trim_end().ends_with("</html>"),
        "{}",
        &text[..60]
    );
    assert!(!text.contains("\r\n0\r\n"));

    // Digests: the wrong payload digest is refused, the three encodings of the right one pass.
    let recs = records_of(&db, "example-digest.warc").await;
    assert_eq!(recs.iter().map(|r| r.1).collect::<Vec<_>>(), [Rejected, Skipped, Skipped, Skipped]);
    assert!(recs[0].2.as_deref().is_some_and(|r| r.contains("WARC-Payload-Digest")), "{:?}", recs[0].2);

    // A resource record: no HTTP envelope, its content type from the record.
    let recs = records_of(&db, "example-resource.warc.gz").await;
    let resource = capture(&db, recs[2].3.expect("imported")).await;
    assert_eq!((resource.1, resource.5.as_deref()), (None, Some("text/html; charset=utf-8")));

    // A record whose Content-Length is wrong is refused and the file reported damaged.
    let recs = records_of(&db, "example-trunc.warc").await;
    assert_eq!(recs.last().map(|r| r.1), Some(Rejected));
    assert!(recs.last().and_then(|r| r.2.as_deref()).is_some_and(|r| r.contains("Content-Length")), "{recs:?}");

    // Generic extraction of hosts no site owns; documents answer them.
    let titles: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT url, title FROM documents ORDER BY url").fetch_all(db.archive.pool()).await.unwrap();
    assert!(titles.contains(&("http://example.com/".into(), Some("Example Domain".into()))), "{titles:?}");

    // Importing the same files again adds nothing.
    let counts = |db: &TestDb| {
        let pool = db.archive.pool().clone();
        async move {
            sqlx::query_as::<_, (i64, i64, i64)>(
                "SELECT (SELECT count(*) FROM captures), (SELECT count(*) FROM bodies), (SELECT count(*) FROM extraction_records)",
            )
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    let before = counts(&db).await;
    let again = import(&db, files).await;
    assert_eq!((again.imported, again.already_imported), (0, s.records), "{again:?}");
    assert_eq!(counts(&db).await, before);

    // Exported again and imported into an empty archive: the same four captures, the resource
    // one as a resource record (no HTTP exchange, its content type kept).
    let dir = tempfile::tempdir().unwrap();
    let exported = export_to(&db, dir.path(), 1 << 30).await;
    let other = TestDb::new().await.expect("test database");
    let back = import(&other, exported).await;
    assert_eq!((back.imported, back.rejected), (4, 0), "{back:?}");
    let resource: (Option<i16>, Option<String>) =
        sqlx::query_as("SELECT status, content_type FROM captures WHERE status IS NULL")
            .fetch_one(other.archive.pool())
            .await
            .unwrap();
    assert_eq!(resource, (None, Some("text/html; charset=utf-8".into())));
}

/// Every gzip member of a file, decompressed.
fn members(path: &Path) -> Vec<Vec<u8>> {
    let data = std::fs::read(path).unwrap();
    let mut rest = &data[..];
    let mut out = Vec::new();
    while !rest.is_empty() {
        let mut d = flate2::bufread::GzDecoder::new(rest);
        let mut m = Vec::new();
        d.read_to_end(&mut m).unwrap();
        rest = d.into_inner();
        out.push(m);
    }
    out
}

fn field(record: &[u8], name: &str) -> Option<String> {
    let head = String::from_utf8_lossy(&record[..record.windows(4).position(|w| w == b"\r\n\r\n")?]).into_owned();
    head.lines().find_map(|l| l.strip_prefix(&format!("{name}: ")).map(str::to_string))
}

async fn export_to(db: &TestDb, dir: &Path, max_size: u64) -> Vec<PathBuf> {
    let config = test_config(5, 0.05);
    let opts = WarcExportOptions {
        filter: ExportFilter::default(),
        out: dir.to_path_buf(),
        prefix: "caiji".into(),
        max_size,
        progress: false,
        cancel: Default::default(),
    };
    let s = export_warc(&config, &db.archive, &opts).await.expect("export");
    assert_eq!(
        s.records,
        3 * (s.captures - s.resources) + 2 * s.resources + s.files.len() as u64,
        "request, response or revisit, metadata (a resource and its metadata); a warcinfo per file"
    );
    s.files
}

/// url, canonical_url, final_url, status, outcome, body sha256, headers, redirect chain, site,
/// encoding used.
type CaptureKey = (
    String,
    String,
    Option<String>,
    Option<i16>,
    String,
    Option<String>,
    serde_json::Value,
    serde_json::Value,
    String,
    Option<String>,
);

async fn capture_keys(db: &TestDb) -> Vec<CaptureKey> {
    sqlx::query_as(
        "SELECT url, canonical_url, final_url, status, outcome, encode(body_sha256, 'hex'), response_headers, redirect_chain, site,
                encoding_used
         FROM captures ORDER BY canonical_url, url, fetched_at",
    )
    .fetch_all(db.archive.pool())
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_and_import_round_trip_a_crawled_archive() {
    let (db, _config) = crawled().await;
    // What no WARC field says must come back too: a redirect (the URL asked for, the hops) and
    // an outcome the status does not imply (a body cut at the size limit), in GBK.
    let moved = caiji_archive::NewCapture {
        crawl_run_id: None,
        site: "fanwen".into(),
        url: "https://www.fanwen.example/old/1.html".into(),
        canonical_url: "https://www.fanwen.example/old/1.html".into(),
        final_url: Some("https://www.fanwen.example/xindetihui/moved.html".into()),
        redirect_chain: serde_json::json!([{"url": "https://www.fanwen.example/old/1.html", "status": 301,
                                            "location": "/xindetihui/moved.html"}]),
        outcome: caiji_archive::CaptureOutcome::TooLarge,
        error: Some("body over the limit".into()),
        status: Some(200),
        fetched_at: chrono::Utc::now(),
        duration_ms: 1,
        attempts: 1,
        response_headers: serde_json::json!({"content-type": ["text/html; charset=gbk"], "content-encoding": ["gzip"]}),
        content_type: Some("text/html; charset=gbk".into()),
        body: Some(
            encoding_rs::GBK.encode("<html><head><title>搬家了</title></head><body><p>正文被截断").0.into_owned(),
        ),
        charset: Default::default(),
        revisit_of: None,
    };
    db.archive.store_capture(&moved, None, None).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = export_to(&db, &dir.path().join("a"), 32 * 1024).await;
    assert!(files.len() > 1, "32 KiB files roll over: {files:?}");
    let name = regex::Regex::new(r"^caiji-\d{14}-\d{5}\.warc\.gz$").unwrap();
    let mut ids = Vec::new();
    for f in &files {
        assert!(name.is_match(&f.file_name().unwrap().to_string_lossy()), "{f:?}");
        let ms = members(f);
        assert_eq!(field(&ms[0], "WARC-Type").as_deref(), Some("warcinfo"), "each file starts with its warcinfo");
        for m in &ms {
            // One record per gzip member; block digests verify; no encoding header over a
            // decoded body.
            assert!(m.starts_with(b"WARC/1.1\r\n") && m.ends_with(b"\r\n\r\n"));
            let head_end = m.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
            let block = &m[head_end..m.len() - 4];
            if let Some(d) = field(m, "WARC-Block-Digest") {
                assert_eq!(caiji_crawl::warc::digest_matches(&d, block), Some(true));
            }
            let block_text = String::from_utf8_lossy(block).to_ascii_lowercase();
            assert!(!block_text.contains("\ncontent-encoding:"), "{}", &block_text[..block_text.len().min(300)]);
            if field(m, "WARC-Type").as_deref() != Some("warcinfo") {
                ids.push(field(m, "WARC-Record-ID").unwrap());
            }
        }
    }
    // The same capture gets the same record ids in a second export.
    let again = export_to(&db, &dir.path().join("b"), 1 << 30).await;
    let ids_again: Vec<String> = again
        .iter()
        .flat_map(|f| members(f))
        .filter(|m| field(m, "WARC-Type").as_deref() != Some("warcinfo"))
        .map(|m| field(&m, "WARC-Record-ID").unwrap())
        .collect();
    assert_eq!(ids, ids_again);

    // Into an empty archive: the same captures (bodies, headers, outcomes, charset decisions)
    // and the same documents.
    let other = TestDb::new().await.expect("test database");
    let s = import(&other, files).await;
    assert_eq!((s.rejected, s.damaged_files), (0, 0), "{s:?}");
    assert_eq!(capture_keys(&other).await, capture_keys(&db).await);
    let docs = |db: &TestDb| {
        let pool = db.archive.pool().clone();
        async move {
            sqlx::query_as::<_, (String, String, Option<String>, Option<String>, Option<String>, String, String)>(
                "SELECT url, site, title, author, published_at, text, extractor_version FROM documents ORDER BY url",
            )
            .fetch_all(&pool)
            .await
            .unwrap()
        }
    };
    let original = docs(&db).await;
    assert_eq!(original.len(), fixture_articles().len());
    assert_eq!(docs(&other).await, original);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_export_as_jsonl_and_parquet() {
    let (db, _config) = crawled().await;
    let dir = tempfile::tempdir().unwrap();
    let expected: Vec<(String, String)> = sqlx::query_as("SELECT url, text FROM documents ORDER BY capture_id")
        .fetch_all(db.archive.pool())
        .await
        .unwrap();
    assert_eq!(expected.len(), fixture_articles().len());

    let jsonl = dir.path().join("out/docs.jsonl");
    let opts = DocumentExportOptions {
        filter: ExportFilter::default(),
        format: DocumentFormat::Jsonl,
        out: jsonl.clone(),
        progress: false,
    };
    let s = export_documents(&db.archive, &opts).await.expect("jsonl export");
    assert_eq!(s.documents as usize, expected.len());
    let rows: Vec<serde_json::Value> =
        std::fs::read_to_string(&jsonl).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let got: Vec<(String, String)> = rows
        .iter()
        .map(|r| (r["url"].as_str().unwrap().to_string(), r["text"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(got, expected);
    assert!(rows.iter().all(|r| r["paragraphs"].as_array().is_some_and(|p| !p.is_empty())
        && r["body_sha256"].as_str().is_some_and(|h| h.len() == 64)));

    let parquet_path = dir.path().join("docs.parquet");
    let opts = DocumentExportOptions { format: DocumentFormat::Parquet, out: parquet_path.clone(), ..opts };
    export_documents(&db.archive, &opts).await.expect("parquet export");
    // Read back with the parquet crate's own row reader (pyarrow reads it in
    // scripts/check-interop.sh).
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::Field;
    let reader = SerializedFileReader::new(std::fs::File::open(&parquet_path).unwrap()).unwrap();
    assert_eq!(reader.metadata().file_metadata().num_rows() as usize, expected.len());
    let mut read = Vec::new();
    for row in reader.get_row_iter(None).unwrap() {
        let row = row.unwrap();
        let (mut url, mut text, mut paragraphs) = (String::new(), String::new(), 0);
        for (name, value) in row.get_column_iter() {
            match (name.as_str(), value) {
                ("url", Field::Str(s)) => url = s.clone(),
                ("text", Field::Str(s)) => text = s.clone(),
                ("paragraphs", Field::ListInternal(list)) => paragraphs = list.elements().len(),
                _ => {}
            }
        }
        assert!(paragraphs > 0, "{url}");
        read.push((url, text));
    }
    assert_eq!(read, expected);
    assert!(!dir.path().join("docs.parquet.partial").exists());
}

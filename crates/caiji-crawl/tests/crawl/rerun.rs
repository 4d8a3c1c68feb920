//! `extract --rerun` over an archive built from the fixture crawl: no network, every older
//! version kept, up-to-date captures skipped, deterministic, resumable.

use crate::support::*;
use caiji_archive::testing::TestDb;
use caiji_crawl::rerun::{RerunOptions, rerun};
use caiji_extract::{Registry, extract_bytes};

async fn count(db: &TestDb, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(db.archive.pool()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rerun_skips_up_to_date_keeps_old_versions_and_is_deterministic() {
    check_rerun_skips_up_to_date_keeps_old_versions_and_is_deterministic().await;
}

/// The test's body, over whichever project [`use_project`] chose (the sixth-site test reuses it).
pub async fn check_rerun_skips_up_to_date_keeps_old_versions_and_is_deterministic() {
    let (db, config) = crawled().await;
    let n = fixture_articles().len() as i64;
    assert_eq!(count(&db, "SELECT count(*) FROM extractions").await, n);

    // Nothing changed since the crawl: everything is up to date.
    let s = rerun(&config, &db.archive, &db.url, &RerunOptions::default()).await.unwrap();
    assert_eq!((s.examined as i64, s.skipped as i64, s.extracted), (n, n, 0), "{s:?}");

    let word_hits = "SELECT count(*) FROM documents d JOIN texts_containing('改革') s ON s.sha256 = d.text_sha256";
    let hits_before = count(&db, word_hits).await;
    assert!(hits_before > 0);

    // --force: new rows, same text (same code), older rows kept.
    let forced =
        RerunOptions { force: true, batch_size: 3, arguments: serde_json::json!({"t": 1}), ..Default::default() };
    let s = rerun(&config, &db.archive, &db.url, &forced).await.unwrap();
    assert_eq!((s.examined as i64, s.extracted as i64, s.unchanged as i64, s.changed), (n, n, n, 0), "{s:?}");
    assert_eq!(count(&db, "SELECT count(*) FROM extractions").await, 2 * n);
    assert_eq!(count(&db, "SELECT count(*) FROM documents").await, n);
    // Unchanged texts keep their (single) row: the new rows are still found by substring.
    assert_eq!(count(&db, word_hits).await, hits_before);
    // One row per distinct text (two sites may publish the same text).
    let distinct_texts = count(&db, "SELECT count(DISTINCT text_sha256) FROM documents").await;
    assert!(distinct_texts > 0 && distinct_texts <= n);
    assert_eq!(count(&db, "SELECT count(*) FROM texts").await, distinct_texts);
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM extractions e WHERE NOT EXISTS (SELECT 1 FROM texts s WHERE s.sha256 = e.text_sha256)"
        )
        .await,
        0
    );

    // Determinism: the parallel, batched rows equal a sequential in-test extraction, byte for byte.
    // (extractor, url, content type, paragraphs, body, title)
    #[allow(clippy::type_complexity)]
    let rows: Vec<(String, String, Option<String>, serde_json::Value, Vec<u8>, Option<String>)> = sqlx::query_as(
        "SELECT e.extractor, c.canonical_url, c.content_type, e.paragraphs, b.content, e.title
         FROM extractions e JOIN captures c ON c.id = e.capture_id JOIN bodies b ON b.sha256 = c.body_sha256
         WHERE e.crawl_run_id = $1",
    )
    .bind(s.run_id)
    .fetch_all(db.archive.pool())
    .await
    .unwrap();
    assert_eq!(rows.len() as i64, n);
    let registry = Registry::default();
    for (extractor, url, ct, paragraphs, body, title) in rows {
        let (rec, _) = extract_bytes(registry.get(&extractor).unwrap(), &body, &url, ct.as_deref());
        assert_eq!(
            serde_json::to_string(&paragraphs).unwrap(),
            serde_json::to_string(&rec.paragraphs).unwrap(),
            "{url}"
        );
        assert_eq!(title, rec.title);
    }
    // Two extractions of each capture by the same version: identical text.
    let distinct_texts = count(&db, "SELECT count(DISTINCT (capture_id, md5(text))) FROM extractions").await;
    assert_eq!(distinct_texts, n);

    // Another extractor over the same captures: first extraction by it, site filter honoured.
    let generic =
        RerunOptions { extractor: Some("generic".into()), sites: vec!["ttnews".into()], ..Default::default() };
    let s = rerun(&config, &db.archive, &db.url, &generic).await.unwrap();
    assert_eq!((s.examined, s.first), (2, 2), "{s:?}");
    // --since in the future selects nothing.
    let later =
        RerunOptions { since: Some(chrono::Utc::now() + chrono::Duration::days(1)), force: true, ..Default::default() };
    let s = rerun(&config, &db.archive, &db.url, &later).await.unwrap();
    assert_eq!(s.examined, 0);

    // Every run is recorded with caiji's version.
    let runs = count(
        &db,
        "SELECT count(*) FROM crawl_runs WHERE command = 'extract' AND caiji_version <> '' AND outcome = 'done'",
    )
    .await;
    assert_eq!(runs, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forced_rerun_killed_midway_continues_without_doubling() {
    let (db, config) = crawled().await;
    let args = serde_json::json!({"command": "extract --rerun", "force": true});
    // The state a killed `extract --rerun --force` leaves: its run still `running`, some
    // captures already extracted by it.
    let killed: i64 = sqlx::query_scalar(
        "INSERT INTO crawl_runs (command, arguments, caiji_version, outcome) VALUES ('extract', $1, 'test', 'running') RETURNING id",
    )
    .bind(&args)
    .fetch_one(db.archive.pool())
    .await
    .unwrap();
    let done = sqlx::query(
        "INSERT INTO extraction_records (capture_id, extractor, extractor_version, config_hash, crawl_run_id, caiji_version, text_sha256)
         SELECT capture_id, extractor, extractor_version, config_hash, $1, caiji_version, text_sha256
         FROM extraction_records ORDER BY capture_id LIMIT 4",
    )
    .bind(killed)
    .execute(db.archive.pool())
    .await
    .unwrap();
    assert_eq!(done.rows_affected(), 4);

    let opts = RerunOptions { force: true, arguments: args, ..Default::default() };
    let s = rerun(&config, &db.archive, &db.url, &opts).await.unwrap();
    assert_eq!(s.resumed_run, Some(killed));
    assert_eq!(
        (s.examined as usize, s.skipped, s.extracted as usize),
        (fixture_articles().len(), 4, fixture_articles().len() - 4),
        "{s:?}"
    );
    // Each capture now has exactly one extraction from the interrupted operation (old run or new).
    let per_capture: Vec<i64> = sqlx::query_scalar(
        "SELECT count(*) FROM extractions WHERE crawl_run_id IN ($1, $2) GROUP BY capture_id ORDER BY capture_id",
    )
    .bind(killed)
    .bind(s.run_id)
    .fetch_all(db.archive.pool())
    .await
    .unwrap();
    assert_eq!(per_capture, vec![1; fixture_articles().len()]);
    let outcome: String = sqlx::query_scalar("SELECT outcome FROM crawl_runs WHERE id = $1")
        .bind(killed)
        .fetch_one(db.archive.pool())
        .await
        .unwrap();
    assert_eq!(outcome, "interrupted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diff_counts_changed_documents_between_versions() {
    let (db, _config) = crawled().await;
    // An older dede version whose text differed on one article (42779), whose date was missing on
    // another (42851: a metadata-only fix), and which matched on the rest.
    sqlx::query(
        "WITH old AS (
             SELECT capture_id, extractor, config_hash, title, author,
                    CASE WHEN c.canonical_url LIKE '%42851%' THEN NULL ELSE published_at END AS published_at,
                    CASE WHEN c.canonical_url LIKE '%42779%' THEN text || '\n\n推荐访问: 讲话稿' ELSE text END AS text
             FROM extractions e JOIN captures c ON c.id = e.capture_id WHERE e.extractor = 'dede'
         ), new_texts AS (
             INSERT INTO texts (sha256, text, paragraphs)
             SELECT sha256(convert_to(text, 'UTF8')), text, to_jsonb(string_to_array(text, E'\n\n'))
             FROM old ON CONFLICT DO NOTHING
         )
         INSERT INTO extraction_records (capture_id, extractor, extractor_version, config_hash, caiji_version, title,
                                         author, published_at, extracted_at, text_sha256)
         SELECT capture_id, extractor, '0.9.0', config_hash, 'test', title, author, published_at, '2020-01-01',
                sha256(convert_to(text, 'UTF8'))
         FROM old",
    )
    .execute(db.archive.pool())
    .await
    .unwrap();
    let versions = db.archive.extractor_versions("dede").await.unwrap();
    assert_eq!(versions, vec!["1.0.0".to_string(), "0.9.0".to_string()]);
    let dede_articles = fixture_articles().iter().filter(|a| a.0 == "dede").count() as i64;
    let (compared, changed, sample) = db.archive.version_diff("dede", "0.9.0", "1.0.0", 5).await.unwrap();
    assert_eq!((compared, changed), (dede_articles, 2));
    assert_eq!(sample.len(), 2);
    let text_fix = sample.iter().find(|p| p.url.ends_with("42779.html")).expect("the text change");
    assert!(text_fix.old.text.ends_with("推荐访问: 讲话稿") && !text_fix.new.text.contains("推荐访问"));
    let date_fix = sample.iter().find(|p| p.url.ends_with("42851.html")).expect("the metadata-only change");
    assert_eq!((date_fix.old.text == date_fix.new.text, date_fix.old.published_at.as_deref()), (true, None));
    assert!(date_fix.new.render().contains("published_at: 2021-11-05"), "{}", date_fix.new.render());
}

/// A parser fix that changes only metadata (the date found, the text the same) is reported by
/// `extract --rerun` as changed, not as unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rerun_counts_a_metadata_only_fix_as_changed() {
    let (db, config) = crawled().await;
    let n = fixture_articles().len() as i64;
    // The newest earlier dede extraction of 42851 lacked its date (an older, buggier parser).
    sqlx::query(
        "INSERT INTO extraction_records (capture_id, extractor, extractor_version, config_hash, caiji_version, title,
                                         author, published_at, extracted_at, text_sha256)
         SELECT e.capture_id, e.extractor, '0.9.0', e.config_hash, 'test', e.title, e.author, NULL, now(), e.text_sha256
         FROM extractions e JOIN captures c ON c.id = e.capture_id
         WHERE e.extractor = 'dede' AND c.canonical_url LIKE '%42851%'",
    )
    .execute(db.archive.pool())
    .await
    .unwrap();
    let forced = RerunOptions { force: true, ..Default::default() };
    let s = rerun(&config, &db.archive, &db.url, &forced).await.unwrap();
    assert_eq!((s.extracted as i64, s.changed, s.unchanged as i64), (n, 1, n - 1), "{s:?}");
}

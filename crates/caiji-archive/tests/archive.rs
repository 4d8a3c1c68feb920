//! The archive on a real PostgreSQL: immutability enforced by the database, content addressing,
//! and the private cluster started safely by concurrent processes.

use std::os::unix::fs::PermissionsExt;

use caiji_archive::testing::TestDb;
use caiji_archive::{CaptureOutcome, ClusterStatus, EmbeddedCluster, NewCapture};

fn capture(url: &str, body: &[u8]) -> NewCapture {
    NewCapture {
        crawl_run_id: None,
        site: "test".into(),
        url: url.into(),
        canonical_url: url.into(),
        final_url: Some(url.into()),
        redirect_chain: serde_json::json!([]),
        outcome: CaptureOutcome::Ok,
        error: None,
        status: Some(200),
        fetched_at: chrono::Utc::now(),
        duration_ms: 3,
        attempts: 1,
        response_headers: serde_json::json!({"content-type": ["text/html"]}),
        content_type: Some("text/html".into()),
        body: Some(body.to_vec()),
        charset: Default::default(),
    }
}

#[tokio::test]
async fn stored_bodies_and_captures_cannot_be_changed_or_removed() {
    let db = TestDb::new().await.expect("test database");
    let body = "<p>原始字节</p>".as_bytes();
    let a = db.archive.store_capture(&capture("http://x.test/a", body), None, None).await.unwrap();
    let b = db.archive.store_capture(&capture("http://x.test/b", body), None, None).await.unwrap();
    assert_ne!(a, b);
    let pool = db.archive.pool();
    // Identical bodies are stored once.
    let (n, len): (i64, i64) =
        sqlx::query_as("SELECT count(*), sum(length)::bigint FROM bodies").fetch_one(pool).await.unwrap();
    assert_eq!((n, len), (1, body.len() as i64));

    for sql in [
        "UPDATE bodies SET content = 'x'",
        "DELETE FROM bodies",
        "TRUNCATE bodies CASCADE",
        "UPDATE captures SET status = 500",
        "DELETE FROM captures",
        "TRUNCATE captures CASCADE",
    ] {
        let err = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(pool).await.expect_err(sql);
        assert!(err.to_string().contains("immutable"), "{sql}: {err}");
    }
    let stored: Vec<u8> = sqlx::query_scalar("SELECT content FROM bodies").fetch_one(pool).await.unwrap();
    assert_eq!(stored, body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_starts_share_one_private_cluster() {
    let dir = tempfile::tempdir().unwrap();
    // As root the server runs as `postgres`, which must be able to enter the folder.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let root = dir.path().join("pg");
    let c1 = EmbeddedCluster::new(&root).expect("binaries");
    let c2 = EmbeddedCluster::new(&root).expect("binaries");
    assert_eq!(c1.status().unwrap(), ClusterStatus::NotInitialised);
    let (u1, u2) = tokio::join!(c1.ensure_running(), c2.ensure_running());
    let (u1, u2) = (u1.expect("first start"), u2.expect("second start"));
    assert_eq!(u1, u2);
    assert_eq!(c1.status().unwrap(), ClusterStatus::Running);
    // Usable, UTF-8 with a C.UTF-8 locale whatever this process's environment says.
    let archive = caiji_archive::Archive::connect(&u1).await.expect("connect + migrate");
    let (enc, collate): (String, String) = sqlx::query_as(
        "SELECT pg_encoding_to_char(encoding), datcollate FROM pg_database WHERE datname = current_database()",
    )
    .fetch_one(archive.pool())
    .await
    .unwrap();
    assert_eq!((enc.as_str(), collate.as_str()), ("UTF8", "C.UTF-8"));
    archive.pool().close().await;
    assert!(c1.stop().unwrap());
    assert_eq!(c2.status().unwrap(), ClusterStatus::Stopped);
}

/// An archive written by schema version 2 (texts inside each extraction row) keeps every text,
/// paragraph and version through the move of texts into `texts`, under the same public names.
#[tokio::test]
async fn upgrading_from_schema_2_keeps_every_extraction() {
    let url = TestDb::create_unmigrated().await.expect("test database");
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    caiji_archive::MIGRATOR.run_to(2, &pool).await.unwrap();
    // As version 2 wrote them: two versions of one capture, the older with another text, and
    // one row from before text_sha256 was filled in.
    sqlx::raw_sql(
        "INSERT INTO bodies (sha256, length, content) VALUES (sha256('<p>正文</p>'::bytea), 13, '<p>正文</p>'::bytea);
         INSERT INTO captures (site, url, canonical_url, outcome, fetched_at, duration_ms, attempts, body_sha256)
         VALUES ('s', 'http://x.test/1', 'http://x.test/1', 'ok', now(), 1, 1, sha256('<p>正文</p>'::bytea));
         INSERT INTO search_texts (sha256, text, words)
         VALUES (sha256(convert_to(E'第一段\n\n第二段', 'UTF8')), E'第一段\n\n第二段', to_tsvector('simple', '第一 二段'));
         INSERT INTO extractions (capture_id, extractor, extractor_version, config_hash, caiji_version, paragraphs, text,
                                  extracted_at, text_sha256)
         SELECT id, 'site', '1.0.0', 'h', '0.1.0', '[\"第一段\", \"第二段\"]', E'第一段\n\n第二段', now(),
                sha256(convert_to(E'第一段\n\n第二段', 'UTF8')) FROM captures;
         INSERT INTO extractions (capture_id, extractor, extractor_version, config_hash, caiji_version, paragraphs, text,
                                  extracted_at)
         SELECT id, 'site', '0.9.0', 'h', '0.1.0', '[\"旧版 正文\"]', '旧版 正文', '2020-01-01' FROM captures;",
    )
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;

    let archive = caiji_archive::Archive::connect(&url).await.expect("migrates to the newest schema");
    let pool = archive.pool();
    let rows: Vec<(String, serde_json::Value, String)> =
        sqlx::query_as("SELECT extractor_version, paragraphs, text FROM extractions ORDER BY id")
            .fetch_all(pool)
            .await
            .unwrap();
    assert_eq!(
        rows,
        vec![
            ("1.0.0".into(), serde_json::json!(["第一段", "第二段"]), "第一段\n\n第二段".into()),
            ("0.9.0".into(), serde_json::json!(["旧版 正文"]), "旧版 正文".into()),
        ]
    );
    let current: String = sqlx::query_scalar("SELECT text FROM documents").fetch_one(pool).await.unwrap();
    assert_eq!(current, "第一段\n\n第二段");
    // Each distinct text once; the word index kept its segmentation, and the pre-hash row got one.
    let (texts, hits): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE words @@ to_tsquery('simple', '二段')) FROM search_texts",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!((texts, hits), (2, 1));
}

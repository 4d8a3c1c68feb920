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

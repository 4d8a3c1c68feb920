//! The archive on a real PostgreSQL: immutability enforced by the database, content addressing,
//! and the private cluster started safely by concurrent processes.

use std::os::unix::fs::PermissionsExt;

use caiji_archive::testing::TestDb;
use caiji_archive::{CaptureOutcome, ClusterStatus, EmbeddedCluster, NewCapture};

/// Each statement fails, with an error mentioning `why`.
async fn assert_rejected(pool: &sqlx::PgPool, statements: &[&'static str], why: &str) {
    for &sql in statements {
        let err = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(pool).await.expect_err(sql);
        assert!(err.to_string().contains(why), "{sql}: {err}");
    }
}

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
        revisit_of: None,
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

    assert_rejected(
        pool,
        &[
            "UPDATE bodies SET content = 'x'",
            "DELETE FROM bodies",
            "TRUNCATE bodies CASCADE",
            "UPDATE captures SET status = 500",
            "DELETE FROM captures",
            "TRUNCATE captures CASCADE",
        ],
        "immutable",
    )
    .await;
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

/// As root in a mode-700 folder (a clone under /root), the private cluster cannot live there
/// (its server runs as `postgres`): it moves under /var/lib/caiji, says where, and works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn root_in_a_private_folder_gets_a_cluster_postgres_can_reach() {
    let running_as_root = std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0);
    if !running_as_root.unwrap_or(false) {
        eprintln!("not root: the fallback does not apply (the server runs as this user)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let requested = dir.path().join("project/.caiji/pg");
    let cluster = EmbeddedCluster::new(&requested).expect("binaries");
    assert!(cluster.root().starts_with(caiji_archive::embedded::ROOT_FALLBACK_DIR), "{:?}", cluster.root());
    assert_eq!(cluster.requested_root(), requested.as_path());
    let url = cluster.ensure_running().await.expect("the cluster starts");
    let archive = caiji_archive::Archive::connect(&url).await.expect("connect + migrate");
    let one: i32 = sqlx::query_scalar("SELECT 1").fetch_one(archive.pool()).await.unwrap();
    assert_eq!(one, 1);
    archive.pool().close().await;
    let pointer = std::fs::read_to_string(requested.join("WHERE.txt")).expect("a pointer where the user looks");
    assert!(pointer.contains(&cluster.root().display().to_string()), "{pointer}");
    // The same folder finds the same cluster again.
    assert_eq!(EmbeddedCluster::new(&requested).unwrap().root(), cluster.root());
    assert!(cluster.stop().unwrap());
    std::fs::remove_dir_all(cluster.root()).ok();
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
    // Each distinct text once, found by substring; the characters version 13 derived in SQL
    // are the ones caiji computes for the same text.
    let (texts, hits): (i64, i64) =
        sqlx::query_as("SELECT (SELECT count(*) FROM texts), (SELECT count(*) FROM texts_containing('二段'))")
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!((texts, hits), (2, 1));
    let chars: String =
        sqlx::query_scalar("SELECT chars FROM texts WHERE text = '旧版 正文'").fetch_one(pool).await.unwrap();
    assert_eq!(chars, caiji_archive::ExtractedText::new(vec!["旧版 正文".into()]).chars());
    assert_eq!(chars, " 文旧正版");
}

fn extraction(run: Option<i64>, paragraphs: &[&str]) -> caiji_archive::NewExtraction {
    caiji_archive::NewExtraction {
        extractor: "test".into(),
        extractor_version: "1.0.0".into(),
        config_hash: "c".into(),
        crawl_run_id: run,
        caiji_version: "0".into(),
        git_commit: None,
        title: Some("标题".into()),
        published_at: None,
        published_ts: None,
        author: None,
        content: caiji_archive::ExtractedText::new(paragraphs.iter().map(|p| p.to_string()).collect()),
        metadata: serde_json::json!({}),
        flags: vec![],
    }
}

/// Extraction rows' references are checked per statement (not by row-level foreign keys), so
/// what they refer to must not go away: texts and runs refuse deletion, references never change.
#[tokio::test]
async fn extraction_references_are_checked_and_their_targets_kept() {
    let db = TestDb::new().await.expect("test database");
    let pool = db.archive.pool();
    let capture_id = db.archive.store_capture(&capture("http://x.test/a", b"<p>x</p>"), None, None).await.unwrap();
    let run: i64 = sqlx::query_scalar(
        "INSERT INTO crawl_runs (command, arguments, sites, caiji_version) VALUES ('extract', '{}', '{}', '0') RETURNING id",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    // Valid rows go in, one at a time and in a batch.
    db.archive.store_extraction(capture_id, &extraction(Some(run), &["第一段"])).await.unwrap();
    let mut conn = pool.acquire().await.unwrap();
    let rows = vec![(capture_id, extraction(Some(run), &["第二段"])), (capture_id, extraction(None, &["第一段"]))];
    assert_eq!(caiji_archive::Archive::store_extractions(&mut conn, &rows).await.unwrap(), 2);

    // A missing capture, run or text is refused with the foreign-key error code, naming it;
    // one bad row fails the whole batch.
    let text_sha = hex::encode(caiji_archive::sha256("第一段".as_bytes()));
    let missing_text = "00".repeat(32);
    for (what, sql) in [
        ("capture 999999", format!("'\\x{text_sha}'::bytea, 999999, {run}")),
        ("crawl run 999999", format!("'\\x{text_sha}'::bytea, {capture_id}, 999999")),
        ("text 0000", format!("'\\x{missing_text}'::bytea, {capture_id}, {run}")),
    ] {
        let insert = format!(
            "INSERT INTO extraction_records (text_sha256, capture_id, crawl_run_id, extractor, extractor_version,
                 config_hash, caiji_version)
             SELECT t, c, r, 'test', '1.0.0', 'c', '0'
             FROM (VALUES ('\\x{text_sha}'::bytea, {capture_id}::bigint, {run}::bigint), ({sql})) v(t, c, r)"
        );
        let err = sqlx::raw_sql(sqlx::AssertSqlSafe(insert)).execute(pool).await.expect_err(what);
        let code = err.as_database_error().and_then(|e| e.code()).map(|c| c.to_string());
        assert_eq!(code.as_deref(), Some("23503"), "{what}: {err}");
        assert!(err.to_string().contains(what), "{what}: {err}");
    }
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM extraction_records").fetch_one(pool).await.unwrap();
    assert_eq!(n, 3);

    assert_rejected(
        pool,
        &[
            "DELETE FROM texts",
            "UPDATE texts SET text = 'x'",
            "UPDATE texts SET chars = 'x'",
            "TRUNCATE texts CASCADE",
            "DELETE FROM crawl_runs",
            "TRUNCATE crawl_runs CASCADE",
            "UPDATE extraction_records SET capture_id = capture_id + 1",
            "UPDATE extraction_records SET text_sha256 = sha256('x')",
        ],
        "forbidden",
    )
    .await;
    // What is descriptive may still change: a run's outcome.
    sqlx::raw_sql("UPDATE crawl_runs SET outcome = 'done'").execute(pool).await.unwrap();
    let texts: i64 = sqlx::query_scalar("SELECT count(*) FROM texts").fetch_one(pool).await.unwrap();
    assert_eq!(texts, 2);
}

/// Host queues: a claim of new hosts takes each chosen host's next URLs in claim order (list
/// pages before articles, then discovery order), up to the count per host, passing over hosts
/// to skip; `claim_more` refills a host's queue with what follows, and neither claims a URL
/// twice.
#[tokio::test]
async fn claims_fill_host_queues_in_claim_order() {
    use caiji_archive::{NewUrl, RunInfo, UrlKind};
    let db = TestDb::new().await.expect("test database");
    let info = RunInfo {
        command: "crawl".into(),
        arguments: serde_json::json!({}),
        sites: vec!["q".into()],
        caiji_version: "test".into(),
        git_commit: None,
    };
    let lease = db.archive.begin_run(&db.url, &info, &["q".to_string()]).await.unwrap();
    let run = lease.run_id();
    let url = |host: &str, path: &str, kind: UrlKind| NewUrl {
        canonical_url: format!("http://{host}{path}"),
        url: format!("http://{host}{path}"),
        kind,
        discovered_from: None,
        depth: 1,
        lastmod: None,
    };
    // Discovery order: articles of a.test first, its list page last; b.test has one article.
    let mut urls: Vec<NewUrl> = (1..=5).map(|i| url("a.test", &format!("/a/{i}.html"), UrlKind::Article)).collect();
    urls.push(url("b.test", "/a/1.html", UrlKind::Article));
    urls.push(url("a.test", "/list/2.html", UrlKind::List));
    urls.push(url("c.test", "/a/1.html", UrlKind::Article));
    let epoch = db.archive.crawl_epoch(run, "q").await.unwrap();
    db.archive.enqueue(run, "q", &urls, epoch).await.unwrap();

    let first = db.archive.claim_batch(run, "q", 2, 3, &["http://c.test".to_string()]).await.unwrap();
    let got: Vec<&str> = first.iter().map(|i| i.canonical_url.as_str()).collect();
    assert_eq!(
        got,
        ["http://a.test/list/2.html", "http://a.test/a/1.html", "http://a.test/a/2.html", "http://b.test/a/1.html"],
        "a.test comes first (its list page), three of its URLs, the list before the articles; c.test is skipped"
    );
    assert!(first.iter().all(|i| !i.host.is_empty()));

    let more = db.archive.claim_more(run, "q", &["http://a.test".to_string()], 3).await.unwrap();
    let got: Vec<&str> = more.iter().map(|i| i.canonical_url.as_str()).collect();
    assert_eq!(got, ["http://a.test/a/3.html", "http://a.test/a/4.html", "http://a.test/a/5.html"]);
    assert!(
        db.archive
            .claim_more(run, "q", &["http://a.test".to_string(), "http://b.test".to_string()], 3)
            .await
            .unwrap()
            .is_empty()
    );
    let claimed: i64 =
        sqlx::query_scalar("SELECT count(*) FROM frontier WHERE state = 'in_progress' AND last_run_id = $1")
            .bind(run)
            .fetch_one(db.archive.pool())
            .await
            .unwrap();
    assert_eq!(claimed, 7, "every claimed URL once, c.test still pending");

    // A second worker (joining) never gets a host the first holds live claims on, even one
    // with URLs still pending: it takes c.test, and a.test's new page waits for the first.
    db.archive.enqueue(run, "q", &[url("a.test", "/a/6.html", UrlKind::Article)], epoch).await.unwrap();
    let second = db.archive.begin_joining_run(&db.url, &info, &["q".to_string()]).await.unwrap();
    let other = db.archive.claim_batch(second.run_id(), "q", 5, 5, &[]).await.unwrap();
    let got: Vec<&str> = other.iter().map(|i| i.canonical_url.as_str()).collect();
    assert_eq!(got, ["http://c.test/a/1.html"], "a.test is the first worker's while its claims are live");

    // A row another transaction has locked is passed over, not waited for (two claims locking
    // one host's rows in different orders deadlocked, and a worker stopped): with a.test's
    // next page locked elsewhere, the refill returns at once with the page after it.
    db.archive.enqueue(run, "q", &[url("a.test", "/a/7.html", UrlKind::Article)], epoch).await.unwrap();
    let mut locker = db.archive.pool().begin().await.unwrap();
    sqlx::query("SELECT 1 FROM frontier WHERE canonical_url = 'http://a.test/a/6.html' FOR UPDATE")
        .execute(&mut *locker)
        .await
        .unwrap();
    let refill = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        db.archive.claim_more(run, "q", &["http://a.test".to_string()], 3),
    )
    .await
    .expect("a claim does not wait for a locked row")
    .unwrap();
    let got: Vec<&str> = refill.iter().map(|i| i.canonical_url.as_str()).collect();
    assert_eq!(got, ["http://a.test/a/7.html"]);
    locker.rollback().await.unwrap();
}

/// A batch of captures (`store_captures`, the crawl's group commit) writes what storing each
/// alone writes: the same capture, body, text, extraction and frontier rows, the claim fence
/// per URL, bodies and texts once. A batch with a bad row writes nothing; the writer then
/// stores the others one by one and only the bad one fails.
#[tokio::test]
async fn a_batch_of_captures_writes_what_one_at_a_time_writes() {
    use caiji_archive::{CaptureWrite, CaptureWriter, FrontierState, NewUrl, RunInfo, Settle, UrlKind, Visit};
    let db = TestDb::new().await.expect("test database");
    let info = RunInfo {
        command: "crawl".into(),
        arguments: serde_json::json!({}),
        sites: vec!["test".into()],
        caiji_version: "test".into(),
        git_commit: None,
    };
    let lease = db.archive.begin_run(&db.url, &info, &["test".to_string()]).await.unwrap();
    let run = lease.run_id();
    let epoch = db.archive.crawl_epoch(run, "test").await.unwrap();
    let urls: Vec<NewUrl> = (1..=9)
        .map(|i| NewUrl {
            canonical_url: format!("http://a.test/a/{i}.html"),
            url: format!("http://a.test/a/{i}.html"),
            kind: UrlKind::Article,
            discovered_from: None,
            depth: 1,
            lastmod: None,
        })
        .collect();
    db.archive.enqueue(run, "test", &urls, epoch).await.unwrap();
    assert_eq!(db.archive.claim_batch(run, "test", 1, 8, &[]).await.unwrap().len(), 8, "page 9 stays pending");

    let at = chrono::Utc::now();
    // Three kinds of page: an article that answered (a visit, a new text), a 404 that shares its
    // body, an article whose text is the first one's.
    let write = |i: usize, kind: usize| {
        let url = format!("http://a.test/a/{i}.html");
        let mut c = capture(&url, if kind == 2 { b"<p>other body</p>" } else { b"<p>body</p>" });
        c.crawl_run_id = Some(run);
        c.fetched_at = at;
        c.charset.source = Some("header".into());
        c.error = (kind == 1).then(|| "HTTP 404 Not Found".to_string());
        c.status = Some(if kind == 1 { 404 } else { 200 });
        let visit = (kind != 1).then_some(Visit {
            at,
            changed: kind == 0,
            next_interval: Some(std::time::Duration::from_secs(3600)),
        });
        CaptureWrite {
            capture: Box::new(c),
            extraction: (kind != 1).then(|| Box::new(extraction(Some(run), &["同一段正文。"]))),
            settle: Settle {
                run_id: run,
                state: if kind == 1 { FrontierState::Gone } else { FrontierState::Done },
                error: None,
                visit,
            },
        }
    };
    // One at a time: pages 1 to 3; in one batch: pages 4 to 6, and page 9, never claimed.
    let mut alone = vec![];
    for (i, kind) in [(1, 0), (2, 1), (3, 2)] {
        let w = write(i, kind);
        alone.push(db.archive.store_capture(&w.capture, w.extraction.as_deref(), Some(w.settle)).await.unwrap());
    }
    let batch = vec![write(4, 0), write(5, 1), write(6, 2), write(9, 0)];
    let results = db.archive.store_captures(&batch).await.unwrap();
    assert_eq!(results.len(), 4);
    let batched: Vec<i64> = results[..3].iter().map(|r| *r.as_ref().unwrap()).collect();
    assert!(
        matches!(&results[3], Err(caiji_archive::ArchiveError::ClaimLost(u)) if u == "http://a.test/a/9.html"),
        "{:?}",
        results[3]
    );

    // Every column but the keys, for each pair of pages stored the two ways.
    let row = |table: &'static str, key: &'static str, drop: &'static str, id: i64| {
        let pool = db.archive.pool().clone();
        async move {
            let sql = format!("SELECT (to_jsonb(t) - ARRAY[{drop}])::text FROM {table} t WHERE {key} = $1");
            sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&pool).await.unwrap()
        }
    };
    for (a, b) in alone.iter().zip(&batched) {
        let drop = "'id', 'url', 'canonical_url', 'final_url'";
        assert_eq!(row("captures", "id", drop, *a).await, row("captures", "id", drop, *b).await);
        let drop = "'id', 'capture_id', 'extracted_at'";
        assert_eq!(
            row("extraction_records", "capture_id", drop, *a).await,
            row("extraction_records", "capture_id", drop, *b).await
        );
        let drop = "'url', 'canonical_url', 'last_capture_id', 'updated_at', 'seq', 'discovered_at', 'lease_until'";
        assert_eq!(
            row("frontier", "last_capture_id", drop, *a).await,
            row("frontier", "last_capture_id", drop, *b).await
        );
    }
    let count = |sql: &'static str| {
        let pool = db.archive.pool().clone();
        async move { sqlx::query_scalar::<_, i64>(sql).fetch_one(&pool).await.unwrap() }
    };
    assert_eq!(count("SELECT count(*) FROM bodies").await, 2, "each body once");
    assert_eq!(count("SELECT count(*) FROM texts").await, 1, "the one text once");
    assert_eq!(count("SELECT count(*) FROM frontier WHERE state = 'gone'").await, 2);
    assert_eq!(
        count("SELECT count(*) FROM frontier WHERE canonical_url LIKE '%/9.html' AND state = 'pending'").await,
        1
    );

    // A row the database refuses (a charset source outside the known set) fails the batch
    // and writes nothing of it.
    let mut bad = write(7, 0);
    bad.capture.charset.source = Some("guesswork".into());
    assert!(db.archive.store_captures(&[write(8, 0), bad.clone()]).await.is_err());
    assert_eq!(count("SELECT count(*) FROM captures").await, 6);
    // Through the writer, the good page is stored and only the bad one fails.
    let writer = CaptureWriter::spawn(db.archive.clone(), 1, 64);
    let (good, refused) = tokio::join!(writer.store(write(8, 0)), writer.store(bad));
    assert!(good.is_ok(), "{good:?}");
    assert!(matches!(refused, Err(caiji_archive::ArchiveError::Database(_))), "{refused:?}");
    assert_eq!(count("SELECT count(*) FROM captures").await, 7);
    assert_eq!(
        count("SELECT count(*) FROM frontier WHERE canonical_url LIKE '%/7.html' AND state = 'in_progress'").await,
        1
    );
}

/// Search is by substring, through `texts_containing`: the character index
/// (`texts_chars_idx`) gives the texts holding every character, `strpos` keeps those holding
/// the substring. Exact: case and form as written. A text is found as soon as it is stored
/// (its entries wait in GIN's pending list), and after the pending list is merged.
#[tokio::test]
async fn substring_search_uses_the_character_index() {
    let db = TestDb::new().await.expect("test database");
    let pool = db.archive.pool();
    let texts: [&[&str]; 4] = [
        &["深化改革开放。", "Reform 2024"],
        // Every character of 改革, never side by side: a candidate the substring check drops.
        &["革新之路，改天换地。"],
        &["另一篇正文，含扩展区汉字𠀀和表情😀。"],
        &[""],
    ];
    for (i, paragraphs) in texts.iter().enumerate() {
        let url = format!("http://x.test/{i}");
        let id = db.archive.store_capture(&capture(&url, b"<p>x</p>"), None, None).await.unwrap();
        db.archive.store_extraction(id, &extraction(None, paragraphs)).await.unwrap();
    }
    let found = |q: &'static str| async move {
        sqlx::query_scalar::<_, String>("SELECT text FROM texts_containing($1) ORDER BY text")
            .bind(q)
            .fetch_all(pool)
            .await
            .unwrap()
    };
    for merged in [false, true] {
        assert_eq!(found("改革").await, ["深化改革开放。\n\nReform 2024"], "merged: {merged}");
        assert_eq!(found("Reform").await.len(), 1);
        assert!(found("reform").await.is_empty(), "exact case");
        assert_eq!(found("𠀀和😀").await.len(), 0, "not adjacent");
        assert_eq!(found("字𠀀").await.len(), 1);
        assert_eq!(found("正文").await.len(), 1);
        assert!(found("別的").await.is_empty());
        assert_eq!(found("").await.len(), 4, "the empty string is in every text");
        db.archive.merge_search_index().await.unwrap();
    }
    // caiji's characters are the ones PostgreSQL derives from the text (as version 13 did for
    // older texts): distinct, in code point order.
    let mismatched: i64 =
        sqlx::query_scalar("SELECT count(*) FROM texts WHERE chars IS DISTINCT FROM caiji_chars(text)")
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(mismatched, 0);
    // A text written by hand, without its characters, gets them (and is found).
    sqlx::query("INSERT INTO texts (sha256, text) VALUES (sha256('手写'), '手写的正文')").execute(pool).await.unwrap();
    assert_eq!(found("手写").await, ["手写的正文"]);
    // A handful of rows: without scans of the whole table, the plan must find the texts by the
    // character index (GIN answers through bitmap scans).
    let mut conn = pool.acquire().await.unwrap();
    sqlx::raw_sql("SET enable_seqscan = off; SET enable_indexscan = off").execute(&mut *conn).await.unwrap();
    for query in [
        "EXPLAIN SELECT sha256 FROM texts_containing('改革')",
        "EXPLAIN SELECT d.url FROM documents d JOIN texts_containing('改革') t ON t.sha256 = d.text_sha256",
    ] {
        let plan: Vec<String> = sqlx::query_scalar(query).fetch_all(&mut *conn).await.unwrap();
        assert!(plan.iter().any(|l| l.contains("texts_chars_idx")), "{query}:\n{}", plan.join("\n"));
    }
    // Bound as a parameter, in a generic plan (as a driver's prepared statement runs it).
    sqlx::raw_sql(
        "SET plan_cache_mode = force_generic_plan;
         PREPARE by_param(text) AS SELECT sha256 FROM texts_containing($1);",
    )
    .execute(&mut *conn)
    .await
    .unwrap();
    let plan: Vec<String> = sqlx::query_scalar("EXPLAIN EXECUTE by_param('改革')").fetch_all(&mut *conn).await.unwrap();
    assert!(plan.iter().any(|l| l.contains("texts_chars_idx")), "generic plan:\n{}", plan.join("\n"));
}

/// The archive's sessions commit without waiting for the disk (a flush per page and per host
/// turn was a fifth of PostgreSQL's CPU on a 1,000-host crawl); whatever the server's default.
#[tokio::test]
async fn sessions_commit_without_waiting_for_the_disk() {
    let db = TestDb::new().await.expect("test database");
    let mut conns = Vec::new();
    for _ in 0..3 {
        let mut conn = db.archive.pool().acquire().await.unwrap();
        let setting: String = sqlx::query_scalar("SHOW synchronous_commit").fetch_one(&mut *conn).await.unwrap();
        assert_eq!(setting, "off");
        conns.push(conn);
    }
}

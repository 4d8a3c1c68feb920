//! Every example query in docs/schema.md runs against an archive built from the fixture crawl,
//! and its result is asserted here. A query in the doc without an assertion fails the test.

use std::collections::{BTreeMap, BTreeSet};

use crate::support::*;
use caiji_archive::{CaptureOutcome, NewCapture};
use serde_json::Value;

/// (name, sql) of every example in the doc, in order.
fn doc_queries() -> Vec<(String, String)> {
    let doc = std::fs::read_to_string(repo().join("docs/schema.md")).expect("docs/schema.md");
    let mut out = Vec::new();
    let mut lines = doc.lines();
    while let Some(line) = lines.next() {
        let Some(name) = line.trim().strip_prefix("<!-- query: ").and_then(|r| r.strip_suffix(" -->")) else {
            continue;
        };
        assert_eq!(lines.next().map(str::trim), Some("```sql"), "query {name} must be followed by a ```sql block");
        let sql: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != "```").collect();
        out.push((name.to_string(), sql.join("\n")));
    }
    out
}

fn col<'a>(rows: &'a [BTreeMap<String, Value>], name: &str) -> Vec<&'a Value> {
    rows.iter().map(|r| &r[name]).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_query_runs_and_returns_what_it_says() {
    check_every_documented_query_runs_and_returns_what_it_says().await;
}

/// The test's body, over whichever project [`use_project`] chose (the sixth-site test reuses it).
pub async fn check_every_documented_query_runs_and_returns_what_it_says() {
    let (db, _config) = crawled().await;
    let archive = &db.archive;
    let pool = archive.pool();

    // State the crawl alone does not produce, for queries 6 and 7: an older extractor version
    // of one dede article (as if the parser had since been fixed), and a capture with bad bytes.
    // The older version is dated in the past, so the current one stays the documents' version.
    let inserted = sqlx::query(
        "WITH old AS (
             SELECT capture_id, extractor, title, published_at, published_ts, replace(text, '“', ' “ ') AS text
             FROM extractions e JOIN captures c ON c.id = e.capture_id
             WHERE c.canonical_url = 'http://www.bjxhtouch.com/gongwenfanwen/2021/1103/42779.html'
         ), new_texts AS (
             INSERT INTO texts (sha256, text, paragraphs)
             SELECT sha256(convert_to(text, 'UTF8')), text, jsonb_build_array(text) FROM old ON CONFLICT DO NOTHING
         )
         INSERT INTO extraction_records (capture_id, extractor, extractor_version, config_hash, caiji_version, title,
             published_at, published_ts, extracted_at, text_sha256)
         SELECT capture_id, extractor, '0.9.0', 'an older configuration', '0.0.1', title, published_at, published_ts,
                '2020-01-01', sha256(convert_to(text, 'UTF8'))
         FROM old",
    )
    .execute(pool)
    .await
    .unwrap();
    assert_eq!(inserted.rows_affected(), 1);
    // An import that refuses one record and skips the rest (query 18); it adds no capture.
    let opts = caiji_crawl::warc::import::WarcImportOptions {
        files: vec![repo().join("fixtures/warc/warcio/example-digest.warc")],
        ..Default::default()
    };
    let imported =
        caiji_crawl::warc::import::import_warc(&test_config(5, 0.05), archive, &db.url, &opts).await.unwrap();
    assert_eq!((imported.imported, imported.rejected), (0, 1));
    let mut bad = NewCapture {
        crawl_run_id: None,
        site: "fanwen".into(),
        url: "https://www.fanwen.example/xindetihui/9.html".into(),
        canonical_url: "https://www.fanwen.example/xindetihui/9.html".into(),
        final_url: None,
        redirect_chain: serde_json::json!([]),
        outcome: CaptureOutcome::Ok,
        error: None,
        status: Some(200),
        fetched_at: chrono::Utc::now(),
        duration_ms: 1,
        attempts: 1,
        response_headers: serde_json::json!({}),
        content_type: Some("text/html".into()),
        body: Some(b"<p>\xff\xfe bad</p>".to_vec()),
        charset: Default::default(),
        revisit_of: None,
    };
    bad.charset.used = Some("UTF-8".into());
    bad.charset.source = Some("detector".into());
    bad.charset.replacement_chars = Some(2);
    archive.store_capture(&bad, None, None).await.unwrap();

    // Revisits, for queries 13 to 17 (the fixture sites have no revisit policy): ttnews's first
    // article changed an hour after the crawl (a correction appended), then answered 304; a
    // job328 article came back byte-identical; a wnwk article went away; two ttnews articles
    // have a revisit scheduled, one of them due.
    let changed_url = "https://ttnews.xyz/a/5b0e0692f7885803d91afb5e";
    let same_url = "http://www.328job.com/news/show-15321.html";
    let gone_url = "https://m.wnwk.com/doc/2196538.html";
    let first: (i64, Vec<u8>, Vec<u8>) = sqlx::query_as(
        "SELECT c.id, c.body_sha256, b.content FROM captures c JOIN bodies b ON b.sha256 = c.body_sha256
         WHERE c.canonical_url = $1 AND c.outcome = 'ok'",
    )
    .bind(same_url)
    .fetch_one(pool)
    .await
    .unwrap();
    let later =
        |url: &str, hours: i64, status: u16, outcome: CaptureOutcome, body: Option<Vec<u8>>, of: Option<i64>| {
            let mut c = bad.clone();
            c.site = if url.contains("ttnews") {
                "ttnews"
            } else if url.contains("328job") {
                "job328"
            } else {
                "wnwk"
            }
            .into();
            c.url = url.into();
            c.canonical_url = url.into();
            c.status = Some(status);
            c.outcome = outcome;
            c.body = body;
            c.revisit_of = of;
            c.fetched_at = chrono::Utc::now() + chrono::Duration::hours(hours);
            c.charset = Default::default();
            c
        };
    let changed_body = "<html><body><p>更正版本</p></body></html>".as_bytes().to_vec();
    let changed = archive
        .store_capture(&later(changed_url, 1, 200, CaptureOutcome::Ok, Some(changed_body), None), None, None)
        .await
        .unwrap();
    sqlx::query(
        "WITH old AS (
             SELECT e.extractor, e.extractor_version, e.config_hash, e.title, e.published_at, e.published_ts, e.author,
                    e.paragraphs || '[\"（更正：第三段的数字有误。）\"]'::jsonb AS p
             FROM extractions e JOIN captures c ON c.id = e.capture_id WHERE c.canonical_url = $1 AND c.id <> $2
         ), t AS (
             INSERT INTO texts (sha256, text, paragraphs)
             SELECT sha256(convert_to(array_to_string(ARRAY(SELECT jsonb_array_elements_text(p)), E'\n\n'), 'UTF8')),
                    array_to_string(ARRAY(SELECT jsonb_array_elements_text(p)), E'\n\n'), p FROM old
             ON CONFLICT DO NOTHING RETURNING sha256
         )
         INSERT INTO extraction_records (capture_id, extractor, extractor_version, config_hash, caiji_version, title,
                                         published_at, published_ts, author, text_sha256)
         SELECT $2, extractor, extractor_version, config_hash, 'test', title, published_at, published_ts, author,
                (SELECT sha256 FROM t) FROM old",
    )
    .bind(changed_url)
    .bind(changed)
    .execute(pool)
    .await
    .unwrap();
    archive
        .store_capture(&later(changed_url, 2, 304, CaptureOutcome::NotModified, None, Some(changed)), None, None)
        .await
        .unwrap();
    archive
        .store_capture(&later(same_url, 1, 200, CaptureOutcome::Ok, Some(first.2.clone()), Some(first.0)), None, None)
        .await
        .unwrap();
    assert_eq!(first.1.len(), 32);
    let gone = archive
        .store_capture(&later(gone_url, 1, 404, CaptureOutcome::HttpStatus, None, None), None, None)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE frontier SET state = 'gone', gone_since = (SELECT fetched_at FROM captures WHERE id = $2), last_capture_id = $2
         WHERE canonical_url = $1",
    )
    .bind(gone_url)
    .bind(gone)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "UPDATE frontier SET next_visit_at = CASE WHEN canonical_url = $1 THEN now() - interval '1 day'
                                                  ELSE now() + interval '5 days' END
         WHERE site = 'ttnews' AND kind = 'article' AND state = 'done'",
    )
    .bind(changed_url)
    .execute(pool)
    .await
    .unwrap();

    let queries = doc_queries();
    assert!(queries.len() >= 10, "docs/schema.md has {} example queries", queries.len());
    let mut checked = BTreeSet::new();
    for (name, sql) in &queries {
        let result = archive.query_json(sql).await.unwrap_or_else(|e| panic!("query {name} failed: {e}\n{sql}"));
        let rows: Vec<BTreeMap<String, Value>> =
            result.rows.iter().map(|r| result.columns.iter().cloned().zip(r.iter().cloned()).collect()).collect();
        match name.as_str() {
            "documents-per-site" => {
                // Each fixture site with as many documents as it has article pages.
                let mut want: BTreeMap<String, i64> = BTreeMap::new();
                for (site, _, _) in fixture_articles() {
                    *want.entry(site).or_default() += 1;
                }
                let got: BTreeMap<String, i64> = rows
                    .iter()
                    .map(|r| (r["site"].as_str().unwrap().to_string(), r["documents"].as_i64().unwrap()))
                    .collect();
                assert_eq!(got, want);
            }
            "articles-per-month" => {
                let got: Vec<(String, String, i64)> = rows
                    .iter()
                    .map(|r| {
                        (
                            r["site"].as_str().unwrap().into(),
                            r["month"].as_str().unwrap().into(),
                            r["articles"].as_i64().unwrap(),
                        )
                    })
                    .collect();
                // Dates as the fixture gold records give them (some sites show none).
                let mut want: BTreeMap<(String, String), i64> = BTreeMap::new();
                for (site, url, _) in fixture_articles() {
                    if let Some(date) = expected_record(&site, &url)["published_at"].as_str() {
                        *want.entry((site, date[..7].to_string())).or_default() += 1;
                    }
                }
                let want: Vec<(String, String, i64)> = want.into_iter().map(|((s, m), n)| (s, m, n)).collect();
                assert!(!want.is_empty());
                assert_eq!(got, want);
            }
            "phrase-search" | "two-words-search" => {
                let (a, b) =
                    if name == "phrase-search" { ("高质量发展", "高质量发展") } else { ("改革", "发展") };
                // Independently: every document whose text contains the strings, by a scan.
                let expected: Vec<String> = sqlx::query_scalar(
                    "SELECT url FROM documents WHERE strpos(text, $1) > 0 AND strpos(text, $2) > 0 ORDER BY url",
                )
                .bind(a)
                .bind(b)
                .fetch_all(pool)
                .await
                .unwrap();
                assert!(!expected.is_empty(), "{name}");
                let got: Vec<&str> = col(&rows, "url").iter().map(|u| u.as_str().unwrap()).collect();
                assert_eq!(got, expected, "{name}");
                if name == "two-words-search" {
                    // Not every document has both: the intersection is a real one.
                    let either: i64 = sqlx::query_scalar(
                        "SELECT count(*) FROM documents WHERE strpos(text, '改革') > 0 OR strpos(text, '发展') > 0",
                    )
                    .fetch_one(pool)
                    .await
                    .unwrap();
                    assert!((got.len() as i64) < either, "{} of {either}", got.len());
                }
            }
            "newest-versions" => {
                // Every document by its site's extractor at the version the code has now.
                assert_eq!(rows.len(), fixture_articles().len());
                let registry = caiji_extract::Registry::default();
                for r in &rows {
                    let url = r["url"].as_str().unwrap();
                    let extractor = registry.get(r["extractor"].as_str().unwrap()).expect("known extractor");
                    assert_eq!(r["extractor_version"], extractor.version(), "{url}");
                }
            }
            "changed-between-versions" => {
                assert_eq!(
                    col(&rows, "url"),
                    [&Value::from("http://www.bjxhtouch.com/gongwenfanwen/2021/1103/42779.html")]
                );
            }
            "replacement-characters" => {
                assert_eq!(rows.len(), 1, "the fixture crawl decodes losslessly; only the bad capture has U+FFFD");
                assert_eq!(rows[0]["replacement_chars"], 2);
            }
            "same-article-two-sites" => {
                let got: BTreeSet<(String, String)> = rows
                    .iter()
                    .map(|r| (r["url_a"].as_str().unwrap().into(), r["url_b"].as_str().unwrap().into()))
                    .collect();
                // From the fixtures' provenance: fanwen 1562047 = seed 000 (篇一…篇五), 1563318 =
                // seed 002 + seed 003 part 二; dede 42779 = seed 002, 42851 = 000 篇五; job328
                // 15321 = seed 003, 15408 = 000 篇三; wnwk 2203117 = 000 篇四.
                let d = "http://www.bjxhtouch.com/gongwenfanwen/2021/";
                let f = "https://www.fanwen.example/xindetihui/";
                let want: BTreeSet<(String, String)> = [
                    (format!("{d}1103/42779.html"), format!("{f}1563318.html")),
                    (format!("{d}1105/42851.html"), format!("{f}1562047.html")),
                    (format!("{f}1562047.html"), "http://www.328job.com/news/show-15408.html".to_string()),
                    (format!("{f}1563318.html"), "http://www.328job.com/news/show-15321.html".to_string()),
                    (format!("{f}1562047.html"), "https://m.wnwk.com/doc/2203117.html".to_string()),
                ]
                .into_iter()
                .collect();
                assert!(got.is_superset(&want), "known reposts missing: {:?}", want.difference(&got));
                // The query's definition applied to the gold records instead of the archive:
                // a paragraph of 50+ characters of one site's article inside another site's.
                let gold: Vec<(String, String, Vec<String>)> = fixture_articles()
                    .into_iter()
                    .map(|(site, url, _)| {
                        let g = expected_record(&site, &url);
                        let paragraphs: Vec<String> = g["paragraphs"]
                            .as_array()
                            .expect("paragraphs")
                            .iter()
                            .filter_map(|p| p.as_str().map(str::to_string))
                            .collect();
                        (site, url, paragraphs)
                    })
                    .collect();
                let mut from_gold = BTreeSet::new();
                for (sa, ua, pa) in &gold {
                    for (sb, ub, pb) in &gold {
                        let text_b = pb.join("\n\n");
                        if sa < sb && pa.iter().any(|p| p.chars().count() >= 50 && text_b.contains(p.as_str())) {
                            from_gold.insert((ua.clone(), ub.clone()));
                        }
                    }
                }
                assert_eq!(got, from_gold);
            }
            "provenance" => {
                assert_eq!(rows.len(), 1);
                let r = &rows[0];
                assert_eq!(r["charset_meta"], "gb2312");
                assert_eq!(r["encoding_used"], "gb18030");
                assert_eq!(r["charset_source"], "meta");
                assert_eq!(r["replacement_chars"], 0);
                assert_eq!(r["extractor"], "fanwen");
                let run: i64 = sqlx::query_scalar("SELECT id FROM crawl_runs WHERE command = 'crawl'")
                    .fetch_one(pool)
                    .await
                    .unwrap();
                assert_eq!(r["crawl_run_id"], run);
                assert!(r.contains_key("crawl_arguments"));
                assert_eq!(r["status"], 200);
                assert_eq!(r["crawl_caiji_version"], caiji_crawl::CAIJI_VERSION);
                let file = std::fs::read(fixtures().join("fanwen/pages/xindetihui/1562047.html")).unwrap();
                assert_eq!(r["raw_bytes"], file.len() as i64);
                assert_eq!(r["body_length"], file.len() as i64);
                assert_eq!(r["body_sha256"], caiji_archive::sha256_hex(&file));
                assert_eq!(r["extractor_config_hash"].as_str().unwrap().len(), 64);
            }
            "unsuccessful-fetches" => {
                // Only removed pages (the list pages link to articles that are not in pages/).
                assert!(!rows.is_empty());
                for r in &rows {
                    assert_eq!(
                        (r["outcome"].as_str(), r["status"].as_i64()),
                        (Some("http_status"), Some(404)),
                        "{r:?}"
                    );
                }
            }
            "crawl-runs" => {
                assert_eq!(rows.len(), 1);
                assert_eq!(rows[0]["outcome"], "done");
                assert_eq!(rows[0]["articles"], fixture_articles().len());
            }
            "robots-obeyed" => {
                // One robots.txt capture per host the crawl fetched pages from, filed under
                // the site owning the host; job328's is served (it asks Crawl-delay: 10).
                let host = |u: &str| url::Url::parse(u).unwrap().host_str().unwrap().to_string();
                let robots_hosts: BTreeSet<String> = rows.iter().map(|r| host(r["url"].as_str().unwrap())).collect();
                assert_eq!(robots_hosts.len(), rows.len(), "robots.txt fetched once per host: {rows:?}");
                let page_urls: Vec<String> =
                    sqlx::query_scalar("SELECT DISTINCT url FROM captures WHERE url NOT LIKE '%/robots.txt'")
                        .fetch_all(pool)
                        .await
                        .unwrap();
                let page_hosts: BTreeSet<String> = page_urls.iter().map(|u| host(u)).collect();
                assert_eq!(robots_hosts, page_hosts);
                let job328 = rows.iter().find(|r| r["site"] == "job328").expect("job328 robots.txt");
                assert_eq!((job328["status"].as_i64(), job328["outcome"].as_str()), (Some(200), Some("ok")));
                assert!(job328["robots_bytes"].as_i64().unwrap_or(0) > 0);
            }
            "content-missing" => {
                let urls: Vec<&str> = rows.iter().map(|r| r["url"].as_str().unwrap()).collect();
                assert_eq!(
                    urls,
                    [
                        "https://m.wnwk.com/doc/2196538.html",
                        "https://m.wnwk.com/doc/2203117.html",
                        "https://www.fanwen.example/xindetihui/1562047.html",
                        "https://www.fanwen.example/xindetihui/1563318.html"
                    ]
                );
            }
            "changed-pages" => {
                assert_eq!(rows.len(), 1, "{rows:?}");
                assert_eq!((rows[0]["url"].as_str(), rows[0]["versions"].as_i64()), (Some(changed_url), Some(2)));
            }
            "page-history" => {
                assert_eq!(rows.len(), 2, "{rows:?}");
                let text = |i: usize| rows[i]["text"].as_str().unwrap_or_default();
                assert!(!text(0).contains("更正") && text(1).ends_with("（更正：第三段的数字有误。）"));
                assert_eq!(
                    (rows[0]["captures"].as_i64(), rows[1]["captures"].as_i64()),
                    (Some(1), Some(2)),
                    "the 304 confirms the new text"
                );
                let at = |i: usize, c: &str| {
                    chrono::DateTime::parse_from_rfc3339(rows[i][c].as_str().unwrap_or_default()).expect("timestamp")
                };
                assert!(
                    at(0, "last_seen_at") < at(1, "first_seen_at") && at(1, "first_seen_at") < at(1, "last_seen_at")
                );
            }
            "revisit-outcomes" => {
                for r in &rows {
                    let site = r["site"].as_str().unwrap_or_default();
                    let want = match site {
                        "ttnews" => (1, 0),
                        "job328" => (0, 1),
                        _ => (0, 0),
                    };
                    assert_eq!(
                        (r["not_modified_304"].as_i64().unwrap_or(-1), r["identical_payload"].as_i64().unwrap_or(-1)),
                        want,
                        "{site}"
                    );
                    assert!(r["new_content"].as_i64().unwrap_or(0) > 0, "{site}");
                }
                assert_eq!(rows.len(), fixture_sites().len());
            }
            "gone-pages" => {
                assert_eq!(rows.len(), 1, "{rows:?}");
                assert_eq!(rows[0]["url"], gone_url);
                assert!(
                    rows[0]["gone_since"].is_string() && rows[0]["title"].is_string(),
                    "still answerable: {rows:?}"
                );
            }
            "revisits-due" => {
                for r in &rows {
                    let want = if r["site"] == "ttnews" { (1, 2) } else { (0, 0) };
                    assert_eq!(
                        (r["due_now"].as_i64().unwrap_or(-1), r["scheduled"].as_i64().unwrap_or(-1)),
                        want,
                        "{r:?}"
                    );
                }
                assert_eq!(rows.len(), fixture_sites().len());
            }
            "warc-import" => {
                // warcio's example-digest.warc, imported before the queries: four request
                // records, one whose payload digest is wrong.
                let got: Vec<(&str, i64, i64)> = rows
                    .iter()
                    .map(|r| {
                        (
                            r["status"].as_str().unwrap_or(""),
                            r["records"].as_i64().unwrap_or(-1),
                            r["captures"].as_i64().unwrap_or(-1),
                        )
                    })
                    .collect();
                assert_eq!(got, [("rejected", 1, 0), ("skipped", 3, 0)], "{rows:?}");
                assert!(rows[0]["a_reason"].as_str().is_some_and(|r| r.contains("WARC-Payload-Digest")), "{rows:?}");
                assert!(rows[0]["file_name"].as_str().is_some_and(|f| f.ends_with("example-digest.warc")));
            }
            other => panic!("docs/schema.md query `{other}` has no assertion in this test"),
        }
        checked.insert(name.clone());
    }
    assert_eq!(checked.len(), queries.len(), "duplicate query names");
}

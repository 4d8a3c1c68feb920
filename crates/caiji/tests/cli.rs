//! The `caiji` binary as cron runs it: exit codes, the crawl lock, JSON logs.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use caiji_archive::testing::TestDb;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn caiji() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_caiji"));
    c.current_dir(repo()).env_remove("RUST_LOG").env_remove("CAIJI_CONFIG");
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_concurrent_crawl_exits_with_lock_code() {
    let db = TestDb::new().await.expect("test database");
    // job328 asks Crawl-delay: 10, so this crawl runs for minutes: long enough to overlap.
    let mut first = caiji()
        .args(["crawl", "--site", "job328", "--replay", "fixtures/sites", "--min-interval-ms", "10"])
        .env("DATABASE_URL", &db.url)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn first crawl");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let running: i64 = sqlx::query_scalar("SELECT count(*) FROM crawl_runs WHERE outcome = 'running'")
            .fetch_one(db.archive.pool())
            .await
            .unwrap_or(0);
        if running > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "first crawl never started");
        assert!(first.try_wait().expect("wait").is_none(), "first crawl ended early");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let started = Instant::now();
    let second = caiji()
        .args(["--log-format", "json", "crawl", "--site", "job328", "--replay", "fixtures/sites"])
        .env("DATABASE_URL", &db.url)
        .output()
        .expect("run second crawl");
    let elapsed = started.elapsed();
    first.kill().ok();
    first.wait().ok();
    assert_eq!(second.status.code(), Some(3), "stderr: {}", String::from_utf8_lossy(&second.stderr));
    assert!(elapsed < Duration::from_secs(20), "the second crawl waited {elapsed:?} instead of exiting at once");
    // JSON lines, one object per line, the lock named.
    let stderr = String::from_utf8_lossy(&second.stderr);
    let lines: Vec<serde_json::Value> =
        stderr.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}"))).collect();
    assert!(
        lines.iter().any(|l| l["level"] == "ERROR" && l["message"].as_str().unwrap_or("").contains("job328")),
        "{stderr}"
    );
    // Nothing was recorded by the refused run.
    let runs: i64 = sqlx::query_scalar("SELECT count(*) FROM crawl_runs").fetch_one(db.archive.pool()).await.unwrap();
    assert_eq!(runs, 1);
}

#[test]
fn bad_config_exits_2_with_the_file_named() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("caiji.toml");
    std::fs::write(&cfg, "[fetch]\nmin_interval_ms = \"fast\"\n").unwrap();
    let out = caiji().args(["--config"]).arg(&cfg).args(["crawl"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("caiji.toml") && stderr.contains("min_interval_ms"), "{stderr}");

    let out = caiji()
        .args(["crawl", "--site", "no-such-site"])
        .env("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn unreachable_database_exits_4() {
    let out = caiji()
        .args(["crawl", "--site", "dede", "--replay", "fixtures/sites"])
        .env("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Starts a crawl of job328 (its robots.txt asks Crawl-delay: 10, so the crawl waits between
/// requests: a signal arrives while a URL is claimed) and waits until it has archived a page.
#[allow(clippy::zombie_processes)] // the caller waits for the child it is given
async fn slow_crawl(db: &TestDb) -> std::process::Child {
    let mut child = caiji()
        .args(["--log-format", "json", "crawl", "--site", "job328", "--replay", "fixtures/sites"])
        .env("DATABASE_URL", &db.url)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn crawl");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let captured: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM captures c JOIN crawl_runs r ON r.id = c.crawl_run_id
             WHERE r.outcome = 'running' AND c.url NOT LIKE '%robots.txt'",
        )
        .fetch_one(db.archive.pool())
        .await
        .unwrap_or(0);
        if captured > 0 {
            return child;
        }
        if Instant::now() > deadline {
            child.kill().ok();
            child.wait().ok();
            panic!("the crawl never archived a page");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn signal(child: &std::process::Child, name: &str) {
    let status = Command::new("kill").args([&format!("-{name}"), &child.id().to_string()]).status().expect("kill");
    assert!(status.success());
}

/// SIGTERM and SIGINT: the crawl stops claiming, gives its in-flight URL back, records
/// `interrupted` and exits 143 / 130. SIGKILL: the next caiji that opens the archive marks the
/// dead run `abandoned`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signals_are_recorded_and_killed_runs_marked_abandoned() {
    let db = TestDb::new().await.expect("test database");
    for (name, code) in [("TERM", 143), ("INT", 130)] {
        let child = slow_crawl(&db).await;
        signal(&child, name);
        let started = Instant::now();
        let out = child.wait_with_output().expect("wait");
        assert_eq!(out.status.code(), Some(code), "SIG{name}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(started.elapsed() < Duration::from_secs(10), "SIG{name} took {:?}", started.elapsed());
        let (outcome, finished): (String, bool) =
            sqlx::query_as("SELECT outcome, finished_at IS NOT NULL FROM crawl_runs ORDER BY id DESC LIMIT 1")
                .fetch_one(db.archive.pool())
                .await
                .unwrap();
        assert_eq!((outcome.as_str(), finished), ("interrupted", true), "SIG{name}");
        let in_flight: i64 = sqlx::query_scalar("SELECT count(*) FROM frontier WHERE state = 'in_progress'")
            .fetch_one(db.archive.pool())
            .await
            .unwrap();
        assert_eq!(in_flight, 0, "SIG{name}: URLs left in progress");
    }

    let mut child = slow_crawl(&db).await;
    // A running crawl has transparent huge pages off (they were a third of its peak memory at
    // 1,000 hosts); the flag is read while the process lives.
    #[cfg(target_os = "linux")]
    {
        let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).expect("status");
        let thp = status.lines().find_map(|l| l.strip_prefix("THP_enabled:")).map(str::trim);
        assert_eq!(thp, Some("0"), "{status}");
    }
    child.kill().expect("SIGKILL");
    child.wait().ok();
    let outcome: String = sqlx::query_scalar("SELECT outcome FROM crawl_runs ORDER BY id DESC LIMIT 1")
        .fetch_one(db.archive.pool())
        .await
        .unwrap();
    assert_eq!(outcome, "running", "nothing could record the kill");
    // The next caiji to open the archive sees the run's liveness lock gone.
    let archive = caiji_archive::Archive::connect(&db.url).await.expect("connect");
    let (outcome, error): (String, Option<String>) =
        sqlx::query_as("SELECT outcome, error FROM crawl_runs ORDER BY id DESC LIMIT 1")
            .fetch_one(archive.pool())
            .await
            .unwrap();
    assert_eq!(outcome, "abandoned");
    assert!(error.is_some());
}

/// One mapping from error kind to exit code, whatever the command: a bad config is 2, an
/// unreachable database 4 (naming the server), a refused query 2 with its message once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_are_one_mapping_for_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("caiji.toml");
    std::fs::write(&bad, "[fetch]\nno_such_key = 1\n").unwrap();
    let commands: [&[&str]; 11] = [
        &["crawl"],
        &["index"],
        &["export", "warc", "--out", "x"],
        &["export", "documents", "--format", "jsonl", "--out", "x.jsonl"],
        &["import", "warc", "fixtures/warc/warcio/example.warc.gz"],
        &["extract", "--rerun"],
        &["diff", "--extractor", "dede"],
        &["sql", "SELECT 1"],
        &["db", "url"],
        &["db", "status"],
        &["demo"],
    ];
    for args in commands {
        let out = caiji().arg("--config").arg(&bad).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "bad config, {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let unreachable = "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2";
    for args in [
        &["crawl", "--site", "dede", "--replay", "fixtures/sites"][..],
        &["sql", "SELECT 1"],
        &["diff", "--extractor", "dede"],
        &["extract", "--rerun"],
        &["export", "warc", "--out", "x"],
        &["import", "warc", "fixtures/warc/warcio/example.warc.gz"],
        &["index"],
    ] {
        let out = caiji().args(args).env("DATABASE_URL", unreachable).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(4), "unreachable database, {args:?}: {stderr}");
        assert!(stderr.contains("127.0.0.1:1"), "{args:?}: the server is not named: {stderr}");
    }

    let db = TestDb::new().await.expect("test database");
    for (query, says) in
        [("DELETE FROM captures", "read-only"), ("SELEC 1", "syntax error"), ("SELECT nope FROM captures", "nope")]
    {
        let out = caiji().args(["sql", query]).env("DATABASE_URL", &db.url).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{query}: {stderr}");
        assert_eq!(stderr.matches(says).count(), 1, "{query}: said once: {stderr}");
    }
    let out = caiji().args(["diff", "--extractor", "dede"]).env("DATABASE_URL", &db.url).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    let out = caiji().args(["sql", "SELECT 1 AS one"]).env("DATABASE_URL", &db.url).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    // `caiji index` merges the search index's pending entries: a text waits there until then.
    sqlx::query("INSERT INTO texts (sha256, text) VALUES (sha256('待合并'), '待合并的正文')")
        .execute(db.archive.pool())
        .await
        .unwrap();
    let out = caiji().args(["--log-format", "json", "index"]).env("DATABASE_URL", &db.url).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let merged = stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find_map(|v| v["fields"]["pending_pages"].as_i64().or_else(|| v["pending_pages"].as_i64()));
    assert!(merged.is_some_and(|n| n >= 1), "{stderr}");
    let left: i64 = sqlx::query_scalar("SELECT gin_clean_pending_list('texts_chars_idx')")
        .fetch_one(db.archive.pool())
        .await
        .unwrap();
    assert_eq!(left, 0);

    // `db status` never prints a password.
    let out =
        caiji().args(["db", "status"]).env("DATABASE_URL", "postgresql://u:hunter2@db.invalid/x").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("hunter2") && stdout.contains("db.invalid"), "{stdout}");
}

/// `--log-format json`, as the README's crontab line runs it (stdout and stderr into one
/// file): every line is a JSON object, one per fetch at the default level with typed fields,
/// the summary included, and no terminal colour codes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_mode_writes_only_typed_json_lines() {
    let db = TestDb::new().await.expect("test database");
    let out = caiji()
        .args([
            "--log-format",
            "json",
            "crawl",
            "--site",
            "dede",
            "--replay",
            "fixtures/sites",
            "--min-interval-ms",
            "5",
        ])
        .env("DATABASE_URL", &db.url)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let mut all = String::from_utf8_lossy(&out.stderr).into_owned();
    all.push_str(&String::from_utf8_lossy(&out.stdout));
    assert!(!all.contains('\u{1b}'), "ANSI escape codes in a log file");
    let lines: Vec<serde_json::Value> =
        all.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}"))).collect();
    let fetches: Vec<&serde_json::Value> = lines.iter().filter(|l| l["message"] == "fetched").collect();
    let captures: i64 = sqlx::query_scalar("SELECT count(*) FROM captures WHERE url NOT LIKE '%/robots.txt'")
        .fetch_one(db.archive.pool())
        .await
        .unwrap();
    assert_eq!(fetches.len() as i64, captures, "one line per fetch");
    for f in &fetches {
        assert!(f["status"].is_u64(), "{f}");
        assert!(f["ms"].is_u64() && f["url"].is_string() && f["outcome"].is_string(), "{f}");
    }
    let summary = lines.iter().find(|l| l["summary"] == "crawl").expect("the summary, as one JSON object");
    assert_eq!(summary["outcome"], "done");
    assert!(summary["sites"]["dede"]["articles"].as_u64().unwrap_or(0) > 0, "{summary}");
    let finished = lines.iter().find(|l| l["message"] == "crawl finished").expect("finish line");
    assert!(finished["fetched"].is_u64() && finished["articles"].is_u64(), "{finished}");
}

/// A project folder `P` (config in `P/config/`, archive not created yet), used from elsewhere.
fn project_without_archive() -> (tempfile::TempDir, PathBuf) {
    let project = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(project.path().join("config/sites")).unwrap();
    let config = project.path().join("config/caiji.toml");
    std::fs::write(&config, "[database]\ndata_dir = \".caiji/pg\"\n").unwrap();
    std::fs::write(
        project.path().join("config/sites/local.toml"),
        "name = \"local\"\nhosts = [\"127.0.0.1\"]\nstart_urls = [\"http://127.0.0.1/\"]\narticles = ['/a/']\nextractor = \"generic\"\n",
    )
    .unwrap();
    (project, config)
}

/// Run from another folder, a reading command never opens a new, empty archive: the relative
/// `data_dir` is the project's (`P/.caiji/pg`, not `./.caiji/pg`), and when that holds no
/// archive the command names it and exits 2, creating nothing anywhere.
#[test]
fn reading_commands_never_create_an_empty_archive() {
    let elsewhere = tempfile::tempdir().unwrap();
    let (project, config) = project_without_archive();
    let expected = project.path().join(".caiji/pg");
    for args in [
        &["sql", "SELECT count(*) FROM documents"][..],
        &["diff", "--extractor", "dede"],
        &["export", "warc", "--out", "warcs"],
        &["db", "url"],
        &["extract", "--rerun"],
    ] {
        let out = caiji()
            .current_dir(elsewhere.path())
            .env_remove("DATABASE_URL")
            .arg("--config")
            .arg(&config)
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains("no archive in") && stderr.contains(&*expected.to_string_lossy()),
            "{args:?}: {stderr}"
        );
        assert!(!elsewhere.path().join(".caiji").exists(), "{args:?} created a folder in the working directory");
        assert!(!expected.join("data").exists(), "{args:?} created a cluster");
    }
    // --data-dir names the folder explicitly, and is checked the same way.
    let out = caiji()
        .current_dir(elsewhere.path())
        .env_remove("DATABASE_URL")
        .arg("--config")
        .arg(&config)
        .args(["--data-dir", "/nonexistent/caiji-pg", "sql", "SELECT 1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/caiji-pg"));
}

/// Relative paths in a config file are the project's, whatever the working directory: an archive
/// created from one folder is the one another folder reads.
#[test]
fn relative_data_dir_is_the_projects_from_any_folder() {
    let (project, config) = project_without_archive();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let run = |cwd: &std::path::Path, args: &[&str]| {
        let out = caiji()
            .current_dir(cwd)
            .env_remove("DATABASE_URL")
            .env_remove("CAIJI_DATA_DIR")
            .arg("--config")
            .arg(&config)
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, _, err) = run(a.path(), &["sql", "CREATE TABLE IF NOT EXISTS t AS SELECT 1 AS x"]);
    // `sql` reads only: it refuses to create the archive; `db start` creates it.
    assert_eq!(code, Some(2), "{err}");
    let (code, _, err) = run(a.path(), &["db", "start"]);
    assert_eq!(code, Some(0), "{err}");
    let (code, out, err) = run(b.path(), &["sql", "--format", "json", "SELECT count(*) AS n FROM crawl_runs"]);
    let _ = run(b.path(), &["db", "stop"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("\"n\":0"), "{out}");
    assert!(!a.path().join(".caiji").exists() && !b.path().join(".caiji").exists());
    // As root the cluster may live under /var/lib/caiji with a pointer in the project's folder;
    // either way the project's folder is the one that holds it.
    assert!(project.path().join(".caiji/pg").exists(), "no archive in the project folder");
}

/// `caiji check` validates and resolves without fetching; `caiji schedule` turns the sites'
/// `schedule` fields into crontab lines that run from the right folder with JSON logs.
#[test]
fn check_and_schedule() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("sites")).unwrap();
    std::fs::write(dir.path().join("caiji.toml"), "[database]\ndata_dir = \"pg\"\n").unwrap();
    std::fs::write(
        dir.path().join("sites/local.toml"),
        "name = \"local\"\nhosts = [\"127.0.0.1:9\", \"localhost\"]\nstart_urls = [\"http://127.0.0.1:9/\", \"http://localhost/\"]\n\
         articles = ['/a/']\nextractor = \"generic\"\nschedule = \"15 3 * * *\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("sites/manual.toml"),
        "name = \"manual\"\nhosts = [\"127.0.0.2\"]\nstart_urls = [\"http://127.0.0.2/\"]\narticles = ['/a/']\nextractor = \"generic\"\n",
    )
    .unwrap();
    let cfg = dir.path().join("caiji.toml");
    let out = caiji().arg("--config").arg(&cfg).args(["--log-format", "json", "check"]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "loopback start URLs are warnings: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect();
    let local = lines.iter().find(|l| l["site"] == "local").expect("local site");
    let hosts = local["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), 2);
    for h in hosts {
        assert!(h["problem"].as_str().unwrap_or("").contains("not globally routable"), "{h}");
    }
    assert_eq!(lines.last().unwrap()["warnings"], 3);
    assert!(!dir.path().join("pg/data").exists(), "check must not create the archive");

    let bad = dir.path().join("sites/broken.toml");
    std::fs::write(&bad, "name = \"broken\"\nhosts = []\narticles = []\nextractor = \"generic\"\n").unwrap();
    let out = caiji().arg("--config").arg(&cfg).arg("check").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("broken.toml"));
    std::fs::remove_file(&bad).unwrap();

    let out = caiji().arg("--config").arg(&cfg).args(["schedule", "--log-dir", "/var/log/my caiji"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with("15 3 * * *")).unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("crawl --site local --log-format json"), "{line}");
    assert!(line.contains(&format!("--config {}", cfg.display())), "{line}");
    assert!(line.contains("'/var/log/my caiji'/local.jsonl 2>&1"), "{line}");
    assert!(text.contains("# manual: no schedule"), "{text}");
}

/// `caiji import warc` and `caiji export`: exit 0 when every record was archived, 1 when one was
/// refused, 2 for a bad argument; summaries as one JSON object in JSON mode; files written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_and_export_from_the_command_line() {
    let db = TestDb::new().await.expect("test database");
    let out_dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = caiji().arg("--log-format").arg("json").args(args).env("DATABASE_URL", &db.url).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stdout, stderr) = run(&["import", "warc", "fixtures/warc/warcio/example.warc.gz"]);
    assert_eq!(code, Some(0), "{stderr}");
    let summary: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON summary");
    assert_eq!((summary["summary"].as_str(), summary["result"]["imported"].as_u64()), (Some("import warc"), Some(2)));
    let (code, _, stderr) = run(&["import", "warc", "fixtures/warc/warcio/example-digest.warc"]);
    assert_eq!(code, Some(1), "a refused record: {stderr}");
    let (code, _, stderr) = run(&["import", "warc", "no/such/file.warc.gz"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("no/such/file.warc.gz"), "{stderr}");

    let warcs = out_dir.path().join("warcs");
    let (code, stdout, stderr) = run(&["export", "warc", "--out", warcs.to_str().unwrap(), "--prefix", "test"]);
    assert_eq!(code, Some(0), "{stderr}");
    let summary: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON summary");
    assert_eq!(summary["result"]["captures"].as_u64(), Some(2), "{summary}");
    let files: Vec<_> = std::fs::read_dir(&warcs).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(files.len(), 1);
    assert!(files[0].to_string_lossy().starts_with("test-"), "{files:?}");
    let (code, _, _) = run(&["export", "warc", "--out", warcs.to_str().unwrap(), "--max-size", "lots"]);
    assert_eq!(code, Some(2));
    // A host no site owns is filed under its own name, and export selects it by that name.
    let by_host = out_dir.path().join("by-host");
    let (code, stdout, stderr) = run(&["export", "warc", "--site", "example.com", "--out", by_host.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("\"captures\":2"), "{stdout}");
    let (code, _, stderr) = run(&["export", "warc", "--site", "no-such-site", "--out", by_host.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{stderr}");
    // Two exports in the same second into one folder: the second takes the next serial.
    let (code, _, stderr) = run(&["export", "warc", "--site", "example.com", "--out", by_host.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stderr}");
    let names: Vec<String> =
        std::fs::read_dir(&by_host).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.iter().all(|n| n.ends_with(".warc.gz")), "no .open file left: {names:?}");
    // --out that is a file, and documents --out that is not a regular file: usage errors.
    let file = out_dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    assert_eq!(run(&["export", "warc", "--out", file.to_str().unwrap()]).0, Some(2));
    assert_eq!(
        run(&["export", "documents", "--format", "jsonl", "--out", out_dir.path().to_str().unwrap()]).0,
        Some(2)
    );

    let parquet = out_dir.path().join("docs.parquet");
    let (code, stdout, stderr) =
        run(&["export", "documents", "--format", "parquet", "--out", parquet.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stderr}");
    let summary: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON summary");
    assert_eq!(summary["result"]["documents"].as_u64(), Some(1), "{summary}");
    assert!(std::fs::read(&parquet).unwrap().starts_with(b"PAR1"));
}

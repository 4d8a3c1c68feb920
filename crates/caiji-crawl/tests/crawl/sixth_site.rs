//! Adding a source site needs no test edited (docs/adding-a-site.md): a copy of the project with
//! a sixth site (config file and fixture folder only) passes the fixture-driven tests, whose
//! sites and counts come from `fixtures/sites/`.

use std::path::Path;

use crate::support::*;

/// Copies `from` to `to`, replacing `old` by `new` in file contents and names when given.
fn copy_tree(from: &Path, to: &Path, rename: Option<(&str, &str)>) {
    let (old, new) = rename.unwrap_or(("\0", "\0"));
    for entry in walkdir::WalkDir::new(from).into_iter().filter_map(Result::ok) {
        let rel = entry.path().strip_prefix(from).expect("under from").to_string_lossy().replace(old, new);
        let dest = to.join(rel);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&dest).expect("mkdir");
        } else {
            let bytes = std::fs::read(entry.path()).expect("read");
            // The copied site is UTF-8 (ttnews): an ASCII host renamed in place.
            let bytes = match String::from_utf8(bytes) {
                Ok(text) => text.replace(old, new).into_bytes(),
                Err(e) => e.into_bytes(),
            };
            std::fs::write(&dest, bytes).expect("write");
        }
    }
}

/// A project like the repository's plus `ttmirror`: the ttnews template on another host, its
/// own config file and fixture folder (with its gold records), served by its extractor.
fn project_with_a_sixth_site() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_tree(&repo().join("config"), &dir.path().join("config"), None);
    copy_tree(&repo().join("fixtures/sites"), &dir.path().join("fixtures/sites"), None);
    let fixtures = dir.path().join("fixtures/sites");
    copy_tree(&fixtures.join("ttnews"), &fixtures.join("ttmirror"), Some(("ttnews.xyz", "tt.mirror.example")));
    let toml = fixtures.join("ttmirror/site.toml");
    let text = std::fs::read_to_string(&toml).expect("site.toml").replace("name = \"ttnews\"", "name = \"ttmirror\"");
    std::fs::write(&toml, text).expect("site.toml");
    let site = std::fs::read_to_string(repo().join("config/sites/ttnews.toml"))
        .expect("ttnews.toml")
        .replace("name = \"ttnews\"", "name = \"ttmirror\"")
        .replace(r"ttnews\.xyz", r"tt\.mirror\.example")
        .replace("ttnews.xyz", "tt.mirror.example");
    assert!(site.contains("extractor = \"ttnews\""), "the mirror keeps ttnews's extractor");
    std::fs::write(dir.path().join("config/sites/ttmirror.toml"), site).expect("ttmirror.toml");
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sixth_site_needs_no_test_edited() {
    let five = (fixture_sites().len(), fixture_articles().len());
    let project = project_with_a_sixth_site();
    use_project(project.path().to_path_buf());
    assert_eq!((fixture_sites().len(), fixture_articles().len()), (five.0 + 1, five.1 + 2));
    assert_eq!(test_config(5, 0.05).sites.len(), five.0 + 1);
    crate::replay_crawl::check_replay_crawl_archives_every_fixture_article_once_politely().await;
    crate::resume::check_aborted_crawl_resumes_without_duplicates_or_gaps().await;
    crate::rerun::check_rerun_skips_up_to_date_keeps_old_versions_and_is_deterministic().await;
    crate::schema_doc::check_every_documented_query_runs_and_returns_what_it_says().await;
}

//! Every fixture article, through its site's extractor, equals the gold record a careful human
//! made (title, date, author, every paragraph).

use crate::common;

use caiji_extract::{Registry, extract_bytes};

#[test]
fn site_extractors_reproduce_the_gold_records() {
    let registry = Registry::default();
    let mut checked = 0;
    for page in common::pages() {
        let Some(expected) = &page.expected else { continue };
        let gold: serde_json::Value = serde_json::from_slice(&common::read(expected)).expect("gold json");
        let extractor = registry.get(&page.site).expect("site extractor");
        let (rec, decision) = extract_bytes(extractor, &common::read(&page.path), &page.url, None);
        let ctx = format!("{}/{}", page.site, page.rel);
        assert_eq!(decision.map(|d| d.replacement_chars), Some(0), "{ctx}: decoding lost bytes");
        assert_eq!(rec.title.as_deref(), gold["title"].as_str(), "{ctx}: title");
        assert_eq!(rec.published_at.as_deref(), gold["published_at"].as_str(), "{ctx}: date");
        assert_eq!(rec.author.as_deref(), gold["author"].as_str(), "{ctx}: author");
        let want: Vec<&str> =
            gold["paragraphs"].as_array().expect("paragraphs").iter().filter_map(|p| p.as_str()).collect();
        for (i, (got, want)) in rec.paragraphs.iter().zip(&want).enumerate() {
            assert_eq!(got, want, "{ctx}: paragraph {i}");
        }
        assert_eq!(rec.paragraphs.len(), want.len(), "{ctx}: paragraph count");
        assert!(!rec.has_flag(caiji_extract::Flag::Fallback), "{ctx}: site container not found");
        checked += 1;
    }
    // Every article page a fixture site lists has its gold record, and was checked.
    let listed: usize = std::fs::read_dir(common::sites_dir())
        .expect("fixtures")
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("site.toml")).ok())
        .map(|t| t.parse::<toml::Table>().expect("site.toml")["article_pages"].as_array().map_or(0, Vec::len))
        .sum();
    assert!(listed > 0);
    assert_eq!(checked, listed, "article pages listed in fixtures/sites/*/site.toml without a gold record");
}

#[test]
fn researcher_flags_and_site_metadata() {
    let registry = Registry::default();
    let get = |site: &str, rel: &str| {
        let page = common::pages().into_iter().find(|p| p.site == site && p.rel == rel).expect("fixture page");
        extract_bytes(registry.get(site).expect("extractor"), &common::read(&page.path), &page.url, None).0
    };
    // fanwen's teaser removed text: the record says so.
    let fanwen = get("fanwen", "xindetihui/1562047.html");
    assert!(fanwen.has_flag(caiji_extract::Flag::ContentMissing));
    assert!(!fanwen.text().contains("当前隐藏内容免费查看"));
    assert!(!fanwen.text().contains("小编"));
    let wnwk = get("wnwk", "doc/2196538.html");
    assert_eq!(wnwk.meta["document_id"], "2196538");
    assert_eq!(wnwk.meta["pages"], 7);
    assert_eq!(wnwk.meta["format"], "DOCX");
    assert_eq!(wnwk.meta["uploader"], "13****k");
    assert!(wnwk.has_flag(caiji_extract::Flag::ContentMissing), "only a preview is free");
    assert_eq!(get("dede", "gongwenfanwen/2021/1103/42779.html").meta["source"], "网友投稿");
    assert_eq!(get("job328", "news/show-15321.html").meta["source"], "横店人才网www.328job.com");
    assert_eq!(get("ttnews", "a/5b0e0692f7885803d91afb5e").meta["script"], "traditional");
}

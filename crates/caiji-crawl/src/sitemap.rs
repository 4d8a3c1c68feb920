//! Sitemaps (sitemaps.org protocol 0.9), parsed as XML by `quick-xml`, never scanned as text.
//!
//! - A `<urlset>` lists pages (`<url><loc>`, `<lastmod>` kept for recrawl); a `<sitemapindex>`
//!   lists other sitemaps (`<sitemap><loc>`), read as sitemaps in turn (the crawl bounds how
//!   deep an index may lead).
//! - `<loc>` text is XML: entities (`&amp;`, `&#38;`, `&apos;`) resolved, CDATA kept, whitespace
//!   trimmed. Namespaces and prefixes are ignored (the local name decides).
//! - A gzipped sitemap (`sitemap.xml.gz`) is recognised by its magic bytes, whatever the headers.
//! - The protocol's limits hold: at most 50,000 URLs and 50 MB (52,428,800 bytes) uncompressed
//!   per file; what lies beyond is not read, and the caller is told.

use std::io::Read;

use quick_xml::Reader;
use quick_xml::events::Event;
use url::Url;

/// sitemaps.org: "no more than 50,000 URLs".
pub const MAX_URLS: usize = 50_000;
/// sitemaps.org: "no larger than 50MB (52,428,800 bytes)" uncompressed.
pub const MAX_BYTES: u64 = 52_428_800;

/// One page a `<urlset>` lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SitemapUrl {
    pub loc: Url,
    /// `<lastmod>` as written (W3C Datetime), when given.
    pub lastmod: Option<String>,
}

/// What a sitemap file lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sitemap {
    UrlSet(Vec<SitemapUrl>),
    /// Other sitemaps (a sitemap index).
    Index(Vec<SitemapUrl>),
}

/// A parsed sitemap and what was left out of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub sitemap: Sitemap,
    /// Why part of the file was not read (limits, broken XML after some entries), if it was not.
    pub warning: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SitemapError {
    #[error("gzip: {0}")]
    Gzip(std::io::Error),
    #[error("not a sitemap: the root element is <{0}>, not <urlset> or <sitemapindex>")]
    NotASitemap(String),
    #[error("XML: {0}")]
    Xml(String),
}

/// Parses a sitemap or sitemap index from its bytes as fetched (gzipped or not). `<loc>`s that
/// are not absolute http(s) URLs are skipped.
pub fn parse(bytes: &[u8]) -> Result<Parsed, SitemapError> {
    let mut warning = None;
    let xml: Vec<u8> = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(bytes)
            .take(MAX_BYTES + 1)
            .read_to_end(&mut out)
            .map_err(SitemapError::Gzip)?;
        out
    } else {
        bytes.to_vec()
    };
    let xml = if xml.len() as u64 > MAX_BYTES {
        warning = Some(format!("larger than {MAX_BYTES} bytes uncompressed: the rest is not read"));
        &xml[..MAX_BYTES as usize]
    } else {
        &xml[..]
    };
    let text = String::from_utf8_lossy(xml);
    let mut reader = Reader::from_str(&text);
    let mut root: Option<bool> = None; // Some(true) = index
    let mut entries: Vec<SitemapUrl> = Vec::new();
    // Inside <loc> / <lastmod> of the current entry.
    let (mut in_loc, mut in_lastmod) = (false, false);
    let (mut loc, mut lastmod) = (String::new(), String::new());
    loop {
        let event = match reader.read_event() {
            Ok(e) => e,
            Err(e) => {
                if root.is_none() {
                    return Err(SitemapError::Xml(e.to_string()));
                }
                warning = Some(format!("XML error after {} entries: {e}", entries.len()));
                break;
            }
        };
        match event {
            Event::Start(e) => {
                let name = e.local_name().as_ref().to_ascii_lowercase();
                match (root, name.as_str()) {
                    (None, "urlset") => root = Some(false),
                    (None, "sitemapindex") => root = Some(true),
                    (None, other) => return Err(SitemapError::NotASitemap(other.to_string())),
                    (Some(_), "url" | "sitemap") => {
                        loc.clear();
                        lastmod.clear();
                    }
                    (Some(_), "loc") => in_loc = true,
                    (Some(_), "lastmod") => in_lastmod = true,
                    _ => {}
                }
            }
            Event::Empty(e) if root.is_none() => {
                let name = e.local_name().as_ref().to_ascii_lowercase();
                return match name.as_str() {
                    "urlset" => Ok(Parsed { sitemap: Sitemap::UrlSet(vec![]), warning }),
                    "sitemapindex" => Ok(Parsed { sitemap: Sitemap::Index(vec![]), warning }),
                    other => Err(SitemapError::NotASitemap(other.to_string())),
                };
            }
            Event::Text(t) => push_text(&mut loc, &mut lastmod, in_loc, in_lastmod, &t.xml10_content()),
            Event::CData(c) => push_text(&mut loc, &mut lastmod, in_loc, in_lastmod, &c.into_inner()),
            Event::GeneralRef(r) => {
                let raw = format!("&{};", r.xml10_content());
                let resolved = quick_xml::escape::unescape(&raw).map(|c| c.into_owned()).unwrap_or(raw);
                push_text(&mut loc, &mut lastmod, in_loc, in_lastmod, &resolved);
            }
            Event::End(e) => {
                let name = e.local_name().as_ref().to_ascii_lowercase();
                match name.as_str() {
                    "loc" => in_loc = false,
                    "lastmod" => in_lastmod = false,
                    "url" | "sitemap" => {
                        if let Ok(u) = Url::parse(loc.trim())
                            && matches!(u.scheme(), "http" | "https")
                        {
                            let lm = lastmod.trim();
                            entries.push(SitemapUrl { loc: u, lastmod: (!lm.is_empty()).then(|| lm.to_string()) });
                            if entries.len() >= MAX_URLS {
                                warning = Some(format!("more than {MAX_URLS} entries: the rest is not read"));
                                break;
                            }
                        }
                    }
                    _ => {}
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let sitemap = match root {
        Some(true) => Sitemap::Index(entries),
        Some(false) => Sitemap::UrlSet(entries),
        None => return Err(SitemapError::Xml("no root element".into())),
    };
    Ok(Parsed { sitemap, warning })
}

fn push_text(loc: &mut String, lastmod: &mut String, in_loc: bool, in_lastmod: bool, s: &str) {
    if in_loc {
        loc.push_str(s);
    } else if in_lastmod {
        lastmod.push_str(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn urls(p: &Parsed) -> Vec<&str> {
        match &p.sitemap {
            Sitemap::UrlSet(u) | Sitemap::Index(u) => u.iter().map(|u| u.loc.as_str()).collect(),
        }
    }

    #[test]
    fn urlset_with_entities_cdata_namespaces_and_lastmod() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">
  <url><loc> http://a.cn/a?x=1&amp;y=2 </loc><lastmod>2026-11-30T08:00:00+08:00</lastmod></url>
  <url><loc>http://a.cn/b?p=1&#38;q=2</loc></url>
  <url><loc><![CDATA[http://a.cn/c?x=1&y=2]]></loc><news:news><news:title>标题 &amp; 说明</news:title></news:news></url>
  <url><loc>http://a.cn/d?q=&apos;x&apos;</loc></url>
  <url><loc>/relative/is/skipped</loc></url>
  <url><loc>ftp://a.cn/skipped</loc></url>
</urlset>"#;
        let p = parse(xml.as_bytes()).unwrap();
        assert_eq!(
            urls(&p),
            ["http://a.cn/a?x=1&y=2", "http://a.cn/b?p=1&q=2", "http://a.cn/c?x=1&y=2", "http://a.cn/d?q=%27x%27"]
        );
        let Sitemap::UrlSet(u) = &p.sitemap else { panic!("urlset") };
        assert_eq!(u[0].lastmod.as_deref(), Some("2026-11-30T08:00:00+08:00"));
        assert_eq!(u[1].lastmod, None);
        assert_eq!(p.warning, None);
    }

    #[test]
    fn index_gzipped_and_prefixed() {
        let xml = r#"<sm:sitemapindex xmlns:sm="http://www.sitemaps.org/schemas/sitemap/0.9">
  <sm:sitemap><sm:loc>http://a.cn/sitemap-news-1.xml</sm:loc><sm:lastmod>2026-11-01</sm:lastmod></sm:sitemap>
  <sm:sitemap><sm:loc>http://a.cn/sitemap-2.xml.gz</sm:loc></sm:sitemap>
</sm:sitemapindex>"#;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(xml.as_bytes()).unwrap();
        for bytes in [xml.as_bytes().to_vec(), gz.finish().unwrap()] {
            let p = parse(&bytes).unwrap();
            assert!(matches!(p.sitemap, Sitemap::Index(_)));
            assert_eq!(urls(&p), ["http://a.cn/sitemap-news-1.xml", "http://a.cn/sitemap-2.xml.gz"]);
        }
    }

    #[test]
    fn limits_and_bad_input() {
        let many: String = (0..MAX_URLS + 10).map(|i| format!("<url><loc>http://a.cn/{i}</loc></url>")).collect();
        let p = parse(format!("<urlset>{many}</urlset>").as_bytes()).unwrap();
        assert_eq!(urls(&p).len(), MAX_URLS);
        assert!(p.warning.unwrap().contains("50000"));
        assert!(matches!(parse(b"<html><body>not a sitemap</body></html>"), Err(SitemapError::NotASitemap(_))));
        assert!(parse(b"\x1f\x8bnot gzip").is_err());
        assert!(parse(b"").is_err());
        // Broken after a good entry: what came before is kept, with a warning.
        let p = parse(b"<urlset><url><loc>http://a.cn/1</loc></url><url><loc>http://a.cn/2</lo").unwrap();
        assert_eq!(urls(&p), ["http://a.cn/1"]);
        assert!(matches!(parse(b"<urlset/>").unwrap().sitemap, Sitemap::UrlSet(ref v) if v.is_empty()));
    }
}

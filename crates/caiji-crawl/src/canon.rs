//! URL canonicalisation (the frontier's key) and link discovery.
//!
//! Sitemaps are parsed as XML in [`crate::sitemap`].
//!
//! Rules, in order (documented in README "URL canonicalisation"):
//! 1. parse with the WHATWG URL parser (`url`): scheme and host lowercased, default port
//!    dropped, dot segments resolved, percent-encoding normalised;
//! 2. only `http` and `https`;
//! 3. the fragment is dropped (never sent to the server);
//! 4. tracking parameters (`utm_*`, `spm`) are dropped; the other parameters keep their order;
//!    an empty query (`?`) is dropped.
//!
//! Links on a GBK page are resolved with the page's encoding for the query, as browsers do
//! (`?kw=中文` becomes `%D6%D0%CE%C4`).

use std::borrow::Cow;

use encoding_rs::Encoding;
use scraper::{Html, Selector};
use url::Url;

pub fn canonicalize(url: &Url) -> Option<Url> {
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return None;
    }
    let mut u = url.clone();
    u.set_fragment(None);
    if let Some(q) = u.query() {
        // Pairs are filtered as the raw strings they are: percent-encoded bytes are opaque
        // (WHATWG URL) and may be GBK, so nothing is decoded and re-encoded.
        let pairs: Vec<&str> = q.split('&').collect();
        let kept: Vec<&str> = pairs.iter().copied().filter(|p| !is_tracking_pair(p)).collect();
        if kept.iter().all(|p| p.is_empty()) {
            u.set_query(None);
        } else if kept.len() != pairs.len() {
            let joined = kept.join("&");
            u.set_query(Some(&joined));
        }
    }
    Some(u)
}

/// `utm_*` and `spm` parameters (the key compared after percent-decoding, as a form would).
fn is_tracking_pair(pair: &str) -> bool {
    let raw_key = pair.split('=').next().unwrap_or("");
    let key: Vec<u8> = url::form_urlencoded::parse(raw_key.as_bytes())
        .next()
        .map(|(k, _)| k.into_owned().into_bytes())
        .unwrap_or_default();
    key.starts_with(b"utm_") || key == b"spm"
}

/// The delay (seconds) and URL of a refresh declaration, `<meta http-equiv="refresh"
/// content="…">` or a `Refresh` header, parsed as the WHATWG HTML "shared declarative refresh
/// steps" do: `0; url=/next`, `0;URL='/next'`, `5, url = "/next"`, `0; /next` (no `url=`),
/// `3` (a reload: no URL). `None` when the value does not start with a delay.
pub fn parse_refresh(content: &str) -> Option<(f64, Option<String>)> {
    let s = content.trim_start_matches(|c: char| c.is_ascii_whitespace());
    let digits = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    if digits == 0 {
        return None;
    }
    let delay: f64 = s[..digits].trim_end_matches('.').parse().ok().or(Some(0.0))?;
    let mut rest = s[digits..].trim_start_matches(|c: char| c.is_ascii_whitespace());
    match rest.chars().next() {
        None => return Some((delay, None)),
        Some(';' | ',') => rest = &rest[1..],
        Some(_) => return Some((delay, None)), // a parse error: the standard stops, no URL
    }
    rest = rest.trim_start_matches(|c: char| c.is_ascii_whitespace());
    if rest.len() >= 3 && rest[..3].eq_ignore_ascii_case("url") {
        let after = rest[3..].trim_start_matches(|c: char| c.is_ascii_whitespace());
        if let Some(value) = after.strip_prefix('=') {
            rest = value.trim_start_matches(|c: char| c.is_ascii_whitespace());
        }
    }
    let url = match rest.chars().next() {
        Some(q @ ('"' | '\'')) => rest[1..].split(q).next().unwrap_or(""),
        _ => rest,
    };
    let url = url.trim();
    Some((delay, (!url.is_empty()).then(|| url.to_string())))
}

/// The refresh target of a page: its `<meta http-equiv="refresh">` or `Refresh` header URL,
/// resolved against the page's URL (followed like a link, as Heritrix, Nutch and Norconex do).
pub fn refresh_target(content: &str, page_url: &Url) -> Option<Url> {
    let (_, target) = parse_refresh(content)?;
    canonicalize(&page_url.join(&target?).ok()?)
}

/// The `<meta http-equiv="refresh">` targets of a page (parsed only when the word appears).
pub fn meta_refresh_targets(html: &str, page_url: &Url) -> Vec<Url> {
    if !html.as_bytes().windows(7).any(|w| w.eq_ignore_ascii_case(b"refresh")) {
        return Vec::new();
    }
    let doc = Html::parse_document(html);
    let Ok(meta) = Selector::parse("meta[http-equiv][content]") else { return Vec::new() };
    doc.select(&meta)
        .filter(|m| m.value().attr("http-equiv").is_some_and(|v| v.trim().eq_ignore_ascii_case("refresh")))
        .filter_map(|m| refresh_target(m.value().attr("content")?, page_url))
        .collect()
}

/// What a list page leads to.
#[derive(Debug, Default)]
pub struct Discovered {
    /// `<a href>`, `<area href>` (and the refresh targets), in document order.
    pub links: Vec<Url>,
    /// `<meta http-equiv="refresh">` targets.
    pub refresh: Vec<Url>,
    /// Feeds the page announces: `<link rel="alternate" type="application/rss+xml|atom+xml">`.
    pub feeds: Vec<Url>,
}

/// Everything a page leads to, from one parse: links, refresh targets, announced feeds, all
/// resolved against `<base href>` or the page URL, canonical, without duplicates.
pub fn discover(html: &str, page_url: &Url, encoding: Option<&'static Encoding>) -> Discovered {
    let doc = Html::parse_document(html);
    let base = Selector::parse("base[href]")
        .ok()
        .and_then(|s| doc.select(&s).next().and_then(|b| b.value().attr("href").and_then(|h| page_url.join(h).ok())))
        .unwrap_or_else(|| page_url.clone());
    let mut out = Discovered { links: links_in(&doc, &base, encoding), ..Default::default() };
    if let Ok(meta) = Selector::parse("meta[http-equiv][content]") {
        for m in doc.select(&meta) {
            let is_refresh = m.value().attr("http-equiv").is_some_and(|v| v.trim().eq_ignore_ascii_case("refresh"));
            if let Some(u) = m.value().attr("content").filter(|_| is_refresh).and_then(|c| refresh_target(c, &base)) {
                out.refresh.push(u);
            }
        }
    }
    if let Ok(link) = Selector::parse("link[rel][type][href]") {
        for l in doc.select(&link) {
            let v = l.value();
            let alternate =
                v.attr("rel").is_some_and(|r| r.split_ascii_whitespace().any(|t| t.eq_ignore_ascii_case("alternate")));
            let ty = v.attr("type").unwrap_or("").trim().to_ascii_lowercase();
            if alternate
                && matches!(ty.as_str(), "application/rss+xml" | "application/atom+xml")
                && let Some(u) = v.attr("href").and_then(|h| base.join(h.trim()).ok()).and_then(|u| canonicalize(&u))
                && !out.feeds.contains(&u)
            {
                out.feeds.push(u);
            }
        }
    }
    out
}

/// Absolute links (`<a href>`, `<area href>`, and a `<meta http-equiv="refresh">` target) of a
/// page, resolved against `<base href>` or the page URL, in document order, without duplicates.
pub fn links(html: &str, page_url: &Url, encoding: Option<&'static Encoding>) -> Vec<Url> {
    let d = discover(html, page_url, encoding);
    let mut out = d.refresh;
    for u in d.links {
        if !out.contains(&u) {
            out.push(u);
        }
    }
    out
}

fn links_in(doc: &Html, base: &Url, encoding: Option<&'static Encoding>) -> Vec<Url> {
    let Ok(sel) = Selector::parse("a[href], area[href]") else {
        return Vec::new();
    };
    let legacy = encoding.filter(|e| *e != encoding_rs::UTF_8);
    let mut out: Vec<Url> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for a in doc.select(&sel) {
        let Some(href) = a.value().attr("href") else {
            continue;
        };
        let href = href.trim();
        if href.is_empty() || href.starts_with("javascript:") || href.starts_with("mailto:") {
            continue;
        }
        let options = Url::options().base_url(Some(base));
        let parsed = match legacy {
            Some(enc) => options.encoding_override(Some(&|s: &str| encode_query(enc, s))).parse(href),
            None => options.parse(href),
        };
        if let Ok(u) = parsed
            && let Some(c) = canonicalize(&u)
            && seen.insert(c.to_string())
        {
            out.push(c);
        }
    }
    out
}

fn encode_query<'a>(enc: &'static Encoding, s: &'a str) -> Cow<'a, [u8]> {
    enc.encode(s).0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_form() {
        let u = Url::parse("HTTP://WWW.Example.COM:80/a/./b/../c.html?utm_source=x&id=3#top").unwrap();
        assert_eq!(canonicalize(&u).unwrap().as_str(), "http://www.example.com/a/c.html?id=3");
        let u = Url::parse("https://m.wnwk.com/doc/1.html?").unwrap();
        assert_eq!(canonicalize(&u).unwrap().as_str(), "https://m.wnwk.com/doc/1.html");
        assert!(canonicalize(&Url::parse("ftp://x.org/").unwrap()).is_none());
    }

    #[test]
    fn tracking_parameters_dropped_without_touching_encoded_bytes() {
        let cases = [
            // GBK 中文 percent-encoded, a tracking pair after it
            ("http://a.cn/show.asp?id=12&kw=%D6%D0%CE%C4&spm=a2c4g.1", "http://a.cn/show.asp?id=12&kw=%D6%D0%CE%C4"),
            // tracking first, Big5 and invalid UTF-8 bytes kept as they are
            ("http://a.cn/s?utm_source=x&q=%A4%A4%A4%E5&z=%FF", "http://a.cn/s?q=%A4%A4%A4%E5&z=%FF"),
            // a '+' and an encoded '&' inside a value stay
            ("http://a.cn/s?q=a+b%26c&utm_medium=y", "http://a.cn/s?q=a+b%26c"),
            // nothing to drop: untouched (order, empty pairs and all)
            ("http://a.cn/s?b=2&&a=%E4", "http://a.cn/s?b=2&&a=%E4"),
            // only tracking: no query at all
            ("http://a.cn/s?utm_source=x&spm=1", "http://a.cn/s"),
            // an encoded key is still a tracking key
            ("http://a.cn/s?utm%5Fcampaign=x&id=1", "http://a.cn/s?id=1"),
        ];
        for (input, want) in cases {
            let got = canonicalize(&Url::parse(input).unwrap()).unwrap();
            assert_eq!(got.as_str(), want, "{input}");
            assert!(!got.as_str().contains("%EF%BF%BD"));
        }
    }

    #[test]
    fn refresh_declarations() {
        type Want<'a> = Option<(f64, Option<&'a str>)>;
        let cases: [(&str, Want); 12] = [
            ("0; url=/news/list_1.html", Some((0.0, Some("/news/list_1.html")))),
            ("0;URL='/a b.html'", Some((0.0, Some("/a b.html")))),
            ("5, url = \"/next\"", Some((5.0, Some("/next")))),
            ("0; /no-url-prefix", Some((0.0, Some("/no-url-prefix")))),
            ("  3  ", Some((3.0, None))),
            ("0.5;url=http://x.cn/y", Some((0.5, Some("http://x.cn/y")))),
            ("1; Url=/q?a=1&b=2", Some((1.0, Some("/q?a=1&b=2")))),
            ("0; url=", Some((0.0, None))),
            ("0 url=/x", Some((0.0, None))),
            ("0;url=\"/unterminated", Some((0.0, Some("/unterminated")))),
            ("url=/x", None),
            ("", None),
        ];
        for (content, want) in cases {
            let got = parse_refresh(content);
            assert_eq!(got.as_ref().map(|(d, u)| (*d, u.as_deref())), want, "{content:?}");
        }
        let page = Url::parse("http://a.cn/old/").unwrap();
        let html =
            "<HTML><HEAD><META HTTP-EQUIV=REFRESH CONTENT=\"0; URL=/news/list_1.html\"></HEAD><body></body></HTML>";
        assert_eq!(links(html, &page, None), [Url::parse("http://a.cn/news/list_1.html").unwrap()]);
        assert_eq!(refresh_target("0; url=../n/2.html", &page).unwrap().as_str(), "http://a.cn/n/2.html");
    }

    #[test]
    fn gbk_query_links() {
        let page = Url::parse("http://www.328job.com/news/list-3-1.html").unwrap();
        let l = links(
            "<a href='/search.asp?kw=中文#x'>s</a><a href=show-1.html>1</a><a href='javascript:;'>j</a>",
            &page,
            Some(encoding_rs::GBK),
        );
        assert_eq!(l[0].as_str(), "http://www.328job.com/search.asp?kw=%D6%D0%CE%C4");
        assert_eq!(l[1].as_str(), "http://www.328job.com/news/show-1.html");
        assert_eq!(l.len(), 2);
    }
}

//! robots.txt rules for one host (parsing by `texting_robots`, not by hand).

use texting_robots::Robot;

/// The rules caiji obeys for a host.
pub enum RobotsRules {
    /// No robots.txt (4xx) or an unparsable one: everything allowed.
    AllowAll,
    /// robots.txt unavailable (5xx, timeout, network error): RFC 9309 §2.3.1.4 says assume
    /// complete disallow, as a temporary condition: the caller defers the host, it does not
    /// settle its URLs as disallowed.
    Unavailable(String),
    /// The host's address may not be connected to (see [`crate::address`]).
    Refused(String),
    Parsed(Box<Robot>),
}

impl RobotsRules {
    /// Rules from a robots.txt body for our user agent's product token.
    pub fn parse(user_agent: &str, body: &[u8]) -> Self {
        match Robot::new(&product_token(user_agent), body) {
            Ok(r) => Self::Parsed(Box::new(r)),
            Err(e) => {
                tracing::warn!(error = %e, "unparsable robots.txt: treating as allow-all");
                Self::AllowAll
            }
        }
    }

    pub fn allowed(&self, url: &str) -> bool {
        match self {
            Self::AllowAll => true,
            Self::Unavailable(_) | Self::Refused(_) => false,
            Self::Parsed(r) => r.allowed(url),
        }
    }

    /// `Crawl-delay` in seconds, when the group that applies to us has one.
    pub fn crawl_delay(&self) -> Option<f32> {
        match self {
            Self::Parsed(r) => r.delay,
            _ => None,
        }
    }

    pub fn sitemaps(&self) -> Vec<String> {
        match self {
            Self::Parsed(r) => r.sitemaps.clone(),
            _ => Vec::new(),
        }
    }
}

/// `caiji/0.1 (+https://…)` → `caiji`: robots groups match on the product token.
pub fn product_token(user_agent: &str) -> String {
    user_agent.split(['/', ' ']).next().unwrap_or(user_agent).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const JOB328: &[u8] = b"User-agent: Baiduspider\nDisallow: /member/\nDisallow: /company/login.asp\n\nUser-agent: *\nCrawl-delay: 10\nDisallow: /member/\nDisallow: /company/\n";

    #[test]
    fn star_group_applies_with_its_crawl_delay() {
        let r = RobotsRules::parse("caiji/0.1 (+https://example.invalid)", JOB328);
        assert_eq!(r.crawl_delay(), Some(10.0));
        assert!(!r.allowed("http://www.328job.com/company/list.asp"));
        assert!(r.allowed("http://www.328job.com/news/show-15321.html"));
    }

    #[test]
    fn wildcard_and_chinese_paths() {
        let r = RobotsRules::parse("caiji", b"User-agent: *\nDisallow: /*?lang=\nDisallow: /%E6%90%9C%E7%B4%A2/\n");
        assert!(!r.allowed("https://ttnews.xyz/a/1?lang=en"));
        assert!(!r.allowed("https://ttnews.xyz/搜索/x"));
        assert!(r.allowed("https://ttnews.xyz/a/1"));
    }
}

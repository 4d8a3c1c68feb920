//! Every state the archive records, as a type. Each enum is stored as its snake_case name in a
//! `text` column guarded by a CHECK constraint (`migrations/0006_states.sql`), so SQL users read
//! plain words and neither side can write a value the other does not know.

use serde::Serialize;
use sqlx::postgres::{PgArgumentBuffer, PgHasArrayType, PgTypeInfo, PgValueRef};
use sqlx::{Decode, Encode, Postgres, Type};

/// Maps a state enum to PostgreSQL `text` through its `as_str` (every variant listed): written
/// as that word, read back by it, and an unknown word is a decode error naming the type. By
/// hand rather than `#[derive(sqlx::Type)]`: sqlx's derive macros build a second copy of its
/// PostgreSQL driver for the compiler, a minute of every cold build on 2 cores (issue 15).
macro_rules! text_state {
    ($name:ident: $($variant:ident),+) => {
        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
        }
        impl Type<Postgres> for $name {
            fn type_info() -> PgTypeInfo {
                <&str as Type<Postgres>>::type_info()
            }
            fn compatible(ty: &PgTypeInfo) -> bool {
                <&str as Type<Postgres>>::compatible(ty)
            }
        }
        impl PgHasArrayType for $name {
            fn array_type_info() -> PgTypeInfo {
                <&str as PgHasArrayType>::array_type_info()
            }
        }
        impl Encode<'_, Postgres> for $name {
            fn encode_by_ref(
                &self,
                buf: &mut PgArgumentBuffer,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <&str as Encode<Postgres>>::encode(self.as_str(), buf)
            }
        }
        impl<'r> Decode<'r, Postgres> for $name {
            fn decode(value: PgValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
                let word = <&str as Decode<Postgres>>::decode(value)?;
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == word)
                    .ok_or_else(|| format!("unknown {} `{word}`", stringify!($name)).into())
            }
        }
    };
}

text_state!(UrlKind: Start, List, Sitemap, Article, Feed);
text_state!(FrontierState: Pending, InProgress, Done, Failed, Disallowed, Gone, Refused);
text_state!(CaptureOutcome: Ok, HttpStatus, TooLarge, Timeout, RedirectLoop, TooManyRedirects, NetworkError, RedirectOffSite, AddressRefused, UnsupportedEncoding, NotModified);
text_state!(RunOutcome: Running, Done, DoneWithFailures, Incomplete, Failed, Interrupted, Abandoned);
text_state!(WarcRecordStatus: Imported, Skipped, Rejected);

/// What a URL is to its site; decides whether it is refetched on the next run
/// (`frontier.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UrlKind {
    /// A start URL from the site config: requeued every run.
    Start,
    /// A list/pagination page: requeued when rediscovered in a later run.
    List,
    /// A sitemap: requeued every run, like a start URL.
    Sitemap,
    /// An article: fetched once; later runs skip it once captured, unless its site has a
    /// revisit policy (`revisit_after`) and it is due.
    Article,
    /// An RSS or Atom feed (site file `feeds`, or a page's `<link rel="alternate">`):
    /// requeued every run; its entries' links go through the site's article rules.
    Feed,
}

impl UrlKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::List => "list",
            Self::Sitemap => "sitemap",
            Self::Article => "article",
            Self::Feed => "feed",
        }
    }
}

/// Where a URL stands in the frontier (`frontier.state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FrontierState {
    /// Waiting to be claimed by a crawl of its site.
    Pending,
    /// Claimed by the run in `frontier.last_run_id`; only that run may settle it.
    InProgress,
    /// Captured with a 2xx.
    Done,
    /// Captured, but the fetch failed (timeout, 5xx after retries, refused redirect, ...);
    /// queued again by the next run.
    Failed,
    /// robots.txt (as fetched and parsed) forbids it; never requested.
    Disallowed,
    /// The server answered 4xx (not 429): recorded as a capture, not retried;
    /// `frontier.gone_since` says since when.
    Gone,
    /// caiji's rules refused to follow it (a redirect off the site's hosts, an address that is
    /// not globally routable): recorded as a capture, not retried.
    Refused,
}

impl FrontierState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::InProgress => "in_progress",
            Self::Done => "done",
            Self::Failed => "failed",
            Self::Disallowed => "disallowed",
            Self::Gone => "gone",
            Self::Refused => "refused",
        }
    }
}

/// How a fetch ended (`captures.outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CaptureOutcome {
    /// 2xx with a body within limits.
    Ok,
    /// Any other final status (404, 500 after retries, ...); body kept when received.
    HttpStatus,
    TooLarge,
    Timeout,
    RedirectLoop,
    TooManyRedirects,
    NetworkError,
    /// A redirect pointed to a host the site does not own: recorded, not followed.
    RedirectOffSite,
    /// The address a request would connect to is not globally routable (loopback, private,
    /// link-local, ...) and the configuration does not allow private addresses.
    AddressRefused,
    /// The body's `Content-Encoding` is unknown or does not decode: the body is kept as
    /// received, not extracted.
    UnsupportedEncoding,
    /// `304 Not Modified` to a conditional revisit: no body; `captures.revisit_of` names the
    /// capture whose body it confirms.
    NotModified,
}

impl CaptureOutcome {
    /// The outcome stored as `name` (`captures.outcome`), if it is one.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|o| o.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::HttpStatus => "http_status",
            Self::TooLarge => "too_large",
            Self::Timeout => "timeout",
            Self::RedirectLoop => "redirect_loop",
            Self::TooManyRedirects => "too_many_redirects",
            Self::NetworkError => "network_error",
            Self::RedirectOffSite => "redirect_off_site",
            Self::AddressRefused => "address_refused",
            Self::UnsupportedEncoding => "unsupported_encoding",
            Self::NotModified => "not_modified",
        }
    }
}

/// How a crawl or re-extraction run ended (`crawl_runs.outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    /// Still running (or its process died and no caiji has opened the archive since).
    Running,
    /// Every fetch succeeded (4xx pages are recorded as gone, not failures).
    Done,
    /// Some fetches failed; each is recorded in `captures`.
    DoneWithFailures,
    /// Some URLs could not be attempted (robots.txt unavailable, host deferred): they stay
    /// pending for the next run. `crawl_runs.error` says why.
    Incomplete,
    /// The run stopped on an error (database gone, lock lost, ...): `crawl_runs.error`.
    Failed,
    /// Stopped by SIGINT/SIGTERM; in-flight URLs were released.
    Interrupted,
    /// Its process died without recording an outcome (SIGKILL, power loss); marked by the next
    /// caiji that opened the archive.
    Abandoned,
}

impl RunOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Done => "done",
            Self::DoneWithFailures => "done_with_failures",
            Self::Incomplete => "incomplete",
            Self::Failed => "failed",
            Self::Interrupted => "interrupted",
            Self::Abandoned => "abandoned",
        }
    }
}

impl std::fmt::Display for RunOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What became of a record `caiji import warc` read (`warc_records.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WarcRecordStatus {
    /// It became a capture (`warc_records.capture_id`).
    Imported,
    /// Read and understood, nothing to archive (warcinfo, request, metadata records).
    Skipped,
    /// Not archived: truncated, malformed, or a revisit of a record the archive does not hold.
    Rejected,
}

impl WarcRecordStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Imported => "imported",
            Self::Skipped => "skipped",
            Self::Rejected => "rejected",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each enum's list names every value once, and the word stored for it is its JSON name.
    #[test]
    fn stored_words_are_the_json_names() {
        fn check<T: Copy + Serialize + PartialEq + std::fmt::Debug>(all: &[T], word: fn(T) -> &'static str) {
            for (i, v) in all.iter().enumerate() {
                assert!(!all[..i].contains(v), "{v:?} listed twice");
                assert_eq!(serde_json::to_value(v).unwrap(), serde_json::Value::from(word(*v)));
            }
        }
        check(UrlKind::ALL, UrlKind::as_str);
        check(FrontierState::ALL, FrontierState::as_str);
        check(CaptureOutcome::ALL, CaptureOutcome::as_str);
        check(RunOutcome::ALL, RunOutcome::as_str);
        check(WarcRecordStatus::ALL, WarcRecordStatus::as_str);
        assert_eq!(CaptureOutcome::from_name("not_modified"), Some(CaptureOutcome::NotModified));
        assert_eq!(CaptureOutcome::from_name("fine"), None);
    }
}

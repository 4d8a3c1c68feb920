//! When a captured article is fetched again: a site's revisit policy (`revisit_after`, with an
//! adaptive interval as Nutch's `AdaptiveFetchSchedule` keeps one) and what a revisit found.
//!
//! Each article's interval starts at `revisit_after`. A revisit that finds the page unchanged
//! (a `304`, the same body, or the same text) multiplies it by 1.4; one that finds a change
//! multiplies it by 0.8 (Nutch's default rates, `db.fetch.schedule.adaptive.inc_rate` 0.4 and
//! `dec_rate` 0.2). It stays within `[revisit_min, revisit_max]`, by default a quarter and
//! sixteen times `revisit_after` (at most 365 days). `revisit_after = "0s"` revisits every run.

use std::time::Duration;

/// Growth of the interval after an unchanged revisit.
pub const UNCHANGED_FACTOR: f64 = 1.4;
/// Shrinking of the interval after a revisit that found a change.
pub const CHANGED_FACTOR: f64 = 0.8;
/// The longest interval ever used, whatever the site file says.
pub const MAX_INTERVAL: Duration = Duration::from_secs(365 * 24 * 3600);

/// A site's revisit policy (`revisit_after`, `revisit_min`, `revisit_max` in its file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevisitPolicy {
    /// The first interval after a page is captured.
    pub after: Duration,
    /// Bounds of the adaptive interval.
    pub min: Duration,
    pub max: Duration,
}

impl RevisitPolicy {
    /// The policy from the site file's durations (humantime syntax: `"30d"`, `"12h"`, `"0s"`).
    /// Errors name the field and what is wrong.
    pub fn parse(after: &str, min: Option<&str>, max: Option<&str>) -> Result<Self, String> {
        let parse = |field: &str, v: &str| {
            humantime::parse_duration(v)
                .map_err(|e| format!("{field} = {v:?}: {e} (a duration such as \"30d\", \"12h\", \"0s\")"))
        };
        let after = parse("revisit_after", after)?.min(MAX_INTERVAL);
        let min = match min {
            Some(v) => parse("revisit_min", v)?,
            None => after / 4,
        };
        let max = match max {
            Some(v) => parse("revisit_max", v)?.min(MAX_INTERVAL),
            None => after.saturating_mul(16).min(MAX_INTERVAL),
        };
        if min > max {
            return Err(format!("revisit_min ({min:?}) is longer than revisit_max ({max:?})"));
        }
        if after < min || after > max {
            return Err(format!("revisit_after ({after:?}) is outside [revisit_min, revisit_max] ({min:?}, {max:?})"));
        }
        Ok(Self { after, min, max })
    }

    /// The interval until the next visit. `previous`: the interval the page was scheduled with
    /// (`None` for a first capture, or one captured before the site had a policy); `changed`:
    /// whether this visit found new content (ignored for a first capture).
    pub fn next_interval(&self, previous: Option<Duration>, changed: bool) -> Duration {
        let Some(previous) = previous else { return self.after };
        let factor = if changed { CHANGED_FACTOR } else { UNCHANGED_FACTOR };
        // Whole seconds, as the archive stores them.
        let next = Duration::try_from_secs_f64((previous.as_secs_f64() * factor).round()).unwrap_or(self.max);
        next.clamp(self.min, self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(24 * 3600);

    #[test]
    fn defaults_bounds_and_errors() {
        let p = RevisitPolicy::parse("8d", None, None).unwrap();
        assert_eq!((p.after, p.min, p.max), (8 * DAY, 2 * DAY, 128 * DAY));
        let p = RevisitPolicy::parse("60d", None, None).unwrap();
        assert_eq!(p.max, MAX_INTERVAL, "sixteen times 60 days is capped at a year");
        let p = RevisitPolicy::parse("0s", None, None).unwrap();
        assert_eq!((p.after, p.min, p.max), (Duration::ZERO, Duration::ZERO, Duration::ZERO));
        let p = RevisitPolicy::parse("1d", Some("12h"), Some("7d")).unwrap();
        assert_eq!((p.min, p.max), (DAY / 2, 7 * DAY));
        assert!(RevisitPolicy::parse("soon", None, None).unwrap_err().contains("revisit_after"));
        assert!(RevisitPolicy::parse("1d", Some("2d"), Some("3d")).unwrap_err().contains("outside"));
        assert!(RevisitPolicy::parse("1d", Some("3d"), Some("2d")).unwrap_err().contains("longer"));
    }

    #[test]
    fn unchanged_pages_drift_to_the_maximum_changed_ones_to_the_minimum() {
        let p = RevisitPolicy::parse("10d", Some("2d"), Some("30d")).unwrap();
        assert_eq!(p.next_interval(None, true), 10 * DAY, "a first capture starts at revisit_after");
        assert_eq!(p.next_interval(Some(10 * DAY), false), 14 * DAY);
        assert_eq!(p.next_interval(Some(10 * DAY), true), 8 * DAY);
        let mut i = 10 * DAY;
        for _ in 0..20 {
            i = p.next_interval(Some(i), false);
        }
        assert_eq!(i, 30 * DAY);
        for _ in 0..20 {
            i = p.next_interval(Some(i), true);
        }
        assert_eq!(i, 2 * DAY);
        // "0s": every run, whatever happens.
        let every = RevisitPolicy::parse("0s", None, None).unwrap();
        assert_eq!(every.next_interval(Some(Duration::ZERO), false), Duration::ZERO);
        assert_eq!(every.next_interval(Some(DAY), false), Duration::ZERO, "an old interval is clamped to the bounds");
    }
}

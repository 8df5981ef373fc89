//! When to refresh, how to back off, and when to warn — pure functions of time.
//!
//! - A file is refreshed at half its TTL (7 of 14 days) ± 10 % jitter, so a fleet of
//!   machines activated together does not call the server together.
//! - A failed refresh is retried after 1 minute, doubling up to 1 hour, ± 10 % jitter.
//! - The user is warned 72, 24 and 1 hour before the offline period ends, each once.
//!
//! Jitter comes in as a sample in `[-1, 1]` (see [`random_unit_signed`](crate::random::random_unit_signed)),
//! so the functions stay pure and tests choose the extremes.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

/// The refresh and warning policy.
#[derive(Debug, Clone, PartialEq)]
pub struct RefreshPolicy {
    /// Fraction of the TTL after which to refresh (0.5).
    pub refresh_fraction: f64,
    /// Relative jitter on the refresh point (0.1 for ± 10 %).
    pub refresh_jitter: f64,
    /// First retry delay after a failure (1 minute).
    pub backoff_initial: Duration,
    /// Longest retry delay (1 hour).
    pub backoff_max: Duration,
    /// Relative jitter on retry delays (0.1).
    pub backoff_jitter: f64,
    /// How long before `expires_at` to warn, most distant first (72 h, 24 h, 1 h).
    pub warn_before: Vec<Duration>,
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        RefreshPolicy {
            refresh_fraction: 0.5,
            refresh_jitter: 0.1,
            backoff_initial: Duration::minutes(1),
            backoff_max: Duration::hours(1),
            backoff_jitter: 0.1,
            warn_before: vec![Duration::hours(72), Duration::hours(24), Duration::hours(1)],
        }
    }
}

/// A warning that the offline period is running out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpiryWarning {
    /// Which threshold (its distance before `expires_at`).
    pub before: Duration,
    /// The time actually left.
    pub left: Duration,
}

/// Which warnings were already given for which file, kept in the sealed state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WarningsGiven {
    /// The `expires_at` (UTC seconds) of the file the warnings were about.
    pub expires_at: i64,
    /// Thresholds already given, in seconds before `expires_at`.
    pub given: Vec<i64>,
}

impl RefreshPolicy {
    /// When to refresh a file issued at `issued_at` and valid until `expires_at`, given a
    /// jitter sample in `[-1, 1]`. Always within the file's validity.
    pub fn refresh_at(
        &self,
        issued_at: OffsetDateTime,
        expires_at: OffsetDateTime,
        jitter: f64,
    ) -> OffsetDateTime {
        let ttl = (expires_at - issued_at).max(Duration::ZERO);
        let factor = self.refresh_fraction * (1.0 + self.refresh_jitter * jitter.clamp(-1.0, 1.0));
        let at = issued_at + ttl * factor.clamp(0.0, 1.0);
        at.clamp(issued_at, expires_at)
    }

    /// The refresh point without jitter: where the state turns to `grace` if no refresh
    /// succeeded and the agent recorded no schedule of its own.
    pub fn nominal_refresh_at(
        &self,
        issued_at: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> OffsetDateTime {
        self.refresh_at(issued_at, expires_at, 0.0)
    }

    /// How long to wait after the `failures`-th consecutive failure (1 for the first), given a
    /// jitter sample in `[-1, 1]`.
    pub fn retry_delay(&self, failures: u32, jitter: f64) -> Duration {
        let doublings = failures.saturating_sub(1).min(30);
        let base = self
            .backoff_initial
            .saturating_mul(1i32 << doublings)
            .min(self.backoff_max);
        let jittered = base * (1.0 + self.backoff_jitter * jitter.clamp(-1.0, 1.0));
        jittered.clamp(Duration::seconds(1), self.backoff_max)
    }

    /// The warning to give now, if any: the most urgent threshold passed and not yet given.
    /// Thresholds passed together (the machine was asleep) give one warning, not several.
    /// Records what it returns, and starts afresh for a new file.
    pub fn take_warning(
        &self,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
        given: &mut WarningsGiven,
    ) -> Option<ExpiryWarning> {
        if given.expires_at != expires_at.unix_timestamp() {
            *given = WarningsGiven {
                expires_at: expires_at.unix_timestamp(),
                given: Vec::new(),
            };
        }
        if now >= expires_at {
            return None;
        }
        let left = expires_at - now;
        let passed: Vec<Duration> = self
            .warn_before
            .iter()
            .copied()
            .filter(|&b| left <= b)
            .collect();
        let most_urgent = passed.iter().copied().min()?;
        let fresh = passed
            .iter()
            .any(|b| !given.given.contains(&b.whole_seconds()));
        for b in &passed {
            if !given.given.contains(&b.whole_seconds()) {
                given.given.push(b.whole_seconds());
            }
        }
        fresh.then_some(ExpiryWarning {
            before: most_urgent,
            left,
        })
    }

    /// When the next warning falls due for a file valid until `expires_at`, after `now`.
    pub fn next_warning_at(
        &self,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Option<OffsetDateTime> {
        self.warn_before
            .iter()
            .map(|&b| expires_at - b)
            .filter(|&at| at > now)
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const ISSUED: OffsetDateTime = datetime!(2026-11-01 00:00 UTC);

    fn expires() -> OffsetDateTime {
        ISSUED + Duration::days(14)
    }

    #[test]
    fn refresh_at_half_ttl_within_ten_percent() {
        let p = RefreshPolicy::default();
        assert_eq!(
            p.refresh_at(ISSUED, expires(), 0.0),
            ISSUED + Duration::days(7)
        );
        assert_eq!(
            p.refresh_at(ISSUED, expires(), -1.0),
            ISSUED + Duration::days(7) * 0.9
        );
        assert_eq!(
            p.refresh_at(ISSUED, expires(), 1.0),
            ISSUED + Duration::days(7) * 1.1
        );
        assert_eq!(
            p.refresh_at(ISSUED, expires(), 7.0),
            ISSUED + Duration::days(7) * 1.1,
            "sample clamped"
        );
        assert_eq!(
            p.refresh_at(ISSUED, ISSUED, 0.0),
            ISSUED,
            "zero TTL refreshes at once"
        );
    }

    #[test]
    fn backoff_doubles_from_a_minute_to_an_hour() {
        let p = RefreshPolicy::default();
        let delays: Vec<i64> = (1..=9)
            .map(|n| p.retry_delay(n, 0.0).whole_seconds())
            .collect();
        assert_eq!(delays, [60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]);
        assert_eq!(p.retry_delay(1, -1.0).whole_seconds(), 54);
        assert_eq!(p.retry_delay(1, 1.0).whole_seconds(), 66);
        assert_eq!(
            p.retry_delay(40, 1.0),
            Duration::hours(1),
            "never above the cap"
        );
        assert_eq!(p.retry_delay(u32::MAX, 0.0), Duration::hours(1));
    }

    #[test]
    fn warnings_come_once_each_at_72_24_and_1_hours() {
        let p = RefreshPolicy::default();
        let mut given = WarningsGiven::default();
        let at = |left: Duration| expires() - left;
        assert_eq!(
            p.take_warning(expires(), at(Duration::hours(80)), &mut given),
            None
        );
        let w = p
            .take_warning(expires(), at(Duration::hours(72)), &mut given)
            .unwrap();
        assert_eq!(w.before, Duration::hours(72));
        assert_eq!(
            p.take_warning(expires(), at(Duration::hours(71)), &mut given),
            None,
            "given once"
        );
        let w = p
            .take_warning(expires(), at(Duration::hours(23)), &mut given)
            .unwrap();
        assert_eq!(
            (w.before, w.left),
            (Duration::hours(24), Duration::hours(23))
        );
        let w = p
            .take_warning(expires(), at(Duration::minutes(30)), &mut given)
            .unwrap();
        assert_eq!(w.before, Duration::hours(1));
        assert_eq!(
            p.take_warning(expires(), at(Duration::minutes(10)), &mut given),
            None
        );
        assert_eq!(
            p.take_warning(expires(), expires(), &mut given),
            None,
            "none once expired"
        );
    }

    #[test]
    fn a_machine_that_slept_past_two_thresholds_gets_one_warning() {
        let p = RefreshPolicy::default();
        let mut given = WarningsGiven::default();
        let w = p
            .take_warning(expires(), expires() - Duration::hours(20), &mut given)
            .unwrap();
        assert_eq!(w.before, Duration::hours(24));
        assert_eq!(
            p.take_warning(expires(), expires() - Duration::hours(19), &mut given),
            None
        );
    }

    #[test]
    fn a_new_file_starts_the_warnings_afresh() {
        let p = RefreshPolicy::default();
        let mut given = WarningsGiven::default();
        assert!(
            p.take_warning(expires(), expires() - Duration::hours(2), &mut given)
                .is_some()
        );
        let later = expires() + Duration::days(7);
        assert!(
            p.take_warning(later, later - Duration::hours(2), &mut given)
                .is_some()
        );
    }

    #[test]
    fn next_warning_is_the_nearest_future_threshold() {
        let p = RefreshPolicy::default();
        assert_eq!(
            p.next_warning_at(expires(), ISSUED),
            Some(expires() - Duration::hours(72))
        );
        assert_eq!(
            p.next_warning_at(expires(), expires() - Duration::hours(30)),
            Some(expires() - Duration::hours(24))
        );
        assert_eq!(
            p.next_warning_at(expires(), expires() - Duration::minutes(30)),
            None
        );
    }
}

//! The licence state model: one pure function, [`evaluate`], from what the machine holds to
//! the `state` the companion reports, and the [`RefreshRecord`] kept between refreshes.
//!
//! | condition, first match wins | state | entitled |
//! |---|---|---|
//! | no licence file | `unlicensed` | no |
//! | a cached file failed verification | `invalid` | no |
//! | signed status suspended / revoked / expired | `suspended` / `revoked` / `license_expired` | no |
//! | clock turned back (see [`ClockGuard`]) | `clock_tampered` | no |
//! | the licence's expiry date passed | `license_expired` | no |
//! | now ≥ the file's `expires_at` | `offline_expired` | no |
//! | now ≥ the file's refresh point, not yet refreshed | `grace` | yes |
//! | otherwise | `active` | yes |
//!
//! The signed status comes first so that a revoked licence says "revoked", not "clock
//! problem". Offline time is always counted from the signed `issued_at`/`expires_at`.

use licentric_proto::LicenseState;
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::clock::ClockGuard;
use crate::license_file::{VerifiedLicense, VerifyError};
use crate::refresh::RefreshPolicy;

/// The licence file the machine holds.
#[derive(Debug, Clone, Copy)]
pub enum Cached<'a> {
    /// None: never activated, or deactivated.
    None,
    /// A file is there but failed verification; the stable code says why.
    Invalid(&'static str),
    /// A verified file.
    Verified(&'a VerifiedLicense),
}

/// The refresh history of the current file, kept in the sealed state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshRecord {
    /// The last successful contact with the server.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_refresh_at: Option<OffsetDateTime>,
    /// The current file's (jittered) refresh point; past it, the state is `grace`.
    #[serde(with = "time::serde::rfc3339::option")]
    pub refresh_due_at: Option<OffsetDateTime>,
    /// When the agent will next try (the refresh point, or a back-off after a failure).
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_attempt_at: Option<OffsetDateTime>,
    /// Failures since the last success.
    pub consecutive_failures: u32,
    /// The stable code of the last failure (`network_unavailable`, …).
    pub last_failure: Option<String>,
}

impl RefreshRecord {
    /// A new file was installed: schedule its refresh. `online` says whether it came from
    /// the server just now (an imported file does not count as contact).
    pub fn installed(
        &mut self,
        file: &VerifiedLicense,
        now: OffsetDateTime,
        online: bool,
        policy: &RefreshPolicy,
        jitter: f64,
    ) {
        let p = file.payload();
        let due = policy.refresh_at(p.issued_at, p.expires_at, jitter);
        self.refresh_due_at = Some(due);
        self.next_attempt_at = Some(due.max(now));
        if online {
            self.last_refresh_at = Some(now);
            self.consecutive_failures = 0;
            self.last_failure = None;
        }
    }

    /// A call that may have changed this machine on the server did not finish (a
    /// deactivation the user stopped waiting for, or whose answer never came): the agent asks
    /// the server again no later than `at`, so that what it did is known then rather than at
    /// the refresh point. Not a failure: nothing else changes.
    pub fn check_by(&mut self, at: OffsetDateTime) {
        self.next_attempt_at = Some(self.next_attempt_at.map_or(at, |next| next.min(at)));
    }

    /// A refresh failed with the stable `code`: back off.
    pub fn failed(&mut self, code: &str, now: OffsetDateTime, policy: &RefreshPolicy, jitter: f64) {
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        self.last_failure = Some(code.to_owned());
        self.next_attempt_at = Some(now + policy.retry_delay(self.consecutive_failures, jitter));
    }
}

/// The outcome of [`evaluate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    /// The state.
    pub state: LicenseState,
    /// Whether the product may be used.
    pub entitled: bool,
    /// A stable code saying why, where there is one.
    pub reason: Option<String>,
    /// The end of the offline period (the signed `expires_at`).
    pub offline_valid_until: Option<OffsetDateTime>,
    /// The next moment the state changes by the passing of time alone (grace starts, the
    /// offline period ends, the licence expires): the agent's timer, so it never polls.
    pub next_change_at: Option<OffsetDateTime>,
}

impl Evaluation {
    fn new(state: LicenseState, reason: Option<String>) -> Evaluation {
        Evaluation {
            state,
            entitled: state.is_entitled(),
            reason,
            offline_valid_until: None,
            next_change_at: None,
        }
    }
}

/// The licence state now.
pub fn evaluate(
    cached: Cached<'_>,
    now: OffsetDateTime,
    record: &RefreshRecord,
    guard: &ClockGuard,
    policy: &RefreshPolicy,
) -> Evaluation {
    let file = match cached {
        Cached::None => return Evaluation::new(LicenseState::Unlicensed, None),
        Cached::Invalid(code) => {
            return Evaluation::new(LicenseState::Invalid, Some(code.to_owned()));
        }
        Cached::Verified(file) => file,
    };
    let p = file.payload();
    let with_file = |state, reason: Option<String>, next: Option<OffsetDateTime>| Evaluation {
        offline_valid_until: Some(p.expires_at),
        next_change_at: next,
        ..Evaluation::new(state, reason)
    };
    let code = |e: VerifyError| Some(e.code().to_owned());

    if let Err(e) = file.check_status() {
        let state = match e {
            VerifyError::LicenseSuspended => LicenseState::Suspended,
            VerifyError::LicenseRevoked => LicenseState::Revoked,
            _ => LicenseState::LicenseExpired,
        };
        return with_file(state, code(e), None);
    }
    if guard.is_tampered_at(now) {
        return with_file(
            LicenseState::ClockTampered,
            code(VerifyError::ClockTampered),
            None,
        );
    }
    if let Err(e) = file.check_license_expiry(now) {
        return with_file(LicenseState::LicenseExpired, code(e), None);
    }
    if now >= p.expires_at {
        let reason = record.last_failure.clone().or_else(|| {
            code(VerifyError::FileExpired {
                expires_at: p.expires_at,
            })
        });
        return with_file(LicenseState::OfflineExpired, reason, None);
    }

    let due = record
        .refresh_due_at
        .filter(|d| (p.issued_at..=p.expires_at).contains(d))
        .unwrap_or_else(|| policy.nominal_refresh_at(p.issued_at, p.expires_at));
    let ends = [Some(p.expires_at), p.license_expires_at]
        .into_iter()
        .flatten()
        .min();
    if now >= due {
        let reason = Some(
            record
                .last_failure
                .clone()
                .unwrap_or_else(|| "refresh_overdue".to_owned()),
        );
        return with_file(LicenseState::Grace, reason, ends);
    }
    let next = [Some(due), ends].into_iter().flatten().min();
    // Still active, but say so when the last attempt to reach the server failed: the user is
    // offline now, on the signed file's time.
    with_file(LicenseState::Active, record.last_failure.clone(), next)
}

/// Time left until the offline period ends, never negative.
pub fn offline_time_left(file: &VerifiedLicense, now: OffsetDateTime) -> Duration {
    (file.payload().expires_at - now).max(Duration::ZERO)
}

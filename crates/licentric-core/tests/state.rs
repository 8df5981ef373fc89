//! The licence state model over the life of a file.

use licentric_core::VerifiedLicense;
use licentric_core::clock::ClockGuard;
use licentric_core::refresh::RefreshPolicy;
use licentric_core::state::{Cached, RefreshRecord, evaluate, offline_time_left};
use licentric_proto::{LicenseState, LicenseStatus};
use time::{Duration, OffsetDateTime};

use crate::fixture::{Fixture, NOW};

fn verified(
    fx: &Fixture,
    edit: impl FnOnce(&mut licentric_core::license_file::LicensePayload),
) -> VerifiedLicense {
    let mut p = fx.payload();
    edit(&mut p);
    fx.verifier.verify(&fx.sign(&p), &fx.expect(), NOW).unwrap()
}

fn state_at(
    file: &VerifiedLicense,
    at: OffsetDateTime,
    record: &RefreshRecord,
    guard: &ClockGuard,
) -> (LicenseState, bool, Option<String>) {
    let e = evaluate(
        Cached::Verified(file),
        at,
        record,
        guard,
        &RefreshPolicy::default(),
    );
    (e.state, e.entitled, e.reason)
}

#[test]
fn nothing_cached_is_unlicensed_and_a_bad_file_is_invalid() {
    let policy = RefreshPolicy::default();
    let e = evaluate(
        Cached::None,
        NOW,
        &RefreshRecord::default(),
        &ClockGuard::new(),
        &policy,
    );
    assert_eq!((e.state, e.entitled), (LicenseState::Unlicensed, false));
    let e = evaluate(
        Cached::Invalid("signature_invalid"),
        NOW,
        &RefreshRecord::default(),
        &ClockGuard::new(),
        &policy,
    );
    assert_eq!(
        (e.state, e.entitled, e.reason.as_deref()),
        (LicenseState::Invalid, false, Some("signature_invalid"))
    );
}

#[test]
fn active_then_grace_then_offline_expired() {
    let fx = Fixture::new();
    let file = verified(&fx, |_| {});
    let issued = file.payload().issued_at;
    let mut record = RefreshRecord::default();
    record.installed(&file, issued, true, &RefreshPolicy::default(), 0.0);
    let guard = ClockGuard::new();

    let (state, entitled, _) = state_at(&file, issued + Duration::days(6), &record, &guard);
    assert_eq!((state, entitled), (LicenseState::Active, true));

    record.failed(
        "network_unavailable",
        issued + Duration::days(7),
        &RefreshPolicy::default(),
        0.0,
    );
    let (state, entitled, reason) = state_at(
        &file,
        issued + Duration::days(7) + Duration::minutes(1),
        &record,
        &guard,
    );
    assert_eq!(
        (state, entitled, reason.as_deref()),
        (LicenseState::Grace, true, Some("network_unavailable"))
    );

    let (state, entitled, _) = state_at(&file, issued + Duration::days(14), &record, &guard);
    assert_eq!((state, entitled), (LicenseState::OfflineExpired, false));
    assert_eq!(
        offline_time_left(&file, issued + Duration::days(20)),
        Duration::ZERO
    );
    assert_eq!(
        offline_time_left(&file, issued + Duration::days(13)),
        Duration::days(1)
    );
}

#[test]
fn active_says_when_the_last_attempt_to_reach_the_server_failed() {
    let fx = Fixture::new();
    let file = verified(&fx, |_| {});
    let issued = file.payload().issued_at;
    let policy = RefreshPolicy::default();
    let mut record = RefreshRecord::default();
    record.installed(&file, issued, true, &policy, 0.0);
    let guard = ClockGuard::new();
    let at = issued + Duration::days(1);
    assert_eq!(
        state_at(&file, at, &record, &guard),
        (LicenseState::Active, true, None),
        "online: no reason"
    );
    record.failed("network_unavailable", at, &policy, 0.0);
    assert_eq!(
        state_at(&file, at, &record, &guard),
        (
            LicenseState::Active,
            true,
            Some("network_unavailable".into())
        ),
        "a failed refresh before the refresh point: still active, offline now"
    );
    record.installed(&file, at, true, &policy, 0.0);
    assert_eq!(
        state_at(&file, at, &record, &guard).2,
        None,
        "a later success clears it"
    );
}

#[test]
fn a_call_that_did_not_finish_brings_the_next_contact_forward_and_changes_nothing_else() {
    let fx = Fixture::new();
    let file = verified(&fx, |_| {});
    let issued = file.payload().issued_at;
    let policy = RefreshPolicy::default();
    let mut record = RefreshRecord::default();
    record.installed(&file, issued, true, &policy, 0.0);
    let due = record.next_attempt_at.unwrap();
    let soon = issued + Duration::minutes(1);
    assert!(soon < due);
    let before = record.clone();
    record.check_by(soon);
    assert_eq!(record.next_attempt_at, Some(soon), "brought forward");
    assert_eq!(
        RefreshRecord {
            next_attempt_at: before.next_attempt_at,
            ..record.clone()
        },
        before,
        "not a failure: nothing else changes"
    );
    record.check_by(due + Duration::days(1));
    assert_eq!(record.next_attempt_at, Some(soon), "never put off");
    let guard = ClockGuard::new();
    assert_eq!(
        state_at(&file, soon, &record, &guard),
        (LicenseState::Active, true, None)
    );
}

#[test]
fn the_jittered_refresh_point_decides_grace() {
    let fx = Fixture::new();
    let file = verified(&fx, |_| {});
    let issued = file.payload().issued_at;
    let mut record = RefreshRecord::default();
    record.installed(&file, issued, true, &RefreshPolicy::default(), 1.0); // +10 %: day 7.7
    let guard = ClockGuard::new();
    assert_eq!(
        state_at(
            &file,
            issued + Duration::days(7) + Duration::hours(12),
            &record,
            &guard
        )
        .0,
        LicenseState::Active
    );
    assert_eq!(
        state_at(&file, issued + Duration::days(8), &record, &guard).0,
        LicenseState::Grace
    );
    // A back-off after a failure does not move the refresh point: still grace.
    record.failed(
        "server_unavailable",
        issued + Duration::days(8),
        &RefreshPolicy::default(),
        0.0,
    );
    assert_eq!(
        record.next_attempt_at,
        Some(issued + Duration::days(8) + Duration::minutes(1))
    );
    assert_eq!(
        state_at(&file, issued + Duration::days(8), &record, &guard).0,
        LicenseState::Grace
    );
}

#[test]
fn signed_status_wins_over_everything_else() {
    let fx = Fixture::new();
    let mut guard = ClockGuard::new();
    guard.observe(NOW + Duration::days(30)); // the clock is also turned back
    for (status, state) in [
        (LicenseStatus::Suspended, LicenseState::Suspended),
        (LicenseStatus::Revoked, LicenseState::Revoked),
        (LicenseStatus::Expired, LicenseState::LicenseExpired),
    ] {
        let file = verified(&fx, |p| p.status = status);
        let (got, entitled, _) = state_at(&file, NOW, &RefreshRecord::default(), &guard);
        assert_eq!((got, entitled), (state, false));
    }
}

#[test]
fn clock_turned_back_is_clock_tampered_until_an_online_refresh() {
    let fx = Fixture::new();
    let file = verified(&fx, |_| {});
    let mut guard = ClockGuard::new();
    guard.observe(NOW);
    guard.observe(NOW - Duration::days(3));
    let record = RefreshRecord::default();
    let (state, entitled, reason) = state_at(&file, NOW, &record, &guard);
    assert_eq!(
        (state, entitled, reason.as_deref()),
        (LicenseState::ClockTampered, false, Some("clock_tampered"))
    );
    guard.online_refresh_succeeded(NOW, file.payload().issued_at);
    assert_eq!(
        state_at(&file, NOW, &record, &guard).0,
        LicenseState::Active
    );
}

#[test]
fn licence_expiry_date() {
    let fx = Fixture::new();
    let file = verified(&fx, |p| {
        p.license_expires_at = Some(NOW + Duration::hours(1))
    });
    let guard = ClockGuard::new();
    assert_eq!(
        state_at(&file, NOW, &RefreshRecord::default(), &guard).0,
        LicenseState::Active
    );
    let (state, _, reason) = state_at(
        &file,
        NOW + Duration::hours(1),
        &RefreshRecord::default(),
        &guard,
    );
    assert_eq!(
        (state, reason.as_deref()),
        (LicenseState::LicenseExpired, Some("license_expiry_reached"))
    );
}

#[test]
fn next_change_is_the_nearest_time_boundary() {
    let fx = Fixture::new();
    let file = verified(&fx, |p| p.license_expires_at = None);
    let p = file.payload().clone();
    let mut record = RefreshRecord::default();
    record.installed(&file, p.issued_at, true, &RefreshPolicy::default(), 0.0);
    let policy = RefreshPolicy::default();
    let guard = ClockGuard::new();
    let e = evaluate(Cached::Verified(&file), NOW, &record, &guard, &policy);
    assert_eq!(
        e.next_change_at,
        Some(p.issued_at + Duration::days(7)),
        "active: the refresh point"
    );
    assert_eq!(e.offline_valid_until, Some(p.expires_at));
    let e = evaluate(
        Cached::Verified(&file),
        p.issued_at + Duration::days(8),
        &record,
        &guard,
        &policy,
    );
    assert_eq!(
        e.next_change_at,
        Some(p.expires_at),
        "grace: the end of the offline period"
    );
    let e = evaluate(
        Cached::Verified(&file),
        p.expires_at,
        &record,
        &guard,
        &policy,
    );
    assert_eq!(
        e.next_change_at, None,
        "offline expired: nothing more happens by itself"
    );
}

//! The trust rules of `licentric_core::memory`, driven with chosen times: no test waits for
//! time to pass. Each attack of the trust issue has its rule tested here in milliseconds; the
//! end-to-end tests (tests/e2e/trust.rs) try the same attacks with real parts.

use licentric_core::VerifiedLicense;
use licentric_core::memory::{
    Anchor, Found, ImportRefusal, MARK_STEP, MAX_PENDING_REQUESTS, Memory, PENDING_LIFETIME,
    STATE_LOST,
};
use licentric_core::refresh::RefreshPolicy;
use licentric_core::state::Cached;
use licentric_core::statement::{StatementKind, StatementPayload};
use licentric_proto::{Environment, LicenseState};
use time::{Duration, OffsetDateTime};

use crate::fixture::{Fixture, NOW, PRODUCT};

fn file(fx: &Fixture, issued_at: OffsetDateTime, nonce: Option<&str>) -> VerifiedLicense {
    let mut p = fx.payload();
    p.issued_at = issued_at;
    p.expires_at = issued_at + Duration::days(14);
    p.nonce = nonce.map(str::to_owned);
    fx.verifier.verify(&fx.sign(&p), &fx.expect(), NOW).unwrap()
}

fn state(
    memory: &Memory,
    file: Option<&VerifiedLicense>,
    at: OffsetDateTime,
) -> (LicenseState, bool, Option<String>) {
    let cached = file.map_or(Cached::None, Cached::Verified);
    let e = memory.evaluate(cached, at, &RefreshPolicy::default(), true);
    (e.state, e.entitled, e.reason)
}

/// A file saying the licence is suspended, issued at `NOW`.
fn suspended(fx: &Fixture) -> VerifiedLicense {
    let mut p = fx.payload();
    p.status = licentric_proto::LicenseStatus::Suspended;
    p.issued_at = NOW;
    p.expires_at = NOW + Duration::days(14);
    p.nonce = Some("s".into());
    fx.verifier.verify(&fx.sign(&p), &fx.expect(), NOW).unwrap()
}

/// A memory that accepted `f` online at `at`, as a running agent's would be.
fn online(f: &VerifiedLicense, at: OffsetDateTime) -> Memory {
    let mut m = Memory::default();
    m.accepted_online(f, at, Some(1), &RefreshPolicy::default(), 0.0);
    m
}

/// The anchor the credential store would hold for `m`.
fn anchor_of(m: &Memory) -> Option<Anchor> {
    m.anchor()
}

#[test]
fn an_intact_state_vouches_for_its_own_file() {
    let fx = Fixture::new();
    let f = file(&fx, NOW - Duration::days(1), Some("n"));
    let m = online(&f, NOW - Duration::days(1));
    let restored = Memory::restore(Found::Intact(m.clone()), anchor_of(&m), Some(&f), NOW);
    assert_eq!(
        state(&restored, Some(&f), NOW),
        (LicenseState::Active, true, None)
    );
}

#[test]
fn a_lost_state_is_not_a_fresh_start() {
    let fx = Fixture::new();
    let f = file(&fx, NOW - Duration::days(1), Some("n"));
    // Deleted, edited, unreadable or its key gone: the agent found nothing it can read.
    let mut m = Memory::restore(Found::Lost, None, Some(&f), NOW);
    assert_eq!(
        state(&m, Some(&f), NOW),
        (LicenseState::ClockTampered, false, Some(STATE_LOST.into())),
        "a file without a state that vouches for it does not entitle"
    );
    // Whatever the clock says, even on the day the file was issued.
    assert!(!state(&m, Some(&f), NOW - Duration::days(1)).1);
    // The doubt survives being saved and restored (the agent saves the fresh state at once).
    let again = Memory::restore(Found::Intact(m.clone()), anchor_of(&m), Some(&f), NOW);
    assert_eq!(again.unconfirmed.as_deref(), Some(STATE_LOST));
    // One fresh signed file from the server clears it.
    let fresh = file(&fx, NOW, Some("n2"));
    m.accepted_online(&fresh, NOW, None, &RefreshPolicy::default(), 0.0);
    assert_eq!(
        state(&m, Some(&fresh), NOW),
        (LicenseState::Active, true, None)
    );
}

#[test]
fn a_state_older_than_the_file_or_without_its_mark_does_not_vouch() {
    let fx = Fixture::new();
    let old = file(&fx, NOW - Duration::days(3), Some("a"));
    let new = file(&fx, NOW - Duration::days(1), Some("b"));
    let m = online(&old, NOW - Duration::days(3));
    // The state kept from before the newer file was accepted, beside the newer file.
    let restored = Memory::restore(Found::Intact(m.clone()), anchor_of(&m), Some(&new), NOW);
    assert_eq!(restored.unconfirmed.as_deref(), Some(STATE_LOST));
    // The credential store's copy of the clock mark deleted.
    let m = online(&new, NOW - Duration::days(1));
    let restored = Memory::restore(Found::Intact(m), None, Some(&new), NOW);
    assert_eq!(restored.unconfirmed.as_deref(), Some(STATE_LOST));
}

#[test]
fn an_old_copy_of_the_data_folder_cannot_turn_the_clock_back() {
    let fx = Fixture::new();
    // The snapshot: a state and its file, both from ten days ago.
    let f = file(&fx, NOW - Duration::days(10), Some("n"));
    let snapshot = online(&f, NOW - Duration::days(10));
    // Since then the agent ran on; the credential store's mark followed the clock.
    let mut later = snapshot.clone();
    later.guard.observe(NOW);
    let mark = later.anchor_to_store(anchor_of(&snapshot)).unwrap();
    // The snapshot restored, the clock set back to its day: the store's mark stands.
    let back = NOW - Duration::days(10) + Duration::hours(1);
    let restored = Memory::restore(Found::Intact(snapshot.clone()), Some(mark), Some(&f), back);
    assert_eq!(mark.mark, NOW.unix_timestamp());
    let (s, entitled, reason) = state(&restored, Some(&f), back);
    assert_eq!(
        (s, entitled, reason.as_deref()),
        (LicenseState::ClockTampered, false, Some("clock_tampered"))
    );
    // Without the store's mark (restoring the credential store as well) it would pass: the
    // honest limit, bounded by the TTL (docs/security.md).
    let both = Memory::restore(
        Found::Intact(snapshot.clone()),
        anchor_of(&snapshot),
        Some(&f),
        back,
    );
    assert!(state(&both, Some(&f), back).1);
}

#[test]
fn the_anchor_is_rewritten_in_steps_and_on_every_new_word() {
    let fx = Fixture::new();
    let f = file(&fx, NOW, Some("n"));
    let mut m = online(&f, NOW);
    let stored = anchor_of(&m);
    assert_eq!(m.anchor_to_store(stored), None, "nothing to write");
    m.guard.observe(NOW + MARK_STEP - Duration::seconds(1));
    assert_eq!(m.anchor_to_store(stored), None, "within a step");
    m.guard.observe(NOW + MARK_STEP);
    let stepped = m.anchor_to_store(stored).unwrap();
    assert_eq!(stepped.mark, (NOW + MARK_STEP).unix_timestamp());
    assert_eq!(m.anchor_to_store(None), anchor_of(&m), "none stored yet");
    // An online refresh restarts the mark from the server's time, lower, with a newer file:
    // written down too.
    m.accepted_online(
        &file(&fx, NOW + Duration::seconds(5), Some("m")),
        NOW,
        None,
        &RefreshPolicy::default(),
        0.0,
    );
    let reset = m.anchor_to_store(Some(stepped)).unwrap();
    assert_eq!(
        reset.newest,
        Some((NOW + Duration::seconds(5)).unix_timestamp())
    );
    assert!(reset.mark < stepped.mark);
}

#[test]
fn an_old_copy_of_the_data_folder_cannot_undo_a_suspension_or_a_deactivation() {
    let fx = Fixture::new();
    // The copy: an active file and its state.
    let active = file(&fx, NOW - Duration::days(1), Some("a"));
    let copy = online(&active, NOW - Duration::days(1));
    // Later, the server signed a suspension (a newer file): the store's anchor knows it.
    let suspended = suspended(&fx);
    let mut now_m = copy.clone();
    now_m.accepted_online(&suspended, NOW, None, &RefreshPolicy::default(), 0.0);
    let anchor = anchor_of(&now_m);
    // The copy put back, the clock honest, offline: the older active file is not vouched for.
    let restored = Memory::restore(Found::Intact(copy.clone()), anchor, Some(&active), NOW);
    assert_eq!(
        state(&restored, Some(&active), NOW),
        (LicenseState::ClockTampered, false, Some(STATE_LOST.into()))
    );
    // Likewise after a signed deactivation.
    let text = fx
        .signer
        .sign_statement(&StatementPayload {
            kind: StatementKind::MachineDeactivated,
            license_id: "lic_01HZX".into(),
            product_id: PRODUCT.into(),
            environment: Environment::Live,
            machine_id: "mach_01HZY".into(),
            fingerprint: fx.fingerprint.as_str().into(),
            issued_at: NOW - Duration::hours(2),
            nonce: "c".into(),
        })
        .unwrap();
    let statement = fx
        .verifier
        .verify_statement(&text, PRODUCT, Environment::Live, &fx.fingerprint, "c")
        .unwrap();
    let mut gone = copy.clone();
    gone.machine_gone(&statement, NOW);
    let restored = Memory::restore(Found::Intact(copy), anchor_of(&gone), Some(&active), NOW);
    assert!(
        !state(&restored, Some(&active), NOW).1,
        "the deactivation stands"
    );
}

/// Attack: put the copy back twice. The first start rewrites the store's anchor from the
/// copy's memory; it must not write it back to the copy's older file, or the second copy put
/// back would be vouched for.
#[test]
fn an_old_copy_put_back_twice_does_not_undo_a_suspension() {
    let fx = Fixture::new();
    let active = file(&fx, NOW - Duration::days(1), Some("a"));
    let copy = online(&active, NOW - Duration::days(1));
    let suspended = suspended(&fx);
    let mut later = copy.clone();
    later.accepted_online(&suspended, NOW, None, &RefreshPolicy::default(), 0.0);
    let stored = anchor_of(&later);
    // First start on the copy: not vouched for, and the anchor written at start keeps the
    // newer file it knew of.
    let first = Memory::restore(Found::Intact(copy.clone()), stored, Some(&active), NOW);
    assert!(!state(&first, Some(&active), NOW).1);
    let rewritten = first.anchor_to_store(stored).or(stored);
    assert_eq!(
        rewritten.map(|a| a.newest),
        stored.map(|a| a.newest),
        "the anchor went back to the copy's file"
    );
    // Second start on the copy again: still not vouched for.
    let second = Memory::restore(Found::Intact(copy), rewritten, Some(&active), NOW);
    assert_eq!(
        state(&second, Some(&active), NOW),
        (LicenseState::ClockTampered, false, Some(STATE_LOST.into()))
    );
}

/// Attack: copy the data folder, deactivate here (the seat is free for another machine), put
/// the copy back. The user's own deactivation stands as the server's would: the copy's file
/// does not count without a fresh one.
#[test]
fn an_old_copy_does_not_undo_a_deactivation_made_here() {
    let fx = Fixture::new();
    let active = file(&fx, NOW - Duration::days(1), Some("a"));
    let copy = online(&active, NOW - Duration::days(1));
    let mut after = copy.clone();
    after.deactivated_here();
    let stored = after.anchor_to_store(anchor_of(&copy));
    assert!(stored.is_some_and(|a| a.gone), "the store is told");
    let restored = Memory::restore(Found::Intact(copy), stored, Some(&active), NOW);
    assert!(
        !state(&restored, Some(&active), NOW).1,
        "the copy brought the licence back"
    );
    // With no file, the status says nothing of a deactivation the user made.
    assert_eq!(state(&after, None, NOW).2, None);
}

/// Attack: an offline machine keeps a copy of its data folder with a request pending, imports
/// the answer, deactivates here (its seat then freed elsewhere with the key), puts the copy
/// back and imports the same answer again. The honest way back — a new request, answered
/// after the deactivation — stays open.
#[test]
fn an_old_copy_cannot_import_again_what_a_deactivation_ended() {
    let fx = Fixture::new();
    let policy = RefreshPolicy::default();
    let mut copy = Memory::default();
    copy.remember_request("req-1", NOW - Duration::days(2));
    let answer = file(&fx, NOW - Duration::days(1), Some("req-1"));
    let mut here = copy.clone();
    here.accept_import(&answer, NOW - Duration::days(1), &policy, 0.0)
        .unwrap();
    let mut after = here.clone();
    after.deactivated_here();
    let stored = after.anchor_to_store(anchor_of(&here)).or(anchor_of(&here));
    let mut restored = Memory::restore(Found::Intact(copy), stored, None, NOW);
    assert_eq!(
        restored.accept_import(&answer, NOW, &policy, 0.0),
        Err(ImportRefusal::OlderThanSeen),
        "the deactivated machine's answer imported again"
    );
    restored.remember_request("req-2", NOW);
    let fresh = file(&fx, NOW, Some("req-2"));
    restored.accept_import(&fresh, NOW, &policy, 0.0).unwrap();
    assert_eq!(
        state(&restored, Some(&fresh), NOW),
        (LicenseState::Active, true, None)
    );
}

/// Attack: an offline machine keeps a copy of its data folder with a request still pending;
/// after a newer file (a suspension) came, it puts the copy back and imports the old answer
/// again. The memory takes the store's newest file at start: the old answer is older.
#[test]
fn an_old_copy_cannot_import_its_old_answer_again() {
    let fx = Fixture::new();
    let policy = RefreshPolicy::default();
    let mut copy = Memory::default();
    copy.remember_request("req-1", NOW - Duration::days(2));
    let answer = file(&fx, NOW - Duration::days(1), Some("req-1"));
    let mut later = copy.clone();
    later
        .accept_import(&answer, NOW - Duration::days(1), &policy, 0.0)
        .unwrap();
    let suspended = suspended(&fx);
    later.accepted_online(&suspended, NOW, None, &policy, 0.0);
    let mut restored = Memory::restore(Found::Intact(copy), anchor_of(&later), None, NOW);
    assert_eq!(
        restored.accept_import(&answer, NOW, &policy, 0.0),
        Err(ImportRefusal::OlderThanSeen)
    );
}

#[test]
fn only_a_file_answering_a_pending_request_is_imported_once() {
    let fx = Fixture::new();
    let policy = RefreshPolicy::default();
    let mut m = Memory::default();
    let answer = file(&fx, NOW, Some("req-1"));
    assert_eq!(
        m.accept_import(&answer, NOW, &policy, 0.0),
        Err(ImportRefusal::NoRequestPending)
    );
    m.remember_request("req-1", NOW - Duration::hours(1));
    let online_file = file(&fx, NOW, Some("activation-nonce"));
    assert_eq!(
        m.accept_import(&online_file, NOW, &policy, 0.0),
        Err(ImportRefusal::NotRequested)
    );
    let out_of_band = file(&fx, NOW, None);
    assert_eq!(
        m.accept_import(&out_of_band, NOW, &policy, 0.0),
        Err(ImportRefusal::NotRequested)
    );
    let before = m.clone();
    m.accept_import(&answer, NOW, &policy, 0.0).unwrap();
    assert_ne!(m, before);
    assert!(m.pending_requests.is_empty(), "one use");
    assert_eq!(
        state(&m, Some(&answer), NOW),
        (LicenseState::Active, true, None)
    );
    assert_eq!(
        m.accept_import(&answer, NOW, &policy, 0.0),
        Err(ImportRefusal::NoRequestPending),
        "the same file again"
    );
    // An answer older than what was accepted is refused, even for a pending request.
    m.remember_request("req-2", NOW);
    let stale = file(&fx, NOW - Duration::days(2), Some("req-2"));
    let unchanged = m.clone();
    assert_eq!(
        m.accept_import(&stale, NOW, &policy, 0.0),
        Err(ImportRefusal::OlderThanSeen)
    );
    assert_eq!(m, unchanged, "a refusal changes nothing");
}

#[test]
fn an_import_answering_a_request_confirms_a_lost_state() {
    let fx = Fixture::new();
    let old = file(&fx, NOW - Duration::days(2), Some("x"));
    let mut m = Memory::restore(Found::Lost, None, Some(&old), NOW);
    assert_eq!(m.unconfirmed.as_deref(), Some(STATE_LOST));
    m.remember_request("req", NOW);
    let answer = file(&fx, NOW, Some("req"));
    m.accept_import(&answer, NOW, &RefreshPolicy::default(), 0.0)
        .unwrap();
    assert_eq!(
        state(&m, Some(&answer), NOW),
        (LicenseState::Active, true, None)
    );
}

/// Requests answered on one trip, kept unimported and imported later with the clock turned
/// back, would each start the offline period again. An import is not the time now: the clock
/// stays found turned back. And an import (or an online refresh) voids the requests made before
/// it, so the answers kept beside it are never imported.
#[test]
fn an_old_answer_imported_with_the_clock_turned_back_does_not_restart_time() {
    let fx = Fixture::new();
    let policy = RefreshPolicy::default();
    let mut m = Memory::default();
    m.remember_request("r1", NOW);
    m.remember_request("beside", NOW);
    let first = file(&fx, NOW, Some("r1"));
    m.accept_import(&first, NOW, &policy, 0.0).unwrap();
    assert_eq!(
        m.accept_import(&file(&fx, NOW, Some("beside")), NOW, &policy, 0.0),
        Err(ImportRefusal::NoRequestPending),
        "a request made before the import is void"
    );
    // A request made after it, answered on the same trip, kept for later.
    m.remember_request("r2", NOW);
    let second = file(&fx, NOW, Some("r2"));
    let later = NOW + Duration::days(13);
    m.guard.observe(later);
    assert!(state(&m, Some(&first), later).1);
    let back = NOW + Duration::minutes(1);
    assert_eq!(state(&m, Some(&first), back).0, LicenseState::ClockTampered);
    m.accept_import(&second, back, &policy, 0.0).unwrap();
    assert_eq!(
        state(&m, Some(&second), back),
        (
            LicenseState::ClockTampered,
            false,
            Some("clock_tampered".into())
        )
    );
    assert_eq!(m.guard.high_water(), Some(later), "the time seen is kept");
    // An online refresh voids the requests made before it too.
    m.remember_request("r3", later);
    m.accepted_online(&file(&fx, NOW, Some("n")), later, None, &policy, 0.0);
    assert!(m.pending_requests.is_empty());
}

/// A machine with no network whose clock once ran ahead (and was put right) is not locked
/// out: the answer to a request made since forgives the mark what it ran ahead.
#[test]
fn a_clock_once_ahead_is_forgiven_by_the_answer_to_a_request_made_since() {
    let fx = Fixture::new();
    let mut m = Memory::default();
    m.remember_request("r1", NOW);
    let first = file(&fx, NOW, Some("r1"));
    let policy = RefreshPolicy::default();
    m.accept_import(&first, NOW, &policy, 0.0).unwrap();
    m.guard.observe(NOW + Duration::days(400));
    let right = NOW + Duration::hours(2);
    assert_eq!(
        state(&m, Some(&first), right).0,
        LicenseState::ClockTampered
    );
    m.remember_request("r2", right);
    let mut p = fx.payload();
    p.issued_at = NOW + Duration::hours(3);
    p.expires_at = p.issued_at + Duration::days(14);
    p.nonce = Some("r2".into());
    let at = NOW + Duration::hours(4);
    let answer = fx.verifier.verify(&fx.sign(&p), &fx.expect(), at).unwrap();
    m.accept_import(&answer, at, &policy, 0.0).unwrap();
    assert_eq!(
        state(&m, Some(&answer), at),
        (LicenseState::Active, true, None)
    );
}

#[test]
fn pending_requests_are_bounded_and_expire() {
    let mut m = Memory::default();
    for i in 0..(MAX_PENDING_REQUESTS + 3) {
        m.remember_request(&format!("r{i}"), NOW);
    }
    assert_eq!(m.pending_requests.len(), MAX_PENDING_REQUESTS);
    assert_eq!(m.pending_requests[0].nonce, "r3", "the oldest go first");
    m.remember_request("late", NOW + PENDING_LIFETIME + Duration::seconds(1));
    assert_eq!(m.pending_requests.len(), 1, "stale requests are forgotten");
}

#[test]
fn a_signed_deactivation_ends_entitlement_and_stops_automatic_seats() {
    let fx = Fixture::new();
    let f = file(&fx, NOW - Duration::days(1), Some("n"));
    let mut m = online(&f, NOW - Duration::days(1));
    let text = fx
        .signer
        .sign_statement(&StatementPayload {
            kind: StatementKind::MachineDeactivated,
            license_id: "lic_01HZX".into(),
            product_id: PRODUCT.into(),
            environment: Environment::Live,
            machine_id: "mach_01HZY".into(),
            fingerprint: fx.fingerprint.as_str().into(),
            issued_at: NOW,
            nonce: "c1".into(),
        })
        .unwrap();
    let statement = fx
        .verifier
        .verify_statement(&text, PRODUCT, Environment::Live, &fx.fingerprint, "c1")
        .unwrap();
    m.machine_gone(&statement, NOW);
    assert!(m.machine_is_gone());
    // The agent sets the file aside: nothing cached.
    assert_eq!(
        state(&m, None, NOW),
        (
            LicenseState::Unlicensed,
            false,
            Some("machine_deactivated".into())
        )
    );
    // The user activates again: a fresh file, and the machine is back.
    let back = file(&fx, NOW + Duration::minutes(1), Some("a"));
    m.accepted_online(
        &back,
        NOW + Duration::minutes(1),
        Some(1),
        &RefreshPolicy::default(),
        0.0,
    );
    assert!(!m.machine_is_gone());
    assert_eq!(
        state(&m, Some(&back), NOW + Duration::minutes(1)).0,
        LicenseState::Active
    );
}

#[test]
fn a_state_written_before_these_rules_still_reads() {
    // A sealed state body of the previous version: the new fields default.
    let old = r#"{"machine_id":"mach_1","key_hint":null,"record":{"last_refresh_at":null,"refresh_due_at":null,"next_attempt_at":null,"consecutive_failures":0,"last_failure":null},"guard":{"high_water":0,"tampered":false},"warnings":{"expires_at":0,"given":[]},"last_state":"active","machines_active":1}"#;
    let m: Memory = serde_json::from_str(old).unwrap();
    assert_eq!((m.newest_issued_at, m.unconfirmed), (None, None));
}

#[test]
fn a_routine_renewal_is_not_a_false_grace() {
    let fx = Fixture::new();
    let f = file(&fx, NOW, Some("n"));
    let mut m = online(&f, NOW);
    let past_due = NOW + Duration::days(8);
    let e = |m: &Memory, can: bool| {
        let e = m.evaluate(
            Cached::Verified(&f),
            past_due,
            &RefreshPolicy::default(),
            can,
        );
        (e.state, e.entitled)
    };
    assert_eq!(
        e(&m, true),
        (LicenseState::Active, true),
        "the renewal is under way"
    );
    assert_eq!(
        e(&m, false),
        (LicenseState::Grace, true),
        "no key here (activated offline): the refresh is overdue"
    );
    m.record.failed(
        "network_unavailable",
        past_due,
        &RefreshPolicy::default(),
        0.0,
    );
    assert_eq!(
        e(&m, true),
        (LicenseState::Grace, true),
        "an attempt failed: grace"
    );
}

#[test]
fn a_suspended_licence_is_asked_about_again_within_the_hour() {
    let fx = Fixture::new();
    let mut p = fx.payload();
    p.status = licentric_proto::LicenseStatus::Suspended;
    p.issued_at = NOW;
    p.expires_at = NOW + Duration::days(14);
    let suspended = fx.verifier.verify(&fx.sign(&p), &fx.expect(), NOW).unwrap();
    let m = online(&suspended, NOW);
    assert_eq!(
        m.record.next_attempt_at,
        Some(NOW + licentric_core::memory::RECHECK_NOT_ACTIVE),
        "a reinstatement reaches the machine within the hour"
    );
    let f = file(&fx, NOW, Some("n"));
    let m = online(&f, NOW);
    assert_eq!(
        m.record.next_attempt_at,
        Some(NOW + Duration::days(7)),
        "active: half the TTL"
    );
}

/// A lease borrowed at `issued` for `days`, answering `nonce`, verified as the agent does.
fn borrowed_lease(
    fx: &Fixture,
    issued: OffsetDateTime,
    days: i64,
    nonce: &str,
    borrowed: bool,
) -> licentric_core::VerifiedLease {
    let payload = licentric_core::LeasePayload {
        lease_id: "lease_1".into(),
        license_id: "lic_01HZX".into(),
        product_id: PRODUCT.into(),
        environment: Environment::Live,
        fingerprint: fx.fingerprint.as_str().into(),
        label: None,
        entitlements: vec!["pro".into()],
        max_seats: 3,
        issued_at: issued,
        expires_at: issued + Duration::days(days),
        nonce: nonce.into(),
        borrowed,
        per_process: false,
        kept_to_end: false,
    };
    let text = fx.signer.sign_lease(&payload).unwrap();
    fx.verifier
        .verify_lease(
            &text,
            PRODUCT,
            Environment::Live,
            &fx.fingerprint,
            nonce,
            None,
        )
        .unwrap()
}

#[test]
fn a_borrowed_seat_holds_to_its_signed_end_and_no_further() {
    let fx = Fixture::new();
    let lease = borrowed_lease(&fx, NOW, 7, "b1", true);
    let mut m = Memory::default();
    m.guard.observe(NOW);
    m.borrow(&lease, "secret", "b1", NOW);
    let anchor = anchor_of(&m);
    assert!(
        anchor.unwrap().borrow.is_some(),
        "the anchor knows the borrow"
    );
    // Restarted during the trip, offline: still held.
    let later = NOW + Duration::days(3);
    let restored = Memory::restore(Found::Intact(m.clone()), anchor, None, later);
    assert!(
        restored
            .borrowed_seat(&fx.verifier, &fx.expect(), later, Duration::ZERO)
            .is_some()
    );
    // Not at its end, and not with the clock turned back once the end was seen.
    let end = NOW + Duration::days(7);
    assert!(
        restored
            .borrowed_seat(&fx.verifier, &fx.expect(), end, Duration::ZERO)
            .is_none()
    );
    let mut seen_end = restored.clone();
    seen_end.guard.observe(end + Duration::minutes(5));
    assert!(
        seen_end
            .borrowed_seat(&fx.verifier, &fx.expect(), later, Duration::ZERO)
            .is_none(),
        "a clock turned back to the trip's middle does not bring the seat back"
    );
    // Another machine's copy of the state does not hold it.
    let other = licentric_core::MachineId::new("feedfacefeedfacefeedfacefeedface", "t")
        .unwrap()
        .fingerprint(PRODUCT);
    let elsewhere = licentric_core::Expectations {
        fingerprint: &other,
        ..fx.expect()
    };
    assert!(
        restored
            .borrowed_seat(&fx.verifier, &elsewhere, later, Duration::ZERO)
            .is_none()
    );
}

#[test]
fn a_returned_borrow_does_not_come_back_with_an_old_copy_of_the_data_folder() {
    let fx = Fixture::new();
    let lease = borrowed_lease(&fx, NOW, 7, "b1", true);
    let mut m = Memory::default();
    m.guard.observe(NOW);
    m.borrow(&lease, "secret", "b1", NOW);
    let copy = m.clone();
    // Returned: the anchor in the credential store no longer knows a borrow.
    m.borrowed = None;
    let anchor = anchor_of(&m);
    assert_eq!(anchor.unwrap().borrow, None);
    assert!(
        m.anchor_to_store(anchor_of(&copy)).is_some(),
        "the return is written at once"
    );
    let later = NOW + Duration::days(1);
    let restored = Memory::restore(Found::Intact(copy.clone()), anchor, None, later);
    assert!(restored.borrowed.is_none());
    assert!(
        restored
            .borrowed_seat(&fx.verifier, &fx.expect(), later, Duration::ZERO)
            .is_none()
    );
    // Nor with no anchor at all (the credential store's copy deleted).
    let restored = Memory::restore(Found::Intact(copy.clone()), None, None, later);
    assert!(restored.borrowed.is_none());

    // A copy running beside the original reads the anchor again: the original's return, or
    // the anchor deleted, is no longer its borrow's; its own anchor still is.
    assert!(copy.borrow_anchored_in(anchor_of(&copy).as_ref()));
    assert!(!copy.borrow_anchored_in(anchor.as_ref()));
    assert!(!copy.borrow_anchored_in(None));
    assert!(
        m.borrow_anchored_in(None),
        "nothing borrowed, nothing to vouch for"
    );
}

#[test]
fn only_a_borrowed_lease_kept_as_it_came_counts_as_borrowed() {
    let fx = Fixture::new();
    // An ordinary lease kept as if it were borrowed: refused.
    let ordinary = borrowed_lease(&fx, NOW, 1, "o1", false);
    let mut m = Memory::default();
    m.borrow(&ordinary, "secret", "o1", NOW);
    assert!(
        m.borrowed_seat(&fx.verifier, &fx.expect(), NOW, Duration::ZERO)
            .is_none()
    );
    // A borrowed lease kept with another request's nonce (a replay), or edited: refused.
    let lease = borrowed_lease(&fx, NOW, 7, "b1", true);
    let mut m = Memory::default();
    m.borrow(&lease, "secret", "b1", NOW);
    let mut replayed = m.clone();
    replayed.borrowed.as_mut().unwrap().nonce = "b2".into();
    assert!(
        replayed
            .borrowed_seat(&fx.verifier, &fx.expect(), NOW, Duration::ZERO)
            .is_none()
    );
    let mut edited = m.clone();
    let kept = edited.borrowed.as_mut().unwrap();
    // One character of the signed body changed (the armour left as it is).
    let mut lines: Vec<String> = kept.lease_file.lines().map(str::to_owned).collect();
    let body = &mut lines[1];
    let flipped = if body.ends_with('A') { 'B' } else { 'A' };
    body.pop();
    body.push(flipped);
    kept.lease_file = lines.join("\n");
    assert!(
        edited
            .borrowed_seat(&fx.verifier, &fx.expect(), NOW, Duration::ZERO)
            .is_none()
    );
    assert!(
        m.borrowed_seat(&fx.verifier, &fx.expect(), NOW, Duration::ZERO)
            .is_some()
    );
}

#[test]
fn each_start_charges_a_borrowed_seat_the_mark_step() {
    let fx = Fixture::new();
    let lease = borrowed_lease(&fx, NOW, 1, "b1", true);
    let mut m = Memory::default();
    m.borrow(&lease, "secret", "b1", NOW);
    let end = NOW + Duration::days(1);
    // The mark saved a few seconds before the end; the clock turned back to it at a restart:
    // what the mark's step may hide is charged, so the seat has ended.
    m.guard.observe(end - Duration::seconds(30));
    let at_start = licentric_core::memory::BORROW_MARK_STEP;
    let restart = end - Duration::seconds(30);
    assert!(
        m.borrowed_seat(&fx.verifier, &fx.expect(), restart, Duration::ZERO)
            .is_some()
    );
    assert!(
        m.borrowed_seat(&fx.verifier, &fx.expect(), restart, at_start)
            .is_none()
    );
    // While a seat is borrowed, the anchor follows the mark at that step.
    let stored = m.anchor();
    m.guard.observe(end - Duration::seconds(30) + at_start);
    assert!(m.anchor_to_store(stored).is_some());
}

#[test]
fn a_borrow_restarts_a_mark_a_wrong_clock_pushed_ahead() {
    let fx = Fixture::new();
    let mut m = Memory::default();
    m.guard.observe(NOW + Duration::days(30)); // the clock was a month ahead once
    let lease = borrowed_lease(&fx, NOW, 7, "b1", true);
    m.borrow(&lease, "secret", "b1", NOW);
    assert!(
        m.borrowed_seat(&fx.verifier, &fx.expect(), NOW, Duration::ZERO)
            .is_some()
    );
}

#[test]
fn a_borrow_not_vouched_for_is_kept_only_to_be_given_back() {
    let fx = Fixture::new();
    let first = borrowed_lease(&fx, NOW, 7, "b1", true);
    let mut m = Memory::default();
    m.guard.observe(NOW);
    m.borrow(&first, "secret", "b1", NOW);
    let copy = m.clone();
    // Borrowed again, shorter, within the same second: another file, another anchor.
    let again = borrowed_lease(&fx, NOW, 1, "b2", true);
    m.borrow(&again, "secret", "b2", NOW);
    assert_ne!(
        anchor_of(&m).unwrap().borrow,
        anchor_of(&copy).unwrap().borrow
    );
    let restored = Memory::restore(Found::Intact(copy), anchor_of(&m), None, NOW);
    assert!(
        restored.borrowed.is_none(),
        "the older, longer borrow is not vouched for"
    );
    assert_eq!(
        restored.held_lease.as_ref().map(|l| l.lease_id.as_str()),
        Some("lease_1"),
        "its lease is kept to be given back"
    );
}

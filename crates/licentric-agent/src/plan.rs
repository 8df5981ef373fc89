//! What the agent decides, as plain code with no I/O: given what it knows ([`Live`]: the
//! sealed memory, the cached file, whether it holds a key) and a time, which [`Status`] that
//! is, what to tell the user, whether to call the server now and when to look again
//! ([`Live::turn`]), and how a failed attempt moves the next one ([`Live::failed`]).
//!
//! The rules themselves (grace, expiry, the clock guard, signed refusals, lost state) live in
//! `licentric_core::memory` and `licentric_core::state`; this module puts them together the
//! way the scheduler uses them. [`crate::agent`] does what it decides — the credential store,
//! the data folder, the API, notifications, timers — and its tests are the only ones that need
//! real parts. The tests below drive every decision with chosen times, in microseconds.

use std::time::Duration;

use licentric_core::VerifiedLicense;
use licentric_core::memory::Memory;
use licentric_core::refresh::RefreshPolicy;
use licentric_core::state::Cached;
use licentric_proto::ipc::Status;
use licentric_proto::{CredentialStoreKind, Environment};
use time::OffsetDateTime;
use zeroize::Zeroizing;

/// How often the agent asks a credential store that did not answer again.
pub const STORE_RETRY: Duration = Duration::from_secs(30);

/// What the agent knows at a moment: plain data, read and written by the agent under one lock.
#[derive(Default)]
pub struct Live {
    /// The licence file it holds, verified.
    pub cached: Option<VerifiedLicense>,
    /// Why the file on disk is not held (`license_invalid`, …), when it is not.
    pub invalid: Option<&'static str>,
    /// The sealed state.
    pub memory: Memory,
    /// The key the sealed state is encrypted with.
    pub state_key: Option<Zeroizing<Vec<u8>>>,
    /// The anchor the credential store holds, as last read or written.
    pub anchor_stored: Option<licentric_core::Anchor>,
    /// Whether the credential store holds a licence key, so the agent can repair from the
    /// server even when its state and file were lost.
    pub has_key: bool,
    /// When the state next changes by the passing of time alone (from the last evaluation).
    pub next_change_at: Option<OffsetDateTime>,
    /// The credential store did not answer when the state was read: the agent reads it
    /// again when the store does.
    pub store_waiting: bool,
    /// A check on use is under way.
    pub checking: bool,
    /// When the last check on use was tried (not kept: a restart may check again at once).
    pub last_check_attempt: Option<OffsetDateTime>,
    /// The seat of a floating licence this machine holds, as the status shows it.
    pub lease: Option<LeaseView>,
    /// Local apps waiting for a seat of the floating licence.
    pub seats_waiting: u32,
}

/// A held seat of a floating licence, as the status shows it (`docs/floating.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseView {
    /// When it runs out unless renewed: never entitled past it, online or not.
    pub expires_at: OffsetDateTime,
    /// Seats held on the licence at the last checkout or renewal.
    pub seats_in_use: u32,
    /// The licence's seats.
    pub max_seats: u32,
    /// The licence's entitlements, as the lease signs them.
    pub entitlements: Vec<String>,
    /// The local apps holding it.
    pub holders: u32,
    /// Borrowed for a trip.
    pub borrowed: bool,
    /// Borrowed where the product keeps borrowed seats to their end: no early return.
    pub kept_to_end: bool,
}

/// Whose status it is: the facts of the configuration that a status carries.
#[derive(Debug, Clone, Copy)]
pub struct Product<'a> {
    /// The product id.
    pub id: &'a str,
    /// The name people read.
    pub name: &'a str,
    /// Test or live.
    pub environment: Environment,
    /// Where the licence key is kept.
    pub store: CredentialStoreKind,
    /// What this system runs in, when not bare hardware.
    pub runs_in: Option<&'a licentric_proto::api::RunsIn>,
}

/// Something to tell the user (a desktop notification).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The headline.
    pub summary: String,
    /// The sentence below it.
    pub body: String,
}

/// One turn of the scheduler: what to publish and tell, whether to call the server now, and
/// when to look again.
#[derive(Debug)]
pub struct Turn {
    /// The status now (published to subscribers when it changed).
    pub status: Status,
    /// What to tell the user, in order.
    pub notices: Vec<Notice>,
    /// Whether a refresh is due now.
    pub refresh_now: bool,
    /// When to look again: the next refresh attempt, state change by time, expiry warning or
    /// credential-store retry, whichever comes first (`None`: nothing planned).
    pub wake_at: Option<OffsetDateTime>,
}

impl Live {
    /// The file as the state rules see it.
    pub fn cached(&self) -> Cached<'_> {
        match (&self.cached, self.invalid) {
            (Some(file), _) => Cached::Verified(file),
            (None, Some(code)) => Cached::Invalid(code),
            (None, None) => Cached::None,
        }
    }

    /// Whether the status may answer apps while a save of the anchor waits on the credential
    /// store (`Agent::asked_status`): a machine's own licence, whose every change by time is
    /// in `next_change_at`. Not a floating licence: its seat's end is kept by the monotonic
    /// clock and its view outside the memory, so a status from before a seat ended (or a
    /// borrow was returned or shortened) could outlive it.
    pub fn answers_while_busy(&self) -> bool {
        !self.memory.floating && self.memory.borrowed.is_none() && self.lease.is_none()
    }

    /// Whether the agent may call the server on its own: a key to call with, and no signed
    /// word that this machine is gone (it never takes a seat again by itself).
    pub fn may_refresh(&self) -> bool {
        self.has_key && !self.memory.server_says_gone()
    }

    /// The status at `now`, and when it next changes by the passing of time alone.
    pub fn status(
        &self,
        product: &Product<'_>,
        now: OffsetDateTime,
        policy: &RefreshPolicy,
    ) -> (Status, Option<OffsetDateTime>) {
        let (status, next, _) = self.status_and_until(product, now, policy);
        (status, next)
    }

    /// As [`status`](Self::status), with the end of the offline period as people read it.
    fn status_and_until(
        &self,
        product: &Product<'_>,
        now: OffsetDateTime,
        policy: &RefreshPolicy,
    ) -> (Status, Option<OffsetDateTime>, Option<String>) {
        if self.memory.floating {
            return self.floating_status(product, now);
        }
        let eval = self
            .memory
            .evaluate(self.cached(), now, policy, self.may_refresh());
        let payload = self.cached.as_ref().map(VerifiedLicense::payload);
        let offline_valid_until = eval.offline_valid_until.and_then(rfc3339);
        // As people read it: until the offline period ends, or the licence itself where it
        // ends first (the window's "days left" says the same).
        let usable_until = match (
            eval.offline_valid_until,
            payload.and_then(|p| p.license_expires_at),
        ) {
            (Some(offline), Some(ends)) => Some(offline.min(ends)),
            (offline, _) => offline,
        };
        let until = usable_until.and_then(readable);
        let words = crate::words::describe(
            eval.state,
            eval.reason.as_deref(),
            product.name,
            until.as_deref(),
            self.activated_offline(),
        );
        let status = Status {
            state: eval.state,
            entitled: eval.entitled,
            product_id: product.id.to_owned(),
            environment: product.environment,
            license_id: payload.map(|p| p.license_id.clone()),
            machine_id: self
                .memory
                .machine_id
                .clone()
                .or_else(|| payload.map(|p| p.machine_id.clone()))
                .filter(|_| !self.memory.machine_is_gone()),
            license_key_hint: self.memory.key_hint.clone(),
            entitlements: if eval.entitled {
                payload.map(|p| p.entitlements.clone()).unwrap_or_default()
            } else {
                Vec::new()
            },
            max_machines: payload.map(|p| p.max_machines),
            machines_active: payload.and(self.memory.machines_active),
            license_expires_at: payload.and_then(|p| p.license_expires_at).and_then(rfc3339),
            issued_at: payload.map(|p| p.issued_at).and_then(rfc3339),
            offline_valid_until,
            last_refresh_at: self.memory.record.last_refresh_at.and_then(rfc3339),
            next_refresh_at: if self.cached.is_some() && self.may_refresh() {
                self.memory.record.next_attempt_at.and_then(rfc3339)
            } else {
                None
            },
            credential_store: product.store,
            offline: crate::words::is_offline_reason(eval.reason.as_deref()),
            reason: eval.reason,
            summary: words.summary,
            detail: words.detail,
            runs_in: product.runs_in.cloned(),
            lease: None,
            seats_waiting: 0,
        };
        (status, eval.next_change_at, until)
    }

    /// The status of a floating licence at `now`: entitled while a seat is held and its lease
    /// has not run out — never past its signed end — and changing when it does.
    fn floating_status(
        &self,
        product: &Product<'_>,
        now: OffsetDateTime,
    ) -> (Status, Option<OffsetDateTime>, Option<String>) {
        let held = self.lease.as_ref().filter(|l| now < l.expires_at);
        let (state, reason) = match held {
            Some(l) if l.borrowed => (licentric_proto::LicenseState::Active, "borrowed_seat"),
            Some(_) => (licentric_proto::LicenseState::Active, "floating_seat"),
            None => (licentric_proto::LicenseState::Unlicensed, "floating"),
        };
        let until = held.and_then(|l| readable(l.expires_at));
        let mut words =
            crate::words::describe(state, Some(reason), product.name, until.as_deref(), false);
        if let (Some(_), Some(until)) = (held.filter(|l| l.kept_to_end), until.as_deref()) {
            words.detail = crate::words::kept_to_end(until);
        }
        let status = Status {
            state,
            entitled: held.is_some(),
            product_id: product.id.to_owned(),
            environment: product.environment,
            license_id: None,
            machine_id: None,
            license_key_hint: self.memory.key_hint.clone(),
            entitlements: held.map(|l| l.entitlements.clone()).unwrap_or_default(),
            max_machines: held.map(|l| l.max_seats),
            machines_active: held.map(|l| l.seats_in_use),
            license_expires_at: None,
            issued_at: None,
            offline_valid_until: held.and_then(|l| rfc3339(l.expires_at)),
            last_refresh_at: None,
            next_refresh_at: None,
            credential_store: product.store,
            reason: Some(reason.to_owned()),
            summary: words.summary,
            detail: words.detail,
            offline: false,
            runs_in: product.runs_in.cloned(),
            lease: held.map(|l| licentric_proto::ipc::LeaseInfo {
                expires_at: rfc3339(l.expires_at).unwrap_or_default(),
                seats_in_use: l.seats_in_use,
                max_seats: l.max_seats,
                holders: l.holders,
                borrowed: l.borrowed,
                kept_to_end: l.kept_to_end,
            }),
            seats_waiting: self.seats_waiting,
        };
        (status, held.map(|l| l.expires_at), until)
    }

    /// The status at `now`, remembering when it next changes, and a notice when its state is
    /// not the one last published (each state is told once, not at every evaluation).
    pub fn publish(
        &mut self,
        product: &Product<'_>,
        now: OffsetDateTime,
        policy: &RefreshPolicy,
    ) -> (Status, Option<Notice>) {
        let (status, next_change_at, until) = self.status_and_until(product, now, policy);
        self.next_change_at = next_change_at;
        let mut notice = None;
        if self.memory.last_state != Some(status.state) {
            notice = crate::words::notification(
                self.memory.last_state,
                status.state,
                status.reason.as_deref(),
                product.name,
                until.as_deref(),
                self.activated_offline(),
            )
            .map(|(summary, body)| Notice { summary, body });
            self.memory.last_state = Some(status.state);
        }
        (status, notice)
    }

    /// One turn of the scheduler at `now`.
    pub fn turn(
        &mut self,
        product: &Product<'_>,
        now: OffsetDateTime,
        policy: &RefreshPolicy,
    ) -> Turn {
        self.memory.guard.observe(now);
        // A clock found turned back: ask the server for its time now, not at the next planned
        // refresh days away (after a failure, the back-off takes over).
        if self.memory.guard.is_flagged()
            && self.may_refresh()
            && self.memory.record.consecutive_failures == 0
            && self.memory.record.next_attempt_at.is_none_or(|at| at > now)
        {
            self.memory.record.next_attempt_at = Some(now);
        }
        let (status, notice) = self.publish(product, now, policy);
        // A licence that reached its end by the clock here may have been renewed by the vendor
        // meanwhile: asked within the hour, as while the server says it is expired — not at the
        // refresh point days away, which would keep a renewed user locked out that long.
        if status.state == licentric_proto::LicenseState::LicenseExpired
            && self.may_refresh()
            && self.memory.record.consecutive_failures == 0
        {
            self.memory
                .record
                .check_by(now + licentric_core::memory::RECHECK_NOT_ACTIVE);
        }
        let mut notices: Vec<Notice> = notice.into_iter().collect();
        // Every refresh needs the key: a machine activated offline (an imported file, no key
        // here) renews by importing again, not by calling the server; and a machine the server
        // said is gone waits for the user.
        let attempt = self
            .memory
            .record
            .next_attempt_at
            .filter(|_| self.may_refresh());
        let mut next: Vec<OffsetDateTime> = attempt.into_iter().collect();
        if let Some(file) = &self.cached {
            let expires = file.payload().expires_at;
            if status.entitled
                && let Some(w) = policy.take_warning(expires, now, &mut self.memory.warnings)
            {
                let hours = w.left.whole_hours();
                let left = if hours >= 1 {
                    format!("{hours} hours")
                } else {
                    format!("{} minutes", w.left.whole_minutes().max(1))
                };
                notices.push(Notice {
                    summary: format!("{}: {left} of offline use left", product.name),
                    body: "Connect to the internet so the licence can be renewed.".into(),
                });
            }
            next.extend(policy.next_warning_at(expires, now));
        }
        next.extend(self.next_change_at);
        if self.store_waiting {
            next.push(now + STORE_RETRY);
        }
        Turn {
            status,
            notices,
            refresh_now: attempt.is_some_and(|a| a <= now),
            wake_at: next.into_iter().min(),
        }
    }

    /// A refresh attempt failed with `code` at `now`: the next one backs off (with `jitter`
    /// in `[-1, 1]`) unless something already planned a later one. Every failure backs off,
    /// also those that fail before reaching the server (a locked credential store, a repair
    /// while offline): the scheduler must never spin on an attempt that stays due. Returns
    /// whether the record changed.
    pub fn failed(
        &mut self,
        code: &str,
        now: OffsetDateTime,
        policy: &RefreshPolicy,
        jitter: f64,
    ) -> bool {
        let record = &mut self.memory.record;
        if record.next_attempt_at.is_some_and(|at| at > now) {
            return false;
        }
        record.failed(code, now, policy, jitter);
        true
    }

    /// A file is held but no key: the machine was activated offline, and renews by importing.
    fn activated_offline(&self) -> bool {
        self.cached.is_some() && !self.has_key
    }
}

/// `t` as people read it in a sentence: `15 December 2026, 12:00 UTC`.
pub(crate) fn readable(t: OffsetDateTime) -> Option<String> {
    let format = time::macros::format_description!(
        "[day padding:none] [month repr:long] [year], [hour]:[minute] UTC"
    );
    t.to_offset(time::UtcOffset::UTC).format(&format).ok()
}

/// `t` as RFC 3339, whole seconds.
pub(crate) fn rfc3339(t: OffsetDateTime) -> Option<String> {
    t.replace_nanosecond(0)
        .ok()?
        .format(&time::format_description::well_known::Rfc3339)
        .ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use licentric_core::license_file::LicensePayload;
    use licentric_core::{Expectations, LicenseSigner, MachineId, Verifier};
    use licentric_proto::{LicenseState, LicenseStatus};
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-12-01 12:00 UTC);
    const PRODUCT: Product<'static> = Product {
        id: "acme-cad",
        name: "Acme CAD",
        environment: Environment::Test,
        store: CredentialStoreKind::Os,
        runs_in: None,
    };

    /// A verified file issued at `issued_at`, valid 14 days, with `status`.
    fn file(issued_at: OffsetDateTime, status: LicenseStatus) -> VerifiedLicense {
        file_ending(issued_at, status, None)
    }

    /// As [`file`], for a licence that ends at `license_expires_at`.
    fn file_ending(
        issued_at: OffsetDateTime,
        status: LicenseStatus,
        license_expires_at: Option<OffsetDateTime>,
    ) -> VerifiedLicense {
        let signer = LicenseSigner::from_seed(&[7; 32]);
        let fingerprint = MachineId::new("5c0ffee5c0ffee5c0ffee5c0ffee5c0f", "test")
            .unwrap()
            .fingerprint(PRODUCT.id);
        let payload = LicensePayload {
            license_id: "lic_1".into(),
            product_id: PRODUCT.id.into(),
            environment: Environment::Test,
            machine_id: "mach_1".into(),
            fingerprint: fingerprint.as_str().into(),
            status,
            entitlements: vec!["pro".into()],
            max_machines: 1,
            license_expires_at,
            issued_at,
            expires_at: issued_at + time::Duration::days(14),
            nonce: None,
            check_interval: None,
        };
        let expect = Expectations {
            product_id: PRODUCT.id,
            environment: Environment::Test,
            fingerprint: &fingerprint,
            nonce: None,
        };
        Verifier::new(vec![signer.public_key().clone()])
            .verify(&signer.sign(&payload).unwrap(), &expect, issued_at)
            .unwrap()
    }

    /// An agent that activated online at `at`, with its key in the store.
    fn activated(at: OffsetDateTime) -> Live {
        activated_with(file(at, LicenseStatus::Active), at)
    }

    /// As [`activated`], with the file `f`.
    fn activated_with(f: VerifiedLicense, at: OffsetDateTime) -> Live {
        let mut live = Live {
            has_key: true,
            ..Live::default()
        };
        live.memory
            .accepted_online(&f, at, Some(1), &RefreshPolicy::default(), 0.0);
        live.cached = Some(f);
        live
    }

    #[test]
    fn a_licence_that_ends_by_the_clock_is_asked_about_within_the_hour() {
        let policy = RefreshPolicy::default();
        let ends = NOW + time::Duration::days(2);
        let mut live = activated_with(file_ending(NOW, LicenseStatus::Active, Some(ends)), NOW);
        let renewal = live.memory.record.next_attempt_at.unwrap();
        assert!(
            renewal > ends,
            "the refresh point is after the licence's end"
        );
        let after = ends + time::Duration::minutes(1);
        let turn = live.turn(&PRODUCT, after, &policy);
        assert_eq!(turn.status.state, LicenseState::LicenseExpired);
        let asked = live.memory.record.next_attempt_at.unwrap();
        assert!(
            asked <= after + time::Duration::hours(1),
            "asked within the hour, not at {renewal}: {asked}"
        );
        assert_eq!(turn.wake_at, Some(asked));
    }

    #[test]
    fn a_fresh_activation_is_active_and_plans_its_renewal() {
        let policy = RefreshPolicy::default();
        let mut live = activated(NOW);
        let turn = live.turn(&PRODUCT, NOW, &policy);
        assert_eq!(turn.status.state, LicenseState::Active);
        assert!(turn.status.entitled);
        assert!(!turn.refresh_now);
        let renewal = live.memory.record.next_attempt_at.unwrap();
        assert!(renewal > NOW && renewal < NOW + time::Duration::days(14));
        assert_eq!(
            turn.wake_at,
            Some(renewal),
            "nothing comes before the renewal"
        );
    }

    #[test]
    fn the_renewal_is_due_at_its_time_and_not_before() {
        let policy = RefreshPolicy::default();
        let mut live = activated(NOW);
        let renewal = live.memory.record.next_attempt_at.unwrap();
        assert!(
            !live
                .turn(&PRODUCT, renewal - time::Duration::SECOND, &policy)
                .refresh_now
        );
        assert!(live.turn(&PRODUCT, renewal, &policy).refresh_now);
    }

    #[test]
    fn without_a_key_or_after_a_signed_goodbye_nothing_calls_the_server() {
        let policy = RefreshPolicy::default();
        let mut live = activated(NOW);
        live.has_key = false;
        let late = NOW + time::Duration::days(13);
        let turn = live.turn(&PRODUCT, late, &policy);
        assert!(
            !turn.refresh_now,
            "a file imported offline renews by import"
        );
        assert!(turn.status.next_refresh_at.is_none());
        assert!(
            turn.status.detail.contains("import"),
            "{}",
            turn.status.detail
        );
    }

    #[test]
    fn a_clock_turned_back_asks_the_server_now() {
        let policy = RefreshPolicy::default();
        let mut live = activated(NOW);
        live.turn(&PRODUCT, NOW + time::Duration::days(2), &policy);
        let back = NOW - time::Duration::days(3);
        let turn = live.turn(&PRODUCT, back, &policy);
        assert!(turn.refresh_now, "the server's time settles it");
        assert!(!turn.status.entitled);
        assert_eq!(turn.status.state, LicenseState::ClockTampered);
        // It failed (offline): the back-off takes over, not another attempt at once.
        assert!(live.failed("network_unavailable", back, &policy, 0.0));
        let again = live.turn(&PRODUCT, back + time::Duration::SECOND, &policy);
        assert!(!again.refresh_now);
        assert!(again.wake_at.unwrap() > back + time::Duration::SECOND);
    }

    #[test]
    fn each_failure_waits_longer_and_never_leaves_an_attempt_due() {
        let policy = RefreshPolicy::default();
        let mut live = activated(NOW);
        let mut at = live.memory.record.next_attempt_at.unwrap();
        let mut gaps = Vec::new();
        for _ in 0..4 {
            assert!(live.turn(&PRODUCT, at, &policy).refresh_now);
            assert!(live.failed("network_unavailable", at, &policy, 0.0));
            let next = live.memory.record.next_attempt_at.unwrap();
            assert!(!live.turn(&PRODUCT, at, &policy).refresh_now);
            gaps.push(next - at);
            at = next;
        }
        assert!(gaps.windows(2).all(|w| w[1] > w[0]), "{gaps:?}");
        // A failure when a later attempt is already planned (a user's refresh between two
        // scheduled ones) does not pull it closer or push it away.
        let planned = live.memory.record.next_attempt_at;
        assert!(!live.failed("network_unavailable", NOW, &policy, 0.0));
        assert_eq!(live.memory.record.next_attempt_at, planned);
    }

    #[test]
    fn offline_the_words_name_the_licence_s_end_where_it_comes_first() {
        let policy = RefreshPolicy::default();
        let ends = NOW + time::Duration::days(12);
        let mut live = activated_with(file_ending(NOW, LicenseStatus::Active, Some(ends)), NOW);
        let later = NOW + time::Duration::days(10);
        live.failed("network_unavailable", later, &policy, 0.0);
        let offline = live.turn(&PRODUCT, later, &policy);
        assert_eq!(offline.status.state, LicenseState::Grace);
        assert!(
            offline
                .status
                .detail
                .contains("until 13 December 2026, 12:00 UTC"),
            "not the offline period's end (15 December): {}",
            offline.status.detail
        );
    }

    #[test]
    fn each_state_is_told_once() {
        let policy = RefreshPolicy::default();
        let mut live = activated(NOW);
        let first = live.turn(&PRODUCT, NOW, &policy);
        assert_eq!(first.notices.len(), 1, "{:?}", first.notices);
        assert!(first.notices[0].summary.contains("Acme CAD"));
        assert!(live.turn(&PRODUCT, NOW, &policy).notices.is_empty());
        // The renewal failed (offline): working offline, told once.
        let later = NOW + time::Duration::days(10);
        assert!(live.failed("network_unavailable", later, &policy, 0.0));
        let offline = live.turn(&PRODUCT, later, &policy);
        assert_eq!(offline.status.state, LicenseState::Grace);
        assert_eq!(offline.notices.len(), 1, "{:?}", offline.notices);
        assert!(live.turn(&PRODUCT, later, &policy).notices.is_empty());
    }

    #[test]
    fn the_end_of_offline_use_is_warned_once_per_threshold() {
        let policy = RefreshPolicy::default();
        let mut live = activated(NOW);
        live.turn(&PRODUCT, NOW, &policy);
        // Offline, an hour before the end: one warning, then none for the same threshold.
        live.memory.record.next_attempt_at = Some(NOW + time::Duration::days(20));
        let end = NOW + time::Duration::days(14);
        let near = end - time::Duration::minutes(50);
        let turn = live.turn(&PRODUCT, near, &policy);
        let warnings: Vec<_> = turn
            .notices
            .iter()
            .filter(|n| n.summary.contains("offline use left"))
            .collect();
        assert_eq!(warnings.len(), 1, "{:?}", turn.notices);
        assert!(warnings[0].summary.contains("50 minutes"), "{warnings:?}");
        assert!(live.turn(&PRODUCT, near, &policy).notices.is_empty());
        // And it wakes at the end, when the state changes.
        assert_eq!(
            live.turn(&PRODUCT, near, &policy).wake_at,
            Some(end),
            "the next look is when the offline period ends"
        );
    }

    #[test]
    fn offline_words_give_the_end_as_people_read_it() {
        let policy = RefreshPolicy::default();
        let mut live = activated(NOW);
        let later = NOW + time::Duration::days(10);
        assert!(live.failed("network_unavailable", later, &policy, 0.0));
        let (status, notice) = live.publish(&PRODUCT, later, &policy);
        assert_eq!(status.summary, "Working offline");
        assert!(
            status.detail.contains("until 15 December 2026, 12:00 UTC"),
            "{}",
            status.detail
        );
        let notice = notice.unwrap();
        assert!(notice.body.contains("15 December 2026"), "{notice:?}");
        assert_eq!(
            status.offline_valid_until.as_deref(),
            Some("2026-12-15T12:00:00Z"),
            "the machine-readable field stays RFC 3339"
        );
    }

    #[test]
    fn a_silent_credential_store_is_asked_again_soon() {
        let policy = RefreshPolicy::default();
        let mut live = Live {
            store_waiting: true,
            ..Live::default()
        };
        let turn = live.turn(&PRODUCT, NOW, &policy);
        assert_eq!(turn.status.state, LicenseState::Unlicensed);
        assert!(!turn.refresh_now);
        assert_eq!(
            turn.wake_at,
            Some(NOW + time::Duration::try_from(STORE_RETRY).unwrap())
        );
    }

    #[test]
    fn a_suspended_licence_entitles_nothing_and_keeps_checking() {
        let policy = RefreshPolicy::default();
        let f = file(NOW, LicenseStatus::Suspended);
        let mut live = Live {
            has_key: true,
            ..Live::default()
        };
        live.memory.accepted_online(&f, NOW, Some(1), &policy, 0.0);
        live.cached = Some(f);
        let turn = live.turn(&PRODUCT, NOW, &policy);
        assert_eq!(turn.status.state, LicenseState::Suspended);
        assert!(!turn.status.entitled);
        assert!(turn.status.entitlements.is_empty());
        let next = turn.wake_at.unwrap();
        assert!(
            next <= NOW + time::Duration::hours(1),
            "a reinstatement is looked for within the hour: {next}"
        );
    }
}

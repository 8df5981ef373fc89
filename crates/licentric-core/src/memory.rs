//! What the agent has learnt, and the trust rules that follow from it — pure decisions, no
//! I/O: the agent restores a [`Memory`] from its sealed state at start, feeds it what happens
//! (a file from the server, an import, a signed statement, a request made), asks it what the
//! state is, and persists it.
//!
//! The rules (`docs/security.md`, and `docs/license-file.md` for the signed documents):
//!
//! - **Lost state is not a fresh start.** A licence file the memory cannot vouch for — the
//!   sealed state missing, edited, unreadable, its key gone, or older than the file — is not
//!   trusted offline: the state is `clock_tampered` with the reason `state_lost` (the clock's
//!   high-water mark is gone with the state), not entitled, until one fresh signed file
//!   arrives: an online refresh, or an import answering a request this machine made.
//! - **The anchor is kept twice.** The credential store holds an [`Anchor`]: the clock's
//!   high-water mark (rewritten in steps of [`MARK_STEP`]), the newest file accepted, and
//!   whether the server said this machine is gone. Restoring an older copy of the data folder
//!   cannot lower the mark, bring back an older file, or undo a signed deactivation.
//! - **Import only what this machine asked for.** A request file's nonce is remembered
//!   ([`Memory::remember_request`]); an imported file must carry a pending nonce (used once),
//!   and may not be older than the newest file accepted.
//! - **A borrowed seat is held to its signed end, never past it.** It is kept in the sealed
//!   state with its lease file and the nonce it answered, and in the anchor by its signed
//!   `issued_at`: a data folder restored from before the seat was returned brings no seat
//!   back ([`Memory::borrowed_seat`]), and a clock turned back does not lengthen it (its end
//!   is judged against the clock's high-water mark).
//! - **Signed refusals end entitlement.** A verified statement that the machine was
//!   deactivated ([`Memory::machine_gone`]) sets the cached file aside and stops the agent from
//!   taking a seat again by itself.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::clock::ClockGuard;
use crate::lease::VerifiedLease;
use crate::license_file::VerifiedLicense;
use crate::license_file::{Expectations, Verifier};
use crate::refresh::{RefreshPolicy, WarningsGiven};
use crate::state::{Cached, Evaluation, RefreshRecord, evaluate};
use crate::statement::VerifiedStatement;
use licentric_proto::LicenseState;

/// How far the clock's high-water mark may run ahead of the copy kept in the credential store
/// before the copy is rewritten: 10 minutes, well inside the guard's one-hour tolerance.
pub const MARK_STEP: Duration = Duration::minutes(10);
/// Requests remembered at most (the newest are kept).
pub const MAX_PENDING_REQUESTS: usize = 8;
/// How long a request may wait for its answer: 90 days (a trip to a connected machine can be
/// long for an air-gapped lab).
pub const PENDING_LIFETIME: Duration = Duration::days(90);

/// How soon to ask again after the server said the licence is suspended or expired: it may
/// be reinstated or renewed at any moment (a revocation is for good).
pub const RECHECK_NOT_ACTIVE: Duration = Duration::hours(1);

/// The reason of a file the memory cannot vouch for.
pub const STATE_LOST: &str = "state_lost";
/// What the memory keeps of a deactivation made here (the user's, not the server's word):
/// like the server's word that the machine is gone, it keeps an older copy of the licence
/// file, put back with the data folder, from counting again.
pub const DEACTIVATED_HERE: &str = "deactivated_here";
/// The reason of a file the memory cannot vouch for yet: the credential store that holds the
/// state's key does not answer (locked, or not running yet).
pub const STORE_LOCKED: &str = "credential_store_locked";

/// What the agent keeps of its memory in the credential store as well, where a copy of the
/// data folder does not reach: the clock's high-water mark, the newest file accepted, and
/// whether the server said this machine is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Anchor {
    /// The clock's high-water mark, UTC seconds.
    pub mark: i64,
    /// The signed `issued_at` of the newest file accepted, UTC seconds.
    pub newest: Option<i64>,
    /// Whether the server's last word is that this machine is gone.
    pub gone: bool,
    /// A tag of the borrowed seat held (of its lease file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub borrow: Option<i64>,
}

/// A seat borrowed for a trip, as the sealed state keeps it (`docs/floating.md`): held to its
/// signed end, offline and across restarts. Its `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BorrowedSeat {
    /// The lease, and the secret that returns it early.
    pub lease: HeldLease,
    /// The signed lease (`LICENTRIC LEASE`, `borrowed: true`).
    pub lease_file: String,
    /// The nonce of the request it answered.
    pub nonce: String,
    /// Its signed `issued_at`, UTC seconds.
    pub issued_at: i64,
}

/// What the anchor knows a borrowed seat by: the first 8 bytes of the SHA-256 of its lease
/// file (each borrow, and each borrow again of the same lease, is a new file).
fn borrow_tag(b: &BorrowedSeat) -> Option<i64> {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(b.lease_file.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    Some(i64::from_be_bytes(first))
}

/// How far the clock's high-water mark may run ahead of its saved copies while a seat is
/// borrowed (the sealed state and the anchor are rewritten at this step), and what each start
/// charges a borrowed seat: a clock turned back to the last saved mark at every restart gains
/// nothing.
pub const BORROW_MARK_STEP: Duration = Duration::minutes(1);

impl std::fmt::Debug for BorrowedSeat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BorrowedSeat")
            .field("lease", &self.lease)
            .field("nonce", &self.nonce)
            .finish_non_exhaustive()
    }
}

/// A request file this machine made, waiting for its answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PendingRequest {
    /// The request's nonce.
    pub nonce: String,
    /// When it was made, UTC seconds.
    pub created_at: i64,
    /// The clock's high-water mark when it was made, UTC seconds (missing in a state from
    /// before it was kept: `created_at` stands in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mark: Option<i64>,
}

/// A lease held on the server, as the sealed state keeps it. Its `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeldLease {
    /// The lease.
    pub lease_id: String,
    /// The secret that releases it.
    pub secret: String,
}

impl std::fmt::Debug for HeldLease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeldLease")
            .field("lease_id", &self.lease_id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// The server's last definitive word about this machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerWord {
    /// `active`, `suspended`, `revoked`, `expired` (a file's signed status), or
    /// `machine_deactivated` / `machine_not_found` (a signed statement).
    pub code: String,
    /// The signed `issued_at` of what said it, UTC seconds.
    pub at: i64,
}

/// What the agent remembers between runs: kept in the sealed state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Memory {
    /// This machine's id on the server.
    pub machine_id: Option<String>,
    /// The redacted licence key.
    pub key_hint: Option<String>,
    /// The licence is floating: this machine holds a seat only while a local app holds a
    /// lease (`docs/floating.md`), and has no licence file of its own.
    #[serde(default)]
    pub floating: bool,
    /// The lease this agent holds on the server, and its secret: a restarted agent gives it
    /// back rather than leave its seat taken until the lease runs out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_lease: Option<HeldLease>,
    /// The leases held for one app each (a product that gives each app process a seat of its
    /// own), kept for the same reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub apps_leases: Vec<HeldLease>,
    /// The seat this machine borrowed, while it is borrowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub borrowed: Option<BorrowedSeat>,
    /// Refresh history.
    pub record: RefreshRecord,
    /// The clock high-water mark.
    pub guard: ClockGuard,
    /// Expiry warnings already given.
    pub warnings: WarningsGiven,
    /// The state last reported, to notify on changes across restarts.
    pub last_state: Option<LicenseState>,
    /// Machines active on the licence at the last contact (the server's word, unsigned:
    /// shown to the user, never used to decide the licence's state).
    #[serde(default)]
    pub machines_active: Option<u32>,
    /// The signed `issued_at` of the newest file accepted, UTC seconds.
    #[serde(default)]
    pub newest_issued_at: Option<i64>,
    /// The server's last definitive word.
    #[serde(default)]
    pub server_said: Option<ServerWord>,
    /// Requests made here and not yet answered.
    #[serde(default)]
    pub pending_requests: Vec<PendingRequest>,
    /// Why the cached file must be confirmed by a fresh signed file before it entitles again
    /// ([`STATE_LOST`]), or `None`.
    #[serde(default)]
    pub unconfirmed: Option<String>,
}

/// What the agent found of its sealed state at start.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // made once, at start, and moved into the memory at once
pub enum Found {
    /// The state, intact.
    Intact(Memory),
    /// No state, an edited or corrupt one, or none that can be read (its key is gone or the
    /// credential store does not answer).
    Lost,
}

/// Why an import was refused. Each has a stable [`code`](Self::code).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ImportRefusal {
    /// No request is waiting for an answer.
    #[error(
        "no activation request is waiting on this machine (a licence file imported, or a renewal online, answers every request made before it): to renew, make one here first (`licentric request-file` or the app's \"Activate offline\"), activate it with your key on a connected device, and import the licence file that comes back"
    )]
    NoRequestPending,
    /// The file answers no request this machine made (an online activation's file, a copy).
    #[error(
        "this licence file does not answer an activation request made on this machine (it may be a copy, or a file from an online activation): import the file that answers this machine's newest request, or make a new request"
    )]
    NotRequested,
    /// Older than the newest file this machine accepted.
    #[error("this licence file is older than the one this machine already has")]
    OlderThanSeen,
}

impl ImportRefusal {
    /// The stable code: `no_request_pending`, `not_requested` or `older_than_seen`.
    pub const fn code(&self) -> &'static str {
        match self {
            ImportRefusal::NoRequestPending => "no_request_pending",
            ImportRefusal::NotRequested => "not_requested",
            ImportRefusal::OlderThanSeen => "older_than_seen",
        }
    }
}

impl Memory {
    /// The memory at start, from what was `found`, the [`Anchor`] kept in the credential
    /// store, and the cached `file` if one verified.
    pub fn restore(
        found: Found,
        anchor: Option<Anchor>,
        file: Option<&VerifiedLicense>,
        now: OffsetDateTime,
    ) -> Memory {
        let mut memory = match found {
            Found::Intact(memory) => memory,
            Found::Lost => Memory::default(),
        };
        if let Some(anchor) = anchor {
            memory.guard.observe_mark(anchor.mark);
        }
        // A borrowed seat counts only if the anchor knows it: one returned since (a data
        // folder restored from an older copy) or never anchored is gone.
        // Its lease is kept to be given back at start (the server may still count it).
        if !memory.borrow_anchored_in(anchor.as_ref()) {
            memory.drop_borrowed();
        }
        if let Some(file) = file {
            let issued = file.payload().issued_at.unix_timestamp();
            // The state must have accepted this file (or a newer one) itself, and the
            // credential store must hold the anchor, know of no newer file and no signed
            // deactivation: otherwise this is a state that was lost, rebuilt, or restored with
            // the data folder from an older copy.
            let vouched = memory.newest_issued_at.is_some_and(|n| n >= issued)
                && anchor.is_some_and(|a| a.newest.is_none_or(|n| issued >= n) && !a.gone);
            if !vouched && memory.unconfirmed.is_none() {
                memory.unconfirmed = Some(STATE_LOST.to_owned());
            }
            memory.guard.observe_issued_at(file.payload().issued_at);
            if memory.machine_id.is_none() {
                memory.machine_id = Some(file.payload().machine_id.clone());
            }
        }
        // Judged, the memory takes what the store knows that it does not (an older copy of the
        // data folder, put back): the newest file, so that no older one is imported again.
        // What the anchor says besides (the machine gone) it keeps as it is rewritten
        // ([`anchor_to_store`](Self::anchor_to_store)).
        if let Some(anchor) = anchor {
            memory.newest_issued_at = memory.newest_issued_at.max(anchor.newest);
            // And that the machine is gone, if the store says so of its newest file: no file
            // up to that one is imported again (a copy put back with its request pending).
            if anchor.gone && anchor.newest >= memory.newest_issued_at && !memory.machine_is_gone()
            {
                memory.gone_here();
            }
        }
        memory.guard.observe(now);
        memory
    }

    /// The user deactivated this machine here: the memory forgets the licence, and keeps what
    /// was learnt of time and of files, and that the machine was deactivated — whatever file
    /// is put back later (a copy of the data folder from before) does not count without a
    /// fresh one from the server.
    pub fn deactivated_here(&mut self) {
        let old = std::mem::take(self);
        self.guard = old.guard;
        self.newest_issued_at = old.newest_issued_at;
        self.gone_here();
    }

    /// The word that this machine was deactivated here, as of its newest file.
    fn gone_here(&mut self) {
        self.server_said = Some(ServerWord {
            code: DEACTIVATED_HERE.to_owned(),
            at: self.newest_issued_at.unwrap_or_default(),
        });
    }

    /// A file fresh from the server (it carried the nonce just sent) was installed at `now`.
    pub fn accepted_online(
        &mut self,
        file: &VerifiedLicense,
        now: OffsetDateTime,
        machines_active: Option<u32>,
        policy: &RefreshPolicy,
        jitter: f64,
    ) {
        self.record.installed(file, now, true, policy, jitter);
        if matches!(
            file.payload().status,
            licentric_proto::LicenseStatus::Suspended | licentric_proto::LicenseStatus::Expired
        ) {
            self.record.check_by(now + RECHECK_NOT_ACTIVE);
        }
        self.confirmed(file, now, None);
        if machines_active.is_some() {
            self.machines_active = machines_active;
        }
    }

    /// A verified `machine_active` statement (the answer to a check on use): the server's time
    /// and word that the licence stands, without a new file. Counts as contact.
    pub fn standing_confirmed(
        &mut self,
        statement: &VerifiedStatement,
        now: OffsetDateTime,
        machines_active: Option<u32>,
    ) {
        let p = statement.payload();
        self.fresh_from_server(now, p.issued_at);
        self.record.last_refresh_at = Some(now);
        self.record.last_failure = None;
        self.record.consecutive_failures = 0;
        self.unconfirmed = None;
        if machines_active.is_some() {
            self.machines_active = machines_active;
        }
    }

    /// Checks that an imported `file` answers a request this machine made, and if so consumes
    /// that request and takes the file as confirmed (the server signed it after the request).
    ///
    /// # Errors
    /// [`ImportRefusal`]; the memory is then unchanged.
    pub fn accept_import(
        &mut self,
        file: &VerifiedLicense,
        now: OffsetDateTime,
        policy: &RefreshPolicy,
        jitter: f64,
    ) -> Result<(), ImportRefusal> {
        self.forget_stale_requests(now);
        if self.pending_requests.is_empty() {
            return Err(ImportRefusal::NoRequestPending);
        }
        let p = file.payload();
        let Some(index) = p.nonce.as_deref().and_then(|nonce| {
            self.pending_requests
                .iter()
                .position(|r| crate::ct_eq_str(&r.nonce, nonce))
        }) else {
            return Err(ImportRefusal::NotRequested);
        };
        let issued = p.issued_at.unix_timestamp();
        // Older than the newest file accepted; or, the machine gone, not newer than the word
        // that it is (a file from before a deactivation, imported again).
        let gone_since = self
            .server_said
            .as_ref()
            .filter(|_| self.machine_is_gone())
            .map(|w| w.at);
        if self.newest_issued_at.is_some_and(|n| issued < n)
            || gone_since.is_some_and(|at| issued <= at)
        {
            return Err(ImportRefusal::OlderThanSeen);
        }
        let request = self.pending_requests.remove(index);
        self.record.installed(file, now, false, policy, jitter);
        self.confirmed(
            file,
            now,
            Some((
                request.created_at,
                request.mark.unwrap_or(request.created_at),
            )),
        );
        Ok(())
    }

    /// A fresh signed file: the server's time and word, and the end of any doubt. `imported`
    /// is when the request it answers was made and the clock's mark then, for a file imported:
    /// it is not the time now (it may have waited), so the mark is only forgiven how far it ran
    /// ahead of the clock when the request was made ([`ClockGuard::answer_imported`]).
    fn confirmed(
        &mut self,
        file: &VerifiedLicense,
        now: OffsetDateTime,
        imported: Option<(i64, i64)>,
    ) {
        let p = file.payload();
        match imported {
            None => self.fresh_from_server(now, p.issued_at),
            Some((at, mark)) => {
                self.guard.answer_imported(now, p.issued_at, at, mark);
                // Every request made before is answered, or needless: none is imported later
                // (each would start the offline period again, with the clock turned back).
                self.pending_requests.clear();
            }
        }
        self.newest_issued_at = Some(
            self.newest_issued_at
                .unwrap_or(i64::MIN)
                .max(p.issued_at.unix_timestamp()),
        );
        self.server_said = Some(ServerWord {
            code: p.status.as_str().to_owned(),
            at: p.issued_at.unix_timestamp(),
        });
        self.unconfirmed = None;
        self.machine_id = Some(p.machine_id.clone());
    }

    /// The server's signed word, fresh (it carried the nonce just sent): its time restarts the
    /// clock's mark and clears a clock found turned back, and the requests made before it are
    /// void — an answer to one, kept unimported, cannot start the offline period again later.
    fn fresh_from_server(&mut self, now: OffsetDateTime, issued_at: OffsetDateTime) {
        self.guard.online_refresh_succeeded(now, issued_at);
        self.pending_requests.clear();
    }

    /// A verified statement that this machine is no longer activated: the cached file no
    /// longer counts (the agent sets it aside), and no refresh is planned until the user
    /// activates again.
    pub fn machine_gone(&mut self, statement: &VerifiedStatement, now: OffsetDateTime) {
        let p = statement.payload();
        self.fresh_from_server(now, p.issued_at);
        self.server_said = Some(ServerWord {
            code: p.kind.code().to_owned(),
            at: p.issued_at.unix_timestamp(),
        });
        self.newest_issued_at = Some(
            self.newest_issued_at
                .unwrap_or(i64::MIN)
                .max(p.issued_at.unix_timestamp()),
        );
        self.unconfirmed = None;
        self.record = RefreshRecord {
            last_refresh_at: Some(now),
            ..RefreshRecord::default()
        };
        self.machines_active = None;
    }

    /// The seat borrowed, if it still holds at `now`: its lease verifies for this machine and
    /// the request it answered, is the one kept, is borrowed, and has not ended by `now` nor by
    /// the clock's high-water mark (a clock turned back does not lengthen it).
    ///
    /// `charge` is added to that time: [`BORROW_MARK_STEP`] at start (the time since the mark
    /// was last saved is not known), nothing while running.
    pub fn borrowed_seat(
        &self,
        verifier: &Verifier,
        expect: &Expectations<'_>,
        now: OffsetDateTime,
        charge: Duration,
    ) -> Option<VerifiedLease> {
        let kept = self.borrowed.as_ref()?;
        let at = self.guard.high_water().map_or(now, |mark| mark.max(now)) + charge;
        let lease = verifier
            .verify_lease(
                &kept.lease_file,
                expect.product_id,
                expect.environment,
                expect.fingerprint,
                &kept.nonce,
                Some(at),
            )
            .ok()?;
        let p = lease.payload();
        (p.borrowed
            && p.lease_id == kept.lease.lease_id
            && p.issued_at.unix_timestamp() == kept.issued_at)
            .then_some(lease)
    }

    /// A seat borrowed from the server at `now`: `lease` (verified as the answer to `nonce`,
    /// so its signed `issued_at` is the server's time now) with its `secret`; no ordinary lease
    /// is kept beside it (it was turned into this one, or there was none). The clock's mark
    /// restarts from the server's time, as after an online refresh: a mark once pushed ahead by
    /// a wrong clock does not end the borrow early.
    pub fn borrow(
        &mut self,
        lease: &VerifiedLease,
        secret: &str,
        nonce: &str,
        now: OffsetDateTime,
    ) {
        let p = lease.payload();
        self.fresh_from_server(now, p.issued_at);
        self.held_lease = None;
        self.borrowed = Some(BorrowedSeat {
            lease: HeldLease {
                lease_id: p.lease_id.clone(),
                secret: secret.to_owned(),
            },
            lease_file: lease.armored().to_owned(),
            nonce: nonce.to_owned(),
            issued_at: p.issued_at.unix_timestamp(),
        });
    }

    /// The borrowed seat is no longer this machine's to use (ended, returned, or not vouched
    /// for): forgotten, its lease kept to be given back if no other is.
    pub fn drop_borrowed(&mut self) {
        if let Some(b) = self.borrowed.take()
            && self.held_lease.is_none()
        {
            self.held_lease = Some(b.lease);
        }
    }

    /// How far the mark may run ahead of its saved copies.
    fn mark_step(&self) -> Duration {
        if self.borrowed.is_some() {
            BORROW_MARK_STEP
        } else {
            MARK_STEP
        }
    }

    /// Whether the server's last word is that this machine is gone: the agent then takes no
    /// seat again by itself.
    pub fn machine_is_gone(&self) -> bool {
        self.server_says_gone()
            || self
                .server_said
                .as_ref()
                .is_some_and(|w| w.code == DEACTIVATED_HERE)
    }

    /// Whether the server's signed word is that this machine is gone (deactivated elsewhere,
    /// unknown, or moved): with a key, only the user takes a seat again. A deactivation made
    /// here is not that: a key found beside it is a new activation's, under way.
    pub fn server_says_gone(&self) -> bool {
        self.server_said.as_ref().is_some_and(|w| {
            matches!(
                w.code.as_str(),
                "machine_deactivated" | "machine_not_found" | "machine_moved"
            )
        })
    }

    /// Remembers a request file's nonce, made at `now` (the newest [`MAX_PENDING_REQUESTS`]
    /// are kept, for [`PENDING_LIFETIME`]).
    pub fn remember_request(&mut self, nonce: &str, now: OffsetDateTime) {
        self.forget_stale_requests(now);
        self.guard.observe(now);
        self.pending_requests.push(PendingRequest {
            nonce: nonce.to_owned(),
            created_at: now.unix_timestamp(),
            mark: self.guard.high_water().map(OffsetDateTime::unix_timestamp),
        });
        let excess = self
            .pending_requests
            .len()
            .saturating_sub(MAX_PENDING_REQUESTS);
        self.pending_requests.drain(..excess);
    }

    fn forget_stale_requests(&mut self, now: OffsetDateTime) {
        let oldest = (now - PENDING_LIFETIME).unix_timestamp();
        self.pending_requests.retain(|r| r.created_at >= oldest);
    }

    /// Whether `stored`, the anchor in the credential store, vouches for the seat borrowed
    /// here: it names it (with no seat borrowed there is nothing to vouch for). A missing
    /// anchor vouches for nothing; nor does one rewritten by another copy of this state that
    /// returned the seat — which the running agent reads again while it holds the seat, so a
    /// copy of the data folder running beside the original cannot keep it.
    pub fn borrow_anchored_in(&self, stored: Option<&Anchor>) -> bool {
        self.borrowed
            .as_ref()
            .is_none_or(|b| stored.is_some_and(|a| a.borrow.is_some() && a.borrow == borrow_tag(b)))
    }

    /// The anchor as it stands now.
    pub fn anchor(&self) -> Option<Anchor> {
        Some(Anchor {
            mark: self.guard.high_water()?.unix_timestamp(),
            newest: self.newest_issued_at,
            gone: self.machine_is_gone(),
            borrow: self.borrowed.as_ref().and_then(borrow_tag),
        })
    }

    /// The anchor to write to the credential store now, if it should be rewritten: the newest
    /// file or the server's word changed, the high-water mark ran [`MARK_STEP`] past the
    /// `stored` one, or moved below it (an online refresh restarts it from the server's time).
    ///
    /// It only moves forward: a memory that knows of no newer file than the store (an older
    /// copy of the data folder, put back) does not make it forget the newest file it knows of,
    /// nor that the machine is gone — or a second copy put back would be vouched for.
    pub fn anchor_to_store(&self, stored: Option<Anchor>) -> Option<Anchor> {
        let mut now = self.anchor()?;
        if let Some(stored) = stored {
            if stored.newest > now.newest {
                now.newest = stored.newest;
                now.gone = stored.gone;
            } else if stored.newest == now.newest {
                now.gone |= stored.gone;
            }
        }
        match stored {
            Some(stored)
                if stored.newest == now.newest
                    && stored.gone == now.gone
                    && stored.borrow == now.borrow
                    && now.mark >= stored.mark
                    && now.mark - stored.mark < self.mark_step().whole_seconds() =>
            {
                None
            }
            _ => Some(now),
        }
    }

    /// The licence state now, with the trust rules applied before the state model's.
    /// `can_refresh` says whether the agent can renew the file itself (it holds the key): then
    /// the refresh point passing is not yet `grace` — the renewal is under way — until an
    /// attempt fails, so a routine renewal never shows the user a false "working offline".
    pub fn evaluate(
        &self,
        cached: Cached<'_>,
        now: OffsetDateTime,
        policy: &RefreshPolicy,
        can_refresh: bool,
    ) -> Evaluation {
        let plain = evaluate(cached, now, &self.record, &self.guard, policy);
        if plain.state == LicenseState::Grace
            && can_refresh
            && self.record.consecutive_failures == 0
            && self.unconfirmed.is_none()
        {
            return Evaluation {
                state: LicenseState::Active,
                entitled: true,
                reason: None,
                ..plain
            };
        }
        match (cached, &self.unconfirmed) {
            // A file the memory cannot vouch for does not entitle; a signed non-active status
            // still says what it says.
            (Cached::Verified(file), Some(reason)) if file.check_status().is_ok() => Evaluation {
                state: LicenseState::ClockTampered,
                entitled: false,
                reason: Some(reason.clone()),
                offline_valid_until: plain.offline_valid_until,
                next_change_at: None,
            },
            // The server's word that the machine is gone is said; the user's own deactivation
            // here needs no word.
            (Cached::None, _) if self.machine_is_gone() => Evaluation {
                reason: self
                    .server_said
                    .as_ref()
                    .map(|w| w.code.clone())
                    .filter(|code| code != DEACTIVATED_HERE),
                ..plain
            },
            _ => plain,
        }
    }
}

//! Seats of a floating licence (`docs/floating.md`): a local app asks for one over its IPC
//! connection; the agent checks out a lease (one for this agent, shared by every app that
//! asks it), renews it while any of them holds it, and releases it on the server as soon as
//! the last one lets go — by `release`, by closing its connection, or by dying, which closes
//! its connection too.
//!
//! A lease is timed by this machine's monotonic clock from the lease's signed length, not by
//! its wall clock: a clock turned back does not keep a seat past its end, and a clock that is
//! fast does not refuse a fresh one. Only the agent knows the lease's secret, so nobody else
//! holding the licence key can renew or release it.

use std::time::Duration;

use licentric_core::random::random_hex_128;
use licentric_core::{Clock, OsRandom, VerifiedLease};
use licentric_proto::api::{
    ApiErrorCode, LeaseRequest, LeaseResponse, ReleaseLeaseRequest, RenewLeaseRequest,
};
use licentric_proto::ipc::CheckoutResult;
use tokio::time::Instant;
use zeroize::Zeroizing;

use super::Agent;
use crate::api::ApiError;

#[path = "borrow.rs"]
mod borrow;
#[path = "own_seats.rs"]
mod own;
use crate::error::AgentError;
use crate::plan::LeaseView;

/// How long a held lease goes at most without a renewal, whatever its length: a seat given
/// back on the server behind the agent's back (or lost there) is noticed within this.
const MAX_RENEWAL_GAP: Duration = Duration::from_secs(60);

/// After a failed renewal, the next try.
const RETRY: Duration = Duration::from_secs(5);
/// How soon a renewal refused for want of seats (the licence lowered) is asked again: a
/// minute, for a seat come free meanwhile.
const NO_SEAT_RETRY: Duration = Duration::from_secs(60);

/// This agent's seat and the lock that lets one checkout at a time go to the server. No
/// lock on the seat is held across a call to the server: a slow server delays the app that
/// asked, not the others, nor a release.
#[derive(Default)]
pub(crate) struct SeatDesk {
    state: tokio::sync::Mutex<Seats>,
    fetch: tokio::sync::Mutex<()>,
}

/// This agent's seat, shared by the apps holding it; and, where the product gives each app
/// process a seat of its own, the seats of the other apps.
#[derive(Default)]
pub(crate) struct Seats {
    held: Option<Held>,
    holders: u32,
    /// A renewal task is running.
    renewing: bool,
    /// Seats of one app each (a per-process product), by hold.
    own: std::collections::BTreeMap<u64, Held>,
    next_own: u64,
}

impl Seats {
    /// The seats held here, as the status shows them: the shared seat (or the first of the
    /// apps' own), the apps holding a seat here, and the most seats the server said are in
    /// use.
    fn view(&self) -> Option<LeaseView> {
        let base = self.held.as_ref().or_else(|| self.own.values().next())?;
        let holders = self.holders + u32::try_from(self.own.len()).unwrap_or(u32::MAX);
        let mut view = base.view(holders);
        view.seats_in_use = self
            .own
            .values()
            .chain(self.held.as_ref())
            .map(|h| h.seats_in_use)
            .max()
            .unwrap_or(view.seats_in_use);
        Some(view)
    }
}

/// What a renewal's answer means for the lease it renewed.
#[allow(clippy::large_enum_variant)] // made once a renewal, and moved into the seats at once
enum Renewal {
    /// Renewed: the lease as it is now.
    Renewed(Held),
    /// Not renewed yet; it still holds: try again then.
    TryAgainAt(Instant),
    /// The server says it is gone, or it ran out unrenewed.
    Gone,
}

struct Held {
    lease: VerifiedLease,
    /// The secret that renews and releases it (the checkout's answer; renewals keep it).
    secret: Zeroizing<String>,
    seats_in_use: u32,
    /// When it was received, and when it ends, by the monotonic clock (the timers').
    received: Instant,
    ends: Instant,
    /// When it ends by the agent's steady clock ([`Clock::steady`], which counts the time the
    /// machine slept where the system has one).
    ends_steady: std::time::Duration,
    /// Its end as the wall clock read it when it arrived (what the status shows).
    ends_on_wall: time::OffsetDateTime,
}

impl Held {
    /// Whether it still holds its seat by `clock`: by its steady clock (which a wall clock
    /// turned back does not fool, and which counts the time the machine slept) and by its wall
    /// clock (where the steady one stands still in sleep, the server's does not).
    fn holds(&self, clock: &dyn Clock) -> bool {
        clock.steady() < self.ends_steady && clock.now() < self.ends_on_wall
    }

    /// What `answer`, the renewal of this lease, means for it by `clock`: renewed; not
    /// renewed yet while it still holds (try again after [`RETRY`], before its end); or gone
    /// (the server says so, or it ran out unrenewed).
    fn after_renewal(&self, answer: Result<Held, AgentError>, clock: &dyn Clock) -> Renewal {
        let id = self.lease_id();
        match answer {
            Ok(renewed) => Renewal::Renewed(renewed),
            Err(AgentError::Api(ApiError::Rejected {
                code: ApiErrorCode::LeaseNotFound,
                ..
            })) => {
                tracing::warn!(lease = %id, "the server says the seat is gone");
                Renewal::Gone
            }
            // The licence has fewer seats now, and seats held longer keep theirs: this one is
            // not renewed, and runs out at its end (the apps keep it until then) — unless a seat
            // comes free meanwhile, which a renewal asked now and then finds.
            Err(AgentError::Api(ApiError::Rejected {
                code: ApiErrorCode::NoSeatAvailable,
                ..
            })) if self.holds(clock) => {
                tracing::warn!(lease = %id, "the licence has fewer seats now: this seat runs out at its end unless one comes free");
                Renewal::TryAgainAt((Instant::now() + NO_SEAT_RETRY).min(self.ends))
            }
            Err(e) if self.holds(clock) => {
                tracing::warn!(lease = %id, error = %e, "cannot renew the seat yet; trying again");
                Renewal::TryAgainAt((Instant::now() + RETRY).min(self.ends))
            }
            Err(e) => {
                tracing::warn!(lease = %id, error = %e, "the seat's lease ran out unrenewed");
                Renewal::Gone
            }
        }
    }

    /// Borrowed for a trip: held to its end with no renewal, by no app in particular.
    fn borrowed(&self) -> bool {
        self.lease.payload().borrowed
    }

    fn lease_id(&self) -> &str {
        &self.lease.payload().lease_id
    }

    /// Whether it carries entitlement `code`.
    fn carries(&self, code: &str) -> bool {
        self.lease.payload().entitlements.iter().any(|e| e == code)
    }

    /// Not shared between apps: the product gives each app process a seat of its own.
    fn per_process(&self) -> bool {
        self.lease.payload().per_process
    }

    /// What the app that holds it is told.
    fn result(&self) -> CheckoutResult {
        let p = self.lease.payload();
        CheckoutResult {
            expires_at: crate::plan::rfc3339(self.ends_on_wall).unwrap_or_default(),
            seats_in_use: self.seats_in_use,
            max_seats: p.max_seats,
            entitlements: p.entitlements.clone(),
            lease_file: Some(self.lease.armored().to_owned()),
        }
    }

    /// When to renew: half-way through, and never more than [`MAX_RENEWAL_GAP`] after it came.
    fn renew_at(&self) -> Instant {
        let half = (self.ends - self.received) / 2;
        self.received + half.min(MAX_RENEWAL_GAP)
    }

    fn view(&self, holders: u32) -> LeaseView {
        let p = self.lease.payload();
        LeaseView {
            expires_at: self.ends_on_wall,
            seats_in_use: self.seats_in_use,
            max_seats: p.max_seats,
            entitlements: p.entitlements.clone(),
            holders,
            borrowed: p.borrowed,
            kept_to_end: p.borrowed && p.kept_to_end,
        }
    }
}

/// A local app's hold on this agent's seat: the app's connection keeps it, and when the
/// connection ends — the app released it, closed, or was killed — the agent is told, and the
/// last one to go gives the seat back to the server.
pub struct SeatHold {
    agent: Option<Agent>,
    /// The app's own seat (a per-process product), else the shared one.
    own: Option<u64>,
}

impl SeatHold {
    /// Lets go now: when this was the last hold, the seat is back on the server when this
    /// returns (or left to run out there, if the server cannot be reached).
    pub async fn release(mut self) {
        if let Some(agent) = self.agent.take() {
            agent.leave_seat(self.own).await;
        }
    }
}

/// A local app waiting for a seat, counted in the status (`seats_waiting`) while this lives.
pub(crate) struct WaitCount {
    agent: Option<Agent>,
}

impl WaitCount {
    /// Counts one more app waiting.
    pub(crate) async fn start(agent: &Agent) -> WaitCount {
        agent.count_waiting(1).await;
        WaitCount {
            agent: Some(agent.clone()),
        }
    }
}

impl Drop for WaitCount {
    fn drop(&mut self) {
        if let Some(agent) = self.agent.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(async move { agent.count_waiting(-1).await });
        }
    }
}

impl Drop for SeatHold {
    fn drop(&mut self) {
        if let Some(agent) = self.agent.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let own = self.own;
            runtime.spawn(async move { agent.leave_seat(own).await });
        }
    }
}

impl Agent {
    /// A seat of the floating licence for a local app: the one this agent holds (checked out
    /// for another app), else a new one from the server. The seat is the app's while it keeps
    /// the returned [`SeatHold`].
    ///
    /// # Errors
    /// [`AgentError::NotActivated`] without a stored key; the server's refusal
    /// (`no_seat_available`, `not_floating`…); [`AgentError::NotEntitled`] for a seat without
    /// `entitlement`.
    pub async fn checkout(
        &self,
        entitlement: Option<&str>,
    ) -> Result<(CheckoutResult, SeatHold), AgentError> {
        // The seat is widened once at most: a seat still without the entitlement after that
        // is refused by `hold`.
        let mut widened = false;
        loop {
            let seats = self.inner.seats.state.lock().await;
            if let Some(held) = seats.held.as_ref().filter(|h| h.holds(&*self.inner.clock)) {
                // Each app process its own seat, where the product says so (a borrowed seat
                // is the machine's, shared).
                if held.per_process() && !held.borrowed() && seats.holders > 0 {
                    drop(seats);
                    return self.checkout_own(entitlement).await;
                }
                // An entitlement the seat does not carry yet: the licence may count its seats
                // apart, and one of them may be free. Then judged again from the top (the seat
                // and its holders may have changed meanwhile).
                if !widened
                    && let Some(code) = entitlement.filter(|c| !held.carries(c) && !held.borrowed())
                {
                    let id = held.lease_id().to_owned();
                    drop(seats);
                    self.widen_seat(&id, code).await?;
                    widened = true;
                    continue;
                }
                return self.hold(seats, entitlement).await;
            }
            drop(seats);
            // One checkout goes to the server at a time; the others then find its seat.
            let _one = self.inner.seats.fetch.lock().await;
            if self
                .look_at_held(|h| h.is_some_and(|h| h.holds(&*self.inner.clock)))
                .await
            {
                continue;
            }
            let held = self.fetch_seat(entitlement).await?;
            self.remember(&held).await;
            self.inner.seats.state.lock().await.held = Some(held);
        }
    }

    /// What `look` sees of the seat this machine holds now (`None`: no seat), read under the
    /// seats' lock.
    async fn look_at_held<T>(&self, look: impl FnOnce(Option<&Held>) -> T) -> T {
        look(self.inner.seats.state.lock().await.held.as_ref())
    }

    /// The held lease `id`, renewed asking that it carry `code` too: the server gives it one
    /// of that entitlement's seats if the licence counts them apart and one is free.
    ///
    /// # Errors
    /// `no_seat_available` when all of that entitlement's seats are held; the server's other
    /// refusals, a network failure.
    async fn widen_seat(&self, id: &str, code: &str) -> Result<(), AgentError> {
        let _one = self.inner.seats.fetch.lock().await;
        // Judged again under the lock a borrow takes: a renewal of a seat borrowed meanwhile
        // would turn it back into an ordinary one on the server, while this machine keeps it.
        let Some(secret) = self
            .look_at_held(|h| {
                h.filter(|h| h.lease_id() == id && !h.borrowed())
                    .map(|h| h.secret.clone())
            })
            .await
        else {
            return Ok(()); // replaced or borrowed meanwhile: `hold` judges it
        };
        let wider = self
            .renewed_with(id, secret, None, Some(code.to_owned()))
            .await?;
        let mut seats = self.inner.seats.state.lock().await;
        if seats.held.as_ref().is_some_and(|h| h.lease_id() == id) {
            seats.held = Some(wider);
        }
        Ok(())
    }

    /// The seat `hold` is, answered again without a new one, where taking one would cost a
    /// seat: a per-process seat (the app's own, or the shared one of a per-process product)
    /// that carries `entitlement`. `None`: ask as usual.
    pub(crate) async fn answer_again(
        &self,
        hold: &SeatHold,
        entitlement: Option<&str>,
    ) -> Option<CheckoutResult> {
        let seats = self.inner.seats.state.lock().await;
        let held = match hold.own {
            Some(id) => seats.own.get(&id)?,
            None => seats.held.as_ref().filter(|h| h.per_process())?,
        };
        (held.holds(&*self.inner.clock) && entitlement.is_none_or(|code| held.carries(code)))
            .then(|| held.result())
    }

    /// Keeps the held lease in the sealed state, so a restarted agent can give it back.
    async fn remember(&self, held: &Held) {
        let record = licentric_core::memory::HeldLease {
            lease_id: held.lease.payload().lease_id.clone(),
            secret: held.secret.to_string(),
        };
        let mut live = self.inner.live.lock().await;
        if live.memory.held_lease.as_ref() != Some(&record) {
            // Another lease kept there is not forgotten: it is given back at the next start.
            if let Some(other) = live.memory.held_lease.replace(record)
                && other.lease_id != held.lease_id()
            {
                live.memory.apps_leases.push(other);
            }
            let _ = self.persist(&mut live).await;
        }
    }

    /// Keeps an app's own lease in the sealed state, so a restarted agent can give it back.
    async fn remember_own(&self, held: &Held) {
        let mut live = self.inner.live.lock().await;
        live.memory
            .apps_leases
            .push(licentric_core::memory::HeldLease {
                lease_id: held.lease_id().to_owned(),
                secret: held.secret.to_string(),
            });
        let _ = self.persist(&mut live).await;
    }

    /// Lease `lease_id` is no longer this agent's to give back: the sealed state forgets it
    /// (and only it: another lease kept there meanwhile stays).
    async fn forget(&self, lease_id: &str) {
        let mut live = self.inner.live.lock().await;
        let memory = &mut live.memory;
        let shared = memory
            .held_lease
            .as_ref()
            .is_some_and(|h| h.lease_id == lease_id);
        if shared {
            memory.held_lease = None;
        }
        let before = memory.apps_leases.len();
        memory.apps_leases.retain(|h| h.lease_id != lease_id);
        if shared || memory.apps_leases.len() != before {
            let _ = self.persist(&mut live).await;
        }
    }

    /// At start: the leases a previous run of this agent held (it stopped without giving them
    /// back: killed, or the machine lost power) go back now, not when they run out.
    pub(crate) async fn give_back_previous_seat(&self) {
        let previous: Vec<_> = {
            let live = self.inner.live.lock().await;
            live.memory
                .held_lease
                .iter()
                .chain(&live.memory.apps_leases)
                .cloned()
                .collect()
        };
        for lease in previous {
            if self.release(&lease.lease_id, &lease.secret).await {
                self.forget(&lease.lease_id).await;
            }
        }
    }

    /// Asks the server now whether the held seat still stands (a renewal, made when an app
    /// that holds it asks for it again): one the server says is gone — freed by the vendor,
    /// say — is replaced by a new one for the apps holding it, if a seat is free. A server
    /// that cannot be reached changes nothing (the lease holds until its end).
    pub(crate) async fn confirm_seat(&self) {
        // One call about the seat goes to the server at a time: a renewal must not cross a
        // borrow (it would turn the borrowed lease back into an ordinary one).
        let one = self.inner.seats.fetch.lock().await;
        let Some((id, secret)) = self
            .look_at_held(|h| {
                h.filter(|h| !h.borrowed()) // a borrowed seat is answered here, offline
                    .map(|h| (h.lease_id().to_owned(), h.secret.clone()))
            })
            .await
        else {
            return;
        };
        let answer = self.renewed(&id, secret).await;
        drop(one);
        let mut seats = self.inner.seats.state.lock().await;
        if seats
            .held
            .as_ref()
            .is_none_or(|h| h.lease.payload().lease_id != id)
        {
            return; // given back or replaced meanwhile
        }
        match answer {
            Ok(held) => seats.held = Some(held),
            Err(AgentError::Api(ApiError::Rejected {
                code: ApiErrorCode::LeaseNotFound,
                ..
            })) => {
                tracing::warn!(lease = %id, "the server says the seat is gone; taking another");
                seats.held = None;
                drop(seats);
                self.take_another_seat().await;
            }
            Err(e) => tracing::warn!(lease = %id, error = %e, "cannot confirm the seat now"),
        }
    }

    /// The seat the apps here held is gone (freed by the vendor, or a borrow ended): a new
    /// one for them, if one is free and they still hold it; the status says which.
    async fn take_another_seat(&self) {
        let again = {
            let _one = self.inner.seats.fetch.lock().await;
            self.fetch_seat(None).await
        };
        self.adopt_seat(again).await;
    }

    /// `again` becomes the seat of the apps here, if they still hold one and have none;
    /// otherwise it goes back to the server. The status says which.
    async fn adopt_seat(&self, again: Result<Held, AgentError>) {
        if let Ok(held) = &again {
            self.remember(held).await;
        }
        let mut seats = self.inner.seats.state.lock().await;
        let unwanted = match again {
            Ok(held) if seats.holders > 0 && seats.held.is_none() => {
                seats.held = Some(held);
                if !seats.renewing {
                    seats.renewing = true;
                    tokio::spawn(self.clone().renewal_task());
                }
                None
            }
            Ok(held) => Some(held),
            Err(e) => {
                tracing::warn!(error = %e, "no other seat for now");
                None
            }
        };
        drop(seats);
        if let Some(held) = unwanted {
            self.release_on_server(held).await;
        }
        self.show_lease().await;
    }

    /// A new lease from the server (no lock held).
    async fn fetch_seat(&self, entitlement: Option<&str>) -> Result<Held, AgentError> {
        let key = self.stored_key().await?.ok_or(AgentError::NotActivated)?;
        let nonce =
            random_hex_128(&mut OsRandom).map_err(|e| AgentError::Internal(e.to_string()))?;
        let body = LeaseRequest {
            fingerprint: self.fingerprint().as_str().to_owned(),
            nonce: nonce.clone(),
            label: Some(self.config().product_name.chars().take(255).collect()),
            borrow_until: None,
            entitlement: entitlement.map(str::to_owned),
        };
        let answer = self.inner.api.lease(&key, &body).await?;
        let secret = answer.lease_secret.clone().ok_or_else(|| {
            AgentError::Api(ApiError::InvalidResponse(
                "a lease without its secret".into(),
            ))
        })?;
        self.verified(&answer, &nonce, Zeroizing::new(secret))
    }

    /// One more app holds the seat in `seats` (held now), if it carries `entitlement`.
    async fn hold(
        &self,
        mut seats: tokio::sync::MutexGuard<'_, Seats>,
        entitlement: Option<&str>,
    ) -> Result<(CheckoutResult, SeatHold), AgentError> {
        let (result, missing) = {
            let Some(held) = &seats.held else {
                return Err(AgentError::Internal("no seat to hold".into()));
            };
            let p = held.lease.payload();
            let missing = entitlement.filter(|code| !p.entitlements.iter().any(|e| e == code));
            (held.result(), missing)
        };
        if let Some(code) = missing {
            // The seat stays this agent's only while someone holds it — or while it is
            // borrowed: that one is this machine's until its end, and only a return ends it.
            let borrowed = seats.held.as_ref().is_some_and(Held::borrowed);
            if borrowed {
                return Err(AgentError::NotInBorrowedSeat(code.to_owned()));
            }
            let unheld = if seats.holders == 0 {
                seats.held.take()
            } else {
                None
            };
            drop(seats);
            if let Some(held) = unheld {
                self.release_on_server(held).await;
                self.show_lease().await;
            }
            return Err(AgentError::NotEntitled(code.to_owned()));
        }
        seats.holders += 1;
        let borrowed = seats.held.as_ref().is_some_and(Held::borrowed);
        if !seats.renewing && !borrowed {
            seats.renewing = true;
            tokio::spawn(self.clone().renewal_task());
        }
        drop(seats);
        self.show_lease().await;
        Ok((
            result,
            SeatHold {
                agent: Some(self.clone()),
                own: None,
            },
        ))
    }

    /// A local app let go of its seat: the last one to go gives it back to the server (before
    /// the status says so).
    pub(crate) async fn leave_seat(&self, own: Option<u64>) {
        if let Some(id) = own {
            return self.leave_own(id).await;
        }
        let mut seats = self.inner.seats.state.lock().await;
        seats.holders = seats.holders.saturating_sub(1);
        // A borrowed seat stays this machine's with no app holding it.
        if seats.holders == 0 && !seats.held.as_ref().is_some_and(Held::borrowed) {
            let held = seats.held.take();
            drop(seats);
            if let Some(held) = held {
                self.release_on_server(held).await;
            }
            self.show_lease().await;
        } else {
            drop(seats);
            self.show_lease().await;
        }
    }

    /// Gives the seat back whoever holds it (the agent stops, or the licence is deactivated):
    /// the apps holding it are told it is gone. A borrowed seat stays borrowed (it is the
    /// machine's until its end, agent running or not); deactivating returns it too.
    pub async fn give_back_seats(&self) {
        let (held, own) = {
            let mut seats = self.inner.seats.state.lock().await;
            seats.holders = 0;
            let held = if seats.held.as_ref().is_some_and(Held::borrowed) {
                None
            } else {
                seats.held.take()
            };
            let own = std::mem::take(&mut seats.own);
            (held, own)
        };
        for held in held.into_iter().chain(own.into_values()) {
            self.release_on_server(held).await;
        }
        self.show_lease().await;
    }

    /// Releases `held` on the server (a failure leaves it to run out there).
    async fn release_on_server(&self, held: Held) {
        let id = held.lease.payload().lease_id.clone();
        if held.borrowed() {
            // Only a return (`return_borrowed`) gives a borrowed seat back, together with the
            // sealed state and the anchor that keep it here.
            tracing::error!(lease = %id, "a borrowed seat is given back only by a return");
            return;
        }
        self.forget(&id).await;
        self.release(&id, &held.secret).await;
    }

    /// Releases lease `lease_id` on the server with its `secret`; one the server no longer
    /// has is released too, and one it could not be told of frees itself when it runs out.
    /// Whether the server has it released (false: no key to ask with, or no answer).
    async fn release(&self, lease_id: &str, secret: &str) -> bool {
        let Ok(Some(key)) = self.stored_key().await else {
            tracing::warn!(lease = %lease_id, "no key to give the seat back with");
            return false;
        };
        let body = ReleaseLeaseRequest {
            lease_secret: secret.to_owned(),
        };
        match self.inner.api.release_lease(&key, lease_id, &body).await {
            Ok(())
            | Err(ApiError::Rejected {
                code: ApiErrorCode::LeaseNotFound,
                ..
            }) => {
                tracing::info!(lease = %lease_id, "gave the seat back");
                true
            }
            Err(e) => {
                tracing::warn!(lease = %lease_id, error = %e, "the seat could not be given back; it frees itself when its lease runs out");
                false
            }
        }
    }

    /// Renews the held lease while apps hold it; a lease the server says is gone, or that
    /// runs out unrenewed, is dropped at once (and the apps are told). The call to the server
    /// is made without the lock: a renewal that returns after the lease was given back (or
    /// replaced) meanwhile changes nothing.
    async fn renew_seat(self) {
        let mut next = {
            let seats = self.inner.seats.state.lock().await;
            seats.held.as_ref().map(Held::renew_at)
        };
        while let Some(at) = next {
            tokio::time::sleep_until(at).await;
            let one = self.inner.seats.fetch.lock().await;
            let (id, secret) = {
                let mut seats = self.inner.seats.state.lock().await;
                let Some(held) = seats
                    .held
                    .as_ref()
                    .filter(|h| seats.holders > 0 && !h.borrowed())
                else {
                    seats.renewing = false;
                    return;
                };
                (held.lease_id().to_owned(), held.secret.clone())
            };
            let answer = self.renewed(&id, secret).await;
            drop(one);
            let mut seats = self.inner.seats.state.lock().await;
            let Some(current) = seats
                .held
                .as_ref()
                .filter(|h| h.lease.payload().lease_id == id && seats.holders > 0)
            else {
                // Given back or replaced meanwhile: nothing of this renewal applies.
                next = seats
                    .held
                    .as_ref()
                    .filter(|_| seats.holders > 0)
                    .map(Held::renew_at);
                if next.is_none() {
                    seats.renewing = false;
                }
                continue;
            };
            let renewed = match current.after_renewal(answer, &*self.inner.clock) {
                Renewal::Renewed(held) => Some(held),
                Renewal::TryAgainAt(at) => {
                    next = Some(at);
                    continue;
                }
                Renewal::Gone => None,
            };
            next = renewed.as_ref().map(Held::renew_at);
            let lost = renewed.is_none();
            seats.held = renewed;
            if lost {
                seats.renewing = false;
            }
            drop(seats);
            self.show_lease().await;
            if lost {
                // The apps here still want a seat: another one, if one is free (they were told
                // the old one is gone; they are told of the new one too).
                self.forget(&id).await;
                self.take_another_seat().await;
                return;
            }
        }
        self.inner.seats.state.lock().await.renewing = false;
    }

    /// [`renew_seat`](Self::renew_seat) as a task of a named type: a seat lost in renewal
    /// takes another, whose renewal is this task again.
    fn renewal_task(self) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
        Box::pin(self.renew_seat())
    }

    async fn renewed(&self, lease_id: &str, secret: Zeroizing<String>) -> Result<Held, AgentError> {
        self.renewed_until(lease_id, secret, None).await
    }

    /// Lease `lease_id` renewed: for a lease's time, or borrowed until `borrow_until`.
    async fn renewed_until(
        &self,
        lease_id: &str,
        secret: Zeroizing<String>,
        borrow_until: Option<String>,
    ) -> Result<Held, AgentError> {
        self.renewed_with(lease_id, secret, borrow_until, None)
            .await
    }

    /// As [`renewed_until`](Self::renewed_until), asking that the lease carry `entitlement`
    /// too.
    async fn renewed_with(
        &self,
        lease_id: &str,
        secret: Zeroizing<String>,
        borrow_until: Option<String>,
        entitlement: Option<String>,
    ) -> Result<Held, AgentError> {
        let key = self.stored_key().await?.ok_or(AgentError::NotActivated)?;
        let nonce =
            random_hex_128(&mut OsRandom).map_err(|e| AgentError::Internal(e.to_string()))?;
        let body = RenewLeaseRequest {
            fingerprint: self.fingerprint().as_str().to_owned(),
            nonce: nonce.clone(),
            lease_secret: secret.to_string(),
            borrow_until,
            entitlement,
        };
        let answer = self.inner.api.renew_lease(&key, lease_id, &body).await?;
        self.verified(&answer, &nonce, secret)
    }

    /// The lease in `answer`, verified as the answer to the request with `nonce` just sent,
    /// and timed from now by the monotonic clock for its signed length.
    fn verified(
        &self,
        answer: &LeaseResponse,
        nonce: &str,
        secret: Zeroizing<String>,
    ) -> Result<Held, AgentError> {
        let received = Instant::now();
        let (wall, steady) = (self.inner.clock.now(), self.inner.clock.steady());
        let lease = self
            .inner
            .verifier
            .verify_lease(
                &answer.lease_file,
                &self.config().product_id,
                self.config().environment,
                self.fingerprint(),
                nonce,
                None,
            )
            .map_err(AgentError::LicenseFile)?;
        let p = lease.payload();
        let length = (p.expires_at - p.issued_at).max(time::Duration::ZERO);
        Ok(Held {
            secret,
            seats_in_use: answer.seats_in_use,
            received,
            ends: received + length.unsigned_abs(),
            ends_steady: steady + length.unsigned_abs(),
            ends_on_wall: wall + length,
            lease,
        })
    }

    /// One more (`1`) or one fewer (`-1`) local app waiting for a seat; the status says so.
    async fn count_waiting(&self, change: i32) {
        let mut live = self.inner.live.lock().await;
        live.seats_waiting = live.seats_waiting.saturating_add_signed(change);
        let now = self.inner.clock.now();
        self.publish(&mut live, now);
    }

    /// Publishes the status with `lease` as this agent's seat.
    ///
    /// The app that asked does not wait for the status to be worked out and pushed: the last
    /// one published stops answering at once (a status asked next is worked out afresh, with
    /// this seat), and the publication follows, one for any number of changes meanwhile.
    ///
    /// The seats are read now (not passed in): a view worked out before a call to the server
    /// could be older than a change made meanwhile.
    async fn show_lease(&self) {
        use std::sync::atomic::Ordering;
        {
            // Seats before the live state: no path holds the live state while it takes the
            // seats' lock.
            let seats = self.inner.seats.state.lock().await;
            let mut live = self.inner.live.lock().await;
            live.lease = seats.view();
            drop(seats);
            self.forget_snapshot();
        }
        if self.inner.seats_publishing.swap(true, Ordering::AcqRel) {
            return;
        }
        let agent = self.clone();
        tokio::spawn(async move {
            tokio::task::yield_now().await;
            // Cleared before the state is read: a change after this is in this publication
            // or makes its own.
            agent.inner.seats_publishing.store(false, Ordering::Release);
            let mut live = agent.inner.live.lock().await;
            let now = agent.inner.clock.now();
            agent.publish(&mut live, now);
        });
    }
}

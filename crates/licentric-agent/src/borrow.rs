//! Borrowing a seat of a floating licence for a trip (`docs/floating.md`): the server lends
//! this machine one seat until a chosen end, signed in a lease marked `borrowed`; the agent
//! keeps it in the sealed state and answers every checkout from it, offline and across
//! restarts, until its end — judged against the clock's high-water mark, so a clock turned
//! back does not lengthen it — or until the user returns it early. Whenever the server can be
//! reached, the agent asks it whether the borrow still stands (at each start, then hourly): one
//! the vendor ended — the lease freed, the licence revoked, suspended or expired — ends here
//! too, as a revocation reaches a node-locked machine at its next contact.

use std::time::Duration;

use licentric_core::Expectations;
use licentric_proto::api::ApiErrorCode;
use licentric_proto::ipc::{CheckoutResult, ReturnResult};
use time::OffsetDateTime;
use tokio::time::Instant;
use zeroize::Zeroizing;

use super::{Agent, Held};
use crate::api::ApiError;
use crate::error::AgentError;

/// How long before a borrowed seat ends the user is told.
const WARN_BEFORE: time::Duration = time::Duration::days(1);

/// How often a borrowed seat's end is judged again by the wall clock (the monotonic clock
/// stands still while the machine sleeps), and the clock's mark saved: the mark's step while a
/// seat is borrowed.
const LOOK_AGAIN: Duration = Duration::from_secs(60);

/// How often the server is asked whether a borrowed seat still stands, while it can be reached.
const CONFIRM_EVERY: Duration = Duration::from_secs(3600);
/// How soon it is asked again when it could not be reached (on a trip, most of the time).
const CONFIRM_AGAIN: Duration = Duration::from_secs(600);

/// What the user is told when the server says a borrow has ended.
const ENDED_BY_THE_SERVER: &str = "The licensing server says the seat this machine borrowed has ended: it was freed, or the licence is no longer active.";

/// What the user is told when another copy of this state returned the borrowed seat.
const RETURNED_ELSEWHERE: &str = "The seat borrowed on this machine was returned from another copy of the licensing service's data, and is no longer this machine's.";

/// How long before a borrowed seat ends it becomes an ordinary lease again, if apps here hold
/// it (the server then keeps their seat; at the end it would be free for anyone).
const KEEP_FOR_APPS_BEFORE: time::Duration = time::Duration::minutes(2);

impl Agent {
    /// Borrows a seat until `until`: the one the apps here hold (no second seat is taken), or
    /// a new one. The seat is this machine's until then, offline, apps running or not.
    ///
    /// # Errors
    /// [`AgentError::NotActivated`] without a key; the server's refusal (`borrow_too_long`,
    /// `borrow_not_allowed`, `no_seat_available`, `not_floating`…); a network failure (nothing
    /// changes here).
    pub async fn borrow(&self, until: OffsetDateTime) -> Result<CheckoutResult, AgentError> {
        let _one = self.inner.seats.fetch.lock().await;
        let borrow_until = Some(crate::plan::rfc3339(until).ok_or_else(|| {
            AgentError::Internal("the borrow's end cannot be written as a date".into())
        })?);
        let current = {
            let seats = self.inner.seats.state.lock().await;
            seats
                .held
                .as_ref()
                .filter(|h| h.holds(&*self.inner.clock))
                .map(|h| (h.lease_id().to_owned(), h.secret.clone()))
        };
        // With no seat held, an ordinary one first, kept in the sealed state: an answer to the
        // borrow lost on the way then cannot leave a lease of days that nobody here can give
        // back.
        let (id, secret, fresh) = match current {
            Some((id, secret)) => (id, secret, false),
            None => {
                let seat = self.fetch_seat(None).await?;
                self.remember(&seat).await;
                (seat.lease_id().to_owned(), seat.secret.clone(), true)
            }
        };
        let held = match self.renewed_until(&id, secret.clone(), borrow_until).await {
            Ok(held) => held,
            Err(e) => {
                if fresh && self.release(&id, &secret).await {
                    self.forget(&id).await;
                }
                return Err(e);
            }
        };
        if !held.borrowed() {
            return Err(AgentError::Api(ApiError::InvalidResponse(
                "the server answered with a lease that is not borrowed".into(),
            )));
        }
        if let Err(e) = self.seal_borrow(&held).await {
            // A borrow this machine cannot keep is no borrow: given back (or, with apps here,
            // kept as their ordinary seat), and the user told why.
            tracing::warn!(error = %e, "the borrowed seat could not be saved; giving it back");
            let id = held.lease_id().to_owned();
            let holders = self.inner.seats.state.lock().await.holders;
            let ordinary = if holders > 0 {
                self.renewed(&id, held.secret.clone()).await.ok()
            } else {
                None
            };
            if ordinary.is_none() {
                self.release(&id, &held.secret).await;
            }
            {
                let mut seats = self.inner.seats.state.lock().await;
                if seats.held.as_ref().is_none_or(|h| h.lease_id() == id) {
                    seats.held = ordinary;
                }
            }
            let mut live = self.inner.live.lock().await;
            let _ = self.persist(&mut live).await;
            drop(live);
            self.show_lease().await;
            return Err(e);
        }
        let result = held.result();
        let id = held.lease_id().to_owned();
        let (replaced, watched) = {
            let mut seats = self.inner.seats.state.lock().await;
            let old = seats.held.replace(held);
            // Borrowed again (a new end): the watch of this lease goes on.
            let watched = old
                .as_ref()
                .is_some_and(|o| o.lease_id() == id && o.borrowed());
            let replaced = old.filter(|o| o.lease_id() != id);
            (replaced, watched)
        };
        if let Some(old) = replaced {
            self.release_on_server(old).await;
        }
        if !watched {
            // Just granted: the server's word is fresh.
            tokio::spawn(self.clone().watch_borrow(id, Some(Instant::now())));
        }
        self.show_lease().await;
        Ok(result)
    }

    /// Borrowed seat `held` kept in both copies that vouch for it at the next start: the sealed
    /// state, and the anchor in the credential store. Neither changes when either fails.
    async fn seal_borrow(&self, held: &Held) -> Result<(), AgentError> {
        let mut live = self.inner.live.lock().await;
        let before = live.memory.clone();
        let nonce = held.lease.payload().nonce.clone();
        live.memory
            .borrow(&held.lease, &held.secret, &nonce, self.inner.clock.now());
        let saved = self.persist(&mut live).await.and_then(|()| {
            match live.memory.anchor_to_store(live.anchor_stored) {
                None => Ok(()),
                Some(_) => Err(AgentError::Credentials(
                    "the credential store did not keep the borrowed seat".into(),
                )),
            }
        });
        if saved.is_err() {
            live.memory = before;
            // `persist` said the borrow before the store refused it.
            self.publish(&mut live, self.inner.clock.now());
        }
        saved
    }

    /// Gives the borrowed seat back early: to the server for others at once, or — while apps
    /// here hold it — kept for them as an ordinary lease, renewed while they run.
    ///
    /// # Errors
    /// [`AgentError::NotBorrowed`]; a server that cannot be reached (the seat stays borrowed
    /// until its end).
    pub async fn return_borrowed(&self) -> Result<ReturnResult, AgentError> {
        let one = self.inner.seats.fetch.lock().await;
        let (id, secret, end, kept_to_end) = {
            let seats = self.inner.seats.state.lock().await;
            let held = seats
                .held
                .as_ref()
                .filter(|h| h.borrowed())
                .ok_or(AgentError::NotBorrowed)?;
            (
                held.lease_id().to_owned(),
                held.secret.clone(),
                held.lease.payload().expires_at,
                held.lease.payload().kept_to_end,
            )
        };
        // The product keeps it counted to its end (signed in the lease): said here, as the
        // server would say it, before anything is given up.
        if kept_to_end {
            let until = crate::plan::readable(end).unwrap_or_default();
            return Err(AgentError::Api(ApiError::Rejected {
                status: ApiErrorCode::BorrowKeptToEnd.http_status(),
                code: ApiErrorCode::BorrowKeptToEnd,
                message: format!(
                    "This product keeps a borrowed seat this machine's until its end ({until}): it cannot be returned early."
                ),
                max_machines: None,
                license_file: None,
                statement: None,
                retry_at: None,
                changed_components: None,
            }));
        }
        // The server must answer before anything here is given up: offline, the seat stays
        // borrowed. (Borrowing it again to the same end changes nothing there.)
        match self
            .renewed_until(&id, secret.clone(), crate::plan::rfc3339(end))
            .await
        {
            Ok(_)
            | Err(AgentError::Api(ApiError::Rejected {
                code: ApiErrorCode::LeaseNotFound,
                ..
            })) => {}
            Err(e) => return Err(e),
        }
        // From here the sealed state no longer holds it as borrowed, whatever becomes of the
        // answers below: one lost on the way must not leave it borrowed here, across a
        // restart, while the server has it free. (Its lease is kept to be given back at the
        // next start if the release does not get through.)
        self.unseal_borrow(&id, None).await;
        tracing::info!(lease = %id, "returned the borrowed seat");
        // Whether apps hold it, decided with the seat taken under the same lock when none do:
        // an app's checkout meanwhile then finds no seat and waits for a fresh one (the fetch
        // lock is held here), instead of holding one that is about to go.
        let holders = {
            let mut seats = self.inner.seats.state.lock().await;
            if seats.holders == 0 && seats.held.as_ref().is_some_and(|h| h.lease_id() == id) {
                seats.held = None;
            }
            seats.holders
        };
        if holders > 0 {
            // Apps here hold it: theirs as an ordinary lease (or another seat). They hold the
            // borrowed seat until the ordinary lease is in hand, so they see no gap.
            match self.renewed(&id, secret.clone()).await {
                Ok(ordinary) => {
                    self.remember(&ordinary).await;
                    self.replace_borrowed(&id, Some(ordinary)).await;
                }
                Err(_) => {
                    self.replace_borrowed(&id, None).await;
                    if self.release(&id, &secret).await {
                        self.forget(&id).await;
                    }
                    drop(one);
                    self.take_another_seat().await;
                }
            }
        } else {
            self.show_lease().await;
            if self.release(&id, &secret).await {
                self.forget(&id).await;
            }
        }
        Ok(ReturnResult {
            kept_for_apps: holders > 0,
        })
    }

    /// Deactivating where the product keeps borrowed seats to their end: the seat borrowed
    /// here is no longer used here, and nothing is asked of the server, which counts it to its
    /// end whatever this machine does.
    pub(crate) async fn let_kept_borrow_go(&self) {
        let _one = self.inner.seats.fetch.lock().await;
        let Some(id) = self
            .look_at_held(|h| h.filter(|h| h.borrowed()).map(|h| h.lease_id().to_owned()))
            .await
        else {
            return;
        };
        tracing::info!(lease = %id, "deactivating: the borrowed seat, kept to its end, is no longer used here");
        self.end_borrow(&id, None).await;
    }

    /// Borrowed seat `id` is no longer borrowed: forgotten by the sealed state, and replaced by
    /// `ordinary` (the same lease, renewed for apps still holding it) or by nothing.
    async fn end_borrow(&self, id: &str, ordinary: Option<Held>) {
        self.unseal_borrow(id, ordinary.as_ref()).await;
        self.replace_borrowed(id, ordinary).await;
    }

    /// The sealed state forgets borrowed seat `id`, keeping `ordinary` (the same lease,
    /// renewed for apps still holding it) as this agent's lease instead.
    async fn unseal_borrow(&self, id: &str, ordinary: Option<&Held>) {
        let mut live = self.inner.live.lock().await;
        if live
            .memory
            .borrowed
            .as_ref()
            .is_some_and(|b| b.lease.lease_id == id)
        {
            live.memory.drop_borrowed();
            if let Some(h) = ordinary {
                live.memory.held_lease = Some(licentric_core::memory::HeldLease {
                    lease_id: h.lease_id().to_owned(),
                    secret: h.secret.to_string(),
                });
            }
            let _ = self.persist(&mut live).await;
        }
    }

    /// Borrowed seat `id`, held here, is replaced by `ordinary` or by nothing; with no app
    /// holding it any more (or another seat held here meanwhile), the ordinary lease is given
    /// back.
    async fn replace_borrowed(&self, id: &str, ordinary: Option<Held>) {
        let unheld = {
            let mut seats = self.inner.seats.state.lock().await;
            if seats.held.as_ref().is_some_and(|h| h.lease_id() == id) {
                seats.held = ordinary;
                if seats.holders == 0 {
                    // The apps left meanwhile: nobody holds the ordinary lease.
                    seats.held.take()
                } else {
                    if seats.held.is_some() && !seats.renewing {
                        seats.renewing = true;
                        tokio::spawn(self.clone().renewal_task());
                    }
                    None
                }
            } else {
                ordinary
            }
        };
        if let Some(held) = unheld {
            self.release_on_server(held).await;
        }
        self.show_lease().await;
    }

    /// At start: the seat borrowed by an earlier run holds again, if the sealed state vouches
    /// for it and it has not ended (by the clock, nor by its high-water mark); one that ended
    /// or cannot be vouched for is forgotten.
    pub(crate) async fn restore_borrow(&self) {
        let now = self.inner.clock.now();
        let (lease, kept) = {
            let live = self.inner.live.lock().await;
            let expect = Expectations {
                product_id: &self.config().product_id,
                environment: self.config().environment,
                fingerprint: self.fingerprint(),
                nonce: None,
            };
            let charge = licentric_core::memory::BORROW_MARK_STEP;
            let lease = live
                .memory
                .borrowed_seat(&self.inner.verifier, &expect, now, charge);
            let mark = live.memory.guard.high_water().map_or(now, |m| m.max(now)) + charge;
            (lease.map(|l| (l, mark)), live.memory.borrowed.clone())
        };
        let Some(kept) = kept else {
            return;
        };
        let Some((lease, mark)) = lease else {
            tracing::info!(lease = %kept.lease.lease_id, "the borrowed seat has ended");
            let mut live = self.inner.live.lock().await;
            live.memory.drop_borrowed();
            let _ = self.persist(&mut live).await;
            return;
        };
        let ends_on_wall = lease.payload().expires_at;
        let received = Instant::now();
        let left = (ends_on_wall - mark)
            .max(time::Duration::ZERO)
            .unsigned_abs();
        let held = Held {
            secret: Zeroizing::new(kept.lease.secret.clone()),
            // Unknown until the server is asked again; this machine's seat at least.
            seats_in_use: 1,
            received,
            ends: received + left,
            ends_steady: self.inner.clock.steady() + left,
            ends_on_wall,
            lease,
        };
        let id = held.lease_id().to_owned();
        self.inner.seats.state.lock().await.held = Some(held);
        // Kept from an earlier run: the server is asked at once whether it still stands.
        tokio::spawn(self.clone().watch_borrow(id, None));
        self.show_lease().await;
    }

    /// Watches borrowed seat `id` to its end: tells the user a day before, and when it ends,
    /// drops it (the apps holding it get an ordinary seat if one is free). Asks the server
    /// whether it still stands every [`CONFIRM_EVERY`] from `confirmed` (at once for `None`),
    /// and ends it when the vendor did.
    async fn watch_borrow(self, id: String, confirmed: Option<Instant>) {
        let mut warned = false;
        let mut confirm_at = confirmed.map_or_else(Instant::now, |at| at + CONFIRM_EVERY);
        loop {
            if Instant::now() >= confirm_at {
                match self.confirm_borrow(&id).await {
                    Confirmed::Stands => confirm_at = Instant::now() + CONFIRM_EVERY,
                    Confirmed::Unknown => confirm_at = Instant::now() + CONFIRM_AGAIN,
                    Confirmed::Ended => return self.borrow_ended(&id, ENDED_BY_THE_SERVER).await,
                    Confirmed::NotHeld => return,
                }
            }
            let (ends, ends_on_wall, holds) = {
                let seats = self.inner.seats.state.lock().await;
                match seats
                    .held
                    .as_ref()
                    .filter(|h| h.lease_id() == id && h.borrowed())
                {
                    Some(h) => (h.ends, h.ends_on_wall, h.holds(&*self.inner.clock)),
                    // Returned (its lease may go on as the apps' ordinary one), or replaced.
                    None => return,
                }
            };
            let now = self.inner.clock.now();
            if !holds {
                // Ended, unless borrowed again or returned meanwhile (checked with the server
                // calls held; a returned one is the apps' ordinary lease now, not this watch's).
                let _one = self.inner.seats.fetch.lock().await;
                let still = self
                    .look_at_held(|h| {
                        h.is_some_and(|h| {
                            h.lease_id() == id && (!h.borrowed() || h.holds(&*self.inner.clock))
                        })
                    })
                    .await;
                if !still {
                    break;
                }
                continue;
            }
            {
                let mut live = self.inner.live.lock().await;
                // Another copy of this state, running beside this one, returned the seat: the
                // anchor no longer names it, and it is not this machine's to keep.
                if !self.borrow_still_anchored(&live).await {
                    drop(live);
                    return self.returned_elsewhere(&id).await;
                }
                // The clock's mark, saved at each look: a restart with the clock turned back
                // gains nothing.
                self.observe_clock(&mut live.memory, now);
                let _ = self.persist(&mut live).await;
            }
            let left = ends_on_wall - now;
            if left <= KEEP_FOR_APPS_BEFORE && self.keep_for_apps(&id).await {
                return;
            }
            if !warned && left <= WARN_BEFORE {
                warned = true;
                let until = crate::plan::readable(ends_on_wall).unwrap_or_default();
                self.inner.notifier.notify(
                    &format!("{}: borrowed seat ends soon", self.config().product_name),
                    &format!(
                        "The seat this machine borrowed ends {until}. Connect to your network by then to keep working, or borrow it again."
                    ),
                );
            }
            let wait = (ends - Instant::now()).min(LOOK_AGAIN);
            let warn_in = (left - WARN_BEFORE)
                .max(time::Duration::ZERO)
                .unsigned_abs();
            let wait = if warned { wait } else { wait.min(warn_in) };
            let keep_in = (left - KEEP_FOR_APPS_BEFORE).max(time::Duration::ZERO);
            let wait = if keep_in.is_zero() {
                wait
            } else {
                wait.min(keep_in.unsigned_abs())
            };
            tokio::time::sleep(wait.max(Duration::from_millis(10))).await;
        }
        tracing::info!(lease = %id, "the borrowed seat ended");
        self.borrow_ended(
            &id,
            "The seat this machine borrowed has gone back to your team.",
        )
        .await;
    }

    /// Borrowed seat `id` has ended, the user told `why`: dropped, and the apps holding it
    /// get an ordinary seat if one is free.
    async fn borrow_ended(&self, id: &str, why: &str) {
        self.inner.notifier.notify(
            &format!("{}: borrowed seat ended", self.config().product_name),
            why,
        );
        let holders = self.inner.seats.state.lock().await.holders;
        self.end_borrow(id, None).await;
        if holders > 0 {
            self.take_another_seat().await;
        }
    }

    /// Borrowed seat `id` was returned by another copy of this state (the anchor no longer
    /// names it): it ends here too, and the user is told.
    async fn returned_elsewhere(&self, id: &str) {
        tracing::warn!(lease = %id, "the borrowed seat was returned by another copy of this state");
        self.borrow_ended(id, RETURNED_ELSEWHERE).await;
    }

    /// The user's Refresh: the anchor is read again and the server asked now whether the seat
    /// borrowed here still stands; a borrow returned elsewhere or ended by the vendor ends
    /// here.
    pub(crate) async fn confirm_borrow_now(&self) {
        let Some(id) = self
            .look_at_held(|h| h.filter(|h| h.borrowed()).map(|h| h.lease_id().to_owned()))
            .await
        else {
            return;
        };
        let anchored = {
            let live = self.inner.live.lock().await;
            self.borrow_still_anchored(&live).await
        };
        if !anchored {
            return self.returned_elsewhere(&id).await;
        }
        if let Confirmed::Ended = self.confirm_borrow(&id).await {
            self.borrow_ended(&id, ENDED_BY_THE_SERVER).await;
        }
    }

    /// Whether the server still counts borrowed seat `id` as this machine's: asked by borrowing
    /// it again to the same end, which changes nothing there.
    async fn confirm_borrow(&self, id: &str) -> Confirmed {
        let _one = self.inner.seats.fetch.lock().await;
        let Some((secret, end, carried)) = self
            .look_at_held(|h| {
                h.filter(|h| h.lease_id() == id && h.borrowed()).map(|h| {
                    let p = h.lease.payload();
                    (h.secret.clone(), p.expires_at, p.entitlements.clone())
                })
            })
            .await
        else {
            return Confirmed::NotHeld;
        };
        match self
            .renewed_until(id, secret, crate::plan::rfc3339(end))
            .await
        {
            // The server signs less than the seat held: an earlier end (the licence's end brought
            // it forward; no lease is signed past it), or an entitlement taken away (the licence
            // downgraded, or its count lowered). That holds here too, offline as well.
            Ok(renewed)
                if renewed.borrowed()
                    && (renewed.lease.payload().expires_at < end
                        || carried.iter().any(|code| !renewed.carries(code))) =>
            {
                self.narrow(renewed).await;
                Confirmed::Stands
            }
            Ok(_) => Confirmed::Stands,
            Err(AgentError::Api(ApiError::Rejected {
                code:
                    ApiErrorCode::LeaseNotFound
                    | ApiErrorCode::LicenseRevoked
                    | ApiErrorCode::LicenseSuspended
                    | ApiErrorCode::LicenseExpired,
                ..
            })) => {
                tracing::warn!(lease = %id, "the server says the borrowed seat has ended");
                Confirmed::Ended
            }
            Err(e) => {
                tracing::info!(lease = %id, error = %e, "cannot ask the server about the borrowed seat now");
                Confirmed::Unknown
            }
        }
    }

    /// The borrowed seat held here, narrowed by the server to `renewed` (an earlier end, or
    /// fewer entitlements): sealed so, and shown. It only takes away, so it holds here at once
    /// even when it cannot be saved (a full disk): the seat never carries more than the server
    /// says; after a restart the next confirmation narrows it again.
    async fn narrow(&self, renewed: Held) {
        let id = renewed.lease_id().to_owned();
        if let Err(e) = self.seal_borrow(&renewed).await {
            tracing::warn!(lease = %id, error = %e, "cannot save the borrowed seat as the server narrowed it; it holds so until the agent stops");
        }
        tracing::info!(lease = %id, "the server narrowed the borrowed seat (an earlier end, or fewer entitlements)");
        {
            let mut seats = self.inner.seats.state.lock().await;
            if seats.held.as_ref().is_some_and(|h| h.lease_id() == id) {
                seats.held = Some(renewed);
            }
        }
        self.show_lease().await;
    }

    /// Near its end, borrowed seat `id` held by apps here becomes their ordinary lease again;
    /// whether it did (a server that cannot be reached leaves it to end).
    async fn keep_for_apps(&self, id: &str) -> bool {
        let one = self.inner.seats.fetch.lock().await;
        let secret = {
            let seats = self.inner.seats.state.lock().await;
            match seats.held.as_ref() {
                Some(h) if seats.holders > 0 && h.borrowed() && h.lease_id() == id => {
                    h.secret.clone()
                }
                _ => return false,
            }
        };
        match self.renewed(id, secret).await {
            Ok(ordinary) => {
                drop(one);
                tracing::info!(lease = %id, "the borrow ends; the apps here keep the seat");
                self.end_borrow(id, Some(ordinary)).await;
                true
            }
            Err(e) => {
                tracing::warn!(lease = %id, error = %e, "cannot keep the borrowed seat for the apps here");
                false
            }
        }
    }

    /// A local app waited for a seat and has one now: the user is told.
    pub(crate) fn tell_seat_came_free(&self) {
        self.inner.notifier.notify(
            &format!("{}: a seat is free", self.config().product_name),
            "The seat you were waiting for is yours now.",
        );
    }
}

/// What the server said of a borrowed seat.
enum Confirmed {
    /// It still counts it as this machine's.
    Stands,
    /// The vendor ended it: the lease was freed, or the licence is no longer active.
    Ended,
    /// It could not be asked (offline): nothing changes.
    Unknown,
    /// The seat is no longer borrowed here (returned, or replaced).
    NotHeld,
}

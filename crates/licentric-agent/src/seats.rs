//! Seats of a floating licence on this machine (`docs/floating.md`): a local app asks for one
//! over its IPC connection; the agent checks out a lease (one per machine, shared by every
//! app that asks), renews it while any of them holds it, and releases it on the server as
//! soon as the last one lets go — by `release`, by closing its connection, or by dying, which
//! closes its connection too. A lease entitles until its signed end and never longer.

use licentric_core::random::random_hex_128;
use licentric_core::{OsRandom, VerifiedLease};
use licentric_proto::api::{ApiErrorCode, LeaseRequest, LeaseResponse, RenewLeaseRequest};
use licentric_proto::ipc::CheckoutResult;

use super::Agent;
use crate::api::ApiError;
use crate::error::AgentError;
use crate::plan::LeaseView;

/// The machine's seat, shared by the apps holding it.
#[derive(Default)]
pub(crate) struct Seats {
    held: Option<Held>,
    holders: u32,
    /// A renewal task is running.
    renewing: bool,
}

struct Held {
    lease: VerifiedLease,
    seats_in_use: u32,
}

impl Held {
    fn view(&self, holders: u32) -> LeaseView {
        let p = self.lease.payload();
        LeaseView {
            expires_at: p.expires_at,
            seats_in_use: self.seats_in_use,
            max_seats: p.max_seats,
            entitlements: p.entitlements.clone(),
            holders,
        }
    }
}

/// A local app's hold on this machine's seat: the app's connection keeps it, and when the
/// connection ends — the app released it, closed, or was killed — the agent is told, and the
/// last one to go gives the seat back to the server.
pub struct SeatHold {
    agent: Option<Agent>,
}

impl SeatHold {
    /// Lets go now: when this was the last hold, the seat is back on the server when this
    /// returns (or left to run out there, if the server cannot be reached).
    pub async fn release(mut self) {
        if let Some(agent) = self.agent.take() {
            agent.leave_seat().await;
        }
    }
}

impl Drop for SeatHold {
    fn drop(&mut self) {
        if let Some(agent) = self.agent.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(async move { agent.leave_seat().await });
        }
    }
}

impl Agent {
    /// A seat of the floating licence for a local app: the machine's lease if it holds one
    /// (checked out by another app), else a new one from the server. The seat is the app's
    /// while it keeps the returned [`SeatHold`].
    ///
    /// # Errors
    /// [`AgentError::NotActivated`] without a stored key; the server's refusal
    /// (`no_seat_available`, `not_floating`…); [`AgentError::NotEntitled`] for a seat without
    /// `entitlement`.
    pub async fn checkout(
        &self,
        entitlement: Option<&str>,
    ) -> Result<(CheckoutResult, SeatHold), AgentError> {
        let mut seats = self.inner.seats.lock().await;
        let now = self.inner.clock.now();
        if seats.held.as_ref().is_none_or(|h| !h.lease.holds_at(now)) {
            let key = self.stored_key().await?.ok_or(AgentError::NotActivated)?;
            let nonce =
                random_hex_128(&mut OsRandom).map_err(|e| AgentError::Internal(e.to_string()))?;
            let body = LeaseRequest {
                fingerprint: self.fingerprint().as_str().to_owned(),
                nonce: nonce.clone(),
                label: Some(self.config().product_name.chars().take(255).collect()),
            };
            let answer = self.inner.api.lease(&key, &body).await?;
            seats.held = Some(self.verified(&answer, &nonce)?);
        }
        let (result, missing) = {
            let Some(held) = &seats.held else {
                return Err(AgentError::Internal("no seat after a checkout".into()));
            };
            let p = held.lease.payload();
            let missing = entitlement.filter(|code| !p.entitlements.iter().any(|e| e == code));
            let result = CheckoutResult {
                expires_at: crate::plan::rfc3339(p.expires_at).unwrap_or_default(),
                seats_in_use: held.seats_in_use,
                max_seats: p.max_seats,
                entitlements: p.entitlements.clone(),
            };
            (result, missing)
        };
        if let Some(code) = missing {
            // The seat stays the machine's only while someone holds it.
            if seats.holders == 0 {
                self.give_back(&mut seats).await;
            }
            return Err(AgentError::NotEntitled(code.to_owned()));
        }
        seats.holders += 1;
        if !seats.renewing {
            seats.renewing = true;
            tokio::spawn(self.clone().renew_seat());
        }
        let view = seats.held.as_ref().map(|h| h.view(seats.holders));
        drop(seats);
        self.show_lease(view).await;
        Ok((
            result,
            SeatHold {
                agent: Some(self.clone()),
            },
        ))
    }

    /// A local app let go of its seat: the last one to go gives it back to the server.
    pub(crate) async fn leave_seat(&self) {
        let mut seats = self.inner.seats.lock().await;
        seats.holders = seats.holders.saturating_sub(1);
        if seats.holders == 0 {
            self.give_back(&mut seats).await;
            drop(seats);
            self.show_lease(None).await;
        } else {
            let view = seats.held.as_ref().map(|h| h.view(seats.holders));
            drop(seats);
            self.show_lease(view).await;
        }
    }

    /// Releases the held lease on the server (a failure leaves it to run out there).
    async fn give_back(&self, seats: &mut Seats) {
        let Some(held) = seats.held.take() else {
            return;
        };
        let id = held.lease.payload().lease_id.clone();
        match self.stored_key().await {
            Ok(Some(key)) => match self.inner.api.release_lease(&key, &id).await {
                Ok(()) => tracing::info!(lease = %id, "gave the seat back"),
                Err(e) => {
                    tracing::warn!(lease = %id, error = %e, "the seat could not be given back; it frees itself when its lease runs out");
                }
            },
            _ => tracing::warn!(lease = %id, "no key to give the seat back with"),
        }
    }

    /// Renews the held lease at half its time while apps hold it; a lease the server says is
    /// gone, or that runs out unrenewed, is dropped at once (and the apps are told).
    async fn renew_seat(self) {
        loop {
            let due: time::OffsetDateTime = {
                let seats = self.inner.seats.lock().await;
                match &seats.held {
                    Some(held) if seats.holders > 0 => {
                        let p = held.lease.payload();
                        p.issued_at + (p.expires_at - p.issued_at) / 2_i32
                    }
                    _ => break,
                }
            };
            let now: time::OffsetDateTime = self.inner.clock.now();
            let wait = (due - now).max(time::Duration::ZERO);
            tokio::time::sleep(wait.unsigned_abs()).await;
            let mut seats = self.inner.seats.lock().await;
            let Some(held) = &seats.held else { break };
            if seats.holders == 0 {
                break;
            }
            let now = self.inner.clock.now();
            let id = held.lease.payload().lease_id.clone();
            let renewed = match self.renewed(&id).await {
                Ok(held) => Some(held),
                Err(AgentError::Api(ApiError::Rejected {
                    code: ApiErrorCode::LeaseNotFound,
                    ..
                })) => {
                    tracing::warn!(lease = %id, "the server says the seat is gone");
                    None
                }
                Err(e) if held.lease.holds_at(now + time::Duration::seconds(5)) => {
                    tracing::warn!(lease = %id, error = %e, "cannot renew the seat yet; trying again");
                    drop(seats);
                    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                    continue;
                }
                Err(e) => {
                    tracing::warn!(lease = %id, error = %e, "the seat's lease ran out unrenewed");
                    None
                }
            };
            let view = renewed.as_ref().map(|h| h.view(seats.holders));
            seats.held = renewed;
            drop(seats);
            self.show_lease(view).await;
        }
        self.inner.seats.lock().await.renewing = false;
    }

    async fn renewed(&self, lease_id: &str) -> Result<Held, AgentError> {
        let key = self.stored_key().await?.ok_or(AgentError::NotActivated)?;
        let nonce =
            random_hex_128(&mut OsRandom).map_err(|e| AgentError::Internal(e.to_string()))?;
        let body = RenewLeaseRequest {
            fingerprint: self.fingerprint().as_str().to_owned(),
            nonce: nonce.clone(),
        };
        let answer = self.inner.api.renew_lease(&key, lease_id, &body).await?;
        self.verified(&answer, &nonce)
    }

    /// The lease in `answer`, verified as the answer to the request with `nonce`.
    fn verified(&self, answer: &LeaseResponse, nonce: &str) -> Result<Held, AgentError> {
        let lease = self
            .inner
            .verifier
            .verify_lease(
                &answer.lease_file,
                &self.config().product_id,
                self.config().environment,
                self.fingerprint(),
                nonce,
                self.inner.clock.now(),
            )
            .map_err(AgentError::LicenseFile)?;
        Ok(Held {
            lease,
            seats_in_use: answer.seats_in_use,
        })
    }

    /// Publishes the status with `lease` as the machine's seat.
    async fn show_lease(&self, lease: Option<LeaseView>) {
        let mut live = self.inner.live.lock().await;
        live.lease = lease;
        let now = self.inner.clock.now();
        self.publish(&mut live, now);
    }
}

//! Seats of one app each (`docs/floating.md`): where the product gives each app process a
//! seat of its own (`seats_per: process`, signed in the lease as `per_process`), the first app
//! holds the agent's shared seat and every other app that asks gets a lease of its own,
//! renewed while its connection stays open and given back when it closes — by `release`, by
//! closing, or by dying, as for the shared seat.

use licentric_proto::ipc::CheckoutResult;

use super::{Agent, Renewal, SeatHold};
use crate::error::AgentError;

impl Agent {
    /// A seat of its own for an app (another app here holds the shared one).
    ///
    /// # Errors
    /// As [`Agent::checkout`].
    pub(super) async fn checkout_own(
        &self,
        entitlement: Option<&str>,
    ) -> Result<(CheckoutResult, SeatHold), AgentError> {
        let held = self.fetch_seat(entitlement).await?;
        let p = held.lease.payload();
        if let Some(code) = entitlement.filter(|code| !p.entitlements.iter().any(|e| e == code)) {
            let code = code.to_owned();
            self.release_on_server(held).await;
            return Err(AgentError::NotEntitled(code));
        }
        self.remember_own(&held).await;
        let result = held.result();
        let id = {
            let mut seats = self.inner.seats.state.lock().await;
            let id = seats.next_own;
            seats.next_own += 1;
            seats.own.insert(id, held);
            id
        };
        tokio::spawn(self.clone().renew_own(id));
        self.show_lease().await;
        Ok((
            result,
            SeatHold {
                agent: Some(self.clone()),
                own: Some(id),
            },
        ))
    }

    /// The app holding seat `id` let go: it goes back to the server.
    pub(super) async fn leave_own(&self, id: u64) {
        let held = self.inner.seats.state.lock().await.own.remove(&id);
        if let Some(held) = held {
            self.release_on_server(held).await;
        }
        self.show_lease().await;
    }

    /// Renews seat `id` while its app holds it; one the server says is gone, or that runs out
    /// unrenewed, is dropped (the status says so).
    async fn renew_own(self, id: u64) {
        let mut at = {
            let seats = self.inner.seats.state.lock().await;
            match seats.own.get(&id) {
                Some(held) => held.renew_at(),
                None => return,
            }
        };
        loop {
            tokio::time::sleep_until(at).await;
            let Some((lease_id, secret)) = self
                .inner
                .seats
                .state
                .lock()
                .await
                .own
                .get(&id)
                .map(|h| (h.lease_id().to_owned(), h.secret.clone()))
            else {
                return; // given back
            };
            let answer = self.renewed(&lease_id, secret).await;
            let mut seats = self.inner.seats.state.lock().await;
            let Some(current) = seats.own.get(&id) else {
                return; // given back meanwhile
            };
            match current.after_renewal(answer, &*self.inner.clock) {
                Renewal::Renewed(renewed) => {
                    at = renewed.renew_at();
                    seats.own.insert(id, renewed);
                }
                Renewal::TryAgainAt(then) => {
                    at = then;
                    continue;
                }
                Renewal::Gone => {
                    seats.own.remove(&id);
                    drop(seats);
                    self.forget(&lease_id).await;
                    seats = self.inner.seats.state.lock().await;
                }
            }
            let gone = !seats.own.contains_key(&id);
            drop(seats);
            self.show_lease().await;
            if gone {
                return;
            }
        }
    }
}

//! A licence's machines, and freeing a seat: `/v1/admin/licenses/{id}/machines`,
//! `/v1/admin/machines/{id}`, `/v1/admin/leases/{id}` (a floating licence's seat).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{Peer, auth, not_found};
use crate::audit::Actor;
use crate::clock::now_unix;
use crate::http::{ApiFailure, AppState};
use crate::store::{licenses, machines};
use crate::{licensing, views};

pub(super) async fn list(
    State(state): State<Arc<AppState>>,
    peer: Peer,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiFailure> {
    let caller = auth(&state, &headers, &peer, "machines:read").await?;
    let machines = state
        .store
        .read(move |db| {
            if licenses::get(db, caller.environment, &id)?.is_none() {
                return Ok(None);
            }
            machines::list(db, &id).map(Some)
        })
        .await?
        .ok_or_else(|| not_found("licence"))?;
    Ok(
        Json(json!({ "machines": machines.iter().map(views::machine).collect::<Vec<_>>() }))
            .into_response(),
    )
}

pub(super) async fn deactivate(
    State(state): State<Arc<AppState>>,
    peer: Peer,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiFailure> {
    let caller = auth(&state, &headers, &peer, "machines:write").await?;
    let result = state
        .store
        .write(move |tx| {
            let Some(machine) = machines::get(tx, &id)?.filter(|m| m.deactivated_at.is_none())
            else {
                return Ok(None);
            };
            let Some(license) = licenses::get(tx, caller.environment, &machine.license_id)? else {
                return Ok(None);
            };
            let events = licensing::deactivate_machine(
                tx,
                &license,
                &machine,
                &Actor::api_key(&caller.id),
                now_unix(),
            )?;
            Ok(Some(events))
        })
        .await?;
    freed(&state, result, "machine")
}

/// `DELETE /v1/admin/leases/{id}`: a seat of a floating licence freed by the vendor.
pub(super) async fn release_lease(
    State(state): State<Arc<AppState>>,
    peer: Peer,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiFailure> {
    let caller = auth(&state, &headers, &peer, "machines:write").await?;
    let result = state
        .store
        .write(move |tx| {
            crate::leases::release_by_vendor(
                tx,
                caller.environment,
                &id,
                &Actor::api_key(&caller.id),
                now_unix(),
            )
        })
        .await?;
    freed(&state, result, "lease")
}

/// The answer to freeing a seat: `204` (the webhook delivery woken when events were
/// recorded), or `404` for a `what` the caller's environment does not have.
fn freed(state: &AppState, result: Option<bool>, what: &str) -> Result<Response, ApiFailure> {
    match result {
        Some(events) => {
            if events {
                state.webhook_wake.notify_one();
            }
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        None => Err(not_found(what)),
    }
}

//! A licence's machines, and freeing a seat: `/v1/admin/licenses/{id}/machines`, `/v1/admin/machines/{id}`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use rusqlite::params;
use serde_json::json;

use super::{Peer, auth, not_found};
use crate::audit::Actor;
use crate::db::{self, MachineRow, now_unix};
use crate::http::{ApiFailure, AppState};
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
        .call(move |conn| {
            if db::license_by_id(conn, &caller.environment, &id)?.is_none() {
                return Ok(None);
            }
            let sql = format!(
                "SELECT {} FROM machines WHERE license_id = ?1 ORDER BY activated_at, id",
                db::MACHINE_COLUMNS
            );
            let mut stmt = conn.prepare(&sql)?;
            let rows = stmt
                .query_map(params![id], MachineRow::from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Some(rows))
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
        .call(move |conn| {
            let tx = conn.transaction()?;
            let Some(machine) = db::machine_by_id(&tx, &id)?.filter(|m| m.deactivated_at.is_none())
            else {
                return Ok(None);
            };
            let Some(license) = db::license_by_id(&tx, &caller.environment, &machine.license_id)?
            else {
                return Ok(None);
            };
            let events = licensing::deactivate_machine(
                &tx,
                &license,
                &machine,
                &Actor::api_key(&caller.id),
                now_unix(),
            )?;
            tx.commit()?;
            Ok(Some(events))
        })
        .await?;
    match result {
        Some(events) => {
            if events {
                state.webhook_wake.notify_one();
            }
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        None => Err(not_found("machine")),
    }
}

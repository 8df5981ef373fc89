//! Licences: create, list, read, change, suspend / reinstate / revoke, reveal the key.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use licentric_core::{KeyPrefix, LicenseKey, OsRandom};
use licentric_proto::api::ApiErrorCode;
use serde::Deserialize;
use serde_json::json;

use super::{Peer, auth, created, invalid, not_found, parse_time, present};
use crate::audit::{Actor, Entry};
use crate::clock::now_unix;
use crate::crypto::new_id;
use crate::domain::{LicenseChange, LicenseState};
use crate::http::client::body;
use crate::http::{ApiFailure, AppState, parse_json};
use crate::store::licenses::{self, LicenseUpdate};
use crate::store::{LicenseRow, StoreError, products};
use crate::{views, webhooks};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewLicense {
    product_id: String,
    #[serde(default = "one")]
    max_machines: u32,
    #[serde(default)]
    entitlements: Vec<String>,
    #[serde(default)]
    expires_at: Option<String>,
    #[serde(default)]
    entitlement_seats: std::collections::BTreeMap<String, u32>,
}

fn one() -> u32 {
    1
}

pub(super) async fn create(
    State(state): State<Arc<AppState>>,
    peer: Peer,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiFailure> {
    let caller = auth(&state, &headers, &peer, "licenses:write").await?;
    let new: NewLicense = parse_json(&body(raw)?)?;
    if !(1..=1_000_000).contains(&new.max_machines) {
        return Err(invalid("max_machines must be 1 to 1000000"));
    }
    check_entitlements(&new.entitlements)?;
    check_entitlement_seats(&new.entitlement_seats)?;
    seats_of_entitlements(&new.entitlement_seats, &new.entitlements).map_err(invalid)?;
    let expires_at = new.expires_at.as_deref().map(parse_time).transpose()?;
    let state2 = Arc::clone(&state);
    let result = state
        .store
        .write(move |tx| {
            let Some(product) = products::get(tx, caller.environment, &new.product_id)? else {
                return Ok(None);
            };
            let prefix = KeyPrefix::new(&product.key_prefix)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let key = LicenseKey::generate(&prefix, &mut OsRandom)
                .map_err(crate::crypto::CryptoError::from)?;
            let now = now_unix();
            let row = LicenseRow {
                id: new_id("lic").map_err(crate::crypto::CryptoError::from)?,
                environment: caller.environment,
                product_id: new.product_id.clone(),
                key_hint: key.hint(),
                status: LicenseState::Active,
                max_machines: new.max_machines,
                entitlements: new.entitlements.clone(),
                entitlement_seats: new.entitlement_seats.clone(),
                expires_at,
                created_at: now,
                updated_at: now,
                policy: product.policy,
            };
            let key_enc = state2.data_key.encrypt(
                key.expose_secret().as_bytes(),
                &format!("license:{}", row.id),
            )?;
            licenses::insert(tx, &row, &key.lookup_hash(), &key_enc)?;
            let view = views::license(&row, 0, now);
            let events = webhooks::record(
                tx,
                row.environment,
                "license.created",
                json!({ "license": view }),
                now,
            )?;
            Entry::new(
                row.environment,
                &Actor::api_key(&caller.id),
                "license.created",
                ("license", &row.id),
            )
            .license(&row.id)
            .after(view.clone())
            .record(tx, now)?;
            Ok(Some((view, key.expose_secret().to_owned(), events)))
        })
        .await?;
    let Some((view, key, events)) = result else {
        return Err(not_found("product"));
    };
    if events {
        state.webhook_wake.notify_one();
    }
    // The raw key is returned once, here; afterwards only its hint is shown.
    Ok(created(json!({ "license": view, "key": key })))
}

#[derive(Deserialize)]
pub(super) struct LicenseFilter {
    pub(super) product_id: Option<String>,
}

pub(super) async fn list(
    State(state): State<Arc<AppState>>,
    peer: Peer,
    headers: HeaderMap,
    Query(filter): Query<LicenseFilter>,
) -> Result<Response, ApiFailure> {
    let caller = auth(&state, &headers, &peer, "licenses:read").await?;
    let views = state
        .store
        .read(move |db| {
            let now = now_unix();
            let rows = licenses::list(db, caller.environment, filter.product_id.as_deref())?;
            Ok(rows
                .iter()
                .map(|(row, active)| views::license(row, *active, now))
                .collect::<Vec<_>>())
        })
        .await?;
    Ok(Json(json!({ "licenses": views })).into_response())
}

async fn load_license(
    state: &Arc<AppState>,
    environment: crate::store::Environment,
    id: String,
) -> Result<(LicenseRow, u32), ApiFailure> {
    state
        .store
        .read(move |db| {
            let Some(row) = licenses::get(db, environment, &id)? else {
                return Ok(None);
            };
            let active = licenses::active_machines(db, &row.id)?;
            Ok(Some((row, active)))
        })
        .await?
        .ok_or_else(|| not_found("licence"))
}

pub(super) async fn get(
    State(state): State<Arc<AppState>>,
    peer: Peer,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiFailure> {
    let caller = auth(&state, &headers, &peer, "licenses:read").await?;
    let (row, active) = load_license(&state, caller.environment, id).await?;
    Ok(Json(json!({ "license": views::license(&row, active, now_unix()) })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LicenseChanges {
    max_machines: Option<u32>,
    entitlements: Option<Vec<String>>,
    entitlement_seats: Option<std::collections::BTreeMap<String, u32>>,
    /// Absent: unchanged; `null`: never expires; a time: expires then.
    #[serde(default, deserialize_with = "present")]
    expires_at: Option<Option<String>>,
}

pub(super) async fn update(
    State(state): State<Arc<AppState>>,
    peer: Peer,
    headers: HeaderMap,
    Path(id): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiFailure> {
    let caller = auth(&state, &headers, &peer, "licenses:write").await?;
    let changes: LicenseChanges = parse_json(&body(raw)?)?;
    if changes
        .max_machines
        .is_some_and(|n| !(1..=1_000_000).contains(&n))
    {
        return Err(invalid("max_machines must be 1 to 1000000"));
    }
    if let Some(e) = &changes.entitlements {
        check_entitlements(e)?;
    }
    if let Some(seats) = &changes.entitlement_seats {
        check_entitlement_seats(seats)?;
    }
    let expires_at = match &changes.expires_at {
        None => None,
        Some(None) => Some(None),
        Some(Some(t)) => Some(Some(parse_time(t)?)),
    };
    let env = caller.environment;
    let id2 = id.clone();
    let updated = state
        .store
        .write(move |tx| {
            let now = now_unix();
            let Some(before) = licenses::get(tx, env, &id2)? else {
                return Ok(Err(not_found("licence")));
            };
            // Checked when the change touches either, so a count left from before the check
            // does not block an unrelated change (the seats ignore it meanwhile).
            let touched = changes.entitlement_seats.is_some() || changes.entitlements.is_some();
            if touched
                && let Err(e) = seats_of_entitlements(
                    changes
                        .entitlement_seats
                        .as_ref()
                        .unwrap_or(&before.entitlement_seats),
                    changes
                        .entitlements
                        .as_ref()
                        .unwrap_or(&before.entitlements),
                )
            {
                return Ok(Err(invalid(e)));
            }
            let active = licenses::active_machines(tx, &id2)?;
            let update = LicenseUpdate {
                max_machines: changes.max_machines,
                entitlements: changes.entitlements,
                entitlement_seats: changes.entitlement_seats,
                expires_at,
            };
            licenses::update(tx, env, &id2, &update, now)?;
            let after = licenses::get(tx, env, &id2)?.ok_or_else(|| {
                StoreError::Corrupt("the licence vanished in its own transaction".into())
            })?;
            Entry::new(
                env,
                &Actor::api_key(&caller.id),
                "license.updated",
                ("license", &id2),
            )
            .license(&id2)
            .before(views::license(&before, active, now))
            .after(views::license(&after, active, now))
            .record(tx, now)?;
            Ok(Ok(()))
        })
        .await?;
    updated?;
    let (row, active) = load_license(&state, caller.environment, id).await?;
    Ok(Json(json!({ "license": views::license(&row, active, now_unix()) })).into_response())
}

/// Suspends, reinstates or revokes a licence: the one path for all three.
async fn change(
    state: Arc<AppState>,
    headers: HeaderMap,
    peer: Peer,
    id: String,
    change: LicenseChange,
) -> Result<Response, ApiFailure> {
    let caller = auth(&state, &headers, &peer, "licenses:write").await?;
    let result = state
        .store
        .write(move |tx| {
            let Some(row) = licenses::get(tx, caller.environment, &id)? else {
                return Ok(Err(false));
            };
            let Some(to) = row.status.after(change) else {
                return Ok(Err(true));
            };
            let now = now_unix();
            licenses::set_state(tx, &row.id, to, now)?;
            let active = licenses::active_machines(tx, &row.id)?;
            let before = views::license(&row, active, now);
            let row = LicenseRow {
                status: to,
                updated_at: now,
                ..row
            };
            let view = views::license(&row, active, now);
            Entry::new(
                row.environment,
                &Actor::api_key(&caller.id),
                change.event(),
                ("license", &row.id),
            )
            .license(&row.id)
            .before(before)
            .after(view.clone())
            .record(tx, now)?;
            let events = webhooks::record(
                tx,
                row.environment,
                change.event(),
                json!({ "license": view }),
                now,
            )?;
            Ok(Ok((view, events)))
        })
        .await?;
    match result {
        Ok((view, events)) => {
            if events {
                state.webhook_wake.notify_one();
            }
            Ok(Json(json!({ "license": view })).into_response())
        }
        Err(false) => Err(not_found("licence")),
        Err(true) => Err(ApiFailure::new(
            ApiErrorCode::InvalidState,
            format!(
                "the licence cannot be {} from its current status",
                change.verb()
            ),
        )),
    }
}

pub(super) async fn suspend(
    State(state): State<Arc<AppState>>,
    peer: Peer,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiFailure> {
    change(state, headers, peer, id, LicenseChange::Suspend).await
}

pub(super) async fn reinstate(
    State(state): State<Arc<AppState>>,
    peer: Peer,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiFailure> {
    change(state, headers, peer, id, LicenseChange::Reinstate).await
}

pub(super) async fn revoke(
    State(state): State<Arc<AppState>>,
    peer: Peer,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiFailure> {
    change(state, headers, peer, id, LicenseChange::Revoke).await
}

pub(super) async fn reveal_key(
    State(state): State<Arc<AppState>>,
    peer: Peer,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiFailure> {
    let caller = auth(&state, &headers, &peer, "licenses:write").await?;
    let key = Arc::clone(&state.data_key);
    let found = state
        .store
        .write(move |tx| {
            let Some(blob) = licenses::sealed_key(tx, caller.environment, &id)? else {
                return Ok(None);
            };
            let plain = key.decrypt(&blob, &format!("license:{id}"))?;
            // Not a change, but who saw a key in full is worth the record.
            Entry::new(
                caller.environment,
                &Actor::api_key(&caller.id),
                "license.key_revealed",
                ("license", &id),
            )
            .license(&id)
            .record(tx, now_unix())?;
            Ok(Some(String::from_utf8_lossy(&plain).into_owned()))
        })
        .await?;
    let key = found.ok_or_else(|| not_found("licence"))?;
    Ok(Json(json!({ "key": key })).into_response())
}

/// Per-entitlement seats: codes as entitlements are written, each at least one seat.
fn check_entitlement_seats(
    seats: &std::collections::BTreeMap<String, u32>,
) -> Result<(), ApiFailure> {
    let codes: Vec<String> = seats.keys().cloned().collect();
    check_entitlements(&codes)?;
    if seats.values().any(|&n| !(1..=1_000_000).contains(&n)) {
        return Err(invalid(
            "entitlement_seats gives each entitlement 1 to 1000000 seats",
        ));
    }
    Ok(())
}

/// Seats are counted only for entitlements the licence has: a count for one it lacks would
/// take a seat from every machine asking for it and sign nothing (a misspelt code, or an
/// entitlement taken away with its count left behind).
fn seats_of_entitlements(
    seats: &std::collections::BTreeMap<String, u32>,
    entitlements: &[String],
) -> Result<(), String> {
    match seats.keys().find(|code| !entitlements.contains(code)) {
        None => Ok(()),
        Some(code) => Err(format!(
            "entitlement_seats counts seats of \"{code}\", which is not one of the licence's \
             entitlements: add it to entitlements, or remove its count"
        )),
    }
}

fn check_entitlements(entitlements: &[String]) -> Result<(), ApiFailure> {
    let ok = entitlements.len() <= 256
        && entitlements.iter().all(|e| {
            (1..=128).contains(&e.len())
                && e.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
        });
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "entitlements are at most 256 codes of 1 to 128 characters from A-Z a-z 0-9 - _ . :",
        ))
    }
}

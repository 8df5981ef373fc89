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
use rusqlite::{OptionalExtension, params};
use serde::Deserialize;
use serde_json::json;

use super::{Peer, auth, created, invalid, not_found, parse_time, present};
use crate::audit::{Actor, Entry};
use crate::crypto::new_id;
use crate::db::{self, LicenseRow, StoreError, now_unix};
use crate::domain::{LicenseChange, LicenseState};
use crate::http::client::body;
use crate::http::{ApiFailure, AppState, parse_json};
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
    let expires_at = new.expires_at.as_deref().map(parse_time).transpose()?;
    let state2 = Arc::clone(&state);
    let result = state
        .store
        .call(move |conn| {
            let tx = conn.transaction()?;
            let Some(product) = db::product_by_id(&tx, &caller.environment, &new.product_id)? else {
                return Ok(None);
            };
            let prefix = KeyPrefix::new(&product.key_prefix).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let key = LicenseKey::generate(&prefix, &mut OsRandom).map_err(crate::crypto::CryptoError::from)?;
            let now = now_unix();
            let row = LicenseRow {
                id: new_id("lic").map_err(crate::crypto::CryptoError::from)?,
                environment: caller.environment.clone(),
                product_id: new.product_id.clone(),
                key_hint: key.hint(),
                status: LicenseState::Active,
                max_machines: new.max_machines,
                entitlements: new.entitlements.clone(),
                expires_at,
                created_at: now,
                updated_at: now,
                policy: product.policy,
            };
            let key_enc = state2.data_key.encrypt(key.expose_secret().as_bytes(), &format!("license:{}", row.id))?;
            tx.execute(
                "INSERT INTO licenses (id, environment, product_id, key_hash, key_enc, key_hint, status, max_machines, entitlements, expires_at, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'active', ?7, ?8, ?9, ?10, ?10)",
                params![
                    row.id,
                    row.environment,
                    row.product_id,
                    key.lookup_hash().as_slice(),
                    key_enc,
                    row.key_hint,
                    row.max_machines,
                    serde_json::to_string(&row.entitlements).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    row.expires_at,
                    now
                ],
            )?;
            let view = views::license(&row, 0, now);
            let events = webhooks::record(&tx, &row.environment, "license.created", json!({ "license": view }), now)?;
            Entry::new(&row.environment, &Actor::api_key(&caller.id), "license.created", ("license", &row.id))
                .license(&row.id)
                .after(view.clone())
                .record(&tx, now)?;
            tx.commit()?;
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
        .call(move |conn| {
            let sql = format!(
                "SELECT {}, l.machines_active FROM {} WHERE l.environment = ?1 AND (?2 IS NULL OR l.product_id = ?2) ORDER BY l.created_at, l.id",
                db::LICENSE_COLUMNS,
                db::LICENSES
            );
            let mut stmt = conn.prepare(&sql)?;
            let now = now_unix();
            let rows = stmt
                .query_map(params![caller.environment, filter.product_id], |r| Ok(views::license(&LicenseRow::from_row(r)?, r.get(14)?, now)))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await?;
    Ok(Json(json!({ "licenses": views })).into_response())
}

async fn load_license(
    state: &Arc<AppState>,
    environment: String,
    id: String,
) -> Result<(LicenseRow, u32), ApiFailure> {
    state
        .store
        .call(move |conn| {
            let Some(row) = db::license_by_id(conn, &environment, &id)? else {
                return Ok(None);
            };
            let active = db::active_machine_count(conn, &row.id)?;
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
    let expires_at = match &changes.expires_at {
        None => None,
        Some(None) => Some(None),
        Some(Some(t)) => Some(Some(parse_time(t)?)),
    };
    let env = caller.environment.clone();
    let id2 = id.clone();
    let updated = state
        .store
        .call(move |conn| {
            let now = now_unix();
            let tx = conn.transaction()?;
            let Some(before) = db::license_by_id(&tx, &env, &id2)? else {
                return Ok(false);
            };
            let active = db::active_machine_count(&tx, &id2)?;
            if let Some(m) = changes.max_machines {
                tx.execute("UPDATE licenses SET max_machines = ?3, updated_at = ?4 WHERE id = ?1 AND environment = ?2", params![id2, env, m, now])?;
            }
            if let Some(e) = &changes.entitlements {
                let e = serde_json::to_string(e).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                tx.execute("UPDATE licenses SET entitlements = ?3, updated_at = ?4 WHERE id = ?1 AND environment = ?2", params![id2, env, e, now])?;
            }
            if let Some(at) = expires_at {
                tx.execute("UPDATE licenses SET expires_at = ?3, updated_at = ?4 WHERE id = ?1 AND environment = ?2", params![id2, env, at, now])?;
            }
            let after = db::license_by_id(&tx, &env, &id2)?
                .ok_or_else(|| StoreError::Corrupt("the licence vanished in its own transaction".into()))?;
            Entry::new(&env, &Actor::api_key(&caller.id), "license.updated", ("license", &id2))
                .license(&id2)
                .before(views::license(&before, active, now))
                .after(views::license(&after, active, now))
                .record(&tx, now)?;
            tx.commit()?;
            Ok(true)
        })
        .await?;
    if !updated {
        return Err(not_found("licence"));
    }
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
        .call(move |conn| {
            let tx = conn.transaction()?;
            let Some(row) = db::license_by_id(&tx, &caller.environment, &id)? else {
                return Ok(Err(false));
            };
            let Some(to) = row.status.after(change) else {
                return Ok(Err(true));
            };
            let now = now_unix();
            tx.execute(
                "UPDATE licenses SET status = ?2, updated_at = ?3 WHERE id = ?1",
                params![row.id, to, now],
            )?;
            let active = db::active_machine_count(&tx, &row.id)?;
            let before = views::license(&row, active, now);
            let row = LicenseRow {
                status: to,
                updated_at: now,
                ..row
            };
            let view = views::license(&row, active, now);
            Entry::new(
                &row.environment,
                &Actor::api_key(&caller.id),
                change.event(),
                ("license", &row.id),
            )
            .license(&row.id)
            .before(before)
            .after(view.clone())
            .record(&tx, now)?;
            let events = webhooks::record(
                &tx,
                &row.environment,
                change.event(),
                json!({ "license": view }),
                now,
            )?;
            tx.commit()?;
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
        .call(move |conn| {
            let blob: Option<Vec<u8>> = conn
                .query_row(
                    "SELECT key_enc FROM licenses WHERE id = ?1 AND environment = ?2",
                    params![id, caller.environment],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(blob) = blob else { return Ok(None) };
            let plain = key.decrypt(&blob, &format!("license:{id}"))?;
            // Not a change, but who saw a key in full is worth the record.
            Entry::new(
                &caller.environment,
                &Actor::api_key(&caller.id),
                "license.key_revealed",
                ("license", &id),
            )
            .license(&id)
            .record(conn, now_unix())?;
            Ok(Some(String::from_utf8_lossy(&plain).into_owned()))
        })
        .await?;
    let key = found.ok_or_else(|| not_found("licence"))?;
    Ok(Json(json!({ "key": key })).into_response())
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

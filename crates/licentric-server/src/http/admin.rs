//! Management endpoints under `/v1/admin/`, authenticated with `Authorization: Bearer lk_…`.
//! Every query is confined to the key's environment, and every endpoint checks a scope.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use licentric_core::{KeyPrefix, LicenseKey, OsRandom};
use licentric_proto::api::ApiErrorCode;
use rusqlite::{OptionalExtension, params};
use serde::Deserialize;
use serde_json::{Value, json};

use super::client::body;
use super::{ApiFailure, AppState, PeerAddr, authorization, parse_json, peer_ip};
use crate::apikeys::{self, ApiKeyRow};
use crate::crypto::new_id;
use crate::db::{self, LicenseRow, MachineRow, ProductRow, StoreError, now_unix};
use crate::domain::{self, LicenseChange, LicenseState, Policy, SeatMoves};
use crate::{licensing, views, webhooks};

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/products", post(create_product).get(list_products))
        .route("/products/{id}", axum::routing::patch(update_product))
        .route("/licenses", post(create_license).get(list_licenses))
        .route("/licenses/{id}", get(get_license).patch(update_license))
        .route("/licenses/{id}/suspend", post(suspend))
        .route("/licenses/{id}/reinstate", post(reinstate))
        .route("/licenses/{id}/revoke", post(revoke))
        .route("/licenses/{id}/key", get(reveal_key))
        .route("/licenses/{id}/machines", get(list_machines))
        .route("/machines/{id}", axum::routing::delete(deactivate_machine))
        .route("/api-keys", post(create_api_key).get(list_api_keys))
        .route("/api-keys/{id}", axum::routing::delete(revoke_api_key))
        .route("/webhooks", post(create_webhook).get(list_webhooks))
        .route("/webhooks/{id}", axum::routing::delete(delete_webhook))
}

type Peer = Option<Extension<PeerAddr>>;

/// The caller's API key, if it is valid and has `scope`.
async fn auth(
    state: &Arc<AppState>,
    headers: &HeaderMap,
    peer: &Peer,
    scope: &'static str,
) -> Result<ApiKeyRow, ApiFailure> {
    let ip = peer_ip(peer.as_ref().map(|Extension(p)| p));
    // Failures from this address limit only failures: the vendor's valid key is answered
    // from an address where something else guesses, within its own budget.
    let fail = || match state.limiter.address_wait(ip) {
        Some(wait) => {
            state.metrics.rate_limited("address");
            ApiFailure::rate_limited(wait)
        }
        None => {
            state.limiter.failed(ip, None);
            ApiFailure::new(ApiErrorCode::Unauthorized, "missing or invalid API key")
        }
    };
    let Some(token) = authorization(headers, "Bearer").map(str::to_owned) else {
        return Err(fail());
    };
    let key = Arc::clone(&state.data_key);
    let found = state
        .store
        .call(move |conn| apikeys::authenticate(conn, &key, &token))
        .await?;
    let Some(row) = found else {
        return Err(fail());
    };
    if let Err(wait) = state.budgets.api_key(&row.id) {
        state.metrics.rate_limited("api_key");
        return Err(ApiFailure::over_budget(wait));
    }
    if !row.allows(scope) {
        return Err(ApiFailure::new(
            ApiErrorCode::Forbidden,
            format!("this API key lacks the {scope} scope"),
        ));
    }
    Ok(row)
}

fn invalid(message: impl Into<String>) -> ApiFailure {
    ApiFailure::new(ApiErrorCode::InvalidRequest, message)
}

fn not_found(what: &str) -> ApiFailure {
    ApiFailure::new(ApiErrorCode::NotFound, format!("no such {what}"))
}

fn created(value: Value) -> Response {
    (StatusCode::CREATED, Json(value)).into_response()
}

fn parse_time(text: &str) -> Result<i64, ApiFailure> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map(time::OffsetDateTime::unix_timestamp)
        .map_err(|_| invalid(format!("{text:?} is not an RFC 3339 time")))
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

// ---- products ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewProduct {
    id: String,
    name: String,
    key_prefix: String,
    #[serde(default)]
    check_interval_seconds: Option<u32>,
    #[serde(default, deserialize_with = "present")]
    max_ttl_seconds: Option<Option<u32>>,
    #[serde(default, deserialize_with = "present")]
    seat_moves_per_seat: Option<Option<u32>>,
    #[serde(default)]
    seat_move_window_seconds: Option<u32>,
}

/// A product's policy as the API takes it: absent fields keep their value (on creation, the
/// default); `null` lifts a limit.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyChanges {
    #[serde(default)]
    check_interval_seconds: Option<u32>,
    #[serde(default, deserialize_with = "present")]
    max_ttl_seconds: Option<Option<u32>>,
    #[serde(default, deserialize_with = "present")]
    seat_moves_per_seat: Option<Option<u32>>,
    #[serde(default)]
    seat_move_window_seconds: Option<u32>,
}

impl PolicyChanges {
    /// `policy` with these changes, checked.
    fn apply(&self, policy: Policy) -> Result<Policy, ApiFailure> {
        const MONTH: u32 = 30 * 86_400;
        let check_interval = self.check_interval_seconds.unwrap_or(policy.check_interval);
        if !(1..=MONTH).contains(&check_interval) {
            return Err(invalid(
                "check_interval_seconds must be 1 to 2592000 (30 days)",
            ));
        }
        let max_ttl = self.max_ttl_seconds.unwrap_or(policy.max_ttl);
        if max_ttl.is_some_and(|t| !(60..=10 * 365 * 86_400).contains(&t)) {
            return Err(invalid(
                "max_ttl_seconds must be 60 to 315360000 (ten years), or null for the server's maximum",
            ));
        }
        let old = policy.seat_moves.unwrap_or(domain::DEFAULT_SEAT_MOVES);
        let per_seat = self
            .seat_moves_per_seat
            .unwrap_or(policy.seat_moves.map(|m| m.per_seat));
        let window = self.seat_move_window_seconds.unwrap_or(old.window);
        if per_seat.is_some_and(|n| !(1..=10_000).contains(&n)) {
            return Err(invalid(
                "seat_moves_per_seat must be 1 to 10000, or null for no limit",
            ));
        }
        if !(3600..=365 * 86_400).contains(&window) {
            return Err(invalid(
                "seat_move_window_seconds must be 3600 (an hour) to 31536000 (a year)",
            ));
        }
        Ok(Policy {
            check_interval,
            max_ttl,
            seat_moves: per_seat.map(|per_seat| SeatMoves { per_seat, window }),
        })
    }
}

async fn create_product(
    State(state): State<Arc<AppState>>,
    peer: Peer,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiFailure> {
    let caller = auth(&state, &headers, &peer, "licenses:write").await?;
    let p: NewProduct = parse_json(&body(raw)?)?;
    let id_ok = (1..=64).contains(&p.id.len())
        && p.id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !id_ok {
        return Err(invalid("product id must be 1 to 64 of a-z, 0-9 and -"));
    }
    if p.name.is_empty() || p.name.len() > 128 {
        return Err(invalid("name must be 1 to 128 characters"));
    }
    KeyPrefix::new(&p.key_prefix).map_err(|e| invalid(e.to_string()))?;
    let new_product = Policy {
        seat_moves: Some(domain::DEFAULT_SEAT_MOVES),
        ..Policy::default()
    };
    let row = ProductRow {
        environment: caller.environment,
        id: p.id,
        name: p.name,
        key_prefix: p.key_prefix,
        policy: PolicyChanges {
            check_interval_seconds: p.check_interval_seconds,
            max_ttl_seconds: p.max_ttl_seconds,
            seat_moves_per_seat: p.seat_moves_per_seat,
            seat_move_window_seconds: p.seat_move_window_seconds,
        }
        .apply(new_product)?,
        created_at: now_unix(),
    };
    let r = row.clone();
    let inserted = state
        .store
        .call(move |conn| {
            let moves = r.policy.seat_moves.unwrap_or(domain::DEFAULT_SEAT_MOVES);
            Ok(conn.execute(
                "INSERT OR IGNORE INTO products (environment, id, name, key_prefix, created_at, check_interval_seconds, max_ttl_seconds, seat_moves_per_seat, seat_move_window_seconds)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    r.environment,
                    r.id,
                    r.name,
                    r.key_prefix,
                    r.created_at,
                    r.policy.check_interval,
                    r.policy.max_ttl,
                    r.policy.seat_moves.map(|m| m.per_seat),
                    moves.window
                ],
            )? == 1)
        })
        .await?;
    if !inserted {
        return Err(ApiFailure::new(
            ApiErrorCode::InvalidState,
            "a product with this id exists",
        ));
    }
    Ok(created(views::product(&row)))
}

async fn update_product(
    State(state): State<Arc<AppState>>,
    peer: Peer,
    headers: HeaderMap,
    Path(id): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiFailure> {
    let caller = auth(&state, &headers, &peer, "licenses:write").await?;
    let changes: PolicyChanges = parse_json(&body(raw)?)?;
    let updated = state
        .store
        .call(move |conn| {
            let tx = conn.transaction()?;
            let Some(before) = db::product_by_id(&tx, &caller.environment, &id)? else {
                return Ok(Ok(None));
            };
            let policy = match changes.apply(before.policy) {
                Ok(policy) => policy,
                Err(e) => return Ok(Err(e)),
            };
            let moves = policy.seat_moves.unwrap_or(domain::DEFAULT_SEAT_MOVES);
            tx.execute(
                "UPDATE products SET check_interval_seconds = ?3, max_ttl_seconds = ?4, seat_moves_per_seat = ?5, seat_move_window_seconds = ?6
                 WHERE environment = ?1 AND id = ?2",
                params![
                    caller.environment,
                    id,
                    policy.check_interval,
                    policy.max_ttl,
                    policy.seat_moves.map(|m| m.per_seat),
                    moves.window
                ],
            )?;
            tx.commit()?;
            Ok(Ok(Some(ProductRow { policy, ..before })))
        })
        .await??;
    let row = updated.ok_or_else(|| not_found("product"))?;
    Ok(Json(json!({ "product": views::product(&row) })).into_response())
}

fn product_rows(
    conn: &rusqlite::Connection,
    environment: &str,
) -> Result<Vec<ProductRow>, StoreError> {
    let sql = format!(
        "SELECT {} FROM products p WHERE p.environment = ?1 ORDER BY p.id",
        db::PRODUCT_COLUMNS
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt
        .query_map(params![environment], ProductRow::from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

async fn list_products(
    State(state): State<Arc<AppState>>,
    peer: Peer,
    headers: HeaderMap,
) -> Result<Response, ApiFailure> {
    let caller = auth(&state, &headers, &peer, "licenses:read").await?;
    let rows = state
        .store
        .call(move |conn| product_rows(conn, &caller.environment))
        .await?;
    Ok(
        Json(json!({ "products": rows.iter().map(views::product).collect::<Vec<_>>() }))
            .into_response(),
    )
}

// ---- licences ----

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

async fn create_license(
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
struct LicenseFilter {
    product_id: Option<String>,
}

async fn list_licenses(
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

async fn get_license(
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

/// For `Option<Option<T>>` fields: absent is `None`, `null` is `Some(None)`.
fn present<'de, T: Deserialize<'de>, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

async fn update_license(
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
            let mut n = 0;
            if let Some(m) = changes.max_machines {
                n += tx.execute("UPDATE licenses SET max_machines = ?3, updated_at = ?4 WHERE id = ?1 AND environment = ?2", params![id2, env, m, now])?;
            }
            if let Some(e) = &changes.entitlements {
                let e = serde_json::to_string(e).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                n += tx.execute("UPDATE licenses SET entitlements = ?3, updated_at = ?4 WHERE id = ?1 AND environment = ?2", params![id2, env, e, now])?;
            }
            if let Some(at) = expires_at {
                n += tx.execute("UPDATE licenses SET expires_at = ?3, updated_at = ?4 WHERE id = ?1 AND environment = ?2", params![id2, env, at, now])?;
            }
            let exists = db::license_by_id(&tx, &env, &id2)?.is_some();
            tx.commit()?;
            Ok(exists || n > 0)
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
            let row = LicenseRow {
                status: to,
                updated_at: now,
                ..row
            };
            let view = views::license(&row, db::active_machine_count(&tx, &row.id)?, now);
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

async fn suspend(
    State(state): State<Arc<AppState>>,
    peer: Peer,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiFailure> {
    change(state, headers, peer, id, LicenseChange::Suspend).await
}

async fn reinstate(
    State(state): State<Arc<AppState>>,
    peer: Peer,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiFailure> {
    change(state, headers, peer, id, LicenseChange::Reinstate).await
}

async fn revoke(
    State(state): State<Arc<AppState>>,
    peer: Peer,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiFailure> {
    change(state, headers, peer, id, LicenseChange::Revoke).await
}

async fn reveal_key(
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
            Ok(Some(String::from_utf8_lossy(&plain).into_owned()))
        })
        .await?;
    let key = found.ok_or_else(|| not_found("licence"))?;
    Ok(Json(json!({ "key": key })).into_response())
}

async fn list_machines(
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

async fn deactivate_machine(
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
            let events =
                licensing::deactivate_machine(&tx, &license, &machine, "admin", now_unix())?;
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

// ---- API keys ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewApiKey {
    name: String,
    scopes: Vec<String>,
}

async fn create_api_key(
    State(state): State<Arc<AppState>>,
    peer: Peer,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiFailure> {
    let caller = auth(&state, &headers, &peer, "api_keys:write").await?;
    let new: NewApiKey = parse_json(&body(raw)?)?;
    if new.name.is_empty() || new.name.len() > 128 {
        return Err(invalid("name must be 1 to 128 characters"));
    }
    if new.scopes.is_empty() || !apikeys::known_scopes(&new.scopes) {
        let names: Vec<&str> = apikeys::SCOPES.iter().map(|(n, _)| *n).collect();
        return Err(invalid(format!(
            "scopes must be a non-empty list of: {}",
            names.join(", ")
        )));
    }
    // A key can only hand out scopes it has itself, in its own environment.
    if let Some(extra) = new.scopes.iter().find(|s| !caller.allows(s)) {
        return Err(ApiFailure::new(
            ApiErrorCode::Forbidden,
            format!("cannot grant {extra}: this API key does not have it"),
        ));
    }
    let key = Arc::clone(&state.data_key);
    let (row, token) = state
        .store
        .call(move |conn| {
            apikeys::create(
                conn,
                &key,
                &caller.environment,
                &new.name,
                &new.scopes,
                now_unix(),
            )
        })
        .await?;
    Ok(created(json!({ "api_key": row.view(), "token": token })))
}

async fn list_api_keys(
    State(state): State<Arc<AppState>>,
    peer: Peer,
    headers: HeaderMap,
) -> Result<Response, ApiFailure> {
    let caller = auth(&state, &headers, &peer, "api_keys:write").await?;
    let rows = state
        .store
        .call(move |conn| apikeys::list(conn, &caller.environment))
        .await?;
    Ok(
        Json(json!({ "api_keys": rows.iter().map(ApiKeyRow::view).collect::<Vec<_>>() }))
            .into_response(),
    )
}

async fn revoke_api_key(
    State(state): State<Arc<AppState>>,
    peer: Peer,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiFailure> {
    let caller = auth(&state, &headers, &peer, "api_keys:write").await?;
    let done = state
        .store
        .call(move |conn| apikeys::revoke(conn, &caller.environment, &id, now_unix()))
        .await?;
    if done {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(not_found("API key"))
    }
}

// ---- webhooks ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewWebhook {
    url: String,
    #[serde(default)]
    events: Option<Vec<String>>,
}

fn webhook_view(id: &str, url: &str, events: &[String], created_at: i64) -> Value {
    json!({ "id": id, "url": url, "events": events, "created_at": db::rfc3339(created_at) })
}

async fn create_webhook(
    State(state): State<Arc<AppState>>,
    peer: Peer,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiFailure> {
    let caller = auth(&state, &headers, &peer, "webhooks:write").await?;
    let new: NewWebhook = parse_json(&body(raw)?)?;
    if new.url.len() > 2048 || !webhooks::url_allowed(&new.url, &state.config.webhooks) {
        return Err(invalid(
            "url must be https:// (or http:// on a loopback address, where the server allows it)",
        ));
    }
    let events = new.events.unwrap_or_else(|| vec!["*".to_owned()]);
    if events.is_empty()
        || !events
            .iter()
            .all(|e| e == "*" || webhooks::EVENT_TYPES.contains(&e.as_str()))
    {
        return Err(invalid(format!(
            "events must be \"*\" or of: {}",
            webhooks::EVENT_TYPES.join(", ")
        )));
    }
    let secret = format!(
        "whsec_{}",
        crate::crypto::random_chars(32)
            .map_err(|e| ApiFailure::from(StoreError::Crypto(e.into())))?
    );
    let key = Arc::clone(&state.data_key);
    let (id, created_at) = {
        let (url, events, secret) = (new.url.clone(), events.clone(), secret.clone());
        state
            .store
            .call(move |conn| {
                let id = new_id("wh").map_err(crate::crypto::CryptoError::from)?;
                let now = now_unix();
                let secret_enc = key.encrypt(secret.as_bytes(), &format!("webhook:{id}"))?;
                conn.execute(
                    "INSERT INTO webhooks (id, environment, url, secret_enc, events, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![id, caller.environment, url, secret_enc, serde_json::to_string(&events).map_err(|e| StoreError::Corrupt(e.to_string()))?, now],
                )?;
                Ok((id, now))
            })
            .await?
    };
    // The secret is returned once, here.
    Ok(created(
        json!({ "webhook": webhook_view(&id, &new.url, &events, created_at), "secret": secret }),
    ))
}

async fn list_webhooks(
    State(state): State<Arc<AppState>>,
    peer: Peer,
    headers: HeaderMap,
) -> Result<Response, ApiFailure> {
    let caller = auth(&state, &headers, &peer, "webhooks:write").await?;
    let rows = state
        .store
        .call(move |conn| {
            let mut stmt = conn.prepare("SELECT id, url, events, created_at FROM webhooks WHERE environment = ?1 AND deleted_at IS NULL ORDER BY created_at, id")?;
            let rows = stmt
                .query_map(params![caller.environment], |r| {
                    let events: String = r.get(2)?;
                    let events: Vec<String> = serde_json::from_str(&events).unwrap_or_default();
                    Ok(webhook_view(&r.get::<_, String>(0)?, &r.get::<_, String>(1)?, &events, r.get(3)?))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await?;
    Ok(Json(json!({ "webhooks": rows })).into_response())
}

async fn delete_webhook(
    State(state): State<Arc<AppState>>,
    peer: Peer,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiFailure> {
    let caller = auth(&state, &headers, &peer, "webhooks:write").await?;
    let done = state
        .store
        .call(move |conn| {
            Ok(conn.execute(
                "UPDATE webhooks SET deleted_at = ?3 WHERE id = ?1 AND environment = ?2 AND deleted_at IS NULL",
                params![id, caller.environment, now_unix()],
            )? == 1)
        })
        .await?;
    if done {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(not_found("webhook"))
    }
}

//! Products and their policy: `/v1/admin/products`.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use licentric_core::KeyPrefix;
use licentric_proto::api::ApiErrorCode;
use serde::Deserialize;
use serde_json::json;

use super::{Peer, auth, created, invalid, not_found, present};
use crate::audit::{Actor, Entry};
use crate::clock::now_unix;
use crate::domain::{self, Policy, SeatMoves};
use crate::http::client::body;
use crate::http::{ApiFailure, AppState, parse_json};
use crate::store::{ProductRow, products};
use crate::views;

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
    #[serde(default)]
    fingerprint_match: Option<String>,
    #[serde(default)]
    allow_virtual_machines: Option<bool>,
    #[serde(default)]
    allow_containers: Option<bool>,
    #[serde(default)]
    seat_model: Option<String>,
    #[serde(default)]
    lease_ttl_seconds: Option<u32>,
    #[serde(default)]
    max_borrow_seconds: Option<u32>,
    #[serde(default)]
    seats_per: Option<String>,
    #[serde(default)]
    borrow_kept_to_end: Option<bool>,
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
    #[serde(default)]
    fingerprint_match: Option<String>,
    #[serde(default)]
    allow_virtual_machines: Option<bool>,
    #[serde(default)]
    allow_containers: Option<bool>,
    #[serde(default)]
    seat_model: Option<String>,
    #[serde(default)]
    lease_ttl_seconds: Option<u32>,
    #[serde(default)]
    max_borrow_seconds: Option<u32>,
    #[serde(default)]
    seats_per: Option<String>,
    #[serde(default)]
    borrow_kept_to_end: Option<bool>,
}

impl PolicyChanges {
    /// `policy` with these changes, checked.
    fn apply(&self, policy: Policy, min_lease_ttl: u32) -> Result<Policy, ApiFailure> {
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
        let fingerprint_match = match &self.fingerprint_match {
            None => policy.fingerprint_match,
            Some(text) => text.parse().map_err(|_| {
                invalid("fingerprint_match must be exact, most or any (docs/fingerprint.md)")
            })?,
        };
        let seat_model = match &self.seat_model {
            None => policy.seat_model,
            Some(text) => text.parse().map_err(|_| {
                invalid("seat_model must be node_locked or floating (docs/floating.md)")
            })?,
        };
        let lease_ttl = self.lease_ttl_seconds.unwrap_or(policy.lease_ttl);
        if !(min_lease_ttl.max(1)..=86_400).contains(&lease_ttl) {
            return Err(invalid(format!(
                "lease_ttl_seconds must be {min_lease_ttl} to 86400 (a day)"
            )));
        }
        let max_borrow = self.max_borrow_seconds.unwrap_or(policy.max_borrow);
        if max_borrow > 90 * 86_400 {
            return Err(invalid(
                "max_borrow_seconds must be 0 (no borrowing) to 7776000 (90 days)",
            ));
        }
        let seat_per_process = match self.seats_per.as_deref() {
            None => policy.seat_per_process,
            Some("machine") => false,
            Some("process") => true,
            Some(_) => {
                return Err(invalid(
                    "seats_per must be machine (the apps of a machine share a seat) or process (docs/floating.md)",
                ));
            }
        };
        Ok(Policy {
            check_interval,
            max_ttl,
            seat_moves: per_seat.map(|per_seat| SeatMoves { per_seat, window }),
            fingerprint_match,
            allow_virtual_machines: self
                .allow_virtual_machines
                .unwrap_or(policy.allow_virtual_machines),
            allow_containers: self.allow_containers.unwrap_or(policy.allow_containers),
            seat_model,
            lease_ttl,
            max_borrow,
            seat_per_process,
            borrow_kept_to_end: self.borrow_kept_to_end.unwrap_or(policy.borrow_kept_to_end),
        })
    }
}

pub(super) async fn create(
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
    // A new product: a seat moves at most three times a month; fingerprints match by most
    // parts (docs/fingerprint.md); containers and virtual machines are allowed.
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
            fingerprint_match: p.fingerprint_match,
            allow_virtual_machines: p.allow_virtual_machines,
            allow_containers: p.allow_containers,
            seat_model: p.seat_model,
            lease_ttl_seconds: p.lease_ttl_seconds,
            max_borrow_seconds: p.max_borrow_seconds,
            seats_per: p.seats_per,
            borrow_kept_to_end: p.borrow_kept_to_end,
        }
        .apply(new_product, state.config.min_lease_ttl_seconds)?,
        created_at: now_unix(),
    };
    let r = row.clone();
    let actor = Actor::api_key(&caller.id);
    let inserted = state
        .store
        .write(move |tx| {
            let inserted = products::insert(tx, &r)?;
            if inserted {
                Entry::new(r.environment, &actor, "product.created", ("product", &r.id))
                    .after(views::product(&r))
                    .record(tx, r.created_at)?;
            }
            Ok(inserted)
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

pub(super) async fn update(
    State(state): State<Arc<AppState>>,
    peer: Peer,
    headers: HeaderMap,
    Path(id): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiFailure> {
    let caller = auth(&state, &headers, &peer, "licenses:write").await?;
    let changes: PolicyChanges = parse_json(&body(raw)?)?;
    let min_lease_ttl = state.config.min_lease_ttl_seconds;
    let updated = state
        .store
        .write(move |tx| {
            let Some(before) = products::get(tx, caller.environment, &id)? else {
                return Ok(Ok(None));
            };
            let policy = match changes.apply(before.policy, min_lease_ttl) {
                Ok(policy) => policy,
                Err(e) => return Ok(Err(e)),
            };
            products::set_policy(tx, caller.environment, &id, &policy)?;
            let after = ProductRow {
                policy,
                ..before.clone()
            };
            Entry::new(
                caller.environment,
                &Actor::api_key(&caller.id),
                "product.updated",
                ("product", &id),
            )
            .before(views::product(&before))
            .after(views::product(&after))
            .record(tx, now_unix())?;
            Ok(Ok(Some(after)))
        })
        .await??;
    let row = updated.ok_or_else(|| not_found("product"))?;
    Ok(Json(json!({ "product": views::product(&row) })).into_response())
}

pub(super) async fn list(
    State(state): State<Arc<AppState>>,
    peer: Peer,
    headers: HeaderMap,
) -> Result<Response, ApiFailure> {
    let caller = auth(&state, &headers, &peer, "licenses:read").await?;
    let rows = state
        .store
        .read(move |db| products::list(db, caller.environment))
        .await?;
    Ok(
        Json(json!({ "products": rows.iter().map(views::product).collect::<Vec<_>>() }))
            .into_response(),
    )
}

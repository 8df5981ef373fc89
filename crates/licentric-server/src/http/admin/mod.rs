//! Management endpoints under `/v1/admin/`, authenticated with `Authorization: Bearer lk_…`.
//! Every query is confined to the key's environment, and every endpoint checks a scope.
//! One file per resource; this one holds the routes and what they share (authentication,
//! error helpers).

mod api_keys;
mod audit;
mod licenses;
mod machines;
mod products;
mod webhooks;

use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post};
use axum::{Extension, Json, Router};
use licentric_proto::api::ApiErrorCode;
use serde::Deserialize;
use serde_json::Value;

use super::{ApiFailure, AppState, PeerAddr, authorization, peer_ip};
use crate::apikeys::{self, ApiKeyRow};

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/products", post(products::create).get(products::list))
        .route("/products/{id}", patch(products::update))
        .route("/licenses", post(licenses::create).get(licenses::list))
        .route("/licenses/{id}", get(licenses::get).patch(licenses::update))
        .route("/licenses/{id}/suspend", post(licenses::suspend))
        .route("/licenses/{id}/reinstate", post(licenses::reinstate))
        .route("/licenses/{id}/revoke", post(licenses::revoke))
        .route("/licenses/{id}/key", get(licenses::reveal_key))
        .route("/licenses/{id}/machines", get(machines::list))
        .route("/machines/{id}", delete(machines::deactivate))
        .route("/leases/{id}", delete(machines::release_lease))
        .route("/api-keys", post(api_keys::create).get(api_keys::list))
        .route("/api-keys/{id}", delete(api_keys::revoke))
        .route("/webhooks", post(webhooks::create).get(webhooks::list))
        .route("/webhooks/{id}", delete(webhooks::delete))
        .route("/audit-events", get(audit::list))
}

pub(super) type Peer = Option<Extension<PeerAddr>>;

/// The caller's API key, if it is valid and has `scope`.
pub(super) async fn auth(
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
        .read(move |db| apikeys::authenticate(db, &key, &token))
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

pub(super) fn invalid(message: impl Into<String>) -> ApiFailure {
    ApiFailure::new(ApiErrorCode::InvalidRequest, message)
}

pub(super) fn not_found(what: &str) -> ApiFailure {
    ApiFailure::new(ApiErrorCode::NotFound, format!("no such {what}"))
}

pub(super) fn created(value: Value) -> Response {
    (StatusCode::CREATED, Json(value)).into_response()
}

pub(super) fn parse_time(text: &str) -> Result<i64, ApiFailure> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map(time::OffsetDateTime::unix_timestamp)
        .map_err(|_| invalid(format!("{text:?} is not an RFC 3339 time")))
}

/// For `Option<Option<T>>` fields: absent is `None`, `null` is `Some(None)`.
pub(super) fn present<'de, T: Deserialize<'de>, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

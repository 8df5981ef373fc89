//! Management API keys: `/v1/admin/api-keys`.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use licentric_proto::api::ApiErrorCode;
use serde::Deserialize;
use serde_json::json;

use super::{Peer, auth, created, invalid, not_found};
use crate::apikeys::{self, ApiKeyRow};
use crate::audit::Actor;
use crate::clock::now_unix;
use crate::http::client::body;
use crate::http::{ApiFailure, AppState, parse_json};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewApiKey {
    name: String,
    scopes: Vec<String>,
}

pub(super) async fn create(
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
        .write(move |tx| {
            apikeys::create(
                tx,
                &key,
                caller.environment,
                &new.name,
                &new.scopes,
                &Actor::api_key(&caller.id),
                now_unix(),
            )
        })
        .await?;
    Ok(created(json!({ "api_key": row.view(), "token": token })))
}

pub(super) async fn list(
    State(state): State<Arc<AppState>>,
    peer: Peer,
    headers: HeaderMap,
) -> Result<Response, ApiFailure> {
    let caller = auth(&state, &headers, &peer, "api_keys:write").await?;
    let rows = state
        .store
        .read(move |db| apikeys::list(db, caller.environment))
        .await?;
    Ok(
        Json(json!({ "api_keys": rows.iter().map(ApiKeyRow::view).collect::<Vec<_>>() }))
            .into_response(),
    )
}

pub(super) async fn revoke(
    State(state): State<Arc<AppState>>,
    peer: Peer,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiFailure> {
    let caller = auth(&state, &headers, &peer, "api_keys:write").await?;
    let done = state
        .store
        .write(move |tx| {
            let by = Actor::api_key(&caller.id);
            apikeys::revoke(tx, caller.environment, &id, &by, now_unix())
        })
        .await?;
    if done {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(not_found("API key"))
    }
}

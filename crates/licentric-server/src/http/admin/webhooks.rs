//! Webhook endpoints: `/v1/admin/webhooks`.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Peer, auth, created, invalid, not_found};
use crate::audit::{Actor, Entry};
use crate::clock::{now_unix, rfc3339};
use crate::crypto::new_id;
use crate::http::client::body;
use crate::http::{ApiFailure, AppState, parse_json};
use crate::store::StoreError;
use crate::store::webhooks::{self as table, WebhookRow};
use crate::webhooks;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewWebhook {
    url: String,
    #[serde(default)]
    events: Option<Vec<String>>,
}

fn view(hook: &WebhookRow) -> Value {
    json!({ "id": hook.id, "url": hook.url, "events": hook.events, "created_at": rfc3339(hook.created_at) })
}

pub(super) async fn create(
    State(state): State<Arc<AppState>>,
    peer: Peer,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiFailure> {
    let caller = auth(&state, &headers, &peer, "webhooks:write").await?;
    let new: NewWebhook = parse_json(&body(raw)?)?;
    if new.url.len() > 2048 {
        return Err(invalid("url must be at most 2048 characters"));
    }
    crate::egress::check_url(&new.url, &state.config.webhooks).map_err(invalid)?;
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
    let secret_for_store = secret.clone();
    let hook = state
        .store
        .write(move |tx| {
            let hook = WebhookRow {
                id: new_id("wh").map_err(crate::crypto::CryptoError::from)?,
                environment: caller.environment,
                url: new.url,
                events,
                created_at: now_unix(),
            };
            let sealed =
                key.encrypt(secret_for_store.as_bytes(), &format!("webhook:{}", hook.id))?;
            table::insert(tx, &hook, &sealed)?;
            Entry::new(
                caller.environment,
                &Actor::api_key(&caller.id),
                "webhook.created",
                ("webhook", &hook.id),
            )
            .after(view(&hook))
            .record(tx, hook.created_at)?;
            Ok(hook)
        })
        .await?;
    // The secret is returned once, here.
    Ok(created(json!({ "webhook": view(&hook), "secret": secret })))
}

pub(super) async fn list(
    State(state): State<Arc<AppState>>,
    peer: Peer,
    headers: HeaderMap,
) -> Result<Response, ApiFailure> {
    let caller = auth(&state, &headers, &peer, "webhooks:write").await?;
    let rows = state
        .store
        .read(move |db| table::list(db, caller.environment))
        .await?;
    let rows: Vec<Value> = rows.iter().map(view).collect();
    Ok(Json(json!({ "webhooks": rows })).into_response())
}

pub(super) async fn delete(
    State(state): State<Arc<AppState>>,
    peer: Peer,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiFailure> {
    let caller = auth(&state, &headers, &peer, "webhooks:write").await?;
    let done = state
        .store
        .write(move |tx| {
            let now = now_unix();
            let deleted = table::delete(tx, caller.environment, &id, now)?;
            if deleted {
                Entry::new(
                    caller.environment,
                    &Actor::api_key(&caller.id),
                    "webhook.deleted",
                    ("webhook", &id),
                )
                .record(tx, now)?;
            }
            Ok(deleted)
        })
        .await?;
    if done {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(not_found("webhook"))
    }
}

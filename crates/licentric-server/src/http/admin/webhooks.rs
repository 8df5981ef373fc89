//! Webhook endpoints: `/v1/admin/webhooks`.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use rusqlite::params;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Peer, auth, created, invalid, not_found};
use crate::audit::{Actor, Entry};
use crate::crypto::new_id;
use crate::db::{self, StoreError, now_unix};
use crate::http::client::body;
use crate::http::{ApiFailure, AppState, parse_json};
use crate::webhooks;

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
    let (id, created_at) = {
        let (url, events, secret) = (new.url.clone(), events.clone(), secret.clone());
        state
            .store
            .call(move |conn| {
                let id = new_id("wh").map_err(crate::crypto::CryptoError::from)?;
                let now = now_unix();
                let secret_enc = key.encrypt(secret.as_bytes(), &format!("webhook:{id}"))?;
                let tx = conn.transaction()?;
                tx.execute(
                    "INSERT INTO webhooks (id, environment, url, secret_enc, events, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![id, caller.environment, url, secret_enc, serde_json::to_string(&events).map_err(|e| StoreError::Corrupt(e.to_string()))?, now],
                )?;
                Entry::new(&caller.environment, &Actor::api_key(&caller.id), "webhook.created", ("webhook", &id))
                    .after(webhook_view(&id, &url, &events, now))
                    .record(&tx, now)?;
                tx.commit()?;
                Ok((id, now))
            })
            .await?
    };
    // The secret is returned once, here.
    Ok(created(
        json!({ "webhook": webhook_view(&id, &new.url, &events, created_at), "secret": secret }),
    ))
}

pub(super) async fn list(
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

pub(super) async fn delete(
    State(state): State<Arc<AppState>>,
    peer: Peer,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiFailure> {
    let caller = auth(&state, &headers, &peer, "webhooks:write").await?;
    let done = state
        .store
        .call(move |conn| {
            let now = now_unix();
            let tx = conn.transaction()?;
            let deleted = tx.execute(
                "UPDATE webhooks SET deleted_at = ?3 WHERE id = ?1 AND environment = ?2 AND deleted_at IS NULL",
                params![id, caller.environment, now],
            )? == 1;
            if deleted {
                Entry::new(&caller.environment, &Actor::api_key(&caller.id), "webhook.deleted", ("webhook", &id))
                    .record(&tx, now)?;
            }
            tx.commit()?;
            Ok(deleted)
        })
        .await?;
    if done {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(not_found("webhook"))
    }
}

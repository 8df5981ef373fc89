//! The audit log: `GET /v1/admin/audit-events`, newest first, a page at a time.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::{Peer, auth, invalid};
use crate::audit::{self, Filter};
use crate::http::{ApiFailure, AppState};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Page {
    license_id: Option<String>,
    before: Option<String>,
    limit: Option<u32>,
}

pub(super) async fn list(
    State(state): State<Arc<AppState>>,
    peer: Peer,
    headers: HeaderMap,
    Query(page): Query<Page>,
) -> Result<Response, ApiFailure> {
    let caller = auth(&state, &headers, &peer, "audit:read").await?;
    if page.limit.is_some_and(|n| !(1..=500).contains(&n)) {
        return Err(invalid("limit must be 1 to 500"));
    }
    let before = page
        .before
        .as_deref()
        .map(|c| {
            c.parse::<i64>()
                .map_err(|_| invalid("before must be the `next` of a previous page"))
        })
        .transpose()?;
    let filter = Filter {
        license_id: page.license_id,
        before,
        limit: page.limit,
    };
    let (events, next) = state
        .store
        .read(move |db| audit::list(db, caller.environment, &filter))
        .await?;
    Ok(Json(json!({ "events": events, "next": next.map(|n| n.to_string()) })).into_response())
}

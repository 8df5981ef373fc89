//! The HTTP API: routes, the shared state, authentication helpers, JSON errors and the
//! metrics/logging middleware. Handlers are thin: parse, authenticate, call the logic.

mod admin;
mod client;
mod leases;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Extension, Json, Router};
use licentric_proto::api::{ApiErrorCode, ErrorBody};
use serde::de::DeserializeOwned;
use tokio::sync::{Notify, Semaphore};

use crate::config::ServerConfig;
use crate::crypto::DataKey;
use crate::licensing::Issuer;
use crate::metrics::Metrics;
use crate::ratelimit::FailureLimiter;
use crate::store::{Store, StoreError};

/// Everything a handler needs.
#[derive(Debug)]
pub struct AppState {
    /// The database.
    pub store: Arc<Store>,
    /// Signs licence files.
    pub issuer: Issuer,
    /// Encryption and hashing of secrets at rest.
    pub data_key: Arc<DataKey>,
    /// The configuration.
    pub config: ServerConfig,
    /// Failed-authentication limits.
    pub limiter: FailureLimiter,
    /// The request budgets of valid credentials.
    pub budgets: crate::ratelimit::RequestLimiter,
    /// Counters for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Wakes the webhook delivery task when events are recorded.
    pub webhook_wake: Arc<Notify>,
}

/// The client's address, put on every request by the connection loop.
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

/// Room for request bodies on one connection, one permit a byte (`[connections]
/// max_body_bytes_per_connection`), put on each of its requests by the connection loop.
#[derive(Debug, Clone)]
pub struct ConnectionRoom(pub Arc<Semaphore>);

/// The router with every endpoint.
pub fn router(state: Arc<AppState>) -> Router {
    let body_limit = state.config.max_body_bytes;
    Router::new()
        .route("/v1/activations", post(client::activate))
        .route("/v1/machines/{machine_id}/checkout", post(client::checkout))
        .route("/v1/machines/{machine_id}/validate", post(client::validate))
        .route("/v1/machines/{machine_id}", delete(client::deactivate))
        .route("/v1/offline-activations", post(client::activate_offline))
        .route("/v1/leases", post(leases::checkout))
        .route("/v1/leases/{lease_id}/renew", post(leases::renew))
        .route("/v1/leases/{lease_id}/release", post(leases::release))
        .nest("/v1/admin", admin::routes())
        .route("/v1/keys", get(signing_keys))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            read_whole_body,
        ))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn_with_state(Arc::clone(&state), observe))
        .with_state(state)
}

/// Reads each request's body whole (within the body limit, and in the time
/// `[connections] body_read_timeout_ms` gives) before it is answered, whether or not its
/// endpoint needs one: answered with a body still coming (a `DELETE` sent with one, a refusal
/// before the body is read), the client's HTTP/2 stream would be reset, and a client such as
/// curl reports that as a failed request rather than the answer it was given.
///
/// Bodies in memory are bounded per connection (`max_body_bytes_per_connection`): slow bodies
/// on many streams would otherwise hold up to the streams per connection times the body limit,
/// on each connection. A body that finds no room on its connection in `body_wait_ms` is
/// answered `503 server_busy`, which clients retry; other connections are not kept waiting.
async fn read_whole_body(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    use axum::body::HttpBody as _;
    let (parts, body) = request.into_parts();
    let limits = &state.config.connections;
    // Room for the body is taken before it is read, and held until it is answered: its
    // declared length, or the most it may be. A body larger than that is refused as it is read.
    let most = state.config.max_body_bytes;
    let room = body
        .size_hint()
        .upper()
        .map_or(most, |n| usize::try_from(n).unwrap_or(most).min(most));
    let _room = match parts.extensions.get::<ConnectionRoom>() {
        Some(ConnectionRoom(connection)) if room > 0 => {
            let wanted = u32::try_from(room).unwrap_or(u32::MAX);
            let taken = Arc::clone(connection).acquire_many_owned(wanted);
            match tokio::time::timeout(Duration::from_millis(limits.body_wait_ms), taken).await {
                Ok(Ok(permit)) => Some(state.metrics.body_room_taken(permit)),
                Ok(Err(_)) | Err(_) => return ApiFailure::busy(1).into_response(),
            }
        }
        _ => None,
    };
    let whole = Bytes::from_request(Request::from_parts(parts.clone(), body), &());
    let Ok(read) =
        tokio::time::timeout(Duration::from_millis(limits.body_read_timeout_ms), whole).await
    else {
        return ApiFailure::new(
            ApiErrorCode::InvalidRequest,
            "the request's body did not arrive in time",
        )
        .into_response();
    };
    match client::body(read) {
        Ok(bytes) => next.run(Request::from_parts(parts, bytes.into())).await,
        Err(failure) => failure.into_response(),
    }
}

/// A JSON error answer.
#[derive(Debug)]
pub struct ApiFailure {
    status: StatusCode,
    body: Box<ErrorBody>,
    retry_after: Option<u64>,
}

impl ApiFailure {
    /// An error with `code`'s status.
    pub fn new(code: ApiErrorCode, message: impl Into<String>) -> ApiFailure {
        let status =
            StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        ApiFailure {
            status,
            body: Box::new(ErrorBody::new(code, message)),
            retry_after: None,
        }
    }

    fn rate_limited(retry_after: u64) -> ApiFailure {
        ApiFailure {
            retry_after: Some(retry_after),
            ..ApiFailure::new(
                ApiErrorCode::RateLimited,
                "too many failed attempts; try again later",
            )
        }
    }

    fn busy(retry_after: u64) -> ApiFailure {
        ApiFailure {
            retry_after: Some(retry_after),
            ..ApiFailure::new(
                ApiErrorCode::ServerBusy,
                "the server is busy with other requests; try again shortly",
            )
        }
    }

    fn over_budget(retry_after: u64) -> ApiFailure {
        ApiFailure {
            retry_after: Some(retry_after),
            ..ApiFailure::new(
                ApiErrorCode::RateLimited,
                "too many requests with this key; try again later",
            )
        }
    }

    fn invalid_license_key() -> ApiFailure {
        ApiFailure::new(ApiErrorCode::InvalidLicenseKey, "invalid licence key")
    }
}

impl From<StoreError> for ApiFailure {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "request failed inside the server");
        ApiFailure::new(
            ApiErrorCode::InternalError,
            "the server failed; try again later",
        )
    }
}

impl IntoResponse for ApiFailure {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(*self.body)).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// Parses a JSON body, with our error format for what axum would answer in plain text.
fn parse_json<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiFailure> {
    serde_json::from_slice(body).map_err(|e| {
        ApiFailure::new(
            ApiErrorCode::InvalidRequest,
            format!("invalid JSON body: {e}"),
        )
    })
}

/// A JSON answer from a pre-serialised body.
fn json_response(status: u16, body: String) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if body.is_empty() {
        return status.into_response();
    }
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

fn peer_ip(request_peer: Option<&PeerAddr>) -> IpAddr {
    request_peer.map_or(IpAddr::from([0, 0, 0, 0]), |p| p.0.ip())
}

/// The token after `scheme` in the `Authorization` header.
fn authorization<'h>(headers: &'h HeaderMap, scheme: &str) -> Option<&'h str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (given, token) = value.split_once(' ')?;
    given.eq_ignore_ascii_case(scheme).then(|| token.trim())
}

async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    match state.store.read(|db| db.ping()).await {
        Ok(_) => Json(serde_json::json!({ "status": "ok" })).into_response(),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "status": "database unavailable" })),
        )
            .into_response(),
    }
}

/// `GET /v1/keys`: the published signing keys (current, next and previous; never retired),
/// so a vendor can check what its companions must trust. Public: these are public keys.
async fn signing_keys(State(state): State<Arc<AppState>>) -> Result<Response, ApiFailure> {
    let keys = state.store.read(|db| crate::keys::list(db, true)).await?;
    let keys: Vec<_> = keys
        .iter()
        .map(|k| {
            serde_json::json!({
                "kid": k.kid,
                "public_key": k.public_key,
                "status": k.status.as_str(),
                "created_at": crate::clock::rfc3339(k.created_at),
            })
        })
        .collect();
    Ok(Json(serde_json::json!({ "keys": keys })).into_response())
}

/// `GET /metrics`: for a management API key with the `metrics:read` scope (of either
/// environment): the counters say how the service is used, which is not for anyone.
async fn metrics(
    State(state): State<Arc<AppState>>,
    peer: Option<Extension<PeerAddr>>,
    headers: HeaderMap,
) -> Result<Response, ApiFailure> {
    let caller = admin::auth(&state, &headers, &peer, "metrics:read").await?;
    let mut text = state.metrics.render();
    // Seats of floating licences held now, per licence of the key's environment.
    let environment = caller.environment;
    let seats = state
        .store
        .read(move |db| crate::store::leases::in_use(db, environment, crate::clock::now_unix()))
        .await?;
    text.push_str(
        "# HELP licentric_seats_in_use Seats of floating licences held now, per licence.\n",
    );
    text.push_str("# TYPE licentric_seats_in_use gauge\n");
    for (license, n) in seats {
        use std::fmt::Write as _;
        let _ = writeln!(
            text,
            "licentric_seats_in_use{{environment=\"{}\",license_id=\"{license}\"}} {n}",
            environment.as_str()
        );
    }
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response())
}

async fn not_found() -> ApiFailure {
    ApiFailure::new(ApiErrorCode::NotFound, "no such endpoint")
}

/// Counts every answer by endpoint and status, and logs it — method, route template, status,
/// time; never headers or bodies, so no key or token reaches the log.
async fn observe(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let endpoint = match request.extensions().get::<MatchedPath>() {
        Some(path) => format!("{} {}", request.method(), path.as_str()),
        None => format!("{} (unmatched)", request.method()),
    };
    let response = next.run(request).await;
    let status = response.status().as_u16();
    state.metrics.request(&endpoint, status);
    tracing::info!(endpoint = %endpoint, status, ms = started.elapsed().as_secs_f64() * 1e3, "answered");
    response
}

//! Client endpoints (licence-key authentication): activation, checkout, deactivation,
//! offline activation.

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use licentric_core::LicenseKey;
use licentric_core::components::ComponentKind;
use licentric_proto::api::{
    ActivationRequest, ApiErrorCode, CheckoutRequest, IDEMPOTENCY_KEY_HEADER, LICENSE_AUTH_SCHEME,
    OfflineActivationRequest, ValidateRequest,
};
use sha2::{Digest, Sha256};

use super::{ApiFailure, AppState, PeerAddr, authorization, json_response, parse_json, peer_ip};
use crate::clock::now_unix;
use crate::licensing::{self, ActivationInput, Idempotency, Issuer, Outcome, valid_fingerprint};
use crate::store::{StoreError, Tx};

const MAX_FIELD: usize = 255;

/// The body, with our JSON error for one over the size limit.
pub(super) fn body(result: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiFailure> {
    result.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiFailure::new(
                ApiErrorCode::PayloadTooLarge,
                "the request body is too large",
            )
        } else {
            ApiFailure::new(
                ApiErrorCode::InvalidRequest,
                "the request body could not be read",
            )
        }
    })
}

/// A presented licence key, past the limits that apply before it is looked up.
pub(super) struct Presented {
    /// The key's lookup hash.
    pub(super) hash: [u8; 32],
    /// Set when the caller's address has failed too often: a valid key is still answered, a
    /// failure gets `429` with this wait instead of `401`.
    address_wait: Option<u64>,
}

/// A call authenticated by a licence key, answered from one write transaction.
pub(super) struct KeyCall {
    state: Arc<AppState>,
    peer: Option<PeerAddr>,
    presented: Presented,
}

impl KeyCall {
    /// The key presented in `headers`, past the limits that apply before it is looked up (see
    /// [`authenticate`]).
    pub(super) fn authenticate(
        state: Arc<AppState>,
        peer: Option<Extension<PeerAddr>>,
        headers: &HeaderMap,
    ) -> Result<KeyCall, ApiFailure> {
        let peer = peer.map(|Extension(p)| p);
        let presented = authenticate(&state, headers, peer.as_ref())?;
        Ok(KeyCall {
            state,
            peer,
            presented,
        })
    }

    /// Runs `logic` in one write transaction, given the issuer and the key's lookup hash, and
    /// answers its outcome (a key that turns out unknown as a failed attempt).
    pub(super) async fn write<F>(self, logic: F) -> Result<Response, ApiFailure>
    where
        F: FnOnce(&Tx<'_>, &Issuer, &[u8; 32]) -> Result<Outcome, StoreError> + Send + 'static,
    {
        let state = Arc::clone(&self.state);
        let key_hash = self.presented.hash;
        let outcome = self
            .state
            .store
            .write(move |tx| logic(tx, &state.issuer, &key_hash))
            .await?;
        answer(&self.state, outcome, &self.presented, self.peer.as_ref())
    }
}

/// The licence key's lookup hash, after the rate limits. A missing or malformed key is a
/// failed attempt like a wrong one, with the same uniform 401. Failures from the caller's
/// address limit only failures: a valid key is answered from any address (keys carry 80
/// random bits, so answering one reveals nothing a guesser could use), within its own budget.
fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    peer: Option<&PeerAddr>,
) -> Result<Presented, ApiFailure> {
    let ip = peer_ip(peer);
    let presented = authorization(headers, LICENSE_AUTH_SCHEME);
    let key_hash = presented
        .and_then(|k| LicenseKey::parse_any(k).ok())
        .map(|k| k.lookup_hash());
    // A malformed key is limited by the hash of what was sent, so it cannot dodge the per-key limit.
    let limit_key = key_hash.or_else(|| presented.map(|p| Sha256::digest(p.as_bytes()).into()));
    if let Some(wait) = limit_key.as_ref().and_then(|k| state.limiter.key_wait(k)) {
        state.metrics.rate_limited("presented_key");
        return Err(ApiFailure::rate_limited(wait));
    }
    let address_wait = state.limiter.address_wait(ip);
    let Some(hash) = key_hash else {
        return Err(failed(state, ip, limit_key.as_ref(), address_wait));
    };
    if let Err(wait) = state.budgets.licence_key(&hash) {
        state.metrics.rate_limited("license_key");
        return Err(ApiFailure::over_budget(wait));
    }
    Ok(Presented { hash, address_wait })
}

/// A failed attempt: `401`, or `429` when the address is over its budget (then not counted
/// again, so a blocked address refills).
fn failed(
    state: &AppState,
    ip: std::net::IpAddr,
    key: Option<&[u8; 32]>,
    address_wait: Option<u64>,
) -> ApiFailure {
    if let Some(wait) = address_wait {
        state.metrics.rate_limited("address");
        return ApiFailure::rate_limited(wait);
    }
    state.limiter.failed(ip, key);
    ApiFailure::invalid_license_key()
}

fn answer(
    state: &AppState,
    outcome: Outcome,
    presented: &Presented,
    peer: Option<&PeerAddr>,
) -> Result<Response, ApiFailure> {
    match outcome {
        Outcome::Unauthorized => Err(failed(
            state,
            peer_ip(peer),
            Some(&presented.hash),
            presented.address_wait,
        )),
        Outcome::Answer {
            status,
            body,
            events,
        } => {
            if events {
                state.webhook_wake.notify_one();
            }
            Ok(json_response(status, body))
        }
    }
}

pub(super) fn check_field(name: &str, value: &str) -> Result<(), ApiFailure> {
    if value.len() > MAX_FIELD || value.chars().any(char::is_control) {
        return Err(ApiFailure::new(
            ApiErrorCode::InvalidRequest,
            format!("{name} is too long or has control characters"),
        ));
    }
    Ok(())
}

pub(super) fn check_nonce(nonce: &str) -> Result<(), ApiFailure> {
    if nonce.is_empty()
        || nonce.len() > licentric_core::license_file::MAX_NONCE_LEN
        || !nonce.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(ApiFailure::new(
            ApiErrorCode::InvalidRequest,
            "nonce must be 1 to 128 printable characters",
        ));
    }
    Ok(())
}

/// A machine's parts: at most 16, each a known kind with a 64-hex hash.
fn check_components(
    components: &[licentric_proto::api::MachineComponent],
) -> Result<(), ApiFailure> {
    if licentric_core::components::well_formed(components) {
        Ok(())
    } else {
        Err(ApiFailure::new(
            ApiErrorCode::InvalidRequest,
            format!(
                "components must be at most 16 of {{kind, hash}}: kind one of {}, hash 64 lower-case hex characters",
                ComponentKind::ALL.map(ComponentKind::as_str).join(", ")
            ),
        ))
    }
}

pub(super) fn check_fingerprint(fingerprint: &str) -> Result<(), ApiFailure> {
    if valid_fingerprint(fingerprint) {
        Ok(())
    } else {
        Err(ApiFailure::new(
            ApiErrorCode::InvalidFingerprint,
            "fingerprint must be 64 lower-case hex characters",
        ))
    }
}

/// `POST /v1/activations`.
pub(super) async fn activate(
    State(state): State<Arc<AppState>>,
    peer: Option<Extension<PeerAddr>>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiFailure> {
    let call = KeyCall::authenticate(state, peer, &headers)?;
    let raw = body(raw)?;
    let request: ActivationRequest = parse_json(&raw)?;
    check_fingerprint(&request.fingerprint)?;
    check_nonce(&request.nonce)?;
    let runs_in = request.runs_in.as_ref().map(|r| &r.name);
    for (name, value) in [
        ("platform", &request.platform),
        ("hostname", &request.hostname),
        ("app_version", &request.app_version),
    ]
    .into_iter()
    .chain(runs_in.map(|name| ("runs_in.name", name)))
    {
        check_field(name, value)?;
    }
    let idempotency = match headers.get(IDEMPOTENCY_KEY_HEADER) {
        None => None,
        Some(value) => {
            let key = value
                .to_str()
                .ok()
                .filter(|k| !k.is_empty() && k.len() <= 255)
                .ok_or_else(|| {
                    ApiFailure::new(
                        ApiErrorCode::InvalidRequest,
                        "Idempotency-Key must be 1 to 255 visible characters",
                    )
                })?;
            let mut hash = Sha256::new();
            hash.update(b"POST /v1/activations\n");
            hash.update(&raw);
            Some(Idempotency {
                key: key.to_owned(),
                request_hash: hash.finalize().into(),
            })
        }
    };
    check_components(&request.components)?;
    let input = ActivationInput {
        fingerprint: request.fingerprint,
        platform: request.platform,
        hostname: request.hostname,
        app_version: request.app_version,
        nonce: request.nonce,
        components: request.components,
        runs_in: request.runs_in,
    };
    call.write(move |tx, issuer, key_hash| {
        licensing::activate(
            tx,
            issuer,
            key_hash,
            &input,
            idempotency.as_ref(),
            now_unix(),
        )
    })
    .await
}

/// `POST /v1/machines/{machine_id}/checkout`.
pub(super) async fn checkout(
    State(state): State<Arc<AppState>>,
    peer: Option<Extension<PeerAddr>>,
    Path(machine_id): Path<String>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiFailure> {
    let call = KeyCall::authenticate(state, peer, &headers)?;
    let request: CheckoutRequest = parse_json(&body(raw)?)?;
    check_fingerprint(&request.fingerprint)?;
    check_components(&request.components)?;
    check_nonce(&request.nonce)?;
    call.write(move |tx, issuer, key_hash| {
        let input = licensing::CheckoutInput {
            machine_id,
            fingerprint: request.fingerprint,
            ttl_seconds: request.ttl_seconds,
            nonce: request.nonce,
            components: request.components,
        };
        licensing::checkout(tx, issuer, key_hash, &input, now_unix())
    })
    .await
}

/// `POST /v1/machines/{machine_id}/validate`.
pub(super) async fn validate(
    State(state): State<Arc<AppState>>,
    peer: Option<Extension<PeerAddr>>,
    Path(machine_id): Path<String>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiFailure> {
    let call = KeyCall::authenticate(state, peer, &headers)?;
    let request: ValidateRequest = parse_json(&body(raw)?)?;
    check_fingerprint(&request.fingerprint)?;
    check_components(&request.components)?;
    check_nonce(&request.nonce)?;
    call.write(move |tx, issuer, key_hash| {
        let input = licensing::ValidateInput {
            machine_id,
            fingerprint: request.fingerprint,
            nonce: request.nonce,
            components: request.components,
        };
        licensing::validate(tx, issuer, key_hash, &input, now_unix())
    })
    .await
}

/// `DELETE /v1/machines/{machine_id}`.
pub(super) async fn deactivate(
    State(state): State<Arc<AppState>>,
    peer: Option<Extension<PeerAddr>>,
    Path(machine_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiFailure> {
    let call = KeyCall::authenticate(state, peer, &headers)?;
    call.write(move |tx, _, key_hash| licensing::deactivate(tx, key_hash, &machine_id, now_unix()))
        .await
}

/// `POST /v1/offline-activations`.
pub(super) async fn activate_offline(
    State(state): State<Arc<AppState>>,
    peer: Option<Extension<PeerAddr>>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiFailure> {
    let call = KeyCall::authenticate(state, peer, &headers)?;
    let request: OfflineActivationRequest = parse_json(&body(raw)?)?;
    call.write(move |tx, issuer, key_hash| {
        licensing::activate_offline(tx, issuer, key_hash, &request.request, now_unix())
    })
    .await
}

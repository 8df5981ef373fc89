//! Floating licences' leases (licence-key authentication): check out a seat, renew it,
//! release it (`docs/floating.md`).

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use licentric_proto::api::{LeaseRequest, ReleaseLeaseRequest, RenewLeaseRequest};

use super::client::{KeyCall, body, check_field, check_fingerprint, check_nonce};
use super::{ApiFailure, AppState, PeerAddr, parse_json};
use crate::clock::now_unix;
use crate::leases::{self, LeaseInput};

/// `POST /v1/leases`.
pub(super) async fn checkout(
    State(state): State<Arc<AppState>>,
    peer: Option<Extension<PeerAddr>>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiFailure> {
    let call = KeyCall::authenticate(state, peer, &headers)?;
    let request: LeaseRequest = parse_json(&body(raw)?)?;
    check_fingerprint(&request.fingerprint)?;
    check_nonce(&request.nonce)?;
    if let Some(label) = &request.label {
        check_field("label", label)?;
    }
    let borrow_until = borrow_until(request.borrow_until.as_deref())?;
    call.write(move |tx, issuer, key_hash| {
        let input = LeaseInput {
            fingerprint: request.fingerprint,
            nonce: request.nonce,
            label: request.label,
            secret: String::new(),
            borrow_until,
            entitlement: request.entitlement,
        };
        leases::checkout(tx, issuer, key_hash, &input, now_unix())
    })
    .await
}

/// `POST /v1/leases/{lease_id}/renew`.
pub(super) async fn renew(
    State(state): State<Arc<AppState>>,
    peer: Option<Extension<PeerAddr>>,
    Path(lease_id): Path<String>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiFailure> {
    let call = KeyCall::authenticate(state, peer, &headers)?;
    let request: RenewLeaseRequest = parse_json(&body(raw)?)?;
    check_fingerprint(&request.fingerprint)?;
    check_nonce(&request.nonce)?;
    let borrow_until = borrow_until(request.borrow_until.as_deref())?;
    call.write(move |tx, issuer, key_hash| {
        let input = LeaseInput {
            fingerprint: request.fingerprint,
            nonce: request.nonce,
            label: None,
            secret: request.lease_secret,
            borrow_until,
            entitlement: request.entitlement,
        };
        leases::renew(tx, issuer, key_hash, &lease_id, &input, now_unix())
    })
    .await
}

/// `POST /v1/leases/{lease_id}/release`.
pub(super) async fn release(
    State(state): State<Arc<AppState>>,
    peer: Option<Extension<PeerAddr>>,
    Path(lease_id): Path<String>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiFailure> {
    let call = KeyCall::authenticate(state, peer, &headers)?;
    let request: ReleaseLeaseRequest = parse_json(&body(raw)?)?;
    call.write(move |tx, _, key_hash| {
        leases::release(tx, key_hash, &lease_id, &request.lease_secret, now_unix())
    })
    .await
}

/// A borrow's end as asked for: RFC 3339, or the request is invalid.
fn borrow_until(text: Option<&str>) -> Result<Option<i64>, ApiFailure> {
    text.map(|t| {
        crate::clock::parse_rfc3339(t).ok_or_else(|| {
            ApiFailure::new(
                licentric_proto::api::ApiErrorCode::InvalidRequest,
                "borrow_until must be an RFC 3339 time, such as 2026-12-24T18:00:00Z",
            )
        })
    })
    .transpose()
}

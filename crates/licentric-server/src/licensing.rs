//! The client endpoints' logic: activation (idempotent), checkout, validation, deactivation
//! and offline activation, each run in one store transaction (`Store::write`) that the HTTP
//! layer opens around the parsed, authenticated request.

use licentric_core::license_file::LicensePayload;
use licentric_core::request_file::ActivationRequestFile;
use licentric_core::{Fingerprint, LicenseSigner, ct_eq_str};
use licentric_proto::LicenseStatus;
use licentric_proto::api::{
    ActivationResponse, ApiErrorCode, CheckoutResponse, ErrorBody, MachineComponent, RunsIn,
    ValidateResponse,
};
use std::sync::Arc;

use serde::Serialize;
use time::{Duration, OffsetDateTime};

use crate::audit::{Actor, Entry};
use crate::config::ServerConfig;
use crate::crypto::new_id;
use crate::domain::{Comparison, FingerprintMatch, TtlBounds};
use crate::keys::Keyring;
use crate::store::idempotency::{self, Remembered};
use crate::store::machines::{self, MachineBy};
use crate::store::{Db, LicenseRow, MachineRow, StoreError, Tx, licenses};
use crate::{views, webhooks};

/// The machine id written into a refusal for a fingerprint that has no machine.
const UNASSIGNED: &str = "unassigned";

/// Signs licence files and statements with the current key, within the TTL bounds.
#[derive(Debug)]
pub struct Issuer {
    keys: Keyring,
    ttl: TtlBounds,
}

impl Issuer {
    /// An issuer signing with `keys`' current key under `config`'s TTL bounds.
    pub fn new(keys: Keyring, config: &ServerConfig) -> Issuer {
        Issuer {
            keys,
            ttl: TtlBounds {
                default: config.default_ttl_seconds,
                min: config.min_ttl_seconds,
                max: config.max_ttl_seconds,
            },
        }
    }

    /// What signs now, as `db` says (a rotation made meanwhile is seen here).
    ///
    /// # Errors
    /// On storage failure.
    pub fn signing(&self, db: &Db<'_>) -> Result<Signing, StoreError> {
        Ok(Signing {
            signer: self.keys.current(db)?,
            ttl: self.ttl,
        })
    }
}

/// The current key and the TTL bounds, for one request.
pub struct Signing {
    signer: Arc<LicenseSigner>,
    ttl: TtlBounds,
}

impl Signing {
    /// A signed statement of `kind` about `machine_id`, answering the request with `nonce`.
    ///
    /// # Errors
    /// When the time cannot be encoded.
    pub fn state(
        &self,
        kind: licentric_core::StatementKind,
        license: &LicenseRow,
        machine_id: &str,
        fingerprint: &str,
        nonce: &str,
        now: i64,
    ) -> Result<String, StoreError> {
        let environment = license.environment;
        let payload = licentric_core::StatementPayload {
            kind,
            license_id: license.id.clone(),
            product_id: license.product_id.clone(),
            environment,
            machine_id: machine_id.to_owned(),
            fingerprint: fingerprint.to_owned(),
            issued_at: OffsetDateTime::from_unix_timestamp(now)
                .map_err(|e| StoreError::Sign(e.to_string()))?,
            nonce: nonce.to_owned(),
        };
        self.signer
            .sign_statement(&payload)
            .map_err(|e| StoreError::Sign(e.to_string()))
    }

    /// A signed lease.
    ///
    /// # Errors
    /// When the payload cannot be serialised.
    pub fn lease(&self, payload: &licentric_core::LeasePayload) -> Result<String, StoreError> {
        self.signer
            .sign_lease(payload)
            .map_err(|e| StoreError::Sign(e.to_string()))
    }

    /// A signed licence file for `machine_id` on `license`, stating its status now.
    ///
    /// # Errors
    /// When the timestamps cannot be encoded.
    pub fn issue(
        &self,
        license: &LicenseRow,
        machine_id: &str,
        fingerprint: &str,
        nonce: Option<&str>,
        ttl: Option<u64>,
        now: i64,
    ) -> Result<String, StoreError> {
        let ttl = license.policy.ttl(self.ttl, ttl);
        let issued_at = OffsetDateTime::from_unix_timestamp(now)
            .map_err(|e| StoreError::Sign(e.to_string()))?;
        let ttl =
            Duration::seconds(i64::try_from(ttl).map_err(|e| StoreError::Sign(e.to_string()))?);
        let license_expires_at = license
            .expires_at
            .map(OffsetDateTime::from_unix_timestamp)
            .transpose()
            .map_err(|e| StoreError::Sign(e.to_string()))?;
        let environment = license.environment;
        let payload = LicensePayload {
            license_id: license.id.clone(),
            product_id: license.product_id.clone(),
            environment,
            machine_id: machine_id.to_owned(),
            fingerprint: fingerprint.to_owned(),
            status: license.effective_status(now),
            entitlements: license.entitlements.clone(),
            max_machines: license.max_machines,
            license_expires_at,
            issued_at,
            expires_at: issued_at + ttl,
            nonce: nonce.map(str::to_owned),
            check_interval: Some(u64::from(license.policy.check_interval)),
        };
        self.signer
            .sign(&payload)
            .map_err(|e| StoreError::Sign(e.to_string()))
    }
}

/// What a client endpoint answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The licence key is unknown: one uniform 401, counted against the rate limits.
    Unauthorized,
    /// An answer.
    Answer {
        /// HTTP status.
        status: u16,
        /// JSON body (empty for 204).
        body: String,
        /// Whether webhook events were recorded (the delivery worker should wake).
        events: bool,
    },
}

impl Outcome {
    pub(crate) fn json<T: Serialize>(status: u16, body: &T) -> Result<Outcome, StoreError> {
        let body = serde_json::to_string(body).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok(Outcome::Answer {
            status,
            body,
            events: false,
        })
    }

    pub(crate) fn error(code: ApiErrorCode, message: &str) -> Result<Outcome, StoreError> {
        Outcome::json(code.http_status(), &ErrorBody::new(code, message))
    }

    pub(crate) fn with_events(self, recorded: bool) -> Outcome {
        match self {
            Outcome::Answer {
                status,
                body,
                events,
            } => Outcome::Answer {
                status,
                body,
                events: events || recorded,
            },
            other => other,
        }
    }
}

/// An activation's inputs, already checked for shape.
#[derive(Debug, Clone)]
pub struct ActivationInput {
    /// The machine's fingerprint.
    pub fingerprint: String,
    /// Its platform.
    pub platform: String,
    /// Its host name.
    pub hostname: String,
    /// The companion's version.
    pub app_version: String,
    /// The request's nonce.
    pub nonce: String,
    /// The machine's parts (none from older companions).
    pub components: Vec<MachineComponent>,
    /// What it runs in, when not bare hardware (as it says).
    pub runs_in: Option<RunsIn>,
}

/// The `Idempotency-Key` of a request and the hash of what it asked.
#[derive(Debug, Clone)]
pub struct Idempotency {
    /// The client's key.
    pub key: String,
    /// SHA-256 of the method, path and body.
    pub request_hash: [u8; 32],
}

/// `POST /v1/activations`.
///
/// # Errors
/// On storage failure.
pub fn activate(
    tx: &Tx<'_>,
    issuer: &Issuer,
    key_hash: &[u8; 32],
    input: &ActivationInput,
    idempotency: Option<&Idempotency>,
    now: i64,
) -> Result<Outcome, StoreError> {
    let Some(license) = licenses::by_key_hash(tx, key_hash)? else {
        return Ok(Outcome::Unauthorized);
    };
    if let Some(idem) = idempotency
        && let Some(replay) = replay(tx, &license.id, idem)?
    {
        return Ok(replay);
    }
    let outcome = activate_in(tx, issuer, &license, input, now)?;
    if let Some(idem) = idempotency {
        remember(tx, &license.id, idem, &outcome, now)?;
    }
    Ok(outcome)
}

/// `POST /v1/offline-activations`.
///
/// # Errors
/// On storage failure.
pub fn activate_offline(
    tx: &Tx<'_>,
    issuer: &Issuer,
    key_hash: &[u8; 32],
    request_text: &str,
    now: i64,
) -> Result<Outcome, StoreError> {
    let Some(license) = licenses::by_key_hash(tx, key_hash)? else {
        return Ok(Outcome::Unauthorized);
    };
    let request = match ActivationRequestFile::from_armored(request_text) {
        Ok(r) => r,
        Err(e) => return Outcome::error(ApiErrorCode::InvalidActivationRequest, &e.to_string()),
    };
    if request.product_id != license.product_id || request.environment != license.environment {
        return Outcome::error(
            ApiErrorCode::InvalidActivationRequest,
            "the activation request is for another product or environment than this licence",
        );
    }
    let input = ActivationInput {
        fingerprint: request.fingerprint,
        platform: request.platform,
        hostname: request.hostname,
        app_version: "offline".to_owned(),
        nonce: request.nonce,
        // Matched by its parts and held to the product's policy as online (a request from an
        // older companion has none: matched by its fingerprint alone).
        components: request.components,
        runs_in: request.runs_in,
    };
    activate_in(tx, issuer, &license, &input, now)
}

fn activate_in(
    tx: &Tx<'_>,
    issuer: &Issuer,
    license: &LicenseRow,
    input: &ActivationInput,
    now: i64,
) -> Result<Outcome, StoreError> {
    if license.policy.seat_model == crate::domain::SeatModel::Floating {
        return Outcome::error(
            ApiErrorCode::FloatingLicense,
            "this licence is floating: a machine checks out a seat while its software runs (POST /v1/leases) instead of activating",
        );
    }
    let mut existing =
        machines::active(tx, &license.id, MachineBy::Fingerprint(&input.fingerprint))?;
    // A machine of this licence whose fingerprint changed (a reinstall) but whose parts say it
    // is the same, under the product's policy: its seat, not a new one.
    let mut known_again = match existing {
        Some(_) => None,
        None => recognised(tx, license, &input.components, now)?,
    };
    // Unless it is a system that seat moved away from, back while the system that took it is
    // in use (a dual boot's other system, a clone's original): then it needs its own seat.
    let mut duplicate_of = None;
    if let Some((machine, _)) = &known_again
        && now < license.policy.in_use_until(machine.last_seen_at)
        && machines::moved_from(tx, &machine.id, &input.fingerprint)?
    {
        duplicate_of = known_again.take().map(|(m, _)| m);
    }
    // Nothing is written before a licence that is not active is refused.
    if let Some(refusal) = refusal(
        || issuer.signing(tx),
        license,
        existing
            .as_ref()
            .or(known_again.as_ref().map(|(m, _)| m))
            .map_or(UNASSIGNED, |m| &m.id),
        &input.fingerprint,
        &input.nonce,
        None,
        now,
    )? {
        return Ok(refusal);
    }
    if let Some(runs_in) = &input.runs_in
        && !license.policy.allows(Some(runs_in.kind))
    {
        return Outcome::error(
            ApiErrorCode::VirtualizationNotAllowed,
            &format!(
                "this product's licences may not be activated in a {} ({}); activate it on the computer itself",
                runs_in.kind.words(),
                runs_in.name
            ),
        );
    }
    if let Some((machine, comparison)) = known_again {
        existing = Some(rebind(
            tx,
            license,
            &machine,
            &input.fingerprint,
            &input.components,
            &comparison,
            now,
        )?);
    }
    // "Already active here" (200) or a new machine on a free seat (201); either way the
    // answer is the machine's id and a file carrying this request's nonce.
    let (machine_id, status, recorded) = match existing {
        Some(machine) => {
            let details = (&*input.platform, &*input.hostname, &*input.app_version);
            machines::seen_again(tx, &machine.id, details, now)?;
            let reported = remember_parts(tx, license, &machine, &input.components, now)?;
            (machine.id, 200, reported)
        }
        None => {
            let counts = licenses::machine_counts(tx, &license.id)?;
            if counts.active >= license.max_machines {
                let mut body = ErrorBody::new(
                    ApiErrorCode::MachineLimitReached,
                    format!(
                        "all {} machines of this licence are in use; deactivate one to free a seat",
                        license.max_machines
                    ),
                );
                body.error.max_machines = Some(license.max_machines);
                if let Some(other) = &duplicate_of {
                    // The other system can give the seat back, or stop using it.
                    let free_at = license.policy.in_use_until(other.last_seen_at);
                    let at = crate::clock::rfc3339(free_at).unwrap_or_default();
                    body.error.message = format!(
                        "this machine's seat is held by another system with the same parts, in use until at least {at}; deactivate it there, or activate here again after that"
                    );
                    body.error.retry_at = Some(at);
                }
                return Outcome::json(409, &body);
            }

            // Once as many machines as it has seats have been activated, every new one is a
            // move (a seat freed on one machine and taken on another, or taken back).
            let seat_move = counts.ever >= license.max_machines;
            if seat_move && let Err(next) = may_move(tx, license, now)? {
                return moved_too_often(license, next);
            }
            let machine = insert_machine(tx, license, input, seat_move, now)?;
            let reported = match &duplicate_of {
                Some(other) => {
                    report_duplicate(tx, license, other, &input.fingerprint, "own_seat", now)?
                }
                None => false,
            };
            let mut after = views::machine(&machine);
            after["seat_move"] = serde_json::Value::Bool(seat_move);
            Entry::new(
                license.environment,
                &Actor::license_key(&license.id),
                "machine.activated",
                ("machine", &machine.id),
            )
            .license(&license.id)
            .after(after)
            .record(tx, now)?;
            let recorded = webhooks::record(
                tx,
                license.environment,
                "license.activated",
                serde_json::json!({ "license_id": license.id, "machine": views::machine(&machine) }),
                now,
            )?;
            (machine.id, 201, recorded || reported)
        }
    };
    let file = issuer.signing(tx)?.issue(
        license,
        &machine_id,
        &input.fingerprint,
        Some(&input.nonce),
        None,
        now,
    )?;
    Ok(Outcome::json(
        status,
        &ActivationResponse {
            machine_id,
            license_file: file,
            machines_active: Some(licenses::active_machines(tx, &license.id)?),
        },
    )?
    .with_events(recorded))
}

/// Whether the product's policy lets a seat of `license` move now; if not, when it will.
fn may_move(db: &Db<'_>, license: &LicenseRow, now: i64) -> Result<Result<(), i64>, StoreError> {
    let Some(limit) = license.policy.seat_moves else {
        return Ok(Ok(()));
    };
    let moves = machines::moves_since(db, &license.id, now - i64::from(limit.window))?;
    Ok(limit.allow(license.max_machines, &moves, now))
}

/// The refusal of a move past the limit: `seat_move_limit_reached`, with when the next one is
/// allowed (`retry_at`, and in the message).
fn moved_too_often(license: &LicenseRow, next: i64) -> Result<Outcome, StoreError> {
    let limit = license
        .policy
        .seat_moves
        .unwrap_or(crate::domain::DEFAULT_SEAT_MOVES);
    let at = crate::clock::rfc3339(next).unwrap_or_default();
    let mut body = ErrorBody::new(
        ApiErrorCode::SeatMoveLimitReached,
        format!(
            "this licence's seats have moved to other machines as often as its policy allows ({} per seat in {} days); the next move is allowed at {at}",
            limit.per_seat,
            limit.window / 86_400
        ),
    );
    body.error.retry_at = Some(at);
    Outcome::json(ApiErrorCode::SeatMoveLimitReached.http_status(), &body)
}

fn insert_machine(
    tx: &Tx<'_>,
    license: &LicenseRow,
    input: &ActivationInput,
    seat_move: bool,
    now: i64,
) -> Result<MachineRow, StoreError> {
    let machine = MachineRow {
        id: new_id("mach").map_err(crate::crypto::CryptoError::from)?,
        license_id: license.id.clone(),
        fingerprint: input.fingerprint.clone(),
        platform: input.platform.clone(),
        hostname: input.hostname.clone(),
        app_version: input.app_version.clone(),
        activated_at: now,
        last_seen_at: now,
        deactivated_at: None,
        components: input.components.clone(),
    };
    machines::insert(tx, license.environment, &machine, seat_move)?;
    Ok(machine)
}

/// A checkout's inputs, already checked for shape.
#[derive(Debug, Clone)]
pub struct CheckoutInput {
    /// The machine to renew.
    pub machine_id: String,
    /// Its fingerprint; must be the one it was activated with.
    pub fingerprint: String,
    /// Requested validity (bounded by the configuration).
    pub ttl_seconds: Option<u64>,
    /// The request's nonce.
    pub nonce: String,
    /// The machine's parts (none from older companions).
    pub components: Vec<MachineComponent>,
}

/// `POST /v1/machines/{id}/checkout`.
///
/// # Errors
/// On storage failure.
pub fn checkout(
    tx: &Tx<'_>,
    issuer: &Issuer,
    key_hash: &[u8; 32],
    input: &CheckoutInput,
    now: i64,
) -> Result<Outcome, StoreError> {
    let CheckoutInput {
        machine_id,
        fingerprint,
        ttl_seconds: ttl,
        nonce,
        components,
    } = input;
    let ttl = *ttl;
    let Some(license) = licenses::by_key_hash(tx, key_hash)? else {
        return Ok(Outcome::Unauthorized);
    };
    let (machine, events) = match standing(
        tx,
        issuer,
        &license,
        machine_id,
        fingerprint,
        nonce,
        ttl,
        components,
        now,
    )? {
        Ok(standing) => standing,
        Err(refusal) => return Ok(refusal),
    };
    let file =
        issuer
            .signing(tx)?
            .issue(&license, &machine.id, fingerprint, Some(nonce), ttl, now)?;
    let machines_active = Some(licenses::active_machines(tx, &license.id)?);
    Ok(Outcome::json(
        200,
        &CheckoutResponse {
            license_file: file,
            machines_active,
        },
    )?
    .with_events(events))
}

/// Whether `machine_id` stands on `license` for the request with `fingerprint` and `nonce`:
/// the machine, or the definitive refusal to answer — a signed statement that it is gone, a
/// fingerprint that is not its own, or a signed file stating a licence that is not active
/// (with the TTL the client asked for, as a renewal's would be: a machine whose licence is
/// suspended for an hour is not kept waiting for a week).
#[allow(clippy::too_many_arguments)] // one request's parts, named; a struct would only rename them
fn standing(
    tx: &Tx<'_>,
    issuer: &Issuer,
    license: &LicenseRow,
    machine_id: &str,
    fingerprint: &str,
    nonce: &str,
    ttl: Option<u64>,
    components: &[MachineComponent],
    now: i64,
) -> Result<Result<(MachineRow, bool), Outcome>, StoreError> {
    // A licence made floating since this machine was activated: its seats are leases now,
    // and a machine's own seat would be one more than the licence has.
    if license.policy.seat_model == crate::domain::SeatModel::Floating {
        return Outcome::error(
            ApiErrorCode::FloatingLicense,
            "this licence is floating now: a machine checks out a seat while its software runs (POST /v1/leases)",
        )
        .map(Err);
    }
    let Some(machine) = machines::active(tx, &license.id, MachineBy::Id(machine_id))? else {
        // A definitive refusal: say it signed, bound to this request, so the machine stops.
        let (kind, message) = if machines::ever_had(tx, &license.id, machine_id, fingerprint)? {
            (
                licentric_core::StatementKind::MachineDeactivated,
                "this machine was deactivated on this licence; its seat is free",
            )
        } else {
            (
                licentric_core::StatementKind::MachineNotFound,
                "this machine is not activated on this licence",
            )
        };
        let mut body = ErrorBody::new(ApiErrorCode::MachineNotFound, message);
        body.error.statement =
            Some(
                issuer
                    .signing(tx)?
                    .state(kind, license, machine_id, fingerprint, nonce, now)?,
            );
        return Outcome::json(ApiErrorCode::MachineNotFound.http_status(), &body).map(Err);
    };
    let same_fingerprint = ct_eq_str(&machine.fingerprint, fingerprint);
    // A system this seat moved away from, back while the one that took it is in use: two live
    // systems with the same parts (a dual boot's other system, a clone's original). One seat,
    // one system: this one is told, signed (once the licence's own status is said), and the
    // vendor hears of it.
    let returning = !same_fingerprint
        && now < license.policy.in_use_until(machine.last_seen_at)
        && machines::moved_from(tx, &machine.id, fingerprint)?;
    let known_again = if same_fingerprint || returning {
        None
    } else {
        // Another fingerprint: the same machine only if its parts say so under the product's
        // policy, and the seat may move (a rebind counts as a move).
        let comparison = Comparison::of(&machine.components, components);
        let policy = license.policy.fingerprint_match;
        if components.is_empty() || !policy.accepts(&comparison) {
            let mut body = ErrorBody::new(
                ApiErrorCode::InvalidFingerprint,
                if components.is_empty() || policy == FingerprintMatch::Exact {
                    "the fingerprint is not the one this machine was activated with".to_owned()
                } else {
                    format!(
                        "this machine's parts differ from the ones it was activated with: {}",
                        comparison.changed().join(", ")
                    )
                },
            );
            if !components.is_empty() {
                body.error.changed_components = Some(comparison.changed());
            }
            return Outcome::json(ApiErrorCode::InvalidFingerprint.http_status(), &body).map(Err);
        }
        if let Err(next) = may_move(tx, license, now)? {
            return moved_too_often(license, next).map(Err);
        }
        Some(comparison)
    };
    // Nothing is written before a licence that is not active is refused.
    let signing = || issuer.signing(tx);
    if let Some(refusal) = refusal(signing, license, &machine.id, fingerprint, nonce, ttl, now)? {
        return Ok(Err(refusal));
    }
    if returning {
        return duplicate(tx, issuer, license, &machine, fingerprint, nonce, now).map(Err);
    }
    let (machine, events) = match known_again {
        Some(comparison) => (
            rebind(
                tx,
                license,
                &machine,
                fingerprint,
                components,
                &comparison,
                now,
            )?,
            false,
        ),
        None => {
            let events = remember_parts(tx, license, &machine, components, now)?;
            (machine, events)
        }
    };
    machines::seen(tx, &machine.id, now)?;
    Ok(Ok((machine, events)))
}

/// `POST /v1/machines/{id}/validate`: the cheap check a machine in use makes every
/// `check_interval`: a signed statement that the machine still stands on an active licence,
/// bound to the request's nonce — no new licence file. A refusal is the checkout's.
///
/// # Errors
/// On storage failure.
pub fn validate(
    tx: &Tx<'_>,
    issuer: &Issuer,
    key_hash: &[u8; 32],
    input: &ValidateInput,
    now: i64,
) -> Result<Outcome, StoreError> {
    let Some(license) = licenses::by_key_hash(tx, key_hash)? else {
        return Ok(Outcome::Unauthorized);
    };
    let ValidateInput {
        machine_id,
        fingerprint,
        nonce,
        components,
    } = input;
    let (machine, events) = match standing(
        tx,
        issuer,
        &license,
        machine_id,
        fingerprint,
        nonce,
        None,
        components,
        now,
    )? {
        Ok(standing) => standing,
        Err(refusal) => return Ok(refusal),
    };
    let statement = issuer.signing(tx)?.state(
        licentric_core::StatementKind::MachineActive,
        &license,
        &machine.id,
        fingerprint,
        nonce,
        now,
    )?;
    let machines_active = Some(licenses::active_machines(tx, &license.id)?);
    Ok(Outcome::json(
        200,
        &ValidateResponse {
            statement,
            machines_active,
        },
    )?
    .with_events(events))
}

/// A validation's inputs, already checked for shape.
#[derive(Debug, Clone)]
pub struct ValidateInput {
    /// The machine.
    pub machine_id: String,
    /// Its fingerprint.
    pub fingerprint: String,
    /// The request's nonce.
    pub nonce: String,
    /// The machine's parts (none from older companions).
    pub components: Vec<MachineComponent>,
}

/// `DELETE /v1/machines/{id}`.
///
/// # Errors
/// On storage failure.
pub fn deactivate(
    tx: &Tx<'_>,
    key_hash: &[u8; 32],
    machine_id: &str,
    now: i64,
) -> Result<Outcome, StoreError> {
    let Some(license) = licenses::by_key_hash(tx, key_hash)? else {
        return Ok(Outcome::Unauthorized);
    };
    let Some(machine) = machines::active(tx, &license.id, MachineBy::Id(machine_id))? else {
        return Outcome::error(
            ApiErrorCode::MachineNotFound,
            "this machine is not activated on this licence",
        );
    };
    let recorded = deactivate_machine(
        tx,
        &license,
        &machine,
        &Actor::license_key(&license.id),
        now,
    )?;
    Ok(Outcome::Answer {
        status: 204,
        body: String::new(),
        events: recorded,
    })
}

/// Records the parts `machine` presents now, when it sent them and they changed. A whole
/// kind of part changing back to what it was, while the machine is in use, is two live
/// systems under one identity (a copy of a system that kept its machine id and its
/// companion's state, on other hardware): reported to the vendor (`machine.duplicate`,
/// `reported`) at most once a day. Whether events were recorded.
fn remember_parts(
    tx: &Tx<'_>,
    license: &LicenseRow,
    machine: &MachineRow,
    components: &[MachineComponent],
    now: i64,
) -> Result<bool, StoreError> {
    if components.is_empty() || machine.components == components {
        return Ok(false);
    }
    if same_parts(&machine.components, components) {
        // A card added or taken out, say: the same parts, more or fewer cards.
        machines::set_components(tx, &machine.id, components, None)?;
        return Ok(false);
    }
    let previous = machines::previous_parts(tx, &machine.id)?;
    machines::set_components(tx, &machine.id, components, Some(&machine.components))?;
    let back = !previous.is_empty() && same_parts(&previous, components);
    let in_use = now < license.policy.in_use_until(machine.last_seen_at);
    if !(back && in_use) {
        return Ok(false);
    }
    // Back from parts with a kind left out and none different: once may be a reading that
    // failed (a tool that did not start, a sandbox); again within a week, it is a turn.
    let left_out = Comparison::of(components, &machine.components)
        .differ
        .is_empty();
    if left_out && !machines::returned_again(tx, &machine.id, now, PARTS_RETURN_WINDOW)? {
        return Ok(false);
    }
    if !machines::claim_duplicate_report(tx, &machine.id, now, DUPLICATE_QUIET)? {
        return Ok(false);
    }
    report_duplicate(tx, license, machine, &machine.fingerprint, "reported", now)
}

/// Whether `a` and `b` are the same parts: every kind both have shares a hash, and both have
/// the same kinds — but network cards, which are plugged in and taken out. A copy that leaves
/// out the parts that would tell it apart (in a container, or with `/sys` hidden) is another
/// set of parts, not the same one with fewer.
fn same_parts(a: &[MachineComponent], b: &[MachineComponent]) -> bool {
    let (there, back) = (Comparison::of(a, b), Comparison::of(b, a));
    there.differ.is_empty()
        && there
            .missing
            .iter()
            .chain(&back.missing)
            .all(|kind| kind == licentric_core::components::ComponentKind::NetworkCard.as_str())
}

/// The one active machine of `license` that `components` say this is under the product's
/// policy, if its seat may move now — or `None` (no match, or more than one: then it is a new
/// machine). Reads only; [`rebind`] makes it so.
fn recognised(
    tx: &Tx<'_>,
    license: &LicenseRow,
    components: &[MachineComponent],
    now: i64,
) -> Result<Option<(MachineRow, Comparison)>, StoreError> {
    let policy = license.policy.fingerprint_match;
    if components.is_empty() || policy == FingerprintMatch::Exact {
        return Ok(None);
    }
    let mut matches: Vec<(MachineRow, Comparison)> = machines::all_active(tx, &license.id)?
        .into_iter()
        .filter_map(|m| {
            let comparison = Comparison::of(&m.components, components);
            policy.accepts(&comparison).then_some((m, comparison))
        })
        .collect();
    // Several machines with these parts (a dual boot whose two systems each have a seat):
    // the one that is not in use now is the one reinstalled — the longest silent, if more.
    if matches.len() > 1 {
        matches.retain(|(m, _)| now >= license.policy.in_use_until(m.last_seen_at));
        matches.sort_by_key(|(m, _)| m.last_seen_at);
        matches.truncate(1);
    }
    if matches.len() != 1 || may_move(tx, license, now)?.is_err() {
        return Ok(None);
    }
    Ok(Some(matches.remove(0)))
}

/// `machine` is known from now on by `fingerprint` and `components` (a seat move, recorded
/// in the audit log with the kinds of part that changed).
fn rebind(
    tx: &Tx<'_>,
    license: &LicenseRow,
    machine: &MachineRow,
    fingerprint: &str,
    components: &[MachineComponent],
    comparison: &Comparison,
    now: i64,
) -> Result<MachineRow, StoreError> {
    machines::rebind(
        tx,
        &machine.id,
        &machine.fingerprint,
        fingerprint,
        components,
        now,
    )?;
    Entry::new(
        license.environment,
        &Actor::license_key(&license.id),
        "machine.fingerprint_changed",
        ("machine", &machine.id),
    )
    .license(&license.id)
    .before(serde_json::json!({ "fingerprint": machine.fingerprint }))
    .after(
        serde_json::json!({ "fingerprint": fingerprint, "changed_components": comparison.changed() }),
    )
    .record(tx, now)?;
    Ok(MachineRow {
        fingerprint: fingerprint.to_owned(),
        components: components.to_vec(),
        last_seen_at: now,
        ..machine.clone()
    })
}

/// The refusal of a system whose seat moved to another one with the same parts, while that
/// one is in use: `machine_moved`, with a signed statement bound to the request so the
/// companion stops; the vendor hears of the duplicate (audit and webhook `machine.duplicate`).
fn duplicate(
    tx: &Tx<'_>,
    issuer: &Issuer,
    license: &LicenseRow,
    machine: &MachineRow,
    fingerprint: &str,
    nonce: &str,
    now: i64,
) -> Result<Outcome, StoreError> {
    // Reported once a day per machine: a system refused again and again (an older companion
    // retrying, or someone making noise) is one duplicate, not one event per request.
    let recorded = if machines::claim_duplicate_report(tx, &machine.id, now, DUPLICATE_QUIET)? {
        report_duplicate(tx, license, machine, fingerprint, "refused", now)?
    } else {
        false
    };
    let mut body = ErrorBody::new(
        ApiErrorCode::MachineMoved,
        "this machine's seat moved to another system with the same parts, which is in use; activate again to use it here (it needs a seat of its own while the other is in use)",
    );
    body.error.statement = Some(issuer.signing(tx)?.state(
        licentric_core::StatementKind::MachineMoved,
        license,
        &machine.id,
        fingerprint,
        nonce,
        now,
    )?);
    Ok(Outcome::json(ApiErrorCode::MachineMoved.http_status(), &body)?.with_events(recorded))
}

/// A machine is reported as a duplicate at most once in this many seconds (a day).
const DUPLICATE_QUIET: i64 = 86_400;

/// How soon a machine must go back to parts shown before, a kind left out in between, a second
/// time for the two to count as turns (the first may be a reading that failed): a week.
const PARTS_RETURN_WINDOW: i64 = 7 * 86_400;

/// Records that a system presenting `fingerprint` came back to `machine`'s seat while the
/// system now holding it is in use, and what was done (`refused`, `own_seat`): an audit entry
/// and the `machine.duplicate` webhook.
fn report_duplicate(
    tx: &Tx<'_>,
    license: &LicenseRow,
    machine: &MachineRow,
    fingerprint: &str,
    outcome: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let seen = serde_json::json!({ "fingerprint": fingerprint, "outcome": outcome });
    Entry::new(
        license.environment,
        &Actor::license_key(&license.id),
        "machine.duplicate",
        ("machine", &machine.id),
    )
    .license(&license.id)
    .before(views::machine(machine))
    .after(seen.clone())
    .record(tx, now)?;
    webhooks::record(
        tx,
        license.environment,
        "machine.duplicate",
        serde_json::json!({
            "license_id": license.id,
            "machine": views::machine(machine),
            "duplicate": seen,
        }),
        now,
    )
}

/// Marks `machine` deactivated and records the webhook event.
///
/// # Errors
/// On storage failure.
pub fn deactivate_machine(
    tx: &Tx<'_>,
    license: &LicenseRow,
    machine: &MachineRow,
    by: &Actor,
    now: i64,
) -> Result<bool, StoreError> {
    if !machines::deactivate(tx, &license.id, &machine.id, now)? {
        return Ok(false);
    }
    let mut gone = machine.clone();
    gone.deactivated_at = Some(now);
    Entry::new(
        license.environment,
        by,
        "machine.deactivated",
        ("machine", &machine.id),
    )
    .license(&license.id)
    .before(views::machine(machine))
    .after(views::machine(&gone))
    .record(tx, now)?;
    // The webhook's `by` stays as documented: the vendor ("admin") or the machine ("client").
    let by = if by.is_license_key() {
        "client"
    } else {
        "admin"
    };
    webhooks::record(
        tx,
        license.environment,
        "machine.deactivated",
        serde_json::json!({ "license_id": license.id, "machine": views::machine(&gone), "by": by }),
        now,
    )
}

/// For a licence that is not active: a 403 whose body carries a signed file stating so
/// (`signing` is asked only then).
fn refusal(
    signing: impl FnOnce() -> Result<Signing, StoreError>,
    license: &LicenseRow,
    machine_id: &str,
    fingerprint: &str,
    nonce: &str,
    ttl: Option<u64>,
    now: i64,
) -> Result<Option<Outcome>, StoreError> {
    let (code, message) = match license.effective_status(now) {
        LicenseStatus::Active => return Ok(None),
        LicenseStatus::Suspended => (ApiErrorCode::LicenseSuspended, "the licence is suspended"),
        LicenseStatus::Revoked => (ApiErrorCode::LicenseRevoked, "the licence is revoked"),
        LicenseStatus::Expired => (ApiErrorCode::LicenseExpired, "the licence has expired"),
    };
    let mut body = ErrorBody::new(code, message);
    body.error.license_file =
        Some(signing()?.issue(license, machine_id, fingerprint, Some(nonce), ttl, now)?);
    Outcome::json(403, &body).map(Some)
}

fn replay(
    db: &Db<'_>,
    license_id: &str,
    idem: &Idempotency,
) -> Result<Option<Outcome>, StoreError> {
    let Some(stored) = idempotency::find(db, license_id, &idem.key)? else {
        return Ok(None);
    };
    let same =
        subtle::ConstantTimeEq::ct_eq(stored.request_hash.as_slice(), idem.request_hash.as_slice());
    if bool::from(same) {
        Ok(Some(Outcome::Answer {
            status: stored.status,
            body: stored.body,
            events: false,
        }))
    } else {
        Outcome::error(
            ApiErrorCode::IdempotencyKeyReused,
            "this Idempotency-Key was already used for a different request",
        )
        .map(Some)
    }
}

fn remember(
    tx: &Tx<'_>,
    license_id: &str,
    idem: &Idempotency,
    outcome: &Outcome,
    now: i64,
) -> Result<(), StoreError> {
    if let Outcome::Answer { status, body, .. } = outcome
        && *status < 500
    {
        let answer = Remembered {
            request_hash: idem.request_hash.to_vec(),
            status: *status,
            body: body.clone(),
        };
        idempotency::remember(tx, license_id, &idem.key, &answer, now)?;
    }
    Ok(())
}

/// Checks a fingerprint's shape.
pub fn valid_fingerprint(text: &str) -> bool {
    Fingerprint::parse(text).is_some()
}

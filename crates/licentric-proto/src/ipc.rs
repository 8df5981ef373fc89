//! The local IPC protocol v1: methods, parameters and results.
//!
//! A client sends a [`jsonrpc::Request`](crate::jsonrpc::Request) per line; the agent turns its
//! method and parameters into a [`Call`] with [`Call::parse`], which refuses unknown methods and
//! malformed parameters with the right JSON-RPC error.

use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::jsonrpc::{Id, Request, RpcError, TwoPointZero};
use crate::{CredentialStoreKind, Environment, ErrorCode, LicenseState};

/// How long a client waits for the answer to a management call by default, seconds: the
/// agent bounds an operation's own time well inside it (`refresh.total_seconds`, 50 at most).
pub const MANAGEMENT_WAIT_SECONDS: u64 = 60;

/// Method names, as sent on the wire.
pub mod method {
    /// `status` → [`Status`](super::Status).
    pub const STATUS: &str = "status";
    /// `has_entitlement {code}` → [`HasEntitlementResult`](super::HasEntitlementResult).
    pub const HAS_ENTITLEMENT: &str = "has_entitlement";
    /// `license_file` → [`LicenseFileResult`](super::LicenseFileResult).
    pub const LICENSE_FILE: &str = "license_file";
    /// `fingerprint` → [`FingerprintResult`](super::FingerprintResult).
    pub const FINGERPRINT: &str = "fingerprint";
    /// `version` → [`VersionResult`](super::VersionResult).
    pub const VERSION: &str = "version";
    /// `subscribe` → [`SubscribeResult`](super::SubscribeResult), then `status_changed`.
    pub const SUBSCRIBE: &str = "subscribe";
    /// `activate {license_key}` → [`Status`](super::Status). Management.
    pub const ACTIVATE: &str = "activate";
    /// `deactivate` → [`Status`](super::Status). Management.
    pub const DEACTIVATE: &str = "deactivate";
    /// `refresh` → [`Status`](super::Status). Management.
    pub const REFRESH: &str = "refresh";
    /// `import_license_file {text}` → [`Status`](super::Status). Management.
    pub const IMPORT_LICENSE_FILE: &str = "import_license_file";
    /// `request_file` → [`RequestFileResult`](super::RequestFileResult). Management.
    pub const REQUEST_FILE: &str = "request_file";
    /// `checkout {entitlement?}` → [`CheckoutResult`](super::CheckoutResult): a seat of a
    /// floating licence, held while this connection stays open.
    pub const CHECKOUT: &str = "checkout";
    /// `release` → [`ReleaseResult`](super::ReleaseResult): this connection gives its seat back.
    pub const RELEASE: &str = "release";
    /// `borrow {until}` → [`CheckoutResult`](super::CheckoutResult): borrow a seat of the
    /// floating licence for a trip — this machine's until then, offline. Management.
    pub const BORROW: &str = "borrow";
    /// `return` → [`ReturnResult`](super::ReturnResult): give a borrowed seat back early.
    /// Management.
    pub const RETURN: &str = "return";
    /// `progress` → [`ProgressResult`](super::ProgressResult): a call to the server being
    /// tried again now, for the person waiting on an operation.
    pub const PROGRESS: &str = "progress";
    /// `cancel` → [`CancelResult`](super::CancelResult): stop waiting for the server in the
    /// user's operation running now (an activation, a refresh), which then ends with
    /// the error `cancelled` and changes nothing on this machine. Management.
    pub const CANCEL: &str = "cancel";
    /// `clients` → [`ClientsResult`](super::ClientsResult): the local applications that asked
    /// the agent recently, for the user to see who uses the licence.
    pub const CLIENTS: &str = "clients";
    /// The notification a connection that asked to wait for a seat (`checkout {wait: true}`)
    /// gets when the agent has one for it: params a [`CheckoutResult`](super::CheckoutResult);
    /// the seat is that connection's from then on.
    pub const SEAT_AVAILABLE: &str = "seat_available";
    /// The notification that ends a wait for a seat without one (the licence was suspended,
    /// the entitlement is not in it…): params `{"code", "message", "data"?}`, as an error.
    pub const SEAT_WAIT_ENDED: &str = "seat_wait_ended";
    /// The notification pushed to subscribers, with a [`Status`](super::Status) as params.
    pub const STATUS_CHANGED: &str = "status_changed";
}

/// One IPC call with typed parameters.
///
/// Not `#[non_exhaustive]`, on purpose: the agent matches every call exhaustively, so a new
/// method it does not handle is a compile error there. Clients build calls and never match
/// on them; an agent that does not know a newer method answers `method_not_found`.
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    /// The machine's licence state.
    Status,
    /// Whether the machine is entitled to one feature.
    HasEntitlement(HasEntitlementParams),
    /// The signed licence file, for clients that verify it themselves.
    LicenseFile,
    /// This machine's fingerprint for the product.
    Fingerprint,
    /// Protocol and agent versions.
    Version,
    /// The current status, then a `status_changed` notification on every change.
    Subscribe,
    /// Activate this machine with a licence key.
    Activate(ActivateParams),
    /// Deactivate this machine, freeing its seat.
    Deactivate,
    /// Refresh the licence file from the server now.
    Refresh,
    /// Install a licence file obtained elsewhere (offline activation): one that answers a
    /// request this machine made.
    ImportLicenseFile(ImportLicenseFileParams),
    /// Make an activation request file for this machine; the agent remembers its nonce.
    RequestFile,
    /// Hold a seat of a floating licence while this connection stays open.
    Checkout(CheckoutParams),
    /// Give this connection's seat back.
    Release,
    /// Borrow a seat for a trip.
    Borrow(BorrowParams),
    /// Give a borrowed seat back early.
    Return,
    /// The call to the server being tried again now, if any.
    Progress,
    /// Stop waiting for the server in the user's operation running now.
    Cancel,
    /// The local applications that asked recently.
    Clients,
}

impl Call {
    /// The method name.
    pub fn method(&self) -> &'static str {
        match self {
            Call::Status => method::STATUS,
            Call::HasEntitlement(_) => method::HAS_ENTITLEMENT,
            Call::LicenseFile => method::LICENSE_FILE,
            Call::Fingerprint => method::FINGERPRINT,
            Call::Version => method::VERSION,
            Call::Subscribe => method::SUBSCRIBE,
            Call::Activate(_) => method::ACTIVATE,
            Call::Deactivate => method::DEACTIVATE,
            Call::Refresh => method::REFRESH,
            Call::ImportLicenseFile(_) => method::IMPORT_LICENSE_FILE,
            Call::RequestFile => method::REQUEST_FILE,
            Call::Checkout(_) => method::CHECKOUT,
            Call::Release => method::RELEASE,
            Call::Borrow(_) => method::BORROW,
            Call::Return => method::RETURN,
            Call::Progress => method::PROGRESS,
            Call::Cancel => method::CANCEL,
            Call::Clients => method::CLIENTS,
        }
    }

    /// Whether the vendor's configuration can switch this method off.
    pub fn is_management(&self) -> bool {
        matches!(
            self,
            Call::Activate(_)
                | Call::Deactivate
                | Call::Refresh
                | Call::ImportLicenseFile(_)
                | Call::RequestFile
                | Call::Borrow(_)
                | Call::Return
                | Call::Cancel
        )
    }

    /// Reads a call from a request's method and parameters.
    ///
    /// Methods without parameters accept absent or `null` parameters, `{}` and `[]`.
    ///
    /// # Errors
    /// `method_not_found` for an unknown method, `invalid_params` for parameters of the wrong
    /// shape (unknown fields included).
    pub fn parse(method_name: &str, params: Option<Value>) -> Result<Call, RpcError> {
        let call = match method_name {
            method::STATUS => no_params(params, Call::Status)?,
            method::LICENSE_FILE => no_params(params, Call::LicenseFile)?,
            method::FINGERPRINT => no_params(params, Call::Fingerprint)?,
            method::VERSION => no_params(params, Call::Version)?,
            method::SUBSCRIBE => no_params(params, Call::Subscribe)?,
            method::DEACTIVATE => no_params(params, Call::Deactivate)?,
            method::REFRESH => no_params(params, Call::Refresh)?,
            method::REQUEST_FILE => no_params(params, Call::RequestFile)?,
            method::RELEASE => no_params(params, Call::Release)?,
            method::RETURN => no_params(params, Call::Return)?,
            method::PROGRESS => no_params(params, Call::Progress)?,
            method::CANCEL => no_params(params, Call::Cancel)?,
            method::CLIENTS => no_params(params, Call::Clients)?,
            method::BORROW => Call::Borrow(typed_params(params)?),
            method::CHECKOUT => Call::Checkout(typed_params(
                params.or(Some(Value::Object(serde_json::Map::new()))),
            )?),
            method::HAS_ENTITLEMENT => Call::HasEntitlement(typed_params(params)?),
            method::ACTIVATE => Call::Activate(typed_params(params)?),
            method::IMPORT_LICENSE_FILE => Call::ImportLicenseFile(typed_params(params)?),
            other => {
                let shown: String = other.chars().take(64).collect();
                return Err(RpcError::new(
                    ErrorCode::MethodNotFound,
                    format!("no method named {shown:?}"),
                ));
            }
        };
        Ok(call)
    }

    /// The parameters as JSON (`None` for methods that take none).
    pub fn params(&self) -> Option<Value> {
        let value = match self {
            Call::HasEntitlement(p) => serde_json::to_value(p),
            Call::Activate(p) => serde_json::to_value(p),
            Call::ImportLicenseFile(p) => serde_json::to_value(p),
            Call::Checkout(p) => serde_json::to_value(p),
            Call::Borrow(p) => serde_json::to_value(p),
            _ => return None,
        };
        // Plain structs of strings always serialise.
        value.ok()
    }

    /// A request for this call with the given id.
    pub fn into_request(self, id: Id) -> Request {
        Request {
            jsonrpc: TwoPointZero,
            id: Some(id),
            method: self.method().to_owned(),
            params: self.params(),
        }
    }
}

fn no_params(params: Option<Value>, call: Call) -> Result<Call, RpcError> {
    match params {
        None | Some(Value::Null) => Ok(call),
        Some(Value::Object(m)) if m.is_empty() => Ok(call),
        Some(Value::Array(a)) if a.is_empty() => Ok(call),
        Some(_) => Err(RpcError::new(
            ErrorCode::InvalidParams,
            format!("method {:?} takes no parameters", call.method()),
        )),
    }
}

fn typed_params<T: DeserializeOwned>(params: Option<Value>) -> Result<T, RpcError> {
    let params = params.unwrap_or(Value::Null);
    serde_json::from_value(params)
        .map_err(|e| RpcError::new(ErrorCode::InvalidParams, format!("invalid parameters: {e}")))
}

/// Parameters of `checkout`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckoutParams {
    /// A feature the seat must carry; without it, any seat of the licence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entitlement: Option<String>,
    /// When every seat is held: the answer is still `no_seat_available`, and the agent keeps
    /// trying for this connection (with back-off, not before the soonest a lease can run
    /// out, a held one being given back any time) and pushes `seat_available` when it has one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub wait: bool,
}

/// The answer to `checkout`: the seat this connection holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckoutResult {
    /// When the lease runs out unless the agent renews it (it does, while the connection is
    /// open and the server answers).
    pub expires_at: String,
    /// Seats held on the licence, this machine's included.
    pub seats_in_use: u32,
    /// The licence's seats.
    pub max_seats: u32,
    /// The licence's entitlements.
    pub entitlements: Vec<String>,
    /// The seat's signed lease, for an app that checks it itself (with the vendor's keys, its
    /// own clock and this machine's fingerprint: `licentric_client::verify::check_lease`).
    /// Asking `checkout` again answers the lease as renewed since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_file: Option<String>,
}

/// Parameters of `borrow`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BorrowParams {
    /// Until when (RFC 3339), within the product's limit (7 days unless the vendor says).
    pub until: String,
}

/// The answer to `return`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnResult {
    /// Whether local apps still hold the seat: then it stays this machine's as an ordinary
    /// lease while they run; otherwise it is free for others at once.
    pub kept_for_apps: bool,
}

/// The answer to `release`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseResult {
    /// Whether this connection held a seat.
    pub released: bool,
}

/// The answer to `progress`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgressResult {
    /// The call to the server being tried again now; `null` when none is (a first try still
    /// waiting, or nothing running).
    pub retrying: Option<Retrying>,
}

/// A call to the server being tried again: what a person waiting on it is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retrying {
    /// The try coming next (2 for the first retry).
    pub attempt: u32,
    /// The most tries the call makes.
    pub of: u32,
    /// Why the last one failed: a stable code (`network_unavailable`, `server_unavailable`).
    pub because: String,
}

/// The answer to `cancel`: the operation running, if any, was told to stop; its own call
/// ends with the error `cancelled`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelResult {}

/// The answer to `clients`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientsResult {
    /// The applications that made a request since the agent started, the most recent first
    /// (at most 32).
    pub clients: Vec<ClientSeen>,
}

/// A local application that asked the agent: a process name and when, nothing more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientSeen {
    /// The process name (`/proc/<pid>/comm` on Linux), or `process <pid>` where unknown.
    pub name: String,
    /// Its last request (RFC 3339, UTC), or `null` if it connected but asked nothing.
    pub last_query: Option<String>,
    /// Requests since the agent started.
    pub queries: u64,
}

/// The seat of a floating licence this machine holds, in a [`Status`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseInfo {
    /// When the lease runs out unless renewed.
    pub expires_at: String,
    /// Seats held on the licence, this machine's included, at the last checkout or renewal.
    pub seats_in_use: u32,
    /// The licence's seats.
    pub max_seats: u32,
    /// The local apps (connections) holding it.
    pub holders: u32,
    /// Borrowed for a trip: this machine's until `expires_at`, offline, with no renewal.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub borrowed: bool,
    /// Borrowed where the product keeps borrowed seats counted to their end: it cannot be
    /// returned early (`return` is refused with `borrow_kept_to_end`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub kept_to_end: bool,
}

/// Parameters of `has_entitlement`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HasEntitlementParams {
    /// The entitlement code, as the vendor named it (`"pro"`, `"export-pdf"`).
    pub code: String,
}

/// Parameters of `activate`. Its `Debug` never shows the key.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivateParams {
    /// The licence key as the user typed it; the agent normalises and checks it.
    pub license_key: String,
}

impl fmt::Debug for ActivateParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActivateParams")
            .field("license_key", &"<redacted>")
            .finish()
    }
}

/// Parameters of `import_license_file`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportLicenseFileParams {
    /// The armoured licence file.
    pub text: String,
}

/// The answer to `status`, and the params of every `status_changed` notification.
///
/// Times are RFC 3339 strings in UTC. Fields that do not apply are `null`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// The licence state.
    pub state: LicenseState,
    /// Whether the product may be used now (`state` is `active` or `grace`).
    pub entitled: bool,
    /// The vendor's product id.
    pub product_id: String,
    /// Test or live.
    pub environment: Environment,
    /// The licence's id on the server.
    pub license_id: Option<String>,
    /// This machine's id on the server.
    pub machine_id: Option<String>,
    /// The redacted licence key (`ACME-****-****-****-H3WC`); never the key itself.
    #[serde(default)]
    pub license_key_hint: Option<String>,
    /// The entitlement codes of the licence (empty when not entitled).
    pub entitlements: Vec<String>,
    /// How many machines the licence admits.
    #[serde(default)]
    pub max_machines: Option<u32>,
    /// How many are active, this one included, as the server said at the last contact
    /// (unsigned; `null` before any contact, or for a file imported offline).
    #[serde(default)]
    pub machines_active: Option<u32>,
    /// When the licence itself expires (`null`: never).
    pub license_expires_at: Option<String>,
    /// When the signed file was issued (offline time counts from here).
    #[serde(default)]
    pub issued_at: Option<String>,
    /// Until when the machine stays licensed with no network (the signed `expires_at`).
    pub offline_valid_until: Option<String>,
    /// The last successful contact with the server.
    pub last_refresh_at: Option<String>,
    /// When the agent will next refresh.
    pub next_refresh_at: Option<String>,
    /// Where the licence key is kept.
    pub credential_store: CredentialStoreKind,
    /// A stable code saying why the state is what it is (`network_unavailable`,
    /// `signature_invalid`, `state_lost`, `machine_deactivated`, …), or `null`.
    pub reason: Option<String>,
    /// The state in a few words, for people ("Active", "Working offline", "Deactivated"…):
    /// the agent puts the state into words once, and every screen shows these.
    #[serde(default)]
    pub summary: String,
    /// What the state means and what to do, in a sentence or two.
    #[serde(default)]
    pub detail: String,
    /// Whether the last attempt to reach the licensing server failed: licensed (or not) on
    /// the signed file's time, offline now.
    #[serde(default)]
    pub offline: bool,
    /// What this system runs in when it is not bare hardware (a container, a virtual
    /// machine), as the companion reads it; absent on bare hardware.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runs_in: Option<crate::api::RunsIn>,
    /// The seat of a floating licence this machine holds now, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<LeaseInfo>,
    /// Local apps waiting for a seat of the floating licence (`checkout {wait: true}`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub seats_waiting: u32,
}

/// The answer to `has_entitlement`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HasEntitlementResult {
    /// The code asked about.
    pub code: String,
    /// True only if the machine is entitled now and the licence includes `code`.
    pub entitled: bool,
    /// The licence state, so a client can say why not.
    pub state: LicenseState,
}

/// The answer to `license_file`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicenseFileResult {
    /// The armoured, signed licence file, or `null` if the machine has none.
    pub license_file: Option<String>,
}

/// The answer to `fingerprint`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FingerprintResult {
    /// The product this fingerprint is for.
    pub product_id: String,
    /// 64 hex characters: HMAC-SHA256 of the machine id, specific to the product.
    pub fingerprint: String,
    /// What this system runs in when it is not bare hardware (absent from older agents and
    /// on bare hardware).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runs_in: Option<crate::api::RunsIn>,
    /// The machine's parts the companion sends, every kind in order (empty from older
    /// agents): what the "This machine" panel lists.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<ComponentSummary>,
}

/// One kind of the machine's parts, as `fingerprint` shows it: never a raw value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentSummary {
    /// The kind (`docs/fingerprint.md`): `machine_id`, `board_uuid`, `disk_serial`…
    pub kind: String,
    /// The part in words: "system disk", "network card"…
    pub describes: String,
    /// The first eight characters of each hash sent for this kind; empty when none was read.
    pub hashes: Vec<String>,
}

/// The answer to `version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionResult {
    /// [`PROTOCOL_VERSION`](crate::PROTOCOL_VERSION) of the agent.
    pub protocol: u32,
    /// The agent's software version.
    pub agent_version: String,
    /// The product the agent serves.
    pub product_id: String,
    /// The environment the agent serves (`null` from an agent older than this member): a
    /// client checks it, so a sandbox agent on a live app's socket is refused.
    #[serde(default)]
    pub environment: Option<Environment>,
    /// Whether the management methods are available.
    pub management: bool,
}

/// The answer to `request_file`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestFileResult {
    /// The armoured activation request, to carry to a connected device.
    pub text: String,
}

/// The answer to `subscribe`: the status at the moment of subscribing. Every later change
/// arrives as a `status_changed` notification on the same connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscribeResult {
    /// The current status.
    pub status: Status,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_method_and_bad_params_get_the_right_codes() {
        let err = Call::parse("launch_missiles", None).unwrap_err();
        assert_eq!(err.error_code(), Some(ErrorCode::MethodNotFound));
        let err = Call::parse("has_entitlement", None).unwrap_err();
        assert_eq!(err.error_code(), Some(ErrorCode::InvalidParams));
        let err = Call::parse("has_entitlement", Some(json!({"code": "pro", "x": 1}))).unwrap_err();
        assert_eq!(
            err.error_code(),
            Some(ErrorCode::InvalidParams),
            "unknown fields are refused"
        );
        let err = Call::parse("status", Some(json!({"verbose": true}))).unwrap_err();
        assert_eq!(err.error_code(), Some(ErrorCode::InvalidParams));
    }

    #[test]
    fn parameterless_methods_accept_empty_params() {
        for params in [None, Some(json!(null)), Some(json!({})), Some(json!([]))] {
            assert_eq!(Call::parse("status", params).unwrap(), Call::Status);
        }
    }

    #[test]
    fn every_call_round_trips_through_a_request() {
        let calls = [
            Call::Status,
            Call::HasEntitlement(HasEntitlementParams { code: "pro".into() }),
            Call::LicenseFile,
            Call::Fingerprint,
            Call::Version,
            Call::Subscribe,
            Call::Activate(ActivateParams {
                license_key: "ACME-0000-0000-0000-0000".into(),
            }),
            Call::Deactivate,
            Call::Refresh,
            Call::ImportLicenseFile(ImportLicenseFileParams { text: "x".into() }),
            Call::RequestFile,
        ];
        for call in calls {
            let request = call.clone().into_request(Id::Number(1));
            assert_eq!(Call::parse(&request.method, request.params).unwrap(), call);
        }
    }

    #[test]
    fn management_methods_are_the_ones_that_change_state() {
        assert!(Call::Refresh.is_management());
        assert!(Call::RequestFile.is_management());
        assert!(Call::Deactivate.is_management());
        assert!(!Call::Status.is_management());
        assert!(!Call::Subscribe.is_management());
    }

    #[test]
    fn activate_params_debug_hides_the_key() {
        let p = ActivateParams {
            license_key: "ACME-7QX2-M4KD-9PZT-H3WC".into(),
        };
        assert!(!format!("{p:?}").contains("7QX2"));
    }
}

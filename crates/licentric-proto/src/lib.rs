//! Wire types of the Licentric companion, shared by the agent, the client library and the
//! reference server so that none of them can drift from the others.
//!
//! - [`ipc`]: the local IPC protocol v1 — JSON-RPC 2.0 ([`jsonrpc`]) with one message per line
//!   ([`framing`]), the methods ([`ipc::Call`]), their results and the `status` object.
//! - [`api`]: the bodies and error codes of the Licentric HTTP API v1 that the companion calls.
//! - [`ErrorCode`]: the stable error strings that IPC clients and the GUI match on.
//! - [`Environment`], [`LicenseStatus`] and [`LicenseState`]: the vocabulary all of them share.
//!
//! This crate holds data and pure codecs only: no I/O, no async runtime. Start reading at
//! [`ipc::Call`] (every IPC method, matched exhaustively by the agent) and the golden files in
//! `tests/golden/`, which are the wire as other programs see it.
//!
//! # Example
//!
//! ```
//! use licentric_proto::ipc::{Call, HasEntitlementParams};
//! use licentric_proto::jsonrpc::Id;
//! use licentric_proto::framing::{encode_line, LineDecoder};
//!
//! // A client asks whether the machine is entitled to "pro".
//! let request = Call::HasEntitlement(HasEntitlementParams { code: "pro".into() }).into_request(Id::Number(1));
//! let bytes = encode_line(&request)?;
//!
//! // The agent reads it back from the socket, a line at a time.
//! let mut decoder = LineDecoder::new();
//! decoder.push(&bytes);
//! let line = decoder.next_frame().expect("one whole line")?;
//! let parsed: licentric_proto::jsonrpc::Request = serde_json::from_slice(&line)?;
//! let call = Call::parse(&parsed.method, parsed.params)?;
//! assert_eq!(call.method(), "has_entitlement");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

pub mod api;
mod codes;
mod common;
pub mod framing;
pub mod ipc;
pub mod jsonrpc;

pub use codes::ErrorCode;
pub use common::{CredentialStoreKind, Environment, LicenseState, LicenseStatus, UnknownName};

/// Version of the local IPC protocol. A client checks it with the `version` method on connect
/// and refuses an agent that speaks another major version.
pub const PROTOCOL_VERSION: u32 = 1;

/// Version of the Licentric HTTP API the companion speaks (the `/v1/` in every path).
pub const API_VERSION: u32 = 1;

//! Pure licensing logic of the Licentric companion: no network, no async runtime, no OS store.
//!
//! - [`key`]: licence keys — parsing and normalisation ([`LicenseKey::parse`]), generation,
//!   a redacted `Display`, constant-time equality.
//! - [`fingerprint`]: the privacy-preserving machine fingerprint ([`MachineId::fingerprint`]);
//!   [`components`]: the machine's parts beside it, each hashed on its own (tolerant matching);
//!   reading the machine id is the platform layer's (`licentric-platform`).
//! - [`license_file`]: the Ed25519-signed offline licence file — [`LicenseSigner`] (server)
//!   and [`Verifier`], the only maker of a [`VerifiedLicense`].
//! - [`request_file`]: the activation request file for air-gapped machines.
//! - [`statement`]: the server's signed statements (a machine deactivated), verified like
//!   licence files and bound to the request they answer.
//! - [`clock`]: an injectable [`Clock`] and the [`ClockGuard`] against clocks turned back.
//! - [`refresh`]: when to refresh, back off and warn ([`RefreshPolicy`]).
//! - [`state`]: the licence state model ([`evaluate`]).
//! - [`memory`]: what the agent has learnt ([`Memory`]) and the trust rules that follow:
//!   lost state, imports only of requested files, signed refusals.
//! - [`random`]: randomness behind [`SecureRandom`].
//!
//! Start reading at [`license_file`] (what a signed file is and the order of its checks), then
//! [`state`] and [`memory`]: every decision here takes its time as an argument, so its tests
//! choose the time.
//!
//! # Example
//!
//! ```
//! use licentric_core::{Expectations, LicenseKey, KeyPrefix, LicenseSigner, MachineId, Verifier};
//! use licentric_core::license_file::LicensePayload;
//! use licentric_proto::{Environment, LicenseStatus};
//! use time::{macros::datetime, Duration};
//!
//! // The user's key, as pasted.
//! let key = LicenseKey::parse(" acme-7qx2-m4kd-9pzt-h3wc ", &KeyPrefix::new("ACME")?)?;
//! assert_eq!(key.to_string(), "ACME-****-****-****-H3WC");
//!
//! // This machine's fingerprint for the product.
//! let fingerprint = MachineId::new("5c0ffee5c0ffee5c0ffee5c0ffee5c0f", "example")?.fingerprint("acme-cad");
//!
//! // The server signs a licence file for it...
//! let signer = LicenseSigner::from_seed(&[7; 32]);
//! let now = datetime!(2026-11-23 12:00 UTC);
//! let file = signer.sign(&LicensePayload {
//!     license_id: "lic_1".into(), product_id: "acme-cad".into(), environment: Environment::Live,
//!     machine_id: "mach_1".into(), fingerprint: fingerprint.as_str().into(),
//!     status: LicenseStatus::Active, entitlements: vec!["pro".into()], max_machines: 2,
//!     license_expires_at: None, issued_at: now, expires_at: now + Duration::days(14), nonce: None,
//!     check_interval: None,
//! })?;
//!
//! // ...and the companion checks it against the vendor's public key.
//! let verifier = Verifier::new(vec![signer.public_key().clone()]);
//! let expect = Expectations { product_id: "acme-cad", environment: Environment::Live, fingerprint: &fingerprint, nonce: None };
//! let licence = verifier.verify_entitled(&file, &expect, now, None)?;
//! assert_eq!(licence.payload().entitlements, ["pro"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod armor;
pub mod clock;
pub mod components;
pub mod fingerprint;
pub mod hex;
pub mod key;
pub mod lease;
pub mod license_file;
pub mod memory;
pub mod random;
pub mod refresh;
pub mod request_file;
pub mod state;
pub mod statement;

pub use clock::{Clock, ClockGuard, ManualClock};
pub use fingerprint::{Fingerprint, MachineId};
pub use key::{KeyError, KeyPrefix, LicenseKey};
pub use lease::{LeasePayload, VerifiedLease};
pub use license_file::{
    Expectations, LicenseSigner, TrustedKey, VerifiedLicense, Verifier, VerifyError,
};
pub use memory::{Anchor, Memory};
pub use random::{OsRandom, SecureRandom};
pub use refresh::RefreshPolicy;
pub use state::{Cached, Evaluation, RefreshRecord, evaluate};
pub use statement::{StatementKind, StatementPayload, VerifiedStatement};

/// HMAC-SHA256 of the concatenated `parts` under `key`: the one MAC of the project (the
/// fingerprint derivation, the server's key derivation and token hashes, the agent's sealed
/// state).
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    use hmac::{Hmac, KeyInit, Mac};
    // HMAC hashes long keys and pads short ones, so `new_from_slice` cannot fail for it (only
    // fixed-length-key MACs refuse a length). Reaching the panic is a bug in the hmac crate.
    #[allow(clippy::panic)]
    let mut mac = match <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => panic!("HMAC-SHA256 refused a key"),
    };
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Compares two strings in time that depends only on their lengths.
pub fn ct_eq_str(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

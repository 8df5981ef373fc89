//! Local verification of the signed licence file (feature `verify`): a local app checks the
//! file itself against the vendor's public keys and **this machine's fingerprint, computed
//! here** (never the one the socket reports), so neither a program squatting on the socket
//! nor a copied file can pass — only the vendor's key signs, and only this machine matches.
//!
//! ```no_run
//! use licentric_client::{Client, Environment};
//!
//! const VENDOR_KEYS: &[&str] = &["dea53b80287ff0a6882e7bba383d6248e049640d1c42283bb8d0632b7f875fd2"];
//! let mut client = Client::connect_default("acme-cad", Environment::Live)?;
//! let entitled = match client.license_file()? {
//!     Some(file) => licentric_client::verify::check(&file, VENDOR_KEYS, "acme-cad", Environment::Live)
//!         .is_ok_and(|licence| licence.payload().entitlements.iter().any(|e| e == "pro")),
//!     None => false,
//! } && client.status()?.entitled;
//! # Ok::<(), licentric_client::ClientError>(())
//! ```
//!
//! The agent's word counts as well (`status().entitled`): a genuine file of this machine that
//! the agent no longer vouches for — a copy of the data folder put back, a clock turned back —
//! passes the file's checks, which read this process's clock and know nothing of the agent's
//! memory. ([`crate::watch::Watch`] does the same.)
//!
//! A floating licence's seat is checked the same way, from the lease its checkout answers
//! (`checkout` again answers the lease as renewed since):
//!
//! ```no_run
//! # use licentric_client::{Client, Environment};
//! # const VENDOR_KEYS: &[&str] = &["dea53b80287ff0a6882e7bba383d6248e049640d1c42283bb8d0632b7f875fd2"];
//! let mut client = Client::connect_default("acme-cad", Environment::Live)?;
//! let seat = client.checkout(None)?;
//! let held = seat.lease_file.as_deref().is_some_and(|lease| {
//!     licentric_client::verify::check_lease(lease, VENDOR_KEYS, "acme-cad", Environment::Live)
//!         .is_ok()
//! });
//! # Ok::<(), licentric_client::ClientError>(())
//! ```

use licentric_core::{Expectations, Fingerprint, TrustedKey, Verifier};
use licentric_platform::identity::machine_id_source;

pub use licentric_core::VerifiedLicense;
pub use licentric_core::lease::{LeasePayload, VerifiedLease};

/// Verifies `license_file` for `product_id` in `environment` against `trusted_keys` (64 hex
/// characters each) and this machine's fingerprint, which it computes itself, with every
/// check up to the entitlement (signature, product, environment, machine, offline expiry,
/// status, licence expiry).
///
/// # Errors
/// A message with the failing check's code (`fingerprint_mismatch`, `file_expired`, …), or why
/// this machine's id cannot be read.
pub fn check(
    license_file: &str,
    trusted_keys: &[&str],
    product_id: &str,
    environment: licentric_proto::Environment,
) -> Result<VerifiedLicense, String> {
    check_for(
        license_file,
        trusted_keys,
        product_id,
        environment,
        &this_machine(product_id, environment)?,
    )
}

/// This machine's fingerprint for `product_id`, computed here.
fn this_machine(
    product_id: &str,
    environment: licentric_proto::Environment,
) -> Result<Fingerprint, String> {
    let machine = machine_id_source(environment)
        .machine_id()
        .map_err(|e| format!("{e} ({})", e.code()))?;
    Ok(machine.fingerprint(product_id))
}

/// As [`check`], for a machine whose fingerprint the caller computed.
///
/// # Errors
/// As [`check`].
pub fn check_for(
    license_file: &str,
    trusted_keys: &[&str],
    product_id: &str,
    environment: licentric_proto::Environment,
    fingerprint: &Fingerprint,
) -> Result<VerifiedLicense, String> {
    let keys = trusted(trusted_keys)?;
    let expect = Expectations {
        product_id,
        environment,
        fingerprint,
        nonce: None,
    };
    Verifier::new(keys)
        .verify_entitled(license_file, &expect, time::OffsetDateTime::now_utc(), None)
        .map_err(|e| format!("{} ({})", e, e.code()))
}

/// Verifies `lease_file` — a floating licence's seat, as `checkout` answers it — for
/// `product_id` in `environment` against `trusted_keys` and this machine's fingerprint, which it
/// computes itself: signature, product, environment, machine, and not run out by this
/// process's clock.
///
/// # Errors
/// As [`check`].
pub fn check_lease(
    lease_file: &str,
    trusted_keys: &[&str],
    product_id: &str,
    environment: licentric_proto::Environment,
) -> Result<VerifiedLease, String> {
    check_lease_for(
        lease_file,
        trusted_keys,
        product_id,
        environment,
        &this_machine(product_id, environment)?,
    )
}

/// As [`check_lease`], for a machine whose fingerprint the caller computed.
///
/// # Errors
/// As [`check`].
pub fn check_lease_for(
    lease_file: &str,
    trusted_keys: &[&str],
    product_id: &str,
    environment: licentric_proto::Environment,
    fingerprint: &Fingerprint,
) -> Result<VerifiedLease, String> {
    Verifier::new(trusted(trusted_keys)?)
        .verify_held_lease(
            lease_file,
            product_id,
            environment,
            fingerprint,
            time::OffsetDateTime::now_utc(),
        )
        .map_err(|e| format!("{} ({})", e, e.code()))
}

/// The vendor's keys, from 64 hex characters each.
fn trusted(keys: &[&str]) -> Result<Vec<TrustedKey>, String> {
    keys.iter()
        .map(|k| TrustedKey::from_hex(k).map_err(|e| e.to_string()))
        .collect()
}

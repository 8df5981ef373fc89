//! Local verification of the signed licence file (feature `verify`): the answer of a program
//! squatting on the socket cannot pass, because it cannot sign with the vendor's key.

use licentric_core::{Expectations, Fingerprint, TrustedKey, VerifiedLicense, Verifier};
use licentric_proto::Environment;

/// Verifies `license_file` for `product_id` in `environment` against `trusted_keys` (64 hex
/// characters each) and the machine's `fingerprint`, with every check up to the entitlement.
///
/// # Errors
/// A message with the failing check's code.
pub fn check(
    license_file: &str,
    trusted_keys: &[&str],
    product_id: &str,
    environment: Environment,
    fingerprint: &str,
) -> Result<VerifiedLicense, String> {
    let keys = trusted_keys
        .iter()
        .map(|k| TrustedKey::from_hex(k).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    let fingerprint = Fingerprint::parse(fingerprint)
        .ok_or("the fingerprint is not 64 lower-case hex characters")?;
    let expect = Expectations {
        product_id,
        environment,
        fingerprint: &fingerprint,
        nonce: None,
    };
    Verifier::new(keys)
        .verify_entitled(license_file, &expect, time::OffsetDateTime::now_utc(), None)
        .map_err(|e| format!("{} ({})", e, e.code()))
}

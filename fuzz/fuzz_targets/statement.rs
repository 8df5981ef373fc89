//! Signed-statement verification never panics, whatever the bytes.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use licentric_core::{Fingerprint, LicenseSigner, Verifier};
use licentric_proto::Environment;

static VERIFIER: LazyLock<Verifier> = LazyLock::new(|| {
    Verifier::new(vec![
        LicenseSigner::from_seed(&[7; 32]).public_key().clone(),
    ])
});
static FINGERPRINT: LazyLock<Option<Fingerprint>> =
    LazyLock::new(|| Fingerprint::parse(&"ab".repeat(32)));

fuzz_target!(|data: &[u8]| {
    let (Some(fingerprint), Ok(text)) = (FINGERPRINT.as_ref(), std::str::from_utf8(data)) else {
        return;
    };
    let _ = VERIFIER.verify_statement(text, "acme-cad", Environment::Live, fingerprint, "nonce");
});

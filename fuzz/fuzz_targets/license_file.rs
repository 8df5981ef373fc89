//! Licence-file verification never panics, whatever the bytes.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use licentric_core::{Expectations, Fingerprint, LicenseSigner, Verifier};
use licentric_proto::Environment;

static VERIFIER: LazyLock<Verifier> = LazyLock::new(|| {
    Verifier::new(vec![
        LicenseSigner::from_seed(&[7; 32]).public_key().clone(),
    ])
});
static FINGERPRINT: LazyLock<Option<Fingerprint>> =
    LazyLock::new(|| Fingerprint::parse(&"ab".repeat(32)));

fuzz_target!(|data: &[u8]| {
    let Some(fingerprint) = FINGERPRINT.as_ref() else {
        return;
    };
    let expect = Expectations {
        product_id: "acme-cad",
        environment: Environment::Live,
        fingerprint,
        nonce: None,
    };
    let _ = VERIFIER.verify_bytes(data, &expect, time::OffsetDateTime::UNIX_EPOCH);
});

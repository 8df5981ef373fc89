//! No change to a licence file goes unnoticed, and what is signed is what is read back.

use licentric_core::license_file::LicensePayload;
use licentric_proto::{Environment, LicenseStatus};
use proptest::prelude::*;
use time::{Duration, OffsetDateTime};

use crate::fixture::{Fixture, NOW};

#[test]
fn every_single_bit_flip_is_rejected() {
    let fx = Fixture::new();
    let mut p = fx.payload();
    p.nonce = Some("0123456789abcdef0123456789abcdef".into());
    let original = fx.sign(&p).into_bytes();
    let expect = fx.expect();
    assert!(
        fx.verifier.verify_bytes(&original, &expect, NOW).is_ok(),
        "the original must verify"
    );

    let mut accepted = Vec::new();
    for i in 0..original.len() {
        for bit in 0..8 {
            let mut copy = original.clone();
            copy[i] ^= 1 << bit;
            if fx.verifier.verify_bytes(&copy, &expect, NOW).is_ok() {
                accepted.push((i, bit));
            }
        }
    }
    assert!(
        accepted.is_empty(),
        "{} of {} flips were accepted, e.g. {:?}",
        accepted.len(),
        original.len() * 8,
        &accepted[..accepted.len().min(5)]
    );
}

#[test]
fn every_truncation_is_rejected() {
    let fx = Fixture::new();
    let original = fx.valid();
    // Dropping the trailing newline is harmless white space; any cut into the END line or
    // earlier must fail.
    for len in 0..original.len() - 1 {
        let cut = &original.as_bytes()[..len];
        assert!(
            fx.verifier.verify_bytes(cut, &fx.expect(), NOW).is_err(),
            "accepted a file cut to {len} bytes"
        );
    }
}

fn any_payload(fingerprint: String) -> impl Strategy<Value = LicensePayload> {
    (
        "[a-z0-9_]{1,40}",
        "[a-z0-9_]{1,40}",
        proptest::collection::vec("[a-z0-9-]{1,20}", 0..6),
        1u32..10_000,
        proptest::option::of(0i64..10_000_000),
        -10_000_000i64..0,
        1i64..10_000_000,
        proptest::option::of("[0-9a-f]{32}"),
        prop_oneof![
            Just(LicenseStatus::Active),
            Just(LicenseStatus::Suspended),
            Just(LicenseStatus::Revoked),
            Just(LicenseStatus::Expired)
        ],
    )
        .prop_map(
            move |(
                license_id,
                machine_id,
                entitlements,
                max_machines,
                lic_exp,
                issued_off,
                ttl,
                nonce,
                status,
            )| {
                let issued_at = NOW + Duration::seconds(issued_off);
                LicensePayload {
                    license_id,
                    product_id: crate::fixture::PRODUCT.into(),
                    environment: Environment::Live,
                    machine_id,
                    fingerprint: fingerprint.clone(),
                    status,
                    entitlements,
                    max_machines,
                    license_expires_at: lic_exp.map(|s| NOW + Duration::seconds(s)),
                    issued_at,
                    expires_at: issued_at + Duration::seconds(ttl),
                    nonce,
                    check_interval: None,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn what_is_signed_is_what_is_read_back(p in any_payload(Fixture::new().fingerprint.as_str().to_owned())) {
        let fx = Fixture::new();
        let text = fx.sign(&p);
        let verified = fx.verifier.verify(&text, &fx.expect(), NOW).unwrap();
        prop_assert_eq!(verified.payload(), &p);
        prop_assert_eq!(verified.armored(), text.as_str());
        // CRLF line endings (a file that went through Windows e-mail) read the same.
        let crlf = text.replace('\n', "\r\n");
        let again = fx.verifier.verify(&crlf, &fx.expect(), NOW).unwrap();
        prop_assert_eq!(again.payload(), &p);
    }

    #[test]
    fn arbitrary_text_never_panics_the_verifier(text in "\\PC{0,300}", prefix in any::<bool>()) {
        let fx = Fixture::new();
        let text = if prefix { format!("-----BEGIN LICENTRIC LICENSE FILE-----\n{text}\n-----END LICENTRIC LICENSE FILE-----") } else { text };
        prop_assert!(fx.verifier.verify(&text, &fx.expect(), NOW).is_err());
    }
}

#[test]
fn timestamps_keep_their_instant_whatever_the_offset() {
    // A payload written with an offset (another implementation might) is the same instant.
    let fx = Fixture::new();
    let mut p = fx.payload();
    p.issued_at = p.issued_at.to_offset(time::macros::offset!(+02:00));
    let verified = fx.verifier.verify(&fx.sign(&p), &fx.expect(), NOW).unwrap();
    assert_eq!(verified.payload().issued_at, fx.payload().issued_at);
    let _: OffsetDateTime = verified.payload().expires_at;
}

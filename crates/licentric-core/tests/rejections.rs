//! One test per verification code. Each file differs from a valid one in one respect only,
//! so if the check for it were removed, the file would verify and the test would fail.

use std::collections::BTreeSet;

use licentric_core::clock::ClockGuard;
use licentric_core::license_file::VerifyError;
use licentric_core::{Expectations, MachineId};
use licentric_proto::{Environment, LicenseStatus};
use time::Duration;

use crate::fixture::{Fixture, NOW, OTHER_SEED, PRODUCT, RawEnvelope, armor};

/// Runs every check, the way a local app would.
fn code_of(
    fx: &Fixture,
    text: &str,
    expect: &Expectations<'_>,
    guard: Option<&ClockGuard>,
) -> &'static str {
    match fx.verifier.verify_entitled(text, expect, NOW, guard) {
        Ok(_) => "accepted",
        Err(e) => e.code(),
    }
}

#[test]
fn the_valid_file_passes_every_check() {
    let fx = Fixture::new();
    let mut guard = ClockGuard::new();
    guard.observe(NOW);
    assert_eq!(
        code_of(&fx, &fx.valid(), &fx.expect(), Some(&guard)),
        "accepted"
    );
}

#[test]
fn armor_invalid() {
    let fx = Fixture::new();
    let valid = fx.valid();
    for text in [
        "".to_owned(),
        "hello".to_owned(),
        valid.replace("LICENSE FILE", "LICENCE FILE"),
        valid.replace("-----END", "-----FIN"),
        format!("{valid}trailing"),
        format!("{}{}", valid, " ".repeat(17 * 1024)),
    ] {
        assert_eq!(
            code_of(&fx, &text, &fx.expect(), None),
            "armor_invalid",
            "{text:.60?}"
        );
    }
    let err = fx
        .verifier
        .verify_bytes(&[0xff, 0xfe], &fx.expect(), NOW)
        .unwrap_err();
    assert_eq!(err.code(), "armor_invalid", "non-UTF-8 bytes");
}

#[test]
fn envelope_invalid() {
    let fx = Fixture::new();
    let payload = serde_json::to_vec(&fx.payload()).unwrap();
    let cases = [
        armor(b"not json"),
        armor(br#"{"v":1,"alg":"ed25519"}"#),
        RawEnvelope {
            v: 2,
            ..RawEnvelope::for_payload(payload.clone())
        }
        .armored(),
        RawEnvelope {
            alg: "rsa",
            ..RawEnvelope::for_payload(payload.clone())
        }
        .armored(),
    ];
    for text in &cases {
        assert_eq!(code_of(&fx, text, &fx.expect(), None), "envelope_invalid");
    }
    // The same envelope with v = 1 and alg = ed25519 verifies: only those fields were wrong.
    assert_eq!(
        code_of(
            &fx,
            &RawEnvelope::for_payload(payload).armored(),
            &fx.expect(),
            None
        ),
        "accepted"
    );
}

#[test]
fn unknown_key_id() {
    let fx = Fixture::new();
    let text = fx.other.sign(&fx.payload()).unwrap();
    assert_eq!(code_of(&fx, &text, &fx.expect(), None), "unknown_key_id");
    // The same file verifies for a companion that trusts that key too (rotation).
    let both = licentric_core::Verifier::new(vec![
        fx.signer.public_key().clone(),
        fx.other.public_key().clone(),
    ]);
    assert!(both.verify_entitled(&text, &fx.expect(), NOW, None).is_ok());
}

#[test]
fn signature_invalid() {
    let fx = Fixture::new();
    let payload = serde_json::to_vec(&fx.payload()).unwrap();
    // Our key id, someone else's signature.
    let forged = RawEnvelope {
        signed_by: OTHER_SEED,
        ..RawEnvelope::for_payload(payload.clone())
    };
    assert_eq!(
        code_of(&fx, &forged.armored(), &fx.expect(), None),
        "signature_invalid"
    );
    // A genuine signature over other bytes: the payload was edited after signing.
    let genuine = RawEnvelope::for_payload(payload.clone()).armored();
    let edited_payload = String::from_utf8(payload)
        .unwrap()
        .replace("\"pro\"", "\"ent\"");
    let original = base64_field(&genuine, "payload");
    let replaced = base64_url(edited_payload.as_bytes());
    let tampered = rearmor(&genuine, &original, &replaced);
    assert_eq!(
        code_of(&fx, &tampered, &fx.expect(), None),
        "signature_invalid"
    );
}

#[test]
fn payload_invalid() {
    let fx = Fixture::new();
    let mut no_expiry_gap = fx.payload();
    no_expiry_gap.expires_at = no_expiry_gap.issued_at;
    let mut short_fingerprint = serde_json::to_value(fx.payload()).unwrap();
    short_fingerprint["fingerprint"] = "abc".into();
    let mut extra_field = serde_json::to_value(fx.payload()).unwrap();
    extra_field["admin"] = true.into();
    let mut missing_field = serde_json::to_value(fx.payload()).unwrap();
    missing_field.as_object_mut().unwrap().remove("status");
    let mut long_nonce = fx.payload();
    long_nonce.nonce = Some("n".repeat(129));
    let cases = [
        serde_json::to_vec(&no_expiry_gap).unwrap(),
        serde_json::to_vec(&short_fingerprint).unwrap(),
        serde_json::to_vec(&extra_field).unwrap(),
        serde_json::to_vec(&missing_field).unwrap(),
        serde_json::to_vec(&long_nonce).unwrap(),
        b"[1,2,3]".to_vec(),
    ];
    for payload in cases {
        let text = RawEnvelope::for_payload(payload.clone()).armored();
        assert_eq!(
            code_of(&fx, &text, &fx.expect(), None),
            "payload_invalid",
            "{}",
            String::from_utf8_lossy(&payload)
        );
    }
}

#[test]
fn product_mismatch() {
    let fx = Fixture::new();
    let mut p = fx.payload();
    p.product_id = "acme-cam".into();
    // Bound to this machine's fingerprint for *this* product, so only the product differs.
    assert_eq!(
        code_of(&fx, &fx.sign(&p), &fx.expect(), None),
        "product_mismatch"
    );
}

#[test]
fn environment_mismatch() {
    let fx = Fixture::new();
    let mut p = fx.payload();
    p.environment = Environment::Test;
    assert_eq!(
        code_of(&fx, &fx.sign(&p), &fx.expect(), None),
        "environment_mismatch",
        "a test file in a live app"
    );
    let test_app = Expectations {
        environment: Environment::Test,
        ..fx.expect()
    };
    assert_eq!(
        code_of(&fx, &fx.valid(), &test_app, None),
        "environment_mismatch",
        "a live file in a test app"
    );
}

#[test]
fn fingerprint_mismatch() {
    let fx = Fixture::new();
    let other_machine = MachineId::new("ffffffffffffffffffffffffffffffff", "t")
        .unwrap()
        .fingerprint(PRODUCT);
    let mut p = fx.payload();
    p.fingerprint = other_machine.as_str().into();
    assert_eq!(
        code_of(&fx, &fx.sign(&p), &fx.expect(), None),
        "fingerprint_mismatch"
    );
}

#[test]
fn nonce_mismatch() {
    let fx = Fixture::new();
    let mut p = fx.payload();
    p.nonce = Some("a1".repeat(16));
    let text = fx.sign(&p);
    let ours = "b2".repeat(16);
    let expect = Expectations {
        nonce: Some(&ours),
        ..fx.expect()
    };
    assert_eq!(
        code_of(&fx, &text, &expect, None),
        "nonce_mismatch",
        "another request's answer"
    );
    assert_eq!(
        code_of(&fx, &fx.valid(), &expect, None),
        "nonce_mismatch",
        "a file with no nonce"
    );
    let theirs = "a1".repeat(16);
    let expect = Expectations {
        nonce: Some(&theirs),
        ..fx.expect()
    };
    assert_eq!(code_of(&fx, &text, &expect, None), "accepted");
}

#[test]
fn issued_in_future() {
    let fx = Fixture::new();
    let mut p = fx.payload();
    p.issued_at = NOW + Duration::minutes(6);
    p.expires_at = p.issued_at + Duration::days(14);
    p.nonce = Some("c3".repeat(16));
    let text = fx.sign(&p);
    assert_eq!(code_of(&fx, &text, &fx.expect(), None), "issued_in_future");
    // Our own fresh answer is not refused for a local clock running behind.
    let nonce = "c3".repeat(16);
    let answer = Expectations {
        nonce: Some(&nonce),
        ..fx.expect()
    };
    assert_eq!(code_of(&fx, &text, &answer, None), "accepted");
    // The agent's own cache is re-read without this check: the clock guard covers it.
    assert!(fx.verifier.verify_stored(&text, &fx.expect()).is_ok());
    // Within the 5-minute tolerance.
    p.issued_at = NOW + Duration::minutes(4);
    assert_eq!(code_of(&fx, &fx.sign(&p), &fx.expect(), None), "accepted");
}

#[test]
fn file_expired() {
    let fx = Fixture::new();
    let mut p = fx.payload();
    p.issued_at = NOW - Duration::days(14);
    p.expires_at = NOW;
    assert_eq!(
        code_of(&fx, &fx.sign(&p), &fx.expect(), None),
        "file_expired",
        "expires_at == now"
    );
    p.expires_at = NOW + Duration::seconds(1);
    assert_eq!(code_of(&fx, &fx.sign(&p), &fx.expect(), None), "accepted");
}

#[test]
fn clock_tampered() {
    let fx = Fixture::new();
    let mut guard = ClockGuard::new();
    guard.observe(NOW + Duration::hours(2));
    assert_eq!(
        code_of(&fx, &fx.valid(), &fx.expect(), Some(&guard)),
        "clock_tampered"
    );
    let mut near = ClockGuard::new();
    near.observe(NOW + Duration::minutes(59));
    assert_eq!(
        code_of(&fx, &fx.valid(), &fx.expect(), Some(&near)),
        "accepted"
    );
}

#[test]
fn status_codes() {
    let fx = Fixture::new();
    for (status, code) in [
        (LicenseStatus::Suspended, "license_suspended"),
        (LicenseStatus::Revoked, "license_revoked"),
        (LicenseStatus::Expired, "license_expired"),
    ] {
        let mut p = fx.payload();
        p.status = status;
        let text = fx.sign(&p);
        assert_eq!(code_of(&fx, &text, &fx.expect(), None), code);
        // Still authentic: the agent caches it and reports the status.
        assert!(fx.verifier.verify(&text, &fx.expect(), NOW).is_ok());
    }
}

#[test]
fn license_expiry_reached() {
    let fx = Fixture::new();
    let mut p = fx.payload();
    p.license_expires_at = Some(NOW);
    assert_eq!(
        code_of(&fx, &fx.sign(&p), &fx.expect(), None),
        "license_expiry_reached"
    );
    p.license_expires_at = None;
    assert_eq!(
        code_of(&fx, &fx.sign(&p), &fx.expect(), None),
        "accepted",
        "no expiry is perpetual"
    );
}

#[test]
fn older_than_cached() {
    let fx = Fixture::new();
    let cached = fx.verifier.verify(&fx.valid(), &fx.expect(), NOW).unwrap();
    let mut p = fx.payload();
    p.issued_at -= Duration::seconds(1);
    let older = fx.verifier.verify(&fx.sign(&p), &fx.expect(), NOW).unwrap();
    assert_eq!(
        older.may_replace(Some(&cached)).unwrap_err().code(),
        "older_than_cached"
    );
    assert!(cached.may_replace(Some(&older)).is_ok());
    assert!(
        cached.may_replace(Some(&cached)).is_ok(),
        "the same file (an idempotent replay) may be stored again"
    );
    assert!(older.may_replace(None).is_ok());
}

#[test]
fn checks_run_in_the_documented_order() {
    let fx = Fixture::new();
    // Each file fails two adjacent checks; the earlier one must be reported.
    let mut p = fx.payload();
    p.product_id = "other".into();
    p.environment = Environment::Test;
    assert_eq!(
        code_of(&fx, &fx.sign(&p), &fx.expect(), None),
        "product_mismatch"
    );

    let mut p = fx.payload();
    p.environment = Environment::Test;
    p.fingerprint = "0".repeat(64);
    assert_eq!(
        code_of(&fx, &fx.sign(&p), &fx.expect(), None),
        "environment_mismatch"
    );

    let mut p = fx.payload();
    p.issued_at = NOW + Duration::hours(1);
    p.expires_at = NOW - Duration::hours(1) + Duration::days(14);
    p.fingerprint = "0".repeat(64);
    assert_eq!(
        code_of(&fx, &fx.sign(&p), &fx.expect(), None),
        "fingerprint_mismatch"
    );

    let mut p = fx.payload();
    p.issued_at = NOW - Duration::days(14);
    p.expires_at = NOW - Duration::days(1);
    p.status = LicenseStatus::Revoked;
    let mut guard = ClockGuard::new();
    guard.observe(NOW + Duration::days(1));
    assert_eq!(
        code_of(&fx, &fx.sign(&p), &fx.expect(), Some(&guard)),
        "file_expired"
    );

    let mut p = fx.payload();
    p.status = LicenseStatus::Revoked;
    assert_eq!(
        code_of(&fx, &fx.sign(&p), &fx.expect(), Some(&guard)),
        "clock_tampered"
    );

    let mut p = fx.payload();
    p.status = LicenseStatus::Suspended;
    p.license_expires_at = Some(NOW - Duration::days(1));
    assert_eq!(
        code_of(&fx, &fx.sign(&p), &fx.expect(), None),
        "license_suspended"
    );

    // An unknown key is reported before a bad signature would be.
    let text = fx.other.sign(&fx.payload()).unwrap();
    assert_eq!(code_of(&fx, &text, &fx.expect(), None), "unknown_key_id");
}

#[test]
fn every_code_is_covered_by_a_test_above() {
    // The codes the tests in this file assert on; a new VerifyError variant must add a test.
    let tested: BTreeSet<&str> = [
        "armor_invalid",
        "envelope_invalid",
        "unknown_key_id",
        "signature_invalid",
        "payload_invalid",
        "product_mismatch",
        "environment_mismatch",
        "fingerprint_mismatch",
        "nonce_mismatch",
        "issued_in_future",
        "file_expired",
        "clock_tampered",
        "license_suspended",
        "license_revoked",
        "license_expired",
        "license_expiry_reached",
        "older_than_cached",
    ]
    .into_iter()
    .collect();
    let all: BTreeSet<&str> = VerifyError::CODES.iter().copied().collect();
    assert_eq!(tested, all);
    let source = include_str!("rejections.rs");
    for code in &all {
        assert!(
            source.contains(&format!("fn {code}()")) || source.contains(&format!("\"{code}\")")),
            "no test for {code}"
        );
    }
}

fn base64_field(armored: &str, field: &str) -> String {
    let envelope = decode_envelope(armored);
    envelope[field].as_str().unwrap().to_owned()
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn decode_envelope(armored: &str) -> serde_json::Value {
    use base64::Engine as _;
    let body: String = armored
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let raw = base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap();
    serde_json::from_slice(&raw).unwrap()
}

fn rearmor(armored: &str, from: &str, to: &str) -> String {
    let envelope = serde_json::to_vec(&decode_envelope(armored)).unwrap();
    let text = String::from_utf8(envelope).unwrap().replace(from, to);
    armor(text.as_bytes())
}

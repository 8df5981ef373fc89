//! The committed test vector in `docs/test-vectors/license-file-v1/`: a fixed Ed25519 key
//! pair, a payload, and the licence file they make. Another implementation checks its
//! verifier against it; this test checks that ours still produces and accepts exactly it.
//!
//! Regenerate (only when the format changes, with a new directory name):
//! `LICENTRIC_WRITE_VECTOR=1 cargo test -p licentric-core --test tests vector`.

use std::path::PathBuf;

use licentric_core::license_file::LicensePayload;
use licentric_core::{Expectations, Fingerprint, LicenseSigner, TrustedKey, Verifier};
use licentric_proto::Environment;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

#[derive(Serialize, Deserialize)]
struct Expect {
    product_id: String,
    environment: Environment,
    fingerprint: String,
    nonce: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    verify_at: OffsetDateTime,
    kid: String,
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/test-vectors/license-file-v1")
}

fn read(name: &str) -> String {
    std::fs::read_to_string(dir().join(name))
        .unwrap_or_else(|e| panic!("cannot read test vector {name}: {e}"))
}

#[test]
fn committed_vector_verifies_and_reproduces() {
    if std::env::var_os("LICENTRIC_WRITE_VECTOR").is_some() {
        write_vector();
    }
    let seed: [u8; 32] =
        licentric_core::hex::decode_array(read("private-seed.hex").trim()).expect("seed is 64 hex");
    let public = TrustedKey::from_hex(read("public-key.hex").trim()).expect("public key");
    let payload_bytes = read("payload.json");
    let license = read("license.lic");
    let expect: Expect = serde_json::from_str(&read("expect.json")).unwrap();

    let signer = LicenseSigner::from_seed(&seed);
    assert_eq!(
        signer.public_key(),
        &public,
        "the seed does not give the committed public key"
    );
    assert_eq!(public.kid().as_str(), expect.kid);

    // Ed25519 signatures and our JSON encoding are deterministic: the same payload must give
    // the same file, byte for byte.
    let payload: LicensePayload = serde_json::from_str(&payload_bytes).unwrap();
    assert_eq!(
        serde_json::to_string(&payload).unwrap(),
        payload_bytes,
        "payload.json is not in canonical form"
    );
    assert_eq!(
        signer.sign(&payload).unwrap(),
        license,
        "signing the committed payload no longer gives license.lic"
    );

    let fingerprint = Fingerprint::parse(&expect.fingerprint).unwrap();
    let verifier = Verifier::new(vec![public]);
    let exp = Expectations {
        product_id: &expect.product_id,
        environment: expect.environment,
        fingerprint: &fingerprint,
        nonce: expect.nonce.as_deref(),
    };
    let verified = verifier
        .verify_entitled(&license, &exp, expect.verify_at, None)
        .unwrap();
    assert_eq!(verified.payload(), &payload);
}

fn write_vector() {
    use sha2::Digest as _;
    let seed: [u8; 32] = sha2::Sha256::digest(b"licentric license-file v1 test vector").into();
    let signer = LicenseSigner::from_seed(&seed);
    let fingerprint = licentric_core::MachineId::new("0123456789abcdef0123456789abcdef", "vector")
        .unwrap()
        .fingerprint("acme-cad");
    let issued_at = time::macros::datetime!(2026-11-23 12:00 UTC);
    let payload = LicensePayload {
        license_id: "lic_0TV1".into(),
        product_id: "acme-cad".into(),
        environment: Environment::Live,
        machine_id: "mach_0TV1".into(),
        fingerprint: fingerprint.as_str().into(),
        status: licentric_proto::LicenseStatus::Active,
        entitlements: vec!["pro".into(), "export-pdf".into()],
        max_machines: 3,
        license_expires_at: Some(time::macros::datetime!(2027-11-23 00:00 UTC)),
        issued_at,
        expires_at: issued_at + time::Duration::days(14),
        nonce: Some("0f1e2d3c4b5a69788796a5b4c3d2e1f0".into()),
        check_interval: None,
    };
    let expect = Expect {
        product_id: "acme-cad".into(),
        environment: Environment::Live,
        fingerprint: fingerprint.as_str().into(),
        nonce: payload.nonce.clone(),
        verify_at: issued_at + time::Duration::days(1),
        kid: signer.public_key().kid().as_str().into(),
    };
    std::fs::create_dir_all(dir()).unwrap();
    std::fs::write(
        dir().join("private-seed.hex"),
        format!("{}\n", licentric_core::hex::encode(&seed)),
    )
    .unwrap();
    std::fs::write(
        dir().join("public-key.hex"),
        format!("{}\n", signer.public_key().to_hex()),
    )
    .unwrap();
    std::fs::write(
        dir().join("payload.json"),
        serde_json::to_string(&payload).unwrap(),
    )
    .unwrap();
    std::fs::write(dir().join("license.lic"), signer.sign(&payload).unwrap()).unwrap();
    std::fs::write(
        dir().join("expect.json"),
        serde_json::to_string_pretty(&expect).unwrap() + "\n",
    )
    .unwrap();
}

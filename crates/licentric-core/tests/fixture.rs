//! A licence file that passes every check, and ways to break exactly one.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ed25519_dalek::Signer as _;
use licentric_core::license_file::{LicensePayload, SIGNING_CONTEXT};
use licentric_core::{Expectations, Fingerprint, LicenseSigner, MachineId, Verifier};
use licentric_proto::{Environment, LicenseStatus};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

pub(crate) const NOW: OffsetDateTime = datetime!(2026-11-23 12:00 UTC);
pub(crate) const PRODUCT: &str = "acme-cad";
pub(crate) const SEED: [u8; 32] = [0x42; 32];
pub(crate) const OTHER_SEED: [u8; 32] = [0x17; 32];

pub(crate) struct Fixture {
    pub(crate) signer: LicenseSigner,
    pub(crate) other: LicenseSigner,
    pub(crate) verifier: Verifier,
    pub(crate) fingerprint: Fingerprint,
}

impl Fixture {
    pub(crate) fn new() -> Fixture {
        let signer = LicenseSigner::from_seed(&SEED);
        let other = LicenseSigner::from_seed(&OTHER_SEED);
        let verifier = Verifier::new(vec![signer.public_key().clone()]);
        let fingerprint = MachineId::new("5c0ffee5c0ffee5c0ffee5c0ffee5c0f", "fixture")
            .unwrap()
            .fingerprint(PRODUCT);
        Fixture {
            signer,
            other,
            verifier,
            fingerprint,
        }
    }

    pub(crate) fn expect(&self) -> Expectations<'_> {
        Expectations {
            product_id: PRODUCT,
            environment: Environment::Live,
            fingerprint: &self.fingerprint,
            nonce: None,
        }
    }

    /// Issued a day ago, valid 14 days, active, no licence expiry.
    pub(crate) fn payload(&self) -> LicensePayload {
        let issued_at = NOW - Duration::days(1);
        LicensePayload {
            license_id: "lic_01HZX".into(),
            product_id: PRODUCT.into(),
            environment: Environment::Live,
            machine_id: "mach_01HZY".into(),
            fingerprint: self.fingerprint.as_str().into(),
            status: LicenseStatus::Active,
            entitlements: vec!["pro".into(), "export-pdf".into()],
            max_machines: 2,
            license_expires_at: Some(NOW + Duration::days(365)),
            issued_at,
            expires_at: issued_at + Duration::days(14),
            nonce: None,
            check_interval: None,
        }
    }

    pub(crate) fn sign(&self, payload: &LicensePayload) -> String {
        self.signer.sign(payload).unwrap()
    }

    pub(crate) fn valid(&self) -> String {
        self.sign(&self.payload())
    }
}

/// An envelope built by hand: any `v`, `alg`, `kid`, payload bytes and signing key.
pub(crate) struct RawEnvelope<'a> {
    pub(crate) v: u32,
    pub(crate) alg: &'a str,
    pub(crate) kid: String,
    pub(crate) payload: Vec<u8>,
    pub(crate) signed_by: [u8; 32],
}

impl RawEnvelope<'_> {
    pub(crate) fn for_payload(payload: Vec<u8>) -> RawEnvelope<'static> {
        RawEnvelope {
            v: 1,
            alg: "ed25519",
            kid: LicenseSigner::from_seed(&SEED)
                .public_key()
                .kid()
                .as_str()
                .into(),
            payload,
            signed_by: SEED,
        }
    }

    pub(crate) fn armored(&self) -> String {
        let key = ed25519_dalek::SigningKey::from_bytes(&self.signed_by);
        let mut message = SIGNING_CONTEXT.to_vec();
        message.extend_from_slice(&self.payload);
        let sig = key.sign(&message);
        let envelope = serde_json::json!({
            "v": self.v,
            "alg": self.alg,
            "kid": self.kid,
            "payload": URL_SAFE_NO_PAD.encode(&self.payload),
            "sig": URL_SAFE_NO_PAD.encode(sig.to_bytes()),
        });
        armor(&serde_json::to_vec(&envelope).unwrap())
    }
}

pub(crate) fn armor(bytes: &[u8]) -> String {
    let body = STANDARD.encode(bytes);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN LICENTRIC LICENSE FILE-----\n{}\n-----END LICENTRIC LICENSE FILE-----\n",
        lines.join("\n")
    )
}

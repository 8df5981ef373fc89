//! Lease files v1: the server's signed word that a machine holds one seat of a floating
//! licence until `expires_at` (`docs/floating.md`).
//!
//! ```text
//! -----BEGIN LICENTRIC LEASE-----
//! base64({"v":1,"alg":"ed25519","kid":"…","payload":"<base64url>","sig":"<base64url>"})
//! -----END LICENTRIC LEASE-----
//! ```
//!
//! The envelope and keys are the licence file's; the signed bytes are `licentric.lease.v1\n`
//! followed by the payload's JSON bytes, so a lease can never be taken for a licence file or a
//! statement, nor the reverse. A lease answers one request — a checkout or a renewal — and
//! carries its nonce; it is bound to the product, the environment and the machine's
//! fingerprint, and it entitles nobody after `expires_at`, online or not.

use licentric_proto::Environment;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::fingerprint::Fingerprint;
use crate::license_file::{
    Bound, Expectations, LicenseSigner, MAX_NONCE_LEN, Verifier, VerifyError,
};

/// The armour label.
pub const LABEL: &str = "LICENTRIC LEASE";
/// The domain-separation prefix of the signed bytes.
pub const SIGNING_CONTEXT: &[u8] = b"licentric.lease.v1\n";
/// The largest lease accepted, armour included: 8 KiB.
pub const MAX_LEASE_BYTES: usize = 8 * 1024;
const MAX_NAME_LEN: usize = 128;

/// The signed content of a lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeasePayload {
    /// The lease.
    pub lease_id: String,
    /// The floating licence it is a seat of.
    pub license_id: String,
    /// The vendor's product id.
    pub product_id: String,
    /// Test or live.
    pub environment: Environment,
    /// The machine that holds the seat.
    pub fingerprint: String,
    /// What the seat is for, as the machine named it (an app, a user), if anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The licence's entitlements.
    pub entitlements: Vec<String>,
    /// The licence's seats.
    pub max_seats: u32,
    /// When the server issued (or renewed) it.
    #[serde(with = "time::serde::rfc3339")]
    pub issued_at: OffsetDateTime,
    /// When the seat is free again unless renewed before.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// The request's nonce: a lease answers exactly one checkout or renewal.
    pub nonce: String,
    /// The seat is borrowed (for a trip) until `expires_at`: it holds with no renewal, offline,
    /// across restarts of the machine.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub borrowed: bool,
    /// Each app process on a machine holds a seat of its own (the product's policy): the
    /// companion does not share this lease between apps.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub per_process: bool,
    /// A borrowed seat the product keeps counted to its end: it cannot be returned early
    /// (absent: it can).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub kept_to_end: bool,
}

impl LicenseSigner {
    /// Signs `payload` into an armoured lease.
    ///
    /// # Errors
    /// If the payload cannot be serialised.
    pub fn sign_lease(&self, payload: &LeasePayload) -> Result<String, serde_json::Error> {
        self.sign_envelope(LABEL, SIGNING_CONTEXT, &serde_json::to_vec(payload)?)
    }
}

/// A lease whose signature, binding and time were checked. Only [`Verifier::verify_lease`]
/// makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedLease {
    payload: LeasePayload,
    armored: String,
}

impl VerifiedLease {
    /// The signed content.
    pub fn payload(&self) -> &LeasePayload {
        &self.payload
    }

    /// The lease as received.
    pub fn armored(&self) -> &str {
        &self.armored
    }

    /// Whether it still holds its seat at `now`.
    pub fn holds_at(&self, now: OffsetDateTime) -> bool {
        now < self.payload.expires_at
    }
}

impl Verifier {
    /// Checks a lease: armour → envelope → known `kid` → signature → payload → product →
    /// environment → fingerprint → nonce (the answer to the request with `nonce`) → with
    /// `now`, not run out by then. An answer the companion just received is checked without
    /// `now`: its nonce proves it fresh, and a clock that is wrong must not refuse it (the
    /// companion then times the lease by its own monotonic clock from the lease's length).
    ///
    /// # Errors
    /// The first check that fails, with the licence file's codes (`file_expired` for a lease
    /// that has run out).
    pub fn verify_lease(
        &self,
        text: &str,
        product_id: &str,
        environment: Environment,
        fingerprint: &Fingerprint,
        nonce: &str,
        now: Option<OffsetDateTime>,
    ) -> Result<VerifiedLease, VerifyError> {
        let expect = Expectations {
            product_id,
            environment,
            fingerprint,
            nonce: Some(nonce),
        };
        self.open_lease(text, &expect, now)
    }

    /// Checks a lease an app was handed (the seat the agent holds for it), as the app's own
    /// check: every check of [`verify_lease`](Self::verify_lease) but the nonce (the agent's
    /// request, not the app's), and not run out by `now`, the app's clock.
    ///
    /// # Errors
    /// As [`verify_lease`](Self::verify_lease).
    pub fn verify_held_lease(
        &self,
        text: &str,
        product_id: &str,
        environment: Environment,
        fingerprint: &Fingerprint,
        now: OffsetDateTime,
    ) -> Result<VerifiedLease, VerifyError> {
        let expect = Expectations {
            product_id,
            environment,
            fingerprint,
            nonce: None,
        };
        self.open_lease(text, &expect, Some(now))
    }

    fn open_lease(
        &self,
        text: &str,
        expect: &Expectations<'_>,
        now: Option<OffsetDateTime>,
    ) -> Result<VerifiedLease, VerifyError> {
        let (bytes, _key) = self.open_envelope(LABEL, SIGNING_CONTEXT, text, MAX_LEASE_BYTES)?;
        let payload: LeasePayload =
            serde_json::from_slice(&bytes).map_err(|e| VerifyError::Payload(e.to_string()))?;
        let bad = |what: &str| VerifyError::Payload(what.to_owned());
        for (name, value) in [
            ("lease_id", &payload.lease_id),
            ("license_id", &payload.license_id),
        ] {
            if value.is_empty() || value.len() > MAX_NAME_LEN {
                return Err(bad(&format!("{name} is empty or too long")));
            }
        }
        if payload.nonce.is_empty() || payload.nonce.len() > MAX_NONCE_LEN {
            return Err(bad("nonce is empty or too long"));
        }
        if payload.expires_at <= payload.issued_at {
            return Err(bad("expires_at is not after issued_at"));
        }
        expect.check_binding(
            Bound {
                product_id: &payload.product_id,
                environment: payload.environment,
                fingerprint: &payload.fingerprint,
                nonce: Some(&payload.nonce),
                issued_at: payload.issued_at,
            },
            now,
        )?;
        if now.is_some_and(|now| now >= payload.expires_at) {
            return Err(VerifyError::FileExpired {
                expires_at: payload.expires_at,
            });
        }
        Ok(VerifiedLease {
            payload,
            armored: text.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::MachineId;
    use time::macros::datetime;

    fn setup() -> (LicenseSigner, Verifier, Fingerprint, LeasePayload) {
        let signer = LicenseSigner::from_seed(&[11; 32]);
        let verifier = Verifier::new(vec![signer.public_key().clone()]);
        let fingerprint = MachineId::new("5c0ffee5c0ffee5c0ffee5c0ffee5c0f", "t")
            .unwrap()
            .fingerprint("acme-cad");
        let payload = LeasePayload {
            lease_id: "lease_1".into(),
            license_id: "lic_1".into(),
            product_id: "acme-cad".into(),
            environment: Environment::Live,
            fingerprint: fingerprint.as_str().into(),
            label: Some("Acme CAD".into()),
            entitlements: vec!["pro".into()],
            max_seats: 10,
            issued_at: datetime!(2026-12-01 12:00 UTC),
            expires_at: datetime!(2026-12-01 12:15 UTC),
            nonce: "n1".into(),
            borrowed: false,
            per_process: false,
            kept_to_end: false,
        };
        (signer, verifier, fingerprint, payload)
    }

    #[test]
    fn a_lease_holds_for_its_request_machine_and_time_only() {
        let (signer, verifier, fp, payload) = setup();
        let text = signer.sign_lease(&payload).unwrap();
        assert!(text.starts_with("-----BEGIN LICENTRIC LEASE-----\n"));
        let during = datetime!(2026-12-01 12:10 UTC);
        let ok = verifier
            .verify_lease(
                &text,
                "acme-cad",
                Environment::Live,
                &fp,
                "n1",
                Some(during),
            )
            .unwrap();
        assert_eq!(ok.payload().max_seats, 10);
        assert!(ok.holds_at(during) && !ok.holds_at(datetime!(2026-12-01 12:15 UTC)));
        let code = |r: Result<VerifiedLease, VerifyError>| r.unwrap_err().code();
        assert_eq!(
            code(verifier.verify_lease(
                &text,
                "acme-cad",
                Environment::Live,
                &fp,
                "n2",
                Some(during)
            )),
            "nonce_mismatch",
            "a recorded lease cannot answer another checkout"
        );
        assert_eq!(
            code(verifier.verify_lease(
                &text,
                "acme-cad",
                Environment::Live,
                &fp,
                "n1",
                Some(datetime!(2026-12-01 12:15 UTC))
            )),
            "file_expired",
            "never past its end"
        );
        assert!(
            verifier
                .verify_lease(&text, "acme-cad", Environment::Live, &fp, "n1", None)
                .is_ok(),
            "a fresh answer is taken whatever the local clock says"
        );
        assert_eq!(
            code(verifier.verify_lease(
                &text,
                "acme-cad",
                Environment::Test,
                &fp,
                "n1",
                Some(during)
            )),
            "environment_mismatch"
        );
        let other = MachineId::new("feedfacefeedfacefeedfacefeedface", "t")
            .unwrap()
            .fingerprint("acme-cad");
        assert_eq!(
            code(verifier.verify_lease(
                &text,
                "acme-cad",
                Environment::Live,
                &other,
                "n1",
                Some(during)
            )),
            "fingerprint_mismatch"
        );
        // Tampered: one character of the body changed.
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        let body = &mut lines[1];
        let flipped = if body.ends_with('A') { 'B' } else { 'A' };
        body.pop();
        body.push(flipped);
        let tampered = lines.join("\n");
        assert!(
            verifier
                .verify_lease(
                    &tampered,
                    "acme-cad",
                    Environment::Live,
                    &fp,
                    "n1",
                    Some(during)
                )
                .is_err()
        );
    }

    #[test]
    fn a_lease_is_neither_a_licence_file_nor_a_statement() {
        let (signer, verifier, fp, payload) = setup();
        let lease = signer.sign_lease(&payload).unwrap();
        let body: String = lease
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect::<Vec<_>>()
            .join("\n");
        let as_statement = format!(
            "-----BEGIN LICENTRIC STATEMENT-----\n{body}\n-----END LICENTRIC STATEMENT-----\n"
        );
        assert!(
            verifier
                .verify_statement(&as_statement, "acme-cad", Environment::Live, &fp, "n1")
                .is_err()
        );
        let as_file = format!(
            "-----BEGIN LICENTRIC LICENSE FILE-----\n{body}\n-----END LICENTRIC LICENSE FILE-----\n"
        );
        let expect = Expectations {
            product_id: "acme-cad",
            environment: Environment::Live,
            fingerprint: &fp,
            nonce: Some("n1"),
        };
        assert!(verifier.verify_stored(&as_file, &expect).is_err());
    }
}

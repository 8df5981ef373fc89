//! Signed statements v1: the server's signed word on something that is not a licence file —
//! that a machine is no longer activated (deleted, or its seat moved elsewhere), or that it
//! still stands (the answer to the cheap validation of a machine in use).
//!
//! ```text
//! -----BEGIN LICENTRIC STATEMENT-----
//! base64({"v":1,"alg":"ed25519","kid":"…","payload":"<base64url>","sig":"<base64url>"})
//! -----END LICENTRIC STATEMENT-----
//! ```
//!
//! The envelope and keys are the licence file's; the signed bytes are
//! `licentric.statement.v1\n` followed by the payload's JSON bytes, so a statement can never be
//! taken for a licence file or the reverse. A statement answers one request: it carries that
//! request's nonce, and [`Verifier::verify_statement`] accepts it only for the nonce the
//! companion just sent, for its product, environment and fingerprint — a recorded statement
//! cannot be replayed later, and one made for another machine does not apply here. An
//! unsigned refusal changes nothing; a verified one ends the machine's entitlement at once.

use licentric_proto::Environment;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::fingerprint::Fingerprint;
use crate::license_file::{
    Bound, Expectations, LicenseSigner, MAX_NONCE_LEN, Verifier, VerifyError,
};

/// The armour label.
pub const LABEL: &str = "LICENTRIC STATEMENT";
/// The domain-separation prefix of the signed bytes.
pub const SIGNING_CONTEXT: &[u8] = b"licentric.statement.v1\n";
/// The largest statement accepted, armour included: 4 KiB.
pub const MAX_STATEMENT_BYTES: usize = 4 * 1024;
const MAX_NAME_LEN: usize = 128;

/// What the server states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum StatementKind {
    /// The machine stands, activated on a licence that is active: the answer to a validation.
    MachineActive,
    /// The machine was deactivated (from the vendor's portal, the API, or another machine
    /// moving the seat): its seat is free and its files no longer entitle it.
    MachineDeactivated,
    /// The licence has no machine with this id (never had, or it was deleted).
    MachineNotFound,
    /// The machine's seat moved to another system presenting the same parts (a reinstall, a
    /// copy of this system, the other system of a dual boot): this one no longer holds it.
    MachineMoved,
}

impl StatementKind {
    /// The stable code: `machine_active`, or, as in `status.reason`, `machine_deactivated`,
    /// `machine_not_found` or `machine_moved`.
    pub const fn code(self) -> &'static str {
        match self {
            StatementKind::MachineActive => "machine_active",
            StatementKind::MachineDeactivated => "machine_deactivated",
            StatementKind::MachineNotFound => "machine_not_found",
            StatementKind::MachineMoved => "machine_moved",
        }
    }
}

/// The signed content of a statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatementPayload {
    /// What is stated.
    #[serde(rename = "type")]
    pub kind: StatementKind,
    /// The licence the request was authenticated with.
    pub license_id: String,
    /// The vendor's product id.
    pub product_id: String,
    /// Test or live.
    pub environment: Environment,
    /// The machine id the request named.
    pub machine_id: String,
    /// The fingerprint the request came from.
    pub fingerprint: String,
    /// When the server stated it.
    #[serde(with = "time::serde::rfc3339")]
    pub issued_at: OffsetDateTime,
    /// The request's nonce: a statement answers exactly one request.
    pub nonce: String,
}

impl LicenseSigner {
    /// Signs `payload` into an armoured statement.
    ///
    /// # Errors
    /// If the payload cannot be serialised.
    pub fn sign_statement(&self, payload: &StatementPayload) -> Result<String, serde_json::Error> {
        self.sign_envelope(LABEL, SIGNING_CONTEXT, &serde_json::to_vec(payload)?)
    }
}

/// A statement whose signature and binding to this machine and request were checked. Only
/// [`Verifier::verify_statement`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedStatement {
    payload: StatementPayload,
    armored: String,
}

impl VerifiedStatement {
    /// The signed content.
    pub fn payload(&self) -> &StatementPayload {
        &self.payload
    }

    /// The statement as received.
    pub fn armored(&self) -> &str {
        &self.armored
    }
}

impl Verifier {
    /// Checks a statement that answers the request with `nonce`: armour → envelope → known
    /// `kid` → signature → payload → product → environment → fingerprint → nonce.
    ///
    /// # Errors
    /// The first check that fails, with the licence file's codes.
    pub fn verify_statement(
        &self,
        text: &str,
        product_id: &str,
        environment: Environment,
        fingerprint: &Fingerprint,
        nonce: &str,
    ) -> Result<VerifiedStatement, VerifyError> {
        let (payload_bytes, _key) =
            self.open_envelope(LABEL, SIGNING_CONTEXT, text, MAX_STATEMENT_BYTES)?;
        let payload: StatementPayload = serde_json::from_slice(&payload_bytes)
            .map_err(|e| VerifyError::Payload(e.to_string()))?;
        let bad = |what: &str| VerifyError::Payload(what.to_owned());
        if payload.license_id.is_empty() || payload.license_id.len() > MAX_NAME_LEN {
            return Err(bad("license_id is empty or too long"));
        }
        if payload.machine_id.is_empty() || payload.machine_id.len() > MAX_NAME_LEN {
            return Err(bad("machine_id is empty or too long"));
        }
        if payload.nonce.is_empty() || payload.nonce.len() > MAX_NONCE_LEN {
            return Err(bad("nonce is empty or too long"));
        }
        let expect = Expectations {
            product_id,
            environment,
            fingerprint,
            nonce: Some(nonce),
        };
        expect.check_binding(
            Bound {
                product_id: &payload.product_id,
                environment: payload.environment,
                fingerprint: &payload.fingerprint,
                nonce: Some(&payload.nonce),
                issued_at: payload.issued_at,
            },
            None,
        )?;
        Ok(VerifiedStatement {
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

    fn setup() -> (LicenseSigner, Verifier, Fingerprint, StatementPayload) {
        let signer = LicenseSigner::from_seed(&[9; 32]);
        let verifier = Verifier::new(vec![signer.public_key().clone()]);
        let fingerprint = MachineId::new("5c0ffee5c0ffee5c0ffee5c0ffee5c0f", "t")
            .unwrap()
            .fingerprint("acme-cad");
        let payload = StatementPayload {
            kind: StatementKind::MachineDeactivated,
            license_id: "lic_1".into(),
            product_id: "acme-cad".into(),
            environment: Environment::Live,
            machine_id: "mach_1".into(),
            fingerprint: fingerprint.as_str().into(),
            issued_at: datetime!(2026-12-01 12:00 UTC),
            nonce: "n1".into(),
        };
        (signer, verifier, fingerprint, payload)
    }

    #[test]
    fn a_statement_verifies_only_for_its_request_and_machine() {
        let (signer, verifier, fp, payload) = setup();
        let text = signer.sign_statement(&payload).unwrap();
        assert!(text.starts_with("-----BEGIN LICENTRIC STATEMENT-----\n"));
        let ok = verifier
            .verify_statement(&text, "acme-cad", Environment::Live, &fp, "n1")
            .unwrap();
        assert_eq!(ok.payload().kind.code(), "machine_deactivated");
        let code = |r: Result<VerifiedStatement, VerifyError>| r.unwrap_err().code();
        assert_eq!(
            code(verifier.verify_statement(&text, "acme-cad", Environment::Live, &fp, "n2")),
            "nonce_mismatch",
            "a recorded statement cannot answer another request"
        );
        assert_eq!(
            code(verifier.verify_statement(&text, "acme-cad", Environment::Test, &fp, "n1")),
            "environment_mismatch"
        );
        assert_eq!(
            code(verifier.verify_statement(&text, "acme-cam", Environment::Live, &fp, "n1")),
            "product_mismatch"
        );
        let other = MachineId::new("feedfacefeedfacefeedfacefeedface", "t")
            .unwrap()
            .fingerprint("acme-cad");
        assert_eq!(
            code(verifier.verify_statement(&text, "acme-cad", Environment::Live, &other, "n1")),
            "fingerprint_mismatch"
        );
        let stranger = Verifier::new(vec![
            LicenseSigner::from_seed(&[1; 32]).public_key().clone(),
        ]);
        assert_eq!(
            code(stranger.verify_statement(&text, "acme-cad", Environment::Live, &fp, "n1")),
            "unknown_key_id"
        );
    }

    #[test]
    fn statements_and_licence_files_cannot_be_taken_for_each_other() {
        let (signer, verifier, fp, payload) = setup();
        let statement = signer.sign_statement(&payload).unwrap();
        // The statement's envelope re-armoured as a licence file: its signature was made under
        // the statement's context, so it fails as a licence file.
        let body: String = statement
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect::<Vec<_>>()
            .join("\n");
        let disguised = format!(
            "-----BEGIN LICENTRIC LICENSE FILE-----\n{body}\n-----END LICENTRIC LICENSE FILE-----\n"
        );
        let expect = Expectations {
            product_id: "acme-cad",
            environment: Environment::Live,
            fingerprint: &fp,
            nonce: Some("n1"),
        };
        assert_eq!(
            verifier
                .verify_stored(&disguised, &expect)
                .unwrap_err()
                .code(),
            "signature_invalid"
        );
        // And a licence file is not a statement.
        let at = datetime!(2026-12-01 12:00 UTC);
        let file = signer
            .sign(&crate::license_file::LicensePayload {
                license_id: "lic_1".into(),
                product_id: "acme-cad".into(),
                environment: Environment::Live,
                machine_id: "mach_1".into(),
                fingerprint: fp.as_str().into(),
                status: licentric_proto::LicenseStatus::Active,
                entitlements: vec![],
                max_machines: 1,
                license_expires_at: None,
                issued_at: at,
                expires_at: at + time::Duration::days(14),
                nonce: Some("n1".into()),
                check_interval: None,
            })
            .unwrap();
        assert_eq!(
            verifier
                .verify_statement(&file, "acme-cad", Environment::Live, &fp, "n1")
                .unwrap_err()
                .code(),
            "armor_invalid"
        );
    }
}

//! The activation request file, for machines with no network.
//!
//! Made on the offline machine (`licentric request-file`), carried to any connected device,
//! and submitted with the licence key to `POST /v1/offline-activations`; the licence file that
//! comes back is imported on the offline machine. It is armoured like a licence file
//! (`LICENTRIC ACTIVATION REQUEST`) around JSON, and holds no licence key.

use licentric_proto::Environment;
use licentric_proto::api::{MachineComponent, RunsIn};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::armor;
use crate::fingerprint::Fingerprint;

/// The armour label.
pub const LABEL: &str = "LICENTRIC ACTIVATION REQUEST";
/// The largest request accepted, armour included: 8 KiB.
pub const MAX_REQUEST_BYTES: usize = 8 * 1024;

/// The content of an activation request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivationRequestFile {
    /// Always 1.
    pub v: u32,
    /// The product.
    pub product_id: String,
    /// Test or live.
    pub environment: Environment,
    /// The offline machine's fingerprint.
    pub fingerprint: String,
    /// `linux`, `macos` or `windows`.
    pub platform: String,
    /// The machine's name.
    pub hostname: String,
    /// A fresh random value; the licence file that answers must carry it.
    pub nonce: String,
    /// When the request was made.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The machine's parts, each hashed for the product, as an online activation sends them
    /// (none from older companions).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<MachineComponent>,
    /// What the machine runs in, when not bare hardware.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runs_in: Option<RunsIn>,
}

/// Why a request file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestFileError {
    /// Not armoured as an activation request.
    #[error("not an activation request: {0}")]
    Armor(&'static str),
    /// The content is malformed.
    #[error("the activation request is invalid: {0}")]
    Content(String),
}

impl RequestFileError {
    /// The stable code: `armor_invalid` or `request_invalid`.
    pub const fn code(&self) -> &'static str {
        match self {
            RequestFileError::Armor(_) => "armor_invalid",
            RequestFileError::Content(_) => "request_invalid",
        }
    }
}

impl ActivationRequestFile {
    /// The armoured text.
    ///
    /// # Errors
    /// If `created_at` cannot be written as RFC 3339.
    pub fn to_armored(&self) -> Result<String, serde_json::Error> {
        Ok(armor::encode(LABEL, &serde_json::to_vec(self)?))
    }

    /// Reads and checks an armoured request.
    ///
    /// # Errors
    /// [`RequestFileError`] for bad armour, JSON, version, fingerprint, nonce or sizes.
    pub fn from_armored(text: &str) -> Result<ActivationRequestFile, RequestFileError> {
        let raw = armor::decode(LABEL, text, MAX_REQUEST_BYTES)
            .map_err(|e| RequestFileError::Armor(e.detail()))?;
        let request: ActivationRequestFile =
            serde_json::from_slice(&raw).map_err(|e| RequestFileError::Content(e.to_string()))?;
        let bad = |what: &str| Err(RequestFileError::Content(what.to_owned()));
        if request.v != 1 {
            return bad("unsupported version");
        }
        if Fingerprint::parse(&request.fingerprint).is_none() {
            return bad("fingerprint is not 64 lower-case hex characters");
        }
        if request.nonce.is_empty() || request.nonce.len() > crate::license_file::MAX_NONCE_LEN {
            return bad("nonce is empty or too long");
        }
        if request.product_id.is_empty()
            || request.product_id.len() > 128
            || request.hostname.len() > 255
            || request.platform.len() > 64
        {
            return bad("a field is empty or too long");
        }
        if !crate::components::well_formed(&request.components) {
            return bad("components must be at most 16 parts of a known kind with 64-hex hashes");
        }
        let texts = [&request.product_id, &request.hostname, &request.platform]
            .into_iter()
            .chain(request.runs_in.as_ref().map(|r| &r.name));
        for text in texts {
            if text.len() > 255 || text.chars().any(char::is_control) {
                return bad("a field is too long or has control characters");
            }
        }
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn sample() -> ActivationRequestFile {
        ActivationRequestFile {
            v: 1,
            product_id: "acme-cad".into(),
            environment: Environment::Test,
            fingerprint: "ab".repeat(32),
            platform: "linux".into(),
            hostname: "lab-07".into(),
            nonce: "00112233445566778899aabbccddeeff".into(),
            created_at: datetime!(2026-11-23 10:00 UTC),
            components: Vec::new(),
            runs_in: None,
        }
    }

    #[test]
    fn round_trips_and_holds_no_key() {
        let text = sample().to_armored().unwrap();
        assert!(text.starts_with("-----BEGIN LICENTRIC ACTIVATION REQUEST-----\n"));
        assert_eq!(
            ActivationRequestFile::from_armored(&text).unwrap(),
            sample()
        );
    }

    #[test]
    fn refuses_malformed_requests() {
        let mut r = sample();
        r.fingerprint = "xyz".into();
        let err = ActivationRequestFile::from_armored(&r.to_armored().unwrap()).unwrap_err();
        assert_eq!(err.code(), "request_invalid");
        let mut r = sample();
        r.v = 2;
        assert!(ActivationRequestFile::from_armored(&r.to_armored().unwrap()).is_err());
        let licence_label = sample()
            .to_armored()
            .unwrap()
            .replace("ACTIVATION REQUEST", "LICENSE FILE");
        assert_eq!(
            ActivationRequestFile::from_armored(&licence_label)
                .unwrap_err()
                .code(),
            "armor_invalid"
        );
    }
}

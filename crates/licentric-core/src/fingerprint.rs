//! The machine fingerprint: `hex(HMAC-SHA256(key = machine id, msg = "licentric.fingerprint.v1:" + product_id))`.
//!
//! This is the app-specific derivation systemd recommends for `sd_id128_get_machine_app_specific`:
//! the raw machine id never leaves the machine, and two products see unrelated fingerprints.
//! The machine id comes through a [`MachineIdSource`]: the platform layer
//! (`licentric-platform`) reads it from the operating system (`/etc/machine-id`,
//! `IOPlatformUUID`, `MachineGuid`); tests use a [`FixedMachineId`]. It is trimmed and
//! lower-cased; the key is that text's bytes. This module does no I/O.

use std::fmt;

use zeroize::Zeroizing;

const DERIVATION_LABEL: &str = "licentric.fingerprint.v1:";

/// Why the machine id could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FingerprintError {
    /// No source had a machine id.
    #[error("no machine id found (looked in {looked_in})")]
    NotFound {
        /// Where it looked.
        looked_in: String,
    },
    /// A source had something that is not a machine id.
    #[error("the machine id in {source_name} is malformed")]
    Malformed {
        /// The source.
        source_name: String,
    },
}

impl FingerprintError {
    /// The stable code: `machine_id_not_found` or `machine_id_malformed`.
    pub const fn code(&self) -> &'static str {
        match self {
            FingerprintError::NotFound { .. } => "machine_id_not_found",
            FingerprintError::Malformed { .. } => "machine_id_malformed",
        }
    }
}

/// A machine id: secret to this machine, never shown, wiped on drop.
#[derive(Clone)]
pub struct MachineId(Zeroizing<String>);

impl MachineId {
    /// A machine id from its text: trimmed and lower-cased.
    ///
    /// # Errors
    /// [`FingerprintError::Malformed`] if it is empty, longer than 256 bytes, all zeros, or
    /// has characters outside `0-9a-z-{}`.
    pub fn new(text: &str, source_name: &str) -> Result<MachineId, FingerprintError> {
        let id = text.trim().to_ascii_lowercase();
        let well_formed = !id.is_empty()
            && id.len() <= 256
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'{' | b'}'))
            && id.bytes().any(|b| b.is_ascii_alphanumeric() && b != b'0');
        if well_formed {
            Ok(MachineId(Zeroizing::new(id)))
        } else {
            Err(FingerprintError::Malformed {
                source_name: source_name.to_owned(),
            })
        }
    }

    /// The machine id as one of the machine's components (for tolerant matching).
    pub fn component(&self) -> Option<crate::components::RawComponent> {
        crate::components::RawComponent::new(crate::components::ComponentKind::MachineId, &self.0)
    }

    /// This machine's fingerprint for `product_id`.
    pub fn fingerprint(&self, product_id: &str) -> Fingerprint {
        let mac = crate::hmac_sha256(
            self.0.as_bytes(),
            &[DERIVATION_LABEL.as_bytes(), product_id.as_bytes()],
        );
        Fingerprint(crate::hex::encode(&mac))
    }
}

impl fmt::Debug for MachineId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MachineId(<redacted>)")
    }
}

/// A machine fingerprint: 64 lower-case hex characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fingerprint(String);

impl Fingerprint {
    /// Checks a fingerprint received from elsewhere (a request file, an API body).
    pub fn parse(text: &str) -> Option<Fingerprint> {
        crate::hex::is_lower_hex(text, 64).then(|| Fingerprint(text.to_owned()))
    }

    /// The 64 hex characters.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 12 characters, grouped for reading aloud: `3f9a-c2e1-07bd`.
    pub fn short(&self) -> String {
        format!("{}-{}-{}", &self.0[0..4], &self.0[4..8], &self.0[8..12])
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where the machine id comes from.
pub trait MachineIdSource: Send + Sync {
    /// Reads the machine id.
    ///
    /// # Errors
    /// When no id can be read.
    fn machine_id(&self) -> Result<MachineId, FingerprintError>;
}

/// A fixed machine id: tests, and the test environment's `LICENTRIC_MACHINE_ID` override.
#[derive(Debug, Clone)]
pub struct FixedMachineId(pub String);

impl MachineIdSource for FixedMachineId {
    fn machine_id(&self) -> Result<MachineId, FingerprintError> {
        MachineId::new(&self.0, "a fixed machine id")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derivation_matches_an_independent_hmac() {
        // Computed with Python: hmac.new(b"0123456789abcdef0123456789abcdef",
        //   b"licentric.fingerprint.v1:acme-cad", hashlib.sha256).hexdigest()
        let id = MachineId::new("0123456789ABCDEF0123456789abcdef\n", "test").unwrap();
        assert_eq!(
            id.fingerprint("acme-cad").as_str(),
            "d5220bc30cb94644a2d3237328cf64fe56a8c8dfbf581ec170585a5bb62d5884"
        );
    }

    #[test]
    fn products_get_unrelated_fingerprints() {
        let id = MachineId::new("0123456789abcdef0123456789abcdef", "test").unwrap();
        assert_ne!(id.fingerprint("acme-cad"), id.fingerprint("acme-cam"));
        assert!(Fingerprint::parse(id.fingerprint("x").as_str()).is_some());
    }

    #[test]
    fn malformed_ids_are_refused() {
        for bad in [
            "",
            "  \n",
            "00000000000000000000000000000000",
            "abc def",
            "ab\0cd",
        ] {
            assert!(MachineId::new(bad, "t").is_err(), "{bad:?}");
        }
        assert!(format!("{:?}", MachineId::new("abcd", "t").unwrap()).contains("redacted"));
    }
}

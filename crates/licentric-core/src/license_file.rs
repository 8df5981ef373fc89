//! The offline licence file v1: Ed25519-signed, bound to a machine, valid for a TTL.
//!
//! ```text
//! -----BEGIN LICENTRIC LICENSE FILE-----
//! base64({"v":1,"alg":"ed25519","kid":"…","payload":"<base64url>","sig":"<base64url>"})
//! -----END LICENTRIC LICENSE FILE-----
//! ```
//!
//! The signed bytes are `licentric.license-file.v1\n` followed by the payload's JSON bytes,
//! exactly as carried in `payload`. [`LicenseSigner`] makes files (the server); a [`Verifier`]
//! holding the vendor's [`TrustedKey`]s checks them, in this order, each failure with its own
//! [`VerifyError`] and stable code:
//!
//! armour → envelope → known `kid` → signature → payload → product → environment →
//! fingerprint → nonce (for an answer to a request) → `issued_at` not ahead of the clock by
//! more than 5 minutes → *(the entitlement checks)* not past `expires_at` → clock guard →
//! status → licence expiry.
//!
//! [`Verifier::verify`] runs the checks up to the clock and yields a [`VerifiedLicense`], the
//! only way to get one. A verified file can be cached and shown even when it no longer
//! entitles (a suspended licence, an expired offline period);
//! [`VerifiedLicense::check_entitled`] runs the rest. [`Verifier::verify_entitled`] runs all.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use licentric_proto::{Environment, LicenseStatus};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

use crate::armor;
use crate::clock::ClockGuard;
use crate::fingerprint::Fingerprint;
use crate::random::{RandomError, SecureRandom};

/// The armour label.
pub const LABEL: &str = "LICENTRIC LICENSE FILE";
/// The domain-separation prefix of the signed bytes.
pub const SIGNING_CONTEXT: &[u8] = b"licentric.license-file.v1\n";
/// The largest licence file accepted, armour included: 16 KiB.
pub const MAX_FILE_BYTES: usize = 16 * 1024;
/// How far `issued_at` may be ahead of the local clock: 5 minutes.
pub const FUTURE_TOLERANCE: Duration = Duration::minutes(5);
/// Longest nonce accepted in a payload.
pub const MAX_NONCE_LEN: usize = 128;
const MAX_ENTITLEMENTS: usize = 256;
const MAX_NAME_LEN: usize = 128;

/// The signed content of a licence file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LicensePayload {
    /// The licence's id on the server.
    pub license_id: String,
    /// The vendor's product id.
    pub product_id: String,
    /// Test or live.
    pub environment: Environment,
    /// The machine's id on the server.
    pub machine_id: String,
    /// The fingerprint the file is bound to.
    pub fingerprint: String,
    /// The licence's status when the file was issued.
    pub status: LicenseStatus,
    /// Entitlement codes.
    pub entitlements: Vec<String>,
    /// Seats on the licence.
    pub max_machines: u32,
    /// When the licence itself expires; `null` for never.
    #[serde(with = "time::serde::rfc3339::option")]
    pub license_expires_at: Option<OffsetDateTime>,
    /// When the file was issued; offline time counts from here.
    #[serde(with = "time::serde::rfc3339")]
    pub issued_at: OffsetDateTime,
    /// `issued_at` + TTL: the end of the offline period.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// The request's nonce, or `null` for a file issued out of band.
    pub nonce: Option<String>,
    /// How often, in seconds, a machine whose software is in use confirms online that the
    /// licence still stands (the vendor's policy; absent: the companion's default, an hour).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_interval: Option<u64>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    v: u32,
    alg: String,
    kid: String,
    payload: String,
    sig: String,
}

/// A key id: the first 8 bytes of SHA-256 of the public key, as 16 hex characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyId(String);

impl KeyId {
    fn of(key: &VerifyingKey) -> KeyId {
        let digest = Sha256::digest(key.as_bytes());
        KeyId(crate::hex::encode(&digest[..8]))
    }

    /// The 16 hex characters.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A vendor's public signing key, trusted to sign licence files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedKey {
    key: VerifyingKey,
    kid: KeyId,
}

/// A public key that is not a valid Ed25519 key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an Ed25519 public key (expected 64 hex characters of a valid curve point)")]
pub struct InvalidPublicKey;

impl TrustedKey {
    /// From the 32 bytes of the key.
    ///
    /// # Errors
    /// [`InvalidPublicKey`] for bytes that are not a curve point.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<TrustedKey, InvalidPublicKey> {
        let key = VerifyingKey::from_bytes(bytes).map_err(|_| InvalidPublicKey)?;
        if key.is_weak() {
            return Err(InvalidPublicKey);
        }
        Ok(TrustedKey {
            kid: KeyId::of(&key),
            key,
        })
    }

    /// From 64 hex characters, the form used in `companion.toml`.
    ///
    /// # Errors
    /// [`InvalidPublicKey`] for anything else.
    pub fn from_hex(text: &str) -> Result<TrustedKey, InvalidPublicKey> {
        let bytes = crate::hex::decode_array::<32>(text.trim()).ok_or(InvalidPublicKey)?;
        TrustedKey::from_bytes(&bytes)
    }

    /// The key id.
    pub fn kid(&self) -> &KeyId {
        &self.kid
    }

    /// The key as 64 hex characters.
    pub fn to_hex(&self) -> String {
        crate::hex::encode(self.key.as_bytes())
    }

    /// The key's 32 bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.key.to_bytes()
    }
}

/// Signs licence files (the server's side).
pub struct LicenseSigner {
    key: SigningKey,
    public: TrustedKey,
}

impl LicenseSigner {
    /// From a 32-byte Ed25519 seed.
    pub fn from_seed(seed: &[u8; 32]) -> LicenseSigner {
        let key = SigningKey::from_bytes(seed);
        let verifying = key.verifying_key();
        LicenseSigner {
            public: TrustedKey {
                kid: KeyId::of(&verifying),
                key: verifying,
            },
            key,
        }
    }

    /// A new key from `rng`.
    ///
    /// # Errors
    /// When the random source fails.
    pub fn generate(rng: &mut dyn SecureRandom) -> Result<LicenseSigner, RandomError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        rng.fill(seed.as_mut())?;
        Ok(LicenseSigner::from_seed(&seed))
    }

    /// The seed, to store (the caller keeps it secret).
    pub fn seed(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.key.to_bytes())
    }

    /// The public key to give the companion.
    pub fn public_key(&self) -> &TrustedKey {
        &self.public
    }

    /// Signs `payload` into an armoured licence file.
    ///
    /// # Errors
    /// If the payload cannot be serialised (a timestamp outside RFC 3339's range).
    pub fn sign(&self, payload: &LicensePayload) -> Result<String, serde_json::Error> {
        self.sign_envelope(LABEL, SIGNING_CONTEXT, &serde_json::to_vec(payload)?)
    }

    /// Signs `payload_bytes` under the domain-separation `context` into an armoured envelope
    /// labelled `label`: the one signing path of every signed document (licence files,
    /// statements), so each has its own context and cannot be taken for another.
    pub(crate) fn sign_envelope(
        &self,
        label: &str,
        context: &[u8],
        payload_bytes: &[u8],
    ) -> Result<String, serde_json::Error> {
        use ed25519_dalek::Signer as _;
        let mut message = Vec::with_capacity(context.len() + payload_bytes.len());
        message.extend_from_slice(context);
        message.extend_from_slice(payload_bytes);
        let sig = self.key.sign(&message);
        let envelope = Envelope {
            v: 1,
            alg: "ed25519".to_owned(),
            kid: self.public.kid.0.clone(),
            payload: URL_SAFE_NO_PAD.encode(payload_bytes),
            sig: URL_SAFE_NO_PAD.encode(sig.to_bytes()),
        };
        Ok(armor::encode(label, &serde_json::to_vec(&envelope)?))
    }
}

impl fmt::Debug for LicenseSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LicenseSigner")
            .field("kid", &self.public.kid)
            .finish_non_exhaustive()
    }
}

/// Why a licence file was refused. Each check has its own variant and [`code`](Self::code).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// Not armoured as a licence file (or too large).
    #[error("not a licence file: {0}")]
    Armor(&'static str),
    /// The envelope is not version-1 Ed25519 JSON.
    #[error("the licence file's envelope is invalid: {0}")]
    Envelope(String),
    /// Signed by a key the companion does not trust.
    #[error("the licence file was signed by an unknown key ({kid})")]
    UnknownKey {
        /// The file's key id.
        kid: String,
    },
    /// The signature does not match.
    #[error("the licence file's signature is invalid")]
    Signature,
    /// The signed payload is malformed.
    #[error("the licence file's content is invalid: {0}")]
    Payload(String),
    /// For another product.
    #[error("the licence file is for product {found:?}, not {expected:?}")]
    ProductMismatch {
        /// This product.
        expected: String,
        /// The file's.
        found: String,
    },
    /// For the other environment (a test file in a live app, or the reverse).
    #[error("the licence file is for the {found} environment, not {expected}")]
    EnvironmentMismatch {
        /// This app's.
        expected: Environment,
        /// The file's.
        found: Environment,
    },
    /// Bound to another machine.
    #[error("the licence file belongs to another machine")]
    FingerprintMismatch,
    /// Not the answer to this request (a replayed answer).
    #[error("the licence file does not answer this request")]
    NonceMismatch,
    /// Issued more than 5 minutes in the future by the local clock.
    #[error("the licence file was issued in the future ({issued_at}); check the system clock")]
    IssuedInFuture {
        /// The file's `issued_at`.
        issued_at: OffsetDateTime,
    },
    /// The offline period is over.
    #[error("the licence file ran out at {expires_at}; connect to refresh it")]
    FileExpired {
        /// The file's `expires_at`.
        expires_at: OffsetDateTime,
    },
    /// The clock is more than an hour behind the latest time seen.
    #[error("the system clock was turned back; connect once to the server to clear this")]
    ClockTampered,
    /// The licence is suspended.
    #[error("the licence is suspended")]
    LicenseSuspended,
    /// The licence is revoked.
    #[error("the licence is revoked")]
    LicenseRevoked,
    /// The server signed the licence as expired.
    #[error("the licence has expired")]
    LicenseExpired,
    /// The licence's own expiry date has passed.
    #[error("the licence expired at {at}")]
    LicenseExpiryReached {
        /// The licence's expiry.
        at: OffsetDateTime,
    },
    /// Issued earlier than the cached file it would replace.
    #[error("the licence file is older than the one already installed")]
    OlderThanCached,
}

impl VerifyError {
    /// The stable code.
    pub const fn code(&self) -> &'static str {
        match self {
            VerifyError::Armor(_) => "armor_invalid",
            VerifyError::Envelope(_) => "envelope_invalid",
            VerifyError::UnknownKey { .. } => "unknown_key_id",
            VerifyError::Signature => "signature_invalid",
            VerifyError::Payload(_) => "payload_invalid",
            VerifyError::ProductMismatch { .. } => "product_mismatch",
            VerifyError::EnvironmentMismatch { .. } => "environment_mismatch",
            VerifyError::FingerprintMismatch => "fingerprint_mismatch",
            VerifyError::NonceMismatch => "nonce_mismatch",
            VerifyError::IssuedInFuture { .. } => "issued_in_future",
            VerifyError::FileExpired { .. } => "file_expired",
            VerifyError::ClockTampered => "clock_tampered",
            VerifyError::LicenseSuspended => "license_suspended",
            VerifyError::LicenseRevoked => "license_revoked",
            VerifyError::LicenseExpired => "license_expired",
            VerifyError::LicenseExpiryReached { .. } => "license_expiry_reached",
            VerifyError::OlderThanCached => "older_than_cached",
        }
    }

    /// Every code, for documentation and tests.
    pub const CODES: &'static [&'static str] = &[
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
    ];
}

/// What a licence file must match on this machine.
#[derive(Debug, Clone, Copy)]
pub struct Expectations<'a> {
    /// This product.
    pub product_id: &'a str,
    /// This app's environment.
    pub environment: Environment,
    /// This machine's fingerprint for the product.
    pub fingerprint: &'a Fingerprint,
    /// The nonce of the request this file answers, or `None` for a cached or imported file.
    ///
    /// A file that carries our own fresh nonce was just issued by the server, so the
    /// "issued in the future" check is skipped for it: a local clock running behind must not
    /// refuse a fresh answer (the clock guard deals with a clock that is far off).
    pub nonce: Option<&'a str>,
}

/// What a signed document says it is bound to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bound<'a> {
    pub(crate) product_id: &'a str,
    pub(crate) environment: Environment,
    pub(crate) fingerprint: &'a str,
    pub(crate) nonce: Option<&'a str>,
    pub(crate) issued_at: OffsetDateTime,
}

impl Expectations<'_> {
    /// The binding checks, in the documented order: product → environment → fingerprint →
    /// nonce (for an answer to a request) or, for a cached or imported file, `issued_at` not
    /// ahead of `now` by more than [`FUTURE_TOLERANCE`].
    pub(crate) fn check_binding(
        &self,
        bound: Bound<'_>,
        now: Option<OffsetDateTime>,
    ) -> Result<(), VerifyError> {
        if bound.product_id != self.product_id {
            return Err(VerifyError::ProductMismatch {
                expected: self.product_id.to_owned(),
                found: bound.product_id.to_owned(),
            });
        }
        if bound.environment != self.environment {
            return Err(VerifyError::EnvironmentMismatch {
                expected: self.environment,
                found: bound.environment,
            });
        }
        if !crate::ct_eq_str(bound.fingerprint, self.fingerprint.as_str()) {
            return Err(VerifyError::FingerprintMismatch);
        }
        match self.nonce {
            Some(nonce) => {
                if !bound.nonce.is_some_and(|n| crate::ct_eq_str(n, nonce)) {
                    return Err(VerifyError::NonceMismatch);
                }
            }
            None => {
                if let Some(now) = now
                    && bound.issued_at > now + FUTURE_TOLERANCE
                {
                    return Err(VerifyError::IssuedInFuture {
                        issued_at: bound.issued_at,
                    });
                }
            }
        }
        Ok(())
    }
}

/// Checks licence files against the vendor's trusted keys.
#[derive(Debug, Clone)]
pub struct Verifier {
    keys: Vec<TrustedKey>,
}

impl Verifier {
    /// A verifier trusting `keys` (several during a key rotation).
    pub fn new(keys: Vec<TrustedKey>) -> Verifier {
        Verifier { keys }
    }

    /// The trusted keys.
    pub fn keys(&self) -> &[TrustedKey] {
        &self.keys
    }

    /// Checks raw bytes (a file read from disk); non-UTF-8 is an armour error.
    ///
    /// # Errors
    /// As [`verify`](Self::verify).
    pub fn verify_bytes(
        &self,
        bytes: &[u8],
        expect: &Expectations<'_>,
        now: OffsetDateTime,
    ) -> Result<VerifiedLicense, VerifyError> {
        if bytes.len() > MAX_FILE_BYTES {
            return Err(VerifyError::Armor(armor::ArmorError::TooLarge.detail()));
        }
        let text = std::str::from_utf8(bytes).map_err(|_| VerifyError::Armor("not UTF-8 text"))?;
        self.verify(text, expect, now)
    }

    /// Checks authenticity and binding: everything up to and including "not issued in the
    /// future". The result may still not entitle; see [`VerifiedLicense::check_entitled`].
    ///
    /// # Errors
    /// The first check that fails, in the documented order.
    pub fn verify(
        &self,
        text: &str,
        expect: &Expectations<'_>,
        now: OffsetDateTime,
    ) -> Result<VerifiedLicense, VerifyError> {
        self.verify_inner(text, expect, Some(now))
    }

    /// Checks a file this companion verified and stored earlier (its own cache): every check
    /// of [`verify`](Self::verify) but "issued in the future". The file's `issued_at` is in the
    /// clock guard's high-water mark, so a clock turned back is reported as `clock_tampered`
    /// by the guard (with its one-hour tolerance) rather than as a broken file.
    ///
    /// # Errors
    /// The first check that fails.
    pub fn verify_stored(
        &self,
        text: &str,
        expect: &Expectations<'_>,
    ) -> Result<VerifiedLicense, VerifyError> {
        self.verify_inner(text, expect, None)
    }

    /// The armour, envelope, known `kid` and signature checks shared by every signed document:
    /// the payload's bytes and the key that signed them.
    pub(crate) fn open_envelope(
        &self,
        label: &str,
        context: &[u8],
        text: &str,
        max_bytes: usize,
    ) -> Result<(Vec<u8>, &TrustedKey), VerifyError> {
        let raw =
            armor::decode(label, text, max_bytes).map_err(|e| VerifyError::Armor(e.detail()))?;
        let envelope: Envelope =
            serde_json::from_slice(&raw).map_err(|e| VerifyError::Envelope(e.to_string()))?;
        if envelope.v != 1 {
            return Err(VerifyError::Envelope(format!(
                "unsupported version {}",
                envelope.v
            )));
        }
        if envelope.alg != "ed25519" {
            return Err(VerifyError::Envelope(format!(
                "unsupported algorithm {:?}",
                envelope.alg
            )));
        }
        let payload_bytes = URL_SAFE_NO_PAD
            .decode(envelope.payload.as_bytes())
            .map_err(|_| VerifyError::Envelope("payload is not base64url".into()))?;
        let sig_bytes: [u8; 64] = URL_SAFE_NO_PAD
            .decode(envelope.sig.as_bytes())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| VerifyError::Envelope("sig is not 64 bytes of base64url".into()))?;
        let key = self
            .keys
            .iter()
            .find(|k| k.kid.0 == envelope.kid)
            .ok_or_else(|| VerifyError::UnknownKey {
                kid: envelope.kid.chars().take(32).collect(),
            })?;
        let mut message = Vec::with_capacity(context.len() + payload_bytes.len());
        message.extend_from_slice(context);
        message.extend_from_slice(&payload_bytes);
        key.key
            .verify_strict(&message, &Signature::from_bytes(&sig_bytes))
            .map_err(|_| VerifyError::Signature)?;
        Ok((payload_bytes, key))
    }

    fn verify_inner(
        &self,
        text: &str,
        expect: &Expectations<'_>,
        now: Option<OffsetDateTime>,
    ) -> Result<VerifiedLicense, VerifyError> {
        let (payload_bytes, key) =
            self.open_envelope(LABEL, SIGNING_CONTEXT, text, MAX_FILE_BYTES)?;

        let payload: LicensePayload = serde_json::from_slice(&payload_bytes)
            .map_err(|e| VerifyError::Payload(e.to_string()))?;
        check_payload_shape(&payload)?;

        expect.check_binding(
            Bound {
                product_id: &payload.product_id,
                environment: payload.environment,
                fingerprint: &payload.fingerprint,
                nonce: payload.nonce.as_deref(),
                issued_at: payload.issued_at,
            },
            now,
        )?;

        Ok(VerifiedLicense {
            payload,
            armored: text.to_owned(),
            kid: key.kid.clone(),
        })
    }

    /// Every check, entitlement included: what a local app needs before it unlocks a feature.
    ///
    /// # Errors
    /// The first check that fails, in the documented order. Without a `guard` the clock-guard
    /// check is skipped (a client with no state of its own).
    pub fn verify_entitled(
        &self,
        text: &str,
        expect: &Expectations<'_>,
        now: OffsetDateTime,
        guard: Option<&ClockGuard>,
    ) -> Result<VerifiedLicense, VerifyError> {
        let verified = self.verify(text, expect, now)?;
        verified.check_entitled(now, guard)?;
        Ok(verified)
    }
}

fn check_payload_shape(p: &LicensePayload) -> Result<(), VerifyError> {
    let bad = |what: &str| Err(VerifyError::Payload(what.to_owned()));
    if p.license_id.is_empty() || p.license_id.len() > MAX_NAME_LEN {
        return bad("license_id is empty or too long");
    }
    if p.machine_id.is_empty() || p.machine_id.len() > MAX_NAME_LEN {
        return bad("machine_id is empty or too long");
    }
    if Fingerprint::parse(&p.fingerprint).is_none() {
        return bad("fingerprint is not 64 lower-case hex characters");
    }
    if p.expires_at <= p.issued_at {
        return bad("expires_at is not after issued_at");
    }
    if p.entitlements.len() > MAX_ENTITLEMENTS
        || p.entitlements
            .iter()
            .any(|e| e.is_empty() || e.len() > MAX_NAME_LEN)
    {
        return bad("entitlements are malformed");
    }
    if p.nonce
        .as_ref()
        .is_some_and(|n| n.is_empty() || n.len() > MAX_NONCE_LEN)
    {
        return bad("nonce is empty or too long");
    }
    Ok(())
}

/// A licence file whose signature, product, environment and machine binding were checked.
/// Only [`Verifier::verify`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedLicense {
    payload: LicensePayload,
    armored: String,
    kid: KeyId,
}

impl VerifiedLicense {
    /// The signed content.
    pub fn payload(&self) -> &LicensePayload {
        &self.payload
    }

    /// The file as received, to cache or hand to a local app.
    pub fn armored(&self) -> &str {
        &self.armored
    }

    /// The id of the key that signed it.
    pub fn kid(&self) -> &KeyId {
        &self.kid
    }

    /// The remaining checks, in order: not past `expires_at`, clock guard, status, licence
    /// expiry.
    ///
    /// # Errors
    /// The first that fails.
    pub fn check_entitled(
        &self,
        now: OffsetDateTime,
        guard: Option<&ClockGuard>,
    ) -> Result<(), VerifyError> {
        let p = &self.payload;
        if now >= p.expires_at {
            return Err(VerifyError::FileExpired {
                expires_at: p.expires_at,
            });
        }
        if guard.is_some_and(|g| g.is_tampered_at(now)) {
            return Err(VerifyError::ClockTampered);
        }
        self.check_status()?;
        self.check_license_expiry(now)
    }

    /// The signed status as an error, if it is not `active`.
    ///
    /// # Errors
    /// [`VerifyError::LicenseSuspended`], [`VerifyError::LicenseRevoked`] or
    /// [`VerifyError::LicenseExpired`].
    pub fn check_status(&self) -> Result<(), VerifyError> {
        match self.payload.status {
            LicenseStatus::Active => Ok(()),
            LicenseStatus::Suspended => Err(VerifyError::LicenseSuspended),
            LicenseStatus::Revoked => Err(VerifyError::LicenseRevoked),
            LicenseStatus::Expired => Err(VerifyError::LicenseExpired),
        }
    }

    /// Whether the licence's own expiry date has passed.
    ///
    /// # Errors
    /// [`VerifyError::LicenseExpiryReached`].
    pub fn check_license_expiry(&self, now: OffsetDateTime) -> Result<(), VerifyError> {
        match self.payload.license_expires_at {
            Some(at) if now >= at => Err(VerifyError::LicenseExpiryReached { at }),
            _ => Ok(()),
        }
    }

    /// Whether this file may replace `cached`: never by one issued earlier, so an old
    /// "active" answer cannot roll back a newer file (a suspension, say).
    ///
    /// # Errors
    /// [`VerifyError::OlderThanCached`].
    pub fn may_replace(&self, cached: Option<&VerifiedLicense>) -> Result<(), VerifyError> {
        match cached {
            Some(cached) if self.payload.issued_at < cached.payload.issued_at => {
                Err(VerifyError::OlderThanCached)
            }
            _ => Ok(()),
        }
    }
}

//! Secrets at rest: the data key (AES-256-GCM for recoverable secrets, HMAC for lookup
//! hashes of API keys), random ids and tokens.
//!
//! The data key lives apart from the database (its own 0600 file, or `LICENTRIC_DATA_KEY`),
//! so a stolen database reveals neither raw licence keys, nor API keys, nor webhook secrets.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use licentric_core::OsRandom;
use licentric_core::hmac_sha256;
use licentric_core::random::{RandomError, SecureRandom};
use zeroize::Zeroizing;

const NONCE_LEN: usize = 12;
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// Encryption or decryption at rest failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// The random source failed.
    #[error(transparent)]
    Random(#[from] RandomError),
    /// A ciphertext did not authenticate: wrong key, or the data was altered or moved.
    #[error("a stored secret failed to decrypt (wrong data key, or the database was altered)")]
    Decrypt,
}

/// The server's data key, with its two derived keys.
pub struct DataKey {
    cipher: Aes256Gcm,
    hash_key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

impl DataKey {
    /// From the 32-byte master key.
    pub fn new(master: &[u8; 32]) -> DataKey {
        let enc = Zeroizing::new(hmac_sha256(master, &[b"licentric.server.encryption.v1"]));
        let hash_key = Zeroizing::new(hmac_sha256(master, &[b"licentric.server.token-hash.v1"]));
        DataKey {
            cipher: Aes256Gcm::new(&(*enc).into()),
            hash_key,
        }
    }

    /// Encrypts `plaintext`, bound to `context` (the row it belongs to) so a ciphertext moved to
    /// another row fails to decrypt. Output: 12-byte random nonce, then ciphertext and tag.
    ///
    /// # Errors
    /// When the random source fails.
    pub fn encrypt(&self, plaintext: &[u8], context: &str) -> Result<Vec<u8>, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        OsRandom.fill(&mut nonce)?;
        let sealed = self
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::Decrypt)?;
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Decrypts what [`encrypt`](Self::encrypt) made for the same `context`.
    ///
    /// # Errors
    /// [`CryptoError::Decrypt`] when it does not authenticate.
    pub fn decrypt(&self, blob: &[u8], context: &str) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if blob.len() < NONCE_LEN {
            return Err(CryptoError::Decrypt);
        }
        let (nonce, sealed) = blob.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| CryptoError::Decrypt)?;
        self.cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: sealed,
                    aad: context.as_bytes(),
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| CryptoError::Decrypt)
    }

    /// The keyed lookup hash of an API key: without the data key, a stolen hash cannot even
    /// be used to test guesses.
    pub fn token_hash(&self, token: &str) -> [u8; 32] {
        hmac_sha256(self.hash_key.as_ref(), &[token.as_bytes()])
    }
}

/// `prefix_` followed by 20 random characters (100 bits): ids of rows.
///
/// # Errors
/// When the random source fails.
pub fn new_id(prefix: &str) -> Result<String, RandomError> {
    Ok(format!("{prefix}_{}", random_chars(20)?))
}

/// `len` random characters of lower-case Crockford base32.
///
/// # Errors
/// When the random source fails.
pub fn random_chars(len: usize) -> Result<String, RandomError> {
    let mut bytes = Zeroizing::new(vec![0u8; len]);
    OsRandom.fill(&mut bytes)?;
    Ok(bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(b & 31)]))
        .collect())
}

/// HMAC-SHA256 of a webhook body, hex: the `X-Licentric-Signature` header.
pub fn webhook_signature(secret: &[u8], body: &[u8]) -> String {
    licentric_core::hex::encode(&hmac_sha256(secret, &[body]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_in_their_own_row() {
        let key = DataKey::new(&[1; 32]);
        let blob = key
            .encrypt(b"ACME-7QX2-M4KD-9PZT-H3WC", "license:lic_1")
            .unwrap();
        assert_eq!(
            key.decrypt(&blob, "license:lic_1").unwrap().as_slice(),
            b"ACME-7QX2-M4KD-9PZT-H3WC"
        );
        assert!(
            key.decrypt(&blob, "license:lic_2").is_err(),
            "moved to another row"
        );
        assert!(
            DataKey::new(&[2; 32])
                .decrypt(&blob, "license:lic_1")
                .is_err(),
            "another data key"
        );
        let again = key
            .encrypt(b"ACME-7QX2-M4KD-9PZT-H3WC", "license:lic_1")
            .unwrap();
        assert_ne!(blob, again, "a fresh nonce per record");
        let mut flipped = blob.clone();
        flipped[20] ^= 1;
        assert!(key.decrypt(&flipped, "license:lic_1").is_err());
    }

    #[test]
    fn webhook_signature_matches_the_documented_recipe() {
        // Python: hmac.new(b"whsec_test", b'{"a":1}', hashlib.sha256).hexdigest()
        assert_eq!(
            webhook_signature(b"whsec_test", br#"{"a":1}"#),
            "51426af50a41dd7ff2cd3f116594734766d4018d15d6fb07169aee5d2959adf5"
        );
    }

    #[test]
    fn ids_are_prefixed_and_distinct() {
        let a = new_id("lic").unwrap();
        assert!(a.starts_with("lic_") && a.len() == 24, "{a}");
        assert_ne!(a, new_id("lic").unwrap());
    }
}

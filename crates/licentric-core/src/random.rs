//! Randomness behind a small trait, so tests can control it.

/// The operating system's CSPRNG could not be read.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the system's random number generator failed: {0}")]
pub struct RandomError(String);

/// A cryptographically secure source of random bytes.
pub trait SecureRandom {
    /// Fills `dest` with random bytes.
    ///
    /// # Errors
    /// When the source fails; callers must not fall back to weaker randomness.
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), RandomError>;
}

/// The operating system's CSPRNG (`getrandom`): the one production implementation.
#[derive(Debug, Clone, Copy, Default)]
pub struct OsRandom;

impl SecureRandom for OsRandom {
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), RandomError> {
        getrandom::fill(dest).map_err(|e| RandomError(e.to_string()))
    }
}

/// A random value of 128 bits, hex-encoded, for request nonces and idempotency keys.
///
/// # Errors
/// When the random source fails.
pub fn random_hex_128(rng: &mut dyn SecureRandom) -> Result<String, RandomError> {
    let mut bytes = [0u8; 16];
    rng.fill(&mut bytes)?;
    Ok(crate::hex::encode(&bytes))
}

/// A uniformly distributed number in `[-1.0, 1.0]`, for jitter.
///
/// # Errors
/// When the random source fails.
pub fn random_unit_signed(rng: &mut dyn SecureRandom) -> Result<f64, RandomError> {
    let mut bytes = [0u8; 8];
    rng.fill(&mut bytes)?;
    // 53 random bits give every representable step of [0, 1).
    let unit = (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64;
    Ok(unit * 2.0 - 1.0)
}

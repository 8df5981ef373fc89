//! The signing keys: one `current` key signs every new file and statement; `next` keys are
//! published ahead of a rotation (so the vendor can ship them in the companion first);
//! `previous` keys stay published while files they signed may still be in use; `retired`
//! keys are gone from the published list. Seeds are sealed with the data key in the database;
//! the first key comes from `keys/signing.key`, adopted on the first start.
//!
//! The running server notices a rotation made by the CLI at its next signature (one indexed
//! look-up of the current kid in the request's transaction), so new files use the new key at
//! once.

use std::sync::{Arc, RwLock};

use crate::crypto::DataKey;
use crate::store::signing_keys::{self as table, SigningKeyRow};
use crate::store::{Db, StoreError, Tx};
use licentric_core::{LicenseSigner, OsRandom};

/// Where a signing key is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    /// Published ahead of a rotation; signs nothing yet.
    Next,
    /// Signs every new file and statement.
    Current,
    /// Signed before the last rotation; still published.
    Previous,
    /// No longer published.
    Retired,
}

impl KeyStatus {
    /// The stored and published word.
    pub const fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Next => "next",
            KeyStatus::Current => "current",
            KeyStatus::Previous => "previous",
            KeyStatus::Retired => "retired",
        }
    }

    fn parse(text: &str) -> Result<KeyStatus, StoreError> {
        match text {
            "next" => Ok(KeyStatus::Next),
            "current" => Ok(KeyStatus::Current),
            "previous" => Ok(KeyStatus::Previous),
            "retired" => Ok(KeyStatus::Retired),
            other => Err(StoreError::Corrupt(format!(
                "{other:?} is not a signing key's status"
            ))),
        }
    }
}

/// A signing key as listed (never its seed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// Its key id (as in every envelope it signs).
    pub kid: String,
    /// The Ed25519 public key, 64 hex characters (for the companion's `trusted_keys`).
    pub public_key: String,
    /// Where it is in its life.
    pub status: KeyStatus,
    /// When it was made.
    pub created_at: i64,
}

/// What a key operation refused.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// No key with that id.
    #[error("no signing key {0}")]
    Unknown(String),
    /// Retiring the key that signs would leave nothing to sign with.
    #[error("{0} is the current signing key; rotate to another before retiring it")]
    Current(String),
    /// Only a `next` key can become current.
    #[error("{0} is {1}, not a next key; `keys new` makes one to rotate to")]
    NotNext(String, &'static str),
    /// Storage.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn aad(kid: &str) -> String {
    format!("signing-key:{kid}")
}

fn insert(
    tx: &Tx<'_>,
    data_key: &DataKey,
    signer: &LicenseSigner,
    status: KeyStatus,
    now: i64,
) -> Result<KeyInfo, StoreError> {
    let public = signer.public_key();
    let info = KeyInfo {
        kid: public.kid().to_string(),
        public_key: public.to_hex(),
        status,
        created_at: now,
    };
    let sealed = data_key.encrypt(signer.seed().as_ref(), &aad(&info.kid))?;
    let row = SigningKeyRow {
        kid: info.kid.clone(),
        public_key: info.public_key.clone(),
        status: status.as_str().to_owned(),
        created_at: now,
    };
    table::insert(tx, &row, &sealed)?;
    Ok(info)
}

/// Makes `first` (the key from `keys/signing.key`) the current key of a database that has
/// none yet; otherwise leaves the database as it is.
///
/// # Errors
/// On storage failure.
pub fn adopt(
    tx: &Tx<'_>,
    data_key: &DataKey,
    first: &LicenseSigner,
    now: i64,
) -> Result<(), StoreError> {
    if !table::any(tx)? {
        insert(tx, data_key, first, KeyStatus::Current, now)?;
    }
    Ok(())
}

/// The current key's id.
///
/// # Errors
/// On storage failure, or when no key is current.
pub fn current_kid(db: &Db<'_>) -> Result<String, StoreError> {
    table::current_kid(db)?.ok_or_else(|| StoreError::Corrupt("no current signing key".into()))
}

/// The signer of key `kid`.
///
/// # Errors
/// On storage failure, an unknown kid, or a seal that does not open.
pub fn signer(db: &Db<'_>, data_key: &DataKey, kid: &str) -> Result<LicenseSigner, StoreError> {
    let sealed = table::sealed_seed(db, kid)?
        .ok_or_else(|| StoreError::Corrupt(format!("no signing key {kid}")))?;
    let seed = data_key.decrypt(&sealed, &aad(kid))?;
    let seed: &[u8; 32] = seed
        .as_slice()
        .try_into()
        .map_err(|_| StoreError::Corrupt(format!("signing key {kid} is not 32 bytes")))?;
    Ok(LicenseSigner::from_seed(seed))
}

/// Every key, newest first; `published` leaves out retired ones.
///
/// # Errors
/// On storage failure.
pub fn list(db: &Db<'_>, published: bool) -> Result<Vec<KeyInfo>, StoreError> {
    table::list(db, published)?
        .into_iter()
        .map(|row| {
            Ok(KeyInfo {
                status: KeyStatus::parse(&row.status)?,
                kid: row.kid,
                public_key: row.public_key,
                created_at: row.created_at,
            })
        })
        .collect()
}

/// `keys new`: a key published as `next`, to ship in the companion before it signs.
///
/// # Errors
/// On storage or random-source failure.
pub fn create_next(tx: &Tx<'_>, data_key: &DataKey, now: i64) -> Result<KeyInfo, StoreError> {
    let signer =
        LicenseSigner::generate(&mut OsRandom).map_err(|e| StoreError::Sign(e.to_string()))?;
    insert(tx, data_key, &signer, KeyStatus::Next, now)
}

/// `keys rotate`: makes `to` (a `next` key) — or, without one, a new key — current at once;
/// the key that was current becomes `previous` and stays published.
///
/// # Errors
/// On storage failure; the inner error when `to` is not a `next` key (nothing changed).
pub fn rotate(
    tx: &Tx<'_>,
    data_key: &DataKey,
    to: Option<&str>,
    now: i64,
) -> Result<Result<KeyInfo, KeyError>, StoreError> {
    let promoted = match to {
        Some(kid) => {
            let Some(info) = list(tx, false)?.into_iter().find(|k| k.kid == kid) else {
                return Ok(Err(KeyError::Unknown(kid.to_owned())));
            };
            if info.status != KeyStatus::Next {
                return Ok(Err(KeyError::NotNext(kid.to_owned(), info.status.as_str())));
            }
            info
        }
        None => create_next(tx, data_key, now)?,
    };
    table::make_current(tx, &promoted.kid, now)?;
    Ok(Ok(KeyInfo {
        status: KeyStatus::Current,
        ..promoted
    }))
}

/// `keys retire KID`: no longer published (files it signed stop verifying in companions that
/// drop it). The current key cannot be retired.
///
/// # Errors
/// On storage failure; the inner error when `kid` is unknown or current (nothing changed).
pub fn retire(tx: &Tx<'_>, kid: &str, now: i64) -> Result<Result<(), KeyError>, StoreError> {
    let Some(info) = list(tx, false)?.into_iter().find(|k| k.kid == kid) else {
        return Ok(Err(KeyError::Unknown(kid.to_owned())));
    };
    if info.status == KeyStatus::Current {
        return Ok(Err(KeyError::Current(kid.to_owned())));
    }
    table::retire(tx, kid, now)?;
    Ok(Ok(()))
}

/// The signer new files get: the current key, reloaded when a rotation changed it.
pub struct Keyring {
    data_key: Arc<DataKey>,
    current: RwLock<Arc<LicenseSigner>>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring").finish_non_exhaustive()
    }
}

impl Keyring {
    /// The keyring of the database `db`.
    ///
    /// # Errors
    /// When no key is current or its seal does not open.
    pub fn load(db: &Db<'_>, data_key: Arc<DataKey>) -> Result<Keyring, StoreError> {
        let signer = signer(db, &data_key, &current_kid(db)?)?;
        Ok(Keyring {
            data_key,
            current: RwLock::new(Arc::new(signer)),
        })
    }

    /// The current signer, as the database says now.
    ///
    /// # Errors
    /// On storage failure.
    pub fn current(&self, db: &Db<'_>) -> Result<Arc<LicenseSigner>, StoreError> {
        let kid = current_kid(db)?;
        {
            let held = self
                .current
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if held.public_key().kid().to_string() == kid {
                return Ok(Arc::clone(&held));
            }
        }
        let fresh = Arc::new(signer(db, &self.data_key, &kid)?);
        tracing::info!(kid = %kid, "signing with the rotated key");
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::clone(&fresh);
        Ok(fresh)
    }
}

//! The signing keys' table: public keys, seeds sealed with the data key, one `current`.

use rusqlite::{OptionalExtension, params};

use super::{Db, StoreError, Tx};

/// A signing key as stored (its seed sealed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyRow {
    /// Its key id.
    pub kid: String,
    /// The Ed25519 public key, hex.
    pub public_key: String,
    /// `next`, `current`, `previous` or `retired`.
    pub status: String,
    /// When it was made.
    pub created_at: i64,
}

/// Adds a key, its seed sealed as `seed_sealed`.
///
/// # Errors
/// On storage failure.
pub fn insert(tx: &Tx<'_>, row: &SigningKeyRow, seed_sealed: &[u8]) -> Result<(), StoreError> {
    tx.conn.execute(
        "INSERT INTO signing_keys (kid, public_key, seed_enc, status, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![row.kid, row.public_key, seed_sealed, row.status, row.created_at],
    )?;
    Ok(())
}

/// Whether there is any key.
///
/// # Errors
/// On storage failure.
pub fn any(db: &Db<'_>) -> Result<bool, StoreError> {
    Ok(db
        .conn
        .query_row("SELECT EXISTS (SELECT 1 FROM signing_keys)", [], |r| {
            r.get(0)
        })?)
}

/// The current key's id, if one is current.
///
/// # Errors
/// On storage failure.
pub fn current_kid(db: &Db<'_>) -> Result<Option<String>, StoreError> {
    Ok(db
        .conn
        .prepare_cached("SELECT kid FROM signing_keys WHERE status = 'current'")?
        .query_row([], |r| r.get(0))
        .optional()?)
}

/// The sealed seed of key `kid`.
///
/// # Errors
/// On storage failure.
pub fn sealed_seed(db: &Db<'_>, kid: &str) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(db
        .conn
        .query_row(
            "SELECT seed_enc FROM signing_keys WHERE kid = ?1",
            params![kid],
            |r| r.get(0),
        )
        .optional()?)
}

/// Every key, newest first; `published` leaves out retired ones.
///
/// # Errors
/// On storage failure.
pub fn list(db: &Db<'_>, published: bool) -> Result<Vec<SigningKeyRow>, StoreError> {
    let mut stmt = db.conn.prepare(
        "SELECT kid, public_key, status, created_at FROM signing_keys
         WHERE ?1 = 0 OR status != 'retired' ORDER BY created_at DESC, rowid DESC",
    )?;
    let rows = stmt
        .query_map(params![published], |r| {
            Ok(SigningKeyRow {
                kid: r.get(0)?,
                public_key: r.get(1)?,
                status: r.get(2)?,
                created_at: r.get(3)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Makes `kid` current at `now`; the key that was current becomes `previous`.
///
/// # Errors
/// On storage failure.
pub fn make_current(tx: &Tx<'_>, kid: &str, now: i64) -> Result<(), StoreError> {
    tx.conn.execute(
        "UPDATE signing_keys SET status = 'previous' WHERE status = 'current'",
        [],
    )?;
    tx.conn.execute(
        "UPDATE signing_keys SET status = 'current', activated_at = ?2 WHERE kid = ?1",
        params![kid, now],
    )?;
    Ok(())
}

/// Retires `kid` at `now`.
///
/// # Errors
/// On storage failure.
pub fn retire(tx: &Tx<'_>, kid: &str, now: i64) -> Result<(), StoreError> {
    tx.conn.execute(
        "UPDATE signing_keys SET status = 'retired', retired_at = ?2 WHERE kid = ?1",
        params![kid, now],
    )?;
    Ok(())
}

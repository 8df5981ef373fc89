//! Idempotency records: the answer given to a request with an `Idempotency-Key`, per licence,
//! replayed when the same request comes again.

use rusqlite::{OptionalExtension, params};

use super::{Db, StoreError, Tx};

/// A remembered answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remembered {
    /// SHA-256 of the request it answered.
    pub request_hash: Vec<u8>,
    /// Its HTTP status.
    pub status: u16,
    /// Its body.
    pub body: String,
}

/// The answer remembered for `key` on licence `license_id`.
///
/// # Errors
/// On storage failure.
pub fn find(db: &Db<'_>, license_id: &str, key: &str) -> Result<Option<Remembered>, StoreError> {
    Ok(db
        .conn
        .prepare_cached(
            "SELECT request_hash, status, body FROM idempotency WHERE license_id = ?1 AND idem_key = ?2",
        )?
        .query_row(params![license_id, key], |r| {
            Ok(Remembered {
                request_hash: r.get(0)?,
                status: r.get(1)?,
                body: r.get(2)?,
            })
        })
        .optional()?)
}

/// Remembers `answer` for `key` on licence `license_id`.
///
/// # Errors
/// On storage failure.
pub fn remember(
    tx: &Tx<'_>,
    license_id: &str,
    key: &str,
    answer: &Remembered,
    now: i64,
) -> Result<(), StoreError> {
    tx.conn
        .prepare_cached(
            "INSERT INTO idempotency (license_id, idem_key, request_hash, status, body, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            license_id,
            key,
            answer.request_hash,
            answer.status,
            answer.body,
            now
        ])?;
    Ok(())
}

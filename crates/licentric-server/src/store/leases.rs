//! Leases: the seats of floating licences held now (`docs/floating.md`). A lease is open
//! until it is released or its time runs out; an open lease whose time ran out holds no
//! seat, and [`expire_due`] records its end.

use rusqlite::{OptionalExtension, params};

use super::{Db, Environment, StoreError, Tx, environment_at};

/// A lease row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRow {
    /// Its id.
    pub id: String,
    /// Its licence.
    pub license_id: String,
    /// Its environment.
    pub environment: Environment,
    /// The machine holding the seat.
    pub fingerprint: String,
    /// What the machine said it is for.
    pub label: Option<String>,
    /// When it was first checked out.
    pub created_at: i64,
    /// When it was last checked out or renewed.
    pub renewed_at: i64,
    /// When its seat is free unless renewed.
    pub expires_at: i64,
    /// When it ended, and how (`released`, `expired`); `None` while open.
    pub ended: Option<(i64, String)>,
    /// SHA-256 of the secret that renews and releases it.
    pub secret_hash: Option<[u8; 32]>,
    /// Borrowed: it holds its seat until `expires_at` with no renewal.
    pub borrowed: bool,
    /// Borrowed under a product policy that keeps borrowed seats to their end: no early
    /// return (its signed lease says so).
    pub kept_to_end: bool,
    /// The entitlements it carries of those whose seats the licence counts apart.
    pub entitlements: Vec<String>,
}

impl LeaseRow {
    /// Whether it holds its seat at `now`.
    pub fn holds_at(&self, now: i64) -> bool {
        self.ended.is_none() && now < self.expires_at
    }
}

const COLUMNS: &str = "id, license_id, environment, fingerprint, label, created_at, renewed_at, expires_at, ended_at, ended_by, secret_hash, borrowed, entitlements, kept_to_end";

fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<LeaseRow> {
    let ended_at: Option<i64> = row.get(8)?;
    let ended_by: Option<String> = row.get(9)?;
    Ok(LeaseRow {
        id: row.get(0)?,
        license_id: row.get(1)?,
        environment: environment_at(row, 2)?,
        fingerprint: row.get(3)?,
        label: row.get(4)?,
        created_at: row.get(5)?,
        renewed_at: row.get(6)?,
        expires_at: row.get(7)?,
        ended: ended_at.zip(ended_by),
        secret_hash: row
            .get::<_, Option<Vec<u8>>>(10)?
            .and_then(|h| <[u8; 32]>::try_from(h).ok()),
        borrowed: row.get(11)?,
        entitlements: serde_json::from_str(&row.get::<_, String>(12)?).unwrap_or_default(),
        kept_to_end: row.get(13)?,
    })
}

/// Lease `id` of licence `license_id`, open or not.
///
/// # Errors
/// On storage failure.
pub fn get(db: &Db<'_>, license_id: &str, id: &str) -> Result<Option<LeaseRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM leases WHERE id = ?1 AND license_id = ?2");
    Ok(db
        .conn
        .prepare_cached(&sql)?
        .query_row(params![id, license_id], from_row)
        .optional()?)
}

/// Lease `id`, of whichever licence.
///
/// # Errors
/// On storage failure.
pub fn by_id(db: &Db<'_>, id: &str) -> Result<Option<LeaseRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM leases WHERE id = ?1");
    Ok(db
        .conn
        .prepare_cached(&sql)?
        .query_row(params![id], from_row)
        .optional()?)
}

/// The leases of `license_id` holding a seat at `now`, soonest to end first.
///
/// # Errors
/// On storage failure.
pub fn holding(db: &Db<'_>, license_id: &str, now: i64) -> Result<Vec<LeaseRow>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM leases WHERE license_id = ?1 AND ended_at IS NULL AND expires_at > ?2 ORDER BY expires_at, id"
    );
    let mut stmt = db.conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map(params![license_id, now], from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// The open leases of `lease_id`'s licence that hold their seats before it (they keep them,
/// and what they carry, first when the seats are lowered): borrowed before ordinary, then in
/// the order they were taken. Their ids.
///
/// # Errors
/// On storage failure.
pub fn held_before(db: &Db<'_>, lease_id: &str, now: i64) -> Result<Vec<String>, StoreError> {
    let mut stmt = db.conn.prepare_cached(
        "SELECT o.id FROM leases o JOIN leases l ON l.id = ?1
         WHERE o.license_id = l.license_id AND o.ended_at IS NULL AND o.expires_at > ?2
           AND o.id != l.id
           AND (NOT o.borrowed, o.created_at, o.rowid) < (NOT l.borrowed, l.created_at, l.rowid)",
    )?;
    let ids = stmt
        .query_map(params![lease_id, now], |row| row.get(0))?
        .collect::<Result<Vec<String>, _>>()?;
    Ok(ids)
}

/// Adds an open lease.
///
/// # Errors
/// On storage failure.
pub fn insert(tx: &Tx<'_>, lease: &LeaseRow) -> Result<(), StoreError> {
    tx.conn
        .prepare_cached(
            "INSERT INTO leases (id, license_id, environment, fingerprint, label, created_at, renewed_at, expires_at, secret_hash, borrowed, entitlements, kept_to_end)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        )?
        .execute(params![
            lease.id,
            lease.license_id,
            lease.environment.as_str(),
            lease.fingerprint,
            lease.label,
            lease.created_at,
            lease.renewed_at,
            lease.expires_at,
            lease.secret_hash.as_ref().map(<[u8; 32]>::as_slice),
            lease.borrowed,
            serde_json::to_string(&lease.entitlements).unwrap_or_else(|_| "[]".into()),
            lease.kept_to_end
        ])?;
    Ok(())
}

/// `lease` renewed: its time, whether it is borrowed (and kept to its end), the entitlements
/// it carries.
///
/// # Errors
/// On storage failure.
pub fn renew(tx: &Tx<'_>, lease: &LeaseRow) -> Result<(), StoreError> {
    tx.conn
        .prepare_cached(
            "UPDATE leases SET renewed_at = ?2, expires_at = ?3, borrowed = ?4, entitlements = ?5, kept_to_end = ?6 WHERE id = ?1",
        )?
        .execute(params![
            lease.id,
            lease.renewed_at,
            lease.expires_at,
            lease.borrowed,
            serde_json::to_string(&lease.entitlements).unwrap_or_else(|_| "[]".into()),
            lease.kept_to_end
        ])?;
    Ok(())
}

/// Ends open lease `id` at `now`, `by` (`released`); false when it was not open.
///
/// # Errors
/// On storage failure.
pub fn end(tx: &Tx<'_>, id: &str, by: &str, now: i64) -> Result<bool, StoreError> {
    Ok(tx
        .conn
        .prepare_cached(
            "UPDATE leases SET ended_at = ?2, ended_by = ?3 WHERE id = ?1 AND ended_at IS NULL",
        )?
        .execute(params![id, now, by])?
        == 1)
}

/// Ends every open lease whose time ran out by `now` (of `license_id`, or of every licence),
/// as `expired` at its own end; returns them, at most `limit`.
///
/// # Errors
/// On storage failure.
pub fn expire_due(
    tx: &Tx<'_>,
    license_id: Option<&str>,
    now: i64,
    limit: u32,
) -> Result<Vec<LeaseRow>, StoreError> {
    let sql = format!(
        "UPDATE leases SET ended_at = expires_at, ended_by = 'expired'
         WHERE id IN (SELECT id FROM leases WHERE ended_at IS NULL AND expires_at <= ?1
                      AND (?2 IS NULL OR license_id = ?2) ORDER BY expires_at LIMIT ?3)
         RETURNING {COLUMNS}"
    );
    let mut stmt = tx.conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map(params![now, license_id, limit], from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// The seats held at `now` in `environment`, per licence (licences with none left out).
///
/// # Errors
/// On storage failure.
pub fn in_use(
    db: &Db<'_>,
    environment: Environment,
    now: i64,
) -> Result<Vec<(String, u32)>, StoreError> {
    let mut stmt = db.conn.prepare_cached(
        "SELECT license_id, COUNT(*) FROM leases WHERE environment = ?1 AND ended_at IS NULL AND expires_at > ?2
         GROUP BY license_id ORDER BY license_id",
    )?;
    let rows = stmt
        .query_map(params![environment.as_str(), now], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

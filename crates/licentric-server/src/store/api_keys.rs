//! Management API keys, stored as a keyed hash of the token (never the token).

use rusqlite::{OptionalExtension, params};

use super::{Db, Environment, StoreError, Tx, environment_at, json_column, to_json};

/// An API key's row (never the token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRow {
    /// Its id.
    pub id: String,
    /// `test` or `live`: the only data it can see.
    pub environment: Environment,
    /// A name for people.
    pub name: String,
    /// The start of the token, to recognise it (`lk_test_7f3k`).
    pub display_prefix: String,
    /// Its scopes.
    pub scopes: Vec<String>,
    /// Creation time.
    pub created_at: i64,
    /// Revocation time.
    pub revoked_at: Option<i64>,
}

const COLUMNS: &str = "id, environment, name, display_prefix, scopes, created_at, revoked_at";

fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ApiKeyRow> {
    Ok(ApiKeyRow {
        id: row.get(0)?,
        environment: environment_at(row, 1)?,
        name: row.get(2)?,
        display_prefix: row.get(3)?,
        scopes: json_column(row, 4)?,
        created_at: row.get(5)?,
        revoked_at: row.get(6)?,
    })
}

/// Adds `row`, whose token hashes to `token_hash`.
///
/// # Errors
/// On storage failure.
pub fn insert(tx: &Tx<'_>, row: &ApiKeyRow, token_hash: &[u8]) -> Result<(), StoreError> {
    tx.conn.execute(
        "INSERT INTO api_keys (id, environment, name, token_hash, display_prefix, scopes, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            row.id,
            row.environment.as_str(),
            row.name,
            token_hash,
            row.display_prefix,
            to_json(&row.scopes)?,
            row.created_at
        ],
    )?;
    Ok(())
}

/// The unrevoked key whose token hashes to `token_hash`, with the hash as stored (for the
/// caller's constant-time comparison).
///
/// # Errors
/// On storage failure.
pub fn by_token_hash(
    db: &Db<'_>,
    token_hash: &[u8],
) -> Result<Option<(ApiKeyRow, Vec<u8>)>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS}, token_hash FROM api_keys WHERE token_hash = ?1 AND revoked_at IS NULL"
    );
    Ok(db
        .conn
        .prepare_cached(&sql)?
        .query_row(params![token_hash], |r| Ok((from_row(r)?, r.get(7)?)))
        .optional()?)
}

/// The keys of `environment`, oldest first.
///
/// # Errors
/// On storage failure.
pub fn list(db: &Db<'_>, environment: Environment) -> Result<Vec<ApiKeyRow>, StoreError> {
    let sql =
        format!("SELECT {COLUMNS} FROM api_keys WHERE environment = ?1 ORDER BY created_at, id");
    let mut stmt = db.conn.prepare(&sql)?;
    let rows = stmt
        .query_map(params![environment.as_str()], from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Revokes key `id` of `environment` at `now`; false if there is no such unrevoked key.
///
/// # Errors
/// On storage failure.
pub fn revoke(
    tx: &Tx<'_>,
    environment: Environment,
    id: &str,
    now: i64,
) -> Result<bool, StoreError> {
    Ok(tx.conn.execute(
        "UPDATE api_keys SET revoked_at = ?3 WHERE id = ?1 AND environment = ?2 AND revoked_at IS NULL",
        params![id, environment.as_str(), now],
    )? == 1)
}

/// How many keys `environment` has, revoked ones included.
///
/// # Errors
/// On storage failure.
pub fn count(db: &Db<'_>, environment: Environment) -> Result<u32, StoreError> {
    Ok(db.conn.query_row(
        "SELECT COUNT(*) FROM api_keys WHERE environment = ?1",
        params![environment.as_str()],
        |r| r.get(0),
    )?)
}

//! Management API keys: `lk_test_…` and `lk_live_…`, scoped, environment-bound, stored as a
//! keyed hash so a stolen database does not reveal them in usable form.

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Value, json};

use crate::audit::{Actor, Entry};
use crate::crypto::{DataKey, new_id, random_chars};
use crate::db::{StoreError, rfc3339};

/// Every scope, and what it allows.
pub const SCOPES: &[(&str, &str)] = &[
    ("licenses:read", "read products and licences"),
    (
        "licenses:write",
        "create products and licences; suspend, reinstate, revoke, change them",
    ),
    ("machines:read", "list a licence's machines"),
    ("machines:write", "deactivate machines"),
    ("webhooks:write", "create, list and delete webhooks"),
    ("api_keys:write", "create, list and revoke API keys"),
    ("audit:read", "read the audit log"),
    ("metrics:read", "read the Prometheus metrics at /metrics"),
];

/// An API key's row (never the token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRow {
    /// Its id.
    pub id: String,
    /// `test` or `live`: the only data it can see.
    pub environment: String,
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

impl ApiKeyRow {
    /// Whether it has `scope`.
    pub fn allows(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// The JSON view.
    pub fn view(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "environment": self.environment,
            "prefix": self.display_prefix,
            "scopes": self.scopes,
            "created_at": rfc3339(self.created_at),
            "revoked_at": self.revoked_at.and_then(rfc3339),
        })
    }

    fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ApiKeyRow> {
        let scopes: String = row.get(4)?;
        Ok(ApiKeyRow {
            id: row.get(0)?,
            environment: row.get(1)?,
            name: row.get(2)?,
            display_prefix: row.get(3)?,
            scopes: serde_json::from_str(&scopes).unwrap_or_default(),
            created_at: row.get(5)?,
            revoked_at: row.get(6)?,
        })
    }
}

const COLUMNS: &str = "id, environment, name, display_prefix, scopes, created_at, revoked_at";

/// Whether `scopes` are all known.
pub fn known_scopes(scopes: &[String]) -> bool {
    scopes
        .iter()
        .all(|s| SCOPES.iter().any(|(name, _)| name == s))
}

/// Creates a key; returns its row and the token, which is never stored and cannot be shown
/// again.
///
/// # Errors
/// On storage or randomness failure.
pub fn create(
    conn: &Connection,
    key: &DataKey,
    environment: &str,
    name: &str,
    scopes: &[String],
    by: &Actor,
    now: i64,
) -> Result<(ApiKeyRow, String), StoreError> {
    let token = format!(
        "lk_{environment}_{}",
        random_chars(32).map_err(crate::crypto::CryptoError::from)?
    );
    let row = ApiKeyRow {
        id: new_id("key").map_err(crate::crypto::CryptoError::from)?,
        environment: environment.to_owned(),
        name: name.to_owned(),
        display_prefix: token.chars().take(12).collect(),
        scopes: scopes.to_vec(),
        created_at: now,
        revoked_at: None,
    };
    conn.execute(
        "INSERT INTO api_keys (id, environment, name, token_hash, display_prefix, scopes, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            row.id,
            row.environment,
            row.name,
            key.token_hash(&token).as_slice(),
            row.display_prefix,
            serde_json::to_string(&row.scopes).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            now
        ],
    )?;
    Entry::new(environment, by, "api_key.created", ("api_key", &row.id))
        .after(row.view())
        .record(conn, now)?;
    Ok((row, token))
}

/// The live key whose token is `token`, if any.
///
/// # Errors
/// On storage failure.
pub fn authenticate(
    conn: &Connection,
    key: &DataKey,
    token: &str,
) -> Result<Option<ApiKeyRow>, StoreError> {
    let environment = match token.get(..8) {
        Some("lk_test_") => "test",
        Some("lk_live_") => "live",
        _ => return Ok(None),
    };
    let hash = key.token_hash(token);
    let sql = format!(
        "SELECT {COLUMNS}, token_hash FROM api_keys WHERE token_hash = ?1 AND revoked_at IS NULL"
    );
    let found = conn
        .query_row(&sql, params![hash.as_slice()], |r| {
            Ok((ApiKeyRow::from_row(r)?, r.get::<_, Vec<u8>>(7)?))
        })
        .optional()?;
    Ok(found.and_then(|(row, stored)| {
        let same: bool = subtle::ConstantTimeEq::ct_eq(stored.as_slice(), hash.as_slice()).into();
        (same && row.environment == environment).then_some(row)
    }))
}

/// The keys of `environment`.
///
/// # Errors
/// On storage failure.
pub fn list(conn: &Connection, environment: &str) -> Result<Vec<ApiKeyRow>, StoreError> {
    let sql =
        format!("SELECT {COLUMNS} FROM api_keys WHERE environment = ?1 ORDER BY created_at, id");
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt
        .query_map(params![environment], ApiKeyRow::from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Revokes key `id` of `environment`, recording that `by` did; false if there is none.
///
/// # Errors
/// On storage failure.
pub fn revoke(
    conn: &Connection,
    environment: &str,
    id: &str,
    by: &Actor,
    now: i64,
) -> Result<bool, StoreError> {
    let before = list(conn, environment)?.into_iter().find(|k| k.id == id);
    let n = conn.execute(
        "UPDATE api_keys SET revoked_at = ?3 WHERE id = ?1 AND environment = ?2 AND revoked_at IS NULL",
        params![id, environment, now],
    )?;
    if let (1, Some(before)) = (n, before) {
        let after = ApiKeyRow {
            revoked_at: Some(now),
            ..before.clone()
        };
        Entry::new(environment, by, "api_key.revoked", ("api_key", id))
            .before(before.view())
            .after(after.view())
            .record(conn, now)?;
    }
    Ok(n == 1)
}

/// How many keys `environment` has, revoked ones included.
///
/// # Errors
/// On storage failure.
pub fn count(conn: &Connection, environment: &str) -> Result<i64, StoreError> {
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM api_keys WHERE environment = ?1",
        params![environment],
        |r| r.get(0),
    )?)
}

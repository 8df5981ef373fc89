//! Management API keys: `lk_test_…` and `lk_live_…`, scoped, environment-bound, stored as a
//! keyed hash so a stolen database does not reveal them in usable form.

use serde_json::{Value, json};

use crate::audit::{Actor, Entry};
use crate::clock::rfc3339;
use crate::crypto::{DataKey, new_id, random_chars};
pub use crate::store::api_keys::ApiKeyRow;
use crate::store::{Db, Environment, StoreError, Tx, api_keys};

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
}

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
    tx: &Tx<'_>,
    key: &DataKey,
    environment: Environment,
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
        environment,
        name: name.to_owned(),
        display_prefix: token.chars().take(12).collect(),
        scopes: scopes.to_vec(),
        created_at: now,
        revoked_at: None,
    };
    api_keys::insert(tx, &row, &key.token_hash(&token))?;
    Entry::new(environment, by, "api_key.created", ("api_key", &row.id))
        .after(row.view())
        .record(tx, now)?;
    Ok((row, token))
}

/// The live key whose token is `token`, if any.
///
/// # Errors
/// On storage failure.
pub fn authenticate(
    db: &Db<'_>,
    key: &DataKey,
    token: &str,
) -> Result<Option<ApiKeyRow>, StoreError> {
    let environment = match token.get(..8) {
        Some("lk_test_") => Environment::Test,
        Some("lk_live_") => Environment::Live,
        _ => return Ok(None),
    };
    let hash = key.token_hash(token);
    let found = api_keys::by_token_hash(db, &hash)?;
    Ok(found.and_then(|(row, stored)| {
        let same: bool = subtle::ConstantTimeEq::ct_eq(stored.as_slice(), hash.as_slice()).into();
        (same && row.environment == environment).then_some(row)
    }))
}

/// The keys of `environment`.
///
/// # Errors
/// On storage failure.
pub fn list(db: &Db<'_>, environment: Environment) -> Result<Vec<ApiKeyRow>, StoreError> {
    api_keys::list(db, environment)
}

/// Revokes key `id` of `environment`, recording that `by` did; false if there is none.
///
/// # Errors
/// On storage failure.
pub fn revoke(
    tx: &Tx<'_>,
    environment: Environment,
    id: &str,
    by: &Actor,
    now: i64,
) -> Result<bool, StoreError> {
    let before = list(tx, environment)?.into_iter().find(|k| k.id == id);
    let revoked = api_keys::revoke(tx, environment, id, now)?;
    if let (true, Some(before)) = (revoked, before) {
        let after = ApiKeyRow {
            revoked_at: Some(now),
            ..before.clone()
        };
        Entry::new(environment, by, "api_key.revoked", ("api_key", id))
            .before(before.view())
            .after(after.view())
            .record(tx, now)?;
    }
    Ok(revoked)
}

/// How many keys `environment` has, revoked ones included.
///
/// # Errors
/// On storage failure.
pub fn count(db: &Db<'_>, environment: Environment) -> Result<u32, StoreError> {
    api_keys::count(db, environment)
}

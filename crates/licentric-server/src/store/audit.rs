//! The audit log's table: append-only (the schema's triggers refuse updates and deletes).

use rusqlite::params;

use super::{Db, Environment, StoreError, Tx, environment_at};

/// One recorded change, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// Its id.
    pub id: String,
    /// Its environment.
    pub environment: Environment,
    /// When.
    pub at: i64,
    /// Who: the kind of credential (`api_key`, `license_key`, `command_line`) …
    pub actor_type: String,
    /// … and which.
    pub actor_id: String,
    /// What (`license.suspended` …).
    pub action: String,
    /// To what: its type …
    pub resource_type: String,
    /// … and id.
    pub resource_id: String,
    /// The licence it concerns.
    pub license_id: Option<String>,
    /// The resource before, as JSON text.
    pub before: Option<String>,
    /// The resource after, as JSON text.
    pub after: Option<String>,
}

/// Appends `record`.
///
/// # Errors
/// On storage failure.
pub fn insert(tx: &Tx<'_>, record: &AuditRecord) -> Result<(), StoreError> {
    tx.conn
        .prepare_cached(
            "INSERT INTO audit_events (id, environment, at, actor_type, actor_id, action, resource_type, resource_id, license_id, before, after)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )?
        .execute(params![
            record.id,
            record.environment.as_str(),
            record.at,
            record.actor_type,
            record.actor_id,
            record.action,
            record.resource_type,
            record.resource_id,
            record.license_id,
            record.before,
            record.after,
        ])?;
    Ok(())
}

/// Up to `limit` records of `environment` (about `license_id`, if given; older than the
/// sequence number `before`, if given), newest first, each with its sequence number.
///
/// # Errors
/// On storage failure.
pub fn list(
    db: &Db<'_>,
    environment: Environment,
    license_id: Option<&str>,
    before: Option<i64>,
    limit: u32,
) -> Result<Vec<(i64, AuditRecord)>, StoreError> {
    let mut stmt = db.conn.prepare_cached(
        "SELECT seq, id, environment, at, actor_type, actor_id, action, resource_type, resource_id, license_id, before, after
         FROM audit_events
         WHERE environment = ?1 AND (?2 IS NULL OR license_id = ?2) AND (?3 IS NULL OR seq < ?3)
         ORDER BY seq DESC LIMIT ?4",
    )?;
    let rows = stmt
        .query_map(
            params![environment.as_str(), license_id, before, limit],
            |r| {
                Ok((
                    r.get(0)?,
                    AuditRecord {
                        id: r.get(1)?,
                        environment: environment_at(r, 2)?,
                        at: r.get(3)?,
                        actor_type: r.get(4)?,
                        actor_id: r.get(5)?,
                        action: r.get(6)?,
                        resource_type: r.get(7)?,
                        resource_id: r.get(8)?,
                        license_id: r.get(9)?,
                        before: r.get(10)?,
                        after: r.get(11)?,
                    },
                ))
            },
        )?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

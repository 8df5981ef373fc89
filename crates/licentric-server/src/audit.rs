//! The audit log: every change to a product, licence, machine, API key or webhook — which
//! credential, what, when, before and after — written in the same transaction as the
//! change, in a table the database itself keeps append-only (triggers refuse updates and
//! deletes). Listed newest first, per environment, by `GET /v1/admin/audit-events` and
//! `licentric-server audit`.

use rusqlite::{Connection, params};
use serde_json::{Value, json};

use crate::crypto::new_id;
use crate::db::{StoreError, rfc3339};

/// Who made a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    kind: &'static str,
    id: String,
}

impl Actor {
    /// A management API key, by its id.
    pub fn api_key(id: &str) -> Actor {
        Actor {
            kind: "api_key",
            id: id.to_owned(),
        }
    }

    /// A licence key (a client endpoint), by its licence's id.
    pub fn license_key(license_id: &str) -> Actor {
        Actor {
            kind: "license_key",
            id: license_id.to_owned(),
        }
    }

    /// Whether this is a licence key (a machine acting for itself).
    pub fn is_license_key(&self) -> bool {
        self.kind == "license_key"
    }

    /// The server's own command line, run by whoever holds its folder.
    pub fn command_line() -> Actor {
        Actor {
            kind: "command_line",
            id: "licentric-server".to_owned(),
        }
    }
}

/// One change to record, built up and then written with [`Entry::record`].
#[derive(Debug, Clone)]
#[must_use = "an entry is written only by record()"]
pub struct Entry {
    environment: String,
    actor: Actor,
    action: &'static str,
    resource_type: &'static str,
    resource_id: String,
    license_id: Option<String>,
    before: Option<Value>,
    after: Option<Value>,
}

impl Entry {
    /// `actor` did `action` (`license.suspended` …) to the `resource` (its type — `product`,
    /// `license`, `machine`, `api_key`, `webhook` — and id) in `environment`.
    pub fn new(
        environment: &str,
        actor: &Actor,
        action: &'static str,
        resource: (&'static str, &str),
    ) -> Entry {
        Entry {
            environment: environment.to_owned(),
            actor: actor.clone(),
            action,
            resource_type: resource.0,
            resource_id: resource.1.to_owned(),
            license_id: None,
            before: None,
            after: None,
        }
    }

    /// The licence it concerns, for filtering.
    pub fn license(mut self, license_id: &str) -> Entry {
        self.license_id = Some(license_id.to_owned());
        self
    }

    /// The resource's view before the change.
    pub fn before(mut self, view: Value) -> Entry {
        self.before = Some(view);
        self
    }

    /// The resource's view after the change.
    pub fn after(mut self, view: Value) -> Entry {
        self.after = Some(view);
        self
    }

    /// Writes it in the caller's transaction.
    ///
    /// # Errors
    /// On storage failure.
    pub fn record(&self, tx: &Connection, now: i64) -> Result<(), StoreError> {
        let id = new_id("aud").map_err(crate::crypto::CryptoError::from)?;
        let json = |v: &Option<Value>| v.as_ref().map(Value::to_string);
        tx.prepare_cached(
            "INSERT INTO audit_events (id, environment, at, actor_type, actor_id, action, resource_type, resource_id, license_id, before, after)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )?
        .execute(params![
            id,
            self.environment,
            now,
            self.actor.kind,
            self.actor.id,
            self.action,
            self.resource_type,
            self.resource_id,
            self.license_id,
            json(&self.before),
            json(&self.after),
        ])?;
        Ok(())
    }
}

/// Which events to list.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only those about this licence.
    pub license_id: Option<String>,
    /// Only those older than this cursor (from a previous page's `next`).
    pub before: Option<i64>,
    /// At most this many (1 to 500; default 100).
    pub limit: Option<u32>,
}

/// A page of events, newest first, and the cursor of the next page if there is one.
///
/// # Errors
/// On storage failure or a stored value that is not JSON.
pub fn list(
    conn: &Connection,
    environment: &str,
    filter: &Filter,
) -> Result<(Vec<Value>, Option<i64>), StoreError> {
    let limit = filter.limit.unwrap_or(100).clamp(1, 500);
    let mut stmt = conn.prepare_cached(
        "SELECT seq, id, at, actor_type, actor_id, action, resource_type, resource_id, license_id, before, after
         FROM audit_events
         WHERE environment = ?1 AND (?2 IS NULL OR license_id = ?2) AND (?3 IS NULL OR seq < ?3)
         ORDER BY seq DESC LIMIT ?4",
    )?;
    let rows = stmt
        .query_map(
            params![environment, filter.license_id, filter.before, limit + 1],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    [
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, String>(5)?,
                        r.get::<_, String>(6)?,
                        r.get::<_, String>(7)?,
                    ],
                    r.get::<_, i64>(2)?,
                    r.get::<_, Option<String>>(8)?,
                    [
                        r.get::<_, Option<String>>(9)?,
                        r.get::<_, Option<String>>(10)?,
                    ],
                ))
            },
        )?
        .collect::<Result<Vec<_>, _>>()?;
    let more = rows.len() > limit as usize;
    let parse = |text: &Option<String>| -> Result<Value, StoreError> {
        text.as_deref().map_or(Ok(Value::Null), |t| {
            serde_json::from_str(t).map_err(|e| StoreError::Corrupt(e.to_string()))
        })
    };
    let mut events = Vec::new();
    let mut last = None;
    for (
        seq,
        [id, actor_type, actor_id, action, resource_type, resource_id],
        at,
        license,
        [before, after],
    ) in rows.iter().take(limit as usize)
    {
        events.push(json!({
            "id": id,
            "at": rfc3339(*at),
            "actor": { "type": actor_type, "id": actor_id },
            "action": action,
            "resource": { "type": resource_type, "id": resource_id },
            "license_id": license,
            "before": parse(before)?,
            "after": parse(after)?,
        }));
        last = Some(*seq);
    }
    Ok((events, if more { last } else { None }))
}

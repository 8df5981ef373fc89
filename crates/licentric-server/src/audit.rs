//! The audit log: every change to a product, licence, machine, API key or webhook — which
//! credential, what, when, before and after — written in the same transaction as the
//! change, in a table the database itself keeps append-only (triggers refuse updates and
//! deletes). Listed newest first, per environment, by `GET /v1/admin/audit-events` and
//! `licentric-server audit`.

use serde_json::{Value, json};

use crate::clock::rfc3339;
use crate::crypto::new_id;
use crate::store::audit::{self as table, AuditRecord};
use crate::store::{Db, Environment, StoreError, Tx};

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
    environment: Environment,
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
        environment: Environment,
        actor: &Actor,
        action: &'static str,
        resource: (&'static str, &str),
    ) -> Entry {
        Entry {
            environment,
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
    pub fn record(&self, tx: &Tx<'_>, now: i64) -> Result<(), StoreError> {
        let json = |v: &Option<Value>| v.as_ref().map(Value::to_string);
        table::insert(
            tx,
            &AuditRecord {
                id: new_id("aud").map_err(crate::crypto::CryptoError::from)?,
                environment: self.environment,
                at: now,
                actor_type: self.actor.kind.to_owned(),
                actor_id: self.actor.id.clone(),
                action: self.action.to_owned(),
                resource_type: self.resource_type.to_owned(),
                resource_id: self.resource_id.clone(),
                license_id: self.license_id.clone(),
                before: json(&self.before),
                after: json(&self.after),
            },
        )
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
    db: &Db<'_>,
    environment: Environment,
    filter: &Filter,
) -> Result<(Vec<Value>, Option<i64>), StoreError> {
    let limit = filter.limit.unwrap_or(100).clamp(1, 500);
    let rows = table::list(
        db,
        environment,
        filter.license_id.as_deref(),
        filter.before,
        limit + 1,
    )?;
    let more = rows.len() > limit as usize;
    let parse = |text: &Option<String>| -> Result<Value, StoreError> {
        text.as_deref().map_or(Ok(Value::Null), |t| {
            serde_json::from_str(t).map_err(|e| StoreError::Corrupt(e.to_string()))
        })
    };
    let mut events = Vec::new();
    let mut last = None;
    for (seq, r) in rows.iter().take(limit as usize) {
        events.push(json!({
            "id": r.id,
            "at": rfc3339(r.at),
            "actor": { "type": r.actor_type, "id": r.actor_id },
            "action": r.action,
            "resource": { "type": r.resource_type, "id": r.resource_id },
            "license_id": r.license_id,
            "before": parse(&r.before)?,
            "after": parse(&r.after)?,
        }));
        last = Some(*seq);
    }
    Ok((events, if more { last } else { None }))
}

//! Webhooks, their events (an outbox written in the change's own transaction) and the
//! deliveries of each event to each webhook.

use rusqlite::params;

use super::{Db, Environment, StoreError, Tx, environment_at, json_column, to_json};

/// A webhook (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRow {
    /// Its id.
    pub id: String,
    /// Its environment.
    pub environment: Environment,
    /// Where events go.
    pub url: String,
    /// The event types it takes (`*` for all).
    pub events: Vec<String>,
    /// Creation time.
    pub created_at: i64,
}

/// One delivery to attempt.
#[derive(Debug, Clone)]
pub struct Due {
    /// The event.
    pub event_id: String,
    /// The webhook.
    pub webhook_id: String,
    /// Its URL.
    pub url: String,
    /// Its secret, sealed with the data key.
    pub secret_sealed: Vec<u8>,
    /// The event's body, as signed.
    pub body: String,
    /// Attempts so far.
    pub attempts: u32,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// Delivered, at this Unix time.
    Delivered(i64),
    /// Given up (failed too often, or a target refused), at this Unix time, with why.
    GaveUp(i64, String),
    /// To try again at this time in milliseconds, with why it failed.
    Retry(i64, String),
}

/// Adds `row`, its secret sealed as `secret_sealed`.
///
/// # Errors
/// On storage failure.
pub fn insert(tx: &Tx<'_>, row: &WebhookRow, secret_sealed: &[u8]) -> Result<(), StoreError> {
    tx.conn.execute(
        "INSERT INTO webhooks (id, environment, url, secret_enc, events, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![row.id, row.environment.as_str(), row.url, secret_sealed, to_json(&row.events)?, row.created_at],
    )?;
    Ok(())
}

/// The webhooks of `environment` that are not deleted, oldest first.
///
/// # Errors
/// On storage failure.
pub fn list(db: &Db<'_>, environment: Environment) -> Result<Vec<WebhookRow>, StoreError> {
    let mut stmt = db.conn.prepare_cached(
        "SELECT id, environment, url, events, created_at FROM webhooks WHERE environment = ?1 AND deleted_at IS NULL ORDER BY created_at, id",
    )?;
    let rows = stmt
        .query_map(params![environment.as_str()], |r| {
            Ok(WebhookRow {
                id: r.get(0)?,
                environment: environment_at(r, 1)?,
                url: r.get(2)?,
                events: json_column(r, 3)?,
                created_at: r.get(4)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Deletes webhook `id` of `environment` at `now`; false if there is none.
///
/// # Errors
/// On storage failure.
pub fn delete(
    tx: &Tx<'_>,
    environment: Environment,
    id: &str,
    now: i64,
) -> Result<bool, StoreError> {
    Ok(tx.conn.execute(
        "UPDATE webhooks SET deleted_at = ?3 WHERE id = ?1 AND environment = ?2 AND deleted_at IS NULL",
        params![id, environment.as_str(), now],
    )? == 1)
}

/// Records event `id` of `event_type` with `body`, and queues it, due at `due_ms`, for each
/// of `webhooks`.
///
/// # Errors
/// On storage failure.
pub fn insert_event(
    tx: &Tx<'_>,
    (id, environment, event_type): (&str, Environment, &str),
    body: &str,
    webhooks: &[String],
    (now, due_ms): (i64, i64),
) -> Result<(), StoreError> {
    tx.conn
        .prepare_cached(
            "INSERT INTO webhook_events (id, environment, type, body, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![id, environment.as_str(), event_type, body, now])?;
    let mut queue = tx.conn.prepare_cached(
        "INSERT INTO webhook_deliveries (event_id, webhook_id, next_attempt_ms) VALUES (?1, ?2, ?3)",
    )?;
    for hook in webhooks {
        queue.execute(params![id, hook, due_ms])?;
    }
    Ok(())
}

/// Takes the deliveries due at `now_ms` (at most 64), leasing them (pushing their next
/// attempt `lease_ms` on) so they are not taken twice; returns them and when the next one
/// falls due.
///
/// # Errors
/// On storage failure.
pub fn take_due(
    tx: &Tx<'_>,
    now_ms: i64,
    lease_ms: i64,
) -> Result<(Vec<Due>, Option<i64>), StoreError> {
    let due = tx
        .conn
        .prepare_cached(
            "SELECT d.event_id, d.webhook_id, w.url, w.secret_enc, e.body, d.attempts
             FROM webhook_deliveries d
             JOIN webhooks w ON w.id = d.webhook_id
             JOIN webhook_events e ON e.id = d.event_id
             WHERE d.delivered_at IS NULL AND d.failed_at IS NULL AND d.next_attempt_ms <= ?1 AND w.deleted_at IS NULL
             ORDER BY d.next_attempt_ms LIMIT 64",
        )?
        .query_map(params![now_ms], |r| {
            Ok(Due {
                event_id: r.get(0)?,
                webhook_id: r.get(1)?,
                url: r.get(2)?,
                secret_sealed: r.get(3)?,
                body: r.get(4)?,
                attempts: r.get(5)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut lease = tx.conn.prepare_cached(
        "UPDATE webhook_deliveries SET next_attempt_ms = ?3 WHERE event_id = ?1 AND webhook_id = ?2",
    )?;
    for d in &due {
        lease.execute(params![
            d.event_id,
            d.webhook_id,
            now_ms.saturating_add(lease_ms)
        ])?;
    }
    let next: Option<i64> = tx.conn.query_row(
        "SELECT MIN(next_attempt_ms) FROM webhook_deliveries WHERE delivered_at IS NULL AND failed_at IS NULL",
        [],
        |r| r.get(0),
    )?;
    Ok((due, next))
}

/// Records how the `attempts`-th attempt to deliver `event_id` to `webhook_id` ended.
///
/// # Errors
/// On storage failure.
pub fn attempted(
    tx: &Tx<'_>,
    (event_id, webhook_id): (&str, &str),
    attempts: u32,
    how: &Attempt,
) -> Result<(), StoreError> {
    match how {
        Attempt::Delivered(at) => tx.conn.execute(
            "UPDATE webhook_deliveries SET attempts = ?3, delivered_at = ?4, last_error = NULL WHERE event_id = ?1 AND webhook_id = ?2",
            params![event_id, webhook_id, attempts, at],
        )?,
        Attempt::GaveUp(at, error) => tx.conn.execute(
            "UPDATE webhook_deliveries SET attempts = ?3, failed_at = ?4, last_error = ?5 WHERE event_id = ?1 AND webhook_id = ?2",
            params![event_id, webhook_id, attempts, at, error],
        )?,
        Attempt::Retry(at_ms, error) => tx.conn.execute(
            "UPDATE webhook_deliveries SET attempts = ?3, next_attempt_ms = ?4, last_error = ?5 WHERE event_id = ?1 AND webhook_id = ?2",
            params![event_id, webhook_id, attempts, at_ms, error],
        )?,
    };
    Ok(())
}

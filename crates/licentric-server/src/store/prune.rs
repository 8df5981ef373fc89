//! Pruning bookkeeping rows by age (see `housekeeping`).

use rusqlite::params;

use super::{StoreError, Tx};

/// Rows one pruning removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Idempotency records.
    pub idempotency: usize,
    /// Webhook events.
    pub webhook_events: usize,
    /// Their delivery rows.
    pub webhook_deliveries: usize,
}

/// Removes idempotency records made before `idempotency_before`, and webhook events made
/// before `webhooks_before` whose every delivery is finished (with their delivery rows).
///
/// # Errors
/// On storage failure.
pub fn prune(
    tx: &Tx<'_>,
    idempotency_before: i64,
    webhooks_before: i64,
) -> Result<Pruned, StoreError> {
    let idempotency = tx.conn.execute(
        "DELETE FROM idempotency WHERE created_at < ?1",
        params![idempotency_before],
    )?;
    let finished = "SELECT e.id FROM webhook_events e WHERE e.created_at < ?1 AND NOT EXISTS \
        (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id AND d.delivered_at IS NULL AND d.failed_at IS NULL)";
    let webhook_deliveries = tx.conn.execute(
        &format!("DELETE FROM webhook_deliveries WHERE event_id IN ({finished})"),
        params![webhooks_before],
    )?;
    let webhook_events = tx.conn.execute(
        &format!("DELETE FROM webhook_events WHERE id IN ({finished})"),
        params![webhooks_before],
    )?;
    Ok(Pruned {
        idempotency,
        webhook_events,
        webhook_deliveries,
    })
}

//! Pruning the bookkeeping that would otherwise grow for ever: idempotency records older
//! than their window, and webhook events (with their delivery rows) once every delivery is
//! done — delivered, given up or refused — and the retention has passed. Licences, machines,
//! signing keys and the audit log are never pruned.

use std::sync::Arc;
use std::time::Duration;

use rusqlite::{Connection, params};
use tokio::sync::watch;

use crate::config::RetentionConfig;
use crate::db::{Store, StoreError};

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

/// Removes what `retention` no longer keeps at `now`, in one transaction.
///
/// # Errors
/// On storage failure.
pub fn prune(
    conn: &mut Connection,
    retention: &RetentionConfig,
    now: i64,
) -> Result<Pruned, StoreError> {
    let idempotency_cutoff = now - i64::from(retention.idempotency_hours) * 3600;
    let webhook_cutoff = now - i64::from(retention.webhook_days) * 86_400;
    let tx = conn.transaction()?;
    let idempotency = tx.execute(
        "DELETE FROM idempotency WHERE created_at < ?1",
        params![idempotency_cutoff],
    )?;
    // Events old enough whose every delivery is finished.
    let finished = "SELECT e.id FROM webhook_events e WHERE e.created_at < ?1 AND NOT EXISTS \
        (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id AND d.delivered_at IS NULL AND d.failed_at IS NULL)";
    let webhook_deliveries = tx.execute(
        &format!("DELETE FROM webhook_deliveries WHERE event_id IN ({finished})"),
        params![webhook_cutoff],
    )?;
    let webhook_events = tx.execute(
        &format!("DELETE FROM webhook_events WHERE id IN ({finished})"),
        params![webhook_cutoff],
    )?;
    tx.commit()?;
    Ok(Pruned {
        idempotency,
        webhook_events,
        webhook_deliveries,
    })
}

/// Prunes now and then every `retention.every_minutes`, until `shutdown` turns true.
pub async fn run(
    store: Arc<Store>,
    retention: RetentionConfig,
    metrics: Arc<crate::metrics::Metrics>,
    mut shutdown: watch::Receiver<bool>,
) {
    let every = Duration::from_secs(u64::from(retention.every_minutes.max(1)) * 60);
    loop {
        let settings = retention.clone();
        match store
            .call(move |conn| prune(conn, &settings, crate::db::now_unix()))
            .await
        {
            Ok(pruned) => {
                metrics.pruned(&pruned);
                if pruned != Pruned::default() {
                    tracing::info!(?pruned, "pruned old bookkeeping rows");
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot prune old bookkeeping rows"),
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
    }
}

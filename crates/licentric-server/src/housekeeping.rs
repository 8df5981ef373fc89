//! Pruning the bookkeeping that would otherwise grow for ever: idempotency records older
//! than their window, and webhook events (with their delivery rows) once every delivery is
//! done — delivered, given up or refused — and the retention has passed. Licences, machines,
//! signing keys and the audit log are never pruned.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::config::RetentionConfig;
pub use crate::store::prune::Pruned;
use crate::store::{Store, StoreError, Tx};

/// Removes what `retention` no longer keeps at `now`, in the transaction `tx`.
///
/// # Errors
/// On storage failure.
pub fn prune(tx: &Tx<'_>, retention: &RetentionConfig, now: i64) -> Result<Pruned, StoreError> {
    let idempotency_cutoff = now - i64::from(retention.idempotency_hours) * 3600;
    let webhook_cutoff = now - i64::from(retention.webhook_days) * 86_400;
    crate::store::prune::prune(tx, idempotency_cutoff, webhook_cutoff)
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
            .write(move |tx| prune(tx, &settings, crate::clock::now_unix()))
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

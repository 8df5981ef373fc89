//! Webhooks: events are recorded in the same transaction as the change they describe (an
//! outbox), and a delivery task POSTs them, signed, retrying with back-off. A slow receiver
//! never delays an API answer: delivery happens on its own tasks, bounded in number and time.
//!
//! Each POST carries `X-Licentric-Signature: hex(HMAC-SHA256(secret, raw body))` and
//! `X-Licentric-Event-Id`; the same event may arrive more than once, so receivers dedupe by id.

use std::sync::Arc;
use std::time::Duration;

use licentric_proto::api::{WEBHOOK_EVENT_ID_HEADER, WEBHOOK_SIGNATURE_HEADER};
use serde_json::Value;
use tokio::sync::{Notify, Semaphore, watch};

use crate::clock::rfc3339;
use crate::config::WebhookConfig;
use crate::crypto::{DataKey, new_id, webhook_signature};
use crate::store::webhooks::{self as table, Attempt, Due};
use crate::store::{Environment, Store, StoreError, Tx};

/// The event types a webhook can subscribe to.
pub const EVENT_TYPES: &[&str] = &[
    "license.created",
    "license.activated",
    "machine.deactivated",
    "machine.duplicate",
    "lease.checked_out",
    "lease.released",
    "lease.expired",
    "lease.borrowed",
    "lease.returned",
    "license.suspended",
    "license.reinstated",
    "license.revoked",
];

/// At most this many deliveries in flight at once.
const MAX_IN_FLIGHT: usize = 16;

/// Records an event for every webhook of `environment` subscribed to `event_type`, inside the
/// caller's transaction. Returns whether any delivery was queued.
///
/// # Errors
/// On storage failure.
pub fn record(
    tx: &Tx<'_>,
    environment: Environment,
    event_type: &str,
    data: Value,
    now: i64,
) -> Result<bool, StoreError> {
    let hooks: Vec<String> = table::list(tx, environment)?
        .into_iter()
        .filter(|hook| hook.events.iter().any(|t| t == event_type || t == "*"))
        .map(|hook| hook.id)
        .collect();
    if hooks.is_empty() {
        return Ok(false);
    }
    let id = new_id("evt").map_err(crate::crypto::CryptoError::from)?;
    let body = serde_json::json!({
        "id": id,
        "type": event_type,
        "environment": environment,
        "created_at": rfc3339(now),
        "data": data,
    })
    .to_string();
    table::insert_event(
        tx,
        (&id, environment, event_type),
        &body,
        &hooks,
        (now, now_ms()),
    )?;
    Ok(true)
}

fn now_ms() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000)
        .unwrap_or(i64::MAX)
}

/// The delivery task: sleeps until a delivery is due or an event is recorded (`wake`), never
/// polls, and stops when `shutdown` turns true.
pub async fn run(
    store: Arc<Store>,
    data_key: Arc<DataKey>,
    config: WebhookConfig,
    wake: Arc<Notify>,
    metrics: Arc<crate::metrics::Metrics>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut builder = reqwest::Client::builder()
        .timeout(Duration::from_millis(config.timeout_ms))
        .redirect(reqwest::redirect::Policy::none());
    if !config.allow_private_targets {
        // Names resolve to public addresses only, at the moment of connecting.
        builder = builder.dns_resolver(crate::egress::PublicOnly);
    }
    let client = match builder.build() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "webhook delivery is off: cannot build an HTTP client");
            return;
        }
    };
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let lease_ms = i64::try_from(config.timeout_ms)
        .unwrap_or(i64::MAX)
        .saturating_add(5_000);
    loop {
        let batch = store
            .write(move |tx| table::take_due(tx, now_ms(), lease_ms))
            .await
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "cannot read due webhook deliveries");
                (Vec::new(), None)
            });
        let (due, next_ms) = batch;
        for item in due {
            let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
                return;
            };
            let (client, store, key, config, wake, metrics) = (
                client.clone(),
                Arc::clone(&store),
                Arc::clone(&data_key),
                config.clone(),
                Arc::clone(&wake),
                Arc::clone(&metrics),
            );
            tokio::spawn(async move {
                deliver(&client, &store, &key, &config, &metrics, item).await;
                drop(permit);
                wake.notify_one();
            });
        }
        let sleep_ms = next_ms.map_or(3_600_000, |at| (at - now_ms()).clamp(0, 3_600_000));
        tokio::select! {
            () = wake.notified() => {}
            () = tokio::time::sleep(Duration::from_millis(u64::try_from(sleep_ms).unwrap_or(0))) => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
    }
}

async fn deliver(
    client: &reqwest::Client,
    store: &Arc<Store>,
    key: &DataKey,
    config: &WebhookConfig,
    metrics: &crate::metrics::Metrics,
    item: Due,
) {
    let context = format!("webhook:{}", item.webhook_id);
    let refused = crate::egress::refused(&item.url, config).await;
    let result = match refused.as_ref().map_or_else(
        || {
            key.decrypt(&item.secret_sealed, &context)
                .map_err(|e| e.to_string())
        },
        |why| Err(why.clone()),
    ) {
        Ok(secret) => {
            let signature = webhook_signature(&secret, item.body.as_bytes());
            client
                .post(&item.url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(WEBHOOK_SIGNATURE_HEADER, signature)
                .header(WEBHOOK_EVENT_ID_HEADER, &item.event_id)
                .body(item.body.clone())
                .send()
                .await
                .map_err(|e| format!("request failed: {e}"))
                .and_then(|r| {
                    if r.status().is_success() {
                        Ok(())
                    } else {
                        Err(format!("receiver answered {}", r.status()))
                    }
                })
        }
        Err(e) => Err(e),
    };
    let attempts = item.attempts.saturating_add(1);
    let outcome = match &result {
        Ok(()) => "delivered",
        // A target the server must not reach is not retried: it will not become allowed.
        Err(_) if refused.is_some() => "refused",
        Err(_) if attempts >= config.max_attempts => "failed",
        Err(_) => "retry",
    };
    metrics.webhook_delivery(outcome);
    let delay = retry_delay_ms(config, attempts);
    let error = result.err();
    if let Some(e) = &error {
        tracing::warn!(event = %item.event_id, webhook = %item.webhook_id, attempts, error = %e, "webhook delivery failed");
    }
    let now = now_ms();
    let error = error.unwrap_or_default();
    let how = match outcome {
        "delivered" => Attempt::Delivered(now / 1000),
        "failed" | "refused" => Attempt::GaveUp(now / 1000, error),
        _ => Attempt::Retry(now.saturating_add(delay), error),
    };
    let saved = store
        .write(move |tx| table::attempted(tx, (&item.event_id, &item.webhook_id), attempts, &how))
        .await;
    if let Err(e) = saved {
        tracing::error!(error = %e, "cannot record a webhook delivery");
    }
}

/// Delay before attempt `attempts + 1`: the base doubling per attempt, capped, ± 10 %.
fn retry_delay_ms(config: &WebhookConfig, attempts: u32) -> i64 {
    let doublings = attempts.saturating_sub(1).min(30);
    let base = config
        .retry_base_ms
        .saturating_mul(1u64 << doublings)
        .min(config.retry_max_ms);
    let jitter =
        licentric_core::random::random_unit_signed(&mut licentric_core::OsRandom).unwrap_or(0.0);
    let ms = (base as f64 * (1.0 + 0.1 * jitter)).max(1.0);
    ms as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_to_the_cap() {
        let config = WebhookConfig {
            retry_base_ms: 1000,
            retry_max_ms: 8000,
            ..crate::config::ServerConfig::default().webhooks
        };
        let d1 = retry_delay_ms(&config, 1);
        let d4 = retry_delay_ms(&config, 4);
        let d9 = retry_delay_ms(&config, 9);
        assert!((900..=1100).contains(&d1), "{d1}");
        assert!((7200..=8800).contains(&d4), "{d4}");
        assert!((7200..=8800).contains(&d9), "{d9}");
    }
}

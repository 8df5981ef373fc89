//! Prometheus metrics, served at `/metrics` in the text exposition format.
//!
//! `licentric_http_auth_failures_total` counts 401 and 403 answers per endpoint: a rise means
//! a leaked or misconfigured key, or someone guessing.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The counters.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    webhooks: Mutex<BTreeMap<&'static str, u64>>,
    rate_limited: Mutex<BTreeMap<&'static str, u64>>,
    connections_open: Arc<AtomicU64>,
    body_bytes: Arc<AtomicU64>,
    handshake_timeouts: AtomicU64,
    idle_timeouts: Arc<AtomicU64>,
    pruned: [AtomicU64; 3],
}

/// An open connection, counted until dropped.
#[derive(Debug)]
pub struct OpenConnection(Arc<AtomicU64>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Room taken for a request's body on its connection, counted in
/// `licentric_request_body_bytes_in_flight` until dropped.
#[derive(Debug)]
pub struct BodyRoom {
    _permit: tokio::sync::OwnedSemaphorePermit,
    bytes: u64,
    counted: Arc<AtomicU64>,
}

impl Drop for BodyRoom {
    fn drop(&mut self) {
        self.counted.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

impl Metrics {
    /// Counts the room `permit` holds (one permit a byte) until the value returned is dropped.
    pub fn body_room_taken(&self, permit: tokio::sync::OwnedSemaphorePermit) -> BodyRoom {
        let bytes = u64::try_from(permit.num_permits()).unwrap_or(u64::MAX);
        self.body_bytes.fetch_add(bytes, Ordering::Relaxed);
        BodyRoom {
            _permit: permit,
            bytes,
            counted: Arc::clone(&self.body_bytes),
        }
    }

    /// Counts a connection as open until the value returned is dropped.
    pub fn connection_opened(&self) -> OpenConnection {
        self.connections_open.fetch_add(1, Ordering::Relaxed);
        OpenConnection(Arc::clone(&self.connections_open))
    }

    /// Counts a connection closed for not completing its TLS handshake in time.
    pub fn handshake_timed_out(&self) {
        self.handshake_timeouts.fetch_add(1, Ordering::Relaxed);
    }

    /// The counter of connections closed for silence (shared with [`crate::conn::Idle`]).
    pub fn idle_timeouts(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.idle_timeouts)
    }

    /// Counts an answer to `endpoint` (`POST /v1/activations`) with `status`.
    pub fn request(&self, endpoint: &str, status: u16) {
        let mut map = self
            .requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *map.entry((endpoint.to_owned(), status)).or_default() += 1;
    }

    /// Counts the rows a pruning removed.
    pub fn pruned(&self, pruned: &crate::housekeeping::Pruned) {
        let counts = [
            pruned.idempotency,
            pruned.webhook_events,
            pruned.webhook_deliveries,
        ];
        for (counter, n) in self.pruned.iter().zip(counts) {
            counter.fetch_add(u64::try_from(n).unwrap_or(u64::MAX), Ordering::Relaxed);
        }
    }

    /// Counts a webhook delivery attempt's outcome (`delivered`, `retry`, `failed`,
    /// `refused`).
    pub fn webhook_delivery(&self, outcome: &'static str) {
        let mut map = self
            .webhooks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *map.entry(outcome).or_default() += 1;
    }

    /// Counts a `429` by the limit that gave it (`address`, `presented_key`, `license_key`,
    /// `api_key`).
    pub fn rate_limited(&self, limit: &'static str) {
        let mut map = self
            .rate_limited
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *map.entry(limit).or_default() += 1;
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let requests = self
            .requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let webhooks = self
            .webhooks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let mut out = String::new();
        out.push_str("# HELP licentric_http_requests_total HTTP answers by endpoint and status.\n");
        out.push_str("# TYPE licentric_http_requests_total counter\n");
        for ((endpoint, status), n) in &requests {
            let _ = writeln!(
                out,
                "licentric_http_requests_total{{endpoint=\"{}\",status=\"{status}\"}} {n}",
                escape(endpoint)
            );
        }
        out.push_str("# HELP licentric_http_auth_failures_total 401 and 403 answers by endpoint; a rise signals a leaked or misconfigured key.\n");
        out.push_str("# TYPE licentric_http_auth_failures_total counter\n");
        for ((endpoint, status), n) in requests.iter().filter(|((_, s), _)| *s == 401 || *s == 403)
        {
            let _ = writeln!(
                out,
                "licentric_http_auth_failures_total{{endpoint=\"{}\",status=\"{status}\"}} {n}",
                escape(endpoint)
            );
        }
        out.push_str("# HELP licentric_pruned_rows_total Bookkeeping rows removed by the retention settings.\n");
        out.push_str("# TYPE licentric_pruned_rows_total counter\n");
        for (table, counter) in ["idempotency", "webhook_events", "webhook_deliveries"]
            .iter()
            .zip(&self.pruned)
        {
            let _ = writeln!(
                out,
                "licentric_pruned_rows_total{{table=\"{table}\"}} {}",
                counter.load(Ordering::Relaxed)
            );
        }
        out.push_str(
            "# HELP licentric_webhook_deliveries_total Webhook delivery attempts by outcome.\n",
        );
        out.push_str("# TYPE licentric_webhook_deliveries_total counter\n");
        for (outcome, n) in &webhooks {
            let _ = writeln!(
                out,
                "licentric_webhook_deliveries_total{{outcome=\"{outcome}\"}} {n}"
            );
        }
        let limited = self
            .rate_limited
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        out.push_str(
            "# HELP licentric_rate_limited_total 429 answers by the limit that gave them.\n",
        );
        out.push_str("# TYPE licentric_rate_limited_total counter\n");
        for (limit, n) in &limited {
            let _ = writeln!(out, "licentric_rate_limited_total{{limit=\"{limit}\"}} {n}");
        }
        out.push_str("# HELP licentric_request_body_bytes_in_flight Room held now for request bodies being read or answered.\n");
        out.push_str("# TYPE licentric_request_body_bytes_in_flight gauge\n");
        let _ = writeln!(
            out,
            "licentric_request_body_bytes_in_flight {}",
            self.body_bytes.load(Ordering::Relaxed)
        );
        out.push_str("# HELP licentric_connections_open Connections open now.\n");
        out.push_str("# TYPE licentric_connections_open gauge\n");
        let _ = writeln!(
            out,
            "licentric_connections_open {}",
            self.connections_open.load(Ordering::Relaxed)
        );
        out.push_str("# HELP licentric_connections_timed_out_total Connections closed for a slow TLS handshake or for silence.\n");
        out.push_str("# TYPE licentric_connections_timed_out_total counter\n");
        let _ = writeln!(
            out,
            "licentric_connections_timed_out_total{{stage=\"handshake\"}} {}",
            self.handshake_timeouts.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "licentric_connections_timed_out_total{{stage=\"idle\"}} {}",
            self.idle_timeouts.load(Ordering::Relaxed)
        );
        out
    }
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_failures_are_their_own_series() {
        let m = Metrics::default();
        m.request("POST /v1/activations", 201);
        m.request("POST /v1/activations", 401);
        m.request("POST /v1/activations", 401);
        m.request("GET /v1/admin/licenses", 403);
        let text = m.render();
        assert!(text.contains("licentric_http_auth_failures_total{endpoint=\"POST /v1/activations\",status=\"401\"} 2"), "{text}");
        assert!(text.contains("licentric_http_auth_failures_total{endpoint=\"GET /v1/admin/licenses\",status=\"403\"} 1"));
        assert!(!text.contains(
            "licentric_http_auth_failures_total{endpoint=\"POST /v1/activations\",status=\"201\"}"
        ));
    }
}

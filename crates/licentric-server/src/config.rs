//! `server.toml`: where things are and the server's limits. Paths are relative to the
//! server's folder (`--dir`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The name of the configuration file inside the server's folder.
pub const CONFIG_FILE: &str = "server.toml";
/// The variable that may hold the data key (64 hex characters) instead of its file.
pub const DATA_KEY_ENV: &str = "LICENTRIC_DATA_KEY";

/// The server's configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on; `--listen` overrides it. Port 0 picks a free port.
    pub listen: SocketAddr,
    /// The SQLite database.
    pub database: PathBuf,
    /// The Ed25519 signing key's seed (64 hex characters, mode 0600).
    pub signing_key: PathBuf,
    /// The AES-256 data key (64 hex characters, mode 0600), unless `LICENTRIC_DATA_KEY` is set.
    pub data_key: PathBuf,
    /// The server certificate chain (PEM).
    pub tls_cert: PathBuf,
    /// The server certificate's private key (PEM, mode 0600).
    pub tls_key: PathBuf,
    /// The local CA's certificate (PEM): what clients trust.
    pub ca_cert: PathBuf,
    /// The local CA's private key (PEM, mode 0600), kept to issue a new server certificate.
    pub ca_key: PathBuf,
    /// Validity of a licence file when the client asks for none: 14 days.
    pub default_ttl_seconds: u64,
    /// The longest validity a client may ask for.
    pub max_ttl_seconds: u64,
    /// The shortest validity a client may ask for.
    pub min_ttl_seconds: u64,
    /// The shortest lease a product may set (`lease_ttl_seconds`): a minute; a sandbox may
    /// lower it to see leases renewed and run out in seconds.
    #[serde(default = "default_min_lease_ttl")]
    pub min_lease_ttl_seconds: u32,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// Limits on failed licence-key authentication.
    pub rate_limit: RateLimitConfig,
    /// Webhook delivery.
    pub webhooks: WebhookConfig,
    /// Limits on connections: slow or stalled clients.
    #[serde(default)]
    pub connections: ConnectionConfig,
    /// How long bookkeeping rows are kept.
    #[serde(default)]
    pub retention: RetentionConfig,
}

/// Limits on connections, so slow or stalled clients cannot hold the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConnectionConfig {
    /// Open connections at most; more wait in the listen backlog until one closes.
    pub max_connections: usize,
    /// Time a client has to complete the TLS handshake, in milliseconds.
    pub handshake_timeout_ms: u64,
    /// Time a client has to send a request's headers, in milliseconds (counted from the first
    /// wait for them, so it also bounds an idle keep-alive connection over HTTP/1.1).
    pub header_read_timeout_ms: u64,
    /// Time a client has to send a request's whole body once its headers are in, in
    /// milliseconds (a body dribbled a byte at a time keeps its connection from going silent).
    pub body_read_timeout_ms: u64,
    /// Time a connection may stay silent (nothing read or written while waiting), in seconds.
    pub idle_timeout_seconds: u64,
    /// Largest request head (request line and headers), in bytes; larger gets `431`.
    pub max_header_bytes: usize,
    /// Requests at once on one HTTP/2 connection (its `SETTINGS_MAX_CONCURRENT_STREAMS`).
    pub max_streams_per_connection: u32,
    /// Request bodies one connection holds in memory at once, in bytes, over all its HTTP/2
    /// streams: a body waits for room on its own connection (`body_wait_ms`, then
    /// `503 server_busy`) before it is read. With `max_connections`, this bounds the memory
    /// slow bodies can take, and one connection's bodies never keep another's out.
    pub max_body_bytes_per_connection: usize,
    /// How long a request waits for room for its body on its connection, in milliseconds.
    pub body_wait_ms: u64,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        ConnectionConfig {
            max_connections: 1024,
            handshake_timeout_ms: 10_000,
            header_read_timeout_ms: 10_000,
            body_read_timeout_ms: 10_000,
            idle_timeout_seconds: 60,
            max_header_bytes: 16 * 1024,
            max_streams_per_connection: 32,
            max_body_bytes_per_connection: 256 * 1024,
            body_wait_ms: 5_000,
        }
    }
}

/// Rate limits: failed authentication per address and per presented key (guessing), and a
/// request budget for each valid credential. Failures from one address never limit valid
/// credentials used from it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Failed attempts a client address may make per minute (and in a burst): sized for an
    /// office behind one NAT.
    pub failed_auth_per_address_per_minute: u32,
    /// Failed attempts against one key per minute (and in a burst).
    pub failed_auth_per_key_per_minute: u32,
    /// Requests one licence key may make per minute (and in a burst), from all its machines.
    #[serde(default = "default_per_licence_key")]
    pub requests_per_license_key_per_minute: u32,
    /// Requests one management API key may make per minute (and in a burst).
    #[serde(default = "default_per_api_key")]
    pub requests_per_api_key_per_minute: u32,
}

fn default_per_licence_key() -> u32 {
    600
}

fn default_per_api_key() -> u32 {
    6000
}

/// Webhook delivery settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// First retry delay in milliseconds; doubles per attempt.
    pub retry_base_ms: u64,
    /// Longest retry delay in milliseconds.
    pub retry_max_ms: u64,
    /// Attempts before a delivery is given up.
    pub max_attempts: u32,
    /// Time a receiver has to answer, in milliseconds.
    pub timeout_ms: u64,
    /// Whether `http://` receivers on loopback addresses are allowed (local development);
    /// anywhere else only `https://` is.
    pub allow_http_loopback: bool,
    /// Whether receivers in loopback, private and link-local ranges are allowed (a sandbox
    /// whose receivers run beside it). Off, such targets are refused (see `egress`).
    #[serde(default)]
    pub allow_private_targets: bool,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            retry_base_ms: 1_000,
            retry_max_ms: 3_600_000,
            max_attempts: 12,
            timeout_ms: 10_000,
            allow_http_loopback: true,
            allow_private_targets: false,
        }
    }
}

/// How long bookkeeping rows are kept before the server prunes them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Idempotency records: a retry after this long is a new request.
    pub idempotency_hours: u32,
    /// Webhook events whose every delivery is done (delivered or given up).
    pub webhook_days: u32,
    /// How often the pruning runs.
    pub every_minutes: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            idempotency_hours: 24,
            webhook_days: 7,
            every_minutes: 60,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            database: "licentric.db".into(),
            signing_key: "keys/signing.key".into(),
            data_key: "keys/data.key".into(),
            tls_cert: "tls/server.pem".into(),
            tls_key: "tls/server.key".into(),
            ca_cert: "tls/ca.pem".into(),
            ca_key: "tls/ca.key".into(),
            default_ttl_seconds: licentric_proto::api::DEFAULT_TTL_SECONDS,
            max_ttl_seconds: 30 * 24 * 3600,
            min_ttl_seconds: 60,
            min_lease_ttl_seconds: default_min_lease_ttl(),
            max_body_bytes: 64 * 1024,
            rate_limit: RateLimitConfig {
                failed_auth_per_address_per_minute: 60,
                failed_auth_per_key_per_minute: 10,
                requests_per_license_key_per_minute: default_per_licence_key(),
                requests_per_api_key_per_minute: default_per_api_key(),
            },
            webhooks: WebhookConfig::default(),
            connections: ConnectionConfig::default(),
            retention: RetentionConfig::default(),
        }
    }
}

/// The shortest lease a product may set when the configuration does not say: a minute.
fn default_min_lease_ttl() -> u32 {
    60
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid.
    #[error("{path} is invalid: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

impl ServerConfig {
    /// Reads `server.toml` from `dir`.
    ///
    /// # Errors
    /// When the file is missing, unreadable or invalid (unknown keys included).
    pub fn load(dir: &Path) -> Result<ServerConfig, ConfigError> {
        let path = dir.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        let config: ServerConfig = toml::from_str(&text).map_err(|e| ConfigError::Invalid {
            path: path.clone(),
            message: e.to_string(),
        })?;
        config
            .check()
            .map_err(|message| ConfigError::Invalid { path, message })?;
        Ok(config)
    }

    fn check(&self) -> Result<(), String> {
        if !(self.min_ttl_seconds <= self.default_ttl_seconds
            && self.default_ttl_seconds <= self.max_ttl_seconds)
        {
            return Err("min_ttl_seconds ≤ default_ttl_seconds ≤ max_ttl_seconds must hold".into());
        }
        if self.max_ttl_seconds > licentric_proto::api::MAX_TTL_SECONDS {
            return Err(format!(
                "max_ttl_seconds may not exceed {}",
                licentric_proto::api::MAX_TTL_SECONDS
            ));
        }
        if self.max_body_bytes < 1024 {
            return Err("max_body_bytes must be at least 1024".into());
        }
        let c = &self.connections;
        if c.max_connections == 0
            || c.handshake_timeout_ms == 0
            || c.header_read_timeout_ms == 0
            || c.body_read_timeout_ms == 0
            || c.idle_timeout_seconds == 0
            || c.max_streams_per_connection == 0
            || c.body_wait_ms == 0
        {
            return Err("[connections] limits must be above zero".into());
        }
        // hyper's read buffer has a floor of 8 KiB.
        if c.max_header_bytes < 8192 {
            return Err("connections.max_header_bytes must be at least 8192".into());
        }
        // One body of the largest size must fit, or it would wait for room that never comes.
        if c.max_body_bytes_per_connection < self.max_body_bytes
            || u32::try_from(c.max_body_bytes_per_connection).is_err()
        {
            return Err(concat!(
                "connections.max_body_bytes_per_connection must be at least max_body_bytes, ",
                "and below 4 GiB"
            )
            .into());
        }
        Ok(())
    }

    /// A path from the configuration, resolved against `dir`.
    pub fn resolve(dir: &Path, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_owned()
        } else {
            dir.join(path)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_round_trips_and_unknown_keys_are_refused() {
        let text = toml::to_string(&ServerConfig::default()).unwrap();
        let back: ServerConfig = toml::from_str(&text).unwrap();
        assert_eq!(back, ServerConfig::default());
        let bad = format!("{text}\nshiny = true\n");
        assert!(toml::from_str::<ServerConfig>(&bad).is_err());
    }
}

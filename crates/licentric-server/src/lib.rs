//! The reference Licentric API server: what the demo, the sandbox and every end-to-end test
//! run against.
//!
//! - [`init::init`] makes a server folder: configuration, SQLite database, Ed25519 signing
//!   key, AES-256-GCM data key, local CA and certificate, a first test API key.
//! - [`serve::Server`] serves HTTPS (TLS 1.2+) — the client endpoints of `licentric-proto`'s
//!   [`api`](licentric_proto::api) and the management API under `/v1/admin/`.
//! - [`licensing`] holds the client endpoints' logic, [`webhooks`] the signed, retried
//!   deliveries, [`apikeys`] the scoped, environment-bound management keys, [`keys`] the
//!   signing keys and their rotation, [`domain`] the typed licence states and a product's
//!   policy (the seat-move and TTL decisions, without storage), [`store`] every SQL
//!   statement behind typed functions.
//!
//! Start reading at [`serve`] (the routes), then [`licensing`] for what a client call does;
//! `docs/server.md` describes configuration and operation, `docs/api/` the API.
//!
//! # Example
//!
//! ```no_run
//! # async fn demo() -> Result<(), licentric_server::ServerError> {
//! let dir = std::path::Path::new("/tmp/licentric-sandbox");
//! let report = licentric_server::init::init(dir)?;
//! println!("trust this CA: {}", report.ca_cert.display());
//! let server = licentric_server::serve::Server::bind(dir, Some("127.0.0.1:0".parse().unwrap())).await?;
//! println!("listening on {}", licentric_server::serve::url_of(server.local_addr()));
//! server.run(licentric_server::serve::shutdown_signal()).await;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod apikeys;
pub mod audit;
pub mod clock;
pub mod config;
pub mod conn;
pub mod crypto;
pub mod domain;
pub mod egress;
pub mod housekeeping;
pub mod http;
pub mod init;
pub mod keys;
pub mod leases;
pub mod licensing;
pub mod metrics;
pub mod ratelimit;
pub mod serve;
pub mod store;
pub mod tls;
pub mod views;
pub mod webhooks;

use std::path::PathBuf;

/// Why the server could not start or `init` failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The configuration is missing or invalid.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// The TLS certificate or key is unusable.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A key file does not hold 64 hex characters.
    #[error("{0} does not hold a 64-hex-character key")]
    BadKey(String),
    /// Another I/O failure.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Installs the ring crypto provider as rustls's process default (once; later calls do
/// nothing). The server and its HTTP clients use only ring.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

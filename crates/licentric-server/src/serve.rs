//! `licentric-server serve`: HTTPS only, TLS 1.2+, HTTP/1.1 and HTTP/2, graceful shutdown.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore, watch};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;

use crate::config::ServerConfig;
use crate::http::{AppState, ConnectionRoom, PeerAddr, router};
use crate::licensing::Issuer;
use crate::metrics::Metrics;
use crate::ratelimit::{FailureLimiter, RequestLimiter};
use crate::store::Store;
use crate::{ServerError, init, keys, tls, webhooks};

const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// A server ready to accept connections.
pub struct Server {
    listener: TcpListener,
    acceptor: TlsAcceptor,
    state: Arc<AppState>,
    local: SocketAddr,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("local", &self.local)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Loads the folder and binds the address (the configured one unless `listen` is given).
    ///
    /// # Errors
    /// When the configuration, keys, certificates or database cannot be loaded, or the
    /// address cannot be bound.
    pub async fn bind(dir: &Path, listen: Option<SocketAddr>) -> Result<Server, ServerError> {
        // The webhook client is built from rustls's process-wide provider: make sure there is one
        // before any task needs it, whoever embeds the server.
        crate::install_crypto_provider();
        let config = ServerConfig::load(dir)?;
        let path = |p: &Path| ServerConfig::resolve(dir, p);
        let signer = init::load_signer(&path(&config.signing_key))?;
        let data_key = Arc::new(init::load_data_key(&path(&config.data_key))?);
        let tls = tls::server_config(&path(&config.tls_cert), &path(&config.tls_key))?;
        let store = Store::open(&path(&config.database))?;
        let keys = store.write_blocking(|tx| {
            keys::adopt(tx, &data_key, &signer, crate::clock::now_unix())?;
            keys::Keyring::load(tx, Arc::clone(&data_key))
        })?;
        let listener = TcpListener::bind(listen.unwrap_or(config.listen))
            .await
            .map_err(|e| {
                ServerError::Io(std::io::Error::new(
                    e.kind(),
                    format!("cannot listen on {}: {e}", listen.unwrap_or(config.listen)),
                ))
            })?;
        let local = listener.local_addr().map_err(ServerError::Io)?;
        let state = Arc::new(AppState {
            store,
            issuer: Issuer::new(keys, &config),
            data_key,
            limiter: FailureLimiter::new(
                config.rate_limit.failed_auth_per_address_per_minute,
                config.rate_limit.failed_auth_per_key_per_minute,
            ),
            budgets: RequestLimiter::new(
                config.rate_limit.requests_per_license_key_per_minute,
                config.rate_limit.requests_per_api_key_per_minute,
            ),
            config,
            metrics: Arc::new(Metrics::default()),
            webhook_wake: Arc::new(Notify::new()),
        });
        Ok(Server {
            listener,
            acceptor: TlsAcceptor::from(tls),
            state,
            local,
        })
    }

    /// The bound address (the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Serves until `shutdown` resolves, then stops accepting, lets open requests finish (up
    /// to 10 s) and stops webhook delivery.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let (stop_tx, stop_rx) = watch::channel(false);
        let worker = tokio::spawn(webhooks::run(
            Arc::clone(&self.state.store),
            Arc::clone(&self.state.data_key),
            self.state.config.webhooks.clone(),
            Arc::clone(&self.state.webhook_wake),
            Arc::clone(&self.state.metrics),
            stop_rx.clone(),
        ));
        let pruner = tokio::spawn(crate::housekeeping::run(
            Arc::clone(&self.state.store),
            self.state.config.retention.clone(),
            Arc::clone(&self.state.metrics),
            stop_rx.clone(),
        ));
        // Leases that ran out are recorded (audit, webhook) within half a minute.
        let leases = tokio::spawn(crate::leases::run(
            Arc::clone(&self.state.store),
            std::time::Duration::from_secs(30),
            Arc::clone(&self.state.webhook_wake),
            stop_rx.clone(),
        ));
        let app = router(Arc::clone(&self.state));
        let graceful = GracefulShutdown::new();
        let limits = self.state.config.connections.clone();
        let handshake_timeout = Duration::from_millis(limits.handshake_timeout_ms);
        let idle_timeout = Duration::from_secs(limits.idle_timeout_seconds);
        let body_room = limits.max_body_bytes_per_connection;
        let mut builder = Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(Duration::from_millis(limits.header_read_timeout_ms))
            .max_buf_size(limits.max_header_bytes);
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
            .max_concurrent_streams(limits.max_streams_per_connection);
        // Back-pressure at accept: past the cap, new connections wait in the listen backlog
        // until one closes, instead of each taking a task and a socket.
        let slots = Arc::new(Semaphore::new(limits.max_connections));
        let metrics = Arc::clone(&self.state.metrics);
        tokio::pin!(shutdown);
        loop {
            let slot = tokio::select! {
                slot = Arc::clone(&slots).acquire_owned() => slot,
                () = &mut shutdown => break,
            };
            let Ok(slot) = slot else { break };
            tokio::select! {
                accepted = self.listener.accept() => {
                    let (tcp, peer) = match accepted {
                        Ok(pair) => pair,
                        Err(e) => {
                            // Out of descriptors, say: back off a little instead of spinning.
                            tracing::warn!(error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    let _ = tcp.set_nodelay(true);
                    let (acceptor, app, builder, watcher, metrics) = (self.acceptor.clone(), app.clone(), builder.clone(), graceful.watcher(), Arc::clone(&metrics));
                    tokio::spawn(async move {
                        let _slot = slot;
                        let _open = metrics.connection_opened();
                        let tls = match tokio::time::timeout(handshake_timeout, acceptor.accept(tcp)).await {
                            Ok(Ok(stream)) => stream,
                            Ok(Err(e)) => {
                                tracing::debug!(%peer, error = %e, "TLS handshake refused");
                                return;
                            }
                            Err(_) => {
                                metrics.handshake_timed_out();
                                return;
                            }
                        };
                        let io = crate::conn::Idle::new(tls, idle_timeout, metrics.idle_timeouts());
                        let room = ConnectionRoom(Arc::new(Semaphore::new(body_room)));
                        let service = hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
                            request.extensions_mut().insert(PeerAddr(peer));
                            request.extensions_mut().insert(room.clone());
                            app.clone().oneshot(request)
                        });
                        let connection = builder.serve_connection_with_upgrades(TokioIo::new(io), service).into_owned();
                        if let Err(e) = watcher.watch(connection).await {
                            tracing::debug!(%peer, error = %e, "connection ended with an error");
                        }
                    });
                }
                () = &mut shutdown => break,
            }
        }
        drop(self.listener);
        tracing::info!("shutting down: finishing open requests");
        if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("some connections did not finish in time");
        }
        let _ = stop_tx.send(true);
        let _ = worker.await;
        let _ = pruner.await;
        let _ = leases.await;
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

/// How to show the address: `https://127.0.0.1:8443`, `https://[::1]:8443`.
pub fn url_of(addr: SocketAddr) -> String {
    format!("https://{addr}")
}

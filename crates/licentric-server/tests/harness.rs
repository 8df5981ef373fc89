//! A sandbox server on 127.0.0.1:0 over real TLS, and a real HTTPS client that trusts only
//! its CA.

use std::path::{Path, PathBuf};
use std::time::Duration;

use licentric_core::{MachineId, TrustedKey};
use licentric_server::config::ServerConfig;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::sync::oneshot;

pub(crate) struct Sandbox {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) url: String,
    pub(crate) client: reqwest::Client,
    pub(crate) admin_token: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// An HTTPS client that trusts only `ca` (no system roots), like the companion.
pub(crate) fn client_trusting(ca: &Path) -> reqwest::Client {
    licentric_server::install_crypto_provider();
    let pem = std::fs::read(ca).unwrap();
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&pem).unwrap()])
        .https_only(true)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

impl Sandbox {
    /// A fresh server folder, adjusted by `tune`, served in this process.
    pub(crate) async fn start_with(tune: impl FnOnce(&mut ServerConfig)) -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        let report = licentric_server::init::init(dir.path()).unwrap();
        let mut config = ServerConfig::load(dir.path()).unwrap();
        config.webhooks.retry_base_ms = 50;
        config.webhooks.retry_max_ms = 200;
        config.webhooks.timeout_ms = 2_000;
        // The sandbox's receivers run beside it, on loopback.
        config.webhooks.allow_private_targets = true;
        tune(&mut config);
        std::fs::write(
            dir.path().join("server.toml"),
            toml::to_string(&config).unwrap(),
        )
        .unwrap();
        Sandbox::serve(dir, report.first_api_key.unwrap()).await
    }

    /// Serves the folder `dir` (made by [`start_with`](Self::start_with) and stopped) again.
    pub(crate) async fn serve(dir: tempfile::TempDir, admin_token: String) -> Sandbox {
        let server =
            licentric_server::serve::Server::bind(dir.path(), Some("127.0.0.1:0".parse().unwrap()))
                .await
                .unwrap();
        let url = licentric_server::serve::url_of(server.local_addr());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async move {
            let _ = stopped.await;
        }));
        let client = client_trusting(&dir.path().join("tls/ca.pem"));
        Sandbox {
            dir,
            url,
            client,
            admin_token,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub(crate) async fn start() -> Sandbox {
        Sandbox::start_with(|_| {}).await
    }

    /// Stops the server (as SIGTERM would) and hands back its folder.
    pub(crate) async fn stop(mut self) -> tempfile::TempDir {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
        self.dir
    }

    /// The server's address.
    pub(crate) fn addr(&self) -> std::net::SocketAddr {
        self.url.trim_start_matches("https://").parse().unwrap()
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub(crate) fn trusted_key(&self) -> TrustedKey {
        TrustedKey::from_hex(
            std::fs::read_to_string(self.path("keys/signing.pub"))
                .unwrap()
                .trim(),
        )
        .unwrap()
    }

    /// A request with a JSON body (or none), answered as (status, JSON or null).
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        auth: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.url));
        if let Some(auth) = auth {
            request = request.header("Authorization", auth);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (
            status,
            if text.is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&text).unwrap_or(Value::String(text))
            },
        )
    }

    pub(crate) async fn admin(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let auth = format!("Bearer {}", self.admin_token);
        self.call(method, &format!("/v1/admin{path}"), Some(&auth), body)
            .await
    }

    /// Creates the product `acme-cad` (prefix ACME) if needed, and a licence; returns (id, key).
    pub(crate) async fn licence(
        &self,
        max_machines: u32,
        entitlements: &[&str],
    ) -> (String, String) {
        let (status, _) = self
            .admin(
                Method::POST,
                "/products",
                Some(json!({"id": "acme-cad", "name": "Acme CAD", "key_prefix": "ACME"})),
            )
            .await;
        assert!(
            status == StatusCode::CREATED || status == StatusCode::CONFLICT,
            "product: {status}"
        );
        let (status, body) = self
            .admin(Method::POST, "/licenses", Some(json!({"product_id": "acme-cad", "max_machines": max_machines, "entitlements": entitlements})))
            .await;
        assert_eq!(status, StatusCode::CREATED, "create licence: {body}");
        (
            body["license"]["id"].as_str().unwrap().to_owned(),
            body["key"].as_str().unwrap().to_owned(),
        )
    }

    pub(crate) async fn activate(
        &self,
        key: &str,
        fingerprint: &str,
        nonce: &str,
        idempotency: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .client
            .post(format!("{}/v1/activations", self.url))
            .header("Authorization", format!("License {key}"))
            .json(&activation_body(fingerprint, nonce));
        if let Some(k) = idempotency {
            request = request.header("Idempotency-Key", k);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

pub(crate) fn activation_body(fingerprint: &str, nonce: &str) -> Value {
    json!({"fingerprint": fingerprint, "platform": "linux", "hostname": "test-host", "app_version": "0.1.0", "nonce": nonce})
}

/// The fingerprint of a made-up machine `n` for `acme-cad`.
pub(crate) fn fingerprint(n: u32) -> String {
    MachineId::new(&format!("a{n:031x}"), "test")
        .unwrap()
        .fingerprint("acme-cad")
        .as_str()
        .to_owned()
}

/// Verifies a signed statement the way the companion does; returns its kind's code.
pub(crate) fn statement_kind(
    sandbox: &Sandbox,
    body: &serde_json::Value,
    fp: &str,
    nonce: &str,
) -> &'static str {
    let verifier = licentric_core::Verifier::new(vec![sandbox.trusted_key()]);
    let text = body["error"]["statement"]
        .as_str()
        .unwrap_or_else(|| panic!("no signed statement in {body}"));
    verifier
        .verify_statement(
            text,
            "acme-cad",
            licentric_proto::Environment::Test,
            &licentric_core::Fingerprint::parse(fp).unwrap(),
            nonce,
        )
        .unwrap()
        .payload()
        .kind
        .code()
}

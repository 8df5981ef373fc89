//! Support for the end-to-end tests: the real `licentric-server` and `licentric` binaries in
//! their own processes, a sandbox with a licence, and an agent configured against it.
//!
//! The binaries are taken from the same target folder as the test (`.ci/test` builds them
//! first). Every test gets its own folders, port, socket and product id.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_docs,
    unreachable_pub
)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

#[cfg(target_os = "linux")]
pub mod atspi;
pub mod gui;

/// A process of a test's, stopped (killed and waited for) when the test ends, passed or failed.
pub struct Stopped(pub Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A D-Bus session bus of a test's own, ended when its daemon is dropped (as a logout ends
/// it), and its address. With `config`, that configuration file; without, the system's
/// session one (which starts installed services on demand).
pub fn private_bus(config: Option<&Path>) -> (Stopped, String) {
    let mut daemon = Command::new("dbus-daemon");
    match config {
        Some(file) => daemon.arg(format!("--config-file={}", file.display())),
        None => daemon.arg("--session"),
    };
    let mut bus = Stopped(
        daemon
            .args(["--nofork", "--print-address=1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut address = String::new();
    BufReader::new(bus.0.stdout.take().unwrap())
        .read_line(&mut address)
        .unwrap();
    (bus, address.trim().to_owned())
}

/// Whether `name` has an owner on the session bus at `address` (none: this process's own).
pub fn bus_name_owned(name: &str, address: Option<&str>) -> bool {
    let mut ask = Command::new("dbus-send");
    if let Some(address) = address {
        ask.env("DBUS_SESSION_BUS_ADDRESS", address);
    }
    ask.args([
        "--session",
        "--dest=org.freedesktop.DBus",
        "--print-reply",
        "/org/freedesktop/DBus",
        "org.freedesktop.DBus.NameHasOwner",
    ])
    .arg(format!("string:{name}"))
    .output()
    .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains("boolean true"))
}

/// A binary built next to this test.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap(); // target/debug/deps → target/debug
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build the workspace's binaries first (`cargo build --workspace --bins`, as .ci/test does)",
        path.display()
    );
    path
}

/// A running `licentric-server serve`, stopped on drop.
pub struct Server {
    pub dir: PathBuf,
    pub url: String,
    pub port: u16,
    pub admin_token: String,
    child: Option<Child>,
}

impl Server {
    /// Inits a server folder under `root` with short TTLs (`ttl` seconds by default) and serves it.
    pub fn start(root: &Path, ttl: u64) -> Server {
        let dir = root.join("server");
        let out = Command::new(bin("licentric-server"))
            .args(["init", "--dir"])
            .arg(&dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "init: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let admin_token = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .last()
            .unwrap()
            .to_owned();
        let config = dir.join("server.toml");
        let text = std::fs::read_to_string(&config).unwrap();
        let text = text
            .replace(
                "default_ttl_seconds = 1209600",
                &format!("default_ttl_seconds = {ttl}"),
            )
            .replace("min_ttl_seconds = 60", "min_ttl_seconds = 2")
            .replace("min_lease_ttl_seconds = 60", "min_lease_ttl_seconds = 2");
        std::fs::write(&config, text).unwrap();
        let mut server = Server {
            dir,
            url: String::new(),
            port: 0,
            admin_token,
            child: None,
        };
        server.serve("127.0.0.1:0");
        server
    }

    fn serve(&mut self, listen: &str) {
        let mut child = Command::new(bin("licentric-server"))
            .args(["serve", "--listen", listen, "--dir"])
            .arg(&self.dir)
            .env("LICENTRIC_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        self.url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("server said {line:?}"))
            .to_owned();
        self.port = self.url.rsplit(':').next().unwrap().parse().unwrap();
        self.child = Some(child);
    }

    /// Stops the server (SIGTERM) and waits for it: the network is gone.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port.
    pub fn restart(&mut self) {
        self.stop();
        let listen = format!("127.0.0.1:{}", self.port);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            // The port is normally free at once; retry briefly if the kernel still holds it.
            if std::net::TcpListener::bind(&listen).is_ok() || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.serve(&listen);
    }

    pub fn ca(&self) -> PathBuf {
        self.dir.join("tls/ca.pem")
    }

    pub fn public_key(&self) -> String {
        std::fs::read_to_string(self.dir.join("keys/signing.pub"))
            .unwrap()
            .trim()
            .to_owned()
    }

    /// Runs `licentric-server keys ARGS` on this server's folder; its stdout.
    pub fn keys(&self, args: &[&str]) -> String {
        let out = Command::new(bin("licentric-server"))
            .args(["keys", "--dir"])
            .arg(&self.dir)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "keys {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// A management call with curl (an independent HTTP client), answered as JSON.
    pub fn admin(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.admin_as(&self.admin_token, method, path, body)
    }

    /// A management call with the API key `token`.
    pub fn admin_as(&self, token: &str, method: &str, path: &str, body: Option<Value>) -> Value {
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "--fail-with-body", "-X", method, "--cacert"])
            .arg(self.ca())
            .args(["-H", &format!("Authorization: Bearer {token}")]);
        if let Some(body) = body {
            cmd.args([
                "-H",
                "Content-Type: application/json",
                "-d",
                &body.to_string(),
            ]);
        }
        let out = cmd
            .arg(format!("{}/v1/admin{path}", self.url))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{method} {path}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    }

    /// A seat of a floating licence checked out by another machine (`fingerprint`) straight
    /// from the API, with curl and the licence key: the HTTP status and the answer.
    pub fn lease_for(&self, key: &str, fingerprint: &str) -> (u16, Value) {
        self.call_lease(key, fingerprint, None)
    }

    /// As [`lease_for`](Self::lease_for), for a seat that must carry `entitlement`.
    pub fn call_lease(
        &self,
        key: &str,
        fingerprint: &str,
        entitlement: Option<&str>,
    ) -> (u16, Value) {
        let mut body = serde_json::json!({"fingerprint": fingerprint, "nonce": "0123456789abcdef0123456789abcdef"});
        if let Some(code) = entitlement {
            body["entitlement"] = code.into();
        }
        self.licence_call(key, "/v1/leases", &body)
    }

    /// Gives lease `id` back with its `secret`, straight from the API: the HTTP status.
    pub fn release_lease(&self, key: &str, id: &str, secret: &str) -> u16 {
        let body = serde_json::json!({"lease_secret": secret});
        self.licence_call(key, &format!("/v1/leases/{id}/release"), &body)
            .0
    }

    /// Frees machine `id`'s seat with the licence key `key`, as its holder may from any
    /// connected device, straight from the API: the HTTP status.
    pub fn free_machine(&self, key: &str, id: &str) -> u16 {
        self.licence_call_with("DELETE", key, &format!("/v1/machines/{id}"), &Value::Null)
            .0
    }

    /// A POST with the licence key `key` (curl): the HTTP status and the answer.
    fn licence_call(&self, key: &str, path: &str, body: &Value) -> (u16, Value) {
        self.licence_call_with("POST", key, path, body)
    }

    /// A call with the licence key `key` (curl): the HTTP status and the answer.
    fn licence_call_with(&self, method: &str, key: &str, path: &str, body: &Value) -> (u16, Value) {
        let mut curl = Command::new("curl");
        curl.args(["-sS", "-X", method, "--cacert"])
            .arg(self.ca())
            .args(["-H", &format!("Authorization: License {key}")]);
        // No body where there is none to send (a DELETE's), as the agent does.
        if !body.is_null() {
            curl.args([
                "-H",
                "Content-Type: application/json",
                "-d",
                &body.to_string(),
            ]);
        }
        let out = curl
            .args(["-w", "\n%{http_code}"])
            .arg(format!("{}{path}", self.url))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (answer, code) = text.rsplit_once('\n').unwrap_or(("", &text));
        (
            code.trim().parse().unwrap_or(0),
            serde_json::from_str(answer).unwrap_or(Value::Null),
        )
    }

    /// A management API key of the live environment, made with `licentric-server api-key`
    /// (the documented way to get a first live key).
    pub fn live_admin_token(&self) -> String {
        let out = Command::new(bin("licentric-server"))
            .args(["api-key", "--dir"])
            .arg(&self.dir)
            .args([
                "--environment",
                "live",
                "--name",
                "e2e live",
                "--scopes",
                "licenses:read,licenses:write,machines:read,machines:write",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "api-key: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .last()
            .unwrap()
            .trim()
            .to_owned()
    }

    /// Creates `product` (prefix ACME) and a licence; returns (licence id, key).
    pub fn licence(&self, product: &str, max_machines: u32) -> (String, String) {
        self.licence_as(&self.admin_token, product, max_machines)
    }

    /// As [`licence`](Self::licence), in the environment of the API key `token`.
    pub fn licence_as(&self, token: &str, product: &str, max_machines: u32) -> (String, String) {
        // The product, unless the test made it already (with settings of its own).
        let products = self.admin_as(token, "GET", "/products", None);
        let exists = products["products"]
            .as_array()
            .is_some_and(|all| all.iter().any(|p| p["id"] == product));
        if !exists {
            self.admin_as(
                token,
                "POST",
                "/products",
                Some(json!({"id": product, "name": "Acme CAD", "key_prefix": "ACME"})),
            );
        }
        let body = self.admin_as(token, "POST", "/licenses", Some(json!({"product_id": product, "max_machines": max_machines, "entitlements": ["pro", "export-pdf"]})));
        (
            body["license"]["id"].as_str().unwrap().to_owned(),
            body["key"].as_str().unwrap().to_owned(),
        )
    }
}

impl Server {
    /// Submits an activation request file with `key`, as a connected device would (curl, as
    /// docs/companion.md shows); returns the licence file.
    pub fn offline_activation(&self, key: &str, request: &str) -> String {
        let body = json!({ "request": request }).to_string();
        let answer = Command::new("curl")
            .args(["-sS", "--fail-with-body", "--cacert"])
            .arg(self.ca())
            .args([
                "-H",
                &format!("Authorization: License {key}"),
                "-H",
                "Content-Type: application/json",
                "-d",
                &body,
            ])
            .arg(format!("{}/v1/offline-activations", self.url))
            .output()
            .unwrap();
        assert!(
            answer.status.success(),
            "{}",
            String::from_utf8_lossy(&answer.stdout)
        );
        let answer: Value = serde_json::from_slice(&answer.stdout).unwrap();
        answer["license_file"].as_str().unwrap().to_owned()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// An agent's configuration and folders.
pub struct Companion {
    pub root: PathBuf,
    pub config: PathBuf,
    pub socket: PathBuf,
    pub data: PathBuf,
    pub product: String,
    pub environment: String,
    pub machine_id: String,
    child: Option<Child>,
    pub log: PathBuf,
}

impl Companion {
    /// Writes `companion.toml` for `product` against `server`, with `extra` lines appended.
    pub fn new(root: &Path, server: &Server, product: &str, extra: &str) -> Companion {
        Companion::in_environment(root, server, product, "test", extra)
    }

    /// As [`new`](Self::new), in `environment` (`test` or `live`). A live configuration is
    /// the vendor's only when only root can write it: tests run as root, in root's folders.
    pub fn in_environment(
        root: &Path,
        server: &Server,
        product: &str,
        environment: &str,
        extra: &str,
    ) -> Companion {
        let dir = root.join("companion");
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("companion.toml");
        let text = format!(
            "product_id = \"{product}\"\nproduct_name = \"Acme CAD\"\nenvironment = \"{environment}\"\napi_base_url = \"{url}\"\n\
             key_prefix = \"ACME\"\ntrusted_keys = [\"{key}\"]\nextra_ca = \"{ca}\"\nextra_ca_only = true\n\
             data_dir = \"data\"\n{extra}\n[ipc]\nsocket = \"run/{product}.sock\"\n\n[refresh]\nattempts = 2\nretry_base_ms = 100\ntimeout_seconds = 5\n",
            url = server.url,
            key = server.public_key(),
            ca = server.ca().display(),
        );
        std::fs::write(&config, text).unwrap();
        Companion {
            socket: dir.join(format!("run/{product}.sock")),
            environment: environment.to_owned(),
            data: dir.join("data"),
            log: dir.join("agent.log"),
            config,
            root: dir,
            product: product.to_owned(),
            machine_id: "5c0ffee5c0ffee5c0ffee5c0ffee5c0f".to_owned(),
            child: None,
        }
    }

    /// Replaces the configuration's `trusted_keys` with `keys` (public keys, hex).
    pub fn trust(&self, keys: &[&str]) {
        let text = std::fs::read_to_string(&self.config).unwrap();
        let list = keys
            .iter()
            .map(|k| format!("\"{k}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let text: String = text
            .lines()
            .map(|line| {
                if line.starts_with("trusted_keys = ") {
                    format!("trusted_keys = [{list}]\n")
                } else {
                    format!("{line}\n")
                }
            })
            .collect();
        std::fs::write(&self.config, text).unwrap();
    }

    /// The `licentric` command with this configuration, on a made-up machine: its machine id
    /// and (in the test environment) hardware of its own, so that two companions of a test
    /// are two machines, not one machine's systems sharing this host's real parts.
    pub fn cli(&self) -> Command {
        let mut cmd = Command::new(bin("licentric"));
        let id = &self.machine_id;
        let mac: Vec<&str> = (0..6).map(|i| &id[2 * i..2 * i + 2]).collect();
        cmd.arg("--config")
            .arg(&self.config)
            .env("LICENTRIC_MACHINE_ID", id)
            .env(
                "LICENTRIC_COMPONENTS",
                format!(
                    "board_uuid={id};disk_serial=E2E-{id};network_card=02:{};cpu_model=E2E CPU",
                    mac[1..].join(":")
                ),
            )
            .env_remove("LICENTRIC_SOCKET")
            // A tray's Open starts the app's webview window, which the webview's tests drive
            // (`native.rs` removes it to test the native window).
            .env(gui::WEBVIEW.0, gui::WEBVIEW.1);
        cmd
    }

    /// Starts `licentric agent` and waits until it answers on its socket.
    pub fn start_agent(&mut self) {
        self.start_agent_with(|_| {});
    }

    /// Starts the agent with extra settings on its command (faketime, say).
    pub fn start_agent_with(&mut self, adjust: impl FnOnce(&mut Command)) {
        let log = std::fs::File::create(&self.log).unwrap();
        let mut cmd = self.cli();
        cmd.arg("agent").env("LICENTRIC_LOG", "debug");
        // A wrapper (faketime) may replace the command, taking the agent's as its arguments.
        adjust(&mut cmd);
        let child = cmd
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while licentric_client::Client::connect(&self.socket).is_err() {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!(
                    "the agent exited ({status}): {}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "the agent did not answer: {}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts the agent with its wall clock moved by `offset` (libfaketime's notation:
    /// `-2d`, `+3d`…); timers stay on the real monotonic clock.
    pub fn start_agent_at(&mut self, offset: &str) {
        let lib = libfaketime();
        self.start_agent_with(|cmd| {
            cmd.env("LD_PRELOAD", lib)
                .env("FAKETIME", offset)
                .env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
        });
    }

    /// The running agent's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The credential-store service of this companion.
    pub fn service(&self) -> String {
        format!(
            "com.licentric.companion.{}.{}",
            self.product, self.environment
        )
    }

    /// Stops the agent: SIGTERM, or SIGKILL with `kill`.
    pub fn stop_agent(&mut self, signal: &str) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args([signal, &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }

    pub fn client(&self) -> licentric_client::Client {
        licentric_client::Client::connect(&self.socket).unwrap()
    }

    pub fn agent_log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Companion {
    fn drop(&mut self) {
        self.stop_agent("-TERM");
    }
}

/// libfaketime, to preload into an agent whose clock a test moves (the `faketime` wrapper
/// forks, and a forked agent would outlive the process the test stops).
pub fn libfaketime() -> &'static str {
    [
        "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/faketime/libfaketime.so.1",
    ]
    .into_iter()
    .find(|p| Path::new(p).exists())
    .expect("libfaketime is needed (package faketime; .ci/test installs it)")
}

/// A listener on loopback for TLS with the sandbox's own certificate (so the companion trusts
/// it, as it would a compromised or buggy server), and its TLS configuration.
fn tls_front(
    server_dir: &std::path::Path,
) -> (std::net::TcpListener, std::sync::Arc<rustls::ServerConfig>) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(server_dir.join("tls/server.pem"))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(server_dir.join("tls/server.key")).unwrap();
    let mut config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    (listener, std::sync::Arc::new(config))
}

/// Reads one HTTP request from `tls`: its head and its body (by `Content-Length`).
fn read_request(tls: &mut impl std::io::Read) -> Option<(String, Vec<u8>)> {
    let mut request = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        match tls.read(&mut buf) {
            Ok(0) | Err(_) => return None,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    };
    let head = String::from_utf8_lossy(&request[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    while request.len() < head_end + length {
        match tls.read(&mut buf) {
            Ok(0) | Err(_) => return None,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    Some((head, request[head_end..head_end + length].to_vec()))
}

/// A TLS server with the sandbox's own certificate that is always busy: `503`, come back in
/// `retry_after` seconds. Returns its port.
pub fn busy_https(server_dir: &std::path::Path, retry_after: u32) -> u16 {
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\nRetry-After: {retry_after}\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
    );
    hostile_https(server_dir, Some(answer.into_bytes()))
}

/// A TLS server with the sandbox's own certificate that reads each request and answers
/// `answer`, or never answers with `None`. Returns its port.
pub fn hostile_https(server_dir: &std::path::Path, answer: Option<Vec<u8>>) -> u16 {
    use std::io::{Read, Write};
    let (listener, config) = tls_front(server_dir);
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (config, answer) = (std::sync::Arc::clone(&config), answer.clone());
            std::thread::spawn(move || {
                let conn = rustls::ServerConnection::new(config).unwrap();
                let mut tls = rustls::StreamOwned::new(conn, stream);
                if read_request(&mut tls).is_none() {
                    return;
                }
                match answer {
                    Some(bytes) => {
                        let _ = Write::write_all(&mut tls, &bytes);
                        let _ = Write::flush(&mut tls);
                    }
                    // Holds the connection open, silent, until the client gives up.
                    None => {
                        let mut buf = [0u8; 4096];
                        while matches!(Read::read(&mut tls, &mut buf), Ok(n) if n > 0) {}
                    }
                }
            });
        }
    });
    port
}

/// Upstream's answer to a request a [`front`] passes on: its status and body.
pub type Passed = (u16, Vec<u8>);

/// A front to `server` over TLS (its CA's certificate): each request goes to `rule` with its
/// request line (`POST /v1/leases`) and body, and a way to pass it on to `server` (through
/// curl) for upstream's answer; `rule` answers, upstream's way or its own. Returns the front's
/// address.
pub fn front(
    server: &Server,
    rule: impl Fn(&str, &[u8], &dyn Fn() -> Passed) -> Passed + Send + Sync + 'static,
) -> String {
    use std::io::Write;
    let (listener, config) = tls_front(&server.dir);
    let url = format!(
        "https://127.0.0.1:{}",
        listener.local_addr().unwrap().port()
    );
    let (rule, upstream, ca) = (std::sync::Arc::new(rule), server.url.clone(), server.ca());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (config, rule, upstream, ca) = (
                std::sync::Arc::clone(&config),
                std::sync::Arc::clone(&rule),
                upstream.clone(),
                ca.clone(),
            );
            std::thread::spawn(move || {
                let conn = rustls::ServerConnection::new(config).unwrap();
                let mut tls = rustls::StreamOwned::new(conn, stream);
                let Some((head, body)) = read_request(&mut tls) else {
                    return;
                };
                let mut lines = head.lines();
                let first = lines.next().unwrap_or_default().to_owned();
                let mut words = first.split_whitespace();
                let (method, path) = (words.next().unwrap_or("GET"), words.next().unwrap_or("/"));
                let headers: Vec<String> = lines
                    .filter(|line| {
                        let name = line
                            .split(':')
                            .next()
                            .unwrap_or_default()
                            .to_ascii_lowercase();
                        matches!(
                            name.as_str(),
                            "authorization" | "content-type" | "idempotency-key"
                        )
                    })
                    .map(str::to_owned)
                    .collect();
                let pass = || {
                    let mut curl = Command::new("curl");
                    curl.args(["-sS", "-X", method, "--cacert"]).arg(&ca);
                    for line in &headers {
                        curl.args(["-H", line]);
                    }
                    let out = curl
                        .args(["--data-binary", "@-", "-w", "\n%{http_code}"])
                        .arg(format!("{upstream}{path}"))
                        .stdin(Stdio::piped())
                        .stdout(Stdio::piped())
                        .spawn()
                        .and_then(|mut child| {
                            child.stdin.take().unwrap().write_all(&body)?;
                            child.wait_with_output()
                        })
                        .unwrap();
                    let text = String::from_utf8_lossy(&out.stdout).into_owned();
                    let (answer, code) = text.rsplit_once('\n').unwrap_or(("", "502"));
                    (
                        code.trim().parse().unwrap_or(502),
                        answer.as_bytes().to_vec(),
                    )
                };
                let (status, answer) = rule(&format!("{method} {path}"), &body, &pass);
                let _ = write!(
                    tls,
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    answer.len()
                );
                let _ = tls.write_all(&answer);
                let _ = tls.flush();
            });
        }
    });
    url
}

/// A licensing server from before the machine's parts, in front of `server`: it refuses a
/// request that names `components` or `runs_in` as that server did (`400 invalid_request`,
/// "unknown field") and passes every other one on. Returns its address and the number of
/// requests it refused so far.
pub fn older_server(server: &Server) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let refused = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&refused);
    let url = front(server, move |_, body, pass| {
        let text = String::from_utf8_lossy(body);
        if text.contains("\"components\"") || text.contains("\"runs_in\"") {
            counter.fetch_add(1, Ordering::SeqCst);
            (400, json!({"error": {"code": "invalid_request", "message": "unknown field `components`, expected one of `fingerprint`, `platform`, `hostname`, `app_version`, `nonce`"}}).to_string().into_bytes())
        } else {
            pass()
        }
    });
    (url, refused)
}

/// A network attacker in front of `server` who recorded the first seat it saw checked out
/// (a genuine, signed lease for this machine) and answers every later checkout and renewal
/// with it. Returns its address and how many answers it replayed.
pub fn replaying_front(
    server: &Server,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let replayed = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&replayed);
    let recorded: std::sync::Mutex<Option<Vec<u8>>> = std::sync::Mutex::new(None);
    let url = front(server, move |request, _, pass| {
        let seat = request == "POST /v1/leases"
            || (request.starts_with("POST /v1/leases/") && request.ends_with("/renew"));
        if !seat {
            return pass();
        }
        let mut recorded = recorded.lock().unwrap();
        if let Some(old) = recorded.as_ref() {
            counter.fetch_add(1, Ordering::SeqCst);
            return (200, old.clone());
        }
        let (status, answer) = pass();
        if status == 201 {
            *recorded = Some(answer.clone());
        }
        (status, answer)
    });
    (url, replayed)
}

/// The C example (`examples/c/licentric-status.c`), compiled with the system's C compiler
/// against the C ABI (`liblicentric.so`, built with the workspace) once per test process.
/// Run it through [`c_example_command`].
pub fn c_example() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let lib_dir = bin("liblicentric.so").parent().unwrap().to_owned();
            let dir =
                std::env::temp_dir().join(format!("licentric-c-example-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let out = dir.join("licentric-status");
            let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
            let built = Command::new("cc")
                .args(["-Wall", "-Wextra", "-Werror", "-o"])
                .arg(&out)
                .arg(format!("{root}/examples/c/licentric-status.c"))
                .arg(format!("-I{root}/crates/licentric-capi/include"))
                .arg(format!("-L{}", lib_dir.display()))
                .args(["-llicentric", "-lpthread"])
                .output()
                .unwrap();
            assert!(
                built.status.success(),
                "the C example does not compile: {}",
                String::from_utf8_lossy(&built.stderr)
            );
            out
        })
        .clone()
}

/// Copies the agent's data folder `from` to `to` as a user would while the agent runs: every
/// file but the agent's own temporary ones (`.<name>.<random>.tmp`, which an atomic write
/// renames away at any moment), a file gone between the listing and its copy skipped.
pub fn copy_data_folder(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        let name_text = name.to_string_lossy();
        if name_text.starts_with('.') && name_text.ends_with(".tmp") {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            copy_data_folder(&path, &to.join(&name));
            continue;
        }
        match std::fs::copy(&path, to.join(&name)) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => panic!("copying {}: {e}", path.display()),
        }
    }
}

/// A program of the user's own squatting on a socket in a private folder of `dir`, posing as
/// the agent of `product` (test): it answers `version` as that agent would, and every other
/// call with `answer(method)`. It passes every check of the socket — it runs as the user —
/// so only what it cannot forge, the vendor's signature for this machine, gives it away.
pub fn impostor(
    dir: &Path,
    product: &str,
    answer: impl Fn(&str) -> Value + Send + Sync + 'static,
) -> PathBuf {
    use std::io::Write as _;
    use std::os::unix::fs::PermissionsExt as _;
    static MADE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let run_dir = dir.join(format!("impostor-{n}"));
    std::fs::create_dir_all(&run_dir).unwrap();
    std::fs::set_permissions(&run_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let socket = run_dir.join("agent.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let product = product.to_owned();
    let answer = std::sync::Arc::new(answer);
    std::thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            let (product, answer) = (product.clone(), answer.clone());
            std::thread::spawn(move || {
                let mut out = stream.try_clone().unwrap();
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let request: Value = serde_json::from_str(&line).unwrap_or_default();
                    let method = request["method"].as_str().unwrap_or_default();
                    let result = match method {
                        "version" => json!({"protocol": 1, "agent_version": "0",
                            "product_id": product, "environment": "test", "management": true}),
                        _ => answer(method),
                    };
                    let reply = json!({"jsonrpc": "2.0", "id": request["id"], "result": result});
                    if writeln!(out, "{reply}").is_err() {
                        return;
                    }
                }
            });
        }
    });
    socket
}

/// A command running the C example, finding the library beside the binaries.
pub fn c_example_command() -> Command {
    let mut cmd = Command::new(c_example());
    cmd.env("LD_LIBRARY_PATH", bin("liblicentric.so").parent().unwrap());
    cmd
}

/// `cmd` run by `wrapper` (`wrapper args… program its-args…`), with the same environment: a
/// limit set by `prlimit`, a signal ignored by `sh`, before the program starts.
pub fn run_inside(cmd: &mut Command, wrapper: &str, args: &[&str]) {
    let mut wrapped = Command::new(wrapper);
    wrapped
        .args(args)
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => wrapped.env(k, v),
            None => wrapped.env_remove(k),
        };
    }
    *cmd = wrapped;
}

/// Runs a command, returning (exit code, stdout, stderr).
pub fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// As [`run`], for a command expected to end by itself (an agent refusing to start, say): one
/// still running after `limit` is killed and the test fails, rather than waiting for ever.
pub fn run_within(cmd: &mut Command, limit: Duration) -> (i32, String, String) {
    use std::io::Read as _;
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let read = |mut from: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = from.read_to_string(&mut text);
            text
        })
    };
    let out = read(Box::new(child.stdout.take().unwrap()));
    let err = read(Box::new(child.stderr.take().unwrap()));
    let (ended, end) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = ended.send(child.wait());
    });
    let Ok(status) = end.recv_timeout(limit) else {
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
        panic!("{cmd:?} was still running after {limit:?}");
    };
    (
        status.unwrap().code().unwrap_or(-1),
        out.join().unwrap(),
        err.join().unwrap(),
    )
}

/// Whether a Secret Service answers on this session bus (the tests run inside one).
pub fn secret_service_available() -> bool {
    std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some()
}

/// Waits on a subscription until a pushed status satisfies `pred` (a signal, not a sleep;
/// at most 30 s), and returns it.
pub fn pushed(
    client: &mut licentric_client::Client,
    what: &str,
    pred: impl Fn(&licentric_proto::ipc::Status) -> bool,
) -> licentric_proto::ipc::Status {
    client.set_timeout(Some(Duration::from_secs(30))).unwrap();
    let started = Instant::now();
    loop {
        let status = client
            .next_change()
            .unwrap_or_else(|e| panic!("waiting for {what}: {e}"));
        if pred(&status) {
            return status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never saw {what}; last: {status:?}"
        );
    }
}

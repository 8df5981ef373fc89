//! A retried activation creates one machine: the agent reaches the server through an HTTP
//! CONNECT proxy (this test's own) that loses the first answer after the server has handled
//! the request, so the agent must retry — with the same Idempotency-Key.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use licentric_e2e::{Companion, Server, run};

/// Relays `from` → `to`. Returns when either side closes. With `on_app_data`, the first
/// application data from the client stops the other direction (`.1` set to false) before it
/// is forwarded — so no answer can slip through — and is recorded in `.0`.
fn relay(
    mut from: TcpStream,
    mut to: TcpStream,
    forward: Arc<AtomicBool>,
    on_app_data: Option<(Arc<AtomicBool>, Arc<AtomicBool>)>,
) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some((seen, other_way)) = &on_app_data {
            // A TLS record of type 23 from the client: its Finished and request follow the
            // handshake, so the server is about to handle the activation.
            if buf[..n].windows(3).any(|w| w == [23, 3, 3]) {
                other_way.store(false, Ordering::SeqCst);
                seen.store(true, Ordering::SeqCst);
            }
        }
        if forward.load(Ordering::SeqCst) && to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// A CONNECT proxy whose first tunnel drops everything the server sends once the client has
/// sent its request, then cuts the connection.
fn lossy_proxy(tunnels: Arc<AtomicUsize>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { continue };
            let tunnels = Arc::clone(&tunnels);
            std::thread::spawn(move || {
                let mut reader = BufReader::new(client.try_clone().unwrap());
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let target = line.split_whitespace().nth(1).unwrap().to_owned();
                loop {
                    let mut header = String::new();
                    reader.read_line(&mut header).unwrap();
                    if header == "\r\n" || header.is_empty() {
                        break;
                    }
                }
                let server = TcpStream::connect(&target).unwrap();
                let mut c = client.try_clone().unwrap();
                c.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .unwrap();
                let first = tunnels.fetch_add(1, Ordering::SeqCst) == 0;
                let to_server = Arc::new(AtomicBool::new(true));
                let to_client = Arc::new(AtomicBool::new(true));
                let app_data = Arc::new(AtomicBool::new(false));
                let up = {
                    let (from, to, fwd) = (
                        client.try_clone().unwrap(),
                        server.try_clone().unwrap(),
                        Arc::clone(&to_server),
                    );
                    let watch = first.then(|| (Arc::clone(&app_data), Arc::clone(&to_client)));
                    std::thread::spawn(move || relay(from, to, fwd, watch))
                };
                if first {
                    // Let the handshake through; once the request is on its way, swallow the
                    // answer, give the server time to handle it, and cut the tunnel.
                    let down = {
                        let (from, to, fwd) = (
                            server.try_clone().unwrap(),
                            client.try_clone().unwrap(),
                            Arc::clone(&to_client),
                        );
                        std::thread::spawn(move || relay(from, to, fwd, None))
                    };
                    while !app_data.load(Ordering::SeqCst) {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    std::thread::sleep(Duration::from_millis(1500));
                    let _ = client.shutdown(Shutdown::Both);
                    let _ = server.shutdown(Shutdown::Both);
                    let _ = down.join();
                } else {
                    relay(server, client, to_client, None);
                }
                let _ = up.join();
            });
        }
    });
    port
}

#[test]
fn a_retried_activation_creates_one_machine() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1209600);
    let (licence_id, key) = server.licence("e2e-retry", 5);
    let tunnels = Arc::new(AtomicUsize::new(0));
    let port = lossy_proxy(Arc::clone(&tunnels));
    let mut c = Companion::new(
        tmp.path(),
        &server,
        "e2e-retry",
        &format!("allow_file_credential_store = true\nproxy = \"http://127.0.0.1:{port}\""),
    );
    c.start_agent();

    let (code, out, err) = run(c.cli().args(["activate", &key]));
    assert_eq!(code, 0, "the retry must succeed: {out}{err}");
    assert!(
        tunnels.load(Ordering::SeqCst) >= 2,
        "the first answer was not lost: no retry happened"
    );

    let machines = server.admin("GET", &format!("/licenses/{licence_id}/machines"), None);
    assert_eq!(
        machines["machines"].as_array().unwrap().len(),
        1,
        "one machine, however often it was asked: {machines}"
    );
    // The server answered twice with 201: the second was the replay of the first.
    let metrics = std::process::Command::new("curl")
        .args(["-sS", "--cacert"])
        .arg(server.ca())
        .args([
            "-H",
            &format!("Authorization: Bearer {}", server.admin_token),
        ])
        .arg(format!("{}/metrics", server.url))
        .output()
        .unwrap();
    let metrics = String::from_utf8_lossy(&metrics.stdout).into_owned();
    assert!(
        metrics.contains(
            "licentric_http_requests_total{endpoint=\"POST /v1/activations\",status=\"201\"} 2"
        ),
        "{metrics}"
    );
}

/// A server that is always busy (503, come back in 20 s), and an agent of product `product`
/// pointed at it, running: an activation's first try fails at once and its second and last
/// waits 20 s. Also the configuration's text and the licence key.
fn busy_companion(root: &std::path::Path, product: &str) -> (Server, Companion, String, String) {
    let server = Server::start(root, 1209600);
    let (_, key) = server.licence(product, 2);
    let port = licentric_e2e::busy_https(&server.dir, 20);
    let mut c = Companion::new(root, &server, product, "allow_file_credential_store = true");
    let text = std::fs::read_to_string(&c.config)
        .unwrap()
        .replace(&server.url, &format!("https://localhost:{port}"));
    std::fs::write(&c.config, &text).unwrap();
    c.start_agent();
    (server, c, text, key)
}

/// Beside an activation asked on one connection (the window, as a background agent's client),
/// another connection follows its retries and cancels it: the activation ends at once with
/// `cancelled` and installs nothing. With management off in the vendor's configuration,
/// `cancel` is refused, as the activation itself would be.
#[test]
fn another_connection_follows_the_retries_and_cancels() {
    let tmp = tempfile::tempdir().unwrap();
    let (_server, mut c, text, key) = busy_companion(tmp.path(), "e2e-cancel");
    assert_eq!(c.client().progress().unwrap(), None, "nothing runs yet");
    // A cancel with nothing running is spent: it does not reach the activation asked later.
    c.client().cancel().unwrap();

    let socket = c.socket.clone();
    let activation = std::thread::spawn(move || {
        licentric_client::Client::connect(&socket)
            .unwrap()
            .activate(&key)
    });
    let mut watcher = c.client();
    let retrying = licentric_e2e::gui::wait_for("the retry", Duration::from_secs(20), || {
        watcher.progress().unwrap()
    });
    assert_eq!(
        (retrying.attempt, retrying.of, retrying.because.as_str()),
        (2, 2, "server_unavailable"),
        "the activation's second try, after the busy answer"
    );
    watcher.cancel().unwrap();
    let Err(licentric_client::ClientError::Agent(refused)) = activation.join().unwrap() else {
        panic!("the activation was not cancelled");
    };
    assert_eq!(
        refused.data.map(|d| d.code).as_deref(),
        Some("cancelled"),
        "{}",
        refused.message
    );
    assert_eq!(watcher.progress().unwrap(), None, "no retry left behind");
    assert_eq!(
        watcher.status().unwrap().state,
        licentric_proto::LicenseState::Unlicensed,
        "nothing installed"
    );

    c.stop_agent("-TERM");
    std::fs::write(
        &c.config,
        text.replace("[ipc]\n", "[ipc]\nmanagement = false\n"),
    )
    .unwrap();
    c.start_agent();
    let Err(licentric_client::ClientError::Agent(refused)) = c.client().cancel() else {
        panic!("cancel was allowed with management off");
    };
    assert_eq!(
        refused.data.map(|d| d.code).as_deref(),
        Some("management_disabled")
    );
}

/// Deactivating while the server is busy can be cancelled like an activation: the wait ends at
/// once with `cancelled`, and nothing is forgotten here — the machine stays activated and
/// licensed, its key and file kept.
#[test]
fn a_deactivation_waiting_on_the_server_can_be_cancelled() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1209600);
    let product = "e2e-cancel-deactivate";
    let (_, key) = server.licence(product, 2);
    let mut c = Companion::new(
        tmp.path(),
        &server,
        product,
        "allow_file_credential_store = true",
    );
    c.start_agent();
    c.client().activate(&key).unwrap();
    c.stop_agent("-TERM");
    let port = licentric_e2e::busy_https(&server.dir, 20);
    let text = std::fs::read_to_string(&c.config)
        .unwrap()
        .replace(&server.url, &format!("https://localhost:{port}"));
    std::fs::write(&c.config, text).unwrap();
    c.start_agent();

    let socket = c.socket.clone();
    let deactivation = std::thread::spawn(move || {
        licentric_client::Client::connect(&socket)
            .unwrap()
            .deactivate()
    });
    let mut watcher = c.client();
    licentric_e2e::gui::wait_for("the retry", Duration::from_secs(20), || {
        watcher.progress().unwrap()
    });
    watcher.cancel().unwrap();
    let Err(licentric_client::ClientError::Agent(refused)) = deactivation.join().unwrap() else {
        panic!("the deactivation was not cancelled");
    };
    assert_eq!(refused.data.map(|d| d.code).as_deref(), Some("cancelled"));
    let status = watcher.status().unwrap();
    assert!(
        status.entitled && status.license_key_hint.is_some(),
        "still activated, key and file kept: {status:?}"
    );
}

/// `licentric activate` at a terminal while the server is busy: it says it waits, and each
/// retry with its reason (on standard error); Ctrl-C stops the wait in the agent, which
/// installs nothing, and the command says it was cancelled.
#[test]
fn the_command_line_shows_the_retries_and_ctrl_c_cancels() {
    use std::io::BufRead as _;
    let tmp = tempfile::tempdir().unwrap();
    let (_server, c, _, key) = busy_companion(tmp.path(), "e2e-cli-cancel");
    let mut activate = c
        .cli()
        .args(["activate", &key])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut said = Vec::new();
    let mut lines = BufReader::new(activate.stderr.take().unwrap()).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        said.push(line.clone());
        if line.contains("trying again") {
            break;
        }
    }
    assert_eq!(
        said,
        [
            "Waiting for the licensing server… (Ctrl-C to cancel)",
            "The licensing server is busy or unavailable; trying again (attempt 2)…"
        ],
        "the wait said, then its retry"
    );
    // While it waits, other local users reading the process list do not see the key.
    let shown = std::fs::read(format!("/proc/{}/cmdline", activate.id())).unwrap();
    let shown = String::from_utf8_lossy(&shown);
    assert!(
        shown.contains("activate") && !shown.contains(&key),
        "{shown}"
    );
    std::process::Command::new("kill")
        .args(["-INT", &activate.id().to_string()])
        .status()
        .unwrap();
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    let ended = activate.wait().unwrap();
    assert_eq!(ended.code(), Some(1), "{rest:?}");
    assert_eq!(
        rest.first().map(String::as_str),
        Some("Cancelling… (Ctrl-C again to leave at once)"),
        "{rest:?}"
    );
    assert!(
        rest.last().unwrap().ends_with("[cancelled]"),
        "says it was cancelled: {rest:?}"
    );
    assert_eq!(
        c.client().status().unwrap().state,
        licentric_proto::LicenseState::Unlicensed,
        "nothing installed"
    );
}

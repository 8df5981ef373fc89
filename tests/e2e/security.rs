use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::process::Command;

use licentric_e2e::{Companion, Server, run, secret_service_available};

#[test]
fn tls_failures_are_refused_and_pins_are_enforced() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1209600);
    let (_, key) = server.licence("e2e-tls", 5);

    // A CA the server's certificate was not issued by.
    let other = tmp.path().join("other");
    assert!(
        Command::new(licentric_e2e::bin("licentric-server"))
            .args(["init", "--dir"])
            .arg(&other)
            .output()
            .unwrap()
            .status
            .success()
    );
    let wrong_ca = format!("extra_ca = \"{}\"\n", other.join("tls/ca.pem").display());
    let check = |name: &str, extra: &str, expect_ok: bool| {
        let root = tmp.path().join(name);
        let mut c = Companion::new(
            &root,
            &server,
            "e2e-tls",
            &format!("allow_file_credential_store = true\n{extra}"),
        );
        if extra.starts_with("extra_ca") {
            // Replace the sandbox CA line written by Companion::new.
            let text = std::fs::read_to_string(&c.config).unwrap();
            let text = text.replace(&format!("extra_ca = \"{}\"\n", server.ca().display()), "");
            std::fs::write(&c.config, text).unwrap();
        }
        c.start_agent();
        let (code, out, err) = run(c.cli().args(["activate", &key]));
        if expect_ok {
            assert_eq!(code, 0, "{name}: {out}{err}");
        } else {
            assert_eq!(code, 1, "{name}: {out}{err}");
            assert!(err.contains("[tls_error]"), "{name}: {err}");
            assert!(
                err.contains("could not be verified"),
                "{name}: a plain-language message: {err}"
            );
        }
    };
    check("wrong-ca", &wrong_ca, false);
    check(
        "pin-mismatch",
        "pins = [\"sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"]\n",
        false,
    );

    // The right pin, computed with openssl (independently of our code), is accepted.
    let pin = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl x509 -in '{}' -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64",
            server.dir.join("tls/server.pem").display()
        ))
        .output()
        .unwrap();
    let pin = String::from_utf8(pin.stdout).unwrap().trim().to_owned();
    assert_eq!(pin.len(), 44, "openssl gave {pin:?}");
    check(
        "pin-match",
        &format!(
            "pins = [\"sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\", \"sha256/{pin}\"]\n"
        ),
        true,
    );

    // http:// is a configuration error, not a warning.
    let c = Companion::new(&tmp.path().join("http"), &server, "e2e-tls", "");
    let text = std::fs::read_to_string(&c.config)
        .unwrap()
        .replace("https://", "http://");
    std::fs::write(&c.config, text).unwrap();
    let (code, _, err) = run(c.cli().arg("status"));
    assert_eq!(code, 1);
    assert!(err.contains("must be https://"), "{err}");
}

#[test]
fn the_key_lives_in_the_secret_service_and_nowhere_else() {
    assert!(
        secret_service_available(),
        "this test needs a Secret Service on a session bus: run it through .ci/test (dbus-run-session + gnome-keyring)"
    );
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1209600);
    let (_, key) = server.licence("e2e-keyring", 1);
    let mut c = Companion::new(
        tmp.path(),
        &server,
        "e2e-keyring",
        "allow_file_credential_store = false",
    );
    c.start_agent();
    let (code, out, err) = run(c.cli().args(["activate", &key]));
    assert_eq!(code, 0, "{out}{err}");
    let status = c.client().status().unwrap();
    assert_eq!(
        status.credential_store,
        licentric_proto::CredentialStoreKind::Os
    );

    // Checked with secret-tool, independently of our code.
    let found = Command::new("secret-tool")
        .args([
            "search",
            "--all",
            "service",
            "com.licentric.companion.e2e-keyring.test",
        ])
        .output()
        .unwrap();
    let listing = format!(
        "{}{}",
        String::from_utf8_lossy(&found.stdout),
        String::from_utf8_lossy(&found.stderr)
    );
    assert!(
        listing.contains("license-key") && listing.contains("state-key"),
        "{listing}"
    );
    assert!(
        listing.contains(&key),
        "the key is the secret of the license-key entry: {listing}"
    );

    // In no file of the data folder, and in no log.
    let compact = key.replace('-', "");
    for entry in std::fs::read_dir(&c.data).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains(&key) && !text.contains(&compact),
            "{} holds the key",
            path.display()
        );
    }
    let log = c.agent_log();
    assert!(log.contains("activated"), "the agent logged nothing? {log}");
    assert!(
        !log.contains(&key) && !log.contains(&compact),
        "the agent's log holds the key"
    );
}

#[test]
fn another_user_cannot_query_the_socket() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1209600);
    let mut c = Companion::new(
        tmp.path(),
        &server,
        "e2e-peer",
        "allow_file_credential_store = true",
    );
    c.start_agent();
    let uid = String::from_utf8(Command::new("id").arg("-u").output().unwrap().stdout).unwrap();
    assert_eq!(
        uid.trim(),
        "0",
        "this test switches to another user and needs root (CI runs as root)"
    );
    let probe = format!(
        "import socket; s = socket.socket(socket.AF_UNIX); s.connect({:?}); \ntry:\n    s.sendall(b'{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"status\"}}\\n'); print(s.recv(100))\nexcept (BrokenPipeError, ConnectionResetError): print('closed')",
        c.socket.display().to_string()
    );
    let probe_as_nobody = || {
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            // Debian's interpreter: a per-user one (pyenv's shim) is not readable by nobody.
            .args(["/usr/bin/python3", "-c", &probe])
            .output()
            .unwrap()
    };
    // The folder (0700) keeps another user out before the agent is even asked.
    let out = probe_as_nobody();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("PermissionError"),
        "another user reached the socket through its folder: {stderr}"
    );
    // The folder and socket opened to all (a mistake, or an attack on the folder): the agent
    // itself still refuses the peer, closing without an answer.
    use std::os::unix::fs::PermissionsExt;
    let folder = c.socket.parent().unwrap();
    std::fs::set_permissions(folder, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&c.socket, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = probe_as_nobody();
    assert!(
        out.status.success(),
        "the probe could not connect: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer = String::from_utf8_lossy(&out.stdout);
    assert!(
        ["b''", "closed"].contains(&answer.trim()),
        "another user got an answer: {answer}"
    );
    // Our own user's client refuses the folder open to others; closed again, it is served.
    let err = licentric_client::Client::connect(&c.socket).unwrap_err();
    assert!(
        matches!(err, licentric_client::ClientError::Unsafe(_)),
        "{err:?}"
    );
    std::fs::set_permissions(folder, std::fs::Permissions::from_mode(0o700)).unwrap();
    assert!(c.client().status().is_ok());
}

#[test]
fn oversized_and_malformed_input_get_errors_and_other_clients_are_unaffected() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1209600);
    let mut c = Companion::new(
        tmp.path(),
        &server,
        "e2e-hostile",
        "allow_file_credential_store = true",
    );
    c.start_agent();
    let mut good = c.client();

    let mut bad = UnixStream::connect(&c.socket).unwrap();
    let mut replies = BufReader::new(bad.try_clone().unwrap());
    let mut huge = vec![b'x'; 200 * 1024];
    huge.push(b'\n');
    bad.write_all(&huge).unwrap();
    // While the bad client is mid-way, the good one is served.
    assert!(good.status().is_ok());
    for (input, code) in [
        (&b"not json\n"[..], "parse_error"),
        (&b"{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"status\"}\n"[..], "invalid_request"),
        (&b"{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"shutdown\"}\n"[..], "method_not_found"),
        (&b"{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"has_entitlement\",\"params\":{\"code\":1}}\n"[..], "invalid_params"),
    ] {
        bad.write_all(input).unwrap();
        let _ = code;
    }
    let mut codes = Vec::new();
    for _ in 0..5 {
        let mut line = String::new();
        replies.read_line(&mut line).unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        codes.push(v["error"]["data"]["code"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        codes,
        [
            "message_too_large",
            "parse_error",
            "invalid_request",
            "method_not_found",
            "invalid_params"
        ]
    );
    // The bad connection is still usable, and the good client never noticed.
    bad.write_all(b"{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"version\"}\n")
        .unwrap();
    let mut line = String::new();
    replies.read_line(&mut line).unwrap();
    assert!(line.contains("\"protocol\":1"), "{line}");
    assert_eq!(good.status().unwrap().product_id, "e2e-hostile");
}

#[test]
fn revocation_reaches_the_agent_and_older_files_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1209600);
    let (licence_id, key) = server.licence("e2e-revoke", 1);
    let mut c = Companion::new(
        tmp.path(),
        &server,
        "e2e-revoke",
        "allow_file_credential_store = true",
    );
    c.start_agent();
    assert_eq!(run(c.cli().args(["activate", &key])).0, 0);
    let first = c.client().license_file().unwrap().unwrap();

    // A newer file (the server signs whole seconds, so refresh until issued_at moves on).
    let issued = |c: &Companion| c.client().status().unwrap().issued_at.unwrap();
    let before = issued(&c);
    let mut tries = 0;
    while issued(&c) == before {
        assert_eq!(run(c.cli().arg("refresh")).0, 0);
        tries += 1;
        assert!(tries < 200, "issued_at never changed");
    }
    let older = std::env::temp_dir().join(format!("older-{}.lic", std::process::id()));
    std::fs::write(&older, &first).unwrap();
    let (code, _, err) = run(c.cli().arg("import").arg(&older));
    let _ = std::fs::remove_file(&older);
    assert_eq!(code, 1);
    assert!(
        err.contains("[license_file_invalid: no_request_pending]")
            && err.contains("no activation request"),
        "an older copy of this machine's own file is refused: {err}"
    );

    // Revoked on the server: the next contact brings a signed file that says so.
    server.admin("POST", &format!("/licenses/{licence_id}/revoke"), None);
    let (code, out, err) = run(c.cli().arg("refresh"));
    assert_eq!(code, 0, "{out}{err}");
    let status = c.client().status().unwrap();
    assert_eq!(status.state, licentric_proto::LicenseState::Revoked);
    assert!(!status.entitled);
    let (code, _, _) = run(c.cli().arg("status"));
    assert_eq!(code, 3, "not entitled");
}

/// Runs `cmd` as another Unix user (`setpriv`), with only the variables it needs — no home, as
/// for a service account, so the socket's fallback is in the temp dir.
fn as_user(uid: u32, tmpdir: &std::path::Path, program: &std::path::Path) -> Command {
    let mut cmd = Command::new("setpriv");
    cmd.args([
        &format!("--reuid={uid}"),
        &format!("--regid={uid}"),
        "--clear-groups",
    ])
    .arg(program)
    .env_clear()
    .env("PATH", "/usr/local/bin:/usr/bin:/bin")
    .env("TMPDIR", tmpdir);
    cmd
}

/// A listener in `socket` run as `uid`, answering like an agent and recording every byte it
/// receives in `log`. Returns once it listens.
fn fake_agent(uid: u32, socket: &std::path::Path, log: &std::path::Path) -> std::process::Child {
    let script = r#"
import json, os, socket, sys
path, log = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
os.chmod(path, 0o777)
s.listen(8)
print("ready", flush=True)
status = {"state": "active", "entitled": True, "product_id": "e2e-squat", "environment": "test",
          "license_id": "lic_fake", "machine_id": "m", "entitlements": ["pro"], "license_expires_at": None,
          "offline_valid_until": None, "last_refresh_at": None, "next_refresh_at": None,
          "credential_store": "os", "reason": None}
while True:
    conn, _ = s.accept()
    f = conn.makefile("rwb")
    for line in f:
        open(log, "ab").write(line)
        req = json.loads(line)
        result = {"protocol": 1, "agent_version": "0", "product_id": "e2e-squat", "management": True} \
            if req.get("method") == "version" else status
        f.write(json.dumps({"jsonrpc": "2.0", "id": req.get("id"), "result": result}).encode() + b"\n")
        f.flush()
"#;
    let mut child = Command::new("setpriv")
        .args([
            &format!("--reuid={uid}"),
            &format!("--regid={uid}"),
            "--clear-groups",
        ])
        .args(["/usr/bin/python3", "-c", script])
        .arg(socket)
        .arg(log)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut ready)
        .unwrap();
    assert_eq!(ready.trim(), "ready", "the fake agent did not start");
    child
}

/// Attack 4 of the trust issue: with `XDG_RUNTIME_DIR` and a home unset (a service account;
/// with a home, the fallback is the user's own `~/.cache/licentric`), another local user
/// creates the victim's fallback folder in the temp dir first and listens in it (or, being root, listens in the victim's
/// own folder). The CLI and the examples refuse before sending anything, so the licence key
/// never reaches the squatter, and a fake "active" is never believed; the victim's own agent
/// still works once the squatter's folder is gone.
#[test]
fn a_socket_squatted_by_another_user_gets_nothing() {
    use std::os::unix::fs::{PermissionsExt, chown};
    const VICTIM: u32 = 10_401;
    const SQUATTER: u32 = 10_402;
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let server = Server::start(tmp.path(), 1209600);
    let (_, key) = server.licence("e2e-squat", 1);
    // A /tmp of the test's own (sticky, open to all), so the real one is left alone.
    let shared_tmp = tmp.path().join("shared-tmp");
    std::fs::create_dir(&shared_tmp).unwrap();
    std::fs::set_permissions(&shared_tmp, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let home = tmp.path().join("victim");
    std::fs::create_dir(&home).unwrap();
    chown(&home, Some(VICTIM), Some(VICTIM)).unwrap();
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).unwrap();
    // The victim's configuration, with no socket set: the default (fallback) path is used.
    let config = tmp.path().join("companion.toml");
    std::fs::write(
        &config,
        format!(
            "product_id = \"e2e-squat\"\nproduct_name = \"Acme CAD\"\nenvironment = \"test\"\napi_base_url = \"{url}\"\n\
             key_prefix = \"ACME\"\ntrusted_keys = [\"{pk}\"]\nextra_ca = \"{ca}\"\nextra_ca_only = true\n\
             allow_file_credential_store = true\ndata_dir = \"{data}\"\n[notifications]\nenabled = false\n",
            url = server.url,
            pk = server.public_key(),
            ca = server.ca().display(),
            data = home.join("data").display(),
        ),
    )
    .unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(server.ca(), std::fs::Permissions::from_mode(0o644)).unwrap();
    for dir in [server.dir.clone(), server.dir.join("tls")] {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let licentric = |args: &[&str]| {
        let mut cmd = as_user(VICTIM, &shared_tmp, &licentric_e2e::bin("licentric"));
        cmd.arg("--config").arg(&config).args(args);
        cmd
    };
    let python_example = |args: &[&str]| {
        let mut cmd = as_user(
            VICTIM,
            &shared_tmp,
            std::path::Path::new("/usr/bin/python3"),
        );
        cmd.arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/python/licentric_client.py"
        ))
        .args(["--product", "e2e-squat", "--environment", "test"])
        .args(args);
        cmd
    };
    let node_example = |args: &[&str]| {
        let mut cmd = as_user(VICTIM, &shared_tmp, std::path::Path::new("/usr/bin/node"));
        cmd.arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/node/licentric-client.js"
        ))
        .args(["--product", "e2e-squat", "--environment", "test"])
        .args(args);
        cmd
    };

    // The squatter makes the victim's fallback folder first, open to all, and listens in it.
    let folder = shared_tmp.join(format!("licentric-{VICTIM}"));
    std::fs::create_dir(&folder).unwrap();
    chown(&folder, Some(SQUATTER), Some(SQUATTER)).unwrap();
    std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o777)).unwrap();
    let socket = folder.join("e2e-squat-test.sock");
    let log = tmp.path().join("squatter.log");
    std::fs::write(&log, b"").unwrap();
    chown(&log, Some(SQUATTER), Some(SQUATTER)).unwrap();
    let mut squatter = fake_agent(SQUATTER, &socket, &log);

    let (code, out, err) = run(&mut licentric(&["activate", &key]));
    assert_eq!(code, 1, "activate must fail: {out}{err}");
    assert!(
        err.contains("[endpoint_not_owned]") && err.contains(&format!("user {SQUATTER}")),
        "{err}"
    );
    let (code, out, err) = run(&mut licentric(&["status"]));
    assert_eq!(
        code, 1,
        "status must refuse, not believe a fake 'active': {out}{err}"
    );
    assert!(!out.contains("active"), "{out}");
    let (code, out, err) = run(&mut python_example(&["status"]));
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("endpoint_not_owned"), "{err}");
    let (code, out, err) = run(&mut node_example(&["status"]));
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("endpoint_not_owned"), "{err}");
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "",
        "the squatter received something"
    );
    let _ = squatter.kill();
    let _ = squatter.wait();

    // Root (another user too) listens in a folder the victim owns, 0700: the folder passes, the
    // peer check does not — and it comes before any byte is sent.
    let own = home.join("run");
    std::fs::create_dir(&own).unwrap();
    chown(&own, Some(VICTIM), Some(VICTIM)).unwrap();
    std::fs::set_permissions(&own, std::fs::Permissions::from_mode(0o700)).unwrap();
    let own_socket = own.join("e2e-squat-test.sock");
    let mut rooted = fake_agent(0, &own_socket, &log);
    let (code, out, err) = run(licentric(&["activate", &key]).env("LICENTRIC_SOCKET", &own_socket));
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("[endpoint_foreign_peer]"), "{err}");
    let (code, out, err) = run(python_example(&["status"]).env("LICENTRIC_SOCKET", &own_socket));
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("endpoint_foreign_peer"), "{err}");
    // Node cannot ask for the peer's credentials; it refuses the socket file of another user.
    let (code, out, err) = run(node_example(&["status"]).env("LICENTRIC_SOCKET", &own_socket));
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("endpoint_not_owned"), "{err}");
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "",
        "root's listener received something"
    );
    let _ = rooted.kill();
    let _ = rooted.wait();

    // The squatter's folder gone, the victim's own agent makes it 0700 and is served.
    std::fs::remove_dir_all(&folder).unwrap();
    let mut agent = licentric(&["agent"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Its log may say first that it uses the file store (no Secret Service for this user).
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = agent.stderr.take().unwrap();
    let log_reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("serving") {
                let _ = tx.send(());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    assert!(
        rx.recv_timeout(std::time::Duration::from_secs(20)).is_ok(),
        "the agent did not start"
    );
    let meta = std::fs::symlink_metadata(&folder).unwrap();
    assert_eq!(
        (
            std::os::unix::fs::MetadataExt::uid(&meta),
            meta.permissions().mode() & 0o777
        ),
        (VICTIM, 0o700)
    );
    let (code, out, err) = run(&mut licentric(&["activate", &key]));
    let _ = agent.kill();
    let _ = agent.wait();
    let agent_log = log_reader.join().unwrap();
    assert_eq!(
        code, 0,
        "the victim's own agent serves the victim: {out}{err}\nagent: {agent_log}"
    );
    assert!(out.contains("State:         active"), "{out}");
}

/// A server (compromised, or a bug) that answers with an endless body, or accepts and never
/// answers: the agent reads at most 1 MiB of an answer, and gives up on an operation within
/// its total time — the user gets an error in seconds, and nothing is lost.
#[test]
fn hostile_server_answers_are_bounded_in_size_and_time() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1209600);
    let (_, key) = server.licence("e2e-hostile-http", 1);
    let mut huge =
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n[".to_vec();
    huge.resize(huge.len() + 3 * 1024 * 1024, b' ');
    for (name, answer, expect) in [
        ("endless", Some(huge), "larger than 1048576 bytes"),
        ("silent", None, "did not answer within 2 seconds"),
    ] {
        let port = licentric_e2e::hostile_https(&server.dir, answer);
        let mut c = Companion::new(
            &tmp.path().join(name),
            &server,
            "e2e-hostile-http",
            "allow_file_credential_store = true",
        );
        let text = std::fs::read_to_string(&c.config)
            .unwrap()
            .replace(&server.url, &format!("https://localhost:{port}"))
            .replace(
                "timeout_seconds = 5",
                "timeout_seconds = 5\ntotal_seconds = 2",
            );
        std::fs::write(&c.config, text).unwrap();
        c.start_agent();
        let (code, out, err) = run(c.cli().args(["activate", &key]));
        assert_eq!(code, 1, "{name}: {out}{err}");
        assert!(err.contains(expect), "{name}: {err}");
        assert_eq!(
            c.client().status().unwrap().state,
            licentric_proto::LicenseState::Unlicensed,
            "{name}: nothing installed"
        );
    }
}

/// `licentric activate` with no key asks for it without showing it (on a terminal) or reads it
/// from standard input, so the key need not appear in the process list or a shell's history.
#[test]
fn the_key_can_be_given_without_showing_it() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1209600);
    let (_, key) = server.licence("e2e-prompt", 2);
    let mut c = Companion::new(
        tmp.path(),
        &server,
        "e2e-prompt",
        "allow_file_credential_store = true",
    );
    c.start_agent();

    // On a terminal (a pseudo-terminal driven by Python's pty module): the prompt, and no echo.
    let cli = c.cli();
    let mut args: Vec<String> = vec![cli.get_program().to_string_lossy().into_owned()];
    args.extend(cli.get_args().map(|a| a.to_string_lossy().into_owned()));
    args.push("activate".into());
    let driver = r#"
import json, os, pty, sys, time
args = json.loads(sys.argv[1]); key = sys.argv[2]
pid, fd = pty.fork()
if pid == 0:
    os.execv(args[0], args)
seen = b""
while b"Licence key:" not in seen:
    seen += os.read(fd, 1024)
os.write(fd, key.encode() + b"\n")
while True:
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        break
    if not chunk:
        break
    seen += chunk
_, status = os.waitpid(pid, 0)
sys.stdout.write(seen.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(status))
"#;
    let out = Command::new("python3")
        .args(["-c", driver, &serde_json::to_string(&args).unwrap(), &key])
        .env("LICENTRIC_MACHINE_ID", &c.machine_id)
        .output()
        .unwrap();
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{screen}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(screen.contains("Activated."), "{screen}");
    assert!(
        !screen.contains(&key),
        "the key was shown on the terminal: {screen}"
    );

    // From standard input (a script).
    c.stop_agent("-TERM");
    std::fs::remove_dir_all(&c.data).unwrap();
    c.start_agent();
    let mut child = c
        .cli()
        .arg("activate")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{key}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Activated."));
}

/// Revocation in the time a vendor chooses: a product with a 2-second check interval, an app
/// asking about its entitlement as it works; a suspension reaches it within the interval plus
/// one request, and so does the reinstatement. (docs/companion.md gives the worst cases.)
#[test]
fn a_suspension_reaches_an_app_in_use_within_the_check_interval() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1209600);
    server.admin(
        "POST",
        "/products",
        Some(serde_json::json!({"id": "e2e-interval", "name": "Acme CAD", "key_prefix": "ACME", "check_interval_seconds": 2})),
    );
    let (licence_id, key) = server.licence("e2e-interval", 1);
    let mut c = Companion::new(
        tmp.path(),
        &server,
        "e2e-interval",
        "allow_file_credential_store = true",
    );
    c.start_agent();
    assert_eq!(run(c.cli().args(["activate", &key])).0, 0);
    let mut app = c.client();
    let until = |entitled: bool, app: &mut licentric_client::Client| {
        let started = std::time::Instant::now();
        while app.has_entitlement("pro").unwrap() != entitled {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(20),
                "never saw entitled = {entitled}"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        started.elapsed()
    };
    server.admin("POST", &format!("/licenses/{licence_id}/suspend"), None);
    let took = until(false, &mut app);
    assert!(
        took < std::time::Duration::from_secs(6),
        "the suspension took {took:?}"
    );
    server.admin("POST", &format!("/licenses/{licence_id}/reinstate"), None);
    let took = until(true, &mut app);
    assert!(
        took < std::time::Duration::from_secs(6),
        "the reinstatement took {took:?}"
    );
}

/// `licentric fingerprint --explain` lists the machine's parts with short hash prefixes and
/// says why a part could not be read — and never shows a raw value: not the machine id, not a
/// network card's address, not the processor's name.
#[test]
fn the_fingerprint_explains_its_parts_without_a_raw_value() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1209600);
    let c = Companion::new(tmp.path(), &server, "e2e-explain", "");
    let (code, out, err) = run(c.cli().args(["fingerprint", "--explain"]));
    assert_eq!(code, 0, "{out}{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0].len(), 64, "the fingerprint first: {out}");
    let machine_line = lines
        .iter()
        .find(|l| l.contains("machine_id"))
        .unwrap_or_else(|| panic!("{out}"));
    let prefix = machine_line.split_whitespace().last().unwrap();
    assert!(
        prefix.len() == 8 && prefix.bytes().all(|b| b.is_ascii_hexdigit()),
        "{machine_line}"
    );
    for kind in [
        "board_uuid",
        "board_serial",
        "disk_serial",
        "network_card",
        "cpu_model",
    ] {
        assert!(out.contains(kind), "{kind} is listed: {out}");
    }
    // No raw value: this test's machine id, this machine's card addresses, its CPU's name.
    let mut raw = vec![c.machine_id.clone()];
    for iface in std::fs::read_dir("/sys/class/net").unwrap().flatten() {
        if let Ok(address) = std::fs::read_to_string(iface.path().join("address")) {
            raw.push(address.trim().to_owned());
        }
    }
    if let Some(model) = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
        })
    {
        raw.push(model);
    }
    let shown = out.to_lowercase();
    for value in raw
        .iter()
        .filter(|v| v.len() >= 8 && !v.starts_with("00:00:00"))
    {
        assert!(
            !shown.contains(&value.to_lowercase()),
            "a raw value is shown: {value}"
        );
    }
}

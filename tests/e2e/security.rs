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
            "com.licentric.companion.e2e-keyring",
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
        "import socket; s = socket.socket(socket.AF_UNIX); s.connect({:?}); s.sendall(b'{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"status\"}}\\n'); print(s.recv(100))",
        c.socket.display().to_string()
    );
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "python3",
            "-c",
            &probe,
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "another user got an answer: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        stderr.contains("PermissionError") || stderr.contains("Permission denied"),
        "{stderr}"
    );
    // Our own user still gets answers.
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
        err.contains("[license_file_invalid]") && err.contains("older"),
        "{err}"
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

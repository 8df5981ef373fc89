//! The binary itself: `init` twice, `serve` and its first line, TLS versions, SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_licentric-server");

#[test]
fn init_never_overwrites_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let first = Command::new(BIN)
        .args(["init", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let stdout = String::from_utf8(first.stdout).unwrap();
    let token = stdout.lines().last().unwrap();
    assert!(
        token.starts_with("lk_test_"),
        "the first API key is printed: {stdout}"
    );
    let keys: Vec<Vec<u8>> = [
        "keys/signing.key",
        "keys/data.key",
        "tls/ca.pem",
        "tls/server.key",
    ]
    .iter()
    .map(|f| std::fs::read(dir.path().join(f)).unwrap())
    .collect();

    let second = Command::new(BIN)
        .args(["init", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(second.status.success());
    let stdout = String::from_utf8(second.stdout).unwrap();
    assert!(
        !stdout.contains("lk_test_"),
        "no second key is made: {stdout}"
    );
    assert!(stdout.contains("kept"), "{stdout}");
    let again: Vec<Vec<u8>> = [
        "keys/signing.key",
        "keys/data.key",
        "tls/ca.pem",
        "tls/server.key",
    ]
    .iter()
    .map(|f| std::fs::read(dir.path().join(f)).unwrap())
    .collect();
    assert_eq!(keys, again, "a key file changed");
}

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

#[test]
fn serve_announces_itself_speaks_only_tls_1_2_plus_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    assert!(
        Command::new(BIN)
            .args(["init", "--dir"])
            .arg(dir.path())
            .output()
            .unwrap()
            .status
            .success()
    );
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--dir"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let url = first
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("first line was {first:?}"))
        .to_owned();
    let port = url.rsplit(':').next().unwrap().to_owned();
    assert!(
        url.starts_with("https://127.0.0.1:") && port != "0",
        "{url}"
    );

    // Plain HTTP on the TLS port gets no HTTP answer.
    let plain = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "5",
        ])
        .arg(format!("http://127.0.0.1:{port}/healthz"))
        .output();
    if let Ok(out) = plain {
        assert_ne!(
            String::from_utf8_lossy(&out.stdout),
            "200",
            "plain HTTP must not be served"
        );
    }

    assert!(
        have("openssl"),
        "openssl is needed to check TLS versions (.ci/test installs it)"
    );
    // The client's own floor is lowered (SECLEVEL=0) so that a refusal of TLS 1.1 must come
    // from the server, as a handshake alert.
    let s_client = |flag: &str| {
        let out = Command::new("openssl")
            .args([
                "s_client",
                "-connect",
                &format!("127.0.0.1:{port}"),
                flag,
                "-cipher",
                "DEFAULT:@SECLEVEL=0",
                "-CAfile",
            ])
            .arg(dir.path().join("tls/ca.pem"))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let (ok, tls11) = s_client("-tls1_1");
    assert!(
        !ok && tls11.contains("alert") && tls11.contains("Cipher is (NONE)"),
        "TLS 1.1 was not refused by the server:\n{tls11}"
    );
    let (ok, tls12) = s_client("-tls1_2");
    assert!(
        ok && tls12.contains("Protocol  : TLSv1.2"),
        "TLS 1.2 was refused:\n{tls12}"
    );
    assert!(
        tls12.contains("Verify return code: 0 (ok)"),
        "the certificate does not verify against the CA:\n{tls12}"
    );

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(
        exit.success(),
        "SIGTERM must be a clean shutdown, got {exit}"
    );
}

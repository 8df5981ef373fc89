//! Every client — the Rust library (blocking and async), the Python and Node examples —
//! against a misbehaving agent: one that hangs up, stays silent, answers another id, sends an
//! over-long or a cut or a malformed line, or floods notifications. Each must answer, within
//! its time limit and a bounded buffer, "not entitled" (an error), never "entitled".

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use licentric_e2e::{Companion, Server, run};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Fault {
    HangUp,
    Silent,
    WrongId,
    OverLong,
    Cut,
    Malformed,
    Flood,
}

const ALL: [Fault; 7] = [
    Fault::HangUp,
    Fault::Silent,
    Fault::WrongId,
    Fault::OverLong,
    Fault::Cut,
    Fault::Malformed,
    Fault::Flood,
];

const ENTITLED: &str = r#"{"code":"pro","entitled":true,"state":"active"}"#;

/// A fake agent on a socket in a private folder: it answers `version` properly, then
/// misbehaves with `fault` at the next request.
fn fake_agent(dir: &Path, fault: Fault) -> PathBuf {
    let run_dir = dir.join(format!("{fault:?}"));
    std::fs::create_dir(&run_dir).unwrap();
    std::fs::set_permissions(&run_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let socket = run_dir.join("fake.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || serve(stream, fault));
        }
    });
    socket
}

fn serve(stream: UnixStream, fault: Fault) {
    let mut out = stream.try_clone().unwrap();
    let mut lines = BufReader::new(stream);
    let mut line = String::new();
    while lines.read_line(&mut line).unwrap_or(0) > 0 {
        let request: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        line.clear();
        let id = request["id"].clone();
        if request["method"] == "version" {
            let answer = serde_json::json!({"jsonrpc": "2.0", "id": id, "result": {
                "protocol": 1, "agent_version": "0", "product_id": "fake", "environment": "test", "management": true}});
            let _ = writeln!(out, "{answer}");
            continue;
        }
        let entitled = format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{ENTITLED}}}"#);
        let _ = match fault {
            Fault::HangUp => return,
            Fault::Silent => {
                std::thread::sleep(Duration::from_secs(60));
                return;
            }
            Fault::WrongId => writeln!(out, r#"{{"jsonrpc":"2.0","id":999,"result":{ENTITLED}}}"#),
            Fault::OverLong => {
                let _ = out.write_all(&vec![b' '; 70 * 1024]);
                writeln!(out, "{entitled}")
            }
            Fault::Cut => {
                let _ = out.write_all(&entitled.as_bytes()[..entitled.len() / 2]);
                return;
            }
            Fault::Malformed => writeln!(out, "{{this is not json"),
            Fault::Flood => {
                let note = r#"{"jsonrpc":"2.0","method":"status_changed","params":{"state":"active","entitled":true}}"#;
                loop {
                    if writeln!(out, "{note}").is_err() {
                        return;
                    }
                }
            }
        };
    }
}

/// Resident memory of the calling process, in KiB (for the flood: the client must not queue
/// without limit).
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

#[test]
fn the_rust_client_never_takes_a_misbehaving_agent_for_entitled() {
    let tmp = tempfile::tempdir().unwrap();
    for fault in ALL {
        let socket = fake_agent(tmp.path(), fault);
        let mut client = licentric_client::Client::connect(&socket).unwrap();
        client.set_timeout(Some(Duration::from_secs(1))).unwrap();
        let before = rss_kib();
        let started = Instant::now();
        let answer = client.has_entitlement("pro");
        assert!(answer.is_err(), "{fault:?}: {answer:?}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{fault:?}: took {:?}",
            started.elapsed()
        );
        let grown = rss_kib().saturating_sub(before);
        assert!(
            grown < 50 * 1024,
            "{fault:?}: the client grew by {grown} KiB"
        );
    }
}

#[test]
fn the_async_client_never_takes_a_misbehaving_agent_for_entitled() {
    let tmp = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        for fault in ALL {
            let socket = fake_agent(tmp.path(), fault);
            let mut client = licentric_client::nonblocking::AsyncClient::connect(&socket)
                .await
                .unwrap();
            client.set_timeout(Some(Duration::from_secs(1)));
            let started = Instant::now();
            let answer = client.has_entitlement("pro").await;
            assert!(answer.is_err(), "{fault:?}: {answer:?}");
            assert!(started.elapsed() < Duration::from_secs(10), "{fault:?}");
        }
    });
}

#[test]
fn the_c_abi_never_takes_a_misbehaving_agent_for_entitled() {
    let tmp = tempfile::tempdir().unwrap();
    let runs: Vec<_> = ALL
        .into_iter()
        .map(|fault| {
            let socket = fake_agent(tmp.path(), fault);
            std::thread::spawn(move || {
                let result = run(licentric_e2e::c_example_command()
                    .env("LICENTRIC_TIMEOUT_MS", "1000")
                    .arg("--socket")
                    .arg(&socket)
                    .args(["fake", "test", "has_entitlement", "pro"]));
                (fault, result)
            })
        })
        .collect();
    for handle in runs {
        let (fault, (code, out, err)) = handle.join().unwrap();
        assert_eq!(code, 1, "C {fault:?}: exit {code}\n{out}{err}");
        assert!(err.starts_with("error ["), "C {fault:?}: {err}");
    }
}

/// A time-out of any length, from Rust or from C, is a time-out: zero and "forever" are taken
/// as their nearest bounds, never a panic across the C boundary (which would abort the app).
#[test]
fn a_time_out_of_any_length_is_taken_without_a_crash() {
    let tmp = tempfile::tempdir().unwrap();
    let socket = fake_agent(tmp.path(), Fault::HangUp);
    for timeout in [Duration::ZERO, Duration::MAX] {
        let mut client = licentric_client::Client::connect(&socket).unwrap();
        client.set_timeout(Some(timeout)).unwrap();
        let answer = client.has_entitlement("pro");
        assert!(answer.is_err(), "{timeout:?}: {answer:?}");
    }
    for milliseconds in ["1", &u64::MAX.to_string()] {
        let (code, out, err) = run(licentric_e2e::c_example_command()
            .env("LICENTRIC_TIMEOUT_MS", milliseconds)
            .arg("--socket")
            .arg(&socket)
            .args(["fake", "test", "has_entitlement", "pro"]));
        assert_eq!(code, 1, "{milliseconds} ms: exit {code}\n{out}{err}");
        assert!(err.starts_with("error ["), "{milliseconds} ms: {err}");
    }
}

fn example(program: &str, script: &str, socket: &Path) -> (i32, String, String) {
    run(Command::new(program)
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/").to_owned() + script)
        .args([
            "--product",
            "fake",
            "--environment",
            "test",
            "--timeout",
            "1",
            "--socket",
        ])
        .arg(socket)
        .args(["has_entitlement", "pro"]))
}

#[test]
fn the_examples_never_take_a_misbehaving_agent_for_entitled() {
    let tmp = tempfile::tempdir().unwrap();
    let runs: Vec<_> = ALL
        .into_iter()
        .flat_map(|fault| {
            let socket = fake_agent(tmp.path(), fault);
            [
                ("python3", "python/licentric_client.py"),
                ("node", "node/licentric-client.js"),
            ]
            .map(|(program, script)| {
                let socket = socket.clone();
                std::thread::spawn(move || {
                    let started = Instant::now();
                    let result = example(program, script, &socket);
                    (program, fault, result, started.elapsed())
                })
            })
        })
        .collect();
    for handle in runs {
        let (program, fault, (code, out, err), took) = handle.join().unwrap();
        assert_eq!(code, 1, "{program} {fault:?}: exit {code}\n{out}{err}");
        assert!(
            err.starts_with("error ["),
            "{program} {fault:?}: says why, without a traceback: {err}"
        );
        assert!(
            !out.contains("entitled: true"),
            "{program} {fault:?}: {out}"
        );
        assert!(
            took < Duration::from_secs(15),
            "{program} {fault:?}: {took:?}"
        );
    }
}

/// The Python and Node examples with the vendor's key (`--trusted-key`) answer from the signed
/// licence file, checked in the program for this machine with its own clock — not from what
/// the program on the socket says. Without the key, a program of the user's own posing as the
/// agent is believed (the socket's answer is advisory against the machine's own user); with
/// it, a genuine file of another machine, an altered file, or an entitlement the file does not
/// grant is refused.
#[test]
fn the_examples_with_the_vendors_key_believe_only_the_signed_file() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1209600);
    let product = "e2e-script-verify";
    let (_, key) = server.licence(product, 2);
    let extra = "allow_file_credential_store = true";
    let mut here = Companion::new(&tmp.path().join("here"), &server, product, extra);
    here.start_agent();
    here.client().activate(&key).unwrap();
    let mut there = Companion::new(&tmp.path().join("there"), &server, product, extra);
    there.machine_id = "ab".repeat(16);
    there.start_agent();
    there.client().activate(&key).unwrap();
    let elsewhere = there.client().license_file().unwrap().unwrap();
    let genuine = here.client().license_file().unwrap().unwrap();
    let altered = {
        // The same file claiming one more entitlement, its signature left as it was.
        use base64::Engine as _;
        let (b64, url) = (
            base64::engine::general_purpose::STANDARD,
            base64::engine::general_purpose::URL_SAFE_NO_PAD,
        );
        let body: String = genuine
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        let mut envelope: Value = serde_json::from_slice(&b64.decode(body).unwrap()).unwrap();
        let mut payload: Value =
            serde_json::from_slice(&url.decode(envelope["payload"].as_str().unwrap()).unwrap())
                .unwrap();
        payload["entitlements"]
            .as_array_mut()
            .unwrap()
            .push("enterprise".into());
        envelope["payload"] = url.encode(payload.to_string()).into();
        format!(
            "-----BEGIN LICENTRIC LICENSE FILE-----\n{}\n-----END LICENTRIC LICENSE FILE-----\n",
            b64.encode(envelope.to_string())
        )
    };
    let posing_with = |file: String| {
        licentric_e2e::impostor(tmp.path(), product, move |method| match method {
            "license_file" => serde_json::json!({"license_file": file}),
            "subscribe" => serde_json::json!({"status": {"state": "active", "entitled": true,
                "entitlements": ["pro", "enterprise"]}}),
            _ => serde_json::json!({"code": "enterprise", "entitled": true, "state": "active",
                "entitlements": ["pro", "enterprise"]}),
        })
    };
    let vendor = server.public_key();
    let other_key = "11".repeat(32);
    let ask = |program: &str, script: &str, socket: &Path, trusted: Option<&str>, code: &str| {
        let mut cmd = Command::new(program);
        cmd.arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/").to_owned() + script)
            .args(["--product", product, "--environment", "test", "--socket"])
            .arg(socket)
            .env("LICENTRIC_MACHINE_ID", &here.machine_id);
        if let Some(trusted) = trusted {
            cmd.args(["--trusted-key", trusted]);
        }
        run(cmd.args(["has_entitlement", code]))
    };
    let impostor_elsewhere = posing_with(elsewhere);
    let impostor_altered = posing_with(altered);
    for (program, script) in [
        ("python3", "python/licentric_client.py"),
        ("node", "node/licentric-client.js"),
    ] {
        // The real agent's file, for this machine: verified here.
        let (code, out, err) = ask(program, script, &here.socket, Some(&vendor), "pro");
        assert_eq!(code, 0, "{program}: {out}{err}");
        assert!(
            out.starts_with("verified here: active until "),
            "{program}: {out}"
        );

        // What the signature does not back is refused, each with its reason.
        for (socket, trusted, code_asked, why) in [
            (&here.socket, vendor.as_str(), "enterprise", "not_entitled"),
            (&here.socket, other_key.as_str(), "pro", "unknown_key_id"),
            (
                &impostor_elsewhere,
                vendor.as_str(),
                "pro",
                "fingerprint_mismatch",
            ),
            (
                &impostor_altered,
                vendor.as_str(),
                "enterprise",
                "signature_invalid",
            ),
        ] {
            let (code, out, err) = ask(program, script, socket, Some(trusted), code_asked);
            assert_eq!(code, 3, "{program} {why}: {out}{err}");
            assert!(
                err.starts_with(&format!("not verified [{why}]: ")),
                "{program}: {err}"
            );
            assert!(!out.contains("verified here"), "{program}: {out}");
        }

        // Without the vendor's key, the impostor's word is all there is.
        let (code, out, _) = ask(program, script, &impostor_altered, None, "enterprise");
        assert_eq!(
            (code, out.trim()),
            (0, "enterprise: entitled: true"),
            "{program}"
        );

        // The watchers, answering from memory, check the file at each change the same way.
        for (socket, asked, answer) in [
            (&here.socket, "pro", "true"),
            (&here.socket, "enterprise", "false"),
            (
                &impostor_altered,
                "enterprise",
                "false not verified [signature_invalid]",
            ),
            (
                &impostor_elsewhere,
                "pro",
                "false not verified [fingerprint_mismatch]",
            ),
        ] {
            let (code, out, err) =
                watch_checked(program, socket, product, &vendor, asked, &here.machine_id);
            assert_eq!(code, 0, "{program}: {out}{err}");
            assert!(out.trim().starts_with(answer), "{program} {asked}: {out}");
        }
    }

    // From C: `licentric_has_entitlement_checked`, through the C example.
    let c = |socket: &Path, code: &str, trusted: &str| {
        run(licentric_e2e::c_example_command()
            .arg("--socket")
            .arg(socket)
            .args([product, "test", "has_entitlement", code, trusted])
            .env("LICENTRIC_MACHINE_ID", &here.machine_id))
    };
    let (code, out, err) = c(&here.socket, "pro", &vendor);
    assert_eq!(
        (code, out.trim()),
        (0, "pro: entitled: true, licence file checked here"),
        "{err}"
    );
    let (code, out, err) = c(&here.socket, "enterprise", &vendor);
    assert_eq!(
        (code, out.trim()),
        (3, "enterprise: entitled: false, licence file checked here"),
        "{err}"
    );
    for (socket, trusted, why) in [
        (&here.socket, other_key.as_str(), "unknown_key_id"),
        (&impostor_elsewhere, vendor.as_str(), "fingerprint_mismatch"),
        (&impostor_altered, vendor.as_str(), "signature_invalid"),
    ] {
        let (code, out, err) = c(socket, "pro", trusted);
        assert_eq!(code, 1, "C {why}: {out}{err}");
        assert!(
            err.starts_with("error [9]: ") && err.contains(why) && err.contains("[not_verified]"),
            "C: {err}"
        );
    }
}

/// A watcher of the Python or Node example given the vendor's key, asked for `code` once it
/// knows something: "true" or "false", and why not when the file did not verify.
fn watch_checked(
    program: &str,
    socket: &Path,
    product: &str,
    vendor: &str,
    code: &str,
    machine: &str,
) -> (i32, String, String) {
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples");
    let mut cmd = Command::new(program);
    if program == "python3" {
        cmd.env("PYTHONPATH", format!("{examples}/python")).args([
            "-c",
            "import sys, licentric_client as lc
w = lc.Watcher(sys.argv[1], sys.argv[2], 'test', trusted_keys=[sys.argv[3]])
w.wait_for_change(0, 20)
print(str(w.has_entitlement(sys.argv[4])).lower(), w.reason() or '')
w.close()",
        ]);
    } else {
        cmd.env("CLIENT", format!("{examples}/node/licentric-client.js")).args(["-e", "const lc = require(process.env.CLIENT);
const [socket, product, key, code] = process.argv.slice(1);
const w = new lc.Watcher(socket, product, 'test', { trustedKeys: [key] });
const stop = w.onChange(() => { stop(); console.log(`${w.hasEntitlement(code)} ${w.reason || ''}`); w.close(); });"]);
    }
    run(cmd
        .arg(socket)
        .args([product, vendor, code])
        .env("LICENTRIC_MACHINE_ID", machine))
}

/// The C ABI against the real agent: the C example compiled with the system's compiler asks
/// for the status and an entitlement, and a subscription's callback sees a change.
#[test]
fn the_c_example_asks_the_real_agent() {
    let tmp = tempfile::tempdir().unwrap();
    let server = licentric_e2e::Server::start(tmp.path(), 1209600);
    let (_, key) = server.licence("e2e-c", 1);
    let mut c = licentric_e2e::Companion::new(
        tmp.path(),
        &server,
        "e2e-c",
        "allow_file_credential_store = true",
    );
    c.start_agent();
    let c_status = |args: &[&str]| {
        run(licentric_e2e::c_example_command()
            .arg("--socket")
            .arg(&c.socket)
            .args(["e2e-c", "test"])
            .args(args))
    };
    let (code, out, err) = c_status(&["status"]);
    assert_eq!(code, 3, "not activated yet: {out}{err}");
    assert!(out.contains("Not activated"), "{out}");
    assert_eq!(run(c.cli().args(["activate", &key])).0, 0);
    let (code, out, err) = c_status(&["has_entitlement", "pro"]);
    assert_eq!((code, out.trim()), (0, "pro: entitled: true"), "{err}");
    let (code, out, _) = c_status(&["has_entitlement", "enterprise"]);
    assert_eq!((code, out.trim()), (3, "enterprise: entitled: false"));
    // Another product's or environment's agent is refused.
    let (code, _, err) = run(licentric_e2e::c_example_command()
        .arg("--socket")
        .arg(&c.socket)
        .args(["e2e-c", "live", "status"]));
    assert_eq!(code, 1);
    assert!(err.contains("another product or environment"), "{err}");

    // A subscription: the current status, then the change a deactivation makes.
    let mut watch = licentric_e2e::c_example_command()
        .env("LICENTRIC_SOCKET", &c.socket)
        .args(["e2e-c", "test", "watch", "2"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(watch.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(first.contains("entitled: true"), "{first}");
    assert_eq!(run(c.cli().arg("deactivate")).0, 0);
    let second = lines.next().unwrap().unwrap();
    assert!(second.contains("entitled: false"), "{second}");
    assert!(watch.wait().unwrap().success());
}

/// A `status` answered from the agent's snapshot (the short way) says exactly what the full
/// parse and evaluation say, before and after a change; a change is seen at once.
#[test]
fn the_short_and_the_full_status_answer_agree() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1209600);
    let (_, key) = server.licence("e2e-short", 1);
    let mut c = Companion::new(
        tmp.path(),
        &server,
        "e2e-short",
        "allow_file_credential_store = true",
    );
    c.start_agent();
    let stream = UnixStream::connect(&c.socket).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let mut ask = |line: &str| -> Value {
        writer.write_all(format!("{line}\n").as_bytes()).unwrap();
        let mut answer = String::new();
        reader.read_line(&mut answer).unwrap();
        serde_json::from_str(&answer).unwrap()
    };
    let short = r#"{"jsonrpc":"2.0","id":"s","method":"status"}"#;
    let full = r#"{"jsonrpc":"2.0","id":"s","method":"status","params":{}}"#;
    for _ in 0..2 {
        let (a, b) = (ask(short), ask(full));
        assert_eq!(a, b);
        assert_eq!(a["id"], "s");
        if a["result"]["state"] == "unlicensed" {
            let (code, out, err) = run(c.cli().args(["activate", &key]));
            assert_eq!(code, 0, "{out}{err}");
        } else {
            assert_eq!(a["result"]["state"], "active", "{a}");
        }
    }
    // Activated between the two rounds: the short way said so at once.
    assert_eq!(ask(short)["result"]["state"], "active");
    // The licence file from the same snapshot is the one the agent keeps.
    let file = ask(r#"{"jsonrpc":"2.0","id":2,"method":"license_file"}"#);
    let kept = std::fs::read_to_string(c.data.join("license.lic")).unwrap();
    assert_eq!(file["result"]["license_file"].as_str(), Some(kept.as_str()));
}

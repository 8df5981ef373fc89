//! The client library's watch mode against the real agent and server: answers from memory
//! that follow the agent's pushes, "no" whenever the agent cannot be reached (never a stale
//! "yes"), a reconnection after a restart, and the signed file checked by the app itself.

use std::time::{Duration, Instant};

use licentric_client::watch::{View, Watch, WatchOptions};
use licentric_e2e::{Companion, Server, run};
use licentric_proto::Environment;

/// Waits (on the watch's own signal, not a sleep) until `what` holds; whether it did within
/// 20 seconds.
fn until(watch: &Watch, what: impl Fn(&Watch) -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let generation = watch.generation();
        if what(watch) {
            return true;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        watch.wait_for_change(generation, left);
    }
}

fn options(c: &Companion, keys: Vec<String>) -> WatchOptions {
    WatchOptions {
        socket: c.socket.clone(),
        product_id: c.product.clone(),
        environment: Environment::Test,
        trusted_keys: keys,
        // The agent's test machine id, as the app would compute it on that machine.
        fingerprint: Some(
            licentric_core::MachineId::new(&c.machine_id, "t")
                .unwrap()
                .fingerprint(&c.product),
        ),
        heartbeat: licentric_client::watch::HEARTBEAT,
    }
}

#[test]
fn a_watch_follows_the_agent_and_never_keeps_a_stale_yes() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1209600);
    let (licence, key) = server.licence("e2e-watch", 1);
    let mut c = Companion::new(
        tmp.path(),
        &server,
        "e2e-watch",
        "allow_file_credential_store = true",
    );
    c.start_agent();
    let watch = Watch::start(options(&c, Vec::new()));
    assert!(
        until(&watch, |w| matches!(w.view(), View::Known(_))),
        "{:?}",
        watch.view()
    );
    assert!(!watch.is_entitled(), "unlicensed yet");

    // Activated: pushed to the watch.
    let (code, out, err) = run(c.cli().args(["activate", &key]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(until(&watch, Watch::is_entitled), "{:?}", watch.view());
    assert!(watch.has_entitlement("pro"));
    assert!(!watch.has_entitlement("not-granted"));

    // Suspended by the vendor and seen at the next check: "no" at once.
    server.admin("POST", &format!("/licenses/{licence}/suspend"), None);
    let (_, out, _) = run(c.cli().arg("refresh"));
    assert!(out.contains("suspended"), "{out}");
    assert!(until(&watch, |w| !w.is_entitled()), "{:?}", watch.view());
    assert!(!watch.has_entitlement("pro"));
    server.admin("POST", &format!("/licenses/{licence}/reinstate"), None);
    let (code, out, err) = run(c.cli().arg("refresh"));
    assert_eq!(code, 0, "{out}{err}");
    assert!(until(&watch, Watch::is_entitled), "{:?}", watch.view());

    // The agent dies: "unknown", and no, straight away — not the last yes.
    c.stop_agent("-KILL");
    assert!(
        until(&watch, |w| matches!(w.view(), View::Unknown(_))),
        "{:?}",
        watch.view()
    );
    assert!(!watch.is_entitled() && !watch.has_entitlement("pro"));
    // It comes back: the watch reconnects by itself.
    c.start_agent();
    assert!(until(&watch, Watch::is_entitled), "{:?}", watch.view());
}

#[test]
fn a_watch_with_the_vendors_keys_believes_only_a_file_that_verifies_here() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1209600);
    let (_, key) = server.licence("e2e-watch-keys", 1);
    let mut c = Companion::new(
        tmp.path(),
        &server,
        "e2e-watch-keys",
        "allow_file_credential_store = true",
    );
    c.start_agent();
    let (code, out, err) = run(c.cli().args(["activate", &key]));
    assert_eq!(code, 0, "{out}{err}");

    // The vendor's key: the signed file's entitlements.
    let elsewhere = WatchOptions {
        fingerprint: None, // this test machine's own id: another machine than the agent's
        ..options(&c, vec![server.public_key()])
    };
    let elsewhere = Watch::start(elsewhere);
    let trusting = Watch::start(options(&c, vec![server.public_key()]));
    assert!(
        until(&trusting, Watch::is_entitled),
        "{:?}",
        trusting.view()
    );
    assert!(trusting.has_entitlement("export-pdf"));
    // The same file, checked for another machine: a copied file does not pass.
    assert!(
        until(&elsewhere, |w| matches!(
            w.view(),
            View::Known(k) if k.status.entitled && k.verification_failed.is_some()
        )),
        "{:?}",
        elsewhere.view()
    );
    assert!(!elsewhere.is_entitled());

    // Another key (what an app sees when something else signs, or lies on the socket): the
    // agent says yes, the watch says no, and why.
    let other = licentric_core::LicenseSigner::generate(&mut licentric_core::OsRandom)
        .unwrap()
        .public_key()
        .to_hex();
    let doubting = Watch::start(options(&c, vec![other]));
    assert!(
        until(&doubting, |w| matches!(
            w.view(),
            View::Known(k) if k.status.entitled && k.verification_failed.is_some()
        )),
        "{:?}",
        doubting.view()
    );
    assert!(!doubting.is_entitled() && !doubting.has_entitlement("export-pdf"));
}

/// An agent that said "yes", then keeps the connection busy with lines that are no status
/// (and answers no question): the watch stops believing it after one heartbeat, however much
/// it talks.
#[test]
fn a_talkative_agent_that_stops_answering_is_not_believed() {
    use std::io::{BufRead, BufReader, Write};
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let folder = tmp.path().join("run");
    std::fs::create_dir(&folder).unwrap();
    std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o700)).unwrap();
    let socket = folder.join("fake.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let status = serde_json::json!({
        "state": "active", "entitled": true, "product_id": "p", "environment": "test",
        "license_id": "l", "machine_id": "m", "entitlements": ["pro"],
        "license_expires_at": null, "offline_valid_until": null, "last_refresh_at": null,
        "next_refresh_at": null, "credential_store": "os", "reason": null,
    });
    std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut writer = stream.try_clone().unwrap();
        let mut lines = BufReader::new(stream);
        for _ in 0..2 {
            let mut line = String::new();
            lines.read_line(&mut line).unwrap();
            let request: serde_json::Value = serde_json::from_str(&line).unwrap();
            let result = if request["method"] == "version" {
                serde_json::json!({"protocol": 1, "agent_version": "x", "product_id": "p", "environment": "test", "management": false})
            } else {
                serde_json::json!({ "status": status })
            };
            let answer =
                serde_json::json!({"jsonrpc": "2.0", "id": request["id"], "result": result});
            writer.write_all(format!("{answer}\n").as_bytes()).unwrap();
        }
        // Chatter that is no status, and never an answer.
        while writer
            .write_all(b"{\"jsonrpc\":\"2.0\",\"method\":\"noise\"}\n")
            .is_ok()
        {
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    let mut options = WatchOptions::new("p", Environment::Test);
    options.socket = socket;
    options.heartbeat = Duration::from_millis(500);
    let watch = Watch::start(options);
    assert!(until(&watch, Watch::is_entitled), "{:?}", watch.view());
    // One heartbeat, then the status question, unanswered within the query time-out.
    assert!(
        until(&watch, |w| matches!(w.view(), View::Unknown(_))),
        "{:?}",
        watch.view()
    );
    assert!(!watch.is_entitled());
}

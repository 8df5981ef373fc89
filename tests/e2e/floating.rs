//! Floating seats end to end: the real server with a floating licence of one seat, the real
//! agent, and local apps on its socket — one a separate process holding its seat through
//! `licentric checkout`, killed with `kill -9`; the seat comes back to the server at once
//! (released, not left to run out), and the app that was refused gets it; an app that waits
//! for a seat gets it when its holder exits.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use licentric_e2e::{Companion, Server, pushed, run};

#[test]
fn an_app_killed_with_kill_9_gives_its_seat_back_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1209600);
    let (licence, key, _) = floating_licence(&server, "e2e-float", 1, serde_json::json!({}));
    let mut c = Companion::new(
        tmp.path(),
        &server,
        "e2e-float",
        "allow_file_credential_store = true",
    );
    c.start_agent();
    // The key of a floating licence is kept; no seat is taken until an app asks for one.
    let (code, out, err) = run(c.cli().args(["activate", &key]));
    assert_eq!(code, 0, "{out}{err}");
    let status = c.client().status().unwrap();
    assert_eq!(status.reason.as_deref(), Some("floating"), "{status:?}");
    assert!(!status.entitled);
    let mut watcher = c.client();
    assert!(!watcher.subscribe().unwrap().entitled);

    // App one, its own process: holds the seat while it runs.
    let mut one = c
        .cli()
        .arg("checkout")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(one.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(
        line.contains("Holding a seat") && line.contains("1 of 1"),
        "{line}"
    );
    let held = pushed(&mut watcher, "the seat, pushed", |s| s.entitled);
    assert_eq!(held.lease.as_ref().map(|l| l.holders), Some(1), "{held:?}");
    assert_eq!(held.entitlements, ["pro", "export-pdf"]);

    // Another app on this machine shares the machine's one seat.
    let mut beside = c.client();
    let shared = beside.checkout(Some("pro")).unwrap();
    assert_eq!((shared.seats_in_use, shared.max_seats), (1, 1));
    let both = pushed(&mut watcher, "two holders", |s| {
        s.lease.as_ref().is_some_and(|l| l.holders == 2)
    });
    assert!(both.entitled);
    assert!(beside.release().unwrap());
    pushed(&mut watcher, "one holder again", |s| {
        s.lease.as_ref().is_some_and(|l| l.holders == 1)
    });

    // An app on another machine: every seat is held.
    let mut other = Companion::new(
        &tmp.path().join("other"),
        &server,
        "e2e-float",
        "allow_file_credential_store = true",
    );
    other.machine_id = "0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f".into();
    other.start_agent();
    // (The credential store entry is per product: this machine's agent finds the key there.)
    let mut two = other.client();
    let refused = two.checkout(Some("pro")).unwrap_err();
    assert!(
        format!("{refused:?}").contains("no_seat_available"),
        "{refused:?}"
    );

    // App one dies without a word: its connection closes, the agent gives the seat back to
    // the server before it says so.
    Command::new("kill")
        .args(["-9", &one.id().to_string()])
        .status()
        .unwrap();
    let _ = one.wait();
    let gone = pushed(&mut watcher, "the seat given back", |s| !s.entitled);
    assert_eq!(gone.reason.as_deref(), Some("floating"), "{gone:?}");
    let audit = server.admin("GET", &format!("/audit-events?license_id={licence}"), None);
    assert!(audit.to_string().contains("lease.released"), "{audit}");
    assert!(!audit.to_string().contains("lease.expired"), "{audit}");
    // App two asks again: the seat is its.
    let seat = two.checkout(Some("pro")).unwrap();
    assert_eq!((seat.seats_in_use, seat.max_seats), (1, 1));
    // An entitlement the licence does not have is refused, and the seat stays two's.
    let mut three = other.client();
    let err = three.checkout(Some("enterprise")).unwrap_err();
    assert!(format!("{err:?}").contains("not_entitled"), "{err:?}");
    assert!(two.release().unwrap());
    // Given back on the server: this machine's app gets the seat again.
    let again = beside.checkout(None).unwrap();
    assert_eq!(again.seats_in_use, 1);
    // The Python example's helper holds the seat for its block, then gives it back.
    assert!(beside.release().unwrap());
    pushed(&mut watcher, "no seat", |s| !s.entitled);
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/python");
    let script = "import sys, licentric_client as lc\n\
        with lc.Client(sys.argv[1], 'e2e-float', 'test').checkout('pro') as seat:\n\
        \x20   print(f'held {seat.seats_in_use} of {seat.max_seats}', flush=True)\n\
        \x20   sys.stdin.readline()\n\
        print('given back', flush=True)\n";
    let mut python = Command::new("python3")
        .args(["-c", script])
        .arg(&c.socket)
        .env("PYTHONPATH", examples)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(python.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "held 1 of 1");
    let held = pushed(&mut watcher, "the Python app's seat", |s| s.entitled);
    assert_eq!(held.lease.map(|l| l.holders), Some(1));
    drop(python.stdin.take());
    line.clear();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "given back");
    assert!(python.wait().unwrap().success());
    pushed(&mut watcher, "the seat given back", |s| !s.entitled);
    other.stop_agent("-TERM");
    c.stop_agent("-TERM");
}

#[test]
fn a_waiting_app_gets_the_seat_when_its_holder_exits() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1209600);
    let (_, key, _) = floating_licence(&server, "e2e-wait", 1, serde_json::json!({}));
    let mut first = Companion::new(
        &tmp.path().join("first"),
        &server,
        "e2e-wait",
        "allow_file_credential_store = true",
    );
    first.start_agent();
    assert_eq!(run(first.cli().args(["activate", &key])).0, 0);
    let mut second = Companion::new(
        &tmp.path().join("second"),
        &server,
        "e2e-wait",
        "allow_file_credential_store = true",
    );
    second.machine_id = "0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e".into();
    second.start_agent();
    // Its user enters the key too (else the agent learns the licence floats only when it
    // first asks the server with the key it finds in the keyring).
    assert_eq!(run(second.cli().args(["activate", &key])).0, 0);
    // The first machine's app holds the one seat.
    let mut holder = first.client();
    holder.checkout(None).unwrap();
    // The second machine's app waits for it (the CLI, as a user would), in its own process.
    let mut waiter = second
        .cli()
        .args(["checkout", "--wait"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(waiter.stdout.take().unwrap());
    let mut line = String::new();
    lines.read_line(&mut line).unwrap();
    assert!(
        line.contains("waiting for one"),
        "refused first, then waiting: {line}"
    );
    // The second machine's status says an app there waits for a seat.
    let mut watcher = second.client();
    let status = watcher.subscribe().unwrap();
    assert_eq!(status.seats_waiting, 1, "{status:?}");
    assert!(!status.entitled);
    // The holder exits: its seat goes back, and the waiting app is told it has one.
    drop(holder);
    line.clear();
    lines.read_line(&mut line).unwrap();
    assert!(
        line.contains("Holding a seat") && line.contains("1 of 1"),
        "{line}"
    );
    pushed(&mut watcher, "the seat, with nobody waiting", |s| {
        s.entitled && s.seats_waiting == 0
    });
    drop(waiter.stdin.take());
    assert!(waiter.wait().unwrap().success());
    second.stop_agent("-TERM");
    first.stop_agent("-TERM");
}

#[test]
fn a_seat_the_vendor_frees_is_taken_again_when_its_app_asks() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1209600);
    let (licence, key, _) = floating_licence(&server, "e2e-freed", 2, serde_json::json!({}));
    let mut c = Companion::new(
        tmp.path(),
        &server,
        "e2e-freed",
        "allow_file_credential_store = true",
    );
    c.start_agent();
    assert_eq!(run(c.cli().args(["activate", &key])).0, 0);
    let mut app = c.client();
    app.checkout(None).unwrap();
    let leases = |action: &str| -> Vec<String> {
        let audit = server.admin("GET", &format!("/audit-events?license_id={licence}"), None);
        audit["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == action)
            .map(|e| e["resource"]["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let first = leases("lease.checked_out");
    assert_eq!(first.len(), 1);
    // The vendor frees the seat from its side.
    server.admin("DELETE", &format!("/leases/{}", first[0]), None);
    assert_eq!(leases("lease.released"), first);
    // The app asks again: the agent finds its lease gone and takes another seat for it.
    let seat = app.checkout(None).unwrap();
    assert_eq!(seat.seats_in_use, 1, "one seat, the new one");
    let now = leases("lease.checked_out");
    assert_eq!(now.len(), 2, "{now:?}");
    assert!(c.client().status().unwrap().entitled);
    c.stop_agent("-TERM");
}

#[test]
fn an_agent_killed_holding_a_seat_gives_it_back_when_it_starts_again() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1209600);
    let (_, key, _) = floating_licence(&server, "e2e-restart", 1, serde_json::json!({}));
    let mut first = Companion::new(
        &tmp.path().join("first"),
        &server,
        "e2e-restart",
        "allow_file_credential_store = true",
    );
    first.start_agent();
    assert_eq!(run(first.cli().args(["activate", &key])).0, 0);
    let mut app = first.client();
    app.checkout(None).unwrap();
    // The agent dies holding the seat (no chance to give it back): on the server, the seat
    // stays taken until its lease runs out — or until the agent starts again.
    first.stop_agent("-KILL");
    drop(app);
    let mut other = Companion::new(
        &tmp.path().join("other"),
        &server,
        "e2e-restart",
        "allow_file_credential_store = true",
    );
    other.machine_id = "0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d".into();
    other.start_agent();
    let mut waiting = other.client();
    assert!(
        waiting.start_checkout(None).unwrap().is_none(),
        "the dead agent's seat is still taken"
    );
    first.start_agent();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let seat = waiting.next_seat(Some(deadline)).unwrap();
    assert_eq!(seat.seats_in_use, 1);
    other.stop_agent("-TERM");
    first.stop_agent("-TERM");
}

/// A licence of `seats` seats on `product`, made floating (with `policy`'s settings besides,
/// such as `seats_per`): its id, its key, and the product as the server now has it.
fn floating_licence(
    server: &Server,
    product: &str,
    seats: u32,
    policy: serde_json::Value,
) -> (String, String, serde_json::Value) {
    let (licence, key) = server.licence(product, seats);
    let mut body = serde_json::json!({"seat_model": "floating"});
    if let (Some(body), serde_json::Value::Object(more)) = (body.as_object_mut(), policy) {
        body.extend(more);
    }
    let updated = server.admin("PATCH", &format!("/products/{product}"), Some(body));
    assert_eq!(updated["product"]["seat_model"], "floating", "{updated}");
    (licence, key, updated["product"].clone())
}

/// `licentric borrow --days 3`, which succeeds; what it printed.
fn borrow_three_days(c: &Companion) -> String {
    let (code, out, err) = run(c.cli().args(["borrow", "--days", "3"]));
    assert_eq!(code, 0, "{out}{err}");
    out
}

/// A floating licence of one seat on `product`, and this machine's companion holding its key.
fn floating_companion(
    root: &std::path::Path,
    server: &Server,
    product: &str,
) -> (Companion, String, String) {
    let (licence, key, _) = floating_licence(server, product, 1, serde_json::json!({}));
    // The keyring (a real Secret Service) holds the key and the state's anchor, apart from
    // the data folder.
    let mut c = Companion::new(&root.join("here"), server, product, "");
    c.start_agent();
    assert_eq!(run(c.cli().args(["activate", &key])).0, 0);
    (c, licence, key)
}

/// Another machine's fingerprint (it checks out seats straight from the API).
const OTHER: &str = "e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0";

#[test]
fn a_borrowed_seat_holds_offline_across_restarts_until_returned() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Server::start(tmp.path(), 1209600);
    let (mut c, licence, key) = floating_companion(tmp.path(), &server, "e2e-borrow");

    // Borrowed for three days, no app running.
    let out = borrow_three_days(&c);
    assert!(out.contains("Borrowed a seat"), "{out}");
    let status = c.client().status().unwrap();
    assert_eq!(
        status.reason.as_deref(),
        Some("borrowed_seat"),
        "{status:?}"
    );
    assert!(status.entitled);
    assert!(
        status.lease.as_ref().is_some_and(|l| l.borrowed),
        "{status:?}"
    );
    assert_eq!(status.summary, "Seat borrowed");
    // Nobody else gets it meanwhile.
    let (code, refused) = server.lease_for(&key, OTHER);
    assert_eq!(code, 409, "{refused}");
    assert_eq!(refused["error"]["code"], "no_seat_available");

    // A copy of the data folder taken during the trip (the attacker's, for later).
    let copy = tmp.path().join("copy");
    licentric_e2e::copy_data_folder(&c.data, &copy);

    // The trip: no server, the agent restarted; apps get the seat here, offline.
    server.stop();
    c.stop_agent("-TERM");
    c.start_agent();
    let status = c.client().status().unwrap();
    assert_eq!(
        status.reason.as_deref(),
        Some("borrowed_seat"),
        "{status:?}"
    );
    let mut app = c.client();
    let seat = app.checkout(Some("pro")).unwrap();
    assert_eq!(seat.max_seats, 1);
    drop(app);
    // An app closing does not give a borrowed seat back.
    let mut watcher = c.client();
    assert!(watcher.subscribe().unwrap().entitled);

    // Returning needs the server: offline, nothing is given up.
    let (code, _, err) = run(c.cli().arg("return"));
    assert_ne!(code, 0);
    assert!(err.contains("network_unavailable"), "{err}");
    let status = c.client().status().unwrap();
    assert_eq!(
        status.reason.as_deref(),
        Some("borrowed_seat"),
        "{status:?}"
    );

    // Back home: returned early, the seat is free for the other machine at once.
    server.restart();
    let (code, out, err) = run(c.cli().arg("return"));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("free for others"), "{out}");
    let after = pushed(&mut watcher, "the seat returned", |s| !s.entitled);
    assert_eq!(after.reason.as_deref(), Some("floating"), "{after:?}");
    let (code, answer) = server.lease_for(&key, OTHER);
    assert_eq!(code, 201, "{answer}");
    let (code, _, err) = run(c.cli().arg("return"));
    assert_ne!(code, 0);
    assert!(err.contains("not_borrowed"), "{err}");
    let audit = server.admin("GET", &format!("/audit-events?license_id={licence}"), None);
    for action in ["lease.borrowed", "lease.returned"] {
        assert!(audit.to_string().contains(action), "{action}: {audit}");
    }

    // The copy put back in place does not bring the returned seat back: the credential store
    // knows it was returned.
    c.stop_agent("-TERM");
    std::fs::remove_dir_all(&c.data).unwrap();
    std::fs::rename(&copy, &c.data).unwrap();
    server.stop();
    c.start_agent();
    let status = c.client().status().unwrap();
    assert_eq!(status.reason.as_deref(), Some("floating"), "{status:?}");
    assert!(!status.entitled);
    c.stop_agent("-TERM");
}

#[test]
fn a_borrowed_seat_ends_at_its_end_whatever_the_clock_says_later() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Server::start(tmp.path(), 1209600);
    let (mut c, _, _) = floating_companion(tmp.path(), &server, "e2e-borrow-end");
    // Too long for the product: refused with the limit in words.
    let (code, _, err) = run(c.cli().args(["borrow", "--days", "30"]));
    assert_ne!(code, 0);
    assert!(
        err.contains("7 days") && err.contains("borrow_too_long"),
        "{err}"
    );

    // Borrowed for two seconds, offline: the apps are told when it ends.
    let until = (time::OffsetDateTime::now_utc() + time::Duration::seconds(2))
        .replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let (code, out, err) = run(c.cli().args(["borrow", "--until", &until]));
    assert_eq!(code, 0, "{out}{err}");
    server.stop();
    let mut watcher = c.client();
    assert!(watcher.subscribe().unwrap().entitled);
    let ended = pushed(&mut watcher, "the borrow's end", |s| !s.entitled);
    assert_eq!(ended.reason.as_deref(), Some("floating"), "{ended:?}");

    // Borrowed for three days; the agent starts again eight days on: ended. Then with the
    // clock turned back into the trip: still ended.
    server.restart();
    borrow_three_days(&c);
    server.stop();
    c.stop_agent("-TERM");
    c.start_agent_at("+8d");
    let status = c.client().status().unwrap();
    assert_eq!(status.reason.as_deref(), Some("floating"), "{status:?}");
    c.stop_agent("-TERM");
    c.start_agent_at("+1d");
    let status = c.client().status().unwrap();
    assert!(!status.entitled, "{status:?}");
    c.stop_agent("-TERM");
}

#[test]
fn where_the_product_says_so_each_app_holds_a_seat_of_its_own() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1209600);
    let (licence, key, product) = floating_licence(
        &server,
        "e2e-per-process",
        2,
        serde_json::json!({"seats_per": "process"}),
    );
    assert_eq!(product["seats_per"], "process", "{product}");
    let mut c = Companion::new(tmp.path(), &server, "e2e-per-process", "");
    c.start_agent();
    assert_eq!(run(c.cli().args(["activate", &key])).0, 0);
    let mut watcher = c.client();
    watcher.subscribe().unwrap();

    // Two apps here: two seats, the licence's two.
    let mut one = c.client();
    assert_eq!(one.checkout(None).unwrap().seats_in_use, 1);
    let mut two = c.client();
    assert_eq!(two.checkout(Some("pro")).unwrap().seats_in_use, 2);
    let both = pushed(&mut watcher, "two apps, two seats", |s| {
        s.lease.as_ref().is_some_and(|l| l.holders == 2)
    });
    assert_eq!(both.lease.as_ref().map(|l| l.seats_in_use), Some(2));
    // Asking again costs no second seat (the licence is full).
    assert_eq!(two.checkout(Some("pro")).unwrap().seats_in_use, 2);
    assert_eq!(one.checkout(None).unwrap().max_seats, 2);
    // A third app here is refused: each process needs its own.
    let refused = c.client().checkout(None).unwrap_err();
    assert!(
        format!("{refused:?}").contains("no_seat_available"),
        "{refused:?}"
    );
    let (code, _) = server.lease_for(&key, OTHER);
    assert_eq!(code, 409, "none for another machine either");

    // The second app closes: its own seat is free on the server at once; the first holds on.
    drop(two);
    pushed(&mut watcher, "one app left", |s| {
        s.entitled && s.lease.as_ref().is_some_and(|l| l.holders == 1)
    });
    let (code, answer) = server.lease_for(&key, OTHER);
    assert_eq!(code, 201, "{answer}");
    let audit = server.admin("GET", &format!("/audit-events?license_id={licence}"), None);
    assert_eq!(
        audit.to_string().matches("lease.released").count(),
        1,
        "{audit}"
    );
    assert!(one.release().unwrap());
    c.stop_agent("-TERM");
}

#[test]
fn a_borrow_ending_while_an_app_holds_the_seat_leaves_it_the_seat() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1209600);
    let (c, _, key) = floating_companion(tmp.path(), &server, "e2e-borrow-apps");
    let mut app = c.client();
    app.checkout(None).unwrap();
    // Borrowed for a few seconds while the app runs: near its end it becomes the app's
    // ordinary seat again, and nobody else can take it meanwhile.
    let until = (time::OffsetDateTime::now_utc() + time::Duration::seconds(3))
        .replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    assert_eq!(run(c.cli().args(["borrow", "--until", &until])).0, 0);
    let mut watcher = c.client();
    assert_eq!(
        watcher.subscribe().unwrap().reason.as_deref(),
        Some("borrowed_seat")
    );
    let kept = pushed(&mut watcher, "an ordinary seat again", |s| {
        s.reason.as_deref() == Some("floating_seat")
    });
    assert!(kept.entitled, "{kept:?}");
    let (code, refused) = server.lease_for(&key, OTHER);
    assert_eq!(code, 409, "the app's seat is still held: {refused}");
    drop(app);
}

#[test]
fn a_borrowed_seat_returned_while_an_app_holds_it_stays_the_apps_without_a_gap() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1209600);
    let (c, _, key) = floating_companion(tmp.path(), &server, "e2e-return-apps");
    let mut app = c.client();
    app.checkout(None).unwrap();
    borrow_three_days(&c);
    let mut watcher = c.client();
    assert_eq!(
        watcher.subscribe().unwrap().reason.as_deref(),
        Some("borrowed_seat")
    );

    // Given back early while the app runs: the server has it as the app's ordinary seat, and
    // the app is never told it is not entitled on the way.
    let (code, out, err) = run(c.cli().arg("return"));
    assert_eq!(code, 0, "{out}{err}");
    let refused = std::cell::RefCell::new(Vec::new());
    let kept = pushed(&mut watcher, "an ordinary seat again", |s| {
        if !s.entitled {
            refused.borrow_mut().push(s.clone());
        }
        s.reason.as_deref() == Some("floating_seat")
    });
    assert!(kept.entitled, "{kept:?}");
    assert_eq!(
        refused.into_inner(),
        Vec::new(),
        "a gap in the app's licence"
    );
    let (code, taken) = server.lease_for(&key, OTHER);
    assert_eq!(code, 409, "the app's seat is still held: {taken}");

    // The app lets go: the seat is free for another machine.
    assert!(app.release().unwrap());
    let (code, lease) = server.lease_for(&key, OTHER);
    assert_eq!(code, 201, "{lease}");
}

/// An app asks a borrowed seat for an entitlement it lacks (any local app can send that
/// checkout): it is refused, and the borrowed seat stays borrowed — on the server too. Before,
/// the agent gave the seat back on the server while keeping its sealed borrow: the machine kept
/// a seat the server counted as free, for the whole borrow and across restarts.
#[test]
fn an_app_asking_a_borrowed_seat_for_more_does_not_give_it_back() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1209600);
    let (c, _, key) = floating_companion(tmp.path(), &server, "e2e-borrow-ask-more");
    borrow_three_days(&c);

    let refused = c.client().checkout(Some("enterprise"));
    let Err(licentric_client::ClientError::Agent(refused)) = refused else {
        panic!("a seat without enterprise was handed out as one with it: {refused:?}");
    };
    assert_eq!(
        refused.data.map(|d| d.code).as_deref(),
        Some("not_entitled")
    );
    assert!(
        refused
            .message
            .starts_with("the seat borrowed here does not include \"enterprise\""),
        "it names the seat, not the licence: {}",
        refused.message
    );
    let (code, taken) = server.lease_for(&key, OTHER);
    assert_eq!(
        code, 409,
        "the borrowed seat is still held on the server: {taken}"
    );
    let status = c.client().status().unwrap();
    assert_eq!(
        (status.entitled, status.reason.as_deref()),
        (true, Some("borrowed_seat")),
        "{status:?}"
    );
}

/// The vendor revokes the licence (a refund, say) while a seat is borrowed, and the machine can
/// reach the server: its next contact ends the borrow — at the agent's start, then hourly — as a
/// revocation reaches a node-locked machine. Before, a borrowing machine never asked again, and
/// stayed entitled, online, to the borrow's end.
#[test]
fn a_revoked_licence_ends_a_borrow_at_the_next_contact() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1209600);
    let (mut c, licence, _) = floating_companion(tmp.path(), &server, "e2e-borrow-revoked");
    borrow_three_days(&c);
    server.admin("POST", &format!("/licenses/{licence}/revoke"), None);

    c.stop_agent("-TERM");
    c.start_agent();
    let mut watcher = c.client();
    let now = watcher.subscribe().unwrap();
    let ended = if now.entitled {
        pushed(&mut watcher, "the borrow ended", |s| !s.entitled)
    } else {
        now
    };
    assert!(
        ended.lease.is_none(),
        "no seat is held here any more: {ended:?}"
    );
    // And it stays ended across a restart: the sealed state forgot it.
    c.stop_agent("-TERM");
    c.start_agent();
    let status = c.client().status().unwrap();
    assert!(!status.entitled, "{status:?}");
}

/// The user's Refresh asks the server about a borrowed seat at once, not at the next hour: a
/// licence revoked meanwhile ends the borrow on the running agent.
#[test]
fn refresh_asks_the_server_about_a_borrow_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1209600);
    let (c, licence, _) = floating_companion(tmp.path(), &server, "e2e-borrow-refresh");
    borrow_three_days(&c);
    server.admin("POST", &format!("/licenses/{licence}/revoke"), None);
    assert!(c.client().status().unwrap().entitled, "not asked yet");

    let _ = run(c.cli().arg("refresh"));
    let status = c.client().status().unwrap();
    assert!(
        !status.entitled && status.lease.is_none(),
        "the borrow ended at the Refresh: {status:?}"
    );
}

/// Attack: a copy of the data folder runs beside the original (another home, the same
/// keyring), kept offline; the original returns the borrowed seat, which another machine
/// takes. The copy reads the credential store's anchor again — at each minute's look, and at
/// the user's Refresh — and ends the borrow the original returned. Before, it kept answering
/// from it, and rewrote the anchor with it at its next minute, so it held across restarts.
#[test]
fn a_running_copy_does_not_keep_a_borrow_the_original_returned() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1209600);
    let (c, _, key) = floating_companion(tmp.path(), &server, "e2e-borrow-copy");
    borrow_three_days(&c);
    let mut copy = Companion::new(
        &tmp.path().join("copy"),
        &server,
        "e2e-borrow-copy",
        "proxy = \"http://127.0.0.1:9\"",
    );
    licentric_e2e::copy_data_folder(&c.data, &copy.data);
    copy.start_agent();
    let status = copy.client().status().unwrap();
    assert_eq!(
        status.reason.as_deref(),
        Some("borrowed_seat"),
        "{status:?}"
    );

    let (code, out, err) = run(c.cli().arg("return"));
    assert_eq!(code, 0, "{out}{err}");
    let (code, taken) = server.lease_for(&key, OTHER);
    assert_eq!(code, 201, "the seat is another machine's now: {taken}");

    let _ = run(copy.cli().arg("refresh"));
    let status = copy.client().status().unwrap();
    assert!(
        !status.entitled && status.lease.is_none(),
        "the copy let the returned borrow go: {status:?}"
    );
    let refused = copy.client().checkout(None);
    assert!(refused.is_err(), "{refused:?}");
    // Nor does it come back at the copy's next start (still offline).
    copy.stop_agent("-TERM");
    copy.start_agent();
    let status = copy.client().status().unwrap();
    assert!(!status.entitled, "{status:?}");
}

/// The vendor shortens the licence while a seat is borrowed: the next contact brings the
/// borrow forward to the licence's end here too, and sealed so — a start with the server gone
/// keeps the earlier end. Before, the agent kept its longer lease and used it offline past the
/// licence's end.
#[test]
fn a_licence_shortened_brings_the_borrow_forward_here() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Server::start(tmp.path(), 1209600);
    let (mut c, licence, _) = floating_companion(tmp.path(), &server, "e2e-borrow-shortened");
    borrow_three_days(&c);
    let ends = (time::OffsetDateTime::now_utc() + time::Duration::days(1))
        .replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    server.admin(
        "PATCH",
        &format!("/licenses/{licence}"),
        Some(serde_json::json!({"expires_at": ends})),
    );

    let _ = run(c.cli().arg("refresh"));
    let ends_here = |c: &Companion| c.client().status().unwrap().lease.map(|l| l.expires_at);
    assert_eq!(ends_here(&c).as_deref(), Some(ends.as_str()));
    server.stop();
    c.stop_agent("-TERM");
    c.start_agent();
    assert_eq!(ends_here(&c).as_deref(), Some(ends.as_str()), "sealed so");
}

/// The vendor takes an entitlement away from the licence (a downgrade) while a seat that
/// carries it is borrowed: the server signs the borrow without it at the next contact, and the
/// seat here goes without it too, sealed so — not only from the borrow's end on.
#[test]
fn an_entitlement_taken_away_leaves_the_borrowed_seat_here_too() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Server::start(tmp.path(), 1209600);
    let (mut c, licence, _) = floating_companion(tmp.path(), &server, "e2e-borrow-narrowed");
    borrow_three_days(&c);
    let carries_pro = |c: &Companion| c.client().checkout(Some("pro")).is_ok();
    assert!(carries_pro(&c), "the borrowed seat carries pro");
    let changed = server.admin(
        "PATCH",
        &format!("/licenses/{licence}"),
        Some(serde_json::json!({"entitlements": []})),
    );
    assert_eq!(changed["license"]["entitlements"], serde_json::json!([]));
    assert_eq!(run(c.cli().arg("refresh")).0, 0);
    assert!(
        !carries_pro(&c),
        "pro was taken away on the server, not here"
    );
    let status = c.client().status().unwrap();
    assert_eq!(
        (status.entitled, status.reason.as_deref()),
        (true, Some("borrowed_seat")),
        "the seat itself stands: {status:?}"
    );
    server.stop();
    c.stop_agent("-TERM");
    c.start_agent();
    assert!(!carries_pro(&c), "sealed without pro");
}

/// A product that keeps borrowed seats to their end: `return` says so before anything is
/// given up, and the seat stays this machine's — here and on the server.
#[test]
fn a_seat_kept_to_its_end_is_not_returned_early() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1209600);
    let (c, _, key) = floating_companion(tmp.path(), &server, "e2e-borrow-kept");
    let product = server.admin(
        "PATCH",
        "/products/e2e-borrow-kept",
        Some(serde_json::json!({"borrow_kept_to_end": true})),
    );
    assert_eq!(product["product"]["borrow_kept_to_end"], true, "{product}");
    borrow_three_days(&c);
    let status = c.client().status().unwrap();
    let lease = status.lease.as_ref().unwrap();
    assert!(lease.borrowed && lease.kept_to_end, "{lease:?}");
    assert!(
        status.detail.contains("cannot be returned early"),
        "{status:?}"
    );

    let (code, out, err) = run(c.cli().arg("return"));
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("cannot be returned early") && err.contains("borrow_kept_to_end"),
        "{err}"
    );
    let status = c.client().status().unwrap();
    assert_eq!(
        status.reason.as_deref(),
        Some("borrowed_seat"),
        "{status:?}"
    );
    let (code, taken) = server.lease_for(&key, OTHER);
    assert_eq!(code, 409, "still counted: {taken}");

    // Deactivating is not refused for it: the seat is no longer used here, and stays counted
    // on the server to its end, as the user is told.
    let (code, out, err) = run(c.cli().arg("deactivate"));
    assert_eq!(code, 0, "{out}{err}");
    // Its end as people read it (as the status gives times), not a machine's timestamp.
    assert!(
        out.contains("stays counted for your team until")
            && out.contains(" UTC:")
            && !out.contains("Z:"),
        "{out}"
    );
    let status = c.client().status().unwrap();
    assert!(!status.entitled && status.lease.is_none(), "{status:?}");
    let (code, taken) = server.lease_for(&key, OTHER);
    assert_eq!(code, 409, "counted to its end: {taken}");
}

/// An app that must hold against its own user checks its seat itself: the checkout answers
/// the signed lease, which verifies with the vendor's key for this machine — and for no other
/// machine, under no other key, and not once altered. (A program squatting on the socket can
/// hand out a "seat", but not a lease the vendor signed for this machine.)
#[test]
fn an_app_checks_its_seat_itself_from_the_signed_lease() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1209600);
    let product = "e2e-lease-check";
    let (c, _, _) = floating_companion(tmp.path(), &server, product);
    let seat = c.client().checkout(None).unwrap();
    let lease = seat
        .lease_file
        .expect("the checkout answers the signed lease");
    let here = licentric_core::MachineId::new(&c.machine_id, "t")
        .unwrap()
        .fingerprint(product);
    let check = |lease: &str, key: &str, fingerprint: &licentric_core::Fingerprint| {
        licentric_client::verify::check_lease_for(
            lease,
            &[key],
            product,
            licentric_proto::Environment::Test,
            fingerprint,
        )
    };
    let verified = check(&lease, &server.public_key(), &here).unwrap();
    assert_eq!(verified.payload().product_id, product);
    assert!(
        verified.payload().entitlements.iter().any(|e| e == "pro"),
        "{:?}",
        verified.payload()
    );

    let elsewhere = licentric_core::MachineId::new(&"ab".repeat(16), "t")
        .unwrap()
        .fingerprint(product);
    let err = check(&lease, &server.public_key(), &elsewhere).unwrap_err();
    assert!(err.contains("fingerprint_mismatch"), "{err}");
    assert!(
        check(&lease, &"11".repeat(32), &here).is_err(),
        "another key"
    );
    let altered = lease.replacen("eyJ", "eyK", 1);
    assert!(
        check(&altered, &server.public_key(), &here).is_err(),
        "an altered lease"
    );
}

/// A C program holds a seat through the C ABI, its signed lease checked in the program with
/// the vendor's key: the seat is its own while it runs and goes back when it lets go. Checked
/// for another machine, or under another key, the lease does not pass: the program is told
/// `LICENTRIC_NOT_VERIFIED` (with why), and the seat goes back.
#[test]
fn a_c_program_holds_a_seat_its_lease_checked_with_the_vendors_key() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1209600);
    let product = "e2e-c-seat";
    let (c, _, key) = floating_companion(tmp.path(), &server, product);
    let vendor = server.public_key();
    let hold = |machine: &str, trusted: &str| {
        licentric_e2e::c_example_command()
            .arg("--socket")
            .arg(&c.socket)
            .args([product, "test", "checkout", "pro", trusted])
            .env("LICENTRIC_MACHINE_ID", machine)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };

    let mut program = hold(&c.machine_id, &vendor);
    let mut lines = BufReader::new(program.stdout.take().unwrap()).lines();
    let held = lines.next().unwrap().unwrap();
    assert!(
        held.starts_with("seat: 1 of 1 in use") && held.ends_with("lease checked here: yes"),
        "{held}"
    );
    let (code, taken) = server.lease_for(&key, OTHER);
    assert_eq!(code, 409, "the program's seat: {taken}");
    drop(program.stdin.take());
    assert_eq!(lines.next().unwrap().unwrap(), "released");
    assert!(program.wait().unwrap().success());

    for (machine, trusted, why) in [
        (&"ab".repeat(16), vendor.as_str(), "fingerprint"),
        (&c.machine_id, &"11".repeat(32), "unknown_key_id"),
    ] {
        let out = hold(machine, trusted).wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(
            err.starts_with("error [9]: ") && err.contains("[not_verified]") && err.contains(why),
            "{err}"
        );
    }
    let (code, taken) = server.lease_for(&key, OTHER);
    assert_eq!(
        code, 201,
        "the seats that failed the check went back: {taken}"
    );
}

/// A program on the socket that hands out a genuine lease but says more beside it (a seat
/// until 2099, a thousand seats): the C ABI's checked seat reports the lease's signed end and
/// seats, not the words beside it.
#[test]
fn a_c_program_counts_what_the_lease_signs_not_what_the_agent_says() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1209600);
    let product = "e2e-c-lie";
    let (c, _, _) = floating_companion(tmp.path(), &server, product);
    let genuine = c.client().checkout(None).unwrap();
    let socket = lying_about_the_seat(tmp.path(), product, genuine.lease_file.clone().unwrap());

    let out = licentric_e2e::c_example_command()
        .arg("--socket")
        .arg(&socket)
        .args([product, "test", "checkout", "-", &server.public_key()])
        .env("LICENTRIC_MACHINE_ID", &c.machine_id)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let signed_end = &genuine.expires_at;
    assert!(
        said.starts_with(&format!("seat: 1 of 1 in use, until {signed_end}")),
        "the lease's end and seats, not the squatter's: {said}"
    );
}

/// A program on a socket of `dir` posing as the agent of `product`, that hands out `lease` (a
/// genuine one) but says more beside it: a seat until 2099, a thousand seats.
fn lying_about_the_seat(dir: &std::path::Path, product: &str, lease: String) -> std::path::PathBuf {
    licentric_e2e::impostor(dir, product, move |method| match method {
        "checkout" => serde_json::json!({"expires_at": "2099-01-01T00:00:00Z",
            "seats_in_use": 1, "max_seats": 1000, "entitlements": ["pro"], "lease_file": lease}),
        _ => serde_json::json!({"released": true}),
    })
}

/// Python and Node apps check their seat themselves (`checkout(..., trusted_keys)`): the
/// seat's signed lease verifies with the vendor's key for this machine, the seat's figures are
/// the lease's, not those of a program posing as the agent; checked for another machine or
/// under another key it does not pass, and the seat goes back.
#[test]
fn python_and_node_apps_check_their_seat_from_the_signed_lease() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1209600);
    let product = "e2e-script-seat";
    let (c, _, key) = floating_companion(tmp.path(), &server, product);
    let vendor = server.public_key();
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples");
    let python = "import sys, licentric_client as lc
client = lc.Client(sys.argv[1], sys.argv[2], 'test')
try:
    with client.checkout('pro', trusted_keys=[sys.argv[3]]) as seat:
        print(f'seat: {seat.seats_in_use} of {seat.max_seats}, until {seat.expires_at}, lease {seat.lease[\"lease_id\"]}')
except lc.NotVerified as e:
    print(f'not verified [{e.code}]')
    sys.exit(3)";
    let node = "const lc = require(process.env.CLIENT);
const [socket, product, key] = process.argv.slice(1);
(async () => {
  const client = await new lc.Client(socket, product, 'test').connect();
  try {
    const seat = await client.checkout('pro', { trustedKeys: [key] });
    console.log(`seat: ${seat.seats_in_use} of ${seat.max_seats}, until ${seat.expires_at}, lease ${seat.lease.lease_id}`);
    await client.release();
  } catch (e) {
    if (!(e instanceof lc.NotVerified)) throw e;
    console.log(`not verified [${e.code}]`);
    process.exitCode = 3;
  } finally {
    client.close();
  }
})();";
    let hold = |language: &str, socket: &std::path::Path, machine: &str, trusted: &str| {
        let mut cmd = Command::new(if language == "python" {
            "python3"
        } else {
            "node"
        });
        if language == "python" {
            cmd.env("PYTHONPATH", format!("{examples}/python"))
                .args(["-c", python]);
        } else {
            cmd.env("CLIENT", format!("{examples}/node/licentric-client.js"))
                .args(["-e", node]);
        }
        run(cmd
            .arg(socket)
            .args([product, trusted])
            .env("LICENTRIC_MACHINE_ID", machine))
    };

    for language in ["python", "node"] {
        let (code, out, err) = hold(language, &c.socket, &c.machine_id, &vendor);
        assert_eq!(code, 0, "{language}: {out}{err}");
        assert!(
            out.starts_with("seat: 1 of 1, until ") && out.contains("lease "),
            "{language}: {out}"
        );

        for (machine, trusted, why) in [
            (&"ab".repeat(16), vendor.as_str(), "fingerprint_mismatch"),
            (&c.machine_id, &"11".repeat(32), "unknown_key_id"),
        ] {
            let (code, out, err) = hold(language, &c.socket, machine, trusted);
            assert_eq!(
                (code, out.trim()),
                (3, format!("not verified [{why}]").as_str()),
                "{language}: {err}"
            );
        }
    }
    let (code, taken) = server.lease_for(&key, OTHER);
    assert_eq!(
        code, 201,
        "every seat that failed the check went back: {taken}"
    );
    let (id, secret) = (
        taken["lease_id"].as_str().unwrap(),
        taken["lease_secret"].as_str().unwrap(),
    );
    assert_eq!(server.release_lease(&key, id, secret), 204);

    // A program posing as the agent, handing out a genuine lease with words of its own.
    let genuine = c.client().checkout(None).unwrap();
    let socket = lying_about_the_seat(tmp.path(), product, genuine.lease_file.clone().unwrap());
    for language in ["python", "node"] {
        let (code, out, err) = hold(language, &socket, &c.machine_id, &vendor);
        assert_eq!(code, 0, "{language}: {out}{err}");
        assert!(
            out.starts_with(&format!("seat: 1 of 1, until {}", genuine.expires_at)),
            "{language}: the lease's end and seats, not the impostor's: {out}"
        );
    }
}

/// A floating licence of one seat whose leases last `seconds` (the sandbox's floor is 2).
fn short_leases(
    root: &std::path::Path,
    server: &Server,
    product: &str,
    seconds: u32,
) -> (Companion, String) {
    let (c, _, key) = floating_companion(root, server, product);
    let updated = server.admin(
        "PATCH",
        &format!("/products/{product}"),
        Some(serde_json::json!({"lease_ttl_seconds": seconds})),
    );
    assert_eq!(
        updated["product"]["lease_ttl_seconds"], seconds,
        "{updated}"
    );
    (c, key)
}

#[test]
fn renewals_keep_a_seat_over_several_lease_times() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1209600);
    // Six seconds: renewed every three, with room for a slow answer on a busy machine.
    let (c, key) = short_leases(tmp.path(), &server, "e2e-renew", 6);
    let mut watcher = c.client();
    watcher.subscribe().unwrap();
    let mut app = c.client();
    app.checkout(None).unwrap();
    // Each renewal (at half the lease's time) is pushed with the lease's new end: four of
    // them, over two lease times, and the seat is still this machine's, never free for another
    // between.
    let mut ends = Vec::new();
    while ends.len() < 5 {
        let status = pushed(&mut watcher, "a renewal", |s| {
            s.lease
                .as_ref()
                .is_some_and(|l| !ends.contains(&l.expires_at))
        });
        assert!(status.entitled, "{status:?}");
        ends.push(status.lease.unwrap().expires_at);
        let (code, answer) = server.lease_for(&key, OTHER);
        assert_eq!(code, 409, "the seat was free between renewals: {answer}");
    }
    let audit = server.admin("GET", "/audit-events", None);
    assert!(!audit.to_string().contains("lease.expired"), "{audit}");
    drop(app);
}

#[test]
fn an_agent_killed_for_good_leaves_its_seat_to_run_out_within_a_lease_time() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1209600);
    let (mut c, key) = short_leases(tmp.path(), &server, "e2e-killed", 2);
    let mut app = c.client();
    app.checkout(None).unwrap();
    c.stop_agent("-KILL");
    drop(app);
    let (code, _) = server.lease_for(&key, OTHER);
    assert_eq!(code, 409, "held until its lease runs out");
    // Nobody gives it back; it runs out on the server (polled: the server pushes nothing).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let answer = loop {
        let (code, answer) = server.lease_for(&key, OTHER);
        if code == 201 {
            break answer;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never freed: {answer}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert!(answer["lease_id"].is_string(), "{answer}");
    let audit = server.admin("GET", "/audit-events", None);
    assert!(audit.to_string().contains("lease.expired"), "{audit}");
}

/// A network attacker replays a genuine lease (signed, for this machine) to later checkouts
/// and renewals: the agent refuses it as it refuses a replayed licence file (it answers
/// another request), gives no seat for it, and a seat whose renewals are all replays ends at
/// its signed end.
#[test]
fn a_replayed_lease_is_refused_like_a_replayed_licence_file() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1209600);
    let (c, _) = short_leases(tmp.path(), &server, "e2e-replay", 2);
    let (front, replayed) = licentric_e2e::replaying_front(&server);
    let mut c = c;
    c.stop_agent("-TERM");
    let config = std::fs::read_to_string(&c.config).unwrap();
    std::fs::write(&c.config, config.replace(&server.url, &front)).unwrap();
    c.start_agent();
    let mut watcher = c.client();
    watcher.subscribe().unwrap();

    // The first checkout is genuine, recorded on the way; its renewals are replays of it.
    let mut app = c.client();
    app.checkout(None).unwrap();
    let gone = pushed(&mut watcher, "the seat ending unrenewed", |s| !s.entitled);
    assert_eq!(gone.reason.as_deref(), Some("floating"), "{gone:?}");
    assert!(replayed.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    // A new checkout answered with the recording: refused, no seat.
    let refused = c.client().checkout(None).unwrap_err();
    assert!(
        format!("{refused:?}").contains("nonce_mismatch"),
        "{refused:?}"
    );
    assert!(!c.client().status().unwrap().entitled);
    drop(app);
    c.stop_agent("-TERM");
}

#[test]
fn an_app_waits_for_a_seat_of_an_entitlement_the_licence_counts_apart() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1209600);
    let (mut c, licence, key) = floating_companion(tmp.path(), &server, "e2e-ent-seats");
    let updated = server.admin(
        "PATCH",
        &format!("/licenses/{licence}"),
        Some(serde_json::json!({"max_machines": 3, "entitlement_seats": {"pro": 1}})),
    );
    assert_eq!(
        updated["license"]["entitlement_seats"]["pro"], 1,
        "{updated}"
    );
    // Another machine holds the one seat with pro (straight from the API).
    let other = server.call_lease(&key, OTHER, Some("pro"));
    assert_eq!(other.0, 201, "{}", other.1);

    // Here: a seat without pro is there for the asking; with pro, the app waits.
    let mut plain = c.client();
    let seat = plain.checkout(None).unwrap();
    assert!(!seat.entitlements.contains(&"pro".to_owned()), "{seat:?}");
    let mut wants_pro = c.client();
    assert!(wants_pro.start_checkout(Some("pro")).unwrap().is_none());
    // The other machine gives its pro seat back: the waiting app gets it (the seat here is
    // widened to carry pro, not a second one taken).
    let (id, secret) = (
        other.1["lease_id"].as_str().unwrap().to_owned(),
        other.1["lease_secret"].as_str().unwrap().to_owned(),
    );
    assert_eq!(server.release_lease(&key, &id, &secret), 204);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let seat = wants_pro.next_seat(Some(deadline)).unwrap();
    assert!(seat.entitlements.contains(&"pro".to_owned()), "{seat:?}");
    assert_eq!(seat.seats_in_use, 1, "one seat here, carrying pro");
    drop((plain, wants_pro));
    c.stop_agent("-TERM");
}

#[test]
fn an_agent_killed_holding_apps_own_seats_gives_them_all_back_when_it_starts_again() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1209600);
    let (_, key, _) = floating_licence(
        &server,
        "e2e-own-restart",
        2,
        serde_json::json!({"seats_per": "process"}),
    );
    let mut c = Companion::new(tmp.path(), &server, "e2e-own-restart", "");
    c.start_agent();
    assert_eq!(run(c.cli().args(["activate", &key])).0, 0);
    // Two apps, two seats (the shared one and an app's own); the agent dies holding both.
    let (mut one, mut two) = (c.client(), c.client());
    one.checkout(None).unwrap();
    two.checkout(None).unwrap();
    c.stop_agent("-KILL");
    drop((one, two));
    let (code, _) = server.lease_for(&key, OTHER);
    assert_eq!(code, 409, "both seats still held on the server");
    // Started again, it gives both back (in the background): another machine gets two seats.
    c.start_agent();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut granted = 0;
    while granted < 2 {
        let (code, answer) = server.lease_for(&key, OTHER);
        if code == 201 {
            granted += 1;
            continue;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not given back: {answer}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    c.stop_agent("-TERM");
}

/// A seat the vendor frees while an app holds it is found gone at the next renewal, and the
/// agent takes another for the app by itself (the app does not have to ask again).
#[test]
fn a_seat_lost_at_renewal_is_replaced_for_the_apps_holding_it() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1209600);
    let (c, key) = short_leases(tmp.path(), &server, "e2e-lost", 6);
    let mut app = c.client();
    app.checkout(None).unwrap();
    let mut watcher = c.client();
    let first = watcher.subscribe().unwrap().lease.unwrap().expires_at;
    let audit = |action: &str| -> Vec<String> {
        let events = server.admin("GET", "/audit-events", None);
        events["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == action)
            .map(|e| e["resource"]["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let held = audit("lease.checked_out");
    server.admin("DELETE", &format!("/leases/{}", held[0]), None);
    // The next renewal is told it is gone; a new seat follows, pushed.
    let again = pushed(&mut watcher, "a new seat", |s| {
        s.entitled && s.lease.as_ref().is_some_and(|l| l.expires_at != first)
    });
    assert_eq!(again.lease.map(|l| l.holders), Some(1));
    let checked_out = audit("lease.checked_out");
    assert_eq!(checked_out.len(), 2, "{checked_out:?}");
    assert_ne!(checked_out[0], checked_out[1]);
    let (code, _) = server.lease_for(&key, OTHER);
    assert_eq!(code, 409, "the one seat is this machine's again");
    drop(app);
}

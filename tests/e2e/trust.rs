//! The trust issue's attacks, each tried as an attacker on this machine would, with real
//! parts — and what an honest user does beside them, which must keep working.

use std::os::unix::fs::{PermissionsExt, chown};
use std::path::Path;
use std::process::Command;

use licentric_e2e::{Companion, Server, pushed, run, secret_service_available};
use licentric_proto::LicenseState;

/// `licentric` run as the unprivileged user `uid`, with only the variables it needs.
fn licentric_as(uid: u32, home: &Path) -> Command {
    let mut cmd = Command::new("setpriv");
    cmd.args([
        &format!("--reuid={uid}"),
        &format!("--regid={uid}"),
        "--clear-groups",
    ])
    .arg(licentric_e2e::bin("licentric"))
    .env_clear()
    .env("PATH", "/usr/bin:/bin")
    .env("HOME", home);
    cmd
}

/// Attack 5: a user's own configuration names a server and a signing key of the user's, for
/// the live environment, so that the companion would report a live licence the vendor never
/// issued. Wherever the user's file comes from — `--config`, `LICENTRIC_CONFIG`, the user's
/// config folder — it is refused with a clear error; the same text in a file only root can
/// write (the vendor's) is accepted, and a user's sandbox configuration still works.
#[test]
fn a_users_configuration_cannot_set_live_trust_anchors() {
    const USER: u32 = 10_501;
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    // The attacker's own licensing server, with its own signing key.
    let own_server = Server::start(tmp.path(), 1209600);
    let home = tmp.path().join("home");
    std::fs::create_dir_all(home.join(".config/licentric")).unwrap();
    let live = format!(
        "product_id = \"e2e-anchor\"\nproduct_name = \"Acme CAD\"\nenvironment = \"live\"\n\
         api_base_url = \"{url}\"\nkey_prefix = \"ACME\"\ntrusted_keys = [\"{key}\"]\n\
         allow_file_credential_store = true\ndata_dir = \"{data}\"\n",
        url = own_server.url,
        key = own_server.public_key(),
        data = home.join("data").display(),
    );
    for file in ["evil.toml", ".config/licentric/companion.toml"] {
        std::fs::write(home.join(file), &live).unwrap();
    }
    chown_tree(&home, USER);

    let refused = |mut cmd: Command, how: &str| {
        let (code, out, err) = run(&mut cmd);
        assert_eq!(
            code, 1,
            "{how}: the user's live anchors were accepted: {out}{err}"
        );
        assert!(
            err.contains("may not set the live environment's trust anchors")
                && err.contains("trusted_keys")
                && err.contains("api_base_url"),
            "{how}: not a clear error: {err}"
        );
    };
    let mut cmd = licentric_as(USER, &home);
    cmd.arg("--config")
        .arg(home.join("evil.toml"))
        .arg("status");
    refused(cmd, "--config");
    let mut cmd = licentric_as(USER, &home);
    cmd.env("LICENTRIC_CONFIG", home.join("evil.toml"))
        .arg("status");
    refused(cmd, "LICENTRIC_CONFIG");
    let mut cmd = licentric_as(USER, &home);
    cmd.arg("status");
    refused(cmd, "the user's config folder");

    // The same text in a file only root can write is the vendor's, and is used (the user's
    // folder then holds the user's preferences, here none).
    std::fs::remove_file(home.join(".config/licentric/companion.toml")).unwrap();
    let vendor = tmp.path().join("vendor.toml");
    std::fs::write(&vendor, &live).unwrap();
    std::fs::set_permissions(&vendor, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut cmd = licentric_as(USER, &home);
    cmd.arg("--config").arg(&vendor).arg("status");
    let (code, out, err) = run(&mut cmd);
    assert_eq!(code, 3, "the vendor's file: not activated yet: {out}{err}");
    assert!(out.contains("(live)"), "{out}");

    // A user's sandbox configuration is theirs to write.
    let sandbox = home.join("sandbox.toml");
    std::fs::write(&sandbox, live.replace("\"live\"", "\"test\"")).unwrap();
    chown(&sandbox, Some(USER), Some(USER)).unwrap();
    let mut cmd = licentric_as(USER, &home);
    cmd.arg("--config").arg(&sandbox).arg("status");
    let (code, out, err) = run(&mut cmd);
    assert_eq!(code, 3, "{out}{err}");
    assert!(out.contains("(test)"), "{out}");
}

fn chown_tree(dir: &Path, uid: u32) {
    chown(dir, Some(uid), Some(uid)).unwrap();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            chown_tree(&path, uid);
        } else {
            chown(&path, Some(uid), Some(uid)).unwrap();
        }
    }
}

/// An honest user runs the sandbox beside the live product (a developer, say): test and live
/// never share a credential-store entry, so activating, and then deactivating, the test one
/// leaves the live licence, its key and its sealed state untouched.
#[test]
fn test_and_live_run_side_by_side() {
    assert!(
        secret_service_available(),
        "this test needs a Secret Service: run it through .ci/test"
    );
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1209600);
    let live_token = server.live_admin_token();
    let (_, live_key) = server.licence_as(&live_token, "e2e-side", 1);
    let (_, test_key) = server.licence("e2e-side", 1);
    let mut live =
        Companion::in_environment(&tmp.path().join("live"), &server, "e2e-side", "live", "");
    let mut test = Companion::new(&tmp.path().join("test"), &server, "e2e-side", "");
    live.start_agent();
    test.start_agent();
    assert_eq!(run(live.cli().args(["activate", &live_key])).0, 0);
    assert_eq!(run(test.cli().args(["activate", &test_key])).0, 0);
    for service in [
        "com.licentric.companion.e2e-side.live",
        "com.licentric.companion.e2e-side.test",
    ] {
        let found = Command::new("secret-tool")
            .args(["lookup", "service", service, "username", "license-key"])
            .output()
            .unwrap();
        assert!(found.status.success(), "{service} holds no licence key");
    }
    let (code, out, err) = run(test.cli().arg("deactivate"));
    assert_eq!(code, 0, "{out}{err}");

    // The live agent, restarted (so it reads its state and key again), is still licensed.
    live.stop_agent("-TERM");
    live.start_agent();
    let status = live.client().status().unwrap();
    assert_eq!(status.state, LicenseState::Active, "{status:?}");
    assert_eq!(status.environment, licentric_proto::Environment::Live);
    let (code, out, err) = run(live.cli().arg("refresh"));
    assert_eq!(code, 0, "the live key is still in the store: {out}{err}");

    // A test licence file never satisfies the live agent.
    let (code, _, err) = run(test.cli().args(["activate", &test_key]));
    assert_eq!(code, 0, "{err}");
    let test_file = test.data.join("license.lic");
    let (code, _, err) = run(live.cli().arg("import").arg(&test_file));
    assert_eq!(code, 1);
    assert!(err.contains("environment"), "{err}");
}

/// Two vendors' companions in one account, on their default folders, sockets and credential
/// entries (as installed, with no paths in their configurations): each answers its own product
/// only, and freeing one licence leaves the other untouched.
#[test]
fn two_vendors_companions_run_side_by_side() {
    assert!(
        secret_service_available(),
        "this test needs a Secret Service: run it through .ci/test"
    );
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1209600);
    let home = tmp.path().join("home");
    let runtime = tmp.path().join("run");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&runtime).unwrap();
    std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).unwrap();
    let account = |cmd: &mut Command| {
        cmd.env("HOME", &home)
            .env("XDG_RUNTIME_DIR", &runtime)
            .env_remove("XDG_DATA_HOME")
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("XDG_CACHE_HOME");
    };
    let mut vendors = Vec::new();
    for product in ["e2e-vendor-a", "e2e-vendor-b"] {
        let (_, key) = server.licence(product, 1);
        let mut c = Companion::new(&tmp.path().join(product), &server, product, "");
        // As installed: no data folder and no socket in the configuration.
        let text = std::fs::read_to_string(&c.config).unwrap();
        let text = text
            .replace("data_dir = \"data\"\n", "")
            .replace(&format!("socket = \"run/{product}.sock\"\n"), "");
        std::fs::write(&c.config, text).unwrap();
        c.socket = runtime.join(format!("licentric/{product}-test.sock"));
        c.data = home.join(format!(".local/share/licentric/{product}-test"));
        c.start_agent_with(account);
        let mut activate = c.cli();
        account(&mut activate);
        let (code, out, err) = run(activate.args(["activate", &key]));
        assert_eq!(code, 0, "{product}: {out}{err}");
        vendors.push(c);
    }
    let (a, b) = (&vendors[0], &vendors[1]);
    assert_ne!(a.socket, b.socket);
    for c in [a, b] {
        assert!(c.data.join("license.lic").exists(), "{}", c.data.display());
        let mut client = licentric_client::Client::connect_to(
            &c.socket,
            &c.product,
            licentric_proto::Environment::Test,
        )
        .unwrap();
        assert_eq!(client.status().unwrap().state, LicenseState::Active);
    }
    // Neither answers for the other: an app of vendor B that finds A's socket refuses it.
    let wrong = licentric_client::Client::connect_to(
        &a.socket,
        "e2e-vendor-b",
        licentric_proto::Environment::Test,
    );
    assert!(
        matches!(wrong, Err(licentric_client::ClientError::WrongAgent { .. })),
        "{:?}",
        wrong.err()
    );
    // Freeing A's licence leaves B's key, file and state where they were.
    let mut deactivate = a.cli();
    account(&mut deactivate);
    let (code, out, err) = run(deactivate.arg("deactivate"));
    assert_eq!(code, 0, "{out}{err}");
    let mut b = vendors.pop().unwrap();
    b.stop_agent("-TERM");
    b.start_agent_with(account);
    assert_eq!(b.client().status().unwrap().state, LicenseState::Active);
    let mut refresh = b.cli();
    account(&mut refresh);
    let (code, out, err) = run(refresh.arg("refresh"));
    assert_eq!(code, 0, "B's key is still in the store: {out}{err}");
}

/// Attack 1: delete the sealed state (or its key in the credential store), turn the clock
/// back, and the same licence file used to be trusted again, indefinitely. Now a file the state
/// cannot vouch for does not entitle until the server confirms it; the user's words say what
/// to do; and once online the agent confirms it by itself.
#[test]
fn deleting_the_sealed_state_does_not_reset_the_clock_guard() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Server::start(tmp.path(), 1209600);
    let (_, key) = server.licence("e2e-lost", 1);
    let mut c = Companion::new(
        tmp.path(),
        &server,
        "e2e-lost",
        "allow_file_credential_store = true",
    );
    c.start_agent();
    assert_eq!(run(c.cli().args(["activate", &key])).0, 0);
    c.stop_agent("-TERM");
    server.stop();

    let not_entitled = |c: &Companion, how: &str| {
        let status = c.client().status().unwrap();
        assert_eq!(
            (status.state, status.entitled, status.reason.as_deref()),
            (LicenseState::ClockTampered, false, Some("state_lost")),
            "{how}: {status:?}"
        );
        assert!(
            status.detail.contains("Connect once to confirm"),
            "{how}: {}",
            status.detail
        );
        assert!(!c.client().has_entitlement("pro").unwrap(), "{how}");
        let (code, out, _) = run(c.cli().arg("status"));
        assert_eq!(code, 3, "{how}: {out}");
        assert!(out.contains("confirm online"), "{how}: {out}");
    };

    // The state deleted, the clock turned back two days, offline.
    std::fs::remove_file(c.data.join("state.json")).unwrap();
    c.start_agent_at("-2d");
    not_entitled(&c, "state deleted, clock back");
    c.stop_agent("-TERM");
    // Still so at the right time: the doubt was saved with the fresh state.
    c.start_agent();
    not_entitled(&c, "restarted");
    c.stop_agent("-TERM");

    // The state's key deleted from the credential store instead.
    let store = c.data.join("credentials.sealed");
    let has_file_store = store.exists();
    if has_file_store {
        // The file store (no Secret Service here): drop its state key by rewriting the file
        // with only the licence key, as a user editing it would.
        let map: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&store).unwrap()).unwrap();
        let kept = serde_json::json!({ "license-key": map["license-key"] });
        std::fs::write(&store, kept.to_string()).unwrap();
    } else {
        let cleared = Command::new("secret-tool")
            .args(["clear", "service", &c.service(), "username", "state-key"])
            .status()
            .unwrap();
        assert!(cleared.success());
    }
    c.start_agent_at("-2d");
    not_entitled(&c, "state key deleted, clock back");

    // Online again: the agent confirms the licence by itself (no user action), pushed.
    let mut sub = c.client();
    sub.subscribe().unwrap();
    server.restart();
    c.stop_agent("-TERM");
    c.start_agent();
    let mut sub = c.client();
    let first = sub.subscribe().unwrap();
    let status = if first.state == LicenseState::Active {
        first
    } else {
        pushed(&mut sub, "the licence confirmed online", |s| {
            s.state == LicenseState::Active
        })
    };
    assert!(status.entitled && status.reason.is_none(), "{status:?}");
}

/// Attack 1, restoring instead of deleting: keep a copy of the whole data folder, let time
/// pass, then put the copy back and turn the clock back to its day. The credential store's
/// copy of the clock mark still stands: the clock is found turned back.
#[test]
fn an_old_copy_of_the_data_folder_does_not_turn_the_clock_back() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Server::start(tmp.path(), 1209600);
    let (_, key) = server.licence("e2e-snapshot", 1);
    let mut c = Companion::new(
        tmp.path(),
        &server,
        "e2e-snapshot",
        "allow_file_credential_store = true",
    );
    let copy = activated_and_copied(&mut c, &key);

    // Three days later (the agent runs, offline), the mark has followed the clock.
    server.stop();
    c.start_agent_at("+3d");
    assert!(
        c.client().status().unwrap().entitled,
        "three days in: still licensed offline"
    );
    c.stop_agent("-TERM");

    // The copy put back (the credential store, the user's own keyring, left as it is).
    put_back(&copy, &c);
    if c.data.join("credentials.sealed").exists() {
        // The file store lives in the data folder: a copy of it is a copy of the credential
        // store too — the honest limit (docs/security.md). Keep today's store.
        panic!("this test needs the Secret Service (run it through .ci/test), not the file store");
    }
    c.start_agent();
    let status = c.client().status().unwrap();
    assert_eq!(
        (status.state, status.entitled, status.reason.as_deref()),
        (LicenseState::ClockTampered, false, Some("clock_tampered")),
        "{status:?}"
    );
}

/// Activates `c` with `key`, stops its agent and keeps a copy of its data folder: the copy's
/// path.
fn activated_and_copied(c: &mut Companion, key: &str) -> std::path::PathBuf {
    c.start_agent();
    assert_eq!(run(c.cli().args(["activate", key])).0, 0);
    c.stop_agent("-TERM");
    let copy = c.root.join("data-copy");
    copy_dir(&c.data, &copy);
    copy
}

/// Puts `copy` back as the data folder of `c`, whose agent is stopped.
fn put_back(copy: &Path, c: &Companion) {
    std::fs::remove_dir_all(&c.data).unwrap();
    copy_dir(copy, &c.data);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() != ".lock" {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

/// Attack 2: keep a copy of the licence file; after the licence is suspended, delete the cache
/// and the state and import the copy. An import must answer a request this machine made, once:
/// the copy is refused, with no request pending and with one.
#[test]
fn an_old_file_cannot_be_imported_back_after_a_suspension() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1209600);
    let (licence_id, key) = server.licence("e2e-replay", 1);
    let mut c = Companion::new(
        tmp.path(),
        &server,
        "e2e-replay",
        "allow_file_credential_store = true",
    );
    c.start_agent();
    assert_eq!(run(c.cli().args(["activate", &key])).0, 0);
    let copy = tmp.path().join("kept.lic");
    std::fs::copy(c.data.join("license.lic"), &copy).unwrap();

    server.admin("POST", &format!("/licenses/{licence_id}/suspend"), None);
    assert_eq!(run(c.cli().arg("refresh")).0, 0);
    assert_eq!(c.client().status().unwrap().state, LicenseState::Suspended);
    c.stop_agent("-TERM");
    for name in ["license.lic", "state.json"] {
        std::fs::remove_file(c.data.join(name)).unwrap();
    }
    c.start_agent();

    let (code, out, err) = run(c.cli().arg("import").arg(&copy));
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("[license_file_invalid: no_request_pending]"),
        "{err}"
    );
    assert!(err.contains("request-file"), "says what to do: {err}");
    // With a request pending, the copy still answers none of this machine's requests.
    let request = tmp.path().join("request.txt");
    assert_eq!(run(c.cli().arg("request-file").arg(&request)).0, 0);
    let (code, out, err) = run(c.cli().arg("import").arg(&copy));
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("[license_file_invalid: not_requested]"),
        "{err}"
    );
    let status = c.client().status().unwrap();
    assert!(!status.entitled, "{status:?}");

    // Reinstated: the answer to the pending request is a fresh file, imported once.
    server.admin("POST", &format!("/licenses/{licence_id}/reinstate"), None);
    let answer = tmp.path().join("answer.lic");
    std::fs::write(
        &answer,
        server.offline_activation(&key, &std::fs::read_to_string(&request).unwrap()),
    )
    .unwrap();
    let (code, out, err) = run(c.cli().arg("import").arg(&answer));
    assert_eq!(code, 0, "{out}{err}");
    assert!(c.client().status().unwrap().entitled);
    let (code, _, err) = run(c.cli().arg("import").arg(&answer));
    assert_eq!(code, 1, "one use: {err}");
}

/// Attack 2 without an agent: `request-file` with none running remembers its nonce too (a
/// one-shot agent), so an air-gapped machine's answer is imported later.
#[test]
fn a_request_made_with_no_agent_running_is_remembered() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1209600);
    let (_, key) = server.licence("e2e-oneshot", 1);
    let mut c = Companion::new(
        tmp.path(),
        &server,
        "e2e-oneshot",
        "allow_file_credential_store = true",
    );
    let request = tmp.path().join("request.txt");
    let (code, out, err) = run(c.cli().arg("request-file").arg(&request));
    assert_eq!(code, 0, "{out}{err}");
    let answer = tmp.path().join("answer.lic");
    std::fs::write(
        &answer,
        server.offline_activation(&key, &std::fs::read_to_string(&request).unwrap()),
    )
    .unwrap();
    c.start_agent();
    let (code, out, err) = run(c.cli().arg("import").arg(&answer));
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(c.client().status().unwrap().state, LicenseState::Active);
}

/// Attack 3: free machine A's seat through the API and activate B. A's next contact brings a
/// signed statement: A stops being entitled at once, says why, removes the refused file, and does not take the seat back by itself.
#[test]
fn a_remotely_freed_seat_stops_working_at_the_next_contact() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1209600);
    let (licence_id, key) = server.licence("e2e-moved", 1);
    let mut a = Companion::new(
        &tmp.path().join("a"),
        &server,
        "e2e-moved",
        "allow_file_credential_store = true",
    );
    let mut b = Companion::new(
        &tmp.path().join("b"),
        &server,
        "e2e-moved",
        "allow_file_credential_store = true",
    );
    b.machine_id = "b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0".into();
    a.start_agent();
    b.start_agent();
    assert_eq!(run(a.cli().args(["activate", &key])).0, 0);
    let machine_a = a.client().status().unwrap().machine_id.unwrap();
    let mut app = a.client();
    assert!(app.subscribe().unwrap().entitled);

    // The vendor's portal frees A's seat; B takes it.
    server.admin("DELETE", &format!("/machines/{machine_a}"), None);
    assert_eq!(run(b.cli().args(["activate", &key])).0, 0);

    let (code, out, err) = run(a.cli().arg("refresh"));
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("[server_rejected: machine_deactivated]"),
        "{err}"
    );
    let pushed = pushed(&mut app, "the end of entitlement, pushed", |s| !s.entitled);
    assert_eq!(
        (pushed.state, pushed.reason.as_deref()),
        (LicenseState::Unlicensed, Some("machine_deactivated")),
        "{pushed:?}"
    );
    assert!(
        pushed.detail.contains("Activate it again"),
        "{}",
        pushed.detail
    );
    assert!(!a.client().has_entitlement("pro").unwrap());
    assert!(a.client().license_file().unwrap().is_none());
    assert!(
        !a.data.join("license.lic").exists(),
        "the refused file is gone (not left for a restore to bring back)"
    );

    // Restarted, A stays off and leaves B's seat alone.
    a.stop_agent("-TERM");
    a.start_agent();
    assert!(!a.client().status().unwrap().entitled);
    let machines = server.admin("GET", &format!("/licenses/{licence_id}/machines"), None);
    let active = machines["machines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["active"] == true)
        .count();
    assert_eq!(active, 1, "only B: {machines}");
    assert!(b.client().status().unwrap().entitled);

    // The user asks for this machine back: with B holding the one seat, the server says so.
    let (code, _, err) = run(a.cli().arg("refresh"));
    assert_eq!(code, 1);
    assert!(
        err.contains("machine_limit_reached")
            && err.contains("in use on another machine, the one it allows"),
        "{err}"
    );
}

/// Attack 5 in a user namespace: `unshare -U` lets a user look like root to themselves, and a
/// mount namespace lets them put a file of their own where every folder above it looks like
/// root's. No file counts as the vendor's there: the live anchors are refused all the same.
#[test]
fn a_user_namespace_does_not_make_a_users_file_the_vendors() {
    const USER: u32 = 10_502;
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let own_server = Server::start(tmp.path(), 1209600);
    let home = tmp.path().join("home");
    std::fs::create_dir_all(home.join("root")).unwrap();
    let evil = format!(
        "product_id = \"e2e-userns\"\nproduct_name = \"Acme CAD\"\nenvironment = \"live\"\n\
         api_base_url = \"{url}\"\nkey_prefix = \"ACME\"\ntrusted_keys = [\"{key}\"]\n",
        url = own_server.url,
        key = own_server.public_key(),
    );
    std::fs::write(home.join("evil.toml"), evil).unwrap();
    chown_tree(&home, USER);
    let licentric = licentric_e2e::bin("licentric");
    // The top folder the binary lives under (a checkout may be anywhere: /work, /check, /home).
    let top = licentric
        .components()
        .nth(1)
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .unwrap();
    // A new root on a tmpfs, with the system bound into it; the file copied to /vendor there,
    // owned by the namespace's root, in folders owned by it.
    let script = format!(
        "set -e; R={root}; mount -t tmpfs none $R; \
         for d in usr lib lib64 bin etc proc dev tmp {top}; do [ -e /$d ] || continue; [ -e $R/$d ] && continue; mkdir -p $R/$d; mount --rbind /$d $R/$d; done; \
         mkdir -p $R/vendor; cp {evil} $R/vendor/companion.toml; chmod 644 $R/vendor/companion.toml; \
         exec chroot $R {licentric} --config /vendor/companion.toml status",
        root = home.join("root").display(),
        evil = home.join("evil.toml").display(),
        licentric = licentric.display(),
    );
    let out = Command::new("setpriv")
        .args([
            &format!("--reuid={USER}"),
            &format!("--regid={USER}"),
            "--clear-groups",
            "unshare",
            "--user",
            "--map-root-user",
            "--mount",
            "sh",
            "-c",
            &script,
        ])
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("HOME", &home)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the namespace's 'root' file was accepted: {}{err}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        err.contains("may not set the live environment's trust anchors"),
        "{err}"
    );
}

/// Attack 5 by the socket: a user runs a sandbox agent (their own test licence) where a live
/// app asks — the live default socket named in a test configuration, or `LICENTRIC_SOCKET`.
/// The agent refuses to take the other environment's socket, and a live app refuses a sandbox
/// agent wherever it finds one: the library, the CLI and the examples check the agent's
/// product and environment.
#[test]
fn a_sandbox_agent_never_answers_a_live_app() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1209600);
    let (_, key) = server.licence("e2e-onlive", 1);
    let runtime = tmp.path().join("runtime");
    std::fs::create_dir(&runtime).unwrap();
    std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).unwrap();
    let live_socket = runtime.join("licentric/e2e-onlive-live.sock");

    // A test configuration naming the live socket, or LICENTRIC_SOCKET set to it: refused.
    let mut c = Companion::new(
        tmp.path(),
        &server,
        "e2e-onlive",
        "allow_file_credential_store = true",
    );
    let sandbox_config = std::fs::read_to_string(&c.config).unwrap();
    let on_live = sandbox_config.replace(
        "socket = \"run/e2e-onlive.sock\"",
        &format!("socket = \"{}\"", live_socket.display()),
    );
    std::fs::write(&c.config, &on_live).unwrap();
    let (code, out, err) = run(c.cli().arg("agent").env("XDG_RUNTIME_DIR", &runtime));
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("live environment's socket"), "{err}");
    std::fs::write(&c.config, &sandbox_config).unwrap();
    let (code, out, err) = run(c
        .cli()
        .arg("agent")
        .env("XDG_RUNTIME_DIR", &runtime)
        .env("LICENTRIC_SOCKET", &live_socket));
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("live environment's socket"), "{err}");
    // Nor spelt anew: through `..`, or through a link to the folder.
    let folder = runtime.join("licentric");
    std::fs::create_dir(&folder).unwrap();
    std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o700)).unwrap();
    let link = tmp.path().join("to-live");
    std::os::unix::fs::symlink(&folder, &link).unwrap();
    for spelling in [
        folder.join("../licentric/e2e-onlive-live.sock"),
        link.join("e2e-onlive-live.sock"),
    ] {
        let (code, out, err) = licentric_e2e::run_within(
            c.cli()
                .arg("agent")
                .env("XDG_RUNTIME_DIR", &runtime)
                .env("LICENTRIC_SOCKET", &spelling),
            std::time::Duration::from_secs(20),
        );
        assert_eq!(code, 1, "{}: {out}{err}", spelling.display());
        assert!(err.contains("live environment's socket"), "{err}");
    }
    // The live data folder likewise, named in the test configuration through `..`.
    let data_home = tmp.path().join("data-home");
    let live_data = data_home.join("licentric/e2e-onlive-live");
    std::fs::create_dir_all(&live_data).unwrap();
    std::fs::write(
        &c.config,
        sandbox_config.replace(
            "data_dir = \"data\"",
            &format!(
                "data_dir = \"{}\"",
                data_home
                    .join("licentric/../licentric/e2e-onlive-live")
                    .display()
            ),
        ),
    )
    .unwrap();
    let (code, out, err) = licentric_e2e::run_within(
        c.cli().arg("agent").env("XDG_DATA_HOME", &data_home),
        std::time::Duration::from_secs(20),
    );
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("live environment's data folder"), "{err}");
    assert_eq!(
        std::fs::read_dir(&live_data).unwrap().count(),
        0,
        "nothing written there"
    );
    std::fs::write(&c.config, &sandbox_config).unwrap();

    // Wherever the sandbox agent does serve, a live app does not believe it.
    c.start_agent();
    assert_eq!(run(c.cli().args(["activate", &key])).0, 0);
    let err = licentric_client::Client::connect_to(
        &c.socket,
        "e2e-onlive",
        licentric_proto::Environment::Live,
    )
    .unwrap_err();
    assert!(
        matches!(err, licentric_client::ClientError::WrongAgent { .. }),
        "{err:?}"
    );
    let (code, out, err) = run(Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/python/licentric_client.py"
        ))
        .args([
            "--product",
            "e2e-onlive",
            "--environment",
            "live",
            "--socket",
        ])
        .arg(&c.socket)
        .args(["has_entitlement", "pro"]));
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("wrong_agent"), "{err}");
    let (code, out, err) = run(Command::new("node")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/node/licentric-client.js"
        ))
        .args([
            "--product",
            "e2e-onlive",
            "--environment",
            "live",
            "--socket",
        ])
        .arg(&c.socket)
        .args(["has_entitlement", "pro"]));
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("wrong_agent"), "{err}");
    // The live product's own CLI (the vendor's configuration), pointed at it.
    let live = tmp.path().join("live.toml");
    std::fs::write(&live, sandbox_config.replace("\"test\"", "\"live\"")).unwrap();
    let (code, out, err) = run(Command::new(licentric_e2e::bin("licentric"))
        .arg("--config")
        .arg(&live)
        .arg("status")
        .env("LICENTRIC_SOCKET", &c.socket));
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("[wrong_agent]"), "{err}");
}

/// Attack 2 by restoring: keep a copy of the data folder while the licence is active; after
/// the suspension reached the machine, put the copy back and stay offline with an honest
/// clock. The credential store's anchor knows of the newer, suspended file: the old one is not
/// vouched for.
#[test]
fn an_old_copy_of_the_data_folder_does_not_undo_a_suspension() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Server::start(tmp.path(), 1209600);
    let (licence_id, key) = server.licence("e2e-undo", 1);
    let mut c = Companion::new(tmp.path(), &server, "e2e-undo", "");
    let copy = activated_and_copied(&mut c, &key);
    c.start_agent();
    // Make sure the suspended file is issued in a later second than the copy's.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    server.admin("POST", &format!("/licenses/{licence_id}/suspend"), None);
    assert_eq!(run(c.cli().arg("refresh")).0, 0);
    assert_eq!(c.client().status().unwrap().state, LicenseState::Suspended);
    c.stop_agent("-TERM");
    server.stop();

    put_back(&copy, &c);
    c.start_agent();
    let status = c.client().status().unwrap();
    assert!(
        !status.entitled,
        "the copy undid the suspension: {status:?}"
    );
    assert_eq!(status.reason.as_deref(), Some("state_lost"), "{status:?}");
    // Apps that check the signed file themselves: the copy's file is genuine, for this machine
    // and within its dates, but the agent does not vouch for it, so it does not pass.
    let vendor = server.public_key();
    let (code, out, err) = run(licentric_e2e::c_example_command()
        .env("LICENTRIC_MACHINE_ID", &c.machine_id)
        .arg("--socket")
        .arg(&c.socket)
        .args(["e2e-undo", "test", "has_entitlement", "pro", &vendor]));
    assert_eq!(code, 1, "the C ABI's checked answer: {out}{err}");
    assert!(err.contains("state_lost"), "{err}");
    for (program, script) in [
        ("python3", "python/licentric_client.py"),
        ("node", "node/licentric-client.js"),
    ] {
        let (code, out, err) = run(Command::new(program)
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/").to_owned() + script)
            .args(["--product", "e2e-undo", "--environment", "test", "--socket"])
            .arg(&c.socket)
            .env("LICENTRIC_MACHINE_ID", &c.machine_id)
            .args(["--trusted-key", &vendor, "has_entitlement", "pro"]));
        assert_eq!(code, 3, "{program}: {out}{err}");
        assert!(
            err.contains("agent_not_entitled") && err.contains("state_lost"),
            "{program}: {err}"
        );
    }

    // And put back once more: the first start on the copy must not have taught the credential
    // store the copy's older file.
    c.stop_agent("-TERM");
    put_back(&copy, &c);
    c.start_agent();
    let status = c.client().status().unwrap();
    assert!(
        !status.entitled,
        "the copy put back twice undid the suspension: {status:?}"
    );
}

/// Attack: keep a copy of the data folder, deactivate (the seat is free for another machine),
/// then put the copy back — with the server in reach, where the key is gone and nothing asks
/// it. The deactivation made here stands as the server's word would: the copy's file does not
/// entitle.
#[test]
fn an_old_copy_of_the_data_folder_does_not_undo_a_deactivation() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1209600);
    let (_, key) = server.licence("e2e-undo-deactivate", 1);
    let mut c = Companion::new(tmp.path(), &server, "e2e-undo-deactivate", "");
    let copy = activated_and_copied(&mut c, &key);
    c.start_agent();
    assert_eq!(run(c.cli().arg("deactivate")).0, 0);
    c.stop_agent("-TERM");

    put_back(&copy, &c);
    c.start_agent();
    let status = c.client().status().unwrap();
    assert!(
        !status.entitled,
        "the copy undid the deactivation: {status:?}"
    );
    // The honest way back is open: activating again with the key.
    assert_eq!(run(c.cli().args(["activate", &key])).0, 0);
    assert!(c.client().status().unwrap().entitled);
}

/// An honest user whose keyring does not answer at one start, where the vendor allows the
/// file store: the agent does not switch stores behind the user's back (which would seal a new
/// state and lose the old one for good), waits for the keyring, and the licence is intact when
/// it answers again.
#[test]
fn a_keyring_missing_at_one_start_does_not_switch_stores() {
    assert!(
        secret_service_available(),
        "this test needs a Secret Service: run it through .ci/test"
    );
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Server::start(tmp.path(), 1209600);
    let (_, key) = server.licence("e2e-switch-store", 1);
    let mut c = Companion::new(
        tmp.path(),
        &server,
        "e2e-switch-store",
        "allow_file_credential_store = true",
    );
    c.start_agent();
    assert_eq!(run(c.cli().args(["activate", &key])).0, 0);
    assert_eq!(
        c.client().status().unwrap().credential_store,
        licentric_proto::CredentialStoreKind::Os
    );
    c.stop_agent("-TERM");
    server.stop();

    c.start_agent_with(|cmd| {
        cmd.env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus");
    });
    let status = c.client().status().unwrap();
    assert_eq!(
        (
            status.entitled,
            status.reason.as_deref(),
            status.credential_store
        ),
        (
            false,
            Some("credential_store_locked"),
            licentric_proto::CredentialStoreKind::Unavailable
        ),
        "{status:?}"
    );
    assert!(
        !c.data.join("credentials.sealed").exists(),
        "switched to the file store"
    );
    c.stop_agent("-TERM");

    c.start_agent();
    let status = c.client().status().unwrap();
    assert_eq!(
        (status.state, status.entitled),
        (LicenseState::Active, true),
        "{status:?}"
    );
}

/// Attack: one seat serving many machines by moving it back and forth (free A, activate B,
/// free B, activate A …). Past the product's move allowance the activation is refused, and
/// the user is told when the seat may move again.
#[test]
fn a_seat_moved_back_and_forth_is_refused_with_when_it_may_move_again() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1209600);
    let (_, key) = server.licence("e2e-churn", 1);
    server.admin(
        "PATCH",
        "/products/e2e-churn",
        Some(serde_json::json!({"seat_moves_per_seat": 1})),
    );
    let mut a = Companion::new(
        &tmp.path().join("a"),
        &server,
        "e2e-churn",
        "allow_file_credential_store = true",
    );
    let mut b = Companion::new(
        &tmp.path().join("b"),
        &server,
        "e2e-churn",
        "allow_file_credential_store = true",
    );
    b.machine_id = "b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0".into();
    a.start_agent();
    b.start_agent();
    assert_eq!(run(a.cli().args(["activate", &key])).0, 0);
    assert_eq!(run(a.cli().arg("deactivate")).0, 0);
    // The one move allowed: to B, and back off B.
    let (code, out, err) = run(b.cli().args(["activate", &key]));
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(run(b.cli().arg("deactivate")).0, 0);

    let (code, out, err) = run(a.cli().args(["activate", &key]));
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("[server_rejected: seat_move_limit_reached]"),
        "{err}"
    );
    let next = time::OffsetDateTime::now_utc() + time::Duration::days(30);
    let month = format!("{:?}", next.month());
    assert!(
        err.contains("as often as its terms allow")
            && err.contains(&format!("from {} {month} {}", next.day(), next.year())),
        "{err}"
    );
    assert!(!a.client().status().unwrap().entitled);
}

/// Attack: free each machine's seat with the licence key (as the API lets its holder, from any
/// connected device) while the machine itself stays away from the server, so that it keeps its
/// signed file to its end — one seat for several machines at once. Each machine that takes the
/// freed seat is a seat move: past the product's allowance the next is refused, so at most
/// `seat_moves_per_seat` more machines per seat run this way, each until its file runs out
/// (the limit `docs/security.md` states).
#[test]
fn seats_freed_behind_offline_machines_are_bounded_by_the_move_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1209600);
    let (_, key) = server.licence("e2e-free-behind", 1);
    server.admin(
        "PATCH",
        "/products/e2e-free-behind",
        Some(serde_json::json!({"seat_moves_per_seat": 1})),
    );
    let machine = |name: &str, id: &str| {
        let mut c = Companion::new(
            &tmp.path().join(name),
            &server,
            "e2e-free-behind",
            "allow_file_credential_store = true",
        );
        c.machine_id = id.repeat(32 / id.len());
        c.start_agent();
        c
    };
    let (a, b, c) = (machine("a", "a1"), machine("b", "b2"), machine("c", "c3"));
    for m in [&a, &b] {
        let (code, out, err) = run(m.cli().args(["activate", &key]));
        assert_eq!(code, 0, "{out}{err}");
        let id = m.client().status().unwrap().machine_id.unwrap();
        assert_eq!(server.free_machine(&key, &id), 204, "freed behind its back");
    }
    let (code, out, err) = run(c.cli().args(["activate", &key]));
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("[server_rejected: seat_move_limit_reached]"),
        "{err}"
    );
    // What the bound allows: the machines kept away from the server run on their files.
    for m in [&a, &b] {
        assert!(m.client().status().unwrap().entitled);
    }
}

/// The vendor's rotation procedure, end to end: publish a next key, ship it in the
/// companion's trusted keys, rotate. A companion that trusts both renews onto the new key
/// without a gap; one that never got the update refuses the new file and keeps its valid
/// cached one (an honest user is not locked out by a rotation).
#[test]
fn a_signing_key_rotation_reaches_companions_that_trust_the_next_key() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1209600);
    let (_, key) = server.licence("e2e-rotate", 2);
    let old = server.public_key();
    let next = server.keys(&["new"]);
    let fields: Vec<&str> = next.split_whitespace().collect();
    let (new_kid, new) = (fields[1].to_owned(), fields[2].to_owned());
    assert_eq!(fields[0], "next", "{next}");

    let mut updated = Companion::new(
        &tmp.path().join("updated"),
        &server,
        "e2e-rotate",
        "allow_file_credential_store = true",
    );
    updated.trust(&[&old, &new]);
    let mut stale = Companion::new(
        &tmp.path().join("stale"),
        &server,
        "e2e-rotate",
        "allow_file_credential_store = true",
    );
    stale.machine_id = "57a1e5a1e5a1e5a1e5a1e5a1e5a1e5a1".into();
    updated.start_agent();
    stale.start_agent();
    assert_eq!(run(updated.cli().args(["activate", &key])).0, 0);
    assert_eq!(run(stale.cli().args(["activate", &key])).0, 0);
    let before = stale.client().license_file().unwrap().unwrap();

    server.keys(&["rotate", "--to", &new_kid]);
    let (code, out, err) = run(updated.cli().arg("refresh"));
    assert_eq!(code, 0, "{out}{err}");
    let file = updated.client().license_file().unwrap().unwrap();
    let fingerprint = licentric_core::MachineId::new(&updated.machine_id, "t")
        .unwrap()
        .fingerprint("e2e-rotate");
    let on = |key: &str| {
        licentric_client::verify::check_for(
            &file,
            &[key],
            "e2e-rotate",
            licentric_proto::Environment::Test,
            &fingerprint,
        )
        .map(|_| ())
    };
    assert_eq!(on(&new), Ok(()), "the renewed file is on the new key");
    assert!(on(&old).is_err(), "and not on the old one");
    assert!(updated.client().status().unwrap().entitled);

    let (code, out, err) = run(stale.cli().arg("refresh"));
    assert_ne!(code, 0, "{out}{err}");
    assert!(err.contains("unknown_key_id"), "{err}");
    let status = stale.client().status().unwrap();
    assert!(status.entitled, "{status:?}");
    assert_eq!(
        stale.client().license_file().unwrap().unwrap(),
        before,
        "the valid cached file is kept"
    );
}

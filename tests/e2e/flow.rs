use licentric_e2e::{Companion, Server, pushed, run};
use licentric_proto::LicenseState;

#[test]
fn activate_go_offline_come_back_and_deactivate() {
    let tmp = tempfile::tempdir().unwrap();
    // (Grace and the end of the offline period, which take days, are tested in `clock` by
    // moving an injected clock.)
    let mut server = Server::start(tmp.path(), 1_209_600);
    let (licence_id, key) = server.licence("e2e-flow", 2);
    let mut c = Companion::new(
        tmp.path(),
        &server,
        "e2e-flow",
        "allow_file_credential_store = true",
    );
    c.start_agent();

    let (code, out, err) = run(c.cli().arg("status"));
    assert_eq!(code, 3, "not activated yet: exit 3\n{out}{err}");
    assert!(out.contains("not activated"), "{out}");

    // Pasted the way people paste: lower case, spaces around.
    let (code, out, err) = run(c
        .cli()
        .args(["activate", &format!("  {}  ", key.to_lowercase())]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("State:         active"), "{out}");
    assert!(
        !out.contains(&key) && !err.contains(&key),
        "the key is never printed in full"
    );

    let (code, out, _) = run(c.cli().args(["status", "--json"]));
    assert_eq!(code, 0);
    let status: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(status["state"], "active");
    assert_eq!(status["license_id"], licence_id.as_str());
    assert_eq!(
        status["entitlements"],
        serde_json::json!(["pro", "export-pdf"])
    );
    assert_eq!(
        (&status["machines_active"], &status["max_machines"]),
        (&serde_json::json!(1), &serde_json::json!(2)),
        "seats in use, as the server said"
    );
    assert_eq!(
        status["license_key_hint"],
        format!("ACME-****-****-****-{}", &key[key.len() - 4..])
    );

    // An example client, in another language, sees the same (Python, standard library only).
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/python/licentric_client.py"
    );
    let (code, out, err) = run(std::process::Command::new("python3")
        .arg(example)
        .args(["--product", "e2e-flow", "--environment", "test", "--socket"])
        .arg(&c.socket)
        .arg("has_entitlement")
        .arg("pro"));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("entitled: true"), "{out}");

    // Offline: the server goes away; a refresh fails, the user stays licensed and is told so.
    let mut sub = c.client();
    assert_eq!(sub.subscribe().unwrap().state, LicenseState::Active);
    server.stop();
    let (code, _, err) = run(c.cli().arg("refresh"));
    assert_eq!(code, 1);
    assert!(err.contains("[network_unavailable]"), "{err}");
    let offline = pushed(&mut sub, "active, offline", |s| {
        s.reason.as_deref() == Some("network_unavailable")
    });
    assert!(
        offline.entitled && offline.state == LicenseState::Active,
        "{offline:?}"
    );
    let (code, out, _) = run(c.cli().arg("status"));
    assert_eq!(code, 0, "entitled while offline");
    assert!(out.contains("active, offline"), "{out}");

    // Back online: one refresh makes it active again.
    server.restart();
    let (code, out, err) = run(c.cli().arg("refresh"));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("State:         active"), "{out}");

    // Deactivate: back to unlicensed, and the seat is free on the server.
    let (code, out, err) = run(c.cli().arg("deactivate"));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("not activated"), "{out}");
    let machines = server.admin("GET", &format!("/licenses/{licence_id}/machines"), None);
    assert_eq!(machines["machines"][0]["active"], false, "{machines}");
    assert!(c.client().license_file().unwrap().is_none());
}

#[test]
fn an_air_gapped_machine_activates_with_a_request_file() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1209600);
    let (licence_id, key) = server.licence("e2e-offline", 1);
    let mut c = Companion::new(
        tmp.path(),
        &server,
        "e2e-offline",
        "allow_file_credential_store = true",
    );
    c.start_agent();

    // On the offline machine: written for this user alone, never through a link put where it
    // goes (in a shared folder, another user's file would be overwritten).
    let request = tmp.path().join("request.txt");
    let elsewhere = tmp.path().join("someone-elses.txt");
    std::fs::write(&elsewhere, "theirs").unwrap();
    std::os::unix::fs::symlink(&elsewhere, &request).unwrap();
    let (code, out, err) = run(c.cli().arg("request-file").arg(&request));
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(std::fs::read_to_string(&elsewhere).unwrap(), "theirs");
    use std::os::unix::fs::PermissionsExt as _;
    let meta = std::fs::symlink_metadata(&request).unwrap();
    assert!(meta.is_file(), "the link was replaced, not followed");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let text = std::fs::read_to_string(&request).unwrap();
    // Written to a pipe as it is (`/dev/stdout`).
    let (code, out, err) = run(c.cli().arg("request-file").arg("/dev/stdout"));
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.starts_with("-----BEGIN LICENTRIC ACTIVATION REQUEST-----"),
        "{out}"
    );
    assert!(
        text.starts_with("-----BEGIN LICENTRIC ACTIVATION REQUEST-----"),
        "{text}"
    );
    assert!(!text.contains(&key), "a request holds no key");

    // On a connected device: submit it with the key.
    let answer = server.offline_activation(&key, &text);
    let licence = tmp.path().join("license.lic");
    std::fs::write(&licence, answer).unwrap();

    // Back on the offline machine.
    let (code, out, err) = run(c.cli().arg("import").arg(&licence));
    assert_eq!(code, 0, "{out}{err}");
    let status = c.client().status().unwrap();
    assert_eq!(status.state, LicenseState::Active, "{status:?}");
    assert_eq!(status.entitlements, ["pro", "export-pdf"]);
    assert!(
        status.last_refresh_at.is_none(),
        "an import is not contact with the server"
    );
    assert!(
        status.next_refresh_at.is_none(),
        "no key here: it renews by importing again, not online: {status:?}"
    );

    // Deactivated here, the seat is not freed on the server (no key here to free it): the
    // command says so rather than that the seat is free, and names the machine to free.
    let machine = status.machine_id.clone().expect("a machine id");
    let (code, out, err) = run(c.cli().arg("deactivate"));
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("seat stays taken") && !out.contains("seat is free") && out.contains(&machine),
        "{out}"
    );
    let active = || {
        server.admin("GET", &format!("/licenses/{licence_id}/machines"), None)["machines"][0]
            ["active"]
            .clone()
    };
    assert_eq!(active(), true, "the seat is still taken on the server");
    // Freed from a connected device with the key, as docs/companion.md says.
    assert_eq!(server.free_machine(&key, &machine), 204);
    assert_eq!(active(), false, "freed");
}

#[test]
fn status_without_an_agent_reads_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1209600);
    let (_, key) = server.licence("e2e-readonly", 1);
    let mut c = Companion::new(
        tmp.path(),
        &server,
        "e2e-readonly",
        "allow_file_credential_store = true",
    );
    c.start_agent();
    assert_eq!(run(c.cli().args(["activate", &key])).0, 0);
    c.stop_agent("-TERM");

    // Contents and inodes: an atomic rewrite of the same bytes would still change the inode.
    let snapshot = |dir: &std::path::Path| {
        let mut files: Vec<(std::path::PathBuf, Vec<u8>, u64)> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .map(|p| {
                let ino = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&p).unwrap());
                (p.clone(), std::fs::read(&p).unwrap(), ino)
            })
            .collect();
        files.sort();
        files
    };
    let before = snapshot(&c.data);
    let (code, out, err) = run(c.cli().arg("status"));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("State:         active"), "{out}");
    let after = snapshot(&c.data);
    assert_eq!(
        before, after,
        "`status` without an agent must not write to the data folder"
    );
}

/// A disk that refuses to write (here the file-size limit set to nothing on the running agent,
/// which fails a write as a full disk does) loses nothing: a refresh that brings a new licence
/// file fails with a clear error, the cached licence stays as it was and in use, and across a
/// restart; once writes go through again, the next refresh saves its file.
#[test]
fn a_disk_that_refuses_writes_loses_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1_209_600);
    let (_, key) = server.licence("e2e-nospace", 1);
    let mut c = Companion::new(tmp.path(), &server, "e2e-nospace", "");
    // The file-size limit signals a process that passes it; ignored, the write fails instead
    // (as ENOSPC does), which is what is tested.
    let ignoring_the_signal = |cmd: &mut std::process::Command| {
        licentric_e2e::run_inside(cmd, "sh", &["-c", "trap '' XFSZ; exec \"$0\" \"$@\""]);
    };
    c.start_agent_with(ignoring_the_signal);
    assert_eq!(run(c.cli().args(["activate", &key])).0, 0);
    let cached = c.data.join("license.lic");
    let before = std::fs::read(&cached).unwrap();
    let limit = |pid: u32, fsize: &str| {
        let done = std::process::Command::new("prlimit")
            .args(["--pid", &pid.to_string(), &format!("--fsize={fsize}")])
            .status()
            .unwrap();
        assert!(done.success(), "prlimit {fsize}");
    };
    limit(c.pid().unwrap(), "0:unlimited");

    let (code, out, err) = run(c.cli().arg("refresh"));
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("cannot save the licence") && err.contains("storage_error"),
        "a clear error: {err}"
    );
    assert_eq!(
        std::fs::read(&cached).unwrap(),
        before,
        "the cached file is kept"
    );
    let status = c.client().status().unwrap();
    assert!(status.entitled, "still licensed: {status:?}");
    // What is on disk still vouches for itself: licensed across a restart.
    c.stop_agent("-TERM");
    c.start_agent_with(ignoring_the_signal);
    let status = c.client().status().unwrap();
    assert_eq!(status.state, LicenseState::Active, "{status:?}");

    limit(c.pid().unwrap(), "0:unlimited");
    let (code, _, _) = run(c.cli().arg("refresh"));
    assert_eq!(code, 1, "still refused");
    limit(c.pid().unwrap(), "unlimited:unlimited");
    let (code, out, err) = run(c.cli().arg("refresh"));
    assert_eq!(code, 0, "{out}{err}");
    assert_ne!(
        std::fs::read(&cached).unwrap(),
        before,
        "the new file is saved"
    );
}

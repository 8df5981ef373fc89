//! The trust issue's attacks, each tried as an attacker on this machine would, with real
//! parts — and what an honest user does beside them, which must keep working.

use std::os::unix::fs::{PermissionsExt, chown};
use std::path::Path;
use std::process::Command;

use licentric_e2e::{Companion, Server, run, secret_service_available};
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

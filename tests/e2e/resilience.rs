use std::time::Duration;

use licentric_core::{Expectations, Fingerprint, MachineId, TrustedKey, Verifier};
use licentric_e2e::{Companion, Server, Stopped, run};
use licentric_proto::{Environment, LicenseState};

#[test]
fn kill_9_during_cache_writes_never_loses_the_licence() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1209600);
    let (_, key) = server.licence("e2e-kill", 1);
    let mut c = Companion::new(
        tmp.path(),
        &server,
        "e2e-kill",
        "allow_file_credential_store = true",
    );
    c.start_agent();
    assert_eq!(run(c.cli().args(["activate", &key])).0, 0);

    let verifier = Verifier::new(vec![TrustedKey::from_hex(&server.public_key()).unwrap()]);
    let fingerprint: Fingerprint = MachineId::new(&c.machine_id, "t")
        .unwrap()
        .fingerprint("e2e-kill");
    for round in 0..12u64 {
        // Refreshes write the cache over and over; the agent is killed in the middle of them.
        let refresher = {
            let mut cmd = c.cli();
            cmd.arg("refresh")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null());
            std::thread::spawn(move || {
                for _ in 0..20 {
                    if !cmd.status().is_ok_and(|s| s.success()) {
                        break;
                    }
                }
            })
        };
        std::thread::sleep(std::time::Duration::from_millis(20 + round * 13));
        c.stop_agent("-KILL");
        let _ = refresher.join();

        let text = std::fs::read_to_string(c.data.join("license.lic"))
            .unwrap_or_else(|e| panic!("round {round}: the licence file is gone: {e}"));
        let expect = Expectations {
            product_id: "e2e-kill",
            environment: Environment::Test,
            fingerprint: &fingerprint,
            nonce: None,
        };
        verifier
            .verify_stored(&text, &expect)
            .unwrap_or_else(|e| panic!("round {round}: the cached file is corrupt: {e}"));

        c.start_agent();
        let status = c.client().status().unwrap();
        assert_eq!(
            status.state,
            LicenseState::Active,
            "round {round}: {status:?}"
        );
    }
}

#[test]
fn a_clock_turned_back_is_clock_tampered_until_an_online_refresh() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1209600);
    let (_, key) = server.licence("e2e-clock", 1);
    let mut c = Companion::new(
        tmp.path(),
        &server,
        "e2e-clock",
        "allow_file_credential_store = true",
    );
    c.start_agent();
    assert_eq!(run(c.cli().args(["activate", &key])).0, 0);
    c.stop_agent("-TERM");

    // The same agent with its clock two days behind.
    c.start_agent_at("-2d");
    let status = c.client().status().unwrap();
    assert_eq!(status.state, LicenseState::ClockTampered, "{status:?}");
    assert!(!status.entitled);
    c.stop_agent("-TERM");

    // The clock is right again, but the flag sticks until one successful online refresh.
    c.start_agent();
    assert_eq!(
        c.client().status().unwrap().state,
        LicenseState::ClockTampered
    );
    let (code, out, err) = run(c.cli().arg("refresh"));
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(c.client().status().unwrap().state, LicenseState::Active);
}

/// A credential store that asks its user — a locked keyring's unlock prompt, a password
/// manager's "allow access?" — and a user who does not answer for minutes: the agent's save
/// (the state's anchor, kept in the store) waits on the prompt, and the local apps' questions
/// must not wait with it. A Secret Service of the test's own (gnome-keyring, locked once the
/// agent runs) on a bus of its own, whose prompter never shows the prompt.
#[test]
fn apps_are_answered_while_the_credential_store_waits_on_its_user() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1209600);
    let (_, key) = server.licence("e2e-prompt", 1);
    let mut c = Companion::new(tmp.path(), &server, "e2e-prompt", "");
    let session = Session::start(tmp.path());
    let prompter_log = tmp.path().join("prompter.log");
    let _prompter = Stopped(
        session
            .command("python3")
            .arg(licentric_e2e::gui::support_script("prompter.py"))
            .stdout(std::fs::File::create(&prompter_log).unwrap())
            .spawn()
            .unwrap(),
    );
    let said = |what: &str| {
        std::fs::read_to_string(&prompter_log)
            .unwrap_or_default()
            .lines()
            .any(|l| l == what)
    };
    licentric_e2e::gui::wait_for("the prompter", Duration::from_secs(20), || {
        said("ready").then_some(())
    });
    c.start_agent_with(|cmd| {
        cmd.env("DBUS_SESSION_BUS_ADDRESS", &session.address);
    });
    // Activated offline: a request, and the licence file the server answers it with.
    let request = tmp.path().join("request.txt");
    let (code, out, err) = run(c.cli().arg("request-file").arg(&request));
    assert_eq!(code, 0, "{out}{err}");
    let licence = tmp.path().join("licence.lic");
    std::fs::write(
        &licence,
        server.offline_activation(&key, &std::fs::read_to_string(&request).unwrap()),
    )
    .unwrap();

    // The keyring locks (the screen locked, say); importing the file saves the state's
    // anchor, which now waits on the user's answer to the unlock prompt.
    session.lock_keyring();
    let _import = Stopped(
        c.cli()
            .arg("import")
            .arg(&licence)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    licentric_e2e::gui::wait_for("the unlock prompt", Duration::from_secs(20), || {
        said("prompt").then_some(())
    });

    // Meanwhile apps ask, again and again, past the second an answer is otherwise kept for:
    // each is answered, with the licence imported (on disk, and said, before the store was
    // asked to keep the anchor).
    let mut client = licentric_client::Client::connect(&c.socket).unwrap();
    client.set_timeout(Some(Duration::from_secs(5))).unwrap();
    let until = std::time::Instant::now() + Duration::from_millis(2500);
    let mut asked = 0;
    while std::time::Instant::now() < until {
        let status = client
            .status()
            .unwrap_or_else(|e| panic!("question {asked} waited on the prompt: {e}"));
        assert!(
            status.entitled && status.state == LicenseState::Active,
            "{status:?}"
        );
        assert!(client.license_file().unwrap().is_some());
        asked += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(said("prompt"), "the prompt is still open");
}

/// A session bus of a test's own (starting nothing by itself), with gnome-keyring serving the
/// Secret Service on it; both end with it.
struct Session {
    address: String,
    keyring_home: std::path::PathBuf,
    _bus: Stopped,
    _keyring: Stopped,
}

impl Session {
    fn start(dir: &std::path::Path) -> Session {
        let home = dir.join("session");
        std::fs::create_dir_all(&home).unwrap();
        let config = concat!(env!("CARGO_MANIFEST_DIR"), "/../.ci/session.conf");
        let (bus, address) = licentric_e2e::private_bus(Some(std::path::Path::new(config)));
        let keyring_home = home.join("data");
        // An empty password on stdin: the new login keyring is created, unlocked.
        let mut keyring = std::process::Command::new("gnome-keyring-daemon")
            .args(["--unlock", "--components=secrets", "--foreground"])
            .env("DBUS_SESSION_BUS_ADDRESS", &address)
            .env("XDG_DATA_HOME", &keyring_home)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        {
            use std::io::Write as _;
            let mut stdin = keyring.stdin.take().unwrap();
            stdin.write_all(b"\n").unwrap();
        }
        let session = Session {
            address,
            keyring_home,
            _bus: bus,
            _keyring: Stopped(keyring),
        };
        licentric_e2e::gui::wait_for("the Secret Service", Duration::from_secs(20), || {
            licentric_e2e::bus_name_owned("org.freedesktop.secrets", Some(&session.address))
                .then_some(())
        });
        session
    }

    /// A command on this session's bus.
    fn command(&self, program: &str) -> std::process::Command {
        let mut cmd = std::process::Command::new(program);
        cmd.env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            .env("XDG_DATA_HOME", &self.keyring_home);
        cmd
    }

    /// Locks the login keyring, as a locked screen does: what is in it needs the user's
    /// password (an unlock prompt) again.
    fn lock_keyring(&self) {
        let out = self
            .command("gdbus")
            .args([
                "call",
                "--session",
                "--dest",
                "org.freedesktop.secrets",
                "--object-path",
                "/org/freedesktop/secrets",
                "--method",
                "org.freedesktop.Secret.Service.Lock",
                "['/org/freedesktop/secrets/collection/login']",
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    }
}

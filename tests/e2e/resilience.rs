use licentric_core::{Expectations, Fingerprint, MachineId, TrustedKey, Verifier};
use licentric_e2e::{Companion, Server, run};
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

//! Tolerant fingerprints end to end: the real agent sends the machine's parts (faked in the
//! test environment by `LICENTRIC_COMPONENTS`, as `LICENTRIC_MACHINE_ID` fakes the machine
//! id), and the real server knows a reinstalled machine again on its one seat, while another
//! machine is refused.

use licentric_e2e::{Companion, Server, run};

const HARDWARE: &str = "board_uuid=4c4c4544-0042-3510-8052-b4c04f4e3232;disk_serial=S3Z8NB0K123456;network_card=00:1b:21:3a:4f:5c;cpu_model=Intel(R) Xeon(R) E5";
const OTHER_HARDWARE: &str = "board_uuid=0b1d0a2e-77aa-4c3b-9f00-123456789abc;disk_serial=WD-WX41A1234567;network_card=00:25:90:aa:bb:cc;cpu_model=Intel(R) Xeon(R) E5";

fn machine(
    tmp: &std::path::Path,
    name: &str,
    server: &Server,
    machine_id: &str,
    parts: &str,
) -> Companion {
    let mut c = Companion::new(
        &tmp.join(name),
        server,
        "e2e-parts",
        "allow_file_credential_store = true",
    );
    c.machine_id = machine_id.to_owned();
    let parts = parts.to_owned();
    c.start_agent_with(move |cmd| {
        cmd.env("LICENTRIC_COMPONENTS", &parts);
    });
    c
}

#[test]
fn a_reinstalled_machine_activates_again_on_its_one_seat_and_another_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1209600);
    let (licence, key) = server.licence("e2e-parts", 1);
    let product = server.admin(
        "PATCH",
        "/products/e2e-parts",
        Some(serde_json::json!({"fingerprint_match": "most"})),
    );
    assert_eq!(product["product"]["fingerprint_match"], "most", "{product}");

    let mut one = machine(
        tmp.path(),
        "one",
        &server,
        "0a1b2c3d4e5f60718293a4b5c6d7e8f9",
        HARDWARE,
    );
    let (code, out, err) = run(one.cli().args(["activate", &key]));
    assert_eq!(code, 0, "{out}{err}");
    one.stop_agent("-TERM");
    // The vendor sees what the machine runs in (a container, a virtual machine), as this
    // machine itself reads it.
    let machines = server.admin("GET", &format!("/licenses/{licence}/machines"), None);
    let platform = machines["machines"][0]["platform"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    match licentric_platform::identity::virtualization() {
        Some((what, name)) => assert!(
            platform.ends_with(&format!("({what}: {name})")),
            "{platform}"
        ),
        None => assert!(!platform.contains('('), "{platform}"),
    }

    // The system reinstalled (a new machine id, nothing of the old installation kept) on the
    // same hardware: the same machine, on its one seat.
    let mut two = machine(
        tmp.path(),
        "two",
        &server,
        "f9e8d7c6b5a4938271605f4e3d2c1b0a",
        HARDWARE,
    );
    let (code, out, err) = run(two.cli().args(["activate", &key]));
    assert_eq!(code, 0, "a reinstall keeps its seat: {out}{err}");
    assert!(out.contains("1 of 1"), "{out}");
    two.stop_agent("-TERM");

    // Another machine, other hardware: the seat is held.
    let three = machine(
        tmp.path(),
        "three",
        &server,
        "1234567890abcdef1234567890abcdef",
        OTHER_HARDWARE,
    );
    let (code, out, err) = run(three.cli().args(["activate", &key]));
    assert_ne!(code, 0, "{out}{err}");
    assert!(err.contains("already in use"), "{err}");
}

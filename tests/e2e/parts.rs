//! Tolerant fingerprints end to end: the real agent sends the machine's parts (faked in the
//! test environment by `LICENTRIC_COMPONENTS`, as `LICENTRIC_MACHINE_ID` fakes the machine
//! id), and the real server knows a reinstalled machine again on its one seat, while another
//! machine is refused; two live systems with the same parts never share a seat.

use licentric_e2e::{Companion, Server, run};

const HARDWARE: &str = "board_uuid=4c4c4544-0042-3510-8052-b4c04f4e3232;disk_serial=S3Z8NB0K123456;network_card=00:1b:21:3a:4f:5c;cpu_model=Intel(R) Xeon(R) E5";
const OTHER_HARDWARE: &str = "board_uuid=0b1d0a2e-77aa-4c3b-9f00-123456789abc;disk_serial=WD-WX41A1234567;network_card=00:25:90:aa:bb:cc;cpu_model=Intel(R) Xeon(R) E5";

/// A companion of `product` on a made-up machine with `parts`. Each test has its own product:
/// the credential store's entry is per product and environment, and tests run side by side.
fn machine(
    tmp: &std::path::Path,
    name: &str,
    server: &Server,
    product: &str,
    machine_id: &str,
    parts: &str,
) -> Companion {
    let mut c = Companion::new(
        &tmp.join(name),
        server,
        product,
        "allow_file_credential_store = true",
    );
    c.machine_id = machine_id.to_owned();
    let parts = parts.to_owned();
    c.start_agent_with(move |cmd| {
        cmd.env("LICENTRIC_COMPONENTS", &parts);
    });
    c
}

/// Fails if any file under `dir` holds a raw value of [`HARDWARE`] (in any case).
fn no_raw_parts_in(dir: &std::path::Path, what: &str) {
    let raw: Vec<String> = HARDWARE
        .split(';')
        .filter_map(|pair| pair.split_once('='))
        .map(|(_, value)| value.to_lowercase())
        .collect();
    let mut files = 0;
    let mut stack = vec![dir.to_owned()];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        files += 1;
        let text = String::from_utf8_lossy(&bytes).to_lowercase();
        for value in &raw {
            assert!(!text.contains(value), "{value} in {}", path.display());
        }
    }
    assert!(files > 2, "{what}: nothing was read");
}

#[test]
fn a_reinstalled_machine_activates_again_on_its_one_seat_and_another_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1209600);
    let (licence, key) = server.licence("e2e-parts", 1);
    // Under the default policy.
    let products = server.admin("GET", "/products", None);
    let product = products["products"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "e2e-parts")
        .unwrap_or_else(|| panic!("{products}"));
    assert_eq!(product["fingerprint_match"], "most", "{product}");

    let mut one = machine(
        tmp.path(),
        "one",
        &server,
        "e2e-parts",
        "0a1b2c3d4e5f60718293a4b5c6d7e8f9",
        HARDWARE,
    );
    let (code, out, err) = run(one.cli().args(["activate", &key]));
    assert_eq!(code, 0, "{out}{err}");
    one.stop_agent("-TERM");
    // No raw value of a part is in what was sent and kept: the agent's log (at debug level),
    // its files, and the server's database.
    no_raw_parts_in(&one.root, "the companion's folder");
    no_raw_parts_in(&server.dir, "the server's folder");
    // The vendor sees what the machine runs in (a container, a virtual machine), as this
    // machine itself reads it.
    let machines = server.admin("GET", &format!("/licenses/{licence}/machines"), None);
    let platform = machines["machines"][0]["platform"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    match licentric_platform::identity::virtualization() {
        Some(r) => assert!(
            platform.ends_with(&format!("({}: {})", r.kind.words(), r.name)),
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
        "e2e-parts",
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
        "e2e-parts",
        "1234567890abcdef1234567890abcdef",
        OTHER_HARDWARE,
    );
    let (code, out, err) = run(three.cli().args(["activate", &key]));
    assert_ne!(code, 0, "{out}{err}");
    assert!(err.contains("already in use"), "{err}");
}

#[test]
fn two_live_systems_with_the_same_parts_never_share_a_seat() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1209600);
    let (licence, key) = server.licence("e2e-dual", 2);
    // A dual boot (or a copy of a system): two installations, one set of hardware.
    let mut one = machine(
        tmp.path(),
        "one",
        &server,
        "e2e-dual",
        "0a1b2c3d4e5f60718293a4b5c6d7e8f9",
        HARDWARE,
    );
    let mut two = machine(
        tmp.path(),
        "two",
        &server,
        "e2e-dual",
        "f9e8d7c6b5a4938271605f4e3d2c1b0a",
        HARDWARE,
    );
    let (code, out, err) = run(one.cli().args(["activate", &key]));
    assert_eq!(code, 0, "{out}{err}");
    let mut app = one.client();
    assert!(app.subscribe().unwrap().entitled);
    // The second system looks like the first reinstalled: it takes the seat.
    let (code, out, err) = run(two.cli().args(["activate", &key]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("1 of 2"), "{out}");

    // The first, still in use, is told at its next contact, signed: it stops and says why.
    let (code, out, err) = run(one.cli().arg("refresh"));
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("[server_rejected: machine_moved]"), "{err}");
    let pushed = licentric_e2e::pushed(&mut app, "the moved seat, pushed", |s| !s.entitled);
    assert_eq!(
        pushed.reason.as_deref(),
        Some("machine_moved"),
        "{pushed:?}"
    );
    assert!(
        pushed
            .detail
            .contains("another system with the same hardware"),
        "{}",
        pushed.detail
    );
    // Activated again, with a seat free, it gets a seat of its own: both systems licensed.
    let (code, out, err) = run(one.cli().arg("refresh"));
    assert_eq!(code, 0, "{out}{err}");
    assert!(one.client().status().unwrap().entitled);
    let (code, out, err) = run(two.cli().arg("refresh"));
    assert_eq!(code, 0, "{out}{err}");
    assert!(two.client().status().unwrap().entitled);
    let machines = server.admin("GET", &format!("/licenses/{licence}/machines"), None);
    let active = machines["machines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["active"] == true)
        .count();
    assert_eq!(active, 2, "{machines}");
    // And the vendor heard of the duplicate.
    let audit = server.admin("GET", &format!("/audit-events?license_id={licence}"), None);
    assert!(audit.to_string().contains("machine.duplicate"), "{audit}");
    one.stop_agent("-TERM");
    two.stop_agent("-TERM");
}

#[test]
fn a_product_that_refuses_virtual_machines_says_so_and_allows_the_computer_itself() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1209600);
    let (_, key) = server.licence("e2e-no-vm", 1);
    let product = server.admin(
        "PATCH",
        "/products/e2e-no-vm",
        Some(serde_json::json!({"allow_virtual_machines": false})),
    );
    assert_eq!(
        product["product"]["allow_virtual_machines"], false,
        "{product}"
    );
    assert_eq!(product["product"]["allow_containers"], true, "{product}");

    // In a virtual machine (as the companion reads it; said by the test): refused in words,
    // and the status says what it runs in.
    let mut vm = Companion::new(
        &tmp.path().join("vm"),
        &server,
        "e2e-no-vm",
        "allow_file_credential_store = true",
    );
    vm.start_agent_with(|cmd| {
        cmd.env("LICENTRIC_RUNS_IN", "virtual_machine:vmware");
    });
    let (code, out, err) = run(vm.cli().args(["activate", &key]));
    assert_ne!(code, 0, "{out}{err}");
    assert!(
        err.contains("may not be activated in a virtual machine")
            && err.contains("[server_rejected: virtualization_not_allowed]"),
        "{err}"
    );
    let status = vm.client().status().unwrap();
    assert!(!status.entitled);
    let runs_in = status.runs_in.expect("the status says what it runs in");
    assert_eq!(
        (runs_in.kind, runs_in.name.as_str()),
        (licentric_proto::api::RunsInKind::VirtualMachine, "vmware")
    );
    vm.stop_agent("-TERM");

    // A container is allowed by this product.
    let mut boxed = Companion::new(
        &tmp.path().join("container"),
        &server,
        "e2e-no-vm",
        "allow_file_credential_store = true",
    );
    boxed.machine_id = "c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0".into();
    boxed.start_agent_with(|cmd| {
        cmd.env("LICENTRIC_RUNS_IN", "container:podman");
    });
    let (code, out, err) = run(boxed.cli().args(["activate", &key]));
    assert_eq!(code, 0, "{out}{err}");
    boxed.stop_agent("-TERM");
}

#[test]
fn a_server_from_before_the_parts_still_activates_and_renews() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1209600);
    let (_, key) = server.licence("e2e-older", 1);
    let (older, refused) = licentric_e2e::older_server(&server);
    let mut c = Companion::new(
        tmp.path(),
        &server,
        "e2e-older",
        "allow_file_credential_store = true",
    );
    let config = std::fs::read_to_string(&c.config).unwrap();
    std::fs::write(&c.config, config.replace(&server.url, &older)).unwrap();
    c.start_agent();
    // The first activation names the parts and is refused as that server refused them; the
    // agent asks again with the fingerprint alone, and sends no parts from then on.
    let (code, out, err) = run(c.cli().args(["activate", &key]));
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(refused.load(std::sync::atomic::Ordering::SeqCst), 1);
    let (code, out, err) = run(c.cli().arg("refresh"));
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        refused.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "no parts sent again"
    );
    assert!(c.client().status().unwrap().entitled);
    c.stop_agent("-TERM");
}

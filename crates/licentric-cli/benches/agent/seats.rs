//! The agent's side of floating seats, against the real server that `.ci/bench-server` runs
//! (it passes its address, CA, signing key and a floating licence's key in
//! `LICENTRIC_BENCH_SEATS_*`): a `checkout` answered from the seat the agent already holds for
//! another app, with its `release`, against two round trips of the bare socket floor in the
//! same run, both asked by the C client in a process of its own, everything on one core.
//! Neither goes to the server: the seat is shared on the machine.

use std::path::Path;

use super::{
    Client, against_floor, build_c, median, pin, round_trips, start_agent_as, start_floor, stop,
};

const CHECKOUT: &str = r#"{"jsonrpc":"2.0","id":2,"method":"checkout"}"#;
const RELEASE: &str = r#"{"jsonrpc":"2.0","id":3,"method":"release"}"#;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set (run .ci/bench-server)"))
}

/// Prints the figure.
pub(crate) fn run(dir: &Path) {
    let (url, ca, trust, key) = (
        env("LICENTRIC_BENCH_SEATS_URL"),
        env("LICENTRIC_BENCH_SEATS_CA"),
        env("LICENTRIC_BENCH_SEATS_TRUST"),
        env("LICENTRIC_BENCH_SEATS_KEY"),
    );
    std::fs::write(
        dir.join("seats.toml"),
        format!(
            "product_id = \"float\"\nproduct_name = \"Float\"\nenvironment = \"test\"\napi_base_url = \"{url}\"\n\
             key_prefix = \"FLOAT\"\ntrusted_keys = [\"{trust}\"]\nextra_ca = \"{ca}\"\nextra_ca_only = true\n\
             allow_file_credential_store = true\ndata_dir = \"seats-data\"\n\
             [ipc]\nsocket = \"run/seats.sock\"\nmanagement = true\n[notifications]\nenabled = false\n"
        ),
    )
    .unwrap();
    let (agent, _) = start_agent_as(dir, "seats.toml", "run/seats.sock");
    let socket = dir.join("run/seats.sock");
    let activate = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"activate\",\"params\":{{\"license_key\":\"{key}\"}}}}\n"
    );
    let mut holder = Client::connect(&socket);
    holder.send(activate.as_bytes());
    // One app holds the seat (the one checkout that goes to the server).
    holder.send(format!("{CHECKOUT}\n").as_bytes());
    assert!(
        String::from_utf8_lossy(&holder.line).contains("\"max_seats\""),
        "no seat: {}",
        String::from_utf8_lossy(&holder.line)
    );
    // Other apps take it and give it back, again and again: answered on the machine.
    let mut app = Client::connect(&socket);
    let answer_len = app.send(format!("{CHECKOUT}\n").as_bytes());
    assert!(
        String::from_utf8_lossy(&app.line).contains("\"max_seats\""),
        "the held seat was not shared: {}",
        String::from_utf8_lossy(&app.line)
    );
    app.send(format!("{RELEASE}\n").as_bytes());
    drop(app);
    let floor_socket = dir.join("seats-floor.sock");
    let floor = start_floor(&build_c(dir, "floor"), &floor_socket, answer_len);
    let client = build_c(dir, "client");
    // On one core: unpinned, one start of each is one draw of the scheduler's placement (see
    // the round trips'), and the seat's server setup is too slow to start again and again.
    for pid in [agent.id(), floor.id()] {
        pin(pid, "0");
    }
    let pair = [CHECKOUT, RELEASE];
    let (bare, ipc) = round_trips(&client, (&floor_socket, &socket), Some("0"), &pair);
    // Two round trips make a checkout and its release.
    let (floor_pair, agent_pair) = (median(bare) * 2, median(ipc) * 2);
    against_floor(
        (
            "floor: two round trips, one core",
            floor_pair,
            &format!("({answer_len} bytes back)"),
        ),
        (
            "checkout + release of the seat held here, one core",
            agent_pair,
            "answered by the agent, not the server",
        ),
        "",
    );
    drop(holder);
    stop(floor);
    stop(agent);
}

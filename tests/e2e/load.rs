//! The agent under misuse an ordinary integration runs into: clients that subscribe and go
//! away, clients that send and never read, file descriptors running out, a server that asks to
//! come back later — each a fault found in a vendor's trial, each tested here with a failing
//! version in mind.

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use licentric_e2e::{Companion, Server, run};

/// Sets `[ipc]` settings in a companion's configuration.
fn ipc_settings(c: &Companion, lines: &str) {
    let text = std::fs::read_to_string(&c.config)
        .unwrap()
        .replace("[ipc]\n", &format!("[ipc]\n{lines}\n"));
    std::fs::write(&c.config, text).unwrap();
}

/// Connects until the agent serves a status, or the deadline passes.
fn served_within(c: &Companion, deadline: Duration) -> bool {
    let until = Instant::now() + deadline;
    while Instant::now() < until {
        if let Ok(mut client) = licentric_client::Client::connect(&c.socket) {
            let _ = client.set_timeout(Some(Duration::from_secs(2)));
            if client.status().is_ok() {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Another process that holds a subscribed connection to the agent until dropped.
struct HoldingApp(std::process::Child);

impl HoldingApp {
    /// Once the agent has answered its subscription.
    fn subscribe(socket: &std::path::Path) -> HoldingApp {
        // Tried again until served: a connection that just closed is freed once the agent has
        // read its end. The answer is read as a line (pushes may follow it), and only a word is
        // printed: the process must outlive the test's reading of it.
        let script = "import socket, sys, time\n\
            for _ in range(200):\n\
            \x20   s = socket.socket(socket.AF_UNIX)\n\
            \x20   s.connect(sys.argv[1])\n\
            \x20   s.sendall(b'{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"subscribe\"}\\n')\n\
            \x20   answer = s.makefile('rb').readline()\n\
            \x20   if b'\"result\"' in answer: break\n\
            \x20   s.close()\n\
            \x20   time.sleep(0.05)\n\
            print('served' if b'\"result\"' in answer else 'refused', flush=True)\n\
            sys.stdin.read()\n";
        let mut child = std::process::Command::new("python3")
            .args(["-c", script])
            .arg(socket)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut answer = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut answer,
        )
        .unwrap();
        assert_eq!(answer.trim(), "served", "not subscribed");
        HoldingApp(child)
    }
}

impl Drop for HoldingApp {
    fn drop(&mut self) {
        drop(self.0.stdin.take());
        let _ = self.0.wait();
    }
}

/// Regression: a subscribed client that went away kept its connection (and its slot) for
/// ever; after `max_connections` of them every new client was refused.
#[test]
fn subscribers_that_go_away_free_their_slots() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1209600);
    let mut c = Companion::new(
        tmp.path(),
        &server,
        "e2e-leak",
        "allow_file_credential_store = true",
    );
    ipc_settings(&c, "max_connections = 4");
    c.start_agent();
    for round in 0..12 {
        let mut client = licentric_client::Client::connect(&c.socket)
            .unwrap_or_else(|e| panic!("round {round}: refused: {e}"));
        client.subscribe().unwrap();
        drop(client);
    }
    let mut last = c.client();
    assert!(last.status().is_ok());
}

/// A leak: one app opens every connection the agent serves and subscribes on each, so that
/// none idles out. Another app is still served (one process holds at most three quarters of
/// the slots), and the process gets its share again as it lets go. (A process of the user
/// that means to take every slot can — it starts others, or stops the agent: the user's own
/// processes are inside the boundary.)
#[test]
fn one_process_cannot_hold_every_connection() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1209600);
    let mut c = Companion::new(
        tmp.path(),
        &server,
        "e2e-hog",
        "allow_file_credential_store = true",
    );
    ipc_settings(&c, "max_connections = 8");
    c.start_agent();
    let subscribed = |count: usize| -> Vec<licentric_client::Client> {
        (0..count)
            .filter_map(|_| {
                let mut client = licentric_client::Client::connect(&c.socket).ok()?;
                client.set_timeout(Some(Duration::from_secs(5))).ok()?;
                client.subscribe().ok().map(|_| client)
            })
            .collect()
    };
    // Until it holds its share: a connection of this process the agent has not yet seen
    // close (start_agent's own probe) still counts for a moment.
    let mut held = Vec::new();
    let until = Instant::now() + Duration::from_secs(10);
    while held.len() < 6 && Instant::now() < until {
        held.extend(subscribed(6 - held.len()));
        if held.len() < 6 {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    assert_eq!(held.len(), 6, "one process holds its share of 8");
    assert_eq!(subscribed(2).len(), 0, "and no more");
    // Told why, not left to find the socket closed: its developer can find the leak.
    let refused = licentric_client::Client::connect(&c.socket)
        .and_then(|mut client| client.status())
        .unwrap_err();
    assert_eq!(
        refused.code(),
        Some(licentric_proto::ErrorCode::TooManyConnections),
        "{refused:?}"
    );
    assert!(
        refused
            .to_string()
            .contains("this process holds 6 connections"),
        "{refused}"
    );

    // Another app (here the command-line tool, a process of its own) is served meanwhile.
    let other = c.cli().args(["status", "--json"]).output().unwrap();
    let said = String::from_utf8_lossy(&other.stdout);
    assert!(
        said.contains("\"state\""),
        "another process was refused: {said} {}",
        String::from_utf8_lossy(&other.stderr)
    );

    // Two more apps take the last two connections; the next is told the agent is full.
    let apps: Vec<_> = (0..2).map(|_| HoldingApp::subscribe(&c.socket)).collect();
    let full = c.cli().args(["status"]).output().unwrap();
    let said = String::from_utf8_lossy(&full.stderr);
    assert!(
        !full.status.success() && said.contains("serves 8 connections already"),
        "{} {said} {}",
        full.status,
        String::from_utf8_lossy(&full.stdout)
    );
    // A C program is told too, by the result of its connect (it has no client to ask).
    let (code, _, said) = run(licentric_e2e::c_example_command()
        .arg("--socket")
        .arg(&c.socket)
        .args(["e2e-hog", "test", "status"]));
    assert!(
        code == 1 && said.contains("error [10]: the licensing agent serves as many connections"),
        "{said}"
    );
    drop(apps);

    // Letting go of two, the process may take two again (once the agent has seen them close).
    held.truncate(4);
    let until = Instant::now() + Duration::from_secs(10);
    while held.len() < 6 && Instant::now() < until {
        held.extend(subscribed(6 - held.len()));
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(held.len(), 6, "its share came back as it let go");
}

/// Regression: clients that pipeline requests and never read the answers were never closed
/// (the idle timeout watched only reads), so a handful held every slot.
#[test]
fn clients_that_never_read_are_closed() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1209600);
    let mut c = Companion::new(
        tmp.path(),
        &server,
        "e2e-noread",
        "allow_file_credential_store = true",
    );
    ipc_settings(&c, "max_connections = 4\nidle_timeout_seconds = 1");
    c.start_agent();
    let request = b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"status\"}\n".repeat(2000);
    let hogs: Vec<_> = (0..4)
        .map(|_| {
            let path = c.socket.clone();
            let request = request.clone();
            std::thread::spawn(move || {
                let mut s = UnixStream::connect(path).unwrap();
                // Bounded, so a test run against a regressed agent fails instead of hanging.
                s.set_write_timeout(Some(Duration::from_secs(30))).unwrap();
                // Writes until the agent stops reading (its answers pile up unread), and
                // until it closes the connection.
                loop {
                    if let Err(e) = s.write_all(&request) {
                        return e.kind();
                    }
                }
            })
        })
        .collect();
    // The hogs end when the agent closes their connections (not by their own time-out).
    for hog in hogs {
        let ended = hog.join().unwrap();
        assert!(
            matches!(
                ended,
                std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
            ),
            "the agent never closed a client that does not read: {ended:?}"
        );
    }
    assert!(
        served_within(&c, Duration::from_secs(20)),
        "the clients that never read still hold every slot"
    );
}

/// CPU time (user + system) of `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// Regression: with no file descriptor left, the accept loop retried at once, for ever, at
/// 100 % CPU. It now waits a moment between attempts (and serves again when one is free).
#[test]
fn running_out_of_file_descriptors_does_not_spin() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1209600);
    let mut c = Companion::new(
        tmp.path(),
        &server,
        "e2e-fds",
        "allow_file_credential_store = true",
    );
    ipc_settings(&c, "max_connections = 500");
    c.start_agent_with(|cmd| {
        licentric_e2e::run_inside(cmd, "prlimit", &["--nofile=48:48", "--"]);
    });
    let pid = c.pid().unwrap();
    // More connections than descriptors: the rest wait in the listen backlog.
    let held: Vec<UnixStream> = (0..80)
        .filter_map(|_| UnixStream::connect(&c.socket).ok())
        .collect();
    assert!(
        held.len() > 48,
        "could not open enough connections ({})",
        held.len()
    );
    std::thread::sleep(Duration::from_millis(300)); // let the agent reach its limit
    let before = cpu_ticks(pid);
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(2));
    let used = cpu_ticks(pid) - before;
    let ticks_per_second = 100; // USER_HZ on Linux
    let share = used as f64 / ticks_per_second as f64 / started.elapsed().as_secs_f64();
    assert!(
        share < 0.3,
        "the agent spun at {:.0} % CPU with no descriptor left",
        share * 100.0
    );
    drop(held);
    assert!(
        served_within(&c, Duration::from_secs(10)),
        "served again once descriptors are free"
    );
}

/// Regression: a refresh waiting out the server's `Retry-After` held the operations lock for
/// minutes; a concurrent import waited instead of getting the documented `busy` error.
#[test]
fn an_operation_waiting_on_the_server_makes_others_busy_not_wait() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path(), 1209600);
    let (_, key) = server.licence("e2e-busy", 1);
    let mut c = Companion::new(
        tmp.path(),
        &server,
        "e2e-busy",
        "allow_file_credential_store = true",
    );
    c.start_agent();
    assert_eq!(run(c.cli().args(["activate", &key])).0, 0);
    c.stop_agent("-TERM");
    // The server now asks every caller to come back in 20 seconds.
    let port = licentric_e2e::hostile_https(
        &server.dir,
        Some(b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 20\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec()),
    );
    let text = std::fs::read_to_string(&c.config)
        .unwrap()
        .replace(&server.url, &format!("https://localhost:{port}"));
    std::fs::write(&c.config, text).unwrap();
    c.start_agent();
    let mut refresh = c.cli().arg("refresh").spawn().unwrap();
    // Once the refresh waits out the server's Retry-After, an import is answered at once, busy.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !c.agent_log().contains("retrying an API call") {
        assert!(Instant::now() < deadline, "no retry: {}", c.agent_log());
        std::thread::sleep(Duration::from_millis(20));
    }
    let started = Instant::now();
    let (code, _, err) = run(c.cli().arg("import").arg(c.data.join("license.lic")));
    assert_eq!(code, 1);
    assert!(err.contains("[busy]"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "waited {:?}",
        started.elapsed()
    );
    let _ = refresh.kill();
    let _ = refresh.wait();
}

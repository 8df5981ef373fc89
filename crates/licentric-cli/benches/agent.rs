//! Benchmarks of the headless agent, printed as figures and ratios (not pass/fail):
//!
//! - IPC `status` round trip against a bare Unix-socket ping-pong of the same bytes, measured
//!   in the same run (goal ≤ 2×);
//! - answers per second with 8 clients (goal ≥ 50,000/s on 2 cores);
//! - agent start to first answer (goal ≤ 50 ms);
//! - idle resident memory (goal ≤ 15 MB) and wake-ups while idle (goal: only its timers).
//!
//! `cargo bench -p licentric-cli --bench agent`; `LICENTRIC_BENCH_QUICK=1` for a short run.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const REQUEST: &[u8] = b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"status\"}\n";
const KEY: &str = "dea53b80287ff0a6882e7bba383d6248e049640d1c42283bb8d0632b7f875fd2";

fn quick() -> bool {
    std::env::var_os("LICENTRIC_BENCH_QUICK").is_some()
}

/// Round trips of REQUEST on one connection; returns the mean time and the answer's size.
fn round_trips(socket: &Path, n: usize) -> (Duration, usize) {
    let stream = UnixStream::connect(socket).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    for _ in 0..n / 10 {
        writer.write_all(REQUEST).unwrap();
        line.clear();
        reader.read_until(b'\n', &mut line).unwrap();
    }
    let started = Instant::now();
    for _ in 0..n {
        writer.write_all(REQUEST).unwrap();
        line.clear();
        reader.read_until(b'\n', &mut line).unwrap();
    }
    (started.elapsed() / n as u32, line.len())
}

/// A bare ping-pong server: reads a line, answers `reply`, nothing else.
fn ping_pong_server(path: &Path, reply: Vec<u8>) {
    let listener = UnixListener::bind(path).unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let reply = reply.clone();
            std::thread::spawn(move || {
                let stream = stream.unwrap();
                let mut writer = stream.try_clone().unwrap();
                let mut reader = BufReader::new(stream);
                let mut line = Vec::new();
                loop {
                    line.clear();
                    if reader.read_until(b'\n', &mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    writer.write_all(&reply).unwrap();
                }
            });
        }
    });
}

fn proc_status(pid: u32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    text.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Context switches of every thread of `pid`: each is a wake-up.
fn wakeups(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .map(|t| {
            let text = std::fs::read_to_string(t.path().join("status")).unwrap_or_default();
            text.lines()
                .filter(|l| {
                    l.starts_with("voluntary_ctxt_switches")
                        || l.starts_with("nonvoluntary_ctxt_switches")
                })
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum::<u64>()
        })
        .sum()
}

// Every normal path hands the child to the caller, which stops it; on a timeout it is killed
// here. Only a panic of the benchmark itself would leave it running.
#[allow(clippy::zombie_processes)]
fn start_agent(dir: &Path) -> (Child, Duration) {
    let socket = dir.join("run/bench.sock");
    let _ = std::fs::remove_file(&socket);
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_licentric"))
        .arg("--config")
        .arg(dir.join("companion.toml"))
        .arg("agent")
        .env("LICENTRIC_MACHINE_ID", "0123456789abcdef0123456789abcdef")
        .env("LICENTRIC_LOG", "error")
        // The credential store aside, as the goal says: no session bus, the file store.
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    loop {
        if let Ok(mut s) = UnixStream::connect(&socket) {
            s.write_all(REQUEST).unwrap();
            let mut line = Vec::new();
            BufReader::new(s).read_until(b'\n', &mut line).unwrap();
            if !line.is_empty() {
                return (child, started.elapsed());
            }
        }
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the agent did not answer");
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("companion.toml"),
        format!(
            "product_id = \"bench\"\nproduct_name = \"Bench\"\nenvironment = \"test\"\napi_base_url = \"https://127.0.0.1:9\"\n\
             key_prefix = \"ACME\"\ntrusted_keys = [\"{KEY}\"]\nallow_file_credential_store = true\ndata_dir = \"data\"\n\
             [ipc]\nsocket = \"run/bench.sock\"\n[notifications]\nenabled = false\n"
        ),
    )
    .unwrap();
    println!("licentric agent benchmarks");

    // Start to first answer: the median of several starts.
    let mut starts = Vec::new();
    for _ in 0..if quick() { 3 } else { 7 } {
        let (mut child, t) = start_agent(dir.path());
        starts.push(t);
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let _ = child.wait();
    }
    starts.sort();
    println!(
        "{:<46} {:>10.2} ms   goal ≤ 50 ms",
        "agent start to first IPC answer (median)",
        starts[starts.len() / 2].as_secs_f64() * 1e3
    );

    let (mut agent, _) = start_agent(dir.path());
    let socket = dir.path().join("run/bench.sock");
    let n = if quick() { 5_000 } else { 50_000 };

    // The same bytes over a bare ping-pong server.
    let (_, answer_len) = round_trips(&socket, 100);
    let mut reply = vec![b'x'; answer_len - 1];
    reply.push(b'\n');
    let bare_path = dir.path().join("bare.sock");
    ping_pong_server(&bare_path, reply);
    let (bare, _) = round_trips(&bare_path, n);
    let (ipc, _) = round_trips(&socket, n);
    println!(
        "{:<46} {:>10.2} µs   ({answer_len} bytes back)",
        "bare Unix-socket ping-pong, same bytes",
        bare.as_secs_f64() * 1e6
    );
    println!(
        "{:<46} {:>10.2} µs",
        "IPC status round trip",
        ipc.as_secs_f64() * 1e6
    );
    println!(
        "{:<46} {:>10.2} ×   goal ≤ 2×",
        "  ratio to the bare ping-pong",
        ipc.as_secs_f64() / bare.as_secs_f64()
    );

    // Throughput with 8 clients.
    let per_client = n / 2;
    let started = Instant::now();
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let socket = socket.clone();
            std::thread::spawn(move || round_trips(&socket, per_client))
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let total = 8 * (per_client + per_client / 10);
    println!(
        "{:<46} {:>10.0} /s   goal ≥ 50,000/s",
        "answers per second, 8 clients",
        total as f64 / started.elapsed().as_secs_f64()
    );

    // Idle: memory, and wake-ups over a quiet period.
    let pid = agent.id();
    std::thread::sleep(Duration::from_millis(500));
    let before = wakeups(pid);
    let idle = if quick() {
        Duration::from_secs(3)
    } else {
        Duration::from_secs(10)
    };
    std::thread::sleep(idle);
    let woke = wakeups(pid) - before;
    println!(
        "{:<46} {:>10.1} MB   goal ≤ 15 MB",
        "idle resident memory (VmRSS)",
        proc_status(pid, "VmRSS:") as f64 / 1024.0
    );
    println!(
        "{:<46} {:>10} in {}s   goal: none but its timers (an unlicensed agent has none due)",
        "wake-ups while idle (context switches)",
        woke,
        idle.as_secs()
    );
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = agent.wait();
}

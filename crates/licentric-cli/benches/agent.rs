//! Benchmarks of the headless agent, printed as figures and ratios (not pass/fail).
//!
//! The floor is `benches/floor.c`: a bare ping-pong server in its own process, built here with
//! the system's C compiler, answering every line with as many bytes as the agent's `status`.
//! Round trips are made by `benches/client.c`, a client in a process of its own as a vendor's
//! app is, against the floor and the agent in turn: unpinned (over several fresh starts of
//! both, since each start is a new draw of the scheduler's placement), with client and server
//! on one core, and on two (with `taskset`); each figure is a median over batches.
//!
//! - one `status` round trip (goal ≤ 1.5× the floor);
//! - answers per second with 1, 8 and 64 clients (goal with 8: ≥ 0.5× the floor's);
//! - the p99 of one well-behaved client while 1,000 idle connections are held open (goal
//!   < 1 ms);
//! - the client library's answers from memory (`watch::Watch`): an entitlement check in
//!   nanoseconds (goal < 100 ns), and how long a change in the agent takes to reach them
//!   (goal p99 < 1 ms), each change a signed file imported over IPC;
//! - agent start to first answer (goal ≤ 50 ms);
//! - idle resident memory (goal ≤ 10 MB) and wake-ups while idle (goal: only its timers).
//!
//! `cargo bench -p licentric-cli --bench agent`; `LICENTRIC_BENCH_QUICK=1` for a short run.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use licentric_client::watch::{Watch, WatchOptions};
use licentric_core::LicenseSigner;
use licentric_core::license_file::LicensePayload;
use licentric_core::request_file::ActivationRequestFile;
use licentric_proto::Environment;
use time::OffsetDateTime;

const STATUS: &str = r#"{"jsonrpc":"2.0","id":1,"method":"status"}"#;
const REQUEST: &[u8] = b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"status\"}\n";
const IDLE_CONNECTIONS: usize = 1_000;

#[path = "agent/seats.rs"]
mod seats;

fn quick() -> bool {
    std::env::var_os("LICENTRIC_BENCH_QUICK").is_some()
}

/// A client of one connection, reading answers line by line.
struct Client {
    writer: UnixStream,
    reader: BufReader<UnixStream>,
    line: Vec<u8>,
}

impl Client {
    fn connect(socket: &Path) -> Client {
        let stream = UnixStream::connect(socket).unwrap();
        Client {
            writer: stream.try_clone().unwrap(),
            reader: BufReader::new(stream),
            line: Vec::with_capacity(1024),
        }
    }

    /// One round trip; the answer's length.
    fn ask(&mut self) -> usize {
        self.send(REQUEST)
    }

    /// One round trip of `request`; the answer's length.
    fn send(&mut self, request: &[u8]) -> usize {
        self.writer.write_all(request).unwrap();
        self.line.clear();
        self.reader.read_until(b'\n', &mut self.line).unwrap();
        assert!(self.line.ends_with(b"\n"), "the connection closed");
        self.line.len()
    }

    /// The mean of `n` round trips.
    fn mean(&mut self, n: usize) -> Duration {
        let started = Instant::now();
        for _ in 0..n {
            self.ask();
        }
        started.elapsed() / u32::try_from(n).unwrap()
    }
}

fn median<T: Ord + Copy>(mut values: Vec<T>) -> T {
    values.sort_unstable();
    values[values.len() / 2]
}

/// The mean round trip of a new client process (`benches/client.c`), run on `cpu` if given:
/// a vendor's app asks from a process of its own, which the scheduler places apart from the
/// benchmark's.
fn c_round_trip(client: &Path, socket: &Path, cpu: Option<&str>, requests: &[&str]) -> Duration {
    let n = if quick() { 2_000 } else { 10_000 };
    let mut command = match cpu {
        Some(cpu) => {
            let mut c = Command::new("taskset");
            c.args(["-c", cpu]).arg(client);
            c
        }
        None => Command::new(client),
    };
    let out = command
        .arg(socket)
        .arg(n.to_string())
        .args(requests)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the C client failed on {}",
        socket.display()
    );
    Duration::from_nanos(String::from_utf8_lossy(&out.stdout).trim().parse().unwrap())
}

/// The medians over batches of the floor's and the agent's round trips, taken in turn so that
/// both meet the same conditions.
fn round_trips(
    client: &Path,
    (floor, agent): (&Path, &Path),
    cpu: Option<&str>,
    requests: &[&str],
) -> (Vec<Duration>, Vec<Duration>) {
    let batches = if quick() { 3 } else { 5 };
    (0..batches)
        .map(|_| {
            (
                c_round_trip(client, floor, cpu, requests),
                c_round_trip(client, agent, cpu, requests),
            )
        })
        .unzip()
}

/// Unpinned round trips over independent placements: each round starts a new floor and a new
/// agent, so that the scheduler places them afresh (each batch's client is a new process
/// too). One placement is a draw (a wake-up across this machine's cores costs tens of
/// microseconds), so the figures are medians over every batch; each round's ratio is
/// returned too, to show the spread.
fn unpinned_rounds(
    dir: &Path,
    (floor, client): (&Path, &Path),
    answer_len: usize,
) -> (Duration, Duration, Vec<f64>) {
    let rounds = if quick() { 5 } else { 9 };
    let (floor_socket, socket) = (dir.join("floor-round.sock"), dir.join("run/bench.sock"));
    let (mut bare, mut ipc, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let (agent, _) = start_agent(dir);
        let floor = start_floor(floor, &floor_socket, answer_len);
        let (b, i) = round_trips(client, (&floor_socket, &socket), None, &[STATUS]);
        stop(floor);
        stop(agent);
        ratios.push(median(i.clone()).as_secs_f64() / median(b.clone()).as_secs_f64());
        bare.extend(b);
        ipc.extend(i);
    }
    ratios.sort_by(f64::total_cmp);
    (median(bare), median(ipc), ratios)
}

/// Answers per second with `clients` connections asking as fast as they can (the median of
/// three runs).
fn answers_per_second(socket: &Path, clients: usize) -> f64 {
    let total = if quick() { 40_000 } else { 200_000 };
    let per_client = (total / clients).max(200);
    let runs: Vec<u64> = (0..3)
        .map(|_| {
            let mut connected: Vec<Client> =
                (0..clients).map(|_| Client::connect(socket)).collect();
            for c in &mut connected {
                c.ask();
            }
            let started = Instant::now();
            let threads: Vec<_> = connected
                .into_iter()
                .map(|mut c| std::thread::spawn(move || c.mean(per_client)))
                .collect();
            for t in threads {
                t.join().unwrap();
            }
            let rate = (clients * per_client) as f64 / started.elapsed().as_secs_f64();
            rate as u64
        })
        .collect();
    median(runs) as f64
}

/// The p99 of single round trips of one client while `idle` other connections are open.
fn p99_with_idle(socket: &Path, idle: usize) -> Duration {
    let held: Vec<UnixStream> = (0..idle)
        .map(|_| UnixStream::connect(socket).unwrap())
        .collect();
    let mut client = Client::connect(socket);
    client.mean(200);
    let n = if quick() { 5_000 } else { 20_000 };
    let mut times: Vec<Duration> = (0..n)
        .map(|_| {
            let started = Instant::now();
            client.ask();
            started.elapsed()
        })
        .collect();
    times.sort_unstable();
    // The idle ones were still being served: each answers.
    let mut last = Client {
        writer: held[idle - 1].try_clone().unwrap(),
        reader: BufReader::new(held[idle - 1].try_clone().unwrap()),
        line: Vec::new(),
    };
    last.ask();
    drop(held);
    times[times.len() * 99 / 100]
}

/// Sets the CPUs every thread of `pid` may run on (`taskset`).
fn pin(pid: u32, cpus: &str) {
    let ok = Command::new("taskset")
        .args(["-a", "-p", "-c", cpus, &pid.to_string()])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "taskset failed (util-linux is needed to pin)");
}

fn all_cpus() -> String {
    let n = std::thread::available_parallelism().map_or(1, usize::from);
    format!("0-{}", n - 1)
}

/// Builds `benches/{name}.c` (the floor, the client) with the system's C compiler.
fn build_c(dir: &Path, name: &str) -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("benches/{name}.c"));
    let binary = dir.join(name);
    let ok = Command::new("cc")
        .args(["-O2", "-pthread", "-o"])
        .arg(&binary)
        .arg(&source)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "cannot build {} with cc", source.display());
    binary
}

fn start_floor(binary: &Path, socket: &Path, reply_len: usize) -> Child {
    let mut child = Command::new(binary)
        .arg(socket)
        .arg(reply_len.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut ready)
        .unwrap();
    assert_eq!(ready.trim(), "ready");
    child
}

fn proc_status(pid: u32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    text.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Context switches of each thread of `pid`, by thread id: each is a wake-up.
fn wakeups(pid: u32) -> std::collections::HashMap<String, u64> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return std::collections::HashMap::new();
    };
    tasks
        .filter_map(Result::ok)
        .map(|t| {
            let text = std::fs::read_to_string(t.path().join("status")).unwrap_or_default();
            let switches = text
                .lines()
                .filter(|l| {
                    l.starts_with("voluntary_ctxt_switches")
                        || l.starts_with("nonvoluntary_ctxt_switches")
                })
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum::<u64>();
            (t.file_name().to_string_lossy().into_owned(), switches)
        })
        .collect()
}

/// Wake-ups between two readings: of the threads seen at the end, and one for each thread
/// that ended meanwhile (its last wake-up).
fn woke_between(
    before: &std::collections::HashMap<String, u64>,
    after: &std::collections::HashMap<String, u64>,
) -> u64 {
    let running: u64 = after
        .iter()
        .map(|(tid, n)| n.saturating_sub(before.get(tid).copied().unwrap_or(0)))
        .sum();
    let ended = before
        .keys()
        .filter(|tid| !after.contains_key(*tid))
        .count();
    running + ended as u64
}

// Every normal path hands the child to the caller, which stops it; on a timeout it is killed
// here. Only a panic of the benchmark itself would leave it running.
#[allow(clippy::zombie_processes)]
fn start_agent(dir: &Path) -> (Child, Duration) {
    start_agent_as(dir, "companion.toml", "run/bench.sock")
}

/// The agent of configuration `config` in `dir`, answering on `socket` there.
#[allow(clippy::zombie_processes)]
fn start_agent_as(dir: &Path, config: &str, socket: &str) -> (Child, Duration) {
    let socket = dir.join(socket);
    let _ = std::fs::remove_file(&socket);
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_licentric"))
        .arg("--config")
        .arg(dir.join(config))
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

fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

fn row(what: &str, value: String, note: &str) {
    println!("{what:<52} {value:>14}   {note}");
}

/// The floor's figure and the agent's, each a row `(label, time, note)`, then their ratio
/// against the goal of 1.5× (and `more`, if any).
fn against_floor(floor: (&str, Duration, &str), agent: (&str, Duration, &str), more: &str) {
    row(floor.0, us(floor.1), floor.2);
    row(agent.0, us(agent.1), agent.2);
    row(
        "  ratio to the floor",
        format!("{:.2} ×", agent.1.as_secs_f64() / floor.1.as_secs_f64()),
        &format!("goal ≤ 1.5×{more}"),
    );
}

fn us(d: Duration) -> String {
    format!("{:.2} µs", d.as_secs_f64() * 1e6)
}

/// Raises this process's open-file limit to its hard limit (the idle connections need more
/// than the usual 1,024).
fn raise_file_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    limit.current = limit.maximum;
    let _ = setrlimit(Resource::Nofile, limit);
}

/// Nanoseconds per in-memory check of a watch, and the change-to-view latencies (from the
/// import's answer, and from sending it) over `n` changes, each a new signed file.
fn watch_figures(
    socket: &Path,
    signer: &LicenseSigner,
    n: u32,
) -> (f64, f64, Vec<Duration>, Vec<Duration>) {
    let mut options = WatchOptions::new("bench", Environment::Test);
    options.socket = socket.to_owned();
    let watch = Watch::start(options);
    let mut manager = licentric_client::Client::connect(socket).unwrap();
    let base = OffsetDateTime::now_utc() - time::Duration::hours(1);
    let (mut after_answer, mut after_send) = (Vec::new(), Vec::new());
    for i in 0..n {
        let request =
            ActivationRequestFile::from_armored(&manager.request_file().unwrap()).unwrap();
        let issued_at = base + time::Duration::seconds(i64::from(i));
        let code = format!("feature-{i}");
        let file = signer
            .sign(&LicensePayload {
                license_id: "lic_bench".into(),
                product_id: "bench".into(),
                environment: Environment::Test,
                machine_id: "mach_bench".into(),
                fingerprint: request.fingerprint,
                status: licentric_proto::LicenseStatus::Active,
                entitlements: vec![code.clone()],
                max_machines: 1,
                license_expires_at: None,
                issued_at,
                expires_at: issued_at + time::Duration::days(14),
                nonce: Some(request.nonce),
                check_interval: None,
            })
            .unwrap();
        let sent = Instant::now();
        manager.import_license_file(&file).unwrap();
        let answered = Instant::now();
        // As an app would: asking its memory, until the new entitlement is there (yielding
        // the core, so that on two cores the asking does not starve the watcher it waits for).
        while !watch.has_entitlement(&code) {
            assert!(
                sent.elapsed() < Duration::from_secs(5),
                "the change never reached the watch"
            );
            std::thread::yield_now();
        }
        let seen = Instant::now();
        after_answer.push(seen.saturating_duration_since(answered));
        after_send.push(seen - sent);
    }
    let checks = if quick() { 2_000_000 } else { 20_000_000 };
    let started = Instant::now();
    let mut yes = 0u32;
    for _ in 0..checks {
        yes += u32::from(std::hint::black_box(&watch).is_entitled());
    }
    let entitled_ns = started.elapsed().as_secs_f64() * 1e9 / f64::from(checks);
    let code = format!("feature-{}", n - 1);
    let started = Instant::now();
    for _ in 0..checks {
        yes += u32::from(std::hint::black_box(&watch).has_entitlement(&code));
    }
    let code_ns = started.elapsed().as_secs_f64() * 1e9 / f64::from(checks);
    assert_eq!(yes, 2 * checks, "the watch said no to a licensed machine");
    (entitled_ns, code_ns, after_answer, after_send)
}

fn percentile(mut times: Vec<Duration>, p: usize) -> Duration {
    times.sort_unstable();
    times[(times.len() * p / 100).min(times.len() - 1)]
}

fn main() {
    raise_file_limit();
    let dir = tempfile::tempdir().unwrap();
    // `-- seats`: the floating seats' figure only (.ci/bench-server, which runs the server).
    if std::env::args().any(|a| a == "seats") {
        seats::run(dir.path());
        return;
    }
    let signer = LicenseSigner::generate(&mut licentric_core::OsRandom).unwrap();
    let key = signer.public_key().to_hex();
    std::fs::write(
        dir.path().join("companion.toml"),
        format!(
            "product_id = \"bench\"\nproduct_name = \"Bench\"\nenvironment = \"test\"\napi_base_url = \"https://127.0.0.1:9\"\n\
             key_prefix = \"ACME\"\ntrusted_keys = [\"{key}\"]\nallow_file_credential_store = true\ndata_dir = \"data\"\n\
             [ipc]\nsocket = \"run/bench.sock\"\nmanagement = true\nmax_connections = {}\n[notifications]\nenabled = false\n",
            // One process (this one) holds at most three quarters of them.
            IDLE_CONNECTIONS * 2
        ),
    )
    .unwrap();
    println!(
        "licentric agent benchmarks (floor: benches/floor.c, a bare ping-pong in its own process)"
    );

    // Start to first answer: the median of several starts.
    let starts: Vec<Duration> = (0..if quick() { 3 } else { 7 })
        .map(|_| {
            let (child, t) = start_agent(dir.path());
            stop(child);
            t
        })
        .collect();
    row(
        "agent start to first IPC answer (median)",
        format!("{:.2} ms", median(starts).as_secs_f64() * 1e3),
        "goal ≤ 50 ms",
    );

    // One round trip unpinned, over independent placements of the floor and the agent.
    let socket = dir.path().join("run/bench.sock");
    let (agent, _) = start_agent(dir.path());
    let answer_len = Client::connect(&socket).ask();
    stop(agent);
    let floor_binary = build_c(dir.path(), "floor");
    let client = build_c(dir.path(), "client");
    let (bare, ipc, ratios) = unpinned_rounds(dir.path(), (&floor_binary, &client), answer_len);
    against_floor(
        (
            "floor round trip, unpinned",
            bare,
            &format!(
                "({answer_len} bytes back; client in a process of its own, {} placements)",
                ratios.len()
            ),
        ),
        ("IPC status round trip, unpinned", ipc, ""),
        &format!(
            "   (one placement's: {:.2}× to {:.2}×)",
            ratios[0],
            ratios[ratios.len() - 1]
        ),
    );

    let (agent, _) = start_agent(dir.path());
    let pid = agent.id();
    // Idle, before any load: memory, and wake-ups over a quiet period.
    // Past the start-up's blocking-pool threads, which tokio keeps 10 s before they end.
    std::thread::sleep(if quick() {
        Duration::from_millis(500)
    } else {
        Duration::from_secs(11)
    });
    let before = wakeups(pid);
    let idle = if quick() {
        Duration::from_secs(3)
    } else {
        Duration::from_secs(10)
    };
    std::thread::sleep(idle);
    let woke = woke_between(&before, &wakeups(pid));
    row(
        "idle resident memory (VmRSS)",
        format!("{:.1} MB", proc_status(pid, "VmRSS:") as f64 / 1024.0),
        "goal ≤ 10 MB",
    );
    row(
        "wake-ups while idle (context switches)",
        format!("{woke} in {}s", idle.as_secs()),
        "goal: none but its timers (an unlicensed agent has none due)",
    );
    let floor_socket = dir.path().join("floor.sock");
    let floor = start_floor(&floor_binary, &floor_socket, answer_len);
    let cpus = all_cpus();

    // One round trip in each placement, made on purpose: both ends on one core, and the
    // client on one core with the server on another.
    let other = if cpus == "0-0" { "0" } else { "1" };
    let placements = [
        ("one core", "0", "0"),
        ("client and server on two cores", "0", other),
    ];
    for (label, client_cpu, server_cpu) in placements {
        for server in [pid, floor.id()] {
            pin(server, server_cpu);
        }
        let (bare, ipc) = round_trips(
            &client,
            (&floor_socket, &socket),
            Some(client_cpu),
            &[STATUS],
        );
        let (bare, ipc) = (median(bare), median(ipc));
        against_floor(
            (
                &format!("floor round trip, {label}"),
                bare,
                &format!("({answer_len} bytes back)"),
            ),
            (&format!("IPC status round trip, {label}"), ipc, ""),
            "",
        );
    }
    for pid in [pid, floor.id()] {
        pin(pid, &cpus);
    }

    // Answers per second.
    for clients in [1, 8, 64] {
        let bare = answers_per_second(&floor_socket, clients);
        let ipc = answers_per_second(&socket, clients);
        row(
            &format!("answers/s, {clients} client(s): floor"),
            format!("{bare:.0} /s"),
            "",
        );
        row(
            &format!("answers/s, {clients} client(s): agent"),
            format!("{ipc:.0} /s"),
            &format!(
                "{:.2} × the floor{}",
                ipc / bare,
                if clients == 8 {
                    "   goal ≥ 0.5×"
                } else {
                    ""
                }
            ),
        );
    }

    // A well-behaved client among idle connections.
    let bare = p99_with_idle(&floor_socket, IDLE_CONNECTIONS);
    let ipc = p99_with_idle(&socket, IDLE_CONNECTIONS);
    row(
        &format!("p99 round trip, {IDLE_CONNECTIONS} idle connections: floor"),
        us(bare),
        "",
    );
    row(
        &format!("p99 round trip, {IDLE_CONNECTIONS} idle connections: agent"),
        us(ipc),
        "goal < 1 ms",
    );
    stop(floor);

    // Answers from memory, and how fast a change reaches them (which leaves the agent
    // licensed, with the last change's entitlement).
    let changes = if quick() { 100 } else { 500 };
    let (entitled_ns, code_ns, after_answer, after_send) = watch_figures(&socket, &signer, changes);
    row(
        "watch: is_entitled() from memory",
        format!("{entitled_ns:.1} ns"),
        "goal < 100 ns",
    );
    row(
        "watch: has_entitlement(code) from memory",
        format!("{code_ns:.1} ns"),
        "goal < 100 ns",
    );
    row(
        "change to a watch, after the agent's answer",
        format!(
            "{} / {}",
            us(percentile(after_answer.clone(), 50)),
            us(percentile(after_answer, 99))
        ),
        "p50 / p99   goal p99 < 1 ms",
    );
    row(
        "  the same, from sending it (import included)",
        format!(
            "{} / {}",
            us(percentile(after_send.clone(), 50)),
            us(percentile(after_send, 99))
        ),
        "p50 / p99",
    );

    // The other answers from the snapshot, now that the agent holds a licence, on one core,
    // each beside a floor answering as many bytes.
    pin(pid, "0");
    let entitled = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"has_entitlement","params":{{"code":"feature-{}"}}}}"#,
        changes - 1
    );
    for (method, request, expect) in [
        ("has_entitlement", entitled.as_str(), "\"entitled\":true"),
        (
            "license_file",
            r#"{"jsonrpc":"2.0","id":1,"method":"license_file"}"#,
            "BEGIN LICENTRIC",
        ),
    ] {
        let mut asking = Client::connect(&socket);
        let len = asking.send(format!("{request}\n").as_bytes());
        let answer = String::from_utf8_lossy(&asking.line);
        assert!(answer.contains(expect), "{method}: {answer}");
        let socket_of_floor = dir.path().join(format!("floor-{method}.sock"));
        let floor = start_floor(&floor_binary, &socket_of_floor, len);
        pin(floor.id(), "0");
        let (bare, ipc) = round_trips(&client, (&socket_of_floor, &socket), Some("0"), &[request]);
        let (bare, ipc) = (median(bare), median(ipc));
        stop(floor);
        against_floor(
            (
                "floor round trip, one core",
                bare,
                &format!("({len} bytes back)"),
            ),
            (&format!("IPC {method} round trip, one core"), ipc, ""),
            "",
        );
    }

    stop(agent);
}

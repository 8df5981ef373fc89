//! What the companion costs on a desktop, as shipped (figures, not pass/fail): the
//! proportional set size (PSS) summed over every process of the companion — the process and
//! all its descendants, the app's WebKit web and network processes included, each from
//! `/proc/<pid>/smaps_rollup` — and the wake-ups of all their threads while idle:
//!
//! 1. the headless agent (`<cli> agent`), for comparison;
//! 2. started at login (`<app> --hidden`, which becomes `<cli> agent --tray`), no window —
//!    goal ≤ 25 MB, waking only for its timers;
//! 3. the window open (the tray's Open: the native window, `<app>-window`, installed beside
//!    the app) — goal ≤ 120 MB on a real desktop without a GPU;
//! 4. the window closed again: the window ends, the agent and its tray stay;
//! 5. opened from the desktop with no agent running: the app starts the agent with its tray,
//!    hands over to the native window and ends; then the window closed;
//! 6. for comparison, the app's own webview window (`LICENTRIC_WINDOW=webview`, what macOS and
//!    Windows show, where the system shares its webview), and the floor of that technology:
//!    WebKitGTK's own `MiniBrowser` showing a one-line page, drawn as the app draws
//!    (compositing off) — what any window of this webview costs here, before a line of ours.
//!
//! Runs on Xvfb with a tray host (`tests/support/tray-host.py`) and dunst, on the session bus
//! of `.ci/with-secret-service`. The binaries are those in `LICENTRIC_BENCH_BIN` (`.ci/test`
//! passes the vendor package's, unpacked: the release build as shipped), named by
//! `LICENTRIC_BENCH_APP` and `LICENTRIC_BENCH_CLI`, the window titled `LICENTRIC_BENCH_TITLE`;
//! by default this build's `licentric-companion` and `licentric`, titled "Licentric
//! Companion"; the native window is `<app>-window` beside them. Each runs with its built-in
//! configuration in a home of its own.
//!
//! `cargo bench -p licentric-e2e --bench desktop`; `LICENTRIC_BENCH_QUICK=1` for a short run.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use licentric_e2e::gui::{
    Desktop, close_like_a_user, descendants, processes, wait_for, window_painted,
};

fn quick() -> bool {
    std::env::var_os("LICENTRIC_BENCH_QUICK").is_some()
}

/// How long a measured process is left to settle first (tokio keeps a start-up's blocking
/// threads 10 s), and how long it is watched idle.
fn settle() -> Duration {
    Duration::from_secs(if quick() { 2 } else { 11 })
}
fn idle() -> Duration {
    Duration::from_secs(if quick() { 3 } else { 10 })
}

/// The binaries measured, and the window's title.
struct Shipped {
    app: PathBuf,
    cli: PathBuf,
    /// The native window, beside the app.
    window: PathBuf,
    title: String,
}

impl Shipped {
    fn from_env() -> Shipped {
        let var =
            |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.into());
        let dir = std::env::var_os("LICENTRIC_BENCH_BIN").map_or_else(
            || licentric_e2e::bin("licentric").parent().unwrap().to_owned(),
            PathBuf::from,
        );
        let app = var("LICENTRIC_BENCH_APP", "licentric-companion");
        Shipped {
            window: dir.join(format!("{app}-window")),
            app: dir.join(app),
            cli: dir.join(var("LICENTRIC_BENCH_CLI", "licentric")),
            title: var("LICENTRIC_BENCH_TITLE", "Licentric Companion"),
        }
    }
}

/// A companion process, killed with its descendants when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        for pid in descendants(self.0.id()).into_iter().rev() {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.0.wait();
    }
}

/// PSS of `root` and its descendants, in MB, and how many processes that is.
fn pss(root: u32) -> (f64, usize) {
    let each = memory_each(root);
    (each.iter().map(|m| m.pss).sum(), each.len())
}

/// One process's memory, in MB.
struct Memory {
    name: String,
    /// Proportional set size: its private pages and its share of the pages it shares.
    pss: f64,
    /// Unique set size: its private pages alone, what it costs however many other processes
    /// share its libraries.
    uss: f64,
}

/// The memory of `root` and each of its descendants, by process name.
fn memory_each(root: u32) -> Vec<Memory> {
    descendants(root)
        .into_iter()
        .filter_map(|pid| {
            let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
            let field = |name: &str| -> Option<f64> {
                let kb: u64 = text
                    .lines()
                    .find_map(|l| l.strip_prefix(name))?
                    .split_whitespace()
                    .next()?
                    .parse()
                    .ok()?;
                Some(kb as f64 / 1024.0)
            };
            // Its program's name (`comm` cuts names at 15 characters: the app and its window
            // would read the same).
            let name = std::fs::read_link(format!("/proc/{pid}/exe"))
                .ok()
                .and_then(|exe| exe.file_name().map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_default();
            Some(Memory {
                name: name.trim().to_owned(),
                pss: field("Pss:")?,
                uss: field("Private_Clean:")? + field("Private_Dirty:")?,
            })
        })
        .collect()
}

/// Context switches of every thread of `root` and its descendants: each is a wake-up.
fn switches(root: u32) -> HashMap<(u32, String), u64> {
    let mut all = HashMap::new();
    for pid in descendants(root) {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            continue;
        };
        for task in tasks.flatten() {
            let text = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
            let n: u64 = text
                .lines()
                .filter(|l| l.contains("ctxt_switches"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum();
            all.insert((pid, task.file_name().to_string_lossy().into_owned()), n);
        }
    }
    all
}

/// Wake-ups of `root`'s processes over [`idle`], after [`settle`].
fn idle_wakeups(root: u32) -> u64 {
    std::thread::sleep(settle());
    let before = switches(root);
    std::thread::sleep(idle());
    let after = switches(root);
    let running: u64 = after
        .iter()
        .map(|(t, n)| n.saturating_sub(before.get(t).copied().unwrap_or(0)))
        .sum();
    running + before.keys().filter(|t| !after.contains_key(*t)).count() as u64
}

fn row(what: &str, value: String, note: &str) {
    println!("{what:<52} {value:>14}   {note}");
}

/// A home, runtime folder and display of their own for `program`.
fn command(program: &Path, root: &Path, desktop: &Desktop) -> Command {
    let home = root.join("home");
    let runtime = root.join("run");
    for dir in [&home, &runtime] {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    }
    let mut command = Command::new(program);
    command
        .env("HOME", &home)
        .env("XDG_RUNTIME_DIR", &runtime)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_DATA_HOME", home.join(".local/share"))
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .env("DISPLAY", &desktop.display)
        .env("LICENTRIC_MACHINE_ID", "0123456789abcdef0123456789abcdef")
        .env("LICENTRIC_LOG", "error")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

/// Waits until an agent answers on a socket under `root/run`.
fn wait_for_socket(root: &Path) {
    wait_for("the agent's socket", Duration::from_secs(20), || {
        let dir = std::fs::read_dir(root.join("run")).ok()?;
        dir.flatten()
            .filter_map(|d| std::fs::read_dir(d.path()).ok())
            .flatten()
            .flatten()
            .any(|s| std::os::unix::net::UnixStream::connect(s.path()).is_ok())
            .then_some(())
    });
}

/// The process running `program` in the home under `root` (what [`command`] started, or a
/// process it started in turn).
fn running(program: &Path, root: &Path) -> Option<u32> {
    let home = format!("HOME={}", root.join("home").display());
    processes()
        .into_iter()
        .find(|p| p.exe().as_deref() == Some(program) && p.has_env(&home))
        .map(|p| p.pid)
}

/// PSS of the processes `pids` and their descendants, in MB, and how many processes.
fn pss_of(pids: &[u32]) -> (f64, usize) {
    let each: Vec<Memory> = pids.iter().flat_map(|&p| memory_each(p)).collect();
    (each.iter().map(|m| m.pss).sum(), each.len())
}

fn main() {
    let shipped = Shipped::from_env();
    let dir = tempfile::tempdir().unwrap();
    let desktop = Desktop::start(dir.path());
    println!(
        "the companion on a desktop (Xvfb, a tray host, dunst): {} and {}",
        shipped.app.display(),
        shipped.cli.display()
    );

    // 1. The headless agent.
    let headless_root = dir.path().join("headless");
    let headless = Running(
        command(&shipped.cli, &headless_root, &desktop)
            .arg("agent")
            .spawn()
            .unwrap(),
    );
    wait_for_socket(&headless_root);
    let woke = idle_wakeups(headless.0.id());
    let (mb, _) = pss(headless.0.id());
    row(
        "headless agent: PSS",
        format!("{mb:.1} MB"),
        "for comparison",
    );
    row(
        "headless agent: wake-ups while idle",
        format!("{woke} in {}s", idle().as_secs()),
        "its timers only",
    );
    drop(headless);

    // 2. Started at login: the agent with its tray, no window.
    let root = dir.path().join("login");
    let login = Running(
        command(&shipped.app, &root, &desktop)
            .arg("--hidden")
            .spawn()
            .unwrap(),
    );
    let pid = login.0.id();
    wait_for_socket(&root);
    let _ = desktop.tray_icon();
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/exe")).unwrap(),
        shipped.cli,
        "start at login runs the agent with its tray"
    );
    let woke = idle_wakeups(pid);
    let (closed, n) = pss(pid);
    row(
        "at login, window closed: PSS of all processes",
        format!("{closed:.1} MB"),
        &format!("goal ≤ 25 MB ({n} process)"),
    );
    row(
        "at login, window closed: wake-ups while idle",
        format!("{woke} in {}s", idle().as_secs()),
        "goal: its timers only",
    );

    // 3. The window open, from the tray: the native window, the agent's child.
    desktop.tray_click("Open");
    wait_for(
        "the window on screen, drawn",
        Duration::from_secs(60),
        || window_painted(&desktop, &shipped.title).then_some(()),
    );
    std::thread::sleep(settle());
    let (open, n) = pss(pid);
    row(
        "window open: PSS of all processes",
        format!("{open:.1} MB"),
        &format!("goal ≤ 120 MB on a GPU-less desktop ({n} processes: the agent, the window)"),
    );
    let each = memory_each(pid);
    row(
        "window open: USS of all processes",
        format!("{:.1} MB", each.iter().map(|m| m.uss).sum::<f64>()),
        "their private pages alone: what sharing libraries with a desktop cannot lower",
    );
    for m in each {
        row(
            &format!("  of which {}", m.name),
            format!("{:.1} MB", m.pss),
            &format!("USS {:.1} MB", m.uss),
        );
    }

    // 4. Closed again: the window ends, the agent stays.
    assert!(
        close_like_a_user(&desktop, &shipped.title),
        "the window was found"
    );
    wait_for("the window to end", Duration::from_secs(20), || {
        (descendants(pid).len() == 1).then_some(())
    });
    let (again, _) = pss(pid);
    row(
        "window closed again: PSS of all processes",
        format!("{again:.1} MB"),
        "back to the agent alone",
    );
    row(
        "window open against closed",
        format!("{:.1}×", open / closed.max(0.1)),
        "what the window costs while it is open",
    );
    desktop.tray_click("Quit");
    drop(login);

    // 5. Opened from the desktop (no agent running): the app starts the agent with its tray,
    // hands over to the native window and ends.
    let root = dir.path().join("desktop");
    let mut launched = Running(command(&shipped.app, &root, &desktop).spawn().unwrap());
    wait_for(
        "the window on screen, drawn",
        Duration::from_secs(60),
        || window_painted(&desktop, &shipped.title).then_some(()),
    );
    wait_for("the app to end", Duration::from_secs(20), || {
        launched.0.try_wait().unwrap()
    });
    let agent = running(&shipped.cli, &root).expect("the app started the agent");
    let window = running(&shipped.window, &root).expect("the app started the native window");
    std::thread::sleep(settle());
    let (open_desktop, n) = pss_of(&[agent, window]);
    row(
        "opened from the desktop: PSS of all processes",
        format!("{open_desktop:.1} MB"),
        &format!("goal ≤ 120 MB ({n} processes: the agent, the window; the app ended)"),
    );
    assert!(
        close_like_a_user(&desktop, &shipped.title),
        "the window was found"
    );
    wait_for("the window to end", Duration::from_secs(20), || {
        running(&shipped.window, &root).is_none().then_some(())
    });
    std::thread::sleep(settle());
    let (left, n) = pss(agent);
    row(
        "opened from the desktop, then closed: PSS",
        format!("{left:.1} MB"),
        &format!("goal ≤ 25 MB: the agent and its tray ({n} process)"),
    );
    desktop.tray_click("Quit");
    wait_for("the agent to end", Duration::from_secs(20), || {
        running(&shipped.cli, &root).is_none().then_some(())
    });
    drop(launched);

    // 6. For comparison: the app's own webview window (what macOS and Windows show), opened
    // from the desktop: the app, its web processes and the agent it starts beside it.
    let root = dir.path().join("webview");
    let webview = Running(
        command(&shipped.app, &root, &desktop)
            .env("LICENTRIC_WINDOW", "webview")
            .spawn()
            .unwrap(),
    );
    wait_for(
        "the webview window on screen, drawn",
        Duration::from_secs(60),
        || window_painted(&desktop, &shipped.title).then_some(()),
    );
    std::thread::sleep(settle());
    let each = memory_each(webview.0.id());
    let webview_mb: f64 = each.iter().map(|m| m.pss).sum();
    row(
        "the app's webview window instead: PSS",
        format!("{webview_mb:.1} MB"),
        &format!(
            "for comparison ({} processes, USS {:.1} MB): WebKitGTK's",
            each.len(),
            each.iter().map(|m| m.uss).sum::<f64>()
        ),
    );
    row(
        "the native window against the webview's",
        format!("{:.2}×", open / webview_mb.max(0.1)),
        "both with the agent",
    );
    desktop.tray_click("Quit");
    drop(webview);

    // 6. The floor: WebKitGTK's own browser, a one-line page.
    let Some(browser) = minibrowser() else {
        row(
            "WebKitGTK's MiniBrowser, a one-line page",
            "not installed".into(),
            "libwebkit2gtk-4.1-0 ships it",
        );
        return;
    };
    let root = dir.path().join("floor");
    let page = dir.path().join("floor.html");
    std::fs::write(&page, "<!doctype html><title>floor</title><p>Licensed.</p>").unwrap();
    let floor = Running(
        command(&browser, &root, &desktop)
            .env("WEBKIT_DISABLE_COMPOSITING_MODE", "1")
            .arg(format!("file://{}", page.display()))
            .spawn()
            .unwrap(),
    );
    wait_for("the page on screen, drawn", Duration::from_secs(60), || {
        window_painted(&desktop, "floor").then_some(())
    });
    std::thread::sleep(settle());
    let each = memory_each(floor.0.id());
    let floor_mb: f64 = each.iter().map(|m| m.pss).sum();
    row(
        "WebKitGTK's MiniBrowser, a one-line page: PSS",
        format!("{floor_mb:.1} MB"),
        &format!(
            "the webview's floor here ({} processes, USS {:.1} MB)",
            each.len(),
            each.iter().map(|m| m.uss).sum::<f64>()
        ),
    );
    row(
        "the webview window, beside that floor",
        format!("{:.1}×", webview_mb / floor_mb.max(0.1)),
        "the app's processes (the agent's included) against the bare webview",
    );
}

/// WebKitGTK's `MiniBrowser`, where its library package puts it.
fn minibrowser() -> Option<PathBuf> {
    std::fs::read_dir("/usr/lib")
        .ok()?
        .flatten()
        .map(|d| d.path().join("webkit2gtk-4.1/MiniBrowser"))
        .find(|p| p.is_file())
}

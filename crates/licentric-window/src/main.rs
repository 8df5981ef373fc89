//! `licentric-window`: the companion's window on Linux, drawn with GTK 3 in a process started
//! only while it is open. It is a client of the agent (which keeps the licence, the tray and
//! the notifications all day), over the same checked IPC as any local app; closing it leaves
//! the agent as it was.
//!
//! A native window costs a fraction of a webview's memory on Linux, where WebKitGTK is not
//! shared with the system as WebView2 and WKWebView are (see the README's figures). macOS and
//! Windows keep the app's window.
//!
//! Usage: `licentric-window [--config FILE]`, the configuration the agent runs with.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

/// Says a line on standard error (a closed one is no reason to panic).
macro_rules! tell {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

#[cfg(target_os = "linux")]
use licentric_window::{agent, window};

/// What the command line asks.
struct Args {
    config: Option<PathBuf>,
    /// A licence key comes on standard input (a link's, handed over by the app: a key in the
    /// arguments would be in the process list, which other local users read).
    key_from_stdin: bool,
    /// Say `ready` on standard output once the window is up (or a window already up took
    /// this start): the app that started it waits for that before it ends.
    say_ready: bool,
    /// With no agent running, start one for the window's life (a desktop with no tray to
    /// keep one all day): it ends when the window closes.
    own_agent: bool,
}

/// The option that hands a key over on standard input.
const KEY_FROM_STDIN: &str = "--key-from-stdin";
/// The option that asks for `ready`.
const SAY_READY: &str = "--say-ready";
/// The option that starts an agent for the window's life.
const OWN_AGENT: &str = "--own-agent";
/// What is said once the window is up.
const READY: &str = "ready";

const USAGE: &str =
    "usage: licentric-window [--config FILE] [--key-from-stdin] [--say-ready] [--own-agent]";

fn main() -> ExitCode {
    let mut parsed = Args {
        config: None,
        key_from_stdin: false,
        say_ready: false,
        own_agent: false,
    };
    let mut args = std::env::args_os().skip(1);
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("--config") => match args.next() {
                Some(path) => parsed.config = Some(PathBuf::from(path)),
                None => return usage("--config needs a file"),
            },
            Some(KEY_FROM_STDIN) => parsed.key_from_stdin = true,
            Some(SAY_READY) => parsed.say_ready = true,
            Some(OWN_AGENT) => parsed.own_agent = true,
            Some("--help" | "-h") => {
                let _ = writeln!(std::io::stdout().lock(), "{USAGE}");
                return ExitCode::SUCCESS;
            }
            _ => return usage(&format!("unexpected argument {}", arg.to_string_lossy())),
        }
    }
    run(parsed)
}

fn usage(problem: &str) -> ExitCode {
    tell!("licentric-window: {problem}\n{USAGE}");
    ExitCode::from(2)
}

/// GTK 3 draws its widgets with cairo, never with GL (only a GL area would need it), yet on
/// X11 it sets up GLX at start: that loads the system's GL driver (on a machine with no GPU,
/// Mesa's software renderer and LLVM, 30 MB). Without it the window costs a third.
const GDK_GL: &str = "GDK_GL";

/// Starts this program again with GL off (the same process: `exec`), unless the user's
/// environment says otherwise. Should that fail, it goes on with GL.
#[cfg(target_os = "linux")]
fn without_gl() {
    use std::os::unix::process::CommandExt as _;
    if std::env::var_os(GDK_GL).is_some() {
        return;
    }
    if let Ok(exe) = std::env::current_exe() {
        let e = std::process::Command::new(exe)
            .args(std::env::args_os().skip(1))
            .env(GDK_GL, "disable")
            .exec();
        tell!("licentric-window: cannot start with GL off ({e}); going on with it");
    }
}

/// One window per user, product and environment (as the app is one instance): a second
/// start shows the first window (with the key it was handed, if any) and ends.
#[cfg(target_os = "linux")]
fn run(args: Args) -> ExitCode {
    use std::cell::RefCell;
    use std::rc::Rc;

    use gtk::prelude::*;
    use gtk::{gio, glib};
    use licentric_agent::config::CompanionConfig;

    without_gl();

    let config =
        match CompanionConfig::find(args.config.as_deref(), licentric_agent::config::BUILT_IN) {
            Ok(c) => c,
            Err(e) => {
                tell!("licentric-window: {e}");
                return ExitCode::FAILURE;
            }
        };
    let socket = match licentric_agent::ipc::socket_for(&config) {
        Ok(s) => s,
        Err(e) => {
            tell!("licentric-window: {e}");
            return ExitCode::FAILURE;
        }
    };
    let brand = licentric_agent::brand::built_in();
    // Its windows are the app's: the desktop shows them under the app's entry and icon.
    glib::set_prgname(Some(&brand.binary));
    glib::set_application_name(&brand.app_name);
    let id = format!(
        "{}.window",
        licentric_desktop::instance_name(Some((config.product_id(), config.environment())))
    );
    let app = gtk::Application::new(Some(&id), gio::ApplicationFlags::HANDLES_COMMAND_LINE);
    let agent = agent::Agent {
        socket,
        product_id: config.product_id().to_owned(),
        environment: config.environment(),
    };
    let product = RefCell::new(Some(product(
        &config,
        brand,
        &agent.socket,
        args.config.clone(),
    )));
    let shown: RefCell<Option<Rc<window::Ui>>> = RefCell::new(None);
    let own_agent: Rc<RefCell<Option<std::process::Child>>> = Rc::default();
    let ended = Rc::clone(&own_agent);
    app.connect_shutdown(move |_| stop(ended.borrow_mut().take()));
    let (config_file, say_ready) = (args.config.clone(), args.say_ready);
    // Runs in the first instance, for its own start and each later one's.
    app.connect_command_line(move |app, line| {
        let existing = shown.borrow().clone();
        let ui = match (existing, product.borrow_mut().take()) {
            (Some(ui), _) => ui,
            (None, Some(product)) => {
                if line.arguments().iter().any(|a| a == OWN_AGENT) && agent.connect().is_err() {
                    *own_agent.borrow_mut() = start_agent(&agent, config_file.as_deref());
                }
                if let Some(program) = &product.app_program
                    && let Err(e) = licentric_desktop::login::xdg::refresh(
                        &product.login.name,
                        program,
                        &product.login.args,
                    )
                {
                    tell!("licentric-window: cannot write the start-at-login entry again: {e}");
                }
                let ui = open(app, &agent, product);
                *shown.borrow_mut() = Some(Rc::clone(&ui));
                ui
            }
            (None, None) => return 1,
        };
        if line.arguments().iter().any(|a| a == KEY_FROM_STDIN)
            && let Some(input) = line.stdin()
        {
            read_key(input, Rc::clone(&ui));
        }
        ui.present();
        if !line.is_remote() && say_ready {
            say(READY);
        }
        0
    });
    let mut forwarded = vec!["licentric-window"];
    if args.key_from_stdin {
        forwarded.push(KEY_FROM_STDIN);
    }
    if args.own_agent {
        forwarded.push(OWN_AGENT);
    }
    // Registered first, to know whether a window is up already: this start is then its.
    let remote = app.register(None::<&gio::Cancellable>).is_ok() && app.is_remote();
    let code = app.run_with_args(&forwarded);
    if remote && code == glib::ExitCode::SUCCESS && args.say_ready {
        say(READY);
    }
    if code == glib::ExitCode::SUCCESS {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Says `line` on standard output (whoever reads it may have gone).
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// The window of the first instance, following `agent`.
#[cfg(target_os = "linux")]
fn open(
    app: &gtk::Application,
    agent: &agent::Agent,
    product: window::Product,
) -> std::rc::Rc<window::Ui> {
    let (events, mut received) = tokio::sync::mpsc::unbounded_channel();
    let requests = agent.serve(events.clone());
    let asks = agent.side(events.clone());
    let ui = window::Ui::new(app, product, requests, asks);
    agent.follow(events);
    let shown = std::rc::Rc::clone(&ui);
    gtk::glib::MainContext::default().spawn_local(async move {
        while let Some(event) = received.recv().await {
            shown.event(event);
        }
    });
    ui
}

/// Starts the agent for the window's life (`<cli> [--config FILE] agent`, beside this
/// program) and waits until it answers (five seconds at most).
#[cfg(target_os = "linux")]
fn start_agent(
    agent: &agent::Agent,
    config: Option<&std::path::Path>,
) -> Option<std::process::Child> {
    let cli = std::env::current_exe()
        .ok()?
        .with_file_name(&licentric_agent::brand::built_in().cli);
    let mut command = std::process::Command::new(cli);
    if let Some(config) = config {
        command.arg("--config").arg(config);
    }
    let mut child = command
        .arg("agent")
        .env_remove(GDK_GL)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .inspect_err(|e| tell!("licentric-window: cannot start the agent: {e}"))
        .ok()?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while agent.connect().is_err() {
        if std::time::Instant::now() > deadline || !matches!(child.try_wait(), Ok(None)) {
            tell!("licentric-window: the agent started for this window does not answer");
            stop(Some(child));
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Some(child)
}

/// Ends the agent started for the window, as a service manager would: asked (SIGTERM, so
/// that a seat it holds goes back), and waited for.
#[cfg(target_os = "linux")]
fn stop(agent: Option<std::process::Child>) {
    let Some(mut agent) = agent else {
        return;
    };
    if let Some(pid) = rustix::process::Pid::from_raw(agent.id().cast_signed()) {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    }
    let _ = agent.wait();
}

/// A key handed over on `input` (a start's standard input, passed on by D-Bus): its first
/// line, read without waiting on it (a standard input that never ends must not stop the
/// window), and given up after two seconds.
#[cfg(target_os = "linux")]
fn read_key(input: gtk::gio::InputStream, ui: std::rc::Rc<window::Ui>) {
    use gtk::prelude::*;
    let cancel = gtk::gio::Cancellable::new();
    let timeout = cancel.clone();
    let timer = gtk::glib::timeout_add_seconds_local_once(2, move || timeout.cancel());
    let held = input.clone();
    input.read_bytes_async(
        256,
        gtk::glib::Priority::DEFAULT,
        Some(&cancel),
        move |read| {
            let _ = &held;
            timer.remove();
            let Ok(bytes) = read else {
                return;
            };
            let text = String::from_utf8_lossy(&bytes);
            if let Some(key) = text.lines().next().map(str::trim).filter(|k| !k.is_empty()) {
                ui.link_key(key.to_owned());
            }
        },
    );
}

/// What the window shows of the product and its desktop, read once at start.
#[cfg(target_os = "linux")]
fn product(
    config: &licentric_agent::config::CompanionConfig,
    brand: &licentric_agent::brand::Brand,
    socket: &std::path::Path,
    named: Option<PathBuf>,
) -> window::Product {
    window::Product {
        app_name: brand.app_name.clone(),
        name: config.product_name().to_owned(),
        prefix: config.prefix().clone(),
        test: config.environment() == licentric_client::Environment::Test,
        help_url: brand.help_url.clone(),
        binary: brand.binary.clone(),
        settings: licentric_desktop::settings::SettingsFile::in_dir(
            &licentric_agent::agent::data_dir(config),
        ),
        notifications_default: config.notifications().enabled,
        login: licentric_desktop::login::Entry::new(named, Some(config)),
        // The app beside this program, which the entry starts in the tray.
        app_program: licentric_desktop::window::app()
            .and_then(|app| licentric_desktop::login::xdg::program_of(Ok(app)).ok()),
        proxy: licentric_agent::proxy::in_use_for(config),
        preferences: licentric_desktop::settings::preferences_file(Some(config))
            .map(|path| path.display().to_string()),
        socket: socket.display().to_string(),
        api_base_url: config.api_base_url().to_owned(),
    }
}

#[cfg(not(target_os = "linux"))]
fn run(_args: Args) -> ExitCode {
    tell!("licentric-window: the native window is built for Linux; here, open the app");
    ExitCode::FAILURE
}

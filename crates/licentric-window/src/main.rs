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
}

/// The option that hands a key over on standard input.
const KEY_FROM_STDIN: &str = "--key-from-stdin";

const USAGE: &str = "usage: licentric-window [--config FILE] [--key-from-stdin]";

fn main() -> ExitCode {
    let mut parsed = Args {
        config: None,
        key_from_stdin: false,
    };
    let mut args = std::env::args_os().skip(1);
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("--config") => match args.next() {
                Some(path) => parsed.config = Some(PathBuf::from(path)),
                None => return usage("--config needs a file"),
            },
            Some(KEY_FROM_STDIN) => parsed.key_from_stdin = true,
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
    let product = RefCell::new(Some(product(&config, brand, &agent.socket, args.config)));
    let shown: RefCell<Option<Rc<window::Ui>>> = RefCell::new(None);
    // Runs in the first instance, for its own start and each later one's.
    app.connect_command_line(move |app, line| {
        let existing = shown.borrow().clone();
        let ui = match (existing, product.borrow_mut().take()) {
            (Some(ui), _) => ui,
            (None, Some(product)) => {
                let ui = open(app, &agent, product);
                *shown.borrow_mut() = Some(Rc::clone(&ui));
                ui
            }
            (None, None) => return 1,
        };
        if line.arguments().iter().any(|a| a == KEY_FROM_STDIN)
            && let Some(key) = line.stdin().and_then(|input| read_key(&input))
        {
            ui.link_key(key);
        }
        ui.present();
        0
    });
    let mut forwarded = vec!["licentric-window"];
    if args.key_from_stdin {
        forwarded.push(KEY_FROM_STDIN);
    }
    match app.run_with_args(&forwarded) {
        code if code == glib::ExitCode::SUCCESS => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    }
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
    let ui = window::Ui::new(app, product, requests, agent::Side::new(agent.clone()));
    agent.follow(events);
    let shown = std::rc::Rc::clone(&ui);
    gtk::glib::MainContext::default().spawn_local(async move {
        while let Some(event) = received.recv().await {
            shown.event(event);
        }
    });
    ui
}

/// A key handed over on `input` (a start's standard input, passed on by D-Bus): its first
/// line, at most a few hundred bytes (a key is 24 characters).
#[cfg(target_os = "linux")]
fn read_key(input: &gtk::gio::InputStream) -> Option<String> {
    use gtk::prelude::*;
    let mut buffer = [0_u8; 256];
    let (read, _) = input
        .read_all(&mut buffer, None::<&gtk::gio::Cancellable>)
        .ok()?;
    let text = std::str::from_utf8(&buffer[..read]).ok()?;
    let key = text.lines().next()?.trim();
    (!key.is_empty()).then(|| key.to_owned())
}

/// What the window shows of the product and its desktop, read once at start.
#[cfg(target_os = "linux")]
fn product(
    config: &licentric_agent::config::CompanionConfig,
    brand: &licentric_agent::brand::Brand,
    socket: &std::path::Path,
    named: Option<PathBuf>,
) -> window::Product {
    let host = config
        .api_base_url()
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split(['/', ':']).next())
        .unwrap_or_default()
        .to_owned();
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
        app_program: std::env::current_exe()
            .ok()
            .map(|exe| exe.with_file_name(&brand.binary))
            .filter(|app| app.is_file())
            .and_then(|app| licentric_desktop::login::xdg::program_of(Ok(app)).ok()),
        proxy: licentric_agent::proxy::in_use(config.proxy(), &host, |name| {
            std::env::var(name).ok()
        }),
        preferences: match config.source() {
            licentric_agent::config::ConfigSource::TestFile(path) => Some(path.clone()),
            _ => config.preferences().map(std::path::Path::to_path_buf),
        }
        .or_else(|| brand.config_dir().map(|d| d.join("companion.toml")))
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

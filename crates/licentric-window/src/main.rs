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

fn main() -> ExitCode {
    let mut config = None;
    let mut args = std::env::args_os().skip(1);
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("--config") => match args.next() {
                Some(path) => config = Some(PathBuf::from(path)),
                None => return usage("--config needs a file"),
            },
            Some("--help" | "-h") => {
                let _ = writeln!(
                    std::io::stdout().lock(),
                    "usage: licentric-window [--config FILE]"
                );
                return ExitCode::SUCCESS;
            }
            _ => return usage(&format!("unexpected argument {}", arg.to_string_lossy())),
        }
    }
    run(config)
}

fn usage(problem: &str) -> ExitCode {
    tell!("licentric-window: {problem}\nusage: licentric-window [--config FILE]");
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

#[cfg(target_os = "linux")]
fn run(config: Option<PathBuf>) -> ExitCode {
    use gtk::glib;
    use licentric_agent::config::CompanionConfig;

    without_gl();

    let config = match CompanionConfig::find(config.as_deref(), licentric_agent::config::BUILT_IN) {
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
    glib::set_prgname(Some("licentric-window"));
    glib::set_application_name(&brand.app_name);
    if let Err(e) = gtk::init() {
        tell!("licentric-window: cannot open a window: {e}");
        return ExitCode::FAILURE;
    }
    let agent = agent::Agent {
        socket,
        product_id: config.product_id().to_owned(),
        environment: config.environment(),
    };
    let (events, mut received) = tokio::sync::mpsc::unbounded_channel();
    let requests = agent.serve(events.clone());
    let ui = window::Ui::new(
        product(&config, brand, &agent.socket),
        requests,
        agent::Side::new(agent.clone()),
    );
    agent.follow(events);
    let shown = std::rc::Rc::clone(&ui);
    glib::MainContext::default().spawn_local(async move {
        while let Some(event) = received.recv().await {
            shown.event(event);
        }
    });
    ui.present();
    gtk::main();
    ExitCode::SUCCESS
}

/// What the window shows of the product and its desktop, read once at start.
#[cfg(target_os = "linux")]
fn product(
    config: &licentric_agent::config::CompanionConfig,
    brand: &licentric_agent::brand::Brand,
    socket: &std::path::Path,
) -> window::Product {
    let host = config
        .api_base_url()
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split(['/', ':']).next())
        .unwrap_or_default()
        .to_owned();
    let named = std::env::args_os()
        .skip_while(|a| a != "--config")
        .nth(1)
        .map(PathBuf::from);
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
fn run(_config: Option<PathBuf>) -> ExitCode {
    tell!("licentric-window: the native window is built for Linux; here, open the app");
    ExitCode::FAILURE
}

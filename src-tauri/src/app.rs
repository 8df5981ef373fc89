//! Start-up, the window's life cycle, one instance per user, and the hand-over of links.
//!
//! The app embeds the same [`Agent`] as `licentric agent` and serves the local IPC while it
//! runs. Closing the window destroys it (the webview's memory is released) and the app stays
//! in the tray; Quit in the tray ends it. A second launch focuses the first and hands over
//! its `licentric://activate?key=…` link.
//!
//! On Linux, opened from the desktop with no agent running, the app first starts the agent
//! beside it with its tray (`licentric agent --tray`) and is its client, as below, so that
//! closing the window leaves only the agent in memory.
//!
//! Where a headless agent already serves the product, the app is its client instead. Start at
//! login (`--hidden`) on Linux makes exactly that the normal case: the process becomes
//! `licentric agent --tray` (the command-line tool beside the app), whose own tray starts the
//! app when the user opens it, so all day only the agent is in memory — no toolkit, no
//! webview. The app then shows no tray of its own and ends when its window closes.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use licentric_agent::config::CompanionConfig;
use licentric_agent::notify::Notifier as _;
use licentric_agent::{Agent, AgentOptions, ipc};
use licentric_proto::ipc::Status;
use tauri::{AppHandle, Emitter, Manager, RunEvent, WebviewWindowBuilder};
use tokio::sync::oneshot;

use crate::args::Args;
use crate::backend::{Backend, Headless};
use crate::error::UiError;
use crate::notifier::Switchable;
use licentric_desktop::instance_name;
use licentric_desktop::settings::{Settings, SettingsFile};

/// The main window's label.
pub const MAIN_WINDOW: &str = "main";
/// The event carrying every status change to the UI.
pub const STATUS_EVENT: &str = "status";
/// The event carrying a key handed over by a second launch.
pub const LINK_EVENT: &str = "link";
/// The event saying whether the background agent the app is a client of runs
/// (`{"running": bool}`): while it does not, nothing the window shows is current.
pub const AGENT_EVENT: &str = "agent";

/// The app's state, managed by Tauri.
pub struct Companion {
    /// The running agent, or why it could not start (shown in the window).
    pub started: Result<Started, UiError>,
    /// This computer's name.
    pub machine_name: String,
    /// The agent the app is a client of was started by the app, beside it, with its
    /// environment and configuration (so its proxy is the one the app would use).
    pub agent_started_here: bool,
    /// Whether the agent answers: the app's own always does; a background agent may stop
    /// (told to the window as [`AGENT_EVENT`], and kept here for a window that opens later).
    agent_running: Arc<AtomicBool>,
    link_key: Mutex<Option<String>>,
}

/// The agent and what the app keeps beside it.
pub struct Started {
    /// Where the answers come from: the app's own agent, or a headless one already running.
    pub backend: Backend,
    /// The configuration.
    pub config: CompanionConfig,
    /// The IPC socket the agent serves.
    pub socket: PathBuf,
    notifier: Arc<Switchable>,
    settings_file: SettingsFile,
    settings: Mutex<Settings>,
    ipc: Mutex<Option<(oneshot::Sender<()>, tauri::async_runtime::JoinHandle<()>)>>,
}

impl Started {
    /// A desktop notification (unless the user turned them off), sent off the async
    /// threads: a notification daemon that is slow to answer holds only its own call.
    pub async fn notify(&self, summary: String, body: String) {
        let notifier = Arc::clone(&self.notifier);
        let _ =
            tauri::async_runtime::spawn_blocking(move || notifier.notify(&summary, &body)).await;
    }
}

impl Companion {
    /// The agent, or the start-up error.
    ///
    /// # Errors
    /// The start-up error, when the agent did not start.
    pub fn started(&self) -> Result<&Started, UiError> {
        self.started.as_ref().map_err(Clone::clone)
    }

    /// The key a link handed over, once.
    pub fn take_link_key(&self) -> Option<String> {
        self.link_key
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// Whether the agent answers now (see [`AGENT_EVENT`]).
    pub fn agent_running(&self) -> bool {
        self.agent_running.load(Ordering::Relaxed)
    }

    fn set_link_key(&self, key: String) {
        *self.link_key.lock().unwrap_or_else(PoisonError::into_inner) = Some(key);
    }
}

impl Started {
    /// The user's settings.
    pub fn settings(&self) -> Settings {
        *self.settings.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Changes, applies and saves the settings.
    ///
    /// # Errors
    /// When they cannot be saved (the change is then not applied).
    pub fn update_settings(&self, change: impl FnOnce(&mut Settings)) -> Result<Settings, UiError> {
        let mut settings = self.settings.lock().unwrap_or_else(PoisonError::into_inner);
        let mut next = *settings;
        change(&mut next);
        self.settings_file.save(&next)?;
        self.notifier.set(next.notifications);
        *settings = next;
        Ok(next)
    }
}

/// Start at login (`--hidden`) on desktops with StatusNotifierItem trays: this process becomes
/// the agent with a tray of its own (`<cli> agent --tray`, installed beside the app), so no
/// webview and no toolkit stay in memory all day; the tray's Open starts the app when it is
/// wanted, as the agent's client. Returns only when that cannot be done (no command-line tool
/// beside the app) or would show nothing (a configuration the agent refuses, which would end
/// it before its tray is up): the app then starts in its own tray, whose Open says what is
/// wrong.
#[cfg(all(unix, not(target_os = "macos")))]
fn become_the_agent(args: &Args) {
    use std::os::unix::process::CommandExt as _;
    match CompanionConfig::find(args.config.as_deref(), licentric_agent::config::BUILT_IN) {
        Err(error) => {
            tracing::warn!(%error, "the configuration is refused: starting in the app's own tray");
            return;
        }
        // The window activates through its agent; an agent apart would refuse it that.
        Ok(config) if !config.ipc().management => return,
        Ok(_) => {}
    }
    let Some(mut command) = agent_with_tray(args) else {
        tracing::info!("no command-line tool beside the app: starting in the app's own tray");
        return;
    };
    let error = command.exec();
    tracing::warn!(%error, "cannot start the agent with its tray; starting in the app's own tray");
}

/// `<cli> [--config FILE] agent --tray`, with the command-line tool installed beside the app;
/// `None` without one.
#[cfg(all(unix, not(target_os = "macos")))]
fn agent_with_tray(args: &Args) -> Option<std::process::Command> {
    let cli = std::env::current_exe()
        .ok()
        .map(|exe| exe.with_file_name(&licentric_agent::brand::built_in().cli))
        .filter(|cli| cli.is_file())?;
    let mut command = std::process::Command::new(cli);
    if let Some(config) = &args.config {
        command.arg("--config").arg(config);
    }
    command.args(["agent", "--tray"]);
    Some(command)
}

/// Opened from the desktop with no agent running: the agent starts beside the app, with its tray
/// (`<cli> agent --tray`, as at login), and the app becomes its client — so that closing the
/// window ends the app and only the agent stays in memory, as after a start at login, rather
/// than the app with its webview's libraries all day. Left to the app itself (its own agent,
/// as before) where that cannot be: no command-line tool beside the app, no session bus for a
/// tray, management switched off by the vendor (the window could not activate through another
/// agent), or an agent whose tray is not up within 3 s (it ends by itself when it cannot show
/// one, or when another agent came up meanwhile, which the app then follows). When the agent
/// ends well (the user chose Quit in its tray, or the session ended), the app ends with it.
/// Whether it runs.
#[cfg(all(unix, not(target_os = "macos")))]
fn start_the_agent_beside(
    app: &AppHandle,
    args: &Args,
    config: &CompanionConfig,
    socket: &std::path::Path,
) -> bool {
    let answers = || {
        licentric_client::Client::connect_to(socket, config.product_id(), config.environment())
            .is_ok()
    };
    if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none()
        || !config.ipc().management
        || answers()
    {
        return false;
    }
    let Some(mut agent) = spawn_agent_with_tray(args, socket) else {
        return false;
    };
    // Waited for, so its end leaves no zombie; a Quit in its tray ends the app too.
    let app = app.clone();
    std::thread::spawn(move || {
        if agent.wait().is_ok_and(|ended| ended.success()) {
            tracing::info!("the agent beside the app ended: so does the app");
            app.exit(0);
        }
    });
    tracing::info!("the agent runs beside the app, with its tray");
    true
}

/// Starts `<cli> agent --tray` beside the app and waits (3 s at most) until its tray is up
/// and it answers on `socket`; `None` (the agent stopped) where it does not: it ends by
/// itself when it cannot show a tray, or when another agent came up meanwhile.
#[cfg(all(unix, not(target_os = "macos")))]
fn spawn_agent_with_tray(args: &Args, socket: &std::path::Path) -> Option<std::process::Child> {
    let mut command = agent_with_tray(args)?;
    // It says `ready` once its tray is up, and ends instead where it cannot show one (a bus
    // that does not answer, say): an agent that nobody could quit is not left running.
    let mut agent = match command
        .arg("--beside-app")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .spawn()
    {
        Ok(agent) => agent,
        Err(e) => {
            tracing::warn!(error = %e, "cannot start the agent beside the app");
            return None;
        }
    };
    // One short line (the agent lets go of the pipe once it has said it).
    let ready = first_line(&mut agent, std::time::Duration::from_secs(3))
        .is_some_and(|line| line.trim_end() == licentric_client::endpoint::TRAY_READY);
    if !ready {
        // Ended (it could not start, another agent serves the product, no tray), or silent.
        tracing::warn!("the agent beside the app did not start with its tray");
        stop(agent);
        return None;
    }
    if licentric_client::endpoint::listener_pid(socket) != Some(agent.id()) {
        // Not the one answering: the app's own start finds out who does.
        tracing::warn!("the agent beside the app does not answer");
        stop(agent);
        return None;
    }
    Some(agent)
}

/// Opened on a Linux desktop where the native window is installed (beside the app, as the
/// vendor's package installs it): the window is that, not the webview. The agent runs with
/// its tray (started here when none answers, as [`start_the_agent_beside`] does; on a desktop
/// with no tray, the window starts one for its own life), the window is started as its client
/// — handed a link's key on its standard input, never in its arguments — and once it says it
/// is up, the app ends. The window is one per product: started again, it shows the first.
/// Returns only where that cannot be done (no native window, no session bus, an app of this
/// product already running, a configuration that is refused or has management off, a window
/// that does not come up): the app's own window then.
#[cfg(all(unix, not(target_os = "macos")))]
fn hand_over_to_the_native_window(args: &Args) -> Option<std::process::ExitCode> {
    use std::io::Write as _;
    let window = licentric_desktop::window::installed()?;
    // A link's key goes from the process list at once: what follows may wait seconds.
    if let Some(key) = &args.link_key_as_given
        && let Err(e) = licentric_platform::arguments::hide_argument(key)
    {
        tracing::warn!(error = %e, "cannot hide the link's key in the process list");
    }
    std::env::var_os("DBUS_SESSION_BUS_ADDRESS")?;
    let config =
        CompanionConfig::find(args.config.as_deref(), licentric_agent::config::BUILT_IN).ok()?;
    if !config.ipc().management {
        return None;
    }
    // An app of this product already runs (its own agent, its webview): it takes this
    // launch, as one instance does.
    // (The single-instance plugin owns the name with its suffix.)
    let instance = instance_name(Some((config.product_id(), config.environment())));
    if bus_name_owned(&format!("{instance}.SingleInstance")) {
        return None;
    }
    let socket = ipc::socket_for(&config).ok()?;
    let answers =
        licentric_client::Client::connect_to(&socket, config.product_id(), config.environment())
            .is_ok();
    // Started here, the agent with its tray outlives the app: its Quit (or the session's end)
    // ends it. Where no tray can be shown, the window keeps an agent for its own life.
    let own_agent = !answers && spawn_agent_with_tray(args, &socket).is_none();
    if answers
        && !licentric_client::endpoint::tray_shown(&socket)
        && let Some(mut tray) = agent_with_tray(args)
    {
        // An agent with no tray (the systemd unit's): its tray client, which outlives the app.
        let _ = tray
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .spawn()
            .inspect_err(|e| tracing::warn!(error = %e, "cannot start the agent's tray"));
    }
    let mut command = std::process::Command::new(&window);
    command
        .arg("--say-ready")
        .stdout(std::process::Stdio::piped());
    if let Some(config) = &args.config {
        command.arg("--config").arg(config);
    }
    if own_agent {
        command.arg("--own-agent");
    }
    if args.link_key.is_some() {
        command
            .arg("--key-from-stdin")
            .stdin(std::process::Stdio::piped());
    } else {
        command.stdin(std::process::Stdio::null());
    }
    let mut started = match command.spawn() {
        Ok(started) => started,
        Err(e) => {
            tracing::warn!(error = %e, window = %window.display(), "cannot start the native window");
            return None;
        }
    };
    if let (Some(key), Some(mut input)) = (&args.link_key, started.stdin.take()) {
        let _ = writeln!(input, "{key}");
    }
    let said = first_line(&mut started, std::time::Duration::from_secs(10));
    if said.as_deref().map(str::trim_end) != Some("ready") {
        // It could not open (no display it can use, a library missing): the webview.
        tracing::warn!("the native window did not come up; the app's own window instead");
        let _ = started.kill();
        let _ = started.wait();
        return None;
    }
    tracing::info!("the native window is open; the app ends");
    Some(std::process::ExitCode::SUCCESS)
}

/// The first line `child` says on its standard output, within `timeout`; whatever it says
/// after is read to the end in the background, so that it never writes into a pipe that is
/// full or closed while this process lives.
#[cfg(all(unix, not(target_os = "macos")))]
fn first_line(child: &mut std::process::Child, timeout: std::time::Duration) -> Option<String> {
    let out = child.stdout.take()?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::{BufRead as _, Read as _};
        let mut out = std::io::BufReader::new(out);
        let mut line = String::new();
        let _ = (&mut out).take(64).read_line(&mut line);
        let _ = tx.send(line);
        let _ = std::io::copy(&mut out, &mut std::io::sink());
    });
    rx.recv_timeout(timeout).ok()
}

/// Whether `name` has an owner on the session bus (asked within a second; no answer: no).
#[cfg(all(unix, not(target_os = "macos")))]
fn bus_name_owned(name: &str) -> bool {
    let Ok(bus) = dbus::blocking::Connection::new_session() else {
        return false;
    };
    let proxy = bus.with_proxy(
        "org.freedesktop.DBus",
        "/org/freedesktop/DBus",
        std::time::Duration::from_secs(1),
    );
    let owned: Result<(bool,), _> =
        proxy.method_call("org.freedesktop.DBus", "NameHasOwner", (name,));
    owned.is_ok_and(|(owned,)| owned)
}

/// Ends the agent started beside the app as a service manager would: asked first (SIGTERM, so
/// that a seat it holds goes back), killed if it has not ended a second later; waited for.
#[cfg(all(unix, not(target_os = "macos")))]
fn stop(mut agent: std::process::Child) {
    if let Some(pid) = rustix::process::Pid::from_raw(agent.id().cast_signed()) {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    while std::time::Instant::now() < deadline {
        if !matches!(agent.try_wait(), Ok(None)) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = agent.kill();
    let _ = agent.wait();
}

/// Leaves the tray to another process where it can, and says whether it did: as the client of
/// a headless agent on Linux, the tray belongs to a small process that outlives the window —
/// the agent's own (`agent --tray`), or, when nothing shows one yet (an agent started without
/// `--tray`, such as the systemd unit), `agent --tray` started here and now, which becomes
/// that agent's tray client. Likewise when no agent could start here and the tray of one that
/// could not (`agent --tray` saying so, which opened this window) is shown for `socket`.
/// Closing the window then ends the app. Otherwise (its own agent, or no command-line tool
/// beside it) the app keeps the tray itself.
fn tray_left_to_another_process(
    args: &Args,
    started: Result<&Started, &UiError>,
    socket: Option<&std::path::Path>,
) -> bool {
    #[cfg(all(unix, not(target_os = "macos")))]
    if started.is_err() && socket.is_some_and(licentric_client::endpoint::tray_shown) {
        return true;
    }
    #[cfg(all(unix, not(target_os = "macos")))]
    if let Ok(started) = started
        && matches!(started.backend, Backend::Headless(_))
    {
        if licentric_client::endpoint::tray_shown(&started.socket) {
            return true;
        }
        if let Some(mut command) = agent_with_tray(args) {
            let spawned = command
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .spawn();
            match spawned {
                Ok(mut tray) => {
                    // Waited for, so its end leaves no zombie while the app runs.
                    std::thread::spawn(move || tray.wait());
                    return true;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot start the agent's tray; the app keeps one")
                }
            }
        }
    }
    let _ = (args, started, socket);
    false
}

/// Runs the app until Quit.
pub fn run() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // A log line that cannot be written (a full disk under a redirected log) is dropped:
        // by default the subscriber reports it with `eprintln!`, which panics.
        .log_internal_errors(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LICENTRIC_LOG")
                .unwrap_or_else(|_| "warn,licentric_agent=info,licentric_companion=info".into()),
        )
        .init();
    let args = crate::args::parse(std::env::args().skip(1));
    #[cfg(all(unix, not(target_os = "macos")))]
    if args.hidden {
        become_the_agent(&args);
    } else if let Some(code) = hand_over_to_the_native_window(&args) {
        return code;
    }
    let config = CompanionConfig::find(args.config.as_deref(), licentric_agent::config::BUILT_IN)
        .map_err(|e| UiError::new("config_invalid", e.to_string()));
    // One instance per user and product, as the socket is.
    let instance = tauri_plugin_single_instance::Builder::new()
        .dbus_id(instance_name(
            config
                .as_ref()
                .ok()
                .map(|c| (c.product_id(), c.environment())),
        ))
        .callback(|app, argv, _cwd| {
            let args = crate::args::parse(argv.into_iter().skip(1));
            // The handover is answered at once, the window opened after: the second launch,
            // which holds a link's key in its own arguments (other local users read them),
            // ends as soon as its handover is taken.
            let handle = app.clone();
            if let Err(e) = app.run_on_main_thread(move || second_launch(&handle, args)) {
                tracing::warn!(error = %e, "cannot take a second launch's handover");
            }
        })
        .build();
    let login = crate::login::LoginEntry::new(&args, config.as_ref().ok());
    let built = tauri::Builder::default()
        // First: a second launch must reach the first before anything else starts.
        .plugin(instance)
        .plugin(crate::navigation::stays_home())
        .plugin(tauri_plugin_dialog::init());
    #[cfg(not(all(unix, not(target_os = "macos"))))]
    let built = built.plugin(login.plugin());
    let built = built
        .manage(login)
        .invoke_handler(tauri::generate_handler![
            crate::commands::app_info,
            crate::commands::machine,
            crate::commands::status,
            crate::commands::check_key,
            crate::commands::activate,
            crate::commands::deactivate,
            crate::commands::refresh,
            crate::commands::cancel,
            crate::commands::import_license,
            crate::commands::save_request_file,
            crate::commands::diagnostics,
            crate::commands::save_diagnostics,
            crate::commands::settings,
            crate::commands::set_notifications,
            crate::commands::set_start_at_login,
            crate::commands::recent_clients,
            crate::commands::borrow,
            crate::commands::return_seat,
            crate::commands::progress,
            crate::commands::open_help,
        ])
        .setup(move |app| {
            setup(app.handle(), &args, config);
            Ok(())
        })
        .build(tauri::generate_context!());
    match built {
        Ok(app) => {
            app.run(on_event);
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!(error = %e, "the app could not start");
            std::process::ExitCode::FAILURE
        }
    }
}

fn setup(app: &AppHandle, args: &Args, config: Result<CompanionConfig, UiError>) {
    // The first instance (a second one handed its link over and ended): a key in its link goes
    // from the process list, which other local users read, for the rest of its life.
    if let Some(key) = &args.link_key_as_given
        && let Err(e) = licentric_platform::arguments::hide_argument(key)
    {
        tracing::warn!(error = %e, "cannot hide the link's key in the process list");
    }
    crate::login::refresh(app);
    let socket = config.as_ref().ok().and_then(|c| ipc::socket_for(c).ok());
    #[cfg(all(unix, not(target_os = "macos")))]
    let agent_started_here = match (&config, &socket) {
        (Ok(config), Some(socket)) if !args.hidden => {
            start_the_agent_beside(app, args, config, socket)
        }
        _ => false,
    };
    #[cfg(not(all(unix, not(target_os = "macos"))))]
    let agent_started_here = false;
    let started = config.and_then(|c| tauri::async_runtime::block_on(start_agent(c)));
    if let Err(e) = &started {
        tracing::error!(code = %e.code, "the agent did not start: {}", e.message);
    }
    let companion = Companion {
        started,
        machine_name: sysinfo::System::host_name().unwrap_or_else(|_| "this computer".into()),
        agent_started_here,
        agent_running: Arc::new(AtomicBool::new(true)),
        link_key: Mutex::new(args.link_key.clone()),
    };
    let status = match &companion.started {
        Ok(started) => match &started.backend {
            Backend::Own(agent) => {
                forward_status(app.clone(), agent.clone());
                Some(agent.subscribe().borrow().clone())
            }
            Backend::Headless(headless) => {
                forward_remote_status(
                    app.clone(),
                    headless,
                    started.socket.clone(),
                    Arc::clone(&companion.agent_running),
                );
                tauri::async_runtime::block_on(started.backend.status()).ok()
            }
        },
        Err(_) => None,
    };
    let tray = !tray_left_to_another_process(args, companion.started.as_ref(), socket.as_deref());
    let failed = companion.started.is_err();
    app.manage(companion);
    let mut own_tray = false;
    if !tray {
        tracing::info!("the background agent keeps the tray: closing the window ends the app");
    } else if !crate::tray::possible() {
        tracing::info!("no tray can be shown: closing the window ends the app");
    } else if let Err(e) = crate::tray::create(app, status.as_ref()) {
        tracing::warn!(error = %e, "no tray icon; closing the window will quit");
    } else {
        own_tray = true;
    }
    if !args.hidden {
        open_window(app);
    } else if !tray || (!own_tray && failed) {
        // Started for the tray, but the background agent already shows one; or no tray can
        // be shown and there is no agent to run either (the window would say why).
        app.exit(0);
    } else if !own_tray {
        // Started at login where no tray can be shown: the app answers local apps as their
        // agent, with nothing on screen (as the headless agent would), until the session ends.
        tracing::warn!("started at login with no tray: serving local applications without one");
    }
}

async fn start_agent(config: CompanionConfig) -> Result<Started, UiError> {
    let socket =
        ipc::socket_for(&config).map_err(|e| UiError::new("ipc_unavailable", e.to_string()))?;
    let settings_file = SettingsFile::in_dir(&licentric_agent::agent::data_dir(&config));
    let settings = settings_file.load(Settings {
        notifications: config.notifications().enabled,
    });
    let notifier = Arc::new(Switchable::new(
        config.product_name().to_owned(),
        settings.notifications,
    ));
    let listener = match ipc::bind(&socket).await {
        Ok(listener) => listener,
        // A headless agent already serves this product: be its client, not a second agent.
        Err(ipc::IpcError::AlreadyRunning(_)) => {
            let headless =
                Headless::connect(&socket, config.product_id(), config.environment()).await?;
            tracing::info!(socket = %socket.display(), "a headless agent serves this product; the app is its client");
            return Ok(Started {
                backend: Backend::Headless(Box::new(headless)),
                config,
                socket,
                notifier,
                settings_file,
                settings: Mutex::new(settings),
                ipc: Mutex::new(None),
            });
        }
        Err(other) => return Err(UiError::new("ipc_unavailable", other.to_string())),
    };
    let limits = ipc::Limits {
        max_connections: config.ipc().max_connections,
        idle_timeout: std::time::Duration::from_secs(config.ipc().idle_timeout_seconds),
        management: config.ipc().management,
    };
    let mut options = AgentOptions::new(config.clone());
    options.notifier = Arc::clone(&notifier) as _;
    let agent = Agent::start(options).await?;
    let (stop, stopped) = oneshot::channel::<()>();
    let serving = tauri::async_runtime::spawn(ipc::serve(agent.clone(), listener, limits, async {
        let _ = stopped.await;
    }));
    tracing::info!(socket = %socket.display(), "serving local applications");
    Ok(Started {
        backend: Backend::Own(agent),
        config,
        socket,
        notifier,
        settings_file,
        settings: Mutex::new(settings),
        ipc: Mutex::new(Some((stop, serving))),
    })
}

/// Sends every status change to the window and the tray.
fn forward_status(app: AppHandle, agent: Agent) {
    tauri::async_runtime::spawn(async move {
        let mut changes = agent.subscribe();
        while changes.changed().await.is_ok() {
            let status: Status = changes.borrow_and_update().clone();
            show(&app, &status);
        }
    });
}

/// Sends every status change of a headless agent to the window and the tray, over a
/// subscription of its own; if the agent stops, says so at once (the window's last status is
/// no longer anyone's word), and subscribes again when it is back (backing off to 5 s). An
/// agent that stopped by the user's Quit in its tray (its mark beside `socket`) ends the app.
fn forward_remote_status(
    app: AppHandle,
    headless: &Headless,
    socket: PathBuf,
    running: Arc<AtomicBool>,
) {
    #[cfg(not(unix))]
    let _ = &socket;
    let agent = headless.reconnector();
    tauri::async_runtime::spawn(async move {
        let mut pause = std::time::Duration::from_millis(250);
        loop {
            if let Ok(mut client) = agent.connect().await
                && let Ok(first) = client.subscribe().await
            {
                pause = std::time::Duration::from_millis(250);
                tell_agent_runs(&app, &running, true);
                show(&app, &first);
                while let Ok(status) = client.next_change().await {
                    show(&app, &status);
                }
                #[cfg(unix)]
                if licentric_platform::endpoint::quit_marked(&socket) {
                    // The user chose Quit in its tray: everything of the product ends.
                    tracing::info!("the background agent quit: so does the app");
                    app.exit(0);
                    return;
                }
                tracing::info!("the headless agent went away; waiting for it");
                crate::tray::update(&app, None);
            }
            // Gone, or not back yet (also when the first subscription fails).
            tell_agent_runs(&app, &running, false);
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(std::time::Duration::from_secs(5));
        }
    });
}

fn show(app: &AppHandle, status: &Status) {
    crate::tray::update(app, Some(status));
    if let Err(e) = app.emit(STATUS_EVENT, status) {
        tracing::debug!(error = %e, "no window to tell");
    }
}

/// Tells the window whether the agent runs, when that changed.
fn tell_agent_runs(app: &AppHandle, flag: &AtomicBool, running: bool) {
    if flag.swap(running, Ordering::Relaxed) == running {
        return;
    }
    if let Err(e) = app.emit(AGENT_EVENT, serde_json::json!({ "running": running })) {
        tracing::debug!(error = %e, "no window to tell");
    }
}

/// Shows the main window, creating it if it was closed.
pub fn open_window(app: &AppHandle) {
    if let Some(window) = app.get_webview_window(MAIN_WINDOW) {
        let _ = window.unminimize();
        let _ = window.show();
        let _ = window.set_focus();
        return;
    }
    let Some(config) = app
        .config()
        .app
        .windows
        .iter()
        .find(|w| w.label == MAIN_WINDOW)
    else {
        tracing::error!("no main window in tauri.conf.json");
        return;
    };
    // The configuration's window starts hidden (the first one is shown by the code above once
    // it exists); one built again after a close must be shown here, or it never appears.
    match WebviewWindowBuilder::from_config(app, config).and_then(|b| b.build()) {
        Ok(window) => {
            let _ = window.show();
            let _ = window.set_focus();
        }
        Err(e) => tracing::error!(error = %e, "cannot open the window"),
    }
}

fn second_launch(app: &AppHandle, args: Args) {
    tracing::info!("a second launch handed over to this instance");
    if let Some(key) = args.link_key {
        // An open page gets the key now; a window about to open asks for it when it loads.
        if app.get_webview_window(MAIN_WINDOW).is_some() {
            let _ = app.emit(LINK_EVENT, key);
        } else {
            app.state::<Companion>().set_link_key(key);
        }
    }
    open_window(app);
}

fn on_event(app: &AppHandle, event: RunEvent) {
    match event {
        // The last window closed: stay in the tray (if there is one), with no webview.
        RunEvent::ExitRequested {
            code: None, api, ..
        } if crate::tray::exists(app) => api.prevent_exit(),
        RunEvent::Exit => {
            // Stop serving and remove the socket before the process ends.
            if let Ok(started) = &app.state::<Companion>().started {
                let taken = started
                    .ipc
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take();
                if let Some((stop, serving)) = taken {
                    let _ = stop.send(());
                    let _ = tauri::async_runtime::block_on(serving);
                }
            }
        }
        _ => {}
    }
}

/// Asks where to save `text` (suggesting `name`) and writes it; `None` when cancelled.
///
/// # Errors
/// When the file cannot be written.
pub async fn save_with_dialog(
    app: &AppHandle,
    name: &str,
    text: String,
) -> Result<Option<String>, UiError> {
    use tauri_plugin_dialog::DialogExt as _;
    let (tx, rx) = oneshot::channel();
    app.dialog()
        .file()
        .set_file_name(name)
        .add_filter("Text", &["txt"])
        .save_file(move |path| {
            let _ = tx.send(path);
        });
    let Some(path) = rx.await.ok().flatten() else {
        return Ok(None);
    };
    let path = path
        .into_path()
        .map_err(|e| UiError::new("io_error", e.to_string()))?;
    licentric_agent::storage::write_atomic(&path, text.as_bytes())?;
    Ok(Some(path.display().to_string()))
}

/// Now, as RFC 3339 UTC.
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

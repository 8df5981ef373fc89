//! `licentric agent --tray`: the agent with a tray icon of its own, a StatusNotifierItem on the
//! session bus, drawn by the desktop's panel — no toolkit and no webview in this process. This
//! is what runs at login: the long-lived part of the companion costs what the headless agent
//! costs and a D-Bus connection. **Open** (or a click on the icon) starts the app, which
//! becomes this agent's client and ends when its window closes; **Refresh now** and **Quit**
//! act on the agent itself.
//!
//! The menu is the app's own tray menu, in the same words (`licentric_agent::words`). A
//! desktop whose panel starts after the agent still gets the icon: the item waits for the
//! panel's watcher to appear. With no session bus at all, the agent runs without a tray; once
//! the tray was up, losing the session bus (the user logged out) stops the agent, so the next
//! login's finds the product free.
//!
//! When an agent already serves the product (the systemd user service, say), `--tray` shows
//! the tray as that agent's client ([`Source::Other`]): its status by push over the checked
//! IPC, Refresh through it, Quit closing only the tray. It reconnects when that agent
//! restarts, and says "not available" meanwhile.
//!
//! When the agent cannot start (a data folder that is not the user's, a CA file that is
//! missing, the last session's agent still giving its seats back), `--tray` still shows the
//! tray, saying so ([`Source::Failed`]): at login the user sees that something is wrong. Open
//! tries again to start the agent before starting the app (whose window says what is wrong if
//! it still cannot), and an agent that comes up meanwhile (the systemd unit's) is followed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ksni::TrayMethods as _;
use ksni::menu::{MenuItem, StandardItem};
use licentric_agent::Agent;
use licentric_agent::config::{CompanionConfig, ConfigSource};
use licentric_agent::words::{menu, tray_line};
use licentric_client::nonblocking::AsyncClient;
use licentric_proto::ipc::Status;
use tokio::sync::{mpsc, watch};

/// Where the tray's status comes from and where Refresh goes.
pub(crate) enum Source {
    /// This process's agent.
    Own(Agent),
    /// An agent already serving the product (at the socket [`serve`] is given): the tray is
    /// its client, with the configuration both run with.
    Other(Box<CompanionConfig>),
    /// No agent: it could not start, for the reason given.
    Failed(Box<CompanionConfig>, String),
}

/// How the tray ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ended {
    /// There is no tray (no session bus): the caller runs on without one.
    NoTray,
    /// Another process already shows this agent's tray (it holds the claim beside the
    /// socket): none is shown twice.
    Elsewhere,
    /// The user chose Quit, or the session ended.
    Quit,
    /// For [`Source::Failed`]: the user chose Open — try again to start the agent, then the
    /// app (with the desktop's activation token, if it gave one).
    OpenAsked(Option<String>),
    /// For [`Source::Failed`]: an agent now answers at the socket.
    AgentCameUp,
}

/// What the user chose in the tray.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Action {
    /// Open, with the desktop's activation token when it gave one (on Wayland a window may
    /// only come to the front with it).
    Open(Option<String>),
    Refresh,
    Quit,
}

impl Action {
    /// `self` as the event that chose it says: Open takes the event's activation token.
    fn chosen(&self) -> Action {
        match self {
            Action::Open(_) => Action::Open(ksni::current_xdg_activation_token()),
            other => other.clone(),
        }
    }
}

/// The tray's state, as the panel reads it.
struct AgentTray {
    id: String,
    title: String,
    icon: String,
    line: String,
    /// Whether there is a licence here to refresh (not before an activation).
    refreshable: bool,
    /// A Refresh now still waiting on the server: said in its item, which waits meanwhile.
    refreshing: bool,
    /// Why there is no agent, for [`Source::Failed`].
    problem: Option<String>,
    actions: mpsc::UnboundedSender<Action>,
}

impl AgentTray {
    fn item(label: &str, enabled: bool, action: Option<Action>) -> MenuItem<AgentTray> {
        StandardItem {
            label: label.to_owned(),
            enabled,
            activate: Box::new(move |tray: &mut AgentTray| {
                if let Some(action) = &action {
                    let _ = tray.actions.send(action.chosen());
                }
            }),
            ..Default::default()
        }
        .into()
    }
}

impl ksni::Tray for AgentTray {
    fn id(&self) -> String {
        self.id.clone()
    }

    fn title(&self) -> String {
        self.title.clone()
    }

    fn icon_name(&self) -> String {
        // The icon the package installs in the desktop's theme, under the app's name.
        self.icon.clone()
    }

    fn tool_tip(&self) -> ksni::ToolTip {
        ksni::ToolTip {
            title: self.title.clone(),
            description: self.problem.clone().unwrap_or_else(|| self.line.clone()),
            ..Default::default()
        }
    }

    fn activate(&mut self, _x: i32, _y: i32) {
        let _ = self.actions.send(Action::Open(None).chosen());
    }

    fn menu(&self) -> Vec<MenuItem<Self>> {
        let mut menu = vec![AgentTray::item(&self.line, false, None)];
        if self.problem.is_some() {
            // Nothing to refresh: Open tries again, then shows the window that says what is
            // wrong if it still cannot start.
            menu.extend([
                AgentTray::item("The licensing service could not start", false, None),
                MenuItem::Separator,
                AgentTray::item(menu::OPEN, true, Some(Action::Open(None))),
            ]);
        } else {
            menu.extend([
                MenuItem::Separator,
                AgentTray::item(menu::OPEN, true, Some(Action::Open(None))),
                if self.refreshing {
                    AgentTray::item(menu::REFRESHING, false, None)
                } else {
                    AgentTray::item(menu::REFRESH, self.refreshable, Some(Action::Refresh))
                },
            ]);
        }
        menu.push(AgentTray::item(menu::QUIT, true, Some(Action::Quit)));
        menu
    }

    fn watcher_offline(&self, _reason: ksni::OfflineReason) -> bool {
        // The panel restarted, or is not up yet: keep the item, it registers again when the
        // watcher comes back.
        true
    }
}

/// Shows the tray for `source`, whose agent answers at `socket`, until the user chooses Quit
/// or the session ends — unless another process already shows it. With `open`, the app is
/// started once the tray is up (the user chose Open while the agent could not start; the
/// desktop's activation token, if it gave one). `shown` is called once the tray is up.
pub(crate) async fn serve(
    source: Source,
    socket: &Path,
    open: Option<Option<String>>,
    shown: impl FnOnce(),
) -> Ended {
    // The claim is held until this returns (and let go by the system should it die).
    let _claim = match licentric_platform::endpoint::claim_tray(socket) {
        Ok(Some(claim)) => claim,
        Ok(None) => {
            tracing::info!("another process already shows this agent's tray");
            return Ended::Elsewhere;
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot claim the tray beside the socket: no tray");
            return Ended::NoTray;
        }
    };
    let brand = licentric_agent::brand::built_in();
    let config = match &source {
        Source::Own(agent) => agent.config().clone(),
        Source::Other(config) | Source::Failed(config, _) => (**config).clone(),
    };
    let mut changes = match &source {
        Source::Own(agent) => own(agent),
        // For a failed agent: whether one comes up meanwhile.
        Source::Other(config) | Source::Failed(config, _) => {
            follow(socket.to_owned(), (**config).clone())
        }
    };
    let problem = match &source {
        Source::Failed(_, problem) => Some(problem.clone()),
        _ => None,
    };
    let (actions, mut chosen) = mpsc::unbounded_channel();
    let first = changes.borrow_and_update().clone();
    let tray = AgentTray {
        id: brand.binary.clone(),
        title: config.product_name().to_owned(),
        icon: brand.binary.clone(),
        line: line_of(&first),
        refreshable: refreshable(&first),
        refreshing: false,
        problem,
        actions,
    };
    // Watching the bus starts first: a logout right after the tray is up is seen too.
    let mut bus = SessionBus::watch().await;
    let handle = match tray.assume_sni_available(true).spawn().await {
        Ok(handle) => handle,
        Err(e) => {
            // The user logged out while the icon was going up: the agent ends with the
            // session, as it would a moment later.
            if bus.was_there()
                && tokio::time::timeout(Duration::from_secs(2), bus.gone())
                    .await
                    .is_ok()
            {
                tracing::info!(error = %e, "the session ended as the tray went up");
                return Ended::Quit;
            }
            tracing::warn!(error = %e, "no tray icon (no session bus?): the agent runs without one");
            return Ended::NoTray;
        }
    };
    tracing::info!("the tray icon is up");
    shown();
    let bus_gone = bus.gone();
    let mut apps = Apps::default();
    let failed = matches!(source, Source::Failed(..));
    if let Some(token) = open {
        apps.open(&config, token.as_deref(), failed);
    }
    // The Refresh now waiting on the server, if any.
    let mut refreshing: Option<tokio::task::JoinHandle<()>> = None;
    tokio::pin!(bus_gone);
    let ended = loop {
        tokio::select! {
            changed = changes.changed() => {
                if changed.is_err() {
                    break Ended::Quit; // the agent stopped
                }
                let status = changes.borrow_and_update().clone();
                if failed && status.is_some() {
                    break Ended::AgentCameUp;
                }
                let (line, can) = (line_of(&status), refreshable(&status));
                handle.update(|tray| (tray.line, tray.refreshable) = (line, can)).await;
            }
            // The user logged out: ksni keeps waiting for a watcher on a bus that is gone.
            () = &mut bus_gone => break Ended::Quit,
            ended = async {
                match refreshing.as_mut() {
                    Some(task) => task.await,
                    None => std::future::pending().await,
                }
            }, if refreshing.is_some() => {
                if let Err(e) = ended {
                    tracing::warn!(error = %e, "the tray's refresh ended abnormally");
                }
                refreshing = None;
                handle.update(|tray| tray.refreshing = false).await;
            }
            action = chosen.recv() => match action {
                Some(Action::Open(token)) if failed => break Ended::OpenAsked(token),
                Some(Action::Open(token)) => apps.open(&config, token.as_deref(), false),
                Some(Action::Refresh) if refreshing.is_none() => {
                    refreshing = refresh(&source, socket);
                    let started = refreshing.is_some();
                    handle.update(|tray| tray.refreshing = started).await;
                }
                Some(Action::Refresh) => {}
                // Quit: this agent stops, and the windows close with it — those its tray
                // opened, and (by the mark) those opened otherwise (a window left open would
                // show a licence nobody keeps any more).
                Some(Action::Quit) if matches!(source, Source::Own(_)) => {
                    // Windows opened from the desktop, its clients, end too when it is gone.
                    if let Err(e) = licentric_platform::endpoint::mark_quit(socket) {
                        tracing::warn!(error = %e, "cannot mark the Quit for the windows");
                    }
                    apps.close().await;
                    break Ended::Quit;
                }
                // Quit a tray beside another agent (which runs on, and its windows with it),
                // or the tray's service ended with the session bus: the user logged out.
                Some(Action::Quit) | None => break Ended::Quit,
            },
        }
    };
    // On a bus that has just ended, the item's service may not answer its shutdown.
    let _ = tokio::time::timeout(Duration::from_secs(2), handle.shutdown()).await;
    ended
}

/// The app windows this tray started (Open), each waited for so that its exit leaves no
/// zombie; [`close`](Apps::close) ends those still open.
#[derive(Default)]
struct Apps {
    closing: watch::Sender<bool>,
    waiting: Vec<tokio::task::JoinHandle<()>>,
}

impl Apps {
    /// Opens the window; `failed`: the agent could not start, and the app's window, which
    /// starts its own to say why, is the one to show.
    fn open(&mut self, config: &CompanionConfig, activation_token: Option<&str>, failed: bool) {
        self.waiting.retain(|w| !w.is_finished());
        if let Some(child) = open_app(config, activation_token, failed) {
            self.waiting
                .push(tokio::spawn(wait_for_app(child, self.closing.subscribe())));
        }
    }

    /// Asks every app still open to end (SIGTERM, as a desktop's logout does), and waits
    /// for them.
    async fn close(self) {
        self.closing.send_replace(true);
        for waiting in self.waiting {
            let _ = waiting.await;
        }
    }
}

/// Waits for the app `child` to end; when `closing` turns true, ends it first (killed if it
/// has not ended five seconds after being asked).
async fn wait_for_app(mut child: tokio::process::Child, closing: watch::Receiver<bool>) {
    let mut asked = closing.clone();
    let asked = async move {
        // Only a Quit closes the window: a tray that ends otherwise (the agent came up, the
        // tray is shown again) drops its list, and the window stays.
        if asked.wait_for(|closing| *closing).await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let ended = tokio::select! {
        ended = child.wait() => ended,
        () = asked => {
            // Not waited for yet, so the process id is still this child's.
            #[cfg(unix)]
            if let Some(pid) = child.id().and_then(|id| rustix::process::Pid::from_raw(id.cast_signed())) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
            }
            match tokio::time::timeout(Duration::from_secs(5), child.wait()).await {
                Ok(ended) => ended,
                Err(_) => {
                    let _ = child.start_kill();
                    child.wait().await
                }
            }
        }
    };
    match ended {
        Ok(status) if !status.success() && !*closing.borrow() => {
            tracing::warn!(%status, "the app ended with an error");
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cannot wait for the app"),
    }
}

/// The session bus the tray is shown on, watched from a thread of its own on a connection of
/// its own, which libdbus reports broken when the bus ends (the user logged out).
struct SessionBus {
    /// What the watcher said first: [`BusWatch::Late`] if it was still connecting after 2 s.
    first: Option<BusWatch>,
    heard: mpsc::UnboundedReceiver<BusWatch>,
}

impl SessionBus {
    /// Starts watching, and returns once connected (or 2 s have passed, after which a
    /// connection that fails counts as the bus gone), so a bus that ends right after is seen
    /// going. The watcher wakes once a week otherwise.
    async fn watch() -> SessionBus {
        // Where no bus is named nor at its usual place, none is asked for: libdbus would start
        // one of its own for the display (autolaunch), which the tray would not use.
        let user_bus = std::env::var_os("XDG_RUNTIME_DIR")
            .is_some_and(|dir| std::path::Path::new(&dir).join("bus").exists());
        let some_bus = std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some() || user_bus;
        let (said, mut heard) = mpsc::unbounded_channel::<BusWatch>();
        let watching = std::thread::Builder::new()
            .name("session-bus".into())
            .spawn(move || {
                let bus = some_bus
                    .then(dbus::blocking::Connection::new_session)
                    .and_then(Result::ok);
                let Some(bus) = bus else {
                    let _ = said.send(BusWatch::NoBus);
                    return;
                };
                let _ = said.send(BusWatch::Connected);
                while bus.process(Duration::from_secs(7 * 86_400)).is_ok() {}
                let _ = said.send(BusWatch::Gone);
            });
        // A bus that accepts and never answers holds libdbus for its 25 s: after 2 s the tray
        // goes up anyway, and the bus is watched from whenever the connection is made.
        let first = match watching {
            Ok(_) => tokio::time::timeout(Duration::from_secs(2), heard.recv())
                .await
                .unwrap_or(Some(BusWatch::Late)),
            Err(_) => None,
        };
        SessionBus { first, heard }
    }

    /// Whether there was a bus to show the tray on (or one still being connected to).
    fn was_there(&self) -> bool {
        matches!(self.first, Some(BusWatch::Connected | BusWatch::Late))
    }

    /// Resolves when the bus goes away; never if there was none. Cancel-safe.
    async fn gone(&mut self) {
        loop {
            match (self.first, self.heard.recv().await) {
                (_, Some(BusWatch::Gone)) => return,
                // Still connecting when the tray went up: a connection that then fails means
                // the bus the tray was shown on has ended.
                (Some(BusWatch::Late), Some(BusWatch::NoBus)) => return,
                (Some(BusWatch::Late), Some(BusWatch::Connected)) => {
                    self.first = Some(BusWatch::Connected);
                }
                _ => std::future::pending::<()>().await,
            }
        }
    }
}

/// What the session bus's watcher says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BusWatch {
    /// Connected: watching.
    Connected,
    /// No bus to connect to.
    NoBus,
    /// The bus ended.
    Gone,
    /// Not connected yet when the tray went up (not sent by the watcher).
    Late,
}

/// The tray's line for what is known: `None` while another agent cannot be reached.
fn line_of(status: &Option<Status>) -> String {
    tray_line(status.as_ref())
}

/// Whether the tray offers Refresh now.
fn refreshable(status: &Option<Status>) -> bool {
    licentric_agent::words::tray_refreshes(status.as_ref())
}

/// Refresh now, through whichever agent the tray shows: the task that waits on it, if any.
/// With no window to look at, its outcome is a notification (unless the user turned them
/// off), as well as the tray's line.
fn refresh(source: &Source, socket: &Path) -> Option<tokio::task::JoinHandle<()>> {
    match source {
        Source::Own(agent) => {
            let agent = agent.clone();
            Some(tokio::spawn(async move {
                let outcome = agent.refresh().await.map_err(|e| e.user_message());
                tell_refreshed(agent.config(), outcome);
            }))
        }
        Source::Other(config) => {
            let (socket, config) = (socket.to_owned(), (**config).clone());
            Some(tokio::spawn(async move {
                let outcome = match connect(&socket, &config).await {
                    Ok(mut client) => client.refresh().await.map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                tell_refreshed(&config, outcome);
            }))
        }
        Source::Failed(..) => None,
    }
}

/// The outcome of the tray's Refresh now, as a notification — sent apart (the refresh is over,
/// and its item offered again, whatever the notification daemon takes to answer).
fn tell_refreshed(config: &CompanionConfig, outcome: Result<Status, String>) {
    let (summary, body) = licentric_agent::words::refreshed(
        config.product_name(),
        outcome.as_ref().map_err(String::as_str),
    );
    let notifier = licentric_agent::agent::desktop_notifier(config);
    tokio::task::spawn_blocking(move || notifier.notify(&summary, &body));
}

async fn connect(
    socket: &Path,
    config: &CompanionConfig,
) -> Result<AsyncClient, licentric_client::ClientError> {
    AsyncClient::connect_to(socket, config.product_id(), config.environment()).await
}

/// The status of this process's agent, as it changes (closed when the agent stops).
fn own(agent: &Agent) -> watch::Receiver<Option<Status>> {
    let mut changes = agent.subscribe();
    let (tell, follows) = watch::channel(Some(changes.borrow_and_update().clone()));
    tokio::spawn(async move {
        while changes.changed().await.is_ok() {
            tell.send_replace(Some(changes.borrow_and_update().clone()));
        }
    });
    follows
}

/// The status of the agent at `socket`, as it pushes it; `None` while it cannot be reached
/// (tried again after a pause that doubles up to half a minute).
fn follow(socket: PathBuf, config: CompanionConfig) -> watch::Receiver<Option<Status>> {
    let (tell, changes) = watch::channel(None);
    tokio::spawn(async move {
        let mut pause = Duration::from_millis(250);
        while !tell.is_closed() {
            if let Ok(mut client) = connect(&socket, &config).await
                && let Ok(status) = client.subscribe().await
            {
                pause = Duration::from_millis(250);
                tell.send_replace(Some(status));
                while let Ok(status) = client.next_change().await {
                    tell.send_replace(Some(status));
                }
            }
            tell.send_replace(None);
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(30));
        }
    });
    changes
}

/// Starts the window with the configuration this agent runs with: the native window where it
/// is installed beside this program, else the app; either finds this agent on the socket and
/// becomes its client (a window already open is brought to the front instead). Where the agent
/// could not start (`failed`), the app, whose window says what is wrong (the native window
/// only follows an agent).
fn open_app(
    config: &CompanionConfig,
    activation_token: Option<&str>,
    failed: bool,
) -> Option<tokio::process::Child> {
    let native = (!failed)
        .then(licentric_desktop::window::installed)
        .flatten();
    let Some(app) = native.or_else(licentric_desktop::window::app) else {
        tracing::warn!("Open: the app is not installed beside this program");
        return None;
    };
    let mut command = tokio::process::Command::new(&app);
    if failed {
        command.env(
            licentric_desktop::window::WINDOW_ENV,
            licentric_desktop::window::WEBVIEW,
        );
    }
    if let ConfigSource::VendorFile(path) | ConfigSource::TestFile(path) = config.source() {
        command.arg("--config").arg(path);
    }
    if let Some(token) = activation_token {
        command.env("XDG_ACTIVATION_TOKEN", token);
    }
    // Its words go to standard error; standard output may be a pipe that nobody reads.
    command
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null());
    command
        .spawn()
        .inspect_err(
            |e| tracing::warn!(error = %e, app = %app.display(), "Open: cannot start the app"),
        )
        .ok()
}

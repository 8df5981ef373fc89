//! `licentric agent --tray`: the agent with a tray icon of its own, a StatusNotifierItem on the
//! session bus, drawn by the desktop's panel — no toolkit and no webview in this process. This
//! is what runs at login: the long-lived part of the companion costs what the headless agent
//! costs and a D-Bus connection. **Open** (or a click on the icon) starts the app, which
//! becomes this agent's client and ends when its window closes; **Refresh now** and **Quit**
//! act on the agent itself.
//!
//! The menu is the app's own tray menu, in the same words (`licentric_agent::words`). A
//! desktop whose panel starts after the agent still gets the icon: the item waits for the
//! panel's watcher to appear. With no session bus at all, the agent runs without a tray.

use std::path::PathBuf;

use ksni::TrayMethods as _;
use ksni::menu::{MenuItem, StandardItem};
use licentric_agent::Agent;
use licentric_agent::config::{CompanionConfig, ConfigSource};
use licentric_agent::words::tray_line;
use tokio::sync::mpsc;

/// What the user chose in the tray.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Open,
    Refresh,
    Quit,
}

/// The tray's state, as the panel reads it.
struct AgentTray {
    id: String,
    title: String,
    icon: String,
    line: String,
    actions: mpsc::UnboundedSender<Action>,
}

impl AgentTray {
    fn item(label: &str, enabled: bool, action: Option<Action>) -> MenuItem<AgentTray> {
        StandardItem {
            label: label.to_owned(),
            enabled,
            activate: Box::new(move |tray: &mut AgentTray| {
                if let Some(action) = action {
                    let _ = tray.actions.send(action);
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
            description: self.line.clone(),
            ..Default::default()
        }
    }

    fn activate(&mut self, _x: i32, _y: i32) {
        let _ = self.actions.send(Action::Open);
    }

    fn menu(&self) -> Vec<MenuItem<Self>> {
        vec![
            AgentTray::item(&self.line, false, None),
            MenuItem::Separator,
            AgentTray::item("Open", true, Some(Action::Open)),
            AgentTray::item("Refresh now", true, Some(Action::Refresh)),
            AgentTray::item("Quit", true, Some(Action::Quit)),
        ]
    }

    fn watcher_offline(&self, _reason: ksni::OfflineReason) -> bool {
        // The panel restarted, or is not up yet: keep the item, it registers again when the
        // watcher comes back.
        true
    }
}

/// Shows the tray for `agent` until the user chooses Quit (then returns) or the agent stops.
/// With no session bus, returns at once after saying so in the log, and never asks to quit:
/// the caller treats a returned `false` as "keep running without a tray".
pub(crate) async fn serve(agent: Agent) -> bool {
    let config = agent.config().clone();
    let brand = licentric_agent::brand::built_in();
    let (actions, mut chosen) = mpsc::unbounded_channel();
    let mut changes = agent.subscribe();
    let tray = AgentTray {
        id: brand.binary.clone(),
        title: config.product_name().to_owned(),
        icon: brand.binary.clone(),
        line: tray_line(Some(&changes.borrow_and_update())),
        actions,
    };
    let handle = match tray.assume_sni_available(true).spawn().await {
        Ok(handle) => handle,
        Err(e) => {
            tracing::warn!(error = %e, "no tray icon (no session bus?): the agent runs without one");
            return false;
        }
    };
    let quit = loop {
        tokio::select! {
            changed = changes.changed() => {
                if changed.is_err() {
                    break false; // the agent stopped
                }
                let line = tray_line(Some(&changes.borrow_and_update()));
                handle.update(|tray| tray.line = line).await;
            }
            action = chosen.recv() => match action {
                Some(Action::Open) => open_app(&config),
                Some(Action::Refresh) => {
                    let agent = agent.clone();
                    // The outcome reaches the user through the status and notifications.
                    tokio::spawn(async move {
                        let _ = agent.refresh().await;
                    });
                }
                Some(Action::Quit) => break true,
                None => break false,
            },
        }
    };
    handle.shutdown().await;
    quit
}

/// The app: beside this program (`/usr/bin/<app>` next to `/usr/bin/<cli>`, as the package
/// installs them, or the build folder's).
fn app_path() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let app = exe.with_file_name(&licentric_agent::brand::built_in().binary);
    app.is_file().then_some(app)
}

/// Starts the app with the configuration this agent runs with: it finds this agent on the
/// socket and becomes its client (a running app is brought to the front instead).
fn open_app(config: &CompanionConfig) {
    let Some(app) = app_path() else {
        tracing::warn!("Open: the app is not installed beside this program");
        return;
    };
    let mut command = tokio::process::Command::new(&app);
    if let ConfigSource::VendorFile(path) | ConfigSource::TestFile(path) = config.source() {
        command.arg("--config").arg(path);
    }
    command.stdin(std::process::Stdio::null());
    match command.spawn() {
        // Waited for in the background, so its exit leaves no zombie behind.
        Ok(mut child) => {
            tokio::spawn(async move {
                let _ = child.wait().await;
            });
        }
        Err(e) => tracing::warn!(error = %e, app = %app.display(), "Open: cannot start the app"),
    }
}

//! The app's own tray icon (where the app is the agent): the state in its menu and tooltip,
//! and Open, Refresh now, Quit — the agent's tray's menu, in the same words.

use std::sync::atomic::{AtomicBool, Ordering};

use licentric_agent::words::{menu, refreshed, tray_line, tray_refreshes};
use licentric_proto::ipc::Status;
use tauri::menu::{Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Manager, Wry};

use crate::app::{Companion, open_window};

const TRAY_ID: &str = "main";

/// The menu item that shows the state, kept to update its text.
struct StateItem(MenuItem<Wry>);

/// Refresh now: offered once there is a licence here to refresh from the server, and saying
/// so while one waits on it.
struct RefreshItem {
    item: MenuItem<Wry>,
    offered: AtomicBool,
    refreshing: AtomicBool,
}

/// Shows the Refresh item as its flags now say: on the main thread, where reading them and
/// setting the item are one step (a status and the end of a refresh, shown from two tasks at
/// once, could otherwise leave it saying "Refreshing…" after the refresh).
fn show_refresh(app: &AppHandle) {
    let handle = app.clone();
    let _ = app.run_on_main_thread(move || {
        let Some(item) = handle.try_state::<RefreshItem>() else {
            return;
        };
        let refreshing = item.refreshing.load(Ordering::SeqCst);
        let _ = item.item.set_text(if refreshing {
            menu::REFRESHING
        } else {
            menu::REFRESH
        });
        let _ = item
            .item
            .set_enabled(!refreshing && item.offered.load(Ordering::SeqCst));
    });
}

/// Creates the tray icon.
///
/// # Errors
/// When the desktop has no tray (the app then quits with its window).
pub fn create(app: &AppHandle, status: Option<&Status>) -> tauri::Result<()> {
    let state = MenuItem::with_id(app, "state", tray_line(status), false, None::<&str>)?;
    let open = MenuItem::with_id(app, "open", menu::OPEN, true, None::<&str>)?;
    let refresh = MenuItem::with_id(
        app,
        "refresh",
        menu::REFRESH,
        tray_refreshes(status),
        None::<&str>,
    )?;
    let quit = MenuItem::with_id(app, "quit", menu::QUIT, true, None::<&str>)?;
    let separator = PredefinedMenuItem::separator(app)?;
    let menu = Menu::with_items(app, &[&state, &separator, &open, &refresh, &quit])?;
    let mut builder = TrayIconBuilder::with_id(TRAY_ID)
        .menu(&menu)
        .tooltip(tray_line(status))
        .on_menu_event(|app, event| match event.id.as_ref() {
            "open" => open_window(app),
            "refresh" => refresh_now(app),
            "quit" => app.exit(0),
            _ => {}
        });
    if let Some(icon) = app.default_window_icon() {
        builder = builder.icon(icon.clone());
    }
    builder.build(app)?;
    app.manage(StateItem(state));
    app.manage(RefreshItem {
        item: refresh,
        offered: AtomicBool::new(tray_refreshes(status)),
        refreshing: AtomicBool::new(false),
    });
    Ok(())
}

/// Refresh now, one at a time: its item says it waits meanwhile, and its outcome is a
/// notification (unless the user turned them off), as the agent's tray says it — the window
/// may be closed.
fn refresh_now(app: &AppHandle) {
    let Some(item) = app.try_state::<RefreshItem>() else {
        return;
    };
    if item.refreshing.swap(true, Ordering::SeqCst) {
        return;
    }
    show_refresh(app);
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let companion = app.state::<Companion>();
        let Ok(started) = companion.started() else {
            return;
        };
        let outcome = started.backend.refresh().await.map_err(|e| e.message);
        // Offered again as soon as the answer is in, not after the notification daemon's.
        if let Some(item) = app.try_state::<RefreshItem>() {
            item.refreshing.store(false, Ordering::SeqCst);
        }
        show_refresh(&app);
        let (summary, body) = refreshed(
            started.config.product_name(),
            outcome.as_ref().map_err(String::as_str),
        );
        started.notify(summary, body).await;
    });
}

/// Whether a tray icon can be shown at all. On Linux it is a StatusNotifierItem on the session
/// bus: with none that answers (its address set, nothing there), the icon would be created and
/// never seen, and the app, kept running for it, could not be quit.
/// A bus that accepts and never answers would hold libdbus for its 25 s: the answer is waited
/// for a second, on a thread of its own.
pub fn possible() -> bool {
    #[cfg(all(unix, not(target_os = "macos")))]
    {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(dbus::blocking::Connection::new_session().map(drop));
        });
        match rx.recv_timeout(std::time::Duration::from_secs(1)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "no session bus: no tray icon");
                return false;
            }
            Err(_) => {
                tracing::warn!("the session bus does not answer: no tray icon");
                return false;
            }
        }
    }
    true
}

/// Whether the tray icon is up (else closing the window quits the app).
pub fn exists(app: &AppHandle) -> bool {
    app.tray_by_id(TRAY_ID).is_some()
}

/// Shows `status` in the tray (`None`: the agent the app asks cannot be reached).
pub fn update(app: &AppHandle, status: Option<&Status>) {
    let text = tray_line(status);
    if let Some(item) = app.try_state::<StateItem>() {
        let _ = item.0.set_text(&text);
    }
    if let Some(item) = app.try_state::<RefreshItem>() {
        item.offered.store(tray_refreshes(status), Ordering::SeqCst);
        show_refresh(app);
    }
    if let Some(tray) = app.tray_by_id(TRAY_ID) {
        let _ = tray.set_tooltip(Some(&text));
    }
}

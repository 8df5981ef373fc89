//! The tray icon: the state in its menu and tooltip, and Open, Refresh now, Quit.

use licentric_proto::ipc::Status;
use tauri::menu::{Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Manager, Wry};

use crate::app::{Companion, open_window};

const TRAY_ID: &str = "main";

/// The menu item that shows the state, kept to update its text.
struct StateItem(MenuItem<Wry>);

/// Creates the tray icon.
///
/// # Errors
/// When the desktop has no tray (the app then quits with its window).
pub fn create(app: &AppHandle, status: Option<&Status>) -> tauri::Result<()> {
    let state = MenuItem::with_id(
        app,
        "state",
        licentric_agent::words::tray_line(status),
        false,
        None::<&str>,
    )?;
    let open = MenuItem::with_id(app, "open", "Open", true, None::<&str>)?;
    let refresh = MenuItem::with_id(app, "refresh", "Refresh now", true, None::<&str>)?;
    let quit = MenuItem::with_id(app, "quit", "Quit", true, None::<&str>)?;
    let separator = PredefinedMenuItem::separator(app)?;
    let menu = Menu::with_items(app, &[&state, &separator, &open, &refresh, &quit])?;
    let mut builder = TrayIconBuilder::with_id(TRAY_ID)
        .menu(&menu)
        .tooltip(licentric_agent::words::tray_line(status))
        .on_menu_event(|app, event| match event.id.as_ref() {
            "open" => open_window(app),
            "refresh" => {
                let app = app.clone();
                // The outcome reaches the user through the status and notifications.
                tauri::async_runtime::spawn(async move {
                    if let Ok(started) = &app.state::<Companion>().started {
                        let _ = started.backend.refresh().await;
                    }
                });
            }
            "quit" => app.exit(0),
            _ => {}
        });
    if let Some(icon) = app.default_window_icon() {
        builder = builder.icon(icon.clone());
    }
    builder.build(app)?;
    app.manage(StateItem(state));
    Ok(())
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
    let text = licentric_agent::words::tray_line(status);
    if let Some(item) = app.try_state::<StateItem>() {
        let _ = item.0.set_text(&text);
    }
    if let Some(tray) = app.tray_by_id(TRAY_ID) {
        let _ = tray.set_tooltip(Some(&text));
    }
}

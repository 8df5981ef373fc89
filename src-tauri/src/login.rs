//! Start at login: an entry named after the product (and its environment, so test and live
//! entries differ) that starts the app in the tray (`--hidden`) with the configuration it was
//! started with.
//!
//! On Linux the entry is the app's own XDG autostart file (`~/.config/autostart/<name>.desktop`):
//! its command is quoted as the Desktop Entry specification says, so a configuration path with
//! a space in it starts the app at login as it does now, and it carries the app's icon and a
//! sentence saying what it is. macOS (a LaunchAgent) and Windows (the Run key) use the autostart
//! plugin's.

use licentric_agent::config::CompanionConfig;
#[cfg(all(unix, not(target_os = "macos")))]
use licentric_desktop::login::xdg;
use tauri::{AppHandle, Manager as _, Runtime};

/// What the entry starts, and its name (the same entry the native window writes).
pub struct LoginEntry {
    entry: licentric_desktop::login::Entry,
}

impl LoginEntry {
    /// The entry for an app started with `args` and `config` (none when the configuration
    /// could not be read: the app's name, then).
    pub fn new(args: &crate::args::Args, config: Option<&CompanionConfig>) -> LoginEntry {
        LoginEntry {
            entry: licentric_desktop::login::Entry::new(args.config.clone(), config),
        }
    }

    /// The autostart plugin, for the systems whose entry is its own (macOS and Windows).
    #[cfg_attr(all(unix, not(target_os = "macos")), allow(dead_code))]
    pub fn plugin<R: Runtime>(&self) -> tauri::plugin::TauriPlugin<R> {
        let plugin = tauri_plugin_autostart::Builder::new()
            .args(self.entry.args.clone())
            .app_name(self.entry.name.clone());
        #[cfg(target_os = "macos")]
        let plugin = plugin.macos_launcher(tauri_plugin_autostart::MacosLauncher::LaunchAgent);
        plugin.build()
    }
}

/// Starts the app at login, or not.
///
/// # Errors
/// What kept the entry from being written or removed.
pub fn set<R: Runtime>(app: &AppHandle<R>, on: bool) -> Result<(), String> {
    #[cfg(all(unix, not(target_os = "macos")))]
    {
        let entry = app.state::<LoginEntry>();
        let file = xdg::file(&entry.entry.name).ok_or("no home folder to keep the entry in")?;
        if on {
            xdg::write(
                &file,
                &entry.entry.name,
                &this_program()?,
                &entry.entry.args,
            )
        } else {
            match std::fs::remove_file(&file) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.to_string()),
                _ => Ok(()),
            }
        }
    }
    #[cfg(not(all(unix, not(target_os = "macos"))))]
    {
        plugin_set(app, on)
    }
}

/// An entry written before that starts a program in an AppImage's mount (earlier versions
/// wrote that path; the mount goes when the app ends, and another local user could make it
/// again) is written again, to start this program.
pub fn refresh<R: Runtime>(app: &AppHandle<R>) {
    #[cfg(all(unix, not(target_os = "macos")))]
    {
        let entry = app.state::<LoginEntry>();
        let Ok(program) = this_program() else {
            return;
        };
        match xdg::refresh(&entry.entry.name, &program, &entry.entry.args) {
            Ok(true) => tracing::info!(
                "the start-at-login entry named a program in an AppImage's mount: written again"
            ),
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "cannot write the start-at-login entry again"),
        }
    }
    #[cfg(not(all(unix, not(target_os = "macos"))))]
    let _ = app;
}

/// Whether the app starts at login: the entry is the truth for it.
pub fn is_set<R: Runtime>(app: &AppHandle<R>) -> bool {
    #[cfg(all(unix, not(target_os = "macos")))]
    {
        xdg::file(&app.state::<LoginEntry>().entry.name).is_some_and(|f| f.exists())
    }
    #[cfg(not(all(unix, not(target_os = "macos"))))]
    {
        plugin_is_set(app)
    }
}

// The plugin's entry (macOS and Windows), built everywhere so that Linux checks it too.

/// [`set`] through the autostart plugin.
#[cfg_attr(all(unix, not(target_os = "macos")), allow(dead_code))]
fn plugin_set<R: Runtime>(app: &AppHandle<R>, on: bool) -> Result<(), String> {
    use tauri_plugin_autostart::ManagerExt as _;
    let launcher = app.autolaunch();
    let changed = if on {
        launcher.enable()
    } else {
        launcher.disable()
    };
    changed.map_err(|e| e.to_string())
}

/// [`is_set`] through the autostart plugin.
#[cfg_attr(all(unix, not(target_os = "macos")), allow(dead_code))]
fn plugin_is_set<R: Runtime>(app: &AppHandle<R>) -> bool {
    use tauri_plugin_autostart::ManagerExt as _;
    app.autolaunch().is_enabled().unwrap_or(false)
}

/// The program an entry written now starts: this one (or the AppImage it runs from).
#[cfg(all(unix, not(target_os = "macos")))]
fn this_program() -> Result<std::path::PathBuf, String> {
    xdg::program_of(std::env::current_exe())
}

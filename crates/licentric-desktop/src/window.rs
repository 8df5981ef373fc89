//! Which window the companion shows on Linux: the native one (`<app binary>-window`, GTK 3,
//! a process started only while it is open) where it is installed beside the app and the
//! command-line tool, as the vendor's package installs it; else the app's webview.
//! `LICENTRIC_WINDOW=webview` keeps the webview (a developer's choice, or a test's).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// The variable that chooses the window: [`WEBVIEW`] keeps the app's.
pub const WINDOW_ENV: &str = "LICENTRIC_WINDOW";

/// [`WINDOW_ENV`]'s value that keeps the app's webview.
pub const WEBVIEW: &str = "webview";

/// The native window's file name for the app binary `binary`.
pub fn file_name(binary: &str) -> String {
    format!("{binary}-window")
}

/// The app beside this program (`/usr/bin/<app>` next to `/usr/bin/<cli>`, as the package
/// installs them, or the build folder's), if it is there.
pub fn app() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let app = exe.with_file_name(&licentric_agent::brand::built_in().binary);
    app.is_file().then_some(app)
}

/// The native window beside `exe` (a program of the installation: the app, the command-line
/// tool), unless `choice` (the variable's value) asks for the webview.
pub fn beside(exe: &Path, binary: &str, choice: Option<&OsStr>) -> Option<PathBuf> {
    if choice.is_some_and(|c| c == WEBVIEW) {
        return None;
    }
    let window = exe.with_file_name(file_name(binary));
    window.is_file().then_some(window)
}

/// The native window of this installation (beside this program), if it is the one to show.
pub fn installed() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    beside(
        &exe,
        &licentric_agent::brand::built_in().binary,
        std::env::var_os(WINDOW_ENV).as_deref(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_native_window_is_the_one_beside_unless_the_webview_is_chosen() {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("acme-cad-license");
        assert_eq!(beside(&exe, "acme-cad", None), None, "not installed");
        let window = dir.path().join("acme-cad-window");
        std::fs::write(&window, b"").unwrap();
        assert_eq!(beside(&exe, "acme-cad", None), Some(window.clone()));
        assert_eq!(
            beside(&exe, "acme-cad", Some(OsStr::new("native"))),
            Some(window)
        );
        assert_eq!(beside(&exe, "acme-cad", Some(OsStr::new("webview"))), None);
    }
}

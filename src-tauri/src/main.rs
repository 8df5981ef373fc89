//! `licentric-companion`: the desktop app. Everything is in the library; see [`licentric_companion::run`].
// No console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() -> std::process::ExitCode {
    #[cfg(all(unix, not(target_os = "macos")))]
    draw_without_compositing();
    licentric_companion::run()
}

/// WebKitGTK's accelerated compositing keeps GPU buffers for a page — and, on a desktop with no
/// GPU, Mesa's software renderer's — that this small, mostly static window does not need: the
/// web process holds about 60 MB less without it (`cargo bench -p licentric-e2e --bench
/// desktop`). A user's own setting of the variable wins.
#[cfg(all(unix, not(target_os = "macos")))]
#[allow(unsafe_code)] // setting one environment variable, see below
fn draw_without_compositing() {
    const VARIABLE: &str = "WEBKIT_DISABLE_COMPOSITING_MODE";
    if std::env::var_os(VARIABLE).is_none() {
        // SAFETY: the first thing `main` does: no other thread exists yet that could read the
        // environment while it changes.
        unsafe { std::env::set_var(VARIABLE, "1") };
    }
}

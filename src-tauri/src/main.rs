//! `licentric-companion`: the desktop app. Everything is in the library; see [`licentric_companion::run`].
// No console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() -> std::process::ExitCode {
    licentric_companion::run()
}

//! Licentric Companion: the desktop app around the [`licentric_agent::Agent`].
//!
//! - [`app`]: start-up, the window's life cycle (closing it keeps the agent in the tray),
//!   one instance per user, links handed over by a second launch; on Linux, the hand-over to
//!   the native window (`licentric-window`);
//! - [`backend`]: where the answers come from — the app's own agent, or a headless agent
//!   already serving this product, whose client the app then is;
//! - [`commands`]: the UI's commands, each a few lines over the backend, returning
//!   [`error::UiError`] (`{code, message}`);
//! - [`tray`], [`notifier`] (notifications the user can switch off), [`args`] (the command
//!   line and `licentric://` links); the settings and the diagnostics report are
//!   [`licentric_desktop`]'s, shared with the native window;
//!   [`help`] (the vendor's help page, in the system's browser), [`login`] (start at login),
//!   [`navigation`] (the window never leaves the app's own pages).
//!
//! The UI is plain HTML, CSS and JavaScript in `ui/`, with no remote content; its
//! capabilities grant it the app's own commands and events and nothing else.
#![deny(missing_docs)]

pub mod app;
pub mod args;
pub mod backend;
pub mod commands;
pub mod error;
pub mod help;
pub mod login;
pub mod navigation;
pub mod notifier;
pub mod tray;

/// Runs the app until the user quits it.
pub fn run() -> std::process::ExitCode {
    app::run()
}

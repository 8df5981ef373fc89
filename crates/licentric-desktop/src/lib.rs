//! What the app's webview window and the native window share on the desktop: the user's
//! settings ([`settings`]), start at login ([`login`]) and the diagnostics report
//! ([`diagnostics`]), so that either window reads and writes the same.

pub mod diagnostics;
pub mod login;
pub mod settings;

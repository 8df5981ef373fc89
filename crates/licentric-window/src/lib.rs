//! The companion's native window on Linux (`licentric-window`): what it shows, in words
//! ([`view`], pure), how it asks the agent ([`agent`]), and the GTK 3 widgets ([`window`]).

pub mod agent;
pub mod import;
pub mod view;
#[cfg(target_os = "linux")]
pub mod window;

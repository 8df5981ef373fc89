//! Start at login: an entry named after the product (and its environment, so test and live
//! entries differ) that starts the app in the tray (`--hidden`) with the configuration it was
//! started with. The app and the native window write the same entry: on Linux its own XDG
//! autostart file ([`xdg`]); on macOS and Windows the app's autostart plugin's.

use std::path::PathBuf;

use licentric_agent::config::CompanionConfig;

#[cfg(all(unix, not(target_os = "macos")))]
pub mod xdg;

/// The app's argument that starts it in the tray, with no window.
pub const HIDDEN: &str = "--hidden";

/// What the entry starts, and its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The entry's name: the product's.
    pub name: String,
    /// The app's arguments at login.
    pub args: Vec<String>,
}

impl Entry {
    /// The entry for a program started with the configuration file `named` (by `--config`;
    /// else `$LICENTRIC_CONFIG`, else none) and `config` (none when it could not be read: the
    /// app's name, then).
    pub fn new(named: Option<PathBuf>, config: Option<&CompanionConfig>) -> Entry {
        let mut args = vec![HIDDEN.to_owned()];
        let named = named.or_else(|| {
            std::env::var_os(licentric_agent::config::CONFIG_ENV)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        });
        if let Some(path) = named {
            let path = std::fs::canonicalize(&path).unwrap_or(path);
            args.extend(["--config".to_owned(), path.display().to_string()]);
        }
        let name = match config {
            Some(config) => match config.environment() {
                licentric_proto::Environment::Live => config.product_name().to_owned(),
                licentric_proto::Environment::Test => format!("{} (test)", config.product_name()),
            },
            None => licentric_agent::brand::built_in().app_name.clone(),
        };
        Entry { name, args }
    }
}

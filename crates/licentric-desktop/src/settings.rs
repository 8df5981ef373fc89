//! The user's settings for the app, kept beside the agent's data (`companion-settings.json`).
//! Start at login is not stored here: the OS's autostart entry is the truth for it.

use std::path::{Path, PathBuf};

use licentric_agent::config::{CompanionConfig, ConfigSource};
use serde::{Deserialize, Serialize};

/// The settings file's name, in the agent's data folder (an agent running apart from the app
/// reads it too, for the notifications).
pub const FILE_NAME: &str = licentric_agent::notify::SETTINGS_FILE;

/// Where a proxy is set for `config`: the test file it was read from, or the preferences file
/// laid over the vendor's configuration (the one read, or the one to create); with no
/// configuration, where that file would be.
pub fn preferences_file(config: Option<&CompanionConfig>) -> Option<PathBuf> {
    config
        .and_then(|c| match c.source() {
            ConfigSource::TestFile(path) => Some(path.clone()),
            _ => c.preferences().map(Path::to_path_buf),
        })
        .or_else(|| {
            licentric_agent::brand::built_in()
                .config_dir()
                .map(|d| d.join("companion.toml"))
        })
}

/// What the user chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Desktop notifications on or off.
    pub notifications: bool,
}

/// Where the settings live.
#[derive(Debug, Clone)]
pub struct SettingsFile {
    path: PathBuf,
}

impl SettingsFile {
    /// The settings file in the data folder `dir`.
    pub fn in_dir(dir: &Path) -> SettingsFile {
        SettingsFile {
            path: dir.join(FILE_NAME),
        }
    }

    /// The saved settings; `default` when none were saved or the file is unreadable (logged:
    /// a damaged settings file must not keep the app from starting).
    pub fn load(&self, default: Settings) -> Settings {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!(path = %self.path.display(), error = %e, "ignoring unreadable settings");
                default
            }),
            Err(_) => default,
        }
    }

    /// Saves `settings` atomically.
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn save(&self, settings: &Settings) -> std::io::Result<()> {
        let bytes = serde_json::to_vec_pretty(settings).map_err(std::io::Error::other)?;
        licentric_agent::storage::write_atomic(&self.path, &bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_loads_and_survives_a_damaged_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = SettingsFile::in_dir(dir.path());
        let on = Settings {
            notifications: true,
        };
        let off = Settings {
            notifications: false,
        };
        assert_eq!(file.load(on), on, "nothing saved: the default");
        file.save(&off).unwrap();
        assert_eq!(file.load(on), off, "saved value wins over the default");
        std::fs::write(dir.path().join(FILE_NAME), b"{not json").unwrap();
        assert_eq!(file.load(on), on, "damaged: the default, no error");
    }
}

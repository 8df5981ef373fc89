//! The data folder: `license.lic` (the signed file) and `state.json` (machine id, refresh
//! record, clock guard), sealed with the state key so an edit is detected. Every write is
//! atomic: a temporary file, fsync, rename, fsync of the folder — a crash or `kill -9` leaves
//! the old file or the new one, never a torn one.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use licentric_core::clock::ClockGuard;
use licentric_core::refresh::WarningsGiven;
use licentric_core::state::RefreshRecord;
use licentric_proto::LicenseState;
use serde::{Deserialize, Serialize};

const LICENSE_FILE: &str = "license.lic";
const STATE_FILE: &str = "state.json";

/// What the agent remembers between runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersistedState {
    /// This machine's id on the server.
    pub machine_id: Option<String>,
    /// The redacted licence key.
    pub key_hint: Option<String>,
    /// Refresh history.
    pub record: RefreshRecord,
    /// The clock high-water mark.
    pub guard: ClockGuard,
    /// Expiry warnings already given.
    pub warnings: WarningsGiven,
    /// The state last reported, to notify on changes across restarts.
    pub last_state: Option<LicenseState>,
    /// Machines active on the licence at the last contact (the server's word, unsigned:
    /// shown to the user, never used to decide the licence's state).
    #[serde(default)]
    pub machines_active: Option<u32>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Sealed {
    v: u32,
    body: String,
    mac: String,
}

/// What reading the state found.
#[derive(Debug)]
pub enum StateRead {
    /// No state yet.
    Missing,
    /// The state, intact.
    Valid(PersistedState),
    /// The file was edited or is corrupt: not trusted.
    Invalid,
}

/// The data folder.
#[derive(Debug, Clone)]
pub struct Storage {
    dir: PathBuf,
}

impl Storage {
    /// The folder (created 0700 if missing).
    ///
    /// # Errors
    /// When it cannot be created.
    pub fn open(dir: &Path) -> std::io::Result<Storage> {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir)?;
        Ok(Storage {
            dir: dir.to_owned(),
        })
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The cached licence file's bytes, if any.
    ///
    /// # Errors
    /// On a read error other than "not found".
    pub fn read_license(&self) -> std::io::Result<Option<Vec<u8>>> {
        read_optional(&self.dir.join(LICENSE_FILE))
    }

    /// Replaces the cached licence file, atomically.
    ///
    /// # Errors
    /// When it cannot be written; the old file is then intact.
    pub fn write_license(&self, text: &str) -> std::io::Result<()> {
        write_atomic(&self.dir.join(LICENSE_FILE), text.as_bytes())
    }

    /// Removes the cached licence file and the state (deactivation).
    ///
    /// # Errors
    /// On a removal error other than "not found".
    pub fn clear(&self) -> std::io::Result<()> {
        for name in [LICENSE_FILE, STATE_FILE] {
            match std::fs::remove_file(self.dir.join(name)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }

    /// Reads the sealed state with `key`.
    pub fn read_state(&self, key: &[u8]) -> StateRead {
        let bytes = match read_optional(&self.dir.join(STATE_FILE)) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return StateRead::Missing,
            Err(_) => return StateRead::Invalid,
        };
        let Ok(sealed) = serde_json::from_slice::<Sealed>(&bytes) else {
            return StateRead::Invalid;
        };
        if sealed.v != 1
            || !licentric_core::ct_eq_str(&sealed.mac, &mac(key, sealed.body.as_bytes()))
        {
            return StateRead::Invalid;
        }
        match serde_json::from_str(&sealed.body) {
            Ok(state) => StateRead::Valid(state),
            Err(_) => StateRead::Invalid,
        }
    }

    /// Writes the state sealed with `key`, atomically.
    ///
    /// # Errors
    /// When it cannot be written.
    pub fn write_state(&self, state: &PersistedState, key: &[u8]) -> std::io::Result<()> {
        let body = serde_json::to_string(state).map_err(std::io::Error::other)?;
        let sealed = Sealed {
            v: 1,
            mac: mac(key, body.as_bytes()),
            body,
        };
        write_atomic(
            &self.dir.join(STATE_FILE),
            &serde_json::to_vec(&sealed).map_err(std::io::Error::other)?,
        )
    }
}

fn mac(key: &[u8], body: &[u8]) -> String {
    licentric_core::hex::encode(&licentric_core::hmac_sha256(
        key,
        &[b"licentric.state.v1\n", body],
    ))
}

fn read_optional(path: &Path) -> std::io::Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Writes `bytes` to `path` atomically (mode 0600): temporary file, fsync, rename, fsync of
/// the folder.
///
/// # Errors
/// When any step fails; `path` is then untouched.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, path)?;
        #[cfg(unix)]
        std::fs::File::open(dir)?.sync_all()?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_state_detects_edits() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(dir.path()).unwrap();
        assert!(matches!(storage.read_state(b"k"), StateRead::Missing));
        let state = PersistedState {
            machine_id: Some("mach_1".into()),
            ..PersistedState::default()
        };
        storage.write_state(&state, b"k").unwrap();
        assert!(matches!(storage.read_state(b"k"), StateRead::Valid(s) if s == state));
        assert!(matches!(
            storage.read_state(b"other key"),
            StateRead::Invalid
        ));
        let path = dir.path().join(STATE_FILE);
        let edited = std::fs::read_to_string(&path)
            .unwrap()
            .replace("mach_1", "mach_2");
        std::fs::write(&path, edited).unwrap();
        assert!(
            matches!(storage.read_state(b"k"), StateRead::Invalid),
            "an edit must be detected"
        );
        std::fs::write(&path, "garbage").unwrap();
        assert!(matches!(storage.read_state(b"k"), StateRead::Invalid));
    }

    #[test]
    fn atomic_writes_replace_whole_files() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(dir.path()).unwrap();
        storage.write_license("one").unwrap();
        storage.write_license("two").unwrap();
        assert_eq!(storage.read_license().unwrap().unwrap(), b"two");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
        storage.clear().unwrap();
        assert_eq!(storage.read_license().unwrap(), None);
    }
}

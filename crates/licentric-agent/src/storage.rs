//! The data folder: `license.lic` (the signed file) and `state.json` (what the agent has
//! learnt: [`Memory`]), sealed with the state key so an edit is detected. Every write is
//! atomic: a temporary file, fsync, rename, fsync of the folder — a crash or `kill -9` leaves
//! the old file or the new one, never a torn one, and at most a temporary file, which the next
//! agent to open the folder removes. One agent writes a folder at a time: it holds a lock on
//! `.lock` while it runs.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use licentric_core::Memory;
use serde::{Deserialize, Serialize};

const LICENSE_FILE: &str = "license.lic";
/// Where a state that could not be read is moved before a new one is written.
const UNREADABLE_STATE_FILE: &str = "state.unreadable.json";
const STATE_FILE: &str = "state.json";
const LOCK_FILE: &str = ".lock";

/// What the agent remembers between runs: [`Memory`], kept sealed.
pub type PersistedState = Memory;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Sealed {
    v: u32,
    body: String,
    mac: String,
}

/// What reading the state found.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // read once, at start, and moved into the memory at once
pub enum StateRead {
    /// No state yet.
    Missing,
    /// The state, intact.
    Valid(PersistedState),
    /// The file was edited or is corrupt: not trusted.
    Invalid,
}

/// The data folder.
#[derive(Debug)]
pub struct Storage {
    dir: PathBuf,
    /// The lock held while this agent writes the folder (`None` when only reading).
    _lock: Option<std::fs::File>,
}

/// Why the data folder could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// Another agent holds the folder.
    #[error(
        "another licentric agent is using {0} (one agent per product and environment; stop it, or talk to it over its socket)"
    )]
    InUse(PathBuf),
    /// The folder could not be created or locked.
    #[error("cannot open the data folder {path}: {source}")]
    Io {
        /// The folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl Storage {
    /// The folder (created 0700 if missing), locked for this agent, with the temporary files
    /// a crashed writer left behind removed.
    ///
    /// # Errors
    /// [`OpenError::InUse`] when another agent holds it, or why it cannot be opened.
    pub fn open(dir: &Path) -> Result<Storage, OpenError> {
        let io = |source| OpenError::Io {
            path: dir.to_owned(),
            source,
        };
        // Private to this user: created 0700, and refused if it is a link or another user's
        // (a folder someone else made first, in a shared place, could let them read or replace
        // what the agent writes).
        #[cfg(unix)]
        licentric_platform::endpoint::prepare_private_folder(dir)
            .map_err(|e| io(std::io::Error::other(e.to_string())))?;
        #[cfg(not(unix))]
        std::fs::create_dir_all(dir).map_err(io)?;
        let lock = lock(&dir.join(LOCK_FILE)).map_err(|e| match e {
            LockError::Held => OpenError::InUse(dir.to_owned()),
            LockError::Io(e) => io(e),
        })?;
        let storage = Storage {
            dir: dir.to_owned(),
            _lock: Some(lock),
        };
        storage.remove_leftovers();
        Ok(storage)
    }

    /// The folder for reading only: not created, not locked, nothing removed.
    pub fn open_read_only(dir: &Path) -> Storage {
        Storage {
            dir: dir.to_owned(),
            _lock: None,
        }
    }

    /// Removes the temporary files of writes that never finished (a crash, `kill -9`). Safe:
    /// this agent holds the folder's lock, so no other write is under way.
    fn remove_leftovers(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') && name.ends_with(".tmp") {
                match std::fs::remove_file(entry.path()) {
                    Ok(()) => {
                        tracing::info!(file = %name, "removed a temporary file left by an interrupted write")
                    }
                    Err(e) => {
                        tracing::warn!(file = %name, error = %e, "cannot remove a leftover temporary file")
                    }
                }
            }
        }
    }

    /// Removes the cached licence file (the server refused this machine).
    ///
    /// # Errors
    /// On a removal error other than "not found".
    pub fn remove_license(&self) -> std::io::Result<()> {
        remove_optional(&self.dir.join(LICENSE_FILE))
    }

    /// Moves a state that cannot be read (another key, edited, corrupt) aside, to
    /// `state.unreadable.json`, before a new one is written: nothing is overwritten that a
    /// credential store coming back could still open.
    ///
    /// # Errors
    /// When it cannot be renamed.
    pub fn set_state_aside(&self) -> std::io::Result<()> {
        match std::fs::rename(
            self.dir.join(STATE_FILE),
            self.dir.join(UNREADABLE_STATE_FILE),
        ) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
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
            remove_optional(&self.dir.join(name))?;
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

fn remove_optional(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn read_optional(path: &Path) -> std::io::Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

enum LockError {
    Held,
    Io(std::io::Error),
}

/// An exclusive, non-blocking lock on `path`, released when the file is closed (also when the
/// process dies).
#[cfg(unix)]
fn lock(path: &Path) -> Result<std::fs::File, LockError> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(path).map_err(LockError::Io)?;
    match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(file),
        Err(rustix::io::Errno::WOULDBLOCK) => Err(LockError::Held),
        Err(e) => Err(LockError::Io(e.into())),
    }
}

/// Windows: the file is opened with no sharing at all (`share_mode(0)`; std shares read,
/// write and delete by default), so a second agent's open fails with a sharing violation
/// while the first holds it.
#[cfg(windows)]
fn lock(path: &Path) -> Result<std::fs::File, LockError> {
    /// `ERROR_SHARING_VIOLATION` (winerror.h): another handle holds the file unshared.
    const SHARING_VIOLATION: i32 = 32;
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    std::os::windows::fs::OpenOptionsExt::share_mode(&mut options, 0);
    options.open(path).map_err(|e| {
        if e.raw_os_error() == Some(SHARING_VIOLATION)
            || e.kind() == std::io::ErrorKind::PermissionDenied
        {
            LockError::Held
        } else {
            LockError::Io(e)
        }
    })
}

/// Elsewhere: the file only (no lock the system enforces).
#[cfg(not(any(unix, windows)))]
fn lock(path: &Path) -> Result<std::fs::File, LockError> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(LockError::Io)
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
    // A fresh, unpredictable name, created new (never an existing file or a link someone put
    // there): the temporary file is the agent's own from its first byte.
    let suffix = licentric_core::random::random_hex_128(&mut licentric_core::OsRandom)
        .map_err(std::io::Error::other)?;
    let tmp = dir.join(format!(".{name}.{suffix}.tmp"));
    let result = (|| {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options
                .mode(0o600)
                .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32);
        }
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
    fn one_agent_holds_a_folder_and_leftovers_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".license.lic.4242.tmp"), "half a file").unwrap();
        let first = Storage::open(dir.path()).unwrap();
        assert!(
            !dir.path().join(".license.lic.4242.tmp").exists(),
            "the leftover of an interrupted write is removed"
        );
        assert!(matches!(
            Storage::open(dir.path()),
            Err(OpenError::InUse(_))
        ));
        drop(first);
        Storage::open(dir.path()).unwrap();
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

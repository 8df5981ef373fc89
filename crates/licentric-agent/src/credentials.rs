//! The credential store: the licence key and the state key live in the OS store (Secret
//! Service, Keychain, Credential Manager) through `keyring`, behind [`CredentialStore`].
//!
//! With no OS store reachable, the companion never writes plaintext: where the vendor's
//! configuration allows it (it is off by default, and only the vendor's configuration or a
//! test one can turn it on), it uses [`FileStore`] — a 0600 file, AES-256-GCM with a key
//! derived from this machine's id — and says so in `status` and the log; otherwise it reports
//! what to install or unlock.
//!
//! Be clear about what the file store protects: the machine id it derives its key from is
//! readable by every local user (`/etc/machine-id`), so the encryption only keeps the secrets
//! from being read by a glance at the file or from a copy taken to a machine whose id the
//! reader does not know. Against other local users, the file's 0600 mode is the protection —
//! as with an SSH private key without a passphrase. The OS store is better (it is unlocked
//! with the user's session and held by a service); use the file store for headless machines.

use std::collections::BTreeMap;
use std::path::PathBuf;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use licentric_core::{MachineId, OsRandom, SecureRandom};
use licentric_proto::CredentialStoreKind;
use zeroize::Zeroizing;

/// The entry holding the licence key.
pub const LICENSE_KEY: &str = "license-key";
/// The entry holding the 32-byte key that seals the local state.
pub const STATE_KEY: &str = "state-key";
/// The entry holding the state's anchor (JSON: the clock's high-water mark, the newest file
/// accepted, whether the server said the machine is gone), so that a data folder restored from
/// an older copy cannot turn the mark back, bring back an older file or undo a deactivation.
pub const STATE_ANCHOR: &str = "state-anchor";

/// A credential store failure, with what to do about it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct CredentialError(pub String);

/// Where secrets are kept.
pub trait CredentialStore: Send + Sync {
    /// Which kind of store this is.
    fn kind(&self) -> CredentialStoreKind;
    /// Reads a secret; `None` if there is none.
    ///
    /// # Errors
    /// When the store fails.
    fn get(&self, name: &str) -> Result<Option<Zeroizing<Vec<u8>>>, CredentialError>;
    /// Writes a secret.
    ///
    /// # Errors
    /// When the store fails.
    fn set(&self, name: &str, secret: &[u8]) -> Result<(), CredentialError>;
    /// Deletes a secret (nothing if there is none).
    ///
    /// # Errors
    /// When the store fails.
    fn delete(&self, name: &str) -> Result<(), CredentialError>;
}

/// The OS store through `keyring`: service `com.licentric.companion.<product_id>.<environment>`
/// (see `CompanionConfig::credential_service`), so test and live never share an entry.
///
/// It is asked afresh at every operation: a keyring that is locked or not yet running when
/// the agent starts (an autostart before the login keyring unlocks, an ssh session) answers
/// later, and [`kind`](CredentialStore::kind) says `unavailable` meanwhile.
#[derive(Debug)]
pub struct KeyringStore {
    service: String,
    reachable: std::sync::atomic::AtomicBool,
}

impl KeyringStore {
    /// The store of `service`; [`reachable`](Self::reachable) says whether it answered now.
    pub fn open(service: &str) -> KeyringStore {
        let store = KeyringStore {
            service: service.to_owned(),
            reachable: std::sync::atomic::AtomicBool::new(false),
        };
        let _ = store.get(STATE_KEY);
        store
    }

    /// Whether the OS store answered the last operation.
    pub fn reachable(&self) -> bool {
        self.reachable.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn entry(&self, name: &str) -> Result<keyring_core::Entry, CredentialError> {
        platform_entry(&self.service, name).map_err(explain)
    }

    /// Notes whether the store answered.
    fn answered<T>(&self, result: Result<T, CredentialError>) -> Result<T, CredentialError> {
        self.reachable
            .store(result.is_ok(), std::sync::atomic::Ordering::Relaxed);
        result
    }
}

/// macOS and Windows: `keyring` chooses the native store (Keychain, Credential Manager).
#[cfg(any(target_os = "macos", target_os = "windows"))]
fn platform_entry(service: &str, name: &str) -> keyring_core::Result<keyring_core::Entry> {
    keyring::Entry::new(service, name).map(|e| e.inner)
}

/// Linux and the BSDs: the Secret Service through libdbus, set up at the first use that
/// finds a session bus (and tried again later if none answered yet).
#[cfg(all(unix, not(target_os = "macos")))]
fn platform_entry(service: &str, name: &str) -> keyring_core::Result<keyring_core::Entry> {
    static READY: std::sync::Mutex<bool> = std::sync::Mutex::new(false);
    let mut ready = READY
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !*ready {
        match dbus_secret_service_keyring_store::Store::new() {
            Ok(store) => {
                keyring_core::set_default_store(store);
                *ready = true;
            }
            Err(e) => {
                tracing::debug!(error = %e, "no Secret Service");
                return Err(keyring_core::Error::NoDefaultStore);
            }
        }
    }
    drop(ready);
    keyring_core::Entry::new(service, name)
}

#[cfg(not(any(unix, target_os = "windows")))]
fn platform_entry(_service: &str, _name: &str) -> keyring_core::Result<keyring_core::Entry> {
    Err(keyring_core::Error::NoDefaultStore)
}

fn explain(e: keyring_core::Error) -> CredentialError {
    let hint = if cfg!(target_os = "linux") {
        "install and unlock a Secret Service provider (gnome-keyring or KeePassXC) in your desktop session"
    } else if cfg!(target_os = "macos") {
        "unlock your login keychain"
    } else {
        "check that Windows Credential Manager is available for your account"
    };
    CredentialError(format!(
        "the OS credential store is not available ({e}); {hint}"
    ))
}

impl CredentialStore for KeyringStore {
    fn kind(&self) -> CredentialStoreKind {
        if self.reachable() {
            CredentialStoreKind::Os
        } else {
            CredentialStoreKind::Unavailable
        }
    }

    fn get(&self, name: &str) -> Result<Option<Zeroizing<Vec<u8>>>, CredentialError> {
        self.answered(self.entry(name).and_then(|entry| match entry.get_secret() {
            Ok(secret) => Ok(Some(Zeroizing::new(secret))),
            Err(keyring_core::Error::NoEntry) => Ok(None),
            Err(e) => Err(explain(e)),
        }))
    }

    fn set(&self, name: &str, secret: &[u8]) -> Result<(), CredentialError> {
        self.answered(
            self.entry(name)
                .and_then(|entry| entry.set_secret(secret).map_err(explain)),
        )
    }

    fn delete(&self, name: &str) -> Result<(), CredentialError> {
        self.answered(
            self.entry(name)
                .and_then(|entry| match entry.delete_credential() {
                    Ok(()) | Err(keyring_core::Error::NoEntry) => Ok(()),
                    Err(e) => Err(explain(e)),
                }),
        )
    }
}

/// The encrypted-file fallback: `credentials.sealed` (0600), each secret AES-256-GCM-sealed
/// with a key derived from this machine's id, so the file is useless on another machine.
pub struct FileStore {
    path: PathBuf,
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for FileStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl FileStore {
    /// The store in `dir`, sealed with a key derived from `machine` and `service`.
    pub fn new(dir: &std::path::Path, machine: &MachineId, service: &str) -> FileStore {
        let key = machine.fingerprint(&format!("credential-file:{service}"));
        let bytes = Zeroizing::new(
            licentric_core::hex::decode_array::<32>(key.as_str()).unwrap_or([0; 32]),
        );
        FileStore {
            path: dir.join("credentials.sealed"),
            cipher: Aes256Gcm::new(&(*bytes).into()),
        }
    }

    fn read_all(&self) -> Result<BTreeMap<String, String>, CredentialError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|_| CredentialError(format!("{} is corrupt", self.path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(CredentialError(format!(
                "cannot read {}: {e}",
                self.path.display()
            ))),
        }
    }

    fn write_all(&self, map: &BTreeMap<String, String>) -> Result<(), CredentialError> {
        let bytes = serde_json::to_vec(map).map_err(|e| CredentialError(e.to_string()))?;
        crate::storage::write_atomic(&self.path, &bytes)
            .map_err(|e| CredentialError(format!("cannot write {}: {e}", self.path.display())))
    }
}

impl CredentialStore for FileStore {
    fn kind(&self) -> CredentialStoreKind {
        CredentialStoreKind::File
    }

    fn get(&self, name: &str) -> Result<Option<Zeroizing<Vec<u8>>>, CredentialError> {
        let Some(sealed) = self.read_all()?.remove(name) else {
            return Ok(None);
        };
        let raw = STANDARD
            .decode(sealed)
            .map_err(|_| CredentialError("a sealed credential is corrupt".into()))?;
        if raw.len() < 12 {
            return Err(CredentialError("a sealed credential is corrupt".into()));
        }
        let (nonce, ct) = raw.split_at(12);
        let nonce: [u8; 12] = nonce
            .try_into()
            .map_err(|_| CredentialError("corrupt".into()))?;
        self.cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ct,
                    aad: name.as_bytes(),
                },
            )
            .map(|p| Some(Zeroizing::new(p)))
            .map_err(|_| {
                CredentialError("a sealed credential does not open on this machine".into())
            })
    }

    fn set(&self, name: &str, secret: &[u8]) -> Result<(), CredentialError> {
        let mut nonce = [0u8; 12];
        OsRandom
            .fill(&mut nonce)
            .map_err(|e| CredentialError(e.to_string()))?;
        let ct = self
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: secret,
                    aad: name.as_bytes(),
                },
            )
            .map_err(|_| CredentialError("encryption failed".into()))?;
        let mut raw = nonce.to_vec();
        raw.extend_from_slice(&ct);
        let mut map = self.read_all()?;
        map.insert(name.to_owned(), STANDARD.encode(raw));
        self.write_all(&map)
    }

    fn delete(&self, name: &str) -> Result<(), CredentialError> {
        let mut map = self.read_all()?;
        if map.remove(name).is_some() {
            self.write_all(&map)?;
        }
        Ok(())
    }
}

/// Secrets in memory only: for tests, and for embedding the agent where nothing may persist.
#[derive(Debug, Default)]
pub struct MemoryStore(std::sync::Mutex<BTreeMap<String, Zeroizing<Vec<u8>>>>);

impl MemoryStore {
    fn entries(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Zeroizing<Vec<u8>>>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl CredentialStore for MemoryStore {
    fn kind(&self) -> CredentialStoreKind {
        CredentialStoreKind::Os
    }
    fn get(&self, name: &str) -> Result<Option<Zeroizing<Vec<u8>>>, CredentialError> {
        Ok(self.entries().get(name).cloned())
    }
    fn set(&self, name: &str, secret: &[u8]) -> Result<(), CredentialError> {
        self.entries()
            .insert(name.to_owned(), Zeroizing::new(secret.to_vec()));
        Ok(())
    }
    fn delete(&self, name: &str) -> Result<(), CredentialError> {
        self.entries().remove(name);
        Ok(())
    }
}

/// No store at all: every operation fails with the reason.
#[derive(Debug)]
pub struct Unavailable(pub CredentialError);

impl CredentialStore for Unavailable {
    fn kind(&self) -> CredentialStoreKind {
        CredentialStoreKind::Unavailable
    }
    fn get(&self, _: &str) -> Result<Option<Zeroizing<Vec<u8>>>, CredentialError> {
        Err(self.0.clone())
    }
    fn set(&self, _: &str, _: &[u8]) -> Result<(), CredentialError> {
        Err(self.0.clone())
    }
    fn delete(&self, _: &str) -> Result<(), CredentialError> {
        Err(self.0.clone())
    }
}

/// Which store a data folder's state is kept with, recorded when its state key is made, so
/// the agent never switches silently: an OS store that does not answer at one start must not
/// make the agent seal a new state in the file store, nor the reverse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreChoice {
    /// The OS credential store.
    Os,
    /// The encrypted-file store.
    File,
}

const STORE_MARKER: &str = "credential-store";

/// The store `data_dir`'s state was made with, if it says.
pub fn recorded_choice(data_dir: &std::path::Path) -> Option<StoreChoice> {
    match std::fs::read_to_string(data_dir.join(STORE_MARKER))
        .ok()?
        .trim()
    {
        "os" => Some(StoreChoice::Os),
        "file" => Some(StoreChoice::File),
        _ => None,
    }
}

/// Records the store of `data_dir`'s state (when its state key is first made).
///
/// # Errors
/// When the marker cannot be written.
pub fn record_choice(data_dir: &std::path::Path, kind: CredentialStoreKind) -> std::io::Result<()> {
    let text = match kind {
        CredentialStoreKind::File => "file\n",
        _ => "os\n",
    };
    crate::storage::write_atomic(&data_dir.join(STORE_MARKER), text.as_bytes())
}

/// The store for a data folder: the one its state was made with, if it says (an OS store
/// that does not answer yet is waited for, never replaced by the file store); else the OS
/// store if it answers, the file store where `allow_file`, or the OS store to wait for.
pub fn open(
    service: &str,
    allow_file: bool,
    data_dir: &std::path::Path,
    machine: Option<&MachineId>,
) -> Box<dyn CredentialStore> {
    let keyring = KeyringStore::open(service);
    let file = || machine.map(|m| Box::new(FileStore::new(data_dir, m, service)));
    match (recorded_choice(data_dir), keyring.reachable(), allow_file) {
        (Some(StoreChoice::File), _, true) => {
            if let Some(store) = file() {
                return store;
            }
        }
        (Some(StoreChoice::File), _, false) => {
            return Box::new(Unavailable(CredentialError(
                "this machine's licence is kept in the encrypted file store, which the configuration no longer allows".into(),
            )));
        }
        (Some(StoreChoice::Os), false, _) => {
            tracing::warn!(
                "the OS credential store does not answer yet; waiting for it (the licence's state was made with it)"
            );
        }
        (None, false, true) => {
            if let Some(store) = file() {
                tracing::warn!(
                    "no OS credential store: using the encrypted file store, as the configuration allows"
                );
                return store;
            }
        }
        (None, false, false) => tracing::warn!(
            "no OS credential store, and the configuration does not allow the file store"
        ),
        _ => {}
    }
    Box::new(keyring)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_store_round_trips_and_is_bound_to_the_machine() {
        let dir = tempfile::tempdir().unwrap();
        let here = MachineId::new("0123456789abcdef0123456789abcdef", "t").unwrap();
        let store = FileStore::new(dir.path(), &here, "acme-cad");
        assert_eq!(store.get(LICENSE_KEY).unwrap(), None);
        store.set(LICENSE_KEY, b"ACME-7QX2-M4KD-9PZT-H3WC").unwrap();
        assert_eq!(
            store.get(LICENSE_KEY).unwrap().unwrap().as_slice(),
            b"ACME-7QX2-M4KD-9PZT-H3WC"
        );
        let on_disk = std::fs::read(dir.path().join("credentials.sealed")).unwrap();
        assert!(
            !on_disk.windows(4).any(|w| w == b"7QX2"),
            "the file holds no plaintext"
        );
        let elsewhere = FileStore::new(
            dir.path(),
            &MachineId::new("ffffffffffffffffffffffffffffffff", "t").unwrap(),
            "acme-cad",
        );
        assert!(
            elsewhere.get(LICENSE_KEY).is_err(),
            "another machine cannot open it"
        );
        store.delete(LICENSE_KEY).unwrap();
        assert_eq!(store.get(LICENSE_KEY).unwrap(), None);
    }
}

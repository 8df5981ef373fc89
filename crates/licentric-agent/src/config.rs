//! `companion.toml`: the companion's configuration (`docs/companion.md`), and **who may set what**.
//!
//! The trust anchors of the **live** environment — the product, the API address, the signing
//! public keys and the pins — come from the vendor alone: the configuration built into the
//! binary ([`BUILT_IN`], from `LICENTRIC_VENDOR_CONFIG` at build time), or a file that only root
//! can write (the file and every folder above it owned by root and not writable by anyone
//! else; [`system_config`] is looked for by default). A file the user can write —
//! `--config`, `LICENTRIC_CONFIG`, the user's config folder — may set:
//!
//! - the user's own **preferences** (`proxy`, `[notifications]`), laid over the vendor's
//!   configuration; or
//! - a whole **test** environment (`environment = "test"`: the sandbox), which never satisfies
//!   a live app — a test licence file fails a live verification, and test and live never share
//!   a credential-store entry, a data folder or a socket.
//!
//! A user's file that sets the live environment's anchors is refused with an error that says
//! so. Parsing is strict: unknown keys and bad values are errors naming the file, line and key;
//! an `http://` API address is refused, and so is anything that looks like a management API
//! key — the companion never holds one. Parsed once into a typed value: the prefix, keys and
//! pins are checked types, not strings to parse again.

use std::path::{Path, PathBuf};

use licentric_core::{KeyPrefix, TrustedKey};
use licentric_proto::Environment;
use serde::Deserialize;

/// The variable naming the configuration file.
pub const CONFIG_ENV: &str = "LICENTRIC_CONFIG";

/// The vendor's system-wide configuration file, trusted only if root alone can write it:
/// `/etc/<folder>/companion.toml`, with the brand's folder (`/etc/licentric/companion.toml`
/// unless the vendor's build names its own).
pub fn system_config() -> PathBuf {
    Path::new("/etc")
        .join(&crate::brand::built_in().folder)
        .join("companion.toml")
}

/// The vendor's configuration built into this binary: the text of the file named by
/// `LICENTRIC_VENDOR_CONFIG` when it was built (see `docs/companion.md`), or `None`.
pub const BUILT_IN: Option<&str> = {
    let text: &str = include_str!(concat!(env!("OUT_DIR"), "/vendor-config.toml"));
    if text.is_empty() { None } else { Some(text) }
};

/// Why the configuration was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No configuration anywhere.
    #[error(
        "no configuration found: this build has no vendor configuration built in and {system} is missing (or not protected: it must be root's and writable by root alone); pass --config FILE or set {CONFIG_ENV} for a test environment, or create {0} with your preferences once the vendor's configuration is installed", system = system_config().display()
    )]
    NotFound(String),
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid.
    #[error("{origin}: {message}")]
    Invalid {
        /// Where it came from.
        origin: String,
        /// What is wrong.
        message: String,
    },
    /// A file the user can write tried to set the live environment's trust anchors.
    #[error(
        "{origin}: a configuration file that you can write may not set the live environment's trust anchors ({keys}): those come only from the vendor — built into the program, or in a file only root can write such as {}. Your file may set your preferences (proxy, [notifications]) or a whole test environment (environment = \"test\", for the sandbox).", system_config().display()
    )]
    LiveAnchorsFromUser {
        /// The file.
        origin: String,
        /// The anchor keys it set.
        keys: String,
    },
    /// A file named on the command line (or in the environment) tried to set the live
    /// environment's trust anchors where the vendor's configuration is built in, which no file
    /// replaces — even one only root can write.
    #[error(
        "{origin}: the vendor's configuration is built into this program, and a file named with --config (or {CONFIG_ENV}) does not replace it, so it may not set the live environment's trust anchors ({keys}). It may hold a whole test environment (environment = \"test\", for the sandbox) or your preferences (proxy, [notifications])."
    )]
    LiveAnchorsBesideBuiltIn {
        /// The file.
        origin: String,
        /// The anchor keys it set.
        keys: String,
    },
}

/// Where the configuration in use came from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigSource {
    /// Built into the binary by the vendor.
    BuiltIn,
    /// A file only root can write.
    VendorFile(PathBuf),
    /// A user's file with a whole test environment.
    TestFile(PathBuf),
}

/// The companion's configuration, checked: the values other code needs are typed. Parsed once
/// (unknown keys and bad values refused with the file and the key) and read-only from then on:
/// other crates read it through its methods, so nothing can change a trust anchor or the
/// endpoint after the checks.
#[derive(Debug, Clone)]
pub struct CompanionConfig {
    /// The vendor's product id.
    pub(crate) product_id: String,
    /// The product's name, for people.
    pub(crate) product_name: String,
    /// `test` (the sandbox) or `live`.
    pub(crate) environment: Environment,
    /// The Licentric API, `https://` only.
    pub(crate) api_base_url: String,
    /// The prefix of this product's licence keys.
    pub(crate) key_prefix: KeyPrefix,
    /// The vendor's Ed25519 public keys (several during a rotation).
    pub(crate) trusted_keys: Vec<TrustedKey>,
    /// An extra CA certificate (PEM file) to trust, besides the system's.
    pub(crate) extra_ca: Option<PathBuf>,
    /// Trust only this CA (and no system root): for a private server such as the sandbox.
    pub(crate) extra_ca_only: bool,
    /// SHA-256 pins of the server's SubjectPublicKeyInfo.
    pub(crate) pins: Vec<[u8; 32]>,
    /// An HTTPS proxy; `HTTPS_PROXY` and `NO_PROXY` are honoured too.
    pub(crate) proxy: Option<String>,
    /// Whether the encrypted-file credential store may be used when no OS store is reachable.
    pub(crate) allow_file_credential_store: bool,
    /// Where to keep the licence file and state (default: the user's data folder).
    pub(crate) data_dir: Option<PathBuf>,
    /// Refresh settings.
    pub(crate) refresh: RefreshConfig,
    /// Local IPC settings.
    pub(crate) ipc: IpcConfig,
    /// Desktop notifications.
    pub(crate) notifications: NotificationConfig,
    /// Where it came from.
    pub(crate) source: ConfigSource,
    /// The user's preferences file laid over it, if any.
    pub(crate) preferences: Option<PathBuf>,
}

/// The file's shape, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    product_id: String,
    product_name: String,
    environment: Environment,
    api_base_url: String,
    key_prefix: String,
    trusted_keys: Vec<String>,
    #[serde(default)]
    extra_ca: Option<PathBuf>,
    #[serde(default)]
    extra_ca_only: bool,
    #[serde(default)]
    pins: Vec<String>,
    #[serde(default)]
    proxy: Option<String>,
    #[serde(default)]
    allow_file_credential_store: bool,
    #[serde(default)]
    data_dir: Option<PathBuf>,
    #[serde(default)]
    refresh: RefreshConfig,
    #[serde(default)]
    ipc: IpcConfig,
    #[serde(default)]
    notifications: NotificationConfig,
}

/// What a user's own file may set over the vendor's configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Preferences {
    #[serde(default)]
    proxy: Option<String>,
    #[serde(default)]
    notifications: Option<NotificationConfig>,
}

/// The keys a preferences file may hold.
const PREFERENCE_KEYS: [&str; 2] = ["proxy", "notifications"];

/// The keys that anchor trust (or decide where the licence lives): only the vendor sets them
/// for the live environment.
const ANCHOR_KEYS: [&str; 10] = [
    "product_id",
    "environment",
    "api_base_url",
    "key_prefix",
    "trusted_keys",
    "extra_ca",
    "extra_ca_only",
    "pins",
    "allow_file_credential_store",
    "ipc",
];

/// `[refresh]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RefreshConfig {
    /// Validity to ask for at checkout (the server bounds it); default: the server's.
    pub ttl_seconds: Option<u64>,
    /// HTTP timeout for one request, seconds.
    pub timeout_seconds: u64,
    /// The longest one operation may take, retries included, seconds: someone may be waiting.
    pub total_seconds: u64,
    /// Attempts of one request on network errors, 5xx and 429.
    pub attempts: u32,
    /// First retry delay within one request, milliseconds (doubles each time).
    pub retry_base_ms: u64,
}

impl Default for RefreshConfig {
    fn default() -> Self {
        RefreshConfig {
            ttl_seconds: None,
            timeout_seconds: 15,
            total_seconds: 30,
            attempts: 4,
            retry_base_ms: 500,
        }
    }
}

/// The longest `refresh.total_seconds` may be: an operation, with the two seconds it may wait
/// for another to finish and the writes after, fits in the time an IPC client waits for a
/// management call (the window and the CLI, which then lose its progress and Cancel).
pub const MAX_TOTAL_SECONDS: u64 = licentric_proto::ipc::MANAGEMENT_WAIT_SECONDS - 10;

/// `[ipc]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IpcConfig {
    /// The socket path (default: `$XDG_RUNTIME_DIR/licentric/<product_id>-<environment>.sock`);
    /// `LICENTRIC_SOCKET` overrides it.
    pub socket: Option<PathBuf>,
    /// Whether `activate`, `deactivate`, `refresh` and `import_license_file` are served.
    pub management: bool,
    /// Connections served at once; more are closed.
    pub max_connections: usize,
    /// A connection silent for this long is closed (subscribers are exempt), seconds.
    pub idle_timeout_seconds: u64,
}

impl Default for IpcConfig {
    fn default() -> Self {
        IpcConfig {
            socket: None,
            management: true,
            max_connections: 64,
            idle_timeout_seconds: 300,
        }
    }
}

/// `[notifications]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotificationConfig {
    /// Whether to show desktop notifications.
    pub enabled: bool,
}

impl Default for NotificationConfig {
    fn default() -> Self {
        NotificationConfig { enabled: true }
    }
}

impl CompanionConfig {
    /// Finds and loads the configuration.
    ///
    /// - The vendor's: `built_in`, else the file named by `explicit` (or `LICENTRIC_CONFIG`)
    ///   when only root can write it, else [`system_config`] when only root can write it.
    /// - The user's: the named file when the user can write it, else the user's config folder
    ///   (`…/licentric/companion.toml`). Preferences are laid over the vendor's configuration; a
    ///   whole test environment is used instead of it when the file was named (or there is no
    ///   vendor configuration); a file that sets live anchors is refused.
    ///
    /// # Errors
    /// [`ConfigError`] when none is found, one is invalid, or a user's file sets live anchors.
    pub fn find(
        explicit: Option<&Path>,
        built_in: Option<&str>,
    ) -> Result<CompanionConfig, ConfigError> {
        let user_default = crate::brand::built_in()
            .config_dir()
            .map(|d| d.join("companion.toml"));
        let named = match (explicit, std::env::var_os(CONFIG_ENV)) {
            (Some(path), _) => Some(path.to_owned()),
            (None, Some(path)) if !path.is_empty() => Some(PathBuf::from(path)),
            _ => None,
        };
        let system = system_config();
        let system = system.as_path();
        resolve(Found {
            built_in,
            named: named.map(|p| Candidate::read(&p)).transpose()?,
            user_default: user_default
                .as_ref()
                .filter(|p| p.exists())
                .map(|p| Candidate::read(p))
                .transpose()?,
            system: if system.exists() {
                Some(Candidate::read(system)?).filter(|c| c.root_only)
            } else {
                None
            },
            user_default_path: user_default
                .map_or_else(|| "companion.toml".to_owned(), |p| p.display().to_string()),
        })
    }

    /// Loads a file as a whole configuration, whoever can write it: for tools and tests. The
    /// companion's binaries use [`find`](Self::find), which applies the rules of who may set
    /// what.
    ///
    /// # Errors
    /// [`ConfigError`] when it cannot be read or is invalid.
    pub fn load(path: &Path) -> Result<CompanionConfig, ConfigError> {
        CompanionConfig::load_file(path, ConfigSource::TestFile(path.to_owned()))
    }

    fn load_file(path: &Path, source: ConfigSource) -> Result<CompanionConfig, ConfigError> {
        Candidate::read(path)?.parse(source)
    }

    /// Relative paths in a file are relative to the file.
    fn relative_to(mut self, path: &Path) -> CompanionConfig {
        let base = path.parent().unwrap_or(Path::new("."));
        for p in [&mut self.extra_ca, &mut self.data_dir, &mut self.ipc.socket]
            .into_iter()
            .flatten()
        {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        self
    }

    /// Parses and checks configuration text.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] with what is wrong.
    pub fn parse(
        text: &str,
        origin: &str,
        source: ConfigSource,
    ) -> Result<CompanionConfig, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            origin: origin.to_owned(),
            message,
        };
        refuse_management_keys(text).map_err(invalid)?;
        let raw: RawConfig = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        raw.check(source).map_err(invalid)
    }

    /// The vendor's product id.
    pub fn product_id(&self) -> &str {
        &self.product_id
    }

    /// The product's name, for people.
    pub fn product_name(&self) -> &str {
        &self.product_name
    }

    /// `test` (the sandbox) or `live`.
    pub fn environment(&self) -> Environment {
        self.environment
    }

    /// The Licentric API, `https://` only.
    pub fn api_base_url(&self) -> &str {
        &self.api_base_url
    }

    /// The vendor's Ed25519 public keys (several during a rotation).
    pub fn trusted_keys(&self) -> &[TrustedKey] {
        &self.trusted_keys
    }

    /// An extra CA certificate (PEM file) to trust, besides the system's.
    pub fn extra_ca(&self) -> Option<&Path> {
        self.extra_ca.as_deref()
    }

    /// Trust only this CA (and no system root): for a private server such as the sandbox.
    pub fn extra_ca_only(&self) -> bool {
        self.extra_ca_only
    }

    /// SHA-256 pins of the server's SubjectPublicKeyInfo.
    pub fn pins(&self) -> &[[u8; 32]] {
        &self.pins
    }

    /// An HTTPS proxy; `HTTPS_PROXY` and `NO_PROXY` are honoured too.
    pub fn proxy(&self) -> Option<&str> {
        self.proxy.as_deref()
    }

    /// Whether the encrypted-file credential store may be used when no OS store is reachable.
    pub fn allow_file_credential_store(&self) -> bool {
        self.allow_file_credential_store
    }

    /// Where to keep the licence file and state (default: the user's data folder).
    pub fn data_dir(&self) -> Option<&Path> {
        self.data_dir.as_deref()
    }

    /// Refresh settings.
    pub fn refresh(&self) -> &RefreshConfig {
        &self.refresh
    }

    /// Local IPC settings.
    pub fn ipc(&self) -> &IpcConfig {
        &self.ipc
    }

    /// Desktop notifications.
    pub fn notifications(&self) -> &NotificationConfig {
        &self.notifications
    }

    /// Where it came from.
    pub fn source(&self) -> &ConfigSource {
        &self.source
    }

    /// The user's preferences file laid over it, if any.
    pub fn preferences(&self) -> Option<&Path> {
        self.preferences.as_deref()
    }

    /// The product's key prefix.
    pub fn prefix(&self) -> &KeyPrefix {
        &self.key_prefix
    }

    /// The credential-store service of this product and environment:
    /// `com.licentric.companion.<product_id>.<environment>`.
    pub fn credential_service(&self) -> String {
        format!(
            "com.licentric.companion.{}.{}",
            self.product_id, self.environment
        )
    }
}

/// A configuration file found, with whether only root can write it.
#[derive(Debug)]
struct Candidate {
    path: PathBuf,
    text: String,
    root_only: bool,
}

impl Candidate {
    /// Reads `path` and judges who can write it from the one handle it was read from, so the
    /// file cannot be swapped between the check and the read.
    fn read(path: &Path) -> Result<Candidate, ConfigError> {
        let (text, root_only) = read_judged(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Ok(Candidate {
            path: path.to_owned(),
            text,
            root_only,
        })
    }

    fn origin(&self) -> String {
        self.path.display().to_string()
    }

    fn parse(&self, source: ConfigSource) -> Result<CompanionConfig, ConfigError> {
        Ok(CompanionConfig::parse(&self.text, &self.origin(), source)?.relative_to(&self.path))
    }
}

/// Everything [`CompanionConfig::find`] found, for [`resolve`] to decide on.
struct Found<'a> {
    built_in: Option<&'a str>,
    named: Option<Candidate>,
    user_default: Option<Candidate>,
    system: Option<Candidate>,
    user_default_path: String,
}

/// Who may set what (the module's rules), as a pure decision over the files found.
fn resolve(found: Found<'_>) -> Result<CompanionConfig, ConfigError> {
    let Found {
        built_in,
        named,
        user_default,
        system,
        user_default_path,
    } = found;
    let (vendor_named, user_named) = match named {
        // Named, and only root can write it: the vendor's file — unless the vendor's
        // configuration is built in, which no file replaces. Then the named file is taken as
        // any file the user names: a test environment (the sandbox), preferences, or live
        // trust anchors (refused) — never set aside without a word.
        Some(c) if c.root_only && built_in.is_none() => (Some(c), None),
        other => (None, other),
    };
    let vendor = match (built_in, vendor_named, system) {
        (Some(text), _, _) => Some(CompanionConfig::parse(
            text,
            "the built-in configuration",
            ConfigSource::BuiltIn,
        )?),
        (None, Some(c), _) | (None, None, Some(c)) => {
            Some(c.parse(ConfigSource::VendorFile(c.path.clone()))?)
        }
        (None, None, None) => None,
    };
    let was_named = user_named.is_some();
    let user = user_named.or(user_default.filter(|c| !c.root_only));
    let Some(user) = user else {
        return vendor.ok_or(ConfigError::NotFound(user_default_path));
    };
    let classified = UserFile::classify(&user.text, &user.origin()).map_err(|e| match e {
        // Only root can write it: it was named beside the built-in configuration.
        ConfigError::LiveAnchorsFromUser { origin, keys } if user.root_only => {
            ConfigError::LiveAnchorsBesideBuiltIn { origin, keys }
        }
        other => other,
    })?;
    match classified {
        UserFile::TestEnvironment if was_named || vendor.is_none() => {
            user.parse(ConfigSource::TestFile(user.path.clone()))
        }
        UserFile::TestEnvironment => Err(ConfigError::Invalid {
            origin: user.origin(),
            message: "it holds a whole test environment, but the vendor's configuration is in use here; pass the file with --config (or LICENTRIC_CONFIG) to use the sandbox, or keep only your preferences (proxy, [notifications]) in it".into(),
        }),
        UserFile::Preferences(prefs) => {
            let mut config = vendor.ok_or(ConfigError::NotFound(user_default_path))?;
            if prefs.proxy.is_some() {
                config.proxy = prefs.proxy;
            }
            if let Some(n) = prefs.notifications {
                config.notifications = n;
            }
            config.preferences = Some(user.path);
            Ok(config)
        }
    }
}

fn refuse_management_keys(text: &str) -> Result<(), String> {
    if text.contains("lk_live_") || text.contains("lk_test_") {
        return Err(
            "it contains what looks like a management API key (lk_live_… or lk_test_…). Those keys \
             manage a vendor's whole account and belong on the vendor's servers only; the companion \
             needs none. Remove it (and rotate it, since it has been shipped)."
                .into(),
        );
    }
    Ok(())
}

/// What a file the user can write holds.
enum UserFile {
    /// A whole configuration of the test environment.
    TestEnvironment,
    /// Preferences to lay over the vendor's configuration.
    Preferences(Preferences),
}

impl UserFile {
    fn classify(text: &str, origin: &str) -> Result<UserFile, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            origin: origin.to_owned(),
            message,
        };
        refuse_management_keys(text).map_err(invalid)?;
        let table: toml::Table = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        let anchors: Vec<&str> = ANCHOR_KEYS
            .iter()
            .copied()
            .filter(|k| table.contains_key(*k))
            .collect();
        if anchors.is_empty() {
            let prefs: Preferences = toml::from_str(text).map_err(|e| {
                invalid(format!(
                    "{e}a file of your preferences may set only {}",
                    PREFERENCE_KEYS.join(" and ")
                ))
            })?;
            return Ok(UserFile::Preferences(prefs));
        }
        match table.get("environment").and_then(toml::Value::as_str) {
            Some("test") => Ok(UserFile::TestEnvironment),
            _ => Err(ConfigError::LiveAnchorsFromUser {
                origin: origin.to_owned(),
                keys: anchors.join(", "),
            }),
        }
    }
}

/// The largest configuration file read: 64 KiB.
const MAX_CONFIG_BYTES: u64 = 64 * 1024;

/// Reads `path` and says whether only root can change what was read: the real path (links
/// resolved first) is opened without following a link, and the open file itself (`fstat`) must
/// belong to root and be writable by no one else, as must every folder above it (a folder with
/// the sticky bit, like `/tmp`, is allowed: no one else can rename or replace what root keeps
/// there) — so no one but root can change what the path names while or after it is read. In a
/// user namespace other than the first (`unshare -U`), where a user can look like root to
/// themselves, no file is root's alone.
#[cfg(unix)]
fn read_judged(path: &Path) -> std::io::Result<(String, bool)> {
    use std::io::Read as _;
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let real = std::fs::canonicalize(path)?;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(&real)?;
    let meta = file.metadata()?;
    let mut text = String::new();
    file.take(MAX_CONFIG_BYTES + 1).read_to_string(&mut text)?;
    if text.len() as u64 > MAX_CONFIG_BYTES {
        return Err(std::io::Error::other("larger than 64 KiB"));
    }
    let root_only = meta.uid() == 0
        && meta.mode() & 0o022 == 0
        && real.parent().is_none_or(folders_only_root_can_write)
        && in_the_first_user_namespace();
    Ok((text, root_only))
}

#[cfg(not(unix))]
fn read_judged(path: &Path) -> std::io::Result<(String, bool)> {
    Ok((std::fs::read_to_string(path)?, false))
}

#[cfg(unix)]
fn folders_only_root_can_write(dir: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    dir.ancestors().all(|p| {
        std::fs::metadata(p).is_ok_and(|meta| {
            let sticky = meta.mode() & 0o1000 != 0;
            meta.uid() == 0 && (meta.mode() & 0o022 == 0 || sticky)
        })
    })
}

/// Whether this process runs in the machine's first user namespace, where uid 0 is root.
#[cfg(target_os = "linux")]
fn in_the_first_user_namespace() -> bool {
    std::fs::read_to_string("/proc/self/uid_map").is_ok_and(|map| {
        let fields: Vec<&str> = map.split_whitespace().collect();
        fields == ["0", "0", "4294967295"]
    })
}

#[cfg(all(unix, not(target_os = "linux")))]
fn in_the_first_user_namespace() -> bool {
    true
}

/// Whether only root can change `path`: it and the folders above it are root's and writable by
/// no one else, read from one handle, in the first user namespace. For tools and tests.
pub fn only_root_can_write(path: &Path) -> bool {
    read_judged(path).is_ok_and(|(_, root_only)| root_only)
}

impl RawConfig {
    fn check(self, source: ConfigSource) -> Result<CompanionConfig, String> {
        let url = reqwest::Url::parse(&self.api_base_url)
            .map_err(|e| format!("api_base_url is not a URL: {e}"))?;
        if url.scheme() != "https" {
            return Err(format!(
                "api_base_url must be https:// (got {}://): licence traffic is never sent unencrypted",
                url.scheme()
            ));
        }
        if url.host().is_none() {
            return Err("api_base_url has no host".into());
        }
        if self.product_id.is_empty()
            || self.product_id.len() > 64
            || !self
                .product_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            return Err(
                "product_id must be 1 to 64 characters of letters, digits, '-', '_' and '.'".into(),
            );
        }
        let key_prefix =
            KeyPrefix::new(&self.key_prefix).map_err(|e| format!("key_prefix: {e}"))?;
        if self.trusted_keys.is_empty() {
            return Err("trusted_keys must name at least one public key".into());
        }
        let trusted_keys = self
            .trusted_keys
            .iter()
            .map(|k| TrustedKey::from_hex(k).map_err(|e| format!("trusted_keys: {k:.16}…: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        let pins = self
            .pins
            .iter()
            .map(|pin| parse_pin(pin))
            .collect::<Result<Vec<_>, _>>()?;
        if self.extra_ca_only && self.extra_ca.is_none() {
            return Err("extra_ca_only needs extra_ca".into());
        }
        if self.refresh.attempts == 0
            || self.ipc.max_connections == 0
            || self.refresh.timeout_seconds == 0
            || self.refresh.total_seconds == 0
        {
            return Err(
                "refresh.attempts, refresh.timeout_seconds, refresh.total_seconds and ipc.max_connections must be at least 1"
                    .into(),
            );
        }
        // A person or an app waits on an operation, and IPC clients give up after a minute: a
        // longer time counts as the longest (a configuration that read before still does).
        let mut refresh = self.refresh;
        refresh.total_seconds = refresh.total_seconds.min(MAX_TOTAL_SECONDS);
        Ok(CompanionConfig {
            product_id: self.product_id,
            product_name: self.product_name,
            environment: self.environment,
            api_base_url: self.api_base_url,
            key_prefix,
            trusted_keys,
            extra_ca: self.extra_ca,
            extra_ca_only: self.extra_ca_only,
            pins,
            proxy: self.proxy,
            allow_file_credential_store: self.allow_file_credential_store,
            data_dir: self.data_dir,
            refresh,
            ipc: self.ipc,
            notifications: self.notifications,
            source,
            preferences: None,
        })
    }
}

/// A pin: `sha256/<base64>` or 64 hex characters.
fn parse_pin(pin: &str) -> Result<[u8; 32], String> {
    use base64::Engine as _;
    let bytes = match pin.strip_prefix("sha256/") {
        Some(b64) => base64::engine::general_purpose::STANDARD
            .decode(b64)
            .ok()
            .and_then(|b| b.try_into().ok()),
        None => licentric_core::hex::decode_array::<32>(pin),
    };
    bytes.ok_or_else(|| format!("pins: {pin:?} is neither sha256/<base64> nor 64 hex characters"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "dea53b80287ff0a6882e7bba383d6248e049640d1c42283bb8d0632b7f875fd2";

    fn sample(extra: &str) -> String {
        format!(
            "product_id = \"acme-cad\"\nproduct_name = \"Acme CAD\"\nenvironment = \"test\"\n\
             api_base_url = \"https://127.0.0.1:8443\"\nkey_prefix = \"ACME\"\ntrusted_keys = [\"{KEY}\"]\n{extra}"
        )
    }

    fn parse(text: &str) -> Result<CompanionConfig, ConfigError> {
        CompanionConfig::parse(text, "t", ConfigSource::BuiltIn)
    }

    #[test]
    fn a_minimal_configuration_parses() {
        let c = parse(&sample("")).unwrap();
        assert_eq!(c.environment, Environment::Test);
        assert!(c.ipc.management && c.notifications.enabled && !c.allow_file_credential_store);
        assert_eq!(c.prefix().as_str(), "ACME");
        assert_eq!(
            c.credential_service(),
            "com.licentric.companion.acme-cad.test"
        );
    }

    #[test]
    fn plain_http_is_refused() {
        let text = sample("").replace("https://", "http://");
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.contains("must be https://"), "{err}");
    }

    #[test]
    fn management_keys_are_refused_with_an_explanation() {
        for key in ["lk_live_abc", "lk_test_abc"] {
            let err = parse(&sample(&format!("proxy = \"{key}\"\n")))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("management API key") && err.contains("vendor's servers"),
                "{err}"
            );
        }
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused_with_line_and_key() {
        let err = parse(&sample("colour = \"blue\"\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("colour") && err.contains("line 7"), "{err}");
        assert!(parse(&sample("[ipc]\nsokcet = \"/tmp/x\"\n")).is_err());
        assert!(parse(&sample("pins = [\"md5/xyz\"]\n")).is_err());
        assert!(parse(&sample("").replace(KEY, "00")).is_err());
        assert!(parse(&sample("").replace("\"ACME\"", "\"acme\"")).is_err());
        assert!(parse(&sample("extra_ca_only = true\n")).is_err());
        assert!(parse(&sample("").replace("acme-cad", "../etc")).is_err());
        let longest = |seconds: u64| {
            parse(&sample(&format!("[refresh]\ntotal_seconds = {seconds}\n")))
                .unwrap()
                .refresh
                .total_seconds
        };
        assert_eq!(longest(50), 50);
        assert_eq!(longest(600), 50, "counts as the longest, not refused");
    }

    #[test]
    fn pins_in_both_notations() {
        let c = parse(&sample("pins = [\"sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\", \"ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff\"]\n")).unwrap();
        assert_eq!(c.pins, vec![[0u8; 32], [0xff; 32]]);
    }

    #[test]
    fn a_users_file_may_hold_a_test_environment_or_preferences() {
        assert!(matches!(
            UserFile::classify(&sample(""), "u"),
            Ok(UserFile::TestEnvironment)
        ));
        let prefs = "proxy = \"https://proxy:3128\"\n[notifications]\nenabled = false\n";
        let Ok(UserFile::Preferences(p)) = UserFile::classify(prefs, "u") else {
            panic!("preferences not recognised");
        };
        assert_eq!(p.proxy.as_deref(), Some("https://proxy:3128"));
        assert!(!p.notifications.is_some_and(|n| n.enabled));
        let err = UserFile::classify("data_dir = \"/x\"\n", "u")
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("may set only proxy and notifications"),
            "{err}"
        );
    }

    #[test]
    fn a_users_file_may_not_set_live_anchors() {
        let live = sample("").replace("\"test\"", "\"live\"");
        let err = UserFile::classify(&live, "~/.config/licentric/companion.toml")
            .err()
            .unwrap();
        assert!(
            matches!(err, ConfigError::LiveAnchorsFromUser { .. }),
            "{err}"
        );
        let text = err.to_string();
        assert!(
            text.contains("live environment's trust anchors")
                && text.contains("api_base_url")
                && text.contains("trusted_keys"),
            "{text}"
        );
        // One anchor alone, with no environment, is refused the same way.
        for one in [
            "trusted_keys = [\"00\"]\n",
            "api_base_url = \"https://evil.example\"\n",
            "pins = []\n",
            "[ipc]\nmanagement = true\n",
        ] {
            let err = UserFile::classify(one, "u").err().unwrap();
            assert!(
                matches!(err, ConfigError::LiveAnchorsFromUser { .. }),
                "{one}: {err}"
            );
        }
    }

    fn candidate(path: &str, text: &str, root_only: bool) -> Candidate {
        Candidate {
            path: PathBuf::from(path),
            text: text.to_owned(),
            root_only,
        }
    }

    fn found<'a>(
        built_in: Option<&'a str>,
        named: Option<Candidate>,
        user_default: Option<Candidate>,
        system: Option<Candidate>,
    ) -> Found<'a> {
        Found {
            built_in,
            named,
            user_default,
            system,
            user_default_path: "~/.config/licentric/companion.toml".into(),
        }
    }

    #[test]
    fn who_may_set_what() {
        let live = sample("").replace("\"test\"", "\"live\"");
        let test = sample("").replace("acme-cad", "acme-sandbox");
        let prefs = "proxy = \"https://proxy:3128\"\n[notifications]\nenabled = false\n";

        // The vendor's live configuration, built in, with the user's preferences over it.
        let c = resolve(found(
            Some(&live),
            None,
            Some(candidate("/home/u/p.toml", prefs, false)),
            None,
        ))
        .unwrap();
        assert_eq!(
            (c.environment, c.source.clone()),
            (Environment::Live, ConfigSource::BuiltIn)
        );
        assert_eq!(c.proxy.as_deref(), Some("https://proxy:3128"));
        assert!(!c.notifications.enabled);
        assert_eq!(c.preferences, Some(PathBuf::from("/home/u/p.toml")));

        // A file only root can write, named on the command line, is the vendor's.
        let c = resolve(found(
            None,
            Some(candidate("/opt/acme/companion.toml", &live, true)),
            None,
            None,
        ))
        .unwrap();
        assert_eq!(
            c.source,
            ConfigSource::VendorFile("/opt/acme/companion.toml".into())
        );
        // With the vendor's configuration built in, a file named on the command line is
        // not set aside without a word, whoever owns it: a test environment is the sandbox, and
        // live trust anchors are refused.
        let c = resolve(found(
            Some(&live),
            Some(candidate("/root/sandbox.toml", &test, true)),
            None,
            None,
        ))
        .unwrap();
        assert_eq!(
            (c.environment, c.source.clone()),
            (
                Environment::Test,
                ConfigSource::TestFile("/root/sandbox.toml".into())
            )
        );
        let err = resolve(found(
            Some(&live),
            Some(candidate("/root/other-live.toml", &live, true)),
            None,
            None,
        ))
        .unwrap_err();
        assert!(
            matches!(err, ConfigError::LiveAnchorsBesideBuiltIn { .. }),
            "{err}"
        );
        assert!(
            err.to_string().contains("built into this program")
                && !err.to_string().contains("that you can write"),
            "the words fit a file only root can write: {err}"
        );
        // The system file likewise.
        let c = resolve(found(
            None,
            None,
            None,
            Some(candidate("/etc/licentric/companion.toml", &live, true)),
        ))
        .unwrap();
        assert_eq!(c.environment, Environment::Live);

        // The same live text in a file the user can write is refused, named or not, with or
        // without a vendor configuration.
        for (named, default) in [
            (Some(candidate("/home/u/evil.toml", &live, false)), None),
            (
                None,
                Some(candidate(
                    "/home/u/.config/licentric/companion.toml",
                    &live,
                    false,
                )),
            ),
        ] {
            for built_in in [None, Some(live.as_str())] {
                let err = resolve(found(
                    built_in,
                    named
                        .as_ref()
                        .map(|c| candidate(c.path.to_str().unwrap(), &c.text, false)),
                    default
                        .as_ref()
                        .map(|c| candidate(c.path.to_str().unwrap(), &c.text, false)),
                    None,
                ))
                .unwrap_err();
                assert!(
                    matches!(err, ConfigError::LiveAnchorsFromUser { .. }),
                    "{err}"
                );
            }
        }

        // A whole test environment: used when named, even beside a vendor configuration...
        let c = resolve(found(
            Some(&live),
            Some(candidate("/home/u/sandbox.toml", &test, false)),
            None,
            None,
        ))
        .unwrap();
        assert_eq!(
            (c.environment, c.product_id.as_str()),
            (Environment::Test, "acme-sandbox")
        );
        // ...or when there is no vendor configuration; not silently over the vendor's.
        let c = resolve(found(
            None,
            None,
            Some(candidate("/home/u/d.toml", &test, false)),
            None,
        ))
        .unwrap();
        assert_eq!(c.environment, Environment::Test);
        let err = resolve(found(
            Some(&live),
            None,
            Some(candidate("/home/u/d.toml", &test, false)),
            None,
        ))
        .unwrap_err();
        assert!(
            err.to_string().contains("pass the file with --config"),
            "{err}"
        );

        // Preferences alone, with no vendor configuration anywhere: say what is missing.
        let err = resolve(found(
            None,
            None,
            Some(candidate("/home/u/p.toml", prefs, false)),
            None,
        ))
        .unwrap_err();
        assert!(matches!(err, ConfigError::NotFound(_)), "{err}");
        assert!(matches!(
            resolve(found(None, None, None, None)),
            Err(ConfigError::NotFound(_))
        ));
    }

    #[cfg(unix)]
    #[test]
    fn only_files_root_alone_can_write_are_the_vendors() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("companion.toml");
        std::fs::write(&file, sample("")).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let root = rustix_uid() == 0;
        assert_eq!(
            only_root_can_write(&file),
            root && folders_only_root_can_write(dir.path()),
            "a file is root's alone only if root owns it and the folders above"
        );
        // A link is judged by what it names, read from the same handle.
        let link = dir.path().join("link.toml");
        std::os::unix::fs::symlink("/etc/passwd", &link).unwrap();
        assert_eq!(
            only_root_can_write(&link),
            only_root_can_write(Path::new("/etc/passwd"))
        );
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert!(!only_root_can_write(&file), "writable by others");
        assert!(!only_root_can_write(&dir.path().join("missing")));
        assert!(
            only_root_can_write(Path::new("/etc/passwd")) || !Path::new("/etc/passwd").exists()
        );
    }

    #[cfg(unix)]
    fn rustix_uid() -> u32 {
        licentric_platform::endpoint::current_uid()
    }
}

//! `companion.toml`: the vendor's configuration of the companion (DESIGN §8).
//!
//! Found through `--config`, then `LICENTRIC_CONFIG`, then the user's config folder
//! (`…/licentric/companion.toml`), then a configuration built into the vendor's binary.
//! Parsing is strict: unknown keys are errors, an `http://` API address is refused, and
//! anything that looks like a management API key is refused with an explanation — the
//! companion never holds one.

use std::path::{Path, PathBuf};

use licentric_core::{KeyPrefix, TrustedKey};
use licentric_proto::Environment;
use serde::Deserialize;

/// The variable naming the configuration file.
pub const CONFIG_ENV: &str = "LICENTRIC_CONFIG";

/// Why the configuration was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No configuration anywhere.
    #[error("no configuration found: pass --config FILE, set {CONFIG_ENV}, or create {0}")]
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
}

/// The companion's configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompanionConfig {
    /// The vendor's product id.
    pub product_id: String,
    /// The product's name, for people.
    pub product_name: String,
    /// `test` (the sandbox) or `live`.
    pub environment: Environment,
    /// The Licentric API, `https://` only.
    pub api_base_url: String,
    /// The prefix of this product's licence keys.
    pub key_prefix: String,
    /// The vendor's Ed25519 public keys, 64 hex characters each (several during a rotation).
    pub trusted_keys: Vec<String>,
    /// An extra CA certificate (PEM file) to trust, besides the system's.
    #[serde(default)]
    pub extra_ca: Option<PathBuf>,
    /// Trust only this CA (and no system root): for a private server such as the sandbox.
    #[serde(default)]
    pub extra_ca_only: bool,
    /// SHA-256 pins of the server's SubjectPublicKeyInfo: `sha256/<base64>` or 64 hex.
    #[serde(default)]
    pub pins: Vec<String>,
    /// An HTTPS proxy; `HTTPS_PROXY` and `NO_PROXY` are honoured too.
    #[serde(default)]
    pub proxy: Option<String>,
    /// Whether the encrypted-file credential store may be used when no OS store is reachable.
    #[serde(default)]
    pub allow_file_credential_store: bool,
    /// Where to keep the licence file and state (default: the user's data folder).
    #[serde(default)]
    pub data_dir: Option<PathBuf>,
    /// Refresh settings.
    #[serde(default)]
    pub refresh: RefreshConfig,
    /// Local IPC settings.
    #[serde(default)]
    pub ipc: IpcConfig,
    /// Desktop notifications.
    #[serde(default)]
    pub notifications: NotificationConfig,
}

/// `[refresh]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RefreshConfig {
    /// Validity to ask for at checkout (the server bounds it); default: the server's.
    pub ttl_seconds: Option<u64>,
    /// HTTP timeout for one request, seconds.
    pub timeout_seconds: u64,
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
            attempts: 4,
            retry_base_ms: 500,
        }
    }
}

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
    /// Finds and loads the configuration: `explicit`, then `LICENTRIC_CONFIG`, then the user's
    /// config folder, then `built_in`.
    ///
    /// # Errors
    /// [`ConfigError`] when none is found or the one found is invalid.
    pub fn find(
        explicit: Option<&Path>,
        built_in: Option<&str>,
    ) -> Result<CompanionConfig, ConfigError> {
        if let Some(path) = explicit {
            return CompanionConfig::load(path);
        }
        if let Some(path) = std::env::var_os(CONFIG_ENV) {
            return CompanionConfig::load(Path::new(&path));
        }
        let user = directories::ProjectDirs::from("com", "Licentric", "licentric")
            .map(|d| d.config_dir().join("companion.toml"));
        if let Some(path) = &user
            && path.exists()
        {
            return CompanionConfig::load(path);
        }
        match built_in {
            Some(text) => CompanionConfig::parse(text, "the built-in configuration"),
            None => Err(ConfigError::NotFound(user.map_or_else(
                || "companion.toml".to_owned(),
                |p| p.display().to_string(),
            ))),
        }
    }

    /// Loads a file.
    ///
    /// # Errors
    /// [`ConfigError`] when it cannot be read or is invalid.
    pub fn load(path: &Path) -> Result<CompanionConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut config = CompanionConfig::parse(&text, &path.display().to_string())?;
        // Relative paths in the file are relative to the file.
        let base = path.parent().unwrap_or(Path::new("."));
        for p in [
            &mut config.extra_ca,
            &mut config.data_dir,
            &mut config.ipc.socket,
        ]
        .into_iter()
        .flatten()
        {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        Ok(config)
    }

    /// Parses and checks configuration text.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] with what is wrong.
    pub fn parse(text: &str, origin: &str) -> Result<CompanionConfig, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            origin: origin.to_owned(),
            message,
        };
        if text.contains("lk_live_") || text.contains("lk_test_") {
            return Err(invalid(
                "it contains what looks like a management API key (lk_live_… or lk_test_…). Those keys \
                 manage a vendor's whole account and belong on the vendor's servers only; the companion \
                 needs none. Remove it (and rotate it, since it has been shipped)."
                    .into(),
            ));
        }
        let config: CompanionConfig = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        config.check().map_err(invalid)?;
        Ok(config)
    }

    fn check(&self) -> Result<(), String> {
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
        if self.product_id.is_empty() || self.product_id.len() > 64 {
            return Err("product_id must be 1 to 64 characters".into());
        }
        KeyPrefix::new(&self.key_prefix).map_err(|e| e.to_string())?;
        if self.trusted_keys.is_empty() {
            return Err("trusted_keys must name at least one public key".into());
        }
        self.verifier_keys()?;
        self.pin_hashes()?;
        if self.extra_ca_only && self.extra_ca.is_none() {
            return Err("extra_ca_only needs extra_ca".into());
        }
        if self.refresh.attempts == 0 || self.ipc.max_connections == 0 {
            return Err("refresh.attempts and ipc.max_connections must be at least 1".into());
        }
        Ok(())
    }

    /// The product's key prefix.
    pub fn prefix(&self) -> KeyPrefix {
        // Checked when the configuration was parsed.
        KeyPrefix::new(&self.key_prefix).unwrap_or_else(|_| unreachable_prefix())
    }

    /// The trusted keys.
    ///
    /// # Errors
    /// When one is not a valid Ed25519 public key.
    pub fn verifier_keys(&self) -> Result<Vec<TrustedKey>, String> {
        self.trusted_keys
            .iter()
            .map(|k| TrustedKey::from_hex(k).map_err(|e| format!("trusted_keys: {k:.16}…: {e}")))
            .collect()
    }

    /// The SPKI pins as 32-byte hashes.
    ///
    /// # Errors
    /// When one is neither `sha256/<base64>` nor 64 hex characters.
    pub fn pin_hashes(&self) -> Result<Vec<[u8; 32]>, String> {
        use base64::Engine as _;
        self.pins
            .iter()
            .map(|pin| {
                let bytes = match pin.strip_prefix("sha256/") {
                    Some(b64) => base64::engine::general_purpose::STANDARD
                        .decode(b64)
                        .ok()
                        .and_then(|b| b.try_into().ok()),
                    None => licentric_core::hex::decode_array::<32>(pin),
                };
                bytes.ok_or_else(|| {
                    format!("pins: {pin:?} is neither sha256/<base64> nor 64 hex characters")
                })
            })
            .collect()
    }
}

#[cold]
fn unreachable_prefix() -> KeyPrefix {
    // `check` refused the configuration if the prefix was invalid; reaching this is a bug.
    #[allow(clippy::panic)]
    {
        panic!("key_prefix was checked when the configuration was parsed")
    }
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

    #[test]
    fn a_minimal_configuration_parses() {
        let c = CompanionConfig::parse(&sample(""), "t").unwrap();
        assert_eq!(c.environment, Environment::Test);
        assert!(c.ipc.management && c.notifications.enabled && !c.allow_file_credential_store);
    }

    #[test]
    fn plain_http_is_refused() {
        let text = sample("").replace("https://", "http://");
        let err = CompanionConfig::parse(&text, "t").unwrap_err().to_string();
        assert!(err.contains("must be https://"), "{err}");
    }

    #[test]
    fn management_keys_are_refused_with_an_explanation() {
        for key in ["lk_live_abc", "lk_test_abc"] {
            let err = CompanionConfig::parse(&sample(&format!("proxy = \"{key}\"\n")), "t")
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("management API key") && err.contains("vendor's servers"),
                "{err}"
            );
        }
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        assert!(CompanionConfig::parse(&sample("colour = \"blue\"\n"), "t").is_err());
        assert!(CompanionConfig::parse(&sample("[ipc]\nsokcet = \"/tmp/x\"\n"), "t").is_err());
        assert!(CompanionConfig::parse(&sample("pins = [\"md5/xyz\"]\n"), "t").is_err());
        assert!(CompanionConfig::parse(&sample("").replace(KEY, "00"), "t").is_err());
        assert!(CompanionConfig::parse(&sample("").replace("\"ACME\"", "\"acme\""), "t").is_err());
        assert!(CompanionConfig::parse(&sample("extra_ca_only = true\n"), "t").is_err());
    }

    #[test]
    fn pins_in_both_notations() {
        let c = CompanionConfig::parse(
            &sample("pins = [\"sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\", \"ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff\"]\n"),
            "t",
        )
        .unwrap();
        assert_eq!(c.pin_hashes().unwrap(), vec![[0u8; 32], [0xff; 32]]);
    }
}

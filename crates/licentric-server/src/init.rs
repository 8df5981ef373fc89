//! `licentric-server init`: a new server folder — configuration, database, signing key, data
//! key, local CA and server certificate, and a first management API key for the test
//! environment. Run again, it fills in what is missing and never overwrites a key.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use licentric_core::{LicenseSigner, OsRandom, SecureRandom};
use zeroize::Zeroizing;

use crate::config::{CONFIG_FILE, DATA_KEY_ENV, ServerConfig};
use crate::crypto::DataKey;
use crate::store::Store;
use crate::{ServerError, apikeys, tls};

/// What `init` did.
#[derive(Debug, Default)]
pub struct InitReport {
    /// Files it created.
    pub created: Vec<PathBuf>,
    /// Files that were there already and were left alone.
    pub kept: Vec<PathBuf>,
    /// The signing key's public half (hex), for the companion's `trusted_keys`.
    pub public_key: String,
    /// Its key id.
    pub kid: String,
    /// The CA certificate clients must trust.
    pub ca_cert: PathBuf,
    /// The first test API key, when one was created now (shown once).
    pub first_api_key: Option<String>,
}

/// Creates what is missing in `dir`.
///
/// # Errors
/// When a file cannot be written or read, or an existing one is invalid.
pub fn init(dir: &Path) -> Result<InitReport, ServerError> {
    init_with(dir, false)
}

/// As [`init`]; with `sandbox`, a new configuration also lets webhooks reach receivers on
/// this machine and the local network (`allow_private_targets`), for development.
///
/// # Errors
/// As [`init`].
pub fn init_with(dir: &Path, sandbox: bool) -> Result<InitReport, ServerError> {
    let mut report = InitReport::default();
    create_dir_private(dir)?;
    let config_path = dir.join(CONFIG_FILE);
    if config_path.exists() {
        report.kept.push(config_path);
    } else {
        let mut config = ServerConfig::default();
        config.webhooks.allow_private_targets = sandbox;
        let text = format!(
            "# Licentric reference server. Paths are relative to this folder.\n{}",
            toml::to_string(&config).map_err(|e| ServerError::Io(std::io::Error::other(e)))?
        );
        write_new(&config_path, text.as_bytes(), 0o644)?;
        report.created.push(config_path);
    }
    let config = ServerConfig::load(dir)?;
    let path = |p: &Path| ServerConfig::resolve(dir, p);

    // Signing key.
    let signing_path = path(&config.signing_key);
    if !signing_path.exists() {
        let signer = LicenseSigner::generate(&mut OsRandom)
            .map_err(|e| ServerError::Io(std::io::Error::other(e)))?;
        let hex = Zeroizing::new(licentric_core::hex::encode(signer.seed().as_ref()) + "\n");
        write_new(&signing_path, hex.as_bytes(), 0o600)?;
        report.created.push(signing_path.clone());
    } else {
        report.kept.push(signing_path.clone());
    }
    let signer = load_signer(&signing_path)?;
    report.public_key = signer.public_key().to_hex();
    report.kid = signer.public_key().kid().to_string();
    let public_path = signing_path.with_extension("pub");
    if !public_path.exists() {
        write_new(
            &public_path,
            format!("{}\n", report.public_key).as_bytes(),
            0o644,
        )?;
        report.created.push(public_path);
    }

    // Data key: its own file, unless it comes from the environment.
    let data_path = path(&config.data_key);
    if std::env::var_os(DATA_KEY_ENV).is_none() {
        if data_path.exists() {
            report.kept.push(data_path.clone());
        } else {
            let mut key = Zeroizing::new([0u8; 32]);
            OsRandom
                .fill(key.as_mut())
                .map_err(|e| ServerError::Io(std::io::Error::other(e)))?;
            let hex = Zeroizing::new(licentric_core::hex::encode(key.as_ref()) + "\n");
            write_new(&data_path, hex.as_bytes(), 0o600)?;
            report.created.push(data_path.clone());
        }
    }
    let data_key = load_data_key(&data_path)?;

    // TLS: a CA and a server certificate, unless both certificates are there.
    let tls_files = [
        &config.ca_cert,
        &config.ca_key,
        &config.tls_cert,
        &config.tls_key,
    ]
    .map(|p| path(p));
    if tls_files.iter().all(|p| !p.exists()) {
        let generated = tls::generate("Licentric sandbox").map_err(|e| {
            ServerError::Tls(tls::TlsError::Pem {
                path: "generated".into(),
                message: e.to_string(),
            })
        })?;
        let contents = [
            (&generated.ca_cert, 0o644),
            (&generated.ca_key, 0o600),
            (&generated.server_cert, 0o644),
            (&generated.server_key, 0o600),
        ];
        for (file, (text, mode)) in tls_files.iter().zip(contents) {
            write_new(file, text.as_bytes(), mode)?;
            report.created.push(file.clone());
        }
    } else if let Some(missing) = tls_files.iter().find(|p| !p.exists()) {
        return Err(ServerError::Io(std::io::Error::other(format!(
            "{} is missing but other TLS files exist; restore it, or move the tls folder away to make new ones",
            missing.display()
        ))));
    } else {
        report.kept.extend(tls_files.iter().cloned());
    }
    report.ca_cert = path(&config.ca_cert);

    // Database, and a first API key for the test environment.
    let db_path = path(&config.database);
    let existed = db_path.exists();
    if !existed {
        // An empty file is a new SQLite database; making it first sets its mode (the WAL and
        // shared-memory files SQLite adds take the same).
        write_new(&db_path, b"", 0o600)?;
    }
    let store = Store::open(&db_path)?;
    if existed {
        report.kept.push(db_path.clone())
    } else {
        report.created.push(db_path.clone())
    }
    // The signing key file's key becomes the database's first; the report names the one
    // that signs now (after a rotation, not the file's).
    let current = store.write_blocking(|tx| {
        crate::keys::adopt(tx, &data_key, &signer, crate::clock::now_unix())?;
        let kid = crate::keys::current_kid(tx)?;
        crate::keys::list(tx, false)?
            .into_iter()
            .find(|k| k.kid == kid)
            .ok_or_else(|| crate::store::StoreError::Corrupt("no current signing key".into()))
    })?;
    report.public_key = current.public_key;
    report.kid = current.kid;
    report.first_api_key = store.write_blocking(|tx| {
        if apikeys::count(tx, crate::store::Environment::Test)? > 0 {
            return Ok(None);
        }
        let scopes: Vec<String> = apikeys::SCOPES
            .iter()
            .map(|(s, _)| (*s).to_owned())
            .collect();
        let (_, token) = apikeys::create(
            tx,
            &data_key,
            crate::store::Environment::Test,
            "first test key (init)",
            &scopes,
            &crate::audit::Actor::command_line(),
            crate::clock::now_unix(),
        )?;
        Ok(Some(token))
    })?;
    Ok(report)
}

/// The folder's data key and database, with the signing key file adopted as the first key
/// of a database that has none (for the CLI's commands).
///
/// # Errors
/// When the configuration, keys or database cannot be loaded.
pub fn open(dir: &Path) -> Result<(DataKey, std::sync::Arc<Store>), ServerError> {
    let config = ServerConfig::load(dir)?;
    let path = |p: &Path| ServerConfig::resolve(dir, p);
    let data_key = load_data_key(&path(&config.data_key))?;
    let store = Store::open(&path(&config.database))?;
    let signing_path = path(&config.signing_key);
    if signing_path.exists() {
        let first = load_signer(&signing_path)?;
        store.write_blocking(|tx| {
            crate::keys::adopt(tx, &data_key, &first, crate::clock::now_unix())
        })?;
    }
    Ok((data_key, store))
}

/// Reads the signing key.
///
/// # Errors
/// When the file is unreadable or not 64 hex characters.
pub fn load_signer(path: &Path) -> Result<LicenseSigner, ServerError> {
    let text = Zeroizing::new(
        std::fs::read_to_string(path).map_err(|e| ServerError::File {
            path: path.to_owned(),
            source: e,
        })?,
    );
    let seed = Zeroizing::new(
        licentric_core::hex::decode_array::<32>(text.trim())
            .ok_or_else(|| ServerError::BadKey(path.display().to_string()))?,
    );
    Ok(LicenseSigner::from_seed(&seed))
}

/// Reads the data key from `LICENTRIC_DATA_KEY`, else from `path`.
///
/// # Errors
/// When neither holds 64 hex characters.
pub fn load_data_key(path: &Path) -> Result<DataKey, ServerError> {
    let text = match std::env::var(DATA_KEY_ENV) {
        Ok(v) => Zeroizing::new(v),
        Err(_) => Zeroizing::new(
            std::fs::read_to_string(path).map_err(|e| ServerError::File {
                path: path.to_owned(),
                source: e,
            })?,
        ),
    };
    let key = Zeroizing::new(
        licentric_core::hex::decode_array::<32>(text.trim()).ok_or_else(|| {
            ServerError::BadKey(format!("{} (or {DATA_KEY_ENV})", path.display()))
        })?,
    );
    Ok(DataKey::new(&key))
}

fn create_dir_private(dir: &Path) -> Result<(), ServerError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|e| ServerError::File {
        path: dir.to_owned(),
        source: e,
    })
}

/// Writes a new file with `mode`; refuses to replace an existing one.
fn write_new(path: &Path, contents: &[u8], mode: u32) -> Result<(), ServerError> {
    if let Some(parent) = path.parent() {
        create_dir_private(parent)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path).map_err(|e| ServerError::File {
        path: path.to_owned(),
        source: e,
    })?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(|e| ServerError::File {
            path: path.to_owned(),
            source: e,
        })
}

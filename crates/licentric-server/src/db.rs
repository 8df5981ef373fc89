//! SQLite storage: one connection in WAL mode behind a mutex, versioned migrations, and the
//! row types. Every write happens in a transaction on that one connection, so seat counts and
//! idempotency records are never raced.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, params};

/// A storage failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// SQLite failed.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored value is not what the schema promises.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// Encryption at rest failed.
    #[error(transparent)]
    Crypto(#[from] crate::crypto::CryptoError),
    /// Signing a licence file failed.
    #[error("cannot sign: {0}")]
    Sign(String),
    /// The blocking task was lost.
    #[error("storage task failed: {0}")]
    Task(String),
}

/// The schema, one migration per entry; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    r"
CREATE TABLE products (
    environment TEXT NOT NULL CHECK (environment IN ('test', 'live')),
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    key_prefix TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (environment, id)
);
CREATE TABLE licenses (
    id TEXT PRIMARY KEY,
    environment TEXT NOT NULL CHECK (environment IN ('test', 'live')),
    product_id TEXT NOT NULL,
    key_hash BLOB NOT NULL UNIQUE,
    key_enc BLOB NOT NULL,
    key_hint TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'suspended', 'revoked')),
    max_machines INTEGER NOT NULL CHECK (max_machines >= 1),
    entitlements TEXT NOT NULL,
    expires_at INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    FOREIGN KEY (environment, product_id) REFERENCES products (environment, id)
);
CREATE INDEX licenses_by_product ON licenses (environment, product_id);
CREATE TABLE machines (
    id TEXT PRIMARY KEY,
    environment TEXT NOT NULL,
    license_id TEXT NOT NULL REFERENCES licenses (id),
    fingerprint TEXT NOT NULL,
    platform TEXT NOT NULL,
    hostname TEXT NOT NULL,
    app_version TEXT NOT NULL,
    activated_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    deactivated_at INTEGER
);
CREATE UNIQUE INDEX machines_one_active_per_fingerprint ON machines (license_id, fingerprint) WHERE deactivated_at IS NULL;
CREATE INDEX machines_by_license ON machines (license_id);
CREATE TABLE idempotency (
    license_id TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    request_hash BLOB NOT NULL,
    status INTEGER NOT NULL,
    body TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (license_id, idem_key)
);
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    environment TEXT NOT NULL CHECK (environment IN ('test', 'live')),
    name TEXT NOT NULL,
    token_hash BLOB NOT NULL UNIQUE,
    display_prefix TEXT NOT NULL,
    scopes TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE TABLE webhooks (
    id TEXT PRIMARY KEY,
    environment TEXT NOT NULL CHECK (environment IN ('test', 'live')),
    url TEXT NOT NULL,
    secret_enc BLOB NOT NULL,
    events TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    deleted_at INTEGER
);
CREATE TABLE webhook_events (
    id TEXT PRIMARY KEY,
    environment TEXT NOT NULL,
    type TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE webhook_deliveries (
    event_id TEXT NOT NULL REFERENCES webhook_events (id),
    webhook_id TEXT NOT NULL REFERENCES webhooks (id),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL,
    delivered_at INTEGER,
    failed_at INTEGER,
    last_error TEXT,
    PRIMARY KEY (event_id, webhook_id)
);
CREATE INDEX deliveries_due ON webhook_deliveries (next_attempt_ms) WHERE delivered_at IS NULL AND failed_at IS NULL;
",
    r"
-- The seat check reads a counter kept in the same transaction as every activation and
-- deactivation, instead of counting a licence's machines on each request.
ALTER TABLE licenses ADD COLUMN machines_active INTEGER NOT NULL DEFAULT 0;
UPDATE licenses SET machines_active =
    (SELECT COUNT(*) FROM machines m WHERE m.license_id = licenses.id AND m.deactivated_at IS NULL);
",
    r"
-- How often a machine in use confirms online that its licence stands (check on use).
ALTER TABLE products ADD COLUMN check_interval_seconds INTEGER NOT NULL DEFAULT 3600;
",
    r"
-- A product's policy beyond the check interval: the longest file a client may get (NULL: the
-- server's maximum) and how often each seat may move to another machine (NULL: freely; the
-- products of an older server keep moving freely until the vendor sets a limit).
ALTER TABLE products ADD COLUMN max_ttl_seconds INTEGER CHECK (max_ttl_seconds >= 1);
ALTER TABLE products ADD COLUMN seat_moves_per_seat INTEGER CHECK (seat_moves_per_seat >= 1);
ALTER TABLE products ADD COLUMN seat_move_window_seconds INTEGER NOT NULL DEFAULT 2592000;
-- An activation that took a seat another machine had held: what the move limit counts.
ALTER TABLE machines ADD COLUMN seat_move INTEGER NOT NULL DEFAULT 0;
CREATE INDEX machines_moves ON machines (license_id, activated_at) WHERE seat_move = 1;
",
    r"
-- The signing keys (see keys.rs): seeds sealed with the data key; one current.
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    public_key TEXT NOT NULL,
    seed_enc BLOB NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('next', 'current', 'previous', 'retired')),
    created_at INTEGER NOT NULL,
    activated_at INTEGER,
    retired_at INTEGER
);
CREATE UNIQUE INDEX signing_keys_one_current ON signing_keys (status) WHERE status = 'current';
",
    r"
-- The audit log (see audit.rs): append-only, as the triggers below make SQLite enforce.
CREATE TABLE audit_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    environment TEXT NOT NULL CHECK (environment IN ('test', 'live')),
    at INTEGER NOT NULL,
    actor_type TEXT NOT NULL,
    actor_id TEXT NOT NULL,
    action TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    license_id TEXT,
    before TEXT,
    after TEXT
);
CREATE INDEX audit_by_environment ON audit_events (environment, seq);
CREATE INDEX audit_by_license ON audit_events (environment, license_id, seq);
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
",
    r"
-- Pruning by age (see housekeeping.rs).
CREATE INDEX idempotency_by_age ON idempotency (created_at);
CREATE INDEX webhook_events_by_age ON webhook_events (created_at);
CREATE INDEX webhook_deliveries_by_event ON webhook_deliveries (event_id);
",
];

pub use crate::domain::DEFAULT_CHECK_INTERVAL;
use crate::domain::{LicenseState, Policy, SeatMoves};

/// The database.
#[derive(Debug)]
pub struct Store {
    conn: Mutex<Connection>,
}

impl Store {
    /// Opens (creating if needed) and migrates the database.
    ///
    /// # Errors
    /// When SQLite cannot open or migrate it.
    pub fn open(path: &Path) -> Result<Arc<Store>, StoreError> {
        let mut conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        migrate(&mut conn)?;
        Ok(Arc::new(Store {
            conn: Mutex::new(conn),
        }))
    }

    /// Runs `f` with the connection on a blocking thread.
    ///
    /// # Errors
    /// Whatever `f` returns, or [`StoreError::Task`] if the thread is lost.
    pub async fn call<T, F>(self: &Arc<Self>, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let store = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let mut conn = store
                .conn
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            f(&mut conn)
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }

    /// Runs `f` with the connection on this thread (start-up and the CLI).
    ///
    /// # Errors
    /// Whatever `f` returns.
    pub fn call_blocking<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self
            .conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut conn)
    }
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let done: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let done =
        usize::try_from(done).map_err(|_| StoreError::Corrupt("negative user_version".into()))?;
    if done > MIGRATIONS.len() {
        return Err(StoreError::Corrupt(format!(
            "the database is at schema version {done}, newer than this server ({})",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(done) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(
            None,
            "user_version",
            i64::try_from(i + 1).unwrap_or(i64::MAX),
        )?;
        tx.commit()?;
    }
    Ok(())
}

/// Seconds since the Unix epoch, now.
pub fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A Unix time as RFC 3339, for JSON.
pub fn rfc3339(unix: i64) -> Option<String> {
    let t = time::OffsetDateTime::from_unix_timestamp(unix).ok()?;
    t.format(&time::format_description::well_known::Rfc3339)
        .ok()
}

/// A product row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductRow {
    /// Its environment.
    pub environment: String,
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The prefix of its licence keys.
    pub key_prefix: String,
    /// What it allows its licences.
    pub policy: Policy,
    /// Creation time.
    pub created_at: i64,
}

/// The columns [`ProductRow::from_row`] reads, in order, from `products p`.
pub const PRODUCT_COLUMNS: &str = "p.environment, p.id, p.name, p.key_prefix, p.created_at, \
    p.check_interval_seconds, p.max_ttl_seconds, p.seat_moves_per_seat, p.seat_move_window_seconds";

/// Reads a product's four policy columns (check interval, max TTL, moves per seat, move
/// window) starting at column `at`.
fn policy_from(row: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Policy> {
    let per_seat: Option<u32> = row.get(at + 2)?;
    let window: u32 = row.get(at + 3)?;
    Ok(Policy {
        check_interval: row.get(at)?,
        max_ttl: row.get(at + 1)?,
        seat_moves: per_seat.map(|per_seat| SeatMoves { per_seat, window }),
    })
}

impl ProductRow {
    /// Reads a row selected with [`PRODUCT_COLUMNS`].
    ///
    /// # Errors
    /// When a column has the wrong type.
    pub fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ProductRow> {
        Ok(ProductRow {
            environment: row.get(0)?,
            id: row.get(1)?,
            name: row.get(2)?,
            key_prefix: row.get(3)?,
            created_at: row.get(4)?,
            policy: policy_from(row, 5)?,
        })
    }
}

/// The product `id` in `environment`.
///
/// # Errors
/// On SQLite failure.
pub fn product_by_id(
    conn: &Connection,
    environment: &str,
    id: &str,
) -> Result<Option<ProductRow>, StoreError> {
    let sql =
        format!("SELECT {PRODUCT_COLUMNS} FROM products p WHERE p.environment = ?1 AND p.id = ?2");
    Ok(conn
        .query_row(&sql, params![environment, id], ProductRow::from_row)
        .optional()?)
}

/// A licence row (the key itself is never read into it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenseRow {
    /// Its id.
    pub id: String,
    /// Its environment.
    pub environment: String,
    /// Its product.
    pub product_id: String,
    /// The redacted key.
    pub key_hint: String,
    /// Its stored state (expiry is computed).
    pub status: LicenseState,
    /// Seats.
    pub max_machines: u32,
    /// Entitlement codes.
    pub entitlements: Vec<String>,
    /// Licence expiry.
    pub expires_at: Option<i64>,
    /// Creation time.
    pub created_at: i64,
    /// Last change.
    pub updated_at: i64,
    /// Its product's policy.
    pub policy: Policy,
}

/// The columns [`LicenseRow::from_row`] reads, in order, from [`LICENSES`].
pub const LICENSE_COLUMNS: &str = "l.id, l.environment, l.product_id, l.key_hint, l.status, l.max_machines, l.entitlements, l.expires_at, l.created_at, l.updated_at, \
    p.check_interval_seconds, p.max_ttl_seconds, p.seat_moves_per_seat, p.seat_move_window_seconds";

/// The licences joined with their products, as `l` and `p`, for [`LICENSE_COLUMNS`].
pub const LICENSES: &str =
    "licenses l JOIN products p ON p.environment = l.environment AND p.id = l.product_id";

impl LicenseRow {
    /// Reads a row selected with [`LICENSE_COLUMNS`].
    ///
    /// # Errors
    /// When a column has the wrong type.
    pub fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<LicenseRow> {
        let entitlements: String = row.get(6)?;
        Ok(LicenseRow {
            id: row.get(0)?,
            environment: row.get(1)?,
            product_id: row.get(2)?,
            key_hint: row.get(3)?,
            status: row.get(4)?,
            max_machines: row.get(5)?,
            entitlements: serde_json::from_str(&entitlements).map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(6, rusqlite::types::Type::Text, e.into())
            })?,
            expires_at: row.get(7)?,
            created_at: row.get(8)?,
            updated_at: row.get(9)?,
            policy: policy_from(row, 10)?,
        })
    }

    /// The status a client sees: `expired` once the expiry date has passed.
    pub fn effective_status(&self, now: i64) -> licentric_proto::LicenseStatus {
        self.status.effective(self.expires_at, now)
    }
}

/// A machine row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineRow {
    /// Its id.
    pub id: String,
    /// Its licence.
    pub license_id: String,
    /// Its fingerprint.
    pub fingerprint: String,
    /// Platform.
    pub platform: String,
    /// Host name.
    pub hostname: String,
    /// Companion version.
    pub app_version: String,
    /// Activation time.
    pub activated_at: i64,
    /// Last contact.
    pub last_seen_at: i64,
    /// Deactivation time.
    pub deactivated_at: Option<i64>,
}

/// The columns [`MachineRow::from_row`] reads, in order.
pub const MACHINE_COLUMNS: &str = "id, license_id, fingerprint, platform, hostname, app_version, activated_at, last_seen_at, deactivated_at";

impl MachineRow {
    /// Reads a row selected with [`MACHINE_COLUMNS`].
    ///
    /// # Errors
    /// When a column has the wrong type.
    pub fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<MachineRow> {
        Ok(MachineRow {
            id: row.get(0)?,
            license_id: row.get(1)?,
            fingerprint: row.get(2)?,
            platform: row.get(3)?,
            hostname: row.get(4)?,
            app_version: row.get(5)?,
            activated_at: row.get(6)?,
            last_seen_at: row.get(7)?,
            deactivated_at: row.get(8)?,
        })
    }
}

/// The licence whose key hashes to `key_hash`.
///
/// # Errors
/// On SQLite failure.
pub fn license_by_key_hash(
    conn: &Connection,
    key_hash: &[u8; 32],
) -> Result<Option<LicenseRow>, StoreError> {
    let sql = format!("SELECT {LICENSE_COLUMNS} FROM {LICENSES} WHERE l.key_hash = ?1");
    Ok(conn
        .query_row(&sql, params![key_hash.as_slice()], LicenseRow::from_row)
        .optional()?)
}

/// The licence `id` in `environment`.
///
/// # Errors
/// On SQLite failure.
pub fn license_by_id(
    conn: &Connection,
    environment: &str,
    id: &str,
) -> Result<Option<LicenseRow>, StoreError> {
    let sql =
        format!("SELECT {LICENSE_COLUMNS} FROM {LICENSES} WHERE l.id = ?1 AND l.environment = ?2");
    Ok(conn
        .query_row(&sql, params![id, environment], LicenseRow::from_row)
        .optional()?)
}

/// The machine `id`.
///
/// # Errors
/// On SQLite failure.
pub fn machine_by_id(conn: &Connection, id: &str) -> Result<Option<MachineRow>, StoreError> {
    let sql = format!("SELECT {MACHINE_COLUMNS} FROM machines WHERE id = ?1");
    Ok(conn
        .query_row(&sql, params![id], MachineRow::from_row)
        .optional()?)
}

/// Active machines of a licence (the counter kept by [`add_active_machines`]).
///
/// # Errors
/// On SQLite failure.
pub fn active_machine_count(conn: &Connection, license_id: &str) -> Result<u32, StoreError> {
    Ok(conn.query_row(
        "SELECT machines_active FROM licenses WHERE id = ?1",
        params![license_id],
        |r| r.get(0),
    )?)
}

/// Adjusts a licence's active-machine counter by `delta`, in the caller's transaction.
///
/// # Errors
/// On SQLite failure.
pub fn add_active_machines(
    conn: &Connection,
    license_id: &str,
    delta: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE licenses SET machines_active = machines_active + ?2 WHERE id = ?1",
        params![license_id, delta],
    )?;
    Ok(())
}

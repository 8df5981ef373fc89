//! The store: every SQL statement the server runs, behind a small interface. Outside this
//! module the server sees [`Store`] (one SQLite connection in WAL mode behind a mutex),
//! [`Db`] (a read) and [`Tx`] (a write: one immediate transaction, committed when the work
//! returns `Ok`), the row types, and one function per thing it asks of its tables — never SQL
//! or `rusqlite`'s types. Another database can follow by giving these functions another body.
//!
//! One module per table family: [`products`], [`licenses`], [`machines`], [`idempotency`],
//! [`api_keys`], [`webhooks`], [`audit`], [`signing_keys`], and [`prune`] for housekeeping.
//! `schema` holds the versioned migrations.

pub mod api_keys;
pub mod audit;
pub mod idempotency;
pub mod leases;
pub mod licenses;
pub mod machines;
pub mod products;
pub mod prune;
mod schema;
pub mod signing_keys;
pub mod webhooks;

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, TransactionBehavior};

pub use licenses::LicenseRow;
pub use licentric_proto::Environment;
pub use machines::MachineRow;
pub use products::ProductRow;

/// A storage failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database failed.
    #[error("database error: {0}")]
    Database(String),
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

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Database(e.to_string())
    }
}

/// The database.
#[derive(Debug)]
pub struct Store {
    conn: Mutex<Connection>,
}

/// A read of the database (or, as the target of a [`Tx`], reads inside a write).
pub struct Db<'c> {
    conn: &'c Connection,
}

/// A write: one immediate transaction, committed when the work given to [`Store::write`]
/// returns `Ok`, rolled back otherwise. Everything [`Db`] reads, it reads too.
pub struct Tx<'c> {
    db: Db<'c>,
}

impl<'c> std::ops::Deref for Tx<'c> {
    type Target = Db<'c>;

    fn deref(&self) -> &Db<'c> {
        &self.db
    }
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
        schema::migrate(&mut conn)?;
        Ok(Arc::new(Store {
            conn: Mutex::new(conn),
        }))
    }

    /// Runs the read `f` on a blocking thread.
    ///
    /// # Errors
    /// Whatever `f` returns, or [`StoreError::Task`] if the thread is lost.
    pub async fn read<T, F>(self: &Arc<Self>, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Db<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let store = Arc::clone(self);
        tokio::task::spawn_blocking(move || store.read_blocking(f))
            .await
            .map_err(|e| StoreError::Task(e.to_string()))?
    }

    /// Runs the write `f` in one transaction on a blocking thread: committed if `f` returns
    /// `Ok`, rolled back otherwise.
    ///
    /// # Errors
    /// Whatever `f` returns, a failed commit, or [`StoreError::Task`] if the thread is lost.
    pub async fn write<T, F>(self: &Arc<Self>, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Tx<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let store = Arc::clone(self);
        tokio::task::spawn_blocking(move || store.write_blocking(f))
            .await
            .map_err(|e| StoreError::Task(e.to_string()))?
    }

    /// [`Store::read`] on this thread (start-up and the command line).
    ///
    /// # Errors
    /// Whatever `f` returns.
    pub fn read_blocking<T>(
        &self,
        f: impl FnOnce(&Db<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let conn = self.lock();
        f(&Db { conn: &conn })
    }

    /// [`Store::write`] on this thread (start-up and the command line).
    ///
    /// # Errors
    /// Whatever `f` returns, or a failed commit.
    pub fn write_blocking<T>(
        &self,
        f: impl FnOnce(&Tx<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&Tx {
            db: Db { conn: &tx },
        })?;
        tx.commit()?;
        Ok(out)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Db<'_> {
    /// Whether the database answers (for `/healthz`).
    ///
    /// # Errors
    /// When it does not.
    pub fn ping(&self) -> Result<(), StoreError> {
        self.conn
            .query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?;
        Ok(())
    }
}

/// A value as a JSON column's text.
fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Reads an environment column `at` of `row`: an unknown name is an error, never a guess.
fn environment_at(row: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Environment> {
    let text: String = row.get(at)?;
    text.parse().map_err(|e: licentric_proto::UnknownName| {
        rusqlite::Error::FromSqlConversionFailure(at, rusqlite::types::Type::Text, Box::new(e))
    })
}

/// Reads a JSON text column `at` of `row` as `T`.
fn json_column<T: serde::de::DeserializeOwned>(
    row: &rusqlite::Row<'_>,
    at: usize,
) -> rusqlite::Result<T> {
    let text: String = row.get(at)?;
    serde_json::from_str(&text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(at, rusqlite::types::Type::Text, e.into())
    })
}

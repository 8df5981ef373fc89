//! Licences (joined with their product's policy), and the seat counters kept on them.

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use rusqlite::{OptionalExtension, params};

use super::products::{POLICY_COLUMN_COUNT, POLICY_COLUMNS, policy_from};
use super::{Db, Environment, StoreError, Tx, environment_at, json_column, to_json};
use crate::domain::{LicenseState, Policy, UnknownState};

/// A licence row (the key itself is never read into it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenseRow {
    /// Its id.
    pub id: String,
    /// Its environment.
    pub environment: Environment,
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
    /// Of a floating licence: the entitlements only so many seats at once may carry.
    pub entitlement_seats: std::collections::BTreeMap<String, u32>,
    /// Licence expiry.
    pub expires_at: Option<i64>,
    /// Creation time.
    pub created_at: i64,
    /// Last change.
    pub updated_at: i64,
    /// Its product's policy.
    pub policy: Policy,
}

impl LicenseRow {
    /// The status a client sees: `expired` once the expiry date has passed.
    pub fn effective_status(&self, now: i64) -> licentric_proto::LicenseStatus {
        self.status.effective(self.expires_at, now)
    }
}

/// How many machines a licence has now, and has ever had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MachineCounts {
    /// Activated and not deactivated: the seats in use.
    pub active: u32,
    /// Every machine it has had, deactivated ones included.
    pub ever: u32,
}

/// What an update of a licence changes; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct LicenseUpdate {
    /// Seats.
    pub max_machines: Option<u32>,
    /// Entitlement codes.
    pub entitlements: Option<Vec<String>>,
    /// Per-entitlement seats.
    pub entitlement_seats: Option<std::collections::BTreeMap<String, u32>>,
    /// `Some(None)`: never expires.
    pub expires_at: Option<Option<i64>>,
}

impl FromSql for LicenseState {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<LicenseState> {
        value
            .as_str()?
            .parse()
            .map_err(|e: UnknownState| FromSqlError::Other(Box::new(e)))
    }
}

impl ToSql for LicenseState {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

/// The licences joined with their products, as `l` and `p`.
const FROM: &str =
    "licenses l JOIN products p ON p.environment = l.environment AND p.id = l.product_id";

/// How many of the licence's own columns [`columns`] names before its product's policy.
const OWN_COLUMNS: usize = 11;

/// The columns [`from_row`] reads, in order, from [`FROM`].
fn columns() -> String {
    format!(
        "l.id, l.environment, l.product_id, l.key_hint, l.status, l.max_machines, l.entitlements, l.expires_at, l.created_at, l.updated_at, l.entitlement_seats, {POLICY_COLUMNS}"
    )
}

fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<LicenseRow> {
    Ok(LicenseRow {
        id: row.get(0)?,
        environment: environment_at(row, 1)?,
        product_id: row.get(2)?,
        key_hint: row.get(3)?,
        status: row.get(4)?,
        max_machines: row.get(5)?,
        entitlements: json_column(row, 6)?,
        expires_at: row.get(7)?,
        created_at: row.get(8)?,
        updated_at: row.get(9)?,
        entitlement_seats: json_column(row, 10)?,
        policy: policy_from(row, OWN_COLUMNS)?,
    })
}

/// The licence whose key hashes to `key_hash`.
///
/// # Errors
/// On storage failure.
pub fn by_key_hash(db: &Db<'_>, key_hash: &[u8; 32]) -> Result<Option<LicenseRow>, StoreError> {
    let sql = format!("SELECT {} FROM {FROM} WHERE l.key_hash = ?1", columns());
    Ok(db
        .conn
        .prepare_cached(&sql)?
        .query_row(params![key_hash.as_slice()], from_row)
        .optional()?)
}

/// The licence `id` in `environment`.
///
/// # Errors
/// On storage failure.
pub fn get(
    db: &Db<'_>,
    environment: Environment,
    id: &str,
) -> Result<Option<LicenseRow>, StoreError> {
    let sql = format!(
        "SELECT {} FROM {FROM} WHERE l.id = ?1 AND l.environment = ?2",
        columns()
    );
    Ok(db
        .conn
        .prepare_cached(&sql)?
        .query_row(params![id, environment.as_str()], from_row)
        .optional()?)
}

/// The licences of `environment` (of one product, if given), oldest first, each with its
/// active machines.
///
/// # Errors
/// On storage failure.
pub fn list(
    db: &Db<'_>,
    environment: Environment,
    product_id: Option<&str>,
) -> Result<Vec<(LicenseRow, u32)>, StoreError> {
    let sql = format!(
        "SELECT {}, l.machines_active FROM {FROM} WHERE l.environment = ?1 AND (?2 IS NULL OR l.product_id = ?2) ORDER BY l.created_at, l.id",
        columns()
    );
    let mut stmt = db.conn.prepare(&sql)?;
    let rows = stmt
        .query_map(params![environment.as_str(), product_id], |r| {
            Ok((from_row(r)?, r.get(OWN_COLUMNS + POLICY_COLUMN_COUNT)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// The machine counters of licence `id`.
///
/// # Errors
/// On storage failure.
pub fn machine_counts(db: &Db<'_>, id: &str) -> Result<MachineCounts, StoreError> {
    Ok(db
        .conn
        .prepare_cached("SELECT machines_active, machines_ever FROM licenses WHERE id = ?1")?
        .query_row(params![id], |r| {
            Ok(MachineCounts {
                active: r.get(0)?,
                ever: r.get(1)?,
            })
        })?)
}

/// Its active machines (the counter kept with every activation and deactivation).
///
/// # Errors
/// On storage failure.
pub fn active_machines(db: &Db<'_>, id: &str) -> Result<u32, StoreError> {
    Ok(machine_counts(db, id)?.active)
}

/// Adds `row`, whose key hashes to `key_hash` and is sealed as `key_sealed`.
///
/// # Errors
/// On storage failure.
pub fn insert(
    tx: &Tx<'_>,
    row: &LicenseRow,
    key_hash: &[u8; 32],
    key_sealed: &[u8],
) -> Result<(), StoreError> {
    tx.conn.execute(
        "INSERT INTO licenses (id, environment, product_id, key_hash, key_enc, key_hint, status, max_machines, entitlements, expires_at, created_at, updated_at, entitlement_seats)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        params![
            row.id,
            row.environment.as_str(),
            row.product_id,
            key_hash.as_slice(),
            key_sealed,
            row.key_hint,
            row.status,
            row.max_machines,
            to_json(&row.entitlements)?,
            row.expires_at,
            row.created_at,
            row.updated_at,
            to_json(&row.entitlement_seats)?
        ],
    )?;
    Ok(())
}

/// Applies `update` to licence `id` of `environment`.
///
/// # Errors
/// On storage failure.
pub fn update(
    tx: &Tx<'_>,
    environment: Environment,
    id: &str,
    update: &LicenseUpdate,
    now: i64,
) -> Result<(), StoreError> {
    let set = |column: &str, value: &dyn ToSql| -> Result<(), StoreError> {
        tx.conn.execute(
            &format!("UPDATE licenses SET {column} = ?3, updated_at = ?4 WHERE id = ?1 AND environment = ?2"),
            params![id, environment.as_str(), value, now],
        )?;
        Ok(())
    };
    if let Some(m) = update.max_machines {
        set("max_machines", &m)?;
    }
    if let Some(e) = &update.entitlements {
        set("entitlements", &to_json(e)?)?;
    }
    if let Some(at) = update.expires_at {
        set("expires_at", &at)?;
    }
    if let Some(seats) = &update.entitlement_seats {
        set("entitlement_seats", &to_json(seats)?)?;
    }
    Ok(())
}

/// Sets licence `id`'s state.
///
/// # Errors
/// On storage failure.
pub fn set_state(tx: &Tx<'_>, id: &str, state: LicenseState, now: i64) -> Result<(), StoreError> {
    tx.conn.execute(
        "UPDATE licenses SET status = ?2, updated_at = ?3 WHERE id = ?1",
        params![id, state, now],
    )?;
    Ok(())
}

/// The sealed key of licence `id` in `environment`.
///
/// # Errors
/// On storage failure.
pub fn sealed_key(
    db: &Db<'_>,
    environment: Environment,
    id: &str,
) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(db
        .conn
        .query_row(
            "SELECT key_enc FROM licenses WHERE id = ?1 AND environment = ?2",
            params![id, environment.as_str()],
            |r| r.get(0),
        )
        .optional()?)
}

/// Moves licence `id`'s counters: `active` by `delta`, and `ever` up by one for a new machine.
pub(super) fn count_machines(
    tx: &Tx<'_>,
    id: &str,
    delta: i64,
    new_machine: bool,
) -> Result<(), StoreError> {
    tx.conn
        .prepare_cached(
            "UPDATE licenses SET machines_active = machines_active + ?2, machines_ever = machines_ever + ?3 WHERE id = ?1",
        )?
        .execute(params![id, delta, i64::from(new_machine)])?;
    Ok(())
}

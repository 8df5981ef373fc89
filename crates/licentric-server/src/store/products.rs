//! Products and their policy.

use rusqlite::{OptionalExtension, params};

use super::{Db, Environment, StoreError, Tx, environment_at};
use crate::domain::{DEFAULT_SEAT_MOVES, Policy, SeatMoves};

/// A product row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductRow {
    /// Its environment.
    pub environment: Environment,
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

/// The columns [`from_row`] reads, in order, from `products p`.
const COLUMNS: &str = "p.environment, p.id, p.name, p.key_prefix, p.created_at, \
    p.check_interval_seconds, p.max_ttl_seconds, p.seat_moves_per_seat, p.seat_move_window_seconds, \
    p.fingerprint_match, p.allow_virtual_machines, p.allow_containers, p.seat_model, \
    p.lease_ttl_seconds, p.max_borrow_seconds, p.seats_per, p.borrow_kept_to_end";

/// The policy columns of `products p`, as [`policy_from`] reads them.
pub(super) const POLICY_COLUMNS: &str = "p.check_interval_seconds, p.max_ttl_seconds, p.seat_moves_per_seat, p.seat_move_window_seconds, p.fingerprint_match, p.allow_virtual_machines, p.allow_containers, p.seat_model, p.lease_ttl_seconds, p.max_borrow_seconds, p.seats_per, p.borrow_kept_to_end";

/// How many columns [`POLICY_COLUMNS`] has.
pub(super) const POLICY_COLUMN_COUNT: usize = 12;

/// Reads [`POLICY_COLUMNS`] starting at column `at`.
pub(super) fn policy_from(row: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Policy> {
    let per_seat: Option<u32> = row.get(at + 2)?;
    let window: u32 = row.get(at + 3)?;
    let matching: String = row.get(at + 4)?;
    Ok(Policy {
        check_interval: row.get(at)?,
        max_ttl: row.get(at + 1)?,
        seat_moves: per_seat.map(|per_seat| SeatMoves { per_seat, window }),
        fingerprint_match: matching.parse().map_err(|e: String| {
            rusqlite::Error::FromSqlConversionFailure(at + 4, rusqlite::types::Type::Text, e.into())
        })?,
        allow_virtual_machines: row.get(at + 5)?,
        allow_containers: row.get(at + 6)?,
        seat_model: row.get::<_, String>(at + 7)?.parse().map_err(|e: String| {
            rusqlite::Error::FromSqlConversionFailure(at + 7, rusqlite::types::Type::Text, e.into())
        })?,
        lease_ttl: row.get(at + 8)?,
        max_borrow: row.get(at + 9)?,
        seat_per_process: row.get::<_, String>(at + 10)? == "process",
        borrow_kept_to_end: row.get(at + 11)?,
    })
}

fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ProductRow> {
    Ok(ProductRow {
        environment: environment_at(row, 0)?,
        id: row.get(1)?,
        name: row.get(2)?,
        key_prefix: row.get(3)?,
        created_at: row.get(4)?,
        policy: policy_from(row, 5)?,
    })
}

/// The product `id` in `environment`.
///
/// # Errors
/// On storage failure.
pub fn get(
    db: &Db<'_>,
    environment: Environment,
    id: &str,
) -> Result<Option<ProductRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM products p WHERE p.environment = ?1 AND p.id = ?2");
    Ok(db
        .conn
        .query_row(&sql, params![environment.as_str(), id], from_row)
        .optional()?)
}

/// The products of `environment`, by id.
///
/// # Errors
/// On storage failure.
pub fn list(db: &Db<'_>, environment: Environment) -> Result<Vec<ProductRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM products p WHERE p.environment = ?1 ORDER BY p.id");
    let mut stmt = db.conn.prepare(&sql)?;
    let rows = stmt
        .query_map(params![environment.as_str()], from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Adds `row`; false when its environment already has a product with its id.
///
/// # Errors
/// On storage failure.
pub fn insert(tx: &Tx<'_>, row: &ProductRow) -> Result<bool, StoreError> {
    let window = row.policy.seat_moves.unwrap_or(DEFAULT_SEAT_MOVES).window;
    Ok(tx.conn.execute(
        "INSERT OR IGNORE INTO products (environment, id, name, key_prefix, created_at, check_interval_seconds, max_ttl_seconds, seat_moves_per_seat, seat_move_window_seconds, fingerprint_match, allow_virtual_machines, allow_containers, seat_model, lease_ttl_seconds, max_borrow_seconds, seats_per, borrow_kept_to_end)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
        params![
            row.environment.as_str(),
            row.id,
            row.name,
            row.key_prefix,
            row.created_at,
            row.policy.check_interval,
            row.policy.max_ttl,
            row.policy.seat_moves.map(|m| m.per_seat),
            window,
            row.policy.fingerprint_match.as_str(),
            row.policy.allow_virtual_machines,
            row.policy.allow_containers,
            row.policy.seat_model.as_str(),
            row.policy.lease_ttl,
            row.policy.max_borrow,
            seats_per(&row.policy),
            row.policy.borrow_kept_to_end
        ],
    )? == 1)
}

/// Sets the policy of product `id` in `environment`.
///
/// # Errors
/// On storage failure.
pub fn set_policy(
    tx: &Tx<'_>,
    environment: Environment,
    id: &str,
    policy: &Policy,
) -> Result<(), StoreError> {
    let window = policy.seat_moves.unwrap_or(DEFAULT_SEAT_MOVES).window;
    tx.conn.execute(
        "UPDATE products SET check_interval_seconds = ?3, max_ttl_seconds = ?4, seat_moves_per_seat = ?5, seat_move_window_seconds = ?6, fingerprint_match = ?7,
         allow_virtual_machines = ?8, allow_containers = ?9, seat_model = ?10, lease_ttl_seconds = ?11,
         max_borrow_seconds = ?12, seats_per = ?13, borrow_kept_to_end = ?14
         WHERE environment = ?1 AND id = ?2",
        params![
            environment.as_str(),
            id,
            policy.check_interval,
            policy.max_ttl,
            policy.seat_moves.map(|m| m.per_seat),
            window,
            policy.fingerprint_match.as_str(),
            policy.allow_virtual_machines,
            policy.allow_containers,
            policy.seat_model.as_str(),
            policy.lease_ttl,
            policy.max_borrow,
            seats_per(policy),
            policy.borrow_kept_to_end
        ],
    )?;
    Ok(())
}

/// The stored word for whose a seat of a floating licence is: `machine` or `process`.
pub fn seats_per(policy: &Policy) -> &'static str {
    if policy.seat_per_process {
        "process"
    } else {
        "machine"
    }
}

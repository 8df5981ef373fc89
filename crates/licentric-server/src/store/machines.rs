//! Machines: activated on a licence, seen at each check, deactivated to free their seat. The
//! licence's counters move in the same transaction as the machine.

use rusqlite::{OptionalExtension, params};

use licentric_proto::api::MachineComponent;

use super::licenses::count_machines;
use super::{Db, Environment, StoreError, Tx, json_column, to_json};

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
    /// The parts it was last seen with (none from older companions).
    pub components: Vec<MachineComponent>,
}

/// How to find a licence's active machine.
#[derive(Debug, Clone, Copy)]
pub enum MachineBy<'a> {
    /// By its fingerprint (activation: "already active here?").
    Fingerprint(&'a str),
    /// By its id (checkout, validation, deactivation).
    Id(&'a str),
}

const COLUMNS: &str = "id, license_id, fingerprint, platform, hostname, app_version, activated_at, last_seen_at, deactivated_at, components";

fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<MachineRow> {
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
        components: json_column(row, 9)?,
    })
}

/// The machine `id`, active or not.
///
/// # Errors
/// On storage failure.
pub fn get(db: &Db<'_>, id: &str) -> Result<Option<MachineRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM machines WHERE id = ?1");
    Ok(db.conn.query_row(&sql, params![id], from_row).optional()?)
}

/// The active (not deactivated) machine of `license_id` found `by` fingerprint or id.
///
/// # Errors
/// On storage failure.
pub fn active(
    db: &Db<'_>,
    license_id: &str,
    by: MachineBy<'_>,
) -> Result<Option<MachineRow>, StoreError> {
    let (column, value) = match by {
        MachineBy::Fingerprint(fp) => ("fingerprint", fp),
        MachineBy::Id(id) => ("id", id),
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM machines WHERE license_id = ?1 AND {column} = ?2 AND deactivated_at IS NULL"
    );
    Ok(db
        .conn
        .prepare_cached(&sql)?
        .query_row(params![license_id, value], from_row)
        .optional()?)
}

/// The active machines of licence `license_id`.
///
/// # Errors
/// On storage failure.
pub fn all_active(db: &Db<'_>, license_id: &str) -> Result<Vec<MachineRow>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM machines WHERE license_id = ?1 AND deactivated_at IS NULL ORDER BY activated_at, id"
    );
    let mut stmt = db.conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map(params![license_id], from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Records the parts machine `id` was seen with; with `previous`, the parts it had before (a
/// whole kind of part changed).
///
/// # Errors
/// On storage failure.
pub fn set_components(
    tx: &Tx<'_>,
    id: &str,
    components: &[MachineComponent],
    previous: Option<&[MachineComponent]>,
) -> Result<(), StoreError> {
    match previous {
        None => tx
            .conn
            .prepare_cached("UPDATE machines SET components = ?2 WHERE id = ?1")?
            .execute(params![id, to_json(&components)?])?,
        Some(previous) => tx
            .conn
            .prepare_cached(
                "UPDATE machines SET components = ?2, previous_components = ?3 WHERE id = ?1",
            )?
            .execute(params![id, to_json(&components)?, to_json(&previous)?])?,
    };
    Ok(())
}

/// The parts machine `id` had before its last change of a whole kind of part.
///
/// # Errors
/// On storage failure.
pub fn previous_parts(db: &Db<'_>, id: &str) -> Result<Vec<MachineComponent>, StoreError> {
    Ok(db.conn.query_row(
        "SELECT previous_components FROM machines WHERE id = ?1",
        params![id],
        |r| json_column(r, 0),
    )?)
}

/// Machine `id` went back at `now` to parts it showed before, a kind left out in between;
/// whether it had done so in the `within` seconds before (one check and mark).
///
/// # Errors
/// On storage failure.
pub fn returned_again(tx: &Tx<'_>, id: &str, now: i64, within: i64) -> Result<bool, StoreError> {
    let before: Option<i64> = tx.conn.query_row(
        "SELECT parts_returned_at FROM machines WHERE id = ?1",
        params![id],
        |r| r.get(0),
    )?;
    tx.conn
        .prepare_cached("UPDATE machines SET parts_returned_at = ?2 WHERE id = ?1")?
        .execute(params![id, now])?;
    Ok(before.is_some_and(|at| at > now - within))
}

/// Whether machine `id` is due a report as two systems under one identity at `now` — none
/// in the `quiet` seconds before — and if so, marks it reported now (one check and mark).
///
/// # Errors
/// On storage failure.
pub fn claim_duplicate_report(
    tx: &Tx<'_>,
    id: &str,
    now: i64,
    quiet: i64,
) -> Result<bool, StoreError> {
    Ok(tx.conn.execute(
        "UPDATE machines SET duplicate_reported_at = ?2
         WHERE id = ?1 AND (duplicate_reported_at IS NULL OR duplicate_reported_at <= ?2 - ?3)",
        params![id, now, quiet],
    )? == 1)
}

/// Machine `id` is known by a new fingerprint (its parts matched under the product's policy);
/// counted as a seat move.
///
/// # Errors
/// On storage failure.
pub fn rebind(
    tx: &Tx<'_>,
    id: &str,
    from_fingerprint: &str,
    fingerprint: &str,
    components: &[MachineComponent],
    now: i64,
) -> Result<(), StoreError> {
    let license_id: String = tx.conn.query_row(
        "UPDATE machines SET fingerprint = ?2, components = ?3, last_seen_at = ?4 WHERE id = ?1 RETURNING license_id",
        params![id, fingerprint, to_json(&components)?, now],
        |r| r.get(0),
    )?;
    tx.conn.execute(
        "INSERT INTO machine_rebinds (license_id, machine_id, at, from_fingerprint) VALUES (?1, ?2, ?3, ?4)",
        params![license_id, id, now, from_fingerprint],
    )?;
    Ok(())
}

/// Whether machine `id` was once known by `fingerprint` and moved away from it (a rebind).
///
/// # Errors
/// On storage failure.
pub fn moved_from(db: &Db<'_>, id: &str, fingerprint: &str) -> Result<bool, StoreError> {
    Ok(db.conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM machine_rebinds WHERE machine_id = ?1 AND from_fingerprint = ?2)",
        params![id, fingerprint],
        |r| r.get(0),
    )?)
}

/// Every machine licence `license_id` has had, oldest first.
///
/// # Errors
/// On storage failure.
pub fn list(db: &Db<'_>, license_id: &str) -> Result<Vec<MachineRow>, StoreError> {
    let sql =
        format!("SELECT {COLUMNS} FROM machines WHERE license_id = ?1 ORDER BY activated_at, id");
    let mut stmt = db.conn.prepare(&sql)?;
    let rows = stmt
        .query_map(params![license_id], from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Whether `license_id` once had machine `id` with `fingerprint` (now deactivated, when
/// [`active`] does not find it).
///
/// # Errors
/// On storage failure.
pub fn ever_had(
    db: &Db<'_>,
    license_id: &str,
    id: &str,
    fingerprint: &str,
) -> Result<bool, StoreError> {
    Ok(db.conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM machines WHERE license_id = ?1 AND id = ?2 AND fingerprint = ?3)",
        params![license_id, id, fingerprint],
        |r| r.get(0),
    )?)
}

/// When the seat moves of `license_id` after `since` happened: new machines taking a held
/// seat, and machines known again by their parts under a new fingerprint.
///
/// # Errors
/// On storage failure.
pub fn moves_since(db: &Db<'_>, license_id: &str, since: i64) -> Result<Vec<i64>, StoreError> {
    let mut stmt = db.conn.prepare_cached(
        "SELECT activated_at FROM machines WHERE license_id = ?1 AND seat_move = 1 AND activated_at > ?2
         UNION ALL SELECT at FROM machine_rebinds WHERE license_id = ?1 AND at > ?2",
    )?;
    let moves = stmt
        .query_map(params![license_id, since], |r| r.get(0))?
        .collect::<Result<Vec<i64>, _>>()?;
    Ok(moves)
}

/// Adds `machine` (active) in `environment`, a seat move or not, and counts it on its licence.
///
/// # Errors
/// On storage failure.
pub fn insert(
    tx: &Tx<'_>,
    environment: Environment,
    machine: &MachineRow,
    seat_move: bool,
) -> Result<(), StoreError> {
    tx.conn
        .prepare_cached(
            "INSERT INTO machines (id, environment, license_id, fingerprint, platform, hostname, app_version, activated_at, last_seen_at, seat_move, components)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )?
        .execute(params![
            machine.id,
            environment.as_str(),
            machine.license_id,
            machine.fingerprint,
            machine.platform,
            machine.hostname,
            machine.app_version,
            machine.activated_at,
            machine.last_seen_at,
            seat_move,
            to_json(&machine.components)?
        ])?;
    count_machines(tx, &machine.license_id, 1, true)
}

/// Records that machine `id` was seen at `now`.
///
/// # Errors
/// On storage failure.
pub fn seen(tx: &Tx<'_>, id: &str, now: i64) -> Result<(), StoreError> {
    tx.conn
        .prepare_cached("UPDATE machines SET last_seen_at = ?2 WHERE id = ?1")?
        .execute(params![id, now])?;
    Ok(())
}

/// Records that machine `id` activated again at `now`, as `platform`, `hostname` and
/// `app_version`.
///
/// # Errors
/// On storage failure.
pub fn seen_again(
    tx: &Tx<'_>,
    id: &str,
    (platform, hostname, app_version): (&str, &str, &str),
    now: i64,
) -> Result<(), StoreError> {
    tx.conn
        .prepare_cached(
            "UPDATE machines SET last_seen_at = ?2, platform = ?3, hostname = ?4, app_version = ?5 WHERE id = ?1",
        )?
        .execute(params![id, now, platform, hostname, app_version])?;
    Ok(())
}

/// Deactivates machine `id` of `license_id` at `now`, freeing its seat; false if it was not
/// active.
///
/// # Errors
/// On storage failure.
pub fn deactivate(tx: &Tx<'_>, license_id: &str, id: &str, now: i64) -> Result<bool, StoreError> {
    let changed = tx.conn.execute(
        "UPDATE machines SET deactivated_at = ?2 WHERE id = ?1 AND license_id = ?3 AND deactivated_at IS NULL",
        params![id, now, license_id],
    )?;
    if changed == 1 {
        count_machines(tx, license_id, -1, false)?;
    }
    Ok(changed == 1)
}

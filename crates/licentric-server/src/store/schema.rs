//! The schema: versioned migrations, run in order at open; `PRAGMA user_version` records how
//! many ran, and a database newer than this server is refused rather than misread.

use rusqlite::Connection;

use super::StoreError;

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
    r"
-- How many machines a licence has ever had: once as many as its seats, every new machine
-- is a seat move (see machines::insert); a counter, not a count of its machines per request.
ALTER TABLE licenses ADD COLUMN machines_ever INTEGER NOT NULL DEFAULT 0;
UPDATE licenses SET machines_ever =
    (SELECT COUNT(*) FROM machines m WHERE m.license_id = licenses.id);
",
    r"
-- Tolerant fingerprints (docs/fingerprint.md): the parts each machine was last seen with
-- (JSON [{kind, hash}]), and how a product matches a changed fingerprint. Products of an older
-- server keep exact matching until the vendor chooses otherwise.
ALTER TABLE machines ADD COLUMN components TEXT NOT NULL DEFAULT '[]';
ALTER TABLE products ADD COLUMN fingerprint_match TEXT NOT NULL DEFAULT 'exact'
    CHECK (fingerprint_match IN ('exact', 'most', 'any'));
-- A machine known again by its parts under a new fingerprint: a seat move like any other
-- (a client states its parts; the move limit is what stops two machines taking turns).
CREATE TABLE machine_rebinds (
    license_id TEXT NOT NULL,
    machine_id TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX machine_rebinds_by_license ON machine_rebinds (license_id, at);
",
    r"
-- The fingerprint a machine was known by before each rebind, so that a system coming back
-- under it (the other system of a dual boot, the original of a clone) is told from a
-- reinstall (docs/fingerprint.md).
ALTER TABLE machine_rebinds ADD COLUMN from_fingerprint TEXT;
CREATE INDEX machine_rebinds_by_machine ON machine_rebinds (machine_id, from_fingerprint);
",
    r"
-- Whether a product's licences may be activated in a virtual machine, in a container.
ALTER TABLE products ADD COLUMN allow_virtual_machines INTEGER NOT NULL DEFAULT 1
    CHECK (allow_virtual_machines IN (0, 1));
ALTER TABLE products ADD COLUMN allow_containers INTEGER NOT NULL DEFAULT 1
    CHECK (allow_containers IN (0, 1));
",
    r"
-- The parts a machine was seen with before its last change of a whole kind of part, and when
-- it was last reported as two live systems under one identity (docs/fingerprint.md).
ALTER TABLE machines ADD COLUMN previous_components TEXT NOT NULL DEFAULT '[]';
ALTER TABLE machines ADD COLUMN duplicate_reported_at INTEGER;
",
    r"
-- Floating licences (docs/floating.md): a product's licences are node-locked (a machine
-- holds a seat until deactivated) or floating (a machine holds a seat while a lease is open).
ALTER TABLE products ADD COLUMN seat_model TEXT NOT NULL DEFAULT 'node_locked'
    CHECK (seat_model IN ('node_locked', 'floating'));
ALTER TABLE products ADD COLUMN lease_ttl_seconds INTEGER NOT NULL DEFAULT 900;
CREATE TABLE leases (
    id TEXT PRIMARY KEY,
    license_id TEXT NOT NULL,
    environment TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    label TEXT,
    created_at INTEGER NOT NULL,
    renewed_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    ended_at INTEGER,
    ended_by TEXT CHECK (ended_by IN ('released', 'expired'))
);
CREATE INDEX leases_open ON leases (license_id, ended_at, expires_at);
CREATE INDEX leases_due ON leases (ended_at, expires_at);
",
    r"
-- A lease is renewed and released only with the secret its checkout answered with (kept
-- hashed): the licence key alone does not let anyone free another holder's seat.
ALTER TABLE leases ADD COLUMN secret_hash BLOB;
",
    r"
-- Borrowing (docs/floating.md): how long a product lets a machine borrow a seat for a trip
-- (0: not at all), and which leases are borrowed (held to their end with no renewal).
ALTER TABLE products ADD COLUMN max_borrow_seconds INTEGER NOT NULL DEFAULT 604800;
ALTER TABLE leases ADD COLUMN borrowed INTEGER NOT NULL DEFAULT 0 CHECK (borrowed IN (0, 1));
",
    r"
-- Whether the apps of a machine share one seat of a floating licence (machine) or each app
-- process holds its own (process).
ALTER TABLE products ADD COLUMN seats_per TEXT NOT NULL DEFAULT 'machine'
    CHECK (seats_per IN ('machine', 'process'));
",
    r"
-- Per-entitlement seats of a floating licence (docs/floating.md): at most so many leases at
-- once carry an entitlement listed here ({code: seats}); the entitlements a lease carries of
-- those it was given.
ALTER TABLE licenses ADD COLUMN entitlement_seats TEXT NOT NULL DEFAULT '{}';
ALTER TABLE leases ADD COLUMN entitlements TEXT NOT NULL DEFAULT '[]';
",
    r"
-- Whether a product's borrowed seats stay counted to their end (no early return).
ALTER TABLE products ADD COLUMN borrow_kept_to_end INTEGER NOT NULL DEFAULT 0;
",
    r"
-- Whether a borrowed lease is kept to its end: the product's policy when the lease was
-- borrowed, as its signed lease says, not as the policy reads later. Open borrows from before
-- take the policy of now, as the server before signed each answer (a borrow not answered since
-- the policy changed was signed otherwise; that server refused its return all the same).
ALTER TABLE leases ADD COLUMN kept_to_end INTEGER NOT NULL DEFAULT 0 CHECK (kept_to_end IN (0, 1));
UPDATE leases SET kept_to_end = 1
 WHERE borrowed = 1 AND ended_at IS NULL AND license_id IN (
    SELECT l.id FROM licenses l JOIN products p
        ON p.environment = l.environment AND p.id = l.product_id
     WHERE p.borrow_kept_to_end = 1);
",
    r"
-- When a machine last went back to parts it had shown before with a kind of part left out
-- (no part different): once may be a reading that failed, again within a week is a copy
-- taking turns with it.
ALTER TABLE machines ADD COLUMN parts_returned_at INTEGER;
",
];

/// Runs the migrations `conn` has not had yet.
pub(super) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
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

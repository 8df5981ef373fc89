//! The JSON shapes of rows, shared by the management API and webhook events.

use serde_json::{Value, json};

use crate::clock::rfc3339;
use crate::store::{LicenseRow, MachineRow, ProductRow};

/// A product.
pub fn product(p: &ProductRow) -> Value {
    json!({
        "id": p.id,
        "name": p.name,
        "key_prefix": p.key_prefix,
        "check_interval_seconds": p.policy.check_interval,
        "max_ttl_seconds": p.policy.max_ttl,
        "seat_moves_per_seat": p.policy.seat_moves.map(|m| m.per_seat),
        "seat_move_window_seconds": p.policy.seat_moves.map(|m| m.window),
        "fingerprint_match": p.policy.fingerprint_match.as_str(),
        "allow_virtual_machines": p.policy.allow_virtual_machines,
        "allow_containers": p.policy.allow_containers,
        "seat_model": p.policy.seat_model.as_str(),
        "lease_ttl_seconds": p.policy.lease_ttl,
        "max_borrow_seconds": p.policy.max_borrow,
        "seats_per": crate::store::products::seats_per(&p.policy),
        "borrow_kept_to_end": p.policy.borrow_kept_to_end,
        "environment": p.environment,
        "created_at": rfc3339(p.created_at),
    })
}

/// A licence, with its effective status and active machine count. Never the key.
pub fn license(l: &LicenseRow, machines_active: u32, now: i64) -> Value {
    json!({
        "id": l.id,
        "product_id": l.product_id,
        "environment": l.environment,
        "key_hint": l.key_hint,
        "status": l.effective_status(now).as_str(),
        "max_machines": l.max_machines,
        "machines_active": machines_active,
        "entitlements": l.entitlements,
        "entitlement_seats": l.entitlement_seats,
        "expires_at": l.expires_at.and_then(rfc3339),
        "created_at": rfc3339(l.created_at),
        "updated_at": rfc3339(l.updated_at),
    })
}

/// A machine.
pub fn machine(m: &MachineRow) -> Value {
    json!({
        "id": m.id,
        "license_id": m.license_id,
        "fingerprint": m.fingerprint,
        "platform": m.platform,
        "hostname": m.hostname,
        "app_version": m.app_version,
        "activated_at": rfc3339(m.activated_at),
        "last_seen_at": rfc3339(m.last_seen_at),
        "deactivated_at": m.deactivated_at.and_then(rfc3339),
        "active": m.deactivated_at.is_none(),
    })
}

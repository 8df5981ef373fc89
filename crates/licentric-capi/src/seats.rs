//! Seats of a floating licence from C (`docs/floating.md`): a seat is held by the connection
//! that checked it out, renewed by the agent meanwhile, and given back with
//! [`licentric_release`], with [`licentric_close`](crate::licentric_close), or when the
//! program ends. [`licentric_checkout_checked`] also checks the seat's signed lease here, with
//! the vendor's keys, so that a program squatting on the socket cannot hand out a seat.

use std::ffi::c_char;

use licentric_client::ClientError;
use licentric_client::verify::{LeasePayload, check_lease};

use crate::{LicentricClient, LicentricResult, copy_into, text};

/// A seat held, in plain values.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct LicentricSeat {
    /// When its lease runs out unless renewed (RFC 3339, UTC): the agent renews it while the
    /// connection holds it.
    pub expires_at: [c_char; 40],
    /// Seats held on the licence, this machine's included.
    pub seats_in_use: u32,
    /// The licence's seats.
    pub max_seats: u32,
    /// Whether its signed lease was checked here (`licentric_checkout_checked`): then
    /// `expires_at` and `max_seats` are the lease's, signed.
    pub checked: bool,
}

impl LicentricSeat {
    /// `seat` as the agent answered it; with `signed`, its lease checked here, the end and
    /// the licence's seats are the lease's (what the agent says beside it is not signed).
    fn of(seat: &licentric_client::CheckoutResult, signed: Option<&LeasePayload>) -> LicentricSeat {
        let mut out = LicentricSeat {
            expires_at: [0; 40],
            seats_in_use: seat.seats_in_use,
            max_seats: signed.map_or(seat.max_seats, |p| p.max_seats),
            checked: signed.is_some(),
        };
        let end = signed.and_then(|p| {
            p.expires_at
                .format(&time::format_description::well_known::Rfc3339)
                .ok()
        });
        copy_into(
            &mut out.expires_at,
            end.as_deref().unwrap_or(&seat.expires_at),
        );
        out
    }
}

/// Checks out a seat of the floating licence for this connection, one that carries the
/// entitlement `entitlement` if it is not null: held until `licentric_release` or
/// `licentric_close`, renewed by the agent meanwhile. Asking again on the same connection
/// answers the same seat. With no seat free, or the entitlement not in the licence, the
/// result is `LICENTRIC_AGENT_ERROR` (`licentric_last_agent_error` says which).
///
/// # Safety
/// `client` is a live client; `entitlement` is null or a NUL-terminated string; `out` points
/// to a `licentric_seat`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licentric_checkout(
    client: *mut LicentricClient,
    entitlement: *const c_char,
    out: *mut LicentricSeat,
) -> LicentricResult {
    // SAFETY: forwarded as documented; no keys.
    unsafe { checkout(client, entitlement, None, out) }
}

/// As `licentric_checkout`, and the seat's signed lease checked here before it counts: signed
/// by one of `trusted_keys` (`key_count` of them, the vendor's public keys as in the
/// companion's configuration), for this product and environment, for this machine (its
/// fingerprint computed in this process), not run out by this process's clock, and carrying
/// `entitlement` if it is not null. A seat whose lease does not pass is given back, and the
/// result is `LICENTRIC_NOT_VERIFIED`.
///
/// # Safety
/// As `licentric_checkout`; `trusted_keys` points to `key_count` NUL-terminated strings.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licentric_checkout_checked(
    client: *mut LicentricClient,
    entitlement: *const c_char,
    trusted_keys: *const *const c_char,
    key_count: usize,
    out: *mut LicentricSeat,
) -> LicentricResult {
    // SAFETY: `key_count` strings at `trusted_keys`, as documented.
    let Some(keys) = (unsafe { crate::checked::keys(trusted_keys, key_count) }) else {
        return LicentricResult::LicentricInvalidArgument;
    };
    // SAFETY: forwarded as documented.
    unsafe { checkout(client, entitlement, Some(&keys), out) }
}

/// Gives this connection's seat back (nothing if it holds none).
///
/// # Safety
/// `client` is a live client.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licentric_release(client: *mut LicentricClient) -> LicentricResult {
    // SAFETY: a live client, or null (refused).
    let Some(client) = (unsafe { client.as_mut() }) else {
        return LicentricResult::LicentricInvalidArgument;
    };
    let released = client.client.release();
    client.answered(released.map(drop))
}

/// # Safety
/// As `licentric_checkout`; `keys`, when given, are the vendor's public keys.
unsafe fn checkout(
    client: *mut LicentricClient,
    entitlement: *const c_char,
    keys: Option<&[&str]>,
    out: *mut LicentricSeat,
) -> LicentricResult {
    // SAFETY: a live client, or null (refused).
    let Some(client) = (unsafe { client.as_mut() }) else {
        return LicentricResult::LicentricInvalidArgument;
    };
    if out.is_null() {
        return LicentricResult::LicentricInvalidArgument;
    }
    let code = if entitlement.is_null() {
        None
    } else {
        // SAFETY: not null, a NUL-terminated string as documented.
        match unsafe { text(entitlement) } {
            Some(code) => Some(code),
            None => return LicentricResult::LicentricInvalidArgument,
        }
    };
    let seat = match client.client.checkout(code) {
        Ok(seat) => seat,
        Err(e) => return client.answered(Err::<(), ClientError>(e)),
    };
    let signed = match keys.map(|keys| client.check_lease(&seat, keys, code)) {
        None => None,
        Some(Ok(payload)) => Some(payload),
        Some(Err(why)) => {
            client.last_error = Some(("not_verified".into(), why));
            // Not a seat this program may count on: it goes back.
            let _ = client.client.release();
            return LicentricResult::LicentricNotVerified;
        }
    };
    // SAFETY: `out` is not null and points to a `licentric_seat`.
    unsafe { *out = LicentricSeat::of(&seat, signed.as_ref()) };
    LicentricResult::LicentricOk
}

impl LicentricClient {
    /// `seat`'s signed lease, if it is one this program may count on; else why not.
    fn check_lease(
        &self,
        seat: &licentric_client::CheckoutResult,
        keys: &[&str],
        entitlement: Option<&str>,
    ) -> Result<LeasePayload, String> {
        let lease = seat
            .lease_file
            .as_deref()
            .ok_or("the agent answered no signed lease")?;
        let verified = check_lease(lease, keys, &self.product, self.environment)?;
        match entitlement {
            Some(code) if !verified.payload().entitlements.iter().any(|e| e == code) => {
                Err(format!("the signed lease does not carry {code:?}"))
            }
            _ => Ok(verified.payload().clone()),
        }
    }
}

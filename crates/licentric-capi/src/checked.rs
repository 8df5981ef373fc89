//! The licence checked in the program ([`licentric_has_entitlement_checked`]): the signed
//! licence file the agent holds, verified here with the vendor's public keys for this machine
//! (its fingerprint computed in this process) and this process's clock, so that a program
//! squatting on the socket cannot say "entitled" (`docs/security.md`).

use std::ffi::c_char;

use licentric_client::verify::check;

use crate::{LicentricClient, LicentricResult, text};

/// Whether the machine is entitled now to the feature `code`, from the signed licence file
/// checked here: signed by one of `trusted_keys` (`key_count` of them, the vendor's public
/// keys as in the companion's configuration), for this product, environment and machine,
/// within its offline period and its licence's dates, active — and the agent counts the machine
/// as entitled (a genuine file it no longer vouches for does not pass). `*entitled` is true only when
/// the result is `LICENTRIC_OK` and the file grants `code`; a file that grants it not is
/// `LICENTRIC_OK` and false. No file, or one that does not pass, is `LICENTRIC_NOT_VERIFIED`
/// (`licentric_last_error` says which check failed).
///
/// # Safety
/// `client` is a live client; `code` a NUL-terminated string; `trusted_keys` points to
/// `key_count` NUL-terminated strings; `entitled` points to a bool.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licentric_has_entitlement_checked(
    client: *mut LicentricClient,
    code: *const c_char,
    trusted_keys: *const *const c_char,
    key_count: usize,
    entitled: *mut bool,
) -> LicentricResult {
    if entitled.is_null() {
        return LicentricResult::LicentricInvalidArgument;
    }
    // SAFETY: `entitled` is not null and points to a bool; it is "not entitled" until proven.
    unsafe { *entitled = false };
    // SAFETY: as documented: a live client or null, a string or null, the keys.
    let (Some(client), Some(code), Some(keys)) =
        (unsafe { client.as_mut() }, unsafe { text(code) }, unsafe {
            keys(trusted_keys, key_count)
        })
    else {
        return LicentricResult::LicentricInvalidArgument;
    };
    let file = match client.client.license_file() {
        Ok(file) => file,
        Err(e) => return client.answered(Err::<(), _>(e)),
    };
    let checked = file
        .ok_or_else(|| "the agent holds no licence file (not activated)".to_owned())
        .and_then(|file| check(&file, &keys, &client.product, client.environment));
    // And the agent must count the machine as entitled: a genuine file it no longer vouches
    // for (a copy of the data folder put back, the clock turned back) passes the check above.
    let checked = match checked {
        Ok(licence) => match client.client.status() {
            Ok(status) if status.entitled => Ok(licence),
            Ok(status) => Err(format!(
                "the agent does not count this machine as entitled: {} ({})",
                status.state.as_str(),
                status.reason.as_deref().unwrap_or("no reason given")
            )),
            Err(e) => return client.answered(Err::<(), _>(e)),
        },
        Err(why) => Err(why),
    };
    match checked {
        Ok(licence) => {
            // SAFETY: as above.
            unsafe { *entitled = licence.payload().entitlements.iter().any(|e| e == code) };
            LicentricResult::LicentricOk
        }
        Err(why) => {
            client.last_error = Some(("not_verified".into(), why));
            LicentricResult::LicentricNotVerified
        }
    }
}

/// The vendor's keys from C: `None` for none, or one that is not a string.
///
/// # Safety
/// `trusted_keys` is null or points to `key_count` NUL-terminated strings.
pub(crate) unsafe fn keys<'a>(
    trusted_keys: *const *const c_char,
    key_count: usize,
) -> Option<Vec<&'a str>> {
    if trusted_keys.is_null() || key_count == 0 {
        return None;
    }
    // SAFETY: the caller promises `key_count` pointers at `trusted_keys`.
    let pointers = unsafe { std::slice::from_raw_parts(trusted_keys, key_count) };
    // SAFETY: each a NUL-terminated string, as documented.
    pointers.iter().map(|k| unsafe { text(*k) }).collect()
}

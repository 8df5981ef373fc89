//! The one place that puts the licence state into words: the `summary` and `detail` of every
//! status, and the desktop notification for entering a state. The tray, the CLI and the app
//! show these instead of mapping states to words themselves.

use licentric_proto::LicenseState;
use licentric_proto::ipc::Status;

/// The reasons that mean "the licensing server could not be reached": the machine is offline
/// now, licensed on the signed file's time. Listed once.
pub const OFFLINE_REASONS: [&str; 3] = ["network_unavailable", "server_unavailable", "tls_error"];

/// Whether `reason` says the server could not be reached.
pub fn is_offline_reason(reason: Option<&str>) -> bool {
    reason.is_some_and(|r| OFFLINE_REASONS.contains(&r))
}

/// The trays' menu items, the same in the app's tray and the agent's.
pub mod menu {
    /// Shows the window.
    pub const OPEN: &str = "Open";
    /// Asks the server now.
    pub const REFRESH: &str = "Refresh now";
    /// [`REFRESH`] while its answer is awaited (the item is disabled then).
    pub const REFRESHING: &str = "Refreshing…";
    /// Ends the tray (and the agent, where the tray is the agent's).
    pub const QUIT: &str = "Quit";
}

/// The tray's line for `status` (its menu's first item and its tooltip), the same in the app's
/// tray and the agent's: the agent's summary, and until when a borrowed seat is held, as the
/// agent's other words give a time (day, hour and zone: a traveller crosses zones).
pub fn tray_line(status: Option<&Status>) -> String {
    let Some(status) = status else {
        return "Licence: not available".into();
    };
    let words = status.summary.to_lowercase();
    match status.lease.as_ref().filter(|l| l.borrowed) {
        Some(lease) => format!("Licence: {words} until {}", readable(&lease.expires_at)),
        None => format!("Licence: {words}"),
    }
}

/// An RFC 3339 time of a status (a lease's end) as people read it in a sentence
/// ([`crate::plan::readable`]); as it is if it does not parse.
fn readable(rfc3339: &str) -> String {
    time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .ok()
        .and_then(crate::plan::readable)
        .unwrap_or_else(|| rfc3339.to_owned())
}

/// Whether a tray offers Refresh now for `status`: once there is a licence here to refresh
/// from the server. Activated offline, no key is here: it renews by importing a file, not
/// from the server (the window offers no Refresh then either).
pub fn tray_refreshes(status: Option<&Status>) -> bool {
    status.is_some_and(|s| {
        s.state != licentric_proto::LicenseState::Unlicensed && s.license_key_hint.is_some()
    })
}

/// The notification for the outcome of a tray's Refresh now (with no window to look at), for
/// the product named `product`: the status it ended with, or why it failed.
pub fn refreshed(product: &str, outcome: Result<&Status, &str>) -> (String, String) {
    match outcome {
        Ok(status) => (
            format!("{product}: licence checked"),
            format!("{}. {}", status.summary, status.detail),
        ),
        Err(why) => (
            format!("{product}: the licence could not be checked"),
            why.to_owned(),
        ),
    }
}

/// A state in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Words {
    /// A short headline: "Active", "Working offline", "Suspended"…
    pub summary: String,
    /// One or two sentences: what it means and what to do.
    pub detail: String,
}

/// The words for `state` with `reason`, for the product named `product`; `until` is the end
/// of the offline period as the user should read it, if there is one.
pub fn describe(
    state: LicenseState,
    reason: Option<&str>,
    product: &str,
    until: Option<&str>,
    activated_offline: bool,
) -> Words {
    let until = until.unwrap_or("the end of the offline period");
    let renew = if activated_offline {
        "Make a new activation request here and import the licence file that answers it"
    } else {
        "Connect to the internet so the licence can be renewed"
    };
    let (summary, detail) = match state {
        LicenseState::Unlicensed => match reason {
            Some("machine_deactivated") => (
                "Deactivated".to_owned(),
                format!(
                    "{product} was deactivated on this machine from elsewhere (the vendor's portal, or the seat moved to another machine). Activate it again to use it here."
                ),
            ),
            Some("machine_moved") => (
                "Moved to another system".to_owned(),
                format!(
                    "This machine's seat for {product} is now held by another system with the same hardware: a reinstall of this one, a copy of it, or the other system of a dual boot. Activate again to use it here; if the other system is still in use, it needs a seat of its own."
                ),
            ),
            Some("floating") => (
                "Floating licence".to_owned(),
                format!(
                    "{product} takes a seat of your team's floating licence while it runs, and gives it back when it closes."
                ),
            ),
            Some("machine_not_found") => (
                "Not activated".to_owned(),
                format!(
                    "The licensing server no longer knows this machine. Activate {product} again to use it here."
                ),
            ),
            _ => ("Not activated".to_owned(), format!("Enter your licence key to activate {product} on this machine.")),
        },
        LicenseState::Active if is_offline_reason(reason) => (
            "Active, offline".to_owned(),
            format!("The licensing server cannot be reached. {product} stays licensed offline until {until}, and keeps trying to reach it."),
        ),
        LicenseState::Active if reason == Some("floating_seat") => (
            "Active, floating seat".to_owned(),
            format!("{product} holds a seat of the floating licence until {until}; it is renewed while {product} runs and given back when it closes."),
        ),
        LicenseState::Active if reason == Some("borrowed_seat") => (
            "Seat borrowed".to_owned(),
            format!("This machine holds a borrowed seat of the floating licence until {until}, with or without a network. Return it early to free it for others."),
        ),
        LicenseState::Active => ("Active".to_owned(), format!("{product} is licensed on this machine.")),
        LicenseState::Grace => (
            "Working offline".to_owned(),
            format!("The licence could not be renewed yet; it stays valid offline until {until}. {renew}."),
        ),
        LicenseState::OfflineExpired => ("Offline period over".to_owned(), format!("{renew}.")),
        LicenseState::Suspended => ("Suspended".to_owned(), "The licence is suspended. Contact your vendor.".to_owned()),
        LicenseState::Revoked => ("Revoked".to_owned(), "The licence has been revoked. Contact your vendor.".to_owned()),
        LicenseState::LicenseExpired => ("Expired".to_owned(), "The licence has expired. Renew it with your vendor.".to_owned()),
        LicenseState::ClockTampered if reason == Some(licentric_core::memory::STORE_LOCKED) => (
            "Credential store locked".to_owned(),
            "The saved licence cannot be checked while the credential store (your keyring) is locked or not running. Unlock it — logging in to your desktop usually does — or connect once to the internet.".to_owned(),
        ),
        LicenseState::ClockTampered if reason == Some(licentric_core::memory::STATE_LOST) => (
            "Confirm online".to_owned(),
            if activated_offline {
                "The companion's records on this machine are missing or were changed, so the saved licence cannot be trusted offline. Make a new activation request here and import the licence file that answers it.".to_owned()
            } else {
                "The companion's records on this machine are missing or were changed, so the saved licence cannot be trusted offline. Connect once to confirm this licence.".to_owned()
            },
        ),
        LicenseState::ClockTampered => (
            "Clock problem".to_owned(),
            "This computer's clock is behind the time the licence was last checked. Set the clock right, then connect once to the internet.".to_owned(),
        ),
        LicenseState::Invalid => (
            "Damaged".to_owned(),
            "The saved licence is damaged. It will be repaired the next time the licensing server is reached.".to_owned(),
        ),
    };
    Words { summary, detail }
}

/// The detail of a seat borrowed until `until` where the product keeps borrowed seats to their
/// end: no early return to offer.
pub fn kept_to_end(until: &str) -> String {
    format!(
        "This machine holds a borrowed seat of the floating licence until {until}, with or without a network. The vendor keeps borrowed seats counted to their end: it cannot be returned early."
    )
}

/// What a deactivation did, judged by the status `before` it: a machine activated offline keeps
/// its seat on the server (the key, which frees it, is not here); a borrowed seat the vendor
/// keeps to its end stays counted; a floating licence has no seat of its own to free.
pub fn deactivated(before: &Status) -> String {
    let floating = matches!(
        before.reason.as_deref(),
        Some("floating" | "floating_seat" | "borrowed_seat")
    );
    if let Some(lease) = before
        .lease
        .as_ref()
        .filter(|l| l.borrowed && l.kept_to_end)
    {
        let until = readable(&lease.expires_at);
        return format!(
            "Deactivated. The seat borrowed here stays counted for your team until {until}: the vendor keeps borrowed seats to their end."
        );
    }
    if floating {
        return "Deactivated: the licence key is removed from this computer, and any seat held here was given back.".to_owned();
    }
    if before.license_key_hint.is_none() && before.state != LicenseState::Unlicensed {
        // Named, so that it can be found and freed elsewhere: this machine forgets it now.
        let named = before
            .machine_id
            .as_deref()
            .map(|id| format!(" (this machine: {id})"))
            .unwrap_or_default();
        return format!(
            "Deactivated: the licence is removed from this computer. It was activated offline, so its seat stays taken until you free it where you obtained the licence file{named}, or ask your vendor."
        );
    }
    "Deactivated: this machine's seat is free.".to_owned()
}

/// The desktop notification for entering `state` from `previous` (`None`: no state was told
/// before), if the user must know.
pub fn notification(
    previous: Option<LicenseState>,
    state: LicenseState,
    reason: Option<&str>,
    product: &str,
    until: Option<&str>,
    activated_offline: bool,
) -> Option<(String, String)> {
    let words = describe(state, reason, product, until, activated_offline);
    let summary = match state {
        LicenseState::Unlicensed if reason == Some("machine_deactivated") => {
            format!("{product} was deactivated on this machine")
        }
        LicenseState::Unlicensed if reason == Some("machine_moved") => {
            format!("{product}'s seat moved to another system")
        }
        LicenseState::Unlicensed => return None,
        // A floating licence's seat, taken as the software starts (or borrowed by the user):
        // the user is in the software, and it happens at each start.
        LicenseState::Active if matches!(reason, Some("floating_seat" | "borrowed_seat")) => {
            return None;
        }
        // Back from working offline, a suspension, a clock problem: not a new activation.
        LicenseState::Active if previous.is_some_and(|p| p != LicenseState::Unlicensed) => {
            format!("{product} is licensed again")
        }
        LicenseState::Active => format!("{product} is activated"),
        _ => format!("{product}: {}", words.summary.to_lowercase()),
    };
    Some((summary, words.detail))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tray_says_until_when_a_seat_is_borrowed_with_its_zone() {
        let status: Status = serde_json::from_value(serde_json::json!({
            "state": "active", "entitled": true, "product_id": "acme-cad",
            "environment": "live", "entitlements": [], "credential_store": "os",
            "summary": "Seat borrowed", "detail": "",
            "lease": {"expires_at": "2026-12-09T03:19:00Z", "seats_in_use": 1, "max_seats": 1,
                      "holders": 0, "borrowed": true, "kept_to_end": false}
        }))
        .unwrap();
        assert_eq!(
            tray_line(Some(&status)),
            "Licence: seat borrowed until 9 December 2026, 03:19 UTC"
        );
        assert_eq!(tray_line(None), "Licence: not available");
    }

    #[test]
    fn every_state_has_words_and_the_new_reasons_say_what_to_do() {
        for state in LicenseState::ALL {
            let w = describe(*state, None, "Acme CAD", Some("1 Dec"), false);
            assert!(!w.summary.is_empty() && !w.detail.is_empty(), "{state:?}");
        }
        let lost = describe(
            LicenseState::ClockTampered,
            Some("state_lost"),
            "Acme CAD",
            None,
            false,
        );
        assert!(lost.detail.contains("Connect once to confirm"), "{lost:?}");
        let lost_offline = describe(
            LicenseState::ClockTampered,
            Some("state_lost"),
            "Acme CAD",
            None,
            true,
        );
        assert!(
            lost_offline.detail.contains("activation request"),
            "{lost_offline:?}"
        );
        let gone = notification(
            Some(LicenseState::Active),
            LicenseState::Unlicensed,
            Some("machine_deactivated"),
            "Acme CAD",
            None,
            false,
        );
        assert!(
            gone.is_some_and(|(s, b)| s.contains("deactivated") && b.contains("Activate it again"))
        );
        let borrowed = describe(
            LicenseState::Active,
            Some("borrowed_seat"),
            "Acme CAD",
            Some("1 Dec"),
            false,
        );
        assert!(borrowed.detail.contains("Return it early"), "{borrowed:?}");
        let kept = kept_to_end("1 Dec");
        assert!(
            kept.contains("until 1 Dec") && !kept.contains("Return it early"),
            "{kept}"
        );
        assert_eq!(
            notification(
                None,
                LicenseState::Unlicensed,
                None,
                "Acme CAD",
                None,
                false
            ),
            None
        );
        let told = |previous, reason| {
            notification(
                previous,
                LicenseState::Active,
                reason,
                "Acme CAD",
                None,
                false,
            )
            .map(|(summary, _)| summary)
        };
        assert_eq!(
            told(Some(LicenseState::Unlicensed), None).as_deref(),
            Some("Acme CAD is activated")
        );
        assert_eq!(
            told(Some(LicenseState::Grace), None).as_deref(),
            Some("Acme CAD is licensed again"),
            "back from working offline is no new activation"
        );
        assert_eq!(
            told(Some(LicenseState::Unlicensed), Some("floating_seat")),
            None,
            "a floating seat is taken at each start of the software"
        );
        assert_eq!(
            describe(
                LicenseState::Active,
                Some("network_unavailable"),
                "Acme CAD",
                None,
                false
            )
            .summary,
            "Active, offline"
        );
    }
}

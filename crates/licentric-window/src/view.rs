//! What the window shows, in words, for a status and a moment: pure (no toolkit, no clock of
//! its own), so every sentence is tested without a display. The words are the web window's
//! (`ui/app.js`), and the state's own words are the agent's (`summary`, `detail`), as the CLI
//! and the tray show them.

use licentric_agent::proxy::ProxyInUse;
use licentric_core::{KeyError, KeyPrefix, LicenseKey};
use licentric_proto::ipc::{ClientSeen, ComponentSummary, Status};
use licentric_proto::{CredentialStoreKind, LicenseState};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// How a time is said on this computer (its zone and style): given by the window, which asks
/// the desktop, so the words here stay testable.
pub struct Times<'a> {
    /// Now.
    pub now: OffsetDateTime,
    /// A day and a time ("6 December 2026, 14:05").
    pub when: &'a dyn Fn(OffsetDateTime) -> String,
    /// A day alone ("6 December 2026").
    pub day: &'a dyn Fn(OffsetDateTime) -> String,
}

impl Times<'_> {
    fn when_text(&self, rfc3339: &str) -> String {
        parse(rfc3339).map_or_else(|| rfc3339.to_owned(), |t| (self.when)(t))
    }
}

fn parse(rfc3339: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(rfc3339, &Rfc3339).ok()
}

/// The badge's colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// Licensed, online.
    Ok,
    /// Licensed on the signed file's time, offline.
    Warn,
    /// Not licensed, for a reason the user should act on.
    Bad,
    /// No licence yet.
    Neutral,
}

impl Tone {
    /// Its CSS class.
    pub const fn class(self) -> &'static str {
        match self {
            Tone::Ok => "ok",
            Tone::Warn => "warn",
            Tone::Bad => "bad",
            Tone::Neutral => "neutral",
        }
    }
}

/// Which card the window shows for a status.
#[derive(Debug, Clone, PartialEq)]
pub enum Card {
    /// No licence here: the key field. `notice` says why, when the server deactivated this
    /// machine from elsewhere (and the stored key can activate it again).
    Activation {
        /// Deactivated elsewhere, in the agent's words.
        notice: Option<String>,
    },
    /// A licence here.
    Status(Box<StatusCard>),
}

/// The status card's contents.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusCard {
    /// The badge's colour.
    pub tone: Tone,
    /// The state in a few words, and how long it holds offline.
    pub badge: String,
    /// What the state means and what to do.
    pub detail: String,
    /// The redacted key.
    pub key: String,
    /// The entitlement codes, or that there are none now.
    pub entitlements: String,
    /// When the licence ends.
    pub expires: String,
    /// "Machines", or "Seats" for a floating licence.
    pub machines_label: &'static str,
    /// How many are in use.
    pub machines: String,
    /// Where the key is kept (none when it was activated offline: no key here).
    pub store: Option<String>,
    /// What the system runs in, when not bare hardware.
    pub runs_in: Option<String>,
    /// The offline period, when there is one.
    pub timeline: Option<Timeline>,
    /// Whether Refresh now is offered (a key is here, and the licence is not floating).
    pub refreshes: bool,
    /// Whether it renews by a request and a licence file (activated offline: no key here).
    pub renews_by_file: bool,
    /// Whether a seat can be borrowed for a trip (a floating licence, none borrowed yet).
    pub borrows: bool,
    /// Whether the borrowed seat can be returned early (not when the vendor keeps it to its
    /// end).
    pub returns: bool,
    /// What Deactivate would do.
    pub deactivation: Deactivation,
}

/// The offline period drawn as a bar.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    /// How much of it has passed, 0 to 1.
    pub passed: f64,
    /// Where in it the next refresh is, 0 to 1 (none planned, or outside the period).
    pub refresh_at: Option<f64>,
    /// "Issued 6 December 2026".
    pub start: String,
    /// "Offline until 20 December 2026".
    pub end: String,
    /// The period in a sentence or three.
    pub text: String,
}

/// What Deactivate asks, and says once done.
#[derive(Debug, Clone, PartialEq)]
pub struct Deactivation {
    /// The confirmation's text.
    pub confirm: String,
    /// What is said once it is done.
    pub done: String,
    /// Whether the wait may be cancelled (a floating licence's seats given back are not
    /// stopped halfway).
    pub cancellable: bool,
    /// What stands when it was cancelled or the server was not reached.
    pub stands: &'static str,
}

/// Whether `s` is a floating licence's status (its key kept, with or without a seat).
pub fn is_floating(s: &Status) -> bool {
    matches!(
        s.reason.as_deref(),
        Some("floating" | "floating_seat" | "borrowed_seat")
    )
}

/// The card for `s`.
pub fn card(s: &Status, product: &str, times: &Times<'_>) -> Card {
    let floating = is_floating(s);
    if s.state == LicenseState::Unlicensed && !floating {
        let gone = matches!(
            s.reason.as_deref(),
            Some("machine_deactivated" | "machine_not_found" | "machine_moved")
        );
        return Card::Activation {
            notice: gone.then(|| local_times(&s.detail, times)),
        };
    }
    let borrowed = s.reason.as_deref() == Some("borrowed_seat");
    let offline = s.entitled && (s.offline || s.state == LicenseState::Grace);
    let tone = match (s.entitled, offline) {
        (true, false) => Tone::Ok,
        (true, true) => Tone::Warn,
        // A floating licence with no seat taken now is not a problem: none is needed.
        (false, _) if s.reason.as_deref() == Some("floating") => Tone::Neutral,
        (false, _) => Tone::Bad,
    };
    let until = usable_until(s);
    let left = match until.filter(|_| offline) {
        Some(until) => format!(" — {} left", time_left(until, times.now)),
        None => String::new(),
    };
    Card::Status(Box::new(StatusCard {
        tone,
        badge: format!("{}{left}", s.summary),
        detail: local_times(&s.detail, times),
        key: s.license_key_hint.clone().unwrap_or_else(|| "—".into()),
        entitlements: if s.entitlements.is_empty() {
            "none now".into()
        } else {
            s.entitlements.join(", ")
        },
        expires: s
            .license_expires_at
            .as_deref()
            .map_or_else(|| "Never".into(), |t| times.when_text(t)),
        machines_label: if floating { "Seats" } else { "Machines" },
        machines: machines(s, times),
        store: s
            .license_key_hint
            .as_ref()
            .map(|_| store(s.credential_store)),
        runs_in: s
            .runs_in
            .as_ref()
            .map(|r| format!("a {} ({})", r.kind.words(), r.name)),
        timeline: timeline(s, times),
        refreshes: s.license_key_hint.is_some() && !floating,
        renews_by_file: s.license_key_hint.is_none() && !floating,
        borrows: floating && !borrowed,
        returns: borrowed && !s.lease.as_ref().is_some_and(|l| l.kept_to_end),
        deactivation: deactivation(s, product, times),
    }))
}

fn store(kind: CredentialStoreKind) -> String {
    match kind {
        CredentialStoreKind::Os => "the OS credential store".into(),
        CredentialStoreKind::File => "an encrypted file (no OS credential store available)".into(),
        CredentialStoreKind::Unavailable => "nowhere: no credential store is available".into(),
    }
}

/// When this computer stops being licensed without the server: the end of the offline
/// period, or the licence's own end where that comes first.
fn usable_until(s: &Status) -> Option<OffsetDateTime> {
    let offline = s.offline_valid_until.as_deref().and_then(parse);
    let ends = s.license_expires_at.as_deref().and_then(parse);
    match (offline, ends) {
        (Some(offline), Some(ends)) => Some(offline.min(ends)),
        (offline, _) => offline,
    }
}

/// "12 days", "5 hours", "40 minutes": the time until `until`, never negative, to the nearest
/// unit (a 14-day file issued a minute ago has 14 days left, not 13).
pub fn time_left(until: OffsetDateTime, now: OffsetDateTime) -> String {
    let seconds = (until - now).whole_seconds().max(0);
    let days = (seconds as f64 / 86_400.0).round();
    if seconds >= 2 * 86_400 {
        return format!("{days} days");
    }
    let hours = (seconds as f64 / 3_600.0).round();
    if hours >= 2.0 {
        return format!("{hours} hours");
    }
    match (seconds / 60).max(1) {
        1 => "1 minute".into(),
        minutes => format!("{minutes} minutes"),
    }
}

/// "1 of 2 machines in use", or the maximum alone when the server has not said; for a
/// floating licence, its seats; and the local apps waiting for a seat.
fn machines(s: &Status, times: &Times<'_>) -> String {
    let waiting = match s.seats_waiting {
        0 => String::new(),
        1 => "; 1 app here waits for a seat".into(),
        n => format!("; {n} apps here wait for a seat"),
    };
    seats(s, times) + &waiting
}

fn seats(s: &Status, times: &Times<'_>) -> String {
    if let Some(lease) = &s.lease {
        let here = if lease.borrowed {
            let kept = if lease.kept_to_end {
                ", kept to its end"
            } else {
                ""
            };
            format!(
                "borrowed until {}{kept}",
                times.when_text(&lease.expires_at)
            )
        } else if lease.holders == 1 {
            "1 app here".into()
        } else {
            format!("{} apps here", lease.holders)
        };
        let noun = if lease.max_seats == 1 {
            "seat"
        } else {
            "seats"
        };
        return format!(
            "{} of {} {noun} in use ({here})",
            lease.seats_in_use, lease.max_seats
        );
    }
    if s.reason.as_deref() == Some("floating") {
        return "Floating: a seat is taken while the software runs".into();
    }
    let Some(max) = s.max_machines.filter(|m| *m > 0) else {
        return "—".into();
    };
    let plural = if max == 1 { "" } else { "s" };
    match s.machines_active {
        None => format!("Up to {max} machine{plural}"),
        Some(active) => format!("{active} of {max} machine{plural} in use"),
    }
}

fn timeline(s: &Status, times: &Times<'_>) -> Option<Timeline> {
    let start = s.issued_at.as_deref().and_then(parse)?;
    let end = s.offline_valid_until.as_deref().and_then(parse)?;
    if end <= start {
        return None;
    }
    let passed = ((times.now - start) / (end - start)).clamp(0.0, 1.0);
    let until = usable_until(s).unwrap_or(end);
    let ends_first = until < end;
    let mut text = vec![if !s.entitled {
        "The licence cannot be used now (see above), online or offline.".to_owned()
    } else if ends_first {
        format!(
            "Works until {}, when the licence ends ({} left).",
            (times.when)(until),
            time_left(until, times.now)
        )
    } else {
        format!(
            "Works offline until {} ({} left).",
            (times.when)(end),
            time_left(end, times.now)
        )
    }];
    text.push(match s.next_refresh_at.as_deref() {
        Some(next) => format!("Next refresh: {}.", times.when_text(next)),
        None => "No refresh planned: renew by importing a new licence file.".into(),
    });
    if let Some(last) = s.last_refresh_at.as_deref() {
        text.push(format!("Last renewed: {}.", times.when_text(last)));
    }
    let refresh_at = s
        .next_refresh_at
        .as_deref()
        .and_then(parse)
        .map(|at| (at - start) / (end - start))
        .filter(|at| (0.0..=1.0).contains(at));
    Some(Timeline {
        passed,
        refresh_at,
        start: format!("Issued {}", (times.day)(start)),
        end: format!("Offline until {}", (times.day)(end)),
        text: text.join(" "),
    })
}

/// What Deactivate asks and says for `s`: what it frees depends on what is here (the CLI
/// says the same).
fn deactivation(s: &Status, product: &str, times: &Times<'_>) -> Deactivation {
    let kept = s
        .lease
        .as_ref()
        .filter(|l| l.borrowed && l.kept_to_end)
        .map(|l| times.when_text(&l.expires_at));
    let offline = s.license_key_hint.is_none();
    let keep = "Keep your licence key: you need it to activate again.";
    let confirm = if offline {
        "This removes the licence from this computer right away. It was activated offline, so its seat on the licence stays taken until you free it where you obtained the licence file (or ask your vendor).".to_owned()
    } else if let Some(until) = &kept {
        format!(
            "This removes the licence from this computer right away, and the licence key with it. The seat borrowed here stays counted for your team until {until}: the vendor keeps borrowed seats to their end. {keep}"
        )
    } else {
        format!(
            "This frees this machine's seat so the licence can be activated on another computer. {product} stops being licensed here right away, and the licence key is removed from this computer. Keep your licence key (it is in your purchase e-mail): you need it to activate again, here or on another computer."
        )
    };
    let floating = is_floating(s);
    let freed = if let Some(until) = &kept {
        format!(
            "This machine was deactivated. The seat borrowed here stays counted for your team until {until}: the vendor keeps borrowed seats to their end."
        )
    } else if floating {
        "This machine was deactivated: the licence key is removed, and any seat held here was given back.".to_owned()
    } else if offline {
        let machine = s
            .machine_id
            .as_deref()
            .map(|id| format!(" (this machine: {id})"))
            .unwrap_or_default();
        format!(
            "The licence is removed from this computer. It was activated offline, so its seat stays taken until you free it where you obtained the licence file{machine}, or ask your vendor."
        )
    } else {
        "This machine was deactivated; its seat is free.".to_owned()
    };
    Deactivation {
        confirm,
        done: format!("{freed} {keep}"),
        cancellable: !floating,
        stands: if floating {
            "The licence stays on this computer."
        } else {
            "This computer is still activated."
        },
    }
}

/// The agent's words with their times ("19 December 2026, 13:55 UTC", as the CLI and the
/// tray say them) in this computer's time and style, as the rest of the window says times.
pub fn local_times(text: &str, times: &Times<'_>) -> String {
    let format = time::macros::format_description!(
        "[day padding:none] [month repr:long] [year], [hour]:[minute] UTC"
    );
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(utc) = rest.find(" UTC") {
        let end = utc + " UTC".len();
        // The longest such time is "19 December 2026, 13:55 UTC": at most 30 bytes back.
        let found = (end.saturating_sub(30)..utc)
            .filter(|&start| {
                rest.is_char_boundary(start)
                    && (start == 0 || !rest[..start].ends_with(|c: char| c.is_alphanumeric()))
            })
            .find_map(|start| {
                time::PrimitiveDateTime::parse(&rest[start..end], &format)
                    .ok()
                    .map(|t| (start, t.assume_utc()))
            });
        match found {
            Some((start, t)) => {
                out.push_str(&rest[..start]);
                out.push_str(&(times.when)(t));
            }
            None => out.push_str(&rest[..end]),
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// What the key field says of its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFeedback {
    /// Its colour: `Ok` (a well-formed key), `Bad` (wrong), `Neutral` (nothing judged yet).
    pub tone: Tone,
    /// The words.
    pub text: String,
    /// The key in its canonical form, when it is one.
    pub formatted: Option<String>,
}

/// The key field's words for `text`: judged by the agent's own parser, so the rules cannot
/// drift. Until `finished`, a key still being typed is not called wrong for being short.
pub fn key_feedback(text: &str, prefix: &KeyPrefix, finished: bool) -> KeyFeedback {
    match LicenseKey::parse(text, prefix) {
        Ok(key) => KeyFeedback {
            tone: Tone::Ok,
            text: "The key looks right.".into(),
            formatted: Some(key.expose_secret().to_owned()),
        },
        Err(e) => {
            let incomplete = matches!(
                e,
                KeyError::Empty
                    | KeyError::WrongLength {
                        found: 0..licentric_core::key::BODY_LEN,
                        ..
                    }
            );
            let (tone, text) = if text.trim().is_empty() {
                (
                    Tone::Neutral,
                    "Paste the key from your purchase e-mail.".to_owned(),
                )
            } else if incomplete && !finished {
                (
                    Tone::Neutral,
                    format!("Keep typing: keys look like {prefix}-XXXX-XXXX-XXXX-XXXX."),
                )
            } else {
                (Tone::Bad, sentence(&e.to_string()))
            };
            KeyFeedback {
                tone,
                text,
                formatted: None,
            }
        }
    }
}

/// `text` as a sentence: capitalised, with a full stop.
fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect::<String>() + "."
    })
}

/// What to say of a link's key while this machine is activated (the key itself is never
/// said): a key that is not one, the key already in use here (as far as its hint shows), or
/// another key — which needs a deactivation first.
pub fn link_while_activated(hint: Option<&str>, key: &str, prefix: &KeyPrefix) -> String {
    let with = hint.map(|h| format!(" with {h}")).unwrap_or_default();
    match LicenseKey::parse(key, prefix) {
        Err(e) => format!(
            "You opened a link with a licence key, but the key in it is not valid: {} Nothing was changed; this computer stays activated{with}.",
            sentence(&e.to_string())
        ),
        Ok(key) if hint == Some(key.hint().as_str()) => format!(
            "You opened a link with a licence key: this computer is already activated{with}, which ends as the link's key does. If that is the key, nothing needs doing."
        ),
        Ok(_) => format!(
            "You opened a link with a licence key, but this computer is already activated{with}. To use the other key, choose \"Deactivate…\" first, then open the link again."
        ),
    }
}

/// More to say under an error, by its code: what the user can do about it.
pub fn help(code: &str) -> Option<&'static str> {
    Some(match code {
        "machine_limit_reached" => {
            "To free a seat, open this app on a machine you no longer use and choose \"Deactivate…\", or ask your vendor to release one."
        }
        "invalid_license_key" => "Keys are case-insensitive; O and 0, I and 1 are read the same.",
        "network_unavailable" => "No internet here? Use \"Activate offline\" below.",
        "tls_error" => {
            "A proxy or security product may be intercepting connections. Ask your administrator."
        }
        _ => return None,
    })
}

/// Why a try failed, by its code, for the line that says it is being tried again.
pub fn because(code: &str) -> &'static str {
    match code {
        "network_unavailable" => "The server could not be reached",
        "server_unavailable" => "The server is busy or unavailable",
        _ => "No answer",
    }
}

/// The words under a wait: after two seconds, how long it has waited, and the retry (its
/// attempt, and why the last one failed) when there is one.
pub fn waiting(busy: &str, seconds: u64, retry: Option<(&str, u32)>) -> String {
    if seconds < 2 {
        return busy.to_owned();
    }
    let again = retry.map_or_else(String::new, |(code, attempt)| {
        format!(" {}; trying again (attempt {attempt}).", because(code))
    });
    format!("{busy} {seconds} s — waiting for the licensing server.{again}")
}

/// What a refused licence file means for the user, by the refusal's code (the agent's own
/// words, technical, stay for the codes not named here); `entitled`: this computer is
/// licensed now, so a request no longer waiting was answered already.
pub fn import_words(code: &str, entitled: bool) -> Option<&'static str> {
    Some(match code {
        "no_request_pending" if entitled => {
            "This computer's licence was renewed since that request was made (by another licence file, or online), so there is nothing to import. To renew it again later, save a new request."
        }
        "request_picked" => {
            "This is the activation request from step 1, not a licence file. Pick the licence file you got back for it."
        }
        "no_request_pending" => {
            "No activation request is waiting on this computer. Save one first (step 1), use it with your licence key on the vendor's site (step 2), then pick the licence file you get back."
        }
        "not_requested" => {
            "This licence file does not answer this computer's newest activation request (it may be a copy, or from another computer). Pick the file you got back for this computer's request, or save a new request."
        }
        "older_than_seen" | "older_than_cached" => {
            "This licence file is older than the one this computer already has."
        }
        "fingerprint_mismatch" => {
            "This licence file is for another computer. Pick the one you got back for this computer's request."
        }
        "product_mismatch" => "This licence file is for another product.",
        "environment_mismatch" => {
            "This licence file is for another environment (test or live) than this app."
        }
        "file_expired" => {
            "This licence file has run out. Save a new activation request and get a new file for it."
        }
        "armor_invalid" => {
            "This is not a licence file, or it is incomplete. Download it again, then pick it here."
        }
        "envelope_invalid" | "payload_invalid" => {
            "This licence file is damaged or incomplete. Download it again, then pick it here."
        }
        "signature_invalid" => {
            "This licence file has been changed since it was issued, so it cannot be trusted. Download it again, then pick it here."
        }
        "unknown_key_id" => {
            "This licence file was not signed by this vendor, or this app is too old for it."
        }
        _ => return None,
    })
}

/// Which proxy the calls to the licensing server go through, and where it is set.
pub fn proxy(p: &ProxyInUse) -> String {
    match (p.source, p.address.as_deref(), p.variable) {
        ("configuration", Some(address), _) => format!("{address} (set in the configuration)"),
        ("system", Some(address), Some(variable)) => {
            format!("{address} (the system's, from {variable})")
        }
        (_, _, Some(variable)) => {
            format!("None: {variable} names the licensing server, so connections go straight to it")
        }
        _ => "None: connections go straight to the licensing server".into(),
    }
}

/// How to change the proxy: the background agent makes the calls, with its own settings.
pub fn proxy_hint(preferences: Option<&str>, app_name: &str) -> String {
    let file = preferences.map_or_else(
        || " in your preferences file".to_owned(),
        |f| format!(" in {f}"),
    );
    format!(
        "The licensing service running in the background makes the calls, with its own settings: to change them, set proxy = \"http://host:port\"{file} (or HTTPS_PROXY where it starts), choose Quit in the tray, and open {app_name} again."
    )
}

/// One of this machine's parts as the window lists it: what it is, and the start of each of
/// its hashes (never a raw value), or that it was not read.
pub fn part(c: &ComponentSummary) -> String {
    let mut name = c.describes.clone();
    if let Some(first) = name.get(..1) {
        let upper = first.to_uppercase();
        name.replace_range(..1, &upper);
    }
    if c.hashes.is_empty() {
        format!("{name}: not read")
    } else {
        let hashes: Vec<String> = c.hashes.iter().map(|h| format!("{h}…")).collect();
        format!("{name}: {}", hashes.join(", "))
    }
}

/// A local app in the list of those that asked: its name, its last query, how many.
pub fn client(c: &ClientSeen, times: &Times<'_>) -> (String, String, String) {
    (
        c.name.clone(),
        c.last_query
            .as_deref()
            .map_or_else(|| "—".into(), |t| times.when_text(t)),
        c.queries.to_string(),
    )
}

/// What a cancelled wait leaves: nothing changed.
pub const CANCELLED: &str = "Cancelled. Nothing was changed on this computer.";

#[cfg(test)]
mod tests;

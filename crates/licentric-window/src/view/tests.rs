use super::*;
use serde_json::json;
use time::macros::datetime;

const NOW: OffsetDateTime = datetime!(2026-12-06 12:00 UTC);

fn utc(t: OffsetDateTime) -> String {
    format!(
        "{} {} {}, {:02}:{:02}",
        t.day(),
        t.month(),
        t.year(),
        t.hour(),
        t.minute()
    )
}

fn day(t: OffsetDateTime) -> String {
    format!("{} {} {}", t.day(), t.month(), t.year())
}

fn times() -> Times<'static> {
    Times {
        now: NOW,
        when: &utc,
        day: &day,
    }
}

/// A status as the agent sends it, with `changes` over an active, online licence.
fn status(changes: serde_json::Value) -> Status {
    let mut s = json!({
        "state": "active", "entitled": true, "product_id": "acme-cad", "environment": "test",
        "license_id": "lic_1", "machine_id": "mach_1",
        "license_key_hint": "ACME-****-****-****-H3WC", "entitlements": ["pro", "export"],
        "max_machines": 3, "machines_active": 1, "license_expires_at": null,
        "issued_at": "2026-12-06T11:59:00Z", "offline_valid_until": "2026-12-20T11:59:00Z",
        "last_refresh_at": "2026-12-06T11:59:00Z", "next_refresh_at": "2026-12-13T11:59:00Z",
        "credential_store": "os", "reason": null, "summary": "Active",
        "detail": "Licensed and up to date.", "offline": false,
    });
    for (k, v) in changes.as_object().unwrap() {
        s[k] = v.clone();
    }
    serde_json::from_value(s).unwrap()
}

fn status_card(s: &Status) -> StatusCard {
    match card(s, "Acme CAD", &times()) {
        Card::Status(c) => *c,
        other => panic!("expected the status card, got {other:?}"),
    }
}

#[test]
fn an_active_licence_shows_its_facts_and_a_full_offline_period() {
    let c = status_card(&status(json!({})));
    assert_eq!(c.tone, Tone::Ok);
    assert_eq!(c.badge, "Active");
    assert_eq!(c.key, "ACME-****-****-****-H3WC");
    assert_eq!(c.entitlements, "pro, export");
    assert_eq!(c.expires, "Never");
    assert_eq!(
        (c.machines_label, c.machines.as_str()),
        ("Machines", "1 of 3 machines in use")
    );
    assert_eq!(c.store.as_deref(), Some("the OS credential store"));
    assert!(c.refreshes);
    let t = c.timeline.unwrap();
    // Issued a minute ago: the whole period is ahead, fourteen days, not thirteen.
    assert!(t.passed < 0.001, "{}", t.passed);
    assert!(
        (t.refresh_at.unwrap() - 0.5).abs() < 1e-9,
        "a week into two"
    );
    assert_eq!(t.start, "Issued 6 December 2026");
    assert_eq!(t.end, "Offline until 20 December 2026");
    assert_eq!(
        t.text,
        "Works offline until 20 December 2026, 11:59 (14 days left). Next refresh: 13 December 2026, 11:59. Last renewed: 6 December 2026, 11:59."
    );
}

#[test]
fn offline_the_badge_says_how_long_it_still_holds() {
    let s = status(
        json!({"state": "grace", "offline": true, "summary": "Working offline",
        "issued_at": "2026-11-26T12:00:00Z", "offline_valid_until": "2026-12-10T12:00:00Z"}),
    );
    let c = status_card(&s);
    assert_eq!(c.tone, Tone::Warn);
    assert_eq!(c.badge, "Working offline — 4 days left");
    assert!((c.timeline.unwrap().passed - 10.0 / 14.0).abs() < 1e-9);
}

#[test]
fn a_licence_ending_before_the_offline_period_says_so() {
    let s = status(json!({"license_expires_at": "2026-12-08T00:00:00Z"}));
    let t = status_card(&s).timeline.unwrap();
    assert!(
        t.text.starts_with(
            "Works until 8 December 2026, 00:00, when the licence ends (36 hours left)."
        ),
        "{}",
        t.text
    );
}

#[test]
fn a_suspended_licence_is_bad_news_and_its_period_cannot_be_used() {
    let s = status(
        json!({"state": "suspended", "entitled": false, "entitlements": [],
        "summary": "Suspended",
        "detail": "The vendor suspended this licence on 5 December 2026, 09:30 UTC."}),
    );
    let c = status_card(&s);
    assert_eq!(c.tone, Tone::Bad);
    assert_eq!(c.entitlements, "none now");
    // The agent's time, said as this computer says times.
    assert_eq!(
        c.detail,
        "The vendor suspended this licence on 5 December 2026, 09:30."
    );
    assert!(
        c.timeline
            .unwrap()
            .text
            .starts_with("The licence cannot be used now")
    );
}

#[test]
fn no_licence_shows_the_key_field_and_why_when_deactivated_elsewhere() {
    let none = status(json!({"state": "unlicensed", "entitled": false, "reason": null}));
    assert_eq!(
        card(&none, "Acme CAD", &times()),
        Card::Activation { notice: None }
    );
    let gone = status(json!({"state": "unlicensed", "entitled": false,
        "reason": "machine_deactivated",
        "detail": "Deactivated from elsewhere on 1 December 2026, 10:00 UTC."}));
    assert_eq!(
        card(&gone, "Acme CAD", &times()),
        Card::Activation {
            notice: Some("Deactivated from elsewhere on 1 December 2026, 10:00.".into())
        }
    );
}

#[test]
fn deactivating_tells_the_user_to_keep_the_key_and_what_is_freed() {
    let d = status_card(&status(json!({}))).deactivation;
    assert!(
        d.confirm.contains("Acme CAD stops being licensed here"),
        "{}",
        d.confirm
    );
    assert!(d.confirm.contains("Keep your licence key"));
    assert_eq!(
        d.done,
        "This machine was deactivated; its seat is free. Keep your licence key: you need it to activate again."
    );
    assert!(d.cancellable);
    let offline = status_card(&status(json!({"license_key_hint": null}))).deactivation;
    assert!(
        offline.done.contains("(this machine: mach_1)"),
        "{}",
        offline.done
    );
    let floating = status_card(&status(json!({"reason": "floating_seat",
        "lease": {"expires_at": "2026-12-06T12:10:00Z", "seats_in_use": 2, "max_seats": 5,
                  "holders": 1, "borrowed": false, "kept_to_end": false}})));
    assert!(!floating.deactivation.cancellable);
    assert_eq!(
        (floating.machines_label, floating.machines.as_str()),
        ("Seats", "2 of 5 seats in use (1 app here)")
    );
    assert!(!floating.refreshes);
    assert!(floating.borrows && !floating.returns && !floating.renews_by_file);
    let borrowed = |kept: bool| {
        status_card(&status(json!({"reason": "borrowed_seat",
            "lease": {"expires_at": "2026-12-12T22:59:59Z", "seats_in_use": 2, "max_seats": 5,
                      "holders": 0, "borrowed": true, "kept_to_end": kept}})))
    };
    let b = borrowed(false);
    assert!(!b.borrows && b.returns);
    assert_eq!(
        b.machines,
        "2 of 5 seats in use (borrowed until 12 December 2026, 22:59)"
    );
    let kept = borrowed(true);
    assert!(!kept.returns, "a seat kept to its end is not offered back");
    assert!(
        kept.deactivation
            .confirm
            .contains("stays counted for your team until 12 December 2026, 22:59")
    );
    let by_file = status_card(&status(json!({"license_key_hint": null})));
    assert!(by_file.renews_by_file && !by_file.refreshes && by_file.store.is_none());
}

#[test]
fn time_left_rounds_to_the_nearest_unit_and_never_goes_below_zero() {
    let at = |s: i64| NOW + time::Duration::seconds(s);
    assert_eq!(time_left(at(14 * 86_400 - 60), NOW), "14 days");
    assert_eq!(time_left(at(5 * 3_600 + 1_000), NOW), "5 hours");
    assert_eq!(time_left(at(40 * 60 + 5), NOW), "40 minutes");
    assert_eq!(time_left(at(30), NOW), "1 minute");
    assert_eq!(time_left(at(-3_600), NOW), "1 minute");
}

#[test]
fn local_times_leaves_other_words_alone() {
    let t = times();
    assert_eq!(local_times("no time here", &t), "no time here");
    assert_eq!(local_times("UTC is a zone", &t), "UTC is a zone");
    assert_eq!(
        local_times(
            "from 1 May 2026, 08:00 UTC to 19 December 2026, 13:55 UTC.",
            &t
        ),
        "from 1 May 2026, 08:00 to 19 December 2026, 13:55."
    );
    assert_eq!(
        local_times("at 99 Foo 2026, 08:00 UTC", &t),
        "at 99 Foo 2026, 08:00 UTC"
    );
}

#[test]
fn the_key_field_judges_as_the_agent_does_and_waits_while_typing() {
    let prefix = KeyPrefix::new("ACME").unwrap();
    let empty = key_feedback("", &prefix, false);
    assert_eq!(
        (empty.tone, empty.text.as_str()),
        (Tone::Neutral, "Paste the key from your purchase e-mail.")
    );
    let typing = key_feedback("ACME-ABCD", &prefix, false);
    assert_eq!(typing.tone, Tone::Neutral);
    assert_eq!(
        typing.text,
        "Keep typing: keys look like ACME-XXXX-XXXX-XXXX-XXXX."
    );
    let finished = key_feedback("ACME-ABCD", &prefix, true);
    assert_eq!(finished.tone, Tone::Bad);
    assert!(
        finished.text.ends_with('.') && finished.text.starts_with(char::is_uppercase),
        "{}",
        finished.text
    );
    assert_eq!(
        key_feedback("ZZZZ-ABCD-EFGH-JKLM-NPQR", &prefix, false).tone,
        Tone::Bad
    );
}

#[test]
fn waiting_says_the_seconds_and_the_retry_after_two_seconds() {
    assert_eq!(waiting("Activating…", 1, None), "Activating…");
    assert_eq!(
        waiting("Activating…", 7, Some(("network_unavailable", 2))),
        "Activating… 7 s — waiting for the licensing server. The server could not be reached; trying again (attempt 2)."
    );
}

#[test]
fn the_proxy_is_said_with_where_it_is_set() {
    let p = |source, address: Option<&str>, variable| ProxyInUse {
        source,
        address: address.map(str::to_owned),
        variable,
    };
    assert_eq!(
        proxy(&p("configuration", Some("http://proxy:3128"), None)),
        "http://proxy:3128 (set in the configuration)"
    );
    assert_eq!(
        proxy(&p("system", Some("http://proxy:3128"), Some("HTTPS_PROXY"))),
        "http://proxy:3128 (the system's, from HTTPS_PROXY)"
    );
    assert!(proxy(&p("none", None, Some("NO_PROXY"))).starts_with("None: NO_PROXY names"));
    assert_eq!(
        proxy(&p("none", None, None)),
        "None: connections go straight to the licensing server"
    );
    assert!(proxy_hint(Some("/etc/x.toml"), "Acme").contains("in /etc/x.toml"));
}

#[test]
fn a_part_shows_the_start_of_its_hashes_or_that_it_was_not_read() {
    let c = |hashes: &[&str]| ComponentSummary {
        kind: "disk_serial".into(),
        describes: "disk serial numbers".into(),
        hashes: hashes.iter().map(|h| (*h).to_owned()).collect(),
    };
    assert_eq!(
        part(&c(&["ab12", "cd34"])),
        "Disk serial numbers: ab12…, cd34…"
    );
    assert_eq!(part(&c(&[])), "Disk serial numbers: not read");
}

#[test]
fn a_links_key_while_activated_is_never_taken_silently() {
    let prefix = KeyPrefix::new("ACME").unwrap();
    let key = LicenseKey::generate(&prefix, &mut licentric_core::OsRandom).unwrap();
    let same = link_while_activated(Some(&key.hint()), key.expose_secret(), &prefix);
    assert!(
        same.contains("already activated with") && same.contains("nothing needs doing"),
        "{same}"
    );
    let other = LicenseKey::generate(&prefix, &mut licentric_core::OsRandom).unwrap();
    let said = link_while_activated(Some(&key.hint()), other.expose_secret(), &prefix);
    assert!(said.contains("Deactivate…"), "{said}");
    assert!(
        !said.contains(other.expose_secret()),
        "the key is never said"
    );
    let bad = link_while_activated(Some(&key.hint()), "ACME-1", &prefix);
    assert!(
        bad.contains("not valid") && bad.contains("stays activated"),
        "{bad}"
    );
}

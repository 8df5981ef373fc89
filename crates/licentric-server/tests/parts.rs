//! Tolerant fingerprints against the real server: a machine whose fingerprint changed (a
//! reinstalled system, a new disk) is the same machine when its parts say so under the
//! product's policy; too many changed parts are refused with their names; `exact` refuses any
//! change; a client that sends no parts works as before; two live systems with the same parts
//! (a clone and its original, a dual boot) never share one seat, and the vendor hears of it;
//! and two machines cannot take turns on one seat by claiming each other's parts.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{Sandbox, activation_body, fingerprint, statement_kind};

/// A machine's parts: `kind=letter` pairs, each letter standing for a distinct hash.
fn parts(list: &[(&str, char)]) -> Value {
    Value::Array(
        list.iter()
            .map(|(kind, c)| json!({"kind": kind, "hash": c.to_string().repeat(64)}))
            .collect(),
    )
}

async fn activate(
    s: &Sandbox,
    key: &str,
    fp: &str,
    nonce: &str,
    components: &Value,
) -> (StatusCode, Value) {
    let mut body = activation_body(fp, nonce);
    body["components"] = components.clone();
    s.call(
        Method::POST,
        "/v1/activations",
        Some(&format!("License {key}")),
        Some(body),
    )
    .await
}

async fn checkout(
    s: &Sandbox,
    key: &str,
    machine: &str,
    fp: &str,
    components: &Value,
) -> (StatusCode, Value) {
    s.call(
        Method::POST,
        &format!("/v1/machines/{machine}/checkout"),
        Some(&format!("License {key}")),
        Some(json!({"fingerprint": fp, "nonce": "n", "components": components})),
    )
    .await
}

fn original() -> Value {
    parts(&[
        ("machine_id", 'a'),
        ("board_uuid", 'b'),
        ("disk_serial", 'c'),
        ("network_card", 'd'),
        ("cpu_model", 'e'),
    ])
}

#[tokio::test]
async fn a_reinstalled_machine_keeps_its_seat_when_the_product_matches_by_most_parts() {
    let s = Sandbox::start().await;
    let (licence, key) = s.licence(1, &[]).await;
    let (_, products) = s.admin(Method::GET, "/products", None).await;
    assert_eq!(
        products["products"][0]["fingerprint_match"], "most",
        "the default"
    );

    let (status, body) = activate(&s, &key, &fingerprint(1), "n1", &original()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let machine = body["machine_id"].as_str().unwrap().to_owned();

    // Reinstalled on a new disk: a new machine id and disk, the same board, card, processor.
    let reinstalled = parts(&[
        ("machine_id", '1'),
        ("board_uuid", 'b'),
        ("disk_serial", '2'),
        ("network_card", 'd'),
        ("cpu_model", 'e'),
    ]);
    let (status, body) = activate(&s, &key, &fingerprint(2), "n2", &reinstalled).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the same machine, its one seat: {body}"
    );
    assert_eq!(body["machine_id"], machine.as_str());
    assert_eq!(body["machines_active"], 1);
    // The record follows: the new fingerprint checks out; the old system, were it still
    // running, is told (signed) that its seat moved.
    let (status, body) = checkout(&s, &key, &machine, &fingerprint(2), &reinstalled).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = checkout(&s, &key, &machine, &fingerprint(1), &Value::Array(vec![])).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "machine_moved");
    assert_eq!(
        statement_kind(&s, &body, &fingerprint(1), "n"),
        "machine_moved"
    );
    // Recorded, by kind of part, never by value.
    let (_, audit) = s
        .admin(
            Method::GET,
            &format!("/audit-events?license_id={licence}"),
            None,
        )
        .await;
    let event = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "machine.fingerprint_changed")
        .unwrap_or_else(|| panic!("{audit}"))
        .clone();
    assert_eq!(
        event["after"]["changed_components"],
        json!(["machine_id", "disk_serial"])
    );
}

#[tokio::test]
async fn three_of_five_changed_is_refused_with_their_names_and_exact_refuses_any_change() {
    let s = Sandbox::start().await;
    let (_, key) = s.licence(1, &[]).await;
    let (_, body) = activate(&s, &key, &fingerprint(1), "n1", &original()).await;
    let machine = body["machine_id"].as_str().unwrap().to_owned();
    let mostly_new = parts(&[
        ("machine_id", '1'),
        ("board_uuid", '2'),
        ("disk_serial", '3'),
        ("network_card", 'd'),
        ("cpu_model", 'e'),
    ]);
    let (status, body) = checkout(&s, &key, &machine, &fingerprint(2), &mostly_new).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "invalid_fingerprint");
    assert_eq!(
        body["error"]["changed_components"],
        json!(["machine_id", "board_uuid", "disk_serial"])
    );
    // As an activation: not the same machine, so it needs a seat, and the one seat is taken.
    let (status, body) = activate(&s, &key, &fingerprint(2), "n2", &mostly_new).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "machine_limit_reached");

    // Exact: even one changed part is another machine.
    let (status, body) = s
        .admin(
            Method::PATCH,
            "/products/acme-cad",
            Some(json!({"fingerprint_match": "exact"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let one_changed = parts(&[
        ("machine_id", '1'),
        ("board_uuid", 'b'),
        ("disk_serial", 'c'),
        ("network_card", 'd'),
        ("cpu_model", 'e'),
    ]);
    let (status, body) = checkout(&s, &key, &machine, &fingerprint(3), &one_changed).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "invalid_fingerprint");
    let (status, body) = s
        .admin(
            Method::PATCH,
            "/products/acme-cad",
            Some(json!({"fingerprint_match": "fuzzy"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // Malformed parts are refused before anything else.
    let bad = json!([{"kind": "toaster", "hash": "a".repeat(64)}]);
    let (status, body) = checkout(&s, &key, &machine, &fingerprint(1), &bad).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "invalid_request");
}

#[tokio::test]
async fn a_client_without_parts_works_as_before() {
    let s = Sandbox::start().await;
    let (_, key) = s.licence(1, &[]).await;
    let (status, body) = s.activate(&key, &fingerprint(1), "n1", None).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let machine = body["machine_id"].as_str().unwrap().to_owned();
    let (status, body) = s
        .call(
            Method::POST,
            &format!("/v1/machines/{machine}/checkout"),
            Some(&format!("License {key}")),
            Some(json!({"fingerprint": fingerprint(1), "nonce": "n"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // And another fingerprint without parts is simply another machine.
    let (status, body) = s.activate(&key, &fingerprint(2), "n2", None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
}

/// The system now holding `machine`'s seat was last seen `ago` seconds ago (as if it had been
/// switched off then), written where the server keeps it.
fn last_seen(s: &Sandbox, machine: &str, ago: i64) {
    let db = rusqlite::Connection::open(s.path("licentric.db")).unwrap();
    let at = time::OffsetDateTime::now_utc().unix_timestamp() - ago;
    let changed = db
        .execute(
            "UPDATE machines SET last_seen_at = ?1 WHERE id = ?2",
            rusqlite::params![at, machine],
        )
        .unwrap();
    assert_eq!(changed, 1);
}

/// The `machine.duplicate` audit entries of `licence`: what was done each time.
async fn duplicates(s: &Sandbox, licence: &str) -> Vec<String> {
    let (_, audit) = s
        .admin(
            Method::GET,
            &format!("/audit-events?license_id={licence}"),
            None,
        )
        .await;
    audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "machine.duplicate")
        .map(|e| e["after"]["outcome"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn two_live_systems_with_the_same_parts_cannot_share_one_seat() {
    let s = Sandbox::start().await;
    let (licence, key) = s.licence(1, &[]).await;
    let (_, body) = activate(&s, &key, &fingerprint(1), "n1", &original()).await;
    let machine = body["machine_id"].as_str().unwrap().to_owned();
    // A copy of A (its agent's state with it, a new machine id) presents A's parts: taken for
    // A reinstalled, so it gets the seat.
    let (status, body) = checkout(&s, &key, &machine, &fingerprint(2), &original()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A, still running, checks in: its seat moved, said signed so its companion stops, and the
    // vendor hears of a duplicate.
    let (status, body) = checkout(&s, &key, &machine, &fingerprint(1), &original()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "machine_moved");
    assert_eq!(
        statement_kind(&s, &body, &fingerprint(1), "n"),
        "machine_moved"
    );
    // Activating A again does not take the seat back while the copy is in use: it needs a
    // seat of its own, and there is none; the answer says until when the other holds it.
    let (status, body) = activate(&s, &key, &fingerprint(1), "n3", &original()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "machine_limit_reached");
    assert!(body["error"]["retry_at"].is_string(), "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("another system with the same parts"),
        "{body}"
    );
    // The copy still holds it.
    let (status, body) = checkout(&s, &key, &machine, &fingerprint(2), &original()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(duplicates(&s, &licence).await, ["refused"]);

    // Once the copy has been silent for longer than its check interval (switched off, or the
    // backup of A restored over it), A takes the seat back: a check, no new activation.
    last_seen(&s, &machine, 3 * 3600);
    let (status, body) = checkout(&s, &key, &machine, &fingerprint(1), &original()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn a_dual_boots_other_system_gets_a_seat_of_its_own() {
    let s = Sandbox::start().await;
    let (licence, key) = s.licence(2, &[]).await;
    let (_, body) = activate(&s, &key, &fingerprint(1), "n1", &original()).await;
    let machine = body["machine_id"].as_str().unwrap().to_owned();
    // The second system on the same hardware activates: it looks like A reinstalled.
    let (status, body) = activate(&s, &key, &fingerprint(2), "n2", &original()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["machine_id"], machine.as_str());
    // Booted back into A: told its seat moved; activating again gives it a seat of its own,
    // since the other system is in use and a seat is free.
    let (status, body) = checkout(&s, &key, &machine, &fingerprint(1), &original()).await;
    assert_eq!(body["error"]["code"], "machine_moved", "{status} {body}");
    let (status, body) = activate(&s, &key, &fingerprint(1), "n3", &original()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_ne!(body["machine_id"], machine.as_str());
    assert_eq!(body["machines_active"], 2);
    // And from then on each system checks out its own seat.
    let own = body["machine_id"].as_str().unwrap().to_owned();
    let (status, body) = checkout(&s, &key, &own, &fingerprint(1), &original()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = checkout(&s, &key, &machine, &fingerprint(2), &original()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        duplicates(&s, &licence).await,
        ["own_seat", "refused"],
        "newest first"
    );
}

#[tokio::test]
async fn two_machines_cannot_take_turns_on_one_seat_by_claiming_each_others_parts() {
    let s = Sandbox::start().await;
    let (_, key) = s.licence(1, &[]).await;
    s.admin(
        Method::PATCH,
        "/products/acme-cad",
        Some(json!({"seat_moves_per_seat": 1})),
    )
    .await;
    let (_, body) = activate(&s, &key, &fingerprint(1), "n1", &original()).await;
    let machine = body["machine_id"].as_str().unwrap().to_owned();
    // B claims A's parts: taken for A reinstalled — once (the one move allowed).
    let (status, body) = checkout(&s, &key, &machine, &fingerprint(2), &original()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // While B is in use, A cannot take it back at all; once B is silent, taking it back is a
    // second move in the window, refused with when.
    let (status, body) = checkout(&s, &key, &machine, &fingerprint(1), &original()).await;
    assert_eq!(body["error"]["code"], "machine_moved", "{status} {body}");
    last_seen(&s, &machine, 3 * 3600);
    let (status, body) = checkout(&s, &key, &machine, &fingerprint(1), &original()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "seat_move_limit_reached");
    assert!(body["error"]["retry_at"].is_string(), "{body}");
}

/// Attack: another machine claims a seat by presenting only the one part it shares with the
/// activated machine (its board's id, read off a label), leaving the rest out. The kinds the
/// machine was known by count against a claim that omits them: refused, with the kinds named,
/// and no seat for the other machine — as a new one it finds the licence full.
#[tokio::test]
async fn a_claim_that_leaves_out_the_parts_it_does_not_share_is_not_the_machine() {
    let s = Sandbox::start().await;
    let (_, key) = s.licence(1, &[]).await;
    let (_, body) = activate(&s, &key, &fingerprint(1), "n1", &original()).await;
    let machine = body["machine_id"].as_str().unwrap().to_owned();
    let only_the_board = parts(&[("board_uuid", 'b')]);

    let (status, body) = checkout(&s, &key, &machine, &fingerprint(2), &only_the_board).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "invalid_fingerprint", "{body}");
    assert_eq!(
        body["error"]["changed_components"],
        json!(["machine_id", "disk_serial", "network_card", "cpu_model"])
    );
    let (status, body) = activate(&s, &key, &fingerprint(2), "n2", &only_the_board).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "machine_limit_reached", "{body}");
    // Nor with guesses at its processor model, several in one claim: one of a kind but
    // network cards.
    let guesses = parts(&[("board_uuid", 'b'), ("cpu_model", 'x'), ("cpu_model", 'e')]);
    let (status, body) = checkout(&s, &key, &machine, &fingerprint(2), &guesses).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // The machine itself goes on.
    let (status, body) = checkout(&s, &key, &machine, &fingerprint(1), &original()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn a_licence_that_is_not_active_changes_no_machine() {
    let s = Sandbox::start().await;
    let (licence, key) = s.licence(1, &[]).await;
    let (_, body) = activate(&s, &key, &fingerprint(1), "n1", &original()).await;
    let machine = body["machine_id"].as_str().unwrap().to_owned();
    s.admin(Method::POST, &format!("/licenses/{licence}/suspend"), None)
        .await;
    // The same parts under a new fingerprint, by activation and by checkout: refused (a
    // signed file saying suspended), and the machine's record is as it was.
    let reinstalled = parts(&[
        ("machine_id", '1'),
        ("board_uuid", 'b'),
        ("disk_serial", 'c'),
        ("network_card", 'd'),
        ("cpu_model", 'e'),
    ]);
    let (status, body) = activate(&s, &key, &fingerprint(2), "n2", &reinstalled).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = checkout(&s, &key, &machine, &fingerprint(2), &reinstalled).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (_, machines) = s
        .admin(Method::GET, &format!("/licenses/{licence}/machines"), None)
        .await;
    assert_eq!(
        machines["machines"][0]["fingerprint"],
        fingerprint(1).as_str()
    );
    let (_, audit) = s
        .admin(
            Method::GET,
            &format!("/audit-events?license_id={licence}"),
            None,
        )
        .await;
    assert!(
        !audit.to_string().contains("machine.fingerprint_changed"),
        "{audit}"
    );
}

/// An activation request file made on `fp` with `components` (and `runs_in`), as the companion
/// makes one offline, submitted with `key`.
async fn activate_offline(
    s: &Sandbox,
    key: &str,
    fp: &str,
    components: &Value,
    runs_in: Option<licentric_proto::api::RunsIn>,
) -> (StatusCode, Value) {
    let request = licentric_core::request_file::ActivationRequestFile {
        v: 1,
        product_id: "acme-cad".into(),
        environment: licentric_proto::Environment::Test,
        fingerprint: fp.to_owned(),
        platform: "linux".into(),
        hostname: "air-gapped".into(),
        nonce: "offline".into(),
        created_at: time::OffsetDateTime::now_utc(),
        components: serde_json::from_value(components.clone()).unwrap(),
        runs_in,
    };
    s.call(
        Method::POST,
        "/v1/offline-activations",
        Some(&format!("License {key}")),
        Some(json!({"request": request.to_armored().unwrap()})),
    )
    .await
}

#[tokio::test]
async fn an_offline_request_is_matched_by_its_parts_and_held_to_the_virtual_machine_policy() {
    let s = Sandbox::start().await;
    let (_, key) = s.licence(1, &[]).await;
    let (status, body) = activate_offline(&s, &key, &fingerprint(1), &original(), None).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let machine = body["machine_id"].as_str().unwrap().to_owned();
    // Reinstalled, still offline: a new request from the same parts keeps the one seat.
    let (status, body) = activate_offline(&s, &key, &fingerprint(2), &original(), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["machine_id"], machine.as_str());

    // A product that refuses virtual machines refuses a request made in one.
    let (status, body) = s
        .admin(
            Method::PATCH,
            "/products/acme-cad",
            Some(json!({"allow_virtual_machines": false})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let vm = licentric_proto::api::RunsIn {
        kind: licentric_proto::api::RunsInKind::VirtualMachine,
        name: "kvm".into(),
    };
    let (status, body) =
        activate_offline(&s, &key, &fingerprint(3), &Value::Array(vec![]), Some(vm)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "virtualization_not_allowed");
    // Malformed parts make the request invalid.
    let bad = json!([{"kind": "toaster", "hash": "a".repeat(64)}]);
    let (status, body) = activate_offline(&s, &key, &fingerprint(4), &bad, None).await;
    assert_eq!(
        body["error"]["code"], "invalid_activation_request",
        "{status} {body}"
    );
}

#[tokio::test]
async fn a_copy_that_kept_the_machine_id_is_reported_when_the_two_take_turns() {
    let s = Sandbox::start().await;
    let (licence, key) = s.licence(1, &[]).await;
    let (_, body) = activate(&s, &key, &fingerprint(1), "n1", &original()).await;
    let machine = body["machine_id"].as_str().unwrap().to_owned();
    // A copy of the system with its machine id and its companion's state, on other hardware:
    // the same fingerprint and machine, other disk and card.
    let copy = parts(&[
        ("machine_id", 'a'),
        ("board_uuid", 'b'),
        ("disk_serial", '7'),
        ("network_card", '8'),
        ("cpu_model", 'e'),
    ]);
    // Once, it is a disk and a card replaced: nothing to report.
    let (status, body) = checkout(&s, &key, &machine, &fingerprint(1), &copy).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(duplicates(&s, &licence).await.is_empty());
    // The original checks in again with its own parts, the copy again with its own: two live
    // systems under one identity, reported once (not at every turn).
    for _ in 0..3 {
        let (status, _) = checkout(&s, &key, &machine, &fingerprint(1), &original()).await;
        assert_eq!(status, StatusCode::OK);
        let (status, _) = checkout(&s, &key, &machine, &fingerprint(1), &copy).await;
        assert_eq!(status, StatusCode::OK);
    }
    assert_eq!(duplicates(&s, &licence).await, ["reported"]);
}

/// A copy that leaves out the parts that would tell it apart (run in a container, or with
/// `/sys` hidden, with the original's machine id mounted in): fewer kinds of part, none of them
/// different. Taking turns with the original, it is reported all the same — from its second
/// turn, as one reading that failed is not a copy.
#[tokio::test]
async fn a_copy_that_presents_fewer_parts_is_reported_when_the_two_take_turns() {
    let s = Sandbox::start().await;
    let (licence, key) = s.licence(1, &[]).await;
    let (_, body) = activate(&s, &key, &fingerprint(1), "n1", &original()).await;
    let machine = body["machine_id"].as_str().unwrap().to_owned();
    let copy = parts(&[("machine_id", 'a')]);
    let turn = async |parts: &Value| {
        let (status, body) = checkout(&s, &key, &machine, &fingerprint(1), parts).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    };
    // Once is a reading that failed (a tool that did not start, a sandbox): not reported.
    turn(&copy).await;
    turn(&original()).await;
    assert!(duplicates(&s, &licence).await.is_empty());
    // Again: two systems taking turns, reported once (not at every turn).
    for _ in 0..3 {
        turn(&copy).await;
        turn(&original()).await;
    }
    assert_eq!(duplicates(&s, &licence).await, ["reported"]);
}

#[tokio::test]
async fn a_part_replaced_and_a_card_plugged_in_are_not_duplicates() {
    let s = Sandbox::start().await;
    let (licence, key) = s.licence(1, &[]).await;
    let (_, body) = activate(&s, &key, &fingerprint(1), "n1", &original()).await;
    let machine = body["machine_id"].as_str().unwrap().to_owned();
    // A USB network card plugged in and out, again and again: the same card stays.
    let with_usb = parts(&[
        ("machine_id", 'a'),
        ("board_uuid", 'b'),
        ("disk_serial", 'c'),
        ("network_card", 'd'),
        ("network_card", 'f'),
        ("cpu_model", 'e'),
    ]);
    for _ in 0..3 {
        for parts in [&with_usb, &original()] {
            let (status, body) = checkout(&s, &key, &machine, &fingerprint(1), parts).await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
    }
    // A new disk, then another one: never back to an earlier one.
    for disk in ['5', '6'] {
        let replaced = parts(&[
            ("machine_id", 'a'),
            ("board_uuid", 'b'),
            ("disk_serial", disk),
            ("network_card", 'd'),
            ("cpu_model", 'e'),
        ]);
        let (status, body) = checkout(&s, &key, &machine, &fingerprint(1), &replaced).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    assert!(duplicates(&s, &licence).await.is_empty());
}

#[tokio::test]
async fn a_returning_system_is_told_the_licences_own_status_first_and_reported_once() {
    let s = Sandbox::start().await;
    let (licence, key) = s.licence(1, &[]).await;
    let (_, body) = activate(&s, &key, &fingerprint(1), "n1", &original()).await;
    let machine = body["machine_id"].as_str().unwrap().to_owned();
    let (status, _) = checkout(&s, &key, &machine, &fingerprint(2), &original()).await;
    assert_eq!(status, StatusCode::OK);
    // Refused again and again: one report, not one per request.
    for _ in 0..3 {
        let (_, body) = checkout(&s, &key, &machine, &fingerprint(1), &original()).await;
        assert_eq!(body["error"]["code"], "machine_moved", "{body}");
    }
    assert_eq!(duplicates(&s, &licence).await, ["refused"]);
    // Suspended: the licence's own status comes first, signed, and nothing is recorded.
    s.admin(Method::POST, &format!("/licenses/{licence}/suspend"), None)
        .await;
    let (status, body) = checkout(&s, &key, &machine, &fingerprint(1), &original()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "license_suspended");
    assert_eq!(duplicates(&s, &licence).await, ["refused"]);
}

#[tokio::test]
async fn a_refused_own_seat_is_not_reported_as_given() {
    let s = Sandbox::start().await;
    let (licence, key) = s.licence(2, &[]).await;
    // Two moves in the window for two seats.
    s.admin(
        Method::PATCH,
        "/products/acme-cad",
        Some(json!({"seat_moves_per_seat": 1})),
    )
    .await;
    let (_, body) = activate(&s, &key, &fingerprint(1), "n1", &original()).await;
    assert_eq!(body["machines_active"], 1, "{body}");
    // Another system with these parts takes the seat: the first move.
    let (status, body) = activate(&s, &key, &fingerprint(2), "n2", &original()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A second machine comes and goes, and a third takes its seat: the second move.
    for n in [10, 11] {
        let (status, body) = s
            .activate(&key, &fingerprint(n), &format!("x{n}"), None)
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let id = body["machine_id"].as_str().unwrap().to_owned();
        s.call(
            Method::DELETE,
            &format!("/v1/machines/{id}"),
            Some(&format!("License {key}")),
            None,
        )
        .await;
    }
    // The first system asks again while the other is in use: its own seat would be a third
    // move, refused — and not reported as a seat given.
    let (status, body) = activate(&s, &key, &fingerprint(1), "n3", &original()).await;
    assert_eq!(
        body["error"]["code"], "seat_move_limit_reached",
        "{status} {body}"
    );
    assert!(duplicates(&s, &licence).await.is_empty());
}

#[tokio::test]
async fn a_dual_boot_with_a_seat_each_can_reinstall_either_system() {
    let s = Sandbox::start().await;
    let (_, key) = s.licence(2, &[]).await;
    let (_, body) = activate(&s, &key, &fingerprint(1), "n1", &original()).await;
    let first = body["machine_id"].as_str().unwrap().to_owned();
    activate(&s, &key, &fingerprint(2), "n2", &original()).await;
    checkout(&s, &key, &first, &fingerprint(1), &original()).await;
    let (status, body) = activate(&s, &key, &fingerprint(1), "n3", &original()).await;
    assert_eq!(status, StatusCode::CREATED, "a seat each: {body}");
    let own = body["machine_id"].as_str().unwrap().to_owned();
    // The system on `own` is reinstalled while the other one is in use: the idle machine
    // with these parts is the one reinstalled.
    last_seen(&s, &own, 3 * 3600);
    let (status, body) = activate(&s, &key, &fingerprint(3), "n4", &original()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["machine_id"], own.as_str());
    assert_eq!(body["machines_active"], 2);
}

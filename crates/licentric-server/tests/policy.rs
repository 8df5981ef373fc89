//! A product's policy against the clients: the seat-move limit (free A, activate B, free B,
//! activate A … is refused past the allowance, with when the next move is allowed) and the
//! longest file a client may get.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::harness::{Sandbox, fingerprint};

async fn deactivate(s: &Sandbox, key: &str, machine: &str) {
    let (status, body) = s
        .call(
            Method::DELETE,
            &format!("/v1/machines/{machine}"),
            Some(&format!("License {key}")),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
}

async fn set_policy(s: &Sandbox, policy: Value) -> Value {
    let (status, body) = s
        .admin(Method::PATCH, "/products/acme-cad", Some(policy))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn machine_of(body: &Value) -> String {
    body["machine_id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_seat_moved_back_and_forth_is_refused_past_its_allowance_with_the_next_time() {
    let s = Sandbox::start().await;
    let (_, key) = s.licence(1, &[]).await;
    let policy = set_policy(&s, json!({"seat_moves_per_seat": 1})).await;
    assert_eq!(policy["product"]["seat_moves_per_seat"], 1);
    assert_eq!(policy["product"]["seat_move_window_seconds"], 30 * 86_400);
    let (a, b) = (fingerprint(1), fingerprint(2));

    // The first machine fills the seat: not a move.
    let (status, body) = s.activate(&key, &a, "n1", None).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    deactivate(&s, &key, &machine_of(&body)).await;
    // Freed on A, taken on B: the one move allowed.
    let before = OffsetDateTime::now_utc().unix_timestamp();
    let (status, body) = s.activate(&key, &b, "n2", None).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let on_b = machine_of(&body);
    // B activating again while it holds the seat moves nothing.
    let (status, body) = s.activate(&key, &b, "n3", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    deactivate(&s, &key, &on_b).await;

    // Back to A: refused, with when the next move is allowed (B's move plus 30 days).
    let (status, body) = s.activate(&key, &a, "n4", None).await;
    let after = OffsetDateTime::now_utc().unix_timestamp();
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "seat_move_limit_reached");
    let at = OffsetDateTime::parse(body["error"]["retry_at"].as_str().unwrap(), &Rfc3339)
        .unwrap()
        .unix_timestamp();
    assert!(
        (before + 30 * 86_400..=after + 30 * 86_400).contains(&at),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("1 per seat in 30 days"),
        "{body}"
    );
    // The refusal took no seat.
    let (status, body) = s.activate(&key, &fingerprint(3), "n5", None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("seat_move_limit_reached"))
    );

    // The vendor lifts the limit (null): the seat moves again.
    let policy = set_policy(&s, json!({"seat_moves_per_seat": null})).await;
    assert_eq!(policy["product"]["seat_moves_per_seat"], Value::Null);
    let (status, body) = s.activate(&key, &a, "n6", None).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[tokio::test]
async fn the_allowance_grows_with_the_seats_and_new_products_default_to_three_per_seat() {
    let s = Sandbox::start().await;
    let (_, key) = s.licence(2, &[]).await;
    let (_, products) = s.admin(Method::GET, "/products", None).await;
    assert_eq!(products["products"][0]["seat_moves_per_seat"], 3);
    set_policy(&s, json!({"seat_moves_per_seat": 1})).await;
    // Two seats filled, then each moved once: two moves allowed, the third refused.
    let mut machines = Vec::new();
    for n in 1..=2 {
        let (status, body) = s.activate(&key, &fingerprint(n), "n", None).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        machines.push(machine_of(&body));
    }
    for n in 3..=4 {
        deactivate(&s, &key, &machines.remove(0)).await;
        let (status, body) = s.activate(&key, &fingerprint(n), "n", None).await;
        assert_eq!(status, StatusCode::CREATED, "move {n}: {body}");
        machines.push(machine_of(&body));
    }
    deactivate(&s, &key, &machines.remove(0)).await;
    let (status, body) = s.activate(&key, &fingerprint(5), "n", None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "seat_move_limit_reached");
}

#[tokio::test]
async fn a_client_gets_no_longer_file_than_the_products_policy() {
    let s = Sandbox::start().await;
    let (_, key) = s.licence(1, &[]).await;
    set_policy(&s, json!({"max_ttl_seconds": 7 * 86_400})).await;
    let fp = fingerprint(1);
    let (status, body) = s.activate(&key, &fp, "n1", None).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let machine = machine_of(&body);
    let verifier = licentric_core::Verifier::new(vec![s.trusted_key()]);
    let days = |file: &str, nonce: &str| {
        let fp = licentric_core::Fingerprint::parse(&fp).unwrap();
        let expect = licentric_core::Expectations {
            product_id: "acme-cad",
            environment: licentric_proto::Environment::Test,
            fingerprint: &fp,
            nonce: Some(nonce),
        };
        let file = verifier
            .verify(file, &expect, OffsetDateTime::now_utc())
            .unwrap();
        (file.payload().expires_at - file.payload().issued_at).whole_days()
    };
    // The server's default (14 days) is cut to the product's week.
    assert_eq!(days(body["license_file"].as_str().unwrap(), "n1"), 7);
    // A client asking for 30 days gets the week too.
    let (status, body) = s
        .call(
            Method::POST,
            &format!("/v1/machines/{machine}/checkout"),
            Some(&format!("License {key}")),
            Some(json!({"fingerprint": fp, "ttl_seconds": 30 * 86_400, "nonce": "n2"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(days(body["license_file"].as_str().unwrap(), "n2"), 7);
}

#[tokio::test]
async fn a_policy_out_of_range_is_refused_and_changes_nothing() {
    let s = Sandbox::start().await;
    s.licence(1, &[]).await;
    for bad in [
        json!({"seat_moves_per_seat": 0}),
        json!({"seat_move_window_seconds": 10}),
        json!({"max_ttl_seconds": 1}),
        json!({"check_interval_seconds": 0}),
        json!({"surprise": true}),
    ] {
        let (status, body) = s
            .admin(Method::PATCH, "/products/acme-cad", Some(bad.clone()))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
    let (_, products) = s.admin(Method::GET, "/products", None).await;
    assert_eq!(products["products"][0]["seat_moves_per_seat"], 3);
    let (status, _) = s
        .admin(Method::PATCH, "/products/nope", Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn machines_from_before_the_move_counter_still_count_after_an_upgrade() {
    let s = Sandbox::start().await;
    let (_, key) = s.licence(1, &[]).await;
    set_policy(&s, json!({"seat_moves_per_seat": 1})).await;
    // Machine A fills and frees the seat on the old server.
    let (status, body) = s.activate(&key, &fingerprint(1), "n1", None).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    deactivate(&s, &key, &machine_of(&body)).await;

    // Back to the database as the server before the counter left it (schema 7).
    let token = s.admin_token.clone();
    let dir = s.stop().await;
    let db = rusqlite::Connection::open(dir.path().join("licentric.db")).unwrap();
    // Undo migrations 20 (parts shown again), 19 (a lease kept to its end; the leases table
    // goes whole), 18 (borrowed seats kept to their end), 17 (entitlement seats), 16 (seats
    // per process), 15 (borrowing), 14 and 13 (leases), 12 (previous parts), 11 (virtual
    // machines), 10 (rebinds' fingerprints), 9 (the machine's parts) and 8 (the counter),
    // newest first.
    db.execute_batch(
        "ALTER TABLE machines DROP COLUMN parts_returned_at;
         ALTER TABLE products DROP COLUMN borrow_kept_to_end;
         ALTER TABLE leases DROP COLUMN entitlements;
         ALTER TABLE licenses DROP COLUMN entitlement_seats;
         ALTER TABLE products DROP COLUMN seats_per;
         ALTER TABLE products DROP COLUMN max_borrow_seconds;
         DROP TABLE leases;
         ALTER TABLE products DROP COLUMN lease_ttl_seconds;
         ALTER TABLE products DROP COLUMN seat_model;
         ALTER TABLE machines DROP COLUMN duplicate_reported_at;
         ALTER TABLE machines DROP COLUMN previous_components;
         ALTER TABLE products DROP COLUMN allow_containers;
         ALTER TABLE products DROP COLUMN allow_virtual_machines;
         DROP INDEX machine_rebinds_by_machine;
         DROP TABLE machine_rebinds;
         ALTER TABLE products DROP COLUMN fingerprint_match;
         ALTER TABLE machines DROP COLUMN components;
         ALTER TABLE licenses DROP COLUMN machines_ever;
         PRAGMA user_version = 7;",
    )
    .unwrap();
    drop(db);

    // The upgraded server counts A: B taking the seat is the one move, A taking it back is
    // refused (a counter starting at zero would have let both through).
    let s = Sandbox::serve(dir, token).await;
    let (status, body) = s.activate(&key, &fingerprint(2), "n2", None).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    deactivate(&s, &key, &machine_of(&body)).await;
    let (status, body) = s.activate(&key, &fingerprint(1), "n3", None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "seat_move_limit_reached");
}

//! Floating licences against the real server: a seat is a lease; checkouts are counted
//! exactly under a race; only a lease's holder (its secret) renews or releases it; running
//! out frees a seat; the lease file verifies only for its request and machine.

use licentric_core::lease::LeasePayload;
use licentric_core::{Fingerprint, Verifier};
use licentric_proto::Environment;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{Sandbox, fingerprint};

/// The product's licences float: seats are leases.
async fn floating(s: &Sandbox) {
    let (status, body) = s
        .admin(
            Method::PATCH,
            "/products/acme-cad",
            Some(json!({"seat_model": "floating", "lease_ttl_seconds": 600})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["product"]["seat_model"], "floating");
}

async fn checkout(s: &Sandbox, key: &str, fp: &str, nonce: &str) -> (StatusCode, Value) {
    s.call(
        Method::POST,
        "/v1/leases",
        Some(&format!("License {key}")),
        Some(json!({"fingerprint": fp, "nonce": nonce, "label": "Acme CAD"})),
    )
    .await
}

async fn renew(
    s: &Sandbox,
    key: &str,
    (lease, secret): (&str, &str),
    fp: &str,
    nonce: &str,
) -> (StatusCode, Value) {
    s.call(
        Method::POST,
        &format!("/v1/leases/{lease}/renew"),
        Some(&format!("License {key}")),
        Some(json!({"fingerprint": fp, "nonce": nonce, "lease_secret": secret})),
    )
    .await
}

async fn release(s: &Sandbox, key: &str, (lease, secret): (&str, &str)) -> StatusCode {
    s.call(
        Method::POST,
        &format!("/v1/leases/{lease}/release"),
        Some(&format!("License {key}")),
        Some(json!({"lease_secret": secret})),
    )
    .await
    .0
}

/// The lease's id and secret in a checkout's answer.
fn held(body: &Value) -> (String, String) {
    (
        body["lease_id"].as_str().unwrap().to_owned(),
        body["lease_secret"].as_str().unwrap().to_owned(),
    )
}

/// The audit actions recorded for `licence`, newest first.
async fn actions(s: &Sandbox, licence: &str) -> Vec<String> {
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
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn fifty_machines_racing_for_ten_seats_get_exactly_ten() {
    let s = Sandbox::start().await;
    let (licence, key) = s.licence(10, &["pro"]).await;
    floating(&s).await;
    let tasks: Vec<_> = (0..50)
        .map(|n| {
            let (client, url, key) = (s.client.clone(), s.url.clone(), key.clone());
            tokio::spawn(async move {
                let response = client
                    .post(format!("{url}/v1/leases"))
                    .header("Authorization", format!("License {key}"))
                    .json(&json!({"fingerprint": fingerprint(n), "nonce": format!("n{n}")}))
                    .send()
                    .await
                    .unwrap();
                let status = response.status();
                (status, response.json::<Value>().await.unwrap())
            })
        })
        .collect();
    let mut granted = 0;
    for task in tasks {
        let (status, body) = task.await.unwrap();
        match status {
            StatusCode::CREATED => granted += 1,
            StatusCode::CONFLICT => {
                assert_eq!(body["error"]["code"], "no_seat_available", "{body}");
                assert_eq!(body["error"]["seats_in_use"], 10, "{body}");
                assert_eq!(body["error"]["max_machines"], 10, "{body}");
                assert!(body["error"]["retry_at"].is_string(), "{body}");
            }
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!(granted, 10);
    // The vendor's metrics say so, per licence.
    let metrics = s
        .client
        .get(format!("{}/metrics", s.url))
        .bearer_auth(&s.admin_token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(&format!(
            "licentric_seats_in_use{{environment=\"test\",license_id=\"{licence}\"}} 10"
        )),
        "{metrics}"
    );
}

#[tokio::test]
async fn only_its_holder_renews_and_releases_a_seat() {
    let s = Sandbox::start().await;
    let (licence, key) = s.licence(1, &["pro"]).await;
    floating(&s).await;
    let (status, body) = checkout(&s, &key, &fingerprint(1), "c1").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (lease, secret) = held(&body);
    assert_eq!(
        (body["seats_in_use"].clone(), body["max_seats"].clone()),
        (json!(1), json!(1))
    );
    // The lease file: signed, for this machine and this request, with the licence's terms.
    let verifier = Verifier::new(vec![s.trusted_key()]);
    let fp = Fingerprint::parse(&fingerprint(1)).unwrap();
    let text = body["lease_file"].as_str().unwrap();
    let now = Some(time::OffsetDateTime::now_utc());
    let verified = verifier
        .verify_lease(text, "acme-cad", Environment::Test, &fp, "c1", now)
        .unwrap();
    assert_eq!(verified.payload().lease_id, lease);
    assert_eq!(verified.payload().entitlements, ["pro"]);
    assert_eq!(verified.payload().label.as_deref(), Some("Acme CAD"));
    assert!(
        verifier
            .verify_lease(text, "acme-cad", Environment::Test, &fp, "c2", now)
            .is_err(),
        "replayed for another request"
    );

    // Asking again, even from the same machine, is another seat: none is free.
    let (status, body) = checkout(&s, &key, &fingerprint(1), "c2").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    // Renewed by its holder; not with the licence key alone, nor from another machine.
    let (status, body) = renew(&s, &key, (&lease, &secret), &fingerprint(1), "r1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body.get("lease_secret").is_none(),
        "the secret is given once: {body}"
    );
    let (status, body) = renew(&s, &key, (&lease, "guess"), &fingerprint(1), "r2").await;
    assert_eq!(body["error"]["code"], "lease_not_found", "{status} {body}");
    let (status, body) = renew(&s, &key, (&lease, &secret), &fingerprint(2), "r3").await;
    assert_eq!(body["error"]["code"], "lease_not_found", "{status} {body}");
    // Someone with the key but not the secret cannot free the holder's seat.
    assert_eq!(
        release(&s, &key, (&lease, "guess")).await,
        StatusCode::NOT_FOUND
    );
    let (status, _) = checkout(&s, &key, &fingerprint(2), "c3").await;
    assert_eq!(status, StatusCode::CONFLICT, "still held");

    // Released by its holder: the seat is free at once; releasing again changes nothing.
    assert_eq!(
        release(&s, &key, (&lease, &secret)).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        release(&s, &key, (&lease, &secret)).await,
        StatusCode::NO_CONTENT
    );
    let (status, body) = renew(&s, &key, (&lease, &secret), &fingerprint(1), "r4").await;
    assert_eq!(body["error"]["code"], "lease_not_found", "{status} {body}");
    let (status, body) = checkout(&s, &key, &fingerprint(2), "c4").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        release(&s, &key, ("lease_unknown", "x")).await,
        StatusCode::NOT_FOUND
    );
    let recorded = actions(&s, &licence).await;
    assert_eq!(
        recorded
            .iter()
            .filter(|a| *a == "lease.checked_out")
            .count(),
        2,
        "{recorded:?}"
    );
    assert_eq!(
        recorded.iter().filter(|a| *a == "lease.released").count(),
        1,
        "{recorded:?}"
    );
}

#[tokio::test]
async fn a_lease_that_is_not_renewed_runs_out_and_frees_its_seat() {
    let s = Sandbox::start().await;
    let (licence, key) = s.licence(1, &[]).await;
    floating(&s).await;
    let (_, body) = checkout(&s, &key, &fingerprint(1), "c1").await;
    let (lease, secret) = held(&body);
    // Its time runs out (written where the server keeps it, as if the TTL had passed).
    let db = rusqlite::Connection::open(s.path("licentric.db")).unwrap();
    let past = time::OffsetDateTime::now_utc().unix_timestamp() - 1;
    db.execute(
        "UPDATE leases SET expires_at = ?1 WHERE id = ?2",
        rusqlite::params![past, lease],
    )
    .unwrap();
    drop(db);
    let (status, body) = checkout(&s, &key, &fingerprint(2), "c2").await;
    assert_eq!(status, StatusCode::CREATED, "the seat is free: {body}");
    let (status, body) = renew(&s, &key, (&lease, &secret), &fingerprint(1), "r1").await;
    assert_eq!(body["error"]["code"], "lease_not_found", "{status} {body}");
    assert!(
        actions(&s, &licence)
            .await
            .contains(&"lease.expired".to_owned())
    );
}

#[tokio::test]
async fn seats_and_machines_do_not_mix() {
    let s = Sandbox::start().await;
    let (licence, key) = s.licence(2, &[]).await;
    // Node-locked: no leases.
    let (status, body) = checkout(&s, &key, &fingerprint(1), "c1").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "not_floating");
    // A machine activated while the licence was node-locked.
    let (status, body) = s.activate(&key, &fingerprint(1), "a0", None).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let machine = body["machine_id"].as_str().unwrap().to_owned();
    // Floating: no activations, and the machine's own seat no longer counts.
    floating(&s).await;
    let (status, body) = s.activate(&key, &fingerprint(1), "a1", None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "floating_license");
    let (status, body) = s
        .call(
            Method::POST,
            &format!("/v1/machines/{machine}/checkout"),
            Some(&format!("License {key}")),
            Some(json!({"fingerprint": fingerprint(1), "nonce": "k1"})),
        )
        .await;
    assert_eq!(body["error"]["code"], "floating_license", "{status} {body}");
    // A suspended floating licence gives no seat.
    s.admin(Method::POST, &format!("/licenses/{licence}/suspend"), None)
        .await;
    let (status, body) = checkout(&s, &key, &fingerprint(1), "c2").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "license_suspended");
    // Bad input is refused before anything else.
    let (status, body) = checkout(&s, &key, "nope", "c3").await;
    assert_eq!(
        body["error"]["code"], "invalid_fingerprint",
        "{status} {body}"
    );
}

/// An RFC 3339 time `seconds` from now.
fn from_now(seconds: i64) -> String {
    (time::OffsetDateTime::now_utc() + time::Duration::seconds(seconds))
        .replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// The product's `borrow_kept_to_end` set to `on` by the vendor; the product as answered.
async fn keep_borrows_to_end(s: &Sandbox, on: bool) -> Value {
    let (status, body) = s
        .admin(
            Method::PATCH,
            "/products/acme-cad",
            Some(json!({"borrow_kept_to_end": on})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Licence `licence` set by the vendor to end at `ends` (RFC 3339).
async fn licence_ends(s: &Sandbox, licence: &str, ends: &str) {
    let (status, body) = s
        .admin(
            Method::PATCH,
            &format!("/licenses/{licence}"),
            Some(json!({"expires_at": ends})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn borrow(s: &Sandbox, key: &str, fp: &str, nonce: &str, until: &str) -> (StatusCode, Value) {
    s.call(
        Method::POST,
        "/v1/leases",
        Some(&format!("License {key}")),
        Some(json!({"fingerprint": fp, "nonce": nonce, "borrow_until": until})),
    )
    .await
}

/// A licence that ends in two days: a seat borrowed for five is signed to the licence's end
/// (offline, nothing else would end it); and an ordinary lease asked for in the licence's last
/// hour ends with it too.
#[tokio::test]
async fn no_lease_outlasts_its_licence() {
    let s = Sandbox::start().await;
    let (licence, key) = s.licence(2, &["pro"]).await;
    floating(&s).await;
    let ends = from_now(2 * 86_400);
    licence_ends(&s, &licence, &ends).await;
    let ends =
        time::OffsetDateTime::parse(&ends, &time::format_description::well_known::Rfc3339).unwrap();

    let (status, body) = borrow(&s, &key, &fingerprint(1), "b1", &from_now(5 * 86_400)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let signed = signed_lease(&s, &body, 1, "b1");
    assert!(signed.borrowed);
    assert_eq!(signed.expires_at, ends, "the borrow ends with the licence");

    // A lease of a day, the licence ending in an hour.
    let ends = from_now(3600);
    for change in [
        ("/products/acme-cad", json!({"lease_ttl_seconds": 86_400})),
        (&format!("/licenses/{licence}"), json!({"expires_at": ends})),
    ] {
        let (status, body) = s.admin(Method::PATCH, change.0, Some(change.1)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let ends =
        time::OffsetDateTime::parse(&ends, &time::format_description::well_known::Rfc3339).unwrap();
    let (status, body) = checkout(&s, &key, &fingerprint(2), "c2").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(signed_lease(&s, &body, 2, "c2").expires_at, ends);
}

/// A product that keeps borrowed seats to their end: the lease says so, signed; an early
/// return — a release, a renewal as an ordinary lease, a borrow to an earlier end — is refused
/// and the seat stays counted (only the borrowing machine's word would back the return: it may
/// keep its lease and go on offline). Borrowed again to the same end, or longer, it holds; the
/// vendor can still free it.
#[tokio::test]
async fn a_product_can_keep_borrowed_seats_to_their_end() {
    let s = Sandbox::start().await;
    let (_, key) = s.licence(1, &["pro"]).await;
    floating(&s).await;
    let body = keep_borrows_to_end(&s, true).await;
    assert_eq!(body["product"]["borrow_kept_to_end"], true);

    let until = from_now(3 * 86_400);
    let (status, body) = borrow(&s, &key, &fingerprint(1), "b1", &until).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(
        signed_lease(&s, &body, 1, "b1").kept_to_end,
        "signed in the lease"
    );
    let (lease, secret) = held(&body);
    let refused = |status: StatusCode, body: &Value| {
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert_eq!(body["error"]["code"], "borrow_kept_to_end", "{body}");
    };

    let (status, body) = s
        .call(
            Method::POST,
            &format!("/v1/leases/{lease}/release"),
            Some(&format!("License {key}")),
            Some(json!({"lease_secret": secret})),
        )
        .await;
    refused(status, &body);
    let (status, body) = renew(&s, &key, (&lease, &secret), &fingerprint(1), "r1").await;
    refused(status, &body);
    let (status, body) = borrow_again(
        &s,
        &key,
        (&lease, &secret),
        &fingerprint(1),
        "r2",
        &from_now(86_400),
    )
    .await;
    refused(status, &body);
    let (status, _) = checkout(&s, &key, &fingerprint(2), "c1").await;
    assert_eq!(status, StatusCode::CONFLICT, "the seat is still counted");

    // The same end again (what the agent asks to confirm a borrow): it holds.
    let (status, body) =
        borrow_again(&s, &key, (&lease, &secret), &fingerprint(1), "r3", &until).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The vendor still frees it.
    let (status, body) = s
        .admin(Method::DELETE, &format!("/leases/{lease}"), None)
        .await;
    assert!(status.is_success(), "{status} {body}");
    let (status, body) = checkout(&s, &key, &fingerprint(2), "c2").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// The policy a borrow was made under rules it to its end, as its signed lease says. Switched
/// on during a borrow signed without it, the return the agent was told it may make is taken
/// (the agent has already stopped using the seat when it asks); switched off during one signed
/// with it, the lease stays kept, extended or not.
#[tokio::test]
async fn a_borrow_keeps_the_policy_it_was_made_under() {
    let s = Sandbox::start().await;
    let (_, key) = s.licence(2, &[]).await;
    floating(&s).await;
    let until = from_now(3 * 86_400);

    // Borrowed while early returns were taken; the policy then switched on.
    let (status, body) = borrow(&s, &key, &fingerprint(1), "b1", &until).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(!signed_lease(&s, &body, 1, "b1").kept_to_end);
    let free = held(&body);
    keep_borrows_to_end(&s, true).await;
    // Confirmed (borrowed again to the same end) under the new policy: still not kept.
    let (status, body) =
        borrow_again(&s, &key, (&free.0, &free.1), &fingerprint(1), "b2", &until).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(!signed_lease(&s, &body, 1, "b2").kept_to_end, "{body}");

    // Borrowed under the policy; the policy then switched off.
    let (status, body) = borrow(&s, &key, &fingerprint(2), "b3", &until).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(signed_lease(&s, &body, 2, "b3").kept_to_end);
    let kept = held(&body);
    keep_borrows_to_end(&s, false).await;
    let longer = from_now(4 * 86_400);
    let (status, body) =
        borrow_again(&s, &key, (&kept.0, &kept.1), &fingerprint(2), "b4", &longer).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        signed_lease(&s, &body, 2, "b4").kept_to_end,
        "extended, still kept"
    );
    assert_eq!(
        release(&s, &key, (&kept.0, &kept.1)).await,
        StatusCode::CONFLICT,
        "the lease says kept to its end"
    );

    // The first is returned as its lease allowed, and its seat is free for another machine.
    assert_eq!(
        release(&s, &key, (&free.0, &free.1)).await,
        StatusCode::NO_CONTENT
    );
    let (status, body) = checkout(&s, &key, &fingerprint(3), "c1").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// The licence shortened during a borrow kept to its end: the borrow confirmed (borrowed
/// again to the same end, as the agent does) is brought forward to the licence's end, signed —
/// the holder did not ask to end early, so it is no early return — while the holder asking
/// for an earlier end itself still is one. The seat stays counted to the end first signed:
/// the licence extended again, it is neither free nor returnable early.
#[tokio::test]
async fn a_licence_shortened_brings_a_kept_borrow_forward() {
    let s = Sandbox::start().await;
    let (licence, key) = s.licence(1, &[]).await;
    floating(&s).await;
    keep_borrows_to_end(&s, true).await;
    let until = from_now(3 * 86_400);
    let (status, body) = borrow(&s, &key, &fingerprint(1), "b1", &until).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let lease = held(&body);
    let ends = from_now(86_400);
    licence_ends(&s, &licence, &ends).await;

    let (status, body) = borrow_again(
        &s,
        &key,
        (&lease.0, &lease.1),
        &fingerprint(1),
        "b2",
        &from_now(12 * 3600),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "asked earlier: {body}");
    let (status, body) = borrow_again(
        &s,
        &key,
        (&lease.0, &lease.1),
        &fingerprint(1),
        "b3",
        &until,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let signed = signed_lease(&s, &body, 1, "b3");
    let ends =
        time::OffsetDateTime::parse(&ends, &time::format_description::well_known::Rfc3339).unwrap();
    assert_eq!(signed.expires_at, ends);
    assert!(signed.borrowed && signed.kept_to_end, "{signed:?}");

    // The seat stays counted to the end the holder was first signed for (it may keep that
    // lease), not to the licence's: were the licence extended again after its shortened end,
    // the seat would otherwise be free while that lease still verifies.
    let counted: i64 = rusqlite::Connection::open(s.path("licentric.db"))
        .unwrap()
        .query_row(
            "SELECT expires_at FROM leases WHERE id = ?1",
            [&lease.0],
            |row| row.get(0),
        )
        .unwrap();
    let first_end =
        time::OffsetDateTime::parse(&until, &time::format_description::well_known::Rfc3339)
            .unwrap();
    assert_eq!(counted, first_end.unix_timestamp());
    // Confirmed again at the end it now holds (as the agent does): no early return.
    let (status, body) = borrow_again(
        &s,
        &key,
        (&lease.0, &lease.1),
        &fingerprint(1),
        "b4",
        &ends
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The vendor extends the licence again: not returned early, still counted.
    licence_ends(&s, &licence, &from_now(30 * 86_400)).await;
    assert_eq!(
        release(&s, &key, (&lease.0, &lease.1)).await,
        StatusCode::CONFLICT
    );
    let (status, body) = checkout(&s, &key, &fingerprint(2), "c1").await;
    assert_eq!(status, StatusCode::CONFLICT, "still counted: {body}");
}

/// A borrow made under the policy on a server from before leases recorded it (schema 18) is
/// still kept to its end after the upgrade: its lease was signed so.
#[tokio::test]
async fn a_borrow_kept_before_the_upgrade_stays_kept() {
    let s = Sandbox::start().await;
    let (_, key) = s.licence(1, &[]).await;
    floating(&s).await;
    keep_borrows_to_end(&s, true).await;
    let (status, body) = borrow(&s, &key, &fingerprint(1), "b1", &from_now(86_400)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let lease = held(&body);

    let token = s.admin_token.clone();
    let dir = s.stop().await;
    let db = rusqlite::Connection::open(dir.path().join("licentric.db")).unwrap();
    // The database as version 18 left it (and what later versions added, gone).
    db.execute_batch(
        "ALTER TABLE leases DROP COLUMN kept_to_end;
         ALTER TABLE machines DROP COLUMN parts_returned_at;
         PRAGMA user_version = 18;",
    )
    .unwrap();
    drop(db);
    let s = Sandbox::serve(dir, token).await;
    assert_eq!(
        release(&s, &key, (&lease.0, &lease.1)).await,
        StatusCode::CONFLICT
    );
}

/// Lease `lease` renewed as borrowed until `until` (again, longer, or shorter).
async fn borrow_again(
    s: &Sandbox,
    key: &str,
    (lease, secret): (&str, &str),
    fp: &str,
    nonce: &str,
    until: &str,
) -> (StatusCode, Value) {
    s.call(
        Method::POST,
        &format!("/v1/leases/{lease}/renew"),
        Some(&format!("License {key}")),
        Some(json!({"fingerprint": fp, "nonce": nonce, "lease_secret": secret, "borrow_until": until})),
    )
    .await
}

#[tokio::test]
async fn a_borrowed_seat_is_held_to_its_end_and_returned_early_on_request() {
    let s = Sandbox::start().await;
    let (licence, key) = s.licence(1, &["pro"]).await;
    floating(&s).await;
    let verifier = Verifier::new(vec![s.trusted_key()]);
    let fp = Fingerprint::parse(&fingerprint(1)).unwrap();

    // Beyond the product's limit (7 days by default), or not after now: refused, with the limit.
    let (status, body) = borrow(&s, &key, &fingerprint(1), "b0", &from_now(8 * 86_400)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "borrow_too_long");
    assert_eq!(body["error"]["max_borrow_seconds"], 7 * 86_400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("7 days"),
        "{body}"
    );
    let (_, body) = borrow(&s, &key, &fingerprint(1), "b0", &from_now(-60)).await;
    assert_eq!(body["error"]["code"], "borrow_too_long", "{body}");
    let (status, body) = borrow(&s, &key, &fingerprint(1), "b0", "next week").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // Borrowed for five days: one signed lease to its end, marked borrowed; the seat is taken.
    let until = from_now(5 * 86_400);
    let (status, body) = borrow(&s, &key, &fingerprint(1), "b1", &until).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (lease, secret) = held(&body);
    let signed = verifier
        .verify_lease(
            body["lease_file"].as_str().unwrap(),
            "acme-cad",
            Environment::Test,
            &fp,
            "b1",
            Some(time::OffsetDateTime::now_utc() + time::Duration::days(4)),
        )
        .unwrap();
    assert!(signed.payload().borrowed);
    assert_eq!(
        signed.payload().expires_at,
        time::OffsetDateTime::parse(&until, &time::format_description::well_known::Rfc3339)
            .unwrap()
    );
    let (status, body) = checkout(&s, &key, &fingerprint(2), "c1").await;
    assert_eq!(status, StatusCode::CONFLICT, "borrowed is taken: {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("the one seat of this licence is in use"),
        "{body}"
    );
    // The expiry pass does not free it before its end.
    let (status, _) = checkout(&s, &key, &fingerprint(2), "c2").await;
    assert_eq!(status, StatusCode::CONFLICT);

    // Returned early while its apps still run: an ordinary lease again, one lease TTL long.
    let (status, body) = renew(&s, &key, (&lease, &secret), &fingerprint(1), "r1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let ordinary = verifier
        .verify_lease(
            body["lease_file"].as_str().unwrap(),
            "acme-cad",
            Environment::Test,
            &fp,
            "r1",
            None,
        )
        .unwrap();
    assert!(!ordinary.payload().borrowed);
    assert_eq!(
        (ordinary.payload().expires_at - ordinary.payload().issued_at).whole_seconds(),
        600
    );
    // Borrowed again from the lease held (no second seat), then returned for good.
    let (status, body) = borrow_again(
        &s,
        &key,
        (&lease, &secret),
        &fingerprint(1),
        "r2",
        &from_now(86_400),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        release(&s, &key, (&lease, &secret)).await,
        StatusCode::NO_CONTENT
    );
    let (status, body) = checkout(&s, &key, &fingerprint(2), "c3").await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "returned: the seat is free: {body}"
    );
    let recorded = actions(&s, &licence).await;
    for (action, times) in [("lease.borrowed", 2), ("lease.returned", 2)] {
        assert_eq!(
            recorded.iter().filter(|a| *a == action).count(),
            times,
            "{action}: {recorded:?}"
        );
    }

    // A product that does not lend its seats.
    let (status, body) = s
        .admin(
            Method::PATCH,
            "/products/acme-cad",
            Some(json!({"max_borrow_seconds": 0})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = borrow(&s, &key, &fingerprint(3), "b2", &from_now(3_600)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "borrow_not_allowed");
}

#[tokio::test]
async fn a_product_can_give_each_app_process_a_seat_of_its_own() {
    let s = Sandbox::start().await;
    let (_, key) = s.licence(2, &[]).await;
    floating(&s).await;
    let per_process = |body: &Value, nonce: &str| signed_lease(&s, body, 1, nonce).per_process;
    let (_, body) = checkout(&s, &key, &fingerprint(1), "c1").await;
    assert!(!per_process(&body, "c1"), "shared by default: {body}");
    let (status, body) = s
        .admin(
            Method::PATCH,
            "/products/acme-cad",
            Some(json!({"seats_per": "process"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["product"]["seats_per"], "process");
    let (_, body) = checkout(&s, &key, &fingerprint(1), "c2").await;
    assert!(per_process(&body, "c2"), "signed in the lease: {body}");
    // A borrowed seat is the machine's, shared by its apps: not for such a product.
    let (status, body) = borrow(&s, &key, &fingerprint(1), "b1", &from_now(3_600)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "borrow_not_allowed");
    let (status, body) = s
        .admin(
            Method::PATCH,
            "/products/acme-cad",
            Some(json!({"seats_per": "thread"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

/// A checkout for `entitlement` (the seat must carry it).
async fn checkout_for(
    s: &Sandbox,
    key: &str,
    fp: &str,
    nonce: &str,
    entitlement: &str,
) -> (StatusCode, Value) {
    s.call(
        Method::POST,
        "/v1/leases",
        Some(&format!("License {key}")),
        Some(json!({"fingerprint": fp, "nonce": nonce, "entitlement": entitlement})),
    )
    .await
}

/// The lease signed in `body`, verified as the answer to `nonce` for machine `n`.
fn signed_lease(s: &Sandbox, body: &Value, n: u32, nonce: &str) -> LeasePayload {
    let fp = Fingerprint::parse(&fingerprint(n)).unwrap();
    Verifier::new(vec![s.trusted_key()])
        .verify_lease(
            body["lease_file"].as_str().unwrap(),
            "acme-cad",
            Environment::Test,
            &fp,
            nonce,
            None,
        )
        .unwrap()
        .payload()
        .clone()
}

/// The entitlements signed in the lease of `body`, answering `nonce` for machine `n`.
fn signed_entitlements(s: &Sandbox, body: &Value, n: u32, nonce: &str) -> Vec<String> {
    signed_lease(s, body, n, nonce).entitlements
}

#[tokio::test]
async fn seats_are_counted_only_for_entitlements_the_licence_has() {
    let s = Sandbox::start().await;
    let (licence, _) = s.licence(3, &["base", "pro"]).await;
    let path = format!("/licenses/{licence}");
    let refused = |status: StatusCode, body: &Value, code: &str| {
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(&format!("\"{code}\"")), "{body}");
    };
    // A misspelt code, at creation and in a change.
    let (status, body) = s
        .admin(
            Method::POST,
            "/licenses",
            Some(json!({"product_id": "acme-cad", "max_machines": 3, "entitlements": ["pro"], "entitlement_seats": {"Pro": 1}})),
        )
        .await;
    refused(status, &body, "Pro");
    let (status, body) = s
        .admin(
            Method::PATCH,
            &path,
            Some(json!({"entitlement_seats": {"pro": 1, "ultra": 1}})),
        )
        .await;
    refused(status, &body, "ultra");
    // An entitlement taken away while its count stays: refused, and nothing changed.
    let (status, body) = s
        .admin(
            Method::PATCH,
            &path,
            Some(json!({"entitlement_seats": {"pro": 1}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = s
        .admin(
            Method::PATCH,
            &path,
            Some(json!({"entitlements": ["base"]})),
        )
        .await;
    refused(status, &body, "pro");
    let (_, body) = s.admin(Method::GET, &path, None).await;
    assert_eq!(body["license"]["entitlements"], json!(["base", "pro"]));
    // Both in one change: what the vendor meant.
    let (status, body) = s
        .admin(
            Method::PATCH,
            &path,
            Some(json!({"entitlements": ["base"], "entitlement_seats": {}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["license"]["entitlements"], json!(["base"]));
    assert_eq!(body["license"]["entitlement_seats"], json!({}));
}

/// A count for an entitlement the licence lacks, saved before such counts were refused, takes
/// no seat from the machines asking for it and does not block a change that leaves both alone.
#[tokio::test]
async fn a_count_left_from_before_the_check_counts_nothing() {
    let s = Sandbox::start().await;
    let (licence, key) = s.licence(3, &["base"]).await;
    floating(&s).await;
    let db = rusqlite::Connection::open(s.path("licentric.db")).unwrap();
    db.execute(
        "UPDATE licenses SET entitlement_seats = '{\"ultra\": 1}' WHERE id = ?1",
        rusqlite::params![licence],
    )
    .unwrap();
    for (n, nonce) in [(1, "c1"), (2, "c2")] {
        let (status, body) = checkout_for(&s, &key, &fingerprint(n), nonce, "ultra").await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(signed_entitlements(&s, &body, n, nonce), ["base"]);
    }
    let (status, body) = s
        .admin(
            Method::PATCH,
            &format!("/licenses/{licence}"),
            Some(json!({"max_machines": 4})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// The vendor lowers a licence's seats below the seats held (a renewal for fewer): the seats
/// held longest are renewed, borrowed ones first; the others are refused, so they run out —
/// and cannot be borrowed, nor borrowed for longer, to stay.
#[tokio::test]
async fn seats_lowered_below_those_held_are_not_renewed() {
    let s = Sandbox::start().await;
    let (licence, key) = s.licence(3, &[]).await;
    floating(&s).await;
    let (_, one) = checkout(&s, &key, &fingerprint(1), "c1").await;
    let (_, two) = checkout(&s, &key, &fingerprint(2), "c2").await;
    let (_, three) = borrow(&s, &key, &fingerprint(3), "c3", &from_now(3 * 86_400)).await;
    let (one, two, three) = (held(&one), held(&two), held(&three));
    let (status, body) = s
        .admin(
            Method::PATCH,
            &format!("/licenses/{licence}"),
            Some(json!({"max_machines": 2})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // The borrowed seat and the older ordinary one keep theirs; the newest is refused.
    let (status, body) = renew(&s, &key, (&two.0, &two.1), &fingerprint(2), "r2").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "no_seat_available");
    assert_eq!(body["error"]["max_machines"], 2);
    let (status, body) = borrow_again(
        &s,
        &key,
        (&two.0, &two.1),
        &fingerprint(2),
        "b2",
        &from_now(86_400),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "borrowed to stay: {body}");
    let (status, body) = renew(&s, &key, (&one.0, &one.1), &fingerprint(1), "r1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = borrow_again(
        &s,
        &key,
        (&three.0, &three.1),
        &fingerprint(3),
        "b3",
        &from_now(3 * 86_400 - 60),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a borrow kept as it is stands: {body}"
    );

    // Lowered to one: the borrowed seat is the one kept; the ordinary one cannot borrow its
    // way past it, and the borrow cannot be made longer by a seat it no longer has.
    s.admin(
        Method::PATCH,
        &format!("/licenses/{licence}"),
        Some(json!({"max_machines": 1})),
    )
    .await;
    let (status, body) = renew(&s, &key, (&one.0, &one.1), &fingerprint(1), "r1b").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body) = borrow_again(
        &s,
        &key,
        (&one.0, &one.1),
        &fingerprint(1),
        "b1",
        &from_now(86_400),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body) = borrow_again(
        &s,
        &key,
        (&three.0, &three.1),
        &fingerprint(3),
        "b3b",
        &from_now(3 * 86_400 - 120),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    s.stop().await;
}

/// The vendor lowers an entitlement's count below the seats carrying it: the seats held longest
/// keep it, borrowed ones first (as they keep their seats), whichever renews first — a borrowed
/// seat confirming its borrow does not lose it to a newer ordinary lease.
#[tokio::test]
async fn a_count_lowered_is_kept_by_the_seats_held_longest() {
    let s = Sandbox::start().await;
    let (licence, key) = s.licence(3, &["pro"]).await;
    floating(&s).await;
    let counts = |pro: u32| json!({"entitlement_seats": {"pro": pro}});
    s.admin(
        Method::PATCH,
        &format!("/licenses/{licence}"),
        Some(counts(2)),
    )
    .await;
    let (status, older) = checkout_for(&s, &key, &fingerprint(1), "c1", "pro").await;
    assert_eq!(status, StatusCode::CREATED, "{older}");
    let until = from_now(3 * 86_400);
    let (status, borrowed) = s
        .call(
            Method::POST,
            "/v1/leases",
            Some(&format!("License {key}")),
            Some(json!({"fingerprint": fingerprint(2), "nonce": "c2", "borrow_until": until, "entitlement": "pro"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{borrowed}");
    let (older, borrowed) = (held(&older), held(&borrowed));
    s.admin(
        Method::PATCH,
        &format!("/licenses/{licence}"),
        Some(counts(1)),
    )
    .await;

    // The borrow confirmed first: it keeps pro.
    let (status, body) = borrow_again(
        &s,
        &key,
        (&borrowed.0, &borrowed.1),
        &fingerprint(2),
        "b2",
        &until,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(signed_entitlements(&s, &body, 2, "b2"), ["pro"]);
    // The ordinary lease, newer in the order, is renewed without it.
    let (status, body) = renew(&s, &key, (&older.0, &older.1), &fingerprint(1), "r1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(signed_entitlements(&s, &body, 1, "r1").is_empty(), "{body}");
    s.stop().await;
}

#[tokio::test]
async fn an_entitlement_can_have_fewer_seats_than_the_licence() {
    let s = Sandbox::start().await;
    let (licence, key) = s.licence(3, &["base", "pro"]).await;
    floating(&s).await;
    // Refused: no seats for an entitlement.
    let (status, body) = s
        .admin(
            Method::PATCH,
            &format!("/licenses/{licence}"),
            Some(json!({"entitlement_seats": {"pro": 0}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = s
        .admin(
            Method::PATCH,
            &format!("/licenses/{licence}"),
            Some(json!({"entitlement_seats": {"pro": 1}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["license"]["entitlement_seats"], json!({"pro": 1}));

    // Machine 1 takes the one seat with pro.
    let (status, one) = checkout_for(&s, &key, &fingerprint(1), "c1", "pro").await;
    assert_eq!(status, StatusCode::CREATED, "{one}");
    assert_eq!(signed_entitlements(&s, &one, 1, "c1"), ["base", "pro"]);
    // Machine 2 cannot have pro, but a seat without it.
    let (status, body) = checkout_for(&s, &key, &fingerprint(2), "c2", "pro").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "no_seat_available");
    assert_eq!(
        (
            body["error"]["seats_in_use"].clone(),
            body["error"]["max_machines"].clone()
        ),
        (json!(1), json!(1))
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("with pro"),
        "{body}"
    );
    let (status, two) = checkout(&s, &key, &fingerprint(2), "c3").await;
    assert_eq!(status, StatusCode::CREATED, "{two}");
    assert_eq!(signed_entitlements(&s, &two, 2, "c3"), ["base"]);
    // Its renewal asking for pro: refused while machine 1 holds it, given once it is free.
    let lease = held(&two);
    let ask = |nonce: &str| json!({"fingerprint": fingerprint(2), "nonce": nonce, "lease_secret": lease.1, "entitlement": "pro"});
    let path = format!("/v1/leases/{}/renew", lease.0);
    let auth = format!("License {key}");
    let (status, body) = s
        .call(Method::POST, &path, Some(&auth), Some(ask("r1")))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(
        release(&s, &key, (&held(&one).0, &held(&one).1)).await,
        StatusCode::NO_CONTENT
    );
    let (status, body) = s
        .call(Method::POST, &path, Some(&auth), Some(ask("r2")))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(signed_entitlements(&s, &body, 2, "r2"), ["base", "pro"]);
    // Kept at the next renewal, asked or not; and counted: nobody else gets pro.
    let (_, body) = renew(&s, &key, (&lease.0, &lease.1), &fingerprint(2), "r3").await;
    assert_eq!(signed_entitlements(&s, &body, 2, "r3"), ["base", "pro"]);
    let (status, _) = checkout_for(&s, &key, &fingerprint(3), "c4", "pro").await;
    assert_eq!(status, StatusCode::CONFLICT);

    // Two seats with pro; the vendor lowers it to one: the seat held longest keeps it, the
    // newer one is renewed without it, whichever renews first.
    s.admin(
        Method::PATCH,
        &format!("/licenses/{licence}"),
        Some(json!({"entitlement_seats": {"pro": 2}})),
    )
    .await;
    let (status, three) = checkout_for(&s, &key, &fingerprint(3), "c5", "pro").await;
    assert_eq!(status, StatusCode::CREATED, "{three}");
    s.admin(
        Method::PATCH,
        &format!("/licenses/{licence}"),
        Some(json!({"entitlement_seats": {"pro": 1}})),
    )
    .await;
    let (_, body) = renew(&s, &key, (&lease.0, &lease.1), &fingerprint(2), "r4").await;
    assert_eq!(signed_entitlements(&s, &body, 2, "r4"), ["base", "pro"]);
    let third = held(&three);
    let (_, body) = renew(&s, &key, (&third.0, &third.1), &fingerprint(3), "r5").await;
    assert_eq!(signed_entitlements(&s, &body, 3, "r5"), ["base"]);
}

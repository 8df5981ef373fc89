//! The audit log: every kind of change is recorded with who, what, when, before and after;
//! it pages and filters; another environment's key sees none of it; the database refuses to
//! edit or delete it.

use std::process::Command;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{Sandbox, fingerprint};

const BIN: &str = env!("CARGO_BIN_EXE_licentric-server");

/// Every page of `GET /v1/admin/audit-events?{query}` with `token`, newest first.
async fn all_events(s: &Sandbox, token: &str, query: &str) -> Vec<Value> {
    let mut events = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let before = cursor.map(|c| format!("&before={c}")).unwrap_or_default();
        let (status, body) = s
            .call(
                Method::GET,
                &format!("/v1/admin/audit-events?{query}{before}"),
                Some(&format!("Bearer {token}")),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        events.extend(body["events"].as_array().unwrap().iter().cloned());
        match body["next"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return events,
        }
    }
}

fn actions(events: &[Value]) -> Vec<(String, String)> {
    events
        .iter()
        .rev()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["actor"]["type"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn every_kind_of_change_is_recorded_with_who_what_before_and_after() {
    let s = Sandbox::start().await;
    let (licence, key) = s.licence(1, &["pro"]).await;
    let admin = s.admin_token.clone();
    let ok = |(status, body): (StatusCode, Value)| {
        assert!(status.is_success(), "{status}: {body}");
        body
    };
    ok(s.admin(
        Method::PATCH,
        "/products/acme-cad",
        Some(json!({"max_ttl_seconds": 86_400})),
    )
    .await);
    ok(s.admin(
        Method::PATCH,
        &format!("/licenses/{licence}"),
        Some(json!({"max_machines": 2})),
    )
    .await);
    ok(
        s.admin(Method::POST, &format!("/licenses/{licence}/suspend"), None)
            .await,
    );
    ok(s.admin(
        Method::POST,
        &format!("/licenses/{licence}/reinstate"),
        None,
    )
    .await);
    let (_, body) = s.activate(&key, &fingerprint(1), "n1", None).await;
    let first = body["machine_id"].as_str().unwrap().to_owned();
    ok(s.admin(Method::DELETE, &format!("/machines/{first}"), None)
        .await);
    let (_, body) = s.activate(&key, &fingerprint(2), "n2", None).await;
    let second = body["machine_id"].as_str().unwrap().to_owned();
    let (status, _) = s
        .call(
            Method::DELETE,
            &format!("/v1/machines/{second}"),
            Some(&format!("License {key}")),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    ok(
        s.admin(Method::GET, &format!("/licenses/{licence}/key"), None)
            .await,
    );
    let made = ok(s
        .admin(
            Method::POST,
            "/api-keys",
            Some(json!({"name": "reader", "scopes": ["licenses:read"]})),
        )
        .await);
    let reader = made["token"].as_str().unwrap().to_owned();
    let reader_id = made["api_key"]["id"].as_str().unwrap().to_owned();
    let hook = ok(s
        .admin(
            Method::POST,
            "/webhooks",
            Some(json!({"url": "https://example.invalid/hook"})),
        )
        .await);
    let hook = hook["webhook"]["id"].as_str().unwrap().to_owned();
    ok(s.admin(Method::DELETE, &format!("/webhooks/{hook}"), None)
        .await);
    ok(
        s.admin(Method::DELETE, &format!("/api-keys/{reader_id}"), None)
            .await,
    );

    let events = all_events(&s, &admin, "limit=500").await;
    let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
        list.iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    };
    assert_eq!(
        actions(&events),
        pairs(&[
            ("api_key.created", "command_line"),
            ("product.created", "api_key"),
            ("license.created", "api_key"),
            ("product.updated", "api_key"),
            ("license.updated", "api_key"),
            ("license.suspended", "api_key"),
            ("license.reinstated", "api_key"),
            ("machine.activated", "license_key"),
            ("machine.deactivated", "api_key"),
            ("machine.activated", "license_key"),
            ("machine.deactivated", "license_key"),
            ("license.key_revealed", "api_key"),
            ("api_key.created", "api_key"),
            ("webhook.created", "api_key"),
            ("webhook.deleted", "api_key"),
            ("api_key.revoked", "api_key"),
        ])
    );
    let find = |action: &str| {
        events
            .iter()
            .find(|e| e["action"] == action)
            .unwrap_or_else(|| panic!("no {action}"))
    };
    let suspended = find("license.suspended");
    assert_eq!(
        (
            &suspended["before"]["status"],
            &suspended["after"]["status"],
            &suspended["resource"]["id"],
            &suspended["license_id"]
        ),
        (
            &json!("active"),
            &json!("suspended"),
            &json!(licence),
            &json!(licence)
        )
    );
    assert!(
        suspended["actor"]["id"]
            .as_str()
            .unwrap()
            .starts_with("key_")
    );
    assert!(suspended["at"].as_str().unwrap().ends_with('Z'));
    let updated = find("license.updated");
    assert_eq!(
        (
            &updated["before"]["max_machines"],
            &updated["after"]["max_machines"]
        ),
        (&json!(1), &json!(2))
    );
    let policy = find("product.updated");
    assert_eq!(
        (
            &policy["before"]["max_ttl_seconds"],
            &policy["after"]["max_ttl_seconds"]
        ),
        (&Value::Null, &json!(86_400))
    );
    // The second machine took the seat the first held: a move, on the record.
    let moved = events
        .iter()
        .filter(|e| e["action"] == "machine.activated")
        .map(|e| e["after"]["seat_move"].clone())
        .collect::<Vec<_>>();
    assert_eq!(
        moved,
        [json!(false), json!(false)],
        "two seats: no move yet"
    );
    // Nothing secret is in the log: not the licence key, not the new API key's token.
    let text = serde_json::to_string(&events).unwrap();
    assert!(!text.contains(&key) && !text.contains(&reader), "{text}");

    // Filtered by licence: its own changes and its machines', nothing else.
    let mine = all_events(&s, &admin, &format!("license_id={licence}&limit=2")).await;
    assert_eq!(mine.len(), 9, "{mine:?}");
    assert!(mine.iter().all(|e| e["license_id"] == licence.as_str()));
    // Small pages give the same events as one big one.
    assert_eq!(all_events(&s, &admin, "limit=3").await, events);

    // The command line prints the same, newest first.
    let out = Command::new(BIN)
        .args(["audit", "--dir"])
        .arg(s.dir.path())
        .args(["--environment", "test", "--license", &licence])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(printed, mine);
}

#[tokio::test]
async fn the_log_needs_its_scope_stays_in_its_environment_and_cannot_be_edited() {
    let s = Sandbox::start().await;
    s.licence(1, &[]).await;
    // A key without audit:read is refused.
    let (_, made) = s
        .admin(
            Method::POST,
            "/api-keys",
            Some(json!({"name": "reader", "scopes": ["licenses:read"]})),
        )
        .await;
    let (status, _) = s
        .call(
            Method::GET,
            "/v1/admin/audit-events",
            Some(&format!("Bearer {}", made["token"].as_str().unwrap())),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A live key sees only the live environment: its own creation, by the command line.
    let out = Command::new(BIN)
        .args(["api-key", "--dir"])
        .arg(s.dir.path())
        .args([
            "--environment",
            "live",
            "--name",
            "auditor",
            "--scopes",
            "audit:read",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let live = String::from_utf8(out.stdout).unwrap();
    let live = live.lines().last().unwrap().to_owned();
    let events = all_events(&s, &live, "").await;
    assert_eq!(
        actions(&events),
        [("api_key.created".to_owned(), "command_line".to_owned())]
    );
    // The database itself refuses to change or delete an entry.
    let db = rusqlite::Connection::open(s.path("licentric.db")).unwrap();
    for sql in [
        "UPDATE audit_events SET action = 'nothing.happened'",
        "DELETE FROM audit_events",
    ] {
        let err = db.execute(sql, []).unwrap_err().to_string();
        assert!(err.contains("append-only"), "{sql}: {err}");
    }
    let count: i64 = db
        .query_row("SELECT COUNT(*) FROM audit_events", [], |r| r.get(0))
        .unwrap();
    assert!(count >= 4, "{count}");
}

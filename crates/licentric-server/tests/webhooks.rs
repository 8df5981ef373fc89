//! Webhook deliveries checked by a receiver written straight from the platform's documented
//! recipe: hex HMAC-SHA256 of the raw body with the secret, compared in constant time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac::{Hmac, KeyInit, Mac};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::sync::Notify;

use crate::harness::{Sandbox, fingerprint};

/// The documented check: expected = hex(HMAC-SHA256(secret, payload)); timing-safe compare.
fn verify_webhook_signature(payload: &[u8], signature: &str, secret: &str) -> bool {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(payload);
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    subtle::ConstantTimeEq::ct_eq(signature.as_bytes(), expected.as_bytes()).into()
}

#[derive(Default)]
struct Receiver {
    secret: Mutex<String>,
    /// Calls to fail before answering 200.
    fail_first: Mutex<u32>,
    attempts: Mutex<u32>,
    /// Events processed, by id: each must be handled once however often it arrives.
    processed: Mutex<HashMap<String, Value>>,
    bad_signatures: Mutex<u32>,
    arrived: Notify,
}

async fn receive(State(r): State<Arc<Receiver>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    *r.attempts.lock().unwrap() += 1;
    let signature = headers
        .get("X-Licentric-Signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let secret = r.secret.lock().unwrap().clone();
    if !verify_webhook_signature(&body, signature, &secret) {
        *r.bad_signatures.lock().unwrap() += 1;
        return StatusCode::UNAUTHORIZED;
    }
    {
        let mut fail = r.fail_first.lock().unwrap();
        if *fail > 0 {
            *fail -= 1;
            return StatusCode::INTERNAL_SERVER_ERROR;
        }
    }
    let event: Value = serde_json::from_slice(&body).unwrap();
    let id = headers
        .get("X-Licentric-Event-Id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        event["id"],
        id.as_str(),
        "header and body name the same event"
    );
    r.processed.lock().unwrap().entry(id).or_insert(event);
    r.arrived.notify_waiters();
    StatusCode::OK
}

async fn start_receiver(fail_first: u32) -> (Arc<Receiver>, String) {
    let receiver = Arc::new(Receiver::default());
    *receiver.fail_first.lock().unwrap() = fail_first;
    let app = axum::Router::new()
        .route("/hook", post(receive))
        .with_state(Arc::clone(&receiver));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (receiver, url)
}

/// Waits until the receiver has processed `n` events.
async fn wait_for(receiver: &Receiver, n: usize) {
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let notified = receiver.arrived.notified();
            if receiver.processed.lock().unwrap().len() >= n {
                return;
            }
            notified.await;
        }
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "only {} of {n} events arrived",
            receiver.processed.lock().unwrap().len()
        )
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_arrive_signed_and_a_receiver_failing_twice_gets_each_once() {
    let (receiver, url) = start_receiver(2).await;
    let s = Sandbox::start().await;
    let (status, body) = s
        .admin(Method::POST, "/webhooks", Some(json!({"url": url})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    *receiver.secret.lock().unwrap() = body["secret"].as_str().unwrap().to_owned();

    let (id, key) = s.licence(1, &[]).await; // license.created: fails twice, then delivered
    wait_for(&receiver, 1).await;
    assert_eq!(
        *receiver.attempts.lock().unwrap(),
        3,
        "two failures, then success"
    );

    let (_, activated) = s.activate(&key, &fingerprint(1), "n", None).await;
    s.admin(Method::POST, &format!("/licenses/{id}/suspend"), None)
        .await;
    s.admin(Method::POST, &format!("/licenses/{id}/reinstate"), None)
        .await;
    let machine = activated["machine_id"].as_str().unwrap();
    let (status, _) = s
        .call(
            Method::DELETE,
            &format!("/v1/machines/{machine}"),
            Some(&format!("License {key}")),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    s.admin(Method::POST, &format!("/licenses/{id}/revoke"), None)
        .await;
    wait_for(&receiver, 6).await;

    let processed = receiver.processed.lock().unwrap().clone();
    let mut types: Vec<&str> = processed
        .values()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    types.sort_unstable();
    assert_eq!(
        types,
        [
            "license.activated",
            "license.created",
            "license.reinstated",
            "license.revoked",
            "license.suspended",
            "machine.deactivated"
        ]
    );
    assert_eq!(
        *receiver.bad_signatures.lock().unwrap(),
        0,
        "every signature verified"
    );
    assert_eq!(
        *receiver.attempts.lock().unwrap(),
        8,
        "each event delivered once after the first one's retries"
    );
    for event in processed.values() {
        assert_eq!(event["environment"], "test");
        assert!(
            !event.to_string().contains(&key),
            "events never carry the key"
        );
    }
    let metrics = s
        .client
        .get(format!("{}/metrics", s.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("licentric_webhook_deliveries_total{outcome=\"retry\"} 2"),
        "{metrics}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_receiver_does_not_delay_the_api() {
    // A receiver that never answers within the request timeout.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let (socket, _) = listener.accept().await.unwrap();
            held.push(socket); // accept, never answer
        }
    });
    let s = Sandbox::start().await;
    s.admin(Method::POST, "/webhooks", Some(json!({"url": url})))
        .await;
    let (_, key) = s.licence(10, &[]).await;
    for n in 0..5 {
        let (status, _) = tokio::time::timeout(
            Duration::from_secs(2),
            s.activate(&key, &fingerprint(n), "n", None),
        )
        .await
        .expect("an activation waited for the webhook receiver");
        assert_eq!(status, StatusCode::CREATED);
    }
    s.stop().await;
}

#[tokio::test]
async fn webhook_urls_and_events_are_checked() {
    let s = Sandbox::start().await;
    for body in [
        json!({"url": "http://hooks.example.com/x"}),
        json!({"url": "ftp://127.0.0.1/x"}),
        json!({"url": "https://hooks.example.com/x", "events": ["license.exploded"]}),
        json!({"url": "https://hooks.example.com/x", "events": []}),
    ] {
        let (status, answer) = s.admin(Method::POST, "/webhooks", Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} → {answer}");
    }
    let (status, body) = s
        .admin(
            Method::POST,
            "/webhooks",
            Some(json!({"url": "https://hooks.example.com/x", "events": ["license.revoked"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(body["secret"].as_str().unwrap().starts_with("whsec_"));
    let id = body["webhook"]["id"].as_str().unwrap().to_owned();
    let (_, list) = s.admin(Method::GET, "/webhooks", None).await;
    assert!(
        !list.to_string().contains("whsec_"),
        "the secret is shown once, at creation"
    );
    let (status, _) = s
        .admin(Method::DELETE, &format!("/webhooks/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, list) = s.admin(Method::GET, "/webhooks", None).await;
    assert_eq!(list["webhooks"].as_array().unwrap().len(), 0);
    s.stop().await;
}

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
    // Deduplicate on the id inside the signed body; the header is a convenience, unsigned.
    let id = event["id"].as_str().unwrap().to_owned();
    assert_eq!(
        headers
            .get("X-Licentric-Event-Id")
            .unwrap()
            .to_str()
            .unwrap(),
        id,
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
        .bearer_auth(&s.admin_token)
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

/// The counter `licentric_webhook_deliveries_total{outcome}` as the server reports it.
async fn deliveries(s: &Sandbox, outcome: &str) -> u64 {
    let text = s
        .client
        .get(format!("{}/metrics", s.url))
        .bearer_auth(&s.admin_token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = format!("licentric_webhook_deliveries_total{{outcome=\"{outcome}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(line.as_str()))
        .map_or(0, |n| n.parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_into_the_vendors_own_network_are_refused_unless_allowed() {
    // A production server: private targets are refused when the webhook is made…
    let s = Sandbox::start_with(|c| c.webhooks.allow_private_targets = false).await;
    for url in [
        "https://10.0.0.5/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]:8443/hook",
        "https://[::ffff:192.168.0.1]/hook",
        "https://localhost/hook",
        "http://127.0.0.1:9/hook",
    ] {
        let (status, body) = s
            .admin(Method::POST, "/webhooks", Some(json!({"url": url})))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{url}: {body}");
    }
    let (status, body) = s
        .admin(
            Method::POST,
            "/webhooks",
            Some(json!({"url": "https://hooks.example.com/licentric"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    s.stop().await;

    // …and at delivery: a webhook made while the server allowed it (or a name that resolves
    // elsewhere later) is refused, once, and never reaches the receiver.
    let (receiver, url) = start_receiver(0).await;
    let url = url.replace("127.0.0.1", "localhost");
    let s = Sandbox::start().await;
    let (status, body) = s
        .admin(Method::POST, "/webhooks", Some(json!({"url": url})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    *receiver.secret.lock().unwrap() = body["secret"].as_str().unwrap().to_owned();
    s.licence(1, &[]).await;
    wait_for(&receiver, 1).await;
    let token = s.admin_token.clone();
    let dir = s.stop().await;
    let config_path = dir.path().join("server.toml");
    let config = std::fs::read_to_string(&config_path).unwrap().replace(
        "allow_private_targets = true",
        "allow_private_targets = false",
    );
    std::fs::write(&config_path, config).unwrap();
    let s = Sandbox::serve(dir, token).await;
    s.admin(
        Method::POST,
        "/licenses",
        Some(json!({"product_id": "acme-cad"})),
    )
    .await;
    tokio::time::timeout(Duration::from_secs(20), async {
        while deliveries(&s, "refused").await == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the delivery was never refused");
    assert_eq!(
        *receiver.attempts.lock().unwrap(),
        1,
        "nothing more arrived"
    );
    assert_eq!(deliveries(&s, "retry").await, 0, "a refusal is not retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_idempotency_records_and_finished_webhook_events_are_pruned() {
    let (receiver, url) = start_receiver(0).await;
    let s = Sandbox::start().await;
    let (_, body) = s
        .admin(Method::POST, "/webhooks", Some(json!({"url": url})))
        .await;
    *receiver.secret.lock().unwrap() = body["secret"].as_str().unwrap().to_owned();
    let (_, key) = s.licence(1, &[]).await;
    wait_for(&receiver, 1).await;
    let (status, _) = s
        .activate(&key, &fingerprint(1), "n", Some("retry-1"))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    wait_for(&receiver, 2).await;
    // One event whose delivery is still to come: it must survive any pruning.
    let (_, second) = s
        .admin(
            Method::POST,
            "/webhooks",
            Some(json!({"url": "http://127.0.0.1:9/never"})),
        )
        .await;
    assert!(second["webhook"]["id"].is_string(), "{second}");

    let store = licentric_server::store::Store::open(&s.path("licentric.db")).unwrap();
    // Counted beside the server, as an operator's sqlite3 would.
    let db = rusqlite::Connection::open(s.path("licentric.db")).unwrap();
    let count = |table: &str| -> i64 {
        db.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    };
    let retention = licentric_server::config::RetentionConfig::default();
    let now = licentric_server::clock::now_unix();
    // Within the windows nothing goes.
    let pruned = store
        .write_blocking(|tx| licentric_server::housekeeping::prune(tx, &retention, now))
        .unwrap();
    assert_eq!(pruned, licentric_server::housekeeping::Pruned::default());
    let (events, idempotency) = (count("webhook_events"), count("idempotency"));
    assert_eq!((events, idempotency), (2, 1));
    // Make a third event, queued for both webhooks: the unreachable one keeps it pending.
    s.admin(
        Method::POST,
        "/licenses",
        Some(json!({"product_id": "acme-cad"})),
    )
    .await;
    wait_for(&receiver, 3).await;
    // Eight days on: the finished events and the day-old idempotency record go; the pending
    // event and its deliveries stay.
    let later = now + 8 * 86_400;
    let pruned = store
        .write_blocking(|tx| licentric_server::housekeeping::prune(tx, &retention, later))
        .unwrap();
    assert_eq!(
        (
            pruned.idempotency,
            pruned.webhook_events,
            pruned.webhook_deliveries
        ),
        (1, 2, 2),
        "{pruned:?}"
    );
    assert_eq!(
        (count("webhook_events"), count("webhook_deliveries")),
        (1, 2)
    );
    // A replay after the window is a new request, answered as any activation of this
    // machine is: the same machine, no second seat.
    let (status, body) = s
        .activate(&key, &fingerprint(1), "n2", Some("retry-1"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// The example receiver (`examples/webhook-receiver.py`) against the real server: it takes a
/// real delivery, refuses a forged signature, and knows a replayed body for a duplicate even
/// when the replay carries another event-id header.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_receiver_deduplicates_on_the_signed_id() {
    use std::io::BufRead as _;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let s = Sandbox::start().await;
    let (_, body) = s
        .admin(
            Method::POST,
            "/webhooks",
            Some(json!({"url": format!("http://127.0.0.1:{port}/hook")})),
        )
        .await;
    let secret = body["secret"].as_str().unwrap().to_owned();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/webhook-receiver.py"
    );
    let mut child = std::process::Command::new("python3")
        .arg(script)
        .arg(port.to_string())
        .env("LICENTRIC_WEBHOOK_SECRET", &secret)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = lines_tx.send(line);
        }
    });
    let mut next_line = async || {
        tokio::time::timeout(Duration::from_secs(20), lines.recv())
            .await
            .expect("the receiver printed nothing")
            .expect("the receiver exited")
    };
    assert!(next_line().await.contains("waiting for webhooks"));

    s.licence(1, &[]).await; // license.created, delivered by the server
    let line = next_line().await;
    assert!(line.starts_with("signature ok  license.created"), "{line}");
    let event_id = line.split_whitespace().nth(3).unwrap().to_owned();

    // Replays of the stored, signed body: with a forged header, then with a bad signature.
    let db = rusqlite::Connection::open(s.path("licentric.db")).unwrap();
    let stored: String = db
        .query_row(
            "SELECT body FROM webhook_events WHERE id = ?1",
            [&event_id],
            |r| r.get(0),
        )
        .unwrap();
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(stored.as_bytes());
    let signature: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let post = |signature: String, header_id: &'static str| {
        reqwest::Client::new()
            .post(format!("http://127.0.0.1:{port}/hook"))
            .header("X-Licentric-Signature", signature)
            .header("X-Licentric-Event-Id", header_id)
            .body(stored.clone())
            .send()
    };
    let answer = post(signature, "evt_forged_new_id").await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let line = next_line().await;
    assert_eq!(line, format!("duplicate {event_id}: already handled"));
    let answer = post("00".repeat(32), "evt_other").await.unwrap();
    assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    assert!(next_line().await.contains("rejected"));
    let _ = child.kill();
    let _ = child.wait();
}

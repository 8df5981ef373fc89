use reqwest::{Method, StatusCode};

use crate::harness::{Sandbox, fingerprint};

#[tokio::test]
async fn guessing_keys_is_rate_limited_by_address() {
    let s = Sandbox::start_with(|c| {
        c.rate_limit.failed_auth_per_address_per_minute = 5;
        c.rate_limit.failed_auth_per_key_per_minute = 100;
    })
    .await;
    let (_, key) = s.licence(1, &[]).await;
    for n in 0..5 {
        let guess = format!("ACME-0000-0000-0000-{n:04}");
        let (status, _) = s.activate(&guess, &fingerprint(1), "n", None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "guess {n}");
    }
    let response = s
        .client
        .post(format!("{}/v1/activations", s.url))
        .header("Authorization", "License ACME-0000-0000-0000-0009")
        .json(&crate::harness::activation_body(&fingerprint(1), "n"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    // The limit holds for the right key too, from that address, until it refills.
    let (status, _) = s.activate(&key, &fingerprint(1), "n", None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);

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
        metrics.contains(
            "licentric_http_auth_failures_total{endpoint=\"POST /v1/activations\",status=\"401\"} 5"
        ),
        "{metrics}"
    );
    s.stop().await;
}

#[tokio::test]
async fn one_key_is_limited_whatever_the_address() {
    let s = Sandbox::start_with(|c| {
        c.rate_limit.failed_auth_per_address_per_minute = 1000;
        c.rate_limit.failed_auth_per_key_per_minute = 3;
    })
    .await;
    let (_, key) = s.licence(1, &[]).await;
    let target = "ACME-1111-2222-3333-4444";
    for _ in 0..3 {
        assert_eq!(
            s.activate(target, &fingerprint(1), "n", None).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        s.activate(target, &fingerprint(1), "n", None).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Another key from the same address is not affected.
    assert_eq!(
        s.activate(&key, &fingerprint(1), "n", None).await.0,
        StatusCode::CREATED
    );
    s.stop().await;
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused() {
    let s = Sandbox::start().await;
    let (_, key) = s.licence(1, &[]).await;
    let huge = "x".repeat(200 * 1024);
    let response = s
        .client
        .post(format!("{}/v1/activations", s.url))
        .header("Authorization", format!("License {key}"))
        .header("Content-Type", "application/json")
        .body(format!("{{\"fingerprint\":\"{huge}\"}}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "payload_too_large");
    s.stop().await;
}

#[tokio::test]
async fn health_and_metrics() {
    let s = Sandbox::start().await;
    let (status, body) = s.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("ok"))
    );
    let (status, _) = s
        .call(
            Method::GET,
            "/v1/admin/licenses",
            Some("Bearer lk_test_wrong"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let text = s
        .client
        .get(format!("{}/metrics", s.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("# TYPE licentric_http_auth_failures_total counter"));
    assert!(text.contains("licentric_http_auth_failures_total{endpoint=\"GET /v1/admin/licenses\",status=\"401\"} 1"), "{text}");
    assert!(
        text.contains("licentric_http_requests_total{endpoint=\"GET /healthz\",status=\"200\"} 1")
    );
    s.stop().await;
}

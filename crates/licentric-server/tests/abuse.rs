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
    // The guesser's address gets 429 for every failure now, but a valid key is still
    // answered from it (see the NAT test below).
    let (status, _) = s.activate(&key, &fingerprint(1), "n", None).await;
    assert_eq!(status, StatusCode::CREATED);

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
        metrics.contains(
            "licentric_http_auth_failures_total{endpoint=\"POST /v1/activations\",status=\"401\"} 5"
        ),
        "{metrics}"
    );
    s.stop().await;
}

/// An office behind one NAT: one of its machines floods the server with bad keys and a bad
/// admin token until the address is over its failure budget. Its colleagues' valid licence
/// keys and the vendor's admin key, from the same address, are still answered; the flood keeps
/// getting 429 with Retry-After; the metrics count it by limit.
#[tokio::test]
async fn failures_from_one_address_never_lock_out_valid_keys_or_the_admin() {
    let s = Sandbox::start_with(|c| {
        c.rate_limit.failed_auth_per_address_per_minute = 10;
        c.rate_limit.failed_auth_per_key_per_minute = 100;
    })
    .await;
    let (_, key) = s.licence(5, &[]).await;
    let mut limited = 0;
    for n in 0..30 {
        let guess = format!("ACME-0000-0000-0000-{n:04}");
        let (status, _) = s.activate(&guess, &fingerprint(1), "n", None).await;
        let (admin, _) = s
            .call(
                Method::GET,
                "/v1/admin/licenses",
                Some("Bearer lk_test_wrong"),
                None,
            )
            .await;
        assert!(
            [StatusCode::UNAUTHORIZED, StatusCode::TOO_MANY_REQUESTS].contains(&status)
                && [StatusCode::UNAUTHORIZED, StatusCode::TOO_MANY_REQUESTS].contains(&admin),
            "{status} {admin}"
        );
        limited += usize::from(status == StatusCode::TOO_MANY_REQUESTS);
    }
    assert!(limited >= 15, "the flood is limited: {limited} of 30");
    // The same address, valid credentials: answered.
    for machine in 2..5 {
        let (status, body) = s
            .activate(&key, &fingerprint(machine), &format!("n{machine}"), None)
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let admin = format!("Bearer {}", s.admin_token);
    let (status, _) = s
        .call(Method::GET, "/v1/admin/licenses", Some(&admin), None)
        .await;
    assert_eq!(status, StatusCode::OK, "the vendor's own key");
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
    assert!(
        text.contains("licentric_rate_limited_total{limit=\"address\"}"),
        "{text}"
    );
    s.stop().await;
}

/// Each valid credential has its own request budget: a licence key used too often (a broken
/// client in a loop) gets 429 with Retry-After, while another licence key and the admin are
/// not touched; the same for an API key.
#[tokio::test]
async fn each_valid_key_has_its_own_budget() {
    let s = Sandbox::start_with(|c| {
        c.rate_limit.requests_per_license_key_per_minute = 5;
        c.rate_limit.requests_per_api_key_per_minute = 8;
    })
    .await;
    let (_, busy) = s.licence(1, &[]).await;
    let (_, quiet) = s.licence(1, &[]).await;
    let mut codes = Vec::new();
    for _ in 0..7 {
        codes.push(s.activate(&busy, &fingerprint(1), "n", None).await.0);
    }
    assert!(codes[..5].iter().all(StatusCode::is_success), "{codes:?}");
    assert_eq!(codes[6], StatusCode::TOO_MANY_REQUESTS, "{codes:?}");
    let response = s
        .client
        .post(format!("{}/v1/activations", s.url))
        .header("Authorization", format!("License {busy}"))
        .json(&crate::harness::activation_body(&fingerprint(1), "n"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
    assert_eq!(
        s.activate(&quiet, &fingerprint(2), "n", None).await.0,
        StatusCode::CREATED,
        "another key has its own budget"
    );
    // The admin key: its budget, not the licence keys'.
    let admin = format!("Bearer {}", s.admin_token);
    let mut admin_codes = Vec::new();
    for _ in 0..10 {
        admin_codes.push(
            s.call(Method::GET, "/v1/admin/licenses", Some(&admin), None)
                .await
                .0,
        );
    }
    assert!(
        admin_codes.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{admin_codes:?}"
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
    // The metrics are for a key with their scope, not for anyone who asks.
    let (status, body) = s.call(Method::GET, "/metrics", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (_, reader) = s
        .admin(
            Method::POST,
            "/api-keys",
            Some(serde_json::json!({"name": "reader", "scopes": ["licenses:read"]})),
        )
        .await;
    let reader = format!("Bearer {}", reader["token"].as_str().unwrap());
    let (status, _) = s.call(Method::GET, "/metrics", Some(&reader), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
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
    assert!(text.contains("# TYPE licentric_http_auth_failures_total counter"));
    assert!(text.contains("licentric_http_auth_failures_total{endpoint=\"GET /v1/admin/licenses\",status=\"401\"} 1"), "{text}");
    assert!(
        text.contains(
            "licentric_http_auth_failures_total{endpoint=\"GET /metrics\",status=\"401\"} 1"
        ),
        "{text}"
    );
    assert!(
        text.contains("licentric_http_requests_total{endpoint=\"GET /healthz\",status=\"200\"} 1")
    );
    s.stop().await;
}

/// A raw TLS connection to the sandbox, trusting only its CA (to send what no HTTP client
/// would: half a request, or nothing).
async fn tls_to(s: &Sandbox) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    tls_with_alpn(s, b"http/1.1").await
}

/// [`tls_to`], offering the application protocol `alpn`.
async fn tls_with_alpn(
    s: &Sandbox,
    alpn: &[u8],
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(s.path("tls/ca.pem")).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let mut config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(s.addr()).await.unwrap();
    connector
        .connect("localhost".try_into().unwrap(), tcp)
        .await
        .unwrap()
}

/// Waits until the server closes `stream` (a read gives end-of-file or an error).
async fn closed_by_server(mut stream: impl tokio::io::AsyncRead + Unpin) {
    use tokio::io::AsyncReadExt as _;
    let mut buf = [0u8; 256];
    while let Ok(n) = stream.read(&mut buf).await {
        if n == 0 {
            return;
        }
    }
}

async fn metrics(s: &Sandbox) -> String {
    s.client
        .get(format!("{}/metrics", s.url))
        .bearer_auth(&s.admin_token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

fn counter(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in {text}"))
}

/// A body dribbled a byte at a time keeps its connection from going silent, so the idle limit
/// never ends it (nor an HTTP/2 stream of many on a busy connection): the body's own limit
/// does, with an answer. (The server would otherwise wait for the body's end, 100 s away.)
#[tokio::test]
async fn a_body_dribbled_a_byte_at_a_time_is_cut_off() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let s = Sandbox::start_with(|c| c.connections.body_read_timeout_ms = 500).await;
    let mut tls = tls_to(&s).await;
    tls.write_all(
        b"POST /v1/activations HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
          Content-Length: 1000\r\n\r\n",
    )
    .await
    .unwrap();
    let (mut read, mut write) = tokio::io::split(tls);
    let dribble = tokio::spawn(async move {
        for _ in 0..1000 {
            if write.write_all(b" ").await.is_err() || write.flush().await.is_err() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    });
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(std::time::Duration::from_secs(30), read.read(&mut answer))
        .await
        .expect("the body was waited for to its end")
        .unwrap();
    dribble.abort();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(
        answer.starts_with("HTTP/1.1 400") && answer.contains("did not arrive in time"),
        "{answer}"
    );
}

/// Slowloris, three ways: sockets that never start TLS, TLS connections that send half a
/// request's headers and stop, and TLS connections that send nothing at all. A normal client
/// is served while they hang on, and each of them is dropped by its own limit.
#[tokio::test]
async fn stalled_connections_are_dropped_and_others_are_served() {
    let s = Sandbox::start_with(|c| {
        c.connections.handshake_timeout_ms = 500;
        c.connections.header_read_timeout_ms = 500;
        c.connections.idle_timeout_seconds = 1;
    })
    .await;
    use tokio::io::AsyncWriteExt as _;
    let mut no_tls = Vec::new();
    for _ in 0..100 {
        no_tls.push(tokio::net::TcpStream::connect(s.addr()).await.unwrap());
    }
    let mut half = Vec::new();
    for _ in 0..30 {
        let mut tls = tls_to(&s).await;
        tls.write_all(b"POST /v1/activations HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
            .await
            .unwrap();
        tls.flush().await.unwrap();
        half.push(tls);
    }
    let mut silent = Vec::new();
    for _ in 0..30 {
        silent.push(tls_to(&s).await);
    }
    // Served while they hang on.
    let (status, body) = s.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("ok"))
    );
    // Each kind is closed by the server (no test clock: the limits are half a second and one
    // second; a limit missing would leave these waiting until the test runner's timeout).
    let all = no_tls
        .into_iter()
        .map(|t| tokio::spawn(closed_by_server(t)))
        .chain(half.into_iter().map(|t| tokio::spawn(closed_by_server(t))))
        .chain(
            silent
                .into_iter()
                .map(|t| tokio::spawn(closed_by_server(t))),
        );
    for closed in all.collect::<Vec<_>>() {
        tokio::time::timeout(std::time::Duration::from_secs(30), closed)
            .await
            .expect("a stalled connection was never closed")
            .unwrap();
    }
    let text = metrics(&s).await;
    assert!(
        counter(
            &text,
            "licentric_connections_timed_out_total{stage=\"handshake\"}"
        ) >= 100,
        "{text}"
    );
    assert!(
        counter(
            &text,
            "licentric_connections_timed_out_total{stage=\"idle\"}"
        ) >= 30,
        "the silent ones: {text}"
    );
    assert!(counter(&text, "licentric_connections_open") <= 2, "{text}");
    s.stop().await;
}

/// Bodies in memory are bounded per connection: a connection whose slow body holds all its
/// room keeps no other connection waiting — the room is its own, not the server's.
#[tokio::test]
async fn one_connections_slow_body_keeps_no_other_connection_waiting() {
    use tokio::io::AsyncWriteExt as _;
    let s = Sandbox::start_with(|c| {
        c.max_body_bytes = 4096;
        c.connections.max_body_bytes_per_connection = 4096;
        c.connections.body_wait_ms = 300;
    })
    .await;
    let (_, key) = s.licence(1, &[]).await;
    // A body that declares all its connection's room (4096 bytes) and sends ten of them.
    let mut slow = tls_to(&s).await;
    slow.write_all(
        b"POST /v1/activations HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
          Content-Length: 4096\r\n\r\n{\"finger",
    )
    .await
    .unwrap();
    slow.flush().await.unwrap();
    wait_until(&s, "licentric_request_body_bytes_in_flight", |n| n == 4096).await;
    let (status, body) = activate_on(&s.client, &s, &key).await;
    assert!(
        status != StatusCode::SERVICE_UNAVAILABLE && body["error"]["code"] != "server_busy",
        "another connection's body kept this one out: {status} {body}"
    );
    drop(slow);
    wait_until(&s, "licentric_request_body_bytes_in_flight", |n| n == 0).await;
    s.stop().await;
}

/// The streams of one HTTP/2 connection share its room: while one slow body holds it all, a
/// second body on the same connection waits, and past `body_wait_ms` is answered
/// `503 server_busy` with a `Retry-After` (which clients retry); another connection is served,
/// and once the slow body ends, so is the first connection again.
#[tokio::test]
async fn the_streams_of_one_connection_share_its_room() {
    let s = Sandbox::start_with(|c| {
        c.max_body_bytes = 4096;
        c.connections.max_body_bytes_per_connection = 4096;
        c.connections.body_wait_ms = 300;
    })
    .await;
    let (_, key) = s.licence(1, &[]).await;
    let one = crate::harness::client_trusting(&s.path("tls/ca.pem"));
    // A body of no declared length (the most a body may be: all the room), still coming.
    let (more, mut coming) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    let stream = futures_util::stream::poll_fn(move |cx| coming.poll_recv(cx));
    let slow = tokio::spawn(
        activation(&one, &s, &key)
            .body(reqwest::Body::wrap_stream(stream))
            .send(),
    );
    more.send(Ok(b"{".to_vec())).await.unwrap();
    wait_until(&s, "licentric_request_body_bytes_in_flight", |n| n == 4096).await;

    let busy = activation(&one, &s, &key)
        .body(made_up_machine())
        .send()
        .await
        .unwrap();
    assert_eq!(busy.version(), reqwest::Version::HTTP_2, "one connection");
    assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(busy.headers()["retry-after"], "1");
    let body: serde_json::Value = busy.json().await.unwrap();
    assert_eq!(body["error"]["code"], "server_busy");

    let other = crate::harness::client_trusting(&s.path("tls/ca.pem"));
    let (status, body) = activate_on(&other, &s, &key).await;
    assert_ne!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");

    drop(more);
    let ended = slow.await.unwrap().unwrap();
    assert_eq!(ended.status(), StatusCode::BAD_REQUEST, "a body cut short");
    wait_until(&s, "licentric_request_body_bytes_in_flight", |n| n == 0).await;
    let (status, body) = activate_on(&one, &s, &key).await;
    assert_ne!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "the room was given back: {body}"
    );
    s.stop().await;
}

/// An activation with `key`, by `client`, its body still to be given.
fn activation(client: &reqwest::Client, s: &Sandbox, key: &str) -> reqwest::RequestBuilder {
    client
        .post(format!("{}/v1/activations", s.url))
        .header("Authorization", format!("License {key}"))
        .header("Content-Type", "application/json")
}

/// An activation's body for a made-up machine.
fn made_up_machine() -> String {
    format!("{{\"fingerprint\":\"{}\"}}", "0".repeat(64))
}

/// An activation of a made-up machine with `key`, by `client`: its status and body.
async fn activate_on(
    client: &reqwest::Client,
    s: &Sandbox,
    key: &str,
) -> (StatusCode, serde_json::Value) {
    let answer = activation(client, s, key)
        .body(made_up_machine())
        .send()
        .await
        .unwrap();
    (answer.status(), answer.json().await.unwrap_or_default())
}

/// HTTP/2 clients are told how many requests they may have open on one connection (the
/// server's `SETTINGS_MAX_CONCURRENT_STREAMS`), the configured number.
#[tokio::test]
async fn http2_clients_are_told_the_streams_they_may_open() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let s = Sandbox::start_with(|c| c.connections.max_streams_per_connection = 7).await;
    let mut tls = tls_with_alpn(&s, b"h2").await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    tls.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .await
        .unwrap();
    // The server's first frame is its SETTINGS: 9 bytes of header, then 6 bytes a setting.
    let mut head = [0u8; 9];
    tls.read_exact(&mut head).await.unwrap();
    assert_eq!(head[3], 0x4, "a SETTINGS frame");
    let length = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
    let mut payload = vec![0u8; length];
    tls.read_exact(&mut payload).await.unwrap();
    let streams = payload.chunks_exact(6).find_map(|setting| {
        (setting[..2] == [0, 3]).then(|| u32::from_be_bytes(setting[2..].try_into().unwrap()))
    });
    assert_eq!(streams, Some(7), "SETTINGS {payload:?}");
    drop(tls);
    s.stop().await;
}

/// Waits until the metric `series` satisfies `ok`.
async fn wait_until(s: &Sandbox, series: &str, ok: impl Fn(u64) -> bool) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let text = metrics(s).await;
        if ok(counter(&text, series)) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{series}: {text}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Past the cap on open connections, a new client waits for a free slot instead of getting a
/// task and a socket of its own: with every slot held by a stalled socket, a request is served
/// only once the server has dropped one of them.
#[tokio::test]
async fn past_the_connection_cap_new_clients_wait_for_a_slot() {
    let s = Sandbox::start_with(|c| {
        c.connections.max_connections = 20;
        c.connections.handshake_timeout_ms = 300;
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..20 {
        held.push(tokio::net::TcpStream::connect(s.addr()).await.unwrap());
    }
    let text = metrics(&s).await;
    assert!(
        counter(
            &text,
            "licentric_connections_timed_out_total{stage=\"handshake\"}"
        ) >= 1,
        "served before any slot was freed: the cap did not hold\n{text}"
    );
    assert!(counter(&text, "licentric_connections_open") <= 20, "{text}");
    drop(held);
    s.stop().await;
}

/// A request head larger than the limit gets `431`, not a buffer that grows.
#[tokio::test]
async fn oversized_headers_get_431() {
    let s = Sandbox::start_with(|c| c.connections.max_header_bytes = 8192).await;
    let response = s
        .client
        .get(format!("{}/healthz", s.url))
        .header("X-Big", "a".repeat(20_000))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
    let (status, _) = s.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(status, StatusCode::OK, "and others are still served");
    s.stop().await;
}

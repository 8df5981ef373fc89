use licentric_core::request_file::ActivationRequestFile;
use licentric_core::{Expectations, Fingerprint, Verifier};
use licentric_proto::{Environment, LicenseStatus};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::harness::{Sandbox, fingerprint, statement_kind};

/// Verifies a licence file the way the companion does, with the server's published key.
fn verify(sandbox: &Sandbox, file: &str, fp: &str, nonce: &str) -> licentric_core::VerifiedLicense {
    let verifier = Verifier::new(vec![sandbox.trusted_key()]);
    let fingerprint = Fingerprint::parse(fp).unwrap();
    let expect = Expectations {
        product_id: "acme-cad",
        environment: Environment::Test,
        fingerprint: &fingerprint,
        nonce: Some(nonce),
    };
    verifier
        .verify(file, &expect, time::OffsetDateTime::now_utc())
        .unwrap()
}

#[tokio::test]
async fn activation_creates_then_finds_the_machine() {
    let s = Sandbox::start().await;
    let (licence_id, key) = s.licence(2, &["pro", "export-pdf"]).await;
    let fp = fingerprint(1);

    let (status, body) = s.activate(&key, &fp, "nonce-1", None).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let machine_id = body["machine_id"].as_str().unwrap().to_owned();
    let file = verify(&s, body["license_file"].as_str().unwrap(), &fp, "nonce-1");
    let p = file.payload();
    assert_eq!(
        (p.license_id.as_str(), p.machine_id.as_str(), p.status),
        (
            licence_id.as_str(),
            machine_id.as_str(),
            LicenseStatus::Active
        )
    );
    assert_eq!(p.entitlements, ["pro", "export-pdf"]);
    assert_eq!(p.max_machines, 2);
    assert_eq!(
        p.expires_at - p.issued_at,
        time::Duration::days(14),
        "default TTL"
    );

    // The same machine again: 200, the same machine id, a file with the new nonce.
    let (status, body) = s.activate(&key, &fp, "nonce-2", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["machine_id"], machine_id.as_str());
    verify(&s, body["license_file"].as_str().unwrap(), &fp, "nonce-2");
    // A key typed differently is the same key.
    let (status, _) = s
        .activate(&key.to_lowercase().replace('-', " "), &fp, "nonce-3", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    s.stop().await;
}

#[tokio::test]
async fn unknown_wrong_and_malformed_keys_get_one_uniform_401() {
    let s = Sandbox::start().await;
    let (_, key) = s.licence(1, &[]).await;
    let last = if key.ends_with('0') { '1' } else { '0' };
    let wrong = format!("{}{last}", &key[..key.len() - 1]);
    let mut answers = Vec::new();
    for presented in ["ACME-0000-0000-0000-0000", wrong.as_str(), "not a key", ""] {
        let (status, body) = s.activate(presented, &fingerprint(1), "n", None).await;
        answers.push((status, body));
    }
    let missing = s
        .call(
            Method::POST,
            "/v1/activations",
            None,
            Some(crate::harness::activation_body(&fingerprint(1), "n")),
        )
        .await;
    answers.push(missing);
    for (status, body) in &answers {
        assert_eq!(*status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(body, &answers[0].1, "every failure must look the same");
    }
    assert_eq!(answers[0].1["error"]["code"], "invalid_license_key");
    s.stop().await;
}

#[tokio::test]
async fn malformed_bodies_and_fingerprints() {
    let s = Sandbox::start().await;
    let (_, key) = s.licence(1, &[]).await;
    let auth = format!("License {key}");
    let (status, body) = s
        .call(
            Method::POST,
            "/v1/activations",
            Some(&auth),
            Some(json!({"fingerprint": "abc"})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    let (status, body) = s.activate(&key, "ABC", "n", None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("invalid_fingerprint")
        )
    );
    let (status, body) = s
        .activate(&key, &fingerprint(1).to_uppercase(), "n", None)
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("invalid_fingerprint")
        )
    );
    let (status, body) = s.activate(&key, &fingerprint(1), "", None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request")),
        "empty nonce"
    );
    let (status, body) = s.call(Method::GET, "/v1/nothing-here", None, None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    s.stop().await;
}

#[tokio::test]
async fn machine_limit_reached_says_how_many_and_deactivation_frees_a_seat() {
    let s = Sandbox::start().await;
    let (_, key) = s.licence(1, &[]).await;
    let (status, first) = s.activate(&key, &fingerprint(1), "a", None).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = s.activate(&key, &fingerprint(2), "b", None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "machine_limit_reached");
    assert_eq!(body["error"]["max_machines"], 1);

    let auth = format!("License {key}");
    let machine = first["machine_id"].as_str().unwrap();
    let (status, body) = s
        .call(
            Method::DELETE,
            &format!("/v1/machines/{machine}"),
            Some(&auth),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, body) = s
        .call(
            Method::DELETE,
            &format!("/v1/machines/{machine}"),
            Some(&auth),
            None,
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("machine_not_found")),
        "twice"
    );
    let (status, _) = s.activate(&key, &fingerprint(2), "c", None).await;
    assert_eq!(status, StatusCode::CREATED, "the seat was freed");
    s.stop().await;
}

#[tokio::test]
async fn checkout_renews_within_bounds_and_checks_the_machine() {
    let s = Sandbox::start_with(|c| c.max_ttl_seconds = 20 * 24 * 3600).await;
    let (_, key) = s.licence(1, &[]).await;
    let fp = fingerprint(1);
    let (_, body) = s.activate(&key, &fp, "a", None).await;
    let machine = body["machine_id"].as_str().unwrap().to_owned();
    let auth = format!("License {key}");
    let path = format!("/v1/machines/{machine}/checkout");

    let (status, body) = s
        .call(
            Method::POST,
            &path,
            Some(&auth),
            Some(json!({"fingerprint": fp, "nonce": "c1", "ttl_seconds": 3600})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let file = verify(&s, body["license_file"].as_str().unwrap(), &fp, "c1");
    assert_eq!(
        file.payload().expires_at - file.payload().issued_at,
        time::Duration::hours(1)
    );

    let (_, body) = s
        .call(
            Method::POST,
            &path,
            Some(&auth),
            Some(json!({"fingerprint": fp, "nonce": "c2", "ttl_seconds": 10_000_000})),
        )
        .await;
    let file = verify(&s, body["license_file"].as_str().unwrap(), &fp, "c2");
    assert_eq!(
        file.payload().expires_at - file.payload().issued_at,
        time::Duration::days(20),
        "capped at max_ttl_seconds"
    );

    let (_, body) = s
        .call(
            Method::POST,
            &path,
            Some(&auth),
            Some(json!({"fingerprint": fp, "nonce": "c3", "ttl_seconds": 1})),
        )
        .await;
    let file = verify(&s, body["license_file"].as_str().unwrap(), &fp, "c3");
    assert_eq!(
        file.payload().expires_at - file.payload().issued_at,
        time::Duration::minutes(1),
        "raised to min_ttl_seconds"
    );

    let (status, body) = s
        .call(
            Method::POST,
            &path,
            Some(&auth),
            Some(json!({"fingerprint": fingerprint(9), "nonce": "c4"})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("invalid_fingerprint")
        )
    );

    let (status, body) = s
        .call(
            Method::POST,
            "/v1/machines/mach_nope/checkout",
            Some(&auth),
            Some(json!({"fingerprint": fp, "nonce": "c5"})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("machine_not_found"))
    );
    assert_eq!(statement_kind(&s, &body, &fp, "c5"), "machine_not_found");

    // Deactivated elsewhere (by the vendor): the next checkout says so.
    let (status, _) = s
        .admin(Method::DELETE, &format!("/machines/{machine}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = s
        .call(
            Method::POST,
            &path,
            Some(&auth),
            Some(json!({"fingerprint": fp, "nonce": "c6"})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("machine_not_found"))
    );
    // Signed, for this request only: the companion acts on it; a replay of it would not pass.
    assert_eq!(statement_kind(&s, &body, &fp, "c6"), "machine_deactivated");
    let replayed = Verifier::new(vec![s.trusted_key()]).verify_statement(
        body["error"]["statement"].as_str().unwrap(),
        "acme-cad",
        Environment::Test,
        &Fingerprint::parse(&fp).unwrap(),
        "c7",
    );
    assert_eq!(replayed.unwrap_err().code(), "nonce_mismatch");
    s.stop().await;
}

#[tokio::test]
async fn suspended_revoked_and_expired_licences_answer_403_with_a_signed_file() {
    let s = Sandbox::start().await;
    let (id, key) = s.licence(2, &["pro"]).await;
    let fp = fingerprint(1);
    let (_, body) = s.activate(&key, &fp, "a", None).await;
    let machine = body["machine_id"].as_str().unwrap().to_owned();
    let auth = format!("License {key}");
    let checkout = format!("/v1/machines/{machine}/checkout");

    let cases = [
        ("suspend", "license_suspended", LicenseStatus::Suspended),
        ("reinstate", "", LicenseStatus::Active),
        ("revoke", "license_revoked", LicenseStatus::Revoked),
    ];
    for (i, (action, code, status)) in cases.into_iter().enumerate() {
        let (st, body) = s
            .admin(Method::POST, &format!("/licenses/{id}/{action}"), None)
            .await;
        assert_eq!(st, StatusCode::OK, "{action}: {body}");
        let nonce = format!("n{i}");
        let (st, body) = s
            .call(
                Method::POST,
                &checkout,
                Some(&auth),
                Some(json!({"fingerprint": fp, "nonce": nonce})),
            )
            .await;
        if code.is_empty() {
            assert_eq!(st, StatusCode::OK, "reinstated: {body}");
            continue;
        }
        assert_eq!(
            (st, body["error"]["code"].as_str()),
            (StatusCode::FORBIDDEN, Some(code))
        );
        let file = verify(
            &s,
            body["error"]["license_file"].as_str().unwrap(),
            &fp,
            &nonce,
        );
        assert_eq!(
            file.payload().status,
            status,
            "the signed file states the status"
        );
        assert_eq!(file.payload().machine_id, machine);
        // Activation of a new machine is refused the same way.
        let (st, body) = s.activate(&key, &fingerprint(2), "x", None).await;
        assert_eq!(
            (st, body["error"]["code"].as_str()),
            (StatusCode::FORBIDDEN, Some(code))
        );
    }
    let (st, _) = s
        .admin(Method::POST, &format!("/licenses/{id}/reinstate"), None)
        .await;
    assert_eq!(st, StatusCode::CONFLICT, "revoked is final");

    // An expired licence.
    let (id2, key2) = s.licence(1, &[]).await;
    let (st, _) = s
        .admin(
            Method::PATCH,
            &format!("/licenses/{id2}"),
            Some(json!({"expires_at": "2020-01-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (st, body) = s.activate(&key2, &fp, "e", None).await;
    assert_eq!(
        (st, body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("license_expired"))
    );
    let file = verify(
        &s,
        body["error"]["license_file"].as_str().unwrap(),
        &fp,
        "e",
    );
    assert_eq!(file.payload().status, LicenseStatus::Expired);
    s.stop().await;
}

#[tokio::test]
async fn offline_activation_from_a_request_file() {
    let s = Sandbox::start().await;
    let (_, key) = s.licence(1, &["pro"]).await;
    let fp = fingerprint(7);
    let request = ActivationRequestFile {
        v: 1,
        product_id: "acme-cad".into(),
        environment: Environment::Test,
        fingerprint: fp.clone(),
        platform: "linux".into(),
        hostname: "air-gapped-lab".into(),
        nonce: "offline-nonce-1".into(),
        created_at: time::OffsetDateTime::now_utc(),
        components: Vec::new(),
        runs_in: None,
    };
    let auth = format!("License {key}");
    let (status, body) = s
        .call(
            Method::POST,
            "/v1/offline-activations",
            Some(&auth),
            Some(json!({"request": request.to_armored().unwrap()})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let file = verify(
        &s,
        body["license_file"].as_str().unwrap(),
        &fp,
        "offline-nonce-1",
    );
    assert_eq!(file.payload().entitlements, ["pro"]);

    let mut other = request.clone();
    other.environment = Environment::Live;
    let (status, body) = s
        .call(
            Method::POST,
            "/v1/offline-activations",
            Some(&auth),
            Some(json!({"request": other.to_armored().unwrap()})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("invalid_activation_request")
        )
    );
    let (status, body) = s
        .call(
            Method::POST,
            "/v1/offline-activations",
            Some(&auth),
            Some(json!({"request": "garbage"})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("invalid_activation_request")
        )
    );
    s.stop().await;
}

/// Check on use: a machine in use asks, cheaply, whether its licence stands — a signed
/// statement bound to its nonce, no new file; a suspension or a deactivation answers as a
/// checkout would. The product's check interval travels in the signed licence file.
#[tokio::test]
async fn validation_states_a_standing_machine_and_refuses_as_checkout_does() {
    let s = Sandbox::start().await;
    let (id, key) = s.licence(1, &["pro"]).await;
    let fp = fingerprint(1);
    let (_, body) = s.activate(&key, &fp, "a", None).await;
    let file = verify(&s, body["license_file"].as_str().unwrap(), &fp, "a");
    assert_eq!(
        file.payload().check_interval,
        Some(3600),
        "the product's default"
    );
    let machine = body["machine_id"].as_str().unwrap().to_owned();
    let auth = format!("License {key}");
    let path = format!("/v1/machines/{machine}/validate");
    let validate = |nonce: &'static str| {
        s.call(
            Method::POST,
            &path,
            Some(&auth),
            Some(json!({"fingerprint": fp, "nonce": nonce})),
        )
    };

    let (status, body) = validate("v1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let verifier = Verifier::new(vec![s.trusted_key()]);
    let statement = verifier
        .verify_statement(
            body["statement"].as_str().unwrap(),
            "acme-cad",
            Environment::Test,
            &Fingerprint::parse(&fp).unwrap(),
            "v1",
        )
        .unwrap();
    assert_eq!(statement.payload().kind.code(), "machine_active");
    assert!(body.get("license_file").is_none(), "no new file: {body}");

    s.admin(Method::POST, &format!("/licenses/{id}/suspend"), None)
        .await;
    let (status, body) = validate("v2").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let file = verify(
        &s,
        body["error"]["license_file"].as_str().unwrap(),
        &fp,
        "v2",
    );
    assert_eq!(file.payload().status, LicenseStatus::Suspended);

    s.admin(Method::DELETE, &format!("/machines/{machine}"), None)
        .await;
    let (status, body) = validate("v3").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(statement_kind(&s, &body, &fp, "v3"), "machine_deactivated");
    s.stop().await;
}

/// A client that sends a body the endpoint has no use for (some HTTP libraries send one with
/// a `DELETE`) gets the answer, not a reset stream: the server reads the body before it
/// answers. The upload is slowed (curl sends a second's worth at once, then waits) so that,
/// without that, the answer always comes first.
#[tokio::test]
async fn a_body_the_endpoint_does_not_need_is_read_before_the_answer() {
    let s = Sandbox::start().await;
    let (_, key) = s.licence(2, &["pro"]).await;
    let (_, body) = s.activate(&key, &fingerprint(1), "nonce-1", None).await;
    let machine = body["machine_id"].as_str().unwrap().to_owned();
    let ca = s.dir.path().join("tls/ca.pem");
    let url = s.url.clone();
    let delete = move |key: String| {
        let (ca, url, machine) = (ca.clone(), url.clone(), machine.clone());
        tokio::task::spawn_blocking(move || {
            std::process::Command::new("curl")
                .args(["-sS", "--http2", "-X", "DELETE", "--cacert"])
                .arg(&ca)
                .args(["-H", &format!("Authorization: License {key}")])
                .args(["-H", "Content-Type: application/json"])
                .args([
                    "--data-binary",
                    &format!("{{\"pad\":\"{}\"}}", "x".repeat(2_000)),
                ])
                .args([
                    "--limit-rate",
                    "1k",
                    "-o",
                    "/dev/null",
                    "-w",
                    "%{http_code}",
                ])
                .arg(format!("{url}/v1/machines/{machine}"))
                .output()
                .unwrap()
        })
    };
    for (key, expected) in [("ACME-NOT-A-KEY".to_owned(), "401"), (key, "204")] {
        let out = delete(key).await.unwrap();
        assert!(
            out.status.success() && String::from_utf8_lossy(&out.stdout) == expected,
            "expected {expected}, curl said {} {} {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

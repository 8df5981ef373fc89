use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::harness::{Sandbox, fingerprint};

#[tokio::test]
async fn scopes_are_enforced() {
    let s = Sandbox::start().await;
    let (id, _) = s.licence(1, &[]).await;
    let (status, body) = s
        .admin(
            Method::POST,
            "/api-keys",
            Some(json!({"name": "reader", "scopes": ["licenses:read"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let token = body["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("lk_test_"));
    assert_eq!(body["api_key"]["prefix"].as_str().unwrap(), &token[..12]);
    let reader = format!("Bearer {token}");

    let (status, _) = s
        .call(
            Method::GET,
            &format!("/v1/admin/licenses/{id}"),
            Some(&reader),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    for (method, path) in [
        (Method::POST, format!("/v1/admin/licenses/{id}/suspend")),
        (Method::GET, format!("/v1/admin/licenses/{id}/machines")),
        (Method::GET, format!("/v1/admin/licenses/{id}/key")),
        (Method::GET, "/v1/admin/webhooks".to_owned()),
        (Method::GET, "/v1/admin/api-keys".to_owned()),
    ] {
        let (status, body) = s.call(method.clone(), &path, Some(&reader), None).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("forbidden")),
            "{method} {path}"
        );
    }
    // A key cannot hand out more than it has.
    let (status, body) = s
        .admin(
            Method::POST,
            "/api-keys",
            Some(json!({"name": "x", "scopes": ["nonsense"]})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // Revoked keys stop working.
    let key_id = s.admin(Method::GET, "/api-keys", None).await.1["api_keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "reader")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = s
        .admin(Method::DELETE, &format!("/api-keys/{key_id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = s
        .call(
            Method::GET,
            &format!("/v1/admin/licenses/{id}"),
            Some(&reader),
            None,
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthorized"))
    );
    for bad in ["Bearer lk_test_nope", "Bearer something", "Basic abc"] {
        let (status, _) = s
            .call(Method::GET, "/v1/admin/licenses", Some(bad), None)
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{bad}");
    }
    let (status, _) = s.call(Method::GET, "/v1/admin/licenses", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    s.stop().await;
}

#[tokio::test]
async fn a_narrow_key_cannot_grant_what_it_lacks() {
    let s = Sandbox::start().await;
    let (_, body) = s
        .admin(
            Method::POST,
            "/api-keys",
            Some(json!({"name": "keys only", "scopes": ["api_keys:write"]})),
        )
        .await;
    let narrow = format!("Bearer {}", body["token"].as_str().unwrap());
    let (status, body) = s
        .call(
            Method::POST,
            "/v1/admin/api-keys",
            Some(&narrow),
            Some(json!({"name": "escalate", "scopes": ["licenses:write"]})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
    s.stop().await;
}

#[tokio::test]
async fn test_and_live_never_see_each_other() {
    let s = Sandbox::start().await;
    let (test_licence, test_key) = s.licence(1, &[]).await;
    // A live key, made the way an operator makes the first one: straight in the database.
    let live_token = {
        let config = licentric_server::config::ServerConfig::load(s.dir.path()).unwrap();
        let data_key = licentric_server::init::load_data_key(&s.path("keys/data.key")).unwrap();
        let store = licentric_server::store::Store::open(
            &licentric_server::config::ServerConfig::resolve(s.dir.path(), &config.database),
        )
        .unwrap();
        let scopes: Vec<String> = licentric_server::apikeys::SCOPES
            .iter()
            .map(|(n, _)| (*n).to_owned())
            .collect();
        store
            .write_blocking(|tx| {
                let by = licentric_server::audit::Actor::command_line();
                licentric_server::apikeys::create(
                    tx,
                    &data_key,
                    licentric_proto::Environment::Live,
                    "ops",
                    &scopes,
                    &by,
                    0,
                )
            })
            .unwrap()
            .1
    };
    assert!(live_token.starts_with("lk_live_"));
    let live = format!("Bearer {live_token}");

    let (status, _) = s
        .call(
            Method::GET,
            &format!("/v1/admin/licenses/{test_licence}"),
            Some(&live),
            None,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a live key must not see a test licence"
    );
    let (_, list) = s
        .call(Method::GET, "/v1/admin/licenses", Some(&live), None)
        .await;
    assert_eq!(list["licenses"].as_array().unwrap().len(), 0);
    let (_, products) = s
        .call(Method::GET, "/v1/admin/products", Some(&live), None)
        .await;
    assert_eq!(
        products["products"].as_array().unwrap().len(),
        0,
        "products are per environment"
    );
    let (status, _) = s
        .call(
            Method::POST,
            &format!("/v1/admin/licenses/{test_licence}/revoke"),
            Some(&live),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The live side makes its own product and licence, which the test key cannot see.
    let (status, _) = s
        .call(
            Method::POST,
            "/v1/admin/products",
            Some(&live),
            Some(json!({"id": "acme-cad", "name": "Acme CAD", "key_prefix": "ACME"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, body) = s
        .call(
            Method::POST,
            "/v1/admin/licenses",
            Some(&live),
            Some(json!({"product_id": "acme-cad"})),
        )
        .await;
    let live_licence = body["license"]["id"].as_str().unwrap().to_owned();
    let live_key = body["key"].as_str().unwrap().to_owned();
    let (status, _) = s
        .admin(Method::GET, &format!("/licenses/{live_licence}"), None)
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a test key must not see a live licence"
    );

    // Files say which environment they are for.
    let (_, body) = s.activate(&live_key, &fingerprint(1), "n", None).await;
    assert!(body["license_file"].as_str().unwrap().len() > 100);
    let verifier = licentric_core::Verifier::new(vec![s.trusted_key()]);
    let fp = licentric_core::Fingerprint::parse(&fingerprint(1)).unwrap();
    let as_test_app = licentric_core::Expectations {
        product_id: "acme-cad",
        environment: licentric_proto::Environment::Test,
        fingerprint: &fp,
        nonce: Some("n"),
    };
    let err = verifier
        .verify(
            body["license_file"].as_str().unwrap(),
            &as_test_app,
            time::OffsetDateTime::now_utc(),
        )
        .unwrap_err();
    assert_eq!(err.code(), "environment_mismatch");
    let (status, _) = s.activate(&test_key, &fingerprint(1), "n", None).await;
    assert_eq!(status, StatusCode::CREATED);

    // A seat of a test floating licence: a live key cannot free it, the test key can.
    let (status, body) = s
        .admin(
            Method::POST,
            "/products",
            Some(json!({"id": "float", "name": "Float", "key_prefix": "FLOAT", "seat_model": "floating"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, body) = s
        .admin(
            Method::POST,
            "/licenses",
            Some(json!({"product_id": "float", "max_machines": 1})),
        )
        .await;
    let float_key = body["key"].as_str().unwrap().to_owned();
    let (status, body) = s
        .call(
            Method::POST,
            "/v1/leases",
            Some(&format!("License {float_key}")),
            Some(json!({"fingerprint": fingerprint(2), "nonce": "l1"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let lease = body["lease_id"].as_str().unwrap().to_owned();
    let path = format!("/v1/admin/leases/{lease}");
    let (status, _) = s.call(Method::DELETE, &path, Some(&live), None).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a live key must not free a test seat"
    );
    let (status, body) = s
        .call(
            Method::POST,
            "/v1/leases",
            Some(&format!("License {float_key}")),
            Some(json!({"fingerprint": fingerprint(3), "nonce": "l2"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "still held: {body}");
    let (status, _) = s
        .admin(Method::DELETE, &format!("/leases/{lease}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = s
        .call(
            Method::POST,
            "/v1/leases",
            Some(&format!("License {float_key}")),
            Some(json!({"fingerprint": fingerprint(3), "nonce": "l3"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "freed by the vendor: {body}");
    s.stop().await;
}

#[tokio::test]
async fn licence_management_round_trip() {
    let s = Sandbox::start().await;
    let (id, key) = s.licence(1, &["pro"]).await;
    let (status, body) = s
        .admin(Method::GET, &format!("/licenses/{id}/key"), None)
        .await;
    assert_eq!(
        (status, body["key"].as_str()),
        (StatusCode::OK, Some(key.as_str())),
        "the encrypted copy decrypts"
    );
    let (_, body) = s.admin(Method::GET, &format!("/licenses/{id}"), None).await;
    assert_eq!(
        body["license"]["key_hint"],
        format!("ACME-****-****-****-{}", &key[key.len() - 4..])
    );
    assert!(!body.to_string().contains(&key), "reads never show the key");

    let (status, body) = s
        .admin(Method::PATCH, &format!("/licenses/{id}"), Some(json!({"max_machines": 3, "entitlements": ["pro", "cloud"], "expires_at": "2099-01-01T00:00:00Z"})))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["license"]["max_machines"], 3);
    assert_eq!(body["license"]["entitlements"], json!(["pro", "cloud"]));
    assert_eq!(body["license"]["expires_at"], "2099-01-01T00:00:00Z");
    let (_, body) = s
        .admin(
            Method::PATCH,
            &format!("/licenses/{id}"),
            Some(json!({"expires_at": null})),
        )
        .await;
    assert_eq!(
        body["license"]["expires_at"],
        serde_json::Value::Null,
        "null clears the expiry"
    );
    let (status, _) = s
        .admin(
            Method::PATCH,
            &format!("/licenses/{id}"),
            Some(json!({"max_machines": 0})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = s
        .admin(
            Method::PATCH,
            &format!("/licenses/{id}"),
            Some(json!({"colour": "red"})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "unknown fields are refused"
    );
    let (status, _) = s
        .admin(
            Method::PATCH,
            "/licenses/lic_missing",
            Some(json!({"max_machines": 2})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, _) = s.activate(&key, &fingerprint(1), "a", None).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, body) = s
        .admin(Method::GET, "/licenses?product_id=acme-cad", None)
        .await;
    let listed = &body["licenses"].as_array().unwrap()[0];
    assert_eq!(
        (listed["id"].as_str(), listed["machines_active"].as_u64()),
        (Some(id.as_str()), Some(1))
    );
    let (status, body) = s
        .admin(
            Method::POST,
            "/licenses",
            Some(json!({"product_id": "no-such-product"})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (status, _) = s
        .admin(
            Method::POST,
            "/products",
            Some(json!({"id": "acme-cad", "name": "Again", "key_prefix": "ACME"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = s
        .admin(
            Method::POST,
            "/products",
            Some(json!({"id": "Bad Id", "name": "x", "key_prefix": "ACME"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    s.stop().await;
}

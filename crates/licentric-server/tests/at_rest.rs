use reqwest::Method;
use serde_json::json;

use crate::harness::{Sandbox, fingerprint};

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn no_raw_secret_is_anywhere_in_the_database_files() {
    let s = Sandbox::start().await;
    let (_, key) = s.licence(2, &["pro"]).await;
    let (_, body) = s
        .admin(
            Method::POST,
            "/api-keys",
            Some(json!({"name": "ci", "scopes": ["licenses:read"]})),
        )
        .await;
    let token = body["token"].as_str().unwrap().to_owned();
    let (_, body) = s
        .admin(
            Method::POST,
            "/webhooks",
            Some(json!({"url": "https://hooks.example.com/x"})),
        )
        .await;
    let secret = body["secret"].as_str().unwrap().to_owned();
    let (status, _) = s.activate(&key, &fingerprint(1), "n", Some("k")).await;
    assert_eq!(status, reqwest::StatusCode::CREATED);
    let admin = s.admin_token.clone();
    let dir = s.stop().await;

    let secrets = [
        key.clone(),
        key.replace('-', ""),
        key.to_lowercase(),
        token,
        secret,
        admin,
    ];
    let mut scanned = 0;
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.starts_with("licentric.db") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        scanned += bytes.len();
        for secret in &secrets {
            assert!(
                !contains(&bytes, secret.as_bytes()),
                "{name} contains a raw secret ({}…)",
                &secret[..8]
            );
        }
    }
    assert!(
        scanned > 10_000,
        "the database files were not found or are empty ({scanned} bytes)"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        for file in [
            "keys/signing.key",
            "keys/data.key",
            "tls/ca.key",
            "tls/server.key",
            "licentric.db",
        ] {
            let mode = std::fs::metadata(dir.path().join(file))
                .unwrap()
                .permissions()
                .mode()
                & 0o777;
            assert_eq!(mode, 0o600, "{file} must be readable by its owner only");
        }
    }
}

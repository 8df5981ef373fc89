//! Rotating the signing key while the server runs: `keys new` publishes a next key,
//! `keys rotate` makes new files use it at once, old files still verify with the old key,
//! `GET /v1/keys` lists what companions must trust, `keys retire` ends an old key.

use std::process::Command;

use licentric_core::{Expectations, Fingerprint, TrustedKey, Verifier};
use licentric_proto::Environment;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{Sandbox, fingerprint};

const BIN: &str = env!("CARGO_BIN_EXE_licentric-server");

/// Runs `licentric-server keys …` on the sandbox's folder: (success, stdout, stderr).
fn keys(s: &Sandbox, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN)
        .args(["keys", "--dir"])
        .arg(s.dir.path())
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The (status, kid) pairs `GET /v1/keys` publishes.
async fn published(s: &Sandbox) -> Vec<(String, String)> {
    let (status, body) = s.call(Method::GET, "/v1/keys", None, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["status"].as_str().unwrap().to_owned(),
                k["kid"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn verifies(keys: &[&TrustedKey], file: &str, fp: &str, nonce: &str) -> Result<(), String> {
    let verifier = Verifier::new(keys.iter().map(|k| (*k).clone()).collect());
    let fp = Fingerprint::parse(fp).unwrap();
    let expect = Expectations {
        product_id: "acme-cad",
        environment: Environment::Test,
        fingerprint: &fp,
        nonce: Some(nonce),
    };
    verifier
        .verify(file, &expect, time::OffsetDateTime::now_utc())
        .map(|_| ())
        .map_err(|e| e.code().to_owned())
}

fn file_of(body: &Value) -> &str {
    body["license_file"].as_str().unwrap()
}

#[tokio::test]
async fn a_rotation_signs_new_files_at_once_and_old_files_keep_verifying() {
    let s = Sandbox::start().await;
    let (_, key) = s.licence(2, &[]).await;
    let old = s.trusted_key();
    let old_kid = old.kid().to_string();
    let (a, b) = (fingerprint(1), fingerprint(2));
    let (status, body) = s.activate(&key, &a, "a1", None).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let machine_a = body["machine_id"].as_str().unwrap().to_owned();
    let file_before = file_of(&body).to_owned();
    assert_eq!(published(&s).await, [("current".into(), old_kid.clone())]);

    // A next key is published but signs nothing yet.
    let (ok, out, err) = keys(&s, &["new"]);
    assert!(ok, "{out}{err}");
    let fields: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(fields[0], "next", "{out}");
    let (new_kid, new) = (
        fields[1].to_owned(),
        TrustedKey::from_hex(fields[2]).unwrap(),
    );
    assert_eq!(new.kid().to_string(), new_kid);
    assert_eq!(
        published(&s).await,
        [
            ("next".into(), new_kid.clone()),
            ("current".into(), old_kid.clone())
        ]
    );
    let (_, body) = s.activate(&key, &b, "b1", None).await;
    verifies(&[&old], file_of(&body), &b, "b1").unwrap();

    // Rotated while the server runs: the very next file is on the new key.
    let (ok, out, err) = keys(&s, &["rotate", "--to", &new_kid]);
    assert!(ok, "{out}{err}");
    let checkout = format!("/v1/machines/{machine_a}/checkout");
    let (status, body) = s
        .call(
            Method::POST,
            &checkout,
            Some(&format!("License {key}")),
            Some(json!({"fingerprint": a, "nonce": "a2"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    verifies(&[&new], file_of(&body), &a, "a2").unwrap();
    assert_eq!(
        verifies(&[&old], file_of(&body), &a, "a2"),
        Err("unknown_key_id".into()),
        "a companion that never got the new key refuses the new file"
    );
    // The file signed before the rotation still verifies with the keys a companion holds.
    verifies(&[&old, &new], &file_before, &a, "a1").unwrap();
    assert_eq!(
        published(&s).await,
        [
            ("current".into(), new_kid.clone()),
            ("previous".into(), old_kid.clone())
        ]
    );

    // The current key cannot be retired; the previous one can, and leaves the list.
    let (ok, out, err) = keys(&s, &["retire", &new_kid]);
    assert!(!ok, "{out}");
    assert!(err.contains("is the current signing key"), "{err}");
    let (ok, out, err) = keys(&s, &["retire", &old_kid]);
    assert!(ok, "{out}{err}");
    assert_eq!(published(&s).await, [("current".into(), new_kid.clone())]);
    let (ok, _, err) = keys(&s, &["rotate", "--to", &old_kid]);
    assert!(!ok && err.contains("not a next key"), "{err}");
    // `keys list` still shows the retired key, for the record.
    let (ok, out, _) = keys(&s, &["list"]);
    assert!(
        ok && out.contains("retired") && out.contains(&old_kid),
        "{out}"
    );
}

#[tokio::test]
async fn a_rotation_without_a_next_key_makes_one_and_survives_a_restart() {
    let s = Sandbox::start().await;
    let (_, key) = s.licence(1, &[]).await;
    let (ok, out, err) = keys(&s, &["rotate"]);
    assert!(ok, "{out}{err}");
    let fields: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(fields[0], "current", "{out}");
    let new = TrustedKey::from_hex(fields[2]).unwrap();
    // After a restart, the database's current key signs, not the first key's file.
    let token = s.admin_token.clone();
    let s = Sandbox::serve(s.stop().await, token).await;
    let fp = fingerprint(1);
    let (status, body) = s.activate(&key, &fp, "n", None).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    verifies(&[&new], file_of(&body), &fp, "n").unwrap();
}

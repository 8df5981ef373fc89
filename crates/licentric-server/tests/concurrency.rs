use std::collections::HashSet;

use reqwest::{Method, StatusCode};

use crate::harness::{Sandbox, fingerprint};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_activation_replayed_20_times_at_once_makes_one_machine() {
    let s = std::sync::Arc::new(Sandbox::start().await);
    let (id, key) = s.licence(5, &[]).await;
    let fp = fingerprint(1);
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (s, key, fp) = (std::sync::Arc::clone(&s), key.clone(), fp.clone());
            tokio::spawn(
                async move { s.activate(&key, &fp, "same-nonce", Some("attempt-1")).await },
            )
        })
        .collect();
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    let bodies: HashSet<String> = answers.iter().map(|(_, b)| b.to_string()).collect();
    assert_eq!(
        bodies.len(),
        1,
        "every replay must get the first answer, byte for byte"
    );
    assert!(
        answers.iter().all(|(st, _)| *st == StatusCode::CREATED),
        "{:?}",
        answers.iter().map(|a| a.0).collect::<Vec<_>>()
    );
    let (_, machines) = s
        .admin(Method::GET, &format!("/licenses/{id}/machines"), None)
        .await;
    assert_eq!(
        machines["machines"].as_array().unwrap().len(),
        1,
        "{machines}"
    );

    // The same key with another body is refused, not replayed.
    let (status, body) = s
        .activate(&key, &fingerprint(2), "other", Some("attempt-1"))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("idempotency_key_reused")
        )
    );
    std::sync::Arc::into_inner(s).unwrap().stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_activations_on_a_two_seat_licence_make_exactly_two_machines() {
    let s = std::sync::Arc::new(Sandbox::start().await);
    let (id, key) = s.licence(2, &[]).await;
    let tasks: Vec<_> = (0..16)
        .map(|n| {
            let (s, key) = (std::sync::Arc::clone(&s), key.clone());
            tokio::spawn(async move {
                s.activate(&key, &fingerprint(100 + n), &format!("n{n}"), None)
                    .await
                    .0
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CREATED)
            .count(),
        2,
        "{statuses:?}"
    );
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CONFLICT)
            .count(),
        14,
        "{statuses:?}"
    );
    let (_, machines) = s
        .admin(Method::GET, &format!("/licenses/{id}/machines"), None)
        .await;
    assert_eq!(machines["machines"].as_array().unwrap().len(), 2);
    std::sync::Arc::into_inner(s).unwrap().stop().await;
}

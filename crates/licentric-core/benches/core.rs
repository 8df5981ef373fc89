//! Benchmarks of licentric-core, printed as figures and ratios (not pass/fail):
//!
//! - licence-file verification (every check) against a bare `ed25519-dalek` `verify_strict` of
//!   the same signed bytes, measured in the same run — goal under 100 µs;
//! - the fingerprint derivation (reading the machine id is measured by
//!   `licentric-platform`'s `identity` benchmark);
//! - licence-key parsing.
//!
//! `cargo bench -p licentric-core`; `LICENTRIC_BENCH_QUICK=1` for a short run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use ed25519_dalek::{Signature, SigningKey};
use licentric_core::license_file::{LicensePayload, SIGNING_CONTEXT};
use licentric_core::{Expectations, KeyPrefix, LicenseKey, LicenseSigner, MachineId, Verifier};
use licentric_proto::{Environment, LicenseStatus};

/// Median time per call over several timed batches.
fn measure(mut f: impl FnMut()) -> Duration {
    let quick = std::env::var_os("LICENTRIC_BENCH_QUICK").is_some();
    let batch_time = if quick {
        Duration::from_millis(20)
    } else {
        Duration::from_millis(200)
    };
    // Size a batch to take about `batch_time`.
    let mut per_batch = 1u32;
    loop {
        let start = Instant::now();
        for _ in 0..per_batch {
            f();
        }
        if start.elapsed() >= batch_time / 4 || per_batch >= 1 << 24 {
            let per_call = start.elapsed() / per_batch;
            per_batch =
                (batch_time.as_nanos() / per_call.as_nanos().max(1)).clamp(1, 1 << 24) as u32;
            break;
        }
        per_batch *= 2;
    }
    let mut samples: Vec<Duration> = (0..if quick { 5 } else { 15 })
        .map(|_| {
            let start = Instant::now();
            for _ in 0..per_batch {
                f();
            }
            start.elapsed() / per_batch
        })
        .collect();
    samples.sort();
    samples[samples.len() / 2]
}

fn show(name: &str, t: Duration, goal: &str) {
    println!("{name:<44} {:>12.2} µs/op   {goal}", t.as_secs_f64() * 1e6);
}

fn main() {
    let now = time::OffsetDateTime::now_utc();
    let seed = [9u8; 32];
    let signer = LicenseSigner::from_seed(&seed);
    let fingerprint = MachineId::new("0123456789abcdef0123456789abcdef", "bench")
        .unwrap()
        .fingerprint("acme-cad");
    let payload = LicensePayload {
        license_id: "lic_bench".into(),
        product_id: "acme-cad".into(),
        environment: Environment::Live,
        machine_id: "mach_bench".into(),
        fingerprint: fingerprint.as_str().into(),
        status: LicenseStatus::Active,
        entitlements: vec!["pro".into(), "export-pdf".into(), "render-4k".into()],
        max_machines: 3,
        license_expires_at: None,
        issued_at: now,
        expires_at: now + time::Duration::days(14),
        nonce: Some("0f1e2d3c4b5a69788796a5b4c3d2e1f0".into()),
        check_interval: None,
    };
    let file = signer.sign(&payload).unwrap();
    let verifier = Verifier::new(vec![signer.public_key().clone()]);
    let expect = Expectations {
        product_id: "acme-cad",
        environment: Environment::Live,
        fingerprint: &fingerprint,
        nonce: None,
    };
    verifier
        .verify_entitled(&file, &expect, now, None)
        .expect("bench file verifies");

    // The same signed bytes, verified with nothing around them.
    let mut message = SIGNING_CONTEXT.to_vec();
    message.extend_from_slice(&serde_json::to_vec(&payload).unwrap());
    let key = SigningKey::from_bytes(&seed);
    let signature: Signature = ed25519_dalek::Signer::sign(&key, &message);
    let public = key.verifying_key();

    println!(
        "licentric-core benchmarks ({} bytes of licence file)",
        file.len()
    );
    let bare = measure(|| {
        public
            .verify_strict(black_box(&message), black_box(&signature))
            .unwrap();
    });
    show("ed25519-dalek verify_strict (bare)", bare, "baseline");
    let full = measure(|| {
        black_box(
            verifier
                .verify_entitled(black_box(&file), &expect, now, None)
                .unwrap(),
        );
    });
    show("licence file: every check", full, "goal < 100 µs");
    println!(
        "{:<44} {:>12.2} ×",
        "  ratio to the bare verify",
        full.as_secs_f64() / bare.as_secs_f64()
    );

    let id = MachineId::new("5c0ffee5c0ffee5c0ffee5c0ffee5c0f", "bench").unwrap();
    let fp = measure(|| {
        black_box(id.fingerprint(black_box("acme-cad")));
    });
    show(
        "fingerprint: HMAC derivation",
        fp,
        "goal < 10 ms with the read",
    );

    let prefix = KeyPrefix::new("ACME").unwrap();
    let parse = measure(|| {
        black_box(LicenseKey::parse(black_box(" acme-7qx2-m4kd-9pzt-h3wc "), &prefix).unwrap());
    });
    show("licence key: parse and normalise", parse, "");
}

//! What the platform layer costs, printed as figures (not pass/fail): reading this machine's
//! id and deriving the fingerprint (goal under 10 ms), each of the machine's components and
//! all of them hashed (goal under 10 ms), and the machine metadata sent with an activation. `cargo bench -p licentric-platform --bench identity`.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use licentric_core::components::{ComponentKind, hash_all};
use licentric_core::fingerprint::MachineIdSource;
use licentric_platform::identity::{
    MachineMetadata, PlatformMachineId, components, read_component,
};

/// The median of `runs` single calls: these calls take microseconds to milliseconds, so one
/// call is well above the clock's resolution.
fn median(runs: usize, mut f: impl FnMut()) -> Duration {
    let mut samples: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    let runs = if std::env::var_os("LICENTRIC_BENCH_QUICK").is_some() {
        51
    } else {
        501
    };
    println!("licentric-platform benchmarks (median of {runs} calls)");
    let fingerprint = median(runs, || {
        let id = PlatformMachineId.machine_id().unwrap();
        black_box(id.fingerprint(black_box("acme-cad")));
    });
    println!(
        "{:<44} {:>12.2} µs      goal < 10 ms",
        "fingerprint: read machine id + HMAC",
        fingerprint.as_secs_f64() * 1e6
    );
    for kind in ComponentKind::ALL {
        let cost = median(runs, || {
            black_box(read_component(kind, &PlatformMachineId));
        });
        let found = read_component(kind, &PlatformMachineId);
        println!(
            "{:<44} {:>12.2} µs      {}",
            format!("  component {kind}"),
            cost.as_secs_f64() * 1e6,
            found.note.unwrap_or("found")
        );
    }
    let all = median(runs, || {
        let readings = components(&PlatformMachineId);
        for reading in &readings {
            black_box(hash_all(&reading.found, "acme-cad"));
        }
    });
    println!(
        "{:<44} {:>12.2} µs      goal < 10 ms",
        "every component, read and hashed",
        all.as_secs_f64() * 1e6
    );
    let metadata = median(runs, || {
        black_box(MachineMetadata::collect());
    });
    println!(
        "{:<44} {:>12.2} µs      not identity; once per activation",
        "machine metadata (sysinfo, CPU + RAM only)",
        metadata.as_secs_f64() * 1e6
    );
}

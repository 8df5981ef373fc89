//! The system's clocks, as the agent reads them ([`SystemClock`]): the wall clock, which the
//! user sets, and a steady clock nobody sets, which runs on while the machine sleeps.

use licentric_core::Clock;
use time::OffsetDateTime;

/// The wall clock and the time since the machine started.
///
/// - Linux: `CLOCK_BOOTTIME`, which counts the time the machine slept: a wall clock turned back
///   while it sleeps gains nothing.
/// - macOS: `CLOCK_MONOTONIC`, which on Darwin goes on while the system sleeps (the standard
///   library's clock, `CLOCK_UPTIME_RAW`, stands still then).
/// - Elsewhere (Windows): the standard library's monotonic clock (`QueryPerformanceCounter`).
///   Where a clock stands still in sleep it only falls short of the time that passed, never
///   runs ahead of it.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    fn steady(&self) -> std::time::Duration {
        since_start()
    }
}

#[cfg(any(target_os = "linux", target_os = "android", target_os = "macos"))]
fn since_start() -> std::time::Duration {
    #[cfg(target_os = "macos")]
    let clock = rustix::time::ClockId::Monotonic;
    #[cfg(not(target_os = "macos"))]
    let clock = rustix::time::ClockId::Boottime;
    let t = rustix::time::clock_gettime(clock);
    std::time::Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
}

#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "macos")))]
fn since_start() -> std::time::Duration {
    static ORIGIN: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    ORIGIN.get_or_init(std::time::Instant::now).elapsed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_steady_clock_never_goes_back() {
        let clock = SystemClock;
        let first = clock.steady();
        let second = clock.steady();
        assert!(second >= first, "{first:?} then {second:?}");
        #[cfg(any(target_os = "linux", target_os = "macos"))]
        assert!(!first.is_zero(), "it counts from the machine's start");
    }
}

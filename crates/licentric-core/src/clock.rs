//! Time: an injectable [`Clock`] (the system's is `licentric_platform::clock::SystemClock`;
//! [`ManualClock`] for tests), and the [`ClockGuard`] that notices a clock turned back.
//!
//! All times are UTC instants, so a time-zone change has no effect. The guard keeps the
//! highest time seen (the local clock's readings and the signed `issued_at` of every verified
//! file). A clock more than [`CLOCK_TOLERANCE`] behind that mark is tampering: the machine is
//! not entitled until one successful online refresh, which resets the mark from the server's
//! signed time. An NTP correction of less than an hour changes nothing.

use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

/// How far behind its high-water mark the clock may go before it counts as turned back.
pub const CLOCK_TOLERANCE: Duration = Duration::hours(1);

/// A source of the current time.
pub trait Clock: Send + Sync {
    /// Now, in UTC.
    fn now(&self) -> OffsetDateTime;

    /// Time passed since an origin of the clock's own, by a clock nobody sets: it never goes
    /// back, whatever is done to the wall clock (it may stand still while the machine sleeps).
    fn steady(&self) -> std::time::Duration;
}

/// A clock that stands still until told to move: for tests. [`set`](Self::set) changes the
/// wall clock only, as a user setting it does; [`pass`](Self::pass) lets time pass, on the
/// wall clock and the steady one alike.
#[derive(Debug)]
pub struct ManualClock(Mutex<(OffsetDateTime, std::time::Duration)>);

impl ManualClock {
    /// A clock showing `at`.
    pub fn new(at: OffsetDateTime) -> ManualClock {
        ManualClock(Mutex::new((at, std::time::Duration::ZERO)))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (OffsetDateTime, std::time::Duration)> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Sets the wall clock (backwards too): no time passes.
    pub fn set(&self, at: OffsetDateTime) {
        self.lock().0 = at;
    }

    /// Moves the wall clock by `by` (negative to turn it back): no time passes.
    pub fn advance(&self, by: Duration) {
        self.lock().0 += by;
    }

    /// Lets `by` pass: the wall clock and the steady clock move on together.
    pub fn pass(&self, by: std::time::Duration) {
        let mut clock = self.lock();
        clock.0 += by;
        clock.1 += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        self.lock().0
    }

    fn steady(&self) -> std::time::Duration {
        self.lock().1
    }
}

/// The clock's mark carried on by the steady clock ([`Clock::steady`]) while the agent runs:
/// a wall clock turned back a little at a time (each step within the tolerance, again and
/// again) does not hold time still — the mark moves on, and the clock falls behind it. The
/// steady clock never runs ahead of the time that passed (where it stands still in sleep, it
/// falls short of it). A mark lowered since it was last carried (an online refresh restarts it
/// from the server's time, and an import forgives a mark that ran ahead: only they lower it)
/// is carried on from there, not pushed back up.
#[derive(Debug, Clone, Copy, Default)]
pub struct SteadyMark(Option<Carried>);

/// The mark `base` (UTC seconds) at the steady clock's reading `since`; `left`, the mark as
/// it was last left, so that a mark lowered since is seen.
#[derive(Debug, Clone, Copy)]
struct Carried {
    base: i64,
    since: std::time::Duration,
    left: i64,
}

impl SteadyMark {
    /// The mark `mark` (UTC seconds) should be raised to, the steady clock reading `at`; `None`
    /// when it stands (it is ahead of what is carried, was lowered, or is the first seen).
    pub fn carry(&mut self, mark: i64, at: std::time::Duration) -> Option<i64> {
        let carried = match self.0 {
            Some(Carried { base, since, left }) if mark >= left => {
                let passed = i64::try_from(at.saturating_sub(since).as_secs()).unwrap_or(i64::MAX);
                Some(base.saturating_add(passed))
            }
            _ => None,
        };
        match (carried, self.0.as_mut()) {
            (Some(carried), Some(c)) if carried >= mark => {
                c.left = carried;
                (carried > mark).then_some(carried)
            }
            _ => {
                self.0 = Some(Carried {
                    base: mark,
                    since: at,
                    left: mark,
                });
                None
            }
        }
    }
}

/// What [`ClockGuard::observe`] concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockVerdict {
    /// The clock is plausible.
    Plausible,
    /// The clock is (or was, and no online refresh has cleared it) turned back.
    Tampered,
}

/// The clock high-water mark and the sticky tampering flag, kept in the sealed state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockGuard {
    /// The highest time seen, in UTC seconds since the Unix epoch (0: nothing seen yet).
    high_water: i64,
    /// Set when the clock was found turned back; only an online refresh clears it.
    tampered: bool,
}

impl ClockGuard {
    /// A guard that has seen nothing.
    pub fn new() -> ClockGuard {
        ClockGuard::default()
    }

    /// The highest time seen.
    pub fn high_water(&self) -> Option<OffsetDateTime> {
        (self.high_water > 0)
            .then(|| OffsetDateTime::from_unix_timestamp(self.high_water).ok())
            .flatten()
    }

    /// Whether tampering was seen and not yet cleared.
    pub fn is_flagged(&self) -> bool {
        self.tampered
    }

    /// Whether `now` counts as tampered: flagged, or more than the tolerance behind the mark.
    /// Changes nothing.
    pub fn is_tampered_at(&self, now: OffsetDateTime) -> bool {
        self.tampered
            || (self.high_water > 0
                && now.unix_timestamp() < self.high_water - CLOCK_TOLERANCE.whole_seconds())
    }

    /// Records a reading of the local clock: raises the mark, or flags a clock turned back.
    pub fn observe(&mut self, now: OffsetDateTime) -> ClockVerdict {
        if self.is_tampered_at(now) {
            self.tampered = true;
        }
        self.high_water = self.high_water.max(now.unix_timestamp());
        if self.tampered {
            ClockVerdict::Tampered
        } else {
            ClockVerdict::Plausible
        }
    }

    /// Raises the mark to `mark` (UTC seconds): the copy kept in the credential store, so a
    /// state restored from an older copy cannot lower it.
    pub fn observe_mark(&mut self, mark: i64) {
        self.high_water = self.high_water.max(mark);
    }

    /// Records the signed `issued_at` of a verified file.
    pub fn observe_issued_at(&mut self, issued_at: OffsetDateTime) {
        self.high_water = self.high_water.max(issued_at.unix_timestamp());
    }

    /// An imported file answering a request made at `requested_at` by the clock (UTC
    /// seconds), when the mark stood at `requested_mark`. Its signed `issued_at` is a time that
    /// has passed, not the time now: it may have waited, unimported, while the clock ran on. So
    /// the mark keeps what it gained, and is forgiven only how far it stood ahead of the clock
    /// when the request was made (a clock once set ahead, put right since: a dual boot's
    /// hardware clock in local time, say); never below `issued_at`. The flag is cleared if
    /// `now` is then plausible: a clock turned back to import an old answer stays tampered,
    /// and a machine with no network whose clock was once wrong is not locked out. (A clock
    /// turned back to make the request flags the machine until the answer comes.)
    pub fn answer_imported(
        &mut self,
        now: OffsetDateTime,
        issued_at: OffsetDateTime,
        requested_at: i64,
        requested_mark: i64,
    ) {
        let ahead = requested_mark.saturating_sub(requested_at).max(0);
        self.high_water = issued_at
            .unix_timestamp()
            .max(self.high_water.saturating_sub(ahead));
        self.tampered = false;
        self.observe(now);
    }

    /// A successful online refresh: the server's signed `issued_at` is trustworthy time.
    /// Clears the flag and restarts the mark from it, so a mark pushed into the future by a
    /// clock that was once set ahead cannot lock the user out for good.
    pub fn online_refresh_succeeded(&mut self, now: OffsetDateTime, issued_at: OffsetDateTime) {
        self.tampered = false;
        self.high_water = issued_at.unix_timestamp();
        self.observe(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-11-23 12:00 UTC);

    #[test]
    fn rollback_beyond_an_hour_is_tampering_and_sticks() {
        let mut g = ClockGuard::new();
        assert_eq!(g.observe(T0), ClockVerdict::Plausible);
        assert_eq!(g.observe(T0 - Duration::days(2)), ClockVerdict::Tampered);
        // Putting the clock right again does not clear it: only an online refresh does.
        assert_eq!(g.observe(T0 + Duration::minutes(5)), ClockVerdict::Tampered);
        assert!(g.is_tampered_at(T0 + Duration::days(1)));
        g.online_refresh_succeeded(T0 + Duration::minutes(6), T0 + Duration::minutes(6));
        assert_eq!(
            g.observe(T0 + Duration::minutes(7)),
            ClockVerdict::Plausible
        );
    }

    #[test]
    fn ntp_sized_correction_under_an_hour_is_fine() {
        let mut g = ClockGuard::new();
        g.observe(T0);
        assert_eq!(
            g.observe(T0 - Duration::minutes(59)),
            ClockVerdict::Plausible
        );
        assert_eq!(
            g.observe(T0 - Duration::seconds(3600)),
            ClockVerdict::Plausible,
            "exactly one hour is tolerated"
        );
        assert_eq!(
            g.observe(T0 - Duration::seconds(3601)),
            ClockVerdict::Tampered
        );
    }

    #[test]
    fn time_zone_change_has_no_effect() {
        let mut g = ClockGuard::new();
        g.observe(T0);
        // The same instant, and a minute later, seen from UTC+05:30 and UTC-08:00.
        let india = T0.to_offset(time::macros::offset!(+05:30));
        let california = (T0 + Duration::minutes(1)).to_offset(time::macros::offset!(-08:00));
        assert_eq!(g.observe(india), ClockVerdict::Plausible);
        assert_eq!(g.observe(california), ClockVerdict::Plausible);
        assert_eq!(g.high_water(), Some(T0 + Duration::minutes(1)));
    }

    #[test]
    fn signed_issued_at_raises_the_mark() {
        let mut g = ClockGuard::new();
        g.observe(T0);
        g.observe_issued_at(T0 + Duration::days(3));
        // The local clock now reads 3 days behind a file the server signed: turned back.
        assert_eq!(g.observe(T0 + Duration::minutes(1)), ClockVerdict::Tampered);
    }

    #[test]
    fn a_mark_once_pushed_into_the_future_is_reset_by_the_server() {
        let mut g = ClockGuard::new();
        g.observe(T0 + Duration::days(365)); // the clock was once set a year ahead
        assert_eq!(g.observe(T0), ClockVerdict::Tampered);
        g.online_refresh_succeeded(T0, T0);
        assert_eq!(
            g.observe(T0 + Duration::minutes(1)),
            ClockVerdict::Plausible
        );
    }

    #[test]
    fn manual_clock_moves_both_ways() {
        let c = ManualClock::new(T0);
        c.advance(Duration::hours(-2));
        assert_eq!(c.now(), T0 - Duration::hours(2));
        c.set(T0);
        assert_eq!(c.now(), T0);
    }

    #[test]
    fn guard_round_trips_through_json() {
        let mut g = ClockGuard::new();
        g.observe(T0);
        g.observe(T0 - Duration::days(1));
        let back: ClockGuard = serde_json::from_str(&serde_json::to_string(&g).unwrap()).unwrap();
        assert_eq!(back, g);
    }

    const MINUTE: std::time::Duration = std::time::Duration::from_secs(60);

    #[test]
    fn the_steady_clock_carries_the_mark_on_whatever_the_wall_clock_says() {
        let mut steady = SteadyMark::default();
        assert_eq!(
            steady.carry(1_000, MINUTE),
            None,
            "the first is where it starts"
        );
        // Asked often, within a second each time: whole seconds do not drift.
        let mut mark = 1_000;
        for tenth in 1..=600u64 {
            let at = MINUTE + std::time::Duration::from_millis(tenth * 100);
            if let Some(raised) = steady.carry(mark, at) {
                mark = raised;
            }
        }
        assert_eq!(mark, 1_060, "a minute passed, a minute carried");
        // A reading ahead of it (a clock that jumped forward, a file): carried on from there.
        assert_eq!(steady.carry(5_000, 3 * MINUTE), None);
        assert_eq!(steady.carry(5_000, 4 * MINUTE), Some(5_060));
    }

    #[test]
    fn a_mark_lowered_by_the_server_is_carried_on_from_there() {
        let mut steady = SteadyMark::default();
        steady.carry(10_000, MINUTE);
        assert_eq!(steady.carry(10_000, 2 * MINUTE), Some(10_060));
        // An online refresh set it from the server's time, lower: it stands, and is carried
        // on from there, not pushed back up to where it was.
        assert_eq!(steady.carry(3_000, 3 * MINUTE), None);
        assert_eq!(steady.carry(3_000, 4 * MINUTE), Some(3_060));
    }

    #[test]
    fn an_old_answer_imported_keeps_the_time_that_passed_since_its_request() {
        let mut g = ClockGuard::new();
        g.observe(T0);
        let requested = T0.unix_timestamp();
        // A fortnight passes; the clock is turned back to import the answer the server gave
        // on the day of the request.
        g.observe(T0 + Duration::days(14));
        g.answer_imported(T0 + Duration::minutes(1), T0, requested, requested);
        assert!(
            g.is_flagged(),
            "an old answer does not vouch for an old time"
        );
        assert_eq!(g.high_water(), Some(T0 + Duration::days(14)));
        // Imported with the clock right, it changes nothing and flags nothing.
        let mut g = ClockGuard::new();
        g.observe(T0);
        g.observe(T0 + Duration::days(5));
        g.answer_imported(T0 + Duration::days(5), T0, requested, requested);
        assert!(!g.is_flagged());
        assert_eq!(g.high_water(), Some(T0 + Duration::days(5)));
    }

    #[test]
    fn a_mark_that_ran_ahead_is_forgiven_by_an_answer_to_a_request_made_since() {
        let mut g = ClockGuard::new();
        // The clock ran three hours ahead (a dual boot's hardware clock in local time), then
        // was put right: flagged.
        g.observe(T0 + Duration::hours(3));
        assert_eq!(g.observe(T0), ClockVerdict::Tampered);
        let (requested_at, requested_mark) = (
            T0.unix_timestamp(),
            g.high_water().unwrap().unix_timestamp(),
        );
        // A day later (carried on the mark), the answer signed on the way arrives.
        g.observe_mark(requested_mark + 86_400);
        g.answer_imported(
            T0 + Duration::days(1),
            T0 + Duration::hours(20),
            requested_at,
            requested_mark,
        );
        assert!(
            !g.is_flagged(),
            "a machine with no network is not locked out"
        );
        assert_eq!(g.high_water(), Some(T0 + Duration::days(1)));
    }
}

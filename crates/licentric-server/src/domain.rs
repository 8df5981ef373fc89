//! The server's domain: a licence's stored state, the changes the admin API may make to it,
//! and a product's policy, with the decisions that need no storage (the seat-move limit and
//! the TTL bounds). Typed so that a value the database should never hold is an error when
//! read, never taken for `active`.

use std::fmt;

use licentric_core::components::ComponentKind;
use licentric_proto::LicenseStatus;
use licentric_proto::api::{MachineComponent, RunsInKind};

/// A licence's stored state (expiry is computed from its date, see [`LicenseState::effective`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LicenseState {
    /// In use.
    Active,
    /// Held by the vendor; may be reinstated.
    Suspended,
    /// Ended for good.
    Revoked,
}

impl LicenseState {
    /// The stored string.
    pub const fn as_str(self) -> &'static str {
        match self {
            LicenseState::Active => "active",
            LicenseState::Suspended => "suspended",
            LicenseState::Revoked => "revoked",
        }
    }

    /// The status a client sees at `now`: `expired` once `expires_at` has passed, unless the
    /// vendor's own state says more.
    pub fn effective(self, expires_at: Option<i64>, now: i64) -> LicenseStatus {
        match self {
            LicenseState::Suspended => LicenseStatus::Suspended,
            LicenseState::Revoked => LicenseStatus::Revoked,
            LicenseState::Active if expires_at.is_some_and(|at| at <= now) => {
                LicenseStatus::Expired
            }
            LicenseState::Active => LicenseStatus::Active,
        }
    }

    /// The state `change` leads to from this one, or `None` when it does not apply.
    pub const fn after(self, change: LicenseChange) -> Option<LicenseState> {
        match (change, self) {
            (LicenseChange::Suspend, LicenseState::Active) => Some(LicenseState::Suspended),
            (LicenseChange::Reinstate, LicenseState::Suspended) => Some(LicenseState::Active),
            (LicenseChange::Revoke, LicenseState::Active | LicenseState::Suspended) => {
                Some(LicenseState::Revoked)
            }
            _ => None,
        }
    }
}

impl fmt::Display for LicenseState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored value that is not a licence state.
#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not a licence state")]
pub struct UnknownState(String);

impl std::str::FromStr for LicenseState {
    type Err = UnknownState;

    fn from_str(text: &str) -> Result<LicenseState, UnknownState> {
        match text {
            "active" => Ok(LicenseState::Active),
            "suspended" => Ok(LicenseState::Suspended),
            "revoked" => Ok(LicenseState::Revoked),
            other => Err(UnknownState(other.to_owned())),
        }
    }
}

/// What the admin API may do to a licence's state: one path for all three.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LicenseChange {
    /// Hold it.
    Suspend,
    /// Lift a suspension.
    Reinstate,
    /// End it.
    Revoke,
}

impl LicenseChange {
    /// The webhook event and audit action it records.
    pub const fn event(self) -> &'static str {
        match self {
            LicenseChange::Suspend => "license.suspended",
            LicenseChange::Reinstate => "license.reinstated",
            LicenseChange::Revoke => "license.revoked",
        }
    }

    /// The verb for an error message.
    pub const fn verb(self) -> &'static str {
        match self {
            LicenseChange::Suspend => "suspended",
            LicenseChange::Reinstate => "reinstated",
            LicenseChange::Revoke => "revoked",
        }
    }
}

/// The default of a product's check interval: an hour.
pub const DEFAULT_CHECK_INTERVAL: u32 = 3600;

/// The default seat-move limit of a new product: 3 moves per seat in 30 days.
pub const DEFAULT_SEAT_MOVES: SeatMoves = SeatMoves {
    per_seat: 3,
    window: 30 * 86_400,
};

/// What a product allows its licences.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// How often a machine in use confirms its licence online, seconds.
    pub check_interval: u32,
    /// The longest licence file a client may get, seconds (`None`: the server's maximum).
    pub max_ttl: Option<u32>,
    /// How often a seat may move to another machine (`None`: freely).
    pub seat_moves: Option<SeatMoves>,
    /// How a machine's fingerprint may change and it still be the same machine.
    pub fingerprint_match: FingerprintMatch,
    /// Whether a machine may be activated in a virtual machine.
    pub allow_virtual_machines: bool,
    /// Whether a machine may be activated in a container.
    pub allow_containers: bool,
    /// Whether a machine holds a seat until deactivated, or while it holds a lease.
    pub seat_model: SeatModel,
    /// How long a lease holds its seat unless renewed, seconds.
    pub lease_ttl: u32,
    /// How long a machine may borrow a seat for, seconds (0: seats are not borrowed).
    pub max_borrow: u32,
    /// Each app process on a machine holds a seat of its own (else the apps of a machine's
    /// user share one).
    pub seat_per_process: bool,
    /// A borrowed seat stays counted to its end: the server takes no early return, which
    /// only the borrowing machine's word would back (`docs/floating.md`).
    pub borrow_kept_to_end: bool,
}

/// How a licence's seats are held (`docs/floating.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeatModel {
    /// A machine holds a seat from activation until deactivation.
    NodeLocked,
    /// A machine holds a seat while it holds a lease: checked out, renewed, released.
    Floating,
}

impl SeatModel {
    /// The stored and published word.
    pub const fn as_str(self) -> &'static str {
        match self {
            SeatModel::NodeLocked => "node_locked",
            SeatModel::Floating => "floating",
        }
    }
}

impl std::str::FromStr for SeatModel {
    type Err = String;

    fn from_str(text: &str) -> Result<SeatModel, String> {
        match text {
            "node_locked" => Ok(SeatModel::NodeLocked),
            "floating" => Ok(SeatModel::Floating),
            other => Err(format!("{other:?} is not a seat model")),
        }
    }
}

/// A lease's time when the product does not say: 15 minutes.
pub const DEFAULT_LEASE_TTL: u32 = 900;
/// The longest borrow when the product does not say: 7 days.
pub const DEFAULT_MAX_BORROW: u32 = 7 * 86_400;

impl Policy {
    /// Whether a machine that runs in `runs_in` (bare hardware: `None`) may be activated.
    pub fn allows(&self, runs_in: Option<RunsInKind>) -> bool {
        match runs_in {
            None => true,
            Some(RunsInKind::Container) => self.allow_containers,
            Some(RunsInKind::VirtualMachine) => self.allow_virtual_machines,
        }
    }

    /// Until when a machine last seen at `last_seen` counts as in use: it confirms its licence
    /// every check interval while in use, so a quarter of one more is its slack.
    pub fn in_use_until(&self, last_seen: i64) -> i64 {
        last_seen + i64::from(self.check_interval) * 5 / 4
    }
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            check_interval: DEFAULT_CHECK_INTERVAL,
            max_ttl: None,
            seat_moves: None,
            fingerprint_match: FingerprintMatch::Most,
            allow_virtual_machines: true,
            allow_containers: true,
            seat_model: SeatModel::NodeLocked,
            lease_ttl: DEFAULT_LEASE_TTL,
            max_borrow: DEFAULT_MAX_BORROW,
            seat_per_process: false,
            borrow_kept_to_end: false,
        }
    }
}

/// When a machine whose fingerprint changed is still the machine a seat was given to, judged
/// by its parts (`docs/fingerprint.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FingerprintMatch {
    /// Only the same fingerprint (a reinstalled system is a new machine).
    Exact,
    /// At least half the kinds of part the machine was known by agree, one of them
    /// identifying (a kind it no longer presents counts against): the default for products
    /// made from version 10 of the schema on.
    Most,
    /// At least one identifying part agrees.
    Any,
}

/// How two sets of a machine's parts compare, kind by kind.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Comparison {
    /// Kinds with a hash in common (for network cards: any card in common).
    pub agree: Vec<String>,
    /// Kinds both have, with no hash in common.
    pub differ: Vec<String>,
    /// Kinds the machine was known by that it does not present now. A machine's own parts
    /// may lose a kind (every card unplugged), so keeping its parts up to date ignores them;
    /// to claim a seat they count against the claim, or a client could leave out every kind
    /// but the one it shares with the machine.
    pub missing: Vec<String>,
}

impl Comparison {
    /// Compares the parts a machine was known by with the ones it presents now.
    pub fn of(stored: &[MachineComponent], presented: &[MachineComponent]) -> Comparison {
        let mut comparison = Comparison::default();
        for kind in ComponentKind::ALL.map(ComponentKind::as_str) {
            let hashes = |parts: &[MachineComponent]| -> Vec<String> {
                parts
                    .iter()
                    .filter(|c| c.kind == kind)
                    .map(|c| c.hash.clone())
                    .collect()
            };
            let (before, now) = (hashes(stored), hashes(presented));
            if before.is_empty() {
                continue;
            }
            if now.is_empty() {
                comparison.missing.push(kind.to_owned());
                continue;
            }
            if before.iter().any(|h| now.contains(h)) {
                comparison.agree.push(kind.to_owned());
            } else {
                comparison.differ.push(kind.to_owned());
            }
        }
        comparison
    }

    /// The kinds that do not agree: differing, then missing.
    pub fn changed(&self) -> Vec<String> {
        self.differ.iter().chain(&self.missing).cloned().collect()
    }
}

impl FingerprintMatch {
    /// The stored and published word.
    pub const fn as_str(self) -> &'static str {
        match self {
            FingerprintMatch::Exact => "exact",
            FingerprintMatch::Most => "most",
            FingerprintMatch::Any => "any",
        }
    }

    /// Whether `comparison` is the same machine under this policy.
    pub fn accepts(self, comparison: &Comparison) -> bool {
        let identified = comparison
            .agree
            .iter()
            .any(|k| ComponentKind::parse(k).is_some_and(ComponentKind::identifies));
        match self {
            FingerprintMatch::Exact => false,
            FingerprintMatch::Any => identified,
            FingerprintMatch::Most => {
                identified
                    && comparison.agree.len() >= comparison.differ.len() + comparison.missing.len()
            }
        }
    }
}

impl std::str::FromStr for FingerprintMatch {
    type Err = String;

    fn from_str(text: &str) -> Result<FingerprintMatch, String> {
        match text {
            "exact" => Ok(FingerprintMatch::Exact),
            "most" => Ok(FingerprintMatch::Most),
            "any" => Ok(FingerprintMatch::Any),
            other => Err(format!("{other:?} is not a fingerprint match policy")),
        }
    }
}

/// The server's TTL bounds, from its configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TtlBounds {
    /// Used when the client asks for none.
    pub default: u64,
    /// The shortest file.
    pub min: u64,
    /// The longest file.
    pub max: u64,
}

impl Policy {
    /// The TTL a file gets when the client asked for `requested`: the server's bounds,
    /// narrowed by the product's maximum (never below the server's minimum).
    pub fn ttl(&self, bounds: TtlBounds, requested: Option<u64>) -> u64 {
        let max = self
            .max_ttl
            .map_or(bounds.max, |m| u64::from(m).min(bounds.max))
            .max(bounds.min);
        requested.unwrap_or(bounds.default).clamp(bounds.min, max)
    }
}

/// A seat-move limit: `per_seat` moves of each seat within any `window` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeatMoves {
    /// Moves allowed per seat in the window.
    pub per_seat: u32,
    /// The window, seconds.
    pub window: u32,
}

impl SeatMoves {
    /// Whether one more move is allowed at `now` on a licence with `seats` seats whose moves
    /// happened at `moves` (any order; older ones are ignored): `Ok`, or the time the next
    /// move is allowed — when enough of the counted ones have left the window.
    ///
    /// # Errors
    /// The time of the next allowed move.
    pub fn allow(&self, seats: u32, moves: &[i64], now: i64) -> Result<(), i64> {
        let since = now - i64::from(self.window);
        let mut recent: Vec<i64> = moves.iter().copied().filter(|&at| at > since).collect();
        let allowed = usize::try_from(u64::from(self.per_seat.max(1)) * u64::from(seats.max(1)))
            .unwrap_or(usize::MAX);
        if recent.len() < allowed {
            return Ok(());
        }
        recent.sort_unstable();
        // Once the oldest `len - allowed + 1` moves have left the window, one more fits.
        let leaving = recent[recent.len() - allowed];
        Err(leaving + i64::from(self.window))
    }
}

#[cfg(test)]
mod tests {
    fn parts(list: &[(&str, &str)]) -> Vec<MachineComponent> {
        list.iter()
            .map(|(kind, hash)| MachineComponent {
                kind: (*kind).to_owned(),
                hash: hash.repeat(64 / hash.len()),
            })
            .collect()
    }

    #[test]
    fn a_reinstall_or_a_new_disk_is_the_same_machine_under_most_but_not_exact() {
        let before = parts(&[
            ("machine_id", "a"),
            ("disk_serial", "b"),
            ("network_card", "c"),
            ("network_card", "d"),
            ("cpu_model", "e"),
        ]);
        // Reinstalled on a new disk: the card and the processor are the same.
        let now = parts(&[
            ("machine_id", "1"),
            ("disk_serial", "2"),
            ("network_card", "d"),
            ("cpu_model", "e"),
        ]);
        let c = Comparison::of(&before, &now);
        assert_eq!(c.agree, ["network_card", "cpu_model"]);
        assert_eq!(c.differ, ["machine_id", "disk_serial"]);
        assert!(FingerprintMatch::Most.accepts(&c));
        assert!(FingerprintMatch::Any.accepts(&c));
        assert!(!FingerprintMatch::Exact.accepts(&c));
    }

    #[test]
    fn three_of_five_changed_or_only_the_processor_in_common_is_another_machine() {
        let before = parts(&[
            ("machine_id", "a"),
            ("board_uuid", "b"),
            ("disk_serial", "c"),
            ("network_card", "d"),
            ("cpu_model", "e"),
        ]);
        let three_changed = parts(&[
            ("machine_id", "1"),
            ("board_uuid", "2"),
            ("disk_serial", "3"),
            ("network_card", "d"),
            ("cpu_model", "e"),
        ]);
        let c = Comparison::of(&before, &three_changed);
        assert_eq!(c.differ.len(), 3);
        assert!(!FingerprintMatch::Most.accepts(&c));
        assert!(
            FingerprintMatch::Any.accepts(&c),
            "one identifying part agrees"
        );
        // The same processor model says nothing: many machines have it.
        let cpu_only = parts(&[("machine_id", "9"), ("cpu_model", "e")]);
        let c = Comparison::of(&before, &cpu_only);
        assert!(!FingerprintMatch::Most.accepts(&c) && !FingerprintMatch::Any.accepts(&c));
        // Only the one identifying part in common presented, the rest left out: the kinds it
        // no longer presents count against it.
        let board_only = parts(&[("board_uuid", "b")]);
        let c = Comparison::of(&before, &board_only);
        assert_eq!(c.agree, ["board_uuid"]);
        assert_eq!(
            c.missing,
            ["machine_id", "disk_serial", "network_card", "cpu_model"]
        );
        assert!(!FingerprintMatch::Most.accepts(&c));
        // Nothing to compare (an older companion sends no parts): never the same machine.
        let c = Comparison::of(&before, &[]);
        assert!(!FingerprintMatch::Any.accepts(&c));
        assert_eq!(
            "most".parse::<FingerprintMatch>(),
            Ok(FingerprintMatch::Most)
        );
        assert!("fuzzy".parse::<FingerprintMatch>().is_err());
    }

    use super::*;

    const DAY: i64 = 86_400;

    fn limit(per_seat: u32) -> SeatMoves {
        SeatMoves {
            per_seat,
            window: 30 * 86_400,
        }
    }

    #[test]
    fn a_seat_moves_its_allowance_then_waits_for_the_oldest_move_to_age_out() {
        let now = 100 * DAY;
        let moves = [now - 20 * DAY, now - 10 * DAY, now - DAY];
        assert_eq!(limit(4).allow(1, &moves, now), Ok(()));
        assert_eq!(limit(3).allow(1, &moves, now), Err(now + 10 * DAY));
        // Moves older than the window do not count.
        assert_eq!(limit(3).allow(1, &moves, now + 10 * DAY + 1), Ok(()));
    }

    #[test]
    fn the_allowance_is_per_seat() {
        let now = 100 * DAY;
        let moves: Vec<i64> = (1..=5).map(|d| now - d * DAY).collect();
        assert_eq!(limit(3).allow(2, &moves, now), Ok(()));
        // Six moves on two seats at three each: the next waits for the oldest.
        let six: Vec<i64> = (1..=6).map(|d| now - d * DAY).collect();
        assert_eq!(limit(3).allow(2, &six, now), Err(now - 6 * DAY + 30 * DAY));
    }

    #[test]
    fn a_move_just_made_holds_the_next_for_a_whole_window() {
        let now = 100 * DAY;
        assert_eq!(limit(1).allow(1, &[], now), Ok(()));
        assert_eq!(limit(1).allow(1, &[now], now), Err(now + 30 * DAY));
        // A limit of nothing is taken as one (the API refuses it anyway).
        assert_eq!(limit(0).allow(1, &[now], now), Err(now + 30 * DAY));
    }

    #[test]
    fn a_product_narrows_the_servers_ttl_but_never_below_its_minimum() {
        let bounds = TtlBounds {
            default: 14 * 86_400,
            min: 3600,
            max: 90 * 86_400,
        };
        let open = Policy::default();
        assert_eq!(open.ttl(bounds, None), 14 * 86_400);
        assert_eq!(open.ttl(bounds, Some(365 * 86_400)), 90 * 86_400);
        assert_eq!(open.ttl(bounds, Some(1)), 3600);
        let week = Policy {
            max_ttl: Some(7 * 86_400),
            ..Policy::default()
        };
        assert_eq!(week.ttl(bounds, None), 7 * 86_400);
        assert_eq!(week.ttl(bounds, Some(30 * 86_400)), 7 * 86_400);
        let tiny = Policy {
            max_ttl: Some(60),
            ..Policy::default()
        };
        assert_eq!(tiny.ttl(bounds, None), 3600);
    }

    #[test]
    fn states_change_only_along_their_paths() {
        use LicenseChange::*;
        use LicenseState::*;
        assert_eq!(Active.after(Suspend), Some(Suspended));
        assert_eq!(Suspended.after(Reinstate), Some(Active));
        assert_eq!(Suspended.after(Revoke), Some(Revoked));
        assert_eq!(Active.after(Revoke), Some(Revoked));
        assert_eq!(Active.after(Reinstate), None);
        assert_eq!(Revoked.after(Reinstate), None);
        assert_eq!(Revoked.after(Suspend), None);
        assert_eq!(Suspended.after(Suspend), None);
    }

    #[test]
    fn an_unknown_stored_state_is_an_error_not_active() {
        assert!("paused".parse::<LicenseState>().is_err());
        assert!("".parse::<LicenseState>().is_err());
        for s in [
            LicenseState::Active,
            LicenseState::Suspended,
            LicenseState::Revoked,
        ] {
            assert_eq!(s.as_str().parse::<LicenseState>().unwrap(), s);
        }
        assert_eq!(
            LicenseState::Active.effective(Some(10), 10),
            LicenseStatus::Expired
        );
        assert_eq!(
            LicenseState::Suspended.effective(Some(10), 20),
            LicenseStatus::Suspended
        );
    }
}

//! Names shared by the licence file, the HTTP API and the IPC protocol.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A name that is not one of the values a type accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownName {
    /// What the type is (`"environment"`, …).
    pub kind: &'static str,
    /// The name that was given.
    pub name: String,
}

impl fmt::Display for UnknownName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown {} {:?}", self.kind, self.name)
    }
}

impl std::error::Error for UnknownName {}

macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident, $kind:literal { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stable name used on the wire.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownName;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownName { kind: $kind, name: s.to_owned() }),
                }
            }
        }
    };
}

named_enum! {
    /// Test and live data are separated end to end: a test licence file never satisfies a live
    /// application, and a test API key never sees live data.
    Environment, "environment" {
        /// The sandbox: development and automated tests.
        Test => "test",
        /// Real customers.
        Live => "live",
    }
}

named_enum! {
    /// The status of a licence as the server signed it into a licence file.
    LicenseStatus, "licence status" {
        /// In good standing.
        Active => "active",
        /// Suspended by the vendor; may be reinstated.
        Suspended => "suspended",
        /// Revoked by the vendor for good.
        Revoked => "revoked",
        /// Past its licence expiry date.
        Expired => "expired",
    }
}

named_enum! {
    /// The companion's view of this machine's licence: the `state` of the IPC `status` answer.
    LicenseState, "licence state" {
        /// No licence has been activated on this machine.
        Unlicensed => "unlicensed",
        /// A valid licence file, refreshed on schedule.
        Active => "active",
        /// The refresh is overdue (offline, say), but the signed file is still valid: entitled
        /// until `offline_valid_until`.
        Grace => "grace",
        /// The signed file ran out before it could be refreshed.
        OfflineExpired => "offline_expired",
        /// The vendor suspended the licence.
        Suspended => "suspended",
        /// The vendor revoked the licence.
        Revoked => "revoked",
        /// The licence itself reached its expiry date.
        LicenseExpired => "license_expired",
        /// The system clock was turned back; cleared by one successful online refresh.
        ClockTampered => "clock_tampered",
        /// The cached licence file failed verification (edited, corrupt, another machine's).
        Invalid => "invalid",
    }
}

impl LicenseState {
    /// Whether a machine in this state may use the product.
    pub const fn is_entitled(self) -> bool {
        matches!(self, LicenseState::Active | LicenseState::Grace)
    }
}

named_enum! {
    /// Where the licence key is kept (`credential_store` in `status`).
    CredentialStoreKind, "credential store" {
        /// The operating system's store: Secret Service, Keychain or Credential Manager.
        Os => "os",
        /// The encrypted-file fallback, used only where the vendor's configuration allows it.
        File => "file",
        /// No store is reachable; the key cannot be kept.
        Unavailable => "unavailable",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_from_str_and_serde() {
        for state in LicenseState::ALL {
            assert_eq!(state.as_str().parse::<LicenseState>(), Ok(*state));
            let json = serde_json::to_string(state).unwrap();
            assert_eq!(
                json,
                format!("\"{}\"", state.as_str()),
                "serde and as_str disagree"
            );
        }
        for env in Environment::ALL {
            assert_eq!(env.as_str().parse::<Environment>(), Ok(*env));
        }
        assert!("staging".parse::<Environment>().is_err());
    }

    #[test]
    fn only_active_and_grace_are_entitled() {
        let entitled: Vec<_> = LicenseState::ALL
            .iter()
            .filter(|s| s.is_entitled())
            .collect();
        assert_eq!(entitled, [&LicenseState::Active, &LicenseState::Grace]);
    }
}

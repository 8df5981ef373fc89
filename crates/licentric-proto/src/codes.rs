//! Stable error codes of the local IPC protocol.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! error_codes {
    ($($(#[$vmeta:meta])* $variant:ident => ($text:literal, $number:literal)),+ $(,)?) => {
        /// An error an IPC client can receive, with a stable string (`error.data.code`) and a
        /// JSON-RPC number (`error.code`). Clients and the GUI match on the string, never on the
        /// message text.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        #[non_exhaustive]
        pub enum ErrorCode {
            $($(#[$vmeta])* $variant),+
        }

        impl ErrorCode {
            /// Every code, in declaration order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),+];

            /// The stable string carried in `error.data.code`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $text),+
                }
            }

            /// The JSON-RPC `error.code` number.
            pub const fn rpc_code(self) -> i64 {
                match self {
                    $(ErrorCode::$variant => $number),+
                }
            }

            /// The code whose stable string is `s`.
            pub fn from_name(s: &str) -> Option<ErrorCode> {
                match s {
                    $($text => Some(ErrorCode::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

error_codes! {
    /// The line was not JSON.
    ParseError => ("parse_error", -32700),
    /// The JSON was not a JSON-RPC 2.0 request.
    InvalidRequest => ("invalid_request", -32600),
    /// No such method.
    MethodNotFound => ("method_not_found", -32601),
    /// The method's parameters were missing, of the wrong type, or had unknown fields.
    InvalidParams => ("invalid_params", -32602),
    /// A bug or an unexpected failure inside the agent.
    InternalError => ("internal_error", -32603),
    /// A line longer than the 64 KiB limit; it was discarded without being read whole.
    MessageTooLarge => ("message_too_large", -32001),
    /// The vendor's configuration switched the management methods off.
    ManagementDisabled => ("management_disabled", -32002),
    /// The licence key is malformed; the message says what is wrong with it.
    InvalidLicenseKey => ("invalid_license_key", -32003),
    /// The method needs an activated machine.
    NotActivated => ("not_activated", -32004),
    /// The Licentric API could not be reached.
    NetworkUnavailable => ("network_unavailable", -32005),
    /// The TLS connection failed: certificate, pin or protocol version.
    TlsError => ("tls_error", -32006),
    /// The API refused the request; `error.data.reason` holds the API's error code.
    ServerRejected => ("server_rejected", -32007),
    /// The API answered with an error it could not handle right now (5xx, 429).
    ServerUnavailable => ("server_unavailable", -32008),
    /// A licence file failed verification; `error.data.reason` holds the verification code.
    LicenseFileInvalid => ("license_file_invalid", -32009),
    /// The OS credential store is locked or missing; the message says what to do.
    CredentialStoreUnavailable => ("credential_store_unavailable", -32010),
    /// The data folder could not be written (full disk, permissions).
    StorageError => ("storage_error", -32011),
    /// Another management operation is running; try again when it has finished.
    Busy => ("busy", -32012),
    /// The user cancelled the operation while it waited for the server; nothing changed.
    Cancelled => ("cancelled", -32013),
    /// The seat a floating licence gives does not carry the entitlement asked for.
    NotEntitled => ("not_entitled", -32014),
    /// `return`: this machine has no borrowed seat to return.
    NotBorrowed => ("not_borrowed", -32015),
    /// The connection was refused: the agent serves as many as it may, or this process holds
    /// its share of them; the message says which. The first request is answered so, then the
    /// connection is closed.
    TooManyConnections => ("too_many_connections", -32016),
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn strings_and_numbers_are_unique_and_round_trip() {
        let mut names = HashSet::new();
        let mut numbers = HashSet::new();
        for code in ErrorCode::ALL {
            assert!(names.insert(code.as_str()), "{code} is used twice");
            assert!(
                numbers.insert(code.rpc_code()),
                "{} is used twice",
                code.rpc_code()
            );
            assert_eq!(ErrorCode::from_name(code.as_str()), Some(*code));
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
            assert!(
                (-32768..=-32000).contains(&code.rpc_code()),
                "{code} outside the reserved range"
            );
        }
    }
}

//! The error every command returns: `{code, message, reason}`, so the UI matches on a stable
//! code and shows the message, never parsing text.

use licentric_agent::AgentError;
use serde::Serialize;

/// An error as the UI receives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{message} [{code}]")]
pub struct UiError {
    /// The stable code (the IPC error codes: `invalid_license_key`, `network_unavailable`, …,
    /// and the app's own `not_started`, `io_error`).
    pub code: String,
    /// A sentence for the user.
    pub message: String,
    /// The finer code, where there is one (the API's, the verification's, the key format's).
    pub reason: Option<String>,
}

impl UiError {
    /// An error with the app's own `code`.
    pub fn new(code: &str, message: impl Into<String>) -> UiError {
        UiError {
            code: code.to_owned(),
            message: message.into(),
            reason: None,
        }
    }
}

impl From<AgentError> for UiError {
    fn from(e: AgentError) -> UiError {
        UiError {
            code: e.code().as_str().to_owned(),
            message: e.user_message(),
            reason: e.reason().map(str::to_owned),
        }
    }
}

impl From<std::io::Error> for UiError {
    fn from(e: std::io::Error) -> UiError {
        UiError::new("io_error", e.to_string())
    }
}

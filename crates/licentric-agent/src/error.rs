//! The agent's errors, each with a stable [`ErrorCode`] for IPC clients and the GUI.

use licentric_proto::ErrorCode;

use crate::api::ApiError;

/// Why an agent operation failed. Nothing is lost when one does: a valid cached licence is
/// never destroyed by a failure.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError {
    /// The key is malformed.
    #[error("{0}")]
    InvalidKey(licentric_core::KeyError),
    /// The operation needs an activated machine.
    #[error("this machine is not activated")]
    NotActivated,
    /// The API call failed.
    #[error("{0}")]
    Api(ApiError),
    /// A licence file failed verification.
    #[error("{0}")]
    LicenseFile(licentric_core::VerifyError),
    /// The credential store is unavailable.
    #[error("{0}")]
    Credentials(String),
    /// The data folder could not be written.
    #[error("cannot save the licence: {0}")]
    Storage(String),
    /// An imported licence file answers no activation request this machine made.
    #[error("{0}")]
    ImportRefused(licentric_core::memory::ImportRefusal),
    /// The server stated, signed, that this machine is no longer activated
    /// (`machine_deactivated` or `machine_not_found`).
    #[error(
        "this machine was deactivated from elsewhere (the vendor's portal, or its seat moved to another machine); activate it again to use it here"
    )]
    MachineGone(&'static str),
    /// Another operation is running (a refresh waiting on the server, say): try again when it
    /// has finished.
    #[error("another licence operation is running; try again in a moment")]
    Busy,
    /// The user stopped waiting for the server; nothing changed on this machine.
    #[error("cancelled: nothing was changed on this computer")]
    Cancelled,
    /// Something else failed inside the agent.
    #[error("{0}")]
    Internal(String),
    /// The floating licence's seat does not carry this entitlement.
    #[error("this licence does not include {0:?}")]
    NotEntitled(String),
    /// The seat borrowed here does not carry this entitlement, which the licence may have but
    /// count apart: a borrowed seat takes nothing on until it ends or is returned.
    #[error(
        "the seat borrowed here does not include {0:?} (the licence may not have it, or count its seats apart), and a borrowed seat takes nothing on until the borrow ends or is returned"
    )]
    NotInBorrowedSeat(String),
    /// `return` with no seat borrowed.
    #[error("this machine has no borrowed seat to return")]
    NotBorrowed,
}

impl AgentError {
    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        match self {
            AgentError::InvalidKey(_) => ErrorCode::InvalidLicenseKey,
            AgentError::NotActivated => ErrorCode::NotActivated,
            AgentError::Api(ApiError::Network(_) | ApiError::NoAnswer(_)) => {
                ErrorCode::NetworkUnavailable
            }
            AgentError::Api(ApiError::Tls(_)) => ErrorCode::TlsError,
            AgentError::Api(ApiError::Rejected { .. }) => ErrorCode::ServerRejected,
            AgentError::Api(_) => ErrorCode::ServerUnavailable,
            AgentError::LicenseFile(_) | AgentError::ImportRefused(_) => {
                ErrorCode::LicenseFileInvalid
            }
            AgentError::MachineGone(_) => ErrorCode::ServerRejected,
            AgentError::Credentials(_) => ErrorCode::CredentialStoreUnavailable,
            AgentError::Storage(_) => ErrorCode::StorageError,
            AgentError::Busy => ErrorCode::Busy,
            AgentError::Cancelled => ErrorCode::Cancelled,
            AgentError::Internal(_) => ErrorCode::InternalError,
            AgentError::NotEntitled(_) | AgentError::NotInBorrowedSeat(_) => ErrorCode::NotEntitled,
            AgentError::NotBorrowed => ErrorCode::NotBorrowed,
        }
    }

    /// The finer code: the API's, the verification's or the key format's.
    pub fn reason(&self) -> Option<&'static str> {
        match self {
            AgentError::InvalidKey(e) => Some(e.code()),
            AgentError::Api(ApiError::Rejected { code, .. }) => Some(code.as_str()),
            AgentError::LicenseFile(e) => Some(e.code()),
            AgentError::ImportRefused(e) => Some(e.code()),
            AgentError::MachineGone(code) => Some(code),
            _ => None,
        }
    }

    /// As an IPC error.
    pub fn to_rpc(&self) -> licentric_proto::jsonrpc::RpcError {
        let error = licentric_proto::jsonrpc::RpcError::new(self.code(), self.user_message());
        match self.reason() {
            Some(reason) => error.with_reason(reason),
            None => error,
        }
    }

    /// A sentence for the user, in plain words.
    pub fn user_message(&self) -> String {
        use licentric_proto::api::ApiErrorCode as C;
        match self {
            AgentError::Api(ApiError::Rejected { code: C::InvalidLicenseKey, .. }) => {
                "This licence key was not recognised. Check it against your purchase e-mail.".into()
            }
            AgentError::Api(ApiError::Rejected { code: C::MachineLimitReached, retry_at: Some(at), .. }) => format!(
                "This computer's seat is held by another system with the same hardware (a copy of this system, or the other system of a dual boot), in use until at least {}. Deactivate it there, or activate here again after that.",
                crate::plan::readable(*at).unwrap_or_else(|| at.to_string())
            ),
            AgentError::Api(ApiError::Rejected { code: C::VirtualizationNotAllowed, .. }) => {
                "This licence may not be activated in a virtual machine or container, and this system runs in one. Activate it on the computer itself, or ask your vendor.".into()
            }
            AgentError::Api(ApiError::Rejected { code: C::MachineLimitReached, max_machines, .. }) => match max_machines {
                Some(1) => "This licence is already in use on another machine, the one it allows. Deactivate it there (or ask your vendor) to free its seat.".into(),
                Some(n) => format!(
                    "This licence is already in use on {n} machines, as many as it allows. Deactivate it on one of them (or ask your vendor) to free a seat."
                ),
                None => "This licence is already in use on as many machines as it allows. Deactivate it on one of them (or ask your vendor) to free a seat.".into(),
            },
            AgentError::Api(ApiError::Rejected {
                code: C::InvalidFingerprint,
                changed_components: Some(changed),
                ..
            }) if !changed.is_empty() => {
                let parts: Vec<&str> = changed
                    .iter()
                    .filter_map(|kind| {
                        licentric_core::components::ComponentKind::parse(kind)
                            .map(licentric_core::components::ComponentKind::describe)
                    })
                    .collect();
                format!(
                    "This computer is not the one the licence was activated on: its {} differ. If it is the same computer with new parts, ask your vendor to free the old activation; otherwise deactivate the other computer first.",
                    parts.join(", ")
                )
            }
            AgentError::Api(ApiError::Rejected { code: C::SeatMoveLimitReached, retry_at, .. }) => format!(
                "This licence has moved between machines as often as its terms allow. {} Your vendor can free it sooner.",
                retry_at.and_then(crate::plan::readable).map_or_else(
                    || "Try again later.".to_owned(),
                    |at| format!("It can move to this machine from {at}.")
                )
            ),
            AgentError::Api(ApiError::Rejected { code: C::LicenseSuspended, .. }) => "This licence is suspended. Contact your vendor.".into(),
            AgentError::Api(ApiError::Rejected { code: C::LicenseRevoked, .. }) => "This licence has been revoked. Contact your vendor.".into(),
            AgentError::Api(ApiError::Rejected { code: C::LicenseExpired, .. }) => "This licence has expired. Renew it with your vendor.".into(),
            AgentError::Api(ApiError::Rejected { code: C::RateLimited, .. }) => "Too many attempts. Wait a minute and try again.".into(),
            AgentError::Api(ApiError::Network(_)) => {
                "The licensing server cannot be reached. Check your internet connection and try again.".into()
            }
            AgentError::Api(ApiError::NoAnswer(seconds)) => format!(
                "The licensing server did not answer within {seconds} seconds. Check your connection (or proxy) and try again later."
            ),
            AgentError::Api(ApiError::Tls(detail)) => format!(
                "The licensing server's identity could not be verified, so nothing was sent ({detail}). A network device may be intercepting secure connections."
            ),
            other => other.to_string(),
        }
    }
}

impl From<ApiError> for AgentError {
    fn from(e: ApiError) -> Self {
        AgentError::Api(e)
    }
}

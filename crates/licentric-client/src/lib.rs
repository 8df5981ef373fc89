//! Ask the Licentric companion whether this machine is licensed, from any local application.
//!
//! [`Client::connect`] checks the agent's socket — its folder must be this user's with mode
//! 0700 and the listening process must run as this user, before a byte is sent — opens it and
//! checks the protocol version; then
//! [`Client::status`], [`Client::has_entitlement`], [`Client::license_file`] answer in
//! microseconds, offline too, and [`Client::subscribe`] turns the connection into a stream
//! of status changes. [`watch::Watch`] answers from memory, in nanoseconds, what the agent
//! last pushed (and "no" whenever it cannot reach it). The `tokio` feature adds the same API,
//! async, in `nonblocking`. With
//! the `verify` feature, `verify::check` verifies the signed licence
//! file against the vendor's public keys, so a program squatting on the socket cannot lie.
//!
//! # Example
//!
//! ```no_run
//! use licentric_client::{Client, Environment};
//!
//! let mut client = Client::connect_default("acme-cad", Environment::Live)?;
//! if client.has_entitlement("export-pdf")? {
//!     println!("PDF export enabled");
//! }
//! # Ok::<(), licentric_client::ClientError>(())
//! ```
#![deny(missing_docs)]

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::Duration;

use licentric_proto::framing::encode_line;
use licentric_proto::ipc::{
    ActivateParams, BorrowParams, Call, CancelResult, CheckoutParams, ClientsResult,
    FingerprintResult, HasEntitlementParams, HasEntitlementResult, ImportLicenseFileParams,
    LicenseFileResult, ProgressResult, ReleaseResult, RequestFileResult, Status, SubscribeResult,
    VersionResult, method,
};
pub use licentric_proto::ipc::{CheckoutResult, ClientSeen, Retrying, ReturnResult};
use licentric_proto::jsonrpc::{Id, Outcome, RpcError, ServerMessage};
use serde::de::DeserializeOwned;

#[cfg(feature = "tokio")]
pub mod nonblocking;
mod transport;
#[cfg(feature = "verify")]
pub mod verify;
pub mod watch;

pub use transport::Closer;
use transport::Connection;

pub use licentric_platform::endpoint::{self, EndpointError};
pub use licentric_proto::ipc::Status as LicenseStatus;
pub use licentric_proto::{Environment, ErrorCode, LicenseState, PROTOCOL_VERSION};

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// No agent answers on the socket.
    #[error("the licensing agent is not running (no answer on {0})")]
    NotRunning(PathBuf),
    /// The agent speaks another protocol version.
    #[error("the licensing agent speaks protocol {agent}, this program {ours}")]
    Protocol {
        /// The agent's.
        agent: u32,
        /// Ours.
        ours: u32,
    },
    /// The agent answered with an error.
    #[error("{0}")]
    Agent(RpcError),
    /// The agent serves another product or environment than the one asked for (a sandbox
    /// agent where the live one should be, say): its answers are not for this app.
    #[error("the agent at this socket serves {found}, not {expected}")]
    WrongAgent {
        /// What the app asked for (`acme-cad (live)`).
        expected: String,
        /// What the agent serves.
        found: String,
    },
    /// The agent did not answer in time (see [`QUERY_TIMEOUT`]): treat the machine as not
    /// entitled for now.
    #[error("the licensing agent did not answer in time")]
    Timeout,
    /// The endpoint failed the checks of `docs/ipc.md`, Transport (a folder or a listener of another user):
    /// nothing was sent to it.
    #[error("refusing the licensing agent's socket: {0}")]
    Unsafe(EndpointError),
    /// The connection failed or the answer was malformed.
    #[error("IPC failure: {0}")]
    Io(String),
}

impl ClientError {
    /// The agent's stable error code, if it was an agent error.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Agent(e) => e.error_code(),
            _ => None,
        }
    }
}

/// The endpoint the agent of `product_id` in `environment` listens on (`docs/ipc.md`, Transport):
/// `$LICENTRIC_SOCKET`, else `$XDG_RUNTIME_DIR/licentric/<product_id>-<environment>.sock`, else
/// on macOS `~/Library/Caches/licentric/…`, else a per-user folder in the temp dir. The agent
/// binds the same path: the rule has one home, `licentric_platform::endpoint`.
pub fn default_socket(product_id: &str, environment: Environment) -> PathBuf {
    endpoint::default_socket(product_id, environment)
}

impl ClientError {
    fn from_endpoint(e: EndpointError) -> ClientError {
        match e {
            EndpointError::Missing(path) => ClientError::NotRunning(path),
            other => ClientError::Unsafe(other),
        }
    }
}

/// The agent's version answer against what the client expects: the protocol, and the
/// product and environment when the client asked for them. Shared by both clients.
fn check_version(
    version: &VersionResult,
    expect: Option<(&str, Environment)>,
) -> Result<(), ClientError> {
    if version.protocol != PROTOCOL_VERSION {
        return Err(ClientError::Protocol {
            agent: version.protocol,
            ours: PROTOCOL_VERSION,
        });
    }
    if let Some((product, environment)) = expect
        && (version.product_id != product || version.environment != Some(environment))
    {
        return Err(ClientError::WrongAgent {
            expected: format!("{product} ({environment})"),
            found: format!(
                "{} ({})",
                version.product_id,
                version
                    .environment
                    .map_or("unknown environment", Environment::as_str)
            ),
        });
    }
    Ok(())
}

/// What a message read while waiting for the answer to request `id` means: the answer
/// (`Some`), or nothing yet (`None`; a `status_changed` notification is queued in `pending`).
/// Shared by the blocking and the async client.
fn answer_to<T: DeserializeOwned>(
    message: ServerMessage,
    id: i64,
    pending: &mut VecDeque<Status>,
) -> Option<Result<T, ClientError>> {
    match message {
        ServerMessage::Notification(_) => {
            queue_change(message, pending);
            None
        }
        ServerMessage::Response(r) if r.id == Some(Id::Number(id)) => Some(match r.outcome {
            Outcome::Result(v) => serde_json::from_value(v)
                .map_err(|e| ClientError::Io(format!("unexpected answer: {e}"))),
            Outcome::Error(e) => Err(ClientError::Agent(e)),
        }),
        // An error with no id (a line the agent could not read) is about this request too.
        ServerMessage::Response(r) => match r.outcome {
            Outcome::Error(e) => Some(Err(ClientError::Agent(e))),
            Outcome::Result(_) => None,
        },
    }
}

/// How long a query (`status`, `has_entitlement`…) may wait for its answer by default: an
/// agent that does not answer in this time is not going to, and the app must decide without it.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a management call (`activate`, `refresh`…) may wait by default: the agent's own
/// limit on an operation is well inside it (`refresh.total_seconds`, 50 s at most).
pub const MANAGEMENT_TIMEOUT: Duration =
    Duration::from_secs(licentric_proto::ipc::MANAGEMENT_WAIT_SECONDS);
/// The bounds of a time-out set with [`Client::set_timeout`]: a millisecond at least (a
/// socket refuses zero), a day at most (a deadline further out could not be represented).
pub const TIMEOUT_RANGE: std::ops::RangeInclusive<Duration> =
    Duration::from_millis(1)..=Duration::from_secs(24 * 60 * 60);

/// `timeout` within [`TIMEOUT_RANGE`].
pub(crate) fn bounded(timeout: Option<Duration>) -> Option<Duration> {
    timeout.map(|t| t.clamp(*TIMEOUT_RANGE.start(), *TIMEOUT_RANGE.end()))
}
/// Status changes kept while waiting for an answer: each is a whole status, so older ones
/// beyond this are dropped (the newest always kept).
pub const MAX_PENDING_CHANGES: usize = 16;

/// How long `call` may wait by default.
fn default_timeout(call: &Call) -> Duration {
    if call.is_management() {
        MANAGEMENT_TIMEOUT
    } else {
        QUERY_TIMEOUT
    }
}

/// Queues the status of a `status_changed` notification, keeping at most
/// [`MAX_PENDING_CHANGES`] (the newest); ignores anything else.
fn queue_change(message: ServerMessage, pending: &mut VecDeque<Status>) {
    if let ServerMessage::Notification(note) = message
        && note.method == method::STATUS_CHANGED
        && let Some(status) = note.params.and_then(|p| serde_json::from_value(p).ok())
    {
        if pending.len() >= MAX_PENDING_CHANGES {
            pending.pop_front();
        }
        pending.push_back(status);
    }
}

/// An I/O error while talking to the agent: a time-out says so.
fn io_error(e: &std::io::Error) -> ClientError {
    match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => ClientError::Timeout,
        _ => ClientError::Io(e.to_string()),
    }
}

/// A blocking connection to the agent.
pub struct Client {
    connection: Connection,
    next_id: i64,
    pending: VecDeque<Status>,
    /// The caller's limit on a call (and on waiting for a change); `None`: the defaults.
    timeout: Option<Duration>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").finish_non_exhaustive()
    }
}

impl Client {
    /// Connects to the agent of `product_id` in `environment` at its default socket.
    ///
    /// # Errors
    /// [`ClientError::NotRunning`]; [`ClientError::Unsafe`] for a socket that fails the
    /// checks of `docs/ipc.md`, Transport (nothing is sent to it); [`ClientError::Protocol`] for an agent of
    /// another protocol version.
    pub fn connect_default(
        product_id: &str,
        environment: Environment,
    ) -> Result<Client, ClientError> {
        Client::connect_to(
            &default_socket(product_id, environment),
            product_id,
            environment,
        )
    }

    /// As [`connect`](Self::connect), and checks that the agent serves `product_id` in
    /// `environment` (a sandbox agent where the live one should be is refused).
    ///
    /// # Errors
    /// As [`connect_default`](Self::connect_default), and [`ClientError::WrongAgent`].
    pub fn connect_to(
        path: &Path,
        product_id: &str,
        environment: Environment,
    ) -> Result<Client, ClientError> {
        Client::open(path, Some((product_id, environment)))
    }

    /// Checks the endpoint at `path` (its folder, then the listening peer), connects, and
    /// checks the agent's protocol version.
    ///
    /// # Errors
    /// As [`connect_default`](Self::connect_default).
    pub fn connect(path: &Path) -> Result<Client, ClientError> {
        Client::open(path, None)
    }

    fn open(path: &Path, expect: Option<(&str, Environment)>) -> Result<Client, ClientError> {
        let mut client = Client {
            connection: Connection::open(path)?,
            next_id: 1,
            pending: VecDeque::new(),
            timeout: None,
        };
        let version: VersionResult = client.call(Call::Version)?;
        check_version(&version, expect)?;
        Ok(client)
    }

    /// Reads one message, waiting at most until `deadline` (`None`: as long as it takes).
    fn read_message(
        &mut self,
        deadline: Option<std::time::Instant>,
    ) -> Result<ServerMessage, ClientError> {
        let wait = match deadline {
            Some(at) => Some(
                at.checked_duration_since(std::time::Instant::now())
                    .filter(|d| !d.is_zero())
                    .ok_or(ClientError::Timeout)?,
            ),
            None => None,
        };
        let mut line = Vec::new();
        let n = self.connection.read_line(wait, &mut line)?;
        if n == 0 {
            return Err(ClientError::Io("the agent closed the connection".into()));
        }
        serde_json::from_slice(&line).map_err(|e| ClientError::Io(format!("malformed answer: {e}")))
    }

    /// Sends `call` and waits for its answer (queueing notifications that arrive first).
    ///
    /// # Errors
    /// [`ClientError::Agent`] for an error answer, [`ClientError::Io`] otherwise.
    pub fn call<T: DeserializeOwned>(&mut self, call: Call) -> Result<T, ClientError> {
        let limit = self.timeout.unwrap_or_else(|| default_timeout(&call));
        let deadline = std::time::Instant::now() + limit;
        let id = self.next_id;
        self.next_id += 1;
        let line = encode_line(&call.into_request(Id::Number(id)))
            .map_err(|e| ClientError::Io(e.to_string()))?;
        self.connection.write_all(&line, limit)?;
        // Until the answer to this request, or the deadline: notifications and answers to
        // other ids do not extend it.
        loop {
            let message = self.read_message(Some(deadline))?;
            if let Some(answer) = answer_to(message, id, &mut self.pending) {
                return answer;
            }
        }
    }

    /// The licence status.
    ///
    /// # Errors
    /// As [`call`](Self::call).
    pub fn status(&mut self) -> Result<Status, ClientError> {
        self.call(Call::Status)
    }

    /// Whether the machine is entitled now to `code`.
    ///
    /// # Errors
    /// As [`call`](Self::call).
    pub fn has_entitlement(&mut self, code: &str) -> Result<bool, ClientError> {
        let r: HasEntitlementResult = self.call(Call::HasEntitlement(HasEntitlementParams {
            code: code.to_owned(),
        }))?;
        Ok(r.entitled)
    }

    /// A seat of a floating licence, held while this connection stays open (drop the client,
    /// or call [`release`](Self::release), to give it back; if the app dies, its connection
    /// closes and the agent gives it back at once). Asking again keeps the one seat.
    ///
    /// # Errors
    /// As [`call`](Self::call); the agent's `server_rejected` with reason `no_seat_available`
    /// when every seat is held, `not_entitled` for a seat without `entitlement`.
    pub fn checkout(&mut self, entitlement: Option<&str>) -> Result<CheckoutResult, ClientError> {
        self.call(Call::Checkout(CheckoutParams {
            entitlement: entitlement.map(str::to_owned),
            wait: false,
        }))
    }

    /// As [`checkout`](Self::checkout), waiting while every seat is held: the agent keeps
    /// trying for this connection and the seat is this client's when this returns. The wait
    /// ends at `deadline`, if given ([`ClientError::Timeout`]; the agent stops trying when
    /// this connection closes).
    ///
    /// # Errors
    /// As [`checkout`](Self::checkout), except `no_seat_available`; the reason the wait ended
    /// (the licence suspended, the entitlement not in it…).
    pub fn checkout_waiting(
        &mut self,
        entitlement: Option<&str>,
        deadline: Option<std::time::Instant>,
    ) -> Result<CheckoutResult, ClientError> {
        match self.start_checkout(entitlement)? {
            Some(seat) => Ok(seat),
            None => self.next_seat(deadline),
        }
    }

    /// The first half of [`checkout_waiting`](Self::checkout_waiting): the seat at once, or
    /// `None` when every seat is held and the agent now waits for one for this connection
    /// (then [`next_seat`](Self::next_seat)).
    ///
    /// # Errors
    /// As [`checkout`](Self::checkout), except `no_seat_available`.
    pub fn start_checkout(
        &mut self,
        entitlement: Option<&str>,
    ) -> Result<Option<CheckoutResult>, ClientError> {
        let first = self.call(Call::Checkout(CheckoutParams {
            entitlement: entitlement.map(str::to_owned),
            wait: true,
        }));
        match first {
            Ok(seat) => Ok(Some(seat)),
            Err(ClientError::Agent(e))
                if e.data.as_ref().and_then(|d| d.reason.as_deref())
                    == Some("no_seat_available") =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Waits for the seat the agent is waiting for on this connection (after
    /// [`start_checkout`](Self::start_checkout) answered `None`), until `deadline` if given.
    ///
    /// # Errors
    /// [`ClientError::Timeout`] at the deadline; the reason the wait ended.
    pub fn next_seat(
        &mut self,
        deadline: Option<std::time::Instant>,
    ) -> Result<CheckoutResult, ClientError> {
        loop {
            match self.read_message(deadline)? {
                ServerMessage::Notification(note) if note.method == method::SEAT_AVAILABLE => {
                    return serde_json::from_value(note.params.unwrap_or_default())
                        .map_err(|e| ClientError::Io(format!("unexpected answer: {e}")));
                }
                ServerMessage::Notification(note) if note.method == method::SEAT_WAIT_ENDED => {
                    let error: RpcError =
                        serde_json::from_value(note.params.unwrap_or_default())
                            .map_err(|e| ClientError::Io(format!("unexpected answer: {e}")))?;
                    return Err(ClientError::Agent(error));
                }
                other => queue_change(other, &mut self.pending),
            }
        }
    }

    /// Gives this connection's seat back; whether it held one.
    ///
    /// # Errors
    /// As [`call`](Self::call).
    pub fn release(&mut self) -> Result<bool, ClientError> {
        let r: ReleaseResult = self.call(Call::Release)?;
        Ok(r.released)
    }

    /// Borrows a seat of the floating licence until `until` (RFC 3339) for a trip (a
    /// management method): this machine's until then, offline, whether apps run or not.
    ///
    /// # Errors
    /// As [`call`](Self::call); the server's refusal (`borrow_too_long`, with the limit in
    /// its message) comes as an agent error.
    pub fn borrow(&mut self, until: &str) -> Result<CheckoutResult, ClientError> {
        self.call(Call::Borrow(BorrowParams {
            until: until.to_owned(),
        }))
    }

    /// Returns the borrowed seat early (a management method); whether apps here still hold it
    /// (then it stays theirs as an ordinary seat while they run).
    ///
    /// # Errors
    /// As [`call`](Self::call); `not_borrowed` when no seat is borrowed.
    pub fn return_seat(&mut self) -> Result<ReturnResult, ClientError> {
        self.call(Call::Return)
    }

    /// The call to the server being tried again now, if any: for the person waiting on an
    /// operation another connection asked for.
    ///
    /// # Errors
    /// As [`call`](Self::call).
    pub fn progress(&mut self) -> Result<Option<Retrying>, ClientError> {
        let r: ProgressResult = self.call(Call::Progress)?;
        Ok(r.retrying)
    }

    /// Stops waiting for the server in the user's operation running now, asked on another
    /// connection (a management method): that call ends with the error `cancelled`.
    ///
    /// # Errors
    /// As [`call`](Self::call).
    pub fn cancel(&mut self) -> Result<(), ClientError> {
        let _: CancelResult = self.call(Call::Cancel)?;
        Ok(())
    }

    /// The local applications that asked the agent recently, the most recent first.
    ///
    /// # Errors
    /// As [`call`](Self::call).
    pub fn clients(&mut self) -> Result<Vec<ClientSeen>, ClientError> {
        let r: ClientsResult = self.call(Call::Clients)?;
        Ok(r.clients)
    }

    /// The signed licence file, if the machine has one.
    ///
    /// # Errors
    /// As [`call`](Self::call).
    pub fn license_file(&mut self) -> Result<Option<String>, ClientError> {
        let r: LicenseFileResult = self.call(Call::LicenseFile)?;
        Ok(r.license_file)
    }

    /// This machine's fingerprint for the product.
    ///
    /// # Errors
    /// As [`call`](Self::call).
    pub fn fingerprint(&mut self) -> Result<String, ClientError> {
        let r: FingerprintResult = self.call(Call::Fingerprint)?;
        Ok(r.fingerprint)
    }

    /// Activates the machine (a management method).
    ///
    /// # Errors
    /// As [`call`](Self::call).
    pub fn activate(&mut self, license_key: &str) -> Result<Status, ClientError> {
        self.call(Call::Activate(ActivateParams {
            license_key: license_key.to_owned(),
        }))
    }

    /// Deactivates the machine (a management method).
    ///
    /// # Errors
    /// As [`call`](Self::call).
    pub fn deactivate(&mut self) -> Result<Status, ClientError> {
        self.call(Call::Deactivate)
    }

    /// Refreshes the licence now (a management method).
    ///
    /// # Errors
    /// As [`call`](Self::call).
    pub fn refresh(&mut self) -> Result<Status, ClientError> {
        self.call(Call::Refresh)
    }

    /// Imports a licence file (a management method).
    ///
    /// # Errors
    /// As [`call`](Self::call).
    pub fn import_license_file(&mut self, text: &str) -> Result<Status, ClientError> {
        self.call(Call::ImportLicenseFile(ImportLicenseFileParams {
            text: text.to_owned(),
        }))
    }

    /// Makes an activation request file for this machine (a management method); the agent
    /// remembers its nonce, so it will import the licence file that answers it.
    ///
    /// # Errors
    /// As [`call`](Self::call).
    pub fn request_file(&mut self) -> Result<String, ClientError> {
        let r: RequestFileResult = self.call(Call::RequestFile)?;
        Ok(r.text)
    }

    /// Subscribes: returns the current status; then [`next_change`](Self::next_change) yields
    /// each change.
    ///
    /// # Errors
    /// As [`call`](Self::call).
    pub fn subscribe(&mut self) -> Result<Status, ClientError> {
        let r: SubscribeResult = self.call(Call::Subscribe)?;
        Ok(r.status)
    }

    /// Waits for the next status change (after [`subscribe`](Self::subscribe)).
    ///
    /// # Errors
    /// When the connection fails.
    pub fn next_change(&mut self) -> Result<Status, ClientError> {
        loop {
            if let Some(status) = self.pending.pop_front() {
                return Ok(status);
            }
            let deadline = self.timeout.map(|t| std::time::Instant::now() + t);
            let message = self.read_message(deadline)?;
            queue_change(message, &mut self.pending);
        }
    }

    /// Waits for the next status change until `deadline` at the latest, whatever else the
    /// agent sends meanwhile (a deadline that other lines do not push back).
    ///
    /// # Errors
    /// [`ClientError::Timeout`] at the deadline; when the connection fails.
    pub fn next_change_before(
        &mut self,
        deadline: std::time::Instant,
    ) -> Result<Status, ClientError> {
        loop {
            if let Some(status) = self.pending.pop_front() {
                return Ok(status);
            }
            let message = self.read_message(Some(deadline))?;
            queue_change(message, &mut self.pending);
        }
    }

    /// A handle that closes this connection from another thread: a [`next_change`] waiting
    /// there returns an error at once (to stop a subscription).
    ///
    /// [`next_change`]: Self::next_change
    ///
    /// # Errors
    /// When the socket cannot be shared.
    pub fn closer(&self) -> Result<Closer, ClientError> {
        self.connection.closer()
    }

    /// Sets how long a call may wait for its answer, and [`next_change`](Self::next_change)
    /// for a change (`None`: the defaults — [`QUERY_TIMEOUT`], [`MANAGEMENT_TIMEOUT`], and no
    /// limit on waiting for a change). A value outside [`TIMEOUT_RANGE`] is taken as its
    /// nearest bound.
    ///
    /// # Errors
    /// Never today; kept fallible for future transports.
    pub fn set_timeout(&mut self, timeout: Option<Duration>) -> Result<(), ClientError> {
        self.timeout = bounded(timeout);
        Ok(())
    }
}

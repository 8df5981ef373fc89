//! Ask the Licentric companion whether this machine is licensed, from any local application.
//!
//! [`Client::connect`] opens the agent's socket and checks its protocol version; then
//! [`Client::status`], [`Client::has_entitlement`], [`Client::license_file`] answer in
//! microseconds, offline too, and [`Client::subscribe`] turns the connection into a stream
//! of status changes. The `tokio` feature adds the same API, async, in `nonblocking`. With
//! the `verify` feature, `verify::check` verifies the signed licence
//! file against the vendor's public keys, so a program squatting on the socket cannot lie.
//!
//! # Example
//!
//! ```no_run
//! let mut client = licentric_client::Client::connect_default("acme-cad")?;
//! if client.has_entitlement("export-pdf")? {
//!     println!("PDF export enabled");
//! }
//! # Ok::<(), licentric_client::ClientError>(())
//! ```
#![deny(missing_docs)]

use std::collections::VecDeque;
#[cfg(unix)]
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use licentric_proto::framing::{MAX_LINE_BYTES, encode_line};
use licentric_proto::ipc::{
    ActivateParams, Call, FingerprintResult, HasEntitlementParams, HasEntitlementResult,
    ImportLicenseFileParams, LicenseFileResult, Status, SubscribeResult, VersionResult, method,
};
use licentric_proto::jsonrpc::{Id, Outcome, RpcError, ServerMessage};
use serde::de::DeserializeOwned;

#[cfg(all(unix, feature = "tokio"))]
pub mod nonblocking;
#[cfg(feature = "verify")]
pub mod verify;

pub use licentric_proto::ipc::Status as LicenseStatus;
pub use licentric_proto::{ErrorCode, LicenseState, PROTOCOL_VERSION};

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

/// The socket path the agent uses for `product_id` (DESIGN §5, `docs/ipc.md`):
/// `$LICENTRIC_SOCKET`, else `$XDG_RUNTIME_DIR/licentric/<product_id>.sock`, else on macOS
/// `~/Library/Caches/licentric/<product_id>.sock`, else a per-user folder in the temp dir.
/// The agent binds the same path (it is the one home of this rule).
pub fn default_socket(product_id: &str) -> PathBuf {
    socket_from(
        &SocketFacts {
            os: std::env::consts::OS,
            socket_env: std::env::var_os("LICENTRIC_SOCKET").map(PathBuf::from),
            runtime_dir: std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from),
            home: std::env::var_os("HOME").map(PathBuf::from),
            temp: std::env::temp_dir(),
            uid: uid(),
        },
        product_id,
    )
}

/// What the default socket path depends on, gathered by [`default_socket`].
struct SocketFacts {
    os: &'static str,
    socket_env: Option<PathBuf>,
    runtime_dir: Option<PathBuf>,
    home: Option<PathBuf>,
    temp: PathBuf,
    uid: u32,
}

fn socket_from(facts: &SocketFacts, product_id: &str) -> PathBuf {
    if let Some(path) = &facts.socket_env {
        return path.clone();
    }
    let dir = match (&facts.runtime_dir, &facts.home) {
        (Some(runtime), _) => runtime.join("licentric"),
        (None, Some(home)) if facts.os == "macos" => home.join("Library/Caches/licentric"),
        _ => facts.temp.join(format!("licentric-{}", facts.uid)),
    };
    dir.join(format!("{product_id}.sock"))
}

#[cfg(unix)]
fn uid() -> u32 {
    rustix::process::getuid().as_raw()
}

#[cfg(not(unix))]
fn uid() -> u32 {
    0
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

/// Queues the status of a `status_changed` notification; ignores anything else.
fn queue_change(message: ServerMessage, pending: &mut VecDeque<Status>) {
    if let ServerMessage::Notification(note) = message
        && note.method == method::STATUS_CHANGED
        && let Some(status) = note.params.and_then(|p| serde_json::from_value(p).ok())
    {
        pending.push_back(status);
    }
}

/// A blocking connection to the agent.
#[cfg(unix)]
pub struct Client {
    reader: BufReader<std::os::unix::net::UnixStream>,
    writer: std::os::unix::net::UnixStream,
    next_id: i64,
    pending: VecDeque<Status>,
}

#[cfg(unix)]
impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").finish_non_exhaustive()
    }
}

#[cfg(unix)]
impl Client {
    /// Connects to the agent of `product_id` at its default socket.
    ///
    /// # Errors
    /// [`ClientError::NotRunning`], or [`ClientError::Protocol`] for an agent of another
    /// protocol version.
    pub fn connect_default(product_id: &str) -> Result<Client, ClientError> {
        Client::connect(&default_socket(product_id))
    }

    /// Connects to the agent at `path` and checks its protocol version.
    ///
    /// # Errors
    /// As [`connect_default`](Self::connect_default).
    pub fn connect(path: &Path) -> Result<Client, ClientError> {
        let stream = std::os::unix::net::UnixStream::connect(path)
            .map_err(|_| ClientError::NotRunning(path.to_owned()))?;
        stream
            .set_read_timeout(Some(Duration::from_secs(120)))
            .map_err(|e| ClientError::Io(e.to_string()))?;
        let writer = stream
            .try_clone()
            .map_err(|e| ClientError::Io(e.to_string()))?;
        let mut client = Client {
            reader: BufReader::new(stream),
            writer,
            next_id: 1,
            pending: VecDeque::new(),
        };
        let version: VersionResult = client.call(Call::Version)?;
        if version.protocol != PROTOCOL_VERSION {
            return Err(ClientError::Protocol {
                agent: version.protocol,
                ours: PROTOCOL_VERSION,
            });
        }
        Ok(client)
    }

    fn read_message(&mut self) -> Result<ServerMessage, ClientError> {
        let mut line = Vec::new();
        let n = (&mut self.reader)
            .take(MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(|e| ClientError::Io(e.to_string()))?;
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
        let id = self.next_id;
        self.next_id += 1;
        let line = encode_line(&call.into_request(Id::Number(id)))
            .map_err(|e| ClientError::Io(e.to_string()))?;
        self.writer
            .write_all(&line)
            .map_err(|e| ClientError::Io(e.to_string()))?;
        loop {
            let message = self.read_message()?;
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
            let message = self.read_message()?;
            queue_change(message, &mut self.pending);
        }
    }

    /// Sets how long a call may wait for its answer (default two minutes).
    ///
    /// # Errors
    /// When the socket refuses the setting.
    pub fn set_timeout(&mut self, timeout: Option<Duration>) -> Result<(), ClientError> {
        self.reader
            .get_ref()
            .set_read_timeout(timeout)
            .map_err(|e| ClientError::Io(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(os: &'static str) -> SocketFacts {
        SocketFacts {
            os,
            socket_env: None,
            runtime_dir: None,
            home: Some(PathBuf::from("/home/ada")),
            temp: PathBuf::from("/tmp"),
            uid: 1000,
        }
    }

    #[test]
    fn socket_path_follows_design_section_5() {
        let linux = facts("linux");
        assert_eq!(
            socket_from(&linux, "acme-cad"),
            PathBuf::from("/tmp/licentric-1000/acme-cad.sock"),
            "no runtime dir: a per-user folder in the temp dir"
        );
        let with_runtime = SocketFacts {
            runtime_dir: Some(PathBuf::from("/run/user/1000")),
            ..facts("linux")
        };
        assert_eq!(
            socket_from(&with_runtime, "acme-cad"),
            PathBuf::from("/run/user/1000/licentric/acme-cad.sock")
        );
        assert_eq!(
            socket_from(&facts("macos"), "acme-cad"),
            PathBuf::from("/home/ada/Library/Caches/licentric/acme-cad.sock"),
            "macOS: the user's cache folder"
        );
        let overridden = SocketFacts {
            socket_env: Some(PathBuf::from("/x/y.sock")),
            ..with_runtime
        };
        assert_eq!(
            socket_from(&overridden, "acme-cad"),
            PathBuf::from("/x/y.sock")
        );
    }
}

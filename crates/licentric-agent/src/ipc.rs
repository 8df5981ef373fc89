//! The local IPC server (`docs/ipc.md`, Transport): JSON-RPC 2.0, one message per line, at most 64 KiB a
//! line, on a per-user Unix socket (folder 0700, socket 0600). Only peers running as the
//! agent's own user are served; connections are bounded in number and idle time, and a bad
//! client never slows the others (each connection has its own task).
//!
//! A stale socket left by a dead agent is replaced; a live agent's socket is never taken.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use licentric_proto::framing::{FrameError, LineDecoder, encode_line};
use licentric_proto::ipc::{
    Call, CancelResult, ClientsResult, FingerprintResult, HasEntitlementResult, LicenseFileResult,
    ProgressResult, ReleaseResult, RequestFileResult, Status, SubscribeResult, VersionResult,
    method,
};
use licentric_proto::jsonrpc::{Id, Request, Response, RpcError};
use licentric_proto::{Environment, ErrorCode};
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

use crate::agent::Agent;
use crate::clients::ClientEntry;

pub use licentric_platform::endpoint::SOCKET_ENV;

/// Why the IPC server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IpcError {
    /// Another agent is serving this socket.
    #[error("another licentric agent is already running for this product (socket {0})")]
    AlreadyRunning(PathBuf),
    /// The socket could not be set up.
    #[error("cannot set up the socket {path}: {message}")]
    Setup {
        /// The socket.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

/// The socket path: `LICENTRIC_SOCKET`, the configured one, else the default of `docs/ipc.md`, Transport
/// (one rule, in `licentric_platform::endpoint`, shared with the clients).
pub fn socket_path(
    configured: Option<&Path>,
    product_id: &str,
    environment: Environment,
) -> PathBuf {
    licentric_platform::endpoint::socket_path(configured, product_id, environment)
}

/// The socket for `config`, refused if it is the other environment's default: a sandbox
/// configuration that names the live socket (or `LICENTRIC_SOCKET` set to it) must not answer
/// a live app.
///
/// # Errors
/// [`IpcError::Setup`] naming the clash.
pub fn socket_for(config: &crate::config::CompanionConfig) -> Result<PathBuf, IpcError> {
    let path = socket_path(
        config.ipc.socket.as_deref(),
        &config.product_id,
        config.environment,
    );
    let other = licentric_platform::endpoint::other_environments_socket(
        &config.product_id,
        config.environment,
    );
    // Compared as the system finds them: `..` or a link must not spell the live socket anew.
    let resolved = licentric_platform::endpoint::resolved;
    if resolved(&path) == resolved(&other) {
        return Err(IpcError::Setup {
            path,
            message: format!(
                "this is the {} environment's socket; a {} agent may not serve it",
                match config.environment {
                    Environment::Test => "live",
                    Environment::Live => "test",
                },
                config.environment
            ),
        });
    }
    Ok(path)
}

/// The server's limits.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Connections served at once.
    pub max_connections: usize,
    /// Idle time before a non-subscribed connection is closed.
    pub idle_timeout: Duration,
    /// Whether management methods are served.
    pub management: bool,
}

/// The connections served at once and their limits, shared by each system's accept loop.
struct Admission {
    slots: Arc<tokio::sync::Semaphore>,
    limits: Arc<Limits>,
    /// The connections each process holds, so that one app that leaks connections, or holds
    /// many subscriptions that never time out, cannot take every slot from the others. (A
    /// process of the user that means to can: it starts others, or stops the agent.)
    held: Counts,
    /// Refused connections being told why (at most [`REFUSING`] at once).
    refusing: Arc<tokio::sync::Semaphore>,
    /// Whether a refusal for want of a free slot was logged since the last slot came free.
    full_logged: Arc<AtomicBool>,
}

/// How many refused connections are told why at once, and how long each is given to send the
/// request its answer goes to: past either, a refused connection is closed unanswered.
const REFUSING: usize = 4;
const REFUSAL_WAIT: Duration = Duration::from_secs(2);

impl Admission {
    fn new(limits: Limits) -> Admission {
        Admission {
            slots: Arc::new(tokio::sync::Semaphore::new(limits.max_connections)),
            limits: Arc::new(limits),
            held: Arc::default(),
            refusing: Arc::new(tokio::sync::Semaphore::new(REFUSING)),
            full_logged: Arc::default(),
        }
    }

    /// Serves `stream`, a connection of process `pid` already checked to run as this user,
    /// on a task of its own while a slot is free and the process holds no more than its
    /// share; otherwise its first request is answered `too_many_connections` (so that its
    /// app's developer learns why), and it is closed.
    fn admit<S>(&self, agent: &Agent, stream: S, pid: Option<i32>)
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        // Counted by process where the system names one: connections whose process it does not
        // (or names as 0, from outside the agent's pid namespace) are bounded by the total
        // only, rather than share one count that any of them could fill for all.
        let max = self.limits.max_connections;
        let most = most_per_process(max);
        let share = match pid.filter(|&pid| pid > 0) {
            None => None,
            Some(pid) => match Share::take(&self.held, pid, most) {
                Ok(share) => Some(share),
                Err(Refused { first }) => {
                    // Logged once while the process stays at its share, not at each try.
                    if first {
                        tracing::warn!(
                            pid,
                            most,
                            "one process holds its share of the IPC connections; refusing more"
                        );
                    }
                    return self.refuse(
                        stream,
                        format!(
                            "this process holds {most} connections to the licensing agent, the most one \
                             process may: close those it no longer uses (one connection serves any \
                             number of calls)"
                        ),
                    );
                }
            },
        };
        let Ok(permit) = Arc::clone(&self.slots).try_acquire_owned() else {
            if !self.full_logged.swap(true, Ordering::Relaxed) {
                tracing::warn!(max, "every IPC connection is in use; refusing more");
            }
            return self.refuse(
                stream,
                format!(
                    "the licensing agent serves {max} connections already, its most: try again \
                     when one closes"
                ),
            );
        };
        let (agent, limits) = (agent.clone(), Arc::clone(&self.limits));
        let full_logged = Arc::clone(&self.full_logged);
        tokio::spawn(async move {
            let seen = agent.clients().entry_for(pid);
            connection(agent, stream, &limits, &seen).await;
            drop((permit, share));
            full_logged.store(false, Ordering::Relaxed);
        });
    }

    /// Tells a refused connection `why` in answer to its first request, then closes it; with
    /// [`REFUSING`] refusals already under way, closes it unanswered.
    fn refuse<S>(&self, stream: S, why: String)
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let Ok(permit) = Arc::clone(&self.refusing).try_acquire_owned() else {
            return;
        };
        tokio::spawn(async move {
            let _ = tokio::time::timeout(REFUSAL_WAIT, tell_refused(stream, &why)).await;
            drop(permit);
        });
    }
}

/// Reads the first request on `stream` and answers it `too_many_connections`, saying `why`
/// (notifications, which get no answer, are read past).
async fn tell_refused<S>(mut stream: S, why: &str)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut decoder = LineDecoder::new();
    let mut buf = [0u8; 1024];
    let id = 'read: loop {
        while let Some(frame) = decoder.next_frame() {
            match frame {
                Err(FrameError::TooLong { .. }) => break 'read None,
                Err(_) => {}
                Ok(line) => {
                    if let Some(id) = refusal_id(&line) {
                        break 'read id;
                    }
                }
            }
        }
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => decoder.push(&buf[..n]),
        }
    };
    let mut out = Vec::new();
    push(
        &mut out,
        &Response::error(id, RpcError::new(ErrorCode::TooManyConnections, why)),
    );
    if stream.write_all(&out).await.is_ok() {
        let _ = stream.shutdown().await;
    }
}

/// Whom a refusal answers, for the line `line`: the request's id (`null` for a line that is
/// not a request, as the agent answers one); `None` for a notification, which gets no answer.
fn refusal_id(line: &[u8]) -> Option<Option<Id>> {
    let request = match serde_json::from_slice::<Request>(line) {
        Ok(request) => request,
        Err(_) => match request_or_error(line) {
            Ok(request) => request,
            Err(reply) => return Some(reply.id),
        },
    };
    request.id.map(Some)
}

/// The most connections one process may hold of `max_connections`: all but a quarter, which
/// stays for the other processes (with fewer than four slots, none is kept).
fn most_per_process(max_connections: usize) -> usize {
    max_connections - max_connections / 4
}

/// The connections each process holds, by the process id the system gave when each connected
/// (a connection handed on to another process stays counted against the first, and a new
/// process given that id later inherits the count until those connections close).
type Counts = Arc<Mutex<HashMap<i32, Holding>>>;

/// What one process holds.
#[derive(Default)]
struct Holding {
    connections: usize,
    /// Whether a refusal was logged since it last let one go.
    refusal_logged: bool,
}

/// One connection counted against its process's share; given back when dropped.
struct Share {
    held: Counts,
    pid: i32,
}

/// A connection its process may not have: it holds its share.
struct Refused {
    /// The first refusal since the process last let a connection go.
    first: bool,
}

impl Share {
    /// Counts a connection of `pid`, unless it already holds `most`.
    fn take(held: &Counts, pid: i32, most: usize) -> Result<Share, Refused> {
        let mut counts = held.lock().unwrap_or_else(PoisonError::into_inner);
        let holding = counts.entry(pid).or_default();
        if holding.connections >= most {
            let first = !std::mem::replace(&mut holding.refusal_logged, true);
            return Err(Refused { first });
        }
        holding.connections += 1;
        Ok(Share {
            held: Arc::clone(held),
            pid,
        })
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        let mut counts = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(holding) = counts.get_mut(&self.pid) {
            holding.connections -= 1;
            holding.refusal_logged = false;
            if holding.connections == 0 {
                counts.remove(&self.pid);
            }
        }
    }
}

#[cfg(unix)]
mod unix;
#[cfg(unix)]
pub use unix::{bind, serve};
/// What [`bind`] answers: the listener [`serve`] takes.
#[cfg(unix)]
pub type Listener = tokio::net::UnixListener;

#[cfg(windows)]
#[allow(unsafe_code)] // creating the pipe with its DACL is an `unsafe` tokio call
mod windows;
#[cfg(windows)]
pub use windows::{Listener, bind, serve};

/// How long a write to a client may stall before the connection is closed: a client that
/// sends requests but does not read its answers must not hold a slot.
const MAX_WRITE_STALL: Duration = Duration::from_secs(10);

/// One connection, on one task: reads lines, answers each (all the answers to one read in
/// one write), forwards `status_changed` once subscribed. It ends — and frees its slot and
/// its socket — when the client goes away, stays silent past the idle time (unless
/// subscribed), or stops reading what it is sent.
async fn connection<S>(agent: Agent, mut stream: S, limits: &Limits, seen: &ClientEntry)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let stall = limits.idle_timeout.min(MAX_WRITE_STALL);
    let mut decoder = LineDecoder::new();
    let mut buf = vec![0u8; 4096];
    let mut out: Vec<u8> = Vec::with_capacity(1024);
    let mut session = Session::default();
    // One timer for the connection, moved on only when it fires: a request costs no timer.
    let idle = tokio::time::sleep(limits.idle_timeout);
    tokio::pin!(idle);
    let mut last_read = tokio::time::Instant::now();
    loop {
        out.clear();
        tokio::select! {
            read = stream.read(&mut buf) => {
                let n = match read {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                last_read = tokio::time::Instant::now();
                decoder.push(&buf[..n]);
                while let Some(frame) = decoder.next_frame() {
                    match frame {
                        Err(FrameError::TooLong { limit }) => {
                            let too_long = Response::error(
                                None,
                                RpcError::new(
                                    ErrorCode::MessageTooLarge,
                                    format!("message longer than {limit} bytes"),
                                ),
                            );
                            push(&mut out, &too_long);
                        }
                        Err(_) => {}
                        Ok(line) => {
                            seen.touch();
                            answer(&agent, &line, limits, &mut session, &mut out).await;
                        }
                    }
                }
            }
            changed = async {
                match session.changes.as_mut() {
                    Some(receiver) => receiver.changed().await,
                    None => std::future::pending().await,
                }
            }, if session.changes.is_some() => {
                if changed.is_err() {
                    session.changes = None; // the agent is stopping
                    continue;
                }
                if let Some(rx) = session.changes.as_mut() {
                    let status = rx.borrow_and_update().clone();
                    let note = Request::notification(
                        method::STATUS_CHANGED,
                        serde_json::to_value(&status).ok(),
                    );
                    if let Ok(line) = encode_line(&note) {
                        out.extend_from_slice(&line);
                    }
                }
            }
            () = wait_for_seat(session.waiting.as_ref()), if session.waiting.is_some() => {
                try_for_seat(&agent, &mut session, &mut out).await;
            }
            // A connection holding or waiting for a seat stays open however quiet it is: its
            // app is running, and it ends only when the app lets go or goes away.
            () = &mut idle, if session.changes.is_none()
                && session.seat.is_none()
                && session.waiting.is_none() => {
                let deadline = last_read + limits.idle_timeout;
                if tokio::time::Instant::now() >= deadline {
                    break; // idle
                }
                idle.as_mut().reset(deadline);
            }
        }
        if !out.is_empty() {
            match tokio::time::timeout(stall, stream.write_all(&out)).await {
                Ok(Ok(())) => {}
                // Gone, or not reading.
                Ok(Err(_)) | Err(_) => break,
            }
        }
    }
}

/// What one connection holds besides its bytes.
#[derive(Default)]
struct Session {
    /// Subscribed: the status changes to forward.
    changes: Option<watch::Receiver<Status>>,
    /// A seat of a floating licence this connection holds: given back when it ends, however
    /// it ends (the app let go, closed, or was killed).
    seat: Option<crate::agent::SeatHold>,
    /// Waiting for a seat: what for, and when to try again.
    waiting: Option<Waiting>,
}

/// A connection's wait for a seat of a floating licence.
struct Waiting {
    entitlement: Option<String>,
    next: tokio::time::Instant,
    backoff: Duration,
    /// Counts this app among those waiting (in the status) while the wait lasts.
    counted: crate::agent::WaitCount,
}

/// The first pause of a wait for a seat, and the longest.
const SEAT_WAIT_FIRST: Duration = Duration::from_secs(1);
const SEAT_WAIT_MAX: Duration = Duration::from_secs(30);

impl Waiting {
    /// Waits on, after a refusal that named `retry_at` (the soonest a held lease runs out;
    /// a seat given back earlier is found at the next try): back-off doubling to 30 s, never
    /// later than `retry_at`, never sooner than a second.
    fn again(
        entitlement: Option<String>,
        backoff: Duration,
        retry_in: Option<Duration>,
        counted: crate::agent::WaitCount,
    ) -> Waiting {
        let pause = retry_in
            .map_or(backoff, |r| r.min(backoff))
            .max(SEAT_WAIT_FIRST);
        Waiting {
            entitlement,
            next: tokio::time::Instant::now() + pause,
            backoff: (backoff * 2).min(SEAT_WAIT_MAX),
            counted,
        }
    }
}

async fn wait_for_seat(waiting: Option<&Waiting>) {
    match waiting {
        Some(w) => tokio::time::sleep_until(w.next).await,
        None => std::future::pending().await,
    }
}

/// The refusal `error` names no free seat (and when the soonest runs out), or is one a wait
/// outlives (the server or the network for a moment): the wait goes on.
fn wait_on(agent: &Agent, error: &crate::AgentError) -> Option<Option<Duration>> {
    use crate::api::ApiError;
    match error {
        crate::AgentError::Api(ApiError::Rejected {
            code: licentric_proto::api::ApiErrorCode::NoSeatAvailable,
            retry_at,
            ..
        }) => Some(retry_at.map(|at| {
            let left: time::Duration = at - agent.now();
            left.max(time::Duration::ZERO).unsigned_abs()
        })),
        crate::AgentError::Api(
            ApiError::Network(_) | ApiError::NoAnswer(_) | ApiError::Unavailable(_),
        ) => Some(None),
        _ => None,
    }
}

/// One try for the seat a connection waits for: the seat and `seat_available`, or waiting on,
/// or `seat_wait_ended` with why.
async fn try_for_seat(agent: &Agent, session: &mut Session, out: &mut Vec<u8>) {
    let Some(waiting) = session.waiting.take() else {
        return;
    };
    match agent.checkout(waiting.entitlement.as_deref()).await {
        Ok((result, hold)) => {
            session.seat = Some(hold);
            agent.tell_seat_came_free();
            notify(
                out,
                method::SEAT_AVAILABLE,
                serde_json::to_value(&result).ok(),
            );
        }
        Err(e) => match wait_on(agent, &e) {
            Some(retry_in) => {
                session.waiting = Some(Waiting::again(
                    waiting.entitlement,
                    waiting.backoff,
                    retry_in,
                    waiting.counted,
                ));
            }
            None => notify(
                out,
                method::SEAT_WAIT_ENDED,
                serde_json::to_value(e.to_rpc()).ok(),
            ),
        },
    }
}

/// Appends a notification `name` with `params` as a line to `out`.
fn notify(out: &mut Vec<u8>, name: &str, params: Option<serde_json::Value>) {
    if let Ok(line) = encode_line(&Request::notification(name, params)) {
        out.extend_from_slice(&line);
    }
}

/// Appends `response` as a line to `out`.
fn push(out: &mut Vec<u8>, response: &Response) {
    if let Ok(bytes) = encode_line(response) {
        out.extend_from_slice(&bytes);
    }
}

/// Appends the answer to `line` (if it gets one) to `out`: `status`, `has_entitlement` and
/// `license_file` from a fresh snapshot without parsing more than the request's members,
/// anything else through [`handle`].
async fn answer(
    agent: &Agent,
    line: &[u8],
    limits: &Limits,
    session: &mut Session,
    out: &mut Vec<u8>,
) {
    if let Some((id, quick)) = quick_request(line)
        && let Some(snapshot) = agent.snapshot()
    {
        let mark = out.len();
        out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
        if serde_json::to_writer(&mut *out, &id).is_ok() {
            out.extend_from_slice(b",\"result\":");
            let written = match quick {
                Quick::Status => {
                    out.extend_from_slice(snapshot.json.as_bytes());
                    true
                }
                Quick::LicenseFile => {
                    out.extend_from_slice(snapshot.license_file_json.as_bytes());
                    true
                }
                Quick::HasEntitlement(code) => {
                    serde_json::to_writer(&mut *out, &entitlement(code, &snapshot.status)).is_ok()
                }
            };
            if written {
                out.extend_from_slice(b"}\n");
                return;
            }
        }
        out.truncate(mark);
    }
    if let Some(reply) = handle(agent, line, limits, session).await {
        push(out, &reply);
    }
}

/// A request [`answer`] takes the short way.
#[derive(Debug, PartialEq, Eq)]
enum Quick {
    Status,
    HasEntitlement(String),
    LicenseFile,
}

/// The id and call of `line` if it is exactly a well-formed `status` or `license_file` request
/// with no parameters, or `has_entitlement` with its `code` (what the full parse would also
/// take for one); anything else — including what the full parse would refuse — goes the full
/// way.
fn quick_request(line: &[u8]) -> Option<(Id, Quick)> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Peek<'a> {
        jsonrpc: &'a str,
        id: Option<Id>,
        method: &'a str,
        #[serde(default)]
        params: Option<Code>,
    }
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Code {
        code: String,
    }
    let peek: Peek<'_> = serde_json::from_slice(line).ok()?;
    if peek.jsonrpc != "2.0" {
        return None;
    }
    let quick = match (peek.method, peek.params) {
        (method::STATUS, None) => Quick::Status,
        (method::LICENSE_FILE, None) => Quick::LicenseFile,
        (method::HAS_ENTITLEMENT, Some(params)) => Quick::HasEntitlement(params.code),
        _ => return None,
    };
    Some((peek.id?, quick))
}

async fn handle(
    agent: &Agent,
    line: &[u8],
    limits: &Limits,
    session: &mut Session,
) -> Option<Response> {
    // A well-formed request is read in one pass; anything else is read again as a value, for
    // the error it deserves and the id to answer it with.
    let request: Request = match serde_json::from_slice(line) {
        Ok(r) => r,
        Err(_) => match request_or_error(line) {
            Ok(r) => r,
            Err(reply) => return Some(reply),
        },
    };
    let id = request.id.clone();
    let result = match Call::parse(&request.method, request.params) {
        Err(e) => Err(e),
        Ok(call) if call.is_management() && !limits.management => Err(RpcError::new(
            ErrorCode::ManagementDisabled,
            "this vendor's configuration does not allow managing the licence over IPC",
        )),
        Ok(call) => dispatch(agent, call, session).await,
    };
    let id = id?; // a notification gets no answer
    Some(match result {
        Ok(value) => Response::result(Some(id), value),
        Err(error) => Response::error(Some(id), error),
    })
}

/// `line` read as a JSON value first (duplicate members: the last one counts), then as a
/// request; or the answer saying why it is not one.
fn request_or_error(line: &[u8]) -> Result<Request, Response> {
    let value: serde_json::Value = serde_json::from_slice(line).map_err(|_| {
        Response::error(
            None,
            RpcError::new(ErrorCode::ParseError, "the line is not JSON"),
        )
    })?;
    let id_hint = value
        .get("id")
        .and_then(|id| serde_json::from_value::<Id>(id.clone()).ok());
    serde_json::from_value(value).map_err(|e| {
        Response::error(
            id_hint,
            RpcError::new(
                ErrorCode::InvalidRequest,
                format!("not a JSON-RPC 2.0 request: {e}"),
            ),
        )
    })
}

fn json<T: Serialize>(value: &T) -> Result<serde_json::Value, RpcError> {
    serde_json::to_value(value).map_err(|e| RpcError::new(ErrorCode::InternalError, e.to_string()))
}

async fn dispatch(
    agent: &Agent,
    call: Call,
    session: &mut Session,
) -> Result<serde_json::Value, RpcError> {
    let agent_error = |e: crate::AgentError| e.to_rpc();
    match call {
        // The status published less than a second ago and still holding answers without a lock
        // (no check is due that was not due then); else a local app uses the software: check
        // on use (in the background) if it is time, and evaluate now.
        Call::Status => match agent.snapshot() {
            Some(snapshot) => json(&snapshot.status),
            None => json(&agent.asked_status().await),
        },
        Call::HasEntitlement(p) => match agent.snapshot() {
            Some(snapshot) => json(&entitlement(p.code, &snapshot.status)),
            None => json(&entitlement(p.code, &agent.asked_status().await)),
        },
        Call::LicenseFile => match agent.snapshot() {
            Some(snapshot) => serde_json::from_str(&snapshot.license_file_json)
                .map_err(|e| RpcError::new(ErrorCode::InternalError, e.to_string())),
            None => json(&LicenseFileResult {
                license_file: agent.asked_license_file().await,
            }),
        },
        Call::Fingerprint => {
            let (runs_in, components) = agent.machine();
            json(&FingerprintResult {
                product_id: agent.config().product_id.clone(),
                fingerprint: agent.fingerprint().as_str().to_owned(),
                runs_in,
                components,
            })
        }
        Call::Version => json(&VersionResult {
            protocol: licentric_proto::PROTOCOL_VERSION,
            agent_version: env!("CARGO_PKG_VERSION").to_owned(),
            product_id: agent.config().product_id.clone(),
            environment: Some(agent.config().environment),
            management: agent.config().ipc.management,
        }),
        Call::Subscribe => {
            // Subscribed before the status is read, so a change between the two is pushed,
            // not lost: the subscriber hears of every change after the status it got.
            let mut receiver = session.changes.is_none().then(|| agent.subscribe());
            let status = agent.asked_status().await;
            if let Some(mut receiver) = receiver.take() {
                if *receiver.borrow_and_update() != status {
                    receiver.mark_changed();
                }
                session.changes = Some(receiver);
            }
            json(&SubscribeResult { status })
        }
        Call::Activate(p) => json(&agent.activate(&p.license_key).await.map_err(agent_error)?),
        Call::Deactivate => json(&agent.deactivate().await.map_err(agent_error)?),
        Call::Refresh => json(&agent.refresh().await.map_err(agent_error)?),
        Call::ImportLicenseFile(p) => json(&agent.import(&p.text).await.map_err(agent_error)?),
        Call::RequestFile => json(&RequestFileResult {
            text: agent.request_file().await.map_err(agent_error)?,
        }),
        // A connection holds at most one seat: asking again answers from the one it holds.
        Call::Checkout(p) => {
            session.waiting = None;
            // A seat of its own (a per-process product) is answered again as it is: asking
            // again must not cost a second seat.
            if let Some(hold) = &session.seat
                && let Some(result) = agent.answer_again(hold, p.entitlement.as_deref()).await
            {
                return json(&result);
            }
            // Asked again by an app that holds the seat: is it still its? (Taken again if the
            // server says it is gone.)
            if session.seat.is_some() {
                agent.confirm_seat().await;
            }
            match agent.checkout(p.entitlement.as_deref()).await {
                Ok((result, hold)) => {
                    // The new hold counts this connection once more; the one it had lets go.
                    session.seat = Some(hold);
                    json(&result)
                }
                Err(e) => {
                    if p.wait
                        && let Some(retry_in) = wait_on(agent, &e)
                    {
                        let counted = crate::agent::WaitCount::start(agent).await;
                        session.waiting = Some(Waiting::again(
                            p.entitlement,
                            SEAT_WAIT_FIRST,
                            retry_in,
                            counted,
                        ));
                    }
                    Err(agent_error(e))
                }
            }
        }
        Call::Borrow(p) => {
            let until = time::OffsetDateTime::parse(
                &p.until,
                &time::format_description::well_known::Rfc3339,
            )
            .map_err(|_| {
                RpcError::new(
                    ErrorCode::InvalidParams,
                    "until must be an RFC 3339 time, such as 2026-12-24T18:00:00Z",
                )
            })?;
            json(&agent.borrow(until).await.map_err(agent_error)?)
        }
        Call::Return => json(&agent.return_borrowed().await.map_err(agent_error)?),
        Call::Progress => json(&ProgressResult {
            retrying: agent.retrying(),
        }),
        Call::Cancel => {
            agent.cancel();
            json(&CancelResult {})
        }
        Call::Clients => json(&ClientsResult {
            clients: agent.clients().recent(),
        }),
        Call::Release => {
            session.waiting = None;
            let held = session.seat.take();
            let released = held.is_some();
            if let Some(hold) = held {
                hold.release().await;
            }
            json(&ReleaseResult { released })
        }
    }
}

fn entitlement(code: String, status: &Status) -> HasEntitlementResult {
    HasEntitlementResult {
        entitled: status.entitled && status.entitlements.contains(&code),
        code,
        state: status.state,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_holds_its_share_and_gets_it_back_as_it_lets_go() {
        assert_eq!(most_per_process(64), 48);
        assert_eq!(most_per_process(3), 3, "too few slots to keep any back");
        let counts = Counts::default();
        let most = most_per_process(4);
        let mut held: Vec<Share> = (0..3)
            .map(|_| Share::take(&counts, 7, most).ok().unwrap())
            .collect();
        let firsts: Vec<bool> = (0..3)
            .map(|_| Share::take(&counts, 7, most).err().unwrap().first)
            .collect();
        assert_eq!(firsts, [true, false, false], "one refusal logged, not each");
        assert!(Share::take(&counts, 8, most).is_ok(), "another process");
        held.pop();
        held.push(Share::take(&counts, 7, most).ok().unwrap());
        assert!(
            Share::take(&counts, 7, most).err().unwrap().first,
            "logged again once it let one go and came back to its share"
        );
        drop(held);
        assert!(Share::take(&counts, 7, most).is_ok(), "given back");
        let counts = counts.lock().unwrap();
        assert_eq!(
            counts.get(&7).map(|h| h.connections),
            None,
            "a share dropped leaves no count"
        );
    }

    #[test]
    fn a_refusal_answers_the_request_it_was_sent() {
        let id = |line: &str| refusal_id(line.as_bytes());
        assert_eq!(
            id(r#"{"jsonrpc":"2.0","id":7,"method":"status"}"#),
            Some(Some(Id::Number(7)))
        );
        assert_eq!(
            id(r#"{"jsonrpc":"2.0","id":"a","method":"status","extra":1}"#),
            Some(Some(Id::String("a".into()))),
            "a request the agent would refuse anyway is answered with its id, as it would be"
        );
        assert_eq!(
            id(r#"{"jsonrpc":"1.0","id":3,"method":"status"}"#),
            Some(Some(Id::Number(3)))
        );
        assert_eq!(id("not json"), Some(None), "answered, to null");
        assert_eq!(
            id(r#"{"jsonrpc":"2.0","method":"status"}"#),
            None,
            "a notification gets no answer"
        );
    }

    /// The refused connection's end of a socket pair, and the client's.
    fn refused_pair() -> (tokio::io::DuplexStream, tokio::io::DuplexStream) {
        tokio::io::duplex(4096)
    }

    async fn read_to_end(mut client: tokio::io::DuplexStream) -> String {
        let mut said = String::new();
        let _ = client.read_to_string(&mut said).await;
        said
    }

    #[tokio::test(start_paused = true)]
    async fn a_refused_connection_is_told_why_after_its_notifications() {
        let admission = Admission::new(Limits {
            max_connections: 4,
            idle_timeout: Duration::from_secs(60),
            management: true,
        });
        let (agent_end, mut client) = refused_pair();
        admission.refuse(agent_end, "full".into());
        client
            .write_all(
                b"{\"jsonrpc\":\"2.0\",\"method\":\"status\"}\n{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"status\"}\n",
            )
            .await
            .unwrap();
        let said = read_to_end(client).await;
        let answer: Response = serde_json::from_str(said.trim()).unwrap();
        assert_eq!(answer.id, Some(Id::Number(9)), "{said}");
        assert!(
            said.contains("too_many_connections") && said.contains("full"),
            "{said}"
        );
        assert_eq!(said.lines().count(), 1, "one answer, then closed: {said}");
    }

    #[tokio::test(start_paused = true)]
    async fn refusals_told_at_once_are_few_and_brief() {
        let admission = Admission::new(Limits {
            max_connections: 4,
            idle_timeout: Duration::from_secs(60),
            management: true,
        });
        // Silent clients take every refusal under way…
        let silent: Vec<_> = (0..REFUSING)
            .map(|_| {
                let (agent_end, client) = refused_pair();
                admission.refuse(agent_end, "full".into());
                client
            })
            .collect();
        // …so the next is closed at once, unanswered.
        let (agent_end, client) = refused_pair();
        admission.refuse(agent_end, "full".into());
        let started = tokio::time::Instant::now();
        assert_eq!(read_to_end(client).await, "");
        assert_eq!(started.elapsed(), Duration::ZERO, "not held");
        // The silent ones are let go after the refusal's wait, unanswered.
        for client in silent {
            assert_eq!(read_to_end(client).await, "");
        }
        assert_eq!(started.elapsed(), REFUSAL_WAIT);
        // Then a refusal is told again.
        let (agent_end, mut client) = refused_pair();
        admission.refuse(agent_end, "full".into());
        client
            .write_all(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"status\"}\n")
            .await
            .unwrap();
        assert!(read_to_end(client).await.contains("too_many_connections"));
    }

    #[test]
    fn only_plain_snapshot_requests_take_the_short_way() {
        let short = |line: &str| quick_request(line.as_bytes());
        assert_eq!(
            short(r#"{"jsonrpc":"2.0","id":7,"method":"status"}"#),
            Some((Id::Number(7), Quick::Status))
        );
        assert_eq!(
            short(r#"{"method":"status","id":"a b","jsonrpc":"2.0","params":null}"#),
            Some((Id::String("a b".into()), Quick::Status))
        );
        assert_eq!(
            short(r#"{"jsonrpc":"2.0","id":2,"method":"license_file"}"#),
            Some((Id::Number(2), Quick::LicenseFile))
        );
        assert_eq!(
            short(r#"{"jsonrpc":"2.0","id":3,"method":"has_entitlement","params":{"code":"x y"}}"#),
            Some((Id::Number(3), Quick::HasEntitlement("x y".into())))
        );
        for full in [
            // a notification gets no answer at all
            r#"{"jsonrpc":"2.0","method":"status"}"#,
            r#"{"jsonrpc":"2.0","method":"has_entitlement","params":{"code":"x"}}"#,
            // parameters, even empty ones, are the full parse's to judge
            r#"{"jsonrpc":"2.0","id":1,"method":"status","params":{}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"status","params":[1]}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"license_file","params":{"code":"x"}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"has_entitlement"}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"has_entitlement","params":{}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"has_entitlement","params":{"code":1}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"has_entitlement","params":{"code":"x","more":1}}"#,
            // what the full parse refuses, it refuses with its own error
            r#"{"jsonrpc":"1.0","id":1,"method":"status"}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"status","extra":1}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"status","method":"status"}"#,
            r#"{"jsonrpc":"2.0","id":1.5,"method":"status"}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"fingerprint"}"#,
            // escaped strings are read by the full parse
            r#"{"jsonrpc":"2.0","id":1,"method":"st\u0061tus"}"#,
            r#"not json"#,
        ] {
            assert_eq!(short(full), None, "{full}");
        }
        // Whatever takes the short way is what the full parse reads, the same call and id.
        for line in [
            r#"{"jsonrpc":"2.0","id":7,"method":"status"}"#,
            r#"{"jsonrpc":"2.0","id":"a","method":"license_file","params":null}"#,
            r#"{"jsonrpc":"2.0","id":3,"method":"has_entitlement","params":{"code":"x"}}"#,
            r#"{"jsonrpc":"2.0","id":3,"method":"has_entitlement","params":["x"]}"#,
        ] {
            let (id, quick) = short(line).unwrap();
            let request: Request = serde_json::from_str(line).unwrap();
            let call = Call::parse(&request.method, request.params).unwrap();
            assert_eq!(request.id, Some(id), "{line}");
            let same = match (quick, call) {
                (Quick::Status, Call::Status) | (Quick::LicenseFile, Call::LicenseFile) => true,
                (Quick::HasEntitlement(code), Call::HasEntitlement(p)) => code == p.code,
                _ => false,
            };
            assert!(same, "{line}");
        }
    }
}

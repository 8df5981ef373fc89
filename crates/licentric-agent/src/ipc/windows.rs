//! Windows: the agent's named pipe (`docs/ipc.md`, Transport). Every instance is created with
//! a DACL that admits the agent's own user only and refuses remote clients; the first with
//! `FILE_FLAG_FIRST_PIPE_INSTANCE`, so a name another account created first is refused,
//! never shared; each client's process is checked to run as the agent's user before a line
//! is read from it.
//!
//! Written against tokio's and the Win32 documentation; built and run only on Windows (the CI
//! workflow's Windows job). The Win32 calls it relies on live in
//! `licentric_platform::endpoint` and are type-checked on Linux too.

use std::os::windows::io::AsRawHandle;
use std::path::{Path, PathBuf};
use std::time::Duration;

use licentric_platform::endpoint::{PipeSecurity, check_pipe_client, check_pipe_server};
use tokio::net::windows::named_pipe::{ClientOptions, NamedPipeServer, ServerOptions};

use super::{Admission, IpcError, Limits};
use crate::agent::Agent;

/// The pipe the agent serves: its name, the instance waiting for the next client, and the
/// security every instance is created with.
#[derive(Debug)]
pub struct Listener {
    name: PathBuf,
    next: NamedPipeServer,
    security: PipeSecurity,
}

/// One instance of the pipe, owner-only, local clients only.
fn instance(
    name: &Path,
    security: &mut PipeSecurity,
    first: bool,
) -> std::io::Result<NamedPipeServer> {
    let mut options = ServerOptions::new();
    options
        .first_pipe_instance(first)
        .reject_remote_clients(true);
    // SAFETY: `security.as_raw()` points at valid SECURITY_ATTRIBUTES for as long as
    // `security` lives, which is past this call.
    unsafe { options.create_with_security_attributes_raw(name, security.as_raw()) }
}

/// Creates the pipe's first instance. A name that exists already is this user's running
/// agent ([`IpcError::AlreadyRunning`]) or another account's squat (refused: never served,
/// never shared).
///
/// # Errors
/// [`IpcError::AlreadyRunning`] or [`IpcError::Setup`].
pub async fn bind(path: &Path) -> Result<Listener, IpcError> {
    let setup = |message: String| IpcError::Setup {
        path: path.to_owned(),
        message,
    };
    let mut security = PipeSecurity::owner_only().map_err(|e| setup(e.to_string()))?;
    match instance(path, &mut security, true) {
        Ok(next) => Ok(Listener {
            name: path.to_owned(),
            next,
            security,
        }),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            if held_by_this_users_agent(path).await {
                Err(IpcError::AlreadyRunning(path.to_owned()))
            } else {
                Err(setup(
                    "this pipe name is held by a program that is not this user's agent; refusing to serve beside it (sign the other user out, or ask an administrator)".into(),
                ))
            }
        }
        Err(e) => Err(setup(e.to_string())),
    }
}

/// Whether the pipe at `path` is served by this user's agent: opened (a busy pipe, every
/// instance taken for a moment, is tried again for about a second) and checked as a client
/// checks it.
async fn held_by_this_users_agent(path: &Path) -> bool {
    /// `ERROR_PIPE_BUSY` (winerror.h).
    const PIPE_BUSY: i32 = 231;
    for _ in 0..40 {
        match ClientOptions::new().open(path) {
            Ok(client) => return check_pipe_server(path, client.as_raw_handle()).is_ok(),
            Err(e) if e.raw_os_error() == Some(PIPE_BUSY) => {
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            Err(_) => return false,
        }
    }
    false
}

/// Serves `agent` on `listener` until `shutdown` resolves. The next instance is created as
/// soon as one is connected, so a client never finds the pipe missing.
pub async fn serve(
    agent: Agent,
    listener: Listener,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let Listener {
        name,
        mut next,
        mut security,
    } = listener;
    let admission = Admission::new(limits);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            connected = next.connect() => {
                let fresh = match instance(&name, &mut security, false) {
                    Ok(fresh) => fresh,
                    Err(e) => {
                        // Out of handles, say: wait a moment instead of spinning on it.
                        tracing::warn!(error = %e, "cannot create the next pipe instance; waiting a moment");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let stream = std::mem::replace(&mut next, fresh);
                if let Err(e) = connected {
                    tracing::warn!(error = %e, "a client went away while connecting");
                    continue;
                }
                let pid = match check_pipe_client(&name, stream.as_raw_handle()) {
                    Ok(pid) => pid,
                    Err(e) => {
                        tracing::warn!(error = %e, "refused a connection from another user");
                        continue; // dropped without an answer
                    }
                };
                admission.admit(&agent, stream, i32::try_from(pid).ok());
            }
            () = &mut shutdown => break,
        }
    }
}

//! Unix: the agent's socket (folder 0700, socket 0600), and the peer check of each connection.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use tokio::net::{UnixListener, UnixStream};

use super::{Admission, IpcError, Limits};
use crate::agent::Agent;

/// Binds the socket: creates its folder 0700 (refusing one another user owns, a link, or
/// one it cannot close to others), replaces a stale socket, refuses to take a live
/// agent's, and makes the socket 0600.
///
/// # Errors
/// [`IpcError::AlreadyRunning`] or [`IpcError::Setup`].
pub async fn bind(path: &Path) -> Result<UnixListener, IpcError> {
    let setup = |message: String| IpcError::Setup {
        path: path.to_owned(),
        message,
    };
    // The folder is created 0700; one another user made first is refused, never used.
    licentric_platform::endpoint::prepare_folder(path).map_err(|e| setup(e.to_string()))?;
    if path.exists() {
        if UnixStream::connect(path).await.is_ok() {
            return Err(IpcError::AlreadyRunning(path.to_owned()));
        }
        // Nobody answers: a dead agent's socket.
        std::fs::remove_file(path)
            .map_err(|e| setup(format!("cannot replace a stale socket: {e}")))?;
    }
    let listener = UnixListener::bind(path).map_err(|e| setup(e.to_string()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| setup(e.to_string()))?;
    // An agent serves here now: an earlier one's Quit no longer ends the windows.
    licentric_platform::endpoint::clear_quit(path);
    Ok(listener)
}

/// Serves `agent` on `listener` until `shutdown` resolves; removes the socket after.
pub async fn serve(
    agent: Agent,
    listener: UnixListener,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let admission = Admission::new(limits);
    let own_uid = licentric_platform::endpoint::current_uid();
    let path = listener
        .local_addr()
        .ok()
        .and_then(|a| a.as_pathname().map(Path::to_owned));
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // Out of file descriptors, say: the error repeats until one is
                        // free, so wait a moment instead of spinning on it.
                        tracing::warn!(error = %e, "cannot accept a connection; waiting a moment");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let pid = match stream.peer_cred() {
                    Ok(cred) if cred.uid() == own_uid => cred.pid(),
                    _ => {
                        tracing::warn!("refused a connection from another user");
                        continue; // dropped without an answer
                    }
                };
                admission.admit(&agent, stream, pid);
            }
            () = &mut shutdown => break,
        }
    }
    if let Some(path) = path {
        let _ = std::fs::remove_file(path);
    }
}

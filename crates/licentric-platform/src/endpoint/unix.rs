//! Unix: the socket folder's owner and mode, and the listening peer's user id.

use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::Path;

use super::EndpointError;

/// The current user's id.
pub fn current_uid() -> u32 {
    rustix::process::getuid().as_raw()
}

fn folder_of(socket: &Path) -> Result<&Path, EndpointError> {
    socket
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .ok_or_else(|| EndpointError::Io {
            path: socket.to_owned(),
            message: "the socket path has no folder".into(),
        })
}

/// A client's check, before it connects: the socket's folder is a real folder (not a symbolic
/// link), owned by the current user, with no access for group or others.
///
/// # Errors
/// [`EndpointError::Missing`] when there is no folder (no agent runs), or why it is refused.
pub fn check_folder(socket: &Path) -> Result<(), EndpointError> {
    let dir = folder_of(socket)?;
    let meta = match std::fs::symlink_metadata(dir) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(EndpointError::Missing(socket.to_owned()));
        }
        Err(e) => {
            return Err(EndpointError::Io {
                path: dir.to_owned(),
                message: e.to_string(),
            });
        }
    };
    judge_folder(dir, &meta, current_uid())
}

fn judge_folder(dir: &Path, meta: &std::fs::Metadata, uid: u32) -> Result<(), EndpointError> {
    if !meta.file_type().is_dir() {
        return Err(EndpointError::NotAFolder(dir.to_owned()));
    }
    if meta.uid() != uid {
        return Err(EndpointError::NotOwned {
            path: dir.to_owned(),
            owner: meta.uid(),
            uid,
        });
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(EndpointError::OpenToOthers {
            path: dir.to_owned(),
            mode,
        });
    }
    Ok(())
}

/// The agent's side, before it binds: creates the socket's folder with mode 0700 if it is
/// missing, closes one of its own user's that is open to others, and then makes the client's
/// check — so a folder another user created first is refused, never used.
///
/// # Errors
/// As [`check_folder`]; [`EndpointError::Io`] when the folder cannot be created.
pub fn prepare_folder(socket: &Path) -> Result<(), EndpointError> {
    prepare_private_folder(folder_of(socket)?)
}

/// Creates `dir` with mode 0700 if it is missing, closes it to others if it is this user's and
/// open, and refuses it if it is a link, not a folder, or another user's: the socket's folder,
/// and the agent's data folder, are private to their user.
///
/// # Errors
/// Why it is refused, or [`EndpointError::Io`] when it cannot be created.
pub fn prepare_private_folder(dir: &Path) -> Result<(), EndpointError> {
    let io = |e: std::io::Error| EndpointError::Io {
        path: dir.to_owned(),
        message: e.to_string(),
    };
    match std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
    {
        Ok(()) => {}
        // A file or a link in its place: the check below says which.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io(e)),
    }
    let meta = std::fs::symlink_metadata(dir).map_err(io)?;
    if meta.file_type().is_dir() && meta.uid() == current_uid() && meta.mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
    }
    let meta = std::fs::symlink_metadata(dir).map_err(io)?;
    judge_folder(dir, &meta, current_uid())
}

/// A client's check once connected, before it sends anything: the listening process runs as
/// the current user (`SO_PEERCRED` on Linux, `getpeereid` on macOS). Elsewhere the folder
/// check stands alone.
///
/// # Errors
/// [`EndpointError::ForeignPeer`], or [`EndpointError::Io`] when the peer cannot be asked.
pub fn check_peer(socket: &Path, stream: &impl std::os::fd::AsFd) -> Result<(), EndpointError> {
    let uid = current_uid();
    match peer_uid(stream) {
        Ok(Some(peer)) if peer == uid => Ok(()),
        Ok(Some(peer)) => Err(EndpointError::ForeignPeer {
            path: socket.to_owned(),
            peer,
            uid,
        }),
        Ok(None) => Ok(()),
        Err(message) => Err(EndpointError::Io {
            path: socket.to_owned(),
            message,
        }),
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn peer_uid(stream: &impl std::os::fd::AsFd) -> Result<Option<u32>, String> {
    rustix::net::sockopt::socket_peercred(stream)
        .map(|cred| Some(cred.uid.as_raw()))
        .map_err(|e| e.to_string())
}

#[cfg(target_os = "macos")]
#[allow(unsafe_code)] // getpeereid(2) has no safe binding in std or rustix.
fn peer_uid(stream: &impl std::os::fd::AsFd) -> Result<Option<u32>, String> {
    use std::os::fd::AsRawFd as _;
    let mut uid: libc::uid_t = 0;
    let mut gid: libc::gid_t = 0;
    // SAFETY: the descriptor is borrowed from a live socket for the call's duration, and both
    // out-pointers point to initialised locals of the types getpeereid writes.
    let rc = unsafe { libc::getpeereid(stream.as_fd().as_raw_fd(), &mut uid, &mut gid) };
    if rc == 0 {
        Ok(Some(uid))
    } else {
        Err(std::io::Error::last_os_error().to_string())
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "macos")))]
fn peer_uid(_stream: &impl std::os::fd::AsFd) -> Result<Option<u32>, String> {
    Ok(None)
}

/// The claim of the one tray that shows the agent at `socket` (`<socket>.tray`, beside the
/// socket in its checked folder): held, as an exclusive lock, by the process that shows the
/// tray — the agent's own (`agent --tray`) or a client's — for as long as it runs, and let go
/// by the system if it dies. `None` when another process holds it (after a few tries, so a
/// check of [`tray_shown`] at the same moment does not turn a tray away).
///
/// # Errors
/// When the marker cannot be opened (its folder missing or not this user's).
pub fn claim_tray(socket: &Path) -> std::io::Result<Option<std::fs::File>> {
    let marker = open_tray_marker(socket)?;
    for _ in 0..5 {
        match rustix::fs::flock(
            &marker,
            rustix::fs::FlockOperation::NonBlockingLockExclusive,
        ) {
            Ok(()) => return Ok(Some(marker)),
            Err(rustix::io::Errno::WOULDBLOCK) => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(None)
}

/// The mark the user's Quit leaves beside the agent's socket (`<socket>.quit`, in its checked
/// folder): the windows that are the agent's clients end with it, rather than show that
/// licensing stopped. Set by the tray's Quit ([`mark_quit`]), read by a window whose agent went
/// away ([`quit_marked`]), and cleared by the next agent that starts ([`clear_quit`]).
fn quit_marker(socket: &Path) -> std::path::PathBuf {
    beside(socket, ".quit")
}

/// `<socket><suffix>`: a file of the agent's beside its socket, in the same checked folder.
fn beside(socket: &Path, suffix: &str) -> std::path::PathBuf {
    let mut name = socket.as_os_str().to_owned();
    name.push(suffix);
    std::path::PathBuf::from(name)
}

/// Leaves the mark of the user's Quit beside `socket` (see [`quit_marked`]).
///
/// # Errors
/// When the socket's folder is not this user's, or the mark cannot be written.
pub fn mark_quit(socket: &Path) -> std::io::Result<()> {
    check_folder(socket).map_err(std::io::Error::other)?;
    std::fs::write(quit_marker(socket), b"")
}

/// Whether the agent at `socket` ended by the user's Quit (its mark is there, in a folder that
/// is this user's).
pub fn quit_marked(socket: &Path) -> bool {
    check_folder(socket).is_ok() && quit_marker(socket).exists()
}

/// Clears the mark of an earlier Quit: an agent that starts at `socket` is not quitting.
pub fn clear_quit(socket: &Path) {
    let _ = std::fs::remove_file(quit_marker(socket));
}

/// The process listening at `socket`, where the system says (Linux: `SO_PEERCRED`): for a
/// program that started an agent and must know whether that agent is the one answering.
/// `None` when nothing listens or the system does not say. Connects, sends nothing, and
/// closes.
pub fn listener_pid(socket: &Path) -> Option<u32> {
    let stream = std::os::unix::net::UnixStream::connect(socket).ok()?;
    peer_pid(&stream)
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn peer_pid(stream: &impl std::os::fd::AsFd) -> Option<u32> {
    let cred = rustix::net::sockopt::socket_peercred(stream).ok()?;
    u32::try_from(rustix::process::Pid::as_raw(Some(cred.pid))).ok()
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn peer_pid(_stream: &impl std::os::fd::AsFd) -> Option<u32> {
    None
}

/// Whether a process holds the tray claim of the agent at `socket` (see [`claim_tray`]) now.
pub fn tray_shown(socket: &Path) -> bool {
    let Ok(marker) = open_tray_marker(socket) else {
        return false;
    };
    // A shared lock is refused only while a tray holds the exclusive one.
    rustix::fs::flock(&marker, rustix::fs::FlockOperation::NonBlockingLockShared)
        == Err(rustix::io::Errno::WOULDBLOCK)
}

fn open_tray_marker(socket: &Path) -> std::io::Result<std::fs::File> {
    check_folder(socket).map_err(std::io::Error::other)?;
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(beside(socket, ".tray"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_agent_makes_its_folder_0700_and_a_client_accepts_it() {
        let tmp = tempfile::tempdir().unwrap();
        let socket = tmp.path().join("run/acme-cad-test.sock");
        prepare_folder(&socket).unwrap();
        let mode = std::fs::metadata(tmp.path().join("run")).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o700);
        check_folder(&socket).unwrap();
    }

    #[test]
    fn a_folder_open_to_others_is_refused_by_clients_and_closed_by_the_agent() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("run");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let socket = dir.join("s.sock");
        let err = check_folder(&socket).unwrap_err();
        assert_eq!(err.code(), "endpoint_open_to_others", "{err}");
        prepare_folder(&socket).unwrap();
        check_folder(&socket).unwrap();
    }

    #[test]
    fn one_tray_holds_the_claim_until_it_ends() {
        let tmp = tempfile::tempdir().unwrap();
        let socket = tmp.path().join("run").join("s.sock");
        prepare_folder(&socket).unwrap();
        assert!(!tray_shown(&socket), "no tray yet");
        let first = claim_tray(&socket).unwrap().expect("the first claim");
        assert!(tray_shown(&socket), "a tray shows");
        assert!(
            claim_tray(&socket).unwrap().is_none(),
            "a second tray is turned away"
        );
        drop(first);
        assert!(!tray_shown(&socket), "the claim goes with its holder");
        assert!(
            claim_tray(&socket).unwrap().is_some(),
            "and can be taken again"
        );
    }

    #[test]
    fn a_symbolic_link_or_a_file_is_not_a_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let real = tmp.path().join("real");
        std::fs::create_dir(&real).unwrap();
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o700)).unwrap();
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let err = check_folder(&link.join("s.sock")).unwrap_err();
        assert_eq!(err.code(), "endpoint_not_a_folder", "{err}");
        let err = prepare_folder(&link.join("s.sock")).unwrap_err();
        assert_eq!(err.code(), "endpoint_not_a_folder", "{err}");
        let file = tmp.path().join("file");
        std::fs::write(&file, b"").unwrap();
        assert_eq!(
            check_folder(&file.join("s.sock")).unwrap_err().code(),
            "endpoint_not_a_folder"
        );
    }

    #[test]
    fn another_users_folder_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let meta = std::fs::symlink_metadata(tmp.path()).unwrap();
        let err = judge_folder(tmp.path(), &meta, meta.uid() + 1).unwrap_err();
        assert_eq!(err.code(), "endpoint_not_owned", "{err}");
    }

    #[test]
    fn no_folder_means_no_agent() {
        let tmp = tempfile::tempdir().unwrap();
        let err = check_folder(&tmp.path().join("nothing/s.sock")).unwrap_err();
        assert_eq!(err.code(), "agent_not_running", "{err}");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_peer_of_our_own_user_passes() {
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        check_peer(Path::new("pair"), &a).unwrap();
    }
}

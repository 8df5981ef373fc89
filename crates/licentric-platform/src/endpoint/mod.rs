//! The local endpoint (`docs/ipc.md`, Transport): where the agent listens for the local apps of one user, and
//! the checks both ends make before trusting it.
//!
//! - Linux and the BSDs: `$XDG_RUNTIME_DIR/licentric/<product_id>-<environment>.sock`; with
//!   that variable unset (an ssh session, cron), `~/.cache/licentric/` — the user's own, so
//!   another user cannot create it first; with no home either (a service account), a per-user
//!   folder in the temp dir, `licentric-<uid>`, which both ends check.
//! - macOS: the same name under `~/Library/Caches/licentric/`.
//! - Windows: a named pipe `\\.\pipe\licentric-<product_id>-<environment>-<user SID>`
//!   ([`pipe_name`]) whose DACL admits the current user only and that refuses remote clients;
//!   the client checks the pipe server's owner SID.
//! - [`SOCKET_ENV`] overrides the path; the same checks apply to it.
//!
//! Test and live never share an endpoint: the environment is part of the name.
//!
//! **Both ends check** (Unix): the agent creates the folder 0700 and refuses one that another
//! user made first ([`prepare_folder`]); a client refuses, before it sends anything, a folder
//! that is not a real folder owned by its own user with no access for anyone else
//! ([`check_folder`]), and a listening peer that runs as another user ([`check_peer`]). So a
//! user who creates `/tmp/licentric-<uid>` first, or listens where the agent should, receives
//! nothing — the licence key least of all.

use std::path::{Component, Path, PathBuf};

use licentric_proto::Environment;

#[cfg(unix)]
mod unix;
#[cfg(unix)]
pub use unix::{
    check_folder, check_peer, claim_tray, clear_quit, current_uid, listener_pid, mark_quit,
    prepare_folder, prepare_private_folder, quit_marked, tray_shown,
};

mod windows;
pub use windows::pipe_name;

/// `path` as the system finds it: each part resolved while it exists (links, and `..` after a
/// link, as the system follows them), the parts that do not exist yet added as written (`.`
/// dropped, `..` taking off the part before). Two spellings of one place — `a/../a/x.sock`, or
/// a link to a folder — come out alike: the checks that keep test and live apart compare
/// these, not the text.
pub fn resolved(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    let mut real = true;
    for part in path.components() {
        match part {
            Component::CurDir => continue,
            Component::ParentDir if !real => {
                out.pop();
                continue;
            }
            _ => {}
        }
        let next = out.join(part);
        out = match real.then(|| std::fs::canonicalize(&next)) {
            Some(Ok(found)) => found,
            _ => {
                real = false;
                next
            }
        };
    }
    out
}

/// What the agent the app starts beside its window (`agent --tray --beside-app`) says on its
/// standard output, alone on the line, once its tray is up.
pub const TRAY_READY: &str = "ready";

// The Win32 calls of the named pipe's security. `--cfg licentric_windows_check` type-checks
// them on Linux (`.ci/test` does), where they are never linked or run.
#[cfg(any(windows, licentric_windows_check))]
#[allow(unsafe_code)] // Win32 calls: each `unsafe` block says why it holds.
mod pipe;
#[cfg(any(windows, licentric_windows_check))]
pub use pipe::{PipeSecurity, RawPipe, check_pipe_client, check_pipe_server};

/// The variable that overrides the socket path (the same checks apply).
pub const SOCKET_ENV: &str = "LICENTRIC_SOCKET";

/// Why an endpoint was refused. Each has a stable [`code`](Self::code).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EndpointError {
    /// Nothing is there: no agent runs.
    #[error("no agent is listening at {0}")]
    Missing(PathBuf),
    /// The socket's folder (or the socket) belongs to another user.
    #[error(
        "{path} belongs to user {owner}, not to you (user {uid}): refusing to use it, since another user could read what is sent there; remove it or ask an administrator"
    )]
    NotOwned {
        /// The folder.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// The current user.
        uid: u32,
    },
    /// The socket's folder is open to other users.
    #[error("{path} is open to other users (mode {mode:03o}, must be 700): refusing to use it")]
    OpenToOthers {
        /// The folder.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The socket's folder is a symbolic link or not a folder.
    #[error("{0} is not a folder (a symbolic link, or a file): refusing to use it")]
    NotAFolder(PathBuf),
    /// The process listening on the socket runs as another user.
    #[error(
        "the program listening at {path} runs as user {peer}, not as you (user {uid}): refusing to talk to it"
    )]
    ForeignPeer {
        /// The socket.
        path: PathBuf,
        /// The peer's user id.
        peer: u32,
        /// The current user.
        uid: u32,
    },
    /// The process at the other end of the named pipe runs as another user (Windows; the
    /// users are SIDs).
    #[error(
        "the program at the other end of {path} runs as {peer}, not as you ({user}): refusing to talk to it"
    )]
    ForeignPipePeer {
        /// The pipe.
        path: PathBuf,
        /// The other process's user.
        peer: String,
        /// The current user.
        user: String,
    },
    /// The check itself failed.
    #[error("cannot check {path}: {message}")]
    Io {
        /// What was being checked.
        path: PathBuf,
        /// Why it failed.
        message: String,
    },
}

impl EndpointError {
    /// The stable code: `agent_not_running`, `endpoint_not_owned`, `endpoint_open_to_others`,
    /// `endpoint_not_a_folder`, `endpoint_foreign_peer` or `endpoint_unreadable`.
    pub const fn code(&self) -> &'static str {
        match self {
            EndpointError::Missing(_) => "agent_not_running",
            EndpointError::NotOwned { .. } => "endpoint_not_owned",
            EndpointError::OpenToOthers { .. } => "endpoint_open_to_others",
            EndpointError::NotAFolder(_) => "endpoint_not_a_folder",
            EndpointError::ForeignPeer { .. } | EndpointError::ForeignPipePeer { .. } => {
                "endpoint_foreign_peer"
            }
            EndpointError::Io { .. } => "endpoint_unreadable",
        }
    }
}

/// The socket's file name: `<product_id>-<environment>.sock`.
pub fn socket_file_name(product_id: &str, environment: Environment) -> String {
    format!("{product_id}-{environment}.sock")
}

/// The endpoint of `product_id` in `environment`: [`SOCKET_ENV`], else `configured` (the
/// vendor's or a test configuration's), else the default of `docs/ipc.md`, Transport
/// ([`default_socket`]). The agent binds it and its clients connect to it, so they agree by
/// construction.
pub fn socket_path(
    configured: Option<&Path>,
    product_id: &str,
    environment: Environment,
) -> PathBuf {
    match (std::env::var_os(SOCKET_ENV), configured) {
        (Some(p), _) if !p.is_empty() => PathBuf::from(p),
        (_, Some(p)) => p.to_owned(),
        _ => default_socket(product_id, environment),
    }
}

/// The default endpoint of `product_id` in `environment` (ignoring any override but
/// [`SOCKET_ENV`]).
pub fn default_socket(product_id: &str, environment: Environment) -> PathBuf {
    socket_from(&facts_of_this_process(), product_id, environment)
}

/// The endpoint the other environment of `product_id` uses by default (the override aside):
/// an agent refuses to take it, so a sandbox agent never answers where a live app asks.
pub fn other_environments_socket(product_id: &str, environment: Environment) -> PathBuf {
    let other = match environment {
        Environment::Test => Environment::Live,
        Environment::Live => Environment::Test,
    };
    socket_from(
        &SocketFacts {
            socket_env: None,
            ..facts_of_this_process()
        },
        product_id,
        other,
    )
}

fn facts_of_this_process() -> SocketFacts {
    SocketFacts {
        os: std::env::consts::OS,
        socket_env: std::env::var_os(SOCKET_ENV)
            .filter(|p| !p.is_empty())
            .map(PathBuf::from),
        runtime_dir: std::env::var_os("XDG_RUNTIME_DIR")
            .filter(|p| !p.is_empty())
            .map(PathBuf::from),
        home: std::env::var_os("HOME").map(PathBuf::from),
        temp: std::env::temp_dir(),
        user: user_token(),
    }
}

/// What the default endpoint depends on, gathered by [`default_socket`]: the rule itself is
/// the pure [`socket_from`], tested for every system.
struct SocketFacts {
    os: &'static str,
    socket_env: Option<PathBuf>,
    runtime_dir: Option<PathBuf>,
    home: Option<PathBuf>,
    temp: PathBuf,
    /// The user id (Unix) or user name (Windows).
    user: String,
}

fn socket_from(facts: &SocketFacts, product_id: &str, environment: Environment) -> PathBuf {
    if let Some(path) = &facts.socket_env {
        return path.clone();
    }
    if facts.os == "windows" {
        return PathBuf::from(pipe_name(product_id, environment, &facts.user));
    }
    let dir = match (&facts.runtime_dir, &facts.home) {
        (Some(runtime), _) => runtime.join("licentric"),
        (None, Some(home)) if facts.os == "macos" => home.join("Library/Caches/licentric"),
        (None, Some(home)) => home.join(".cache/licentric"),
        (None, None) => facts.temp.join(format!("licentric-{}", facts.user)),
    };
    dir.join(socket_file_name(product_id, environment))
}

#[cfg(unix)]
fn user_token() -> String {
    current_uid().to_string()
}

/// Windows: the user's SID (`S-1-5-21-…`), which no other account shares — a domain's `ada`
/// and a local `ada` have the same `USERNAME`.
#[cfg(windows)]
fn user_token() -> String {
    pipe::current_user_sid().unwrap_or_else(|_| std::env::var("USERNAME").unwrap_or_default())
}

#[cfg(not(any(unix, windows)))]
fn user_token() -> String {
    std::env::var("USERNAME").unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn two_spellings_of_one_place_resolve_alike() {
        let tmp = tempfile::tempdir().unwrap();
        let live = tmp.path().join("licentric");
        std::fs::create_dir(&live).unwrap();
        let socket = live.join("p-live.sock");
        let link = tmp.path().join("elsewhere");
        std::os::unix::fs::symlink(&live, &link).unwrap();
        for spelling in [
            live.join("../licentric/p-live.sock"),
            live.join("./p-live.sock"),
            link.join("p-live.sock"),
            tmp.path().join("gone/../licentric/p-live.sock"),
        ] {
            assert_eq!(
                resolved(&spelling),
                resolved(&socket),
                "{}",
                spelling.display()
            );
        }
        assert_ne!(
            resolved(&live.join("p-test.sock")),
            resolved(&socket),
            "another file"
        );
        assert_eq!(
            resolved(&live.join("new/./deeper/../x")),
            resolved(&live).join("new/x"),
            "parts that do not exist yet, as written"
        );
    }

    fn facts(os: &'static str) -> SocketFacts {
        SocketFacts {
            os,
            socket_env: None,
            runtime_dir: None,
            home: Some(PathBuf::from("/home/ada")),
            temp: PathBuf::from("/tmp"),
            user: "1000".into(),
        }
    }

    #[test]
    fn socket_path_follows_design_section_5() {
        let live = Environment::Live;
        assert_eq!(
            socket_from(&facts("linux"), "acme-cad", live),
            PathBuf::from("/home/ada/.cache/licentric/acme-cad-live.sock"),
            "no runtime dir: the user's own cache folder, which no one else can create first"
        );
        let homeless = SocketFacts {
            home: None,
            ..facts("linux")
        };
        assert_eq!(
            socket_from(&homeless, "acme-cad", live),
            PathBuf::from("/tmp/licentric-1000/acme-cad-live.sock"),
            "no home either: a per-user folder in the temp dir"
        );
        let with_runtime = SocketFacts {
            runtime_dir: Some(PathBuf::from("/run/user/1000")),
            ..facts("linux")
        };
        assert_eq!(
            socket_from(&with_runtime, "acme-cad", live),
            PathBuf::from("/run/user/1000/licentric/acme-cad-live.sock")
        );
        assert_eq!(
            socket_from(&facts("macos"), "acme-cad", live),
            PathBuf::from("/home/ada/Library/Caches/licentric/acme-cad-live.sock"),
            "macOS: the user's cache folder"
        );
        let windows = SocketFacts {
            user: "ada".into(),
            ..facts("windows")
        };
        assert_eq!(
            socket_from(&windows, "acme-cad", live),
            PathBuf::from(r"\\.\pipe\licentric-acme-cad-live-ada")
        );
        let overridden = SocketFacts {
            socket_env: Some(PathBuf::from("/x/y.sock")),
            ..with_runtime
        };
        assert_eq!(
            socket_from(&overridden, "acme-cad", live),
            PathBuf::from("/x/y.sock")
        );
    }

    #[test]
    fn test_and_live_never_share_an_endpoint() {
        for os in ["linux", "macos", "windows"] {
            assert_ne!(
                socket_from(&facts(os), "acme-cad", Environment::Test),
                socket_from(&facts(os), "acme-cad", Environment::Live),
                "{os}"
            );
        }
    }

    #[test]
    fn codes_are_stable() {
        let e = EndpointError::ForeignPeer {
            path: "/s".into(),
            peer: 1,
            uid: 2,
        };
        assert_eq!(e.code(), "endpoint_foreign_peer");
        assert!(e.to_string().contains("user 1"), "{e}");
    }
}

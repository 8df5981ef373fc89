//! The platform layer of the Licentric companion: everything that differs between Linux,
//! macOS and Windows, in one place, one file per operating system.
//!
//! - [`identity`]: this machine's id ([`identity::PlatformMachineId`], the source
//!   [`identity::machine_id_source`] picks for an environment) — `/etc/machine-id`,
//!   `IOPlatformUUID`, `MachineGuid` — and, with the `metadata` feature, the descriptive
//!   [`identity::MachineMetadata`] sent with an activation. The fingerprint derivation itself
//!   is pure and lives in `licentric-core`.
//! - [`endpoint`]: the per-user local endpoint of `docs/ipc.md`, Transport — where the socket is
//!   ([`endpoint::default_socket`]), and the checks **both ends** make before trusting it: the
//!   agent creates its folder 0700 ([`endpoint::prepare_folder`]), and every client refuses a
//!   folder that is not its own user's with mode 0700 ([`endpoint::check_folder`]) or a peer
//!   running as another user ([`endpoint::check_peer`]) before it sends a byte. On Windows
//!   the endpoint is a named pipe: the agent creates it owner-only (`PipeSecurity`) and each
//!   end checks the other's user (`check_pipe_server`, `check_pipe_client`).
//!
//! - [`clock`]: the wall clock, and a steady clock that counts the time the machine slept.
//! - [`console`]: the terminal's echo, off while a licence key is typed.
//! - [`arguments`]: a secret in this process's arguments hidden from other local users.
//!
//! The agent uses both modules; the client library uses them too, so a local app computes
//! this machine's fingerprint and checks the socket itself instead of believing what the
//! socket says.
//!
//! # Example
//!
//! ```no_run
//! use licentric_platform::{endpoint, identity};
//! use licentric_proto::Environment;
//!
//! let fingerprint = identity::machine_id_source(Environment::Live)
//!     .machine_id()?
//!     .fingerprint("acme-cad");
//! let socket = endpoint::default_socket("acme-cad", Environment::Live);
//! # #[cfg(unix)]
//! endpoint::check_folder(&socket)?;
//! println!("{fingerprint} is served at {}", socket.display());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

pub mod arguments;
pub mod clock;
pub mod console;
pub mod endpoint;
pub mod identity;

//! The connection to the agent, one file per system (`docs/ipc.md`, Transport): a Unix socket
//! whose folder and listening peer are checked, or a Windows named pipe whose server is
//! checked to run as this user — before a byte is sent either way. The clients above send
//! lines and read lines; nothing else differs between systems.
//!
//! Each file gives:
//! - [`Connection`], the blocking client's: `open`, `read_line` (with a wait), `write_all`
//!   (with a limit) and `closer`;
//! - [`Closer`], which ends a connection from another thread;
//! - with the `tokio` feature, `open_async`, the async client's read and write halves.

#[cfg(unix)]
mod unix;
#[cfg(unix)]
pub use unix::Closer;
#[cfg(unix)]
pub(crate) use unix::Connection;
#[cfg(all(unix, feature = "tokio"))]
pub(crate) use unix::{AsyncReadHalf, AsyncWriteHalf, open_async};

#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub use windows::Closer;
#[cfg(windows)]
pub(crate) use windows::Connection;
#[cfg(all(windows, feature = "tokio"))]
pub(crate) use windows::{AsyncReadHalf, AsyncWriteHalf, open_async};

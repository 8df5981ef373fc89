//! Windows: the agent's named pipe. Before anything is written, the process serving it must
//! run as this user (`GetNamedPipeServerProcessId` and that process's token, in
//! `licentric_platform::endpoint`), so a pipe another account created under the agent's name
//! receives nothing.
//!
//! A synchronous pipe handle serialises its reads and writes, so a blocking read would hold
//! back a write (and a read cannot be given a time-out). The blocking client therefore runs
//! tokio's overlapped pipe on a private single-thread runtime, `block_on` per call.
//!
//! Written against tokio's and the Win32 documentation; built and run only on Windows (the CI
//! workflow's Windows job).

use std::os::windows::io::AsRawHandle;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use licentric_proto::framing::MAX_LINE_BYTES;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, ReadHalf, WriteHalf};
use tokio::net::windows::named_pipe::{ClientOptions, NamedPipeClient};
use tokio::sync::watch;

use crate::{ClientError, endpoint, io_error};

/// `ERROR_PIPE_BUSY` (winerror.h): every instance of the pipe is connected for a moment.
const ERROR_PIPE_BUSY: i32 = 231;
/// How often, and how long apart, a busy pipe is tried again (about a second in all).
const BUSY_TRIES: u32 = 40;
const BUSY_PAUSE: Duration = Duration::from_millis(25);

/// Opens the pipe at `path` and checks who serves it. Needs a tokio runtime with I/O.
async fn checked(path: &Path) -> Result<NamedPipeClient, ClientError> {
    let mut tries = 0;
    let pipe = loop {
        match ClientOptions::new().open(path) {
            Ok(pipe) => break pipe,
            // The agent creates its next instance as soon as one is taken: the documented
            // answer to a busy pipe is to try again shortly.
            Err(e) if e.raw_os_error() == Some(ERROR_PIPE_BUSY) && tries < BUSY_TRIES => {
                tries += 1;
                tokio::time::sleep(BUSY_PAUSE).await;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ClientError::NotRunning(path.to_owned()));
            }
            Err(e) => {
                return Err(ClientError::Io(format!(
                    "cannot open {}: {e}",
                    path.display()
                )));
            }
        }
    };
    endpoint::check_pipe_server(path, pipe.as_raw_handle()).map_err(ClientError::from_endpoint)?;
    Ok(pipe)
}

/// The blocking client's connection: tokio's pipe on a private runtime.
pub(crate) struct Connection {
    runtime: tokio::runtime::Runtime,
    reader: BufReader<ReadHalf<NamedPipeClient>>,
    writer: WriteHalf<NamedPipeClient>,
    closed: Arc<watch::Sender<bool>>,
}

impl Connection {
    pub(crate) fn open(path: &Path) -> Result<Connection, ClientError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| ClientError::Io(e.to_string()))?;
        let pipe = runtime.block_on(checked(path))?;
        let (reader, writer) = tokio::io::split(pipe);
        Ok(Connection {
            runtime,
            reader: BufReader::new(reader),
            writer,
            closed: Arc::new(watch::Sender::new(false)),
        })
    }

    /// Reads one line (at most [`MAX_LINE_BYTES`] and one more) into `line`, waiting at most
    /// `wait` (`None`: as long as it takes); 0 when the agent closed the connection.
    pub(crate) fn read_line(
        &mut self,
        wait: Option<Duration>,
        line: &mut Vec<u8>,
    ) -> Result<usize, ClientError> {
        let Connection {
            runtime,
            reader,
            closed,
            ..
        } = self;
        let mut closing = closed.subscribe();
        let mut limited = (&mut *reader).take(MAX_LINE_BYTES as u64 + 1);
        runtime.block_on(async {
            let read = limited.read_until(b'\n', line);
            let bounded = async {
                match wait {
                    Some(wait) => tokio::time::timeout(wait, read)
                        .await
                        .map_err(|_| ClientError::Timeout)?
                        .map_err(|e| io_error(&e)),
                    None => read.await.map_err(|e| io_error(&e)),
                }
            };
            tokio::select! {
                read = bounded => read,
                _ = closing.wait_for(|closed| *closed) => {
                    Err(ClientError::Io("the connection was closed".into()))
                }
            }
        })
    }

    /// Writes `bytes`, failing if the agent does not take them within `limit`.
    pub(crate) fn write_all(&mut self, bytes: &[u8], limit: Duration) -> Result<(), ClientError> {
        if *self.closed.borrow() {
            return Err(ClientError::Io("the connection was closed".into()));
        }
        let Connection {
            runtime, writer, ..
        } = self;
        runtime.block_on(async {
            tokio::time::timeout(limit, writer.write_all(bytes))
                .await
                .map_err(|_| ClientError::Timeout)?
                .map_err(|e| io_error(&e))
        })
    }

    #[allow(clippy::unnecessary_wraps)] // fallible on Unix, where the socket is duplicated
    pub(crate) fn closer(&self) -> Result<Closer, ClientError> {
        Ok(Closer(Arc::clone(&self.closed)))
    }
}

/// Closes a [`Client`](crate::Client)'s connection from another thread (see
/// [`Client::closer`](crate::Client::closer)): a read waiting there ends at once, and every
/// later call fails.
#[derive(Debug)]
pub struct Closer(Arc<watch::Sender<bool>>);

impl Closer {
    /// Closes the connection; the client's calls fail from now on.
    pub fn close(&self) {
        self.0.send_replace(true);
    }
}

#[cfg(feature = "tokio")]
pub(crate) type AsyncReadHalf = ReadHalf<NamedPipeClient>;
#[cfg(feature = "tokio")]
pub(crate) type AsyncWriteHalf = WriteHalf<NamedPipeClient>;

/// The async client's connection, checked as the blocking one.
#[cfg(feature = "tokio")]
pub(crate) async fn open_async(
    path: &Path,
) -> Result<(AsyncReadHalf, AsyncWriteHalf), ClientError> {
    Ok(tokio::io::split(checked(path).await?))
}

//! Unix: the agent's socket. Before anything is sent, its folder must be this user's with mode
//! 0700 and the listening peer must run as this user.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use licentric_proto::framing::MAX_LINE_BYTES;

use crate::{ClientError, endpoint, io_error};

/// The checks a client makes before it sends anything (`docs/ipc.md`, Transport): the
/// socket's folder is its own user's with mode 0700, and the listening peer runs as its own
/// user. Shared by the blocking and the async client.
fn checked(path: &Path) -> Result<UnixStream, ClientError> {
    endpoint::check_folder(path).map_err(ClientError::from_endpoint)?;
    let stream = UnixStream::connect(path).map_err(|_| ClientError::NotRunning(path.to_owned()))?;
    endpoint::check_peer(path, &stream).map_err(ClientError::from_endpoint)?;
    Ok(stream)
}

/// The blocking client's connection.
pub(crate) struct Connection {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Connection {
    pub(crate) fn open(path: &Path) -> Result<Connection, ClientError> {
        let stream = checked(path)?;
        let writer = stream
            .try_clone()
            .map_err(|e| ClientError::Io(e.to_string()))?;
        Ok(Connection {
            reader: BufReader::new(stream),
            writer,
        })
    }

    /// Reads one line (at most [`MAX_LINE_BYTES`] and one more) into `line`, waiting at most
    /// `wait` (`None`: as long as it takes); 0 when the agent closed the connection.
    pub(crate) fn read_line(
        &mut self,
        wait: Option<Duration>,
        line: &mut Vec<u8>,
    ) -> Result<usize, ClientError> {
        self.reader
            .get_ref()
            .set_read_timeout(wait)
            .map_err(|e| io_error(&e))?;
        (&mut self.reader)
            .take(MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', line)
            .map_err(|e| io_error(&e))
    }

    /// Writes `bytes`, failing if the agent does not take them within `limit`.
    pub(crate) fn write_all(&mut self, bytes: &[u8], limit: Duration) -> Result<(), ClientError> {
        self.writer
            .set_write_timeout(Some(limit))
            .map_err(|e| io_error(&e))?;
        self.writer.write_all(bytes).map_err(|e| io_error(&e))
    }

    pub(crate) fn closer(&self) -> Result<Closer, ClientError> {
        self.writer
            .try_clone()
            .map(Closer)
            .map_err(|e| io_error(&e))
    }
}

/// Closes a [`Client`](crate::Client)'s connection from another thread (see
/// [`Client::closer`](crate::Client::closer)).
#[derive(Debug)]
pub struct Closer(UnixStream);

impl Closer {
    /// Closes the connection; the client's calls fail from now on.
    pub fn close(&self) {
        let _ = self.0.shutdown(std::net::Shutdown::Both);
    }
}

#[cfg(feature = "tokio")]
pub(crate) type AsyncReadHalf = tokio::net::unix::OwnedReadHalf;
#[cfg(feature = "tokio")]
pub(crate) type AsyncWriteHalf = tokio::net::unix::OwnedWriteHalf;

/// The async client's connection, checked as the blocking one (the checks are quick local
/// system calls, and a connect to a Unix socket does not block).
#[cfg(feature = "tokio")]
pub(crate) async fn open_async(
    path: &Path,
) -> Result<(AsyncReadHalf, AsyncWriteHalf), ClientError> {
    let stream = checked(path)?;
    stream
        .set_nonblocking(true)
        .map_err(|e| ClientError::Io(e.to_string()))?;
    let stream =
        tokio::net::UnixStream::from_std(stream).map_err(|e| ClientError::Io(e.to_string()))?;
    Ok(stream.into_split())
}

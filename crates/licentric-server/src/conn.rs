//! Connection hygiene: a stream that ends when it has been silent too long.
//!
//! A client that opens a connection and then sends nothing, or stops reading its answer, holds
//! a task and a socket. Together with the TLS handshake limit, hyper's header read limit (a
//! request's headers dribbled a byte at a time) and the cap on open connections in
//! [`crate::serve`], this bounds what slow or stalled clients can hold.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// `inner`, failing with [`io::ErrorKind::TimedOut`] once neither a read nor a write has made
/// progress for `idle` while the connection waits on one.
pub struct Idle<T> {
    inner: T,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
    timed_out: Arc<AtomicU64>,
}

impl<T> Idle<T> {
    /// Wraps `inner`; `timed_out` counts the connections this ends.
    pub fn new(inner: T, idle: Duration, timed_out: Arc<AtomicU64>) -> Idle<T> {
        Idle {
            inner,
            idle,
            deadline: Box::pin(tokio::time::sleep(idle)),
            timed_out,
        }
    }

    fn progress(&mut self) {
        self.deadline.as_mut().reset(Instant::now() + self.idle);
    }

    /// Called when the inner stream is not ready: an error once the silence lasted too long.
    fn waited(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.timed_out.fetch_add(1, Ordering::Relaxed);
                Poll::Ready(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the connection was idle too long",
                ))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Idle<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(result) => {
                if buf.filled().len() > before {
                    this.progress();
                }
                Poll::Ready(result)
            }
            Poll::Pending => this.waited(cx).map(Err),
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Idle<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    this.progress();
                }
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            // A client that stops reading its answer holds the connection no longer.
            Poll::Pending => this.waited(cx).map(Err),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_flush(cx) {
            Poll::Pending => this.waited(cx).map(Err),
            ready => ready,
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write_vectored(cx, bufs) {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    this.progress();
                }
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => this.waited(cx).map(Err),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    #[tokio::test(start_paused = true)]
    async fn silence_ends_the_stream_and_traffic_keeps_it() {
        let (ours, mut theirs) = tokio::io::duplex(64);
        let count = Arc::new(AtomicU64::new(0));
        let mut idle = Idle::new(ours, Duration::from_secs(10), Arc::clone(&count));
        // Traffic every 6 s keeps it alive past 10 s.
        for _ in 0..3 {
            tokio::time::advance(Duration::from_secs(6)).await;
            theirs.write_all(b"x").await.unwrap();
            let mut byte = [0u8; 1];
            idle.read_exact(&mut byte).await.unwrap();
        }
        assert_eq!(count.load(Ordering::Relaxed), 0);
        // Then silence: the read fails once 10 s have passed, and is counted.
        let mut byte = [0u8; 1];
        let err = idle.read(&mut byte).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(count.load(Ordering::Relaxed), 1);
    }
}

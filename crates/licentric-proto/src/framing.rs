//! Newline framing: one JSON message per line, at most [`MAX_LINE_BYTES`] a line.
//!
//! [`LineDecoder`] is sans-I/O: feed it whatever the socket gave you and take whole lines out.
//! A line that grows past the limit is never buffered whole: the decoder drops what it has,
//! reports [`FrameError::TooLong`] once, and skips everything up to the next newline, so one
//! hostile client costs at most the limit in memory and the stream stays usable afterwards.

use std::collections::VecDeque;
use std::fmt;

use serde::Serialize;

/// The longest line either side accepts, not counting the newline: 64 KiB.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// Why a frame could not be produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameError {
    /// A line was longer than the limit; it was discarded up to its newline.
    TooLong {
        /// The limit in bytes.
        limit: usize,
    },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::TooLong { limit } => write!(f, "message longer than {limit} bytes"),
        }
    }
}

impl std::error::Error for FrameError {}

/// Splits a byte stream into lines of at most a fixed length.
#[derive(Debug)]
pub struct LineDecoder {
    limit: usize,
    current: Vec<u8>,
    discarding: bool,
    ready: VecDeque<Result<Vec<u8>, FrameError>>,
}

impl Default for LineDecoder {
    fn default() -> Self {
        LineDecoder::new()
    }
}

impl LineDecoder {
    /// A decoder with the protocol's limit, [`MAX_LINE_BYTES`].
    pub fn new() -> LineDecoder {
        LineDecoder::with_limit(MAX_LINE_BYTES)
    }

    /// A decoder with another limit (tests, fuzzing).
    pub fn with_limit(limit: usize) -> LineDecoder {
        LineDecoder {
            limit,
            current: Vec::new(),
            discarding: false,
            ready: VecDeque::new(),
        }
    }

    /// Feeds bytes read from the stream. Whole lines become available through
    /// [`next_frame`](Self::next_frame); empty lines are skipped.
    pub fn push(&mut self, mut input: &[u8]) {
        while !input.is_empty() {
            let newline = input.iter().position(|&b| b == b'\n');
            let (segment, rest, complete) = match newline {
                Some(i) => (&input[..i], &input[i + 1..], true),
                None => (input, &[][..], false),
            };
            input = rest;
            if self.discarding {
                // Still inside an over-long line: drop bytes until its end.
                self.discarding = !complete;
                continue;
            }
            if self.current.len() + segment.len() > self.limit {
                self.current = Vec::new();
                self.discarding = !complete;
                self.ready
                    .push_back(Err(FrameError::TooLong { limit: self.limit }));
                continue;
            }
            self.current.extend_from_slice(segment);
            if complete {
                let line = std::mem::take(&mut self.current);
                if !line.is_empty() && line != b"\r" {
                    self.ready.push_back(Ok(line));
                }
            }
        }
    }

    /// The next whole line (without its newline), or the error that replaced an over-long one.
    pub fn next_frame(&mut self) -> Option<Result<Vec<u8>, FrameError>> {
        self.ready.pop_front()
    }

    /// Bytes held for a line not yet finished (never more than the limit).
    pub fn buffered(&self) -> usize {
        self.current.len()
    }
}

/// Why a message could not be encoded as a line.
#[derive(Debug)]
#[non_exhaustive]
pub enum EncodeError {
    /// Serialisation failed.
    Json(serde_json::Error),
    /// The encoded message is longer than the limit the other side accepts.
    TooLong(FrameError),
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::Json(e) => write!(f, "cannot encode message: {e}"),
            EncodeError::TooLong(e) => write!(f, "cannot send message: {e}"),
        }
    }
}

impl std::error::Error for EncodeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            EncodeError::Json(e) => Some(e),
            EncodeError::TooLong(e) => Some(e),
        }
    }
}

/// Encodes `message` as one line of compact JSON followed by `\n`.
///
/// # Errors
/// [`EncodeError::Json`] if it cannot be serialised, [`EncodeError::TooLong`] if the line would
/// exceed [`MAX_LINE_BYTES`]. Compact JSON never contains a raw newline.
pub fn encode_line<T: Serialize + ?Sized>(message: &T) -> Result<Vec<u8>, EncodeError> {
    let mut bytes = serde_json::to_vec(message).map_err(EncodeError::Json)?;
    if bytes.len() > MAX_LINE_BYTES {
        return Err(EncodeError::TooLong(FrameError::TooLong {
            limit: MAX_LINE_BYTES,
        }));
    }
    bytes.push(b'\n');
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn drain(decoder: &mut LineDecoder) -> Vec<Result<Vec<u8>, FrameError>> {
        std::iter::from_fn(|| decoder.next_frame()).collect()
    }

    #[test]
    fn splits_lines_across_pushes() {
        let mut d = LineDecoder::new();
        d.push(b"{\"a\":");
        assert!(d.next_frame().is_none(), "half a line is not a frame");
        d.push(b"1}\n{\"b\":2}\n\n{\"c\"");
        assert_eq!(
            drain(&mut d),
            vec![Ok(b"{\"a\":1}".to_vec()), Ok(b"{\"b\":2}".to_vec())]
        );
        assert_eq!(d.buffered(), 4);
    }

    #[test]
    fn over_long_line_is_reported_once_and_skipped_without_buffering() {
        let mut d = LineDecoder::with_limit(8);
        d.push(b"12345");
        d.push(b"6789");
        assert_eq!(d.buffered(), 0, "an over-long line must not stay buffered");
        d.push(b"abcdefghijklmnop");
        d.push(b"qrs\nok\n");
        assert_eq!(
            drain(&mut d),
            vec![Err(FrameError::TooLong { limit: 8 }), Ok(b"ok".to_vec())]
        );
    }

    #[test]
    fn line_of_exactly_the_limit_is_accepted() {
        let mut d = LineDecoder::with_limit(4);
        d.push(b"abcd\nabcde\nxy\n");
        assert_eq!(
            drain(&mut d),
            vec![
                Ok(b"abcd".to_vec()),
                Err(FrameError::TooLong { limit: 4 }),
                Ok(b"xy".to_vec())
            ]
        );
    }

    #[test]
    fn encode_refuses_what_the_peer_would_refuse() {
        let big = "x".repeat(MAX_LINE_BYTES);
        assert!(matches!(encode_line(&big), Err(EncodeError::TooLong(_))));
        let line = encode_line(&"hi\nthere").unwrap();
        assert_eq!(
            line, b"\"hi\\nthere\"\n",
            "newlines inside JSON strings are escaped"
        );
    }

    proptest! {
        #[test]
        fn any_chunking_gives_the_same_frames(
            lines in proptest::collection::vec("[a-z{}\":,0-9]{1,20}", 0..8),
            cuts in proptest::collection::vec(0usize..200, 0..8),
        ) {
            let stream: Vec<u8> = lines.iter().flat_map(|l| format!("{l}\n").into_bytes()).collect();
            let mut whole = LineDecoder::with_limit(16);
            whole.push(&stream);
            let expected = drain(&mut whole);

            let mut chunked = LineDecoder::with_limit(16);
            let mut points: Vec<usize> = cuts.into_iter().map(|c| c % (stream.len() + 1)).collect();
            points.sort_unstable();
            let mut start = 0;
            for p in points.into_iter().chain([stream.len()]) {
                chunked.push(&stream[start..p]);
                start = p;
            }
            prop_assert_eq!(drain(&mut chunked), expected);
            prop_assert!(chunked.buffered() <= 16);
        }
    }
}

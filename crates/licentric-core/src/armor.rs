//! The text armour around licence files and activation requests:
//!
//! ```text
//! -----BEGIN LICENTRIC LICENSE FILE-----
//! <standard base64 with padding, lines of 64>
//! -----END LICENTRIC LICENSE FILE-----
//! ```
//!
//! Decoding is strict so that no change to a file goes unnoticed: only ASCII space, tab, CR
//! and LF may surround the block, lines end in LF or CRLF, and the base64 must be canonical
//! (no stray characters, no non-zero padding bits).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

const LINE_LEN: usize = 64;

/// Why armoured text could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ArmorError {
    TooLarge,
    MissingBegin,
    MissingEnd,
    BadBase64,
}

impl ArmorError {
    pub(crate) const fn detail(self) -> &'static str {
        match self {
            ArmorError::TooLarge => "larger than the limit",
            ArmorError::MissingBegin => "no BEGIN line where the text starts",
            ArmorError::MissingEnd => "no END line where the text ends",
            ArmorError::BadBase64 => "the body is not canonical base64",
        }
    }
}

/// Armours `bytes` under `label` (`LICENTRIC LICENSE FILE`).
pub(crate) fn encode(label: &str, bytes: &[u8]) -> String {
    let body = STANDARD.encode(bytes);
    let mut out = String::with_capacity(body.len() + body.len() / LINE_LEN + 2 * label.len() + 40);
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    for line in body.as_bytes().chunks(LINE_LEN) {
        // Base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

/// Reads the bytes armoured under `label`, refusing text longer than `max_len` before reading it.
pub(crate) fn decode(label: &str, text: &str, max_len: usize) -> Result<Vec<u8>, ArmorError> {
    if text.len() > max_len {
        return Err(ArmorError::TooLarge);
    }
    let text = text.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'));
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let begin = lines.next().ok_or(ArmorError::MissingBegin)?;
    if !is_marker(begin, "BEGIN", label) {
        return Err(ArmorError::MissingBegin);
    }
    let mut body = String::with_capacity(text.len());
    let mut ended = false;
    for line in lines {
        if ended {
            return Err(ArmorError::MissingEnd);
        }
        if is_marker(line, "END", label) {
            ended = true;
        } else {
            body.push_str(line);
        }
    }
    if !ended {
        return Err(ArmorError::MissingEnd);
    }
    STANDARD
        .decode(body.as_bytes())
        .map_err(|_| ArmorError::BadBase64)
}

fn is_marker(line: &str, which: &str, label: &str) -> bool {
    line.strip_prefix("-----")
        .and_then(|l| l.strip_prefix(which))
        .and_then(|l| l.strip_prefix(' '))
        .and_then(|l| l.strip_prefix(label))
        .is_some_and(|l| l == "-----")
}

#[cfg(test)]
mod tests {
    use super::*;

    const LABEL: &str = "LICENTRIC TEST";

    #[test]
    fn round_trips_and_wraps_at_64() {
        let bytes: Vec<u8> = (0..=255).collect();
        let text = encode(LABEL, &bytes);
        assert!(
            text.lines()
                .all(|l| l.len() <= 64 || l.starts_with("-----"))
        );
        assert_eq!(decode(LABEL, &text, 4096).unwrap(), bytes);
        let crlf = text.replace('\n', "\r\n");
        assert_eq!(
            decode(LABEL, &format!("  \n{crlf}\n\n"), 4096).unwrap(),
            bytes
        );
    }

    #[test]
    fn refuses_what_is_not_exactly_armour() {
        let text = encode(LABEL, b"hello world");
        assert_eq!(
            decode("LICENTRIC OTHER", &text, 4096),
            Err(ArmorError::MissingBegin)
        );
        assert_eq!(
            decode(LABEL, &text.replace("-----END", "-----FIN"), 4096),
            Err(ArmorError::MissingEnd)
        );
        assert_eq!(
            decode(LABEL, &format!("{text}x"), 4096),
            Err(ArmorError::MissingEnd)
        );
        assert_eq!(decode(LABEL, &text, 10), Err(ArmorError::TooLarge));
        assert_eq!(
            decode(LABEL, &text.replace("aGVs", "aG Vs"), 4096),
            Err(ArmorError::BadBase64)
        );
        // "aGk=" is "hi"; "aGl=" has non-zero padding bits and must not decode to the same.
        let lax = encode(LABEL, b"hi").replace("aGk=", "aGl=");
        assert_eq!(decode(LABEL, &lax, 4096), Err(ArmorError::BadBase64));
        // A vertical tab is white space to `str::trim`, not to armour.
        assert_eq!(
            decode(LABEL, &format!("{text}\u{b}"), 4096),
            Err(ArmorError::MissingEnd)
        );
    }
}

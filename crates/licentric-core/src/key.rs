//! Licence keys: `PREFIX-XXXX-XXXX-XXXX-XXXX`.
//!
//! PREFIX is the product's, 2–8 of `A-Z0-9`; the four segments are Crockford base32
//! (`0-9A-Z` without `I L O U`) carrying 80 random bits. Input is normalised before anything
//! else: trimmed, upper-cased, spaces and dashes dropped (both optional), `O` read as `0` and
//! `I`/`L` as `1`. A malformed key is refused with an error that says what is wrong.
//!
//! A [`LicenseKey`] never shows itself: its `Display` and `Debug` print the redacted hint
//! (`ACME-****-****-****-H3WC`), it compares in constant time, and its memory is wiped on drop.

use std::fmt;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::random::{RandomError, SecureRandom};

/// Characters in the random part of a key (four segments of four).
pub const BODY_LEN: usize = 16;
const SEGMENT_LEN: usize = 4;
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Why a licence key or a prefix was refused. Every variant has a stable [`code`](Self::code)
/// and a message fit to show the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Nothing was entered.
    #[error("the licence key is empty")]
    Empty,
    /// The key does not start with the product's prefix.
    #[error("the licence key should start with {expected}- (it starts with {found:?})")]
    WrongPrefix {
        /// The product's prefix.
        expected: String,
        /// What the key starts with instead.
        found: String,
    },
    /// A character that cannot occur in a key.
    #[error(
        "the character {character:?} at position {position} cannot be in a licence key (keys use 0-9 and A-Z, except U)"
    )]
    BadCharacter {
        /// 1-based position in the text as entered.
        position: usize,
        /// The character.
        character: char,
    },
    /// Too few or too many characters after the prefix.
    #[error("the licence key is too {}: {found} characters after the prefix, where {expected} are needed", if .found < .expected { "short" } else { "long" })]
    WrongLength {
        /// Always [`BODY_LEN`].
        expected: usize,
        /// What was entered (dashes and spaces not counted).
        found: usize,
    },
    /// A product prefix that is not 2–8 of `A-Z0-9`.
    #[error("a key prefix is 2 to 8 of A-Z and 0-9, not {0:?}")]
    InvalidPrefix(String),
}

impl KeyError {
    /// The stable code: `empty`, `wrong_prefix`, `bad_character`, `wrong_length`,
    /// `invalid_prefix`.
    pub const fn code(&self) -> &'static str {
        match self {
            KeyError::Empty => "empty",
            KeyError::WrongPrefix { .. } => "wrong_prefix",
            KeyError::BadCharacter { .. } => "bad_character",
            KeyError::WrongLength { .. } => "wrong_length",
            KeyError::InvalidPrefix(_) => "invalid_prefix",
        }
    }
}

/// A product's key prefix: 2–8 of `A-Z0-9`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyPrefix(String);

impl KeyPrefix {
    /// Checks a prefix.
    ///
    /// # Errors
    /// [`KeyError::InvalidPrefix`] unless it is 2–8 of `A-Z0-9` (upper case).
    pub fn new(prefix: &str) -> Result<KeyPrefix, KeyError> {
        let ok = (2..=8).contains(&prefix.len())
            && prefix
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if ok {
            Ok(KeyPrefix(prefix.to_owned()))
        } else {
            Err(KeyError::InvalidPrefix(prefix.to_owned()))
        }
    }

    /// The prefix.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A well-formed licence key in its normal form, `PREFIX-XXXX-XXXX-XXXX-XXXX`.
#[derive(Clone)]
pub struct LicenseKey {
    text: Zeroizing<String>,
    prefix_len: usize,
}

impl LicenseKey {
    /// Normalises and checks a key the user entered for the product with `prefix`.
    ///
    /// # Errors
    /// In this order: [`KeyError::Empty`], [`KeyError::WrongPrefix`],
    /// [`KeyError::BadCharacter`], [`KeyError::WrongLength`].
    pub fn parse(input: &str, prefix: &KeyPrefix) -> Result<LicenseKey, KeyError> {
        let compact = Compact::new(input)?;
        let p = prefix.as_str();
        let starts_with_prefix = compact.chars.len() >= p.len()
            && compact
                .chars
                .iter()
                .zip(p.chars())
                .all(|(&(_, c), e)| c == e);
        if !starts_with_prefix {
            return Err(KeyError::WrongPrefix {
                expected: p.to_owned(),
                found: compact.first_group(p.len()),
            });
        }
        LicenseKey::from_parts(p, &compact.chars[p.len()..])
    }

    /// Normalises and checks a key of any product (the server's view). With dashes or spaces,
    /// the prefix is the first group; without, it is everything before the last 16 characters.
    ///
    /// # Errors
    /// [`KeyError::Empty`], [`KeyError::InvalidPrefix`], [`KeyError::BadCharacter`],
    /// [`KeyError::WrongLength`].
    pub fn parse_any(input: &str) -> Result<LicenseKey, KeyError> {
        let compact = Compact::new(input)?;
        let prefix_len = compact
            .first_group_len
            .unwrap_or_else(|| compact.chars.len().saturating_sub(BODY_LEN));
        let prefix: String = compact.chars[..prefix_len]
            .iter()
            .map(|&(_, c)| c)
            .collect();
        let prefix = KeyPrefix::new(&prefix)?;
        LicenseKey::from_parts(prefix.as_str(), &compact.chars[prefix_len..])
    }

    fn from_parts(prefix: &str, body: &[(usize, char)]) -> Result<LicenseKey, KeyError> {
        let mut text = Zeroizing::new(String::with_capacity(prefix.len() + BODY_LEN + 4));
        text.push_str(prefix);
        for (i, &(position, c)) in body.iter().enumerate() {
            let digit = crockford_digit(c).ok_or(KeyError::BadCharacter {
                position,
                character: c,
            })?;
            if i % SEGMENT_LEN == 0 {
                text.push('-');
            }
            text.push(digit);
        }
        if body.len() != BODY_LEN {
            return Err(KeyError::WrongLength {
                expected: BODY_LEN,
                found: body.len(),
            });
        }
        Ok(LicenseKey {
            text,
            prefix_len: prefix.len(),
        })
    }

    /// A new key with 80 bits from `rng` (the server's job).
    ///
    /// # Errors
    /// When the random source fails.
    pub fn generate(
        prefix: &KeyPrefix,
        rng: &mut dyn SecureRandom,
    ) -> Result<LicenseKey, RandomError> {
        let mut bits = Zeroizing::new([0u8; 10]);
        rng.fill(bits.as_mut())?;
        let mut value = Zeroizing::new(u128::from_be_bytes({
            let mut wide = [0u8; 16];
            wide[6..].copy_from_slice(bits.as_ref());
            wide
        }));
        let mut body = [0u8; BODY_LEN];
        for slot in body.iter_mut().rev() {
            *slot = CROCKFORD[(*value & 0x1f) as usize];
            *value >>= 5;
        }
        let mut text = Zeroizing::new(String::with_capacity(prefix.as_str().len() + BODY_LEN + 4));
        text.push_str(prefix.as_str());
        for (i, &b) in body.iter().enumerate() {
            if i % SEGMENT_LEN == 0 {
                text.push('-');
            }
            text.push(char::from(b));
        }
        body.fill(0);
        Ok(LicenseKey {
            text,
            prefix_len: prefix.as_str().len(),
        })
    }

    /// The key itself, for the `Authorization` header and the credential store only.
    pub fn expose_secret(&self) -> &str {
        &self.text
    }

    /// The product prefix.
    pub fn prefix(&self) -> &str {
        &self.text[..self.prefix_len]
    }

    /// The redacted form shown to people: `ACME-****-****-****-H3WC`.
    pub fn hint(&self) -> String {
        let last = &self.text[self.text.len() - SEGMENT_LEN..];
        format!("{}-****-****-****-{last}", self.prefix())
    }

    /// SHA-256 of the normal form: what the server stores and looks keys up by.
    pub fn lookup_hash(&self) -> [u8; 32] {
        Sha256::digest(self.text.as_bytes()).into()
    }
}

impl PartialEq for LicenseKey {
    /// Constant-time in the keys' contents.
    fn eq(&self, other: &Self) -> bool {
        self.text.as_bytes().ct_eq(other.text.as_bytes()).into()
    }
}

impl Eq for LicenseKey {}

impl fmt::Display for LicenseKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hint())
    }
}

impl fmt::Debug for LicenseKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("LicenseKey").field(&self.hint()).finish()
    }
}

/// The input upper-cased with separators dropped, each character with its 1-based position.
struct Compact {
    chars: Vec<(usize, char)>,
    /// Length of the first group, when the input had a separator after it.
    first_group_len: Option<usize>,
}

impl Compact {
    fn new(input: &str) -> Result<Compact, KeyError> {
        let mut chars = Vec::with_capacity(input.len().min(64));
        let mut first_group_len = None;
        for (i, c) in input.chars().enumerate() {
            if is_separator(c) {
                if first_group_len.is_none() && !chars.is_empty() {
                    first_group_len = Some(chars.len());
                }
                continue;
            }
            chars.push((i + 1, c.to_ascii_uppercase()));
        }
        if chars.is_empty() {
            return Err(KeyError::Empty);
        }
        if first_group_len == Some(chars.len()) {
            first_group_len = None;
        }
        Ok(Compact {
            chars,
            first_group_len,
        })
    }

    /// What the key starts with, for the wrong-prefix message: its first group, or as many
    /// characters as the prefix has.
    fn first_group(&self, prefix_len: usize) -> String {
        let len = self
            .first_group_len
            .unwrap_or(prefix_len)
            .min(self.chars.len())
            .min(12);
        self.chars[..len].iter().map(|&(_, c)| c).collect()
    }
}

/// Dashes (ASCII and the typographic ones word processors put in) and white space.
fn is_separator(c: char) -> bool {
    c == '-' || c.is_whitespace() || matches!(c, '\u{2010}'..='\u{2015}' | '\u{2212}')
}

/// The Crockford digit a character stands for: `O`→`0`, `I`/`L`→`1`; `U` and anything else
/// is not a digit.
fn crockford_digit(c: char) -> Option<char> {
    match c {
        'O' => Some('0'),
        'I' | 'L' => Some('1'),
        'U' => None,
        '0'..='9' | 'A'..='Z' => Some(c),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn acme() -> KeyPrefix {
        KeyPrefix::new("ACME").unwrap()
    }

    struct Counter(u8);
    impl SecureRandom for Counter {
        fn fill(&mut self, dest: &mut [u8]) -> Result<(), RandomError> {
            for b in dest {
                self.0 = self.0.wrapping_add(37);
                *b = self.0;
            }
            Ok(())
        }
    }

    #[test]
    fn normalises_case_spaces_dashes_and_lookalikes() {
        let canonical = "ACME-7QX2-M4KD-9PZT-H3WC";
        for input in [
            "ACME-7QX2-M4KD-9PZT-H3WC",
            "  acme-7qx2-m4kd-9pzt-h3wc\n",
            "ACME7QX2M4KD9PZTH3WC",
            "ACME 7QX2 M4KD 9PZT H3WC",
            "ACME\u{2013}7QX2\u{2013}M4KD\u{2013}9PZT\u{2013}H3WC",
        ] {
            let key = LicenseKey::parse(input, &acme()).unwrap();
            assert_eq!(key.expose_secret(), canonical, "input {input:?}");
        }
        let key = LicenseKey::parse("ACME-OOOO-IIII-LLLL-oil0", &acme()).unwrap();
        assert_eq!(key.expose_secret(), "ACME-0000-1111-1111-0110");
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let p = acme();
        assert_eq!(LicenseKey::parse("  \t", &p).unwrap_err(), KeyError::Empty);
        assert_eq!(
            LicenseKey::parse("ACNE-7QX2-M4KD-9PZT-H3WC", &p).unwrap_err(),
            KeyError::WrongPrefix {
                expected: "ACME".into(),
                found: "ACNE".into()
            }
        );
        assert_eq!(
            LicenseKey::parse("7QX2-M4KD-9PZT-H3WC", &p).unwrap_err(),
            KeyError::WrongPrefix {
                expected: "ACME".into(),
                found: "7QX2".into()
            }
        );
        assert_eq!(
            LicenseKey::parse("ACME-7QX2-M4KD-9PZT-H3WU", &p).unwrap_err(),
            KeyError::BadCharacter {
                position: 24,
                character: 'U'
            }
        );
        assert_eq!(
            LicenseKey::parse(" ACME-7QX2-M4K!-9PZT-H3WC", &p).unwrap_err(),
            KeyError::BadCharacter {
                position: 15,
                character: '!'
            }
        );
        assert_eq!(
            LicenseKey::parse("ACME-7QX2-M4KD-9PZT-H3W", &p).unwrap_err(),
            KeyError::WrongLength {
                expected: 16,
                found: 15
            }
        );
        assert_eq!(
            LicenseKey::parse("ACME-7QX2-M4KD-9PZT-H3WCX", &p).unwrap_err(),
            KeyError::WrongLength {
                expected: 16,
                found: 17
            }
        );
        let msg = LicenseKey::parse("ACME-7QX2-M4KD-9PZT-H3W", &p)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("too short") && msg.contains("15"),
            "message was {msg:?}"
        );
    }

    #[test]
    fn prefixes_are_checked() {
        for bad in ["A", "ABCDEFGHI", "acme", "AC-M", ""] {
            assert_eq!(
                KeyPrefix::new(bad).unwrap_err().code(),
                "invalid_prefix",
                "{bad:?}"
            );
        }
        assert!(KeyPrefix::new("X9").is_ok());
    }

    #[test]
    fn parse_any_finds_the_prefix() {
        let key = LicenseKey::parse_any("zeta9-7qx2-m4kd-9pzt-h3wc").unwrap();
        assert_eq!(key.prefix(), "ZETA9");
        let key = LicenseKey::parse_any("ZETA97QX2M4KD9PZTH3WC").unwrap();
        assert_eq!(key.expose_secret(), "ZETA9-7QX2-M4KD-9PZT-H3WC");
        assert_eq!(
            LicenseKey::parse_any("7QX2M4KD9PZTH3WC")
                .unwrap_err()
                .code(),
            "invalid_prefix"
        );
    }

    #[test]
    fn never_shows_itself() {
        let key = LicenseKey::parse("ACME-7QX2-M4KD-9PZT-H3WC", &acme()).unwrap();
        for shown in [key.to_string(), format!("{key:?}"), format!("{key:#?}")] {
            assert!(
                !shown.contains("7QX2") && !shown.contains("9PZT"),
                "{shown}"
            );
            assert!(shown.contains("ACME-****-****-****-H3WC"), "{shown}");
        }
    }

    #[test]
    fn equality_is_by_content() {
        let a = LicenseKey::parse("ACME-7QX2-M4KD-9PZT-H3WC", &acme()).unwrap();
        let b = LicenseKey::parse("acme7qx2m4kd9pzth3wc", &acme()).unwrap();
        let c = LicenseKey::parse("ACME-7QX2-M4KD-9PZT-H3WD", &acme()).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.lookup_hash(), b.lookup_hash());
    }

    #[test]
    fn generated_keys_use_all_80_bits() {
        let key = LicenseKey::generate(&acme(), &mut Counter(0)).unwrap();
        assert_eq!(
            LicenseKey::parse(key.expose_secret(), &acme()).unwrap(),
            key
        );
        let all_ones = {
            struct Ones;
            impl SecureRandom for Ones {
                fn fill(&mut self, d: &mut [u8]) -> Result<(), RandomError> {
                    d.fill(0xff);
                    Ok(())
                }
            }
            LicenseKey::generate(&acme(), &mut Ones).unwrap()
        };
        assert_eq!(all_ones.expose_secret(), "ACME-ZZZZ-ZZZZ-ZZZZ-ZZZZ");
    }

    proptest! {
        #[test]
        fn normal_form_is_a_fixed_point(bytes in proptest::array::uniform10(any::<u8>())) {
            struct Fixed([u8; 10]);
            impl SecureRandom for Fixed {
                fn fill(&mut self, d: &mut [u8]) -> Result<(), RandomError> {
                    d.copy_from_slice(&self.0);
                    Ok(())
                }
            }
            let key = LicenseKey::generate(&acme(), &mut Fixed(bytes)).unwrap();
            let again = LicenseKey::parse(key.expose_secret(), &acme()).unwrap();
            prop_assert_eq!(again.expose_secret(), key.expose_secret());
        }

        #[test]
        fn any_spelling_of_a_key_normalises_to_it(
            body in "[0-9A-HJKMNP-TV-Z]{16}",
            lower in proptest::collection::vec(any::<bool>(), 16),
            dashes in any::<bool>(),
            pad in "[ \t\n]{0,3}",
        ) {
            let canonical = format!("ACME-{}-{}-{}-{}", &body[0..4], &body[4..8], &body[8..12], &body[12..16]);
            let mut typed: String = body.chars().zip(&lower).map(|(c, &l)| {
                let c = match c { '0' if l => 'O', '1' if l => 'l', c => c };
                if l { c.to_ascii_lowercase() } else { c }
            }).collect();
            if dashes {
                typed = format!("{}-{}-{}-{}", &typed[0..4], &typed[4..8], &typed[8..12], &typed[12..16]);
            }
            let input = format!("{pad}acme-{typed}{pad}");
            let key = LicenseKey::parse(&input, &acme()).unwrap();
            prop_assert_eq!(key.expose_secret(), canonical.as_str());
        }

        #[test]
        fn parsing_never_panics(input in "\\PC{0,64}") {
            let _ = LicenseKey::parse(&input, &acme());
            let _ = LicenseKey::parse_any(&input);
        }
    }
}

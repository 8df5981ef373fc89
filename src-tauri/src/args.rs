//! The app's command line: `licentric-companion [--config FILE] [--hidden] [licentric://activate?key=KEY]`.
//!
//! Unknown arguments are ignored, not fatal: desktop launchers and WebDriver (`--automation`)
//! add their own, and a second launch hands its arguments to the first.

use std::path::PathBuf;

/// What the app was started with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Args {
    /// The vendor's configuration (else `$LICENTRIC_CONFIG`, the user's config folder, the
    /// built-in one).
    pub config: Option<PathBuf>,
    /// Start in the tray with no window (start at login).
    pub hidden: bool,
    /// A key handed over by a `licentric://activate?key=…` link, to be filled in (never
    /// activated without the user pressing Activate: a link can come from anywhere).
    pub link_key: Option<String>,
    /// The key as the link's argument spells it (before decoding), to hide it from the
    /// process list.
    pub link_key_as_given: Option<String>,
}

/// The option that starts the app in the tray.
pub use licentric_desktop::login::HIDDEN;

/// Parses the arguments after the program name.
pub fn parse(args: impl IntoIterator<Item = String>) -> Args {
    let mut parsed = Args::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if arg == "--config" {
            parsed.config = args.next().map(PathBuf::from);
        } else if let Some(path) = arg.strip_prefix("--config=") {
            parsed.config = Some(PathBuf::from(path));
        } else if arg == HIDDEN {
            parsed.hidden = true;
        } else if let Some(key) = key_from_link(&arg, &licentric_agent::brand::built_in().scheme) {
            parsed.link_key = Some(key);
            parsed.link_key_as_given = raw_key(&arg).map(str::to_owned);
        } else {
            tracing::debug!(%arg, "ignoring an unknown argument");
        }
    }
    parsed
}

/// The key in `<scheme>://activate?key=KEY` (`licentric://…`, or the vendor's own scheme;
/// percent-decoded), or `None` for anything else. Only the characters a key can hold are
/// kept, so a link cannot smuggle anything else into the key field.
pub fn key_from_link(link: &str, scheme: &str) -> Option<String> {
    let rest = link.strip_prefix(scheme)?.strip_prefix("://activate")?;
    let rest = rest.strip_prefix('/').unwrap_or(rest);
    let query = rest.strip_prefix('?')?;
    let value = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("key="))?;
    let decoded = percent_decode(value)?;
    let key: String = decoded
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(64)
        .collect();
    (!key.is_empty()).then_some(key)
}

/// The `key=` value of a link as written (not decoded).
fn raw_key(link: &str) -> Option<&str> {
    let (_, query) = link.split_once('?')?;
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("key="))
        .filter(|v| !v.is_empty())
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = text.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Args {
        parse(list.iter().map(|s| (*s).to_owned()))
    }

    #[test]
    fn reads_config_hidden_and_a_link_and_ignores_the_rest() {
        let parsed = args(&[
            "--automation",
            "--config",
            "/etc/acme/companion.toml",
            "--hidden",
            "licentric://activate?key=ACME-7QX2-M4KD-9PZT-H3WC",
        ]);
        assert_eq!(
            parsed,
            Args {
                config: Some(PathBuf::from("/etc/acme/companion.toml")),
                hidden: true,
                link_key: Some("ACME-7QX2-M4KD-9PZT-H3WC".into()),
                link_key_as_given: Some("ACME-7QX2-M4KD-9PZT-H3WC".into()),
            }
        );
        assert_eq!(
            args(&["licentric://activate/?src=mail&key=acme%2D7qx2+m4kd&x=1"]).link_key_as_given,
            Some("acme%2D7qx2+m4kd".into()),
            "as written, to hide it from the process list"
        );
        assert_eq!(
            args(&["--config=/x.toml"]).config,
            Some(PathBuf::from("/x.toml"))
        );
        assert_eq!(args(&[]), Args::default());
    }

    #[test]
    fn links_are_decoded_and_filtered() {
        assert_eq!(
            key_from_link(
                "licentric://activate/?src=mail&key=acme%2D7qx2+m4kd",
                "licentric"
            )
            .as_deref(),
            Some("acme-7qx2m4kd"),
            "percent-decoded, other parameters skipped, spaces dropped"
        );
        assert_eq!(
            key_from_link("licentric://activate?key=ACME<script>", "licentric").as_deref(),
            Some("ACMEscript"),
            "only key characters survive"
        );
        for bad in [
            "https://activate?key=ACME",
            "licentric://deactivate?key=ACME",
            "licentric://activate",
            "licentric://activate?key=",
            "licentric://activate?key=%zz",
            "licentric://activate?key=%E2%28",
        ] {
            assert_eq!(key_from_link(bad, "licentric"), None, "{bad}");
        }
        // A vendor's scheme, and only it.
        assert_eq!(
            key_from_link("acme-cad://activate?key=ACME-7QX2", "acme-cad").as_deref(),
            Some("ACME-7QX2")
        );
        assert_eq!(
            key_from_link("licentric://activate?key=ACME-7QX2", "acme-cad"),
            None
        );
    }
}

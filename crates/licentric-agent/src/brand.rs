//! The names a user and the system see, built in by the vendor: a vendor ships the companion
//! under its own name, and two vendors' companions installed side by side never share a
//! folder, a link scheme or a program name.
//!
//! A vendor build sets `LICENTRIC_VENDOR_BRAND` to a `vendor.toml` when building (see
//! `docs/vendor-guide.md`); without it the names are Licentric's. What the installer sees
//! (package, binary and application names, the desktop entry, the icons) is set from the same
//! file by `.ci/vendor-build`; what the running program sees is here.

use serde::Deserialize;

/// The vendor's names.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Brand {
    /// The application's name, for people (`Acme CAD Licensing`).
    pub app_name: String,
    /// The reverse-DNS identifier (`com.acme.cad-licensing`).
    pub app_id: String,
    /// The folder name under the user's config and data folders (`acme-cad`).
    pub folder: String,
    /// The scheme of links that hand a key to the app (`acme-cad`, for `acme-cad://activate?key=…`).
    pub scheme: String,
    /// The app's binary and package name (`acme-cad-licensing`).
    pub binary: String,
    /// The command-line tool's name (`acme-cad-license`).
    pub cli: String,
    /// Where a user finds help, and their key (shown by the app).
    #[serde(default)]
    pub help_url: Option<String>,
}

impl Default for Brand {
    fn default() -> Self {
        Brand {
            app_name: "Licentric Companion".into(),
            app_id: "com.licentric.companion".into(),
            folder: "licentric".into(),
            scheme: "licentric".into(),
            binary: "licentric-companion".into(),
            cli: "licentric".into(),
            help_url: None,
        }
    }
}

/// The brand file built into this binary (`LICENTRIC_VENDOR_BRAND` when it was built), if
/// any: `.ci/vendor-build` checks it (`licentric vendor-check`) before it packages anything.
pub const BUILT_IN_TEXT: Option<&str> = {
    let text: &str = include_str!(concat!(env!("OUT_DIR"), "/vendor-brand.toml"));
    if text.is_empty() { None } else { Some(text) }
};

/// The brand built into this binary, else Licentric's. (A built-in brand that does not parse
/// never reaches a package: the vendor build checks it first; should one, the log says so and
/// Licentric's names are used.)
pub fn built_in() -> &'static Brand {
    static BRAND: std::sync::OnceLock<Brand> = std::sync::OnceLock::new();
    BRAND.get_or_init(|| match BUILT_IN_TEXT.map(parse) {
        None => Brand::default(),
        Some(Ok(brand)) => brand,
        Some(Err(e)) => {
            tracing::error!(error = %e, "the built-in vendor brand is invalid; using Licentric's names");
            Brand::default()
        }
    })
}

/// Parses and checks a brand file.
///
/// # Errors
/// What is wrong, naming the field.
pub fn parse(text: &str) -> Result<Brand, String> {
    let brand: Brand = toml::from_str(text).map_err(|e| e.to_string())?;
    let simple = |name: &str, value: &str| {
        let ok = !value.is_empty()
            && value.len() <= 64
            && value
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && value.as_bytes()[0].is_ascii_lowercase();
        if ok {
            Ok(())
        } else {
            Err(format!(
                "{name} must be 1 to 64 of a-z, 0-9 and '-', starting with a letter (got {value:?})"
            ))
        }
    };
    simple("folder", &brand.folder)?;
    simple("scheme", &brand.scheme)?;
    if [
        "http",
        "https",
        "file",
        "ftp",
        "mailto",
        "data",
        "javascript",
        "about",
    ]
    .contains(&brand.scheme.as_str())
    {
        return Err(format!(
            "scheme {:?} is a well-known scheme; choose one of the vendor's own",
            brand.scheme
        ));
    }
    simple("binary", &brand.binary)?;
    simple("cli", &brand.cli)?;
    let id_ok = brand.app_id.split('.').count() >= 2
        && brand.app_id.split('.').all(|part| {
            !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if !id_ok {
        return Err(format!(
            "app_id must be a reverse-DNS name such as com.acme.cad-licensing (got {:?})",
            brand.app_id
        ));
    }
    if brand.app_name.trim().is_empty() || brand.app_name.len() > 64 {
        return Err("app_name must be 1 to 64 characters".into());
    }
    if let Some(url) = brand.help_url.as_deref().filter(|u| !is_help_url(u)) {
        return Err(format!(
            "help_url must be an https:// address of at most 512 characters, without spaces (got {url:?})"
        ));
    }
    Ok(brand)
}

/// Whether `url` may be a brand's help page: `https://`, at most 512 characters, nothing that
/// is space or a control character (the app hands it to the system's opener as it is).
pub fn is_help_url(url: &str) -> bool {
    url.len() <= 512
        && url.len() > "https://".len()
        && url.starts_with("https://")
        && !url.chars().any(|c| c.is_whitespace() || c.is_control())
}

impl Brand {
    /// The user's config folder for this brand (`~/.config/<folder>` on Linux).
    pub fn config_dir(&self) -> Option<std::path::PathBuf> {
        directories::BaseDirs::new().map(|d| d.config_dir().join(&self.folder))
    }

    /// The user's data folder for this brand (`~/.local/share/<folder>` on Linux).
    pub fn data_dir(&self) -> Option<std::path::PathBuf> {
        directories::BaseDirs::new().map(|d| d.data_local_dir().join(&self.folder))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACME: &str = r#"
app_name = "Acme CAD Licensing"
app_id = "com.acme.cad-licensing"
folder = "acme-cad"
scheme = "acme-cad"
binary = "acme-cad-licensing"
cli = "acme-cad-license"
help_url = "https://acme.example/help/licence"
"#;

    #[test]
    fn a_vendors_names_are_its_own() {
        let acme = parse(ACME).unwrap();
        let licentric = Brand::default();
        for (a, b) in [
            (&acme.folder, &licentric.folder),
            (&acme.scheme, &licentric.scheme),
            (&acme.binary, &licentric.binary),
            (&acme.cli, &licentric.cli),
            (&acme.app_id, &licentric.app_id),
        ] {
            assert_ne!(a, b);
        }
        assert_ne!(acme.config_dir(), licentric.config_dir());
        assert_ne!(acme.data_dir(), licentric.data_dir());
    }

    #[test]
    fn bad_names_are_refused_with_the_field() {
        for (line, bad) in [
            ("folder = \"acme-cad\"", "folder = \"../etc\""),
            ("scheme = \"acme-cad\"", "scheme = \"Acme\""),
            ("scheme = \"acme-cad\"", "scheme = \"https\""),
            ("binary = \"acme-cad-licensing\"", "binary = \"Acme CAD\""),
            ("cli = \"acme-cad-license\"", "cli = \"\""),
            // The app hands the help page to the system's opener: an https address, nothing
            // the opener could take for an option, a file or a program.
            (
                "help_url = \"https://acme.example/help/licence\"",
                "help_url = \"file:///etc/passwd\"",
            ),
            (
                "help_url = \"https://acme.example/help/licence\"",
                "help_url = \"https://acme.example/a b\"",
            ),
            (
                "help_url = \"https://acme.example/help/licence\"",
                "help_url = \"--help\"",
            ),
        ] {
            let field = bad.split(' ').next().unwrap();
            let err = parse(&ACME.replace(line, bad)).unwrap_err();
            assert!(err.contains(field), "{bad}: {err}");
        }
        assert!(parse(&ACME.replace("com.acme.cad-licensing", "acme")).is_err());
        assert!(parse(&format!("{ACME}colour = \"red\"\n")).is_err());
    }
}

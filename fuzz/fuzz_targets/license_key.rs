//! Key parsing never panics, and a parsed key's normal form parses to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use licentric_core::{KeyPrefix, LicenseKey};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(prefix) = KeyPrefix::new("ACME") else {
        return;
    };
    if let Ok(key) = LicenseKey::parse(text, &prefix) {
        let again = LicenseKey::parse(key.expose_secret(), &prefix);
        assert!(
            again.is_ok_and(|k| k == key),
            "normal form does not parse to itself"
        );
    }
    let _ = LicenseKey::parse_any(text);
});

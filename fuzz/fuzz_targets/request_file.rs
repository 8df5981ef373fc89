//! Activation-request parsing (done by the server on untrusted uploads) never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use licentric_core::request_file::ActivationRequestFile;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = ActivationRequestFile::from_armored(text);
    }
});

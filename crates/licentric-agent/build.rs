//! Builds the vendor's configuration into the binary: the file named by
//! `LICENTRIC_VENDOR_CONFIG` when the crate is built (empty without it). See
//! `docs/companion.md`, "Shipping the companion with your configuration".

fn main() {
    println!("cargo::rerun-if-env-changed=LICENTRIC_VENDOR_CONFIG");
    let text = match std::env::var_os("LICENTRIC_VENDOR_CONFIG") {
        Some(path) if !path.is_empty() => {
            println!("cargo::rerun-if-changed={}", path.to_string_lossy());
            match std::fs::read_to_string(&path) {
                Ok(text) => text,
                Err(e) => {
                    println!(
                        "cargo::error=LICENTRIC_VENDOR_CONFIG={}: {e}",
                        path.to_string_lossy()
                    );
                    String::new()
                }
            }
        }
        _ => String::new(),
    };
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default());
    if let Err(e) = std::fs::write(out.join("vendor-config.toml"), text) {
        println!("cargo::error=cannot write the vendor configuration: {e}");
    }
}

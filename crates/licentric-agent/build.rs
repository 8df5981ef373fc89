//! Builds the vendor's configuration and names into the binary: the files named by
//! `LICENTRIC_VENDOR_CONFIG` (companion.toml) and `LICENTRIC_VENDOR_BRAND` (vendor.toml) when
//! the crate is built (empty without them). See `docs/vendor-guide.md`.

fn main() {
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default());
    embed("LICENTRIC_VENDOR_CONFIG", &out.join("vendor-config.toml"));
    embed("LICENTRIC_VENDOR_BRAND", &out.join("vendor-brand.toml"));
}

/// Copies the file named by the build variable `var` to `target` (an empty file without it).
fn embed(var: &str, target: &std::path::Path) {
    println!("cargo::rerun-if-env-changed={var}");
    let text = match std::env::var_os(var) {
        Some(path) if !path.is_empty() => {
            println!("cargo::rerun-if-changed={}", path.to_string_lossy());
            match std::fs::read_to_string(&path) {
                Ok(text) => text,
                Err(e) => {
                    println!("cargo::error={var}={}: {e}", path.to_string_lossy());
                    String::new()
                }
            }
        }
        _ => String::new(),
    };
    if let Err(e) = std::fs::write(target, text) {
        println!("cargo::error=cannot write {}: {e}", target.display());
    }
}

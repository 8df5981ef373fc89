//! What the app's webview window and the native window share on the desktop: the user's
//! settings ([`settings`]), start at login ([`login`]) and the diagnostics report
//! ([`diagnostics`]), so that either window reads and writes the same; and which window is
//! shown ([`window`]).

pub mod diagnostics;
pub mod login;
pub mod settings;
pub mod window;

/// The D-Bus name that makes the app one instance per user, product and environment (as the
/// socket is): `com.licentric.companion.p_<product>_<environment>`, each byte D-Bus refuses
/// in a name written `_XX` (hex) — so that two products never share one: `acme-cad` and
/// `acme.cad` would each hand the other its links, and the keys in them.
#[must_use]
pub fn instance_name(product: Option<(&str, licentric_proto::Environment)>) -> String {
    let name = product.map_or_else(
        || "default".to_owned(),
        |(id, environment)| format!("{id}_{environment}"),
    );
    let mut escaped = String::with_capacity(name.len());
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() {
            escaped.push(char::from(byte));
        } else {
            escaped.push_str(&format!("_{byte:02X}"));
        }
    }
    format!("com.licentric.companion.p_{escaped}")
}

#[cfg(test)]
mod tests {
    use super::instance_name;

    use licentric_proto::Environment::{Live, Test};

    #[test]
    fn instance_names_are_per_product_and_environment_and_valid_for_d_bus() {
        assert_eq!(
            instance_name(Some(("acme-cad", Live))),
            "com.licentric.companion.p_acme_2Dcad_5Flive"
        );
        let names: std::collections::HashSet<String> =
            ["acme-cad", "acme_cad", "acme.cad", "acme_2Dcad", "acme cad"]
                .into_iter()
                .map(|id| instance_name(Some((id, Live))))
                .collect();
        assert_eq!(names.len(), 5, "no two products share one: {names:?}");
        assert_ne!(
            instance_name(Some(("acme-cad", Live))),
            instance_name(Some(("acme-cam", Live)))
        );
        assert_ne!(
            instance_name(Some(("acme-cad", Live))),
            instance_name(Some(("acme-cad", Test)))
        );
        assert_eq!(
            instance_name(Some(("7up", Test))),
            "com.licentric.companion.p_7up_5Ftest",
            "no element starts with a digit"
        );
        assert_eq!(instance_name(None), "com.licentric.companion.p_default");
    }
}

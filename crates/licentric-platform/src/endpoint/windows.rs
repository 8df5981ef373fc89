//! Windows: the named pipe's name (a pure rule, tested on every system). Its security — the
//! owner-only DACL and the checks of the process at each end — is in `pipe.rs`.

use licentric_proto::Environment;

/// `\\.\pipe\licentric-<product_id>-<environment>-<user>`: per product, environment and user
/// (the user's SID on Windows), so two users of one machine, and test beside live, never share
/// a pipe.
pub fn pipe_name(product_id: &str, environment: Environment, user: &str) -> String {
    // Backslashes would make another path; a user name never has one, but be sure.
    let user: String = user
        .chars()
        .map(|c| if c == '\\' || c == '/' { '_' } else { c })
        .collect();
    format!(r"\\.\pipe\licentric-{product_id}-{environment}-{user}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pipe_name_carries_product_environment_and_user() {
        assert_eq!(
            pipe_name("acme-cad", Environment::Test, r"CORP\ada"),
            r"\\.\pipe\licentric-acme-cad-test-CORP_ada"
        );
    }
}

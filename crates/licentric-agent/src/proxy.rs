//! Which proxy the companion's calls to the licensing server go through, said plainly for the
//! person who has to check it (the app's Settings): the one in the configuration, else the
//! system's (`HTTPS_PROXY`, `ALL_PROXY`, as the HTTP client reads them), else none. A proxy's
//! user name and password are never shown.

use serde::Serialize;

/// The proxy in use, as the app shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProxyInUse {
    /// `configuration`, `system` or `none`.
    pub source: &'static str,
    /// Its address, without credentials; with the system's, the variable it came from.
    pub address: Option<String>,
    /// The variable (`HTTPS_PROXY`…) for a system proxy.
    pub variable: Option<&'static str>,
}

/// The variables the HTTP client reads, in its order.
const VARIABLES: [&str; 4] = ["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"];

/// The proxy for `configured` (the configuration's `proxy`), reading the environment with
/// `env`.
pub fn in_use(configured: Option<&str>, env: impl Fn(&str) -> Option<String>) -> ProxyInUse {
    if let Some(address) = configured {
        return ProxyInUse {
            source: "configuration",
            address: Some(without_credentials(address)),
            variable: None,
        };
    }
    VARIABLES
        .iter()
        .find_map(|&name| {
            env(name)
                .filter(|v| !v.trim().is_empty())
                .map(|v| ProxyInUse {
                    source: "system",
                    address: Some(without_credentials(v.trim())),
                    variable: Some(name),
                })
        })
        .unwrap_or(ProxyInUse {
            source: "none",
            address: None,
            variable: None,
        })
}

/// `address` without a `user:password@` part.
fn without_credentials(address: &str) -> String {
    let (scheme, rest) = address
        .split_once("://")
        .map_or(("", address), |(s, r)| (s, r));
    let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    if scheme.is_empty() {
        host.to_owned()
    } else {
        format!("{scheme}://{host}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        let pairs = pairs.to_vec();
        move |name| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn the_configuration_wins_then_the_system_then_none() {
        let system = env(&[("HTTPS_PROXY", "http://proxy.corp:3128")]);
        let configured = in_use(Some("http://mine:8080"), &system);
        assert_eq!(configured.source, "configuration");
        assert_eq!(configured.address.as_deref(), Some("http://mine:8080"));
        let from_system = in_use(None, &system);
        assert_eq!(
            (from_system.source, from_system.variable),
            ("system", Some("HTTPS_PROXY"))
        );
        let all = in_use(
            None,
            env(&[("all_proxy", "socks5://s:1080"), ("https_proxy", " ")]),
        );
        assert_eq!(all.variable, Some("all_proxy"), "an empty variable is none");
        assert_eq!(in_use(None, env(&[])).source, "none");
    }

    #[test]
    fn credentials_are_never_shown() {
        let p = in_use(Some("http://ann:s3cret@proxy.corp:3128"), env(&[]));
        assert_eq!(p.address.as_deref(), Some("http://proxy.corp:3128"));
        let p = in_use(None, env(&[("HTTPS_PROXY", "bob:pw@10.0.0.1:8080")]));
        assert_eq!(p.address.as_deref(), Some("10.0.0.1:8080"));
    }
}

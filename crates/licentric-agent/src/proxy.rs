//! Which proxy the companion's calls to the licensing server go through, said plainly for the
//! person who has to check it (the app's Settings): the one in the configuration, else the
//! system's (`HTTPS_PROXY`, `ALL_PROXY`, as the HTTP client reads them) unless `NO_PROXY`
//! names the licensing server, else none. A proxy's user name and password are never shown.

use serde::Serialize;

/// The proxy in use, as the app shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProxyInUse {
    /// `configuration`, `system` or `none`.
    pub source: &'static str,
    /// Its address, without credentials; with the system's, the variable it came from.
    pub address: Option<String>,
    /// The variable (`HTTPS_PROXY`…) for a system proxy; `NO_PROXY` when it names the server.
    pub variable: Option<&'static str>,
}

/// The variables the HTTP client reads, in its order.
const VARIABLES: [&str; 4] = ["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"];

/// The proxy for calls to `server_host` with `configured` (the configuration's `proxy`),
/// reading the environment with `env`.
pub fn in_use(
    configured: Option<&str>,
    server_host: &str,
    env: impl Fn(&str) -> Option<String>,
) -> ProxyInUse {
    if let Some(address) = configured {
        return ProxyInUse {
            source: "configuration",
            address: Some(without_credentials(address)),
            variable: None,
        };
    }
    let excluded = ["NO_PROXY", "no_proxy"]
        .iter()
        .find_map(|&name| env(name).map(|list| (name, list)))
        .filter(|(_, list)| names_host(list, server_host));
    if let Some((name, _)) = excluded {
        return ProxyInUse {
            source: "none",
            address: None,
            variable: Some(name),
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

/// The proxy for calls to `config`'s licensing server, with this process's environment (as
/// the agent it starts, or that started beside it, reads it).
pub fn in_use_for(config: &crate::config::CompanionConfig) -> ProxyInUse {
    let host = config
        .api_base_url()
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split(['/', ':']).next())
        .unwrap_or_default();
    in_use(config.proxy(), host, |name| std::env::var(name).ok())
}

/// Whether a `NO_PROXY` list names `host`: `*`, the host itself, or a domain it is in.
fn names_host(list: &str, host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    list.split(',')
        .map(|entry| entry.trim().to_ascii_lowercase())
        .filter(|entry| !entry.is_empty())
        .any(|entry| {
            let domain = entry.trim_start_matches('.');
            entry == "*" || host == domain || host.ends_with(&format!(".{domain}"))
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
        let configured = in_use(Some("http://mine:8080"), "api.example", &system);
        assert_eq!(configured.source, "configuration");
        assert_eq!(configured.address.as_deref(), Some("http://mine:8080"));
        let from_system = in_use(None, "api.example", &system);
        assert_eq!(
            (from_system.source, from_system.variable),
            ("system", Some("HTTPS_PROXY"))
        );
        let all = in_use(
            None,
            "api.example",
            env(&[("all_proxy", "socks5://s:1080"), ("https_proxy", " ")]),
        );
        assert_eq!(all.variable, Some("all_proxy"), "an empty variable is none");
        assert_eq!(in_use(None, "api.example", env(&[])).source, "none");
    }

    #[test]
    fn no_proxy_naming_the_server_means_direct() {
        let vars = [
            ("HTTPS_PROXY", "http://proxy.corp:3128"),
            ("NO_PROXY", "localhost, .example.com"),
        ];
        let direct = in_use(None, "licensing.example.com", env(&vars));
        assert_eq!((direct.source, direct.variable), ("none", Some("NO_PROXY")));
        let proxied = in_use(None, "licensing.example.org", env(&vars));
        assert_eq!(proxied.source, "system");
    }

    #[test]
    fn credentials_are_never_shown() {
        let p = in_use(
            Some("http://ann:s3cret@proxy.corp:3128"),
            "api.example",
            env(&[]),
        );
        assert_eq!(p.address.as_deref(), Some("http://proxy.corp:3128"));
        let p = in_use(
            None,
            "api.example",
            env(&[("HTTPS_PROXY", "bob:pw@10.0.0.1:8080")]),
        );
        assert_eq!(p.address.as_deref(), Some("10.0.0.1:8080"));
    }
}

//! Where the server may send webhooks. A webhook URL is the API caller's choice, so without a
//! rule it would let anyone with `webhooks:write` make the server POST into the vendor's own
//! network (a request forger: cloud metadata at 169.254.169.254, an admin panel on
//! 10.0.0.5, a service on loopback). Unless `allow_private_targets` is set, a target in a
//! loopback, private, link-local, shared, multicast or reserved range is refused: when the
//! webhook is made (an address written in the URL, or `localhost`), and again at every
//! delivery, where names are resolved by [`PublicOnly`] so the connection can only go to
//! the public addresses that were checked (a name that changes its answer later — DNS
//! rebinding — gains nothing).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::config::WebhookConfig;

/// Whether `ip` is an ordinary public address.
pub fn public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => public_v4(v4),
            None => public_v6(v6),
        },
    }
}

fn public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // shared address space (carrier NAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 240) // reserved
}

fn public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local
        || (s[0] & 0xffc0) == 0xfe80 // link-local
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || (s[0] == 0x0064 && s[1] == 0xff9b) // NAT64: an IPv4 address in disguise
        || (s[0] == 0x2002)) // 6to4: likewise
}

/// Whether a webhook may be made for `url`: `https://` (or `http://` to loopback where the
/// configuration allows it), and not to a private target written in the URL unless the
/// configuration allows those. Names other than `localhost` are checked at delivery.
///
/// # Errors
/// A sentence saying why not.
pub fn check_url(url: &str, config: &WebhookConfig) -> Result<(), String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
    let host = parsed.host().ok_or("the URL has no host")?;
    let address = match host {
        url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        url::Host::Domain(_) => None,
    };
    let loopback = match host {
        url::Host::Domain(d) => is_localhost(d),
        _ => address.is_some_and(|ip| ip.is_loopback()),
    };
    match parsed.scheme() {
        "https" => {}
        "http" if config.allow_http_loopback && loopback => {}
        _ => {
            return Err("url must be https:// (or http:// on a loopback address, where the server allows it)".into());
        }
    }
    let private = loopback || address.is_some_and(|ip| !public(ip));
    if private && !config.allow_private_targets {
        return Err(
            "url points at a loopback, private or link-local address, which this server does not send webhooks to (allow_private_targets in server.toml)"
                .into(),
        );
    }
    Ok(())
}

fn is_localhost(domain: &str) -> bool {
    let d = domain.trim_end_matches('.').to_ascii_lowercase();
    d == "localhost" || d.ends_with(".localhost")
}

/// Whether a delivery to `url` must be refused now: its literal address or every address its
/// name resolves to is private (unless allowed). `None` when it may go.
pub async fn refused(url: &str, config: &WebhookConfig) -> Option<String> {
    if let Err(why) = check_url(url, config) {
        return Some(why);
    }
    if config.allow_private_targets {
        return None;
    }
    let parsed = url::Url::parse(url).ok()?;
    let url::Host::Domain(name) = parsed.host()? else {
        return None;
    };
    resolve_public(name).await.err()
}

async fn resolve_public(name: &str) -> Result<Vec<SocketAddr>, String> {
    let all: Vec<SocketAddr> = tokio::net::lookup_host((name, 0))
        .await
        .map_err(|e| format!("cannot resolve {name}: {e}"))?
        .collect();
    let public: Vec<SocketAddr> = all.into_iter().filter(|a| public(a.ip())).collect();
    if public.is_empty() {
        Err(format!(
            "{name} resolves only to loopback, private or link-local addresses, which this server does not send webhooks to"
        ))
    } else {
        Ok(public)
    }
}

/// A resolver for the webhook client that hands out only public addresses.
#[derive(Debug, Clone, Copy)]
pub struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let name = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = resolve_public(&name).await?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(private: bool) -> WebhookConfig {
        WebhookConfig {
            allow_private_targets: private,
            ..WebhookConfig::default()
        }
    }

    #[test]
    fn private_loopback_link_local_and_reserved_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "ff02::1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "2002:a00:1::1",
            "2001:db8::1",
        ] {
            assert!(!public(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[tokio::test]
    async fn a_name_that_resolves_to_loopback_gets_no_address() {
        use reqwest::dns::Resolve as _;
        let name: reqwest::dns::Name = "localhost".parse().unwrap();
        let err = PublicOnly.resolve(name).await.err().unwrap().to_string();
        assert!(err.contains("resolves only to loopback"), "{err}");
        let why = refused("https://localhost.:8443/x", &config(false)).await;
        assert!(why.is_some());
        assert_eq!(
            refused("https://localhost:8443/x", &config(true)).await,
            None
        );
    }

    #[test]
    fn urls_to_private_targets_are_refused_unless_allowed() {
        for url in [
            "https://10.0.0.5/hook",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]:8443/hook",
            "https://localhost/hook",
            "https://api.localhost./hook",
            "https://[::ffff:127.0.0.1]/hook",
            "http://127.0.0.1:9000/hook",
        ] {
            assert!(check_url(url, &config(false)).is_err(), "{url}");
            assert!(check_url(url, &config(true)).is_ok(), "{url}");
        }
        assert!(check_url("https://hooks.example.com/x", &config(false)).is_ok());
        // Plain http only to loopback, and only where allowed.
        assert!(check_url("http://hooks.example.com/x", &config(true)).is_err());
        assert!(check_url("ftp://hooks.example.com/x", &config(true)).is_err());
        let no_http = WebhookConfig {
            allow_http_loopback: false,
            ..config(true)
        };
        assert!(check_url("http://127.0.0.1:9000/hook", &no_http).is_err());
    }
}

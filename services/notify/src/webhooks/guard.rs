//! Which addresses a webhook may reach. Integrators are outside parties
//! and the notify host sits inside the platform's network: by default a
//! webhook reaches only public addresses, checked on its URL when it is
//! made and again on the addresses its name resolves to when a delivery
//! connects (a name may resolve to a private address later: DNS rebinding).
//! `--webhook-allow-private` lifts both checks, for trials on one machine
//! and tests.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::Host;

/// Whether a webhook may not post to `ip` unless private targets are
/// allowed: the machine itself, private, link-local, shared (CGNAT),
/// unspecified, broadcast, documentation, reserved and multicast ranges.
pub fn forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        // 0.0.0.0/8 "this network", 100.64.0.0/10 shared (CGNAT),
        // 192.0.0.0/24 protocol assignments, 198.18.0.0/15 benchmarking,
        // 240.0.0.0/4 reserved.
        || a == 0
        || (a == 100 && (b & 0xc0) == 64)
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (b & 0xfe) == 18)
        || a >= 240
}

fn forbidden_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    // An IPv4 address written as IPv6 (mapped ::ffff:0:0/96, or NAT64
    // 64:ff9b::/96) reaches that IPv4 address.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return forbidden_v4(v4);
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [a, b] = s[6].to_be_bytes();
        let [c, d] = s[7].to_be_bytes();
        return forbidden_v4(Ipv4Addr::new(a, b, c, d));
    }
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        // fe80::/10 link-local, fec0::/10 (old) site-local, fc00::/7
        // unique local, 2001:db8::/32 documentation.
        || (s[0] & 0xffc0) == 0xfe80
        || (s[0] & 0xffc0) == 0xfec0
        || (s[0] & 0xfe00) == 0xfc00
        || (s[0] == 0x2001 && s[1] == 0x0db8)
}

/// Whether a URL's host is one a webhook may not post to unless private
/// targets are allowed: a forbidden IP literal, or `localhost` and its
/// subdomains (which resolve to the machine itself).
pub fn forbidden_host(host: &Host<&str>) -> bool {
    match host {
        Host::Domain(d) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
        Host::Ipv4(ip) => forbidden_v4(*ip),
        Host::Ipv6(ip) => forbidden_v6(*ip),
    }
}

/// The addresses of `found` a webhook may connect to; an error when none
/// is left.
pub fn allowed_addrs(
    found: impl IntoIterator<Item = SocketAddr>,
) -> Result<Vec<SocketAddr>, NotAllowed> {
    let kept: Vec<SocketAddr> = found.into_iter().filter(|a| !forbidden(a.ip())).collect();
    if kept.is_empty() {
        Err(NotAllowed)
    } else {
        Ok(kept)
    }
}

/// A webhook's host resolved only to addresses it may not reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotAllowed;

impl std::fmt::Display for NotAllowed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("address not allowed for webhooks")
    }
}

impl std::error::Error for NotAllowed {}

/// The webhook client's resolver: the system's, without the forbidden
/// addresses unless private targets are allowed.
#[derive(Debug, Clone, Copy)]
pub struct Resolver {
    /// Whether private targets are allowed (nothing dropped).
    pub allow_private: bool,
}

impl Resolve for Resolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            // The port is the connector's: 0 here, replaced by the URL's.
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let kept = if allow_private {
                found
            } else {
                allowed_addrs(found)?
            };
            let addrs: Addrs = Box::new(kept.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::str::FromStr;

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn inside_and_special_addresses_are_forbidden() {
        for bad in [
            "127.0.0.1",
            "127.8.9.10",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.254",
            "0.0.0.0",
            "0.1.2.3",
            "255.255.255.255",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "240.0.0.1",
            "198.18.0.1",
            "::1",
            "::",
            "fe80::1",
            "febf::1",
            "fc00::1",
            "fd12:3456::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "::ffff:169.254.169.254",
            "64:ff9b::7f00:1",
        ] {
            assert!(forbidden(ip(bad)), "{bad}");
        }
        for good in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "193.0.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(!forbidden(ip(good)), "{good}");
        }
    }

    #[test]
    fn localhost_names_are_forbidden_hosts() {
        for bad in ["localhost", "LOCALHOST", "localhost.", "api.localhost"] {
            assert!(forbidden_host(&Host::Domain(bad)), "{bad}");
        }
        for good in ["hooks.example.org", "localhost.example.org", "notlocalhost"] {
            assert!(!forbidden_host(&Host::Domain(good)), "{good}");
        }
    }

    #[test]
    fn the_filter_keeps_public_addresses_and_refuses_when_none_is_left() {
        let public: SocketAddr = "8.8.8.8:443".parse().unwrap();
        let inside: SocketAddr = "10.0.0.1:443".parse().unwrap();
        assert_eq!(allowed_addrs([inside, public]).unwrap(), vec![public]);
        assert_eq!(allowed_addrs([inside]), Err(NotAllowed));
        assert_eq!(allowed_addrs([]), Err(NotAllowed));
    }

    #[tokio::test]
    async fn the_resolver_drops_what_localhost_resolves_to_unless_allowed() {
        let name = || Name::from_str("localhost").unwrap();
        let refused = Resolver {
            allow_private: false,
        }
        .resolve(name())
        .await;
        let err = refused.err().expect("localhost is the machine itself");
        assert!(err.downcast_ref::<NotAllowed>().is_some(), "{err}");
        let allowed: Vec<SocketAddr> = Resolver {
            allow_private: true,
        }
        .resolve(name())
        .await
        .unwrap()
        .collect();
        assert!(!allowed.is_empty());
        assert!(allowed.iter().all(|a| a.ip().is_loopback()), "{allowed:?}");
    }
}

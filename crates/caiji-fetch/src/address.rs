//! Which addresses a live crawl may connect to: globally routable ones only, unless the
//! configuration opts in (`[fetch] allow_private_addresses = true`).
//!
//! A site's server must not be able to steer the crawler into the network it runs in (SSRF):
//! not through a link, a redirect, or a DNS name that resolves to an internal address. So the
//! check is made on every address a request actually connects to: IP literals before each hop,
//! and names inside the resolver the HTTP client connects with (a name that resolves to a
//! public address at check time and a private one at connect time, DNS rebinding, cannot
//! pass). The ranges are the IANA IPv4 and IPv6 Special-Purpose Address Registries (RFC 6890
//! and updates) entries that are not globally reachable, plus multicast and the IPv4 forms
//! embedded in IPv6 (mapped, compatible, NAT64, 6to4).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// In every refusal's message: found again when the HTTP client's error chain has lost the
/// error's type (hyper boxes resolver errors).
const REFUSAL_MARK: &str = "not globally routable";

/// Why a connection was refused; found again in the HTTP client's error chain.
#[derive(Debug, thiserror::Error)]
#[error(
    "{host} resolves only to addresses that are not globally routable ({addrs}); set [fetch] allow_private_addresses = true to crawl them"
)]
pub struct AddressRefused {
    pub host: String,
    pub addrs: String,
}

/// Whether `ip` is globally routable (may be crawled by default).
pub fn is_global(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_global_v4(v4),
        IpAddr::V6(v6) => is_global_v6(v6),
    }
}

fn is_global_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0                                   // "this network" 0.0.0.0/8
        || a == 10                             // private 10/8
        || (a == 100 && (64..128).contains(&b)) // CGNAT shared space 100.64/10
        || a == 127                            // loopback
        || (a == 169 && b == 254)              // link-local
        || (a == 172 && (16..32).contains(&b)) // private 172.16/12
        || (a == 192 && b == 0 && c == 0)      // IETF protocol assignments 192.0.0/24
        || (a == 192 && b == 0 && c == 2)      // TEST-NET-1
        || (a == 192 && b == 88 && c == 99)    // 6to4 relay anycast (deprecated)
        || (a == 192 && b == 168)              // private 192.168/16
        || (a == 198 && (18..20).contains(&b)) // benchmarking 198.18/15
        || (a == 198 && b == 51 && c == 100)   // TEST-NET-2
        || (a == 203 && b == 0 && c == 113)    // TEST-NET-3
        || a >= 224) // multicast 224/4, reserved 240/4, broadcast
}

fn is_global_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    // IPv4 carried in IPv6: judged by the IPv4 address it reaches.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_global_v4(v4); // ::ffff:0:0/96
    }
    if s[..6] == [0, 0, 0, 0, 0, 0] {
        // ::/128, ::1 and the deprecated IPv4-compatible ::/96
        return ip != Ipv6Addr::UNSPECIFIED && ip != Ipv6Addr::LOCALHOST && is_global_v4(embedded_v4(s[6], s[7]));
    }
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        return is_global_v4(embedded_v4(s[6], s[7])); // NAT64 64:ff9b::/96
    }
    if s[0] == 0x2002 {
        return is_global_v4(embedded_v4(s[1], s[2])); // 6to4 2002::/16
    }
    !((s[0] == 0x0100 && s[1..4] == [0, 0, 0]) // discard-only 100::/64
        || (s[0] == 0x0064 && s[1] == 0xff9b && s[2] == 1) // local-use NAT64 64:ff9b:1::/48
        || (s[0] == 0x2001 && s[1] < 0x200)    // IETF protocol assignments 2001::/23 (Teredo, ORCHID, ...)
        || (s[0] == 0x2001 && s[1] == 0x0db8)  // documentation 2001:db8::/32
        || (s[0] & 0xfe00) == 0xfc00           // unique-local fc00::/7
        || (s[0] & 0xffc0) == 0xfe80           // link-local fe80::/10
        || (s[0] & 0xffc0) == 0xfec0           // site-local fec0::/10 (deprecated)
        || (s[0] & 0xff00) == 0xff00) // multicast ff00::/8
}

fn embedded_v4(hi: u16, lo: u16) -> Ipv4Addr {
    let [a, b] = hi.to_be_bytes();
    let [c, d] = lo.to_be_bytes();
    Ipv4Addr::new(a, b, c, d)
}

/// A resolver that drops every address that is not globally routable, and fails with
/// [`AddressRefused`] when none is left.
#[derive(Debug, Default)]
pub(crate) struct GlobalOnlyResolver;

impl reqwest::dns::Resolve for GlobalOnlyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let global: Vec<SocketAddr> = all.iter().copied().filter(|a| is_global(a.ip())).collect();
            if global.is_empty() {
                let addrs = all.iter().map(|a| a.ip().to_string()).collect::<Vec<_>>().join(", ");
                let refused: Box<dyn std::error::Error + Send + Sync> = Box::new(AddressRefused { host, addrs });
                return Err(refused);
            }
            let addrs: reqwest::dns::Addrs = Box::new(global.into_iter());
            Ok(addrs)
        })
    }
}

/// The refusal in an error's source chain, if the error is one.
pub(crate) fn find_refusal(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut current = Some(e);
    while let Some(err) = current {
        if let Some(r) = err.downcast_ref::<AddressRefused>() {
            return Some(r.to_string());
        }
        let msg = err.to_string();
        if msg.contains(REFUSAL_MARK) && msg.contains("allow_private_addresses") {
            return Some(msg);
        }
        current = err.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn global(s: &str) -> bool {
        is_global(s.parse().expect("address"))
    }

    #[test]
    fn refused_ranges() {
        for a in [
            "127.0.0.1",
            "127.0.0.9",
            "0.0.0.0",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254", // cloud metadata
            "100.64.0.1",
            "100.127.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "198.18.0.1",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe", // NAT64 of 169.254.169.254
            "2002:7f00:1::",      // 6to4 of 127.0.0.1
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
            "2001::1", // Teredo
            "100::1",
        ] {
            assert!(!global(a), "{a} must be refused");
        }
    }

    #[test]
    fn global_addresses_pass() {
        for a in [
            "1.1.1.1",
            "8.8.8.8",
            "101.200.1.1",
            "172.15.255.255",
            "172.32.0.1",
            "100.63.255.255",
            "100.128.0.1",
            "192.169.0.1",
            "223.255.255.255",
            "2400:3200::1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::",
        ] {
            assert!(global(a), "{a} must be allowed");
        }
    }
}

//! Which address a request comes from, for the failure budget ([`super::failed_auths`]) and
//! `ACL LOG`: the connection's peer — or, when the peer is a trusted proxy (`trusted_proxies`,
//! a list of address blocks), the client the proxies name in `X-Forwarded-For`.
//!
//! Each proxy appends the address it heard from, so the header reads `client, proxy1, proxy2`
//! and the connection comes from the last proxy. The client is found walking from the right:
//! while the address in hand is a trusted proxy, the entry before it is where that proxy heard
//! from. The first untrusted address found is the client; whatever is left of it came from that
//! client and is not believed. A peer that is not trusted is the client whatever the header
//! says, so a client cannot dodge its budget by writing the header itself. An entry that does
//! not parse stops the walk at the proxy that sent it: its requests share that proxy's budget.
//!
//! Only HTTP requests carry the header. On the Redis ports the same proxies may open each
//! connection with a PROXY protocol header instead (`proxy_protocol`, see
//! `resp::proxy_protocol`), which names the client for the whole connection.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
use ipnet::IpNet;

const FORWARDED_FOR: &str = "x-forwarded-for";

/// The address blocks whose `X-Forwarded-For` is believed; empty believes none.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub fn new(blocks: Vec<IpNet>) -> Self {
        Self(blocks)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `ip` is in one of the blocks.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|block| block.contains(&ip))
    }

    /// The client behind a request that arrived from `peer` with `headers`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if self.0.is_empty() || !self.trusts(peer) {
            return peer;
        }
        let hops: Vec<&str> = headers
            .get_all(FORWARDED_FOR)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .collect();
        let mut client = peer;
        for hop in hops.into_iter().rev() {
            if !self.trusts(client) {
                break;
            }
            match parse_hop(hop.trim()) {
                Some(ip) => client = ip,
                None => break,
            }
        }
        client
    }
}

/// An entry of the header: an address, or an address with a port (`[v6]:port` for IPv6).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|a| a.ip()))
        .map(canonical)
}

/// IPv4-mapped IPv6 addresses as IPv4, so one block covers both spellings.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(FORWARDED_FOR, v.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn trusted(blocks: &[&str]) -> TrustedProxies {
        TrustedProxies::new(blocks.iter().map(|b| b.parse().unwrap()).collect())
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_the_header_says() {
        let t = trusted(&["10.0.0.0/8"]);
        assert_eq!(
            t.client(ip("203.0.113.9"), &headers(&["198.51.100.1"])),
            ip("203.0.113.9")
        );
        let none = TrustedProxies::default();
        assert_eq!(
            none.client(ip("10.0.0.1"), &headers(&["198.51.100.1"])),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn the_walk_stops_at_the_first_untrusted_address_from_the_right() {
        let t = trusted(&["10.0.0.0/8", "192.168.1.1/32"]);
        // A client wrote a fake first entry; the proxies appended the real hops.
        let h = headers(&["6.6.6.6, 198.51.100.7", "192.168.1.1"]);
        assert_eq!(t.client(ip("10.1.2.3"), &h), ip("198.51.100.7"));
        assert_eq!(
            t.client(ip("10.1.2.3"), &headers(&["[2001:db8::5]:4711"])),
            ip("2001:db8::5")
        );
        assert_eq!(
            t.client(ip("::ffff:10.0.0.2"), &headers(&["198.51.100.8:80"])),
            ip("198.51.100.8")
        );
    }

    #[test]
    fn garbage_or_a_missing_header_leaves_the_proxy_as_the_client() {
        let t = trusted(&["10.0.0.0/8"]);
        assert_eq!(
            t.client(ip("10.0.0.1"), &headers(&["not-an-address"])),
            ip("10.0.0.1")
        );
        assert_eq!(t.client(ip("10.0.0.1"), &HeaderMap::new()), ip("10.0.0.1"));
        // Only proxies in the header: the leftmost is as far as anyone vouches.
        assert_eq!(
            t.client(ip("10.0.0.1"), &headers(&["10.0.0.3, 10.0.0.2"])),
            ip("10.0.0.3")
        );
    }
}

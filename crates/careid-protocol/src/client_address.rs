//! The address of the person or client on the other end of a request, for per-address
//! rate limits and the audit trail (issue 12, item 5).
//!
//! The TCP peer is the client unless the peer is one of the operator's
//! `trusted_proxies`. Only then are `Forwarded` (RFC 7239 `for=`) or, without it,
//! `X-Forwarded-For` read, from the right: each proxy appends the address it saw, so the
//! rightmost hop that is not itself a trusted proxy is the first address no trusted proxy
//! vouches for. Anything to the left of it was written by the client and can say anything.
//! A peer that is not trusted gets no say: its headers are ignored.

use std::{convert::Infallible, net::IpAddr, net::SocketAddr, sync::Arc};

use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::{HeaderMap, header::FORWARDED, request::Parts},
};
use ipnet::IpNet;

/// The proxies (load balancers, reverse proxies) whose forwarding headers careid believes.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Proxies in these networks; none means every request's TCP peer is its client.
    pub fn new(networks: Vec<IpNet>) -> Self {
        Self(networks)
    }

    fn contains(&self, address: IpAddr) -> bool {
        let address = canonical(address);
        self.0.iter().any(|net| net.contains(&address))
    }

    /// The client behind a request that arrived from `peer` with `headers`.
    pub fn client_of(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = canonical(peer);
        if !self.contains(peer) {
            return peer;
        }
        let hops = forwarded_hops(headers);
        // The nearest proxy vouches for the hop it saw; walk left while hops are proxies.
        let mut client = peer;
        for hop in hops.iter().rev() {
            match hop {
                Some(address) => {
                    client = canonical(*address);
                    if !self.contains(client) {
                        return client;
                    }
                }
                // `unknown`, an obfuscated identifier or garbage: no address can be
                // trusted beyond it, so the last proxy that spoke stands for the client.
                None => return client,
            }
        }
        client
    }
}

/// The client's address as [`TrustedProxies::client_of`] finds it; `None` only when the
/// server was not given peer addresses (as in some unit tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(pub Option<IpAddr>);

impl ClientAddress {
    /// The address as the audit trail records it.
    pub fn for_audit(&self) -> Option<String> {
        self.0.map(|ip| ip.to_string())
    }
}

/// A state that knows the trusted proxies, so [`ClientAddress`] can be extracted with it.
pub trait KnowsProxies: Send + Sync {
    /// The operator's `trusted_proxies`.
    fn trusted_proxies(&self) -> &TrustedProxies;
}

impl<S: KnowsProxies + 'static> FromRequestParts<Arc<S>> for ClientAddress {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<S>) -> Result<Self, Infallible> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        Ok(Self(peer.map(|peer| {
            state.trusted_proxies().client_of(peer, &parts.headers)
        })))
    }
}

/// IPv4 addresses that arrive mapped into IPv6 (`::ffff:192.0.2.1`, on a dual-stack
/// socket) read as the IPv4 address, so limits and CIDRs see one address, not two.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// The hops of `Forwarded` (its `for=` parameters) or, if there is none,
/// `X-Forwarded-For`, in order, every header line joined (RFC 9110 §5.3). `None` stands
/// for a hop that names no address.
fn forwarded_hops(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let lines = |name| {
        headers
            .get_all(name)
            .iter()
            .map(|value| value.to_str().unwrap_or("\u{0}"))
            .collect::<Vec<_>>()
    };
    let forwarded = lines(FORWARDED.as_str());
    if !forwarded.is_empty() {
        return forwarded
            .iter()
            .flat_map(|line| line.split(','))
            .map(|element| {
                // RFC 7239 §4: `for=…;proto=…;by=…`, names case-insensitive. An element
                // without `for=` names no client.
                element
                    .split(';')
                    .filter_map(|pair| pair.split_once('='))
                    .find(|(name, _)| name.trim().eq_ignore_ascii_case("for"))
                    .and_then(|(_, node)| node_address(node))
            })
            .collect();
    }
    lines("x-forwarded-for")
        .iter()
        .flat_map(|line| line.split(','))
        .map(node_address)
        .collect()
}

/// The address of one node: `192.0.2.7`, `192.0.2.7:4711`, `"[2001:db8::1]:4711"`,
/// `2001:db8::1`; `None` for `unknown`, `_hidden` and anything else.
fn node_address(node: &str) -> Option<IpAddr> {
    let node = node.trim().trim_matches('"');
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(socket) = node.parse::<SocketAddr>() {
        return Some(socket.ip());
    }
    // `[v6]` without a port.
    node.strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .and_then(|inner| inner.parse().ok())
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn proxies(list: &[&str]) -> TrustedProxies {
        TrustedProxies::new(list.iter().map(|net| net.parse().unwrap()).collect())
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn without_trusted_proxies_the_headers_are_ignored() {
        let spoofed = headers(&[
            ("x-forwarded-for", "203.0.113.9"),
            ("forwarded", "for=1.2.3.4"),
        ]);
        let client = proxies(&[]).client_of(ip("127.0.0.1"), &spoofed);
        assert_eq!(client, ip("127.0.0.1"));
    }

    #[test]
    fn a_peer_outside_the_trusted_networks_gets_no_say() {
        let spoofed = headers(&[("x-forwarded-for", "203.0.113.9")]);
        let client = proxies(&["10.0.0.0/8"]).client_of(ip("198.51.100.4"), &spoofed);
        assert_eq!(client, ip("198.51.100.4"));
    }

    #[test]
    fn the_rightmost_untrusted_hop_of_x_forwarded_for_is_the_client() {
        // The client lied about 1.1.1.1; the load balancer appended what it saw.
        let forwarded = headers(&[("x-forwarded-for", "1.1.1.1, 203.0.113.9, 10.0.0.2")]);
        let client = proxies(&["10.0.0.0/8"]).client_of(ip("10.0.0.1"), &forwarded);
        assert_eq!(client, ip("203.0.113.9"));
    }

    #[test]
    fn several_header_lines_read_as_one_list() {
        let forwarded = headers(&[
            ("x-forwarded-for", "1.1.1.1"),
            ("x-forwarded-for", "203.0.113.9"),
        ]);
        let client = proxies(&["127.0.0.1/32"]).client_of(ip("127.0.0.1"), &forwarded);
        assert_eq!(client, ip("203.0.113.9"));
    }

    #[test]
    fn forwarded_is_read_before_x_forwarded_for() {
        let both = headers(&[
            (
                "forwarded",
                "for=192.0.2.60;proto=https, For=\"[2001:db8:cafe::17]:4711\";by=10.0.0.1",
            ),
            ("x-forwarded-for", "203.0.113.9"),
        ]);
        let client = proxies(&["10.0.0.0/8"]).client_of(ip("10.0.0.1"), &both);
        assert_eq!(client, ip("2001:db8:cafe::17"));
    }

    #[test]
    fn an_unknown_hop_stops_the_walk_at_the_proxy_that_reported_it() {
        let forwarded = headers(&[("forwarded", "for=192.0.2.60, for=unknown, for=10.0.0.2")]);
        let client = proxies(&["10.0.0.0/8"]).client_of(ip("10.0.0.1"), &forwarded);
        assert_eq!(client, ip("10.0.0.2"));
    }

    #[test]
    fn a_trusted_peer_without_headers_is_the_client() {
        let client = proxies(&["127.0.0.0/8"]).client_of(ip("127.0.0.1"), &HeaderMap::new());
        assert_eq!(client, ip("127.0.0.1"));
    }

    #[test]
    fn ports_and_mapped_addresses_are_read_as_the_address() {
        let forwarded = headers(&[("x-forwarded-for", "203.0.113.9:5555")]);
        let client = proxies(&["127.0.0.1/32"]).client_of(ip("::ffff:127.0.0.1"), &forwarded);
        assert_eq!(client, ip("203.0.113.9"));
    }
}

//! Who is asking: the client's address, read from `X-Forwarded-For` only when the peer is a
//! proxy we were told to trust, since anyone else can write that header.

use std::net::{IpAddr, SocketAddr};

use axum::{
    extract::ConnectInfo,
    http::{Extensions, HeaderMap, Request},
};
use ipnet::IpNet;

/// The address a request comes from, as far as we can trust it.
pub(crate) fn client_addr<B>(request: &Request<B>, trusted: &[IpNet]) -> Option<IpAddr> {
    client_of_parts(request.extensions(), request.headers(), trusted)
}

/// [`client_addr`] from a request's parts, for extractors.
pub(crate) fn client_of_parts(
    extensions: &Extensions,
    headers: &HeaderMap,
    trusted: &[IpNet],
) -> Option<IpAddr> {
    let peer = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())?;
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    Some(resolve(peer, &forwarded, trusted))
}

/// Walks `X-Forwarded-For` from the right (the hop nearest us) while each hop is a trusted
/// proxy; the first one that is not is the client. A hop we cannot read ends the walk at the
/// last address we could trust, never at what the client wrote.
pub(crate) fn resolve(peer: IpAddr, forwarded_for: &str, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    let mut client = peer;
    if !is_trusted(&client) {
        return client;
    }
    for hop in forwarded_for
        .rsplit(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
    {
        let Ok(ip) = hop.parse::<IpAddr>() else {
            break;
        };
        client = ip;
        if !is_trusted(&client) {
            break;
        }
    }
    client
}

/// A comma-separated list of networks (`10.0.0.0/8, 192.168.1.7`); a bare address is one host.
pub(crate) fn parse_networks(raw: &str) -> Result<Vec<IpNet>, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("{s:?} is not an address or network such as 10.0.0.0/8"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let trusted = parse_networks("10.0.0.0/8").unwrap();
        assert_eq!(
            resolve(ip("203.0.113.9"), "1.2.3.4", &trusted),
            ip("203.0.113.9")
        );
        assert_eq!(resolve(ip("127.0.0.1"), "1.2.3.4", &[]), ip("127.0.0.1"));
    }

    #[test]
    fn behind_trusted_proxies_the_nearest_untrusted_hop_is_the_client() {
        let trusted = parse_networks("10.0.0.0/8, 192.168.1.7").unwrap();
        // The client wrote "6.6.6.6" itself; the proxies appended what they saw.
        let header = "6.6.6.6, 198.51.100.4, 10.1.1.1";
        assert_eq!(
            resolve(ip("10.0.0.2"), header, &trusted),
            ip("198.51.100.4")
        );
        assert_eq!(
            resolve(ip("192.168.1.7"), "198.51.100.4", &trusted),
            ip("198.51.100.4")
        );
    }

    #[test]
    fn an_unreadable_hop_stops_the_walk_at_the_last_trusted_address() {
        let trusted = parse_networks("10.0.0.0/8").unwrap();
        assert_eq!(
            resolve(ip("10.0.0.2"), "1.2.3.4, junk", &trusted),
            ip("10.0.0.2")
        );
        assert_eq!(resolve(ip("10.0.0.2"), "", &trusted), ip("10.0.0.2"));
    }

    #[test]
    fn networks_are_read_from_a_list_and_junk_is_refused() {
        assert_eq!(parse_networks("").unwrap(), vec![]);
        assert_eq!(parse_networks("::1, 127.0.0.0/8").unwrap().len(), 2);
        assert!(parse_networks("10.0.0.0/33").is_err());
        assert!(parse_networks("proxy.local").is_err());
    }
}

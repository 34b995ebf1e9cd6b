//! The client's address, trusting `X-Forwarded-For` only from configured proxies.
//!
//! Contract: [`TrustedProxies::client`] returns the peer's address unless the peer is a
//! trusted proxy (a configured address or CIDR range, `--trusted-proxy`). From a
//! trusted peer it walks `X-Forwarded-For` from the right (the hop the proxy itself
//! appended) past every trusted hop and returns the first untrusted one: the address
//! the outermost trusted proxy saw. Entries left of it were written by the client and
//! are never believed. A malformed entry ends the walk at the last address believed.
//! With no trusted proxies the header is ignored entirely, so a client cannot choose
//! the address recorded with its events.
//!
//! ```
//! use segstream_collector::client_address::TrustedProxies;
//! let proxies = TrustedProxies::parse(&["10.0.0.0/8".to_string()]).unwrap();
//! let peer = "10.1.2.3".parse().unwrap();
//! assert_eq!(proxies.client(peer, Some("6.6.6.6, 203.0.113.7")), "203.0.113.7".parse::<std::net::IpAddr>().unwrap());
//! let stranger = "198.51.100.1".parse().unwrap();
//! assert_eq!(proxies.client(stranger, Some("203.0.113.7")), stranger, "not a proxy: the header is ignored");
//! ```

use std::net::IpAddr;

use ipnet::IpNet;

/// The proxies whose `X-Forwarded-For` is believed.
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies {
    ranges: Vec<IpNet>,
}

impl TrustedProxies {
    /// Parses addresses (`10.0.0.5`) and ranges (`10.0.0.0/8`); the first bad one is an error.
    pub fn parse(entries: &[String]) -> Result<TrustedProxies, String> {
        let ranges = entries
            .iter()
            .map(|entry| {
                let entry = entry.trim();
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("--trusted-proxy {entry:?} is neither an IP address nor a CIDR range"))
            })
            .collect::<Result<_, _>>()?;
        Ok(TrustedProxies { ranges })
    }

    fn trusts(&self, address: IpAddr) -> bool {
        self.ranges.iter().any(|range| range.contains(&address))
    }

    /// The client's address for a request from `peer` with this `X-Forwarded-For` value.
    pub fn client(&self, peer: IpAddr, forwarded_for: Option<&str>) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let Some(header) = forwarded_for else { return peer };
        let mut believed = peer;
        for hop in header.rsplit(',') {
            let Ok(address) = hop.trim().parse::<IpAddr>() else { break };
            believed = address;
            if !self.trusts(address) {
                break;
            }
        }
        believed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn a_spoofed_header_from_an_untrusted_peer_is_ignored() {
        let none = TrustedProxies::default();
        assert_eq!(none.client(ip("198.51.100.1"), Some("1.2.3.4")), ip("198.51.100.1"));
    }

    #[test]
    fn chains_of_trusted_proxies_are_walked_from_the_right() {
        let proxies = TrustedProxies::parse(&["10.0.0.0/8".into(), "192.0.2.9".into()]).unwrap();
        let header = "6.6.6.6, 203.0.113.7, 192.0.2.9, 10.0.0.2";
        assert_eq!(proxies.client(ip("10.0.0.1"), Some(header)), ip("203.0.113.7"));
        assert_eq!(proxies.client(ip("10.0.0.1"), None), ip("10.0.0.1"), "no header: the proxy itself");
        assert_eq!(
            proxies.client(ip("10.0.0.1"), Some("garbage, 10.0.0.3")),
            ip("10.0.0.3"),
            "a malformed hop ends the walk"
        );
    }

    #[test]
    fn bad_entries_are_named() {
        let error = TrustedProxies::parse(&["10.0.0.0/99".into()]).unwrap_err();
        assert!(error.contains("10.0.0.0/99"), "{error}");
    }
}

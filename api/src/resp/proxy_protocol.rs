//! The PROXY protocol (HAProxy's, versions 1 and 2) on the Redis ports, for a node behind a
//! TCP load balancer (HAProxy `send-proxy`/`send-proxy-v2`, an AWS NLB, Envoy): the balancer
//! opens each connection with a header naming the client it carries, and that client — not the
//! balancer — is the connection's address in `CLIENT LIST`, `ACL LOG` and the failure budget.
//!
//! Only connections from `trusted_proxies` are read for a header (with `proxy_protocol = true`),
//! and such a connection must start with one: anyone else could name any address. A header that
//! does not parse, or does not arrive within [`HEADER_TIMEOUT`], closes that connection alone.
//! `LOCAL` (v2) and `UNKNOWN` (v1) headers — a balancer's own health checks — keep the
//! balancer's address. On the TLS port the header comes before the handshake, as balancers send
//! it. Parsing is the `ppp` crate's; this module only frames it on the stream.

use std::net::SocketAddr;
use std::time::Duration;

use ppp::v1;
use ppp::v2;
use ppp::{HeaderResult, PartialResult};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// How long a trusted proxy has to send its header.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest header read: v1's limit is 107 bytes; v2 carries TLVs, bounded here.
const MAX_HEADER: usize = 4096;
/// How long to wait before looking again at a header that has not fully arrived.
const PARTIAL_RETRY: Duration = Duration::from_millis(5);

#[derive(Debug, thiserror::Error)]
pub enum ProxyHeaderError {
    #[error("the connection does not start with a PROXY protocol header: {0}")]
    Malformed(String),
    #[error("the PROXY protocol header is longer than {MAX_HEADER} bytes")]
    TooLong,
    #[error("the connection closed before its PROXY protocol header was complete")]
    Closed,
    #[error("no complete PROXY protocol header within {HEADER_TIMEOUT:?}")]
    TimedOut,
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// What the start of a stream holds: `Ok(None)` while the header is incomplete; else its length
/// and the client it names (`None`: the connection speaks for itself, `LOCAL` or `UNKNOWN`).
pub fn parse(bytes: &[u8]) -> Result<Option<(usize, Option<SocketAddr>)>, ProxyHeaderError> {
    let parsed = HeaderResult::parse(bytes);
    if parsed.is_incomplete() {
        return if bytes.len() >= MAX_HEADER {
            Err(ProxyHeaderError::TooLong)
        } else {
            Ok(None)
        };
    }
    let (len, client) = match parsed {
        HeaderResult::V1(Ok(header)) => {
            let client = match header.addresses {
                v1::Addresses::Tcp4(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
                v1::Addresses::Tcp6(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
                v1::Addresses::Unknown => None,
            };
            (header.header.len(), client)
        }
        HeaderResult::V2(Ok(header)) => {
            let client = match (header.command, header.addresses) {
                (v2::Command::Local, _) => None,
                (_, v2::Addresses::IPv4(a)) => {
                    Some(SocketAddr::from((a.source_address, a.source_port)))
                }
                (_, v2::Addresses::IPv6(a)) => {
                    Some(SocketAddr::from((a.source_address, a.source_port)))
                }
                (_, v2::Addresses::Unspecified | v2::Addresses::Unix(_)) => None,
            };
            (header.len(), client)
        }
        HeaderResult::V1(Err(e)) => return Err(ProxyHeaderError::Malformed(e.to_string())),
        HeaderResult::V2(Err(e)) => return Err(ProxyHeaderError::Malformed(e.to_string())),
    };
    if len > bytes.len() {
        return Err(ProxyHeaderError::Malformed(
            "a header longer than its input".into(),
        ));
    }
    Ok(Some((len, client)))
}

/// Read the header at the start of `stream`, consuming exactly its bytes (what follows is the
/// client's, RESP or a TLS handshake), within [`HEADER_TIMEOUT`].
pub async fn read_header(stream: &mut TcpStream) -> Result<Option<SocketAddr>, ProxyHeaderError> {
    tokio::time::timeout(HEADER_TIMEOUT, async {
        let mut buf = vec![0u8; MAX_HEADER];
        loop {
            // Peeked, not read: the bytes after the header must stay in the stream.
            let n = stream.peek(&mut buf).await?;
            if n == 0 {
                return Err(ProxyHeaderError::Closed);
            }
            if let Some((len, client)) = parse(&buf[..n])? {
                stream.read_exact(&mut buf[..len]).await?;
                return Ok(client);
            }
            // The rest is on its way (a header split over segments is rare): look again soon.
            tokio::time::sleep(PARTIAL_RETRY).await;
        }
    })
    .await
    .map_err(|_| ProxyHeaderError::TimedOut)?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v2(command: u8, family: u8, addresses: &[u8]) -> Vec<u8> {
        let mut out = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
        out.push(0x20 | command);
        out.push(family);
        out.extend_from_slice(&(addresses.len() as u16).to_be_bytes());
        out.extend_from_slice(addresses);
        out
    }

    #[test]
    fn version_1_names_the_client_and_leaves_what_follows() {
        let input = b"PROXY TCP4 203.0.113.7 10.0.0.5 51234 6390\r\n*1\r\n$4\r\nPING\r\n";
        let (len, client) = parse(input).unwrap().unwrap();
        assert_eq!(&input[len..], b"*1\r\n$4\r\nPING\r\n");
        assert_eq!(client, Some("203.0.113.7:51234".parse().unwrap()));
        let input = b"PROXY TCP6 2001:db8::1 2001:db8::2 4000 6390\r\n";
        assert_eq!(
            parse(input).unwrap().unwrap().1,
            Some("[2001:db8::1]:4000".parse().unwrap())
        );
        assert_eq!(parse(b"PROXY UNKNOWN\r\n").unwrap(), Some((15, None)));
    }

    #[test]
    fn version_2_names_the_client_and_local_keeps_the_peer() {
        let mut addrs = vec![198, 51, 100, 9, 10, 0, 0, 5];
        addrs.extend_from_slice(&4321u16.to_be_bytes());
        addrs.extend_from_slice(&6390u16.to_be_bytes());
        let mut input = v2(1, 0x11, &addrs);
        let header_len = input.len();
        input.extend_from_slice(b"PING\r\n");
        let (len, client) = parse(&input).unwrap().unwrap();
        assert_eq!(len, header_len);
        assert_eq!(client, Some("198.51.100.9:4321".parse().unwrap()));
        assert_eq!(parse(&v2(0, 0x00, &[])).unwrap(), Some((16, None)));
    }

    #[test]
    fn partial_headers_wait_and_garbage_is_refused() {
        assert!(parse(b"PROXY TCP4 203.0.113.7").unwrap().is_none());
        assert!(parse(&v2(1, 0x11, &[0; 12])[..14]).unwrap().is_none());
        assert!(parse(b"*1\r\n$4\r\nPING\r\n").is_err());
        assert!(parse(b"PROXY TCP4 999.0.0.1 10.0.0.5 1 2\r\n").is_err());
        assert!(parse(b"GET / HTTP/1.1\r\n").is_err());
    }

    #[test]
    fn no_input_makes_the_parser_panic() {
        // A small exhaustive-ish sweep over prefixes and mutations of valid headers.
        let mut addrs = vec![198, 51, 100, 9, 10, 0, 0, 5, 0, 1, 0, 2];
        let samples = [
            b"PROXY TCP4 203.0.113.7 10.0.0.5 51234 6390\r\n".to_vec(),
            v2(1, 0x11, &addrs),
            v2(1, 0x21, &[7; 36]),
        ];
        for sample in &samples {
            for cut in 0..=sample.len() {
                let _ = parse(&sample[..cut]);
                for i in 0..cut {
                    let mut bent = sample[..cut].to_vec();
                    bent[i] ^= 0x5a;
                    let _ = parse(&bent);
                }
            }
        }
        addrs.truncate(3);
        let _ = parse(&v2(1, 0x11, &addrs));
        let _ = parse(&vec![b'P'; MAX_HEADER + 10]);
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_parse_without_panic_and_headers_lie_inside(
            prefix in proptest::sample::select(vec![&b"PROXY "[..], &b"\r\n\r\n\0\r\nQUIT\n"[..], &b""[..]]),
            rest in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
        ) {
            let mut input = prefix.to_vec();
            input.extend_from_slice(&rest);
            if let Ok(Some((len, _))) = parse(&input) {
                proptest::prop_assert!(len > 0 && len <= input.len());
            }
        }
    }
}

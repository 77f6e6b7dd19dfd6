//! The PROXY protocol on the Redis port: a trusted load balancer's connection names its client
//! with a v1 or v2 header, which `CLIENT INFO` then shows; a trusted peer without a valid header
//! is refused (that connection alone); an untrusted peer is served as itself, header or not.

use std::net::SocketAddr;
use std::time::Duration;

use larder::config::Config;
use larder::server::{self, RunningServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

async fn start() -> RunningServer {
    let config = Config {
        resp_addr: "127.0.0.1:0".parse().unwrap(),
        http_addr: "127.0.0.1:0".parse().unwrap(),
        auth_limits: larder::auth::AuthLimits {
            trusted_proxies: larder::auth::client_addr::TrustedProxies::new(vec![
                "127.0.0.1/32".parse().unwrap(),
            ]),
            ..Default::default()
        },
        proxy_protocol: true,
        ..Default::default()
    };
    server::start(&config).await.unwrap()
}

/// A connection to `to` from the loopback address `from`.
async fn connect_from(from: [u8; 4], to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::from((from, 0)))
        .expect("bind a loopback source address");
    socket.connect(to).await.unwrap()
}

/// Send `bytes`, then read what comes back until `until` is in it (or the server closes).
async fn exchange(stream: &mut TcpStream, bytes: &[u8], until: &str) -> String {
    stream.write_all(bytes).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains(until) {
        match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => panic!("no answer; so far {:?}", String::from_utf8_lossy(&got)),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

fn v2_tcp4(client: [u8; 4], port: u16) -> Vec<u8> {
    let mut out = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    out.extend_from_slice(&[0x21, 0x11, 0, 12]);
    out.extend_from_slice(&client);
    out.extend_from_slice(&[127, 0, 0, 1]);
    out.extend_from_slice(&port.to_be_bytes());
    out.extend_from_slice(&6390u16.to_be_bytes());
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_proxy_names_the_client_with_a_v1_or_v2_header() {
    let node = start().await;
    let mut v1 = connect_from([127, 0, 0, 1], node.resp_addr).await;
    let info = exchange(
        &mut v1,
        b"PROXY TCP4 203.0.113.7 127.0.0.1 51234 6390\r\nCLIENT INFO\r\n",
        "\r\n",
    )
    .await;
    assert!(info.contains("addr=203.0.113.7:51234"), "{info}");
    // The connection goes on as RESP after the header.
    assert!(
        exchange(&mut v1, b"PING\r\n", "PONG")
            .await
            .contains("PONG")
    );

    let mut v2 = connect_from([127, 0, 0, 1], node.resp_addr).await;
    let mut first = v2_tcp4([198, 51, 100, 9], 4321);
    first.extend_from_slice(b"*2\r\n$6\r\nCLIENT\r\n$4\r\nINFO\r\n");
    let info = exchange(&mut v2, &first, "\r\n").await;
    assert!(info.contains("addr=198.51.100.9:4321"), "{info}");
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_peer_without_a_header_is_refused_and_others_are_served_as_themselves() {
    let node = start().await;
    // Trusted, but it speaks RESP straight away: that connection is closed, unanswered.
    let mut bare = connect_from([127, 0, 0, 1], node.resp_addr).await;
    let answer = exchange(&mut bare, b"*1\r\n$4\r\nPING\r\n", "PONG").await;
    assert!(!answer.contains("PONG"), "{answer}");
    // Not trusted: served as itself, and a header it writes is not believed.
    let mut other = connect_from([127, 0, 0, 2], node.resp_addr).await;
    let info = exchange(&mut other, b"CLIENT INFO\r\n", "\r\n").await;
    assert!(info.contains("addr=127.0.0.2:"), "{info}");
    let mut forged = connect_from([127, 0, 0, 2], node.resp_addr).await;
    let answer = exchange(
        &mut forged,
        b"PROXY TCP4 203.0.113.7 127.0.0.1 51234 6390\r\nCLIENT INFO\r\n",
        "addr=",
    )
    .await;
    assert!(answer.contains("addr=127.0.0.2:"), "{answer}");
    assert!(!answer.contains("addr=203.0.113.7"), "{answer}");
    // The server is still serving the trusted proxy's well-formed connections.
    let mut good = connect_from([127, 0, 0, 1], node.resp_addr).await;
    let answer = exchange(&mut good, b"PROXY UNKNOWN\r\nPING\r\n", "PONG").await;
    assert!(answer.contains("PONG"), "{answer}");
    node.shutdown().await.unwrap();
}

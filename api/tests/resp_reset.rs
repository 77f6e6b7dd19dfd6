//! `RESET` on raw sockets and with the `redis` crate: the connection comes back as it opened —
//! transaction, namespace, name, protocol, subscriptions — and, with authentication on, not
//! authenticated.

mod auth_support;
mod resp_support;

use redis::AsyncCommands;
use resp_support::{Raw, cmd, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_returns_the_connection_to_how_it_opened() {
    let server = start().await;
    let mut raw = Raw::connect(server.addr).await;
    raw.roundtrip(&cmd(&["SELECT", "1"]), b"+OK\r\n").await;
    raw.roundtrip(&cmd(&["SET", "k", "in-db1"]), b"+OK\r\n")
        .await;
    raw.roundtrip(&cmd(&["CLIENT", "SETNAME", "worker"]), b"+OK\r\n")
        .await;
    raw.roundtrip(&cmd(&["MULTI"]), b"+OK\r\n").await;
    raw.roundtrip(&cmd(&["SET", "queued", "1"]), b"+QUEUED\r\n")
        .await;
    // Inside MULTI it runs at once and discards the transaction.
    raw.roundtrip(&cmd(&["RESET"]), b"+RESET\r\n").await;
    raw.roundtrip(&cmd(&["EXEC"]), b"-ERR EXEC without MULTI\r\n")
        .await;
    raw.roundtrip(&cmd(&["GET", "k"]), b"$-1\r\n").await;
    raw.roundtrip(&cmd(&["GET", "queued"]), b"$-1\r\n").await;
    raw.roundtrip(&cmd(&["CLIENT", "GETNAME"]), b"$-1\r\n")
        .await;

    // RESP3, then RESET: RESP2 again (a map is an array).
    raw.send(&cmd(&["HELLO", "3"])).await;
    let mut con = server.connection().await;
    let () = con.hset("h", "f", "v").await.unwrap();
    // The HELLO answer is a map; read up to where the next reply starts by asking for a
    // known-length reply after RESET instead of parsing it.
    raw.send(&cmd(&["RESET"])).await;
    raw.send(&cmd(&["HGETALL", "h"])).await;
    raw.send(&cmd(&["PING"])).await;
    let mut seen = Vec::new();
    while !seen.ends_with(b"+PONG\r\n") {
        seen.extend(raw.read_exact_len(1).await);
    }
    let text = String::from_utf8_lossy(&seen);
    assert!(
        text.ends_with("+RESET\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n+PONG\r\n"),
        "after RESET replies are RESP2: {text:?}"
    );

    // In subscribed mode RESET is allowed, and ends the subscriptions.
    raw.roundtrip(
        &cmd(&["SUBSCRIBE", "news"]),
        b"*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n",
    )
    .await;
    raw.roundtrip(&cmd(&["RESET"]), b"+RESET\r\n").await;
    let receivers: i64 = con.publish("news", "hello").await.unwrap();
    assert_eq!(receivers, 0, "the reset connection no longer listens");
    raw.roundtrip(&cmd(&["PING"]), b"+PONG\r\n").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_authentication_on_reset_logs_the_connection_out() {
    let node = larder::server::start(&auth_support::config(None))
        .await
        .unwrap();
    let mut raw = Raw::connect(node.resp_addr).await;
    raw.roundtrip(&cmd(&["RESET"]), b"+RESET\r\n").await;
    raw.roundtrip(&cmd(&["AUTH", auth_support::OPERATOR_KEY]), b"+OK\r\n")
        .await;
    raw.roundtrip(&cmd(&["SET", "k", "v"]), b"+OK\r\n").await;
    raw.roundtrip(&cmd(&["RESET"]), b"+RESET\r\n").await;
    raw.roundtrip(&cmd(&["GET", "k"]), b"-NOAUTH Authentication required.\r\n")
        .await;
    node.shutdown().await.unwrap();
}

//! Client-side caching against a real server: CLIENT TRACKING's modes (default, BCAST with
//! PREFIX, OPTIN, NOLOOP, REDIRECT for RESP2) and the invalidations a tracking client gets when a
//! key it read is written, deleted, expired, evicted by the policy or flushed — by another
//! client, by itself, or by a writer that is not on the Redis port at all.

mod resp_support;

use std::time::Duration;

use larder_runtime::{NamespaceConfig, SetOptions};
use resp_support::{Raw, cmd, start};

/// A RESP3 connection (HELLO 3 read and discarded).
async fn resp3(addr: std::net::SocketAddr) -> Raw {
    let mut raw = Raw::connect(addr).await;
    raw.send(&cmd(&["HELLO", "3"])).await;
    let mut hello = Vec::new();
    while !hello.ends_with(b"modules\r\n*0\r\n") {
        hello.extend(raw.read_exact_len(1).await);
    }
    raw
}

fn invalidate(keys: &[&str]) -> Vec<u8> {
    let mut out = format!(">2\r\n$10\r\ninvalidate\r\n*{}\r\n", keys.len()).into_bytes();
    for k in keys {
        out.extend(format!("${}\r\n{k}\r\n", k.len()).into_bytes());
    }
    out
}

async fn expect(raw: &mut Raw, bytes: &[u8]) {
    let got = raw.read_exact_len(bytes.len()).await;
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(bytes)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_read_is_invalidated_once_on_write_delete_expiry_eviction_and_flush() {
    let server = start().await;
    let mut writer = Raw::connect(server.addr).await;
    let mut t = resp3(server.addr).await;
    writer
        .roundtrip(&cmd(&["MSET", "a", "1", "b", "2"]), b"+OK\r\n")
        .await;
    t.roundtrip(&cmd(&["CLIENT", "TRACKING", "ON"]), b"+OK\r\n")
        .await;
    t.roundtrip(&cmd(&["GET", "a"]), b"$1\r\n1\r\n").await;
    t.roundtrip(&cmd(&["MGET", "b", "missing"]), b"*2\r\n$1\r\n2\r\n_\r\n")
        .await;
    // One command changing several tracked keys: one invalidation naming them all (in the
    // order of their shards).
    writer
        .roundtrip(&cmd(&["MSET", "c", "1", "d", "2"]), b"+OK\r\n")
        .await;
    t.roundtrip(&cmd(&["MGET", "c", "d"]), b"*2\r\n$1\r\n1\r\n$1\r\n2\r\n")
        .await;
    writer.roundtrip(&cmd(&["DEL", "c", "d"]), b":2\r\n").await;
    let got = t.read_exact_len(invalidate(&["c", "d"]).len()).await;
    assert!(
        got == invalidate(&["c", "d"]) || got == invalidate(&["d", "c"]),
        "{}",
        String::from_utf8_lossy(&got)
    );
    // A write by another client.
    writer
        .roundtrip(&cmd(&["SET", "a", "10"]), b"+OK\r\n")
        .await;
    expect(&mut t, &invalidate(&["a"])).await;
    // Not read again since: a second write says nothing; a delete of `b` does.
    writer
        .roundtrip(&cmd(&["SET", "a", "11"]), b"+OK\r\n")
        .await;
    writer.roundtrip(&cmd(&["DEL", "b"]), b":1\r\n").await;
    expect(&mut t, &invalidate(&["b"])).await;
    // A key that was missing when read is tracked too: creating it invalidates.
    writer
        .roundtrip(&cmd(&["SET", "missing", "now"]), b"+OK\r\n")
        .await;
    expect(&mut t, &invalidate(&["missing"])).await;
    // Expiry (this test server has no sweep: a read past the deadline removes the key).
    writer
        .roundtrip(&cmd(&["SET", "brief", "v", "PX", "40"]), b"+OK\r\n")
        .await;
    t.roundtrip(&cmd(&["GET", "brief"]), b"$1\r\nv\r\n").await;
    tokio::time::sleep(Duration::from_millis(80)).await;
    writer.roundtrip(&cmd(&["GET", "brief"]), b"$-1\r\n").await;
    expect(&mut t, &invalidate(&["brief"])).await;
    // A writer that is not a RESP client (what the REST API and the origin call).
    t.roundtrip(&cmd(&["GET", "a"]), b"$2\r\n11\r\n").await;
    let store = server.state.namespaces.get("default").unwrap();
    store
        .store()
        .set(b"a", b"from rest", SetOptions::default())
        .unwrap();
    expect(&mut t, &invalidate(&["a"])).await;
    // A flush invalidates everything at once: a null list.
    writer.roundtrip(&cmd(&["FLUSHDB"]), b"+OK\r\n").await;
    expect(&mut t, b">2\r\n$10\r\ninvalidate\r\n_\r\n").await;

    // Eviction by the policy, in a small LRU namespace: the key read first goes first.
    server
        .state
        .namespaces
        .create(
            "tiny",
            NamespaceConfig {
                capacity_bytes: 4 * 1024,
                shards: Some(1),
                max_item_size: Some(1024),
                eviction: larder_runtime::PolicyRef::Builtin(larder_runtime::BuiltinPolicy::Lru),
                ..Default::default()
            },
        )
        .unwrap();
    writer
        .roundtrip(&cmd(&["SELECT", "tiny"]), b"+OK\r\n")
        .await;
    t.roundtrip(&cmd(&["SELECT", "tiny"]), b"+OK\r\n").await;
    let value = "x".repeat(500);
    writer
        .roundtrip(&cmd(&["SET", "first", &value]), b"+OK\r\n")
        .await;
    t.send(&cmd(&["GET", "first"])).await;
    let _ = t.read_exact_len(format!("$500\r\n{value}\r\n").len()).await;
    for i in 0..20 {
        writer
            .roundtrip(&cmd(&["SET", &format!("fill{i}"), &value]), b"+OK\r\n")
            .await;
    }
    expect(&mut t, &invalidate(&["first"])).await;

    // OFF: nothing more.
    t.roundtrip(&cmd(&["CLIENT", "TRACKING", "OFF"]), b"+OK\r\n")
        .await;
    t.roundtrip(&cmd(&["CLIENT", "GETREDIR"]), b":-1\r\n").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bcast_prefixes_optin_and_noloop() {
    let server = start().await;
    let mut writer = Raw::connect(server.addr).await;

    // BCAST with a prefix: every change under it, read or not; nothing else.
    let mut b = resp3(server.addr).await;
    b.roundtrip(
        &cmd(&["CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "user:"]),
        b"+OK\r\n",
    )
    .await;
    writer
        .roundtrip(&cmd(&["SET", "order:1", "x"]), b"+OK\r\n")
        .await;
    writer
        .roundtrip(&cmd(&["SET", "user:7", "x"]), b"+OK\r\n")
        .await;
    expect(&mut b, &invalidate(&["user:7"])).await;

    // OPTIN: only a read after CLIENT CACHING yes is tracked.
    let mut o = resp3(server.addr).await;
    o.roundtrip(&cmd(&["CLIENT", "TRACKING", "ON", "OPTIN"]), b"+OK\r\n")
        .await;
    o.roundtrip(&cmd(&["GET", "plain"]), b"_\r\n").await;
    o.roundtrip(&cmd(&["CLIENT", "CACHING", "YES"]), b"+OK\r\n")
        .await;
    o.roundtrip(&cmd(&["GET", "cached"]), b"_\r\n").await;
    writer
        .roundtrip(&cmd(&["SET", "plain", "x"]), b"+OK\r\n")
        .await;
    writer
        .roundtrip(&cmd(&["SET", "cached", "x"]), b"+OK\r\n")
        .await;
    expect(&mut o, &invalidate(&["cached"])).await;

    // NOLOOP: a client's own writes do not come back to it.
    let mut n = resp3(server.addr).await;
    n.roundtrip(&cmd(&["CLIENT", "TRACKING", "ON", "NOLOOP"]), b"+OK\r\n")
        .await;
    n.roundtrip(&cmd(&["MGET", "mine", "theirs"]), b"*2\r\n_\r\n_\r\n")
        .await;
    n.roundtrip(&cmd(&["SET", "mine", "x"]), b"+OK\r\n").await;
    writer
        .roundtrip(&cmd(&["SET", "theirs", "x"]), b"+OK\r\n")
        .await;
    expect(&mut n, &invalidate(&["theirs"])).await;

    // Refusals, worded as Redis words them.
    n.roundtrip(
        &cmd(&["CLIENT", "TRACKING", "ON", "PREFIX", "x"]),
        b"-ERR PREFIX option requires BCAST mode to be enabled\r\n",
    )
    .await;
    n.roundtrip(
        &cmd(&["CLIENT", "TRACKING", "ON", "OPTIN", "OPTOUT"]),
        b"-ERR You can't use both OPTIN and OPTOUT\r\n",
    )
    .await;
    n.roundtrip(
        &cmd(&["CLIENT", "CACHING", "YES"]),
        b"-ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled\r\n",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalidation_goes_out_before_the_reply_to_the_next_command() {
    let server = start().await;
    let mut writer = Raw::connect(server.addr).await;
    let mut t = resp3(server.addr).await;
    t.roundtrip(&cmd(&["CLIENT", "TRACKING", "ON"]), b"+OK\r\n")
        .await;
    for round in 0..50 {
        let key = format!("k{round}");
        t.roundtrip(&cmd(&["GET", &key]), b"_\r\n").await;
        writer
            .roundtrip(&cmd(&["SET", &key, "v"]), b"+OK\r\n")
            .await;
        // The write was answered, so its invalidation is queued: it must precede PONG.
        t.send(&cmd(&["PING"])).await;
        let mut expected = invalidate(&[&key]);
        expected.extend_from_slice(b"+PONG\r\n");
        assert_eq!(
            t.read_exact_len(expected.len()).await,
            expected,
            "round {round}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bcast_prefixes_add_up_and_may_not_overlap() {
    let server = start().await;
    let mut writer = Raw::connect(server.addr).await;
    let mut b = resp3(server.addr).await;
    b.roundtrip(
        &cmd(&["CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "FOOBAR", "PREFIX", "FOO"]),
        b"-ERR Prefix 'FOOBAR' overlaps with another provided prefix 'FOO'. Prefixes for a single client must not overlap.\r\n",
    )
    .await;
    b.roundtrip(
        &cmd(&[
            "CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "FOO", "PREFIX", "BAR",
        ]),
        b"+OK\r\n",
    )
    .await;
    b.roundtrip(
        &cmd(&["CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "FO"]),
        b"-ERR Prefix 'FO' overlaps with an existing prefix 'FOO'. Prefixes for a single client must not overlap.\r\n",
    )
    .await;
    // A refused call changes nothing; an accepted one adds its prefix to the others.
    b.roundtrip(
        &cmd(&["CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "BAZ"]),
        b"+OK\r\n",
    )
    .await;
    for key in ["FOO:1", "BAZ:1", "QUX:1", "BAR:1"] {
        writer.roundtrip(&cmd(&["SET", key, "x"]), b"+OK\r\n").await;
    }
    expect(&mut b, &invalidate(&["FOO:1"])).await;
    expect(&mut b, &invalidate(&["BAZ:1"])).await;
    expect(&mut b, &invalidate(&["BAR:1"])).await;
    // Every key (no prefix) overlaps every prefix.
    let mut all = resp3(server.addr).await;
    all.roundtrip(&cmd(&["CLIENT", "TRACKING", "ON", "BCAST"]), b"+OK\r\n")
        .await;
    all.roundtrip(
        &cmd(&["CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "A"]),
        b"-ERR Prefix 'A' overlaps with an existing prefix ''. Prefixes for a single client must not overlap.\r\n",
    )
    .await;
    b.roundtrip(&cmd(&["CLIENT", "TRACKING", "OFF"]), b"+OK\r\n")
        .await;
    b.roundtrip(
        &cmd(&["CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "FO"]),
        b"+OK\r\n",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resp2_clients_redirect_invalidations_to_a_subscribed_connection() {
    let server = start().await;
    let mut writer = Raw::connect(server.addr).await;
    let mut target = Raw::connect(server.addr).await;
    target.send(&cmd(&["CLIENT", "ID"])).await;
    let mut id = Vec::new();
    while !id.ends_with(b"\r\n") {
        id.extend(target.read_exact_len(1).await);
    }
    let id = String::from_utf8_lossy(&id[1..id.len() - 2]).into_owned();
    target
        .roundtrip(
            &cmd(&["SUBSCRIBE", "__redis__:invalidate"]),
            b"*3\r\n$9\r\nsubscribe\r\n$20\r\n__redis__:invalidate\r\n:1\r\n",
        )
        .await;

    let mut t = Raw::connect(server.addr).await;
    t.roundtrip(
        &cmd(&["CLIENT", "TRACKING", "ON", "REDIRECT", &id]),
        b"+OK\r\n",
    )
    .await;
    t.roundtrip(
        &cmd(&["CLIENT", "GETREDIR"]),
        format!(":{id}\r\n").as_bytes(),
    )
    .await;
    t.roundtrip(&cmd(&["GET", "k"]), b"$-1\r\n").await;
    writer.roundtrip(&cmd(&["SET", "k", "v"]), b"+OK\r\n").await;
    expect(
        &mut target,
        b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*1\r\n$1\r\nk\r\n",
    )
    .await;

    // A target that speaks RESP3 gets the `invalidate` push instead, as Redis sends it.
    target
        .send(&cmd(&["UNSUBSCRIBE", "__redis__:invalidate"]))
        .await;
    let unsubscribed = b"*3\r\n$11\r\nunsubscribe\r\n$20\r\n__redis__:invalidate\r\n:0\r\n";
    assert_eq!(
        target.read_exact_len(unsubscribed.len()).await,
        unsubscribed
    );
    target.send(&cmd(&["HELLO", "3"])).await;
    // Skip the HELLO map: read until the SUBSCRIBE reply that follows it is complete.
    target
        .send(&cmd(&["SUBSCRIBE", "__redis__:invalidate"]))
        .await;
    let subscribed = b">3\r\n$9\r\nsubscribe\r\n$20\r\n__redis__:invalidate\r\n:1\r\n";
    let mut seen = Vec::new();
    while !seen.ends_with(subscribed) {
        seen.extend(target.read_exact_len(1).await);
    }
    t.roundtrip(&cmd(&["GET", "k"]), b"$1\r\nv\r\n").await;
    writer.roundtrip(&cmd(&["SET", "k", "w"]), b"+OK\r\n").await;
    expect(&mut target, b">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n").await;
}

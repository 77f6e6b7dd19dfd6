//! Pub/sub against a real server: Redis's confirmations and message frames byte for byte in
//! RESP2 and RESP3, patterns, subscribed mode, PUBSUB introspection, clean-up when a subscriber
//! disconnects, and the `redis` crate's own pub/sub client.

mod resp_support;

use std::time::Duration;

use futures_util::StreamExt;
use resp_support::{Raw, cmd, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_receive_what_is_published_to_their_channels_and_patterns() {
    let server = start().await;
    let mut sub = Raw::connect(server.addr).await;
    let mut publisher = Raw::connect(server.addr).await;

    sub.roundtrip(
        &cmd(&["SUBSCRIBE", "news", "sport"]),
        b"*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$5\r\nsport\r\n:2\r\n",
    )
    .await;
    sub.roundtrip(
        &cmd(&["PSUBSCRIBE", "n*"]),
        b"*3\r\n$10\r\npsubscribe\r\n$2\r\nn*\r\n:3\r\n",
    )
    .await;
    // One subscriber by channel, one by pattern: 2 deliveries.
    publisher
        .roundtrip(&cmd(&["PUBLISH", "news", "hello"]), b":2\r\n")
        .await;
    let expected: &[u8] = b"*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nhello\r\n*4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$4\r\nnews\r\n$5\r\nhello\r\n";
    assert_eq!(sub.read_exact_len(expected.len()).await, expected);
    publisher
        .roundtrip(&cmd(&["PUBLISH", "quiet", "x"]), b":0\r\n")
        .await;

    // Introspection.
    publisher
        .roundtrip(
            &cmd(&["PUBSUB", "CHANNELS"]),
            b"*2\r\n$4\r\nnews\r\n$5\r\nsport\r\n",
        )
        .await;
    publisher
        .roundtrip(
            &cmd(&["PUBSUB", "CHANNELS", "s*"]),
            b"*1\r\n$5\r\nsport\r\n",
        )
        .await;
    publisher
        .roundtrip(
            &cmd(&["PUBSUB", "NUMSUB", "news", "none"]),
            b"*4\r\n$4\r\nnews\r\n:1\r\n$4\r\nnone\r\n:0\r\n",
        )
        .await;
    publisher
        .roundtrip(&cmd(&["PUBSUB", "NUMPAT"]), b":1\r\n")
        .await;

    // Subscribed mode (RESP2): only the subscription commands and PING.
    sub.roundtrip(
        &cmd(&["GET", "k"]),
        b"-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n",
    )
    .await;
    sub.roundtrip(&cmd(&["PING"]), b"*2\r\n$4\r\npong\r\n$0\r\n\r\n")
        .await;
    sub.roundtrip(
        &cmd(&["UNSUBSCRIBE"]),
        b"*3\r\n$11\r\nunsubscribe\r\n$4\r\nnews\r\n:2\r\n*3\r\n$11\r\nunsubscribe\r\n$5\r\nsport\r\n:1\r\n",
    )
    .await;
    sub.roundtrip(
        &cmd(&["PUNSUBSCRIBE", "n*"]),
        b"*3\r\n$12\r\npunsubscribe\r\n$2\r\nn*\r\n:0\r\n",
    )
    .await;
    // Nothing left: unsubscribing from all answers once, with a null name; normal mode again.
    sub.roundtrip(
        &cmd(&["UNSUBSCRIBE"]),
        b"*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n",
    )
    .await;
    sub.roundtrip(&cmd(&["PING"]), b"+PONG\r\n").await;
    publisher
        .roundtrip(&cmd(&["PUBLISH", "news", "gone"]), b":0\r\n")
        .await;
}

/// Shard channels (SSUBSCRIBE, SPUBLISH, SUNSUBSCRIBE) are a namespace of their own: a plain
/// PUBLISH or a pattern never reaches them, and the counts and introspection are theirs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shard_channels_are_a_namespace_of_their_own() {
    let server = start().await;
    let mut sub = Raw::connect(server.addr).await;
    let mut pattern = Raw::connect(server.addr).await;
    let mut publisher = Raw::connect(server.addr).await;
    sub.roundtrip(
        &cmd(&["SSUBSCRIBE", "orders", "stock"]),
        b"*3\r\n$10\r\nssubscribe\r\n$6\r\norders\r\n:1\r\n*3\r\n$10\r\nssubscribe\r\n$5\r\nstock\r\n:2\r\n",
    )
    .await;
    pattern
        .roundtrip(
            &cmd(&["PSUBSCRIBE", "*"]),
            b"*3\r\n$10\r\npsubscribe\r\n$1\r\n*\r\n:1\r\n",
        )
        .await;
    // RESP2 subscribed mode covers shard subscriptions too.
    sub.roundtrip(
        &cmd(&["GET", "k"]),
        b"-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n",
    )
    .await;
    publisher
        .roundtrip(&cmd(&["SPUBLISH", "orders", "o-1"]), b":1\r\n")
        .await;
    let expected: &[u8] = b"*3\r\n$8\r\nsmessage\r\n$6\r\norders\r\n$3\r\no-1\r\n";
    assert_eq!(sub.read_exact_len(expected.len()).await, expected);
    // A plain PUBLISH on the same name reaches the pattern subscriber only.
    publisher
        .roundtrip(&cmd(&["PUBLISH", "orders", "plain"]), b":1\r\n")
        .await;
    let expected: &[u8] = b"*4\r\n$8\r\npmessage\r\n$1\r\n*\r\n$6\r\norders\r\n$5\r\nplain\r\n";
    assert_eq!(pattern.read_exact_len(expected.len()).await, expected);
    publisher
        .roundtrip(
            &cmd(&["PUBSUB", "SHARDCHANNELS"]),
            b"*2\r\n$6\r\norders\r\n$5\r\nstock\r\n",
        )
        .await;
    publisher
        .roundtrip(
            &cmd(&["PUBSUB", "SHARDNUMSUB", "orders", "none"]),
            b"*4\r\n$6\r\norders\r\n:1\r\n$4\r\nnone\r\n:0\r\n",
        )
        .await;
    publisher
        .roundtrip(&cmd(&["PUBSUB", "CHANNELS"]), b"*0\r\n")
        .await;
    sub.roundtrip(
        &cmd(&["SUNSUBSCRIBE"]),
        b"*3\r\n$12\r\nsunsubscribe\r\n$6\r\norders\r\n:1\r\n*3\r\n$12\r\nsunsubscribe\r\n$5\r\nstock\r\n:0\r\n",
    )
    .await;
    // Out of subscribed mode again, and nobody is left on the shard channel.
    sub.roundtrip(&cmd(&["GET", "k"]), b"$-1\r\n").await;
    publisher
        .roundtrip(&cmd(&["SPUBLISH", "orders", "o-2"]), b":0\r\n")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resp3_uses_push_frames_and_allows_any_command_while_subscribed() {
    let server = start().await;
    let mut sub = Raw::connect(server.addr).await;
    sub.send(&cmd(&["HELLO", "3"])).await;
    let mut hello = Vec::new();
    while !hello.ends_with(b"modules\r\n*0\r\n") {
        hello.extend(sub.read_exact_len(1).await);
    }
    sub.roundtrip(
        &cmd(&["SUBSCRIBE", "c"]),
        b">3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n",
    )
    .await;
    sub.roundtrip(&cmd(&["SET", "k", "v"]), b"+OK\r\n").await;
    sub.roundtrip(&cmd(&["PUBLISH", "c", "to myself"]), b":1\r\n")
        .await;
    let expected: &[u8] = b">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$9\r\nto myself\r\n";
    assert_eq!(sub.read_exact_len(expected.len()).await, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disconnected_subscriber_is_forgotten() {
    let server = start().await;
    let mut publisher = Raw::connect(server.addr).await;
    {
        let mut sub = Raw::connect(server.addr).await;
        sub.send(&cmd(&["SUBSCRIBE", "c"])).await;
        let _ = sub
            .read_exact_len(b"*3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n".len())
            .await;
        publisher
            .roundtrip(&cmd(&["PUBLISH", "c", "x"]), b":1\r\n")
            .await;
    }
    let mut n = Vec::new();
    for _ in 0..100 {
        publisher.send(&cmd(&["PUBSUB", "NUMSUB", "c"])).await;
        n = publisher
            .read_exact_len(b"*2\r\n$1\r\nc\r\n:0\r\n".len())
            .await;
        if n.ends_with(b":0\r\n") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(n.ends_with(b":0\r\n"), "{}", String::from_utf8_lossy(&n));
    publisher
        .roundtrip(&cmd(&["PUBLISH", "c", "x"]), b":0\r\n")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_redis_crate_pubsub_client_receives_messages_in_order() {
    let server = start().await;
    let client = server.client();
    let mut pubsub = client.get_async_pubsub().await.unwrap();
    pubsub.subscribe("orders").await.unwrap();
    pubsub.psubscribe("user:*").await.unwrap();
    let mut con = server.connection().await;
    for i in 0..100 {
        let _: i64 = redis::cmd("PUBLISH")
            .arg("orders")
            .arg(format!("order {i}"))
            .query_async(&mut con)
            .await
            .unwrap();
    }
    let n: i64 = redis::cmd("PUBLISH")
        .arg("user:42")
        .arg("logged in")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(n, 1);
    let mut stream = pubsub.on_message();
    for i in 0..100 {
        let msg = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(msg.get_channel_name(), "orders");
        assert_eq!(msg.get_payload::<String>().unwrap(), format!("order {i}"));
    }
    let msg = tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(msg.get_channel_name(), "user:42");
    assert_eq!(msg.get_pattern::<String>().unwrap(), "user:*");
}

/// Read one pub/sub message frame of `Raw` (RESP2): (channel, payload).
async fn next_message(raw: &mut Raw) -> (String, String) {
    let mut text = Vec::new();
    // `*3\r\n$7\r\nmessage\r\n$<n>\r\n<channel>\r\n$<m>\r\n<payload>\r\n`: read line by line.
    let mut lines = Vec::new();
    while lines.len() < 7 {
        let b = raw.read_exact_len(1).await;
        text.extend(b);
        if text.ends_with(b"\r\n") {
            lines.push(String::from_utf8_lossy(&text[..text.len() - 2]).into_owned());
            text.clear();
        }
    }
    assert_eq!(lines[0], "*3");
    assert_eq!(lines[2], "message");
    (lines[4].clone(), lines[6].clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyspace_notifications_for_writes_deletes_expiries_and_evictions() {
    let server = start().await;
    let mut con = Raw::connect(server.addr).await;
    con.roundtrip(
        &cmd(&["CONFIG", "SET", "notify-keyspace-events", "Kq"]),
        b"-ERR CONFIG SET failed (possibly related to argument 'notify-keyspace-events') - Invalid event class character. Use 'Ag$lshzxeKEtmdn'.\r\n",
    )
    .await;
    con.roundtrip(
        &cmd(&["CONFIG", "SET", "notify-keyspace-events", "KEA"]),
        b"+OK\r\n",
    )
    .await;
    con.roundtrip(
        &cmd(&["CONFIG", "GET", "notify-keyspace-events"]),
        b"*2\r\n$22\r\nnotify-keyspace-events\r\n$3\r\nAKE\r\n",
    )
    .await;

    let mut sub = Raw::connect(server.addr).await;
    sub.send(&cmd(&["PSUBSCRIBE", "__keyevent@0__:*"])).await;
    let _ = sub
        .read_exact_len(b"*3\r\n$10\r\npsubscribe\r\n$16\r\n__keyevent@0__:*\r\n:1\r\n".len())
        .await;
    let mut space = Raw::connect(server.addr).await;
    space.send(&cmd(&["SUBSCRIBE", "__keyspace@0__:k"])).await;
    let _ = space
        .read_exact_len(b"*3\r\n$9\r\nsubscribe\r\n$16\r\n__keyspace@0__:k\r\n:1\r\n".len())
        .await;

    con.roundtrip(&cmd(&["SET", "k", "v"]), b"+OK\r\n").await;
    con.roundtrip(&cmd(&["EXPIRE", "k", "100"]), b":1\r\n")
        .await;
    con.roundtrip(&cmd(&["PERSIST", "k"]), b":1\r\n").await;
    con.roundtrip(&cmd(&["DEL", "k"]), b":1\r\n").await;
    con.roundtrip(&cmd(&["SET", "brief", "v", "PX", "30"]), b"+OK\r\n")
        .await;
    // This test server runs no expiry sweep: a read past the deadline removes the key.
    tokio::time::sleep(Duration::from_millis(80)).await;
    con.roundtrip(&cmd(&["GET", "brief"]), b"$-1\r\n").await;

    // pmessage frames carry the pattern too: read them as 4-element frames.
    let mut events = Vec::new();
    while events.len() < 6 {
        let mut lines = Vec::new();
        let mut text = Vec::new();
        while lines.len() < 9 {
            text.extend(sub.read_exact_len(1).await);
            if text.ends_with(b"\r\n") {
                lines.push(String::from_utf8_lossy(&text[..text.len() - 2]).into_owned());
                text.clear();
            }
        }
        assert_eq!((lines[0].as_str(), lines[2].as_str()), ("*4", "pmessage"));
        events.push((lines[6].clone(), lines[8].clone()));
    }
    let expected: Vec<(String, String)> = [
        ("__keyevent@0__:set", "k"),
        ("__keyevent@0__:expire", "k"),
        ("__keyevent@0__:persist", "k"),
        ("__keyevent@0__:del", "k"),
        // A write that carries its deadline (SET … PX) is one `set` event.
        ("__keyevent@0__:set", "brief"),
        ("__keyevent@0__:expired", "brief"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(events, expected);
    for event in ["set", "expire", "persist", "del"] {
        assert_eq!(
            next_message(&mut space).await,
            ("__keyspace@0__:k".to_string(), event.to_string())
        );
    }

    // Evictions, in a small namespace with its own flags (only evictions, keyevent only).
    let mut small = Raw::connect(server.addr).await;
    server
        .state
        .namespaces
        .create(
            "tiny",
            larder_runtime::NamespaceConfig {
                capacity_bytes: 4 * 1024,
                shards: Some(1),
                max_item_size: Some(1024),
                ..Default::default()
            },
        )
        .unwrap();
    small.roundtrip(&cmd(&["SELECT", "tiny"]), b"+OK\r\n").await;
    small
        .roundtrip(
            &cmd(&["CONFIG", "SET", "notify-keyspace-events", "Ee"]),
            b"+OK\r\n",
        )
        .await;
    let mut evictions = Raw::connect(server.addr).await;
    evictions
        .send(&cmd(&["SUBSCRIBE", "__keyevent@tiny__:evicted"]))
        .await;
    let _ = evictions
        .read_exact_len(
            b"*3\r\n$9\r\nsubscribe\r\n$25\r\n__keyevent@tiny__:evicted\r\n:1\r\n".len(),
        )
        .await;
    let value = "x".repeat(500);
    for i in 0..20 {
        small
            .roundtrip(&cmd(&["SET", &format!("key{i}"), &value]), b"+OK\r\n")
            .await;
    }
    let (channel, key) = next_message(&mut evictions).await;
    assert_eq!(channel, "__keyevent@tiny__:evicted");
    assert!(key.starts_with("key"), "{key}");
    // The `n` class: `new` for a key that was absent, not for an overwrite.
    let mut news = Raw::connect(server.addr).await;
    news.send(&cmd(&["SUBSCRIBE", "__keyevent@0__:new"])).await;
    let _ = news
        .read_exact_len(b"*3\r\n$9\r\nsubscribe\r\n$18\r\n__keyevent@0__:new\r\n:1\r\n".len())
        .await;
    con.roundtrip(
        &cmd(&["CONFIG", "SET", "notify-keyspace-events", "En"]),
        b"+OK\r\n",
    )
    .await;
    con.roundtrip(&cmd(&["SET", "fresh1", "a"]), b"+OK\r\n")
        .await;
    con.roundtrip(&cmd(&["SET", "fresh1", "b"]), b"+OK\r\n")
        .await;
    con.roundtrip(&cmd(&["SET", "fresh2", "a"]), b"+OK\r\n")
        .await;
    for key in ["fresh1", "fresh2"] {
        assert_eq!(
            next_message(&mut news).await,
            ("__keyevent@0__:new".to_string(), key.to_string())
        );
    }
    // Writes in `tiny` published nothing else: it has only the `e` class.
    small
        .roundtrip(&cmd(&["PUBSUB", "NUMPAT"]), b":1\r\n")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_reply_off_and_skip_drop_answers_but_not_messages_or_confirmations() {
    let server = start().await;
    let mut c = Raw::connect(server.addr).await;
    let mut publisher = Raw::connect(server.addr).await;
    c.roundtrip(
        &cmd(&["SUBSCRIBE", "c"]),
        b"*3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n",
    )
    .await;
    c.roundtrip(
        &cmd(&["UNSUBSCRIBE"]),
        b"*3\r\n$11\r\nunsubscribe\r\n$1\r\nc\r\n:0\r\n",
    )
    .await;
    c.send(&cmd(&["CLIENT", "REPLY", "SKIP"])).await;
    c.send(&cmd(&["SET", "a", "1"])).await;
    c.send(&cmd(&["CLIENT", "REPLY", "OFF"])).await;
    c.send(&cmd(&["GET", "a"])).await;
    c.send(&cmd(&["SUBSCRIBE", "c"])).await;
    // Give the silent commands time to run before the publish.
    tokio::time::sleep(Duration::from_millis(100)).await;
    publisher
        .roundtrip(&cmd(&["PUBLISH", "c", "still here"]), b":1\r\n")
        .await;
    // Subscription confirmations are never silenced (as in Redis); the SET and GET answers are.
    let expected: &[u8] = b"*3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$10\r\nstill here\r\n";
    assert_eq!(
        String::from_utf8_lossy(&c.read_exact_len(expected.len()).await),
        String::from_utf8_lossy(expected)
    );
    c.roundtrip(
        &cmd(&["UNSUBSCRIBE"]),
        b"*3\r\n$11\r\nunsubscribe\r\n$1\r\nc\r\n:0\r\n",
    )
    .await;
    c.roundtrip(&cmd(&["CLIENT", "REPLY", "ON"]), b"+OK\r\n")
        .await;
    c.roundtrip(&cmd(&["GET", "a"]), b"$1\r\n1\r\n").await;
}

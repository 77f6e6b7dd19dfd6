//! Wire-level behaviour: pipelining, binary safety, RESP3, inline commands, bad frames, many
//! clients at once, QUIT, and graceful shutdown.

mod resp_support;

use redis::{AsyncCommands, Value};
use resp_support::{Raw, frame, start, start_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_of_a_thousand_commands() {
    let server = start().await;
    let mut con = server.connection().await;
    let mut pipe = redis::pipe();
    for i in 0..500 {
        pipe.set(format!("key:{i}"), format!("value:{i}")).ignore();
    }
    for i in 0..500 {
        pipe.get(format!("key:{i}"));
    }
    let values: Vec<String> = pipe.query_async(&mut con).await.unwrap();
    assert_eq!(values.len(), 500);
    for (i, v) in values.iter().enumerate() {
        assert_eq!(v, &format!("value:{i}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_and_values_are_binary_safe() {
    let server = start().await;
    let mut con = server.connection().await;
    let key: Vec<u8> = vec![0, 255, b'\r', b'\n', b' ', 7];
    let value: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
    let () = con.set(&key, &value).await.unwrap();
    let got: Vec<u8> = con.get(&key).await.unwrap();
    assert_eq!(got, value);
    let empty: Vec<u8> = Vec::new();
    let () = con.set("empty", &empty).await.unwrap();
    let got: Vec<u8> = con.get("empty").await.unwrap();
    assert!(got.is_empty());
    assert!(con.exists::<_, bool>("empty").await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resp3_through_hello_on_the_wire() {
    let server = start().await;
    let mut raw = Raw::connect(server.addr).await;
    raw.roundtrip(&frame(&[b"GET", b"nope"]), b"$-1\r\n").await;
    raw.send(&frame(&[
        b"HELLO", b"3", b"AUTH", b"default", b"pw", b"SETNAME", b"me",
    ]))
    .await;
    let hello = raw
        .read_exact_len(b"%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n".len())
        .await;
    assert_eq!(hello, b"%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n");
    // Drain the rest of the HELLO map up to the end marker (modules: empty array).
    let mut rest = Vec::new();
    while !rest.ends_with(b"$7\r\nmodules\r\n*0\r\n") {
        rest.extend(raw.read_exact_len(1).await);
    }
    let rest = String::from_utf8_lossy(&rest).into_owned();
    assert!(rest.contains("$5\r\nproto\r\n:3\r\n"), "{rest}");
    raw.roundtrip(&frame(&[b"GET", b"nope"]), b"_\r\n").await;
    raw.roundtrip(&frame(&[b"MGET", b"nope", b"nope"]), b"*2\r\n_\r\n_\r\n")
        .await;
    raw.roundtrip(&frame(&[b"CLIENT", b"GETNAME"]), b"$2\r\nme\r\n")
        .await;
    raw.roundtrip(
        &frame(&[b"CONFIG", b"GET", b"save"]),
        b"%1\r\n$4\r\nsave\r\n$0\r\n\r\n",
    )
    .await;
    raw.roundtrip(
        &frame(&[b"HELLO", b"4"]),
        b"-NOPROTO unsupported protocol version\r\n",
    )
    .await;
    raw.roundtrip(
        &frame(&[b"HELLO", b"2", b"SETNAME"]),
        b"-ERR Syntax error in HELLO option 'SETNAME'\r\n",
    )
    .await;
    raw.send(&frame(&[b"HELLO", b"2"])).await;
    let _ = raw.read_exact_len(b"*14\r\n".len()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resp3_through_the_redis_crate() {
    let server = start().await;
    let client = redis::Client::open(format!("redis://{}/?protocol=resp3", server.addr)).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let () = con.set("k", "v").await.unwrap();
    let value: Value = redis::cmd("GET")
        .arg("nope")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(value, Value::Nil);
    let info: Value = redis::cmd("HELLO")
        .arg(3)
        .query_async(&mut con)
        .await
        .unwrap();
    assert!(matches!(info, Value::Map(_)), "{info:?}");
    assert_eq!(con.get::<_, String>("k").await.unwrap(), "v");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inline_commands_and_split_frames() {
    let server = start().await;
    let mut raw = Raw::connect(server.addr).await;
    raw.roundtrip(b"PING\r\n", b"+PONG\r\n").await;
    raw.roundtrip(b"set greeting hello\n", b"+OK\r\n").await;
    raw.roundtrip(b"  GET   greeting  \r\n", b"$5\r\nhello\r\n")
        .await;
    raw.roundtrip(b"\r\nECHO x\r\n", b"$1\r\nx\r\n").await;
    // Quotes group an argument and unescape, as redis-cli and Redis itself split them.
    raw.roundtrip(b"SET q \"two words\\n\"\r\n", b"+OK\r\n")
        .await;
    raw.roundtrip(b"GET 'q'\r\n", b"$10\r\ntwo words\n\r\n")
        .await;
    // A frame that arrives a byte at a time is answered once complete.
    let request = frame(&[b"SET", b"slow", b"value"]);
    for byte in &request {
        raw.send(std::slice::from_ref(byte)).await;
    }
    raw.roundtrip(b"", b"+OK\r\n").await;
    // Several frames in one write, answered in order.
    let mut batch = frame(&[b"INCR", b"n"]);
    batch.extend(frame(&[b"INCR", b"n"]));
    batch.extend(b"GET n\r\n");
    raw.roundtrip(&batch, b":1\r\n:2\r\n$1\r\n2\r\n").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quit_closes_after_replying() {
    let server = start().await;
    let mut raw = Raw::connect(server.addr).await;
    let mut batch = frame(&[b"SET", b"a", b"1"]);
    batch.extend(frame(&[b"QUIT"]));
    batch.extend(frame(&[b"SET", b"b", b"2"]));
    raw.send(&batch).await;
    assert_eq!(raw.read_to_close().await, b"+OK\r\n+OK\r\n");
    // Commands after QUIT were not executed.
    let mut con = server.connection().await;
    assert!(con.exists::<_, bool>("a").await.unwrap());
    assert!(!con.exists::<_, bool>("b").await.unwrap());
}

/// Each bad frame gets `-ERR Protocol error` and loses its own connection; a client connected all
/// along keeps working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_close_only_their_connection() {
    let limits = larder::resp::RespLimits {
        max_bulk_len: 1024,
        max_args: 16,
        max_inline_len: 256,
        max_request_len: 4096,
    };
    let server = start_with(limits).await;
    let mut bystander = server.connection().await;
    let () = bystander.set("survivor", "yes").await.unwrap();

    let cases: &[(&[u8], &str)] = &[
        (b"*1\r\n+PING\r\n", "expected '$', got '+'"),
        (b"*x\r\n", "invalid multibulk length"),
        (b"*1\r\n$abc\r\n", "invalid bulk length"),
        (b"*1\r\n$4\r\nPINGxx", "expected CRLF after bulk data"),
        (
            b"*1\r\n$2000\r\n",
            "invalid bulk length: 2000 bytes (the limit is 1024)",
        ),
        (
            b"*17\r\n",
            "invalid multibulk length: 17 arguments (the limit is 16)",
        ),
        (b"SET \"unterminated\r\n", "unbalanced quotes in request"),
        (&[b'A'; 300], "too big inline request"),
        (b"*5\r\n$1000\r\n", "request exceeds the 4096-byte limit"),
    ];
    for (garbage, message) in cases {
        let mut raw = Raw::connect(server.addr).await;
        // A good command first: its reply arrives before the error.
        let mut request = frame(&[b"PING"]);
        request.extend_from_slice(garbage);
        if message.starts_with("request exceeds") {
            // Four 1000-byte arguments fit, the fifth does not.
            request = frame(&[b"PING"]);
            request.extend_from_slice(b"*5\r\n");
            for _ in 0..4 {
                request.extend_from_slice(format!("$1000\r\n{}\r\n", "x".repeat(1000)).as_bytes());
            }
            request.extend_from_slice(b"$1000\r\n");
        }
        raw.send(&request).await;
        let reply = raw.read_to_close().await;
        let expected = format!("+PONG\r\n-ERR Protocol error: {message}\r\n");
        assert_eq!(String::from_utf8_lossy(&reply), expected);
        assert_eq!(bystander.get::<_, String>("survivor").await.unwrap(), "yes");
    }
    // And new clients are still served.
    let mut fresh = server.connection().await;
    assert_eq!(fresh.get::<_, String>("survivor").await.unwrap(), "yes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_clients_at_once() {
    let server = start().await;
    let mut tasks = Vec::new();
    for c in 0..16 {
        let client = server.client();
        tasks.push(tokio::spawn(async move {
            let mut con = client.get_multiplexed_async_connection().await.unwrap();
            for i in 0..200 {
                let () = con.set(format!("c{c}:{i}"), i).await.unwrap();
                let _: i64 = con.incr("shared", 1).await.unwrap();
            }
            for i in 0..200 {
                let v: i64 = con.get(format!("c{c}:{i}")).await.unwrap();
                assert_eq!(v, i);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let mut con = server.connection().await;
    assert_eq!(con.get::<_, i64>("shared").await.unwrap(), 16 * 200);
    let size: i64 = redis::cmd("DBSIZE").query_async(&mut con).await.unwrap();
    assert_eq!(size, 16 * 200 + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_and_latency_reach_the_metrics() {
    let server = start().await;
    let mut con = server.connection().await;
    let () = con.set("k", "v").await.unwrap();
    assert_eq!(server.state.metrics.resp_connections.get(), 1);
    drop(con);
    // The connection gauge drops once the server notices the close; poll a bounded number of times.
    let mut closed = false;
    for _ in 0..200 {
        if server.state.metrics.resp_connections.get() == 0 {
            closed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(closed, "connection gauge never went back to 0");
    // Latency histograms are flushed when a connection ends.
    let text = server.state.metrics.render();
    assert!(
        text.contains("larder_request_duration_seconds_count{op=\"set\",protocol=\"resp\"} 1"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_the_batch_and_returns() {
    let server = start().await;
    let mut raw = Raw::connect(server.addr).await;
    raw.roundtrip(&frame(&[b"SET", b"k", b"v"]), b"+OK\r\n")
        .await;
    let addr = server.addr;
    server.shut_down().await.unwrap();
    // The idle connection was closed, and nobody accepts on the port any more.
    assert_eq!(raw.read_to_close().await, b"");
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

//! Blocking pops through real connections: BLPOP, BLMOVE, BZPOPMIN and friends wait for a write
//! to one of their keys from another client, time out with nil, never wait inside MULTI/EXEC,
//! hold back what was pipelined behind them, and wake exactly one waiter per element.

mod resp_support;

use std::time::{Duration, Instant};

use redis::Value;
use resp_support::{expect_error, query, start};

fn bulk(s: &str) -> Value {
    Value::BulkString(s.as_bytes().to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_pop_is_served_by_a_push_from_another_client() {
    let server = start().await;
    let mut waiter = server.connection().await;
    let mut pusher = server.connection().await;
    let started = Instant::now();
    let blocked = tokio::spawn(async move {
        let got: Value = query(&mut waiter, &["BLPOP", "empty", "jobs", "5"])
            .await
            .unwrap();
        got
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let info: String = query(&mut pusher, &["INFO", "clients"]).await.unwrap();
    assert!(info.contains("blocked_clients:1"), "{info}");
    let _: i64 = query(&mut pusher, &["RPUSH", "jobs", "j1", "j2"])
        .await
        .unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), blocked)
        .await
        .expect("woken by the push")
        .unwrap();
    assert_eq!(got, Value::Array(vec![bulk("jobs"), bulk("j1")]));
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "served at the push, not at the timeout"
    );
    let left: Vec<String> = query(&mut pusher, &["LRANGE", "jobs", "0", "-1"])
        .await
        .unwrap();
    assert_eq!(left, ["j2"]);
    let info: String = query(&mut pusher, &["INFO", "clients"]).await.unwrap();
    assert!(info.contains("blocked_clients:0"), "{info}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_answer_nil_and_multi_never_waits() {
    let server = start().await;
    let mut con = server.connection().await;
    let started = Instant::now();
    let got: Value = query(&mut con, &["BLPOP", "nothing", "0.2"]).await.unwrap();
    assert_eq!(got, Value::Nil);
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(200), "waited {waited:?}");
    let got: Value = query(&mut con, &["BZPOPMIN", "nothing", "0.1"])
        .await
        .unwrap();
    assert_eq!(got, Value::Nil);
    let got: Value = query(
        &mut con,
        &["BLMOVE", "nothing", "dst", "LEFT", "RIGHT", "0.1"],
    )
    .await
    .unwrap();
    assert_eq!(got, Value::Nil);
    // Inside a transaction a blocking command answers its timeout at once, even "for ever".
    let started = Instant::now();
    let (got,): (Value,) = redis::pipe()
        .atomic()
        .cmd("BLPOP")
        .arg("nothing")
        .arg(0)
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(got, Value::Nil);
    assert!(started.elapsed() < Duration::from_secs(2));
    // Argument errors and kinds, as Redis words them.
    expect_error(&mut con, &["BLPOP", "q", "-1"], "ERR timeout is negative").await;
    expect_error(
        &mut con,
        &["BLPOP", "q", "soon"],
        "ERR timeout is not a float or out of range",
    )
    .await;
    let () = query(&mut con, &["SET", "s", "v"]).await.unwrap();
    expect_error(
        &mut con,
        &["BLPOP", "s", "1"],
        "WRONGTYPE Operation against a key holding the wrong kind of value",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_blocking_form_wakes_on_its_write() {
    let server = start().await;
    let mut writer = server.connection().await;
    // Each: the blocking command, the write that serves it, what it answers.
    let cases: Vec<(Vec<&str>, Vec<&str>, Value)> = vec![
        (
            vec!["BRPOP", "l1", "5"],
            vec!["LPUSH", "l1", "a", "b"],
            Value::Array(vec![bulk("l1"), bulk("a")]),
        ),
        (
            vec!["BLMPOP", "5", "2", "none", "l2", "RIGHT", "COUNT", "2"],
            vec!["RPUSH", "l2", "a", "b", "c"],
            Value::Array(vec![bulk("l2"), Value::Array(vec![bulk("c"), bulk("b")])]),
        ),
        (
            vec!["BRPOPLPUSH", "l3", "l3dst", "5"],
            vec!["RPUSH", "l3", "x"],
            bulk("x"),
        ),
        (
            vec!["BZPOPMAX", "z1", "5"],
            vec!["ZADD", "z1", "1", "low", "9", "high"],
            Value::Array(vec![bulk("z1"), bulk("high"), bulk("9")]),
        ),
        (
            vec!["BZMPOP", "5", "1", "z2", "MIN", "COUNT", "5"],
            vec!["ZADD", "z2", "2", "b", "1", "a"],
            Value::Array(vec![
                bulk("z2"),
                Value::Array(vec![
                    Value::Array(vec![bulk("a"), bulk("1")]),
                    Value::Array(vec![bulk("b"), bulk("2")]),
                ]),
            ]),
        ),
    ];
    for (block, write, expected) in cases {
        let mut waiter = server.connection().await;
        let args: Vec<String> = block.iter().map(|s| s.to_string()).collect();
        let blocked = tokio::spawn(async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            query::<Value>(&mut waiter, &args).await.unwrap()
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        let _: Value = query(&mut writer, &write).await.unwrap();
        let got = tokio::time::timeout(Duration::from_secs(4), blocked)
            .await
            .unwrap_or_else(|_| panic!("{block:?} not woken by {write:?}"))
            .unwrap();
        assert_eq!(got, expected, "{block:?}");
    }
    let moved: Vec<String> = query(&mut writer, &["LRANGE", "l3dst", "0", "-1"])
        .await
        .unwrap();
    assert_eq!(moved, ["x"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_element_wakes_one_waiter_and_pipelined_commands_wait_their_turn() {
    let server = start().await;
    let mut a = server.connection().await;
    let mut b = server.connection().await;
    let mut writer = server.connection().await;
    let first =
        tokio::spawn(async move { query::<Value>(&mut a, &["BLPOP", "q", "5"]).await.unwrap() });
    let second =
        tokio::spawn(async move { query::<Value>(&mut b, &["BLPOP", "q", "5"]).await.unwrap() });
    tokio::time::sleep(Duration::from_millis(150)).await;
    let _: i64 = query(&mut writer, &["RPUSH", "q", "one"]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let done = [first.is_finished(), second.is_finished()];
    assert_eq!(
        done.iter().filter(|d| **d).count(),
        1,
        "one element, one waiter served: {done:?}"
    );
    let _: i64 = query(&mut writer, &["RPUSH", "q", "two"]).await.unwrap();
    let mut got = vec![
        tokio::time::timeout(Duration::from_secs(4), first)
            .await
            .unwrap()
            .unwrap(),
        tokio::time::timeout(Duration::from_secs(4), second)
            .await
            .unwrap()
            .unwrap(),
    ];
    got.sort_by_key(|v| format!("{v:?}"));
    assert_eq!(
        got,
        [
            Value::Array(vec![bulk("q"), bulk("one")]),
            Value::Array(vec![bulk("q"), bulk("two")]),
        ]
    );

    // A command pipelined behind a blocked one runs only after it.
    let client = server.client();
    let mut piped = client.get_multiplexed_async_connection().await.unwrap();
    let pipeline = tokio::spawn(async move {
        redis::pipe()
            .cmd("BLPOP")
            .arg("later")
            .arg(5)
            .cmd("LLEN")
            .arg("later")
            .query_async::<(Value, i64)>(&mut piped)
            .await
            .unwrap()
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    let _: i64 = query(&mut writer, &["RPUSH", "later", "a", "b"])
        .await
        .unwrap();
    let (popped, len) = tokio::time::timeout(Duration::from_secs(4), pipeline)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(popped, Value::Array(vec![bulk("later"), bulk("a")]));
    assert_eq!(len, 1, "LLEN ran after the pop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_leaves_while_blocked_is_forgotten() {
    let server = start().await;
    let mut observer = server.connection().await;
    {
        let mut raw = resp_support::Raw::connect(server.addr).await;
        raw.send(b"BLPOP gone 0\r\n").await;
        tokio::time::sleep(Duration::from_millis(150)).await;
        let info: String = query(&mut observer, &["INFO", "clients"]).await.unwrap();
        assert!(info.contains("blocked_clients:1"), "{info}");
    }
    // The socket closed: the server notices and unregisters the client.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let info: String = query(&mut observer, &["INFO", "clients"]).await.unwrap();
        if info.contains("blocked_clients:0") {
            break;
        }
        assert!(Instant::now() < deadline, "still blocked: {info}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // And a later push is not lost to it.
    let _: i64 = query(&mut observer, &["RPUSH", "gone", "kept"])
        .await
        .unwrap();
    let n: i64 = query(&mut observer, &["LLEN", "gone"]).await.unwrap();
    assert_eq!(n, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_woken_client_that_finds_another_kind_keeps_waiting() {
    let server = start().await;
    let mut waiter = server.connection().await;
    let mut writer = server.connection().await;
    let blocked = tokio::spawn(async move {
        query::<Value>(&mut waiter, &["BLPOP", "k", "5"])
            .await
            .unwrap()
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    // One transaction pushes, deletes and makes the key a string: the waiter is woken, finds a
    // string, and (as in Redis) waits on instead of failing.
    let _: Value = redis::pipe()
        .atomic()
        .cmd("LPUSH")
        .arg("k")
        .arg("x")
        .cmd("DEL")
        .arg("k")
        .cmd("SET")
        .arg("k")
        .arg("s")
        .query_async(&mut writer)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!blocked.is_finished(), "still waiting");
    let _: i64 = query(&mut writer, &["DEL", "k"]).await.unwrap();
    let _: i64 = query(&mut writer, &["RPUSH", "k", "late"]).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(4), blocked)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, Value::Array(vec![bulk("k"), bulk("late")]));
}

//! Every data command through the `redis` crate: options, replies and Redis-style errors.

mod resp_support;

use redis::{AsyncCommands, Value, cmd};
use resp_support::{error_text, expect_error, query, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_set_and_set_options() {
    let server = start().await;
    let mut con = server.connection().await;

    let missing: Option<String> = con.get("nope").await.unwrap();
    assert_eq!(missing, None);
    let () = con.set("k", "v1").await.unwrap();
    assert_eq!(con.get::<_, String>("k").await.unwrap(), "v1");

    // NX: only when absent; a refused SET replies nil.
    let r: Option<String> = query(&mut con, &["SET", "k", "v2", "NX"]).await.unwrap();
    assert_eq!(r, None);
    let r: Option<String> = query(&mut con, &["SET", "fresh", "x", "NX"]).await.unwrap();
    assert_eq!(r.as_deref(), Some("OK"));
    // XX: only when present.
    let r: Option<String> = query(&mut con, &["SET", "absent", "x", "XX"])
        .await
        .unwrap();
    assert_eq!(r, None);
    assert!(!con.exists::<_, bool>("absent").await.unwrap());
    let r: Option<String> = query(&mut con, &["SET", "k", "v2", "XX"]).await.unwrap();
    assert_eq!(r.as_deref(), Some("OK"));
    // GET returns the old value (nil for a new key).
    let old: Option<String> = query(&mut con, &["SET", "k", "v3", "GET"]).await.unwrap();
    assert_eq!(old.as_deref(), Some("v2"));
    let old: Option<String> = query(&mut con, &["SET", "new", "n", "GET"]).await.unwrap();
    assert_eq!(old, None);
    // NX + GET on an existing key: not written, old value returned.
    let old: Option<String> = query(&mut con, &["SET", "k", "zzz", "NX", "GET"])
        .await
        .unwrap();
    assert_eq!(old.as_deref(), Some("v3"));
    assert_eq!(con.get::<_, String>("k").await.unwrap(), "v3");

    // EX / PX set a TTL; KEEPTTL keeps it; a plain SET clears it.
    let () = query(&mut con, &["SET", "t", "1", "EX", "100"])
        .await
        .unwrap();
    let ttl: i64 = con.ttl("t").await.unwrap();
    assert!((99..=100).contains(&ttl), "ttl {ttl}");
    let () = query(&mut con, &["SET", "t", "2", "KEEPTTL"])
        .await
        .unwrap();
    let pttl: i64 = con.pttl("t").await.unwrap();
    assert!(pttl > 90_000 && pttl <= 100_000, "pttl {pttl}");
    let () = query(&mut con, &["SET", "t", "3", "PX", "50000"])
        .await
        .unwrap();
    let pttl: i64 = con.pttl("t").await.unwrap();
    assert!(pttl > 40_000 && pttl <= 50_000, "pttl {pttl}");
    let () = con.set("t", "4").await.unwrap();
    assert_eq!(con.ttl::<_, i64>("t").await.unwrap(), -1);

    // EXAT / PXAT: absolute Unix times.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let exat = (now.as_secs() + 200).to_string();
    let () = query(&mut con, &["SET", "abs", "v", "EXAT", &exat])
        .await
        .unwrap();
    let ttl: i64 = con.ttl("abs").await.unwrap();
    assert!((198..=200).contains(&ttl), "ttl {ttl}");
    let pxat = (now.as_millis() as u64 + 300_000).to_string();
    let () = query(&mut con, &["SET", "abs", "v", "PXAT", &pxat])
        .await
        .unwrap();
    let ttl: i64 = con.ttl("abs").await.unwrap();
    assert!((298..=300).contains(&ttl), "ttl {ttl}");
    // An absolute time in the past writes nothing that can be read.
    let () = query(&mut con, &["SET", "abs", "v", "EXAT", "1000"])
        .await
        .unwrap();
    assert!(!con.exists::<_, bool>("abs").await.unwrap());

    expect_error(
        &mut con,
        &["SET", "k", "v", "EX", "0"],
        "ERR invalid expire time in 'set' command",
    )
    .await;
    expect_error(
        &mut con,
        &["SET", "k", "v", "PX", "-5"],
        "ERR invalid expire time in 'set' command",
    )
    .await;
    expect_error(
        &mut con,
        &["SET", "k", "v", "EX", "ten"],
        "ERR value is not an integer or out of range",
    )
    .await;
    expect_error(&mut con, &["SET", "k", "v", "NX", "XX"], "ERR syntax error").await;
    expect_error(
        &mut con,
        &["SET", "k", "v", "EX", "1", "PX", "1"],
        "ERR syntax error",
    )
    .await;
    expect_error(
        &mut con,
        &["SET", "k", "v", "EX", "1", "KEEPTTL"],
        "ERR syntax error",
    )
    .await;
    expect_error(
        &mut con,
        &["SET", "k", "v", "KEEPTTL", "EX", "1"],
        "ERR syntax error",
    )
    .await;
    expect_error(&mut con, &["SET", "k", "v", "EX"], "ERR syntax error").await;
    expect_error(&mut con, &["SET", "k", "v", "BOGUS"], "ERR syntax error").await;
    expect_error(
        &mut con,
        &["SET", "k"],
        "ERR wrong number of arguments for 'set' command",
    )
    .await;
    expect_error(
        &mut con,
        &["GET"],
        "ERR wrong number of arguments for 'get' command",
    )
    .await;
    expect_error(
        &mut con,
        &["GET", "a", "b"],
        "ERR wrong number of arguments for 'get' command",
    )
    .await;
    // The value is unchanged by all the refused commands.
    assert_eq!(con.get::<_, String>("k").await.unwrap(), "v3");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setnx_setex_psetex() {
    let server = start().await;
    let mut con = server.connection().await;
    assert_eq!(
        query::<i64>(&mut con, &["SETNX", "a", "1"]).await.unwrap(),
        1
    );
    assert_eq!(
        query::<i64>(&mut con, &["SETNX", "a", "2"]).await.unwrap(),
        0
    );
    assert_eq!(con.get::<_, String>("a").await.unwrap(), "1");
    let () = query(&mut con, &["SETEX", "b", "100", "v"]).await.unwrap();
    assert!((99..=100).contains(&con.ttl::<_, i64>("b").await.unwrap()));
    let () = query(&mut con, &["PSETEX", "c", "100000", "v"])
        .await
        .unwrap();
    assert!((99..=100).contains(&con.ttl::<_, i64>("c").await.unwrap()));
    expect_error(
        &mut con,
        &["SETEX", "b", "0", "v"],
        "ERR invalid expire time in 'setex' command",
    )
    .await;
    expect_error(
        &mut con,
        &["PSETEX", "b", "-1", "v"],
        "ERR invalid expire time in 'psetex' command",
    )
    .await;
    expect_error(
        &mut con,
        &["SETEX", "b", "x", "v"],
        "ERR value is not an integer or out of range",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn del_exists_touch_mget_mset() {
    let server = start().await;
    let mut con = server.connection().await;
    let () = query(&mut con, &["MSET", "a", "1", "b", "2", "c", "3"])
        .await
        .unwrap();
    let values: Vec<Option<String>> = query(&mut con, &["MGET", "a", "nope", "c", "b"])
        .await
        .unwrap();
    assert_eq!(
        values,
        vec![Some("1".into()), None, Some("3".into()), Some("2".into())]
    );
    // EXISTS counts every mention.
    assert_eq!(
        query::<i64>(&mut con, &["EXISTS", "a", "a", "nope", "b"])
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        query::<i64>(&mut con, &["TOUCH", "a", "nope", "c"])
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        query::<i64>(&mut con, &["DEL", "a", "b", "nope"])
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        query::<i64>(&mut con, &["UNLINK", "c", "a"]).await.unwrap(),
        1
    );
    assert_eq!(
        query::<i64>(&mut con, &["EXISTS", "a", "b", "c"])
            .await
            .unwrap(),
        0
    );
    expect_error(
        &mut con,
        &["MSET", "a", "1", "b"],
        "ERR wrong number of arguments for 'mset' command",
    )
    .await;
    expect_error(
        &mut con,
        &["MGET"],
        "ERR wrong number of arguments for 'mget' command",
    )
    .await;
    expect_error(
        &mut con,
        &["DEL"],
        "ERR wrong number of arguments for 'del' command",
    )
    .await;
    expect_error(
        &mut con,
        &["EXISTS"],
        "ERR wrong number of arguments for 'exists' command",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters() {
    let server = start().await;
    let mut con = server.connection().await;
    assert_eq!(query::<i64>(&mut con, &["INCR", "n"]).await.unwrap(), 1);
    assert_eq!(
        query::<i64>(&mut con, &["INCRBY", "n", "41"])
            .await
            .unwrap(),
        42
    );
    assert_eq!(query::<i64>(&mut con, &["DECR", "n"]).await.unwrap(), 41);
    assert_eq!(
        query::<i64>(&mut con, &["DECRBY", "n", "50"])
            .await
            .unwrap(),
        -9
    );
    assert_eq!(
        query::<i64>(&mut con, &["DECR", "fresh"]).await.unwrap(),
        -1
    );
    assert_eq!(con.get::<_, String>("n").await.unwrap(), "-9");
    // A counter keeps its TTL.
    let () = query(&mut con, &["SET", "ttl-counter", "5", "EX", "100"])
        .await
        .unwrap();
    assert_eq!(
        query::<i64>(&mut con, &["INCR", "ttl-counter"])
            .await
            .unwrap(),
        6
    );
    assert!(con.ttl::<_, i64>("ttl-counter").await.unwrap() > 90);

    let () = con.set("text", "hello").await.unwrap();
    expect_error(
        &mut con,
        &["INCR", "text"],
        "ERR value is not an integer or out of range",
    )
    .await;
    expect_error(
        &mut con,
        &["INCRBY", "n", "1.5"],
        "ERR value is not an integer or out of range",
    )
    .await;
    expect_error(
        &mut con,
        &["INCRBY", "n", "+1"],
        "ERR value is not an integer or out of range",
    )
    .await;
    let () = con.set("max", i64::MAX.to_string()).await.unwrap();
    expect_error(
        &mut con,
        &["INCR", "max"],
        "ERR increment or decrement would overflow",
    )
    .await;
    expect_error(
        &mut con,
        &["DECRBY", "n", "-9223372036854775808"],
        "ERR decrement would overflow",
    )
    .await;
    expect_error(
        &mut con,
        &["INCRBY", "n"],
        "ERR wrong number of arguments for 'incrby' command",
    )
    .await;
    assert_eq!(
        con.get::<_, String>("max").await.unwrap(),
        i64::MAX.to_string()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expire_family_and_ttl() {
    let server = start().await;
    let mut con = server.connection().await;
    assert_eq!(
        query::<i64>(&mut con, &["TTL", "missing"]).await.unwrap(),
        -2
    );
    assert_eq!(
        query::<i64>(&mut con, &["PTTL", "missing"]).await.unwrap(),
        -2
    );
    assert_eq!(
        query::<i64>(&mut con, &["EXPIRE", "missing", "10"])
            .await
            .unwrap(),
        0
    );
    let () = con.set("k", "v").await.unwrap();
    assert_eq!(query::<i64>(&mut con, &["TTL", "k"]).await.unwrap(), -1);
    assert_eq!(query::<i64>(&mut con, &["PERSIST", "k"]).await.unwrap(), 0);
    assert_eq!(
        query::<i64>(&mut con, &["EXPIRE", "k", "100"])
            .await
            .unwrap(),
        1
    );
    assert!((99..=100).contains(&query::<i64>(&mut con, &["TTL", "k"]).await.unwrap()));
    assert_eq!(
        query::<i64>(&mut con, &["PEXPIRE", "k", "200000"])
            .await
            .unwrap(),
        1
    );
    assert!((199..=200).contains(&query::<i64>(&mut con, &["TTL", "k"]).await.unwrap()));
    // Conditions.
    assert_eq!(
        query::<i64>(&mut con, &["EXPIRE", "k", "50", "NX"])
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        query::<i64>(&mut con, &["EXPIRE", "k", "50", "GT"])
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        query::<i64>(&mut con, &["EXPIRE", "k", "50", "LT"])
            .await
            .unwrap(),
        1
    );
    assert!((49..=50).contains(&query::<i64>(&mut con, &["TTL", "k"]).await.unwrap()));
    assert_eq!(
        query::<i64>(&mut con, &["EXPIRE", "k", "300", "XX"])
            .await
            .unwrap(),
        1
    );
    assert_eq!(query::<i64>(&mut con, &["PERSIST", "k"]).await.unwrap(), 1);
    assert_eq!(query::<i64>(&mut con, &["TTL", "k"]).await.unwrap(), -1);
    assert_eq!(
        query::<i64>(&mut con, &["EXPIRE", "k", "10", "XX"])
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        query::<i64>(&mut con, &["EXPIRE", "k", "10", "GT"])
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        query::<i64>(&mut con, &["EXPIRE", "k", "10", "NX"])
            .await
            .unwrap(),
        1
    );
    // Absolute times.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let at = (now.as_secs() + 500).to_string();
    assert_eq!(
        query::<i64>(&mut con, &["EXPIREAT", "k", &at])
            .await
            .unwrap(),
        1
    );
    assert!((498..=500).contains(&query::<i64>(&mut con, &["TTL", "k"]).await.unwrap()));
    let pat = (now.as_millis() as u64 + 600_000).to_string();
    assert_eq!(
        query::<i64>(&mut con, &["PEXPIREAT", "k", &pat])
            .await
            .unwrap(),
        1
    );
    assert!((598..=600).contains(&query::<i64>(&mut con, &["TTL", "k"]).await.unwrap()));
    // A time that is not in the future deletes the key, as in Redis.
    assert_eq!(
        query::<i64>(&mut con, &["EXPIRE", "k", "0"]).await.unwrap(),
        1
    );
    assert_eq!(query::<i64>(&mut con, &["EXISTS", "k"]).await.unwrap(), 0);
    let () = con.set("k2", "v").await.unwrap();
    assert_eq!(
        query::<i64>(&mut con, &["EXPIREAT", "k2", "1"])
            .await
            .unwrap(),
        1
    );
    assert_eq!(query::<i64>(&mut con, &["EXISTS", "k2"]).await.unwrap(), 0);

    expect_error(
        &mut con,
        &["EXPIRE", "k", "soon"],
        "ERR value is not an integer or out of range",
    )
    .await;
    expect_error(
        &mut con,
        &["EXPIRE", "k", "10", "NX", "XX"],
        "ERR NX and XX, GT or LT options at the same time are not compatible",
    )
    .await;
    expect_error(
        &mut con,
        &["EXPIRE", "k", "10", "GT", "LT"],
        "ERR GT and LT options at the same time are not compatible",
    )
    .await;
    expect_error(
        &mut con,
        &["EXPIRE", "k", "10", "SOON"],
        "ERR Unsupported option SOON",
    )
    .await;
    expect_error(
        &mut con,
        &["EXPIRE", "k", "9223372036854775807"],
        "ERR invalid expire time in 'expire' command",
    )
    .await;
    expect_error(
        &mut con,
        &["TTL"],
        "ERR wrong number of arguments for 'ttl' command",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn getex_slides_a_session() {
    let server = start().await;
    let mut con = server.connection().await;
    let missing: Option<String> = query(&mut con, &["GETEX", "session", "EX", "100"])
        .await
        .unwrap();
    assert_eq!(missing, None);
    let () = query(&mut con, &["SET", "session", "alice", "EX", "10"])
        .await
        .unwrap();
    let value: String = query(&mut con, &["GETEX", "session", "EX", "1000"])
        .await
        .unwrap();
    assert_eq!(value, "alice");
    assert!((999..=1000).contains(&con.ttl::<_, i64>("session").await.unwrap()));
    let value: String = query(&mut con, &["GETEX", "session", "PX", "5000000"])
        .await
        .unwrap();
    assert_eq!(value, "alice");
    assert!((4999..=5000).contains(&con.ttl::<_, i64>("session").await.unwrap()));
    // Without options GETEX is GET and leaves the TTL alone.
    let value: String = query(&mut con, &["GETEX", "session"]).await.unwrap();
    assert_eq!(value, "alice");
    assert!((4999..=5000).contains(&con.ttl::<_, i64>("session").await.unwrap()));
    let value: String = query(&mut con, &["GETEX", "session", "PERSIST"])
        .await
        .unwrap();
    assert_eq!(value, "alice");
    assert_eq!(con.ttl::<_, i64>("session").await.unwrap(), -1);
    // An absolute time in the past returns the value and removes the key.
    let value: String = query(&mut con, &["GETEX", "session", "EXAT", "1"])
        .await
        .unwrap();
    assert_eq!(value, "alice");
    assert!(!con.exists::<_, bool>("session").await.unwrap());

    expect_error(
        &mut con,
        &["GETEX", "k", "EX", "0"],
        "ERR invalid expire time in 'getex' command",
    )
    .await;
    expect_error(&mut con, &["GETEX", "k", "EX"], "ERR syntax error").await;
    expect_error(
        &mut con,
        &["GETEX", "k", "PERSIST", "EX", "1"],
        "ERR syntax error",
    )
    .await;
    expect_error(&mut con, &["GETEX", "k", "KEEP", "1"], "ERR syntax error").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_limits_are_reported_as_errors() {
    let server = start().await;
    let mut con = server.connection().await;
    // The default namespace allows items up to 1 MiB.
    let big = vec![b'x'; 2 * 1024 * 1024];
    let err = cmd("SET")
        .arg("big")
        .arg(&big)
        .query_async::<()>(&mut con)
        .await
        .unwrap_err();
    let text = error_text(&err);
    assert!(text.starts_with("ERR value is"), "{text}");
    assert!(text.contains("max item size"), "{text}");
    let long_key = "k".repeat(100_000);
    let err = cmd("SET")
        .arg(&long_key)
        .arg("v")
        .query_async::<()>(&mut con)
        .await
        .unwrap_err();
    assert!(
        error_text(&err).starts_with("ERR key is"),
        "{}",
        error_text(&err)
    );
    // The connection is still fine.
    let () = con.set("ok", "yes").await.unwrap();
    assert_eq!(con.get::<_, String>("ok").await.unwrap(), "yes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_and_connection_commands() {
    let server = start().await;
    let mut con = server.connection().await;
    assert_eq!(query::<String>(&mut con, &["PING"]).await.unwrap(), "PONG");
    assert_eq!(
        query::<String>(&mut con, &["PING", "hi"]).await.unwrap(),
        "hi"
    );
    assert_eq!(
        query::<String>(&mut con, &["ECHO", "hello world"])
            .await
            .unwrap(),
        "hello world"
    );
    expect_error(
        &mut con,
        &["PING", "a", "b"],
        "ERR wrong number of arguments for 'ping' command",
    )
    .await;

    let () = query(&mut con, &["MSET", "a", "1", "b", "2"])
        .await
        .unwrap();
    assert_eq!(query::<i64>(&mut con, &["DBSIZE"]).await.unwrap(), 2);
    let () = query(&mut con, &["FLUSHDB"]).await.unwrap();
    assert_eq!(query::<i64>(&mut con, &["DBSIZE"]).await.unwrap(), 0);
    let () = query(&mut con, &["SET", "a", "1"]).await.unwrap();
    let () = query(&mut con, &["FLUSHALL", "ASYNC"]).await.unwrap();
    assert_eq!(query::<i64>(&mut con, &["DBSIZE"]).await.unwrap(), 0);
    expect_error(&mut con, &["FLUSHDB", "NOW"], "ERR syntax error").await;

    // CLIENT: the redis crate announced itself with CLIENT SETINFO on connect.
    let id: i64 = query(&mut con, &["CLIENT", "ID"]).await.unwrap();
    assert!(id > 0);
    let name: Option<String> = query(&mut con, &["CLIENT", "GETNAME"]).await.unwrap();
    assert_eq!(name, None);
    let () = query(&mut con, &["CLIENT", "SETNAME", "worker-1"])
        .await
        .unwrap();
    assert_eq!(
        query::<String>(&mut con, &["CLIENT", "GETNAME"])
            .await
            .unwrap(),
        "worker-1"
    );
    let () = query(&mut con, &["CLIENT", "SETINFO", "LIB-NAME", "mylib"])
        .await
        .unwrap();
    let info: String = query(&mut con, &["CLIENT", "INFO"]).await.unwrap();
    assert!(info.starts_with(&format!("id={id} ")), "{info}");
    assert!(info.contains(" name=worker-1 "), "{info}");
    assert!(info.contains(" lib-name=mylib "), "{info}");
    assert!(info.contains(" ns=default "), "{info}");
    expect_error(
        &mut con,
        &["CLIENT", "SETNAME", "has space"],
        "ERR Client names cannot contain spaces, newlines or special characters.",
    )
    .await;
    expect_error(
        &mut con,
        &["CLIENT", "SETINFO", "COLOUR", "red"],
        "ERR Unrecognized option 'COLOUR'",
    )
    .await;
    expect_error(
        &mut con,
        &["CLIENT", "DANCE"],
        "ERR unknown subcommand 'DANCE'. Try CLIENT HELP.",
    )
    .await;
    expect_error(
        &mut con,
        &["CLIENT"],
        "ERR wrong number of arguments for 'client' command",
    )
    .await;

    // COMMAND: enough for redis-cli and client libraries.
    let count: i64 = query(&mut con, &["COMMAND", "COUNT"]).await.unwrap();
    let all: Vec<Value> = query(&mut con, &["COMMAND"]).await.unwrap();
    assert_eq!(all.len() as i64, count);
    assert!(count >= 30);
    let info: Vec<Value> = query(&mut con, &["COMMAND", "INFO", "get", "nosuch"])
        .await
        .unwrap();
    match &info[0] {
        Value::Array(entry) => {
            assert_eq!(entry[0], Value::BulkString(b"get".to_vec()));
            assert_eq!(entry[1], Value::Int(2));
        }
        other => panic!("COMMAND INFO get: {other:?}"),
    }
    assert_eq!(info[1], Value::Nil);
    let docs: Value = query(&mut con, &["COMMAND", "DOCS", "set"]).await.unwrap();
    let docs = format!("{docs:?}");
    assert!(
        docs.contains("summary") && docs.contains("string"),
        "{docs}"
    );

    // CONFIG GET answers what redis-benchmark asks (CONFIG SET: see `config_maps_onto_the_namespace`).
    let config: Vec<String> = query(&mut con, &["CONFIG", "GET", "appendonly"])
        .await
        .unwrap();
    assert_eq!(config, vec!["appendonly".to_string(), "no".to_string()]);
    let config: Vec<String> = query(&mut con, &["CONFIG", "GET", "no-such-param"])
        .await
        .unwrap();
    assert!(config.is_empty());

    // AUTH with a user is accepted; a bare password is refused as Redis does without one.
    let () = query(&mut con, &["AUTH", "default", "secret"])
        .await
        .unwrap();
    let err = query::<Value>(&mut con, &["AUTH", "secret"])
        .await
        .unwrap_err();
    assert!(error_text(&err).starts_with("ERR AUTH <password> called without any password"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn info_sections() {
    let server = start().await;
    let mut con = server.connection().await;
    let () = query(&mut con, &["MSET", "a", "1", "b", "2"])
        .await
        .unwrap();
    let _: Option<String> = con.get("a").await.unwrap();
    let _: Option<String> = con.get("missing").await.unwrap();
    let info: String = query(&mut con, &["INFO"]).await.unwrap();
    for section in ["# Server", "# Clients", "# Memory", "# Stats", "# Keyspace"] {
        assert!(info.contains(section), "{section} missing from:\n{info}");
    }
    let field = |name: &str| -> String {
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .unwrap_or_else(|| panic!("{name} missing from:\n{info}"))
            .trim()
            .to_string()
    };
    assert_eq!(field("tcp_port"), server.addr.port().to_string());
    assert_eq!(field("connected_clients"), "1");
    assert_eq!(field("keyspace_hits"), "1");
    assert_eq!(field("keyspace_misses"), "1");
    assert!(field("used_memory").parse::<u64>().unwrap() > 0);
    assert!(
        field("db0").starts_with("keys=2,expires=0,"),
        "{}",
        field("db0")
    );
    let () = query(&mut con, &["SET", "c", "3", "EX", "100"])
        .await
        .unwrap();
    let _: bool = query(&mut con, &["EXPIRE", "a", "100"]).await.unwrap();
    let _: bool = query(&mut con, &["PERSIST", "a"]).await.unwrap();
    let _: bool = query(&mut con, &["EXPIRE", "b", "100"]).await.unwrap();
    let _: i64 = query(&mut con, &["DEL", "b"]).await.unwrap();
    let keyspace: String = query(&mut con, &["INFO", "keyspace"]).await.unwrap();
    assert!(
        keyspace.contains("db0:keys=2,expires=1,"),
        "SET EX counts, PERSIST and DEL uncount: {keyspace}"
    );
    assert!(field("total_connections_received").parse::<u64>().unwrap() >= 1);

    let only: String = query(&mut con, &["INFO", "keyspace"]).await.unwrap();
    assert!(only.starts_with("# Keyspace"));
    assert!(!only.contains("# Server"));
    let two: String = query(&mut con, &["INFO", "server", "clients"])
        .await
        .unwrap();
    assert!(two.contains("# Server") && two.contains("# Clients") && !two.contains("# Stats"));
    let none: String = query(&mut con, &["INFO", "nosuchsection"]).await.unwrap();
    assert_eq!(none, "");

    // Without persistence every change since the start is unsaved; a write that changes
    // nothing is not counted, as in Redis.
    async fn dirty(con: &mut resp_support::Con) -> u64 {
        let info: String = query(con, &["INFO", "persistence"]).await.unwrap();
        info.lines()
            .find_map(|l| l.strip_prefix("rdb_changes_since_last_save:"))
            .expect("rdb_changes_since_last_save")
            .trim()
            .parse()
            .unwrap()
    }
    let before = dirty(&mut con).await;
    assert!(
        before >= 5,
        "MSET, SET, EXPIRE, PERSIST, EXPIRE, DEL made changes: {before}"
    );
    let _: i64 = query(&mut con, &["SETBIT", "bits", "0", "1"])
        .await
        .unwrap();
    assert_eq!(dirty(&mut con).await, before + 1);
    let _: i64 = query(&mut con, &["SETBIT", "bits", "0", "1"])
        .await
        .unwrap();
    assert_eq!(dirty(&mut con).await, before + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_commands_get_a_redis_style_error() {
    let server = start().await;
    let mut con = server.connection().await;
    expect_error(
        &mut con,
        &["FOO", "bar", "baz"],
        "ERR unknown command 'FOO', with args beginning with: 'bar' 'baz' ",
    )
    .await;
    expect_error(
        &mut con,
        &["nosuch"],
        "ERR unknown command 'nosuch', with args beginning with: ",
    )
    .await;
    // The connection survives.
    assert_eq!(query::<String>(&mut con, &["PING"]).await.unwrap(), "PONG");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_maps_onto_the_namespace() {
    let server = start().await;
    let mut con = server.connection().await;
    let default = server.state.namespaces.get("default").unwrap();

    let got: Vec<String> = query(&mut con, &["CONFIG", "GET", "maxmemory"])
        .await
        .unwrap();
    assert_eq!(got[1], default.config().capacity_bytes.to_string());
    let () = query(&mut con, &["CONFIG", "SET", "maxmemory", "64mb"])
        .await
        .unwrap();
    assert_eq!(default.config().capacity_bytes, 64 << 20);
    assert_eq!(default.store().stats().capacity_bytes, 64 << 20);

    let () = query(
        &mut con,
        &["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"],
    )
    .await
    .unwrap();
    assert_eq!(default.config().eviction.to_string(), "lru");
    let got: Vec<String> = query(&mut con, &["CONFIG", "GET", "maxmemory-p*"])
        .await
        .unwrap();
    assert_eq!(
        got,
        vec!["maxmemory-policy".to_string(), "allkeys-lru".to_string()]
    );

    // Redis-only tuning is accepted and read back, and changes nothing else.
    let () = query(
        &mut con,
        &["CONFIG", "SET", "hash-max-ziplist-entries", "0"],
    )
    .await
    .unwrap();
    let got: Vec<String> = query(&mut con, &["CONFIG", "GET", "hash-max-ziplist-entries"])
        .await
        .unwrap();
    assert_eq!(got[1], "0");

    // Refusals name the parameter; a refused pair applies nothing of the call.
    for (args, part) in [
        (
            vec!["maxmemory-policy", "noeviction"],
            "noeviction is not supported",
        ),
        (vec!["maxmemory", "0"], "0 (unbounded) is not supported"),
        (vec!["maxmemory", "lots"], "argument must be a memory value"),
        (vec!["no-such", "1"], "unknown or read-only parameter"),
        (
            vec!["maxmemory", "1mb", "appendonly", "yes"],
            "unknown or read-only",
        ),
    ] {
        let mut full = vec!["CONFIG", "SET"];
        full.extend(args.iter().copied());
        let err = query::<Value>(&mut con, &full).await.unwrap_err();
        let text = error_text(&err);
        assert!(
            text.starts_with("ERR CONFIG SET failed (possibly related to argument '"),
            "{text}"
        );
        assert!(text.contains(part), "{text}");
    }
    assert_eq!(default.config().capacity_bytes, 64 << 20);
    assert_eq!(default.config().eviction.to_string(), "lru");
    let err = query::<Value>(&mut con, &["CONFIG", "SET", "maxmemory"])
        .await
        .unwrap_err();
    assert_eq!(
        error_text(&err),
        "ERR wrong number of arguments for 'config|set' command"
    );
    let () = query(&mut con, &["CONFIG", "RESETSTAT"]).await.unwrap();
}

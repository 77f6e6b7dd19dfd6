//! Hashes, lists, sets and sorted sets through the `redis` crate: every kind refuses the others'
//! commands with WRONGTYPE, a collection is one entry to the policies (charged, evicted, limited
//! as a whole), hash fields expire on their own, RESP3 answers with maps, sets and doubles, keys
//! keep their kind through RENAME and COPY, and keyspace notifications name the command.
//! Command-by-command semantics are checked against a model in `resp_collections_model.rs`.

mod resp_support;

use std::time::Duration;

use redis::Value;
use resp_support::{expect_error, expect_error_starting, query, start};

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_refuses_the_others_commands() {
    let server = start().await;
    let mut con = server.connection().await;
    let () = query(&mut con, &["SET", "str", "v"]).await.unwrap();
    let _: i64 = query(&mut con, &["HSET", "hash", "f", "v"]).await.unwrap();
    let _: i64 = query(&mut con, &["RPUSH", "list", "a"]).await.unwrap();
    let _: i64 = query(&mut con, &["SADD", "set", "a"]).await.unwrap();
    let _: i64 = query(&mut con, &["ZADD", "zset", "1", "a"]).await.unwrap();
    for (key, kind) in [
        ("str", "string"),
        ("hash", "hash"),
        ("list", "list"),
        ("set", "set"),
        ("zset", "zset"),
    ] {
        let t: String = query(&mut con, &["TYPE", key]).await.unwrap();
        assert_eq!(t, kind);
        let (_, keys): (String, Vec<String>) =
            query(&mut con, &["SCAN", "0", "TYPE", kind, "COUNT", "100"])
                .await
                .unwrap();
        assert_eq!(keys, [key], "SCAN TYPE {kind}");
    }
    // One reading and one writing command per kind, tried on every key of another kind.
    let probes: [(&str, &[&[&str]]); 5] = [
        (
            "str",
            &[
                &["GET"],
                &["APPEND", "x"],
                &["INCR"],
                &["STRLEN"],
                &["GETRANGE", "0", "1"],
            ],
        ),
        (
            "hash",
            &[
                &["HGET", "f"],
                &["HSET", "f", "v"],
                &["HLEN"],
                &["HINCRBY", "f", "1"],
            ],
        ),
        (
            "list",
            &[
                &["LRANGE", "0", "-1"],
                &["LPUSH", "x"],
                &["LLEN"],
                &["LPOP"],
            ],
        ),
        (
            "set",
            &[
                &["SMEMBERS"],
                &["SADD", "x"],
                &["SCARD"],
                &["SISMEMBER", "x"],
            ],
        ),
        (
            "zset",
            &[
                &["ZRANGE", "0", "-1"],
                &["ZADD", "1", "x"],
                &["ZSCORE", "x"],
                &["ZCARD"],
            ],
        ),
    ];
    for (owner, commands) in probes {
        for key in ["str", "hash", "list", "set", "zset"] {
            if key == owner {
                continue;
            }
            for command in commands {
                let mut args = vec![command[0], key];
                args.extend_from_slice(&command[1..]);
                expect_error(&mut con, &args, WRONGTYPE).await;
            }
        }
    }
    // A refused command changed nothing.
    let h: Vec<String> = query(&mut con, &["HGETALL", "hash"]).await.unwrap();
    assert_eq!(h, ["f", "v"]);
    // MGET answers nil for a key of another kind, as Redis does; SET replaces any kind.
    let got: Vec<Option<String>> = query(&mut con, &["MGET", "str", "hash"]).await.unwrap();
    assert_eq!(got, [Some("v".to_string()), None]);
    let () = query(&mut con, &["SET", "hash", "now a string"])
        .await
        .unwrap();
    let s: String = query(&mut con, &["GET", "hash"]).await.unwrap();
    assert_eq!(s, "now a string");
    // SET … GET reads the old value as GET would.
    expect_error(&mut con, &["SET", "list", "x", "GET"], WRONGTYPE).await;
    let deleted: i64 = query(&mut con, &["DEL", "list", "set", "zset"])
        .await
        .unwrap();
    assert_eq!(deleted, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emptied_collections_are_gone_and_encodings_follow_redis_sizes() {
    let server = start().await;
    let mut con = server.connection().await;
    let _: i64 = query(&mut con, &["HSET", "h", "a", "1"]).await.unwrap();
    let _: i64 = query(&mut con, &["HDEL", "h", "a"]).await.unwrap();
    let _: i64 = query(&mut con, &["RPUSH", "l", "a"]).await.unwrap();
    let _: Option<String> = query(&mut con, &["RPOP", "l"]).await.unwrap();
    let _: i64 = query(&mut con, &["SADD", "s", "a"]).await.unwrap();
    let _: i64 = query(&mut con, &["SREM", "s", "a"]).await.unwrap();
    let _: i64 = query(&mut con, &["ZADD", "z", "1", "a"]).await.unwrap();
    let _: i64 = query(&mut con, &["ZREM", "z", "a"]).await.unwrap();
    let n: i64 = query(&mut con, &["EXISTS", "h", "l", "s", "z"])
        .await
        .unwrap();
    assert_eq!(n, 0);

    let reader = con.clone();
    let encoding = |key: &'static str| {
        let mut con = reader.clone();
        async move {
            query::<String>(&mut con, &["OBJECT", "ENCODING", key])
                .await
                .unwrap()
        }
    };
    for i in 0..128 {
        let f = format!("f{i}");
        let _: i64 = query(&mut con, &["HSET", "h", &f, "v"]).await.unwrap();
        let m = i.to_string();
        let _: i64 = query(&mut con, &["SADD", "ints", &m]).await.unwrap();
        let _: i64 = query(&mut con, &["ZADD", "z", &m, &f]).await.unwrap();
    }
    assert_eq!(encoding("h").await, "listpack");
    assert_eq!(encoding("ints").await, "intset");
    assert_eq!(encoding("z").await, "listpack");
    let _: i64 = query(&mut con, &["HSET", "h", "one more", "v"])
        .await
        .unwrap();
    let _: i64 = query(&mut con, &["ZADD", "z", "0", "one more"])
        .await
        .unwrap();
    let _: i64 = query(&mut con, &["SADD", "ints", "word"]).await.unwrap();
    assert_eq!(encoding("h").await, "hashtable");
    assert_eq!(encoding("z").await, "skiplist");
    assert_eq!(encoding("ints").await, "hashtable");
    let _: i64 = query(&mut con, &["SADD", "words", "a", "b"]).await.unwrap();
    assert_eq!(encoding("words").await, "listpack");
    let long = "x".repeat(65);
    let _: i64 = query(&mut con, &["HSET", "wide", "f", &long])
        .await
        .unwrap();
    assert_eq!(encoding("wide").await, "hashtable");

    // The thresholds are Redis's CONFIG parameters; the old ziplist names are aliases.
    let () = query(
        &mut con,
        &["CONFIG", "SET", "hash-max-ziplist-entries", "2"],
    )
    .await
    .unwrap();
    let got: Vec<String> = query(&mut con, &["CONFIG", "GET", "hash-max-listpack-entries"])
        .await
        .unwrap();
    assert_eq!(got, ["hash-max-listpack-entries", "2"]);
    let _: i64 = query(&mut con, &["HSET", "three", "a", "1", "b", "2", "c", "3"])
        .await
        .unwrap();
    assert_eq!(encoding("three").await, "hashtable");
    let () = query(
        &mut con,
        &["CONFIG", "SET", "hash-max-listpack-entries", "128"],
    )
    .await
    .unwrap();
    assert_eq!(encoding("three").await, "listpack");
    let () = query(&mut con, &["CONFIG", "SET", "list-max-listpack-size", "2"])
        .await
        .unwrap();
    let _: i64 = query(&mut con, &["RPUSH", "l3", "a", "b", "c"])
        .await
        .unwrap();
    assert_eq!(encoding("l3").await, "quicklist");
    let () = query(&mut con, &["CONFIG", "SET", "list-max-listpack-size", "-2"])
        .await
        .unwrap();
    assert_eq!(encoding("l3").await, "listpack");
    expect_error_starting(
        &mut con,
        &["CONFIG", "SET", "zset-max-listpack-entries", "many"],
        "ERR CONFIG SET failed",
    )
    .await;
    // MEMORY USAGE: what the key is charged, growing with its contents.
    let small: i64 = query(&mut con, &["MEMORY", "USAGE", "l3"]).await.unwrap();
    let big: i64 = query(&mut con, &["MEMORY", "USAGE", "h"]).await.unwrap();
    assert!(small > 0 && big > small * 10, "{small} {big}");
    let none: Option<i64> = query(&mut con, &["MEMORY", "USAGE", "nope"]).await.unwrap();
    assert_eq!(none, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_and_edge_cases_are_worded_as_redis_words_them() {
    let server = start().await;
    let mut con = server.connection().await;
    let _: i64 = query(&mut con, &["RPUSH", "l", "a", "b"]).await.unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &["LPOP", "l", "1", "1"],
            "ERR wrong number of arguments for 'lpop' command",
        ),
        (
            &["LPOS", "l", "a", "RANK", "-9223372036854775808"],
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ),
        (&["LSET", "l", "5", "x"], "ERR index out of range"),
        (&["LSET", "nope", "0", "x"], "ERR no such key"),
        (
            &["SINTERCARD", "a", "l"],
            "ERR numkeys should be greater than 0",
        ),
        (
            &["LMPOP", "0", "l", "LEFT"],
            "ERR numkeys should be greater than 0",
        ),
        (
            &["HSET", "h", "odd"],
            "ERR wrong number of arguments for 'hset' command",
        ),
        (
            &["ZADD", "z", "NX", "XX", "1", "a"],
            "ERR XX and NX options at the same time are not compatible",
        ),
        (
            &["ZADD", "z", "GT", "LT", "1", "a"],
            "ERR GT, LT, and/or NX options at the same time are not compatible",
        ),
        (
            &["ZADD", "z", "INCR", "1", "a", "2", "b"],
            "ERR INCR option supports a single increment-element pair",
        ),
        (&["ZADD", "z", "x", "a"], "ERR value is not a valid float"),
        (
            &["ZRANGEBYSCORE", "z", "(x", "1"],
            "ERR min or max is not a float",
        ),
        (
            &["ZRANGEBYLEX", "z", "a", "+"],
            "ERR min or max not valid string range item",
        ),
        (
            &["ZRANGE", "z", "0", "1", "LIMIT", "0", "1"],
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ),
        (&["HSCAN", "h", "x"], "ERR invalid cursor"),
        // Oversized counts are refused, not allocated.
        (
            &["SRANDMEMBER", "l", "-9223372036854775807"],
            "ERR value is out of range",
        ),
    ];
    for (args, expected) in cases {
        expect_error(&mut con, args, expected).await;
    }
    let _: i64 = query(&mut con, &["HSET", "h", "n", "1", "s", "x"])
        .await
        .unwrap();
    let _: i64 = query(&mut con, &["ZADD", "z", "inf", "a"]).await.unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &["HINCRBYFLOAT", "h", "n", "+inf"],
            "ERR value is NaN or Infinity",
        ),
        (
            &["HINCRBY", "h", "s", "1"],
            "ERR hash value is not an integer",
        ),
        (
            &["HINCRBYFLOAT", "h", "s", "1"],
            "ERR hash value is not a float",
        ),
        (
            &["HINCRBY", "h", "n", "9223372036854775807"],
            "ERR increment or decrement would overflow",
        ),
        (
            &["ZINCRBY", "z", "-inf", "a"],
            "ERR resulting score is not a number (NaN)",
        ),
    ];
    for (args, expected) in cases {
        expect_error(&mut con, args, expected).await;
    }

    // SMOVE of a member the destination already has leaves the destination untouched: a
    // transaction watching it still commits.
    let _: i64 = query(&mut con, &["SADD", "src", "a", "b"]).await.unwrap();
    let _: i64 = query(&mut con, &["SADD", "dst", "a"]).await.unwrap();
    let client = server.client();
    let mut txn = client.get_multiplexed_async_connection().await.unwrap();
    let () = query(&mut txn, &["WATCH", "dst"]).await.unwrap();
    let moved: i64 = query(&mut con, &["SMOVE", "src", "dst", "a"])
        .await
        .unwrap();
    assert_eq!(moved, 1);
    let result: Option<(i64,)> = redis::pipe()
        .atomic()
        .cmd("SADD")
        .arg("dst")
        .arg("c")
        .query_async(&mut txn)
        .await
        .unwrap();
    assert_eq!(
        result,
        Some((1,)),
        "EXEC ran: the watched key did not change"
    );
    let n: i64 = query(&mut con, &["SCARD", "dst"]).await.unwrap();
    assert_eq!(n, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collection_is_one_entry_to_the_policy() {
    let server = start().await;
    // A small namespace: collections are charged by their size and evicted whole.
    let config = larder_runtime::NamespaceConfig {
        capacity_bytes: 262_144,
        shards: Some(1),
        ..Default::default()
    };
    server.state.namespaces.create("small", config).unwrap();
    let mut con = server.connection().await;
    let () = query(&mut con, &["SELECT", "small"]).await.unwrap();
    let field_value = "v".repeat(100);
    for i in 0..400 {
        let key = format!("session:{i}");
        let mut args = vec!["HSET".to_string(), key];
        for f in 0..10 {
            args.push(format!("field{f}"));
            args.push(field_value.clone());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let added: i64 = query(&mut con, &args).await.unwrap();
        assert_eq!(added, 10);
    }
    let info: String = query(&mut con, &["INFO", "memory"]).await.unwrap();
    let used: u64 = field(&info, "used_memory").parse().unwrap();
    assert!(used <= 262_144, "used {used} within maxmemory");
    // Each hash carries over 1 KiB, so 400 of them do not fit: some were evicted whole.
    let keys: i64 = query(&mut con, &["DBSIZE"]).await.unwrap();
    assert!(keys < 400 && keys > 50, "{keys} hashes resident");
    let stats: String = query(&mut con, &["INFO", "stats"]).await.unwrap();
    let evicted: i64 = field(&stats, "evicted_keys").parse().unwrap();
    assert_eq!(evicted, 400 - keys, "every missing hash was evicted");
    // A resident hash is whole: all its fields or none.
    let mut whole = 0;
    for i in 0..400 {
        let n: i64 = query(&mut con, &["HLEN", &format!("session:{i}")])
            .await
            .unwrap();
        assert!(n == 0 || n == 10, "session:{i} has {n} fields");
        whole += i64::from(n == 10);
    }
    assert_eq!(whole, keys);

    // The namespace's max item size (1 MiB by default) bounds a collection as it bounds a
    // string; the refused write leaves the collection as it was.
    let items: i64 = query(&mut con, &["RPUSH", "feed", "a", "b"]).await.unwrap();
    assert_eq!(items, 2);
    let big = "x".repeat(2 * 1024 * 1024);
    expect_error_starting(&mut con, &["RPUSH", "feed", &big], "ERR value is").await;
    let feed: Vec<String> = query(&mut con, &["LRANGE", "feed", "0", "-1"])
        .await
        .unwrap();
    assert_eq!(feed, ["a", "b"]);
}

fn field<'a>(info: &'a str, name: &str) -> &'a str {
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("{name} in {info}"))
        .trim()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hash_fields_expire_on_their_own() {
    let server = start().await;
    let mut con = server.connection().await;
    let _: i64 = query(
        &mut con,
        &["HSET", "s", "token", "t", "user", "u", "cart", "c"],
    )
    .await
    .unwrap();
    let set: Vec<i64> = query(
        &mut con,
        &["HPEXPIRE", "s", "150", "FIELDS", "2", "token", "nope"],
    )
    .await
    .unwrap();
    assert_eq!(set, [1, -2]);
    let nx: Vec<i64> = query(
        &mut con,
        &["HEXPIRE", "s", "100", "NX", "FIELDS", "1", "token"],
    )
    .await
    .unwrap();
    assert_eq!(nx, [0], "NX: the field already has a deadline");
    // A small hash with a field deadline is `listpackex`, as Redis 7.4 names it.
    let encoding: String = query(&mut con, &["OBJECT", "ENCODING", "s"]).await.unwrap();
    assert_eq!(encoding, "listpackex");
    let ttl: Vec<i64> = query(
        &mut con,
        &["HPTTL", "s", "FIELDS", "3", "token", "user", "x"],
    )
    .await
    .unwrap();
    assert!(ttl[0] > 0 && ttl[0] <= 150, "{ttl:?}");
    assert_eq!(&ttl[1..], [-1, -2]);
    let at: Vec<i64> = query(&mut con, &["HPEXPIRETIME", "s", "FIELDS", "1", "token"])
        .await
        .unwrap();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!((at[0] - now_ms - 150).abs() < 1000, "deadline is Unix time");
    // Persisting one field keeps it; HSET over a field clears its deadline.
    let _: Vec<i64> = query(&mut con, &["HPEXPIRE", "s", "150", "FIELDS", "1", "cart"])
        .await
        .unwrap();
    let _: i64 = query(&mut con, &["HSET", "s", "cart", "c2"]).await.unwrap();
    let ttl: Vec<i64> = query(&mut con, &["HTTL", "s", "FIELDS", "1", "cart"])
        .await
        .unwrap();
    assert_eq!(ttl, [-1]);
    let _: Vec<i64> = query(&mut con, &["HPEXPIRE", "s", "150", "FIELDS", "1", "user"])
        .await
        .unwrap();
    let persisted: Vec<i64> = query(&mut con, &["HPERSIST", "s", "FIELDS", "2", "user", "cart"])
        .await
        .unwrap();
    assert_eq!(persisted, [1, -1]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let token: Option<String> = query(&mut con, &["HGET", "s", "token"]).await.unwrap();
    assert_eq!(token, None, "the field expired");
    let mut left: Vec<String> = query(&mut con, &["HKEYS", "s"]).await.unwrap();
    left.sort();
    assert_eq!(left, ["cart", "user"]);
    let n: i64 = query(&mut con, &["HLEN", "s"]).await.unwrap();
    assert_eq!(n, 2);
    // A deadline in the past deletes the field at once; the last field takes the key with it.
    let gone: Vec<i64> = query(
        &mut con,
        &["HEXPIREAT", "s", "1", "FIELDS", "2", "cart", "user"],
    )
    .await
    .unwrap();
    assert_eq!(gone, [2, 2]);
    let exists: i64 = query(&mut con, &["EXISTS", "s"]).await.unwrap();
    assert_eq!(exists, 0);
    // Argument errors as Redis words them.
    let _: i64 = query(&mut con, &["HSET", "s", "a", "1"]).await.unwrap();
    expect_error(
        &mut con,
        &["HEXPIRE", "s", "10", "FIELDS", "2", "a"],
        "ERR The `numfields` parameter must match the number of arguments",
    )
    .await;
    expect_error(
        &mut con,
        &["HEXPIRE", "s", "10", "NX", "a", "b"],
        "ERR Mandatory argument FIELDS is missing or not at the right position",
    )
    .await;
    // The key's own TTL still expires the hash as a whole.
    let _: i64 = query(&mut con, &["PEXPIRE", "s", "50"]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let exists: i64 = query(&mut con, &["EXISTS", "s"]).await.unwrap();
    assert_eq!(exists, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resp3_answers_with_maps_sets_and_doubles() {
    let server = start().await;
    let client = redis::Client::open(format!("{}?protocol=resp3", server.url())).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let _: i64 = query(&mut con, &["HSET", "h", "a", "1"]).await.unwrap();
    let _: i64 = query(&mut con, &["SADD", "s", "x"]).await.unwrap();
    let _: i64 = query(&mut con, &["ZADD", "z", "1.5", "m", "2", "n"])
        .await
        .unwrap();
    let v: Value = query(&mut con, &["HGETALL", "h"]).await.unwrap();
    assert_eq!(
        v,
        Value::Map(vec![(
            Value::BulkString(b"a".to_vec()),
            Value::BulkString(b"1".to_vec())
        )])
    );
    let v: Value = query(&mut con, &["SMEMBERS", "s"]).await.unwrap();
    assert_eq!(v, Value::Set(vec![Value::BulkString(b"x".to_vec())]));
    let v: Value = query(&mut con, &["ZSCORE", "z", "m"]).await.unwrap();
    assert_eq!(v, Value::Double(1.5));
    let v: Value = query(&mut con, &["ZRANGE", "z", "0", "-1", "WITHSCORES"])
        .await
        .unwrap();
    assert_eq!(
        v,
        Value::Array(vec![
            Value::Array(vec![Value::BulkString(b"m".to_vec()), Value::Double(1.5)]),
            Value::Array(vec![Value::BulkString(b"n".to_vec()), Value::Double(2.0)]),
        ])
    );
    let v: Value = query(&mut con, &["HGET", "h", "missing"]).await.unwrap();
    assert_eq!(v, Value::Nil);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rename_and_copy_keep_the_kind_and_the_ttl() {
    let server = start().await;
    let mut con = server.connection().await;
    let _: i64 = query(&mut con, &["ZADD", "board", "10", "ann", "20", "bob"])
        .await
        .unwrap();
    let _: i64 = query(&mut con, &["EXPIRE", "board", "100"]).await.unwrap();
    let () = query(&mut con, &["RENAME", "board", "scores"])
        .await
        .unwrap();
    let top: Vec<String> = query(&mut con, &["ZREVRANGE", "scores", "0", "0"])
        .await
        .unwrap();
    assert_eq!(top, ["bob"]);
    let ttl: i64 = query(&mut con, &["TTL", "scores"]).await.unwrap();
    assert!((90..=100).contains(&ttl));
    let copied: i64 = query(&mut con, &["COPY", "scores", "backup"])
        .await
        .unwrap();
    assert_eq!(copied, 1);
    let _: i64 = query(&mut con, &["ZADD", "scores", "30", "cy"])
        .await
        .unwrap();
    let n: i64 = query(&mut con, &["ZCARD", "backup"]).await.unwrap();
    assert_eq!(n, 2, "a copy, not a shared value");
    // COPY into another database keeps kind and TTL too.
    let copied: i64 = query(&mut con, &["COPY", "scores", "scores", "DB", "1"])
        .await
        .unwrap();
    assert_eq!(copied, 1);
    let () = query(&mut con, &["SELECT", "1"]).await.unwrap();
    let t: String = query(&mut con, &["TYPE", "scores"]).await.unwrap();
    assert_eq!(t, "zset");
    let ttl: i64 = query(&mut con, &["TTL", "scores"]).await.unwrap();
    assert!((90..=100).contains(&ttl));
    // Without REPLACE a present destination of another kind is left alone.
    let _: i64 = query(&mut con, &["SADD", "tags", "x"]).await.unwrap();
    let () = query(&mut con, &["SELECT", "0"]).await.unwrap();
    let _: i64 = query(&mut con, &["RPUSH", "tags", "y"]).await.unwrap();
    let copied: i64 = query(&mut con, &["COPY", "tags", "tags", "DB", "1"])
        .await
        .unwrap();
    assert_eq!(copied, 0);
    let copied: i64 = query(&mut con, &["COPY", "tags", "tags", "DB", "1", "REPLACE"])
        .await
        .unwrap();
    assert_eq!(copied, 1);
    let () = query(&mut con, &["SELECT", "1"]).await.unwrap();
    let t: String = query(&mut con, &["TYPE", "tags"]).await.unwrap();
    assert_eq!(t, "list");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyspace_notifications_name_the_collection_command() {
    let server = start().await;
    let mut con = server.connection().await;
    let () = query(
        &mut con,
        &["CONFIG", "SET", "notify-keyspace-events", "KEhlz"],
    )
    .await
    .unwrap();
    let mut pubsub = server.client().get_async_pubsub().await.unwrap();
    pubsub.psubscribe("__keyevent@0__:*").await.unwrap();
    let _: i64 = query(&mut con, &["HSET", "h", "a", "1"]).await.unwrap();
    let _: i64 = query(&mut con, &["SADD", "s", "a"]).await.unwrap(); // class s is off
    let _: i64 = query(&mut con, &["LPUSH", "l", "a"]).await.unwrap();
    let _: i64 = query(&mut con, &["ZINCRBY", "z", "1", "a"]).await.unwrap();
    // Removing nothing writes nothing and notifies nothing; HMSET is notified as `hset`.
    let _: i64 = query(&mut con, &["ZREM", "z", "nope"]).await.unwrap();
    let () = query(&mut con, &["HMSET", "h", "b", "2"]).await.unwrap();
    let mut stream = pubsub.on_message();
    let mut got = Vec::new();
    for _ in 0..4 {
        let msg = tokio::time::timeout(Duration::from_secs(5), futures_next(&mut stream))
            .await
            .expect("a notification");
        got.push((
            msg.get_channel_name().to_string(),
            msg.get_payload::<String>().unwrap(),
        ));
    }
    assert_eq!(
        got,
        [
            ("__keyevent@0__:hset".to_string(), "h".to_string()),
            ("__keyevent@0__:lpush".to_string(), "l".to_string()),
            ("__keyevent@0__:zincrby".to_string(), "z".to_string()),
            ("__keyevent@0__:hset".to_string(), "h".to_string()),
        ]
    );
}

async fn futures_next<S: futures_util::Stream + Unpin>(stream: &mut S) -> S::Item {
    use futures_util::StreamExt;
    stream.next().await.expect("stream open")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sorted_sets_combine_with_weights_aggregates_and_plain_sets() {
    let server = start().await;
    let mut con = server.connection().await;
    let _: i64 = query(&mut con, &["ZADD", "a", "1", "x", "2", "y"])
        .await
        .unwrap();
    let _: i64 = query(&mut con, &["ZADD", "b", "10", "y", "20", "z"])
        .await
        .unwrap();
    let _: i64 = query(&mut con, &["SADD", "c", "x", "z"]).await.unwrap();
    let union: Vec<String> = query(&mut con, &["ZUNION", "2", "a", "b", "WITHSCORES"])
        .await
        .unwrap();
    assert_eq!(union, ["x", "1", "y", "12", "z", "20"]);
    let inter: Vec<String> = query(
        &mut con,
        &[
            "ZINTER",
            "2",
            "a",
            "b",
            "WEIGHTS",
            "2",
            "3",
            "AGGREGATE",
            "MAX",
            "WITHSCORES",
        ],
    )
    .await
    .unwrap();
    assert_eq!(inter, ["y", "30"]);
    // A plain set's members score 1.
    let n: i64 = query(&mut con, &["ZUNIONSTORE", "d", "3", "a", "b", "c"])
        .await
        .unwrap();
    assert_eq!(n, 3);
    let d: Vec<String> = query(&mut con, &["ZRANGE", "d", "0", "-1", "WITHSCORES"])
        .await
        .unwrap();
    assert_eq!(d, ["x", "2", "y", "12", "z", "21"]);
    let diff: Vec<String> = query(&mut con, &["ZDIFF", "2", "a", "b"]).await.unwrap();
    assert_eq!(diff, ["x"]);
    let n: i64 = query(&mut con, &["ZINTERCARD", "2", "a", "b"])
        .await
        .unwrap();
    assert_eq!(n, 1);
    // An empty result deletes the destination, whatever it held.
    let () = query(&mut con, &["SET", "dst", "old"]).await.unwrap();
    let n: i64 = query(&mut con, &["ZINTERSTORE", "dst", "2", "a", "nope"])
        .await
        .unwrap();
    assert_eq!(n, 0);
    let exists: i64 = query(&mut con, &["EXISTS", "dst"]).await.unwrap();
    assert_eq!(exists, 0);
    let n: i64 = query(
        &mut con,
        &["ZRANGESTORE", "top", "d", "+inf", "5", "BYSCORE", "REV"],
    )
    .await
    .unwrap();
    assert_eq!(n, 2);
    let top: Vec<String> = query(&mut con, &["ZRANGE", "top", "0", "-1"])
        .await
        .unwrap();
    assert_eq!(top, ["y", "z"]);
    let popped: Value = query(&mut con, &["ZMPOP", "2", "nope", "d", "MAX", "COUNT", "2"])
        .await
        .unwrap();
    let b = |s: &str| Value::BulkString(s.as_bytes().to_vec());
    assert_eq!(
        popped,
        Value::Array(vec![
            b("d"),
            Value::Array(vec![
                Value::Array(vec![b("z"), b("21")]),
                Value::Array(vec![b("y"), b("12")]),
            ]),
        ])
    );
    let _: i64 = query(&mut con, &["RPUSH", "l", "a", "b", "c"])
        .await
        .unwrap();
    let popped: Value = query(
        &mut con,
        &["LMPOP", "2", "none", "l", "RIGHT", "COUNT", "2"],
    )
    .await
    .unwrap();
    assert_eq!(
        popped,
        Value::Array(vec![b("l"), Value::Array(vec![b("c"), b("b")])])
    );
    let nothing: Value = query(&mut con, &["LMPOP", "1", "none", "LEFT"])
        .await
        .unwrap();
    assert_eq!(nothing, Value::Nil);
    expect_error(&mut con, &["ZUNION", "1", "l"], WRONGTYPE).await;
    expect_error(
        &mut con,
        &["ZUNION", "0", "a"],
        "ERR at least 1 input key is needed for 'zunion' command",
    )
    .await;
    expect_error(
        &mut con,
        &["ZUNION", "1", "a", "WEIGHTS", "x"],
        "ERR weight value is not a float",
    )
    .await;
}

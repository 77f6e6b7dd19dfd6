//! Keyspace commands through the `redis` crate and `redis-cli`: SCAN (cursor, MATCH, COUNT,
//! TYPE), KEYS, TYPE, RANDOMKEY, RENAME/RENAMENX, COPY (also into another database), OBJECT,
//! EXPIRETIME/PEXPIRETIME.

mod resp_support;

use std::collections::HashSet;

use redis::{AsyncCommands, Value, cmd};
use resp_support::{Con, error_text, expect_error, query, start};

/// Every key a full SCAN with these options returns, with how many times each came back.
async fn full_scan(con: &mut Con, options: &[&str]) -> Vec<String> {
    let mut cursor = "0".to_string();
    let mut all = Vec::new();
    loop {
        let mut args = vec!["SCAN", cursor.as_str()];
        args.extend_from_slice(options);
        let (next, keys): (String, Vec<String>) = query(con, &args).await.unwrap();
        all.extend(keys);
        if next == "0" {
            return all;
        }
        cursor = next;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_and_keys_find_every_key_once() {
    let server = start().await;
    let mut con = server.connection().await;
    for i in 0..1000 {
        let () = con.set(format!("user:{i}"), i).await.unwrap();
    }
    for i in 0..100 {
        let () = con.set(format!("other:{i}"), i).await.unwrap();
    }

    let all = full_scan(&mut con, &[]).await;
    assert_eq!(all.len(), 1100);
    assert_eq!(all.iter().collect::<HashSet<_>>().len(), 1100);

    let users = full_scan(&mut con, &["MATCH", "user:*", "COUNT", "7"]).await;
    assert_eq!(users.len(), 1000);
    assert!(users.iter().all(|k| k.starts_with("user:")));
    let nines = full_scan(&mut con, &["MATCH", "user:9?", "COUNT", "1000"]).await;
    assert_eq!(nines.len(), 10);
    assert_eq!(full_scan(&mut con, &["TYPE", "string"]).await.len(), 1100);
    assert!(full_scan(&mut con, &["TYPE", "hash"]).await.is_empty());

    let mut keys: Vec<String> = con.keys("other:[1-2]?").await.unwrap();
    keys.sort();
    assert_eq!(keys.len(), 20);
    assert_eq!(keys[0], "other:10");
    let everything: Vec<String> = con.keys("*").await.unwrap();
    assert_eq!(everything.len(), 1100);

    expect_error(&mut con, &["SCAN", "abc"], "ERR invalid cursor").await;
    expect_error(&mut con, &["SCAN", "-1"], "ERR invalid cursor").await;
    expect_error(&mut con, &["SCAN", "0", "COUNT", "0"], "ERR syntax error").await;
    expect_error(
        &mut con,
        &["SCAN", "0", "COUNT", "x"],
        "ERR value is not an integer or out of range",
    )
    .await;
    expect_error(&mut con, &["SCAN", "0", "MATCH"], "ERR syntax error").await;
    expect_error(&mut con, &["SCAN", "0", "BOGUS", "1"], "ERR syntax error").await;

    // The redis crate's own scan iterator and redis-cli --scan see the same keys.
    let mut iter: redis::AsyncIter<String> = con.scan_match("other:*").await.unwrap();
    let mut n = 0;
    while let Some(_key) = iter.next_item().await {
        n += 1;
    }
    drop(iter);
    assert_eq!(n, 100);
    let out = std::process::Command::new("redis-cli")
        .args([
            "-p",
            &server.addr.port().to_string(),
            "--scan",
            "--pattern",
            "user:1*",
        ])
        .output()
        .expect("redis-cli is installed by the test command");
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 111);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn type_randomkey_rename_copy() {
    let server = start().await;
    let mut con = server.connection().await;

    assert_eq!(
        query::<String>(&mut con, &["TYPE", "k"]).await.unwrap(),
        "none"
    );
    assert_eq!(
        query::<Option<String>>(&mut con, &["RANDOMKEY"])
            .await
            .unwrap(),
        None
    );
    let () = con.set_ex("k", "v", 100).await.unwrap();
    assert_eq!(
        query::<String>(&mut con, &["TYPE", "k"]).await.unwrap(),
        "string"
    );
    assert_eq!(
        query::<String>(&mut con, &["RANDOMKEY"]).await.unwrap(),
        "k"
    );

    // RENAME carries the value and the TTL.
    let () = cmd("RENAME")
        .arg("k")
        .arg("k2")
        .query_async(&mut con)
        .await
        .unwrap();
    assert!(!con.exists::<_, bool>("k").await.unwrap());
    assert_eq!(con.get::<_, String>("k2").await.unwrap(), "v");
    assert!(con.ttl::<_, i64>("k2").await.unwrap() > 90);
    expect_error(&mut con, &["RENAME", "missing", "x"], "ERR no such key").await;
    let () = con.set("taken", "t").await.unwrap();
    assert_eq!(
        query::<i64>(&mut con, &["RENAMENX", "k2", "taken"])
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        query::<i64>(&mut con, &["RENAMENX", "k2", "k3"])
            .await
            .unwrap(),
        1
    );
    let () = cmd("RENAME")
        .arg("k3")
        .arg("taken")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(con.get::<_, String>("taken").await.unwrap(), "v");

    // COPY: the source stays; REPLACE is needed to overwrite; DB copies into another database.
    let () = con.set("src", "s").await.unwrap();
    assert_eq!(
        query::<i64>(&mut con, &["COPY", "src", "taken"])
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        query::<i64>(&mut con, &["COPY", "src", "taken", "REPLACE"])
            .await
            .unwrap(),
        1
    );
    assert_eq!(con.get::<_, String>("taken").await.unwrap(), "s");
    assert_eq!(con.get::<_, String>("src").await.unwrap(), "s");
    assert_eq!(
        query::<i64>(&mut con, &["COPY", "missing", "x"])
            .await
            .unwrap(),
        0
    );
    expect_error(
        &mut con,
        &["COPY", "src", "src"],
        "ERR source and destination objects are the same",
    )
    .await;
    assert_eq!(
        query::<i64>(&mut con, &["COPY", "src", "elsewhere", "DB", "2"])
            .await
            .unwrap(),
        1
    );
    let db2 = server.state.namespaces.get("db2").unwrap();
    assert_eq!(db2.store().get_vec(b"elsewhere"), Some(b"s".to_vec()));
    assert!(!con.exists::<_, bool>("elsewhere").await.unwrap());
    assert_eq!(
        query::<i64>(&mut con, &["COPY", "src", "elsewhere", "DB", "2"])
            .await
            .unwrap(),
        0
    );
    expect_error(
        &mut con,
        &["COPY", "src", "x", "DB", "99"],
        "ERR DB index is out of range",
    )
    .await;
    expect_error(&mut con, &["COPY", "src", "x", "NOPE"], "ERR syntax error").await;

    // MOVE: into another database if absent there, with the TTL; the source is gone.
    let () = con.set_ex("mover", "m", 100).await.unwrap();
    assert_eq!(
        query::<i64>(&mut con, &["MOVE", "mover", "3"])
            .await
            .unwrap(),
        1
    );
    assert!(!con.exists::<_, bool>("mover").await.unwrap());
    let db3 = server.state.namespaces.get("db3").unwrap();
    assert!(
        matches!(db3.store().ttl(b"mover"), larder_runtime::Ttl::RemainingMs(ms) if ms > 90_000)
    );
    let () = con.set("mover", "again").await.unwrap();
    assert_eq!(
        query::<i64>(&mut con, &["MOVE", "mover", "3"])
            .await
            .unwrap(),
        0
    );
    assert_eq!(con.get::<_, String>("mover").await.unwrap(), "again");
    assert_eq!(
        query::<i64>(&mut con, &["MOVE", "missing", "3"])
            .await
            .unwrap(),
        0
    );
    expect_error(
        &mut con,
        &["MOVE", "mover", "0"],
        "ERR source and destination objects are the same",
    )
    .await;
    expect_error(
        &mut con,
        &["MOVE", "mover", "x"],
        "ERR value is not an integer or out of range",
    )
    .await;

    let (secs, micros): (String, String) = query(&mut con, &["TIME"]).await.unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(secs.parse::<u64>().unwrap().abs_diff(now) <= 2);
    assert!(micros.parse::<u32>().unwrap() < 1_000_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_and_expiretime() {
    let server = start().await;
    let mut con = server.connection().await;

    let () = con.set("int", "12345").await.unwrap();
    let () = con.set("short", "hello").await.unwrap();
    let () = con.set("long", "x".repeat(45)).await.unwrap();
    for (key, encoding) in [("int", "int"), ("short", "embstr"), ("long", "raw")] {
        let got: String = query(&mut con, &["OBJECT", "ENCODING", key]).await.unwrap();
        assert_eq!(got, encoding, "{key}");
    }
    assert_eq!(
        query::<Option<String>>(&mut con, &["OBJECT", "ENCODING", "missing"])
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        query::<i64>(&mut con, &["OBJECT", "REFCOUNT", "int"])
            .await
            .unwrap(),
        1
    );
    let err = query::<Value>(&mut con, &["OBJECT", "FREQ", "int"])
        .await
        .unwrap_err();
    assert!(
        error_text(&err).starts_with("ERR OBJECT FREQ is not tracked"),
        "{}",
        error_text(&err)
    );
    expect_error(
        &mut con,
        &["OBJECT", "WHAT", "int"],
        "ERR unknown subcommand 'WHAT'. Try OBJECT HELP.",
    )
    .await;
    let help: Vec<String> = query(&mut con, &["OBJECT", "HELP"]).await.unwrap();
    assert!(help.len() > 2);

    assert_eq!(
        query::<i64>(&mut con, &["EXPIRETIME", "missing"])
            .await
            .unwrap(),
        -2
    );
    assert_eq!(
        query::<i64>(&mut con, &["EXPIRETIME", "int"])
            .await
            .unwrap(),
        -1
    );
    let at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1000;
    let _: i64 = query(&mut con, &["EXPIREAT", "int", &at.to_string()])
        .await
        .unwrap();
    let secs: i64 = query(&mut con, &["EXPIRETIME", "int"]).await.unwrap();
    assert!((secs - at as i64).abs() <= 1, "{secs} vs {at}");
    let ms: i64 = query(&mut con, &["PEXPIRETIME", "int"]).await.unwrap();
    assert!((ms - at as i64 * 1000).abs() <= 1000, "{ms}");
}

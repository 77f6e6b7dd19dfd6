//! The read-modify-write string commands through the `redis` crate: APPEND, SETRANGE, GETRANGE,
//! STRLEN, GETDEL, GETSET, MSETNX, INCRBYFLOAT — replies, TTL handling and Redis's errors.

mod resp_support;

use redis::AsyncCommands;
use resp_support::{expect_error_starting, query, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_setrange_getrange_strlen() {
    let server = start().await;
    let mut con = server.connection().await;

    assert_eq!(
        query::<i64>(&mut con, &["APPEND", "a", "Hello"])
            .await
            .unwrap(),
        5
    );
    assert_eq!(
        query::<i64>(&mut con, &["APPEND", "a", " World"])
            .await
            .unwrap(),
        11
    );
    assert_eq!(query::<i64>(&mut con, &["STRLEN", "a"]).await.unwrap(), 11);
    assert_eq!(
        query::<i64>(&mut con, &["STRLEN", "missing"])
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        query::<String>(&mut con, &["GETRANGE", "a", "0", "4"])
            .await
            .unwrap(),
        "Hello"
    );
    assert_eq!(
        query::<String>(&mut con, &["GETRANGE", "a", "-5", "-1"])
            .await
            .unwrap(),
        "World"
    );
    assert_eq!(
        query::<String>(&mut con, &["SUBSTR", "a", "6", "100"])
            .await
            .unwrap(),
        "World"
    );
    assert_eq!(
        query::<String>(&mut con, &["GETRANGE", "missing", "0", "-1"])
            .await
            .unwrap(),
        ""
    );

    // SETRANGE overwrites in place and pads a short or missing value with zero bytes.
    assert_eq!(
        query::<i64>(&mut con, &["SETRANGE", "a", "6", "Redis"])
            .await
            .unwrap(),
        11
    );
    assert_eq!(con.get::<_, String>("a").await.unwrap(), "Hello Redis");
    assert_eq!(
        query::<i64>(&mut con, &["SETRANGE", "pad", "3", "x"])
            .await
            .unwrap(),
        4
    );
    assert_eq!(con.get::<_, Vec<u8>>("pad").await.unwrap(), b"\0\0\0x");
    // An empty patch on a missing key creates nothing.
    assert_eq!(
        query::<i64>(&mut con, &["SETRANGE", "none", "5", ""])
            .await
            .unwrap(),
        0
    );
    assert!(!con.exists::<_, bool>("none").await.unwrap());

    // APPEND and SETRANGE keep the key's TTL.
    let () = con.set_ex("ttl", "x", 100).await.unwrap();
    let _: i64 = query(&mut con, &["APPEND", "ttl", "y"]).await.unwrap();
    let _: i64 = query(&mut con, &["SETRANGE", "ttl", "0", "z"])
        .await
        .unwrap();
    let ttl: i64 = con.ttl("ttl").await.unwrap();
    assert!((90..=100).contains(&ttl), "{ttl}");

    // Errors, in Redis's words, and nothing allocated for an absurd offset.
    expect_error_starting(
        &mut con,
        &["SETRANGE", "a", "-1", "x"],
        "ERR offset is out of range",
    )
    .await;
    expect_error_starting(
        &mut con,
        &["SETRANGE", "a", "536870908", "world"],
        "ERR string exceeds maximum allowed size",
    )
    .await;
    let big = "x".repeat(700 * 1024);
    let _: i64 = query(&mut con, &["APPEND", "big", &big]).await.unwrap();
    expect_error_starting(
        &mut con,
        &["APPEND", "big", &big],
        "ERR string exceeds maximum allowed size",
    )
    .await;
    assert_eq!(
        query::<i64>(&mut con, &["STRLEN", "big"]).await.unwrap(),
        700 * 1024
    );
    expect_error_starting(
        &mut con,
        &["SETRANGE", "a", "x", "y"],
        "ERR value is not an integer",
    )
    .await;
    expect_error_starting(
        &mut con,
        &["GETRANGE", "a", "0", "z"],
        "ERR value is not an integer",
    )
    .await;
    expect_error_starting(
        &mut con,
        &["APPEND", "a"],
        "ERR wrong number of arguments for 'append' command",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn getdel_getset_msetnx() {
    let server = start().await;
    let mut con = server.connection().await;

    let () = con.set("k", "v").await.unwrap();
    assert_eq!(
        query::<Option<String>>(&mut con, &["GETDEL", "k"])
            .await
            .unwrap()
            .as_deref(),
        Some("v")
    );
    assert!(!con.exists::<_, bool>("k").await.unwrap());
    assert_eq!(
        query::<Option<String>>(&mut con, &["GETDEL", "k"])
            .await
            .unwrap(),
        None
    );

    // GETSET returns the old value and clears the TTL, as SET does.
    let () = con.set_ex("g", "old", 100).await.unwrap();
    assert_eq!(
        query::<Option<String>>(&mut con, &["GETSET", "g", "new"])
            .await
            .unwrap()
            .as_deref(),
        Some("old")
    );
    assert_eq!(con.get::<_, String>("g").await.unwrap(), "new");
    assert_eq!(con.ttl::<_, i64>("g").await.unwrap(), -1);
    assert_eq!(
        query::<Option<String>>(&mut con, &["GETSET", "fresh", "1"])
            .await
            .unwrap(),
        None
    );

    // MSETNX: all or nothing; a repeated key takes its last value.
    assert_eq!(
        query::<i64>(&mut con, &["MSETNX", "x1", "a", "x2", "b", "x1", "c"])
            .await
            .unwrap(),
        1
    );
    assert_eq!(con.get::<_, String>("x1").await.unwrap(), "c");
    assert_eq!(
        query::<i64>(&mut con, &["MSETNX", "y", "1", "x2", "2"])
            .await
            .unwrap(),
        0
    );
    assert!(!con.exists::<_, bool>("y").await.unwrap());
    assert_eq!(con.get::<_, String>("x2").await.unwrap(), "b");
    expect_error_starting(
        &mut con,
        &["MSETNX", "a", "1", "b"],
        "ERR wrong number of arguments for 'msetnx' command",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incrbyfloat_reads_and_prints_as_redis() {
    let server = start().await;
    let mut con = server.connection().await;

    assert_eq!(
        query::<String>(&mut con, &["INCRBYFLOAT", "f", "1"])
            .await
            .unwrap(),
        "1"
    );
    assert_eq!(
        query::<String>(&mut con, &["INCRBYFLOAT", "f", "0.25"])
            .await
            .unwrap(),
        "1.25"
    );
    assert_eq!(con.get::<_, String>("f").await.unwrap(), "1.25");
    let () = con.set("d", "1").await.unwrap();
    assert_eq!(
        query::<String>(&mut con, &["INCRBYFLOAT", "d", "-1.1"])
            .await
            .unwrap(),
        "-0.1"
    );
    let () = con.set("big", "17179869184").await.unwrap();
    assert_eq!(
        query::<String>(&mut con, &["INCRBYFLOAT", "big", "1.5"])
            .await
            .unwrap(),
        "17179869185.5"
    );
    // It keeps the TTL, and a later INCR sees what it wrote.
    let () = con.set_ex("t", "10", 100).await.unwrap();
    let _: String = query(&mut con, &["INCRBYFLOAT", "t", "5"]).await.unwrap();
    assert_eq!(query::<i64>(&mut con, &["INCR", "t"]).await.unwrap(), 16);
    assert!(con.ttl::<_, i64>("t").await.unwrap() > 0);

    let () = con.set("s", " 1").await.unwrap();
    expect_error_starting(
        &mut con,
        &["INCRBYFLOAT", "s", "1"],
        "ERR value is not a valid float",
    )
    .await;
    expect_error_starting(
        &mut con,
        &["INCRBYFLOAT", "f", "abc"],
        "ERR value is not a valid float",
    )
    .await;
    expect_error_starting(
        &mut con,
        &["INCRBYFLOAT", "f", "nan"],
        "ERR value is not a valid float",
    )
    .await;
    expect_error_starting(
        &mut con,
        &["INCRBYFLOAT", "f", "+inf"],
        "ERR increment would produce NaN or Infinity",
    )
    .await;
    assert_eq!(con.get::<_, String>("f").await.unwrap(), "1.25");
}

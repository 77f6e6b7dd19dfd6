//! `DUMP` and `RESTORE` through the `redis` crate: every kind of value survives its own payload
//! with its TTL, payloads Redis 7 wrote restore here, and Redis's refusals are worded as Redis
//! words them.

mod resp_support;

use redis::AsyncCommands;
use resp_support::{Con, expect_error, expect_error_starting, query, start};

async fn dump(con: &mut Con, key: &str) -> Option<Vec<u8>> {
    redis::cmd("DUMP").arg(key).query_async(con).await.unwrap()
}

async fn restore(
    con: &mut Con,
    key: &str,
    ttl: i64,
    payload: &[u8],
    opts: &[&str],
) -> redis::RedisResult<()> {
    redis::cmd("RESTORE")
        .arg(key)
        .arg(ttl)
        .arg(payload)
        .arg(opts)
        .query_async(con)
        .await
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_value_moves_through_its_payload() {
    let server = start().await;
    let mut con = server.connection().await;
    let () = con.set("s", "hello").await.unwrap();
    let () = con.rpush("l", &["a", "b", "c"]).await.unwrap();
    let () = con.sadd("set", &["x", "y"]).await.unwrap();
    let () = con
        .zadd_multiple("z", &[(1.5, "a"), (-2.0, "b")])
        .await
        .unwrap();
    let () = con
        .hset_multiple("h", &[("f1", "v1"), ("f2", "v2")])
        .await
        .unwrap();
    let () = con.pexpire("s", 60_000).await.unwrap();

    for key in ["s", "l", "set", "z", "h"] {
        let payload = dump(&mut con, key).await.expect("a payload");
        let copy = format!("{key}-copy");
        restore(&mut con, &copy, 0, &payload, &[]).await.unwrap();
        let kind: String = query(&mut con, &["TYPE", &copy]).await.unwrap();
        let original: String = query(&mut con, &["TYPE", key]).await.unwrap();
        assert_eq!(kind, original, "{key}");
        assert_eq!(
            dump(&mut con, &copy).await,
            Some(payload),
            "{key}: the copy dumps to the same payload"
        );
    }
    let s: String = con.get("s-copy").await.unwrap();
    assert_eq!(s, "hello");
    let l: Vec<String> = con.lrange("l-copy", 0, -1).await.unwrap();
    assert_eq!(l, ["a", "b", "c"]);
    let z: Vec<(String, f64)> = con.zrange_withscores("z-copy", 0, -1).await.unwrap();
    assert_eq!(z, [("b".to_string(), -2.0), ("a".to_string(), 1.5)]);
    let h: std::collections::HashMap<String, String> = con.hgetall("h-copy").await.unwrap();
    assert_eq!(h.len(), 2);
    assert_eq!(h["f2"], "v2");
    let members: std::collections::BTreeSet<String> = con.smembers("set-copy").await.unwrap();
    assert_eq!(members.into_iter().collect::<Vec<_>>(), ["x", "y"]);
    let ttl: i64 = con.pttl("s-copy").await.unwrap();
    assert_eq!(ttl, -1, "ttl 0 restores without an expiry");

    // A TTL from now, and an absolute one.
    let payload = dump(&mut con, "s").await.unwrap();
    restore(&mut con, "ttl", 5_000, &payload, &[])
        .await
        .unwrap();
    let ttl: i64 = con.pttl("ttl").await.unwrap();
    assert!((1..=5_000).contains(&ttl), "{ttl}");
    let now_ms: i64 = {
        let (secs, micros): (i64, i64) = redis::cmd("TIME").query_async(&mut con).await.unwrap();
        secs * 1000 + micros / 1000
    };
    let at = now_ms + 30_000;
    restore(&mut con, "abs", at, &payload, &["ABSTTL"])
        .await
        .unwrap();
    let when: i64 = query(&mut con, &["PEXPIRETIME", "abs"]).await.unwrap();
    assert!((at - 50..=at + 50).contains(&when), "{when} vs {at}");
    // A deadline already past restores nothing; with REPLACE it removes what was there.
    restore(&mut con, "gone", now_ms - 1_000, &payload, &["ABSTTL"])
        .await
        .unwrap();
    assert_eq!(con.exists::<_, i64>("gone").await.unwrap(), 0);
    restore(
        &mut con,
        "abs",
        now_ms - 1_000,
        &payload,
        &["ABSTTL", "REPLACE"],
    )
    .await
    .unwrap();
    assert_eq!(con.exists::<_, i64>("abs").await.unwrap(), 0);

    // An existing key needs REPLACE, whatever its kind; IDLETIME and FREQ are accepted.
    let list_payload = dump(&mut con, "l").await.unwrap();
    expect_error(
        &mut con,
        &["RESTORE", "s", "0", "x"],
        "BUSYKEY Target key name already exists.",
    )
    .await;
    restore(
        &mut con,
        "s",
        0,
        &list_payload,
        &["REPLACE", "IDLETIME", "10", "FREQ", "5"],
    )
    .await
    .unwrap();
    let kind: String = query(&mut con, &["TYPE", "s"]).await.unwrap();
    assert_eq!(kind, "list", "REPLACE swaps the kind too");
    assert_eq!(dump(&mut con, "missing").await, None);
}

/// Payloads `DUMP` answered on Redis 7.0.15 restore here (the codec's unit tests hold the
/// decoded values; here the commands that read them back).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payloads_from_redis_7_restore() {
    let server = start().await;
    let mut con = server.connection().await;
    let cases = [
        ("int", "00c00a0a006e9f57450eae63bb"),
        ("lzf", "00c30940c8016161e0bb000161610a001f99f72e01b20de3"),
        (
            "list",
            "120102171700000005008161028162027b01dffb02f270110104ff0a0012da219f9a307aee",
        ),
        (
            "intset",
            "0b0e0200000003000000010002002c010a00e510b28e7b9529aa",
        ),
        (
            "zset",
            "111a1a0000000600816302dffd0281610283312e35048162020201ff0a0088c4c030f0ae8276",
        ),
        (
            "hash",
            "10151500000004008266310382763103826632031601ff0a00794ee62e9c48a90c",
        ),
    ];
    for (key, payload) in cases {
        restore(&mut con, key, 0, &hex(payload), &[]).await.unwrap();
    }
    let int: i64 = con.incr("int", 1).await.unwrap();
    assert_eq!(int, 11);
    let lzf: String = con.get("lzf").await.unwrap();
    assert_eq!(lzf, "a".repeat(200));
    let list: Vec<String> = con.lrange("list", 0, -1).await.unwrap();
    assert_eq!(list, ["a", "b", "123", "-5", "70000"]);
    let is_member: bool = con.sismember("intset", "300").await.unwrap();
    assert!(is_member);
    let score: f64 = con.zscore("zset", "a").await.unwrap();
    assert_eq!(score, 1.5);
    let field: String = con.hget("hash", "f2").await.unwrap();
    assert_eq!(field, "22");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_payloads_and_arguments_are_refused_and_change_nothing() {
    let server = start().await;
    let mut con = server.connection().await;
    let () = con.set("k", "v").await.unwrap();
    let good = dump(&mut con, "k").await.unwrap();
    let mut flipped = good.clone();
    flipped[2] ^= 0x20;
    for payload in [
        flipped,
        good[..good.len() - 1].to_vec(),
        b"garbage".to_vec(),
    ] {
        let err = restore(&mut con, "new", 0, &payload, &[])
            .await
            .unwrap_err();
        assert_eq!(
            err.detail(),
            Some("DUMP payload version or checksum are wrong"),
            "{err}"
        );
    }
    assert_eq!(con.exists::<_, i64>("new").await.unwrap(), 0);
    // A ziplist payload (Redis 6's small hash), with a valid footer: refused with the reason.
    let mut ziplist = vec![13u8, 0];
    ziplist.extend_from_slice(&9u16.to_le_bytes());
    let crc = crc64(&ziplist);
    ziplist.extend_from_slice(&crc.to_le_bytes());
    let err = restore(&mut con, "new", 0, &ziplist, &[])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("ziplist"), "{err}");

    expect_error(
        &mut con,
        &["RESTORE", "new", "-1", "x"],
        "ERR Invalid TTL value, must be >= 0",
    )
    .await;
    expect_error(
        &mut con,
        &["RESTORE", "new", "ten", "x"],
        "ERR value is not an integer or out of range",
    )
    .await;
    expect_error_starting(
        &mut con,
        &["RESTORE", "new", "0", "x", "LATER"],
        "ERR syntax error",
    )
    .await;
    let err = redis::cmd("RESTORE")
        .arg("new")
        .arg(0)
        .arg(&good)
        .arg("FREQ")
        .arg(256)
        .query_async::<()>(&mut con)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("Invalid FREQ value"), "{err}");
    // A value over the namespace's max item size (1 MiB here) is refused before REPLACE
    // removes anything.
    use larder::resp::dump_payload::{Payload, dump as encode};
    let big = encode(&Payload::List(vec![vec![b'x'; 2 << 20]]));
    let err = restore(&mut con, "k", 0, &big, &["REPLACE"])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("max item size"), "{err}");
    expect_error_starting(&mut con, &["DUMP"], "ERR wrong number of arguments").await;
    let v: String = con.get("k").await.unwrap();
    assert_eq!(v, "v");
    assert_eq!(con.exists::<_, i64>("new").await.unwrap(), 0);
}

/// CRC-64/Redis (Jones, reflected), bit by bit: a second implementation to build a test payload.
fn crc64(bytes: &[u8]) -> u64 {
    const POLY: u64 = 0x95AC_9329_AC4B_C9B5; // 0xad93d23594c935a9, reflected
    let mut crc = 0u64;
    for &b in bytes {
        crc ^= u64::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ POLY
            } else {
                crc >> 1
            };
        }
    }
    crc
}

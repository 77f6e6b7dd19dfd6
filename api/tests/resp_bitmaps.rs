//! Bitmaps and LCS through the `redis` crate: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD,
//! BITFIELD_RO and LCS — replies as Redis gives them, Redis's errors, and BITCOUNT/BITPOS checked
//! against a naive count over random strings and ranges.

mod resp_support;

use redis::AsyncCommands;
use redis::Value;
use resp_support::{Con, expect_error, query, start};

/// The strings `value` as stored: a bitmap is a plain string value.
async fn bytes(con: &mut Con, key: &str) -> Vec<u8> {
    con.get::<_, Vec<u8>>(key).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setbit_getbit_pad_and_answer_the_old_bit() {
    let server = start().await;
    let mut con = server.connection().await;

    // Bit 7 is the lowest bit of byte 0 (Redis numbers bits from the most significant).
    assert_eq!(
        query::<i64>(&mut con, &["SETBIT", "b", "7", "1"])
            .await
            .unwrap(),
        0
    );
    assert_eq!(bytes(&mut con, "b").await, [0x01]);
    assert_eq!(
        query::<i64>(&mut con, &["SETBIT", "b", "7", "0"])
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        query::<i64>(&mut con, &["SETBIT", "b", "0", "1"])
            .await
            .unwrap(),
        0
    );
    assert_eq!(bytes(&mut con, "b").await, [0x80]);
    // Setting a far bit pads with zero bytes.
    assert_eq!(
        query::<i64>(&mut con, &["SETBIT", "b", "17", "1"])
            .await
            .unwrap(),
        0
    );
    assert_eq!(bytes(&mut con, "b").await, [0x80, 0x00, 0x40]);
    assert_eq!(
        query::<i64>(&mut con, &["GETBIT", "b", "17"])
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        query::<i64>(&mut con, &["GETBIT", "b", "16"])
            .await
            .unwrap(),
        0
    );
    // Past the end and on a missing key: 0, and nothing is created.
    assert_eq!(
        query::<i64>(&mut con, &["GETBIT", "b", "1000"])
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        query::<i64>(&mut con, &["GETBIT", "none", "3"])
            .await
            .unwrap(),
        0
    );
    assert!(!con.exists::<_, bool>("none").await.unwrap());

    // SETBIT keeps the key's TTL, as every in-place string edit does.
    let _: () = con.set_ex("t", "a", 100).await.unwrap();
    query::<i64>(&mut con, &["SETBIT", "t", "1", "0"])
        .await
        .unwrap();
    let ttl: i64 = con.ttl("t").await.unwrap();
    assert!((1..=100).contains(&ttl), "ttl {ttl}");

    expect_error(
        &mut con,
        &["SETBIT", "b", "-1", "1"],
        "ERR bit offset is not an integer or out of range",
    )
    .await;
    expect_error(
        &mut con,
        &["SETBIT", "b", "x", "1"],
        "ERR bit offset is not an integer or out of range",
    )
    .await;
    expect_error(
        &mut con,
        &["SETBIT", "b", "1", "2"],
        "ERR bit is not an integer or out of range",
    )
    .await;
    expect_error(
        &mut con,
        &["GETBIT", "b", "-1"],
        "ERR bit offset is not an integer or out of range",
    )
    .await;
    let _: () = con.hset("h", "f", "v").await.unwrap();
    for args in [
        &["SETBIT", "h", "1", "1"][..],
        &["GETBIT", "h", "1"],
        &["BITCOUNT", "h"],
        &["BITPOS", "h", "1"],
        &["BITFIELD", "h", "GET", "u8", "0"],
    ] {
        expect_error(
            &mut con,
            args,
            "WRONGTYPE Operation against a key holding the wrong kind of value",
        )
        .await;
    }
    expect_error(
        &mut con,
        &["SETBIT", "b", "1"],
        "ERR wrong number of arguments for 'setbit' command",
    )
    .await;
    // A bad command never costs the connection anything.
    assert_eq!(
        query::<i64>(&mut con, &["GETBIT", "b", "0"]).await.unwrap(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bitcount_and_bitpos_with_byte_and_bit_ranges() {
    let server = start().await;
    let mut con = server.connection().await;

    let _: () = con.set("s", "foobar").await.unwrap();
    assert_eq!(
        query::<i64>(&mut con, &["BITCOUNT", "s"]).await.unwrap(),
        26
    );
    assert_eq!(
        query::<i64>(&mut con, &["BITCOUNT", "s", "0", "0"])
            .await
            .unwrap(),
        4
    );
    assert_eq!(
        query::<i64>(&mut con, &["BITCOUNT", "s", "1", "1"])
            .await
            .unwrap(),
        6
    );
    assert_eq!(
        query::<i64>(&mut con, &["BITCOUNT", "s", "1", "1", "BYTE"])
            .await
            .unwrap(),
        6
    );
    assert_eq!(
        query::<i64>(&mut con, &["BITCOUNT", "s", "5", "30", "BIT"])
            .await
            .unwrap(),
        17
    );
    assert_eq!(
        query::<i64>(&mut con, &["BITCOUNT", "s", "-2", "-1"])
            .await
            .unwrap(),
        7
    );
    assert_eq!(
        query::<i64>(&mut con, &["BITCOUNT", "s", "4", "2"])
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        query::<i64>(&mut con, &["BITCOUNT", "none"]).await.unwrap(),
        0
    );
    expect_error(&mut con, &["BITCOUNT", "s", "0"], "ERR syntax error").await;
    expect_error(
        &mut con,
        &["BITCOUNT", "s", "0", "1", "WORD"],
        "ERR syntax error",
    )
    .await;
    expect_error(
        &mut con,
        &["BITCOUNT", "s", "a", "1"],
        "ERR value is not an integer or out of range",
    )
    .await;

    let _: () = con.set("p", b"\xff\xf0\x00".as_slice()).await.unwrap();
    assert_eq!(
        query::<i64>(&mut con, &["BITPOS", "p", "0"]).await.unwrap(),
        12
    );
    assert_eq!(
        query::<i64>(&mut con, &["BITPOS", "p", "1", "2"])
            .await
            .unwrap(),
        -1
    );
    assert_eq!(
        query::<i64>(&mut con, &["BITPOS", "p", "0", "2", "-1", "BYTE"])
            .await
            .unwrap(),
        16
    );
    assert_eq!(
        query::<i64>(&mut con, &["BITPOS", "p", "1", "7", "15", "BIT"])
            .await
            .unwrap(),
        7
    );
    // Looking for a clear bit with no end given: the string is taken as padded with zeros.
    let _: () = con.set("full", b"\xff\xff".as_slice()).await.unwrap();
    assert_eq!(
        query::<i64>(&mut con, &["BITPOS", "full", "0"])
            .await
            .unwrap(),
        16
    );
    // …but with an explicit end, only the range counts.
    assert_eq!(
        query::<i64>(&mut con, &["BITPOS", "full", "0", "0", "-1"])
            .await
            .unwrap(),
        -1
    );
    // A missing key: no set bit, the first clear bit is bit 0.
    assert_eq!(
        query::<i64>(&mut con, &["BITPOS", "none", "1"])
            .await
            .unwrap(),
        -1
    );
    assert_eq!(
        query::<i64>(&mut con, &["BITPOS", "none", "0"])
            .await
            .unwrap(),
        0
    );
    expect_error(
        &mut con,
        &["BITPOS", "p", "2"],
        "ERR The bit argument must be 1 or 0.",
    )
    .await;
    // A bad unit is a syntax error even when the range before it is not a number, as in Redis.
    expect_error(
        &mut con,
        &["BITPOS", "p", "0", "1", "x", "y"],
        "ERR syntax error",
    )
    .await;
    expect_error(
        &mut con,
        &["BITCOUNT", "p", "x", "1", "y"],
        "ERR syntax error",
    )
    .await;
}

/// Bit `i` of `bytes`, numbered from the most significant bit of byte 0.
fn bit(bytes: &[u8], i: usize) -> bool {
    bytes[i / 8] & (0x80 >> (i % 8)) != 0
}

/// Redis's range rule: two negative indexes in the wrong order are empty (before clamping, as
/// Redis 7 checks it); otherwise negative indexes count from the end, then clamp; empty is `None`.
fn range(start: i64, end: i64, len: i64) -> Option<(usize, usize)> {
    if start < 0 && end < 0 && start > end {
        return None;
    }
    let fix = |i: i64| if i < 0 { (i + len).max(0) } else { i };
    let (start, end) = (fix(start), fix(end).min(len - 1));
    (len > 0 && start <= end).then_some((start as usize, end as usize))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bitcount_and_bitpos_agree_with_a_naive_walk_over_random_strings() {
    let server = start().await;
    let mut con = server.connection().await;
    // A fixed-seed xorshift: the same cases every run, many shapes of string and range.
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for case in 0..200 {
        let len = (next() % 40) as usize;
        // Mostly-zero, mostly-one and random bytes, so BITPOS meets every edge.
        let bias = next() % 3;
        let value: Vec<u8> = (0..len)
            .map(|_| match bias {
                0 => (next() as u8) & (next() as u8) & (next() as u8),
                1 => (next() as u8) | (next() as u8) | (next() as u8),
                _ => next() as u8,
            })
            .collect();
        let _: () = con.set("r", value.as_slice()).await.unwrap();
        let bits = (len * 8) as i64;
        let span = (len as i64 + 2) * 2;
        let start = (next() % span as u64) as i64 - span / 2;
        let end = (next() % span as u64) as i64 - span / 2;
        let by_bit = next() % 2 == 0;
        let (unit, unit_len) = if by_bit {
            ("BIT", bits)
        } else {
            ("BYTE", len as i64)
        };
        // The bits the range covers.
        let covered = range(start, end, unit_len)
            .map(|(a, b)| if by_bit { (a, b) } else { (a * 8, b * 8 + 7) });
        let expected_count =
            covered.map_or(0, |(a, b)| (a..=b).filter(|&i| bit(&value, i)).count());
        let (s, e) = (start.to_string(), end.to_string());
        let count: i64 = query(&mut con, &["BITCOUNT", "r", &s, &e, unit])
            .await
            .unwrap();
        assert_eq!(
            count as usize, expected_count,
            "case {case}: {value:?} {s} {e} {unit}"
        );
        for wanted in [0u8, 1] {
            let expected_pos = covered
                .and_then(|(a, b)| (a..=b).find(|&i| bit(&value, i) == (wanted == 1)))
                .map_or(-1, |i| i as i64);
            let w = wanted.to_string();
            let pos: i64 = query(&mut con, &["BITPOS", "r", &w, &s, &e, unit])
                .await
                .unwrap();
            assert_eq!(
                pos, expected_pos,
                "case {case}: {value:?} BITPOS {w} {s} {e} {unit}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bitop_combines_pads_and_deletes_on_empty() {
    let server = start().await;
    let mut con = server.connection().await;

    let _: () = con.set("a", b"\xf0\x0f".as_slice()).await.unwrap();
    let _: () = con.set("b", b"\xff".as_slice()).await.unwrap();
    // The shorter source counts as padded with zero bytes; the reply is the result's length.
    assert_eq!(
        query::<i64>(&mut con, &["BITOP", "AND", "d", "a", "b"])
            .await
            .unwrap(),
        2
    );
    assert_eq!(bytes(&mut con, "d").await, [0xf0, 0x00]);
    assert_eq!(
        query::<i64>(&mut con, &["BITOP", "OR", "d", "a", "b"])
            .await
            .unwrap(),
        2
    );
    assert_eq!(bytes(&mut con, "d").await, [0xff, 0x0f]);
    assert_eq!(
        query::<i64>(&mut con, &["BITOP", "xor", "d", "a", "b"])
            .await
            .unwrap(),
        2
    );
    assert_eq!(bytes(&mut con, "d").await, [0x0f, 0x0f]);
    assert_eq!(
        query::<i64>(&mut con, &["BITOP", "NOT", "d", "a"])
            .await
            .unwrap(),
        2
    );
    assert_eq!(bytes(&mut con, "d").await, [0x0f, 0xf0]);
    // A missing source is an empty string; all sources empty deletes the destination.
    assert_eq!(
        query::<i64>(&mut con, &["BITOP", "AND", "d", "a", "none"])
            .await
            .unwrap(),
        2
    );
    assert_eq!(bytes(&mut con, "d").await, [0x00, 0x00]);
    assert_eq!(
        query::<i64>(&mut con, &["BITOP", "OR", "d", "none", "none2"])
            .await
            .unwrap(),
        0
    );
    assert!(!con.exists::<_, bool>("d").await.unwrap());

    expect_error(
        &mut con,
        &["BITOP", "NOT", "d", "a", "b"],
        "ERR BITOP NOT must be called with a single source key.",
    )
    .await;
    expect_error(&mut con, &["BITOP", "NAND", "d", "a"], "ERR syntax error").await;
    let _: () = con.rpush("l", "x").await.unwrap();
    expect_error(
        &mut con,
        &["BITOP", "AND", "d", "a", "l"],
        "WRONGTYPE Operation against a key holding the wrong kind of value",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bitfield_reads_writes_and_overflows_as_redis_does() {
    let server = start().await;
    let mut con = server.connection().await;

    // SET answers the old value, GET the current one, INCRBY the new one.
    let v: Vec<Option<i64>> = query(
        &mut con,
        &[
            "BITFIELD", "f", "SET", "u8", "0", "200", "GET", "u8", "0", "INCRBY", "u8", "0", "100",
        ],
    )
    .await
    .unwrap();
    assert_eq!(v, [Some(0), Some(200), Some(44)]); // WRAP is the default: 300 mod 256
    assert_eq!(bytes(&mut con, "f").await, [44]);
    // `#n` offsets are multiplied by the type's width.
    let v: Vec<Option<i64>> = query(
        &mut con,
        &["BITFIELD", "f", "SET", "i8", "#1", "-1", "GET", "u4", "#3"],
    )
    .await
    .unwrap();
    assert_eq!(v, [Some(0), Some(15)]);
    assert_eq!(bytes(&mut con, "f").await, [44, 0xff]);

    // SAT clamps, FAIL refuses (nil) and leaves the field untouched.
    let v: Vec<Option<i64>> = query(
        &mut con,
        &[
            "BITFIELD", "g", "OVERFLOW", "SAT", "INCRBY", "i8", "0", "200", "INCRBY", "i8", "0",
            "-300", "OVERFLOW", "FAIL", "INCRBY", "i8", "0", "-1", "GET", "i8", "0",
        ],
    )
    .await
    .unwrap();
    assert_eq!(v, [Some(127), Some(-128), None, Some(-128)]);
    let v: Vec<Option<i64>> = query(
        &mut con,
        &[
            "BITFIELD", "g", "OVERFLOW", "WRAP", "INCRBY", "i8", "0", "-1", "SET", "u2", "100", "5",
        ],
    )
    .await
    .unwrap();
    assert_eq!(v, [Some(127), Some(0)]);
    // i64 is supported, u64 is not.
    let v: Vec<Option<i64>> = query(
        &mut con,
        &[
            "BITFIELD",
            "w",
            "SET",
            "i64",
            "0",
            "-9223372036854775808",
            "INCRBY",
            "i64",
            "0",
            "-1",
        ],
    )
    .await
    .unwrap();
    assert_eq!(v, [Some(0), Some(i64::MAX)]);
    expect_error(
        &mut con,
        &["BITFIELD", "w", "GET", "u64", "0"],
        "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.",
    )
    .await;
    expect_error(
        &mut con,
        &["BITFIELD", "w", "OVERFLOW", "MAYBE"],
        "ERR Invalid OVERFLOW type specified",
    )
    .await;
    expect_error(
        &mut con,
        &["BITFIELD", "w", "GET", "u8", "-1"],
        "ERR bit offset is not an integer or out of range",
    )
    .await;
    expect_error(
        &mut con,
        &["BITFIELD", "w", "SET", "u8", "0"],
        "ERR syntax error",
    )
    .await;
    // A GET-only BITFIELD on a missing key reads zeros and creates nothing.
    let v: Vec<Option<i64>> = query(&mut con, &["BITFIELD", "none", "GET", "u8", "0"])
        .await
        .unwrap();
    assert_eq!(v, [Some(0)]);
    assert!(!con.exists::<_, bool>("none").await.unwrap());

    let v: Vec<Option<i64>> = query(&mut con, &["BITFIELD_RO", "f", "GET", "u8", "0"])
        .await
        .unwrap();
    assert_eq!(v, [Some(44)]);
    expect_error(
        &mut con,
        &["BITFIELD_RO", "f", "SET", "u8", "0", "1"],
        "ERR BITFIELD_RO only supports the GET subcommand",
    )
    .await;
    assert_eq!(bytes(&mut con, "f").await, [44, 0xff]);
}

/// An inclusive `[start, end]` range of one key, as LCS IDX reports it.
type Span = (i64, i64);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lcs_string_length_and_match_indexes() {
    let server = start().await;
    let mut con = server.connection().await;

    let _: () = con
        .mset(&[("k1", "ohmytext"), ("k2", "mynewtext")])
        .await
        .unwrap();
    assert_eq!(
        query::<String>(&mut con, &["LCS", "k1", "k2"])
            .await
            .unwrap(),
        "mytext"
    );
    assert_eq!(
        query::<i64>(&mut con, &["LCS", "k1", "k2", "LEN"])
            .await
            .unwrap(),
        6
    );
    // IDX: the matches from the end of the strings backwards, as ranges in each key.
    let idx: Value = query(&mut con, &["LCS", "k1", "k2", "IDX"]).await.unwrap();
    let matches = |pairs: &[(Span, Span)], with_len: bool| {
        Value::Array(
            pairs
                .iter()
                .map(|&((a0, a1), (b0, b1))| {
                    let mut m = vec![
                        Value::Array(vec![Value::Int(a0), Value::Int(a1)]),
                        Value::Array(vec![Value::Int(b0), Value::Int(b1)]),
                    ];
                    if with_len {
                        m.push(Value::Int(a1 - a0 + 1));
                    }
                    Value::Array(m)
                })
                .collect(),
        )
    };
    let reply = |m: Value| {
        Value::Array(vec![
            Value::BulkString(b"matches".to_vec()),
            m,
            Value::BulkString(b"len".to_vec()),
            Value::Int(6),
        ])
    };
    assert_eq!(
        idx,
        reply(matches(&[((4, 7), (5, 8)), ((2, 3), (0, 1))], false))
    );
    let idx: Value = query(&mut con, &["LCS", "k1", "k2", "IDX", "MINMATCHLEN", "4"])
        .await
        .unwrap();
    assert_eq!(idx, reply(matches(&[((4, 7), (5, 8))], false)));
    let idx: Value = query(&mut con, &["LCS", "k1", "k2", "IDX", "WITHMATCHLEN"])
        .await
        .unwrap();
    assert_eq!(
        idx,
        reply(matches(&[((4, 7), (5, 8)), ((2, 3), (0, 1))], true))
    );

    // Missing keys are empty strings.
    assert_eq!(
        query::<String>(&mut con, &["LCS", "k1", "none"])
            .await
            .unwrap(),
        ""
    );
    expect_error(
        &mut con,
        &["LCS", "k1", "k2", "LEN", "IDX"],
        "ERR If you want both the length and indexes, please just use IDX.",
    )
    .await;
    expect_error(&mut con, &["LCS", "k1", "k2", "FAST"], "ERR syntax error").await;
    let _: () = con.sadd("set", "x").await.unwrap();
    expect_error(
        &mut con,
        &["LCS", "k1", "set"],
        "ERR The specified keys must contain string values",
    )
    .await;
}

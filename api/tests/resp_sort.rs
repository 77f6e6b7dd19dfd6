//! `SORT` and `SORT_RO` through the `redis` crate: numeric and ALPHA order, BY and GET patterns
//! (keys and hash fields), LIMIT, DESC, `BY nosort`, STORE, and Redis's errors.

mod resp_support;

use redis::AsyncCommands;
use resp_support::{Con, expect_error, query, start};

async fn sort(con: &mut Con, args: &[&str]) -> Vec<Option<String>> {
    let mut full = vec!["SORT"];
    full.extend_from_slice(args);
    query(con, &full).await.unwrap()
}

fn some(items: &[&str]) -> Vec<Option<String>> {
    items.iter().map(|s| Some(s.to_string())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sorts_numbers_text_and_by_other_keys() {
    let server = start().await;
    let mut con = server.connection().await;
    let () = con.rpush("l", &["3", "1", "2", "10"]).await.unwrap();
    assert_eq!(sort(&mut con, &["l"]).await, some(&["1", "2", "3", "10"]));
    assert_eq!(
        sort(&mut con, &["l", "DESC"]).await,
        some(&["10", "3", "2", "1"])
    );
    assert_eq!(
        sort(&mut con, &["l", "ALPHA"]).await,
        some(&["1", "10", "2", "3"])
    );
    assert_eq!(
        sort(&mut con, &["l", "LIMIT", "1", "2"]).await,
        some(&["2", "3"])
    );
    assert_eq!(
        sort(&mut con, &["l", "LIMIT", "2", "-1"]).await,
        some(&["3", "10"]),
        "a negative count takes the rest"
    );

    let () = con
        .rpush("words", &["banana", "apple", "cherry"])
        .await
        .unwrap();
    assert_eq!(
        sort(&mut con, &["words", "ALPHA", "DESC"]).await,
        some(&["cherry", "banana", "apple"])
    );
    expect_error(
        &mut con,
        &["SORT", "words"],
        "ERR One or more scores can't be converted into double",
    )
    .await;

    // BY weights in other keys (a missing weight is 0), GET values of other keys and hash fields.
    for (k, v) in [
        ("w_1", "30"),
        ("w_2", "10"),
        ("w_3", "20"),
        ("obj_1", "one"),
        ("obj_3", "three"),
    ] {
        let () = con.set(k, v).await.unwrap();
    }
    assert_eq!(
        sort(&mut con, &["l", "BY", "w_*"]).await,
        some(&["10", "2", "3", "1"])
    );
    assert_eq!(
        sort(&mut con, &["l", "BY", "w_*", "GET", "#", "GET", "obj_*"]).await,
        vec![
            Some("10".into()),
            None,
            Some("2".into()),
            None,
            Some("3".into()),
            Some("three".into()),
            Some("1".into()),
            Some("one".into()),
        ]
    );
    for (i, score, name) in [("1", "5", "uno"), ("2", "1", "dos"), ("3", "3", "tres")] {
        let () = con
            .hset_multiple(format!("h_{i}"), &[("score", score), ("name", name)])
            .await
            .unwrap();
    }
    let () = con.rpush("ids", &["1", "2", "3"]).await.unwrap();
    assert_eq!(
        sort(&mut con, &["ids", "BY", "h_*->score", "GET", "h_*->name"]).await,
        some(&["dos", "tres", "uno"])
    );

    // BY nosort keeps the source's order; a sorted set's reversed with DESC.
    assert_eq!(
        sort(&mut con, &["l", "BY", "nosort"]).await,
        some(&["3", "1", "2", "10"])
    );
    let () = con
        .zadd_multiple("z", &[(1, "a"), (3, "c"), (2, "b")])
        .await
        .unwrap();
    assert_eq!(
        sort(&mut con, &["z", "BY", "nosort", "DESC"]).await,
        some(&["c", "b", "a"])
    );
    assert_eq!(
        sort(&mut con, &["z", "ALPHA", "DESC"]).await,
        some(&["c", "b", "a"])
    );
    let () = con.sadd("s", &["5", "-1", "2.5"]).await.unwrap();
    assert_eq!(sort(&mut con, &["s"]).await, some(&["-1", "2.5", "5"]));
    assert_eq!(sort(&mut con, &["missing"]).await, some(&[]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_replaces_the_destination_with_a_list() {
    let server = start().await;
    let mut con = server.connection().await;
    let () = con.rpush("l", &["3", "1", "2"]).await.unwrap();
    let () = con.set("dest", "a string").await.unwrap();
    let n: i64 = query(&mut con, &["SORT", "l", "STORE", "dest"])
        .await
        .unwrap();
    assert_eq!(n, 3);
    let stored: Vec<String> = con.lrange("dest", 0, -1).await.unwrap();
    assert_eq!(stored, ["1", "2", "3"]);
    let ttl: i64 = con.ttl("dest").await.unwrap();
    assert_eq!(ttl, -1);
    // Missing GET values are stored as empty strings; an empty result deletes the destination.
    let n: i64 = query(
        &mut con,
        &["SORT", "l", "GET", "nothing_*", "STORE", "dest"],
    )
    .await
    .unwrap();
    assert_eq!(n, 3);
    let stored: Vec<String> = con.lrange("dest", 0, -1).await.unwrap();
    assert_eq!(stored, ["", "", ""]);
    let n: i64 = query(&mut con, &["SORT", "missing", "STORE", "dest"])
        .await
        .unwrap();
    assert_eq!(n, 0);
    assert_eq!(con.exists::<_, i64>("dest").await.unwrap(), 0);

    // SORT_RO reads like SORT and takes no STORE.
    let got: Vec<String> = query(&mut con, &["SORT_RO", "l", "DESC"]).await.unwrap();
    assert_eq!(got, ["3", "2", "1"]);
    expect_error(
        &mut con,
        &["SORT_RO", "l", "STORE", "dest"],
        "ERR syntax error",
    )
    .await;
    let () = con.set("str", "x").await.unwrap();
    expect_error(
        &mut con,
        &["SORT", "str"],
        "WRONGTYPE Operation against a key holding the wrong kind of value",
    )
    .await;
    expect_error(
        &mut con,
        &["SORT", "l", "LIMIT", "a", "1"],
        "ERR value is not an integer or out of range",
    )
    .await;
    expect_error(&mut con, &["SORT", "l", "SIDEWAYS"], "ERR syntax error").await;
}

//! CLIENT LIST, CLIENT KILL and INFO's client counts, against a real server with real clients:
//! what an operator uses to see who is connected and to end a misbehaving connection.

mod resp_support;

use std::collections::HashMap;
use std::time::Duration;

use resp_support::{Raw, cmd, expect_error, query, start};

/// `CLIENT LIST` parsed: one map of `field=value` per line.
fn parse_list(text: &str) -> Vec<HashMap<String, String>> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|line| {
            line.split(' ')
                .filter_map(|pair| pair.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

fn by_name<'a>(list: &'a [HashMap<String, String>], name: &str) -> &'a HashMap<String, String> {
    list.iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no client named {name} in {list:?}"))
}

fn info_field(info: &str, field: &str) -> i64 {
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in {info}"))
        .trim()
        .parse()
        .unwrap()
}

/// Poll `CLIENT LIST` until `ready` holds (another connection's entry is brought up to date
/// when its batch ends, so it can trail that connection's reply by a moment).
async fn list_until(
    con: &mut resp_support::Con,
    ready: impl Fn(&[HashMap<String, String>]) -> bool,
) -> Vec<HashMap<String, String>> {
    for _ in 0..100 {
        let text: String = query(con, &["CLIENT", "LIST"]).await.unwrap();
        let list = parse_list(&text);
        if ready(&list) {
            return list;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let text: String = query(con, &["CLIENT", "LIST"]).await.unwrap();
    panic!("CLIENT LIST never reached the expected state: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_list_describes_every_connection() {
    let server = start().await;
    let mut admin = server.connection().await;
    let () = query(&mut admin, &["CLIENT", "SETNAME", "admin"])
        .await
        .unwrap();

    // A subscriber, a client inside MULTI with a WATCH, and one in another namespace.
    let mut subscriber = Raw::connect(server.addr).await;
    subscriber
        .roundtrip(&cmd(&["CLIENT", "SETNAME", "sub"]), b"+OK\r\n")
        .await;
    subscriber
        .roundtrip(
            &cmd(&["SUBSCRIBE", "news", "weather"]),
            b"*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$7\r\nweather\r\n:2\r\n",
        )
        .await;
    let mut txn = Raw::connect(server.addr).await;
    txn.roundtrip(&cmd(&["CLIENT", "SETNAME", "txn"]), b"+OK\r\n")
        .await;
    txn.roundtrip(&cmd(&["WATCH", "a", "b"]), b"+OK\r\n").await;
    txn.roundtrip(&cmd(&["MULTI"]), b"+OK\r\n").await;
    txn.roundtrip(&cmd(&["SET", "a", "1"]), b"+QUEUED\r\n")
        .await;
    let mut other_db = Raw::connect(server.addr).await;
    other_db
        .roundtrip(&cmd(&["CLIENT", "SETNAME", "db3"]), b"+OK\r\n")
        .await;
    other_db.roundtrip(&cmd(&["SELECT", "3"]), b"+OK\r\n").await;
    other_db.roundtrip(&cmd(&["GET", "x"]), b"$-1\r\n").await;

    let list = list_until(&mut admin, |l| {
        l.len() == 4
            && l.iter().any(|c| c["name"] == "txn" && c["multi"] == "1")
            && l.iter().any(|c| c["name"] == "db3" && c["cmd"] == "get")
    })
    .await;
    let me = by_name(&list, "admin");
    assert_eq!(me["flags"], "N");
    assert_eq!(me["cmd"], "client");
    assert_eq!(me["db"], "0");
    assert_eq!(me["ns"], "default");
    let sub = by_name(&list, "sub");
    assert_eq!(sub["flags"], "P");
    assert_eq!((sub["sub"].as_str(), sub["psub"].as_str()), ("2", "0"));
    let txn_line = by_name(&list, "txn");
    assert_eq!(txn_line["flags"], "x");
    assert_eq!(txn_line["watch"], "2");
    let db3 = by_name(&list, "db3");
    assert_eq!((db3["db"].as_str(), db3["ns"].as_str()), ("3", "db3"));
    // Ids are distinct and increase in connection order; addresses are the real peers.
    let ids: Vec<u64> = list.iter().map(|c| c["id"].parse().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    let local = txn.stream.local_addr().unwrap().to_string();
    assert_eq!(txn_line["addr"], local);

    // TYPE and ID filters.
    let pubsub: String = query(&mut admin, &["CLIENT", "LIST", "TYPE", "pubsub"])
        .await
        .unwrap();
    let pubsub = parse_list(&pubsub);
    assert_eq!(pubsub.len(), 1);
    assert_eq!(pubsub[0]["name"], "sub");
    let normal: String = query(&mut admin, &["CLIENT", "LIST", "TYPE", "normal"])
        .await
        .unwrap();
    assert_eq!(parse_list(&normal).len(), 3);
    let replicas: String = query(&mut admin, &["CLIENT", "LIST", "TYPE", "replica"])
        .await
        .unwrap();
    assert_eq!(replicas, "");
    let one: String = query(&mut admin, &["CLIENT", "LIST", "ID", &db3["id"], "999999"])
        .await
        .unwrap();
    let one = parse_list(&one);
    assert_eq!(one.len(), 1);
    assert_eq!(one[0]["name"], "db3");
    expect_error(
        &mut admin,
        &["CLIENT", "LIST", "TYPE", "bogus"],
        "ERR Unknown client type 'bogus'",
    )
    .await;
    expect_error(
        &mut admin,
        &["CLIENT", "LIST", "ID", "x"],
        "ERR Invalid client ID",
    )
    .await;
    expect_error(&mut admin, &["CLIENT", "LIST", "FOO"], "ERR syntax error").await;

    // INFO counts the same clients.
    let info: String = query(&mut admin, &["INFO", "clients"]).await.unwrap();
    assert_eq!(info_field(&info, "pubsub_clients"), 1);
    assert_eq!(info_field(&info, "watching_clients"), 1);
    assert_eq!(info_field(&info, "total_watched_keys"), 2);
    assert_eq!(info_field(&info, "tracking_clients"), 0);
    let () = query(&mut admin, &["CLIENT", "TRACKING", "ON", "BCAST"])
        .await
        .unwrap();
    let info: String = query(&mut admin, &["INFO", "clients"]).await.unwrap();
    assert_eq!(info_field(&info, "tracking_clients"), 1);
    let text: String = query(&mut admin, &["CLIENT", "INFO"]).await.unwrap();
    assert_eq!(parse_list(&text)[0]["flags"], "tB");

    // A client leaving leaves the list.
    drop(other_db);
    list_until(&mut admin, |l| l.len() == 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_kill_ends_the_connections_its_filters_match() {
    let server = start().await;
    let mut admin = server.connection().await;
    let my_id: i64 = query(&mut admin, &["CLIENT", "ID"]).await.unwrap();

    // By id: the victim's socket is closed by the server; its id is gone from the list.
    let mut victim = Raw::connect(server.addr).await;
    victim.send(&cmd(&["CLIENT", "ID"])).await;
    let reply = String::from_utf8(victim.read_exact_len(1).await).unwrap();
    assert_eq!(reply, ":");
    let mut rest = Vec::new();
    while !rest.ends_with(b"\r\n") {
        rest.extend(victim.read_exact_len(1).await);
    }
    let victim_id = String::from_utf8(rest).unwrap().trim().to_string();
    let killed: i64 = query(&mut admin, &["CLIENT", "KILL", "ID", &victim_id])
        .await
        .unwrap();
    assert_eq!(killed, 1);
    assert!(victim.read_to_close().await.is_empty());
    let list: String = query(&mut admin, &["CLIENT", "LIST"]).await.unwrap();
    assert!(!list.contains(&format!("id={victim_id} ")), "{list}");
    let killed: i64 = query(&mut admin, &["CLIENT", "KILL", "ID", &victim_id])
        .await
        .unwrap();
    assert_eq!(killed, 0);

    // The old form by address answers OK, or an error when nobody is there.
    let mut by_addr = Raw::connect(server.addr).await;
    by_addr.roundtrip(&cmd(&["PING"]), b"+PONG\r\n").await;
    let addr = by_addr.stream.local_addr().unwrap().to_string();
    let ok: String = query(&mut admin, &["CLIENT", "KILL", &addr]).await.unwrap();
    assert_eq!(ok, "OK");
    assert!(by_addr.read_to_close().await.is_empty());
    expect_error(&mut admin, &["CLIENT", "KILL", &addr], "ERR No such client").await;

    // MAXAGE spares connections younger than it; USER matches everyone here (all are
    // `default`) but SKIPME (on by default) spares the caller.
    let mut young = Raw::connect(server.addr).await;
    young.roundtrip(&cmd(&["PING"]), b"+PONG\r\n").await;
    let killed: i64 = query(&mut admin, &["CLIENT", "KILL", "MAXAGE", "3600"])
        .await
        .unwrap();
    assert_eq!(killed, 0);
    young.roundtrip(&cmd(&["PING"]), b"+PONG\r\n").await;
    let killed: i64 = query(&mut admin, &["CLIENT", "KILL", "USER", "default"])
        .await
        .unwrap();
    assert_eq!(killed, 1);
    assert!(young.read_to_close().await.is_empty());
    let still_me: i64 = query(&mut admin, &["CLIENT", "ID"]).await.unwrap();
    assert_eq!(still_me, my_id);

    // Bad filters are refused and kill nobody.
    for (args, error) in [
        (
            vec!["CLIENT", "KILL", "MAXAGE", "0"],
            "ERR maxage should be greater than 0",
        ),
        (
            vec!["CLIENT", "KILL", "MAXAGE", "soon"],
            "ERR maxage is not an integer or out of range",
        ),
        (
            vec!["CLIENT", "KILL", "ID", "0"],
            "ERR client-id should be greater than 0",
        ),
        (
            vec!["CLIENT", "KILL", "TYPE", "robot", "SKIPME", "no"],
            "ERR Unknown client type 'robot'",
        ),
        (
            vec!["CLIENT", "KILL", "SKIPME", "maybe", "ID", "1"],
            "ERR syntax error",
        ),
        // Three words are the old form: "ID" is taken as an address, as Redis does.
        (vec!["CLIENT", "KILL", "ID"], "ERR No such client"),
        (
            vec!["CLIENT", "KILL", "ID", "1", "ADDR"],
            "ERR syntax error",
        ),
    ] {
        expect_error(&mut admin, &args, error).await;
    }

    // A client may kill itself with SKIPME no: it gets its answer, then the connection closes.
    let mut suicidal = Raw::connect(server.addr).await;
    suicidal
        .send(&cmd(&[
            "CLIENT",
            "KILL",
            "ADDR",
            &suicidal.stream.local_addr().unwrap().to_string(),
            "SKIPME",
            "no",
        ]))
        .await;
    assert_eq!(suicidal.read_to_close().await, b":1\r\n");
    let pong: String = query(&mut admin, &["PING"]).await.unwrap();
    assert_eq!(pong, "PONG");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracking_redirect_needs_a_connected_client() {
    let server = start().await;
    let mut con = server.connection().await;
    expect_error(
        &mut con,
        &["CLIENT", "TRACKING", "ON", "REDIRECT", "987654"],
        "ERR The client ID you want redirect to does not exist",
    )
    .await;
    let mut target = server.connection().await;
    let target_id: i64 = query(&mut target, &["CLIENT", "ID"]).await.unwrap();
    let () = query(
        &mut con,
        &[
            "CLIENT",
            "TRACKING",
            "ON",
            "REDIRECT",
            &target_id.to_string(),
        ],
    )
    .await
    .unwrap();
    let redirect: i64 = query(&mut con, &["CLIENT", "GETREDIR"]).await.unwrap();
    assert_eq!(redirect, target_id);
}

/// Read from `raw` until what arrived contains `needle`; returns everything read.
async fn read_until(raw: &mut Raw, got: &mut Vec<u8>, needle: &[u8]) {
    use tokio::io::AsyncReadExt;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !got.windows(needle.len()).any(|w| w == needle) {
        let mut buf = [0u8; 4096];
        let n = tokio::time::timeout_at(deadline, raw.stream.read(&mut buf))
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "no {:?} within 10 s; got {:?}",
                    String::from_utf8_lossy(needle),
                    String::from_utf8_lossy(got)
                )
            })
            .expect("read");
        assert!(n > 0, "closed; got {:?}", String::from_utf8_lossy(got));
        got.extend_from_slice(&buf[..n]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resp3_tracker_hears_when_its_redirect_target_is_gone() {
    let server = start().await;
    let mut admin = server.connection().await;
    let mut target = server.connection().await;
    let target_id: i64 = query(&mut target, &["CLIENT", "ID"]).await.unwrap();
    let mut tracker = Raw::connect(server.addr).await;
    let mut got = Vec::new();
    tracker
        .send(
            format!("HELLO 3\r\nCLIENT TRACKING ON REDIRECT {target_id}\r\nGET k\r\nPING done\r\n")
                .as_bytes(),
        )
        .await;
    read_until(&mut tracker, &mut got, b"done\r\n").await;
    drop(target);
    list_until(&mut admin, |l| {
        l.iter().all(|c| c["id"] != target_id.to_string())
    })
    .await;
    let () = query(&mut admin, &["SET", "k", "v"]).await.unwrap();
    got.clear();
    let expected = format!(">2\r\n$21\r\ntracking-redir-broken\r\n:{target_id}\r\n");
    read_until(&mut tracker, &mut got, expected.as_bytes()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracking_table_max_keys_bounds_what_is_remembered() {
    let server = start().await;
    let mut admin = server.connection().await;
    let max: Vec<String> = query(&mut admin, &["CONFIG", "GET", "tracking-table-max-keys"])
        .await
        .unwrap();
    assert_eq!(max, ["tracking-table-max-keys", "1000000"]);
    let () = query(
        &mut admin,
        &["CONFIG", "SET", "tracking-table-max-keys", "2"],
    )
    .await
    .unwrap();
    expect_error(
        &mut admin,
        &["CONFIG", "SET", "tracking-table-max-keys", "many"],
        "ERR CONFIG SET failed (possibly related to argument 'tracking-table-max-keys') - \
         argument couldn't be parsed into an integer",
    )
    .await;
    // A RESP3 tracker reads three keys; the table keeps two, so the first is invalidated early.
    let mut tracker = Raw::connect(server.addr).await;
    let mut got = Vec::new();
    tracker
        .send(b"HELLO 3\r\nCLIENT TRACKING ON\r\nGET a\r\nGET b\r\nGET c\r\n")
        .await;
    read_until(
        &mut tracker,
        &mut got,
        b">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\na\r\n",
    )
    .await;
}

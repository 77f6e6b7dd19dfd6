//! A three-node cluster on loopback, spoken to with the `redis` crate: formation and joins, the
//! slot map as CLUSTER reports it, proxying through any node, multi-key commands split over the
//! owners in proxy mode, MOVED and CROSSSLOT in redirect mode, and a member that restarts from
//! its data directory.

use std::time::{Duration, Instant};

use larder::config::{ClusterConfig, Config};
use larder::persistence::PersistConfig;
use larder::server::{self, RunningServer};
use larder::state::ClusterMode;
use larder_cluster::slot::key_slot;
use larder_plugin_wasm as wasm;
use redis::aio::MultiplexedConnection;

fn config(dir: &std::path::Path, join: Option<String>, mode: ClusterMode) -> Config {
    Config {
        resp_addr: "127.0.0.1:0".parse().unwrap(),
        http_addr: "127.0.0.1:0".parse().unwrap(),
        persist: Some(PersistConfig {
            data_dir: dir.to_path_buf(),
            snapshot_every: Duration::ZERO,
            discard_bad_data: false,
            append_log: None,
            encryption: None,
        }),
        cluster: Some(ClusterConfig {
            bus_addr: "127.0.0.1:0".parse().unwrap(),
            init: join.is_none(),
            join,
            mode,
            tls: None,
            replicas: 0,
            node_timeout: Duration::from_secs(5),
        }),
        ..Default::default()
    }
}

/// The config that restarts a member from its data directory on the addresses it had: no
/// `--cluster-init` or `--join`, the membership is resumed from disk.
fn resumed(
    dir: &std::path::Path,
    (resp, http, bus): (
        std::net::SocketAddr,
        std::net::SocketAddr,
        std::net::SocketAddr,
    ),
) -> Config {
    let mut restart = config(dir, None, ClusterMode::Proxy);
    restart.resp_addr = resp;
    restart.http_addr = http;
    let cluster = restart.cluster.as_mut().unwrap();
    cluster.init = false;
    cluster.bus_addr = bus;
    restart
}

async fn connect(node: &RunningServer) -> MultiplexedConnection {
    redis::Client::open(format!("redis://{}/", node.resp_addr))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

async fn cluster_info(con: &mut MultiplexedConnection) -> String {
    redis::cmd("CLUSTER")
        .arg("INFO")
        .query_async(con)
        .await
        .unwrap()
}

fn field<'a>(info: &'a str, name: &str) -> &'a str {
    info.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("{name} missing from {info}"))
}

/// Wait until every node reports `members` known nodes, each owning its share of the slots.
async fn until_settled(nodes: &[&RunningServer], members: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut settled = true;
        for node in nodes {
            let info = cluster_info(&mut connect(node).await).await;
            settled &= field(&info, "cluster_known_nodes") == members.to_string()
                && field(&info, "cluster_size") == members.to_string()
                && field(&info, "cluster_state") == "ok";
        }
        if settled {
            return;
        }
        assert!(Instant::now() < deadline, "the cluster did not settle");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Which keys `node` owns, by the slot map and id it reports itself.
async fn owned_by(node: &RunningServer) -> impl Fn(&str) -> bool + use<> {
    let mut con = connect(node).await;
    let me: String = redis::cmd("CLUSTER")
        .arg("MYID")
        .query_async(&mut con)
        .await
        .unwrap();
    let slots: Vec<(u16, u16, Vec<redis::Value>)> = redis::cmd("CLUSTER")
        .arg("SLOTS")
        .query_async(&mut con)
        .await
        .unwrap();
    move |key: &str| {
        let slot = key_slot(key.as_bytes());
        slots.iter().any(|(start, end, node)| {
            (*start..=*end).contains(&slot)
                && matches!(&node[2], redis::Value::BulkString(id) if id == me.as_bytes())
        })
    }
}

/// A key whose slot `node` does not own, and one it does.
async fn keys_by_owner(node: &RunningServer) -> (String, String) {
    let owned = owned_by(node).await;
    let mut foreign = None;
    let mut local = None;
    for i in 0.. {
        let key = format!("key:{i}");
        if owned(&key) {
            local.get_or_insert(key);
        } else {
            foreign.get_or_insert(key);
        }
        if let (Some(f), Some(l)) = (&foreign, &local) {
            return (f.clone(), l.clone());
        }
    }
    unreachable!()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_form_a_cluster_that_any_node_answers_for() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let first = server::start(&config(dirs[0].path(), None, ClusterMode::Proxy))
        .await
        .expect("first node forms the cluster");
    let via = first.bus_addr.unwrap().to_string();
    let second = server::start(&config(
        dirs[1].path(),
        Some(via.clone()),
        ClusterMode::Proxy,
    ))
    .await
    .expect("second node joins");
    let third = server::start(&config(dirs[2].path(), Some(via), ClusterMode::Redirect))
        .await
        .expect("third node joins");
    until_settled(&[&first, &second, &third], 3).await;

    // The slot map: every slot assigned, shares within one of 16384 / 3.
    let mut con = connect(&first).await;
    let slots: Vec<(u16, u16, Vec<redis::Value>)> = redis::cmd("CLUSTER")
        .arg("SLOTS")
        .query_async(&mut con)
        .await
        .unwrap();
    let mut covered = vec![false; 16384];
    let mut per_node = std::collections::HashMap::<Vec<u8>, usize>::new();
    for (start, end, node) in &slots {
        for s in *start..=*end {
            assert!(!covered[usize::from(s)], "slot {s} listed twice");
            covered[usize::from(s)] = true;
        }
        let redis::Value::BulkString(id) = &node[2] else {
            panic!("node id is not a string: {node:?}")
        };
        assert_eq!(id.len(), 40);
        *per_node.entry(id.clone()).or_default() += usize::from(end - start) + 1;
    }
    assert!(covered.iter().all(|c| *c));
    assert_eq!(per_node.len(), 3);
    assert!(
        per_node.values().all(|n| (5461..=5462).contains(n)),
        "{per_node:?}"
    );
    let nodes: String = redis::cmd("CLUSTER")
        .arg("NODES")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(nodes.lines().count(), 3);
    assert_eq!(nodes.matches("myself").count(), 1);
    let keyslot: i64 = redis::cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg("{user42}:cart")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(keyslot, i64::from(key_slot(b"user42")));
    let info: String = redis::cmd("INFO")
        .arg("cluster")
        .query_async(&mut con)
        .await
        .unwrap();
    assert!(info.contains("cluster_enabled:1"), "{info}");

    // Proxy mode: a key another node owns is written and read through the first node, and is
    // really stored on its owner.
    let (foreign, local) = keys_by_owner(&first).await;
    let () = redis::cmd("SET")
        .arg(&foreign)
        .arg("v1")
        .query_async(&mut con)
        .await
        .unwrap();
    let got: Option<String> = redis::cmd("GET")
        .arg(&foreign)
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(got.as_deref(), Some("v1"));
    let () = redis::cmd("SET")
        .arg(&local)
        .arg("here")
        .query_async(&mut con)
        .await
        .unwrap();
    let count_here: i64 = redis::cmd("DBSIZE").query_async(&mut con).await.unwrap();
    assert_eq!(
        count_here, 1,
        "the foreign key must live on its owner, not here"
    );
    let mut total = 0;
    for node in [&first, &second, &third] {
        let n: i64 = redis::cmd("DBSIZE")
            .query_async(&mut connect(node).await)
            .await
            .unwrap();
        total += n;
    }
    assert_eq!(total, 2);

    // Proxy mode splits MGET, MSET, EXISTS and DEL over the owners of their keys and gathers
    // the answers in the client's order; commands that do not split stay CROSSSLOT.
    let spread: Vec<String> = (0..30).map(|i| format!("spread:{i}")).collect();
    let owners: std::collections::BTreeSet<u16> =
        spread.iter().map(|k| key_slot(k.as_bytes())).collect();
    assert!(owners.len() > 1);
    for (i, key) in spread.iter().enumerate() {
        let () = redis::cmd("SET")
            .arg(key)
            .arg(i)
            .query_async(&mut con)
            .await
            .unwrap();
    }
    let mut mget = redis::cmd("MGET");
    mget.arg("spread:missing").arg(&spread);
    let values: Vec<Option<i64>> = mget.query_async(&mut con).await.unwrap();
    let expected: Vec<Option<i64>> = std::iter::once(None).chain((0..30).map(Some)).collect();
    assert_eq!(values, expected, "values in the order the keys were given");
    let mut exists = redis::cmd("EXISTS");
    exists.arg(&spread).arg(&spread[0]).arg("spread:missing");
    let n: i64 = exists.query_async(&mut con).await.unwrap();
    assert_eq!(n, 31, "every key counted, the repeated one twice");
    let mut del = redis::cmd("DEL");
    del.arg(&spread[..20]).arg("spread:missing");
    let n: i64 = del.query_async(&mut con).await.unwrap();
    assert_eq!(n, 20);
    let mut mget = redis::cmd("MGET");
    mget.arg(&spread);
    let values: Vec<Option<i64>> = mget.query_async(&mut connect(&second).await).await.unwrap();
    assert!(values[..20].iter().all(Option::is_none), "{values:?}");
    assert_eq!(values[20..], (20..30).map(Some).collect::<Vec<_>>());
    let mut mset = redis::cmd("MSET");
    for (i, key) in spread.iter().enumerate() {
        mset.arg(key).arg(100 + i);
    }
    let () = mset.query_async(&mut con).await.unwrap();
    let mut mget = redis::cmd("MGET");
    mget.arg(&spread);
    let values: Vec<i64> = mget.query_async(&mut connect(&second).await).await.unwrap();
    assert_eq!(
        values,
        (100..130).collect::<Vec<_>>(),
        "every key written on its owner"
    );
    let odd = redis::cmd("MSET")
        .arg("a")
        .arg("1")
        .arg("b")
        .query_async::<()>(&mut con)
        .await
        .unwrap_err();
    assert!(
        odd.to_string().contains("wrong number of arguments"),
        "{odd}"
    );
    let cross = redis::cmd("MSETNX")
        .arg("a")
        .arg("1")
        .arg("b")
        .arg("2")
        .query_async::<()>(&mut con)
        .await
        .unwrap_err();
    assert_eq!(cross.code(), Some("CROSSSLOT"), "{cross}");
    let () = redis::cmd("MSET")
        .arg("{t}a")
        .arg("1")
        .arg("{t}b")
        .arg("2")
        .query_async(&mut con)
        .await
        .unwrap();
    let both: Vec<String> = redis::cmd("MGET")
        .arg("{t}a")
        .arg("{t}b")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(both, ["1", "2"]);

    // REST forwards a key route to the key's owner, whichever member it reaches: a value put
    // through the first node lives on the owner only, and reads back through any member.
    let http = reqwest::Client::new();
    let url = |node: &RunningServer, key: &str| {
        format!("http://{}/v1/namespaces/default/keys/{key}", node.http_addr)
    };
    let owned_here = owned_by(&first).await;
    let rest_key = (0..)
        .map(|i| format!("rest:{i}"))
        .find(|k| !owned_here(k))
        .unwrap();
    let before_here: i64 = redis::cmd("DBSIZE").query_async(&mut con).await.unwrap();
    let put = http
        .put(url(&first, &rest_key))
        .body("over-rest")
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 204);
    let after_here: i64 = redis::cmd("DBSIZE").query_async(&mut con).await.unwrap();
    assert_eq!(
        after_here, before_here,
        "the value is stored on its owner, not here"
    );
    for node in [&first, &second, &third] {
        let got = http.get(url(node, &rest_key)).send().await.unwrap();
        assert_eq!(got.status(), 200);
        assert_eq!(got.text().await.unwrap(), "over-rest");
    }
    let got: Option<String> = redis::cmd("GET")
        .arg(&rest_key)
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(got.as_deref(), Some("over-rest"));
    // The owner's errors come back as they are.
    let missing = http.get(url(&first, "rest:missing")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    let body: serde_json::Value = missing.json().await.unwrap();
    assert_eq!(body["error"]["code"], "key_not_found");
    // A batch is split by owner: the member it reaches runs its own part and sends the others
    // theirs; the answers are gathered, a batch get's in request order.
    let own_key = (0..)
        .map(|i| format!("batch:{i}"))
        .find(|k| owned_here(k))
        .unwrap();
    let foreign_keys: Vec<String> = (0..)
        .map(|i| format!("batch:f{i}"))
        .filter(|k| !owned_here(k))
        .take(3)
        .collect();
    let mixed_keys: Vec<&str> = std::iter::once(own_key.as_str())
        .chain(foreign_keys.iter().map(String::as_str))
        .collect();
    let batch = |keys: &[&str]| {
        let items: Vec<_> = keys
            .iter()
            .map(|k| serde_json::json!({"key": k, "value": format!("b-{k}")}))
            .collect();
        serde_json::json!({ "items": items })
    };
    let batch_url = |node: &RunningServer, op: &str| {
        format!("http://{}/v1/namespaces/default/batch/{op}", node.http_addr)
    };
    let dbsize_before: i64 = redis::cmd("DBSIZE").query_async(&mut con).await.unwrap();
    let mixed = http
        .post(batch_url(&first, "set"))
        .json(&batch(&mixed_keys))
        .send()
        .await
        .unwrap();
    assert_eq!(mixed.status(), 200);
    let body: serde_json::Value = mixed.json().await.unwrap();
    assert_eq!(body["written"], 4, "{body}");
    let dbsize_after: i64 = redis::cmd("DBSIZE").query_async(&mut con).await.unwrap();
    assert_eq!(
        dbsize_after,
        dbsize_before + 1,
        "only the key this member owns is stored here"
    );
    for key in &mixed_keys {
        let got = http.get(url(&third, key)).send().await.unwrap();
        assert_eq!(got.status(), 200, "{key}");
        assert_eq!(got.text().await.unwrap(), format!("b-{key}"));
    }
    let mut asked: Vec<&str> = mixed_keys.iter().rev().copied().collect();
    asked.insert(2, "batch:absent");
    let got = http
        .post(batch_url(&second, "get"))
        .json(&serde_json::json!({ "keys": asked }))
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), 200);
    let body: serde_json::Value = got.json().await.unwrap();
    let items = body["items"].as_array().unwrap();
    assert_eq!(items.len(), asked.len(), "{body}");
    for (item, key) in items.iter().zip(&asked) {
        assert_eq!(item["key"], *key, "request order: {body}");
        if *key == "batch:absent" {
            assert!(item["value"].is_null(), "{body}");
        } else {
            assert_eq!(item["value"], format!("b-{key}"), "{body}");
        }
    }
    // A bad item refuses the whole batch before any part is sent.
    let bad = http
        .post(batch_url(&first, "set"))
        .json(&serde_json::json!({"items": [
            {"key": foreign_keys[0], "value": "changed"},
            {"key": own_key, "value": "x", "ttl": 0},
        ]}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let kept = http
        .get(url(&second, &foreign_keys[0]))
        .send()
        .await
        .unwrap();
    assert_eq!(kept.text().await.unwrap(), format!("b-{}", foreign_keys[0]));
    // A part that was already forwarded is never sent on: a key not owned where it lands is
    // refused whole.
    let bounced = http
        .post(batch_url(&first, "get"))
        .header("x-larder-forwarded", "1")
        .json(&serde_json::json!({ "keys": [own_key, foreign_keys[0]] }))
        .send()
        .await
        .unwrap();
    assert_eq!(bounced.status(), 503);
    let body: serde_json::Value = bounced.json().await.unwrap();
    assert_eq!(body["error"]["code"], "slot_moved", "{body}");
    let deleted = http
        .post(batch_url(&third, "delete"))
        .json(&serde_json::json!({ "keys": asked }))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 200);
    let body: serde_json::Value = deleted.json().await.unwrap();
    assert_eq!(body["deleted"], 4, "the absent key is not counted: {body}");
    for key in &mixed_keys {
        let got = http.get(url(&first, key)).send().await.unwrap();
        assert_eq!(got.status(), 404, "{key} is gone everywhere");
    }
    let deleted = http.delete(url(&first, &rest_key)).send().await.unwrap();
    assert_eq!(deleted.status(), 204);
    let gone = http.get(url(&second, &rest_key)).send().await.unwrap();
    assert_eq!(gone.status(), 404);

    // Redirect mode (the third node): a key it does not own is answered MOVED to the owner.
    let (foreign3, local3) = keys_by_owner(&third).await;
    let mut con3 = connect(&third).await;
    // Redirect mode splits nothing: keys in two slots are CROSSSLOT, as in Redis Cluster.
    let cross = redis::cmd("MGET")
        .arg("a")
        .arg("b")
        .query_async::<Vec<Option<String>>>(&mut con3)
        .await
        .unwrap_err();
    assert_eq!(cross.code(), Some("CROSSSLOT"), "{cross}");
    // SORT's patterns form keys of any slot: refused in a cluster, as in Redis Cluster; a
    // STORE into another slot is CROSSSLOT.
    let patterned = redis::cmd("SORT")
        .arg(&local3)
        .arg("BY")
        .arg("w_*")
        .query_async::<Vec<String>>(&mut con3)
        .await
        .unwrap_err();
    assert!(
        patterned.to_string().contains("patterns of SORT"),
        "{patterned}"
    );
    let elsewhere = (0..)
        .map(|i| format!("sorted:{i}"))
        .find(|k| key_slot(k.as_bytes()) != key_slot(local3.as_bytes()))
        .unwrap();
    let stored = redis::cmd("SORT")
        .arg(&local3)
        .arg("STORE")
        .arg(&elsewhere)
        .query_async::<i64>(&mut con3)
        .await
        .unwrap_err();
    assert_eq!(stored.code(), Some("CROSSSLOT"), "{stored}");
    let moved = redis::cmd("GET")
        .arg(&foreign3)
        .query_async::<Option<String>>(&mut con3)
        .await
        .unwrap_err();
    assert_eq!(moved.code(), Some("MOVED"), "{moved}");
    let (addr, slot) = moved.redirect_node().expect("MOVED names slot and address");
    assert_eq!(slot, key_slot(foreign3.as_bytes()));
    assert!(
        [first.resp_addr, second.resp_addr]
            .iter()
            .any(|a| a.to_string() == addr),
        "{addr}"
    );

    // A member restarts from its data directory and serves again.
    drop(con);
    let addrs = (second.resp_addr, second.http_addr, second.bus_addr.unwrap());
    second.shutdown().await.unwrap();
    let second = server::start(&resumed(dirs[1].path(), addrs))
        .await
        .expect("second node resumes");
    let mut con = connect(&first).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        // Forwarding may fail while the bus connection to it is re-established.
        let got: redis::RedisResult<Option<String>> =
            redis::cmd("GET").arg(&foreign).query_async(&mut con).await;
        if got.is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the restarted member never served: {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // It learns the slot table again from its log and the leader.
    until_settled(&[&first, &second, &third], 3).await;
    let got: Option<String> = redis::cmd("GET")
        .arg(&foreign)
        .query_async(&mut connect(&second).await)
        .await
        .unwrap();
    assert_eq!(
        got.as_deref(),
        Some("v1"),
        "the value written before the restart is served"
    );
    for node in [first, second, third] {
        node.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slots_a_rebalance_moves_keep_their_keys_and_the_old_owner_drops_them() {
    // `scratch` (on every member, as namespaces are configured today) is `rebalance = drop`:
    // its keys stay behind when their slots move.
    let with_scratch = |mut c: Config| {
        c.namespaces.insert(
            "scratch".into(),
            larder_runtime::NamespaceConfig {
                capacity_bytes: 8 << 20,
                rebalance: larder_runtime::namespace::RebalanceMode::Drop,
                ..Default::default()
            },
        );
        c
    };
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let first = server::start(&with_scratch(config(
        dirs[0].path(),
        None,
        ClusterMode::Proxy,
    )))
    .await
    .expect("first node forms the cluster");
    until_settled(&[&first], 1).await;
    let mut con = connect(&first).await;
    let http = reqwest::Client::new();
    let scratch = |node: &RunningServer, i: usize| {
        format!(
            "http://{}/v1/namespaces/scratch/keys/key:{i}",
            node.http_addr
        )
    };
    for i in 0..200 {
        let () = redis::cmd("SET")
            .arg(format!("key:{i}"))
            .arg(i)
            .query_async(&mut con)
            .await
            .unwrap();
        let put = http.put(scratch(&first, i)).body("s").send().await.unwrap();
        assert_eq!(put.status(), 204);
    }
    let second = server::start(&with_scratch(config(
        dirs[1].path(),
        Some(first.bus_addr.unwrap().to_string()),
        ClusterMode::Proxy,
    )))
    .await
    .expect("second node joins");
    until_settled(&[&first, &second], 2).await;
    // Which of the 200 keys the first node still owns, by the slot map it reports.
    let owned = owned_by(&first).await;
    let owned_here = (0..200).filter(|i| owned(&format!("key:{i}"))).count() as i64;
    assert!(owned_here > 0 && owned_here < 200, "{owned_here}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let size: i64 = redis::cmd("DBSIZE").query_async(&mut con).await.unwrap();
        if size == owned_here {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the first node still holds {size} keys, owns {owned_here}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // What it kept is still served, and what moved was copied to its new owner first: every
    // key reads back its value through either member, and the new owner holds the rest.
    for node in [&first, &second] {
        let mut con = connect(node).await;
        for i in 0..200 {
            let got: Option<i64> = redis::cmd("GET")
                .arg(format!("key:{i}"))
                .query_async(&mut con)
                .await
                .unwrap();
            assert_eq!(got, Some(i), "key:{i} through {}", node.resp_addr);
        }
    }
    let moved: i64 = redis::cmd("DBSIZE")
        .query_async(&mut connect(&second).await)
        .await
        .unwrap();
    assert_eq!(
        moved,
        200 - owned_here,
        "the new owner holds the keys that moved"
    );
    // The `drop` namespace: what the first node still owns is served, what moved was not
    // copied (and the old owner dropped it), through either member.
    for node in [&first, &second] {
        for i in 0..200 {
            let got = http.get(scratch(node, i)).send().await.unwrap();
            let want = if owned(&format!("key:{i}")) { 200 } else { 404 };
            assert_eq!(
                got.status(),
                want,
                "scratch key:{i} through {}",
                node.http_addr
            );
        }
    }
    first.shutdown().await.unwrap();
    second.shutdown().await.unwrap();
}

/// `config` with mutual TLS on the bus, the member certificate and cluster CA from `certs`.
/// Poll `url` until `done` holds for its status and JSON body (20 s at most).
async fn until_http(
    http: &reqwest::Client,
    url: &str,
    what: &str,
    done: impl Fn(reqwest::StatusCode, &serde_json::Value) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let last = match http.get(url).send().await {
            Ok(r) => {
                let status = r.status();
                let body: serde_json::Value = r.json().await.unwrap_or_default();
                if done(status, &body) {
                    return;
                }
                format!("{status} {body}")
            }
            Err(e) => e.to_string(),
        };
        assert!(Instant::now() < deadline, "{what}: last answer {last}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A namespace created, reconfigured or deleted through any member's REST API is committed to
/// the cluster and reaches every member; keys written into it through one member are served
/// through another (its owner has it too); a member that was down while namespaces changed
/// catches up when it comes back, dropping the one deleted meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_configured_on_one_member_reach_every_member() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let first = server::start(&config(dirs[0].path(), None, ClusterMode::Proxy))
        .await
        .expect("first node forms the cluster");
    let via = first.bus_addr.unwrap().to_string();
    let join = |i: usize| config(dirs[i].path(), Some(via.clone()), ClusterMode::Proxy);
    let second = server::start(&join(1)).await.expect("second node joins");
    let third = server::start(&join(2)).await.expect("third node joins");
    until_settled(&[&first, &second, &third], 3).await;
    let http = reqwest::Client::new();
    let ns_url = |node: &RunningServer, name: &str| {
        format!("http://{}/v1/namespaces/{name}", node.http_addr)
    };
    let capacity_is = |bytes: u64| {
        move |status: reqwest::StatusCode, body: &serde_json::Value| {
            status == 200 && body["config"]["capacity_bytes"] == bytes
        }
    };

    // Created through a member that is not the leader.
    let created = http
        .post(format!("http://{}/v1/namespaces", second.http_addr))
        .json(&serde_json::json!({"name": "orders", "config": {"capacity_bytes": 8_388_608}}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201, "{}", created.text().await.unwrap());
    for node in [&first, &third] {
        until_http(
            &http,
            &ns_url(node, "orders"),
            "orders reaches every member",
            capacity_is(8_388_608),
        )
        .await;
    }

    // Keys in it, written through one member and read through each.
    for i in 0..20 {
        let put = http
            .put(format!("{}/keys/order:{i}", ns_url(&third, "orders")))
            .body(format!("v{i}"))
            .send()
            .await
            .unwrap();
        assert!(put.status().is_success(), "{}", put.text().await.unwrap());
    }
    for node in [&first, &second] {
        for i in 0..20 {
            let got = http
                .get(format!("{}/keys/order:{i}", ns_url(node, "orders")))
                .send()
                .await
                .unwrap();
            assert_eq!(got.status(), 200);
            assert_eq!(got.text().await.unwrap(), format!("v{i}"));
        }
    }

    // Reconfigured through a third member.
    let put = http
        .put(ns_url(&third, "orders"))
        .json(&serde_json::json!({"capacity_bytes": 4_194_304}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200, "{}", put.text().await.unwrap());
    for node in [&first, &second] {
        until_http(
            &http,
            &ns_url(node, "orders"),
            "the new config reaches every member",
            capacity_is(4_194_304),
        )
        .await;
    }

    // The default namespace stays undeletable, and nothing is committed for it.
    let refused = http.delete(ns_url(&first, "default")).send().await.unwrap();
    assert_eq!(refused.status(), 409);

    // A member down while one namespace is deleted and another created.
    let addrs = (third.resp_addr, third.http_addr, third.bus_addr.unwrap());
    third.shutdown().await.unwrap();
    let deleted = http.delete(ns_url(&first, "orders")).send().await.unwrap();
    assert_eq!(deleted.status(), 204);
    let created = http
        .put(ns_url(&second, "sessions"))
        .json(&serde_json::json!({"capacity_bytes": 2_097_152}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201, "{}", created.text().await.unwrap());
    for node in [&first, &second] {
        until_http(
            &http,
            &ns_url(node, "orders"),
            "the deletion reaches every member",
            |s, _| s == 404,
        )
        .await;
        until_http(
            &http,
            &ns_url(node, "sessions"),
            "sessions reaches the live members",
            capacity_is(2_097_152),
        )
        .await;
    }
    let third = server::start(&resumed(dirs[2].path(), addrs))
        .await
        .expect("third node resumes");
    until_http(
        &http,
        &ns_url(&third, "sessions"),
        "the returning member creates sessions",
        capacity_is(2_097_152),
    )
    .await;
    until_http(
        &http,
        &ns_url(&third, "orders"),
        "the returning member drops orders",
        |s, _| s == 404,
    )
    .await;
    for node in [first, second, third] {
        node.shutdown().await.unwrap();
    }
}

/// A plugin uploaded to one member is served by every member: the others fetch its module
/// over the bus (checked against its id), so a namespace created through another member can run
/// it there, and a member that was down during the upload fetches it when it comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_uploaded_to_one_member_is_served_by_every_member() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let first = server::start(&config(dirs[0].path(), None, ClusterMode::Proxy))
        .await
        .expect("first node forms the cluster");
    let via = first.bus_addr.unwrap().to_string();
    let join = |i: usize| config(dirs[i].path(), Some(via.clone()), ClusterMode::Proxy);
    let second = server::start(&join(1)).await.expect("second node joins");
    let third = server::start(&join(2)).await.expect("third node joins");
    until_settled(&[&first, &second, &third], 3).await;
    let http = reqwest::Client::new();
    let upload = |node: &RunningServer, bytes: &'static [u8], name: &str| {
        http.post(format!("http://{}/v1/plugins?name={name}", node.http_addr))
            .header("content-type", "application/wasm")
            .body(bytes)
            .send()
    };
    let plugin_url =
        |node: &RunningServer, id: &str| format!("http://{}/v1/plugins/{id}", node.http_addr);

    let uploaded = upload(&third, wasm::SIEVE, "sieve").await.unwrap();
    assert_eq!(uploaded.status(), 201);
    let body: serde_json::Value = uploaded.json().await.unwrap();
    let sieve = body["id"].as_str().unwrap().to_string();
    assert_eq!(sieve, larder_runtime::plugin::version_id(wasm::SIEVE));
    for node in [&first, &second] {
        until_http(
            &http,
            &plugin_url(node, &sieve),
            "the plugin reaches every member",
            |s, b| s == 200 && b["name"] == "sieve" && b["hooks"][0] == "eviction",
        )
        .await;
    }

    // A namespace running it, made through another member, serves on every member.
    let created = http
        .post(format!("http://{}/v1/namespaces", first.http_addr))
        .json(&serde_json::json!({
            "name": "feeds",
            "config": {"capacity_bytes": 4_194_304, "eviction": format!("plugin:{sieve}")}
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201, "{}", created.text().await.unwrap());
    for node in [&second, &third] {
        until_http(
            &http,
            &format!("http://{}/v1/namespaces/feeds", node.http_addr),
            "the namespace runs the plugin on every member",
            |s, b| s == 200 && b["config"]["eviction"] == format!("plugin:{sieve}"),
        )
        .await;
    }
    for (i, node) in [&first, &second, &third].into_iter().enumerate() {
        let put = http
            .put(format!(
                "http://{}/v1/namespaces/feeds/keys/item:{i}",
                node.http_addr
            ))
            .body(format!("v{i}"))
            .send()
            .await
            .unwrap();
        assert!(put.status().is_success(), "{}", put.text().await.unwrap());
    }
    for node in [&first, &second, &third] {
        for i in 0..3 {
            let got = http
                .get(format!(
                    "http://{}/v1/namespaces/feeds/keys/item:{i}",
                    node.http_addr
                ))
                .send()
                .await
                .unwrap();
            assert_eq!(got.status(), 200);
            assert_eq!(got.text().await.unwrap(), format!("v{i}"));
        }
    }

    // Uploaded while a member is down: it fetches the module when it is back, and keeps it.
    let addrs = (third.resp_addr, third.http_addr, third.bus_addr.unwrap());
    third.shutdown().await.unwrap();
    let uploaded = upload(&second, wasm::LRU, "lru").await.unwrap();
    assert_eq!(uploaded.status(), 201);
    let lru = larder_runtime::plugin::version_id(wasm::LRU);
    until_http(
        &http,
        &plugin_url(&first, &lru),
        "the plugin reaches the live members",
        |s, _| s == 200,
    )
    .await;
    let third = server::start(&resumed(dirs[2].path(), addrs))
        .await
        .expect("third node resumes");
    until_http(
        &http,
        &plugin_url(&third, &lru),
        "the returning member fetches the plugin",
        |s, b| s == 200 && b["name"] == "lru",
    )
    .await;
    for node in [first, second, third] {
        node.shutdown().await.unwrap();
    }
}

/// A namespace's routing hook decides its keys' hash slots: `slot = crc16(routing key)`, where
/// the hashtag-routing plugin names the prefix before `::`. Keys sharing a prefix share a slot
/// (MSET of them is no CROSSSLOT), live on that slot's owner, and a namespace whose slots no
/// client can compute is forwarded even in redirect mode.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_routing_hook_decides_the_hash_slot() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let first = server::start(&config(dirs[0].path(), None, ClusterMode::Redirect))
        .await
        .expect("first node forms the cluster");
    let via = first.bus_addr.unwrap().to_string();
    let join = |i: usize| config(dirs[i].path(), Some(via.clone()), ClusterMode::Redirect);
    let second = server::start(&join(1)).await.expect("second node joins");
    let third = server::start(&join(2)).await.expect("third node joins");
    let nodes = [&first, &second, &third];
    until_settled(&nodes, 3).await;
    let http = reqwest::Client::new();
    let uploaded = http
        .post(format!(
            "http://{}/v1/plugins?name=hashtag",
            first.http_addr
        ))
        .header("content-type", "application/wasm")
        .body(wasm::HASHTAG_ROUTING)
        .send()
        .await
        .unwrap();
    assert_eq!(uploaded.status(), 201);
    let id = larder_runtime::plugin::version_id(wasm::HASHTAG_ROUTING);
    let created = http
        .post(format!("http://{}/v1/namespaces", first.http_addr))
        .json(&serde_json::json!({
            "name": "photos",
            "config": {"capacity_bytes": 4_194_304, "routing": format!("plugin:{id}")}
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201, "{}", created.text().await.unwrap());
    for node in nodes {
        until_http(
            &http,
            &format!("http://{}/v1/namespaces/photos", node.http_addr),
            "the routed namespace reaches every member",
            |s, _| s == 200,
        )
        .await;
    }
    let photos = |node: &RunningServer| {
        let addr = node.resp_addr;
        async move {
            let mut con = redis::Client::open(format!("redis://{addr}/"))
                .unwrap()
                .get_multiplexed_async_connection()
                .await
                .unwrap();
            let _: () = redis::cmd("SELECT")
                .arg("photos")
                .query_async(&mut con)
                .await
                .unwrap();
            con
        }
    };

    // A prefix whose slot the second node does not own: its keys must be forwarded.
    let owned = owned_by(&second).await;
    let foreign = (0..)
        .map(|i| format!("album{i}"))
        .find(|p| !owned(p))
        .unwrap();
    let local = (0..)
        .map(|i| format!("album{i}"))
        .find(|p| owned(p))
        .unwrap();
    let mut con = photos(&second).await;
    for prefix in [&foreign, &local] {
        let key = format!("{prefix}::photo-1");
        let slot: u16 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(&key)
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!(
            slot,
            key_slot(prefix.as_bytes()),
            "the hook's routing key decides"
        );
        assert_ne!(
            slot,
            key_slot(key.as_bytes()),
            "the test needs keys the two rules part"
        );
        // Under the hash-tag rule these two keys are in different slots; under the hook, one.
        let (a, b) = (format!("{prefix}::a"), format!("{prefix}::b"));
        assert_ne!(key_slot(a.as_bytes()), key_slot(b.as_bytes()));
        let ok: String = redis::cmd("MSET")
            .arg(&a)
            .arg("1")
            .arg(&b)
            .arg("2")
            .query_async(&mut con)
            .await
            .expect("one slot under the hook: no CROSSSLOT, and forwarded rather than MOVED");
        assert_eq!(ok, "OK");
        for i in 0..10 {
            let _: () = redis::cmd("SET")
                .arg(format!("{prefix}::photo-{i}"))
                .arg(i)
                .query_async(&mut con)
                .await
                .unwrap();
        }
    }

    // Every key lives on its hook slot's owner, and any member answers for it.
    for prefix in [&foreign, &local] {
        let slot = key_slot(prefix.as_bytes());
        let mut held = Vec::new();
        for node in nodes {
            let count: i64 = redis::cmd("CLUSTER")
                .arg("COUNTKEYSINSLOT")
                .arg(slot)
                .query_async(&mut photos(node).await)
                .await
                .unwrap();
            held.push(count);
        }
        held.sort();
        assert_eq!(
            held,
            [0, 0, 12],
            "prefix {prefix}: one owner holds its 12 keys"
        );
        for node in nodes {
            let got: Vec<Option<String>> = redis::cmd("MGET")
                .arg(format!("{prefix}::a"))
                .arg(format!("{prefix}::photo-7"))
                .query_async(&mut photos(node).await)
                .await
                .unwrap();
            assert_eq!(got, [Some("1".to_string()), Some("7".to_string())]);
        }
    }
    for node in [first, second, third] {
        node.shutdown().await.unwrap();
    }
}

/// With authentication on, tenants, API keys and users made through one member hold on every
/// member: a key made on one authenticates on the other (on both ports), a user made on one
/// logs in on the other, a revocation on either ends the key everywhere, and a tenant deleted
/// through one is gone, with its keys and namespaces, from the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_keys_and_users_made_on_one_member_hold_on_every_member() {
    const OPERATOR: &str = "operator-key-for-cluster-tests-0123456789";
    let certs = tempfile::tempdir().unwrap();
    larder::tls::certs::write_all(certs.path(), &["127.0.0.1".into()], true).unwrap();
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let secured = |c: Config| Config {
        operator_key: Some(larder::config::Secret(OPERATOR.to_string())),
        ..with_bus_tls(c, certs.path())
    };
    let first = server::start(&secured(config(dirs[0].path(), None, ClusterMode::Proxy)))
        .await
        .unwrap();
    let second = server::start(&secured(config(
        dirs[1].path(),
        Some(first.bus_addr.unwrap().to_string()),
        ClusterMode::Proxy,
    )))
    .await
    .unwrap();
    let http = reqwest::Client::new();
    let url = |node: &RunningServer, path: &str| format!("http://{}{path}", node.http_addr);
    // The status `path` answers on `node` for `key` settles at `want` (the other member applies
    // a change a moment after it is committed).
    let until_status = |node: &RunningServer, path: &str, key: String, want: u16| {
        let (http, url) = (http.clone(), url(node, path));
        async move {
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                let status = http
                    .get(&url)
                    .bearer_auth(&key)
                    .send()
                    .await
                    .unwrap()
                    .status();
                if status == want {
                    return;
                }
                assert!(
                    Instant::now() < deadline,
                    "{url} answers {status}, not {want}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    let post = |node: &RunningServer, path: &str, body: serde_json::Value| {
        http.post(url(node, path))
            .bearer_auth(OPERATOR)
            .json(&body)
            .send()
    };

    // An operator-level key made on the first member works on the second, on both ports.
    let made = post(
        &first,
        "/v1/api-keys",
        serde_json::json!({"name": "svc", "scopes": ["write"]}),
    )
    .await
    .unwrap();
    assert_eq!(made.status(), 201);
    let made: serde_json::Value = made.json().await.unwrap();
    let (svc, svc_id) = (
        made["key"].as_str().unwrap().to_string(),
        made["id"].as_str().unwrap().to_string(),
    );
    until_status(&second, "/v1/namespaces/default/keys/k", svc.clone(), 404).await;
    let mut con = redis::Client::open(format!("redis://{}/", second.resp_addr))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let ok: String = redis::cmd("AUTH")
        .arg(&svc)
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(ok, "OK");

    // A tenant made on the second, its key and a user made on the first.
    let made = post(&second, "/v1/tenants", serde_json::json!({"name": "acme"}))
        .await
        .unwrap();
    assert_eq!(made.status(), 201, "{}", made.text().await.unwrap());
    let made = post(
        &first,
        "/v1/api-keys",
        serde_json::json!({"name": "acme-admin", "scopes": ["admin"], "tenant": "acme"}),
    )
    .await
    .unwrap();
    assert_eq!(made.status(), 201, "{}", made.text().await.unwrap());
    let made: serde_json::Value = made.json().await.unwrap();
    let acme = made["key"].as_str().unwrap().to_string();
    until_status(&second, "/v1/namespaces/default", acme.clone(), 200).await;
    let created = http
        .post(url(&second, "/v1/namespaces"))
        .bearer_auth(&acme)
        .json(&serde_json::json!({"name": "carts"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201, "{}", created.text().await.unwrap());
    until_status(&first, "/v1/namespaces/carts", acme.clone(), 200).await;
    let put = http
        .put(url(&first, "/v1/users/bob?tenant=acme"))
        .bearer_auth(OPERATOR)
        .json(&serde_json::json!({"enabled": true, "scopes": ["read"], "passwords": ["bob-pass-123"]}))
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success(), "{}", put.text().await.unwrap());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut con = redis::Client::open(format!("redis://{}/", second.resp_addr))
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let login: redis::RedisResult<String> = redis::cmd("AUTH")
            .arg("acme/bob")
            .arg("bob-pass-123")
            .query_async(&mut con)
            .await;
        if login.is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "bob cannot log in on the second member: {login:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A user made with ACL SETUSER on the first logs in on the second; ACL DELUSER on the
    // second ends it on the first.
    let mut admin = redis::Client::open(format!("redis://:{OPERATOR}@{}/", first.resp_addr))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let ok: String = redis::cmd("ACL")
        .arg("SETUSER")
        .arg("carol")
        .arg("on")
        .arg(">carol-pass-123")
        .arg("+@read")
        .query_async(&mut admin)
        .await
        .unwrap();
    assert_eq!(ok, "OK");
    let login_on = |node: &RunningServer, user: &'static str, password: &'static str| {
        let addr = node.resp_addr;
        async move {
            let mut con = redis::Client::open(format!("redis://{addr}/"))
                .unwrap()
                .get_multiplexed_async_connection()
                .await
                .unwrap();
            redis::cmd("AUTH")
                .arg(user)
                .arg(password)
                .query_async::<String>(&mut con)
                .await
                .is_ok()
        }
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !login_on(&second, "carol", "carol-pass-123").await {
        assert!(
            Instant::now() < deadline,
            "carol cannot log in on the second member"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut admin = redis::Client::open(format!("redis://:{OPERATOR}@{}/", second.resp_addr))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let deleted: i64 = redis::cmd("ACL")
        .arg("DELUSER")
        .arg("carol")
        .query_async(&mut admin)
        .await
        .unwrap();
    assert_eq!(deleted, 1);
    let deadline = Instant::now() + Duration::from_secs(20);
    while login_on(&first, "carol", "carol-pass-123").await {
        assert!(
            Instant::now() < deadline,
            "carol still logs in on the first member"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Revoked on the second: refused on the first.
    let revoked = http
        .delete(url(&second, &format!("/v1/api-keys/{svc_id}")))
        .bearer_auth(OPERATOR)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 204);
    until_status(&first, "/v1/namespaces/default/keys/k", svc.clone(), 401).await;

    // The tenant deleted through the first: its key and namespace are gone on the second.
    let deleted = http
        .delete(url(&first, "/v1/tenants/acme"))
        .bearer_auth(OPERATOR)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    until_status(&second, "/v1/namespaces/default", acme.clone(), 401).await;
    until_status(&second, "/v1/tenants/acme", OPERATOR.to_string(), 404).await;
    until_status(
        &second,
        "/v1/namespaces/acme%2Fcarts",
        OPERATOR.to_string(),
        404,
    )
    .await;
    for node in [first, second] {
        node.shutdown().await.unwrap();
    }
}

/// A message published on one member reaches subscribers on every member, in the order it was
/// published, channel and pattern subscriptions alike; the publisher's count is its own
/// member's receivers, as Redis Cluster answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_published_on_one_member_reaches_subscribers_on_every_member() {
    use futures_util::StreamExt;
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let first = server::start(&config(dirs[0].path(), None, ClusterMode::Proxy))
        .await
        .expect("first node forms the cluster");
    let via = first.bus_addr.unwrap().to_string();
    let join = |i: usize| config(dirs[i].path(), Some(via.clone()), ClusterMode::Proxy);
    let second = server::start(&join(1)).await.expect("second node joins");
    let third = server::start(&join(2)).await.expect("third node joins");
    until_settled(&[&first, &second, &third], 3).await;
    let client =
        |node: &RunningServer| redis::Client::open(format!("redis://{}/", node.resp_addr)).unwrap();
    let mut on_second = client(&second).get_async_pubsub().await.unwrap();
    on_second.subscribe("orders").await.unwrap();
    let mut on_third = client(&third).get_async_pubsub().await.unwrap();
    on_third.psubscribe("ord*").await.unwrap();
    // A shard channel subscriber on a member that does not own the channel's slot (proxy mode:
    // it subscribes where it is), read as raw RESP3 pushes.
    let mut shard = tokio::net::TcpStream::connect(second.resp_addr)
        .await
        .unwrap();
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        shard
            .write_all(b"*2\r\n$10\r\nSSUBSCRIBE\r\n$6\r\nstocks\r\n")
            .await
            .unwrap();
        let mut confirm = [0u8; 64];
        let n = shard.read(&mut confirm).await.unwrap();
        assert!(
            String::from_utf8_lossy(&confirm[..n]).contains("ssubscribe"),
            "{:?}",
            String::from_utf8_lossy(&confirm[..n])
        );
    }

    let mut publisher = connect(&first).await;
    for i in 0..200 {
        let here: i64 = redis::cmd("PUBLISH")
            .arg("orders")
            .arg(format!("order {i}"))
            .query_async(&mut publisher)
            .await
            .unwrap();
        assert_eq!(here, 0, "no subscriber on the publishing member");
    }
    let here: i64 = redis::cmd("SPUBLISH")
        .arg("stocks")
        .arg("up")
        .query_async(&mut publisher)
        .await
        .unwrap();
    assert_eq!(here, 0);
    {
        use tokio::io::AsyncReadExt;
        let expected: &[u8] = b"*3\r\n$8\r\nsmessage\r\n$6\r\nstocks\r\n$2\r\nup\r\n";
        let mut got = vec![0u8; expected.len()];
        tokio::time::timeout(Duration::from_secs(10), shard.read_exact(&mut got))
            .await
            .expect("the shard message reaches the other member")
            .unwrap();
        assert_eq!(got, expected);
    }
    for (mut stream, what) in [
        (on_second.on_message(), "channel subscriber on the second"),
        (on_third.on_message(), "pattern subscriber on the third"),
    ] {
        for i in 0..200 {
            let msg = tokio::time::timeout(Duration::from_secs(10), stream.next())
                .await
                .unwrap_or_else(|_| panic!("{what}: message {i} did not arrive"))
                .unwrap();
            assert_eq!(msg.get_channel_name(), "orders");
            assert_eq!(
                msg.get_payload::<String>().unwrap(),
                format!("order {i}"),
                "{what}"
            );
        }
    }
    for node in [first, second, third] {
        node.shutdown().await.unwrap();
    }
}

/// An alert rule added or deleted through one member is added or deleted on every member (each
/// evaluates it on its own share of the keyspace).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_rules_made_on_one_member_hold_on_every_member() {
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let first = server::start(&config(dirs[0].path(), None, ClusterMode::Proxy))
        .await
        .expect("first node forms the cluster");
    let second = server::start(&config(
        dirs[1].path(),
        Some(first.bus_addr.unwrap().to_string()),
        ClusterMode::Proxy,
    ))
    .await
    .expect("second node joins");
    until_settled(&[&first, &second], 2).await;
    let http = reqwest::Client::new();
    let rules_of = |node: &RunningServer| format!("http://{}/v1/alerts/rules", node.http_addr);
    let rule = serde_json::json!({
        "name": "default-cold",
        "namespace": "default",
        "condition": {"kind": "hit_ratio_below", "threshold": 0.5, "min_reads": 10},
        "severity": "warning",
    });
    let added = http
        .post(rules_of(&first))
        .json(&rule)
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), 201, "{}", added.text().await.unwrap());
    until_http(
        &http,
        &rules_of(&second),
        "the rule reaches the other member",
        |s, b| {
            s == 200
                && b["rules"].as_array().is_some_and(|r| {
                    r.len() == 1
                        && r[0]["name"] == "default-cold"
                        && r[0]["condition"]["min_reads"] == 10
                })
        },
    )
    .await;
    let deleted = http
        .delete(format!("{}/default-cold", rules_of(&second)))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    until_http(
        &http,
        &rules_of(&first),
        "the deletion reaches the other member",
        |s, b| s == 200 && b["rules"].as_array().is_some_and(Vec::is_empty),
    )
    .await;
    for node in [first, second] {
        node.shutdown().await.unwrap();
    }
}

/// A client pipelining through a member in proxy mode gets every answer in its order: runs of
/// commands for other members' slots travel as batches, one per owner, and a local command or
/// an error in the middle of a run is answered in its place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_through_a_forwarding_member_keeps_its_order() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let first = server::start(&config(dirs[0].path(), None, ClusterMode::Proxy))
        .await
        .expect("first node forms the cluster");
    let via = first.bus_addr.unwrap().to_string();
    let join = |i: usize| config(dirs[i].path(), Some(via.clone()), ClusterMode::Proxy);
    let second = server::start(&join(1)).await.expect("second node joins");
    let third = server::start(&join(2)).await.expect("third node joins");
    until_settled(&[&first, &second, &third], 3).await;
    let mut con = connect(&second).await;
    let mut pipe = redis::pipe();
    let mut expected: Vec<redis::Value> = Vec::new();
    for i in 0..300 {
        let key = format!("pipe:{i}");
        pipe.cmd("SET").arg(&key).arg(i);
        expected.push(redis::Value::Okay);
        pipe.cmd("INCR").arg(&key);
        expected.push(redis::Value::Int(i + 1));
        pipe.cmd("GET").arg(&key);
        expected.push(redis::Value::BulkString((i + 1).to_string().into_bytes()));
        if i % 50 == 25 {
            // Keyless, so it runs on the member the client is on, between forwarded runs.
            pipe.cmd("PING");
            expected.push(redis::Value::SimpleString("PONG".into()));
            // Keys in two slots: an error in its place.
            pipe.cmd("MSETNX").arg("{a}x").arg(1).arg("{b}y").arg(2);
            expected.push(redis::Value::Nil); // stands for the CROSSSLOT error, checked below
        }
    }
    let got: Vec<redis::Value> = pipe
        .ignore_errors()
        .query_async(&mut con)
        .await
        .expect("the pipeline is answered");
    assert_eq!(got.len(), expected.len());
    for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
        if *e == redis::Value::Nil {
            assert!(
                matches!(g, redis::Value::ServerError(err)
                    if format!("{err:?}").to_lowercase().contains("crossslot")),
                "answer {i} out of place: {g:?}"
            );
        } else {
            assert_eq!(g, e, "answer {i} out of place");
        }
    }
    for node in [first, second, third] {
        node.shutdown().await.unwrap();
    }
}

/// Without a quorum a namespace change is not committed: the create is answered
/// `503 cluster_unavailable` and undone, so the member does not serve a namespace the cluster
/// never agreed on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_change_without_a_quorum_is_refused_and_undone() {
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let first = server::start(&config(dirs[0].path(), None, ClusterMode::Proxy))
        .await
        .expect("first node forms the cluster");
    let via = first.bus_addr.unwrap().to_string();
    let second = server::start(&config(dirs[1].path(), Some(via), ClusterMode::Proxy))
        .await
        .expect("second node joins");
    until_settled(&[&first, &second], 2).await;
    // Two voters: with one gone, nothing commits.
    second.shutdown().await.unwrap();
    let http = reqwest::Client::new();
    let answer = http
        .post(format!("http://{}/v1/namespaces", first.http_addr))
        .json(&serde_json::json!({"name": "orders", "config": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 503);
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(body["error"]["code"], "cluster_unavailable", "{body}");
    let got = http
        .get(format!("http://{}/v1/namespaces/orders", first.http_addr))
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), 404, "the uncommitted namespace was undone");
    first.shutdown().await.unwrap();
}

fn with_bus_tls(mut config: Config, certs: &std::path::Path) -> Config {
    if let Some(c) = config.cluster.as_mut() {
        c.tls = Some(larder::tls::BusTlsConfig {
            cert_file: certs.join("node.pem"),
            key_file: certs.join("node-key.pem"),
            ca_file: certs.join("cluster-ca.pem"),
        });
    }
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_speak_mutual_tls_on_the_bus_and_strangers_are_refused() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let certs = tempfile::tempdir().unwrap();
    larder::tls::certs::write_all(certs.path(), &["127.0.0.1".into()], true).unwrap();
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let first = server::start(&with_bus_tls(
        config(dirs[0].path(), None, ClusterMode::Proxy),
        certs.path(),
    ))
    .await
    .unwrap();
    let bus = first.bus_addr.unwrap();
    let second = server::start(&with_bus_tls(
        config(dirs[1].path(), Some(bus.to_string()), ClusterMode::Proxy),
        certs.path(),
    ))
    .await
    .expect("a member with the cluster's certificate joins over mutual TLS");
    until_settled(&[&first, &second], 2).await;

    // Forwarding runs over the TLS bus: a key the second node does not own, written there,
    // is on the first.
    let (foreign, _) = keys_by_owner(&second).await;
    let () = redis::cmd("SET")
        .arg(&foreign)
        .arg("via-tls-bus")
        .query_async(&mut connect(&second).await)
        .await
        .unwrap();
    let got: String = redis::cmd("GET")
        .arg(&foreign)
        .query_async(&mut connect(&first).await)
        .await
        .unwrap();
    assert_eq!(got, "via-tls-bus");

    // A stranger speaking the bus protocol in clear is dropped without an answer.
    let mut plain = tokio::net::TcpStream::connect(bus).await.unwrap();
    plain.write_all(&[0, 0, 0, 1, 0xc0]).await.unwrap();
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(15), plain.read(&mut buf))
        .await
        .expect("the server closes the connection");
    assert!(
        matches!(read, Ok(0) | Err(_)) || buf[0] == 0x15,
        "no bus answer in clear: {read:?} {buf:?}"
    );

    // A node with a certificate from another CA cannot join.
    let other = tempfile::tempdir().unwrap();
    larder::tls::certs::write_all(other.path(), &["127.0.0.1".into()], true).unwrap();
    let stranger_dir = tempfile::tempdir().unwrap();
    let mut stranger = with_bus_tls(
        config(
            stranger_dir.path(),
            Some(bus.to_string()),
            ClusterMode::Proxy,
        ),
        other.path(),
    );
    // Trust the cluster's CA (so only the member's check of the stranger's certificate fails).
    if let Some(t) = stranger.cluster.as_mut().and_then(|c| c.tls.as_mut()) {
        t.ca_file = certs.path().join("cluster-ca.pem");
    }
    let refused = tokio::time::timeout(Duration::from_secs(60), server::start(&stranger)).await;
    assert!(
        matches!(refused, Ok(Err(_)) | Err(_)),
        "a node whose certificate is not of the cluster's CA must not join"
    );
    let info = cluster_info(&mut connect(&first).await).await;
    assert_eq!(field(&info, "cluster_known_nodes"), "2");
    second.shutdown().await.unwrap();
    first.shutdown().await.unwrap();
}

/// The bus's certificates reload with the ports' (`POST /v1/admin/tls/reload`, or SIGHUP), no
/// restart: once a member's files are replaced by another CA's and reloaded, a member of that
/// CA joins — which needs the reloaded member to accept, and to present, the new certificates.
/// Files that do not load are refused whole and the old certificates keep serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bus_certificates_reload_without_a_restart() {
    let live = tempfile::tempdir().unwrap();
    larder::tls::certs::write_all(live.path(), &["127.0.0.1".into()], true).unwrap();
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let first = server::start(&with_bus_tls(
        config(dirs[0].path(), None, ClusterMode::Proxy),
        live.path(),
    ))
    .await
    .unwrap();
    let bus = first.bus_addr.unwrap();
    let reload = || {
        reqwest::Client::new()
            .post(format!("http://{}/v1/admin/tls/reload", first.http_addr))
            .send()
    };

    let rotated = tempfile::tempdir().unwrap();
    larder::tls::certs::write_all(rotated.path(), &["127.0.0.1".into()], true).unwrap();
    let kept = std::fs::read(live.path().join("node.pem")).unwrap();
    std::fs::write(live.path().join("node.pem"), "not a certificate").unwrap();
    let refused = reload().await.unwrap();
    assert_eq!(refused.status(), 422);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "tls_reload_failed", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cluster bus"),
        "{body}"
    );
    std::fs::write(live.path().join("node.pem"), kept).unwrap();

    for file in ["node.pem", "node-key.pem", "cluster-ca.pem"] {
        std::fs::copy(rotated.path().join(file), live.path().join(file)).unwrap();
    }
    let reloaded = reload().await.unwrap();
    assert_eq!(reloaded.status(), 200);
    let body: serde_json::Value = reloaded.json().await.unwrap();
    assert!(
        body["bus_cert_file"]
            .as_str()
            .unwrap()
            .ends_with("node.pem"),
        "{body}"
    );
    assert!(body.get("cert_file").is_none(), "no TLS port here: {body}");

    let second = tokio::time::timeout(
        Duration::from_secs(60),
        server::start(&with_bus_tls(
            config(dirs[1].path(), Some(bus.to_string()), ClusterMode::Proxy),
            rotated.path(),
        )),
    )
    .await
    .expect("the join does not hang")
    .expect("a member of the new CA joins over the reloaded certificates");
    until_settled(&[&first, &second], 2).await;
    second.shutdown().await.unwrap();
    first.shutdown().await.unwrap();
}

/// Bad credentials on a forwarded request are the client's, not the forwarding member's: a
/// key known to one member only (keys are per member) fails on the owner every time, and the
/// owner must not block the forwarding member's address for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forwarded_request_is_not_charged_to_the_forwarding_member() {
    // Each member its own operator key: a credential the forwarding member takes and the owner
    // does not know (API keys are shared by the members, so one of them cannot serve).
    const OPERATOR: &str = "operator-key-for-cluster-tests-0123456789";
    const OWNER_OPERATOR: &str = "operator-key-of-the-owner-only-987654321";
    let certs = tempfile::tempdir().unwrap();
    larder::tls::certs::write_all(certs.path(), &["127.0.0.1".into()], true).unwrap();
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let secured = |c: Config, key: &str| Config {
        operator_key: Some(larder::config::Secret(key.to_string())),
        ..with_bus_tls(c, certs.path())
    };
    let first = server::start(&secured(
        config(dirs[0].path(), None, ClusterMode::Proxy),
        OPERATOR,
    ))
    .await
    .unwrap();
    let second = server::start(&secured(
        config(
            dirs[1].path(),
            Some(first.bus_addr.unwrap().to_string()),
            ClusterMode::Proxy,
        ),
        OWNER_OPERATOR,
    ))
    .await
    .unwrap();
    let authed = |node: &RunningServer| {
        let key = if node.resp_addr == first.resp_addr {
            OPERATOR
        } else {
            OWNER_OPERATOR
        };
        redis::Client::open(format!("redis://:{key}@{}/", node.resp_addr)).unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut settled = true;
        for node in [&first, &second] {
            let mut con = authed(node)
                .get_multiplexed_async_connection()
                .await
                .unwrap();
            let info = cluster_info(&mut con).await;
            settled &= field(&info, "cluster_size") == "2" && field(&info, "cluster_state") == "ok";
        }
        if settled {
            break;
        }
        assert!(Instant::now() < deadline, "the cluster did not settle");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut con = authed(&second)
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let slots: Vec<(u16, u16, Vec<redis::Value>)> = redis::cmd("CLUSTER")
        .arg("SLOTS")
        .query_async(&mut con)
        .await
        .unwrap();
    let me: String = redis::cmd("CLUSTER")
        .arg("MYID")
        .query_async(&mut con)
        .await
        .unwrap();
    let owned_by_second = |key: &str| {
        let slot = key_slot(key.as_bytes());
        slots.iter().any(|(start, end, node)| {
            (*start..=*end).contains(&slot)
                && matches!(node.get(2), Some(redis::Value::BulkString(id)) if id == me.as_bytes())
        })
    };
    let foreign = (0..)
        .map(|i| format!("k{i}"))
        .find(|k| owned_by_second(k))
        .unwrap();

    let http = reqwest::Client::new();
    let key = OPERATOR;
    let url = |node: &RunningServer| {
        format!(
            "http://{}/v1/namespaces/default/keys/{foreign}",
            node.http_addr
        )
    };
    for i in 0..(larder::auth::failed_auths::BURST as usize + 5) {
        let refused = http.get(url(&first)).bearer_auth(key).send().await.unwrap();
        assert_eq!(
            refused.status(),
            401,
            "forward {i}: the owner does not know the key, and blocks nobody for it"
        );
    }
    // The test shares the forwarding member's address: it is not blocked on the owner.
    let direct = http
        .get(url(&second))
        .bearer_auth(OWNER_OPERATOR)
        .send()
        .await
        .unwrap();
    assert_eq!(direct.status(), 404);
    second.shutdown().await.unwrap();
    first.shutdown().await.unwrap();
}

#[test]
fn a_bus_beyond_loopback_needs_mutual_tls() {
    let dir = tempfile::tempdir().unwrap();
    let mut exposed = config(dir.path(), None, ClusterMode::Proxy);
    if let Some(c) = exposed.cluster.as_mut() {
        c.bus_addr = "0.0.0.0:0".parse().unwrap();
    }
    let refused = exposed.validate().unwrap_err().to_string();
    assert!(
        refused.contains("bus_addr") && refused.contains("--bus-tls"),
        "{refused}"
    );
    let certs = tempfile::tempdir().unwrap();
    larder::tls::certs::write_all(certs.path(), &["127.0.0.1".into()], true).unwrap();
    let secured = with_bus_tls(exposed, certs.path());
    secured
        .validate()
        .expect("with mutual TLS on the bus it is allowed");
    // The bus's CA must not be the one that signs client certificates.
    let mut shared_ca = secured;
    shared_ca.tls = Some(larder::tls::TlsConfig {
        cert_file: certs.path().join("server.pem"),
        key_file: certs.path().join("server-key.pem"),
        client_ca_file: Some(certs.path().join("cluster-ca.pem")),
        client_auth: larder::tls::ClientAuth::Optional,
        resp_addr: Some("127.0.0.1:0".parse().unwrap()),
        resp_only: false,
        http: false,
    });
    let refused = shared_ca.validate().unwrap_err().to_string();
    assert!(refused.contains("CA of its own"), "{refused}");
}

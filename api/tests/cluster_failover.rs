//! Replication and failover with real `larder` processes: three members formed with one replica
//! per slot; every acknowledged write is on two nodes; `kill -9` of the raft leader (which also
//! owns a third of the slots) loses no acknowledged write, and the survivors serve and accept
//! writes for every slot again; the slots left short of a replica get a new one, which receives
//! a copy of their keys, so a second failure loses nothing either. A paused replica delays
//! writes until the leader drops it; a paused owner acknowledges nothing it cannot replicate.

mod cluster_support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use cluster_support::*;
use larder_cluster::slot::key_slot;

#[test]
fn killing_the_leader_loses_no_acknowledged_write() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let leader = spawn(dirs[0].path(), None);
    let second = spawn(dirs[1].path(), Some(leader.bus));
    let third = spawn(dirs[2].path(), Some(leader.bus));
    until_settled(&[&leader, &second, &third], 3);
    let (leader_id, ranges) = slot_owners(&leader);
    let owned_by_leader = |key: &str| {
        let slot = key_slot(key.as_bytes());
        ranges
            .iter()
            .any(|(s, e, id)| (*s..=*e).contains(&slot) && *id == leader_id)
    };

    // Acknowledged writes of several kinds, through every member (proxy mode forwards them).
    let keys = 1500;
    let mut expected: BTreeMap<String, String> = BTreeMap::new();
    let mut cons = [connect(&leader), connect(&second), connect(&third)];
    for i in 0..keys {
        let key = format!("user:{i}");
        let value = format!("value-{i}");
        let con = &mut cons[i % 3];
        let () = redis::cmd("SET").arg(&key).arg(&value).query(con).unwrap();
        expected.insert(key, value);
    }
    for i in 0..100 {
        let con = &mut cons[i % 3];
        let _: i64 = redis::cmd("INCRBY")
            .arg(format!("counter:{i}"))
            .arg(i + 1)
            .query(con)
            .unwrap();
        let _: i64 = redis::cmd("HSET")
            .arg(format!("hash:{i}"))
            .arg("f")
            .arg(i)
            .query(con)
            .unwrap();
        let _: i64 = redis::cmd("DEL")
            .arg(format!("user:{i}"))
            .query(con)
            .unwrap();
        expected.remove(&format!("user:{i}"));
    }
    // A deadline travels with the write.
    let () = redis::cmd("SET")
        .arg("session:x")
        .arg("s")
        .arg("EX")
        .arg(3600)
        .query(&mut cons[0])
        .unwrap();
    // WAIT: the writes were answered, so the slot's replica has them already.
    let replicas: i64 = redis::cmd("WAIT")
        .arg(1)
        .arg(1000)
        .query(&mut cons[0])
        .unwrap();
    assert_eq!(replicas, 1);
    let info: String = redis::cmd("INFO")
        .arg("replication")
        .query(&mut cons[0])
        .unwrap();
    assert_eq!(
        info_field(&info, "cluster_replicas_per_slot").as_deref(),
        Some("1")
    );
    let sent: u64 = info_field(&info, "replicated_changes_sent")
        .unwrap()
        .parse()
        .unwrap();
    assert!(sent > 300, "{info}");
    let on_leader = expected.keys().filter(|k| owned_by_leader(k)).count();
    assert!(on_leader > 300, "the leader owns a share: {on_leader}");

    // Every key is on its owner and on one replica: the members together hold two copies.
    let stored = keys - 100 + 200 + 1;
    let copies: u64 = [&leader, &second, &third].iter().map(|m| dbsize(m)).sum();
    assert_eq!(copies, 2 * stored as u64, "every key on two members");

    // The operator's view: three healthy members, each owning and replicating a share.
    let before = cluster_json(&second);
    assert_eq!(before["replicas_per_slot"], 1);
    assert_eq!(before["under_replicated_slots"], 0);
    assert_eq!(before["unowned_slots"], 0);
    assert_eq!(before["leader"], member_json(&before, &leader_id)["id"]);
    for m in before["members"].as_array().unwrap() {
        assert_eq!(m["failed"], false);
        assert!(m["owned_slots"].as_u64().unwrap() >= 5461, "{m}");
        assert!(m["replicated_slots"].as_u64().unwrap() >= 5461, "{m}");
    }

    // The survivors-to-be watch for a member down: a rule added through one member is every
    // member's.
    let rule = serde_json::json!({"name": "node-down", "condition": {"kind": "member_down"},
        "severity": "critical", "window_secs": 1, "cooldown_secs": 0});
    let (status, body) = post_body(&second, "/v1/alerts/rules", Some(rule));
    assert_eq!(status, 201, "{body}");
    let deadline = Instant::now() + SETTLE;
    while !http_text(&format!("http://{}/v1/alerts/rules", third.http)).contains("node-down") {
        assert!(
            Instant::now() < deadline,
            "the rule did not reach the third member"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // kill -9 of the raft leader, which owns a third of the slots.
    let mut leader = leader;
    leader.child.kill().unwrap();
    leader.child.wait().unwrap();
    drop(cons);

    // The survivors elect a leader, fail the dead member and promote its slots' replicas; the
    // slots left without a replica get the other survivor, which is sent a copy of their keys.
    until_known(&[&second, &third], 3);
    let deadline = Instant::now() + SETTLE;
    loop {
        let (_, ranges) = slot_owners(&second);
        if ranges.iter().all(|(_, _, id)| *id != leader_id) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the dead member still owns slots"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    until_settled(&[&second, &third], 3);
    let nodes: String = redis::cmd("CLUSTER")
        .arg("NODES")
        .query(&mut connect(&third))
        .unwrap();
    let dead = nodes
        .lines()
        .find(|l| l.starts_with(&leader_id))
        .expect("the dead member is listed");
    assert!(dead.contains("fail"), "{dead}");
    let after = cluster_json(&third);
    let gone = member_json(&after, &leader_id);
    assert_eq!(gone["failed"], true);
    assert_eq!(gone["owned_slots"], 0);
    assert_eq!(gone["replicated_slots"], 0);
    assert_eq!(after["unowned_slots"], 0);
    assert_ne!(after["leader"], gone["id"], "a survivor leads");
    // The new leader, and only it, raises the member-down alert about the dead member.
    let subject = format!("member {}", gone["id"].as_str().unwrap());
    let new_leader = after["leader"].as_str().unwrap().to_string();
    let (leads, follows) = if my_id(&second).ends_with(&new_leader) {
        (&second, &third)
    } else {
        (&third, &second)
    };
    let alerts = |member: &Member| {
        let url = format!("http://{}/v1/alerts", member.http);
        let list: serde_json::Value = serde_json::from_str(&http_text(&url)).unwrap();
        list["active"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["rule"] == "node-down" && a["namespace"] == subject.as_str())
            .count()
    };
    let deadline = Instant::now() + SETTLE;
    while alerts(leads) == 0 {
        assert!(
            Instant::now() < deadline,
            "no member-down alert on the leader"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(alerts(follows), 0, "only the leader alerts about a member");
    assert_eq!(after["under_replicated_slots"], 0);
    for survivor in [&second, &third] {
        assert_eq!(
            dbsize(survivor),
            stored as u64,
            "each survivor holds every key"
        );
    }
    let metrics = http_text(&format!("http://{}/metrics", third.http));
    assert!(
        metrics.contains("\nlarder_cluster_failed_members 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("\nlarder_cluster_members 3\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("larder_replication_changes_applied_total "),
        "{metrics}"
    );

    // Not one acknowledged write is missing or changed, read through either survivor.
    let mut cons = [connect(&second), connect(&third)];
    for (i, (key, value)) in expected.iter().enumerate() {
        let got: Option<String> = redis::cmd("GET").arg(key).query(&mut cons[i % 2]).unwrap();
        assert_eq!(got.as_deref(), Some(value.as_str()), "{key}");
    }
    for i in 0..100 {
        let con = &mut cons[i % 2];
        let counter: i64 = redis::cmd("GET")
            .arg(format!("counter:{i}"))
            .query(con)
            .unwrap();
        assert_eq!(counter, i as i64 + 1);
        let field: i64 = redis::cmd("HGET")
            .arg(format!("hash:{i}"))
            .arg("f")
            .query(con)
            .unwrap();
        assert_eq!(field, i as i64);
        let gone: bool = redis::cmd("EXISTS")
            .arg(format!("user:{i}"))
            .query(con)
            .unwrap();
        assert!(!gone, "a replicated delete stays deleted");
    }
    let ttl: i64 = redis::cmd("TTL")
        .arg("session:x")
        .query(&mut cons[0])
        .unwrap();
    assert!((3000..=3600).contains(&ttl), "the deadline survived: {ttl}");

    // And every slot takes writes again, the dead member's included.
    for i in 0..300 {
        let key = format!("after:{i}");
        let () = redis::cmd("SET")
            .arg(&key)
            .arg(i)
            .query(&mut cons[i % 2])
            .unwrap();
        let got: i64 = redis::cmd("GET")
            .arg(&key)
            .query(&mut cons[(i + 1) % 2])
            .unwrap();
        assert_eq!(got, i as i64);
    }
}

#[test]
fn a_paused_replica_delays_writes_until_the_leader_drops_it() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let [first, second, third] = three(&dirs);
    let members = [&first, &second, &third];
    let ids = [my_id(&first), my_id(&second), my_id(&third)];
    // A slot's replica is the member after its owner in id order. Pick a follower as owner
    // whose replica is a follower too (the first member leads, and must keep leading).
    let mut sorted = ids.clone();
    sorted.sort();
    let next = |id: &String| sorted[(sorted.iter().position(|s| s == id).unwrap() + 1) % 3].clone();
    let owner_at = (1..3).find(|&i| next(&ids[i]) != ids[0]).unwrap();
    let replica_id = next(&ids[owner_at]);
    let replica = members[ids.iter().position(|id| *id == replica_id).unwrap()];
    let owner_member = members[owner_at];
    let key = key_owned_by(&first, &ids[owner_at]);
    signal(replica, "-STOP");
    // Sent to the owner directly: it waits for the paused replica, until the leader fails it
    // and drops it from the slot; then the write is acknowledged.
    let mut owner = connect(owner_member);
    let answer: redis::RedisResult<()> = redis::cmd("SET").arg(&key).arg("v").query(&mut owner);
    // Read before the replica resumes: once it answers pings again it is recovered. The
    // failure mark and the slot change are separate raft entries, and `first` may apply the
    // mark a moment after the owner saw the slot change, so wait for it (bounded).
    let replica_failed = |nodes: &str| {
        nodes
            .lines()
            .any(|l| l.starts_with(replica_id.as_str()) && l.contains("fail"))
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let nodes = loop {
        let nodes: String = redis::cmd("CLUSTER")
            .arg("NODES")
            .query(&mut connect(&first))
            .unwrap();
        if replica_failed(&nodes) || std::time::Instant::now() > deadline {
            break nodes;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    signal(replica, "-CONT");
    answer.expect("acknowledged once the replica was dropped");
    let got: Option<String> = redis::cmd("GET").arg(&key).query(&mut owner).unwrap();
    assert_eq!(got.as_deref(), Some("v"));
    assert!(replica_failed(&nodes), "{nodes}");
}

#[test]
fn a_paused_owner_acknowledges_no_write_it_could_not_replicate() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let [first, second, third] = three(&dirs);
    let owner_id = my_id(&second);
    let key = key_owned_by(&first, &owner_id);
    let () = redis::cmd("SET")
        .arg(&key)
        .arg("before")
        .query(&mut connect(&second))
        .unwrap();
    let mut to_owner = connect(&second);
    signal(&second, "-STOP");
    // Sent while the owner is paused: it reads the command only once it runs again.
    let writer = std::thread::spawn(move || {
        let answer: redis::RedisResult<()> = redis::cmd("SET")
            .arg(&key)
            .arg("during")
            .query(&mut to_owner);
        (key, answer)
    });
    let deadline = Instant::now() + SETTLE;
    let probe = "{probe}";
    while owner_of(&first, &key_owned_by_any(&first, &owner_id, probe)) == owner_id {
        assert!(
            Instant::now() < deadline,
            "the paused owner was not failed over"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    signal(&second, "-CONT");
    let (key, answer) = writer.join().unwrap();
    eprintln!("the paused owner answered {answer:?}");
    let now: Option<String> = redis::cmd("GET")
        .arg(&key)
        .query(&mut connect(&third))
        .unwrap();
    match answer {
        // Run where the slot lives now (the resumed node knew it had lost the slot).
        Ok(()) => assert_eq!(now.as_deref(), Some("during")),
        // Forwarded to the new owner, which did not answer in time: either value.
        Err(e) if e.code() == Some("TRYAGAIN") => {
            assert!(
                matches!(now.as_deref(), Some("before" | "during")),
                "{now:?}"
            );
        }
        // Refused or lost: what the new owner holds is the last acknowledged value.
        Err(e) => assert_eq!(now.as_deref(), Some("before"), "after {e}"),
    }
}

/// Whether `owner` still owns any slot, as a key of one of them (or `fallback` when none).
fn key_owned_by_any(observer: &Member, owner: &str, fallback: &str) -> String {
    slot_owners(observer)
        .1
        .into_iter()
        .find(|(_, _, id)| id == owner)
        .map(|(start, _, _)| key_in_slot(start))
        .unwrap_or_else(|| fallback.to_string())
}

fn key_in_slot(slot: u16) -> String {
    (0..)
        .map(|i| format!("k{i}"))
        .find(|k| key_slot(k.as_bytes()) == slot)
        .unwrap()
}

#[test]
fn a_second_failure_loses_nothing_once_the_first_one_s_slots_have_new_replicas() {
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let first = spawn(dirs[0].path(), None);
    let mut others: Vec<Member> = dirs[1..]
        .iter()
        .map(|d| spawn(d.path(), Some(first.bus)))
        .collect();
    until_settled(&[&first, &others[0], &others[1], &others[2]], 4);
    let keys = 1200;
    {
        let mut cons: Vec<redis::Connection> = std::iter::once(&first)
            .chain(&others)
            .map(connect)
            .collect();
        for i in 0..keys {
            let () = redis::cmd("SET")
                .arg(format!("k:{i}"))
                .arg(i)
                .query(&mut cons[i % 4])
                .unwrap();
        }
    }
    let copies: u64 = std::iter::once(&first).chain(&others).map(dbsize).sum();
    assert_eq!(copies, 2 * keys as u64);

    // Two failures in a row, leaving two of the three voters: the fourth member (a learner),
    // then a voter that does not lead.
    let fourth = others.pop().unwrap();
    let fourth_id = my_id(&fourth);
    drop(fourth);
    until_failed(&first, &fourth_id);
    until_settled(&[&first, &others[0], &others[1]], 4);
    let cluster = cluster_json(&first);
    assert_eq!(member_json(&cluster, &fourth_id)["failed"], true);
    let leader = cluster["leader"].as_str().unwrap().to_string();
    let victim = others
        .iter()
        .position(|m| !my_id(m).ends_with(&leader))
        .unwrap();
    let victim_id = my_id(&others[victim]);
    drop(others.remove(victim));
    until_failed(&first, &victim_id);
    let survivors = [&first, &others[0]];
    until_settled(&survivors, 4);

    // Every slot has an owner among the survivors, and every key is there.
    let cluster = cluster_json(&first);
    assert_eq!(cluster["unowned_slots"], 0);
    for survivor in survivors {
        assert_eq!(
            dbsize(survivor),
            keys as u64,
            "each survivor holds every key"
        );
    }
    let mut cons = [connect(&first), connect(&others[0])];
    for i in 0..keys {
        let got: Option<i64> = redis::cmd("GET")
            .arg(format!("k:{i}"))
            .query(&mut cons[i % 2])
            .unwrap();
        assert_eq!(got, Some(i as i64), "k:{i}");
    }
}

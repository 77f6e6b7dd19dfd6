//! Moving slots without losing keys, with real `larder` processes. A fourth member joins three
//! (one replica per slot) while a client keeps writing: the slots it takes over reach it with
//! their keys before it owns them. Draining it moves them back: it ends owning, replicating and
//! holding nothing. No acknowledged write is lost on the way, and every key written before is
//! still served. A member killed and started again at once is not trusted with what it held:
//! it owns nothing until a rebalance, which gives it its share back with the keys.

mod cluster_support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use cluster_support::*;
use larder_cluster::slot::key_slot;

/// Keys written before the fourth member joins.
const KEYS: usize = 3000;
/// The most writes the background writer attempts (it stops earlier when told).
const MAX_LIVE_WRITES: u64 = 200_000;

/// Write `live:{n}` = `n` through `member` until `stop`, returning the acknowledged `n`s and
/// how many writes got an error (unknown outcome: maybe applied, maybe not).
fn writer(
    resp: std::net::SocketAddr,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<(Vec<u64>, u64)> {
    std::thread::spawn(move || {
        let client = redis::Client::open(format!("redis://{resp}/")).unwrap();
        let mut con = client
            .get_connection_with_timeout(Duration::from_secs(5))
            .unwrap();
        con.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        let (mut acked, mut unknown) = (Vec::new(), 0);
        for n in 0..MAX_LIVE_WRITES {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let done: redis::RedisResult<()> = redis::cmd("SET")
                .arg(format!("live:{n}"))
                .arg(n)
                .query(&mut con);
            match done {
                Ok(()) => acked.push(n),
                Err(_) => unknown += 1,
            }
        }
        (acked, unknown)
    })
}

/// The `KEYS` keys, by slot.
fn keys_by_slot() -> BTreeMap<u16, Vec<String>> {
    let mut by_slot: BTreeMap<u16, Vec<String>> = BTreeMap::new();
    for i in 0..KEYS {
        let key = format!("key:{i}");
        by_slot
            .entry(key_slot(key.as_bytes()))
            .or_default()
            .push(key);
    }
    by_slot
}

/// Check that `member` has, in its own keyspace, every key of `by_slot` whose slot it owns by
/// its `CLUSTER SLOTS`; returns how many that is.
fn assert_holds_its_keys(member: &Member, by_slot: &BTreeMap<u16, Vec<String>>) -> usize {
    let me = my_id(member);
    let (_, ranges) = slot_owners(member);
    let owned = |slot: u16| {
        ranges
            .iter()
            .any(|(s, e, id)| (*s..=*e).contains(&slot) && *id == me)
    };
    let mut local = connect(member);
    let mut held_keys = 0;
    for (slot, keys) in by_slot.iter().filter(|(s, _)| owned(**s)) {
        let held: Vec<String> = redis::cmd("CLUSTER")
            .arg("GETKEYSINSLOT")
            .arg(*slot)
            .arg(1_000_000)
            .query(&mut local)
            .unwrap();
        for key in keys {
            assert!(
                held.contains(key),
                "{key} (slot {slot}) is not on its owner"
            );
            held_keys += 1;
        }
    }
    held_keys
}

/// Every `KEYS` key reads back its value through `member`.
fn assert_all_keys_served(member: &Member) {
    let mut pipe = redis::pipe();
    for i in 0..KEYS {
        pipe.cmd("GET").arg(format!("key:{i}"));
    }
    let got: Vec<Option<String>> = pipe.query(&mut connect(member)).unwrap();
    for (i, value) in got.iter().enumerate() {
        assert_eq!(value.as_deref(), Some(format!("v{i}").as_str()), "key:{i}");
    }
}

/// Write the `KEYS` keys (`key:{i}` = `v{i}`) through `member`.
fn write_keys(member: &Member) {
    let mut pipe = redis::pipe();
    for i in 0..KEYS {
        pipe.cmd("SET")
            .arg(format!("key:{i}"))
            .arg(format!("v{i}"))
            .ignore();
    }
    let () = pipe.query(&mut connect(member)).unwrap();
}

/// Wait until `observer` reports member `id` owning and replicating no slot.
fn until_empty(observer: &Member, id: &str) {
    let deadline = Instant::now() + SETTLE;
    loop {
        let cluster = cluster_json(observer);
        let member = member_json(&cluster, id);
        if member["owned_slots"] == 0
            && member["replicated_slots"] == 0
            && cluster["migrating_slots"] == 0
        {
            return;
        }
        assert!(Instant::now() < deadline, "{id} was not drained: {cluster}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_joining_member_receives_its_slots_keys_and_a_drained_one_ends_empty() {
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let [first, second, third] = three(&dirs);
    write_keys(&first);

    let stop = Arc::new(AtomicBool::new(false));
    let live = writer(second.resp, Arc::clone(&stop));
    let began = Instant::now();
    let fourth = spawn(dirs[3].path(), Some(first.bus));
    let all = [&first, &second, &third, &fourth];
    until_settled(&all, 4);
    eprintln!("joined and in sync after {:?}", began.elapsed());
    let id4 = my_id(&fourth);
    let cluster = cluster_json(&first);
    assert_eq!(
        member_json(&cluster, &id4)["owned_slots"],
        4096,
        "{cluster}"
    );

    // The keys of the slots it took over were copied to it: they are in its own keyspace.
    let moved = assert_holds_its_keys(&fourth, &keys_by_slot());
    assert!(moved > KEYS / 8, "only {moved} of {KEYS} keys moved");

    // Drain it again: an unknown id is refused; the member's own is taken.
    let (status, body) = post_json(&first, "/v1/cluster/members/00000000000000aa/drain");
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("member_not_found"))
    );
    let short_id = &id4[id4.len() - 16..];
    let (status, body) = post_json(&third, &format!("/v1/cluster/members/{short_id}/drain"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(member_json(&body, &id4)["draining"], true, "{body}");
    until_empty(&first, &id4);
    until_settled(&all, 4);
    // Its copies are swept: it holds no key at all.
    let deadline = Instant::now() + SETTLE;
    while dbsize(&fourth) > 0 {
        assert!(
            Instant::now() < deadline,
            "the drained member still holds keys"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // A rebalance keeps it drained: the three others share the slots.
    let (status, body) = post_json(&second, "/v1/cluster/rebalance");
    assert_eq!(status, 200, "{body}");
    until_settled(&all, 4);
    let cluster = cluster_json(&first);
    assert_eq!(member_json(&cluster, &id4)["owned_slots"], 0, "{cluster}");

    stop.store(true, Ordering::Relaxed);
    let (acked, unknown) = live.join().unwrap();
    eprintln!("{} writes acknowledged, {unknown} unknown", acked.len());
    assert!(
        !acked.is_empty(),
        "no write was acknowledged ({unknown} failed)"
    );
    // Every key written before, and every acknowledged write, reads back through a member.
    let mut pipe = redis::pipe();
    for i in 0..KEYS {
        pipe.cmd("GET").arg(format!("key:{i}"));
    }
    for n in &acked {
        pipe.cmd("GET").arg(format!("live:{n}"));
    }
    let got: Vec<Option<String>> = pipe.query(&mut connect(&first)).unwrap();
    let expected = (0..KEYS)
        .map(|i| format!("v{i}"))
        .chain(acked.iter().map(|n| n.to_string()));
    let lost: Vec<String> = expected
        .zip(&got)
        .filter(|(want, have)| have.as_deref() != Some(want.as_str()))
        .map(|(want, have)| format!("{want} read as {have:?}"))
        .take(5)
        .collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged writes, {unknown} unknown; lost: {lost:?}",
        acked.len()
    );
}

#[test]
fn a_member_restarted_at_once_resyncs_and_a_rebalance_gives_it_its_share_back() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let [first, second, mut third] = three(&dirs);
    write_keys(&first);
    let id3 = my_id(&third);
    // kill -9 and start again at once: what it held in memory is not trusted, so its slots
    // pass to their in-sync replicas and its replica roles are synced again — whether the
    // leader saw the restart (`Started`) or first the silence (`Fail`, then `Recover`).
    signal(&third, "-KILL");
    third.child.wait().unwrap();
    let third = respawn(dirs[2].path(), &third);
    let all = [&first, &second, &third];
    let deadline = Instant::now() + SETTLE;
    while member_json(&cluster_json(&first), &id3)["owned_slots"] != 0 {
        assert!(
            Instant::now() < deadline,
            "the restarted member kept its slots"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    until_settled(&all, 3);
    let log = std::fs::read_to_string(dirs[0].path().join("stderr.log")).unwrap();
    let seen_as = if log.contains("member restarted") {
        "a restart"
    } else {
        "a failure and a return"
    };
    eprintln!("the restart was seen as {seen_as}");
    for member in all {
        assert_all_keys_served(member);
    }
    // The operator rebalances: it gets a third of the slots back, with their keys.
    let (status, body) = post_json(&second, "/v1/cluster/rebalance");
    assert_eq!(status, 200, "{body}");
    until_settled(&all, 3);
    let owned = member_json(&cluster_json(&first), &id3)["owned_slots"].clone();
    assert!(owned == 5461 || owned == 5462, "{owned}");
    assert!(assert_holds_its_keys(&third, &keys_by_slot()) > KEYS / 8);
    for member in all {
        assert_all_keys_served(member);
    }
}

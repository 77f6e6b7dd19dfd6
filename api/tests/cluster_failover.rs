//! Replication and failover with real `larder` processes: three members formed with one replica
//! per slot; every acknowledged write is on two nodes; `kill -9` of the raft leader (which also
//! owns a third of the slots) loses no acknowledged write, and the survivors serve and accept
//! writes for every slot again.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use larder_cluster::slot::key_slot;

const BIN: &str = env!("CARGO_BIN_EXE_larder");
/// Test deadlines (not performance thresholds): how long the cluster may take to settle.
const SETTLE: Duration = Duration::from_secs(30);

/// A spawned `larder serve` cluster member; killed on drop if the test fails first.
struct Member {
    child: Child,
    resp: SocketAddr,
    bus: SocketAddr,
}

impl Drop for Member {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Start a member in `dir`: forming the cluster (`join` None) or joining through a bus address.
fn spawn(dir: &Path, join: Option<SocketAddr>) -> Member {
    let mut command = Command::new(BIN);
    command.args(["serve", "--resp-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"]);
    command.arg("--data-dir").arg(dir.join("data"));
    command.args(["--bus-addr", "127.0.0.1:0", "--cluster-node-timeout-ms", "1000"]);
    match join {
        None => command.args(["--cluster-init", "--cluster-replicas", "1"]),
        Some(via) => command.args(["--join", &via.to_string()]),
    };
    for var in ["LARDER_CONFIG", "LARDER_DATA_DIR", "LARDER_NO_PERSIST"] {
        command.env_remove(var);
    }
    // The log goes to a file (a pipe nobody reads would fill and stall the member).
    let log = std::fs::File::create(dir.join("stderr.log")).unwrap();
    command
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(log);
    let mut child = command.spawn().expect("spawn larder");
    let stdout = child.stdout.take().unwrap();
    for line in BufReader::new(stdout).lines().take(60) {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("larder ready ") {
            let field = |name: &str| -> SocketAddr {
                rest.split(' ')
                    .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
                    .unwrap_or_else(|| panic!("{name} in {line:?}"))
                    .parse()
                    .unwrap()
            };
            return Member {
                resp: field("resp_addr"),
                bus: field("bus_addr"),
                child,
            };
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!(
        "no ready line; log: {}",
        std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default()
    );
}

fn connect(member: &Member) -> redis::Connection {
    let client = redis::Client::open(format!("redis://{}/", member.resp)).unwrap();
    let con = client
        .get_connection_with_timeout(Duration::from_secs(5))
        .unwrap();
    con.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    con
}

fn info_field(text: &str, name: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .map(|v| v.trim().to_string())
}

/// Wait until every member sees `known` members and a complete slot map.
fn until_settled(members: &[&Member], known: usize) {
    let deadline = Instant::now() + SETTLE;
    loop {
        let settled = members.iter().all(|m| {
            let info: String = redis::cmd("CLUSTER")
                .arg("INFO")
                .query(&mut connect(m))
                .unwrap();
            info_field(&info, "cluster_known_nodes") == Some(known.to_string())
                && info_field(&info, "cluster_state").as_deref() == Some("ok")
        });
        if settled {
            return;
        }
        assert!(Instant::now() < deadline, "the cluster did not settle");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `CLUSTER MYID` of a member and the owner of each slot range it reports.
fn slot_owners(member: &Member) -> (String, Vec<(u16, u16, String)>) {
    let mut con = connect(member);
    let me: String = redis::cmd("CLUSTER").arg("MYID").query(&mut con).unwrap();
    let slots: Vec<(u16, u16, Vec<redis::Value>)> =
        redis::cmd("CLUSTER").arg("SLOTS").query(&mut con).unwrap();
    let ranges = slots
        .into_iter()
        .map(|(start, end, node)| match &node[2] {
            redis::Value::BulkString(id) => (start, end, String::from_utf8_lossy(id).into_owned()),
            other => panic!("node id {other:?}"),
        })
        .collect();
    (me, ranges)
}

fn dbsize(member: &Member) -> u64 {
    redis::cmd("DBSIZE").query(&mut connect(member)).unwrap()
}

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
    let on_leader = expected.keys().filter(|k| owned_by_leader(k)).count();
    assert!(on_leader > 300, "the leader owns a share: {on_leader}");

    // Every key is on its owner and on one replica: the members together hold two copies.
    let stored = keys - 100 + 200 + 1;
    let copies: u64 = [&leader, &second, &third].iter().map(|m| dbsize(m)).sum();
    assert_eq!(copies, 2 * stored as u64, "every key on two members");

    // kill -9 of the raft leader, which owns a third of the slots.
    let mut leader = leader;
    leader.child.kill().unwrap();
    leader.child.wait().unwrap();
    drop(cons);

    // The survivors elect a leader, fail the dead member and promote its slots' replicas.
    until_settled(&[&second, &third], 3);
    let deadline = Instant::now() + SETTLE;
    loop {
        let (_, ranges) = slot_owners(&second);
        if ranges.iter().all(|(_, _, id)| *id != leader_id) {
            break;
        }
        assert!(Instant::now() < deadline, "the dead member still owns slots");
        std::thread::sleep(Duration::from_millis(100));
    }
    let nodes: String = redis::cmd("CLUSTER")
        .arg("NODES")
        .query(&mut connect(&third))
        .unwrap();
    let dead = nodes
        .lines()
        .find(|l| l.starts_with(&leader_id))
        .expect("the dead member is listed");
    assert!(dead.contains("fail"), "{dead}");

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
    let ttl: i64 = redis::cmd("TTL").arg("session:x").query(&mut cons[0]).unwrap();
    assert!((3000..=3600).contains(&ttl), "the deadline survived: {ttl}");

    // And every slot takes writes again, the dead member's included.
    for i in 0..300 {
        let key = format!("after:{i}");
        let () = redis::cmd("SET")
            .arg(&key)
            .arg(i)
            .query(&mut cons[i % 2])
            .unwrap();
        let got: i64 = redis::cmd("GET").arg(&key).query(&mut cons[(i + 1) % 2]).unwrap();
        assert_eq!(got, i as i64);
    }
}

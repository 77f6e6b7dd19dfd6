//! Real `larder serve` cluster members for the cluster tests: spawn one on free loopback ports
//! (forming a cluster or joining one), wait for the cluster to settle, and read what the members
//! report (`CLUSTER SLOTS`, `GET /v1/cluster`).

#![allow(dead_code)] // each test binary uses its own subset

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use larder_cluster::slot::key_slot;

pub const BIN: &str = env!("CARGO_BIN_EXE_larder");
/// Test deadlines (not performance thresholds): how long the cluster may take to settle.
pub const SETTLE: Duration = Duration::from_secs(30);

/// A spawned `larder serve` cluster member; killed on drop if the test fails first.
pub struct Member {
    pub child: Child,
    pub resp: SocketAddr,
    pub http: SocketAddr,
    pub bus: SocketAddr,
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
pub fn spawn(dir: &Path, join: Option<SocketAddr>) -> Member {
    let any = "127.0.0.1:0".parse().unwrap();
    match join {
        None => launch(
            dir,
            [any; 3],
            &["--cluster-init", "--cluster-replicas", "1"],
        ),
        Some(via) => launch(dir, [any; 3], &["--join", &via.to_string()]),
    }
}

/// Start `member` again from its data directory `dir`, on the addresses it had (the others
/// reach it there); it resumes its membership without `--cluster-init` or `--join`.
pub fn respawn(dir: &Path, member: &Member) -> Member {
    launch(dir, [member.resp, member.http, member.bus], &[])
}

/// `larder serve` in `dir` on the given RESP, HTTP and bus addresses, with `flags` added.
fn launch(dir: &Path, [resp, http, bus]: [SocketAddr; 3], flags: &[&str]) -> Member {
    let mut command = Command::new(BIN);
    command.arg("serve");
    command.arg("--resp-addr").arg(resp.to_string());
    command.arg("--http-addr").arg(http.to_string());
    command.arg("--data-dir").arg(dir.join("data"));
    command.arg("--bus-addr").arg(bus.to_string());
    command.args(["--cluster-node-timeout-ms", "1000"]);
    command.args(flags);
    for var in ["LARDER_CONFIG", "LARDER_DATA_DIR", "LARDER_NO_PERSIST"] {
        command.env_remove(var);
    }
    // The log goes to a file (a pipe nobody reads would fill and stall the member).
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("stderr.log"))
        .unwrap();
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
                http: field("http_addr"),
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

pub fn connect(member: &Member) -> redis::Connection {
    let client = redis::Client::open(format!("redis://{}/", member.resp)).unwrap();
    let con = client
        .get_connection_with_timeout(Duration::from_secs(5))
        .unwrap();
    con.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    con
}

pub fn info_field(text: &str, name: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .map(|v| v.trim().to_string())
}

/// Wait until every member sees `known` members and a complete slot map, with every replica
/// that can be had in sync and no slot still moving to a new owner.
pub fn until_settled(members: &[&Member], known: usize) {
    until_known(members, known);
    until_failed_known(members);
    let deadline = Instant::now() + SETTLE;
    for member in members {
        loop {
            let cluster = cluster_json(member);
            if cluster["under_replicated_slots"] == 0
                && cluster["syncing_replicas"] == 0
                && cluster["migrating_slots"] == 0
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "replicas did not get in sync: {cluster}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Wait until no member lists a failed member that still owns or replicates slots (a failure
/// detected but not yet acted on).
pub fn until_failed_known(members: &[&Member]) {
    let deadline = Instant::now() + SETTLE;
    for member in members {
        loop {
            let cluster = cluster_json(member);
            let pending = cluster["members"].as_array().unwrap().iter().any(|m| {
                m["failed"] == true && (m["owned_slots"] != 0 || m["replicated_slots"] != 0)
            });
            if !pending {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "a failure was not acted on: {cluster}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Wait until every member sees `known` members and a complete slot map.
pub fn until_known(members: &[&Member], known: usize) {
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
pub fn slot_owners(member: &Member) -> (String, Vec<(u16, u16, String)>) {
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

/// The id of the member owning `key`'s slot, by `member`'s slot map.
pub fn owner_of(member: &Member, key: &str) -> String {
    let slot = key_slot(key.as_bytes());
    slot_owners(member)
        .1
        .into_iter()
        .find(|(s, e, _)| (*s..=*e).contains(&slot))
        .map(|(_, _, id)| id)
        .expect("every slot has an owner")
}

pub fn my_id(member: &Member) -> String {
    redis::cmd("CLUSTER")
        .arg("MYID")
        .query(&mut connect(member))
        .unwrap()
}

pub fn signal(member: &Member, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &member.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Three settled members.
pub fn three(dirs: &[tempfile::TempDir]) -> [Member; 3] {
    let first = spawn(dirs[0].path(), None);
    let second = spawn(dirs[1].path(), Some(first.bus));
    let third = spawn(dirs[2].path(), Some(first.bus));
    until_settled(&[&first, &second, &third], 3);
    [first, second, third]
}

/// A key whose slot `owner` owns and `replica` replicates (the member after the owner in id
/// order, as the slot table assigns them).
pub fn key_owned_by(observer: &Member, owner: &str) -> String {
    (0..)
        .map(|i| format!("probe:{i}"))
        .find(|k| owner_of(observer, k) == owner)
        .unwrap()
}

/// `GET /v1/cluster` of a member, as JSON.
pub fn cluster_json(member: &Member) -> serde_json::Value {
    let url = format!("http://{}/v1/cluster", member.http);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let response = reqwest::get(&url).await.unwrap();
            assert_eq!(response.status(), 200);
            response.json().await.unwrap()
        })
}

/// `POST` to a member's REST API with no body: the status and the JSON answer.
pub fn post_json(member: &Member, path: &str) -> (u16, serde_json::Value) {
    post_body(member, path, None)
}

/// `POST` to a member's REST API, with `body` as JSON when given: the status and the answer.
pub fn post_body(
    member: &Member,
    path: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let url = format!("http://{}{path}", member.http);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let mut request = reqwest::Client::new().post(&url);
            if let Some(body) = body {
                request = request.json(&body);
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json().await.unwrap())
        })
}

pub fn http_text(url: &str) -> String {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async { reqwest::get(url).await.unwrap().text().await.unwrap() })
}

/// The member `id` in a `/v1/cluster` answer (`id` as CLUSTER MYID gives it: 40 hex digits).
pub fn member_json<'a>(cluster: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    cluster["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| id.ends_with(m["id"].as_str().unwrap()))
        .unwrap_or_else(|| panic!("{id} in {cluster}"))
}

pub fn dbsize(member: &Member) -> u64 {
    redis::cmd("DBSIZE").query(&mut connect(member)).unwrap()
}

/// Wait until `observer` lists member `id` as failed.
pub fn until_failed(observer: &Member, id: &str) {
    let deadline = Instant::now() + SETTLE;
    while member_json(&cluster_json(observer), id)["failed"] != true {
        assert!(Instant::now() < deadline, "{id} was not failed");
        std::thread::sleep(Duration::from_millis(100));
    }
}

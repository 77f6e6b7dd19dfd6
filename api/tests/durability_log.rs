//! The append-only log and encryption at rest, through the real binary: `kill -9` right after the
//! last acknowledged write under `appendfsync always` loses nothing, `everysec` loses nothing
//! older than about a second, a torn last record is tolerated and damage elsewhere refused, a
//! snapshot folds the log away; with a key, no known value is readable in any file, and a wrong
//! key, a missing key or a flipped byte is refused with a message naming the file.

mod node_support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use node_support::{Node, command, http, redis, sigterm_and_wait, start, value_of};
use redis::Commands;
use serde_json::json;

const ALWAYS: &[&str] = &["--appendonly", "true", "--appendfsync", "always"];

fn kill_9(node: &mut Node) {
    node.child.kill().unwrap();
    node.child.wait().unwrap();
}

fn log_files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "laof"))
        .collect();
    out.sort();
    out
}

/// Start expecting failure; stderr.
fn refused(dir: &Path, extra: &[&str]) -> String {
    let out = command(dir, extra).output().unwrap();
    assert!(!out.status.success(), "started, but should have refused");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Every file under `dir`, recursively, with its bytes.
fn all_files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if path.is_dir() {
            out.extend(all_files(&path));
        } else {
            let bytes = std::fs::read(&path).unwrap();
            out.push((path, bytes));
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn always_kill_9_right_after_the_last_acknowledged_write_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = start(dir.path(), ALWAYS);
    // Four clients write at once, so syncs are shared between them; every reply counts as an
    // acknowledgement only once it is read.
    let writers: Vec<_> = (0..4u32)
        .map(|t| {
            let mut con = redis(&node);
            std::thread::spawn(move || {
                for i in 0..500u32 {
                    let n = t * 1000 + i;
                    let _: () = con.set(format!("k{n}"), value_of(n)).unwrap();
                    let _: i64 = con.incr(format!("counter{t}"), 1).unwrap();
                    if i % 10 == 0 {
                        let _: i64 = con.del(format!("k{}", n - i % 20)).unwrap();
                    }
                    if i % 7 == 0 {
                        let _: bool = con.expire(format!("k{n}"), 600).unwrap();
                    }
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let mut con = redis(&node);
    let _: () = con.set("flushed-later", "x").unwrap();
    let _: () = redis::cmd("APPEND")
        .arg("k1")
        .arg("+tail")
        .query(&mut con)
        .unwrap();
    let (status, _) = http(
        reqwest::Method::PUT,
        &format!("{}/v1/namespaces/default/keys/rest-key", node.http),
        None,
    );
    assert!((200..300).contains(&status), "{status}");
    // The expected state, read before the kill.
    let mut expected: Vec<(String, Option<Vec<u8>>)> = Vec::new();
    for t in 0..4u32 {
        for i in 0..500u32 {
            let key = format!("k{}", t * 1000 + i);
            let v: Option<Vec<u8>> = con.get(&key).unwrap();
            expected.push((key, v));
        }
        let key = format!("counter{t}");
        let v: Option<Vec<u8>> = con.get(&key).unwrap();
        assert_eq!(v.as_deref(), Some(&b"500"[..]));
        expected.push((key, v));
    }
    let ttl_before: i64 = con.ttl("k7").unwrap();
    assert!(ttl_before > 590, "{ttl_before}");
    // The last acknowledged write, then kill -9 at once.
    let _: () = con.set("last", "acknowledged").unwrap();
    kill_9(&mut node);

    let node = start(dir.path(), ALWAYS);
    let mut con = redis(&node);
    let mut wrong = 0;
    for (key, value) in &expected {
        let got: Option<Vec<u8>> = con.get(key).unwrap();
        if &got != value {
            wrong += 1;
        }
    }
    assert_eq!(wrong, 0, "of {} keys", expected.len());
    let last: Option<String> = con.get("last").unwrap();
    assert_eq!(last.as_deref(), Some("acknowledged"));
    let rest: Option<Vec<u8>> = con.get("rest-key").unwrap();
    assert_eq!(
        rest,
        Some(Vec::new()),
        "the REST write (empty body) is back"
    );
    let ttl_after: i64 = con.ttl("k7").unwrap();
    assert!(ttl_after > 0 && ttl_after <= ttl_before, "{ttl_after}");
    let persistent: i64 = con.ttl("k1").unwrap();
    assert_eq!(persistent, -1);
    let info: String = redis::cmd("INFO")
        .arg("persistence")
        .query(&mut con)
        .unwrap();
    assert!(
        info.contains("aof_enabled:1") && info.contains("aof_fsync:always"),
        "{info}"
    );
    let (status, node_info) = http(
        reqwest::Method::GET,
        &format!("{}/v1/node", node.http),
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(
        node_info["persistence"]["append_log"], "always",
        "{node_info}"
    );
    assert_eq!(
        node_info["persistence"]["append_log_ok"], true,
        "{node_info}"
    );
    assert!(
        node_info["persistence"]["encryption_key_id"].is_null(),
        "{node_info}"
    );
    assert!(
        node_info["cpu_seconds"].as_f64().unwrap() > 0.0,
        "{node_info}"
    );
}

#[test]
fn everysec_keeps_what_was_written_more_than_a_second_before_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["--appendonly", "true", "--appendfsync", "everysec"];
    let mut node = start(dir.path(), &args);
    let mut con = redis(&node);
    for i in 0..2000u32 {
        let _: () = con.set(format!("k{i}"), value_of(i)).unwrap();
    }
    let _: () = redis::cmd("FLUSHDB").query(&mut con).unwrap();
    for i in 0..1000u32 {
        let _: () = con.set(format!("after{i}"), value_of(i)).unwrap();
    }
    // The policy's promise: synced within about a second.
    std::thread::sleep(Duration::from_millis(2500));
    kill_9(&mut node);

    let node = start(dir.path(), &args);
    let mut con = redis(&node);
    let size: u64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(
        size, 1000,
        "the flush is replayed in order, then the later writes"
    );
    for i in (0..1000u32).step_by(37) {
        let got: Option<Vec<u8>> = con.get(format!("after{i}")).unwrap();
        assert_eq!(got, Some(value_of(i)));
    }
}

#[test]
fn a_snapshot_folds_the_log_away_and_both_together_restore_everything() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = start(dir.path(), ALWAYS);
    let mut con = redis(&node);
    for i in 0..300u32 {
        let _: () = con.set(format!("before{i}"), value_of(i)).unwrap();
    }
    assert_eq!(log_files(dir.path()).len(), 1);
    let _: () = redis::cmd("SAVE").query(&mut con).unwrap();
    let files = log_files(dir.path());
    assert_eq!(
        files.len(),
        1,
        "the file the snapshot holds is deleted: {files:?}"
    );
    assert!(files[0].ends_with("log-0000000002.laof"), "{files:?}");
    for i in 0..300u32 {
        let _: () = con.set(format!("after{i}"), value_of(i + 1)).unwrap();
    }
    let _: i64 = con.del("before0").unwrap();
    kill_9(&mut node);

    // Started without the log: the files on disk are still replayed.
    let node = start(dir.path(), &[]);
    let mut con = redis(&node);
    let size: u64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(size, 599);
    let got: Option<Vec<u8>> = con.get("after299").unwrap();
    assert_eq!(got, Some(value_of(300)));
    let got: Option<Vec<u8>> = con.get("before1").unwrap();
    assert_eq!(got, Some(value_of(1)));
}

/// Every collection of a node, as `(key, TYPE, canonical contents)`: what a restart must bring back.
fn collections(con: &mut redis::Connection) -> Vec<(String, String, Vec<Vec<u8>>)> {
    let mut keys: Vec<String> = redis::cmd("KEYS").arg("*").query(con).unwrap();
    keys.sort();
    keys.into_iter()
        .map(|key| {
            let kind: String = redis::cmd("TYPE").arg(&key).query(con).unwrap();
            let mut contents: Vec<Vec<u8>> = match kind.as_str() {
                "hash" => redis::cmd("HGETALL").arg(&key).query(con).unwrap(),
                "list" => redis::cmd("LRANGE")
                    .arg(&key)
                    .arg(0)
                    .arg(-1)
                    .query(con)
                    .unwrap(),
                "set" => redis::cmd("SMEMBERS").arg(&key).query(con).unwrap(),
                "zset" => redis::cmd("ZRANGE")
                    .arg(&key)
                    .arg(0)
                    .arg(-1)
                    .arg("WITHSCORES")
                    .query(con)
                    .unwrap(),
                _ => vec![redis::cmd("GET").arg(&key).query(con).unwrap()],
            };
            if kind == "set" {
                contents.sort();
            }
            (key, kind, contents)
        })
        .collect()
}

#[test]
fn collections_come_back_whole_from_the_snapshot_and_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = start(dir.path(), ALWAYS);
    let mut con = redis(&node);
    let write = |con: &mut redis::Connection, round: u32| {
        for i in 0..50u32 {
            let n = round * 100 + i;
            let _: () = redis::cmd("HSET")
                .arg(format!("session:{i}"))
                .arg(format!("f{n}"))
                .arg(value_of(n))
                .query(con)
                .unwrap();
            let _: () = redis::cmd("RPUSH")
                .arg(format!("feed:{}", i % 5))
                .arg(n)
                .query(con)
                .unwrap();
            let _: () = redis::cmd("SADD")
                .arg(format!("tags:{}", i % 7))
                .arg(n % 13)
                .query(con)
                .unwrap();
            let _: () = redis::cmd("ZINCRBY")
                .arg("board")
                .arg(n)
                .arg(format!("p{}", i % 9))
                .query(con)
                .unwrap();
        }
        let _: () = redis::cmd("LPOP").arg("feed:0").query(con).unwrap();
        let _: () = redis::cmd("SREM").arg("tags:1").arg(1).query(con).unwrap();
    };
    write(&mut con, 0);
    let _: Vec<i64> = redis::cmd("HEXPIRE")
        .arg("session:3")
        .arg(3600)
        .arg("FIELDS")
        .arg(1)
        .arg("f3")
        .query(&mut con)
        .unwrap();
    let _: () = redis::cmd("EXPIRE")
        .arg("board")
        .arg(3600)
        .query(&mut con)
        .unwrap();
    let _: () = redis::cmd("SAVE").query(&mut con).unwrap();
    // After the snapshot, in the log only: more writes, and a collection emptied away.
    write(&mut con, 1);
    let _: () = redis::cmd("DEL").arg("tags:2").query(&mut con).unwrap();
    let _: () = redis::cmd("HDEL")
        .arg("session:4")
        .arg("f4")
        .arg("f104")
        .query(&mut con)
        .unwrap();
    let before = collections(&mut con);
    let field_ttl: Vec<i64> = redis::cmd("HTTL")
        .arg("session:3")
        .arg("FIELDS")
        .arg(1)
        .arg("f3")
        .query(&mut con)
        .unwrap();
    assert!(field_ttl[0] > 3500);
    kill_9(&mut node);

    let node = start(dir.path(), &[]);
    let mut con = redis(&node);
    let after = collections(&mut con);
    assert_eq!(after.len(), before.len());
    assert_eq!(
        after, before,
        "every collection back, with its kind and contents"
    );
    assert!(
        !after.iter().any(|(k, _, _)| k == "session:4"),
        "an emptied hash stays gone"
    );
    let field_ttl: Vec<i64> = redis::cmd("HTTL")
        .arg("session:3")
        .arg("FIELDS")
        .arg(1)
        .arg("f3")
        .query(&mut con)
        .unwrap();
    assert!(
        field_ttl[0] > 3500 && field_ttl[0] <= 3600,
        "a field keeps its deadline: {field_ttl:?}"
    );
    let ttl: i64 = redis::cmd("TTL").arg("board").query(&mut con).unwrap();
    assert!(
        ttl > 3500 && ttl <= 3600,
        "the key keeps its deadline: {ttl}"
    );
}

#[test]
fn a_torn_last_record_is_tolerated_and_damage_before_it_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = start(dir.path(), ALWAYS);
    let mut con = redis(&node);
    for i in 0..200u32 {
        let _: () = con.set(format!("k{i}"), value_of(i)).unwrap();
    }
    kill_9(&mut node);
    let log = log_files(dir.path()).pop().unwrap();
    let whole = std::fs::read(&log).unwrap();

    // A frame cut short by the crash: its header promises more than the file holds.
    let mut torn = whole.clone();
    torn.extend_from_slice(&500u32.to_le_bytes());
    torn.extend_from_slice(&[7u8; 8]);
    torn.extend_from_slice(b"half a record");
    std::fs::write(&log, &torn).unwrap();
    let node = start(dir.path(), &[]);
    let mut con = redis(&node);
    let size: u64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(size, 200);
    drop(con);
    let mut node = node;
    kill_9(&mut node);

    // A flipped byte in a frame that has frames after it is damage, not a crash.
    let mut bad = whole.clone();
    bad[40] ^= 0x20;
    std::fs::write(&log, &bad).unwrap();
    let stderr = refused(dir.path(), &[]);
    assert!(
        stderr.contains(&log.file_name().unwrap().to_string_lossy().to_string())
            && stderr.contains("checksum mismatch"),
        "{stderr}"
    );
    // The operator's way out keeps the file for inspection.
    let node = start(dir.path(), &["--discard-bad-data"]);
    drop(node);
    let aside = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains(".laof.bad-")
        })
        .count();
    assert_eq!(aside, 1);
}

const KEY_A: &str = "1:3c0dbd2f1a4e5b6978a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f607";
const KEY_A_IMPOSTOR: &str = "1:ffffbd2f1a4e5b6978a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f607";
const KEY_B: &str = "2:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

fn secret(i: u32) -> String {
    format!("known-plaintext-{i:04}-do-not-leak")
}

#[test]
fn encrypted_at_rest_no_known_value_is_readable_and_wrong_keys_or_flipped_bytes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let key_file = dir.path().join("keys");
    std::fs::write(&key_file, format!("{KEY_A}\n")).unwrap();
    let key_arg = key_file.display().to_string();
    let with_key = [
        "--appendonly",
        "true",
        "--encryption-key-file",
        key_arg.as_str(),
    ];
    let mut node = start(&data, &with_key);
    let mut con = redis(&node);
    for i in 0..500u32 {
        let _: () = con.set(format!("s{i}"), secret(i)).unwrap();
    }
    let _: () = redis::cmd("SAVE").query(&mut con).unwrap();
    for i in 500..1000u32 {
        let _: () = con.set(format!("s{i}"), secret(i)).unwrap();
    }
    let (status, _) = http(
        reqwest::Method::POST,
        &format!("{}/v1/namespaces", node.http),
        Some(serde_json::json!({"name": "secret-namespace-name", "config": {}})),
    );
    assert_eq!(status, 201);
    std::thread::sleep(Duration::from_millis(1500));
    kill_9(&mut node);

    // Nothing readable: no value, no namespace name, no JSON, in any file (snapshot, log, catalog).
    let files = all_files(&data);
    assert!(files.len() >= 3, "{files:?}");
    for (path, bytes) in &files {
        if path.ends_with("LOCK") {
            continue;
        }
        assert!(
            !contains(bytes, b"known-plaintext"),
            "{} leaks a value",
            path.display()
        );
        assert!(
            !contains(bytes, b"secret-namespace"),
            "{} leaks a name",
            path.display()
        );
        assert!(
            !contains(bytes, b"capacity_bytes"),
            "{} leaks the catalog",
            path.display()
        );
    }

    // The right key: everything back (the snapshot's half and the log's half).
    let mut node = start(&data, &with_key);
    let mut con = redis(&node);
    let size: u64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(size, 1000);
    let got: String = con.get("s999").unwrap();
    assert_eq!(got, secret(999));
    let (_, node_info) = http(
        reqwest::Method::GET,
        &format!("{}/v1/node", node.http),
        None,
    );
    assert_eq!(
        node_info["persistence"]["encryption_key_id"], 1,
        "{node_info}"
    );
    sigterm_and_wait(&mut node);

    // No key, a key of another id, the same id with other bytes: refused, naming the file.
    let stderr = refused(&data, &[]);
    assert!(
        stderr.contains("catalog.json") && stderr.contains("no encryption key"),
        "{stderr}"
    );
    let stderr = refused(&data, &["--encryption-key", KEY_B]);
    assert!(stderr.contains("key id 1, which is not among"), "{stderr}");
    let stderr = refused(&data, &["--encryption-key", KEY_A_IMPOSTOR]);
    assert!(stderr.contains("does not decrypt"), "{stderr}");

    // Rotation: the new key first, the old one still listed; after a save and a restart every
    // file is under the new key, and the old one can go.
    let rotated = format!("{KEY_B},{KEY_A}");
    let mut node = start(&data, &["--encryption-key", rotated.as_str()]);
    let mut con = redis(&node);
    let _: () = redis::cmd("SAVE").query(&mut con).unwrap();
    sigterm_and_wait(&mut node);
    let node = start(&data, &["--encryption-key", KEY_B]);
    let mut con = redis(&node);
    let size: u64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(size, 1000);
    drop(con);
    drop(node);

    // A flipped byte in the snapshot: refused as a whole, naming it.
    let snapshot = data.join("data.lsnap");
    let mut bytes = std::fs::read(&snapshot).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 1;
    std::fs::write(&snapshot, &bytes).unwrap();
    let stderr = refused(&data, &["--encryption-key", KEY_B]);
    assert!(stderr.contains("data.lsnap"), "{stderr}");
}

#[test]
fn a_running_experiment_and_shadow_evaluation_are_restarted_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = start(dir.path(), &[]);
    let ns =
        json!({"capacity_bytes": 200_000, "max_item_size": 1024, "shards": 8, "eviction": "fifo"});
    let (status, _) = http(
        reqwest::Method::PUT,
        &format!("{}/v1/namespaces/lab", node.http),
        Some(ns),
    );
    assert!((200..300).contains(&status), "{status}");
    let spec =
        json!({"arms": [{"name": "lru", "eviction": "lru"}, {"name": "s3", "eviction": "s3fifo"}]});
    let (status, body) = http(
        reqwest::Method::PUT,
        &format!("{}/v1/namespaces/lab/experiment", node.http),
        Some(spec),
    );
    assert_eq!(status, 200, "{body}");
    let shadow = json!({"candidates": [{"name": "w", "eviction": "wtinylfu"}], "sample_rate": 0.5});
    let (status, body) = http(
        reqwest::Method::PUT,
        &format!("{}/v1/namespaces/lab/shadow", node.http),
        Some(shadow),
    );
    assert_eq!(status, 200, "{body}");
    // A crash, not a graceful stop: the catalog was written when each was started.
    kill_9(&mut node);

    let node = start(dir.path(), &[]);
    let (status, body) = http(
        reqwest::Method::GET,
        &format!("{}/v1/namespaces/lab/experiment", node.http),
        None,
    );
    assert_eq!(status, 200, "{body}");
    let arms: Vec<&str> = body["arms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(arms, ["lru", "s3"]);
    assert_eq!(body["arms"][0]["shards"], json!([0, 1, 2, 3]));
    let (status, body) = http(
        reqwest::Method::GET,
        &format!("{}/v1/namespaces/lab/shadow", node.http),
        None,
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.to_string().contains("\"w\""), "{body}");
    // Stopped ones stay stopped.
    let (status, _) = http(
        reqwest::Method::DELETE,
        &format!("{}/v1/namespaces/lab/experiment", node.http),
        None,
    );
    assert_eq!(status, 200);
    let mut node = node;
    kill_9(&mut node);
    let node = start(dir.path(), &[]);
    let (status, _) = http(
        reqwest::Method::GET,
        &format!("{}/v1/namespaces/lab/experiment", node.http),
        None,
    );
    assert_eq!(status, 404);
}

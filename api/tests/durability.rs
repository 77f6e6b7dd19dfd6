//! Restarts lose nothing: the real binary with a data directory, killed with SIGKILL after SAVE or
//! stopped with SIGTERM, then started again on the same directory — keys byte-equal with their
//! real remaining TTLs, namespaces, plugins, attachments and alert rules back; a corrupt file stops
//! startup naming itself unless `--discard-bad-data` moves it aside.

mod node_support;

use std::time::{Duration, Instant};

use larder_plugin_wasm as wasm;
use node_support::{Node, command, http, redis, sigterm_and_wait, start, value_of};
use serde_json::{Value, json};

/// Upload a module through the admin API; its version id.
fn upload_plugin(node: &Node, module: &'static [u8], name: &str) -> String {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let uploaded: Value = rt.block_on(async {
        reqwest::Client::new()
            .post(format!("{}/v1/plugins?name={name}", node.http))
            .body(module)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    uploaded["id"].as_str().expect("an id").to_string()
}

const KEYS: u32 = 10_000;

#[test]
fn kill_9_after_save_brings_back_every_key_with_its_real_ttl() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = start(dir.path(), &[]);
    let mut con = redis(&node);
    let mut pipe = redis::pipe();
    for i in 0..KEYS {
        let key = format!("key:{i}");
        if i % 2 == 0 {
            pipe.cmd("SET").arg(&key).arg(value_of(i)).ignore();
        } else {
            let ttl_secs = 60 + (i as u64 * 7919) % 541; // 60 to 600 s
            pipe.cmd("SET")
                .arg(&key)
                .arg(value_of(i))
                .arg("EX")
                .arg(ttl_secs)
                .ignore();
        }
    }
    for i in 0..20 {
        pipe.cmd("SET")
            .arg(format!("short:{i}"))
            .arg("x")
            .arg("PX")
            .arg(1000)
            .ignore();
    }
    pipe.query::<()>(&mut con).unwrap();

    let read_started = Instant::now();
    let mut ttl_pipe = redis::pipe();
    for i in (1..KEYS).step_by(2) {
        ttl_pipe.cmd("PTTL").arg(format!("key:{i}"));
    }
    let before: Vec<i64> = ttl_pipe.query(&mut con).unwrap();
    let read_done = Instant::now();
    let saved: String = redis::cmd("SAVE").query(&mut con).unwrap();
    assert_eq!(saved, "OK");
    let lastsave: i64 = redis::cmd("LASTSAVE").query(&mut con).unwrap();
    assert!(lastsave > 1_700_000_000, "{lastsave}");

    node.child.kill().unwrap(); // SIGKILL: no shutdown snapshot
    node.child.wait().unwrap();
    std::thread::sleep(Duration::from_millis(1200)); // the 1 s keys expire while the node is down

    let node = start(dir.path(), &[]);
    let mut con = redis(&node);
    let after_started = Instant::now();
    let after: Vec<i64> = ttl_pipe.query(&mut con).unwrap();
    let after_done = Instant::now();
    let least_elapsed = (after_started - read_done).as_millis() as i64;
    let most_elapsed = (after_done - read_started).as_millis() as i64;
    for (n, (b, a)) in before.iter().zip(&after).enumerate() {
        assert!(
            *b > 0 && *a > 0,
            "key:{} lost its TTL: before {b}, after {a}",
            2 * n + 1
        );
        assert!(
            *a <= b - least_elapsed + 50 && *a >= b - most_elapsed - 1000,
            "key:{}: {b} ms before, {a} ms after {least_elapsed}..{most_elapsed} ms",
            2 * n + 1
        );
    }

    let mut get = redis::pipe();
    for i in 0..KEYS {
        get.cmd("GET").arg(format!("key:{i}"));
    }
    let values: Vec<Option<Vec<u8>>> = get.query(&mut con).unwrap();
    for (i, v) in values.iter().enumerate() {
        assert_eq!(v.as_deref(), Some(&value_of(i as u32)[..]), "key:{i}");
    }
    let mut persistent = redis::pipe();
    for i in (0..KEYS).step_by(2) {
        persistent.cmd("TTL").arg(format!("key:{i}"));
    }
    let ttls: Vec<i64> = persistent.query(&mut con).unwrap();
    assert!(
        ttls.iter().all(|&t| t == -1),
        "keys without a TTL stay without one"
    );
    let short: i64 = redis::cmd("EXISTS")
        .arg((0..20).map(|i| format!("short:{i}")).collect::<Vec<_>>())
        .query(&mut con)
        .unwrap();
    assert_eq!(
        short, 0,
        "keys that expired while the node was down are not restored"
    );
    let size: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(size, KEYS as i64);
}

#[test]
fn sigterm_without_save_keeps_keys_namespaces_plugins_and_rules() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = start(dir.path(), &[]);
    // A namespace, a plugin attached to it, an alert rule: all through the admin API.
    let (status, ns) = http(
        reqwest::Method::POST,
        &format!("{}/v1/namespaces", node.http),
        Some(
            json!({"name": "sessions", "config": {"capacity_bytes": 8 << 20, "default_ttl_secs": 3600}}),
        ),
    );
    assert_eq!(status, 201, "{ns}");
    let id = upload_plugin(&node, wasm::LRU, "lru");
    let (status, body) = http(
        reqwest::Method::PUT,
        &format!("{}/v1/namespaces/sessions", node.http),
        Some(
            json!({"capacity_bytes": 8 << 20, "default_ttl_secs": 3600, "eviction": format!("plugin:{id}")}),
        ),
    );
    assert_eq!(status, 200, "{body}");
    let (status, body) = http(
        reqwest::Method::POST,
        &format!("{}/v1/alerts/rules", node.http),
        Some(json!({"name": "cold-sessions", "namespace": "sessions",
                    "condition": {"kind": "hit_ratio_below", "threshold": 0.5, "min_reads": 10}})),
    );
    assert!(status == 200 || status == 201, "{status} {body}");

    let mut con = redis(&node);
    let mut pipe = redis::pipe();
    for i in 0..1000u32 {
        pipe.cmd("SET")
            .arg(format!("d{i}"))
            .arg(value_of(i))
            .ignore();
    }
    pipe.cmd("SELECT").arg("sessions").ignore();
    for i in 0..1000u32 {
        pipe.cmd("SET")
            .arg(format!("s{i}"))
            .arg(value_of(i + 1))
            .ignore();
    }
    pipe.query::<()>(&mut con).unwrap();
    drop(con);
    sigterm_and_wait(&mut node);

    let node = start(dir.path(), &[]);
    let (_, info) = http(
        reqwest::Method::GET,
        &format!("{}/v1/namespaces/sessions", node.http),
        None,
    );
    assert_eq!(info["config"]["eviction"], format!("plugin:{id}"), "{info}");
    assert_eq!(info["config"]["default_ttl_secs"], 3600, "{info}");
    assert_eq!(
        info["policy"],
        format!("plugin:{id}"),
        "the plugin serves again: {info}"
    );
    assert_eq!(info["stats"]["keys"], 1000, "{info}");
    let (_, plugins) = http(
        reqwest::Method::GET,
        &format!("{}/v1/plugins", node.http),
        None,
    );
    assert_eq!(plugins["plugins"][0]["id"], id.as_str(), "{plugins}");
    assert_eq!(plugins["plugins"][0]["name"], "lru", "{plugins}");
    let (_, rules) = http(
        reqwest::Method::GET,
        &format!("{}/v1/alerts/rules", node.http),
        None,
    );
    assert_eq!(rules["rules"][0]["name"], "cold-sessions", "{rules}");

    let mut con = redis(&node);
    let mut get = redis::pipe();
    for i in 0..1000u32 {
        get.cmd("GET").arg(format!("d{i}"));
    }
    get.cmd("SELECT").arg("sessions").ignore();
    for i in 0..1000u32 {
        get.cmd("GET").arg(format!("s{i}"));
    }
    let values: Vec<Option<Vec<u8>>> = get.query(&mut con).unwrap();
    for i in 0..1000usize {
        assert_eq!(values[i].as_deref(), Some(&value_of(i as u32)[..]), "d{i}");
        assert_eq!(
            values[1000 + i].as_deref(),
            Some(&value_of(i as u32 + 1)[..]),
            "s{i}"
        );
    }
    let ttl: i64 = redis::cmd("TTL").arg("s1").query(&mut con).unwrap();
    assert!(
        ttl > 3500 && ttl <= 3600,
        "the namespace default TTL came back with the key: {ttl}"
    );
}

#[test]
fn a_corrupt_snapshot_stops_startup_naming_the_file_unless_told_to_discard_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = start(dir.path(), &[]);
    let mut con = redis(&node);
    for i in 0..100 {
        let _: () = redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg("v")
            .query(&mut con)
            .unwrap();
    }
    drop(con);
    sigterm_and_wait(&mut node);
    let snapshot = dir.path().join("data.lsnap");
    let mut bytes = std::fs::read(&snapshot).expect("the shutdown wrote a snapshot");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(&snapshot, &bytes).unwrap();

    let mut refused = command(dir.path(), &[]).spawn().unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(s) = refused.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "a corrupt snapshot was accepted"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = refused.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!status.success());
    assert!(
        stderr.contains("data.lsnap")
            && stderr.contains("corrupt")
            && stderr.contains("--discard-bad-data"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(&snapshot).unwrap(),
        bytes,
        "a refused file is left as it was"
    );

    let node = start(dir.path(), &["--discard-bad-data"]);
    let mut con = redis(&node);
    let size: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(size, 0, "started empty");
    let aside: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("data.lsnap.bad-"))
        .collect();
    assert_eq!(aside.len(), 1, "the bad file is kept aside, not deleted");
    assert_eq!(std::fs::read(dir.path().join(&aside[0])).unwrap(), bytes);
}

#[test]
fn a_corrupt_plugin_module_refuses_the_catalog_and_discarding_keeps_both_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = start(dir.path(), &[]);
    let id = upload_plugin(&node, wasm::SIEVE, "sieve");
    sigterm_and_wait(&mut node);
    let module = dir.path().join("plugins").join(format!("{id}.wasm"));
    let mut bytes = std::fs::read(&module).expect("the module was saved");
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&module, &bytes).unwrap();

    let out = command(dir.path(), &[]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("{id}.wasm")) && stderr.contains("SHA-256"),
        "{stderr}"
    );

    let node = start(dir.path(), &["--discard-bad-data"]);
    let (_, plugins) = http(
        reqwest::Method::GET,
        &format!("{}/v1/plugins", node.http),
        None,
    );
    assert_eq!(plugins["plugins"], json!([]), "started without the catalog");
    let names = |sub: &str| -> Vec<String> {
        std::fs::read_dir(dir.path().join(sub))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    };
    assert!(
        names(".")
            .iter()
            .any(|n| n.starts_with("catalog.json.bad-")),
        "the discarded catalog is kept: {:?}",
        names(".")
    );
    assert!(
        names("plugins")
            .iter()
            .any(|n| n.starts_with(&format!("{id}.wasm.bad-"))),
        "the bad module is kept: {:?}",
        names("plugins")
    );
}

#[test]
fn a_second_node_on_the_same_data_directory_refuses_to_start_and_a_crash_leaves_no_stale_lock() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = start(dir.path(), &[]);
    let mut con = redis(&first);
    let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut con).unwrap();

    let mut second = command(dir.path(), &[]).spawn().unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(s) = second.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "a second node started on a data directory in use"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = second.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!status.success());
    let holder = format!(
        "in use by another larder process (pid {})",
        first.child.id()
    );
    assert!(stderr.contains(&holder), "{stderr}");
    // The first node is unaffected.
    let v: String = redis::cmd("GET").arg("k").query(&mut con).unwrap();
    assert_eq!(v, "v");
    drop(con);

    // SIGKILL: the kernel drops the lock with the process, so a restart is not refused.
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    let restarted = start(dir.path(), &[]);
    let mut con = redis(&restarted);
    let pong: String = redis::cmd("PING").query(&mut con).unwrap();
    assert_eq!(pong, "PONG");
}

#[test]
fn an_admin_change_the_catalog_cannot_record_answers_503_not_durable_and_stays_live() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = start(dir.path(), &[]);
    // The catalog writer's temporary file cannot be created where a directory stands (this
    // holds even for root, unlike permissions).
    let blocker = dir
        .path()
        .join(format!("catalog.json.tmp-{}", node.child.id()));
    std::fs::create_dir(&blocker).unwrap();
    let create = |name: &str| {
        http(
            reqwest::Method::POST,
            &format!("{}/v1/namespaces", node.http),
            Some(serde_json::json!({"name": name, "config": {"capacity_bytes": 8 << 20}})),
        )
    };
    let (status, body) = create("unsaved");
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "not_durable", "{body}");
    let (status, _) = http(
        reqwest::Method::GET,
        &format!("{}/v1/namespaces/unsaved", node.http),
        None,
    );
    assert_eq!(status, 200, "the change is live");

    // Once the disk takes writes again, the next change saves the whole catalog.
    std::fs::remove_dir(&blocker).unwrap();
    let (status, body) = create("saved");
    assert_eq!(status, 201, "{body}");
    sigterm_and_wait(&mut node);
    let node = start(dir.path(), &[]);
    for name in ["unsaved", "saved"] {
        let (status, _) = http(
            reqwest::Method::GET,
            &format!("{}/v1/namespaces/{name}", node.http),
            None,
        );
        assert_eq!(status, 200, "{name} came back");
    }
}

//! Per-namespace compression through the real binary: clients (RESP and REST) get back exactly
//! what they stored, APPEND/GETRANGE/STRLEN/INCR see plain values, incompressible and small
//! values are stored raw, capacity is charged by stored bytes (the metrics say so), and
//! compressed values survive a snapshot restore and a log replay.

mod node_support;

use node_support::{Node, http, redis, start};
use redis::Commands;
use serde_json::json;

fn json_value(i: u32, len: usize) -> Vec<u8> {
    let mut out = String::from("[");
    let mut n = 0;
    while out.len() < len {
        out.push_str(&format!(
            r#"{{"id":{i},"n":{n},"user":"user-{}","tags":["a","b"],"active":true}},"#,
            (i + n) % 50
        ));
        n += 1;
    }
    out.pop();
    out.push(']');
    out.into_bytes()
}

fn random_bytes(i: u32, len: usize) -> Vec<u8> {
    let mut x = u64::from(i).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// One metric's value for `namespace` from `/metrics`.
fn metric(node: &Node, name: &str, namespace: &str) -> f64 {
    let (status, body) = http(
        reqwest::Method::GET,
        &format!("{}/metrics", node.http),
        None,
    );
    assert_eq!(status, 200);
    let text = body.as_str().unwrap().to_string();
    let prefix = format!("{name}{{namespace=\"{namespace}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {prefix} in /metrics"))
        .parse()
        .unwrap()
}

#[test]
fn compressed_namespaces_return_exactly_what_was_stored_and_charge_stored_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = start(
        dir.path(),
        &["--appendonly", "true", "--appendfsync", "always"],
    );
    let (status, body) = http(
        reqwest::Method::POST,
        &format!("{}/v1/namespaces", node.http),
        Some(json!({"name": "docs", "config": {
            "capacity_bytes": 64 << 20,
            "compression": {"codec": "zstd", "level": 3, "min_bytes": 128, "min_savings": 0.1}
        }})),
    );
    assert_eq!(status, 201, "{body}");
    let (status, body) = http(
        reqwest::Method::POST,
        &format!("{}/v1/namespaces", node.http),
        Some(json!({"name": "bad", "config": {"compression": {"level": 40}}})),
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("compression.level"), "{body}");

    let mut con = redis(&node);
    let _: () = redis::cmd("SELECT").arg("docs").query(&mut con).unwrap();
    for i in 0..200u32 {
        let _: () = con
            .set(
                format!("json{i}"),
                json_value(i, 1024 + (i as usize % 3) * 1024),
            )
            .unwrap();
        let _: () = con.set(format!("rand{i}"), random_bytes(i, 1024)).unwrap();
        let _: () = con.set(format!("small{i}"), format!("v{i}")).unwrap();
    }
    // Everything reads back exactly, whatever was done with it.
    for i in 0..200u32 {
        let got: Vec<u8> = con.get(format!("json{i}")).unwrap();
        assert_eq!(got, json_value(i, 1024 + (i as usize % 3) * 1024));
        let got: Vec<u8> = con.get(format!("rand{i}")).unwrap();
        assert_eq!(got, random_bytes(i, 1024));
    }
    let expected = json_value(7, 2048);
    let len: usize = redis::cmd("STRLEN").arg("json7").query(&mut con).unwrap();
    assert_eq!(len, expected.len());
    let part: Vec<u8> = redis::cmd("GETRANGE")
        .arg("json7")
        .arg(10)
        .arg(40)
        .query(&mut con)
        .unwrap();
    assert_eq!(part, expected[10..=40]);
    let _: usize = redis::cmd("APPEND")
        .arg("json7")
        .arg("+tail")
        .query(&mut con)
        .unwrap();
    let got: Vec<u8> = con.get("json7").unwrap();
    assert_eq!(got, [&expected[..], b"+tail"].concat());
    let _: () = con.set("count", "0".repeat(200) + "41").unwrap();
    let n: i64 = con.incr("count", 1).unwrap();
    assert_eq!(n, 42, "INCR reads the plain value of a compressed number");
    let (status, body) = http(
        reqwest::Method::GET,
        &format!("{}/v1/namespaces/docs/keys/json8", node.http),
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(
        body,
        serde_json::from_slice::<serde_json::Value>(&json_value(8, 3072)).unwrap()
    );

    // Stored bytes are what is charged; random data and small values stayed raw.
    let logical = metric(&node, "larder_value_bytes_logical", "docs");
    let stored = metric(&node, "larder_value_bytes_stored", "docs");
    assert!(
        stored < logical * 0.7,
        "stored {stored} of logical {logical}"
    );
    assert!(metric(&node, "larder_compression_skipped_no_savings_total", "docs") >= 200.0);
    assert!(metric(&node, "larder_compression_skipped_small_total", "docs") >= 200.0);
    assert!(metric(&node, "larder_compressed_writes_total", "docs") >= 200.0);
    let charged = metric(&node, "larder_bytes", "docs");
    assert!(
        charged < logical,
        "charged {charged} for {logical} logical value bytes"
    );

    // Half from the snapshot, half from the log: both bring compressed values back.
    let _: () = redis::cmd("SAVE").query(&mut con).unwrap();
    for i in 200..300u32 {
        let _: () = con.set(format!("json{i}"), json_value(i, 2048)).unwrap();
    }
    node.child.kill().unwrap();
    node.child.wait().unwrap();
    let node = start(dir.path(), &[]);
    let mut con = redis(&node);
    let _: () = redis::cmd("SELECT").arg("docs").query(&mut con).unwrap();
    for i in (0..300u32).step_by(7) {
        let want = if i < 200 {
            json_value(i, 1024 + (i as usize % 3) * 1024)
        } else {
            json_value(i, 2048)
        };
        if i == 7 {
            continue;
        }
        let got: Vec<u8> = con.get(format!("json{i}")).unwrap();
        assert_eq!(got, want, "json{i}");
    }
    let got: Vec<u8> = con.get("json7").unwrap();
    assert_eq!(got, [&expected[..], b"+tail"].concat());
    let stored_after = metric(&node, "larder_value_bytes_stored", "docs");
    let logical_after = metric(&node, "larder_value_bytes_logical", "docs");
    assert!(
        stored_after < logical_after * 0.7,
        "restored still compressed"
    );
}

/// A session-like JSON object of about 300 bytes: shared structure, particular values.
fn session_json(i: u32) -> Vec<u8> {
    format!(
        r#"{{"session_id":"s-{i:08}","user":{{"id":{},"name":"user{}","locale":"en-GB","roles":["reader","commenter"]}},"cart":{{"items":{},"currency":"EUR","total":{}.{:02}}},"last_seen":"2026-11-{:02}T10:{:02}:00Z","flags":{{"beta":{},"newsletter":true}}}}"#,
        i.wrapping_mul(7919) % 100_000,
        i % 977,
        i % 9,
        i * 13 % 500,
        i % 100,
        1 + i % 28,
        i % 60,
        i.is_multiple_of(2)
    )
    .into_bytes()
}

const KEY: &str = "1:3c0dbd2f1a4e5b6978a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f607";

#[test]
fn a_trained_dictionary_shrinks_small_json_survives_a_restart_and_is_sealed_at_rest() {
    let dir = tempfile::tempdir().unwrap();
    let with_key = ["--appendonly", "true", "--encryption-key", KEY];
    let mut node = start(dir.path(), &with_key);
    let url = format!(
        "{}/v1/namespaces/sessions/compression/dictionary",
        node.http
    );
    let (status, body) = http(
        reqwest::Method::POST,
        &format!("{}/v1/namespaces", node.http),
        Some(json!({"name": "sessions", "config": {
            "capacity_bytes": 64 << 20,
            "compression": {"min_bytes": 64}
        }})),
    );
    assert_eq!(status, 201, "{body}");
    let (status, body) = http(reqwest::Method::POST, &url, None);
    assert_eq!(status, 409, "nothing to learn from yet: {body}");
    assert_eq!(body["error"]["code"], "too_few_values", "{body}");
    let (status, body) = http(reqwest::Method::POST, &format!("{url}?max_bytes=7"), None);
    assert_eq!(status, 400, "{body}");

    let mut con = redis(&node);
    let _: () = redis::cmd("SELECT")
        .arg("sessions")
        .query(&mut con)
        .unwrap();
    for i in 0..2000u32 {
        let _: () = con.set(format!("before{i}"), session_json(i)).unwrap();
    }
    let stored_without = metric(&node, "larder_value_bytes_stored", "sessions");
    let (status, body) = http(reqwest::Method::POST, &url, None);
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["samples"], 2000, "{body}");
    let id = body["dictionary"]["id"].as_u64().unwrap();
    for i in 2000..4000u32 {
        let _: () = con.set(format!("after{i}"), session_json(i)).unwrap();
    }
    let stored_with = metric(&node, "larder_value_bytes_stored", "sessions") - stored_without;
    assert!(
        stored_with * 2.0 < stored_without,
        "2000 values: {stored_with} B stored with the dictionary, {stored_without} B without"
    );
    let (status, body) = http(reqwest::Method::GET, &url, None);
    assert_eq!(status, 200);
    assert_eq!(body["current"], id, "{body}");

    // SAVE for half, the log for the rest; kill -9.
    let _: () = redis::cmd("SAVE").query(&mut con).unwrap();
    for i in 4000..4500u32 {
        let _: () = con.set(format!("after{i}"), session_json(i)).unwrap();
    }
    std::thread::sleep(std::time::Duration::from_millis(1500));
    node.child.kill().unwrap();
    node.child.wait().unwrap();

    // The dictionary is on disk, sealed: no field name of the JSON appears in any file.
    let mut files = 0;
    for entry in walk(dir.path()) {
        let bytes = std::fs::read(&entry).unwrap();
        files += 1;
        assert!(
            !bytes.windows(10).any(|w| w == b"session_id"),
            "{} holds plaintext",
            entry.display()
        );
    }
    assert!(files >= 4, "catalog, snapshot, log and dictionary");
    assert!(
        dir.path().join("dictionaries").read_dir().unwrap().count() == 1,
        "one dictionary file"
    );

    let node = start(dir.path(), &with_key);
    let url = format!(
        "{}/v1/namespaces/sessions/compression/dictionary",
        node.http
    );
    let mut con = redis(&node);
    let _: () = redis::cmd("SELECT")
        .arg("sessions")
        .query(&mut con)
        .unwrap();
    for i in 0..4500u32 {
        let key = if i < 2000 {
            format!("before{i}")
        } else {
            format!("after{i}")
        };
        let got: Vec<u8> = con.get(&key).unwrap();
        assert_eq!(got, session_json(i), "{key}");
    }
    let (_, body) = http(reqwest::Method::GET, &url, None);
    assert_eq!(
        body["current"], id,
        "still current after the restart: {body}"
    );
    // New writes after the restart still use it.
    let before = metric(&node, "larder_value_bytes_stored", "sessions");
    let _: () = con.set("later", session_json(99_999)).unwrap();
    let grew = metric(&node, "larder_value_bytes_stored", "sessions") - before;
    let per_value_without = stored_without / 2000.0;
    assert!(
        grew * 2.0 < per_value_without,
        "{grew} B stored, {per_value_without} B a value without a dictionary"
    );

    // DELETE stops it for new writes; what it compressed still reads back.
    let (status, _) = http(reqwest::Method::DELETE, &url, None);
    assert_eq!(status, 204);
    let (_, body) = http(reqwest::Method::GET, &url, None);
    assert!(body["current"].is_null(), "{body}");
    assert_eq!(
        body["dictionaries"][0]["id"], id,
        "kept while values name it"
    );
    let got: Vec<u8> = con.get("after3000").unwrap();
    assert_eq!(got, session_json(3000));
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

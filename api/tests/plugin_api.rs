//! The plugin admin API and CLI against a real server: upload (and refusals), list and describe,
//! attach through a namespace config, and hot swaps while real Redis clients keep writing and
//! reading — with zero failed requests.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use larder::config::Config;
use larder::server::{self, RunningServer};
use larder_plugin_wasm as wasm;
use redis::AsyncCommands;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

struct Node {
    server: RunningServer,
    http: Client,
    base: String,
}

impl Node {
    async fn start() -> Self {
        let config = Config {
            resp_addr: "127.0.0.1:0".parse().unwrap(),
            http_addr: "127.0.0.1:0".parse().unwrap(),
            ..Default::default()
        };
        let server = server::start(&config).await.expect("server starts");
        let base = format!("http://{}", server.http_addr);
        Self {
            server,
            http: Client::new(),
            base,
        }
    }

    async fn upload(&self, bytes: &'static [u8], name: &str) -> (StatusCode, Value) {
        let r = self
            .http
            .post(format!("{}/v1/plugins", self.base))
            .query(&[("name", name), ("description", "test upload")])
            .body(bytes)
            .send()
            .await
            .unwrap();
        (r.status(), r.json().await.unwrap())
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        (r.status(), r.json().await.unwrap())
    }

    async fn put_config(&self, ns: &str, config: &Value) -> (StatusCode, Value) {
        let r = self
            .http
            .put(format!("{}/v1/namespaces/{ns}", self.base))
            .json(config)
            .send()
            .await
            .unwrap();
        (r.status(), r.json().await.unwrap())
    }

    async fn redis(&self) -> redis::aio::MultiplexedConnection {
        let client = redis::Client::open(format!("redis://{}/", self.server.resp_addr)).unwrap();
        client.get_multiplexed_async_connection().await.unwrap()
    }
}

#[tokio::test]
async fn upload_list_describe_and_refusals() {
    let node = Node::start().await;
    let (status, body) = node.upload(wasm::S3FIFO, "s3fifo").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 64);
    assert_eq!(body["hooks"], json!(["eviction"]));
    assert_eq!(body["reference"], json!(format!("plugin:{id}")));
    assert_eq!(body["name"], "s3fifo");

    let (status, again) = node.upload(wasm::S3FIFO, "other").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (again["id"].as_str(), again["created"].as_bool()),
        (Some(id.as_str()), Some(false))
    );

    let (status, err) = node.upload(b"not wasm at all", "x").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["error"]["code"], "invalid_module");
    let (status, err) = node.upload(wasm::WASI_IMPORT, "wasi").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["error"]["code"], "unknown_import");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("wasi_snapshot_preview1::fd_write")
    );

    // Attach through the namespace config; the plugin says where it is used.
    let (status, ns) = node
        .put_config(
            "sessions",
            &json!({ "eviction": format!("plugin:{}", &id[..12]), "capacity_bytes": 1 << 20, "max_item_size": 1024 }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{ns}");
    assert_eq!(ns["policy"], json!(format!("plugin:{id}")));
    let (status, detail) = node.get(&format!("/v1/plugins/{}", &id[..10])).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        detail["used_by"],
        json!([{ "namespace": "sessions", "hook": "eviction" }])
    );
    assert!(detail["metrics"]["eviction"]["calls"].is_u64());
    let (_, list) = node.get("/v1/plugins").await;
    assert_eq!(list["plugins"].as_array().unwrap().len(), 1);

    let (status, err) = node.get("/v1/plugins/0123456789abcdef").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(err["error"]["code"], "plugin_not_found");
    let (status, err) = node
        .put_config("bad", &json!({ "eviction": "plugin:0123456789abcdef" }))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["error"]["code"], "invalid_config");

    // Plugin metrics are on /metrics.
    let text = node
        .http
        .get(format!("{}/metrics", node.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("larder_plugin_calls_total"), "{text}");
}

#[tokio::test]
async fn hot_swaps_under_redis_load_fail_no_request() {
    let node = Node::start().await;
    let mut versions = Vec::new();
    for (bytes, name) in [
        (wasm::LRU, "lru"),
        (wasm::S3FIFO, "s3fifo"),
        (wasm::SIEVE, "sieve"),
        (wasm::WTINYLFU, "wtinylfu"),
    ] {
        let (status, body) = node.upload(bytes, name).await;
        assert_eq!(status, StatusCode::CREATED);
        versions.push(format!("plugin:{}", body["id"].as_str().unwrap()));
    }
    versions.push("s3fifo".into());
    let base = json!({ "capacity_bytes": 256 * 1024, "max_item_size": 1024 });
    let (status, _) = node.put_config("default", &base).await;
    assert_eq!(status, StatusCode::OK);

    let stop = Arc::new(AtomicBool::new(false));
    let ops = Arc::new(AtomicU64::new(0));
    let mut clients = Vec::new();
    for c in 0..4u64 {
        let mut con = node.redis().await;
        let (stop, ops) = (Arc::clone(&stop), Arc::clone(&ops));
        clients.push(tokio::spawn(async move {
            let mut i = c;
            while !stop.load(Ordering::Relaxed) {
                let key = format!("k{}", i % 4000);
                let value = vec![b'v'; 150];
                let () = con.set(&key, &value).await.expect("SET never fails");
                let got: Option<Vec<u8>> = con.get(&key).await.expect("GET never fails");
                if let Some(v) = got {
                    assert_eq!(v.len(), 150);
                }
                ops.fetch_add(2, Ordering::Relaxed);
                i = i
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407)
                    >> 1;
            }
        }));
    }
    for round in 0..15 {
        let mut config = base.clone();
        config["eviction"] = json!(versions[round % versions.len()]);
        let (status, ns) = node.put_config("default", &config).await;
        assert_eq!(status, StatusCode::OK, "{ns}");
        assert_eq!(ns["policy"], json!(versions[round % versions.len()]));
        let before = ops.load(Ordering::Relaxed);
        while ops.load(Ordering::Relaxed) < before + 1000 {
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.expect("a client saw a failed request");
    }
    let (_, list) = node.get("/v1/plugins").await;
    for p in list["plugins"].as_array().unwrap() {
        let m = &p["metrics"]["eviction"];
        assert!(m["calls"].as_u64().unwrap() > 0, "{p}");
        // Deadline misses are not asserted here: the server's default 50 ms deadline is wall
        // time, and this test runs many threads on few cores. The runtime's hot-swap test checks
        // them with a roomier deadline.
        for field in ["traps", "out_of_memory", "invalid_answers"] {
            assert_eq!(m[field], 0, "{field}: {p}");
        }
    }
    let (_, ns) = node.get("/v1/namespaces/default").await;
    assert!(ns["stats"]["evictions"].as_u64().unwrap() > 0, "{ns}");
}

#[tokio::test]
async fn cli_pushes_and_attaches_a_plugin() {
    let node = Node::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lru.wasm");
    std::fs::write(&file, wasm::LRU).unwrap();
    let server = node.base.clone();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_larder"))
            .args(["plugin", "push"])
            .arg(&file)
            .args([
                "--name", "lru", "--attach", "default", "--hook", "eviction", "--server", &server,
            ])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let id = larder_runtime::plugin::version_id(wasm::LRU);
    assert!(stdout.contains(&id), "{stdout}");
    let (_, ns) = node.get("/v1/namespaces/default").await;
    assert_eq!(ns["config"]["eviction"], json!(format!("plugin:{id}")));

    // A refused upload exits non-zero with the server's reason.
    let bad = dir.path().join("bad.wasm");
    std::fs::write(&bad, b"nope").unwrap();
    let server = node.base.clone();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_larder"))
            .args(["plugin", "push"])
            .arg(&bad)
            .args(["--server", &server])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("invalid_module"));
}

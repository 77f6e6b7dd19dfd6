//! The walk-through in `examples/plugin-from-scratch`, followed as its README says: the crate built
//! for wasm32 (by `larder-plugin-wasm`'s build script), pushed with `larder plugin push`, attached
//! with `larder plugin attach`, then real Redis traffic. The policy must be FIFO as promised: reads
//! change nothing, so the survivors are exactly the newest writes.

use std::process::Command;

use larder::config::Config;
use larder::server;
use larder_plugin_wasm as wasm;
use redis::AsyncCommands;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

/// Run the `larder` binary's CLI against `server`; its stdout, or a panic with its stderr.
async fn cli(server: &str, args: &[&str]) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_larder"));
    command.args(args).arg("--server").arg(server);
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("join")
        .expect("run larder");
    assert!(
        output.status.success(),
        "larder {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8")
}

async fn get_json(http: &Client, url: &str) -> Value {
    http.get(url).send().await.unwrap().json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_walk_through_plugin_is_fifo_in_a_running_namespace() {
    let config = Config {
        resp_addr: "127.0.0.1:0".parse().unwrap(),
        http_addr: "127.0.0.1:0".parse().unwrap(),
        ..Default::default()
    };
    let node = server::start(&config).await.expect("server starts");
    let base = format!("http://{}", node.http_addr);
    let http = Client::new();

    // One shard, so eviction order is the whole namespace's order.
    let created = http
        .post(format!("{base}/v1/namespaces"))
        .json(&json!({"name": "walk", "config": {"capacity_bytes": 64 * 1024, "shards": 1}}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);

    // Step 5 and 6 of the README, with the CLI.
    let dir = tempfile::tempdir().unwrap();
    let module = dir.path().join("fifo_plugin.wasm");
    std::fs::write(&module, wasm::FIFO_FROM_SCRATCH).unwrap();
    let pushed = cli(
        &base,
        &["plugin", "push", module.to_str().unwrap(), "--name", "fifo"],
    )
    .await;
    assert!(pushed.contains("uploaded"), "{pushed}");
    assert!(pushed.contains("eviction"), "{pushed}");
    let id = pushed.split_whitespace().next().unwrap().to_string();
    assert_eq!(id.len(), 64, "{pushed}");
    cli(
        &base,
        &[
            "plugin",
            "attach",
            &id[..8],
            "--namespace",
            "walk",
            "--hook",
            "eviction",
        ],
    )
    .await;
    let info: Value = get_json(&http, &format!("{base}/v1/namespaces/walk")).await;
    assert_eq!(info["policy"], format!("plugin:{id}"), "{info}");

    // Write three times what fits, reading the first key after every write: an LRU would keep it,
    // FIFO must not.
    let client = redis::Client::open(format!("redis://{}/", node.resp_addr)).unwrap();
    let mut redis = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("SELECT")
        .arg("walk")
        .query_async::<()>(&mut redis)
        .await
        .unwrap();
    let value = vec![b'v'; 200];
    let writes = 3 * 64 * 1024 / (200 + 56);
    for i in 0..writes {
        let _: () = redis.set(format!("k{i:05}"), &value).await.unwrap();
        let _: Option<Vec<u8>> = redis.get("k00000").await.unwrap();
    }
    let mut present = Vec::new();
    for i in 0..writes {
        let v: Option<Vec<u8>> = redis.get(format!("k{i:05}")).await.unwrap();
        present.push(v.is_some());
    }
    let first_kept = present.iter().position(|&p| p).expect("something is kept");
    assert!(first_kept > 0, "the often-read first key was evicted first");
    assert!(
        present[first_kept..].iter().all(|&p| p),
        "survivors are exactly the newest writes: {present:?}"
    );
    let stats = &info["stats"];
    assert!(stats.is_object(), "{info}");
    let after: Value = get_json(&http, &format!("{base}/v1/plugins/{id}")).await;
    let eviction = &after["metrics"]["eviction"];
    assert!(eviction["calls"].as_u64().unwrap() > 0, "{after}");
    assert_eq!(eviction["invalid_answers"], 0, "{after}");
    assert_eq!(eviction["traps"], 0, "{after}");
}

//! The REST API end to end: a real server from `server::start` on 127.0.0.1:0, driven by reqwest.
//!
//! Each test starts its own node, so tests never see each other's keys or counters.

use std::time::Duration;

use larder::config::Config;
use larder::server::{self, RunningServer};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

struct Node {
    server: RunningServer,
    http: Client,
    base: String,
}

impl Node {
    async fn start() -> Self {
        Self::start_with(Config::default()).await
    }

    async fn start_with(mut config: Config) -> Self {
        config.resp_addr = "127.0.0.1:0".parse().unwrap();
        config.http_addr = "127.0.0.1:0".parse().unwrap();
        let server = server::start(&config).await.expect("server starts");
        let base = format!("http://{}", server.http_addr);
        Self {
            server,
            http: Client::new(),
            base,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.unwrap()
    }

    async fn put(&self, path: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
        self.http
            .put(self.url(path))
            .body(body)
            .send()
            .await
            .unwrap()
    }

    async fn post(&self, path: &str) -> reqwest::Response {
        self.http.post(self.url(path)).send().await.unwrap()
    }

    async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    async fn delete(&self, path: &str) -> reqwest::Response {
        self.http.delete(self.url(path)).send().await.unwrap()
    }

    async fn stats(&self, ns: &str) -> Value {
        let response = self.get(&format!("/v1/namespaces/{ns}")).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json::<Value>().await.unwrap()["stats"].clone()
    }
}

/// Assert a JSON error with the given status and code; returns the message.
async fn expect_error(response: reqwest::Response, status: StatusCode, code: &str) -> String {
    let url: String = response.url().as_str().chars().take(120).collect();
    assert_eq!(response.status(), status, "for {url}");
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], code, "{body}");
    let message = body["error"]["message"].as_str().unwrap().to_string();
    assert!(!message.is_empty());
    message
}

/// Send raw bytes on a fresh connection and return the response's status line.
async fn raw_request(addr: std::net::SocketAddr, request: &str) -> String {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).await.unwrap();
    line
}

#[tokio::test]
async fn put_get_delete_round_trip_with_binary_keys_and_values() {
    let node = Node::start().await;
    let value: Vec<u8> = (0..=255u8).collect();
    // %FF%00 is a non-UTF-8 key; %2F puts a slash inside the key.
    for key in ["plain", "with%2Fslash", "%FF%00bin", "sp%20ace"] {
        let path = format!("/v1/namespaces/default/keys/{key}");
        assert_eq!(
            node.put(&path, value.clone()).await.status(),
            StatusCode::NO_CONTENT
        );
        let response = node.get(&path).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()["content-type"],
            "application/octet-stream"
        );
        assert!(
            response.headers().get("x-larder-ttl-ms").is_none(),
            "no TTL was set"
        );
        assert_eq!(response.bytes().await.unwrap().as_ref(), value.as_slice());
    }
    // The decoded key bytes are what the store holds.
    let store = node.server.state.namespaces.get("default").unwrap();
    assert!(store.store().exists(b"with/slash"));
    assert!(store.store().exists(&[0xff, 0x00, b'b', b'i', b'n']));

    let path = "/v1/namespaces/default/keys/plain";
    assert_eq!(node.delete(path).await.status(), StatusCode::NO_CONTENT);
    expect_error(node.get(path).await, StatusCode::NOT_FOUND, "key_not_found").await;
    expect_error(
        node.delete(path).await,
        StatusCode::NOT_FOUND,
        "key_not_found",
    )
    .await;
    // HEAD answers like GET, without a body.
    let head = node
        .http
        .head(node.url("/v1/namespaces/default/keys/sp%20ace"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::OK);
}

#[tokio::test]
async fn ttl_query_header_expire_persist_and_touch() {
    let node = Node::start().await;
    let path = "/v1/namespaces/default/keys/session";
    assert_eq!(
        node.put(&format!("{path}?ttl=60"), "v").await.status(),
        StatusCode::NO_CONTENT
    );
    let response = node.get(path).await;
    let ttl: u64 = response.headers()["x-larder-ttl-ms"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(ttl > 0 && ttl <= 60_000, "{ttl}");

    assert_eq!(
        node.post(&format!("{path}/persist")).await.status(),
        StatusCode::NO_CONTENT
    );
    assert!(
        node.get(path)
            .await
            .headers()
            .get("x-larder-ttl-ms")
            .is_none()
    );

    assert_eq!(
        node.post(&format!("{path}/expire?ttl=5")).await.status(),
        StatusCode::NO_CONTENT
    );
    let ttl: u64 = node.get(path).await.headers()["x-larder-ttl-ms"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(ttl <= 5_000, "{ttl}");

    assert_eq!(
        node.post(&format!("{path}/touch?ttl=300")).await.status(),
        StatusCode::NO_CONTENT
    );
    let ttl: u64 = node.get(path).await.headers()["x-larder-ttl-ms"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        ttl > 5_000 && ttl <= 300_000,
        "touch restarted the TTL: {ttl}"
    );

    for verb in ["expire?ttl=5", "persist", "touch", "evict"] {
        let missing = format!("/v1/namespaces/default/keys/nope/{verb}");
        expect_error(
            node.post(&missing).await,
            StatusCode::NOT_FOUND,
            "key_not_found",
        )
        .await;
    }
}

#[tokio::test]
async fn expired_keys_are_not_returned_and_are_reclaimed_in_the_background() {
    let node = Node::start().await;
    assert_eq!(
        node.put("/v1/namespaces/default/keys/short?ttl_ms=30", "x")
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    // Nobody reads the key: only the active-expiry task can remove it. Bounded wait.
    let mut stats = node.stats("default").await;
    for _ in 0..200 {
        if stats["expirations"] == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
        stats = node.stats("default").await;
    }
    assert_eq!(stats["expirations"], 1, "{stats}");
    assert_eq!(stats["keys"], 0, "{stats}");
    expect_error(
        node.get("/v1/namespaces/default/keys/short").await,
        StatusCode::NOT_FOUND,
        "key_not_found",
    )
    .await;
}

#[tokio::test]
async fn conditional_puts_and_counters() {
    let node = Node::start().await;
    let path = "/v1/namespaces/default/keys/k";
    expect_error(
        node.put(&format!("{path}?xx=true"), "a").await,
        StatusCode::PRECONDITION_FAILED,
        "condition_not_met",
    )
    .await;
    assert_eq!(
        node.put(&format!("{path}?nx=true"), "a").await.status(),
        StatusCode::NO_CONTENT
    );
    expect_error(
        node.put(&format!("{path}?nx=true"), "b").await,
        StatusCode::PRECONDITION_FAILED,
        "condition_not_met",
    )
    .await;
    assert_eq!(
        node.put(&format!("{path}?xx=true"), "c").await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(node.get(path).await.text().await.unwrap(), "c");
    expect_error(
        node.put(&format!("{path}?nx=true&xx=true"), "d").await,
        StatusCode::BAD_REQUEST,
        "bad_query",
    )
    .await;

    let counter = "/v1/namespaces/default/keys/hits";
    let v: Value = node
        .post(&format!("{counter}/incr"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v, json!({"value": 1}));
    let v: Value = node
        .post(&format!("{counter}/incr?by=10"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v, json!({"value": 11}));
    let v: Value = node
        .post(&format!("{counter}/incr?by=-20"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v, json!({"value": -9}));
    assert_eq!(node.get(counter).await.text().await.unwrap(), "-9");
    expect_error(
        node.post(&format!("{path}/incr")).await,
        StatusCode::CONFLICT,
        "not_an_integer",
    )
    .await;
    expect_error(
        node.post(&format!("{counter}/incr?by=x")).await,
        StatusCode::BAD_REQUEST,
        "bad_query",
    )
    .await;

    assert_eq!(
        node.post(&format!("{path}/evict")).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(node.stats("default").await["evictions"], 1);
}

#[tokio::test]
async fn bad_input_gets_json_errors_with_stable_codes() {
    let node = Node::start().await;
    let ns_config =
        json!({"name": "small", "config": {"max_item_size": 1024, "capacity_bytes": 1048576}});
    assert_eq!(
        node.post_json("/v1/namespaces", &ns_config).await.status(),
        StatusCode::CREATED
    );

    // Unknown namespace, on every kind of route.
    let missing = "/v1/namespaces/nowhere";
    expect_error(
        node.get(&format!("{missing}/keys/a")).await,
        StatusCode::NOT_FOUND,
        "namespace_not_found",
    )
    .await;
    expect_error(
        node.put(&format!("{missing}/keys/a"), "v").await,
        StatusCode::NOT_FOUND,
        "namespace_not_found",
    )
    .await;
    expect_error(
        node.get(missing).await,
        StatusCode::NOT_FOUND,
        "namespace_not_found",
    )
    .await;
    expect_error(
        node.post_json(&format!("{missing}/batch/get"), &json!({"keys": ["a"]}))
            .await,
        StatusCode::NOT_FOUND,
        "namespace_not_found",
    )
    .await;

    // Value over the namespace's max item size.
    let message = expect_error(
        node.put("/v1/namespaces/small/keys/big", vec![0u8; 2000])
            .await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "value_too_large",
    )
    .await;
    assert!(message.contains("1024"), "{message}");

    // Bad TTLs.
    for query in [
        "ttl=0",
        "ttl=abc",
        "ttl=-1",
        "ttl_ms=0",
        "ttl=1&ttl_ms=1",
        "ttl=1&keepttl=true",
    ] {
        expect_error(
            node.put(&format!("/v1/namespaces/default/keys/t?{query}"), "v")
                .await,
            StatusCode::BAD_REQUEST,
            "invalid_ttl",
        )
        .await;
    }
    node.put("/v1/namespaces/default/keys/t", "v").await;
    expect_error(
        node.post("/v1/namespaces/default/keys/t/expire").await,
        StatusCode::BAD_REQUEST,
        "invalid_ttl",
    )
    .await;

    // A key in the path is bounded by the URI limit (64 KiB, which the HTTP stack enforces with a
    // bare 414 before any route runs); over-long keys in JSON bodies are tested with the batches.
    let status = raw_request(
        node.server.http_addr,
        &format!(
            "GET /v1/namespaces/default/keys/{} HTTP/1.1\r\nhost: x\r\n\r\n",
            "k".repeat(70_000)
        ),
    )
    .await;
    assert!(status.starts_with("HTTP/1.1 414"), "{status}");
    let key = "k".repeat(60_000);
    assert_eq!(
        node.put(&format!("/v1/namespaces/default/keys/{key}"), "v")
            .await
            .status(),
        StatusCode::NO_CONTENT
    );

    // Malformed and mistyped JSON: 400 bad_json, never axum's plain-text 415/422.
    let raw = |body: &'static str| node.http.post(node.url("/v1/namespaces")).body(body).send();
    expect_error(
        raw("{not json").await.unwrap(),
        StatusCode::BAD_REQUEST,
        "bad_json",
    )
    .await;
    expect_error(
        raw(r#"{"name": 5}"#).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "bad_json",
    )
    .await;
    let message = expect_error(
        raw(r#"{"name": "x", "config": {"colour": 1}}"#)
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "bad_json",
    )
    .await;
    assert!(message.contains("colour"), "{message}");
    expect_error(
        node.post_json("/v1/namespaces/default/batch/get", &json!({"keys": "a"}))
            .await,
        StatusCode::BAD_REQUEST,
        "bad_json",
    )
    .await;

    // Unknown query parameters are refused rather than silently ignored.
    expect_error(
        node.put("/v1/namespaces/default/keys/t?tll=5", "v").await,
        StatusCode::BAD_REQUEST,
        "bad_query",
    )
    .await;

    // Unknown routes and methods.
    expect_error(
        node.get("/v2/nothing").await,
        StatusCode::NOT_FOUND,
        "route_not_found",
    )
    .await;
    expect_error(
        node.post("/v1/namespaces/default/keys/a").await,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;

    // The node is still fine.
    assert_eq!(node.get("/healthz").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn request_bodies_are_capped() {
    let config = Config {
        max_body_bytes: 4096,
        ..Config::default()
    };
    let node = Node::start_with(config).await;
    let response = node
        .put("/v1/namespaces/default/keys/big", vec![7u8; 5000])
        .await;
    expect_error(response, StatusCode::PAYLOAD_TOO_LARGE, "body_too_large").await;
    let huge_batch = json!({"keys": vec!["k".repeat(100); 100]});
    expect_error(
        node.post_json("/v1/namespaces/default/batch/get", &huge_batch)
            .await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
    )
    .await;
    assert_eq!(
        node.put("/v1/namespaces/default/keys/small", vec![7u8; 4000])
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn batch_set_get_delete_in_utf8_and_base64() {
    let node = Node::start().await;
    let set = json!({"items": [
        {"key": "a", "value": "alpha"},
        {"key": "b", "value": "beta", "ttl": 60},
    ]});
    let response = node
        .post_json("/v1/namespaces/default/batch/set", &set)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"written": 2})
    );
    assert!(
        node.get("/v1/namespaces/default/keys/b")
            .await
            .headers()
            .contains_key("x-larder-ttl-ms")
    );

    // base64: "/w==" is the single byte 0xFF, "a2V5" is "key".
    let set = json!({"encoding": "base64", "items": [{"key": "a2V5", "value": "/w=="}]});
    assert_eq!(
        node.post_json("/v1/namespaces/default/batch/set", &set)
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        node.get("/v1/namespaces/default/keys/key")
            .await
            .bytes()
            .await
            .unwrap()
            .as_ref(),
        [0xff]
    );

    let response = node
        .post_json(
            "/v1/namespaces/default/batch/get",
            &json!({"keys": ["a", "missing", "key", "b"]}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let got: Value = response.json().await.unwrap();
    assert_eq!(
        got,
        json!({"items": [
            {"key": "a", "value": "alpha", "encoding": "utf8"},
            {"key": "missing", "value": null},
            // Not UTF-8: sent as base64, and the item says so.
            {"key": "key", "value": "/w==", "encoding": "base64"},
            {"key": "b", "value": "beta", "encoding": "utf8"},
        ]})
    );
    let got: Value = node
        .post_json(
            "/v1/namespaces/default/batch/get",
            &json!({"keys": ["YQ=="], "encoding": "base64"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        got,
        json!({"items": [{"key": "YQ==", "value": "YWxwaGE=", "encoding": "base64"}]})
    );

    // A bad item rejects the whole batch, names the item, and writes nothing.
    let bad = json!({"items": [{"key": "c", "value": "x"}, {"key": "d", "value": "x", "ttl": 0}]});
    let message = expect_error(
        node.post_json("/v1/namespaces/default/batch/set", &bad)
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_ttl",
    )
    .await;
    assert!(message.contains("items[1]"), "{message}");
    expect_error(
        node.get("/v1/namespaces/default/keys/c").await,
        StatusCode::NOT_FOUND,
        "key_not_found",
    )
    .await;
    let bad = json!({"encoding": "base64", "keys": ["!!"]});
    expect_error(
        node.post_json("/v1/namespaces/default/batch/get", &bad)
            .await,
        StatusCode::BAD_REQUEST,
        "bad_base64",
    )
    .await;
    let bad = json!({"items": [{"key": "x".repeat(70_000), "value": "x"}]});
    expect_error(
        node.post_json("/v1/namespaces/default/batch/set", &bad)
            .await,
        StatusCode::BAD_REQUEST,
        "key_too_long",
    )
    .await;

    let response = node
        .post_json(
            "/v1/namespaces/default/batch/delete",
            &json!({"keys": ["a", "b", "missing"]}),
        )
        .await;
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"deleted": 2})
    );
    expect_error(
        node.get("/v1/namespaces/default/keys/a").await,
        StatusCode::NOT_FOUND,
        "key_not_found",
    )
    .await;
}

#[tokio::test]
async fn a_small_namespace_with_only_a_capacity_just_works() {
    let node = Node::start().await;
    let response = node
        .post_json(
            "/v1/namespaces",
            &json!({"name": "small", "config": {"capacity_bytes": 1048576}}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let info: Value = response.json().await.unwrap();
    // One shard, and items up to a quarter of it less the entry overhead: both pinned and shown.
    assert_eq!(info["config"]["shards"], 1, "{info}");
    let max = info["config"]["max_item_size"]
        .as_u64()
        .unwrap_or_else(|| panic!("max_item_size is reported: {info}"));
    assert_eq!(max, 262_144 - 56, "{info}");

    // A value as large as the derived limit is stored; one byte more is refused.
    let at_limit = vec![7u8; max as usize - "big".len()];
    assert_eq!(
        node.put("/v1/namespaces/small/keys/big", at_limit.clone())
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    let back = node.get("/v1/namespaces/small/keys/big").await;
    assert_eq!(back.status(), StatusCode::OK);
    assert_eq!(back.bytes().await.unwrap().len(), at_limit.len());
    expect_error(
        node.put(
            "/v1/namespaces/small/keys/big",
            vec![7u8; at_limit.len() + 1],
        )
        .await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "value_too_large",
    )
    .await;

    // Twice its capacity in writes: all accepted, eviction keeps it within budget.
    for i in 0..2048 {
        let path = format!("/v1/namespaces/small/keys/k{i}");
        assert_eq!(
            node.put(&path, vec![1u8; 1024]).await.status(),
            StatusCode::NO_CONTENT
        );
    }
    let stats = node.stats("small").await;
    assert!(stats["bytes"].as_u64().unwrap() <= 1048576, "{stats}");
    assert!(stats["evictions"].as_u64().unwrap() > 0, "{stats}");
    let newest = node.get("/v1/namespaces/small/keys/k2047").await;
    assert_eq!(newest.status(), StatusCode::OK);

    // The caller's own numbers that contradict each other still get the clear error.
    for config in [
        json!({"capacity_bytes": 1048576, "max_item_size": 1048576}),
        json!({"capacity_bytes": 1048576, "max_item_size": 65536, "shards": 16}),
    ] {
        let message = expect_error(
            node.post_json(
                "/v1/namespaces",
                &json!({"name": "contradictory", "config": config}),
            )
            .await,
            StatusCode::BAD_REQUEST,
            "invalid_config",
        )
        .await;
        assert!(
            message.contains("capacity_bytes") && message.contains("max_item_size"),
            "{message}"
        );
    }
}

#[tokio::test]
async fn namespace_crud_and_live_reconfiguration() {
    let node = Node::start().await;
    let create = json!({"name": "sessions", "config": {
        "capacity_bytes": 1048576, "max_item_size": 4096, "eviction": "s3fifo", "shards": 1
    }});
    let response = node.post_json("/v1/namespaces", &create).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["location"], "/v1/namespaces/sessions");
    let info: Value = response.json().await.unwrap();
    assert_eq!(info["name"], "sessions");
    assert_eq!(info["config"]["capacity_bytes"], 1048576);
    expect_error(
        node.post_json("/v1/namespaces", &create).await,
        StatusCode::CONFLICT,
        "namespace_exists",
    )
    .await;
    let message = expect_error(
        node.post_json(
            "/v1/namespaces",
            &json!({"name": "tiny", "config": {"capacity_bytes": 10}}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_config",
    )
    .await;
    assert!(message.contains("capacity_bytes"), "{message}");
    expect_error(
        node.post_json("/v1/namespaces", &json!({"name": "bad name"}))
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_config",
    )
    .await;

    let list: Value = node.get("/v1/namespaces").await.json().await.unwrap();
    let names: Vec<&str> = list["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["default", "sessions"]);

    // Fill ~500 KB, read some, miss some.
    for i in 0..1000 {
        let status = node
            .put(
                &format!("/v1/namespaces/sessions/keys/s{i}"),
                vec![1u8; 400],
            )
            .await
            .status();
        assert_eq!(status, StatusCode::NO_CONTENT);
    }
    node.get("/v1/namespaces/sessions/keys/s999").await;
    node.get("/v1/namespaces/sessions/keys/absent").await;
    let stats = node.stats("sessions").await;
    assert_eq!(stats["keys"], 1000, "{stats}");
    assert_eq!(stats["hits"], 1);
    assert_eq!(stats["misses"], 1);
    assert_eq!(stats["hit_ratio"], 0.5);
    assert_eq!(stats["evictions"], 0);
    assert_eq!(stats["sets"], 1000);

    // Shrink and switch policy, live.
    let smaller = json!({"capacity_bytes": 131072, "max_item_size": 4096, "eviction": "lru"});
    let response = node
        .http
        .put(node.url("/v1/namespaces/sessions"))
        .json(&smaller)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let info: Value = response.json().await.unwrap();
    assert_eq!(info["policy"], "lru");
    assert_eq!(info["config"]["eviction"], "lru");
    let stats = &info["stats"];
    assert!(stats["evictions"].as_u64().unwrap() > 0, "{stats}");
    assert!(stats["bytes"].as_u64().unwrap() <= 131072, "{stats}");
    assert!(stats["keys"].as_u64().unwrap() < 1000, "{stats}");
    // Shards are fixed once the namespace exists.
    let message = expect_error(
        node.http
            .put(node.url("/v1/namespaces/sessions"))
            .json(&json!({"shards": 4}))
            .send()
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_config",
    )
    .await;
    assert!(message.contains("shards"), "{message}");

    // PUT on a new name creates it.
    let response = node
        .http
        .put(node.url("/v1/namespaces/fresh"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);

    assert_eq!(
        node.post("/v1/namespaces/sessions/flush").await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(node.stats("sessions").await["keys"], 0);
    expect_error(
        node.post("/v1/namespaces/nowhere/flush").await,
        StatusCode::NOT_FOUND,
        "namespace_not_found",
    )
    .await;

    assert_eq!(
        node.delete("/v1/namespaces/sessions").await.status(),
        StatusCode::NO_CONTENT
    );
    expect_error(
        node.get("/v1/namespaces/sessions").await,
        StatusCode::NOT_FOUND,
        "namespace_not_found",
    )
    .await;
    expect_error(
        node.get("/v1/namespaces/sessions/keys/s1").await,
        StatusCode::NOT_FOUND,
        "namespace_not_found",
    )
    .await;
    expect_error(
        node.delete("/v1/namespaces/sessions").await,
        StatusCode::NOT_FOUND,
        "namespace_not_found",
    )
    .await;
    expect_error(
        node.delete("/v1/namespaces/default").await,
        StatusCode::CONFLICT,
        "default_undeletable",
    )
    .await;
}

#[tokio::test]
async fn metrics_expose_namespace_counters_and_http_latency() {
    let node = Node::start().await;
    node.post_json("/v1/namespaces", &json!({"name": "web"}))
        .await;
    node.put("/v1/namespaces/web/keys/a", "1").await;
    node.get("/v1/namespaces/web/keys/a").await;
    node.get("/v1/namespaces/web/keys/b").await;

    let response = node.get("/metrics").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = response.text().await.unwrap();
    for line in [
        r#"larder_hits_total{namespace="web"} 1"#,
        r#"larder_misses_total{namespace="web"} 1"#,
        r#"larder_sets_total{namespace="web"} 1"#,
        r#"larder_keys{namespace="web"} 1"#,
        r#"larder_request_duration_seconds_count{op="get_key",protocol="http"} 2"#,
        r#"larder_request_duration_seconds_count{op="put_key",protocol="http"} 1"#,
        r#"larder_request_duration_seconds_count{op="create_namespace",protocol="http"} 1"#,
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
    // Nothing is in flight between requests.
    assert!(
        text.lines()
            .any(|l| l == "larder_http_requests_in_flight 0"),
        "{text}"
    );
}

#[tokio::test]
async fn docs_and_openapi_are_served() {
    let node = Node::start().await;
    let health: Value = node.get("/healthz").await.json().await.unwrap();
    assert_eq!(health["status"], "ok");

    let response = node.get("/docs").await; // redirects to /docs/
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = response.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    // The UI's assets come from the binary, not a CDN.
    let asset = node.get("/docs/swagger-ui-bundle.js").await;
    assert_eq!(asset.status(), StatusCode::OK);
    let config = node
        .get("/docs/swagger-initializer.js")
        .await
        .text()
        .await
        .unwrap();
    assert!(config.contains("/openapi.json"), "{config}");

    let response = node.get("/openapi.json").await;
    assert_eq!(response.status(), StatusCode::OK);
    let doc: Value = response.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    let expected = [
        (
            "/v1/namespaces/{ns}/keys/{key}",
            &["get", "put", "delete"][..],
        ),
        ("/v1/namespaces/{ns}/keys/{key}/expire", &["post"]),
        ("/v1/namespaces/{ns}/keys/{key}/persist", &["post"]),
        ("/v1/namespaces/{ns}/keys/{key}/touch", &["post"]),
        ("/v1/namespaces/{ns}/keys/{key}/incr", &["post"]),
        ("/v1/namespaces/{ns}/keys/{key}/evict", &["post"]),
        ("/v1/namespaces/{ns}/batch/get", &["post"]),
        ("/v1/namespaces/{ns}/batch/set", &["post"]),
        ("/v1/namespaces/{ns}/batch/delete", &["post"]),
        ("/v1/namespaces", &["get", "post"]),
        ("/v1/namespaces/{ns}", &["get", "put", "delete"]),
        ("/v1/namespaces/{ns}/flush", &["post"]),
        ("/healthz", &["get"]),
        ("/metrics", &["get"]),
        ("/openapi.json", &["get"]),
    ];
    for (path, methods) in expected {
        let item = paths
            .get(path)
            .unwrap_or_else(|| panic!("{path} missing from the document"));
        for method in methods {
            assert!(
                item.get(*method).is_some(),
                "{method} {path} missing from the document"
            );
        }
    }
    // Every path the document lists exists on the live server: a method it does not serve gets
    // 405, never the 404 of an unknown route.
    for path in paths.keys() {
        let mut concrete = path.replace("{ns}", "default");
        while let (Some(open), Some(close)) = (concrete.find('{'), concrete.find('}')) {
            concrete.replace_range(open..=close, "x");
        }
        let response = node
            .http
            .request(reqwest::Method::OPTIONS, node.url(&concrete))
            .send()
            .await
            .unwrap();
        assert_ne!(response.status(), StatusCode::NOT_FOUND, "{concrete}");
    }
}

#[tokio::test]
async fn shutdown_finishes_the_request_in_flight() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let node = Node::start().await;
    let addr = node.server.http_addr;
    // Send the head and half the body of a PUT, so the request is in flight when shutdown starts.
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "PUT /v1/namespaces/default/keys/inflight HTTP/1.1\r\nhost: {addr}\r\ncontent-length: 10\r\n\r\nhello"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.flush().await.unwrap();
    // Wait (bounded) until the server is inside the handler's body read.
    let namespaces = node.server.state.namespaces.clone();
    let metrics = node.server.state.metrics.clone();
    for _ in 0..200 {
        if metrics.http_requests_in_flight.get() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(metrics.http_requests_in_flight.get(), 1);

    let stopping = tokio::spawn(node.server.shutdown());
    // New connections are refused once shutdown has begun (bounded wait for the listener to close).
    let mut refused = false;
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(refused, "the listener still accepts after shutdown began");
    assert!(
        !stopping.is_finished(),
        "shutdown must wait for the request in flight"
    );

    stream.write_all(b"world").await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 204"), "{response}");
    stopping.await.unwrap().unwrap();
    assert_eq!(
        namespaces
            .get("default")
            .unwrap()
            .store()
            .get_vec(b"inflight")
            .unwrap(),
        b"helloworld"
    );
}

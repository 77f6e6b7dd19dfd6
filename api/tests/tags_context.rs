//! Request context tags reach plugin hooks through both front ends, against a real server: the
//! reference contextual-admission plugin is a namespace's admission hook, and what a client sends
//! (RESP: `CLIENT TAGS`, REST: the `X-Larder-Tags` header) changes whether a new key is admitted.
//!
//! The plugin refuses every new key tagged `cache=skip`, and values over 16 KiB tagged
//! `tier=free`; an admission refusal is acknowledged (`OK` / 204) but the key is not stored.

use larder::config::Config;
use larder::server::{self, RunningServer};
use larder_plugin_wasm as wasm;
use redis::aio::MultiplexedConnection;
use redis::{AsyncCommands, RedisResult, cmd};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

const NS: &str = "contextual";
/// Over the plugin's 16 KiB "large value" threshold.
const LARGE: usize = 20 * 1024;

struct Node {
    server: RunningServer,
    http: Client,
    base: String,
}

impl Node {
    /// A server whose namespace [`NS`] uses the contextual-admission plugin.
    async fn start() -> Self {
        let config = Config {
            resp_addr: "127.0.0.1:0".parse().unwrap(),
            http_addr: "127.0.0.1:0".parse().unwrap(),
            ..Default::default()
        };
        let server = server::start(&config).await.expect("server starts");
        let node = Self {
            base: format!("http://{}", server.http_addr),
            server,
            http: Client::new(),
        };
        let r = node
            .http
            .post(format!("{}/v1/plugins", node.base))
            .query(&[("name", "contextual"), ("description", "tags test")])
            .body(wasm::CONTEXTUAL_ADMISSION)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "upload: {}", r.status());
        let uploaded: Value = r.json().await.unwrap();
        let reference = uploaded["reference"].as_str().unwrap().to_string();
        let r = node
            .http
            .put(format!("{}/v1/namespaces/{NS}", node.base))
            .json(&json!({
                "admission": reference,
                "capacity_bytes": 16 << 20,
                "max_item_size": 1 << 20,
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::CREATED,
            "{}",
            r.text().await.unwrap()
        );
        node
    }

    /// A Redis connection with [`NS`] selected.
    async fn redis(&self) -> MultiplexedConnection {
        let client = redis::Client::open(format!("redis://{}/", self.server.resp_addr)).unwrap();
        let mut con = client.get_multiplexed_async_connection().await.unwrap();
        let () = cmd("SELECT").arg(NS).query_async(&mut con).await.unwrap();
        con
    }

    fn key_url(&self, key: &str) -> String {
        format!("{}/v1/namespaces/{NS}/keys/{key}", self.base)
    }

    async fn put(&self, key: &str, value: Vec<u8>, tags: Option<&str>) -> (StatusCode, Value) {
        let mut request = self.http.put(self.key_url(key)).body(value);
        if let Some(tags) = tags {
            request = request.header("X-Larder-Tags", tags);
        }
        let r = request.send().await.unwrap();
        let status = r.status();
        let body = r.bytes().await.unwrap();
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    async fn get_status(&self, key: &str) -> StatusCode {
        self.http
            .get(self.key_url(key))
            .send()
            .await
            .unwrap()
            .status()
    }
}

async fn client_tags(con: &mut MultiplexedConnection, pairs: &[&str]) -> RedisResult<()> {
    cmd("CLIENT")
        .arg("TAGS")
        .arg(pairs)
        .query_async::<()>(con)
        .await
}

#[tokio::test]
async fn resp_client_tags_change_admission() {
    let node = Node::start().await;
    let mut con = node.redis().await;

    // No tags: the plugin admits.
    let () = con.set("plain", "v").await.unwrap();
    assert_eq!(
        con.get::<_, Option<String>>("plain").await.unwrap(),
        Some("v".into())
    );

    // cache=skip: SET is acknowledged, but the key was refused.
    client_tags(&mut con, &["cache", "skip"]).await.unwrap();
    let () = con.set("skipped", "v").await.unwrap();
    assert_eq!(con.get::<_, Option<String>>("skipped").await.unwrap(), None);
    let () = con.mset(&[("m1", "a"), ("m2", "b")]).await.unwrap();
    assert_eq!(con.exists::<_, u32>(&["m1", "m2"]).await.unwrap(), 0);

    // Tags belong to the connection: another one, without tags, is admitted.
    let mut other = node.redis().await;
    let () = other.set("from-other", "v").await.unwrap();
    assert_eq!(
        other.get::<_, Option<String>>("from-other").await.unwrap(),
        Some("v".into())
    );

    // tier=free: small values are admitted, large ones refused.
    client_tags(&mut con, &["tier", "free", "device", "phone"])
        .await
        .unwrap();
    let () = con.set("small", "v").await.unwrap();
    let () = con.set("large", vec![b'x'; LARGE]).await.unwrap();
    assert_eq!(
        con.get::<_, Option<String>>("small").await.unwrap(),
        Some("v".into())
    );
    assert_eq!(con.get::<_, Option<Vec<u8>>>("large").await.unwrap(), None);

    // No pairs clears the tags: the same large value is admitted now.
    client_tags(&mut con, &[]).await.unwrap();
    let () = con.set("large", vec![b'x'; LARGE]).await.unwrap();
    assert_eq!(
        con.get::<_, Option<Vec<u8>>>("large")
            .await
            .unwrap()
            .map(|v| v.len()),
        Some(LARGE)
    );
}

#[tokio::test]
async fn resp_bad_tags_are_refused_and_keep_the_previous_tags() {
    let node = Node::start().await;
    let mut con = node.redis().await;
    client_tags(&mut con, &["cache", "skip"]).await.unwrap();

    let err = client_tags(&mut con, &["bad name", "x"]).await.unwrap_err();
    assert!(err.to_string().contains("tag name"), "{err}");
    let err = client_tags(&mut con, &["cache"]).await.unwrap_err();
    assert!(
        err.to_string().contains("wrong number of arguments"),
        "{err}"
    );
    let long = "v".repeat(257);
    let err = client_tags(&mut con, &["cache", &long]).await.unwrap_err();
    assert!(err.to_string().contains("256 bytes"), "{err}");
    let names: Vec<String> = (0..17).map(|i| format!("t{i}")).collect();
    let pairs: Vec<&str> = names.iter().flat_map(|n| [n.as_str(), "1"]).collect();
    let err = client_tags(&mut con, &pairs).await.unwrap_err();
    assert!(err.to_string().contains("at most 16 tags"), "{err}");

    // The refused commands left `cache=skip` in place, and the connection still works.
    let () = con.set("k", "v").await.unwrap();
    assert_eq!(con.get::<_, Option<String>>("k").await.unwrap(), None);

    let help: Vec<String> = cmd("CLIENT")
        .arg("HELP")
        .query_async(&mut con)
        .await
        .unwrap();
    assert!(help.iter().any(|line| line.starts_with("TAGS")), "{help:?}");
}

#[tokio::test]
async fn rest_header_changes_admission() {
    let node = Node::start().await;

    let (status, _) = node.put("plain", b"v".to_vec(), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(node.get_status("plain").await, StatusCode::OK);

    let (status, _) = node.put("skipped", b"v".to_vec(), Some("cache=skip")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(node.get_status("skipped").await, StatusCode::NOT_FOUND);

    let (status, _) = node
        .put("large", vec![b'x'; LARGE], Some("device=phone; tier=free"))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(node.get_status("large").await, StatusCode::NOT_FOUND);
    let (status, _) = node
        .put("small", b"v".to_vec(), Some("device=phone; tier=free"))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(node.get_status("small").await, StatusCode::OK);

    // Tags are per request: the same large value without the header is admitted.
    let (status, _) = node.put("large", vec![b'x'; LARGE], None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(node.get_status("large").await, StatusCode::OK);

    // What REST admits is visible to RESP, and the other way round.
    let mut con = node.redis().await;
    assert_eq!(
        con.get::<_, Option<String>>("small").await.unwrap(),
        Some("v".into())
    );
}

#[tokio::test]
async fn rest_bad_header_is_a_400_and_nothing_is_stored() {
    let node = Node::start().await;
    let names: Vec<String> = (0..17).map(|i| format!("t{i}=1")).collect();
    let too_many = names.join(",");
    let long_value = format!("device={}", "v".repeat(257));
    for (header, says) in [
        ("novalue", "not name=value"),
        ("bad name=1", "tag name"),
        (long_value.as_str(), "256 bytes"),
        (too_many.as_str(), "at most 16 tags"),
    ] {
        let (status, body) = node.put("k", b"v".to_vec(), Some(header)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{header}: {body}");
        assert_eq!(body["error"]["code"], "bad_tags", "{header}: {body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{header}: {message}");
        // Without tags this key would have been admitted, so a 404 shows the write never ran.
        assert_eq!(node.get_status("k").await, StatusCode::NOT_FOUND);
    }

    // Every key route reads the header, reads included.
    let r = node
        .http
        .get(node.key_url("k"))
        .header("X-Larder-Tags", "novalue")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "bad_tags");
}

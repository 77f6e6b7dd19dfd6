//! Shared set-up for the authentication and tenant tests: a node config with an operator key on
//! 127.0.0.1:0, and a raw-socket helper for replies the `redis` crate rewords.

#![allow(dead_code)] // each test binary uses its own subset

use std::time::Duration;

use larder::config::{Config, Secret};
use larder::persistence::PersistConfig;
use larder::server::RunningServer;

pub const OPERATOR_KEY: &str = "operator-key-for-tests-0123456789";

/// Loopback ports, the operator key, and a data directory when `persist` names one.
pub fn config(persist: Option<&std::path::Path>) -> Config {
    Config {
        resp_addr: "127.0.0.1:0".parse().unwrap(),
        http_addr: "127.0.0.1:0".parse().unwrap(),
        operator_key: Some(Secret(OPERATOR_KEY.to_string())),
        persist: persist.map(|dir| PersistConfig {
            data_dir: dir.to_path_buf(),
            snapshot_every: Duration::ZERO,
            discard_bad_data: false,
            append_log: None,
            encryption: None,
        }),
        ..Default::default()
    }
}

/// Raw RESP on a fresh socket: send `request`, read one reply line.
pub async fn raw(node: &RunningServer, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(node.resp_addr)
        .await
        .unwrap();
    s.write_all(request).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let mut got = Vec::new();
    while !got.ends_with(b"\r\n") {
        let n = s.read(&mut buf).await.unwrap();
        assert!(n > 0, "the server closed the connection");
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8(got).unwrap()
}

/// POST `body` to `path` as the operator; the answer's JSON, after checking it succeeded.
pub async fn post(node: &RunningServer, path: &str, body: serde_json::Value) -> serde_json::Value {
    let response = reqwest::Client::new()
        .post(format!("http://{}{path}", node.http_addr))
        .bearer_auth(OPERATOR_KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    response.json().await.unwrap()
}

/// Make tenant `name` and an admin key of it; returns the key text.
pub async fn tenant_admin(node: &RunningServer, name: &str) -> String {
    post(node, "/v1/tenants", serde_json::json!({"name": name})).await;
    let key = post(
        node,
        "/v1/api-keys",
        serde_json::json!({"name": format!("{name}-admin"), "scopes": ["admin"], "tenant": name}),
    )
    .await;
    key["key"].as_str().unwrap().to_string()
}

/// A RESP connection on the plain port, logged in with `AUTH <key>`.
pub async fn connect_with_key(
    node: &RunningServer,
    key: &str,
) -> redis::aio::MultiplexedConnection {
    let mut c = redis::Client::open(format!("redis://{}/", node.resp_addr))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let () = redis::cmd("AUTH")
        .arg(key)
        .query_async(&mut c)
        .await
        .unwrap();
    c
}

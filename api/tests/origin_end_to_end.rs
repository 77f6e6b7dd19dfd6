//! Read-through end to end: a real `larder` node (REST and RESP) in front of a real HTTP origin
//! the test starts, driven by reqwest and the `redis` crate.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode as OriginStatus;
use axum::routing::get;
use larder::config::Config;
use larder::server::{self, RunningServer};
use redis::{AsyncCommands, RedisResult, cmd};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Requests the origin received, by route.
#[derive(Default)]
struct Seen {
    items: AtomicUsize,
}

async fn items(State(seen): State<Arc<Seen>>, Path(key): Path<String>) -> String {
    seen.items.fetch_add(1, SeqCst);
    // Long enough that concurrent readers overlap with the one request.
    tokio::time::sleep(Duration::from_millis(100)).await;
    format!("v:{key}")
}

async fn start_origin() -> (SocketAddr, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    let app = Router::new()
        .route("/items/{key}", get(items))
        .route("/missing/{key}", get(|| async { OriginStatus::NOT_FOUND }))
        .route(
            "/broken/{key}",
            get(|| async { OriginStatus::SERVICE_UNAVAILABLE }),
        )
        .route(
            "/slow/{key}",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(60)).await;
                "too late"
            }),
        )
        .with_state(Arc::clone(&seen));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, seen)
}

struct Node {
    server: RunningServer,
    http: reqwest::Client,
}

impl Node {
    async fn start() -> Self {
        let config = Config {
            resp_addr: "127.0.0.1:0".parse().unwrap(),
            http_addr: "127.0.0.1:0".parse().unwrap(),
            ..Default::default()
        };
        let server = server::start(&config).await.expect("server starts");
        Self {
            server,
            http: reqwest::Client::new(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.server.http_addr)
    }

    /// Create namespace `name` reading through `route` on the origin, over the admin API.
    async fn namespace(&self, name: &str, origin: SocketAddr, route: &str) {
        let config = json!({
            "capacity_bytes": 16 << 20,
            "origin": { "url": format!("http://{origin}/{route}/{{key}}"), "timeout_ms": 300 },
        });
        let response = self
            .http
            .put(self.url(&format!("/v1/namespaces/{name}")))
            .json(&config)
            .send()
            .await;
        let status = response.unwrap().status();
        assert!(status.is_success(), "creating {name}: {status}");
    }

    async fn get_key(&self, ns: &str, key: &str) -> reqwest::Response {
        self.http
            .get(self.url(&format!("/v1/namespaces/{ns}/keys/{key}")))
            .send()
            .await
            .unwrap()
    }

    async fn redis(&self) -> redis::aio::MultiplexedConnection {
        let client = redis::Client::open(format!("redis://{}/", self.server.resp_addr)).unwrap();
        client.get_multiplexed_async_connection().await.unwrap()
    }
}

async fn error_code(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    (
        status,
        body["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_get_reads_through_the_origin() {
    let (origin, seen) = start_origin().await;
    let node = Node::start().await;
    node.namespace("catalog", origin, "items").await;

    let response = node.get_key("catalog", "alpha").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.bytes().await.unwrap(), "v:alpha");
    // Stored: the second read does not reach the origin.
    assert_eq!(
        node.get_key("catalog", "alpha")
            .await
            .bytes()
            .await
            .unwrap(),
        "v:alpha"
    );
    assert_eq!(seen.items.load(SeqCst), 1);
    let ns = node.server.state.namespaces.get("catalog").unwrap();
    assert_eq!(
        ns.store().get_vec(b"alpha").as_deref(),
        Some(&b"v:alpha"[..])
    );

    // Concurrent misses of one key: one origin request.
    let readers: Vec<_> = (0..20)
        .map(|_| {
            let http = node.http.clone();
            let url = node.url("/v1/namespaces/catalog/keys/beta");
            tokio::spawn(async move { http.get(url).send().await.unwrap().text().await.unwrap() })
        })
        .collect();
    for reader in readers {
        assert_eq!(reader.await.unwrap(), "v:beta");
    }
    assert_eq!(seen.items.load(SeqCst), 2);

    // A namespace without an origin keeps plain misses.
    let (status, code) = error_code(node.get_key("default", "alpha").await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::NOT_FOUND, "key_not_found")
    );

    let metrics = node
        .http
        .get(node.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"larder_origin_requests_total{namespace="catalog"} 2"#),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_maps_origin_outcomes_to_statuses() {
    let (origin, _seen) = start_origin().await;
    let node = Node::start().await;
    node.namespace("missing", origin, "missing").await;
    node.namespace("broken", origin, "broken").await;
    node.namespace("slow", origin, "slow").await;

    let (status, code) = error_code(node.get_key("missing", "k").await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::NOT_FOUND, "key_not_found")
    );
    let (status, code) = error_code(node.get_key("broken", "k").await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_GATEWAY, "origin_status")
    );
    let (status, code) = error_code(node.get_key("slow", "k").await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::GATEWAY_TIMEOUT, "origin_timeout")
    );

    // The node is fine afterwards.
    let health = node.http.get(node.url("/healthz")).send().await.unwrap();
    assert!(health.status().is_success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_get_and_mget_read_through_the_origin() {
    let (origin, seen) = start_origin().await;
    let node = Node::start().await;
    node.namespace("catalog", origin, "items").await;
    let mut con = node.redis().await;
    let () = cmd("SELECT")
        .arg("catalog")
        .query_async(&mut con)
        .await
        .unwrap();

    let value: Option<String> = con.get("alpha").await.unwrap();
    assert_eq!(value.as_deref(), Some("v:alpha"));
    let () = con.set("local", "set-here").await.unwrap();
    let values: Vec<Option<String>> = con.mget(&["alpha", "local", "gamma"]).await.unwrap();
    assert_eq!(
        values,
        vec![
            Some("v:alpha".into()),
            Some("set-here".into()),
            Some("v:gamma".into())
        ]
    );
    assert_eq!(
        seen.items.load(SeqCst),
        2,
        "alpha is fetched once, local never"
    );

    // A pipeline keeps its order around a read-through GET.
    let (a, b, c): (String, Option<String>, String) = redis::pipe()
        .cmd("SET")
        .arg("p")
        .arg("1")
        .ignore()
        .cmd("GET")
        .arg("p")
        .cmd("GET")
        .arg("delta")
        .cmd("GET")
        .arg("p")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(
        (a.as_str(), b.as_deref(), c.as_str()),
        ("1", Some("v:delta"), "1")
    );

    // redis-style clients in a namespace without an origin see plain misses.
    let () = cmd("SELECT").arg(0).query_async(&mut con).await.unwrap();
    assert_eq!(con.get::<_, Option<String>>("alpha").await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_reports_origin_failures_as_errors() {
    let (origin, _seen) = start_origin().await;
    let node = Node::start().await;
    node.namespace("missing", origin, "missing").await;
    node.namespace("broken", origin, "broken").await;
    node.namespace("slow", origin, "slow").await;
    let mut con = node.redis().await;

    let () = cmd("SELECT")
        .arg("missing")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(con.get::<_, Option<String>>("k").await.unwrap(), None);

    let () = cmd("SELECT")
        .arg("broken")
        .query_async(&mut con)
        .await
        .unwrap();
    let err: RedisResult<Option<String>> = con.get("k").await;
    let text = err.unwrap_err().to_string();
    assert!(text.contains("origin_status"), "{text}");
    let err: RedisResult<Vec<Option<String>>> = con.mget(&["a", "b"]).await;
    assert!(err.unwrap_err().to_string().contains("origin_status"));

    let () = cmd("SELECT")
        .arg("slow")
        .query_async(&mut con)
        .await
        .unwrap();
    let err: RedisResult<Option<String>> = con.get("k").await;
    let text = err.unwrap_err().to_string();
    assert!(text.contains("origin_timeout"), "{text}");

    // The connection keeps working.
    let pong: String = cmd("PING").query_async(&mut con).await.unwrap();
    assert_eq!(pong, "PONG");
}

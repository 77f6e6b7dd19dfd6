//! A real HTTP origin for read-through tests: axum on 127.0.0.1:0, recording what it is asked.
//!
//! Routes (the key is the last path segment, percent-decoded):
//! - `/items/{key}`   → 200 `v:{key}` after the configured delay
//! - `/missing/{key}` → 404
//! - `/gone/{key}`    → 410
//! - `/broken/{key}`  → 500
//! - `/slow/{key}`    → sleeps a minute, then 200 (longer than any test timeout)
//! - `/big/{key}`     → 200 with a 64 KiB body

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use larder_runtime::origin::OriginConfig;
use larder_runtime::{Namespace, NamespaceConfig, Namespaces};
use parking_lot::Mutex;

#[derive(Default)]
pub struct Seen {
    pub requests: AtomicUsize,
    pub in_flight: AtomicUsize,
    pub max_in_flight: AtomicUsize,
    pub per_key: Mutex<HashMap<String, usize>>,
}

impl Seen {
    pub fn requests(&self) -> usize {
        self.requests.load(SeqCst)
    }
    pub fn requests_for(&self, key: &str) -> usize {
        self.per_key.lock().get(key).copied().unwrap_or(0)
    }
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(SeqCst)
    }
    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight.load(SeqCst)
    }
}

/// Counts a request in flight for as long as it lives.
struct InFlight(Arc<Seen>);

impl InFlight {
    fn enter(seen: &Arc<Seen>, key: &str) -> Self {
        seen.requests.fetch_add(1, SeqCst);
        *seen.per_key.lock().entry(key.to_owned()).or_default() += 1;
        let now = seen.in_flight.fetch_add(1, SeqCst) + 1;
        seen.max_in_flight.fetch_max(now, SeqCst);
        Self(Arc::clone(seen))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, SeqCst);
    }
}

#[derive(Clone)]
struct Origin {
    seen: Arc<Seen>,
    delay: Duration,
}

pub struct TestOrigin {
    pub addr: SocketAddr,
    pub seen: Arc<Seen>,
}

impl TestOrigin {
    /// Start an origin whose `/items` answers take `delay`.
    pub async fn start(delay: Duration) -> Self {
        let seen = Arc::new(Seen::default());
        let state = Origin {
            seen: Arc::clone(&seen),
            delay,
        };
        let app = Router::new()
            .route("/items/{key}", get(items))
            .route("/missing/{key}", get(missing))
            .route("/gone/{key}", get(gone))
            .route("/broken/{key}", get(broken))
            .route("/slow/{key}", get(slow))
            .route("/big/{key}", get(big))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind origin");
        let addr = listener.local_addr().expect("origin address");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, seen }
    }

    /// An origin config for `route` (`items`, `missing`, …) on this server.
    pub fn config(&self, route: &str) -> OriginConfig {
        OriginConfig::new(format!("http://{}/{route}/{{key}}", self.addr))
    }
}

async fn items(State(o): State<Origin>, Path(key): Path<String>) -> String {
    let _in = InFlight::enter(&o.seen, &key);
    tokio::time::sleep(o.delay).await;
    format!("v:{key}")
}

async fn missing(State(o): State<Origin>, Path(key): Path<String>) -> StatusCode {
    let _in = InFlight::enter(&o.seen, &key);
    StatusCode::NOT_FOUND
}

async fn gone(State(o): State<Origin>, Path(key): Path<String>) -> StatusCode {
    let _in = InFlight::enter(&o.seen, &key);
    StatusCode::GONE
}

async fn broken(State(o): State<Origin>, Path(key): Path<String>) -> (StatusCode, &'static str) {
    let _in = InFlight::enter(&o.seen, &key);
    (StatusCode::INTERNAL_SERVER_ERROR, "database on fire")
}

async fn slow(State(o): State<Origin>, Path(key): Path<String>) -> &'static str {
    let _in = InFlight::enter(&o.seen, &key);
    tokio::time::sleep(Duration::from_secs(60)).await;
    "too late"
}

async fn big(State(o): State<Origin>, Path(key): Path<String>) -> Vec<u8> {
    let _in = InFlight::enter(&o.seen, &key);
    vec![b'x'; 64 * 1024]
}

/// A namespace `name` in a fresh registry, reading through `origin`.
pub fn namespace_with(origin: OriginConfig) -> (Arc<Namespaces>, Arc<Namespace>) {
    let all = Arc::new(Namespaces::new(NamespaceConfig::default()).expect("registry"));
    let cfg = NamespaceConfig {
        capacity_bytes: 16 << 20,
        max_item_size: Some(16 * 1024),
        origin: Some(origin),
        ..Default::default()
    };
    let ns = all.create("catalog", cfg).expect("namespace with origin");
    (all, ns)
}

/// Wait (bounded) until `done` holds; panics with `what` if it never does.
pub async fn eventually(what: &str, done: impl Fn() -> bool) {
    for _ in 0..1000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("never happened: {what}");
}

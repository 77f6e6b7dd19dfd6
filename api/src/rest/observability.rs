//! What operators and their tools poll: `/healthz` and the Prometheus `/metrics`.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::Caller;
use crate::state::AppState;

/// The Prometheus text exposition format's content type.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// Always `ok` while the node serves requests.
    pub status: String,
    pub version: String,
}

#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses((status = 200, description = "The node is up", body = Health))
)]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    })
}

#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "Prometheus text format: per-namespace counters, request latency, connections",
               content_type = "text/plain", body = String))
)]
pub async fn metrics(State(state): State<AppState>, caller: Caller) -> impl IntoResponse {
    let text = state.metrics.render();
    let text = match caller.tenant() {
        None => text,
        Some(tenant) => tenant_metrics(&text, tenant.name()),
    };
    ([(header::CONTENT_TYPE, PROMETHEUS_TEXT)], text)
}

/// A tenant's share of the exposition: the samples of its own namespaces (their label without
/// the tenant prefix); node-wide samples and other tenants' are left out.
pub fn tenant_metrics(text: &str, tenant: &str) -> String {
    let mine = format!("namespace=\"{tenant}/");
    let mut out = String::with_capacity(text.len() / 4);
    for line in text.lines() {
        if line.starts_with('#') {
            out.push_str(line);
        } else if line.contains(&mine) {
            out.push_str(&line.replace(&mine, "namespace=\""));
        } else {
            continue;
        }
        out.push('\n');
    }
    out
}

/// The node as a whole: what it has spent and how it keeps its data (the dashboard's overview).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NodeInfo {
    pub version: String,
    /// CPU time the process has used since it started (user + system), in seconds. Divided into
    /// the change in operations over an interval, it gives operations per CPU-second.
    pub cpu_seconds: f64,
    /// How the node persists; absent when it keeps everything in memory only.
    pub persistence: Option<PersistenceInfo>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PersistenceInfo {
    /// Seconds between snapshots when something changed; 0: only SAVE, BGSAVE and shutdown.
    pub snapshot_every_secs: u64,
    /// Unix seconds of the last successful snapshot (the start time before the first).
    pub last_save_unix_secs: u64,
    pub last_save_ok: bool,
    /// Changes to the keys since that snapshot.
    pub changes_since_last_save: u64,
    /// The append-only log's fsync policy (`always`, `everysec`, `no`); absent when it is off.
    pub append_log: Option<String>,
    /// Whether the log's last write succeeded (absent when the log is off).
    pub append_log_ok: Option<bool>,
    /// The key id files are encrypted with; absent when encryption at rest is off.
    pub encryption_key_id: Option<u16>,
}

#[utoipa::path(
    get,
    path = "/v1/node",
    tag = "operations",
    responses((status = 200, description = "CPU used and persistence state of this node", body = NodeInfo))
)]
pub async fn node(State(state): State<AppState>) -> Json<NodeInfo> {
    let persistence = state.persistence.as_ref().map(|p| PersistenceInfo {
        snapshot_every_secs: p.config().snapshot_every.as_secs(),
        last_save_unix_secs: p.last_save_unix_secs(),
        last_save_ok: p.last_save_ok(),
        changes_since_last_save: p.changes_since_save(),
        append_log: p.log().map(|l| l.fsync().as_str().to_string()),
        append_log_ok: p.log().map(|l| l.error().is_none()),
        encryption_key_id: p.config().encryption.as_ref().map(|k| k.0.current_id()),
    });
    Json(NodeInfo {
        version: env!("CARGO_PKG_VERSION").into(),
        cpu_seconds: process_cpu_seconds(),
        persistence,
    })
}

/// User + system CPU time of this process.
fn process_cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return 0.0;
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

//! The REST API: data and admin routes over HTTP (axum), described by OpenAPI (utoipa).
//!
//! | module | holds |
//! |---|---|
//! | `keys` | one key: `GET/PUT/DELETE /v1/namespaces/{ns}/keys/{key}`, expire, persist, touch, incr, evict |
//! | `batch` | many keys: `POST /v1/namespaces/{ns}/batch/{get,set,delete}` (JSON, utf8 or base64) |
//! | `batch_split` | in a cluster: a batch split by the owner of each key's slot, parts sent to their owners, answers gathered |
//! | `namespaces` | admin: `GET/POST /v1/namespaces`, `GET/PUT/DELETE /v1/namespaces/{ns}`, flush |
//! | `dictionaries` | admin: train, list and stop a namespace's compression dictionary |
//! | `observability` | `GET /healthz`, `GET /metrics` (Prometheus text) |
//! | `cluster_forward` | in a cluster: key routes run on the slot's owner; data writes wait for the replicas |
//! | `cluster` | operator: `GET /v1/cluster`: members, health, slots, raft and replication backlog; `POST /v1/cluster/rebalance`, `POST /v1/cluster/members/{id}/drain` |
//! | `openapi` | `GET /openapi.json` and the document itself (its links); Swagger UI is mounted at `/docs` |
//! | `openapi_constraints` | the limits the server enforces, added to the document's schemas and parameters |
//! | `alerts` | admin: `GET /v1/alerts`, `GET/POST /v1/alerts/rules`, `DELETE /v1/alerts/rules/{name}` (a tenant: its own rules) |
//! | `auth` | with authentication on: the bearer-token middleware and the scope of every route |
//! | `api_keys` | admin: `GET/POST /v1/api-keys`, `GET/DELETE /v1/api-keys/{id}`, `POST /v1/admin/tls/reload` |
//! | `users` | admin: `GET /v1/users`, `GET/PUT/DELETE /v1/users/{name}`: users with passwords (as `ACL SETUSER`) |
//! | `session` | the dashboard's login: `POST/GET/DELETE /v1/session` (cookie + CSRF token) |
//! | `tenants` | operator: `GET/POST /v1/tenants`, `GET/PUT/DELETE /v1/tenants/{name}`: tenants and their quotas |
//! | `dashboard` | the embedded web UI at `/` and `/assets/*` |
//! | `error` | the one JSON error shape and the status of every error code |
//! | `extract` | extractors that turn malformed input into those JSON errors |
//! | `tags` | the `X-Larder-Tags` header: request context tags for plugin hooks |
//! | `timing` | per-route latency histograms and the in-flight gauge |
//!
//! Every response to bad input is a 4xx JSON error with a stable code; unknown routes and methods
//! included. Request bodies are capped at the configured `max_body_bytes`.

pub mod alerts;
pub mod api_keys;
pub mod auth;
pub mod batch;
pub mod batch_split;
pub mod cluster;
pub mod cluster_forward;
pub mod dashboard;
pub mod dictionaries;
pub mod error;
pub mod experiments;
pub mod extract;
pub mod keys;
pub mod namespaces;
pub mod observability;
pub mod openapi;
pub mod openapi_constraints;
pub mod plugins;
pub mod session;
pub mod tags;
pub mod tenants;
pub mod timing;
pub mod users;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use utoipa_swagger_ui::SwaggerUi;

use crate::state::AppState;
use timing::{RouteTimer, time_request};

/// The whole HTTP application: API routes, metrics, the OpenAPI document and Swagger UI.
pub fn router(state: AppState, max_body_bytes: usize) -> Router {
    let metrics = state.metrics.clone();
    // One timer (and so one resolved histogram) per operation, built here, once.
    let timed = |op: &str| from_fn_with_state(RouteTimer::new(&metrics, op), time_request);

    let key = "/v1/namespaces/{ns}/keys/{key}";
    let api = Router::new()
        .route(
            key,
            get(keys::get_key.layer(timed("get_key")))
                .put(keys::put_key.layer(timed("put_key")))
                .delete(keys::delete_key.layer(timed("delete_key"))),
        )
        .route(
            &format!("{key}/expire"),
            post(keys::expire_key.layer(timed("expire_key"))),
        )
        .route(
            &format!("{key}/persist"),
            post(keys::persist_key.layer(timed("persist_key"))),
        )
        .route(
            &format!("{key}/touch"),
            post(keys::touch_key.layer(timed("touch_key"))),
        )
        .route(
            &format!("{key}/incr"),
            post(keys::incr_key.layer(timed("incr_key"))),
        )
        .route(
            &format!("{key}/evict"),
            post(keys::evict_key.layer(timed("evict_key"))),
        )
        .route(
            "/v1/namespaces/{ns}/batch/get",
            post(batch::batch_get.layer(timed("batch_get"))),
        )
        .route(
            "/v1/namespaces/{ns}/batch/set",
            post(batch::batch_set.layer(timed("batch_set"))),
        )
        .route(
            "/v1/namespaces/{ns}/batch/delete",
            post(batch::batch_delete.layer(timed("batch_delete"))),
        )
        .route(
            "/v1/namespaces",
            get(namespaces::list_namespaces.layer(timed("list_namespaces")))
                .post(namespaces::create_namespace.layer(timed("create_namespace"))),
        )
        .route(
            "/v1/namespaces/{ns}",
            get(namespaces::get_namespace.layer(timed("get_namespace")))
                .put(namespaces::put_namespace.layer(timed("put_namespace")))
                .delete(namespaces::delete_namespace.layer(timed("delete_namespace"))),
        )
        .route(
            "/v1/namespaces/{ns}/flush",
            post(namespaces::flush_namespace.layer(timed("flush_namespace"))),
        )
        .route("/healthz", get(observability::healthz))
        .route("/v1/node", get(observability::node))
        .route("/v1/cluster", get(cluster::get_cluster))
        .route("/v1/cluster/rebalance", post(cluster::rebalance))
        .route(
            "/v1/cluster/members/{id}/drain",
            post(cluster::drain_member),
        )
        .route("/metrics", get(observability::metrics))
        .route("/openapi.json", get(openapi::openapi_json))
        .merge(api_keys::routes())
        .merge(users::routes())
        .merge(tenants::routes())
        .merge(session::routes())
        .merge(experiments::routes())
        .merge(plugins::routes())
        .merge(dictionaries::routes());

    // Swagger UI's assets are compiled into the binary (`vendored`), so /docs works offline; it
    // reads the document from our own /openapi.json route.
    let docs = SwaggerUi::new("/docs").config(utoipa_swagger_ui::Config::from("/openapi.json"));

    api.merge(docs)
        .fallback(error::route_not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(state)
}

//! Admin routes for namespaces: list, create, read (config + live stats), replace, delete, flush.
//!
//! Changes take effect live: a smaller `capacity_bytes` evicts down to it at once, a new
//! `eviction` policy is swapped in shard by shard and told about the resident keys. `shards` is
//! fixed once a namespace exists.
//!
//! On a cluster member a create, replace or delete is also committed to the cluster, and every
//! member applies it (see [`crate::cluster_namespaces`]); a commit that fails for want of a
//! quorum is `503 cluster_unavailable`.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use larder_runtime::{Namespace, NamespaceConfig, NamespaceError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::extract::{Caller, JsonBody, NsPath};
use crate::cluster_namespaces::{NotCommitted, SharedNamespaces};
use crate::state::AppState;
use crate::tenants::{self, NsView};

/// On a cluster member: the cluster's namespace configuration, locked for one change (so the
/// reconciler's pass never sees it half made).
async fn lock_shared(
    state: &AppState,
) -> Option<(
    std::sync::Arc<SharedNamespaces>,
    tokio::sync::OwnedMutexGuard<()>,
)> {
    let shared = std::sync::Arc::clone(&state.cluster.as_ref()?.namespaces);
    let guard = shared.lock().await;
    Some((shared, guard))
}

fn not_committed(e: NotCommitted, outcome: &str) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "cluster_unavailable",
        format!("{e}; {outcome}"),
    )
}

/// A namespace: its configuration, the policy serving it now, and live statistics.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NamespaceInfo {
    pub name: String,
    pub config: NamespaceConfig,
    /// Name of the eviction policy currently serving (equals `config.eviction` outside a swap).
    pub policy: String,
    pub stats: NamespaceStats,
}

/// Live counts plus counters since the namespace was created.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NamespaceStats {
    /// Live keys.
    pub keys: u64,
    /// Bytes charged: keys, values and per-entry overhead.
    pub bytes: u64,
    pub capacity_bytes: u64,
    pub hits: u64,
    pub misses: u64,
    /// hits / (hits + misses); 0 before the first read.
    pub hit_ratio: f64,
    pub sets: u64,
    pub evictions: u64,
    pub expirations: u64,
    /// Times the policy offered no victim while over capacity.
    pub policy_shortfalls: u64,
    /// Resident values' bytes as clients see them, and as stored: the difference is what
    /// compression saves.
    pub value_bytes_logical: u64,
    pub value_bytes_stored: u64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NamespaceList {
    /// Sorted by name.
    pub namespaces: Vec<NamespaceInfo>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateNamespace {
    /// 1 to 64 characters from `A-Z a-z 0-9 _ - .`
    pub name: String,
    /// Omitted fields take their defaults; an omitted `config` is all defaults.
    #[serde(default)]
    pub config: NamespaceConfig,
}

fn info(view: &NsView, ns: &Namespace) -> NamespaceInfo {
    let s = ns.store().stats();
    NamespaceInfo {
        name: view.shown(ns.name()).unwrap_or(ns.name()).to_string(),
        config: ns.config(),
        policy: ns.store().policy_name(),
        stats: NamespaceStats {
            keys: s.keys,
            bytes: s.bytes,
            capacity_bytes: s.capacity_bytes,
            hits: s.hits,
            misses: s.misses,
            hit_ratio: s.hit_ratio(),
            sets: s.sets,
            evictions: s.evictions,
            expirations: s.expirations,
            policy_shortfalls: s.policy_shortfalls,
            value_bytes_logical: s.value_bytes_plain,
            value_bytes_stored: s.value_bytes_stored,
        },
    }
}

/// `201 Created` with a `Location` header.
fn created(view: &NsView, ns: &Namespace) -> Response {
    let body = info(view, ns);
    let location = format!("/v1/namespaces/{}", body.name);
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    // Names are restricted to URL-safe ASCII, so this cannot fail; skip the header if it ever did.
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

#[utoipa::path(
    get,
    path = "/v1/namespaces",
    tag = "namespaces",
    responses((status = 200, description = "Every namespace with its config and stats", body = NamespaceList))
)]
pub async fn list_namespaces(State(state): State<AppState>, caller: Caller) -> Json<NamespaceList> {
    let view = caller.view();
    let namespaces = view
        .list(&state.namespaces)
        .iter()
        .map(|ns| info(&view, ns))
        .collect();
    Json(NamespaceList { namespaces })
}

/// A tenant's change to its namespace `internal`: plugin references resolved among its own
/// versions, then checked against its quotas. `Ok(None)` for callers of no tenant. The guard
/// returned is held until the change is applied.
fn admit_change<'a>(
    state: &AppState,
    view: &'a NsView,
    internal: &str,
    config: &mut NamespaceConfig,
) -> Result<Option<parking_lot::MutexGuard<'a, ()>>, ApiError> {
    let Some(tenant) = view.tenant() else {
        return Ok(None);
    };
    tenants::resolve_config_refs(tenant, config).map_err(|e| view.localize(e))?;
    let guard = tenant.lock_changes();
    tenants::check_namespace(tenant, &state.namespaces, internal, config)?;
    Ok(Some(guard))
}

/// An operator naming `tenant/name` names a tenant that exists (a tenant's own names are its).
fn check_tenant_exists(state: &AppState, view: &NsView, internal: &str) -> Result<(), ApiError> {
    if view.tenant().is_none()
        && let Some(ns_tenant) = larder_runtime::tenant::split(internal).0
        && state
            .auth
            .as_ref()
            .and_then(|a| a.tenants().get(ns_tenant))
            .is_none()
    {
        return Err(ApiError::bad_request(
            "tenant_not_found",
            format!(
                "there is no tenant {ns_tenant:?} to hold {internal:?}; create it with POST /v1/tenants"
            ),
        ));
    }
    Ok(())
}

#[utoipa::path(
    post,
    path = "/v1/namespaces",
    tag = "namespaces",
    request_body = CreateNamespace,
    responses(
        (status = 201, description = "Created", body = NamespaceInfo),
        (status = 400, description = "bad_json or invalid_config (the message names the field)", body = ErrorBody),
        (status = 409, description = "namespace_exists", body = ErrorBody),
        (status = 503, description = "cluster_unavailable: a cluster member could not get the namespace committed by a quorum in time; this member does not serve it (should the entry still commit when the members are back, every member creates it then)", body = ErrorBody),
    )
)]
pub async fn create_namespace(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(mut request): JsonBody<CreateNamespace>,
) -> Result<Response, ApiError> {
    let view = caller.view();
    let internal = view.name_to_create(&request.name);
    larder_runtime::namespace::check_name(&internal).map_err(|e| view.localize(e))?;
    check_tenant_exists(&state, &view, &internal)?;
    let shared = lock_shared(&state).await;
    let ns = {
        let _admitted = admit_change(&state, &view, &internal, &mut request.config)?;
        state
            .namespaces
            .create(&internal, request.config)
            .map_err(|e| view.localize(e))?
    };
    if let Some((shared, _)) = &shared
        && let Err(e) = shared.commit_put(&internal, &ns.config()).await
    {
        // Made here a moment ago and still empty: undone, so the cluster stays of one mind.
        let _ = state.namespaces.delete(&internal);
        return Err(not_committed(
            e,
            "this member does not serve the namespace; should the change still commit once the \
             members are back, every member creates it then",
        ));
    }
    Ok(created(&view, &ns))
}

#[utoipa::path(
    get,
    path = "/v1/namespaces/{ns}",
    tag = "namespaces",
    params(("ns" = String, Path, description = "Namespace name")),
    responses(
        (status = 200, description = "Config and live stats", body = NamespaceInfo),
        (status = 404, description = "namespace_not_found", body = ErrorBody),
    )
)]
pub async fn get_namespace(
    State(state): State<AppState>,
    path: NsPath,
) -> Result<Json<NamespaceInfo>, ApiError> {
    let ns = path.open(&state)?;
    Ok(Json(info(&path.view, &ns)))
}

#[utoipa::path(
    put,
    path = "/v1/namespaces/{ns}",
    tag = "namespaces",
    params(("ns" = String, Path, description = "Namespace name")),
    request_body(content = NamespaceConfig, description = "The whole new config; omitted fields take their defaults"),
    responses(
        (status = 200, description = "Reconfigured live", body = NamespaceInfo),
        (status = 201, description = "Did not exist; created", body = NamespaceInfo),
        (status = 400, description = "bad_json, invalid_config (the message names the field) or tenant_not_found (an operator's `tenant/name` for no such tenant)", body = ErrorBody),
        (status = 409, description = "experiment_running: the change would replace the policies an experiment's arms run; stop or promote it first", body = ErrorBody),
        (status = 503, description = "cluster_unavailable: a cluster member applied the config but could not commit it to the cluster (no quorum); repeat the request", body = ErrorBody),
    )
)]
pub async fn put_namespace(
    State(state): State<AppState>,
    path: NsPath,
    JsonBody(config): JsonBody<NamespaceConfig>,
) -> Result<Response, ApiError> {
    let name = path.internal()?;
    let shared = lock_shared(&state).await;
    let response = put_here(&state, &path, &name, config)?;
    if let Some((shared, _)) = &shared
        && let Ok(ns) = state.namespaces.get(&name)
        && let Err(e) = shared.commit_put(&name, &ns.config()).await
    {
        return Err(not_committed(
            e,
            "the config is live on this member only: repeat the request to apply it everywhere",
        ));
    }
    Ok(response)
}

/// A `PUT`'s change on this node: reconfigure, or create.
fn put_here(
    state: &AppState,
    path: &NsPath,
    name: &str,
    mut config: NamespaceConfig,
) -> Result<Response, ApiError> {
    let view = &path.view;
    let name = name.to_string();
    let _admitted = admit_change(state, view, &name, &mut config)?;
    let local = |e: NamespaceError| ApiError::from(view.localize(e));
    match state.namespaces.update(&name, config.clone()) {
        Ok(ns) => Ok(Json(info(view, &ns)).into_response()),
        Err(NamespaceError::NotFound(_)) => {
            match check_tenant_exists(state, view, &name).and_then(|()| {
                state
                    .namespaces
                    .create(&name, config.clone())
                    .map_err(local)
            }) {
                Ok(ns) => Ok(created(view, &ns)),
                // Created by a concurrent request in between: apply ours on top, as a PUT should.
                Err(e) if e.code == "namespace_exists" => {
                    let ns = state.namespaces.update(&name, config).map_err(local)?;
                    Ok(Json(info(view, &ns)).into_response())
                }
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(local(e)),
    }
}

#[utoipa::path(
    delete,
    path = "/v1/namespaces/{ns}",
    tag = "namespaces",
    params(("ns" = String, Path, description = "Namespace name")),
    responses(
        (status = 204, description = "Deleted with all its keys"),
        (status = 404, description = "namespace_not_found", body = ErrorBody),
        (status = 409, description = "default_undeletable", body = ErrorBody),
        (status = 503, description = "cluster_unavailable: a cluster member could not get the deletion committed by a quorum in time; nothing was deleted here (should the entry still commit when the members are back, every member deletes it then)", body = ErrorBody),
    )
)]
pub async fn delete_namespace(
    State(state): State<AppState>,
    path: NsPath,
) -> Result<StatusCode, ApiError> {
    let name = path.internal()?;
    let shared = lock_shared(&state).await;
    let mut committed = false;
    if let (Some((shared, _)), Some(cluster)) = (&shared, &state.cluster) {
        let is_default =
            larder_runtime::tenant::split(&name).1 == larder_runtime::namespace::DEFAULT_NAMESPACE;
        // Known here or to the cluster (a member may have failed to create it).
        let known = state.namespaces.get(&name).is_ok()
            || cluster.node.view().namespaces.contains_key(&name);
        if known && !is_default {
            shared.commit_delete(&name).await.map_err(|e| {
                not_committed(
                    e,
                    "nothing was deleted here; should the change still commit once the \
                         members are back, every member deletes it then",
                )
            })?;
            committed = true;
        }
    }
    match state.namespaces.delete(&name) {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        // The reconciler applied the committed deletion first.
        Err(NamespaceError::NotFound(_)) if committed => Ok(StatusCode::NO_CONTENT),
        Err(e) => Err(path.view.localize(e).into()),
    }
}

#[utoipa::path(
    post,
    path = "/v1/namespaces/{ns}/flush",
    tag = "namespaces",
    params(("ns" = String, Path, description = "Namespace name")),
    responses(
        (status = 204, description = "Every key dropped; config and counters kept"),
        (status = 404, description = "namespace_not_found", body = ErrorBody),
    )
)]
pub async fn flush_namespace(
    State(state): State<AppState>,
    ns: NsPath,
) -> Result<StatusCode, ApiError> {
    ns.open(&state)?.store().flush();
    Ok(StatusCode::NO_CONTENT)
}

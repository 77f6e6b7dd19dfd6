//! Admin routes for policy plugins:
//!
//! | route | does |
//! |---|---|
//! | `POST /v1/plugins?name=…&description=…` | upload a module (raw wasm body); returns its version |
//! | `GET /v1/plugins` | every version, with where it is used and its per-hook metrics |
//! | `GET /v1/plugins/{id}` | one version, by id or unique prefix |
//!
//! Versions are immutable and content-addressed (the id is the SHA-256 of the bytes). A namespace
//! uses one by naming it in its config: `"eviction": "plugin:<id>"` (likewise `admission`,
//! `prefetch`, `routing`) via `PUT /v1/namespaces/{ns}`, which hot-swaps it in. Checking and
//! compiling a module takes milliseconds of CPU, so uploads run on the blocking pool.
//!
//! On a cluster member an upload is also committed to the cluster (see
//! [`crate::cluster_plugins`]): every member fetches the module and serves the version.

use std::collections::BTreeMap;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use larder_runtime::PolicyRef;
use larder_runtime::plugin::{HookSnapshot, PluginError, PluginInfo, PluginVersion, version_id};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::extract::{Body, Caller, Query};
use crate::state::AppState;
use crate::tenants::{self, NsView, OwnedPlugin, Tenant};

/// The plugin routes, to merge into the API router.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/plugins", get(list_plugins).post(upload_plugin))
        .route("/v1/plugins/{id}", get(get_plugin))
}

impl From<PluginError> for ApiError {
    fn from(err: PluginError) -> Self {
        let status = match &err {
            PluginError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            PluginError::NotFound(_) => StatusCode::NOT_FOUND,
            PluginError::Ambiguous(_) => StatusCode::CONFLICT,
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError::new(status, err.code(), err.to_string())
    }
}

/// Metadata of an upload.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadParams {
    /// A human name for the plugin (defaults to the id's first 12 digits).
    pub name: Option<String>,
    /// What it does.
    pub description: Option<String>,
}

/// One place a version is in use.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PluginUse {
    pub namespace: String,
    /// "eviction", "admission", "prefetch" or "routing".
    pub hook: String,
}

/// A version, where it is used, and its per-hook metrics.
#[derive(Debug, Serialize, ToSchema)]
pub struct PluginDetails {
    #[serde(flatten)]
    pub info: PluginInfo,
    pub used_by: Vec<PluginUse>,
    /// Per hook the module implements: calls, faults, fallback and quarantine state.
    pub metrics: BTreeMap<String, HookSnapshot>,
}

/// The answer to an upload.
#[derive(Debug, Serialize, ToSchema)]
pub struct UploadedPlugin {
    #[serde(flatten)]
    pub info: PluginInfo,
    /// False when these exact bytes had been uploaded before (the existing version is returned).
    pub created: bool,
}

/// Every version.
#[derive(Debug, Serialize, ToSchema)]
pub struct PluginList {
    pub plugins: Vec<PluginDetails>,
}

/// A version as `tenant` sees it: under the name and upload time it gave it.
fn info_for(tenant: Option<&Tenant>, version: &PluginVersion) -> PluginInfo {
    let mut info = version.info();
    if let Some(own) = tenant.and_then(|t| t.plugin(&version.id)) {
        info.name = own.name;
        info.description = own.description;
        info.uploaded_at_unix_ms = own.uploaded_at_unix_ms;
    }
    info
}

fn details(state: &AppState, view: &NsView, version: &PluginVersion) -> PluginDetails {
    let used_by = state
        .namespaces
        .plugin_usage(&version.id)
        .into_iter()
        .filter_map(|(namespace, hook)| {
            Some(PluginUse {
                namespace: view.shown(&namespace)?.to_string(),
                hook: hook.as_str().to_string(),
            })
        })
        .collect();
    // A version's hook counters add up every namespace that runs it, other tenants' too; a
    // tenant reads its own namespaces' plugin numbers from /metrics instead.
    let metrics = version
        .hooks
        .iter()
        .filter(|_| view.tenant().is_none())
        .map(|hook| (hook.as_str().to_string(), version.metrics().snapshot(hook)))
        .collect();
    PluginDetails {
        info: info_for(view.tenant().map(|t| &**t), version),
        used_by,
        metrics,
    }
}

#[utoipa::path(
    post,
    path = "/v1/plugins",
    tag = "plugins",
    params(UploadParams),
    request_body(content = Vec<u8>, content_type = "application/wasm", description = "The compiled module (.wasm)"),
    responses(
        (status = 201, description = "Uploaded: a new version", body = UploadedPlugin),
        (status = 200, description = "These bytes were uploaded before: the existing version", body = UploadedPlugin),
        (status = 400, description = "Refused, the message says why: invalid_module, missing_export, bad_export, unknown_import, unsupported_abi, bad_hooks, over_limits, plugin_start_failed", body = ErrorBody),
        (status = 413, description = "module_too_large", body = ErrorBody),
        (status = 503, description = "cluster_unavailable: a cluster member could not get the version committed by a quorum in time; this member serves it, the others do not yet (uploading the same bytes again commits it)", body = ErrorBody),
    )
)]
pub async fn upload_plugin(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<UploadParams>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let plugins = state.namespaces.plugins().clone();
    let name = params.name.unwrap_or_default();
    let description = params.description.unwrap_or_default();
    let tenant = caller.tenant().cloned();
    let uploaded = tokio::task::spawn_blocking(move || {
        // A tenant's upload: checked against its quotas, then owned by it. Whether another
        // tenant uploaded the same bytes is not the caller's to learn: the answer says
        // "created" when the version is new *to this tenant*.
        let Some(tenant) = tenant else {
            return plugins
                .upload(&body, &name, &description)
                .map(|u| Ok((u.version, u.created, None)));
        };
        let id = version_id(&body);
        let _one = tenant.lock_changes();
        if let Err(e) = tenants::check_plugin_upload(&tenant, &plugins, &id, body.len()) {
            return Ok(Err(e));
        }
        let uploaded = plugins.upload(&body, &name, &description)?;
        // The tenant's own name for it (the shared version may carry another uploader's); kept
        // from its first upload when it owned the bytes already.
        let meta = OwnedPlugin {
            name: if name.is_empty() {
                id[..12].to_string()
            } else {
                name
            },
            description,
            uploaded_at_unix_ms: larder_runtime::persist::unix_now_ms(),
        };
        let created = tenant.add_plugin(&id, meta);
        drop(_one);
        Ok(Ok((uploaded.version, created, Some(tenant))))
    })
    .await
    .map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("upload task failed: {e}"),
        )
    })???;
    let (version, created, tenant) = uploaded;
    // On a cluster member the version is the cluster's: every member fetches it (also when
    // these bytes were here already, so retrying an upload that was not committed commits it).
    if let Some(cluster) = &state.cluster
        && let Err(e) = crate::cluster_plugins::commit_upload(&cluster.node, &version).await
    {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "cluster_unavailable",
            format!(
                "{e}; this member serves the version, the others do not yet: upload the same \
                 bytes again to commit it"
            ),
        ));
    }
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let body = UploadedPlugin {
        info: info_for(tenant.as_deref(), &version),
        created,
    };
    Ok((status, Json(body)).into_response())
}

#[utoipa::path(
    get,
    path = "/v1/plugins",
    tag = "plugins",
    responses((status = 200, description = "Every version, oldest first", body = PluginList))
)]
pub async fn list_plugins(State(state): State<AppState>, caller: Caller) -> Json<PluginList> {
    let view = caller.view();
    let plugins = state
        .namespaces
        .plugins()
        .list()
        .iter()
        .filter(|v| caller.tenant().is_none_or(|t| t.owns_plugin(&v.id)))
        .map(|v| details(&state, &view, v))
        .collect();
    Json(PluginList { plugins })
}

#[utoipa::path(
    get,
    path = "/v1/plugins/{id}",
    tag = "plugins",
    params(("id" = String, Path, description = "Version id, or a unique prefix of at least 8 hex digits")),
    responses(
        (status = 200, description = "The version", body = PluginDetails),
        (status = 404, description = "plugin_not_found", body = ErrorBody),
        (status = 409, description = "ambiguous_plugin_id: the prefix matches several versions", body = ErrorBody),
    )
)]
pub async fn get_plugin(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<PluginDetails>, ApiError> {
    let id = match caller.tenant() {
        None => id,
        // Among the tenant's own versions only: another's answers as a missing one.
        Some(tenant) => {
            let mut r = PolicyRef::plugin(id);
            tenants::resolve_ref(tenant, &mut r)?;
            r.as_plugin().unwrap_or_default().to_string()
        }
    };
    let version = state.namespaces.plugins().get(&id)?;
    Ok(Json(details(&state, &caller.view(), &version)))
}

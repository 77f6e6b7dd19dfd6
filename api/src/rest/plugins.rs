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

use std::collections::BTreeMap;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use larder_runtime::plugin::{HookSnapshot, PluginError, PluginInfo, PluginVersion};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::extract::{Body, Query};
use crate::state::AppState;

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

fn details(state: &AppState, version: &PluginVersion) -> PluginDetails {
    let used_by = state
        .namespaces
        .plugin_usage(&version.id)
        .into_iter()
        .map(|(namespace, hook)| PluginUse {
            namespace,
            hook: hook.as_str().to_string(),
        })
        .collect();
    let metrics = version
        .hooks
        .iter()
        .map(|hook| (hook.as_str().to_string(), version.metrics().snapshot(hook)))
        .collect();
    PluginDetails {
        info: version.info(),
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
    )
)]
pub async fn upload_plugin(
    State(state): State<AppState>,
    Query(params): Query<UploadParams>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let plugins = state.namespaces.plugins().clone();
    let name = params.name.unwrap_or_default();
    let description = params.description.unwrap_or_default();
    let uploaded = tokio::task::spawn_blocking(move || plugins.upload(&body, &name, &description))
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                format!("upload task failed: {e}"),
            )
        })??;
    let status = if uploaded.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let body = UploadedPlugin {
        info: uploaded.version.info(),
        created: uploaded.created,
    };
    Ok((status, Json(body)).into_response())
}

#[utoipa::path(
    get,
    path = "/v1/plugins",
    tag = "plugins",
    responses((status = 200, description = "Every version, oldest first", body = PluginList))
)]
pub async fn list_plugins(State(state): State<AppState>) -> Json<PluginList> {
    let plugins = state
        .namespaces
        .plugins()
        .list()
        .iter()
        .map(|v| details(&state, v))
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
    Path(id): Path<String>,
) -> Result<Json<PluginDetails>, ApiError> {
    let version = state.namespaces.plugins().get(&id)?;
    Ok(Json(details(&state, &version)))
}

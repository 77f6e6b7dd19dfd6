//! Admin routes for policy experiments on a namespace:
//!
//! | route | does |
//! |---|---|
//! | `PUT /v1/namespaces/{ns}/experiment` | start an A/B experiment (replaces a running one) |
//! | `GET /v1/namespaces/{ns}/experiment` | per-arm numbers, the 95 % interval and the verdict |
//! | `POST /v1/namespaces/{ns}/experiment/promote` | make an arm (default: the winner) the policy |
//! | `DELETE /v1/namespaces/{ns}/experiment` | stop; every shard returns to the namespace policy |
//! | `PUT/GET/DELETE /v1/namespaces/{ns}/shadow` | shadow evaluation of candidates on ghost caches |
//!
//! Starting, promoting and stopping swap policies shard by shard (each new instance is replayed the
//! shard's resident keys), which is work proportional to the cache's size, so it runs on the
//! blocking pool rather than on a request worker.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{post, put};
use larder_runtime::experiment::{
    self, ExperimentError, ExperimentReport, ExperimentSpec, Promotion, ShadowReport, ShadowSpec,
};
use serde::Deserialize;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::extract::{Body, JsonBody, NsPath};
use crate::state::AppState;
use crate::tenants;

/// The experiment and shadow routes, to merge into the API router.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/namespaces/{ns}/experiment",
            put(start_experiment)
                .get(get_experiment)
                .delete(stop_experiment),
        )
        .route(
            "/v1/namespaces/{ns}/experiment/promote",
            post(promote_experiment),
        )
        .route(
            "/v1/namespaces/{ns}/shadow",
            put(start_shadow).get(get_shadow).delete(stop_shadow),
        )
}

impl From<ExperimentError> for ApiError {
    fn from(err: ExperimentError) -> Self {
        let status = match &err {
            ExperimentError::Namespace(e) => return ApiError::from(e.clone()),
            ExperimentError::Invalid(_)
            | ExperimentError::InvalidShadow(_)
            | ExperimentError::UnknownArm(_) => StatusCode::BAD_REQUEST,
            ExperimentError::NotRunning(_) | ExperimentError::NoShadow(_) => StatusCode::NOT_FOUND,
        };
        ApiError::new(status, err.code(), err.to_string())
    }
}

/// Run a lab operation on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ExperimentError> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result.map_err(ApiError::from),
        Err(e) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("experiment task failed: {e}"),
        )),
    }
}

#[utoipa::path(
    put,
    path = "/v1/namespaces/{ns}/experiment",
    tag = "experiments",
    params(("ns" = String, Path, description = "Namespace name")),
    request_body = ExperimentSpec,
    responses(
        (status = 200, description = "Started; the (empty) report", body = ExperimentReport),
        (status = 400, description = "bad_json or invalid_experiment (weights, shard count, policy)", body = ErrorBody),
        (status = 404, description = "namespace_not_found", body = ErrorBody),
    )
)]
pub async fn start_experiment(
    State(state): State<AppState>,
    ns: NsPath,
    JsonBody(mut spec): JsonBody<ExperimentSpec>,
) -> Result<Json<ExperimentReport>, ApiError> {
    let name = ns.internal()?;
    if let Some(tenant) = ns.view.tenant() {
        tenants::resolve_experiment_refs(tenant, &mut spec).map_err(|e| ns.local(e))?;
    }
    let namespaces = state.namespaces.clone();
    blocking(move || experiment::start(&namespaces, &name, spec))
        .await
        .map(Json)
        .map_err(|e| ns.local(e))
}

#[utoipa::path(
    get,
    path = "/v1/namespaces/{ns}/experiment",
    tag = "experiments",
    params(("ns" = String, Path, description = "Namespace name")),
    responses(
        (status = 200, description = "Per-arm numbers and the verdict", body = ExperimentReport),
        (status = 404, description = "namespace_not_found or no_experiment", body = ErrorBody),
    )
)]
pub async fn get_experiment(
    State(state): State<AppState>,
    ns: NsPath,
) -> Result<Json<ExperimentReport>, ApiError> {
    experiment::report(&state.namespaces, &ns.internal()?)
        .map(Json)
        .map_err(|e| ns.local(e))
}

/// The body of a promotion; empty (or `{}`) promotes the verdict's winner.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PromoteRequest {
    /// The arm to promote; omitted: the winner, refused while there is none.
    pub arm: Option<String>,
}

#[utoipa::path(
    post,
    path = "/v1/namespaces/{ns}/experiment/promote",
    tag = "experiments",
    params(("ns" = String, Path, description = "Namespace name")),
    request_body(content = Option<PromoteRequest>, description = "Which arm; empty for the winner"),
    responses(
        (status = 200, description = "Promoted; the namespace's config names the arm's policy", body = Promotion),
        (status = 400, description = "bad_json, unknown_arm, or invalid_experiment (no winner yet)", body = ErrorBody),
        (status = 404, description = "namespace_not_found or no_experiment", body = ErrorBody),
    )
)]
pub async fn promote_experiment(
    State(state): State<AppState>,
    ns: NsPath,
    Body(body): Body,
) -> Result<Json<Promotion>, ApiError> {
    // No body, `null` and `{}` all mean "the winner".
    let request: PromoteRequest = if body.iter().all(u8::is_ascii_whitespace) {
        PromoteRequest::default()
    } else {
        serde_json::from_slice::<Option<PromoteRequest>>(&body)
            .map_err(|e| ApiError::bad_json(e.to_string()))?
            .unwrap_or_default()
    };
    let name = ns.internal()?;
    let namespaces = state.namespaces.clone();
    blocking(move || experiment::promote(&namespaces, &name, request.arm.as_deref()))
        .await
        .map(Json)
        .map_err(|e| ns.local(e))
}

#[utoipa::path(
    delete,
    path = "/v1/namespaces/{ns}/experiment",
    tag = "experiments",
    params(("ns" = String, Path, description = "Namespace name")),
    responses(
        (status = 200, description = "Stopped; the final numbers", body = ExperimentReport),
        (status = 404, description = "namespace_not_found or no_experiment", body = ErrorBody),
    )
)]
pub async fn stop_experiment(
    State(state): State<AppState>,
    ns: NsPath,
) -> Result<Json<ExperimentReport>, ApiError> {
    let name = ns.internal()?;
    let namespaces = state.namespaces.clone();
    blocking(move || experiment::stop(&namespaces, &name))
        .await
        .map(Json)
        .map_err(|e| ns.local(e))
}

#[utoipa::path(
    put,
    path = "/v1/namespaces/{ns}/shadow",
    tag = "experiments",
    params(("ns" = String, Path, description = "Namespace name")),
    request_body = ShadowSpec,
    responses(
        (status = 200, description = "Started (replaces a running one)", body = ShadowReport),
        (status = 400, description = "bad_json or invalid_shadow", body = ErrorBody),
        (status = 404, description = "namespace_not_found", body = ErrorBody),
    )
)]
pub async fn start_shadow(
    State(state): State<AppState>,
    ns: NsPath,
    JsonBody(mut spec): JsonBody<ShadowSpec>,
) -> Result<Json<ShadowReport>, ApiError> {
    let name = ns.internal()?;
    if let Some(tenant) = ns.view.tenant() {
        tenants::resolve_shadow_refs(tenant, &mut spec).map_err(|e| ns.local(e))?;
    }
    let namespaces = state.namespaces.clone();
    blocking(move || experiment::start_shadow(&namespaces, &name, spec))
        .await
        .map(Json)
        .map_err(|e| ns.local(e))
}

#[utoipa::path(
    get,
    path = "/v1/namespaces/{ns}/shadow",
    tag = "experiments",
    params(("ns" = String, Path, description = "Namespace name")),
    responses(
        (status = 200, description = "Each candidate's estimated hit ratio beside the live one", body = ShadowReport),
        (status = 404, description = "namespace_not_found or no_shadow", body = ErrorBody),
    )
)]
pub async fn get_shadow(
    State(state): State<AppState>,
    ns: NsPath,
) -> Result<Json<ShadowReport>, ApiError> {
    experiment::shadow_report(&state.namespaces, &ns.internal()?)
        .map(Json)
        .map_err(|e| ns.local(e))
}

#[utoipa::path(
    delete,
    path = "/v1/namespaces/{ns}/shadow",
    tag = "experiments",
    params(("ns" = String, Path, description = "Namespace name")),
    responses(
        (status = 200, description = "Stopped; the final estimates", body = ShadowReport),
        (status = 404, description = "namespace_not_found or no_shadow", body = ErrorBody),
    )
)]
pub async fn stop_shadow(
    State(state): State<AppState>,
    ns: NsPath,
) -> Result<Json<ShadowReport>, ApiError> {
    experiment::stop_shadow(&state.namespaces, &ns.internal()?)
        .map(Json)
        .map_err(|e| ns.local(e))
}

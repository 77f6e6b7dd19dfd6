//! Admin routes for alerting: the rules (`GET/POST /v1/alerts/rules`,
//! `DELETE /v1/alerts/rules/{name}`) and the alerts themselves (`GET /v1/alerts`: firing and
//! recently resolved, plus each notifier's delivery status).
//!
//! The routes carry the [`AlertEngine`] as their own state, so the engine stays optional for
//! whoever builds an [`crate::state::AppState`] without alerting (tests of other front ends).

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use larder_runtime::alert::{Alert, AlertEngine, AlertError, AlertList, AlertRule, NotifierStatus};
use serde::Serialize;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::extract::JsonBody;

/// What `GET /v1/alerts` returns.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertsOverview {
    /// Firing alerts, by rule then namespace.
    pub active: Vec<Alert>,
    /// Resolved alerts, newest first (bounded by `alerts.recent_limit`).
    pub recent: Vec<Alert>,
    /// Every configured notifier with what it has sent, failed and dropped.
    pub notifiers: Vec<NotifierStatus>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AlertRuleList {
    pub rules: Vec<AlertRule>,
}

impl From<AlertError> for ApiError {
    fn from(err: AlertError) -> Self {
        let status = match err {
            AlertError::InvalidRule { .. } | AlertError::InvalidNotifier { .. } => {
                StatusCode::BAD_REQUEST
            }
            AlertError::UnknownNamespace(_) => StatusCode::BAD_REQUEST,
            AlertError::DuplicateRule(_) => StatusCode::CONFLICT,
            AlertError::UnknownRule(_) => StatusCode::NOT_FOUND,
        };
        ApiError::new(status, err.code(), err.to_string())
    }
}

/// The alert routes, ready to merge into the application router.
pub fn router<S: Clone + Send + Sync + 'static>(
    engine: Arc<AlertEngine>,
    max_body_bytes: usize,
) -> Router<S> {
    Router::new()
        .route("/v1/alerts", get(list_alerts))
        .route("/v1/alerts/rules", get(list_rules).post(create_rule))
        .route("/v1/alerts/rules/{name}", delete(delete_rule))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(engine)
}

#[utoipa::path(
    get,
    path = "/v1/alerts",
    tag = "alerts",
    responses((status = 200, description = "Firing alerts, recently resolved ones (newest first) and notifier status", body = AlertsOverview))
)]
pub async fn list_alerts(State(engine): State<Arc<AlertEngine>>) -> Json<AlertsOverview> {
    let AlertList { active, recent } = engine.alerts();
    Json(AlertsOverview {
        active,
        recent,
        notifiers: engine.notifiers(),
    })
}

#[utoipa::path(
    get,
    path = "/v1/alerts/rules",
    tag = "alerts",
    responses((status = 200, description = "Every alert rule, in the order they were added", body = AlertRuleList))
)]
pub async fn list_rules(State(engine): State<Arc<AlertEngine>>) -> Json<AlertRuleList> {
    Json(AlertRuleList {
        rules: engine.rules(),
    })
}

#[utoipa::path(
    post,
    path = "/v1/alerts/rules",
    tag = "alerts",
    request_body = AlertRule,
    responses(
        (status = 201, description = "Added; judged from the next evaluation on", body = AlertRule),
        (status = 400, description = "bad_json, invalid_alert_rule (the message names the field) or namespace_not_found", body = ErrorBody),
        (status = 409, description = "alert_rule_exists", body = ErrorBody),
    )
)]
pub async fn create_rule(
    State(engine): State<Arc<AlertEngine>>,
    JsonBody(rule): JsonBody<AlertRule>,
) -> Result<Response, ApiError> {
    engine.add_rule(rule.clone())?;
    Ok((StatusCode::CREATED, Json(rule)).into_response())
}

#[utoipa::path(
    delete,
    path = "/v1/alerts/rules/{name}",
    tag = "alerts",
    params(("name" = String, Path, description = "Rule name")),
    responses(
        (status = 204, description = "Deleted; its firing alerts resolve (and notify) on the next evaluation"),
        (status = 404, description = "alert_rule_not_found", body = ErrorBody),
    )
)]
pub async fn delete_rule(
    State(engine): State<Arc<AlertEngine>>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    engine.remove_rule(&name)?;
    Ok(StatusCode::NO_CONTENT)
}

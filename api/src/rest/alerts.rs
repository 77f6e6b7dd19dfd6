//! Admin routes for alerting: the rules (`GET/POST /v1/alerts/rules`,
//! `DELETE /v1/alerts/rules/{name}`) and the alerts themselves (`GET /v1/alerts`: firing and
//! recently resolved, plus each notifier's delivery status).
//!
//! The routes carry the [`AlertEngine`] as their own state, so the engine stays optional for
//! whoever builds an [`crate::state::AppState`] without alerting (tests of other front ends).
//!
//! A tenant's caller sees and changes only its own rules and their alerts, under its own names:
//! its rule `cold` on `carts` is `acme/cold` on `acme/carts` to the engine and the operator
//! (see [`larder_runtime::alert::rule`]). Another tenant's rule answers exactly as a missing one.
//! The node's notifiers are the operator's; a tenant's rules notify their own webhooks only, and
//! the tenant sees only those webhooks' status.

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
use super::extract::{Caller, JsonBody};
use crate::tenants::NsView;

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

/// How a caller names rules and the namespaces they watch: a rule's name follows the namespace
/// naming rule (`acme/cold`), so the namespace view does both.
struct RuleView(NsView);

impl RuleView {
    fn tenant(&self) -> Option<&str> {
        self.0.tenant_name()
    }

    /// Whether the caller may see what the engine calls `internal` (a rule's name).
    fn sees(&self, internal: &str) -> bool {
        self.0.shown(internal).is_some()
    }

    /// The engine's name of the caller's rule `shown`; `None` when no rule of the caller could
    /// be named so (a tenant's name never holds a `/`).
    fn internal(&self, shown: &str) -> Option<String> {
        self.0.internal(shown).ok().map(|name| name.into_owned())
    }

    /// The caller's name for what the engine calls `internal` (a rule or a namespace the caller
    /// sees).
    fn shown(&self, internal: &str) -> String {
        self.0.shown(internal).unwrap_or(internal).to_string()
    }

    fn rule(&self, mut rule: AlertRule) -> AlertRule {
        rule.name = self.shown(&rule.name);
        rule.namespace = rule.namespace.map(|ns| self.shown(&ns));
        rule
    }

    fn alert(&self, mut alert: Alert) -> Alert {
        alert.rule = self.shown(&alert.rule);
        alert.namespace = self.shown(&alert.namespace);
        alert
    }

    /// The engine's error in the caller's names.
    fn error(&self, err: AlertError) -> ApiError {
        ApiError::from(match err {
            AlertError::DuplicateRule(name) => AlertError::DuplicateRule(self.shown(&name)),
            AlertError::UnknownRule(name) => AlertError::UnknownRule(self.shown(&name)),
            AlertError::UnknownNamespace(ns) => AlertError::UnknownNamespace(self.shown(&ns)),
            other => other,
        })
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
    responses((status = 200, description = "Firing alerts, recently resolved ones (newest first) and notifier status; a tenant sees its own rules' alerts and webhooks only", body = AlertsOverview))
)]
pub async fn list_alerts(
    State(engine): State<Arc<AlertEngine>>,
    caller: Caller,
) -> Json<AlertsOverview> {
    let view = RuleView(caller.view());
    let AlertList { active, recent } = engine.alerts();
    let mine = |alerts: Vec<Alert>| -> Vec<Alert> {
        alerts
            .into_iter()
            .filter(|a| view.sees(&a.rule))
            .map(|a| view.alert(a))
            .collect()
    };
    let notifiers = engine
        .notifiers()
        .into_iter()
        .filter(|n| {
            view.tenant().is_none() || n.rule.as_deref().is_some_and(|rule| view.sees(rule))
        })
        .map(|mut n| {
            n.rule = n.rule.map(|rule| view.shown(&rule));
            n
        })
        .collect();
    Json(AlertsOverview {
        active: mine(active),
        recent: mine(recent),
        notifiers,
    })
}

#[utoipa::path(
    get,
    path = "/v1/alerts/rules",
    tag = "alerts",
    responses((status = 200, description = "Every alert rule the caller may see, in the order they were added", body = AlertRuleList))
)]
pub async fn list_rules(
    State(engine): State<Arc<AlertEngine>>,
    caller: Caller,
) -> Json<AlertRuleList> {
    let view = RuleView(caller.view());
    Json(AlertRuleList {
        rules: engine
            .rules()
            .into_iter()
            .filter(|r| view.sees(&r.name))
            .map(|r| view.rule(r))
            .collect(),
    })
}

#[utoipa::path(
    post,
    path = "/v1/alerts/rules",
    tag = "alerts",
    request_body = AlertRule,
    responses(
        (status = 201, description = "Added; judged from the next evaluation on", body = AlertRule),
        (status = 400, description = "bad_json, invalid_alert_rule (the message names the field), namespace_not_found, or webhook_not_allowed (a tenant's webhook at a private address)", body = ErrorBody),
        (status = 409, description = "alert_rule_exists", body = ErrorBody),
        (status = 429, description = "quota_exceeded: the tenant holds max_alert_rules rules", body = ErrorBody),
    )
)]
pub async fn create_rule(
    State(engine): State<Arc<AlertEngine>>,
    caller: Caller,
    JsonBody(rule): JsonBody<AlertRule>,
) -> Result<Response, ApiError> {
    let view = RuleView(caller.view());
    let Some(tenant) = caller.tenant() else {
        engine.add_rule(rule.clone())?;
        return Ok((StatusCode::CREATED, Json(rule)).into_response());
    };
    let namespace = match &rule.namespace {
        Some(shown) => Some(
            view.0
                .internal(shown)
                .map_err(|_| view.error(AlertError::UnknownNamespace(shown.clone())))?
                .into_owned(),
        ),
        None => None,
    };
    let internal = AlertRule {
        name: view.0.name_to_create(&rule.name),
        namespace,
        ..rule
    };
    internal.validate()?;
    let _one_change = tenant.lock_changes();
    let held = engine
        .rules()
        .iter()
        .filter(|r| r.owner() == Some(tenant.name()))
        .count();
    crate::tenants::check_alert_rule(tenant, held, internal.webhook.as_deref())?;
    engine
        .add_rule(internal.clone())
        .map_err(|e| view.error(e))?;
    Ok((StatusCode::CREATED, Json(view.rule(internal))).into_response())
}

#[utoipa::path(
    delete,
    path = "/v1/alerts/rules/{name}",
    tag = "alerts",
    params(("name" = String, Path, description = "Rule name (an operator names a tenant's rule tenant/rule)")),
    responses(
        (status = 204, description = "Deleted; its firing alerts resolve (and notify) on the next evaluation"),
        (status = 404, description = "alert_rule_not_found", body = ErrorBody),
    )
)]
pub async fn delete_rule(
    State(engine): State<Arc<AlertEngine>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    let view = RuleView(caller.view());
    let internal = view
        .internal(&name)
        .ok_or_else(|| ApiError::from(AlertError::UnknownRule(name.clone())))?;
    engine.remove_rule(&internal).map_err(|e| view.error(e))?;
    Ok(StatusCode::NO_CONTENT)
}

//! Operator routes for tenants: `GET/POST /v1/tenants`, `GET/PUT/DELETE /v1/tenants/{name}`.
//!
//! Making a tenant makes its `default` namespace (sized to fit its capacity quota); deleting one
//! deletes every namespace it holds, revokes its keys (open RESP sessions lose their rights
//! before their next command) and gives up its ownership of plugin versions. A tenant's own
//! keys never reach these routes (`403 operator_only`, see [`super::auth`]).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use larder_runtime::tenant::{TenantQuotas, full_name};
use larder_runtime::{DEFAULT_NAMESPACE, NamespaceConfig};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::api_keys::auth_of;
use super::error::{ApiError, ErrorBody};
use super::extract::JsonBody;
use crate::state::AppState;
use crate::tenants::{Tenant, TenantError};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/tenants", get(list_tenants).post(create_tenant))
        .route(
            "/v1/tenants/{name}",
            get(get_tenant).put(put_tenant).delete(delete_tenant),
        )
}

impl From<TenantError> for ApiError {
    fn from(err: TenantError) -> Self {
        let (status, code) = match &err {
            TenantError::InvalidName | TenantError::InvalidQuota { .. } => {
                (StatusCode::BAD_REQUEST, "invalid_tenant")
            }
            TenantError::Exists(_) => (StatusCode::CONFLICT, "tenant_exists"),
            TenantError::NotFound(_) => (StatusCode::NOT_FOUND, "tenant_not_found"),
            TenantError::TooMany => (StatusCode::CONFLICT, "too_many_tenants"),
        };
        ApiError::new(status, code, err.to_string())
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    #[schema(
        example = "acme",
        min_length = 1,
        max_length = 32,
        pattern = "^[a-z0-9_-]+$"
    )]
    pub name: String,
    /// Omitted fields (or an omitted `quotas`) take their defaults.
    #[serde(default)]
    pub quotas: TenantQuotas,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTenant {
    /// The whole new quota set; lowering one below what the tenant holds keeps what it holds
    /// and refuses what would add to it.
    pub quotas: TenantQuotas,
}

/// What a tenant uses now, beside its quotas.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantUsage {
    pub namespaces: u64,
    pub capacity_bytes: u64,
    pub plugins: u64,
    pub plugin_bytes: u64,
    pub connections: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TenantView {
    pub name: String,
    pub created_unix_ms: u64,
    pub quotas: TenantQuotas,
    pub usage: TenantUsage,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TenantList {
    pub tenants: Vec<TenantView>,
}

fn view(state: &AppState, tenant: &Tenant) -> TenantView {
    let namespaces = state.namespaces.list_tenant(Some(tenant.name()));
    let plugins = tenant.plugins();
    let plugin_bytes = plugins
        .iter()
        .filter_map(|id| state.namespaces.plugins().get(id).ok())
        .map(|v| v.size_bytes as u64)
        .sum();
    TenantView {
        name: tenant.name().to_string(),
        created_unix_ms: tenant.created_unix_ms(),
        quotas: tenant.quotas(),
        usage: TenantUsage {
            namespaces: namespaces.len() as u64,
            capacity_bytes: namespaces.iter().map(|n| n.config().capacity_bytes).sum(),
            plugins: plugins.len() as u64,
            plugin_bytes,
            connections: tenant.connections(),
        },
    }
}

#[utoipa::path(
    post,
    path = "/v1/tenants",
    tag = "tenants",
    request_body = CreateTenant,
    responses(
        (status = 201, description = "Made, with its default namespace", body = TenantView),
        (status = 400, description = "bad_json or invalid_tenant (name or quotas)", body = ErrorBody),
        (status = 409, description = "tenant_exists, too_many_tenants or auth_disabled", body = ErrorBody),
    )
)]
pub async fn create_tenant(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<CreateTenant>,
) -> Result<Response, ApiError> {
    let auth = auth_of(&state)?;
    let capacity = NamespaceConfig::default()
        .capacity_bytes
        .min(body.quotas.max_capacity_bytes);
    let default = NamespaceConfig {
        capacity_bytes: capacity,
        ..Default::default()
    };
    default.validate().map_err(|e| {
        ApiError::bad_request(
            "invalid_tenant",
            format!("max_capacity_bytes is too small for the tenant's default namespace: {e}"),
        )
    })?;
    let tenant = auth.tenants().create(&body.name, body.quotas)?;
    if let Err(e) = state
        .namespaces
        .create(&full_name(tenant.name(), DEFAULT_NAMESPACE), default)
    {
        auth.remove_tenant(tenant.name());
        return Err(e.into());
    }
    tracing::info!(tenant = %tenant.name(), "tenant created");
    Ok((StatusCode::CREATED, Json(view(&state, &tenant))).into_response())
}

#[utoipa::path(
    get,
    path = "/v1/tenants",
    tag = "tenants",
    responses(
        (status = 200, description = "Every tenant, by name, with its quotas and usage", body = TenantList),
        (status = 409, description = "auth_disabled", body = ErrorBody),
    )
)]
pub async fn list_tenants(State(state): State<AppState>) -> Result<Json<TenantList>, ApiError> {
    let auth = auth_of(&state)?;
    Ok(Json(TenantList {
        tenants: auth
            .tenants()
            .list()
            .iter()
            .map(|t| view(&state, t))
            .collect(),
    }))
}

fn find(state: &AppState, name: &str) -> Result<std::sync::Arc<Tenant>, ApiError> {
    auth_of(state)?
        .tenants()
        .get(name)
        .ok_or_else(|| TenantError::NotFound(name.to_string()).into())
}

#[utoipa::path(
    get,
    path = "/v1/tenants/{name}",
    tag = "tenants",
    params(("name" = String, Path, description = "Tenant name")),
    responses(
        (status = 200, description = "Quotas and usage", body = TenantView),
        (status = 404, description = "tenant_not_found", body = ErrorBody),
        (status = 409, description = "auth_disabled", body = ErrorBody),
    )
)]
pub async fn get_tenant(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<TenantView>, ApiError> {
    let tenant = find(&state, &name)?;
    Ok(Json(view(&state, &tenant)))
}

#[utoipa::path(
    put,
    path = "/v1/tenants/{name}",
    tag = "tenants",
    params(("name" = String, Path, description = "Tenant name")),
    request_body = UpdateTenant,
    responses(
        (status = 200, description = "Quotas replaced; the rate applies from the next operation", body = TenantView),
        (status = 400, description = "bad_json or invalid_tenant", body = ErrorBody),
        (status = 404, description = "tenant_not_found", body = ErrorBody),
        (status = 409, description = "auth_disabled", body = ErrorBody),
    )
)]
pub async fn put_tenant(
    State(state): State<AppState>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<UpdateTenant>,
) -> Result<Json<TenantView>, ApiError> {
    let auth = auth_of(&state)?;
    let tenant = auth.tenants().set_quotas(&name, body.quotas)?;
    Ok(Json(view(&state, &tenant)))
}

#[utoipa::path(
    delete,
    path = "/v1/tenants/{name}",
    tag = "tenants",
    params(("name" = String, Path, description = "Tenant name")),
    responses(
        (status = 204, description = "Deleted with its namespaces, keys and alert rules"),
        (status = 404, description = "tenant_not_found", body = ErrorBody),
        (status = 409, description = "auth_disabled", body = ErrorBody),
    )
)]
pub async fn delete_tenant(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    let auth = auth_of(&state)?;
    let tenant = auth
        .remove_tenant(&name)
        .ok_or_else(|| ApiError::from(TenantError::NotFound(name.clone())))?;
    let namespaces = state.namespaces.delete_tenant(tenant.name());
    let alert_rules = state
        .alerts
        .as_ref()
        .map_or(0, |alerts| alerts.remove_tenant_rules(tenant.name()));
    tracing::info!(tenant = %name, namespaces, alert_rules, "tenant deleted");
    Ok(StatusCode::NO_CONTENT)
}

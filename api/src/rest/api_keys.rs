//! Admin routes for credentials: API keys (`GET/POST /v1/api-keys`, `GET/DELETE
//! /v1/api-keys/{id}`) and the TLS certificate reload (`POST /v1/admin/tls/reload`).
//!
//! A key's text is in the answer to its creation and nowhere else, ever: the node keeps its
//! hash. With authentication off (no operator key) the key routes answer `409 auth_disabled`, so
//! nobody makes keys believing they protect something.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use std::sync::Arc;

use super::extract::{Caller, JsonBody};
use crate::auth::{ApiKeyError, ApiKeyInfo, Auth, Scope};
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/api-keys", get(list_api_keys).post(create_api_key))
        .route("/v1/api-keys/{id}", get(get_api_key).delete(revoke_api_key))
        .route("/v1/admin/tls/reload", post(reload_tls))
}

/// What `POST /v1/api-keys` takes.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    /// What the key is for; shown in lists and as the RESP user (`ACL WHOAMI`, NOPERM errors).
    #[schema(
        example = "checkout-service",
        min_length = 1,
        max_length = 64,
        pattern = "^[A-Za-z0-9._@-]+$"
    )]
    pub name: String,
    /// `read`, `write` (implies read) or `admin` (implies both); the highest one listed counts.
    #[schema(example = json!(["write"]), min_items = 1)]
    pub scopes: Vec<ScopeName>,
    /// Operations per second the key may use, shared by all its connections; none: unlimited.
    #[serde(default)]
    pub rate_limit: Option<RateLimitBody>,
    /// The tenant the key belongs to (operators only; a tenant's key makes keys of its own
    /// tenant). Omitted: an operator-level key, or the caller's tenant.
    #[serde(default)]
    #[schema(example = "acme")]
    pub tenant: Option<String>,
}

/// A rate limit: `per_second` on average, up to `burst` at once.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimitBody {
    #[schema(minimum = 1, maximum = 100000000, example = 1000)]
    pub per_second: u32,
    #[schema(minimum = 1, maximum = 100000000, example = 100)]
    pub burst: u32,
}

/// A scope, as the API spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ScopeName {
    Read,
    Write,
    Admin,
}

impl From<ScopeName> for Scope {
    fn from(s: ScopeName) -> Self {
        match s {
            ScopeName::Read => Scope::Read,
            ScopeName::Write => Scope::Write,
            ScopeName::Admin => Scope::Admin,
        }
    }
}

impl From<Scope> for ScopeName {
    fn from(s: Scope) -> Self {
        match s {
            Scope::Read => ScopeName::Read,
            Scope::Write => ScopeName::Write,
            Scope::Admin => ScopeName::Admin,
        }
    }
}

/// An API key as listed: never its text.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyView {
    /// Public id, 12 hex digits; the key text starts with `lk_<id>_`.
    #[schema(example = "3f9a0c12b7e4")]
    pub id: String,
    pub name: String,
    /// Every scope the key holds (the implied ones included).
    pub scopes: Vec<ScopeName>,
    pub created_unix_ms: u64,
    /// Absent: unlimited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitBody>,
    /// Its tenant; absent for an operator-level key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
}

impl From<ApiKeyInfo> for ApiKeyView {
    fn from(info: ApiKeyInfo) -> Self {
        Self {
            id: info.id,
            name: info.name,
            scopes: Scope::ALL
                .into_iter()
                .filter(|s| *s <= info.scope)
                .map(ScopeName::from)
                .collect(),
            created_unix_ms: info.created_unix_ms,
            rate_limit: info.rate_limit.map(|l| RateLimitBody {
                per_second: l.per_second,
                burst: l.burst,
            }),
            tenant: info.tenant,
        }
    }
}

/// Whether `caller` may see the key `info`: operators see every key, a tenant its own.
fn visible(caller: &Caller, info: &ApiKeyInfo) -> bool {
    match caller.tenant() {
        None => true,
        Some(t) => info.tenant.as_deref() == Some(t.name()),
    }
}

/// `400 tenant_not_found`: the body names a tenant that does not exist (or is not the caller's).
pub fn tenant_not_found(name: &str) -> ApiError {
    ApiError::bad_request(
        "tenant_not_found",
        format!("tenant {name:?} does not exist"),
    )
}

/// A key just made, with its text: shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub info: ApiKeyView,
    /// The key: `Authorization: Bearer <key>` on REST, `AUTH <key>` on RESP. Not shown again.
    #[schema(example = "lk_3f9a0c12b7e4_Zm9vYmFy…")]
    pub key: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyList {
    pub api_keys: Vec<ApiKeyView>,
}

pub fn auth_of(state: &AppState) -> Result<&Auth, ApiError> {
    state.auth.as_deref().ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "auth_disabled",
            "authentication is off on this node: set an operator key (LARDER_OPERATOR_KEY or \
             --operator-key-file) to use API keys and users",
        )
    })
}

fn key_not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "api_key_not_found",
        "no such API key",
    )
}

impl From<ApiKeyError> for ApiError {
    fn from(err: ApiKeyError) -> Self {
        let (status, code) = match err {
            ApiKeyError::InvalidName | ApiKeyError::InvalidRateLimit => {
                (StatusCode::BAD_REQUEST, "invalid_api_key")
            }
            ApiKeyError::TooMany => (StatusCode::CONFLICT, "too_many_api_keys"),
            ApiKeyError::Random | ApiKeyError::BadRecord { .. } => {
                (StatusCode::SERVICE_UNAVAILABLE, "api_key_unavailable")
            }
        };
        ApiError::new(status, code, err.to_string())
    }
}

#[utoipa::path(
    post,
    path = "/v1/api-keys",
    tag = "security",
    request_body = CreateApiKey,
    responses(
        (status = 201, description = "Made; the answer holds the key text, shown only this once", body = CreatedApiKey),
        (status = 400, description = "bad_json or invalid_api_key (name, scopes or rate limit)", body = ErrorBody),
        (status = 409, description = "auth_disabled (no operator key on this node) or too_many_api_keys", body = ErrorBody),
    )
)]
pub async fn create_api_key(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<CreateApiKey>,
) -> Result<Response, ApiError> {
    let auth = auth_of(&state)?;
    let tenant = match (caller.tenant(), body.tenant.as_deref()) {
        (Some(own), None) => Some(Arc::clone(own)),
        (Some(own), Some(named)) if named == own.name() => Some(Arc::clone(own)),
        (Some(_), Some(named)) => return Err(tenant_not_found(named)),
        (None, Some(named)) => Some(
            auth.tenants()
                .get(named)
                .ok_or_else(|| tenant_not_found(named))?,
        ),
        (None, None) => None,
    };
    let Some(scope) = body.scopes.iter().copied().map(Scope::from).max() else {
        return Err(ApiError::bad_request(
            "invalid_api_key",
            "scopes must list at least one of read, write, admin",
        ));
    };
    let limit = body.rate_limit.map(|l| crate::auth::RateLimit {
        per_second: l.per_second,
        burst: l.burst,
    });
    if let Some(t) = &tenant {
        let _one = t.lock_changes();
        let held = auth
            .keys()
            .list()
            .iter()
            .filter(|k| k.tenant.as_deref() == Some(t.name()))
            .count() as u64;
        let limit = u64::from(t.quotas().max_api_keys);
        if held >= limit {
            return Err(crate::tenants::QuotaError::Exceeded {
                what: "API keys",
                quota: "max_api_keys",
                would_be: held + 1,
                limit,
            }
            .into());
        }
    }
    let made = auth.keys().create_for(&body.name, scope, limit, tenant)?;
    tracing::info!(id = %made.info.id, name = %made.info.name, scope = scope.as_str(), "API key created");
    let created = CreatedApiKey {
        info: made.info.into(),
        key: made.key,
    };
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

#[utoipa::path(
    get,
    path = "/v1/api-keys",
    tag = "security",
    responses(
        (status = 200, description = "Every API key, oldest first, without their text", body = ApiKeyList),
        (status = 409, description = "auth_disabled", body = ErrorBody),
    )
)]
pub async fn list_api_keys(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<ApiKeyList>, ApiError> {
    let auth = auth_of(&state)?;
    Ok(Json(ApiKeyList {
        api_keys: auth
            .keys()
            .list()
            .into_iter()
            .filter(|k| visible(&caller, k))
            .map(Into::into)
            .collect(),
    }))
}

#[utoipa::path(
    get,
    path = "/v1/api-keys/{id}",
    tag = "security",
    params(("id" = String, Path, description = "The key's id")),
    responses(
        (status = 200, description = "The key, without its text", body = ApiKeyView),
        (status = 404, description = "api_key_not_found", body = ErrorBody),
        (status = 409, description = "auth_disabled", body = ErrorBody),
    )
)]
pub async fn get_api_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ApiKeyView>, ApiError> {
    let auth = auth_of(&state)?;
    auth.keys()
        .get(&id)
        .filter(|k| visible(&caller, k))
        .map(|info| Json(info.into()))
        .ok_or_else(key_not_found)
}

#[utoipa::path(
    delete,
    path = "/v1/api-keys/{id}",
    tag = "security",
    params(("id" = String, Path, description = "The key's id")),
    responses(
        (status = 204, description = "Revoked: refused from now on, on open RESP connections too"),
        (status = 404, description = "api_key_not_found", body = ErrorBody),
        (status = 409, description = "auth_disabled", body = ErrorBody),
    )
)]
pub async fn revoke_api_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let auth = auth_of(&state)?;
    let mine = auth.keys().get(&id).is_some_and(|k| visible(&caller, &k));
    if !mine || !auth.revoke(&id) {
        return Err(key_not_found());
    }
    tracing::info!(%id, "API key revoked");
    Ok(StatusCode::NO_CONTENT)
}

/// What a TLS reload reports: the certificate files read again.
#[derive(Debug, Serialize, ToSchema)]
pub struct TlsReloaded {
    /// The ports' certificate file; absent on a node whose ports serve no TLS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<String>,
    /// The cluster bus's certificate file; absent without mutual TLS on the bus.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bus_cert_file: Option<String>,
}

#[utoipa::path(
    post,
    path = "/v1/admin/tls/reload",
    tag = "security",
    responses(
        (status = 200, description = "Reloaded, the ports' certificate and the cluster bus's alike: new connections get the new certificates, open ones keep theirs", body = TlsReloaded),
        (status = 409, description = "tls_disabled (no TLS port and no TLS cluster bus on this node)", body = ErrorBody),
        (status = 422, description = "tls_reload_failed: a file did not load; that certificate still serves (the other one, if any, was not reloaded)", body = ErrorBody),
    )
)]
pub async fn reload_tls(State(state): State<AppState>) -> Result<Json<TlsReloaded>, ApiError> {
    let ports = state.tls.clone();
    let bus = state.cluster.as_ref().and_then(|c| c.bus_tls.clone());
    if ports.is_none() && bus.is_none() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "tls_disabled",
            "this node serves no TLS port and has no TLS cluster bus",
        ));
    }
    let reloaded = tokio::task::spawn_blocking(move || -> Result<TlsReloaded, String> {
        // Both files are read before either is swapped in, so a failure changes nothing.
        if let Some(tls) = &ports {
            tls.check().map_err(|e| e.to_string())?;
        }
        if let Some(bus) = &bus {
            bus.check().map_err(|e| format!("cluster bus: {e}"))?;
        }
        if let Some(tls) = &ports {
            tls.reload().map_err(|e| e.to_string())?;
        }
        if let Some(bus) = &bus {
            bus.reload().map_err(|e| format!("cluster bus: {e}"))?;
        }
        Ok(TlsReloaded {
            cert_file: ports.map(|t| t.config().cert_file.display().to_string()),
            bus_cert_file: bus.map(|b| b.config.cert_file.display().to_string()),
        })
    })
    .await
    .map_err(|e| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "tls_reload_failed",
            e.to_string(),
        )
    })?;
    reloaded.map(Json).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "tls_reload_failed",
            format!("{e}; the old certificates still serve"),
        )
    })
}

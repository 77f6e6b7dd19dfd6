//! Admin routes for users with passwords: `GET /v1/users`, `GET/PUT/DELETE /v1/users/{name}`.
//!
//! The same users `ACL SETUSER`, `ACL GETUSER` and `ACL DELUSER` manage over RESP, and the ones
//! that log in to the dashboard and over `AUTH <tenant>/<name> <password>`. A tenant's admin
//! manages its own tenant's users; the operator names a tenant's user with `?tenant=`, and
//! without it an operator-level user. A user of another tenant answers `404` exactly as a
//! missing one does. Passwords are hashed (argon2id) before anything changes and are never
//! shown again; with authentication off the routes answer `409 auth_disabled`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::api_keys::{ScopeName, auth_of, tenant_not_found};
use super::error::{ApiError, ErrorBody};
use super::extract::{Caller, JsonBody, Query};
use crate::auth::users::{MAX_PASSWORD_CHARS, MAX_PASSWORDS, UserEdit, UserError, UserInfo};
use crate::auth::{Auth, Scope};
use crate::state::AppState;
use crate::tenants::Tenant;

pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/users", get(list_users)).route(
        "/v1/users/{name}",
        get(get_user).put(put_user).delete(delete_user),
    )
}

/// The user a route names (without its tenant).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct UserName {
    /// 1 to 64 of letters, digits, '.', '_', '-' and '@'.
    #[param(pattern = "^[A-Za-z0-9._@-]{1,64}$", example = "alice")]
    pub name: String,
}

/// Which tenant's user a route means.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UserParams {
    /// The user's tenant (operators only; a tenant's admin always means its own tenant, and may
    /// name it). Omitted by an operator: an operator-level user.
    #[param(example = "acme")]
    pub tenant: Option<String>,
}

/// What `PUT /v1/users/{name}` takes. Every field is optional: a field left out keeps the
/// user's current setting, and a new user starts as Redis makes one (off, no passwords, no
/// scope).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutUser {
    /// Whether the user may log in (`ACL SETUSER … on|off`). Turning a user off ends its open
    /// sessions' rights before their next command.
    pub enabled: Option<bool>,
    /// `read`, `write` (implies read) or `admin` (implies both); the highest one listed counts;
    /// an empty list: no rights at all.
    #[schema(example = json!(["write"]))]
    pub scopes: Option<Vec<ScopeName>>,
    /// Replace every password with these (`resetpass` then `>password` each); a password is 1
    /// to 1024 characters.
    #[schema(max_items = 8, example = json!(["correct horse battery staple"]))]
    pub passwords: Option<Vec<String>>,
    /// Add these to the user's passwords (rotation: add the new one, move clients, then set
    /// `passwords` to the new one alone); with `passwords`, added after the replacement. A user
    /// holds at most 8.
    #[schema(max_items = 8)]
    pub add_passwords: Option<Vec<String>>,
}

/// A user as listed: never a password or its hash.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    #[schema(example = "alice")]
    pub name: String,
    /// Its tenant; absent for an operator-level user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// What it logs in as: `<tenant>/<name>`, or `<name>` for an operator-level user.
    #[schema(example = "acme/alice")]
    pub login: String,
    pub enabled: bool,
    /// Every scope the user holds (the implied ones included); empty: none.
    pub scopes: Vec<ScopeName>,
    /// How many passwords it has.
    pub passwords: usize,
    pub created_unix_ms: u64,
}

impl From<UserInfo> for UserView {
    fn from(info: UserInfo) -> Self {
        Self {
            login: match &info.tenant {
                Some(t) => format!("{t}/{}", info.name),
                None => info.name.clone(),
            },
            scopes: Scope::ALL
                .into_iter()
                .filter(|s| info.scope.is_some_and(|held| *s <= held))
                .map(ScopeName::from)
                .collect(),
            name: info.name,
            tenant: info.tenant,
            enabled: info.enabled,
            passwords: info.passwords,
            created_unix_ms: info.created_unix_ms,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserList {
    pub users: Vec<UserView>,
}

impl From<UserError> for ApiError {
    fn from(err: UserError) -> Self {
        let (status, code) = match err {
            UserError::Quota(quota) => return quota.into(),
            UserError::InvalidName | UserError::InvalidPassword => {
                (StatusCode::BAD_REQUEST, "invalid_user")
            }
            // The limit is on what the user holds, which depends on what it held before.
            UserError::TooManyPasswords => (StatusCode::CONFLICT, "too_many_passwords"),
            UserError::TooMany => (StatusCode::CONFLICT, "too_many_users"),
            UserError::Random | UserError::Hash(_) | UserError::BadRecord { .. } => {
                (StatusCode::SERVICE_UNAVAILABLE, "user_unavailable")
            }
        };
        ApiError::new(status, code, err.to_string())
    }
}

/// The `?tenant=` a route names does not exist (or is not the caller's).
fn no_tenant(name: &str) -> ApiError {
    let mut err = tenant_not_found(name);
    err.status = StatusCode::NOT_FOUND;
    err
}

fn user_not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "user_not_found", "no such user")
}

/// The tenant `?tenant=` means for this caller: a tenant's admin means its own (naming another
/// is the answer for a missing tenant, `404 tenant_not_found`); the operator means the named
/// one, or none.
fn tenant_for(
    auth: &Auth,
    caller: &Caller,
    named: Option<&str>,
) -> Result<Option<Arc<Tenant>>, ApiError> {
    match (caller.tenant(), named) {
        (Some(own), None) => Ok(Some(Arc::clone(own))),
        (Some(own), Some(n)) if n == own.name() => Ok(Some(Arc::clone(own))),
        (Some(_), Some(n)) => Err(no_tenant(n)),
        (None, Some(n)) => auth.tenants().get(n).map(Some).ok_or_else(|| no_tenant(n)),
        (None, None) => Ok(None),
    }
}

#[utoipa::path(
    get,
    path = "/v1/users",
    tag = "security",
    responses(
        (status = 200, description = "The caller's tenant's users (the operator's: every user), by tenant and name", body = UserList),
        (status = 409, description = "auth_disabled", body = ErrorBody),
    )
)]
pub async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<UserList>, ApiError> {
    let auth = auth_of(&state)?;
    let tenant = caller.tenant().map(|t| t.name());
    Ok(Json(UserList {
        users: auth
            .users()
            .list(tenant)
            .into_iter()
            .map(Into::into)
            .collect(),
    }))
}

#[utoipa::path(
    get,
    path = "/v1/users/{name}",
    tag = "security",
    params(UserName, UserParams),
    responses(
        (status = 200, description = "The user, without its passwords", body = UserView),
        (status = 400, description = "bad_query", body = ErrorBody),
        (status = 404, description = "user_not_found, or tenant_not_found (`?tenant=` names no tenant of the caller's)", body = ErrorBody),
        (status = 409, description = "auth_disabled", body = ErrorBody),
    )
)]
pub async fn get_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(UserName { name }): Path<UserName>,
    Query(params): Query<UserParams>,
) -> Result<Json<UserView>, ApiError> {
    let auth = auth_of(&state)?;
    let tenant = tenant_for(auth, &caller, params.tenant.as_deref())?;
    auth.users()
        .get(tenant.as_ref().map(|t| t.name()), &name)
        .map(|u| Json(u.into()))
        .ok_or_else(user_not_found)
}

#[utoipa::path(
    put,
    path = "/v1/users/{name}",
    tag = "security",
    params(UserName, UserParams),
    request_body = PutUser,
    responses(
        (status = 200, description = "Changed", body = UserView),
        (status = 201, description = "Made", body = UserView),
        (status = 400, description = "bad_json, bad_query or invalid_user (name, password length)", body = ErrorBody),
        (status = 404, description = "tenant_not_found (`?tenant=` names no tenant of the caller's)", body = ErrorBody),
        (status = 409, description = "auth_disabled, too_many_users, or too_many_passwords (the user would hold more than 8)", body = ErrorBody),
        (status = 429, description = "quota_exceeded: a new user over the tenant's max_users (see Retry-After)", body = ErrorBody),
    )
)]
pub async fn put_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(UserName { name }): Path<UserName>,
    Query(params): Query<UserParams>,
    JsonBody(body): JsonBody<PutUser>,
) -> Result<Response, ApiError> {
    let auth = auth_of(&state)?;
    let tenant = tenant_for(auth, &caller, params.tenant.as_deref())?;
    crate::auth::users::check_name(&name)?;
    let replace = body.passwords.is_some();
    let plain: Vec<String> = body
        .passwords
        .into_iter()
        .chain(body.add_passwords)
        .flatten()
        .collect();
    if plain.len() > MAX_PASSWORDS {
        return Err(UserError::TooManyPasswords.into());
    }
    if plain.iter().any(|p| p.chars().count() > MAX_PASSWORD_CHARS) {
        return Err(ApiError::bad_request(
            "invalid_user",
            format!("a password is 1 to {MAX_PASSWORD_CHARS} characters"),
        ));
    }
    // Hashing takes tens of milliseconds per password, on the blocking pool; it runs before
    // the change so a failure changes nothing.
    let add_hashes = auth
        .users()
        .hash_passwords(plain.into_iter().map(String::into_bytes).collect())
        .await?;
    let tenant_name = tenant.as_ref().map(|t| t.name().to_string());
    let existed = auth.users().get(tenant_name.as_deref(), &name).is_some();
    let edit = UserEdit {
        reset: false,
        reset_passwords: replace,
        enabled: body.enabled,
        scope: body.scopes.map(|s| s.into_iter().map(Scope::from).max()),
        add_hashes,
    };
    if auth.users().set(tenant, &name, edit)? {
        auth.rights_changed();
    }
    let view: UserView = auth
        .users()
        .get(tenant_name.as_deref(), &name)
        .ok_or_else(user_not_found)?
        .into();
    tracing::info!(user = %view.login, enabled = view.enabled, "user set");
    let status = if existed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(view)).into_response())
}

#[utoipa::path(
    delete,
    path = "/v1/users/{name}",
    tag = "security",
    params(UserName, UserParams),
    responses(
        (status = 204, description = "Deleted: its open sessions lose their rights before their next command"),
        (status = 400, description = "bad_query", body = ErrorBody),
        (status = 404, description = "user_not_found or tenant_not_found", body = ErrorBody),
        (status = 409, description = "auth_disabled", body = ErrorBody),
    )
)]
pub async fn delete_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(UserName { name }): Path<UserName>,
    Query(params): Query<UserParams>,
) -> Result<StatusCode, ApiError> {
    let auth = auth_of(&state)?;
    let tenant = tenant_for(auth, &caller, params.tenant.as_deref())?;
    if !auth
        .users()
        .delete(tenant.as_ref().map(|t| t.name()), &name)
    {
        return Err(user_not_found());
    }
    auth.rights_changed();
    tracing::info!(user = %name, "user deleted");
    Ok(StatusCode::NO_CONTENT)
}

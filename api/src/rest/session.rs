//! The dashboard's login: `POST /v1/session` (a key, or a user's name and password, in; an
//! `HttpOnly` cookie out),
//! `GET /v1/session` (who is logged in, and the CSRF token), `DELETE /v1/session` (log out).
//!
//! The cookie is `HttpOnly; SameSite=Strict; Path=/`, and `Secure` when the node serves HTTP
//! over TLS. A request authenticated by the cookie that changes something must carry the
//! session's CSRF token in `X-CSRF-Token` (`403 csrf_failed` otherwise). Failed logins are
//! limited node-wide and per client address (`429 rate_limited`); the session ends at its expiry, at logout, or when its key is
//! revoked.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::api_keys::{ScopeName, auth_of};
use super::error::{ApiError, ErrorBody};
use super::extract::{Caller, JsonBody, Peer};
use crate::auth::Principal;
use crate::auth::sessions::{COOKIE, cookie_in};
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/v1/session",
        post(login).get(current_session).delete(logout),
    )
}

/// A key, or a user's name and password.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum Login {
    Key(KeyLogin),
    User(UserLogin),
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyLogin {
    /// An API key, or the operator key.
    #[schema(example = "lk_3f9a0c12b7e4_…")]
    pub key: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserLogin {
    /// A user made with `ACL SETUSER`: `tenant/user`, or `user` for an operator-level one.
    #[schema(example = "acme/alice")]
    pub username: String,
    /// The user's password (checked against its argon2id hash).
    pub password: String,
}

/// Who is logged in, and what a changing request must echo.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionInfo {
    /// The key's name (or `operator`).
    pub name: String,
    /// The tenant the key belongs to; absent for operator-level keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    pub scope: ScopeName,
    /// Whether the caller may manage tenants and node-wide settings.
    pub operator: bool,
    /// Send it as `X-CSRF-Token` on every request that changes something.
    pub csrf_token: String,
    pub expires_in_secs: u64,
    /// False on a node without authentication (loopback, no operator key): everyone is the
    /// `default` user with every right, and there is nothing to log in to.
    pub authentication: bool,
}

fn info(principal: &Principal, csrf: String, expires_in_secs: u64) -> SessionInfo {
    SessionInfo {
        name: principal.name.clone(),
        tenant: principal.tenant.as_ref().map(|t| t.name().to_string()),
        scope: principal.scope.into(),
        operator: principal.is_operator(),
        csrf_token: csrf,
        expires_in_secs,
        authentication: true,
    }
}

fn cookie_header(state: &AppState, value: &str, max_age: u64) -> HeaderValue {
    let secure = state.tls.as_ref().is_some_and(|t| t.config().http);
    let text = format!(
        "{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{}",
        if secure { "; Secure" } else { "" }
    );
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[utoipa::path(
    post,
    path = "/v1/session",
    tag = "security",
    request_body = Login,
    responses(
        (status = 201, description = "Logged in: the answer sets the session cookie", body = SessionInfo),
        (status = 400, description = "bad_json: neither a key nor a username and password, or both", body = ErrorBody),
        (status = 401, description = "invalid_credentials", body = ErrorBody),
        (status = 409, description = "auth_disabled", body = ErrorBody),
        (status = 429, description = "rate_limited: too many logins on this node; see Retry-After", body = ErrorBody),
    )
)]
pub async fn login(
    State(state): State<AppState>,
    Peer(peer): Peer,
    headers: axum::http::HeaderMap,
    JsonBody(body): JsonBody<Login>,
) -> Result<Response, ApiError> {
    let auth = auth_of(&state)?;
    // Behind a trusted proxy, the client it names; otherwise the connection's peer.
    let client = peer.map(|p| auth.http_client(p.ip(), &headers));
    // An address that spent its failure budget (shared with bearer tokens and `AUTH` on the
    // Redis port) is refused before its credential is checked.
    if let Some(wait) = client.and_then(|ip| auth.failed_auths().blocked(ip)) {
        state.metrics.auth_refusals.http.rate_limited.inc();
        return Err(super::auth::address_throttled(wait));
    }
    // The failure is charged before the check (which waits for a hashing permit) and given
    // back on success, so a flood of logins at once cannot all pass the check above.
    if let Some(ip) = client {
        auth.failed_auths().failed(ip);
    }
    let principal = match &body {
        Login::Key(login) => auth.authenticate_any(login.key.trim().as_bytes()).await,
        Login::User(login) => {
            auth.users()
                .verify(login.username.trim().as_bytes(), login.password.as_bytes())
                .await
        }
    };
    if principal.is_some()
        && let Some(ip) = client
    {
        auth.failed_auths().refund(ip);
    }
    // Only failed attempts spend the node's login budget, so someone guessing cannot lock the
    // holders of real keys out of the dashboard.
    if principal.is_none()
        && let Err(wait) = auth.sessions().admit_login()
    {
        state.metrics.auth_refusals.http.rate_limited.inc();
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many login attempts on this node; retry shortly",
        )
        .retry_after(wait));
    }
    let Some(principal) = principal else {
        state.metrics.auth_refusals.http.bad_credentials.inc();
        let login = match &body {
            Login::Key(_) => "default",
            Login::User(login) => login.username.trim(),
        };
        let client_info = match (peer, client) {
            (Some(addr), Some(ip)) if ip == addr.ip() => format!("http addr={addr} user={login}"),
            (Some(addr), Some(ip)) => format!("http addr={ip} proxy={addr} user={login}"),
            _ => format!("http user={login}"),
        };
        auth.log_failed_login(login, "POST /v1/session", client_info);
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "that is not a valid key, or user and password, for this node",
        ));
    };
    let who = principal.clone();
    let made = auth.sessions().create(principal).ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "session_unavailable",
            "the operating system's random source failed",
        )
    })?;
    tracing::info!(who = %who.name, "dashboard login");
    let mut response = (
        StatusCode::CREATED,
        Json(info(&who, made.csrf, made.ttl.as_secs())),
    )
        .into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        cookie_header(&state, &made.cookie, made.ttl.as_secs()),
    );
    Ok(response)
}

#[utoipa::path(
    get,
    path = "/v1/session",
    tag = "security",
    responses(
        (status = 200, description = "The session the cookie names (on a node without authentication: the open `default` user, `authentication: false`)", body = SessionInfo),
        (status = 404, description = "session_not_found: authenticated by a bearer token, not a session", body = ErrorBody),
    )
)]
pub async fn current_session(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<Json<SessionInfo>, ApiError> {
    let Some(auth) = state.auth.as_deref() else {
        return Ok(Json(SessionInfo {
            name: "default".into(),
            tenant: None,
            scope: ScopeName::Admin,
            operator: true,
            csrf_token: String::new(),
            expires_in_secs: 0,
            authentication: false,
        }));
    };
    let found = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(cookie_in)
        .and_then(|cookie| auth.sessions().find(cookie));
    match (found, caller.0) {
        (Some(found), Some(_)) => Ok(Json(info(
            &found.principal,
            found.csrf,
            found.expires_in.as_secs(),
        ))),
        _ => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "session_not_found",
            "this request carries no session cookie",
        )),
    }
}

#[utoipa::path(
    delete,
    path = "/v1/session",
    tag = "security",
    responses(
        (status = 204, description = "Logged out: the session ends and the cookie is cleared"),
        (status = 409, description = "auth_disabled", body = ErrorBody),
    )
)]
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let auth = auth_of(&state)?;
    if let Some(cookie) = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(cookie_in)
    {
        auth.sessions().remove(cookie);
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, cookie_header(&state, "", 0));
    Ok(response)
}

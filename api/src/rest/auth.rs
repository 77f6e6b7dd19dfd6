//! Who may call which route, when authentication is on: `Authorization: Bearer <key>`.
//!
//! The operator key, API keys and (with `[oidc]`) the identity provider's JWTs are the bearer
//! tokens. [`required_scope`] is the one rule, used
//! by the middleware and by the OpenAPI document (which lists the security requirement and the
//! 401/403 answers on exactly the routes that need them):
//!
//! - public: `/healthz`, `/openapi.json`, `/docs` (Swagger UI) and the dashboard's static files
//!   (`/`, `/assets/*`) — what a load balancer, a client generator and a browser need first;
//! - `read`: every GET (`/metrics` and `/v1/node` included) and `POST …/batch/get`;
//! - `write`: the other key and batch routes, and a namespace flush;
//! - `admin`: every other change, and everything under `/v1/api-keys`, `/v1/users` and `/v1/admin`.
//!
//! A missing or malformed credential answers `401` with `WWW-Authenticate: Bearer realm="larder"`
//! (plus `error="invalid_token"` for a credential that is not a key); a valid caller without the
//! scope answers `403` (`error="insufficient_scope"`); a key over its rate limit answers `429`
//! with `Retry-After`. Bad bearer tokens spend the client address's failure budget, shared with
//! `AUTH` on the Redis port (`crate::auth::failed_auths`): an address that spent it answers `429`
//! before its token is checked. The metrics token, when configured, is a bearer for `GET /metrics` alone
//! (anywhere else it is no credential). Unknown routes need a credential too, so
//! an unauthenticated caller cannot map the API. The caller, once known, travels to the handler
//! as a [`Principal`] request extension.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use crate::auth::sessions::{CSRF_HEADER, cookie_in, csrf_matches};
use crate::auth::{Auth, Principal, Scope};
use crate::metrics::RefusalCounters;

/// The scope a request needs, or `None` for a public route.
pub fn required_scope(method: &Method, path: &str) -> Option<Scope> {
    let public = matches!(path, "/healthz" | "/openapi.json" | "/" | "/docs")
        || path.starts_with("/docs/")
        || path.starts_with("/assets/");
    if public && (method == Method::GET || method == Method::HEAD) {
        return None;
    }
    // The dashboard's login takes the key in its body; reading and ending one's own session
    // needs only the session.
    if path == "/v1/session" {
        return (method != Method::POST).then_some(Scope::Read);
    }
    if path.starts_with("/v1/api-keys")
        || path.starts_with("/v1/users")
        || path.starts_with("/v1/admin/")
        || path.starts_with("/v1/tenants")
    {
        return Some(Scope::Admin);
    }
    // The first segments, on the stack (this runs for every request): no route is deeper than
    // six, and a deeper path keeps six, so it still matches no exact pattern below.
    let mut first = [""; 6];
    let mut depth = 0;
    for (slot, segment) in first
        .iter_mut()
        .zip(path.trim_start_matches('/').split('/'))
    {
        *slot = segment;
        depth += 1;
    }
    let segments = &first[..depth];
    if method == Method::POST && matches!(segments, ["v1", "namespaces", _, "batch", "get"]) {
        return Some(Scope::Read);
    }
    if method == Method::GET || method == Method::HEAD || method == Method::OPTIONS {
        return Some(Scope::Read);
    }
    Some(if is_data_write(segments) {
        Scope::Write
    } else {
        Scope::Admin
    })
}

/// Whether a route is the operator's alone: tenants, and node-wide settings and state. A tenant's
/// key gets `403 operator_only` there, whatever its scope. (Alerting is not: a tenant keeps its
/// own rules, see [`super::alerts`].)
pub fn operator_only(path: &str) -> bool {
    path.starts_with("/v1/tenants")
        || path.starts_with("/v1/admin/")
        || path == "/v1/node"
        || path == "/v1/cluster"
        || path.starts_with("/v1/cluster/")
}

/// `/v1/namespaces/{ns}/keys/…`, `/v1/namespaces/{ns}/batch/…` or `/v1/namespaces/{ns}/flush`,
/// by segment, so a namespace called `keys` or `batch` is not mistaken for a data route.
fn is_data_write(segments: &[&str]) -> bool {
    matches!(
        segments,
        ["v1", "namespaces", _, "keys" | "batch", _, ..] | ["v1", "namespaces", _, "flush"]
    )
}

/// The name the metrics token (`metrics_token_file`) authenticates as, on `/metrics` only.
pub const METRICS_SCRAPER: &str = "metrics";

/// What the middleware needs: who may call, and where refusals are counted.
#[derive(Clone)]
pub struct Gate {
    pub auth: Arc<Auth>,
    pub refusals: RefusalCounters,
    /// In a cluster: who the members are, so a member forwarding a client's request is not
    /// charged for the client's bad credentials.
    pub cluster: Option<larder_cluster::ClusterNode>,
}

/// Middleware: refuse requests without the credential their route needs.
pub async fn require_credentials(
    State(Gate {
        auth,
        refusals,
        cluster,
    }): State<Gate>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(needed) = required_scope(request.method(), request.uri().path()) else {
        return next.run(request).await;
    };
    let peer = peer_ip(request.extensions())
        .filter(|ip| {
            // A member forwarding a request (a key route, a batch's part) is not its client: the
            // client's failures count where it connected, not against the member's address.
            !(request
                .headers()
                .contains_key(super::cluster_forward::FORWARDED_HEADER)
                && cluster.as_ref().is_some_and(|c| is_member(c, *ip)))
        })
        .map(|ip| auth.http_client(ip, request.headers()));
    // An address that spent its failure budget is refused before its token is checked, so a
    // guess made then cannot succeed (as `AUTH` on the Redis port).
    if let Some(wait) = peer.and_then(|ip| auth.failed_auths().blocked(ip))
        && matches!(bearer_token(&request), Token::Present(_))
    {
        refusals.rate_limited.inc();
        return address_throttled(wait).into_response();
    }
    let principal = match bearer_token(&request) {
        Token::Missing => match session_of(&auth, &request) {
            SessionCheck::None => {
                refusals.unauthenticated.inc();
                return unauthorized(
                    "credentials_required",
                    "this route needs `Authorization: Bearer <API key>` (or a dashboard session)",
                    None,
                );
            }
            SessionCheck::Ended => {
                refusals.unauthenticated.inc();
                return unauthorized(
                    "session_expired",
                    "the session has ended (expired, logged out, or its key revoked); log in again",
                    Some("invalid_token"),
                );
            }
            SessionCheck::NoCsrf => {
                refusals.no_permission.inc();
                return ApiError::new(
                    StatusCode::FORBIDDEN,
                    "csrf_failed",
                    "a change made with a session cookie must carry the session's X-CSRF-Token",
                )
                .into_response();
            }
            SessionCheck::Valid(principal) => principal,
        },
        Token::Malformed => {
            refusals.bad_credentials.inc();
            return unauthorized(
                "invalid_credentials",
                "the Authorization header is not `Bearer <API key>`",
                Some("invalid_request"),
            );
        }
        Token::Present(token)
            if request.uri().path() == "/metrics" && auth.is_metrics_token(token.as_bytes()) =>
        {
            // The scraper's token: this route only, and never a tenant's share of it.
            Principal {
                name: METRICS_SCRAPER.to_string(),
                key_id: None,
                user_id: None,
                scope: Scope::Read,
                limiter: None,
                expires_at_unix: None,
                tenant: None,
            }
        }
        Token::Present(token) => match auth.authenticate_any(token.as_bytes()).await {
            Some(principal) => principal,
            None => {
                if let Some(ip) = peer {
                    auth.failed_auths().failed(ip);
                }
                refusals.bad_credentials.inc();
                return unauthorized(
                    "invalid_credentials",
                    "the bearer token is not a valid key (revoked, mistyped, or from another node)",
                    Some("invalid_token"),
                );
            }
        },
    };
    if !principal.may(needed) {
        refusals.no_permission.inc();
        let mut response = ApiError::new(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            format!(
                "{} holds the {} scope; this route needs {}",
                principal.name,
                principal.scope.as_str(),
                needed.as_str()
            ),
        )
        .into_response();
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(r#"Bearer realm="larder", error="insufficient_scope""#),
        );
        return response;
    }
    if let Err(wait) = principal.admit() {
        refusals.rate_limited.inc();
        return ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!(
                "{} is over its rate limit; retry in {} ms",
                principal.name,
                wait.as_millis().max(1)
            ),
        )
        .retry_after(wait)
        .into_response();
    }
    if principal.tenant.is_some() && operator_only(request.uri().path()) {
        refusals.no_permission.inc();
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "operator_only",
            "this route is the operator's; a tenant's key cannot use it",
        )
        .into_response();
    }
    request.extensions_mut().insert::<Principal>(principal);
    next.run(request).await
}

/// `429 rate_limited`: the client's address spent its failure budget (`auth::failed_auths`).
pub fn address_throttled(wait: std::time::Duration) -> ApiError {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!(
            "too many failed authentication attempts from this address; retry in {} ms",
            wait.as_millis().max(1)
        ),
    )
    .retry_after(wait)
}

/// Whether `ip` is the address of a cluster member's HTTP port (where forwards come from).
fn is_member(cluster: &larder_cluster::ClusterNode, ip: IpAddr) -> bool {
    cluster.view().members.values().any(|m| {
        m.http
            .parse::<std::net::SocketAddr>()
            .is_ok_and(|addr| addr.ip() == ip)
    })
}

fn peer_ip(extensions: &axum::http::Extensions) -> Option<IpAddr> {
    super::extract::peer_addr(extensions).map(|addr| addr.ip())
}

enum SessionCheck {
    /// No session cookie.
    None,
    /// A cookie of no live session.
    Ended,
    /// A live session, but a changing request without its CSRF token.
    NoCsrf,
    Valid(Principal),
}

/// The dashboard session a request's cookie names, checked (see `auth::sessions`).
fn session_of(auth: &Auth, request: &Request) -> SessionCheck {
    let Some(cookie) = request
        .headers()
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(cookie_in)
    else {
        return SessionCheck::None;
    };
    let Some(found) = auth.sessions().find(cookie) else {
        return SessionCheck::Ended;
    };
    if !auth.still_valid(&found.principal) || found.principal.expired() {
        auth.sessions().remove(cookie);
        return SessionCheck::Ended;
    }
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    let csrf_ok = request
        .headers()
        .get(CSRF_HEADER)
        .is_some_and(|sent| csrf_matches(&found.csrf, sent.as_bytes()));
    if !safe && !csrf_ok {
        return SessionCheck::NoCsrf;
    }
    SessionCheck::Valid(found.principal)
}

enum Token {
    Missing,
    Malformed,
    Present(String),
}

fn bearer_token(request: &Request) -> Token {
    let Some(value) = request.headers().get(header::AUTHORIZATION) else {
        return Token::Missing;
    };
    let Ok(text) = value.to_str() else {
        return Token::Malformed;
    };
    match text.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Token::Present(token.trim().to_string())
        }
        _ => Token::Malformed,
    }
}

fn unauthorized(code: &'static str, message: &str, error: Option<&str>) -> Response {
    let mut response = ApiError::new(StatusCode::UNAUTHORIZED, code, message).into_response();
    let challenge = match error {
        None => r#"Bearer realm="larder""#.to_string(),
        Some(error) => format!(r#"Bearer realm="larder", error="{error}""#),
    };
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_need_the_scope_their_effect_needs() {
        let get = Method::GET;
        let post = Method::POST;
        assert_eq!(required_scope(&get, "/healthz"), None);
        assert_eq!(required_scope(&get, "/docs/index.html"), None);
        assert_eq!(required_scope(&get, "/assets/app.js"), None);
        assert_eq!(required_scope(&get, "/metrics"), Some(Scope::Read));
        assert_eq!(
            required_scope(&get, "/v1/namespaces/default/keys/k"),
            Some(Scope::Read)
        );
        assert_eq!(
            required_scope(&Method::PUT, "/v1/namespaces/default/keys/k"),
            Some(Scope::Write)
        );
        assert_eq!(
            required_scope(&post, "/v1/namespaces/default/batch/get"),
            Some(Scope::Read)
        );
        assert_eq!(
            required_scope(&post, "/v1/namespaces/default/flush"),
            Some(Scope::Write)
        );
        assert_eq!(required_scope(&post, "/v1/namespaces"), Some(Scope::Admin));
        assert_eq!(required_scope(&get, "/v1/api-keys"), Some(Scope::Admin));
        assert_eq!(required_scope(&get, "/v1/users/alice"), Some(Scope::Admin));
        assert_eq!(required_scope(&post, "/healthz"), Some(Scope::Admin));
        // A namespace named like a data route is still an admin route.
        assert_eq!(
            required_scope(&post, "/v1/namespaces/batch/dictionary"),
            Some(Scope::Admin)
        );
    }
}

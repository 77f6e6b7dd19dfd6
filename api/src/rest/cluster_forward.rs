//! REST in a cluster: a key route runs on the owner of the key's slot, and a data write is
//! answered only once the slot's replicas have it.
//!
//! - `/v1/namespaces/{ns}/keys/{key}…` for a slot another member owns is forwarded to that
//!   member's HTTP address — method, path, query, headers (credentials included: configure the
//!   same operator key and API keys on every member) and body — and its answer relayed as it is.
//!   The forward carries `x-larder-forwarded`, and a forwarded request is never forwarded
//!   again, so members that disagree for a moment about an owner cannot bounce it between them:
//!   one that lands on a member that does not own the slot (any more) is answered
//!   `503 slot_moved`, and the client retries. A member whose HTTP port speaks TLS does not
//!   forward (it would hand the client's credentials to a peer it cannot authenticate yet): it
//!   answers `421 wrong_node` with the owner's HTTP address in `x-larder-owner`.
//! - A slot with no owner yet answers `503 cluster_down`; an owner that does not answer,
//!   `502 owner_unreachable` (a write may or may not have run there).
//! - Any successful data write that ran here (a key route, a batch, a flush) waits, as a Redis
//!   client's write does, until every change it queued reached the replicas of its slots; if they
//!   do not confirm, or the slot moved away meanwhile, the answer is `503 not_replicated`.
//!
//! Batch routes are split by owner in the handlers (`rest::batch_split`): each owner runs its
//! part, and this middleware waits for the replicas of the part that ran here.

use std::sync::OnceLock;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use larder_cluster::slot::key_slot;

use super::error::ApiError;
use super::extract::percent_decode;
use crate::auth::Principal;
use crate::slot_rule::slot_in;
use crate::state::AppState;
use crate::tenants::NsView;

/// Marks a request one member forwarded to another.
pub const FORWARDED_HEADER: HeaderName = HeaderName::from_static("x-larder-forwarded");
/// How long a forwarded request may take, round trip.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer relayed from an owner.
const MAX_ANSWER_BYTES: usize = 512 * 1024 * 1024;

/// The namespace (as the caller names it) and key of a key route
/// (`/v1/namespaces/{ns}/keys/{key}[/…]`), percent-decoded.
fn key_of(path: &str) -> Option<(String, Vec<u8>)> {
    let mut segments = path.split('/');
    match (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) {
        (Some(""), Some("v1"), Some("namespaces"), Some(ns), Some("keys"), Some(key))
            if !key.is_empty() =>
        {
            let ns = String::from_utf8_lossy(&percent_decode(ns.as_bytes())).into_owned();
            Some((ns, percent_decode(key.as_bytes())))
        }
        _ => None,
    }
}

/// Middleware: see the module docs.
pub async fn route_to_owner(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(cluster) = &state.cluster else {
        return next.run(request).await;
    };
    let path = request.uri().path();
    let data_write = !request.method().is_safe() && path.starts_with("/v1/namespaces/");
    let key = key_of(path);
    if key.is_none() && !data_write {
        return next.run(request).await;
    }
    // Taken before the ownership check, so a slot lost after it is caught by the wait below.
    let mark = cluster.replication.mark();
    if let Some((ns, key)) = key {
        let view = mark.view();
        let forwarded = request.headers().contains_key(&FORWARDED_HEADER);
        // The slot by the namespace's rule (its routing hook, if any). A namespace this member
        // does not have falls back to the hash-tag rule: the owner answers "not found" alike.
        let slot =
            match NsView::of(request.extensions().get::<Principal>()).get(&state.namespaces, &ns) {
                Ok(namespace) => slot_in(&namespace, &key),
                Err(_) => key_slot(&key),
            };
        match view.owner(slot) {
            None => {
                return ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "cluster_down",
                    "the key's hash slot has no owner yet (the cluster is forming or recovering)",
                )
                .into_response();
            }
            // The sender acted on an older slot table: never run a key here that is not ours.
            Some((owner, _)) if owner != view.me && forwarded => {
                return ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "slot_moved",
                    "the key's slot moved to another member while the request was on its way; retry",
                )
                .into_response();
            }
            Some((owner, member)) if owner != view.me => {
                let to = member.http.clone();
                if state.tls.as_ref().is_some_and(|t| t.config().http) {
                    return wrong_node(&to);
                }
                return forward(&to, request).await;
            }
            Some(_) => {}
        }
    }
    if !data_write {
        return next.run(request).await;
    }
    let response = next.run(request).await;
    if response.status().is_success()
        && let Err(e) = cluster.replication.wait(mark).await
    {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_replicated",
            format!("the write is live here but may not survive a failover: {e}"),
        )
        .into_response();
    }
    response
}

/// `421 wrong_node`, naming the owner.
fn wrong_node(owner: &str) -> Response {
    let mut response = ApiError::new(
        StatusCode::MISDIRECTED_REQUEST,
        "wrong_node",
        format!("the key's slot is owned by the member at {owner}; send the request there"),
    )
    .into_response();
    if let Ok(value) = axum::http::HeaderValue::from_str(owner) {
        response.headers_mut().insert("x-larder-owner", value);
    }
    response
}

/// The client forwards go out on (plain HTTP between members); batch parts use it too.
pub(super) fn forwarding_client() -> Result<&'static reqwest::Client, String> {
    static CLIENT: OnceLock<Result<reqwest::Client, String>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            reqwest::Client::builder()
                .timeout(FORWARD_TIMEOUT)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| format!("the forwarding client could not be built: {e}"))
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// Send `request` to the member at `to` and relay its answer.
async fn forward(to: &str, request: Request) -> Response {
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    let url = format!("http://{to}{path}");
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(body) => body,
        Err(e) => return ApiError::bad_request("bad_body", e.to_string()).into_response(),
    };
    let mut headers = parts.headers;
    headers.remove(axum::http::header::HOST);
    headers.insert(FORWARDED_HEADER, axum::http::HeaderValue::from_static("1"));
    let client = match forwarding_client() {
        Ok(client) => client,
        Err(e) => {
            return ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "forward_failed", e)
                .into_response();
        }
    };
    let sent = client
        .request(parts.method, &url)
        .headers(headers)
        .body(body)
        .send()
        .await;
    let unreachable = |e: String| {
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            "owner_unreachable",
            format!("the key's owner at {to} did not answer (a write may or may not have run there): {e}"),
        )
        .into_response()
    };
    let answer = match sent {
        Ok(answer) => answer,
        Err(e) => return unreachable(e.to_string()),
    };
    let status = answer.status();
    let headers = answer.headers().clone();
    let bytes = match answer.bytes().await {
        Ok(bytes) if bytes.len() <= MAX_ANSWER_BYTES => bytes,
        Ok(_) => return unreachable("its answer is too large to relay".into()),
        Err(e) => return unreachable(e.to_string()),
    };
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    for (name, value) in &headers {
        // The body is relayed whole: hop-by-hop framing headers are the server's own.
        if name == axum::http::header::TRANSFER_ENCODING
            || name == axum::http::header::CONNECTION
            || name == axum::http::header::CONTENT_LENGTH
        {
            continue;
        }
        response.headers_mut().append(name, value.clone());
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_key_routes_have_a_key() {
        assert_eq!(
            key_of("/v1/namespaces/default/keys/a%2Fb"),
            Some(("default".into(), b"a/b".to_vec()))
        );
        assert_eq!(
            key_of("/v1/namespaces/feeds%20x/keys/k/expire"),
            Some(("feeds x".into(), b"k".to_vec()))
        );
        assert_eq!(key_of("/v1/namespaces/default/keys/"), None);
        assert_eq!(key_of("/v1/namespaces/default/batch/get"), None);
        assert_eq!(key_of("/v1/namespaces/keys"), None);
        assert_eq!(key_of("/v1/cluster"), None);
    }
}

//! Batches across a cluster: a batch whose keys belong to several members is split by the
//! owner of each key's slot. The part this member owns runs here; every other owner's part is
//! sent to it as a batch of its own — the client's headers (credentials, tags) with
//! `x-larder-forwarded`, the body holding only its items — all at once, and the answers are
//! gathered (`batch/get` in request order).
//!
//! A forwarded batch is never split again: a member that receives one holding a key it does not
//! own (the slot moved while the batch was on its way) refuses it whole with `503 slot_moved`
//! and the client retries. A member whose HTTP port speaks TLS does not forward (it would hand
//! the client's credentials to a peer it cannot authenticate yet) and refuses a batch with
//! another member's key with `421 wrong_node`, naming the owner, before anything runs; so does
//! any member for a batch authenticated by a dashboard session cookie (sessions are per member).
//!
//! Every item is checked here before any part is sent, so a bad item refuses the whole batch. A
//! write batch is not atomic across members (nor on one): when an owner fails or does not
//! answer, the other parts may have been written, and the error says so.

use axum::http::{HeaderMap, StatusCode, header};
use futures_util::future::join_all;
use larder_runtime::Namespace;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::cluster_forward::{FORWARDED_HEADER, forwarding_client};
use super::error::ApiError;
use crate::slot_rule::slot_in;
use crate::state::AppState;

/// The items of one owner: its HTTP address and the items' positions in the request.
pub struct RemotePart {
    pub http: String,
    pub items: Vec<usize>,
}

/// A batch split by owner.
pub struct Split {
    /// Positions of the items this member owns.
    pub local: Vec<usize>,
    /// The other owners' items, one part per owner.
    pub remote: Vec<RemotePart>,
}

/// How the batch's keys (`field[i]`) divide among owners: `None` when every key is this
/// member's (or there is no cluster), so the batch runs here as it is.
pub fn split<'k>(
    state: &AppState,
    namespace: &Namespace,
    headers: &HeaderMap,
    field: &str,
    keys: impl Iterator<Item = &'k [u8]>,
) -> Result<Option<Split>, ApiError> {
    let Some(cluster) = &state.cluster else {
        return Ok(None);
    };
    let forwarded = headers.contains_key(&FORWARDED_HEADER);
    // A dashboard session lives on the member that logged it in: a part sent on with its
    // cookie would be refused there. Such a batch, like one on a member serving HTTPS, runs
    // only where all its keys are.
    let cookie_only = state.auth.is_some() && !headers.contains_key(header::AUTHORIZATION);
    let tls = cookie_only || state.tls.as_ref().is_some_and(|t| t.config().http);
    let view = cluster.node.view();
    let mut local = Vec::new();
    let mut remote: Vec<RemotePart> = Vec::new();
    for (i, key) in keys.enumerate() {
        match view.owner(slot_in(namespace, key)) {
            Some((owner, _)) if owner == view.me => local.push(i),
            Some(_) if forwarded => {
                return Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "slot_moved",
                    format!(
                        "{field}[{i}]: the key's slot moved to another member while the batch \
                         was on its way; retry"
                    ),
                ));
            }
            Some((_, member)) if tls => {
                return Err(ApiError::new(
                    StatusCode::MISDIRECTED_REQUEST,
                    "wrong_node",
                    format!(
                        "{field}[{i}]: the key's slot is owned by the member at {}; a member \
                         serving HTTPS, or a batch sent with a dashboard session, runs only \
                         where all its keys are",
                        member.http
                    ),
                ));
            }
            Some((_, member)) => match remote.iter_mut().find(|p| p.http == member.http) {
                Some(part) => part.items.push(i),
                None => remote.push(RemotePart {
                    http: member.http.clone(),
                    items: vec![i],
                }),
            },
            None => {
                return Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "cluster_down",
                    format!("{field}[{i}]: the key's hash slot has no owner yet"),
                ));
            }
        }
    }
    if remote.is_empty() {
        return Ok(None);
    }
    Ok(Some(Split { local, remote }))
}

/// Send each part's body (`body_of(part)`) to its owner at `path`, all at once; the answers in
/// the order of `parts`, or the first failure (`writes`: the message says other parts may have
/// run).
pub async fn send_parts<B: Serialize, T: DeserializeOwned>(
    parts: &[RemotePart],
    path: &str,
    headers: &HeaderMap,
    writes: bool,
    body_of: impl Fn(&RemotePart) -> B,
) -> Result<Vec<T>, ApiError> {
    let sends = parts.iter().map(|part| {
        let body = body_of(part);
        async move { send(&part.http, path, headers, &body).await }
    });
    let mut answers = Vec::with_capacity(parts.len());
    for answer in join_all(sends).await {
        match answer {
            Ok(answer) => answers.push(answer),
            Err(mut e) => {
                if writes {
                    e.message
                        .push_str("; the other members' parts of the batch may have run");
                }
                return Err(e);
            }
        }
    }
    Ok(answers)
}

/// One part to the member at `to`: the client's headers, marked forwarded, and `body`.
async fn send<B: Serialize, T: DeserializeOwned>(
    to: &str,
    path: &str,
    headers: &HeaderMap,
    body: &B,
) -> Result<T, ApiError> {
    let client = forwarding_client()
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "forward_failed", e))?;
    let mut sent_headers = headers.clone();
    for framing in [
        header::HOST,
        header::CONTENT_LENGTH,
        header::CONTENT_TYPE,
        header::TRANSFER_ENCODING,
        header::CONNECTION,
    ] {
        sent_headers.remove(framing);
    }
    sent_headers.insert(FORWARDED_HEADER, axum::http::HeaderValue::from_static("1"));
    let unreachable = |e: String| {
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            "owner_unreachable",
            format!("the member at {to} did not answer its part of the batch: {e}"),
        )
    };
    let answer = client
        .post(format!("http://{to}{path}"))
        .headers(sent_headers)
        .json(body)
        .send()
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    let status = answer.status();
    if status.is_success() {
        return answer.json().await.map_err(|e| unreachable(e.to_string()));
    }
    // The owner's refusal, relayed with its status and (for the codes a batch can meet) its
    // code, saying which member it was.
    let refusal: Option<Refusal> = answer.json().await.ok();
    let (code, message) = match refusal {
        Some(body) => (relayed_code(&body.error.code), body.error.message),
        None => ("owner_failed", format!("status {status}")),
    };
    Err(ApiError::new(
        StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY),
        code,
        format!("the member at {to}: {message}"),
    ))
}

/// An owner's error answer, as it arrives.
#[derive(serde::Deserialize)]
struct Refusal {
    error: RefusalDetail,
}

#[derive(serde::Deserialize)]
struct RefusalDetail {
    code: String,
    message: String,
}

/// The owner's error code as one of ours (codes are `&'static`): the ones a batch part can
/// meet, else `owner_failed`.
fn relayed_code(code: &str) -> &'static str {
    const KNOWN: [&str; 13] = [
        "slot_moved",
        "cluster_down",
        "not_replicated",
        "owner_unreachable",
        "namespace_not_found",
        "rate_limited",
        "invalid_credentials",
        "credentials_required",
        "session_expired",
        "insufficient_scope",
        "operator_only",
        "value_too_large",
        "quota_exceeded",
    ];
    KNOWN
        .into_iter()
        .find(|known| *known == code)
        .unwrap_or("owner_failed")
}

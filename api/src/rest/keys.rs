//! Single-key data routes: `/v1/namespaces/{ns}/keys/{key}` and its verbs.
//!
//! Values are opaque bytes: `application/octet-stream` in and out, never transcoded. The key is one
//! percent-encoded path segment and may hold any bytes (see `extract`).
//!
//! | route | does |
//! |---|---|
//! | `GET /keys/{key}` | the value; `x-larder-ttl-ms` header when the key expires; 404 `key_not_found` |
//! | `PUT /keys/{key}?ttl=&ttl_ms=&nx=&xx=&keepttl=` | store the body; 204, or 412 `condition_not_met` |
//! | `DELETE /keys/{key}` | 204, or 404 |
//! | `POST /keys/{key}/expire?ttl=` | set a TTL on a present key |
//! | `POST /keys/{key}/persist` | remove the TTL |
//! | `POST /keys/{key}/touch?ttl=` | sliding expiry: restart the TTL (default: the namespace's) |
//! | `POST /keys/{key}/incr?by=` | add to an integer value; JSON `{"value": n}` |
//! | `POST /keys/{key}/evict` | evict now, counted as an eviction |
//!
//! Every route accepts an `X-Larder-Tags` header (see `tags`): its context tags are visible to
//! the plugin hooks the route's store call triggers.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use larder_runtime::{Condition, Expiry, SetOptions, Ttl, ValueKind};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::extract::{Body, KeyPath, Query};
use super::tags::{ContextTags, TAGS_HEADER_DOC};
use crate::state::AppState;

/// The 414 of every key route. The HTTP layer's own refusal has no body, so the answer is
/// documented without one.
/// A key route in a cluster, on a member whose HTTP port speaks TLS (see `rest::cluster_forward`).
pub const WRONG_NODE_DOC: &str = "wrong_node (cluster, TLS on the HTTP port): another member owns \
     the key's slot; its HTTP address is in x-larder-owner";
/// A key route's owner did not answer a forward.
pub const OWNER_UNREACHABLE_DOC: &str = "owner_unreachable (cluster): the member owning the key's \
     slot did not answer the forward (a write may or may not have run there)";
/// The cluster answers of a key route that no single node gives.
pub const CLUSTER_UNAVAILABLE_DOC: &str = "cluster_down (the key's slot has no owner yet), \
     slot_moved (a forward reached a member that no longer owns the slot; retry) or, for \
     writes, not_replicated (the slot's replicas did not confirm it)";

pub const KEY_TOO_LONG_DOC: &str = "key_too_long: the key is over 65536 bytes (a JSON error); or \
     the request line is over 65534 bytes, which a long key can make it once percent-encoded, \
     refused by the HTTP layer with an empty answer";

/// The 431 of every key route: the HTTP layer's, without a body.
pub const HEAD_TOO_LARGE_DOC: &str = "The request's head (its line and headers) is over what the \
     HTTP layer reads, as a key of many multi-byte characters can make it once percent-encoded; \
     an empty answer";

/// Remaining lifetime of the returned value in milliseconds; absent when the key never expires.
pub const TTL_HEADER: HeaderName = HeaderName::from_static("x-larder-ttl-ms");

/// A TTL from query or JSON: seconds or milliseconds, never both, never zero.
pub fn ttl_ms(secs: Option<u64>, ms: Option<u64>) -> Result<Option<u64>, ApiError> {
    match (secs, ms) {
        (Some(_), Some(_)) => Err(ApiError::invalid_ttl(
            "give ttl (seconds) or ttl_ms, not both",
        )),
        (Some(0), None) | (None, Some(0)) => Err(ApiError::invalid_ttl("TTL must be positive")),
        (Some(s), None) => s
            .checked_mul(1000)
            .map(Some)
            .ok_or_else(|| ApiError::invalid_ttl(format!("ttl={s} seconds is too large"))),
        (None, ms) => Ok(ms),
    }
}

/// Parse a TTL query value ourselves, so `ttl=abc` is an `invalid_ttl`, not a generic `bad_query`.
fn parse_ttl_param(name: &str, raw: Option<&str>) -> Result<Option<u64>, ApiError> {
    raw.map(|text| {
        text.parse::<u64>().map_err(|_| {
            ApiError::invalid_ttl(format!(
                "{name}={text:?} is not a whole number of units > 0"
            ))
        })
    })
    .transpose()
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TtlParams {
    /// TTL in seconds (> 0); exclusive with `ttl_ms`.
    #[param(value_type = Option<u64>, minimum = 1, maximum = 18446744073709551_u64)]
    ttl: Option<String>,
    /// TTL in milliseconds (> 0); exclusive with `ttl`.
    #[param(value_type = Option<u64>, minimum = 1)]
    ttl_ms: Option<String>,
}

impl TtlParams {
    fn resolve(&self) -> Result<Option<u64>, ApiError> {
        ttl_ms(
            parse_ttl_param("ttl", self.ttl.as_deref())?,
            parse_ttl_param("ttl_ms", self.ttl_ms.as_deref())?,
        )
    }
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PutParams {
    /// TTL in seconds (> 0). Without `ttl`/`ttl_ms` the namespace's default TTL applies. At
    /// most one of `ttl`, `ttl_ms` and `keepttl=true`.
    #[param(value_type = Option<u64>, minimum = 1, maximum = 18446744073709551_u64)]
    ttl: Option<String>,
    /// TTL in milliseconds (> 0); exclusive with `ttl` and `keepttl=true`.
    #[param(value_type = Option<u64>, minimum = 1)]
    ttl_ms: Option<String>,
    /// Write only if the key is absent (Redis `NX`); excludes `xx=true`.
    #[serde(default)]
    nx: bool,
    /// Write only if the key is present (Redis `XX`); excludes `nx=true`.
    #[serde(default)]
    xx: bool,
    /// Keep the key's current expiry (Redis `KEEPTTL`); excludes `ttl` and `ttl_ms`.
    #[serde(default)]
    keepttl: bool,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct IncrParams {
    /// Amount to add; negative to decrement. Default 1.
    by: Option<i64>,
}

/// A value: opaque bytes, never transcoded.
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct OctetStream(pub Vec<u8>);

/// The new value of a counter.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Counter {
    pub value: i64,
}

#[utoipa::path(
    get,
    path = "/v1/namespaces/{ns}/keys/{key}",
    tag = "keys",
    params(
        ("ns" = String, Path, description = "Namespace name"),
        ("key" = String, Path, description = "Key, percent-encoded; any bytes"),
        ("x-larder-tags" = Option<String>, Header, description = TAGS_HEADER_DOC),
    ),
    responses(
        (status = 200, description = "The value, as stored", content_type = "application/octet-stream", body = OctetStream,
         headers(("x-larder-ttl-ms" = u64, description = "Remaining TTL in ms; absent when the key never expires"))),
        (status = 400, description = "bad_tags: a malformed X-Larder-Tags header", body = ErrorBody),
        (status = 404, description = "key_not_found or namespace_not_found", body = ErrorBody),
        (status = 409, description = "wrong_type: the key holds a hash, list, set or sorted set (written over the Redis protocol); this route reads strings", body = ErrorBody),
        (status = 414, description = KEY_TOO_LONG_DOC),
        (status = 421, description = WRONG_NODE_DOC, body = ErrorBody),
        (status = 503, description = CLUSTER_UNAVAILABLE_DOC, body = ErrorBody),
        (status = 431, description = HEAD_TOO_LARGE_DOC),
        (status = 502, description = "origin_unavailable, origin_status or origin_value_too_large: the namespace's origin failed; or, in a cluster, owner_unreachable: the member owning the key's slot did not answer the forward", body = ErrorBody),
        (status = 504, description = "origin_timeout: the namespace's origin did not answer in time", body = ErrorBody),
    )
)]
pub async fn get_key(
    State(state): State<AppState>,
    path: KeyPath,
    tags: ContextTags,
) -> Result<Response, ApiError> {
    let ns = path.ns.open(&state)?;
    let store = ns.store();
    check_key(&path.key)?;
    // A collection (hash, list, …) is refused with 409 wrong_type: this route serves strings.
    let read = tags.scope(|| store.read(&path.key, ValueKind::String, <[u8]>::to_vec))?;
    let value = match read {
        Some(value) => {
            // Feeds the prefetch hook; returns at once when the namespace has no origin.
            larder_runtime::origin::record_access(&ns, &path.key, true);
            Bytes::from(value)
        }
        // Read-through: fetched from the namespace's origin, stored, returned.
        None if ns.origin().is_enabled() => {
            larder_runtime::origin::fetch_after_miss(&ns, &path.key)
                .await?
                .ok_or_else(ApiError::key_not_found)?
        }
        None => return Err(ApiError::key_not_found()),
    };
    let mut response = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        )],
        value,
    )
        .into_response();
    // A second, brief lock; if the key expired in between, the value is still the one just read.
    if let Ttl::RemainingMs(ms) = store.ttl(&path.key) {
        response
            .headers_mut()
            .insert(TTL_HEADER, HeaderValue::from(ms));
    }
    Ok(response)
}

#[utoipa::path(
    put,
    path = "/v1/namespaces/{ns}/keys/{key}",
    tag = "keys",
    params(
        ("ns" = String, Path, description = "Namespace name"),
        ("key" = String, Path, description = "Key, percent-encoded; any bytes"),
        ("x-larder-tags" = Option<String>, Header, description = TAGS_HEADER_DOC),
        PutParams,
    ),
    request_body(content = OctetStream, content_type = "application/octet-stream", description = "The value: any bytes"),
    responses(
        (status = 204, description = "Stored"),
        (status = 400, description = "invalid_ttl, bad_query, empty_key or bad_tags", body = ErrorBody),
        (status = 404, description = "namespace_not_found", body = ErrorBody),
        (status = 412, description = "condition_not_met: nx and the key exists, or xx and it does not", body = ErrorBody),
        (status = 413, description = "value_too_large (over the namespace's max_item_size) or body_too_large", body = ErrorBody),
        (status = 414, description = KEY_TOO_LONG_DOC),
        (status = 421, description = WRONG_NODE_DOC, body = ErrorBody),
        (status = 502, description = OWNER_UNREACHABLE_DOC, body = ErrorBody),
        (status = 503, description = CLUSTER_UNAVAILABLE_DOC, body = ErrorBody),
        (status = 431, description = HEAD_TOO_LARGE_DOC),
    )
)]
pub async fn put_key(
    State(state): State<AppState>,
    path: KeyPath,
    tags: ContextTags,
    Query(params): Query<PutParams>,
    Body(value): Body,
) -> Result<StatusCode, ApiError> {
    let ttl = ttl_ms(
        parse_ttl_param("ttl", params.ttl.as_deref())?,
        parse_ttl_param("ttl_ms", params.ttl_ms.as_deref())?,
    )?;
    let condition = match (params.nx, params.xx) {
        (true, true) => {
            return Err(ApiError::bad_request(
                "bad_query",
                "nx and xx exclude each other",
            ));
        }
        (true, false) => Condition::IfAbsent,
        (false, true) => Condition::IfPresent,
        (false, false) => Condition::Always,
    };
    let expiry = match (ttl, params.keepttl) {
        (Some(_), true) => return Err(ApiError::invalid_ttl("keepttl excludes ttl and ttl_ms")),
        (Some(ms), false) => Expiry::AfterMs(ms),
        (None, true) => Expiry::Keep,
        (None, false) => Expiry::Default,
    };
    let ns = path.ns.open(&state)?;
    let options = SetOptions {
        expiry,
        condition,
        return_old: false,
    };
    let outcome = tags.scope(|| ns.store().set(&path.key, &value, options))?;
    if outcome.written {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            "condition_not_met",
            if params.nx {
                "the key exists (nx)"
            } else {
                "the key does not exist (xx)"
            },
        ))
    }
}

#[utoipa::path(
    delete,
    path = "/v1/namespaces/{ns}/keys/{key}",
    tag = "keys",
    params(
        ("ns" = String, Path, description = "Namespace name"),
        ("key" = String, Path, description = "Key, percent-encoded; any bytes"),
        ("x-larder-tags" = Option<String>, Header, description = TAGS_HEADER_DOC),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "bad_tags", body = ErrorBody),
        (status = 404, description = "key_not_found or namespace_not_found", body = ErrorBody),
        (status = 414, description = KEY_TOO_LONG_DOC),
        (status = 421, description = WRONG_NODE_DOC, body = ErrorBody),
        (status = 502, description = OWNER_UNREACHABLE_DOC, body = ErrorBody),
        (status = 503, description = CLUSTER_UNAVAILABLE_DOC, body = ErrorBody),
        (status = 431, description = HEAD_TOO_LARGE_DOC),
    )
)]
pub async fn delete_key(
    State(state): State<AppState>,
    path: KeyPath,
    tags: ContextTags,
) -> Result<StatusCode, ApiError> {
    let ns = path.ns.open(&state)?;
    check_key(&path.key)?;
    present(tags.scope(|| ns.store().delete(&path.key)))
}

#[utoipa::path(
    post,
    path = "/v1/namespaces/{ns}/keys/{key}/expire",
    tag = "keys",
    params(
        ("ns" = String, Path, description = "Namespace name"),
        ("key" = String, Path, description = "Key, percent-encoded; any bytes"),
        ("x-larder-tags" = Option<String>, Header, description = TAGS_HEADER_DOC),
        TtlParams,
    ),
    responses(
        (status = 204, description = "The key now expires after the given TTL"),
        (status = 400, description = "invalid_ttl (missing, zero or not a number) or bad_tags", body = ErrorBody),
        (status = 404, description = "key_not_found or namespace_not_found", body = ErrorBody),
        (status = 414, description = KEY_TOO_LONG_DOC),
        (status = 421, description = WRONG_NODE_DOC, body = ErrorBody),
        (status = 502, description = OWNER_UNREACHABLE_DOC, body = ErrorBody),
        (status = 503, description = CLUSTER_UNAVAILABLE_DOC, body = ErrorBody),
        (status = 431, description = HEAD_TOO_LARGE_DOC),
    )
)]
pub async fn expire_key(
    State(state): State<AppState>,
    path: KeyPath,
    tags: ContextTags,
    Query(params): Query<TtlParams>,
) -> Result<StatusCode, ApiError> {
    let ttl = params
        .resolve()?
        .ok_or_else(|| ApiError::invalid_ttl("give ttl or ttl_ms"))?;
    let ns = path.ns.open(&state)?;
    check_key(&path.key)?;
    present(tags.scope(|| ns.store().expire(&path.key, Some(ttl))))
}

#[utoipa::path(
    post,
    path = "/v1/namespaces/{ns}/keys/{key}/persist",
    tag = "keys",
    params(
        ("ns" = String, Path, description = "Namespace name"),
        ("key" = String, Path, description = "Key, percent-encoded; any bytes"),
        ("x-larder-tags" = Option<String>, Header, description = TAGS_HEADER_DOC),
    ),
    responses(
        (status = 204, description = "The key no longer expires"),
        (status = 400, description = "bad_tags", body = ErrorBody),
        (status = 404, description = "key_not_found or namespace_not_found", body = ErrorBody),
        (status = 414, description = KEY_TOO_LONG_DOC),
        (status = 421, description = WRONG_NODE_DOC, body = ErrorBody),
        (status = 502, description = OWNER_UNREACHABLE_DOC, body = ErrorBody),
        (status = 503, description = CLUSTER_UNAVAILABLE_DOC, body = ErrorBody),
        (status = 431, description = HEAD_TOO_LARGE_DOC),
    )
)]
pub async fn persist_key(
    State(state): State<AppState>,
    path: KeyPath,
    tags: ContextTags,
) -> Result<StatusCode, ApiError> {
    let ns = path.ns.open(&state)?;
    check_key(&path.key)?;
    present(tags.scope(|| ns.store().expire(&path.key, None)))
}

#[utoipa::path(
    post,
    path = "/v1/namespaces/{ns}/keys/{key}/touch",
    tag = "keys",
    params(
        ("ns" = String, Path, description = "Namespace name"),
        ("key" = String, Path, description = "Key, percent-encoded; any bytes"),
        ("x-larder-tags" = Option<String>, Header, description = TAGS_HEADER_DOC),
        TtlParams,
    ),
    responses(
        (status = 204, description = "The key's expiry restarted: the given TTL, else the namespace default"),
        (status = 400, description = "invalid_ttl or bad_tags", body = ErrorBody),
        (status = 404, description = "key_not_found or namespace_not_found", body = ErrorBody),
        (status = 414, description = KEY_TOO_LONG_DOC),
        (status = 421, description = WRONG_NODE_DOC, body = ErrorBody),
        (status = 502, description = OWNER_UNREACHABLE_DOC, body = ErrorBody),
        (status = 503, description = CLUSTER_UNAVAILABLE_DOC, body = ErrorBody),
        (status = 431, description = HEAD_TOO_LARGE_DOC),
    )
)]
pub async fn touch_key(
    State(state): State<AppState>,
    path: KeyPath,
    tags: ContextTags,
    Query(params): Query<TtlParams>,
) -> Result<StatusCode, ApiError> {
    let ttl = params.resolve()?;
    let ns = path.ns.open(&state)?;
    check_key(&path.key)?;
    present(tags.scope(|| ns.store().touch(&path.key, ttl)))
}

#[utoipa::path(
    post,
    path = "/v1/namespaces/{ns}/keys/{key}/incr",
    tag = "keys",
    params(
        ("ns" = String, Path, description = "Namespace name"),
        ("key" = String, Path, description = "Key, percent-encoded; any bytes"),
        ("x-larder-tags" = Option<String>, Header, description = TAGS_HEADER_DOC),
        IncrParams,
    ),
    responses(
        (status = 200, description = "The value after the increment (an absent key counts as 0)", body = Counter),
        (status = 400, description = "bad_query or bad_tags", body = ErrorBody),
        (status = 404, description = "namespace_not_found", body = ErrorBody),
        (status = 409, description = "not_an_integer, overflow, or wrong_type (the key holds a collection)", body = ErrorBody),
        (status = 414, description = KEY_TOO_LONG_DOC),
        (status = 421, description = WRONG_NODE_DOC, body = ErrorBody),
        (status = 502, description = OWNER_UNREACHABLE_DOC, body = ErrorBody),
        (status = 503, description = CLUSTER_UNAVAILABLE_DOC, body = ErrorBody),
        (status = 431, description = HEAD_TOO_LARGE_DOC),
    )
)]
pub async fn incr_key(
    State(state): State<AppState>,
    path: KeyPath,
    tags: ContextTags,
    Query(params): Query<IncrParams>,
) -> Result<Json<Counter>, ApiError> {
    let ns = path.ns.open(&state)?;
    let value = tags.scope(|| ns.store().incr_by(&path.key, params.by.unwrap_or(1)))?;
    Ok(Json(Counter { value }))
}

#[utoipa::path(
    post,
    path = "/v1/namespaces/{ns}/keys/{key}/evict",
    tag = "keys",
    params(
        ("ns" = String, Path, description = "Namespace name"),
        ("key" = String, Path, description = "Key, percent-encoded; any bytes"),
        ("x-larder-tags" = Option<String>, Header, description = TAGS_HEADER_DOC),
    ),
    responses(
        (status = 204, description = "Evicted (counted in the namespace's evictions)"),
        (status = 400, description = "bad_tags", body = ErrorBody),
        (status = 404, description = "key_not_found or namespace_not_found", body = ErrorBody),
        (status = 414, description = KEY_TOO_LONG_DOC),
        (status = 421, description = WRONG_NODE_DOC, body = ErrorBody),
        (status = 502, description = OWNER_UNREACHABLE_DOC, body = ErrorBody),
        (status = 503, description = CLUSTER_UNAVAILABLE_DOC, body = ErrorBody),
        (status = 431, description = HEAD_TOO_LARGE_DOC),
    )
)]
pub async fn evict_key(
    State(state): State<AppState>,
    path: KeyPath,
    tags: ContextTags,
) -> Result<StatusCode, ApiError> {
    let ns = path.ns.open(&state)?;
    check_key(&path.key)?;
    present(tags.scope(|| ns.store().evict(&path.key)))
}

/// Reads and deletes of an oversized key would only ever miss; say why instead.
pub(super) fn check_key(key: &[u8]) -> Result<(), ApiError> {
    use larder_runtime::StoreError;
    use larder_runtime::store::MAX_KEY_LEN;
    if key.is_empty() {
        return Err(StoreError::EmptyKey.into());
    }
    if key.len() > MAX_KEY_LEN {
        return Err(StoreError::KeyTooLong {
            len: key.len(),
            max: MAX_KEY_LEN,
        }
        .into());
    }
    Ok(())
}

fn present(found: bool) -> Result<StatusCode, ApiError> {
    if found {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::key_not_found())
    }
}

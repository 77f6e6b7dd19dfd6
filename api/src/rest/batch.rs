//! Batch data routes: many keys of one namespace in one request.
//!
//! | route | body | answer |
//! |---|---|---|
//! | `POST /v1/namespaces/{ns}/batch/get` | `{"keys": [...]}` | `{"items": [{"key", "value", "encoding"}]}` in request order |
//! | `POST /v1/namespaces/{ns}/batch/set` | `{"items": [{"key", "value", "ttl"?, "ttl_ms"?}]}` | `{"written": n}` |
//! | `POST /v1/namespaces/{ns}/batch/delete` | `{"keys": [...]}` | `{"deleted": n}` |
//!
//! ## Encoding
//!
//! JSON cannot carry arbitrary bytes, so every body names an `encoding` (default `utf8`):
//!
//! - `utf8`: keys and values are JSON strings, stored as their UTF-8 bytes. On the way out, a value
//!   that is not valid UTF-8 is sent in base64 and its item says `"encoding": "base64"`, so nothing
//!   is ever lost or mangled.
//! - `base64`: keys and values are standard base64 (RFC 4648, with padding), both ways.
//!
//! ## Atomicity
//!
//! A batch set checks every item (key length, item size against the namespace's `max_item_size`,
//! TTL, encoding) before writing any, so a bad item rejects the whole batch with an error that
//! names it (`items[3]: ...`). Writes are then applied one by one; another client can observe a
//! batch half-applied.
//!
//! ## In a cluster
//!
//! A batch is split by the owner of each key's slot (`batch_split`): the member it reaches runs
//! its own part and sends each other owner its part, and gathers the answers. Every item is
//! checked before any part is sent.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use larder_runtime::{Expiry, SetOptions, StoreError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::batch_split;
use super::error::{ApiError, ErrorBody};
use super::extract::{JsonBody, NsPath};
use super::keys::{check_key, ttl_ms};
use crate::state::AppState;

/// Most keys or items one batch may carry.
pub const MAX_BATCH_ITEMS: usize = 10_000;

/// How keys and values are written in a batch body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// JSON strings holding UTF-8 text.
    #[default]
    Utf8,
    /// Standard base64 with padding.
    Base64,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchKeys {
    /// Keys, in `encoding`.
    pub keys: Vec<String>,
    #[serde(default)]
    pub encoding: Encoding,
}

impl BatchKeys {
    /// The keys at `items`, in the same encoding: one owner's part of a split batch.
    fn part(&self, items: &[usize]) -> BatchKeys {
        BatchKeys {
            keys: items.iter().map(|&i| self.keys[i].clone()).collect(),
            encoding: self.encoding,
        }
    }
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct BatchGetResponse {
    /// One item per requested key, in request order.
    pub items: Vec<BatchGetItem>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct BatchGetItem {
    /// The key exactly as it was sent.
    pub key: String,
    /// The value, or `null` when the key is absent or expired.
    pub value: Option<String>,
    /// How `value` is encoded; absent when `value` is null.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<Encoding>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchSetRequest {
    pub items: Vec<BatchSetItem>,
    #[serde(default)]
    pub encoding: Encoding,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchSetItem {
    pub key: String,
    pub value: String,
    /// TTL in seconds (> 0); without `ttl`/`ttl_ms` the namespace default applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u64>,
    /// TTL in milliseconds (> 0); exclusive with `ttl`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_ms: Option<u64>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct BatchSetResponse {
    /// Items stored.
    pub written: usize,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct BatchDeleteResponse {
    /// Keys that were present and are now gone.
    pub deleted: usize,
}

#[utoipa::path(
    post,
    path = "/v1/namespaces/{ns}/batch/get",
    tag = "keys",
    params(("ns" = String, Path, description = "Namespace name")),
    request_body = BatchKeys,
    responses(
        (status = 200, description = "Values in request order; null for absent keys", body = BatchGetResponse),
        (status = 400, description = "bad_json, bad_base64 or key_too_long", body = ErrorBody),
        (status = 404, description = "namespace_not_found", body = ErrorBody),
        (status = 413, description = "batch_too_large or body_too_large", body = ErrorBody),
        (status = 421, description = "wrong_node: in a cluster whose members serve HTTPS, a key's slot is another member's (named in the message); nothing ran", body = ErrorBody),
        (status = 502, description = "owner_unreachable or owner_failed: in a cluster, another owner did not answer its part (a write's other parts may have run)", body = ErrorBody),
        (status = 503, description = "cluster_down (a key's slot has no owner) or slot_moved (a forwarded part met a slot that moved; retry)", body = ErrorBody),
    )
)]
pub async fn batch_get(
    State(state): State<AppState>,
    ns: NsPath,
    uri: Uri,
    headers: HeaderMap,
    JsonBody(request): JsonBody<BatchKeys>,
) -> Result<Json<BatchGetResponse>, ApiError> {
    check_batch_len(request.keys.len())?;
    let ns = ns.open(&state)?;
    let keys = decode_keys(&request.keys, request.encoding)?;
    let split = batch_split::split(
        &state,
        &ns,
        &headers,
        "keys",
        keys.iter().map(Vec::as_slice),
    )?;
    let store = ns.store();
    let read = |i: usize| {
        let (value, encoding) = match store.get_vec(&keys[i]) {
            Some(bytes) => {
                let (text, encoding) = encode(bytes, request.encoding);
                (Some(text), Some(encoding))
            }
            None => (None, None),
        };
        BatchGetItem {
            key: request.keys[i].clone(),
            value,
            encoding,
        }
    };
    let Some(split) = split else {
        let items = (0..keys.len()).map(read).collect();
        return Ok(Json(BatchGetResponse { items }));
    };
    let answers: Vec<BatchGetResponse> =
        batch_split::send_parts(&split.remote, uri.path(), &headers, false, |part| {
            request.part(&part.items)
        })
        .await?;
    let mut items: Vec<Option<BatchGetItem>> = (0..keys.len()).map(|_| None).collect();
    for i in split.local {
        items[i] = Some(read(i));
    }
    for (part, answer) in split.remote.iter().zip(answers) {
        if answer.items.len() != part.items.len() {
            return Err(owner_mismatch(&part.http));
        }
        for (&i, item) in part.items.iter().zip(answer.items) {
            items[i] = Some(item);
        }
    }
    let items = items.into_iter().flatten().collect();
    Ok(Json(BatchGetResponse { items }))
}

/// An owner answered its part with another number of items than it was sent.
fn owner_mismatch(owner: &str) -> ApiError {
    ApiError::new(
        StatusCode::BAD_GATEWAY,
        "owner_failed",
        format!("the member at {owner} answered its part of the batch with another item count"),
    )
}

#[utoipa::path(
    post,
    path = "/v1/namespaces/{ns}/batch/set",
    tag = "keys",
    params(("ns" = String, Path, description = "Namespace name")),
    request_body = BatchSetRequest,
    responses(
        (status = 200, description = "Every item stored", body = BatchSetResponse),
        (status = 400, description = "bad_json, bad_base64, invalid_ttl, empty_key or key_too_long, naming the item", body = ErrorBody),
        (status = 404, description = "namespace_not_found", body = ErrorBody),
        (status = 413, description = "value_too_large (naming the item), batch_too_large or body_too_large", body = ErrorBody),
        (status = 421, description = "wrong_node: in a cluster whose members serve HTTPS, a key's slot is another member's (named in the message); nothing ran", body = ErrorBody),
        (status = 502, description = "owner_unreachable or owner_failed: in a cluster, another owner did not answer its part (a write's other parts may have run)", body = ErrorBody),
        (status = 503, description = "cluster_down (a key's slot has no owner) or slot_moved (a forwarded part met a slot that moved; retry)", body = ErrorBody),
    )
)]
pub async fn batch_set(
    State(state): State<AppState>,
    ns: NsPath,
    uri: Uri,
    headers: HeaderMap,
    JsonBody(request): JsonBody<BatchSetRequest>,
) -> Result<Json<BatchSetResponse>, ApiError> {
    check_batch_len(request.items.len())?;
    let ns = ns.open(&state)?;
    let max_item_size = ns.config().max_item_size();
    let mut writes = Vec::with_capacity(request.items.len());
    for (i, item) in request.items.iter().enumerate() {
        let at = |e: ApiError| at_item("items", i, e);
        let key = decode(&item.key, request.encoding).map_err(at)?;
        let value = decode(&item.value, request.encoding).map_err(at)?;
        check_key(&key).map_err(at)?;
        if (key.len() + value.len()) as u64 > max_item_size {
            let err = StoreError::ValueTooLarge {
                len: value.len(),
                max: max_item_size,
            };
            return Err(at(err.into()));
        }
        let expiry = match ttl_ms(item.ttl, item.ttl_ms).map_err(at)? {
            Some(ms) => Expiry::AfterMs(ms),
            None => Expiry::Default,
        };
        writes.push((key, value, expiry));
    }
    let split = batch_split::split(
        &state,
        &ns,
        &headers,
        "items",
        writes.iter().map(|(k, _, _)| k.as_slice()),
    )?;
    let store = ns.store();
    let write = |i: usize| {
        let (key, value, expiry) = &writes[i];
        let options = SetOptions {
            expiry: *expiry,
            ..Default::default()
        };
        // Only a concurrent reconfiguration of the namespace can make this fail after the checks.
        store
            .set(key, value, options)
            .map(drop)
            .map_err(|e| at_item("items", i, e.into()))
    };
    let Some(split) = split else {
        for i in 0..writes.len() {
            write(i)?;
        }
        return Ok(Json(BatchSetResponse {
            written: writes.len(),
        }));
    };
    let sent = batch_split::send_parts::<_, BatchSetResponse>(
        &split.remote,
        uri.path(),
        &headers,
        true,
        |part| BatchSetRequest {
            items: part
                .items
                .iter()
                .map(|&i| request.items[i].clone())
                .collect(),
            encoding: request.encoding,
        },
    );
    let local = split.local.iter().try_for_each(|&i| write(i));
    let answers = sent.await?;
    local?;
    let written = split.local.len() + answers.iter().map(|a| a.written).sum::<usize>();
    Ok(Json(BatchSetResponse { written }))
}

#[utoipa::path(
    post,
    path = "/v1/namespaces/{ns}/batch/delete",
    tag = "keys",
    params(("ns" = String, Path, description = "Namespace name")),
    request_body = BatchKeys,
    responses(
        (status = 200, description = "How many of the keys were present", body = BatchDeleteResponse),
        (status = 400, description = "bad_json or bad_base64", body = ErrorBody),
        (status = 404, description = "namespace_not_found", body = ErrorBody),
        (status = 413, description = "batch_too_large or body_too_large", body = ErrorBody),
        (status = 421, description = "wrong_node: in a cluster whose members serve HTTPS, a key's slot is another member's (named in the message); nothing ran", body = ErrorBody),
        (status = 502, description = "owner_unreachable or owner_failed: in a cluster, another owner did not answer its part (a write's other parts may have run)", body = ErrorBody),
        (status = 503, description = "cluster_down (a key's slot has no owner) or slot_moved (a forwarded part met a slot that moved; retry)", body = ErrorBody),
    )
)]
pub async fn batch_delete(
    State(state): State<AppState>,
    ns: NsPath,
    uri: Uri,
    headers: HeaderMap,
    JsonBody(request): JsonBody<BatchKeys>,
) -> Result<Json<BatchDeleteResponse>, ApiError> {
    check_batch_len(request.keys.len())?;
    let ns = ns.open(&state)?;
    let keys = decode_keys(&request.keys, request.encoding)?;
    let split = batch_split::split(
        &state,
        &ns,
        &headers,
        "keys",
        keys.iter().map(Vec::as_slice),
    )?;
    let store = ns.store();
    let Some(split) = split else {
        let deleted = keys.iter().filter(|key| store.delete(key)).count();
        return Ok(Json(BatchDeleteResponse { deleted }));
    };
    let sent = batch_split::send_parts::<_, BatchDeleteResponse>(
        &split.remote,
        uri.path(),
        &headers,
        true,
        |part| request.part(&part.items),
    );
    let here = split
        .local
        .iter()
        .filter(|&&i| store.delete(&keys[i]))
        .count();
    let answers = sent.await?;
    let deleted = here + answers.iter().map(|a| a.deleted).sum::<usize>();
    Ok(Json(BatchDeleteResponse { deleted }))
}

fn check_batch_len(len: usize) -> Result<(), ApiError> {
    if len > MAX_BATCH_ITEMS {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "batch_too_large",
            format!("{len} items; a batch holds at most {MAX_BATCH_ITEMS}"),
        ));
    }
    Ok(())
}

fn decode_keys(keys: &[String], encoding: Encoding) -> Result<Vec<Vec<u8>>, ApiError> {
    keys.iter()
        .enumerate()
        .map(|(i, key)| {
            let raw = decode(key, encoding).map_err(|e| at_item("keys", i, e))?;
            check_key(&raw).map_err(|e| at_item("keys", i, e))?;
            Ok(raw)
        })
        .collect()
}

fn decode(text: &str, encoding: Encoding) -> Result<Vec<u8>, ApiError> {
    match encoding {
        Encoding::Utf8 => Ok(text.as_bytes().to_vec()),
        Encoding::Base64 => BASE64
            .decode(text)
            .map_err(|e| ApiError::bad_request("bad_base64", format!("not standard base64: {e}"))),
    }
}

/// Encode a value for the response: as asked, except that non-UTF-8 bytes fall back to base64.
fn encode(bytes: Vec<u8>, wanted: Encoding) -> (String, Encoding) {
    match wanted {
        Encoding::Utf8 => match String::from_utf8(bytes) {
            Ok(text) => (text, Encoding::Utf8),
            Err(e) => (BASE64.encode(e.as_bytes()), Encoding::Base64),
        },
        Encoding::Base64 => (BASE64.encode(bytes), Encoding::Base64),
    }
}

/// Point an error at the item that caused it. A key inside a body is not part of the URI, so
/// `key_too_long` is a plain 400 here rather than the 414 of the single-key routes.
fn at_item(field: &str, index: usize, mut err: ApiError) -> ApiError {
    err.message = format!("{field}[{index}]: {}", err.message);
    if err.status == StatusCode::URI_TOO_LONG {
        err.status = StatusCode::BAD_REQUEST;
    }
    err
}

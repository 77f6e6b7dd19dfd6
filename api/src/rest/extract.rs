//! Request extractors whose rejections are [`ApiError`]s, so every malformed request gets the same
//! JSON error shape (axum's own rejections answer in plain text, and with 422 for bad JSON).
//!
//! Keys in paths are binary-safe: a key is one path segment, percent-decoded to raw bytes (so
//! `%FF` is the byte 0xFF and `%2F` a `/` inside the key). axum's own `Path` insists on UTF-8, so the
//! segments are read from the request URI here instead.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use std::sync::Arc;

use larder_runtime::Namespace;

use super::error::ApiError;
use crate::auth::Principal;
use crate::state::AppState;
use crate::tenants::{NsView, Tenant};

/// Path segment holding the namespace in `/v1/namespaces/{ns}/…` (index 0 is the empty string
/// before the leading slash).
const NS_SEGMENT: usize = 3;
/// Path segment holding the key in `/v1/namespaces/{ns}/keys/{key}…`.
const KEY_SEGMENT: usize = 5;

/// The raw request body, with body-limit and read failures turned into JSON errors.
pub struct Body(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        Bytes::from_request(req, state)
            .await
            .map(Body)
            .map_err(body_error)
    }
}

fn body_error(rejection: BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            "request body is larger than this server accepts (max_body_bytes)",
        )
    } else {
        ApiError::bad_request("bad_body", rejection.body_text())
    }
}

/// A JSON body. Parsed whatever the `Content-Type` says, so `curl -d` works without `-H`.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let Body(bytes) = Body::from_request(req, state).await?;
        parse_json(&bytes).map(JsonBody).map_err(|e| {
            ApiError::bad_json(format!(
                "request body is not valid JSON for this route: {e}"
            ))
        })
    }
}

/// Parse a JSON body. JSON has one kind of number, so `300.0` is the integer 300 (as JSON Schema
/// says too): a body refused only for a whole number written with a fraction is read again with
/// such numbers as integers. Bodies that parse at once (all of them, from most clients) pay
/// nothing for this.
fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, serde_json::Error> {
    let first = match serde_json::from_slice(bytes) {
        Ok(value) => return Ok(value),
        Err(e) => e,
    };
    if !first.is_data() {
        return Err(first);
    }
    let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return Err(first);
    };
    if !whole_floats_to_integers(&mut value) {
        return Err(first);
    }
    serde_json::from_value(value).map_err(|_| first)
}

/// Rewrite every float with no fractional part (in the 64-bit integer range) as an integer;
/// whether any was.
fn whole_floats_to_integers(value: &mut serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap_or(f64::NAN);
            // The range checks are exact: both bounds are powers of two.
            let integer = if f.fract() != 0.0 || !f.is_finite() {
                None
            } else if (0.0..18_446_744_073_709_551_616.0).contains(&f) {
                Some(Value::from(f as u64))
            } else if (-9_223_372_036_854_775_808.0..0.0).contains(&f) {
                Some(Value::from(f as i64))
            } else {
                None
            };
            match integer {
                Some(i) => {
                    *value = i;
                    true
                }
                None => false,
            }
        }
        Value::Array(items) => items
            .iter_mut()
            .fold(false, |any, v| whole_floats_to_integers(v) | any),
        Value::Object(map) => map
            .values_mut()
            .fold(false, |any, v| whole_floats_to_integers(v) | any),
        _ => false,
    }
}

/// Query parameters; unknown or malformed ones are a `400 bad_query`.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::try_from_uri(&parts.uri)
            .map(|q| Query(q.0))
            .map_err(|e| ApiError::bad_request("bad_query", e.body_text()))
    }
}

/// The `{ns}` of a namespace route, as the caller names it, and the caller's view of names
/// (a tenant's `carts` is the engine's `acme/carts`; see [`crate::tenants`]).
pub struct NsPath {
    pub shown: String,
    pub view: NsView,
}

impl NsPath {
    /// The engine's name of the namespace (which may not exist).
    pub fn internal(&self) -> Result<String, ApiError> {
        self.view
            .internal(&self.shown)
            .map(|name| name.into_owned())
            .map_err(ApiError::from)
    }

    /// The namespace; a missing one (or another tenant's) is `404 namespace_not_found`.
    pub fn open(&self, state: &AppState) -> Result<Arc<Namespace>, ApiError> {
        Ok(self.view.get(&state.namespaces, &self.shown)?)
    }

    /// `err` with the caller's names in its message.
    pub fn local(&self, err: impl Into<ApiError>) -> ApiError {
        let mut err = err.into();
        if let Some(tenant) = self.view.tenant_name() {
            err.message = err.message.replace(&format!("\"{tenant}/"), "\"");
        }
        err
    }
}

impl<S: Send + Sync> FromRequestParts<S> for NsPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        Ok(NsPath {
            shown: namespace(parts.uri.path())?,
            view: view_of(parts),
        })
    }
}

/// The caller's view of names, from the principal the middleware left (only its tenant is
/// needed, so nothing else of it is copied).
fn view_of(parts: &Parts) -> NsView {
    NsView::of(parts.extensions.get::<Principal>())
}

/// Who is calling: the principal the authentication middleware found (`None` with
/// authentication off).
#[derive(Clone, Default)]
pub struct Caller(pub Option<Principal>);

impl Caller {
    fn of(parts: &Parts) -> Self {
        Caller(parts.extensions.get::<Principal>().cloned())
    }

    /// How the caller names namespaces.
    pub fn view(&self) -> NsView {
        NsView::of(self.0.as_ref())
    }

    /// The caller's tenant; `None` for operator-level callers (and without authentication).
    pub fn tenant(&self) -> Option<&Arc<Tenant>> {
        self.0.as_ref().and_then(|p| p.tenant.as_ref())
    }
}

/// The address of the client a request came from: the connection info the server attaches to
/// every request, plain or over TLS (`into_make_service_with_connect_info::<ClientAddr>`).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub std::net::SocketAddr);

impl
    axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, tokio::net::TcpListener>>
    for ClientAddr
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, tokio::net::TcpListener>) -> Self {
        ClientAddr(*stream.remote_addr())
    }
}

impl
    axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, crate::tls::TlsListener>>
    for ClientAddr
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, crate::tls::TlsListener>) -> Self {
        ClientAddr(*stream.remote_addr())
    }
}

/// The client's address, when the server runs with connection info (it always does; a router
/// driven in-process has none).
pub fn peer_addr(extensions: &axum::http::Extensions) -> Option<std::net::SocketAddr> {
    extensions
        .get::<axum::extract::ConnectInfo<ClientAddr>>()
        .map(|info| info.0.0)
}

/// The client's address as an extractor (see [`peer_addr`]).
pub struct Peer(pub Option<std::net::SocketAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Peer(peer_addr(&parts.extensions)))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        Ok(Caller::of(parts))
    }
}

/// The `{ns}` and `{key}` of a key route; the key as raw bytes.
pub struct KeyPath {
    pub ns: NsPath,
    pub key: Vec<u8>,
}

impl<S: Send + Sync> FromRequestParts<S> for KeyPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let path = parts.uri.path();
        let ns = NsPath {
            shown: namespace(path)?,
            view: view_of(parts),
        };
        let key = path
            .split('/')
            .nth(KEY_SEGMENT)
            .map(|raw| percent_decode(raw.as_bytes()))
            .ok_or_else(|| ApiError::bad_request("bad_path", "the path has no key segment"))?;
        Ok(KeyPath { ns, key })
    }
}

fn namespace(path: &str) -> Result<String, ApiError> {
    let raw = path
        .split('/')
        .nth(NS_SEGMENT)
        .ok_or_else(|| ApiError::bad_request("bad_path", "the path has no namespace segment"))?;
    let bytes = percent_decode(raw.as_bytes());
    // Namespace names are ASCII; bytes that are not UTF-8 cannot name one.
    String::from_utf8(bytes).map_err(|e| {
        larder_runtime::NamespaceError::NotFound(String::from_utf8_lossy(e.as_bytes()).into_owned())
            .into()
    })
}

/// Decode `%XX` escapes to bytes; a `%` not followed by two hex digits stays as it is.
pub fn percent_decode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'%'
            && let (Some(hi), Some(lo)) = (
                input.get(i + 1).and_then(hex_value),
                input.get(i + 2).and_then(hex_value),
            )
        {
            out.push(hi << 4 | lo);
            i += 3;
            continue;
        }
        out.push(input[i]);
        i += 1;
    }
    out
}

fn hex_value(byte: &u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::percent_decode;

    #[test]
    fn whole_numbers_with_a_fraction_are_integers() {
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct T {
            n: u64,
            i: i32,
            f: f64,
        }
        let parsed: T = super::parse_json(br#"{"n": 729.0, "i": -3.0, "f": 1.0}"#).unwrap();
        assert_eq!(
            parsed,
            T {
                n: 729,
                i: -3,
                f: 1.0
            }
        );
        assert!(super::parse_json::<T>(br#"{"n": 1.5, "i": 1, "f": 1}"#).is_err());
        assert!(super::parse_json::<T>(br#"{"n": -1.0, "i": 1, "f": 1}"#).is_err());
        assert!(super::parse_json::<T>(br#"{"n": 1e20, "i": 1, "f": 1}"#).is_err());
    }

    #[test]
    fn percent_decoding_is_binary_safe() {
        assert_eq!(percent_decode(b"a%2Fb"), b"a/b");
        assert_eq!(percent_decode(b"%ff%00x"), [0xff, 0, b'x']);
        assert_eq!(percent_decode(b"100%"), b"100%");
        assert_eq!(percent_decode(b"%zz%4"), b"%zz%4");
    }
}

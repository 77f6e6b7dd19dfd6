//! The `X-Larder-Tags` request header: request context tags for plugin hooks.
//!
//! A client may attach `name=value` pairs to a data request
//! (`X-Larder-Tags: device=mobile, region=eu`); the admission, prefetch and routing hooks that the
//! request's store calls trigger can read them. [`ContextTags`] parses the header once per request
//! and [`ContextTags::scope`] runs a store call with the tags visible. A request without the header
//! allocates nothing and runs the store call directly. A malformed header is a 400 `bad_tags`, so
//! a client learns about a typo instead of silently getting uncontextual decisions.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use larder_runtime::plugin::{RequestTags, TAGS_HEADER, TagError, with_request_tags};

use super::error::ApiError;

/// What the OpenAPI document says about the header, shared by every route that reads it.
pub const TAGS_HEADER_DOC: &str = "Request context tags for plugin hooks: `name=value` pairs separated by commas, \
     e.g. `device=mobile, region=eu` (at most 16; names 1-64 characters of A-Z a-z 0-9 _ - .; values up to 256 bytes)";

/// The request's context tags; `None` when it sent no `X-Larder-Tags` header.
#[derive(Debug, Default)]
pub struct ContextTags(pub Option<RequestTags>);

impl ContextTags {
    /// Run `f` (a store call) with the tags visible to the plugin hooks it triggers.
    #[inline]
    pub fn scope<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.0 {
            Some(tags) => with_request_tags(tags, f),
            None => f(),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ContextTags {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let mut values = parts.headers.get_all(TAGS_HEADER).iter();
        let Some(first) = values.next() else {
            return Ok(Self(None));
        };
        let mut tags = parse_header_value(first.as_bytes())?;
        // Repeated headers mean the same as one comma-joined header (RFC 9110 §5.3).
        for value in values {
            for (name, value) in parse_header_value(value.as_bytes())?.iter() {
                tags.insert(name, value).map_err(bad_tags)?;
            }
        }
        Ok(Self((!tags.is_empty()).then_some(tags)))
    }
}

fn parse_header_value(raw: &[u8]) -> Result<RequestTags, ApiError> {
    let text = std::str::from_utf8(raw).map_err(|_| {
        ApiError::bad_request("bad_tags", "the X-Larder-Tags header is not valid UTF-8")
    })?;
    RequestTags::parse(text).map_err(bad_tags)
}

fn bad_tags(error: TagError) -> ApiError {
    ApiError::bad_request("bad_tags", format!("X-Larder-Tags: {error}"))
}

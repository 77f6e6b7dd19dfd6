//! Request context tags: small `name=value` pairs a client attaches to its requests (device,
//! region, tenant tier…) so that plugins can make contextual decisions.
//!
//! ## How tags get in
//!
//! Front ends parse the tags once (per REST request from the `X-Larder-Tags` header, per RESP
//! connection from its `CLIENT TAGS` command), keep them in a [`RequestTags`], and run the store
//! call inside [`with_request_tags`]. Store calls are synchronous, so a thread-local scope is
//! exact: the tags are visible to every hook call made during that store call (admission,
//! prefetch, routing) and to nothing else. Eviction events are delivered in batches that mix
//! requests, so during eviction calls no tags are visible.
//!
//! ```
//! use larder_runtime::plugin::{RequestTags, with_request_tags};
//! let tags = RequestTags::parse("device=mobile, region=eu").unwrap();
//! let seen = with_request_tags(&tags, || larder_runtime::plugin::current_tag("region", |v| v.to_vec()));
//! assert_eq!(seen.as_deref(), Some(&b"eu"[..]));
//! ```

use std::cell::Cell;
use std::ptr::NonNull;

/// Most tags one request may carry.
pub const MAX_TAGS: usize = 16;
/// Longest tag name.
pub const MAX_TAG_NAME: usize = 64;
/// Longest tag value.
pub const MAX_TAG_VALUE: usize = 256;
/// The HTTP header REST clients send tags in: `X-Larder-Tags: device=mobile, region=eu`.
pub const TAGS_HEADER: &str = "x-larder-tags";

/// A request's context tags. Names are ASCII `[A-Za-z0-9_.-]`, compared case-sensitively.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestTags {
    pairs: Vec<(Box<str>, Box<[u8]>)>,
}

/// Why a tag list was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagError {
    #[error("at most {MAX_TAGS} tags")]
    TooMany,
    #[error("tag name {0:?}: use 1 to {MAX_TAG_NAME} characters from A-Z, a-z, 0-9, '_', '-', '.'")]
    BadName(String),
    #[error("tag {0:?}: value longer than {MAX_TAG_VALUE} bytes")]
    ValueTooLong(String),
    #[error("{0:?} is not name=value")]
    NotAPair(String),
}

impl RequestTags {
    /// Build from `(name, value)` pairs (RESP: `CLIENT TAGS name value [name value …]`).
    pub fn from_pairs<N: AsRef<str>, V: AsRef<[u8]>>(
        pairs: impl IntoIterator<Item = (N, V)>,
    ) -> Result<Self, TagError> {
        let mut out = Self::default();
        for (name, value) in pairs {
            out.insert(name.as_ref(), value.as_ref())?;
        }
        Ok(out)
    }

    /// Parse `name=value` pairs separated by commas or semicolons (the REST header's format).
    /// Surrounding spaces are ignored; an empty string gives no tags.
    pub fn parse(text: &str) -> Result<Self, TagError> {
        let mut out = Self::default();
        for part in text
            .split([',', ';'])
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let (name, value) = part
                .split_once('=')
                .ok_or_else(|| TagError::NotAPair(part.to_string()))?;
            out.insert(name.trim(), value.trim().as_bytes())?;
        }
        Ok(out)
    }

    /// Set one tag (replacing a previous value of the same name).
    pub fn insert(&mut self, name: &str, value: &[u8]) -> Result<(), TagError> {
        let valid = !name.is_empty()
            && name.len() <= MAX_TAG_NAME
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        if !valid {
            return Err(TagError::BadName(name.to_string()));
        }
        if value.len() > MAX_TAG_VALUE {
            return Err(TagError::ValueTooLong(name.to_string()));
        }
        if let Some(slot) = self.pairs.iter_mut().find(|(n, _)| &**n == name) {
            slot.1 = value.into();
            return Ok(());
        }
        if self.pairs.len() >= MAX_TAGS {
            return Err(TagError::TooMany);
        }
        self.pairs.push((name.into(), value.into()));
        Ok(())
    }

    pub fn get(&self, name: &[u8]) -> Option<&[u8]> {
        self.pairs
            .iter()
            .find(|(n, _)| n.as_bytes() == name)
            .map(|(_, v)| &**v)
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.pairs.iter().map(|(n, v)| (&**n, &**v))
    }
}

thread_local! {
    static CURRENT: Cell<Option<NonNull<RequestTags>>> = const { Cell::new(None) };
}

/// Restores the previous scope even if `f` unwinds.
struct ScopeGuard(Option<NonNull<RequestTags>>);

impl Drop for ScopeGuard {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.0));
    }
}

/// Run `f` (a store call) with `tags` visible to the plugin hooks it triggers.
pub fn with_request_tags<R>(tags: &RequestTags, f: impl FnOnce() -> R) -> R {
    let previous = CURRENT.with(|c| c.replace(Some(NonNull::from(tags))));
    let _restore = ScopeGuard(previous);
    f()
}

/// Look a tag of the current request up, if there is a current request and it has the tag.
pub fn current_tag<R>(name: &str, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
    current_tag_bytes(name.as_bytes(), f)
}

pub(crate) fn current_tag_bytes<R>(name: &[u8], f: impl FnOnce(&[u8]) -> R) -> Option<R> {
    let ptr = CURRENT.with(Cell::get)?;
    // SAFETY: the pointer was set by `with_request_tags` from a live `&RequestTags`, and is
    // cleared (restored) before that borrow ends; this thread is inside that scope.
    let tags = unsafe { ptr.as_ref() };
    tags.get(name).map(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_scopes() {
        let tags = RequestTags::parse(" device=mobile; region = eu ,").unwrap();
        assert_eq!(tags.get(b"device"), Some(&b"mobile"[..]));
        assert_eq!(current_tag("device", |_| ()), None);
        let inner = RequestTags::from_pairs([("device", "tv")]).unwrap();
        with_request_tags(&tags, || {
            assert_eq!(current_tag("region", |v| v.to_vec()), Some(b"eu".to_vec()));
            with_request_tags(&inner, || {
                assert_eq!(current_tag("device", |v| v.to_vec()), Some(b"tv".to_vec()));
            });
            assert_eq!(
                current_tag("device", |v| v.to_vec()),
                Some(b"mobile".to_vec())
            );
        });
        assert_eq!(current_tag("device", |_| ()), None);
        assert!(matches!(
            RequestTags::parse("novalue"),
            Err(TagError::NotAPair(_))
        ));
        assert!(matches!(
            RequestTags::parse("bad name=1"),
            Err(TagError::BadName(_))
        ));
    }
}

//! What a namespace says about its origin: where a missing key is fetched from, how long to wait,
//! how many requests may be in flight at once, and how long a fetched value lives.
//!
//! The URL is a template: every `{key}` is replaced by the key, percent-encoded byte by byte, so any
//! binary key yields a valid URL and a `/` in a key cannot change the path's shape.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::NamespaceError;

/// The placeholder a URL template must contain.
pub const KEY_PLACEHOLDER: &str = "{key}";
/// A cache should not hold its client longer than this for one origin answer.
const MAX_TIMEOUT_MS: u64 = 60_000;
const MAX_CONCURRENCY: u32 = 1024;
const MAX_PREFETCH_QUEUE: u32 = 1 << 20;

/// A read-through origin: a miss in the namespace is fetched from here, stored, and returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OriginConfig {
    /// `http` or `https` URL containing `{key}`, which is replaced by the percent-encoded key.
    /// A `200` answer's body is the value; `404` and `410` mean the key does not exist.
    #[schema(example = "http://127.0.0.1:9000/items/{key}")]
    pub url: String,
    /// Longest wait for one fetch in milliseconds, including the wait for a free request slot
    /// (1 to 60000).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Most requests this namespace has in flight to the origin at once (1 to 1024). Prefetching
    /// uses at most half of them, so demand misses always find room.
    #[serde(default = "default_concurrency")]
    pub concurrency: u32,
    /// TTL in seconds for fetched values; the namespace's default TTL applies when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_secs: Option<u64>,
    /// Keys that may wait for a background prefetch; further requests are dropped and counted.
    #[serde(default = "default_prefetch_queue")]
    pub prefetch_queue: u32,
}

fn default_timeout_ms() -> u64 {
    1000
}
fn default_concurrency() -> u32 {
    16
}
fn default_prefetch_queue() -> u32 {
    1024
}

impl OriginConfig {
    /// A config for `url` with every other field at its default.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            timeout_ms: default_timeout_ms(),
            concurrency: default_concurrency(),
            ttl_secs: None,
            prefetch_queue: default_prefetch_queue(),
        }
    }

    /// Reject configs that cannot work, naming the field (`origin.url`, `origin.timeout_ms`, …).
    pub fn validate(&self) -> Result<(), NamespaceError> {
        let bad = |field, reason: String| Err(NamespaceError::InvalidConfig { field, reason });
        if !self.url.contains(KEY_PLACEHOLDER) {
            return bad("origin.url", format!("must contain {KEY_PLACEHOLDER}"));
        }
        match reqwest::Url::parse(&self.url.replace(KEY_PLACEHOLDER, "k")) {
            Err(e) => {
                return bad(
                    "origin.url",
                    format!("{:?} is not a valid URL: {e}", self.url),
                );
            }
            Ok(url) if !matches!(url.scheme(), "http" | "https") => {
                return bad(
                    "origin.url",
                    format!("scheme must be http or https, not {}", url.scheme()),
                );
            }
            Ok(url) if url.host_str().is_none_or(str::is_empty) => {
                return bad("origin.url", "must name a host".into());
            }
            Ok(_) => {}
        }
        if self.timeout_ms == 0 || self.timeout_ms > MAX_TIMEOUT_MS {
            return bad(
                "origin.timeout_ms",
                format!("must be from 1 to {MAX_TIMEOUT_MS}"),
            );
        }
        if self.concurrency == 0 || self.concurrency > MAX_CONCURRENCY {
            return bad(
                "origin.concurrency",
                format!("must be from 1 to {MAX_CONCURRENCY}"),
            );
        }
        if let Some(ttl) = self.ttl_secs
            && (ttl == 0 || ttl > u64::MAX / 1000)
        {
            return bad(
                "origin.ttl_secs",
                "must be positive and below 2^64 milliseconds".into(),
            );
        }
        if self.prefetch_queue == 0 || self.prefetch_queue > MAX_PREFETCH_QUEUE {
            return bad(
                "origin.prefetch_queue",
                format!("must be from 1 to {MAX_PREFETCH_QUEUE}"),
            );
        }
        Ok(())
    }
}

/// A parsed URL template: the literal pieces between the `{key}` placeholders.
#[derive(Debug, Clone)]
pub(crate) struct UrlTemplate {
    pieces: Vec<String>,
    /// A `{key}` sits in the path, where `.` and `..` would be resolved away as dot segments.
    key_in_path: bool,
}

impl UrlTemplate {
    pub(crate) fn new(template: &str) -> Self {
        let first = template.find(KEY_PLACEHOLDER).unwrap_or(template.len());
        let query_or_fragment = template.find(['?', '#']).unwrap_or(template.len());
        Self {
            pieces: template.split(KEY_PLACEHOLDER).map(str::to_owned).collect(),
            key_in_path: first < query_or_fragment,
        }
    }

    /// The URL for `key`, or `None` when the key cannot be carried faithfully (`.` or `..` in a
    /// path, which URL parsing resolves to a different resource).
    pub(crate) fn render(&self, key: &[u8]) -> Option<String> {
        if self.key_in_path && matches!(key, b"." | b"..") {
            return None;
        }
        let encoded_len = key.len() * 3;
        let fixed: usize = self.pieces.iter().map(String::len).sum();
        let mut url = String::with_capacity(fixed + encoded_len * (self.pieces.len() - 1));
        for (i, piece) in self.pieces.iter().enumerate() {
            if i > 0 {
                percent_encode(key, &mut url);
            }
            url.push_str(piece);
        }
        Some(url)
    }
}

/// Append `bytes` with everything but RFC 3986 unreserved characters as `%XX`.
fn percent_encode(bytes: &[u8], out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 0xf) as usize] as char);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(cfg: &OriginConfig) -> Option<&'static str> {
        match cfg.validate() {
            Err(NamespaceError::InvalidConfig { field, .. }) => Some(field),
            _ => None,
        }
    }

    #[test]
    fn validation_names_the_field() {
        assert_eq!(field_of(&OriginConfig::new("http://h/items/{key}")), None);
        assert_eq!(
            field_of(&OriginConfig::new("http://h/items/")),
            Some("origin.url")
        );
        assert_eq!(
            field_of(&OriginConfig::new("not a url {key}")),
            Some("origin.url")
        );
        assert_eq!(
            field_of(&OriginConfig::new("ftp://h/{key}")),
            Some("origin.url")
        );
        let zero_timeout = OriginConfig {
            timeout_ms: 0,
            ..OriginConfig::new("http://h/{key}")
        };
        assert_eq!(field_of(&zero_timeout), Some("origin.timeout_ms"));
        let no_slots = OriginConfig {
            concurrency: 0,
            ..OriginConfig::new("http://h/{key}")
        };
        assert_eq!(field_of(&no_slots), Some("origin.concurrency"));
        let zero_ttl = OriginConfig {
            ttl_secs: Some(0),
            ..OriginConfig::new("http://h/{key}")
        };
        assert_eq!(field_of(&zero_ttl), Some("origin.ttl_secs"));
    }

    #[test]
    fn keys_are_percent_encoded_everywhere_they_appear() {
        let t = UrlTemplate::new("http://h/a/{key}?again={key}");
        assert_eq!(
            t.render(b"x/y z").as_deref(),
            Some("http://h/a/x%2Fy%20z?again=x%2Fy%20z")
        );
        assert_eq!(
            t.render(&[0xff, b'~']).as_deref(),
            Some("http://h/a/%FF~?again=%FF~")
        );
        assert_eq!(t.render(b".."), None);
        let in_query = UrlTemplate::new("http://h/get?k={key}");
        assert_eq!(in_query.render(b"..").as_deref(), Some("http://h/get?k=.."));
    }
}

//! Hash-tag routing, as in Redis Cluster: if a key contains `{…}` with something between the
//! first `{` and the next `}`, only that part decides placement — so `user:{42}:cart` and
//! `user:{42}:profile` live together. Otherwise the key is routed by its prefix up to the first
//! `::` when it has one (`tenant-a::photo-9` → `tenant-a`), else by the whole key.

use larder_sdk::{Plugin, Routing, export_plugin};

#[derive(Default)]
pub struct HashTag;

impl Plugin for HashTag {}

pub fn route(key: &[u8]) -> Option<core::ops::Range<usize>> {
    if let Some(open) = key.iter().position(|&b| b == b'{')
        && let Some(len) = key[open + 1..].iter().position(|&b| b == b'}')
        && len > 0
    {
        return Some(open + 1..open + 1 + len);
    }
    let sep = key.windows(2).position(|w| w == b"::")?;
    (sep > 0).then_some(0..sep)
}

impl Routing for HashTag {
    fn route(&mut self, key: &[u8]) -> Option<core::ops::Range<usize>> {
        route(key)
    }
}

export_plugin!(HashTag, [routing]);

#[cfg(test)]
mod tests {
    #[test]
    fn routes_by_tag_then_prefix() {
        assert_eq!(super::route(b"user:{42}:cart"), Some(6..8));
        assert_eq!(super::route(b"a{}b"), None);
        assert_eq!(super::route(b"tenant-a::photo"), Some(0..8));
        assert_eq!(super::route(b"plain"), None);
    }
}

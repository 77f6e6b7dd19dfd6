//! LRU eviction: the least recently used entry leaves first. The reference against which the
//! built-in `lru` policy is benchmarked, and it decides exactly what the built-in decides.
//!
//! The policy itself is [`kit::Lru`], shared with the `adaptive` plugin; this crate serves it as
//! the eviction hook.

use kit::{EvictionHook, Lru};
use larder_sdk::export_plugin;

export_plugin!(EvictionHook<Lru>, [eviction]);

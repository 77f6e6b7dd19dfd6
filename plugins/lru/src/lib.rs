//! LRU eviction: the least recently used entry leaves first.
//!
//! This crate is the built-in `lru` policy (`larder_policy::Lru`, in `runtime/policy`) compiled
//! to wasm32 and served through the plugin ABI: it decides exactly what the built-in decides, and
//! measures what the ABI costs over the native call.

use kit::EvictionHook;
use kit::policy::Lru;
use larder_sdk::export_plugin;

export_plugin!(EvictionHook<Lru>, [eviction]);

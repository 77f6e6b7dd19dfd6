//! Adaptive eviction: S3-FIFO or LRU, whichever the recent traffic favours (set dueling between
//! two sampled trials; see `larder_policy::Adaptive` for how it decides).
//!
//! This crate is the built-in default policy, `adaptive` (`runtime/policy`), compiled to wasm32
//! and served through the plugin ABI: the host passes the plugin the key hash the built-in sees,
//! so it samples the same keys, scores the same trials and switches at the same moments.

use kit::EvictionHook;
use kit::policy::Adaptive;
use larder_sdk::export_plugin;

export_plugin!(EvictionHook<Adaptive>, [eviction]);

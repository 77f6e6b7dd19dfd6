//! SIEVE eviction (Zhang et al., NSDI '24): a FIFO queue with one "visited" bit per entry and a
//! hand that moves from the tail towards the head, sparing visited entries (clearing their bit)
//! and evicting the first unvisited one. Hits only set a bit: no list moves.
//!
//! This crate is the built-in `sieve` policy (`larder_policy::Sieve`, in `runtime/policy`)
//! compiled to wasm32 and served through the plugin ABI: it decides exactly what the built-in
//! decides.

use kit::EvictionHook;
use kit::policy::Sieve;
use larder_sdk::export_plugin;

export_plugin!(EvictionHook<Sieve>, [eviction]);

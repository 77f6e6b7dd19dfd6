//! W-TinyLFU eviction (Einziger et al., as in Caffeine): new entries enter a small LRU window;
//! an entry leaving the window competes with the main region's victim, and the one a frequency
//! sketch says is read more often stays. The main region is a segmented LRU.
//!
//! This crate is the built-in `wtinylfu` policy (`larder_policy::WTinyLfu`, in `runtime/policy`)
//! compiled to wasm32 and served through the plugin ABI: same sketch, same regions, the same
//! decisions.

use kit::EvictionHook;
use kit::policy::WTinyLfu;
use larder_sdk::export_plugin;

export_plugin!(EvictionHook<WTinyLfu>, [eviction]);

//! Data structures and eviction policies the reference plugins share. Everything is indexed by
//! the dense slot handles the host gives entries, so per-entry state lives in vectors, not hash
//! maps.
//!
//! - [`SlotList`]: doubly linked lists threaded through one slot-indexed array.
//! - [`CountMinSketch`], [`Bloom`]: frequency estimation for admission.
//! - [`Policy`]: an eviction policy as a plain value, served as a plugin by [`EvictionHook`].
//!   [`Lru`] and [`S3Fifo`] decide exactly what the built-in `lru` and `s3fifo` decide; the `lru`,
//!   `s3fifo` and `adaptive` plugins are built from them.
//! - [`GhostCache`]: a cache of keys and sizes only, driven by a `Policy` (the trials of
//!   `adaptive`, and a replay harness for tests).

mod ghost;
mod ghost_cache;
pub mod hash;
mod list;
mod lru;
mod policy;
mod s3fifo;
mod sketch;

pub use ghost_cache::GhostCache;
pub use list::SlotList;
pub use lru::Lru;
pub use policy::{EvictionHook, Policy, VictimSink};
pub use s3fifo::{MOVE_TO_MAIN_THRESHOLD, S3Fifo, fingerprint};
pub use sketch::{Bloom, CountMinSketch};

/// 64-bit mix for deriving several hashes from one key hash.
#[inline]
pub fn mix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

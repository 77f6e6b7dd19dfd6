//! Data structures the reference plugins share. Everything is indexed by the dense slot handles
//! the host gives entries, so per-entry state lives in vectors, not hash maps.

mod list;
mod sketch;

pub use list::SlotList;
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

//! Pieces shared by the built-in policies: growth of their dense per-slot vectors, and the key
//! fingerprint.

use alloc::vec::Vec;

use super::Slot;

/// Make `v[slot]` addressable, filling new cells with `fill`. Grows geometrically, so a policy
/// allocates only while its shard's slot table itself grows.
#[inline]
pub(super) fn grow<T: Copy>(v: &mut Vec<T>, slot: Slot, fill: T) {
    let need = slot as usize + 1;
    if v.len() < need {
        let len = need.max(v.len() * 2).max(64);
        v.resize(len, fill);
    }
}

/// A 32-bit fingerprint of a key hash, for policies that remember keys by hash but want to keep
/// 4 bytes per slot rather than 8. Folding keeps entropy from both halves (the high half also
/// picks the shard, so on its own it would be nearly constant within one).
#[inline]
pub fn fingerprint(hash: u64) -> u32 {
    (hash ^ (hash >> 32)) as u32
}

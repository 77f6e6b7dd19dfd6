//! Pieces shared by the built-in policies: growth of their dense per-slot vectors, and the
//! held-back removal that lets them recognise an overwrite.

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

/// An `on_remove` the policy has not applied yet.
///
/// The store overwrites a key as `on_remove` immediately followed by `on_insert` of the same slot
/// and key hash (the size may have changed). Applied literally, that would make every update look
/// like a brand-new key: S3-FIFO would demote a proven key to its probationary queue, FIFO would
/// move it to the back of the line. So a policy holds the removal back for one call: if the next
/// call re-inserts the same slot and hash, the entry stays where it is and the write counts as an
/// access; any other call applies the removal first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct PendingRemoval {
    pub slot: Slot,
    pub hash: u64,
}

impl PendingRemoval {
    /// Whether `slot`/`hash` being inserted is the entry removed a moment ago.
    #[inline]
    pub fn is_reinsert_of(self, slot: Slot, hash: u64) -> bool {
        self.slot == slot && self.hash == hash
    }
}

/// A 32-bit fingerprint of a key hash, for policies that remember keys by hash but want to keep
/// 4 bytes per slot rather than 8. Folding keeps entropy from both halves (the high half also
/// picks the shard, so on its own it would be nearly constant within one).
#[inline]
pub fn fingerprint(hash: u64) -> u32 {
    (hash ^ (hash >> 32)) as u32
}

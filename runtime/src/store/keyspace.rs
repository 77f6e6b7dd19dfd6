//! Operations over more than one key of a namespace: stepping through the keyspace with a
//! cursor (SCAN, KEYS), picking a random key, moving or copying a key (RENAME, COPY — possibly
//! between shards), and writing several keys only if none exists (MSETNX).
//!
//! Anything that needs more than one shard locks them in shard-index order, so two such
//! operations can never wait on each other; single-key operations take one lock and cannot
//! take part in a cycle.

use parking_lot::MutexGuard;

use super::shard::{Removal, Shard};
use super::{Store, insert_admitted};
use crate::clock::now_ms;
use crate::error::StoreError;
use crate::hash::key_hash;

/// The low bits of a scan cursor are the slot within a shard; the bits above, the shard.
const SLOT_BITS: u32 = 40;
const SLOT_MASK: u64 = (1 << SLOT_BITS) - 1;
/// Slots one scan step may look at for each key it was asked for, so a sparse shard still makes
/// progress and a dense one returns about `count` keys.
const SLOTS_PER_KEY: usize = 10;
/// Most slots examined under one shard lock; a large COUNT is served in several lock holds.
const SLOTS_PER_LOCK: usize = 4096;

/// What RENAME and COPY did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyOutcome {
    Done,
    /// The source key is absent.
    NoSource,
    /// The destination exists and the caller asked not to replace it.
    DestinationExists,
}

impl Store {
    /// One step of a keyspace scan: append about `count` live keys to `out` and return the cursor
    /// to pass next; `0` starts a scan and a returned `0` ends it.
    ///
    /// The guarantee is Redis's: a key present from the first step to the last is returned (and
    /// only once, since a present entry never changes slot); a key added or removed meanwhile may
    /// or may not be. A cursor this store never returned is harmless: it ends or resumes the scan
    /// somewhere.
    pub fn scan(&self, cursor: u64, count: usize, out: &mut Vec<Vec<u8>>) -> u64 {
        let mut shard = (cursor >> SLOT_BITS) as usize;
        let mut slot = (cursor & SLOT_MASK) as usize;
        let want = out.len() + count.max(1);
        let mut budget = count.max(1).saturating_mul(SLOTS_PER_KEY);
        let now = now_ms();
        while shard < self.shards.len() {
            let chunk = budget.min(SLOTS_PER_LOCK);
            let guard = self.shards[shard].0.lock();
            // An empty or finished shard costs one unit, so a scan over empty shards ends.
            let examined = chunk.min(guard.slot_count().saturating_sub(slot)).max(1);
            let next = guard.scan_keys(slot, chunk, now, out);
            drop(guard);
            budget = budget.saturating_sub(examined);
            match next {
                Some(next) => slot = next,
                None => {
                    shard += 1;
                    slot = 0;
                }
            }
            if out.len() >= want || budget == 0 {
                break;
            }
        }
        if shard >= self.shards.len() {
            return 0;
        }
        ((shard as u64) << SLOT_BITS) | slot as u64
    }

    /// A live key chosen at random (uniform over shards, then over slots); `None` when empty.
    pub fn random_key(&self) -> Option<Vec<u8>> {
        let n = self.shards.len();
        let start = rand::random_range(0..n);
        let now = now_ms();
        (0..n).find_map(|i| {
            let shard = self.shards[(start + i) % n].0.lock();
            let slots = shard.slot_count();
            if slots == 0 {
                return None;
            }
            shard.live_key_from(rand::random_range(0..slots), now)
        })
    }

    /// Move `src` to `dst` with its value and expiry (RENAME; `keep_existing` makes it
    /// RENAMENX). A replaced destination is deleted. Atomic: both shards are locked throughout.
    /// `src == dst` is `Done` when the key exists (as Redis answers it).
    pub fn rename(
        &self,
        src: &[u8],
        dst: &[u8],
        keep_existing: bool,
    ) -> Result<CopyOutcome, StoreError> {
        self.transfer(src, dst, keep_existing, true)
    }

    /// Copy `src` to `dst` with its value and expiry (COPY; `replace` allows overwriting).
    pub fn copy(&self, src: &[u8], dst: &[u8], replace: bool) -> Result<CopyOutcome, StoreError> {
        self.transfer(src, dst, !replace, false)
    }

    fn transfer(
        &self,
        src: &[u8],
        dst: &[u8],
        keep_existing: bool,
        remove_source: bool,
    ) -> Result<CopyOutcome, StoreError> {
        Self::check_key(src)?;
        Self::check_key(dst)?;
        let (src_hash, dst_hash) = (key_hash(src), key_hash(dst));
        let (a, b) = (
            self.shard_index(src, src_hash),
            self.shard_index(dst, dst_hash),
        );
        let now = now_ms();
        let (mut src_shard, mut other) = self.lock_pair(a, b);
        // The destination's shard: the second guard, or the source's own when they share one.
        macro_rules! dst_shard {
            () => {
                match other.as_deref_mut() {
                    Some(shard) => shard,
                    None => &mut *src_shard,
                }
            };
        }
        let Some(src_slot) = src_shard.find_live(src_hash, src, now) else {
            return Ok(CopyOutcome::NoSource);
        };
        if src == dst {
            return Ok(if keep_existing {
                CopyOutcome::DestinationExists
            } else {
                CopyOutcome::Done
            });
        }
        let entry = src_shard.entry(src_slot);
        let (value, form, deadline) = (entry.value().to_vec(), entry.form(), entry.expires_at);
        self.check_item_len(dst, entry.plain_len())?;
        let dst_slot = dst_shard!().find_live(dst_hash, dst, now);
        if dst_slot.is_some() && keep_existing {
            return Ok(CopyOutcome::DestinationExists);
        }
        if remove_source {
            src_shard.remove_slot(src_slot, Removal::Deleted);
        }
        // Removing the source never moves another entry, so `dst_slot` is still valid.
        match dst_slot {
            Some(slot) => dst_shard!().overwrite(slot, &value, form, deadline),
            None => dst_shard!().insert(dst_hash, dst, &value, form, deadline),
        }
        Ok(CopyOutcome::Done)
    }

    /// Write every pair only if none of the keys exists (MSETNX); true if written. All the
    /// shards involved stay locked from the check to the last write, so no reader sees part of
    /// it and no concurrent writer slips a key in between. A later pair for the same key wins.
    pub fn set_all_if_absent(&self, pairs: &[(&[u8], &[u8])]) -> Result<bool, StoreError> {
        for (key, value) in pairs {
            self.check_item(key, value)?;
        }
        let located: Vec<(u64, usize)> = pairs
            .iter()
            .map(|(key, _)| {
                let hash = key_hash(key);
                (hash, self.shard_index(key, hash))
            })
            .collect();
        // Compressed before any lock is taken.
        let stored: Vec<_> = pairs.iter().map(|(_, value)| self.encode(value)).collect();
        let mut order: Vec<usize> = located.iter().map(|&(_, shard)| shard).collect();
        order.sort_unstable();
        order.dedup();
        let mut guards: Vec<MutexGuard<'_, Shard>> =
            order.iter().map(|&i| self.shards[i].0.lock()).collect();
        let position = |shard: usize| order.binary_search(&shard).unwrap_or(0);
        let now = now_ms();
        for ((key, _), &(hash, shard)) in pairs.iter().zip(&located) {
            if guards[position(shard)].find_live(hash, key, now).is_some() {
                return Ok(false);
            }
        }
        for (((key, _), value), &(hash, shard)) in pairs.iter().zip(&stored).zip(&located) {
            let guard = &mut guards[position(shard)];
            match guard.find_live(hash, key, now) {
                // The same key earlier in this call.
                Some(slot) => {
                    let deadline = guard.entry(slot).expires_at;
                    guard.overwrite(slot, &value.bytes, value.form, deadline);
                }
                None => {
                    let deadline = self.deadline(super::Expiry::Default, now);
                    insert_admitted(guard, hash, key, value, deadline, now);
                }
            }
        }
        Ok(true)
    }

    /// Lock shards `a` and `b` in index order; the second guard is `None` when `a == b`.
    pub(super) fn lock_pair(
        &self,
        a: usize,
        b: usize,
    ) -> (MutexGuard<'_, Shard>, Option<MutexGuard<'_, Shard>>) {
        if a == b {
            return (self.shards[a].0.lock(), None);
        }
        if a < b {
            let first = self.shards[a].0.lock();
            (first, Some(self.shards[b].0.lock()))
        } else {
            let second = self.shards[b].0.lock();
            (self.shards[a].0.lock(), Some(second))
        }
    }
}

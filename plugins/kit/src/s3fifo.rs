//! S3-FIFO (Yang et al., "FIFO queues are all you need for cache eviction", SOSP 2023), deciding
//! exactly what the built-in `s3fifo` policy decides.
//!
//! Three FIFO queues:
//! - **small** (10 % of the capacity in bytes): every new key starts here, so one-hit wonders
//!   leave quickly, before they push anything valuable out.
//! - **main** (the rest): keys that proved themselves. Evicting from it is CLOCK with a 2-bit
//!   frequency: an entry read since its last pass goes back to the head with its count
//!   decremented. A hit only bumps the counter (lazy promotion).
//! - **ghost** (fingerprints only, bounded to 90 % of the capacity in bytes): keys recently
//!   evicted from small. A key that comes back while still there is inserted straight into main.
//!
//! As in libCacheSim's reference implementation (and the built-in): an entry leaves small for
//! main when read at least [`MOVE_TO_MAIN_THRESHOLD`] times while in small; main is evicted from
//! whenever it is over its share or small is empty; until the first eviction, new keys go to main
//! once small is full. An overwrite (a removal immediately followed by the insert of the same slot
//! and key hash) keeps the entry in its queue and counts as a read.

use larder_sdk::Entry;

use crate::ghost::Ghost;
use crate::{Policy, SlotList, VictimSink};

/// Reads while in the small queue that earn promotion to main (libCacheSim's default).
pub const MOVE_TO_MAIN_THRESHOLD: u8 = 2;
const MAX_FREQ: u8 = 3;

const SMALL: usize = 0;
const MAIN: usize = 1;

/// A 32-bit fingerprint of a key hash, as the built-in policies keep it: folding keeps entropy
/// from both halves (the high half also picks the shard, so on its own it would be nearly
/// constant within one).
#[inline]
pub fn fingerprint(hash: u64) -> u32 {
    (hash ^ (hash >> 32)) as u32
}

/// An `on_remove` not applied yet: if the next event re-inserts the same slot and key hash, it
/// was an overwrite and the entry stays where it is.
#[derive(Debug, Clone, Copy)]
struct PendingRemoval {
    slot: u32,
    hash: u64,
}

/// S3-FIFO over the host's slots. The small and main queues share one [`SlotList`], which also
/// keeps each entry's size and each queue's bytes.
#[derive(Default)]
pub struct S3Fifo {
    queues: SlotList<2>,
    /// Per slot: reads since insertion or the last pass of the clock, capped at 3.
    freq: Vec<u8>,
    /// Per slot: the key's [`fingerprint`], for the ghost.
    fingerprint: Vec<u32>,
    capacity_bytes: u64,
    ghost: Ghost,
    /// Set once the cache first overflows; before that, a full small queue overflows into main.
    has_evicted: bool,
    /// The entry inserted just before the host asks for victims. The paper evicts *before*
    /// inserting, the host inserts first: `victims` parks this entry outside the queues while
    /// it chooses, so both orders make the same choices.
    arriving: Option<u32>,
    pending: Option<PendingRemoval>,
}

/// Make `v[slot]` addressable, growing geometrically.
fn grow<T: Copy>(v: &mut Vec<T>, slot: u32, fill: T) {
    let need = slot as usize + 1;
    if v.len() < need {
        v.resize(need.max(v.len() * 2).max(64), fill);
    }
}

impl S3Fifo {
    fn small_target(&self) -> u64 {
        self.capacity_bytes / 10
    }

    fn main_target(&self) -> u64 {
        self.capacity_bytes - self.small_target()
    }

    fn is_resident(&self, slot: u32) -> bool {
        self.queues.list_of(slot).is_some()
    }

    fn resident_bytes(&self) -> u64 {
        self.queues.bytes(SMALL) + self.queues.bytes(MAIN)
    }

    /// Take a resident slot out of its queue and forget it.
    fn detach(&mut self, slot: u32) {
        self.queues.remove(slot);
        if self.arriving == Some(slot) {
            self.arriving = None;
        }
    }

    fn settle(&mut self) {
        if let Some(p) = self.pending.take() {
            self.detach(p.slot);
        }
    }

    /// Evict one entry, promoting or reinserting others on the way. `None` when empty.
    /// Terminates: each pass evicts, moves an entry from small to main (at most once per entry)
    /// or decrements a frequency in main (at most 3 per entry).
    fn evict_one(&mut self) -> Option<u32> {
        loop {
            if self.queues.bytes(MAIN) > self.main_target() || self.queues.len(SMALL) == 0 {
                let slot = self.queues.back(MAIN)?;
                let freq = self.freq[slot as usize];
                if freq > 0 {
                    self.queues.move_front(MAIN, slot);
                    self.freq[slot as usize] = freq - 1;
                } else {
                    self.queues.remove(slot);
                    return Some(slot);
                }
            } else {
                let slot = self.queues.back(SMALL)?;
                if self.freq[slot as usize] >= MOVE_TO_MAIN_THRESHOLD {
                    self.queues.move_front(MAIN, slot);
                    self.freq[slot as usize] = 0;
                } else {
                    self.queues.remove(slot);
                    let size = self.queues.size_of(slot);
                    self.ghost.insert(self.fingerprint[slot as usize], size);
                    return Some(slot);
                }
            }
        }
    }

    /// The key fingerprint and charged size of a resident slot (for a policy built on this one).
    pub fn key_of(&self, slot: u32) -> Option<(u32, u32)> {
        self.is_resident(slot)
            .then(|| (self.fingerprint[slot as usize], self.queues.size_of(slot)))
    }

    /// Another policy sharing this resident set evicted `slot`: forget it the way S3-FIFO forgets
    /// its own victims (a key leaving from small is remembered in the ghost), so that S3-FIFO can
    /// take over the decisions at any moment with its queues intact.
    pub fn forget(&mut self, slot: u32) {
        self.settle();
        let Some((fp, size)) = self.key_of(slot) else {
            return;
        };
        let queue = self.queues.list_of(slot);
        self.detach(slot);
        if queue == Some(SMALL) {
            self.ghost.insert(fp, size);
        }
        self.has_evicted = true;
    }

    /// Resident entries.
    pub fn len(&self) -> usize {
        self.queues.len(SMALL) + self.queues.len(MAIN)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Policy for S3Fifo {
    fn set_capacity(&mut self, capacity_bytes: u64) {
        self.capacity_bytes = capacity_bytes;
        self.ghost.set_capacity(capacity_bytes / 10 * 9);
    }

    fn on_insert(&mut self, entry: Entry) {
        let slot = entry.slot;
        self.arriving = None;
        if let Some(p) = self.pending.take() {
            if p.slot == slot && p.hash == entry.hash && self.is_resident(slot) {
                // Overwrite: same queue, new size, and the write counts as a read.
                self.queues.set_size(slot, entry.size);
                let freq = &mut self.freq[slot as usize];
                *freq = freq.saturating_add(1).min(MAX_FREQ);
                return;
            }
            self.detach(p.slot);
        }
        if self.is_resident(slot) {
            self.detach(slot);
        }
        grow(&mut self.freq, slot, 0);
        grow(&mut self.fingerprint, slot, 0);
        let fp = fingerprint(entry.hash);
        self.freq[slot as usize] = 0;
        self.fingerprint[slot as usize] = fp;
        if self.resident_bytes() + entry.size as u64 > self.capacity_bytes {
            // This insert overflows the cache: the host is about to ask for victims.
            self.has_evicted = true;
        }
        let queue = if self.ghost.take(fp)
            || (!self.has_evicted && self.queues.bytes(SMALL) >= self.small_target())
        {
            MAIN
        } else {
            SMALL
        };
        self.queues.push_front(queue, slot, entry.size);
        self.arriving = Some(slot);
    }

    fn on_access(&mut self, entry: Entry) {
        // `arriving` survives: the host delivers buffered hits between an insert and its victims.
        self.settle();
        if self.is_resident(entry.slot) {
            let freq = &mut self.freq[entry.slot as usize];
            *freq = (*freq + 1).min(MAX_FREQ);
        }
    }

    fn on_remove(&mut self, entry: Entry) {
        self.arriving = None;
        self.settle();
        if self.is_resident(entry.slot) {
            self.pending = Some(PendingRemoval {
                slot: entry.slot,
                hash: entry.hash,
            });
        }
    }

    fn victims<S: VictimSink>(&mut self, bytes: u64, out: &mut S) {
        self.settle();
        self.has_evicted = true;
        if out.is_full() {
            return;
        }
        let mut taken = 0usize;
        let mut freed = 0u64;
        let mut parked = self
            .arriving
            .take()
            .and_then(|slot| Some((slot, self.queues.remove(slot)?)));
        if let Some((slot, SMALL)) = parked
            && self.queues.size_of(slot) as u64 > self.small_target()
        {
            // Larger than all of small: admitting it would flush small for one entry
            // (libCacheSim refuses these too). It leaves at once, and nothing else has to.
            freed += self.queues.size_of(slot) as u64;
            out.push(slot);
            taken += 1;
            parked = None;
        }
        // At least one victim, then as many as it takes to free `bytes` (or fill `out`).
        while !out.is_full() && (taken == 0 || freed < bytes) {
            let Some(slot) = self.evict_one() else { break };
            freed += self.queues.size_of(slot) as u64;
            out.push(slot);
            taken += 1;
        }
        if let Some((slot, queue)) = parked {
            if taken == 0 {
                // Nothing else was resident (`out` had room, so the loop ran dry).
                out.push(slot);
            } else {
                self.queues.move_front(queue, slot);
                if freed < bytes {
                    // Cut short by the size of `out`: the host will ask again at once, and the
                    // newcomer stays parked then too, as within the built-in's single call.
                    self.arriving = Some(slot);
                }
            }
        }
    }

    fn clear(&mut self) {
        self.queues.clear();
        self.freq.clear();
        self.fingerprint.clear();
        self.ghost.clear();
        self.has_evicted = false;
        self.arriving = None;
        self.pending = None;
    }
}

#[cfg(test)]
mod tests {
    //! The built-in policy's unit tests, step for step.
    use super::*;

    fn meta(slot: u32) -> Entry {
        Entry {
            slot,
            hash: 0x5151_0000 + slot as u64,
            size: 1,
        }
    }

    fn victim(p: &mut S3Fifo) -> u32 {
        let mut out = Vec::new();
        p.victims(1, &mut out);
        assert_eq!(out.len(), 1);
        out[0]
    }

    fn queue(p: &S3Fifo, slot: u32) -> Option<usize> {
        p.queues.list_of(slot)
    }

    /// Capacity 10 unit-size entries: small holds 1, main 9.
    fn full_cache() -> S3Fifo {
        let mut p = S3Fifo::default();
        p.set_capacity(10);
        p
    }

    #[test]
    fn one_hit_wonders_leave_from_small_while_main_is_untouched() {
        let mut p = full_cache();
        for s in 0..10 {
            p.on_insert(meta(s));
        }
        assert_eq!((p.queues.len(SMALL), p.queues.len(MAIN)), (1, 9));
        p.on_insert(meta(10));
        assert_eq!(victim(&mut p), 0);
        p.on_insert(meta(11));
        assert_eq!(victim(&mut p), 10);
        p.on_insert(meta(12));
        assert_eq!(victim(&mut p), 11);
        assert_eq!(p.queues.len(MAIN), 9, "main is not disturbed");
    }

    #[test]
    fn a_reread_key_survives_a_scan_that_flushes_everything_else() {
        let mut p = full_cache();
        p.set_capacity(20);
        for s in 0..20 {
            p.on_insert(meta(s));
        }
        p.on_insert(meta(20));
        assert_eq!(victim(&mut p), 0);
        p.on_access(meta(20));
        p.on_access(meta(20));
        p.on_access(meta(5));
        let mut evicted = Vec::new();
        for s in 100..160 {
            p.on_insert(meta(s));
            p.victims(1, &mut evicted);
        }
        assert!(!evicted.contains(&20), "the re-read key was evicted");
        assert!(!evicted.contains(&5), "the re-read main key was evicted");
        assert_eq!(evicted[0], 1);
        assert!(evicted.iter().filter(|&&s| s >= 100).count() >= 55);
        assert_eq!(queue(&p, 20), Some(MAIN));
    }

    #[test]
    fn ghost_hit_goes_straight_to_main() {
        let mut p = full_cache();
        for s in 0..10 {
            p.on_insert(meta(s));
        }
        p.on_insert(meta(10));
        assert_eq!(victim(&mut p), 0);
        p.on_insert(meta(0));
        assert_eq!(queue(&p, 0), Some(MAIN));
        p.on_insert(Entry {
            slot: 11,
            hash: 999,
            size: 1,
        });
        assert_eq!(queue(&p, 11), Some(SMALL));
    }

    #[test]
    fn main_is_a_two_bit_clock() {
        let mut p = S3Fifo::default();
        p.set_capacity(100);
        for s in 0..4 {
            p.ghost.insert(fingerprint(meta(s).hash), 1);
        }
        for s in 0..3 {
            p.on_insert(meta(s));
            assert_eq!(queue(&p, s), Some(MAIN));
        }
        for s in [0, 0, 0, 0, 0, 1] {
            p.on_access(meta(s));
        }
        p.on_insert(meta(3));
        assert_eq!(victim(&mut p), 2);
        assert_eq!(victim(&mut p), 1);
        assert_eq!(victim(&mut p), 3);
        assert_eq!(victim(&mut p), 0);
    }

    #[test]
    fn victims_free_the_bytes_asked_for_and_overwrites_keep_their_place() {
        let mut p = S3Fifo::default();
        p.set_capacity(1000);
        let e = |slot: u32, size: u32| Entry {
            slot,
            hash: slot as u64,
            size,
        };
        for s in 0..10 {
            p.on_insert(e(s, 100));
        }
        let mut out = Vec::new();
        p.victims(250, &mut out);
        assert_eq!(out.len(), 3);
        let before = queue(&p, 5);
        p.on_remove(e(5, 100));
        p.on_insert(e(5, 400));
        assert_eq!(queue(&p, 5), before);
        assert_eq!(p.resident_bytes(), 7 * 100 + 300);
    }

    #[test]
    fn a_full_answer_loses_no_entry() {
        /// Room for `n` victims.
        struct Room(Vec<u32>, usize);
        impl VictimSink for Room {
            fn is_full(&self) -> bool {
                self.0.len() >= self.1
            }
            fn push(&mut self, slot: u32) {
                self.0.push(slot);
            }
        }
        let mut p = S3Fifo::default();
        p.set_capacity(100);
        for s in 0..100 {
            p.on_insert(meta(s));
        }
        p.set_capacity(10);
        let mut out = Room(Vec::new(), 0);
        p.victims(90, &mut out);
        assert_eq!((out.0.len(), p.len()), (0, 100));
        out.1 = 64;
        p.victims(90, &mut out);
        assert_eq!((out.0.len(), p.len()), (64, 36));
        let mut rest = Vec::new();
        p.victims(26, &mut rest);
        assert_eq!((rest.len(), p.len()), (26, 10));
    }

    #[test]
    fn events_for_unknown_slots_are_ignored() {
        let mut p = full_cache();
        p.on_access(meta(7));
        p.on_remove(meta(7));
        p.forget(7);
        let mut out = Vec::new();
        p.victims(1, &mut out);
        assert!(out.is_empty());
        p.on_insert(meta(3));
        p.victims(1, &mut out);
        assert_eq!(out, vec![3]);
        assert!(p.is_empty());
    }
}

//! S3-FIFO (Yang et al., "FIFO queues are all you need for cache eviction", SOSP 2023).
//!
//! Three FIFO queues:
//! - **small** (S, 10 % of the capacity in bytes): every new key starts here. Most keys in a real
//!   workload are read once or never again; S lets these one-hit wonders leave quickly, before
//!   they push anything valuable out.
//! - **main** (M, the rest): keys that proved themselves. Evicting from M is CLOCK with a 2-bit
//!   frequency: an entry read since its last pass goes back to the head with its count
//!   decremented. A hit only bumps the counter and never relinks (lazy promotion), which keeps
//!   the read path cheap.
//! - **ghost** (G, hashes only, bounded to 90 % of the capacity in bytes): keys recently evicted
//!   from S. A key that misses while still in G was evicted too early, so it is inserted straight
//!   into M.
//!
//! Details follow libCacheSim's reference implementation, against whose published miss ratios
//! this one was checked: an entry leaves S for M when read at least [`MOVE_TO_MAIN_THRESHOLD`]
//! times while in S; M is evicted from whenever it is over its share or S is empty; and until the
//! first eviction, new keys go to M once S is full (so a cache warming up fills M too).
//!
//! Per slot: 8 bytes of queue links, 4 of size, 4 of key fingerprint (for the ghost), 1 of
//! queue and 1 of frequency. The frequencies are the policy's [`AccessCounters`]: a read only
//! bumps a byte, so a driver (the plugin host) may bump it in place instead of sending the read. An overwrite ([`EvictionPolicy::on_update`]) keeps the entry in its queue and
//! counts as a read.

use alloc::vec::Vec;

use super::dense::{fingerprint, grow};
use super::ghost::Ghost;
use super::list::{Links, List};
use super::{AccessCounters, EntryMeta, EvictionPolicy, Slot, VictimSink};

/// Reads while in the small queue that earn promotion to main (libCacheSim's default).
pub const MOVE_TO_MAIN_THRESHOLD: u8 = 2;
const MAX_FREQ: u8 = 3;

// State byte: which queue holds the slot.
const QUEUE_MASK: u8 = 0b1100;
const ABSENT: u8 = 0;
const SMALL: u8 = 0b0100;
const MAIN: u8 = 0b1000;

#[derive(Debug, Default)]
pub struct S3Fifo {
    links: Links,
    small: List,
    main: List,
    state: Vec<u8>,
    /// Reads since the entry's last pass, saturating at [`MAX_FREQ`]; stale for absent slots
    /// (an insert resets it).
    freq: Vec<u8>,
    size: Vec<u32>,
    fingerprint: Vec<u32>,
    small_bytes: u64,
    main_bytes: u64,
    capacity_bytes: u64,
    ghost: Ghost,
    /// Set once the cache first overflows; before that, a full small queue overflows into main.
    has_evicted: bool,
    /// The entry inserted just before the store asks for victims. The paper and libCacheSim
    /// evict *before* inserting, the store inserts first: `victims` parks this entry outside the
    /// queues while it chooses, so both orders make the same choices and a newcomer is never
    /// evicted merely for being the newest entry of S.
    arriving: Option<Slot>,
}

/// One read, saturating.
#[inline]
fn bump(freq: &mut u8) {
    if *freq < MAX_FREQ {
        *freq += 1;
    }
}

impl S3Fifo {
    fn small_target(&self) -> u64 {
        self.capacity_bytes / 10
    }

    fn main_target(&self) -> u64 {
        self.capacity_bytes - self.small_target()
    }

    fn state(&self, slot: Slot) -> u8 {
        self.state.get(slot as usize).copied().unwrap_or(ABSENT)
    }

    fn queue_bytes(&mut self, queue: u8) -> &mut u64 {
        if queue == SMALL {
            &mut self.small_bytes
        } else {
            &mut self.main_bytes
        }
    }

    fn push(&mut self, slot: Slot, queue: u8, freq: u8) {
        let list = if queue == SMALL {
            &mut self.small
        } else {
            &mut self.main
        };
        self.links.push_front(list, slot);
        self.state[slot as usize] = queue;
        self.freq[slot as usize] = freq;
        let size = self.size[slot as usize] as u64;
        *self.queue_bytes(queue) += size;
    }

    /// Take a resident slot out of its queue and forget it.
    fn detach(&mut self, slot: Slot) {
        let queue = self.state[slot as usize] & QUEUE_MASK;
        let list = if queue == SMALL {
            &mut self.small
        } else {
            &mut self.main
        };
        self.links.unlink(list, slot);
        let size = self.size[slot as usize] as u64;
        *self.queue_bytes(queue) -= size;
        self.state[slot as usize] = ABSENT;
        if self.arriving == Some(slot) {
            self.arriving = None;
        }
    }

    /// Evict one entry, promoting or reinserting others on the way. `None` when empty.
    /// Terminates: each pass either evicts, moves an entry S → M (at most |S| times) or
    /// decrements a frequency in M (at most 3·|M| times).
    fn evict_one(&mut self) -> Option<Slot> {
        loop {
            if self.main_bytes > self.main_target() || self.small.is_empty() {
                let slot = self.links.pop_back(&mut self.main)?;
                let freq = self.freq[slot as usize];
                let size = self.size[slot as usize] as u64;
                if freq > 0 {
                    self.links.push_front(&mut self.main, slot);
                    self.freq[slot as usize] = freq - 1;
                } else {
                    self.main_bytes -= size;
                    self.state[slot as usize] = ABSENT;
                    return Some(slot);
                }
            } else {
                let slot = self.links.pop_back(&mut self.small)?;
                let freq = self.freq[slot as usize];
                let size = self.size[slot as usize];
                self.small_bytes -= size as u64;
                if freq >= MOVE_TO_MAIN_THRESHOLD {
                    self.links.push_front(&mut self.main, slot);
                    self.state[slot as usize] = MAIN;
                    self.freq[slot as usize] = 0;
                    self.main_bytes += size as u64;
                } else {
                    self.ghost.insert(self.fingerprint[slot as usize], size);
                    self.state[slot as usize] = ABSENT;
                    return Some(slot);
                }
            }
        }
    }
}

impl S3Fifo {
    /// The key fingerprint and charged size of a resident slot (for a policy built on this one).
    pub(super) fn key_of(&self, slot: Slot) -> Option<(u32, u32)> {
        (self.state(slot) != ABSENT)
            .then(|| (self.fingerprint[slot as usize], self.size[slot as usize]))
    }

    /// Another policy sharing this resident set evicted `slot`: forget it the way S3-FIFO forgets
    /// its own victims (a key leaving from S is remembered in the ghost), so that S3-FIFO can take
    /// over the decisions at any moment with its queues intact.
    pub(super) fn evicted_elsewhere(&mut self, slot: Slot) {
        let Some((fp, size)) = self.key_of(slot) else {
            return;
        };
        let queue = self.state[slot as usize] & QUEUE_MASK;
        self.detach(slot);
        if queue == SMALL {
            self.ghost.insert(fp, size);
        }
        self.has_evicted = true;
    }
}

impl EvictionPolicy for S3Fifo {
    fn name(&self) -> &str {
        "s3fifo"
    }

    fn set_capacity(&mut self, capacity_bytes: u64) {
        self.capacity_bytes = capacity_bytes;
        self.ghost.set_capacity(capacity_bytes / 10 * 9);
    }

    fn on_insert(&mut self, entry: EntryMeta) {
        let slot = entry.slot;
        self.arriving = None;
        if self.state(slot) != ABSENT {
            self.detach(slot);
        }
        grow(&mut self.state, slot, ABSENT);
        grow(&mut self.freq, slot, 0);
        grow(&mut self.size, slot, 0);
        grow(&mut self.fingerprint, slot, 0);
        let fp = fingerprint(entry.hash);
        self.size[slot as usize] = entry.size;
        self.fingerprint[slot as usize] = fp;
        if self.small_bytes + self.main_bytes + entry.size as u64 > self.capacity_bytes {
            // This insert overflows the cache: the store is about to ask for victims.
            self.has_evicted = true;
        }
        let queue = if self.ghost.take(fp)
            || (!self.has_evicted && self.small_bytes >= self.small_target())
        {
            MAIN
        } else {
            SMALL
        };
        self.push(slot, queue, 0);
        self.arriving = Some(slot);
    }

    /// Overwrite: same queue, new size, and the write counts as a read.
    fn on_update(&mut self, _old: EntryMeta, new: EntryMeta) {
        self.arriving = None;
        let slot = new.slot;
        let state = self.state(slot);
        if state == ABSENT {
            return;
        }
        let queue = state & QUEUE_MASK;
        let old = core::mem::replace(&mut self.size[slot as usize], new.size);
        let bytes = self.queue_bytes(queue);
        *bytes = *bytes - old as u64 + new.size as u64;
        bump(&mut self.freq[slot as usize]);
    }

    fn on_access(&mut self, slots: &[Slot]) {
        // `arriving` survives: the store flushes buffered hits between an insert and its victims.
        for &slot in slots {
            if self.state(slot) != ABSENT {
                bump(&mut self.freq[slot as usize]);
            }
        }
    }

    fn on_remove(&mut self, entry: EntryMeta) {
        self.arriving = None;
        if self.state(entry.slot) != ABSENT {
            self.detach(entry.slot);
        }
    }

    fn victims(&mut self, bytes: u64, out: &mut dyn VictimSink) {
        self.has_evicted = true;
        if out.is_full() {
            return;
        }
        let mut taken = 0usize;
        let mut freed = 0u64;
        let mut parked = self.arriving.take().map(|slot| {
            let queue = self.state[slot as usize] & QUEUE_MASK;
            let size = self.size[slot as usize] as u64;
            let list = if queue == SMALL {
                &mut self.small
            } else {
                &mut self.main
            };
            self.links.unlink(list, slot);
            *self.queue_bytes(queue) -= size;
            (slot, queue)
        });
        if let Some((slot, SMALL)) = parked
            && self.size[slot as usize] as u64 > self.small_target()
        {
            // Larger than all of S: admitting it would flush S for one entry (libCacheSim
            // refuses these too). It leaves at once, and nothing else has to.
            freed += self.size[slot as usize] as u64;
            self.state[slot as usize] = ABSENT;
            out.push(slot);
            taken += 1;
            parked = None;
        }
        // At least one victim, then as many as it takes to free `bytes` (or fill `out`).
        while !out.is_full() && (taken == 0 || freed < bytes) {
            let Some(slot) = self.evict_one() else { break };
            out.push(slot);
            taken += 1;
            freed += self.size[slot as usize] as u64;
        }
        if let Some((slot, queue)) = parked {
            if taken == 0 {
                // Nothing else was resident.
                self.state[slot as usize] = ABSENT;
                out.push(slot);
            } else {
                let freq = self.freq[slot as usize];
                self.push(slot, queue, freq);
                if freed < bytes {
                    // Cut short by a bounded sink: the host asks again at once, and the
                    // newcomer stays parked then too, exactly as within one unbounded call.
                    self.arriving = Some(slot);
                }
            }
        }
    }

    /// The frequencies: a read is `freq = min(freq + 1, 3)` and nothing else, and no event for
    /// one slot reads or writes another slot's frequency.
    fn access_counters(&mut self) -> Option<AccessCounters<'_>> {
        Some(AccessCounters {
            counters: &mut self.freq,
            max: MAX_FREQ,
        })
    }

    fn clear(&mut self) {
        self.links.clear();
        self.small = List::default();
        self.main = List::default();
        self.state.clear();
        self.freq.clear();
        self.size.clear();
        self.fingerprint.clear();
        self.small_bytes = 0;
        self.main_bytes = 0;
        self.ghost.clear();
        self.has_evicted = false;
        self.arriving = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;
    use proptest::prelude::*;

    fn meta(slot: Slot) -> EntryMeta {
        EntryMeta {
            slot,
            hash: 0x5151_0000 + slot as u64,
            size: 1,
        }
    }

    fn victim(p: &mut S3Fifo) -> Slot {
        let mut out = Vec::new();
        p.victims(1, &mut out);
        assert_eq!(out.len(), 1);
        out[0]
    }

    /// Capacity 10 unit-size entries: S holds 1, M holds 9.
    fn full_cache() -> S3Fifo {
        let mut p = S3Fifo::default();
        p.set_capacity(10);
        p
    }

    #[test]
    fn one_hit_wonders_leave_from_small_while_main_is_untouched() {
        let mut p = full_cache();
        // Warm-up: slot 0 lands in S; once S is full (before any eviction) the rest go to M.
        for s in 0..10 {
            p.on_insert(meta(s));
        }
        assert_eq!((p.small.len(), p.main.len()), (1, 9));
        // A stream of new keys, never read again: each evicts the previous newcomer from S.
        p.on_insert(meta(10));
        assert_eq!(victim(&mut p), 0);
        p.on_insert(meta(11));
        assert_eq!(victim(&mut p), 10);
        p.on_insert(meta(12));
        assert_eq!(victim(&mut p), 11);
        assert_eq!(
            p.main.len(),
            9,
            "main is not disturbed by the one-hit wonders"
        );
    }

    #[test]
    fn a_reread_key_survives_a_scan_that_flushes_everything_else() {
        let mut p = full_cache();
        p.set_capacity(20); // S = 2, M = 18
        for s in 0..20 {
            p.on_insert(meta(s));
        }
        // Evict once so new keys go to S from now on.
        p.on_insert(meta(20));
        let first = victim(&mut p);
        assert_eq!(first, 0);
        // Key 20 is read twice while in S: it is promoted to M at its eviction turn.
        p.on_access(&[20, 20]);
        // Key 5 (in M) is read once: survives one pass of M's clock.
        p.on_access(&[5]);
        // A scan of 60 new keys, none read again.
        let mut evicted = Vec::new();
        for s in 100..160 {
            p.on_insert(meta(s));
            let mut out = Vec::new();
            p.victims(1, &mut out);
            evicted.extend(out);
        }
        assert!(
            !evicted.contains(&20),
            "the re-read key was evicted by the scan"
        );
        assert!(
            !evicted.contains(&5),
            "the re-read main key was evicted by the scan"
        );
        // Key 1 (in S, never re-read) went first; the scan keys themselves left from S.
        assert_eq!(evicted[0], 1);
        assert!(evicted.iter().filter(|&&s| s >= 100).count() >= 55);
        assert_eq!(p.state(20) & QUEUE_MASK, MAIN);
    }

    #[test]
    fn ghost_hit_goes_straight_to_main() {
        let mut p = full_cache();
        for s in 0..10 {
            p.on_insert(meta(s));
        }
        p.on_insert(meta(10));
        assert_eq!(victim(&mut p), 0); // slot 0's key leaves S into the ghost
        // The same key comes back (in a reused slot 0): ghost hit, so it is inserted into M.
        p.on_insert(meta(0));
        assert_eq!(p.state(0) & QUEUE_MASK, MAIN);
        // An unrelated new key still goes to S.
        p.on_insert(EntryMeta {
            slot: 11,
            hash: 999,
            size: 1,
        });
        assert_eq!(p.state(11) & QUEUE_MASK, SMALL);
    }

    #[test]
    fn main_is_a_two_bit_clock() {
        let mut p = S3Fifo::default();
        p.set_capacity(100);
        // Force everything into M by starting from a ghost hit for each key.
        for s in 0..4 {
            p.ghost.insert(fingerprint(meta(s).hash), 1);
        }
        for s in 0..3 {
            p.on_insert(meta(s));
            assert_eq!(p.state(s) & QUEUE_MASK, MAIN);
        }
        // Slot 0 read 5 times (frequency saturates at 3), slot 1 once, slot 2 never.
        p.on_access(&[0, 0, 0, 0, 0, 1]);
        // Slot 3 arrives: its eviction sees only 0, 1 and 2. 0 (3→2) and 1 (1→0) go around,
        // 2 is evicted; then 3 joins at the head.
        p.on_insert(meta(3));
        assert_eq!(victim(&mut p), 2);
        // 0 (2→1) goes around, 1 (0) is evicted, then 3 (never read), then 0.
        assert_eq!(victim(&mut p), 1);
        assert_eq!(victim(&mut p), 3);
        assert_eq!(victim(&mut p), 0);
    }

    #[test]
    fn victims_free_the_bytes_asked_for_and_track_sizes() {
        let mut p = S3Fifo::default();
        p.set_capacity(1000);
        for s in 0..10 {
            p.on_insert(EntryMeta {
                slot: s,
                hash: s as u64,
                size: 100,
            });
        }
        let mut out = Vec::new();
        p.victims(250, &mut out);
        assert_eq!(out.len(), 3);
        // Overwrite growing slot 5 from 100 to 400 bytes keeps it resident and accounted.
        p.on_update(
            EntryMeta {
                slot: 5,
                hash: 5,
                size: 100,
            },
            EntryMeta {
                slot: 5,
                hash: 5,
                size: 400,
            },
        );
        assert_eq!(p.small_bytes + p.main_bytes, 7 * 100 + 300);
    }

    #[test]
    fn capacity_changes_apply_to_the_next_eviction() {
        let mut p = S3Fifo::default();
        p.set_capacity(10);
        for s in 0..10 {
            p.on_insert(meta(s));
        }
        p.set_capacity(4);
        let mut out = Vec::new();
        while p.small_bytes + p.main_bytes > 4 {
            let before = out.len();
            p.victims(1, &mut out);
            assert!(out.len() > before);
        }
        assert_eq!(p.small_bytes + p.main_bytes, 4);
        p.clear();
        assert!(p.small.is_empty() && p.main.is_empty() && p.ghost.len() == 0);
    }

    proptest! {
        #[test]
        fn contract_holds(ops in testing::ops()) {
            testing::check_contract(|| Box::new(S3Fifo::default()), &ops)?;
        }
    }
}

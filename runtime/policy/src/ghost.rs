//! S3-FIFO's ghost queue: a bounded FIFO of *hashes* of recently evicted keys, with O(1)
//! membership.
//!
//! Holds no values, only a 32-bit fingerprint and the size the key had, so a key that comes back
//! soon after its eviction can be recognised. Bounded by the bytes its keys occupied when resident
//! (libCacheSim's convention), not by count.
//!
//! Layout: the order lives in a ring of fingerprints whose sequence numbers are implicit in their
//! position; an index maps a fingerprint to the sequence number of its live ring entry. Taking a
//! key out (a ghost hit) removes it from the index only and leaves a stale ring entry, which is
//! skipped when it reaches the front. Stale entries are bounded too (see `trim`), so memory stays
//! proportional to the capacity.

use alloc::collections::VecDeque;

use hashbrown::HashTable;

#[derive(Debug, Clone, Copy)]
struct Live {
    fingerprint: u32,
    size: u32,
    seq: u64,
}

#[derive(Debug, Default)]
pub(super) struct Ghost {
    /// Oldest at the front. `(fingerprint, size)`; the entry at index `i` has sequence `front_seq + i`.
    ring: VecDeque<(u32, u32)>,
    front_seq: u64,
    index: HashTable<Live>,
    /// Bytes of the keys in `index` (live entries).
    live_bytes: u64,
    /// Bytes of every ring entry, stale ones included.
    ring_bytes: u64,
    capacity_bytes: u64,
}

#[inline]
fn spread(fingerprint: u32) -> u64 {
    // The fingerprint is already a hash; the multiply spreads it over the 64 bits hashbrown reads.
    (fingerprint as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

impl Ghost {
    pub fn set_capacity(&mut self, capacity_bytes: u64) {
        self.capacity_bytes = capacity_bytes;
        self.trim();
    }

    /// Remember an evicted key.
    pub fn insert(&mut self, fingerprint: u32, size: u32) {
        if self.capacity_bytes == 0 {
            return;
        }
        let seq = self.front_seq + self.ring.len() as u64;
        self.ring.push_back((fingerprint, size));
        self.ring_bytes += size as u64;
        let live = Live {
            fingerprint,
            size,
            seq,
        };
        match self
            .index
            .find_mut(spread(fingerprint), |l| l.fingerprint == fingerprint)
        {
            // Two keys with one fingerprint: the newer takes over; the older ring entry goes stale.
            Some(old) => {
                self.live_bytes = self.live_bytes - old.size as u64 + size as u64;
                *old = live;
            }
            None => {
                self.index
                    .insert_unique(spread(fingerprint), live, |l| spread(l.fingerprint));
                self.live_bytes += size as u64;
            }
        }
        self.trim();
    }

    /// Whether the key was in the ghost; it leaves the ghost either way.
    pub fn take(&mut self, fingerprint: u32) -> bool {
        match self
            .index
            .find_entry(spread(fingerprint), |l| l.fingerprint == fingerprint)
        {
            Ok(found) => {
                let (live, _) = found.remove();
                self.live_bytes -= live.size as u64;
                true
            }
            Err(_) => false,
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn clear(&mut self) {
        self.ring.clear();
        self.index.clear();
        self.front_seq = 0;
        self.live_bytes = 0;
        self.ring_bytes = 0;
    }

    /// Drop the oldest entries while the live keys exceed the capacity, or while stale entries
    /// make the ring more than twice the capacity. Amortised O(1): each entry is popped once.
    fn trim(&mut self) {
        while self.live_bytes > self.capacity_bytes || self.ring_bytes > 2 * self.capacity_bytes {
            let Some((fingerprint, size)) = self.ring.pop_front() else {
                break;
            };
            let seq = self.front_seq;
            self.front_seq += 1;
            self.ring_bytes -= size as u64;
            if let Ok(found) = self.index.find_entry(spread(fingerprint), |l| {
                l.fingerprint == fingerprint && l.seq == seq
            }) {
                found.remove();
                self.live_bytes -= size as u64;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_recent_keys_and_forgets_the_oldest_by_bytes() {
        let mut g = Ghost::default();
        g.set_capacity(30);
        g.insert(1, 10);
        g.insert(2, 10);
        g.insert(3, 10);
        g.insert(4, 10); // 40 bytes > 30: key 1 falls out
        assert!(!g.take(1));
        assert!(g.take(2));
        assert!(!g.take(2), "a hit takes the key out");
        assert_eq!(g.len(), 2);
    }

    #[test]
    fn popping_a_stale_entry_keeps_the_live_one_with_the_same_fingerprint() {
        let mut g = Ghost::default();
        g.set_capacity(10);
        g.insert(7, 10);
        assert!(g.take(7));
        g.insert(8, 10);
        assert!(g.take(8));
        // The ring now holds two stale entries (20 bytes); this insert pushes it past twice the
        // capacity, so the stale entry for 7 is popped — the live one must survive.
        g.insert(7, 10);
        assert!(g.take(7));
    }

    #[test]
    fn zero_capacity_remembers_nothing() {
        let mut g = Ghost::default();
        g.insert(1, 1);
        assert!(!g.take(1));
    }
}

//! SIEVE (Zhang et al., "SIEVE is Simpler than LRU", NSDI 2024).
//!
//! One FIFO queue, one "visited" bit per entry and a hand. A hit only sets the bit — no relinking,
//! which is what makes SIEVE cheap on the read path. To evict, the hand walks from where it last
//! stopped towards newer entries (wrapping from the newest back to the oldest), clearing set bits,
//! and evicts the first entry whose bit is clear; it then rests on the next newer entry. Survivors
//! keep their place in the queue, so new arrivals and retained entries never mix: new keys that
//! are not re-read leave quickly, while popular keys sit behind the hand.
//!
//! SIEVE is not size-aware; it hands back one victim per call and the store asks again.

use alloc::vec::Vec;

use super::dense::grow;
use super::list::{Links, List};
use super::{AccessCounters, EntryMeta, EvictionPolicy, Slot, VictimSink};

const ABSENT: u8 = 0;
const RESIDENT: u8 = 1;

#[derive(Debug, Default)]
pub struct Sieve {
    links: Links,
    /// Front is the newest entry, back the oldest.
    queue: List,
    /// `RESIDENT` or `ABSENT`.
    flags: Vec<u8>,
    /// 1 once read since the hand last passed: the policy's [`AccessCounters`], so a read is one
    /// byte a driver may set in place. Stale for absent slots (an insert clears it).
    visited: Vec<u8>,
    /// The next entry to examine; `None` means start from the oldest.
    hand: Option<Slot>,
    /// The newest entry, until the next insert or removal. The paper evicts *before* inserting;
    /// the store inserts first. The hand passes over this entry (it is always the newest, so the
    /// hand wraps to the oldest instead), so both orders evict the same entries and a newcomer is
    /// never evicted merely because the hand reached the head.
    arriving: Option<Slot>,
}

impl Sieve {
    fn flag(&self, slot: Slot) -> u8 {
        self.flags.get(slot as usize).copied().unwrap_or(ABSENT)
    }

    fn detach(&mut self, slot: Slot) {
        if self.hand == Some(slot) {
            self.hand = self.links.newer(slot);
        }
        self.links.unlink(&mut self.queue, slot);
        self.flags[slot as usize] = ABSENT;
        if self.arriving == Some(slot) {
            self.arriving = None;
        }
    }

    /// The hand's sweep: returns the evicted slot, or `None` when the queue is empty.
    fn sweep(&mut self) -> Option<Slot> {
        let oldest = self.queue.back()?;
        let arriving = self.arriving;
        let skip_arriving = |slot: Option<Slot>| slot.filter(|&s| Some(s) != arriving);
        let cur = if Some(oldest) == arriving {
            // The newcomer is the only entry.
            oldest
        } else {
            let mut cur = skip_arriving(self.hand).unwrap_or(oldest);
            // Terminates within one lap: every visited entry passed has its bit cleared.
            while self.visited[cur as usize] != 0 {
                self.visited[cur as usize] = 0;
                cur = skip_arriving(self.links.newer(cur)).unwrap_or(oldest);
            }
            cur
        };
        self.hand = skip_arriving(self.links.newer(cur));
        if Some(cur) == arriving {
            self.arriving = None;
        }
        self.links.unlink(&mut self.queue, cur);
        self.flags[cur as usize] = ABSENT;
        Some(cur)
    }
}

impl EvictionPolicy for Sieve {
    fn name(&self) -> &str {
        "sieve"
    }

    fn set_capacity(&mut self, _capacity_bytes: u64) {}

    fn on_insert(&mut self, entry: EntryMeta) {
        self.arriving = None;
        if self.flag(entry.slot) != ABSENT {
            self.detach(entry.slot);
        }
        grow(&mut self.flags, entry.slot, ABSENT);
        grow(&mut self.visited, entry.slot, 0);
        self.flags[entry.slot as usize] = RESIDENT;
        self.visited[entry.slot as usize] = 0;
        self.links.push_front(&mut self.queue, entry.slot);
        self.arriving = Some(entry.slot);
    }

    /// An overwrite: the entry keeps its place and the write counts as a visit.
    fn on_update(&mut self, _old: EntryMeta, new: EntryMeta) {
        self.arriving = None;
        if self.flag(new.slot) != ABSENT {
            self.visited[new.slot as usize] = 1;
        }
    }

    fn on_access(&mut self, slots: &[Slot]) {
        for &slot in slots {
            if self.flag(slot) != ABSENT {
                self.visited[slot as usize] = 1;
            }
        }
    }

    fn on_remove(&mut self, entry: EntryMeta) {
        self.arriving = None;
        if self.flag(entry.slot) != ABSENT {
            self.detach(entry.slot);
        }
    }

    fn victims(&mut self, _bytes: u64, out: &mut dyn VictimSink) {
        if out.is_full() {
            return;
        }
        if let Some(slot) = self.sweep() {
            out.push(slot);
        }
    }

    /// The visited bits: a read sets one to 1 and does nothing else.
    fn access_counters(&mut self) -> Option<AccessCounters<'_>> {
        Some(AccessCounters {
            counters: &mut self.visited,
            max: 1,
        })
    }

    fn clear(&mut self) {
        self.links.clear();
        self.queue = List::default();
        self.flags.clear();
        self.visited.clear();
        self.hand = None;
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
            hash: slot as u64 * 7919,
            size: 1,
        }
    }

    fn victim(p: &mut Sieve) -> Slot {
        let mut out = Vec::new();
        p.victims(1, &mut out);
        assert_eq!(out.len(), 1);
        out[0]
    }

    // Slots named after the letters in the paper's illustration.
    const A: Slot = 0;
    const B: Slot = 1;
    const C: Slot = 2;
    const D: Slot = 3;
    const E: Slot = 4;
    const F: Slot = 5;
    const G: Slot = 6;
    const H: Slot = 7;
    const I: Slot = 8;
    const J: Slot = 9;

    /// A queue A..H (A oldest) with A, B and G visited, worked through by hand.
    #[test]
    fn hand_sweeps_like_the_paper_example() {
        let mut p = Sieve::default();
        for s in [A, B, C, D, E, F, G, H] {
            p.on_insert(meta(s));
        }
        p.on_access(&[A, B, G]);

        // Miss on I (evicting before inserting, as the paper does): the hand starts at the
        // oldest, clears A and B, evicts C, rests on D.
        assert_eq!(victim(&mut p), C);
        p.on_insert(meta(I));
        // Hits on A and D set their bits again; A stays behind the hand.
        p.on_access(&[A, D]);
        // Miss on J: D is visited (cleared), E is evicted, hand on F.
        assert_eq!(victim(&mut p), E);
        p.on_insert(meta(J));
        // F is unvisited: evicted at once.
        assert_eq!(victim(&mut p), F);
        // G visited (cleared), H evicted; the hand rests on I.
        assert_eq!(victim(&mut p), H);
        // I was never read: it goes next. J is the newcomer whose insert these evictions make
        // room for (the paper evicts before inserting), so the hand passes over it and wraps.
        assert_eq!(victim(&mut p), I);
        // From the oldest: A was visited after the first sweep (cleared now), B is unvisited.
        assert_eq!(victim(&mut p), B);
        // Left: A, D and G (all cleared) in queue order, then the newcomer J alone.
        assert_eq!(victim(&mut p), D);
        assert_eq!(victim(&mut p), G);
        assert_eq!(victim(&mut p), A);
        assert_eq!(victim(&mut p), J);
        let mut out = Vec::new();
        p.victims(1, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn removing_the_entry_under_the_hand_moves_the_hand_on() {
        let mut p = Sieve::default();
        for s in [A, B, C, D] {
            p.on_insert(meta(s));
        }
        p.on_access(&[A]);
        assert_eq!(victim(&mut p), B); // hand now on C
        p.on_remove(meta(C));
        p.on_access(&[D]);
        // The hand moved to D (visited, cleared), wraps to A (cleared earlier, so evicted).
        assert_eq!(victim(&mut p), A);
        assert_eq!(victim(&mut p), D);
    }

    #[test]
    fn overwrite_counts_as_a_visit_and_keeps_the_place() {
        let mut p = Sieve::default();
        for s in [A, B, C] {
            p.on_insert(meta(s));
        }
        p.on_update(meta(A), meta(A));
        assert_eq!(victim(&mut p), B);
        assert_eq!(victim(&mut p), C);
        assert_eq!(victim(&mut p), A);
    }

    proptest! {
        #[test]
        fn contract_holds(ops in testing::ops()) {
            testing::check_contract(|| Box::new(Sieve::default()), &ops)?;
        }
    }
}

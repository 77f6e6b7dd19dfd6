//! W-TinyLFU (Einziger, Friedman & Manes, "TinyLFU: A Highly Efficient Cache Admission Policy",
//! 2017), laid out as in Caffeine.
//!
//! - **window** (1 % of the capacity in bytes, LRU): every new key enters here, so a burst of new
//!   keys gets a short chance to be re-read before it has to compete.
//! - **main**, a segmented LRU over the rest: **probation** (entries that have not been re-read
//!   since they entered main) and **protected** (80 % of main: entries re-read in probation).
//!   Overflowing protected demotes its least recent entry back to probation.
//! - **admission**: when the cache must shrink, entries pushed out of the window become
//!   *candidates* and duel the *victim* at the cold end of probation: whichever the
//!   [`FrequencySketch`] says was requested less often leaves. A one-off scan therefore cannot
//!   displace keys with a history. Ties go to the incumbent; a candidate with a high count is
//!   also admitted 1 time in 128 at random, so an attacker cannot pin the cache by inflating a
//!   victim's count with colliding keys (Caffeine's hash-flooding defence).
//!
//! Without a doorkeeper (the sketch's 4-bit counters are small enough) and with a fixed window
//! (no hill climbing). Per slot: 8 bytes of links, 4 of size, 4 of key fingerprint, 1 of queue;
//! plus the sketch, about 8 bytes per resident key.

use alloc::vec::Vec;

use super::dense::{fingerprint, grow};
use super::list::{Links, List};
use super::sketch::FrequencySketch;
use super::{EntryMeta, EvictionPolicy, Slot, VictimSink};

const ABSENT: u8 = 0;
const WINDOW: u8 = 1;
const PROBATION: u8 = 2;
const PROTECTED: u8 = 3;

/// Candidates at least this frequent may be admitted at random despite losing the duel.
const HASH_FLOODING_THRESHOLD: u8 = 6;

#[derive(Debug)]
pub struct WTinyLfu {
    links: Links,
    window: List,
    probation: List,
    protected: List,
    queue: Vec<u8>,
    size: Vec<u32>,
    fingerprint: Vec<u32>,
    window_bytes: u64,
    probation_bytes: u64,
    protected_bytes: u64,
    capacity_bytes: u64,
    resident: usize,
    sketch: FrequencySketch,
    /// xorshift64 state for the hash-flooding defence; fixed seed, so runs are reproducible.
    rng: u64,
    /// Where the last answer's duels stopped when the sink filled; cleared by any event.
    resume: Option<Duels>,
}

/// The state of one round of duels: the next candidate (from the drained window, then the
/// window itself) and the next victim (probation, then protected, then the window).
#[derive(Debug, Clone, Copy)]
struct Duels {
    candidate: Option<Slot>,
    candidates_from_window: bool,
    victim_queue: u8,
    victim: Option<Slot>,
}

impl Default for WTinyLfu {
    fn default() -> Self {
        Self {
            links: Links::default(),
            window: List::default(),
            probation: List::default(),
            protected: List::default(),
            queue: Vec::new(),
            size: Vec::new(),
            fingerprint: Vec::new(),
            window_bytes: 0,
            probation_bytes: 0,
            protected_bytes: 0,
            capacity_bytes: 0,
            resident: 0,
            sketch: FrequencySketch::default(),
            rng: 0x2545_f491_4f6c_dd1d,
            resume: None,
        }
    }
}

impl WTinyLfu {
    fn window_target(&self) -> u64 {
        self.capacity_bytes / 100
    }

    fn protected_target(&self) -> u64 {
        (self.capacity_bytes - self.window_target()) / 10 * 8
    }

    fn total_bytes(&self) -> u64 {
        self.window_bytes + self.probation_bytes + self.protected_bytes
    }

    fn queue_of(&self, slot: Slot) -> u8 {
        self.queue.get(slot as usize).copied().unwrap_or(ABSENT)
    }

    /// The list and byte counter of `queue` (split borrows from `self`).
    fn parts(&mut self, queue: u8) -> (&mut Links, &mut List, &mut u64) {
        match queue {
            WINDOW => (&mut self.links, &mut self.window, &mut self.window_bytes),
            PROBATION => (
                &mut self.links,
                &mut self.probation,
                &mut self.probation_bytes,
            ),
            _ => (
                &mut self.links,
                &mut self.protected,
                &mut self.protected_bytes,
            ),
        }
    }

    /// Put a slot at the most recent end of `queue`.
    fn attach(&mut self, slot: Slot, queue: u8) {
        let size = self.size[slot as usize] as u64;
        let (links, list, bytes) = self.parts(queue);
        links.push_front(list, slot);
        *bytes += size;
        self.queue[slot as usize] = queue;
    }

    /// Take a slot out of whichever queue holds it (it stays resident).
    fn unlink(&mut self, slot: Slot) {
        let queue = self.queue[slot as usize];
        let size = self.size[slot as usize] as u64;
        let (links, list, bytes) = self.parts(queue);
        links.unlink(list, slot);
        *bytes -= size;
        self.queue[slot as usize] = ABSENT;
    }

    /// Forget a resident slot.
    fn detach(&mut self, slot: Slot) {
        self.unlink(slot);
        self.resident -= 1;
    }

    fn access(&mut self, slot: Slot) {
        self.sketch
            .increment(self.fingerprint[slot as usize] as u64);
        match self.queue[slot as usize] {
            WINDOW => self.links.move_to_front(&mut self.window, slot),
            PROTECTED => self.links.move_to_front(&mut self.protected, slot),
            PROBATION => {
                self.unlink(slot);
                self.attach(slot, PROTECTED);
                // Demote the coldest protected entries (possibly this one, if it alone is larger
                // than protected's share) back to probation.
                while self.protected_bytes > self.protected_target() {
                    let Some(cold) = self.protected.back() else {
                        break;
                    };
                    self.unlink(cold);
                    self.attach(cold, PROBATION);
                }
            }
            _ => {}
        }
    }

    /// Move entries from the window's cold end to probation until the window fits its share.
    /// Returns the first (oldest) one moved: the first admission candidate.
    fn drain_window(&mut self) -> Option<Slot> {
        let mut first = None;
        while self.window_bytes > self.window_target() {
            let Some(slot) = self.window.back() else {
                break;
            };
            self.unlink(slot);
            self.attach(slot, PROBATION);
            first.get_or_insert(slot);
        }
        first
    }

    /// TinyLFU's duel: should `candidate` stay at the expense of `victim`?
    fn admit(&mut self, candidate: Slot, victim: Slot) -> bool {
        let candidate_freq = self
            .sketch
            .frequency(self.fingerprint[candidate as usize] as u64);
        let victim_freq = self
            .sketch
            .frequency(self.fingerprint[victim as usize] as u64);
        if candidate_freq > victim_freq {
            true
        } else if candidate_freq >= HASH_FLOODING_THRESHOLD {
            self.rng ^= self.rng << 13;
            self.rng ^= self.rng >> 7;
            self.rng ^= self.rng << 17;
            self.rng & 127 == 0
        } else {
            false
        }
    }

    fn evict(&mut self, slot: Slot, out: &mut dyn VictimSink, freed: &mut u64, taken: &mut usize) {
        *taken += 1;
        *freed += self.size[slot as usize] as u64;
        self.detach(slot);
        out.push(slot);
    }
}

impl EvictionPolicy for WTinyLfu {
    fn name(&self) -> &str {
        "wtinylfu"
    }

    fn set_capacity(&mut self, capacity_bytes: u64) {
        self.resume = None;
        self.capacity_bytes = capacity_bytes;
    }

    fn on_insert(&mut self, entry: EntryMeta) {
        self.resume = None;
        let slot = entry.slot;
        if self.queue_of(slot) != ABSENT {
            self.detach(slot);
        }
        grow(&mut self.queue, slot, ABSENT);
        grow(&mut self.size, slot, 0);
        grow(&mut self.fingerprint, slot, 0);
        let fp = fingerprint(entry.hash);
        self.size[slot as usize] = entry.size;
        self.fingerprint[slot as usize] = fp;
        self.resident += 1;
        self.sketch.ensure_capacity(self.resident);
        self.sketch.increment(fp as u64);
        self.attach(slot, WINDOW);
        if self.total_bytes() <= self.capacity_bytes {
            // No eviction follows, so the window's overflow joins probation without a duel.
            self.drain_window();
        }
    }

    /// Overwrite: same queue with the new size; the write counts as an access.
    fn on_update(&mut self, _old: EntryMeta, new: EntryMeta) {
        self.resume = None;
        let slot = new.slot;
        let queue = self.queue_of(slot);
        if queue == ABSENT {
            return;
        }
        self.unlink(slot);
        self.size[slot as usize] = new.size;
        self.attach(slot, queue);
        self.access(slot);
    }

    fn on_access(&mut self, slots: &[Slot]) {
        self.resume = None;
        for &slot in slots {
            if self.queue_of(slot) != ABSENT {
                self.access(slot);
            }
        }
    }

    fn on_remove(&mut self, entry: EntryMeta) {
        self.resume = None;
        if self.queue_of(entry.slot) != ABSENT {
            self.detach(entry.slot);
        }
    }

    /// Caffeine's `evictFromMain`: candidates (entries just pushed out of the window, then the
    /// window's own cold end) duel victims from probation's cold end, then protected's, then the
    /// window's. Ends once `bytes` are freed (at least one victim); every step either evicts or
    /// moves to the next queue, so it terminates.
    fn victims(&mut self, bytes: u64, out: &mut dyn VictimSink) {
        if out.is_full() {
            return;
        }
        let mut taken = 0usize;
        let mut freed = 0u64;
        // Resume the duels where an answer cut short by a bounded sink left them (no event has
        // come between), so several short answers choose what one long answer would.
        let mut d = match self.resume.take() {
            Some(d) => d,
            None => Duels {
                candidate: self.drain_window(),
                candidates_from_window: false,
                victim_queue: PROBATION,
                victim: self.probation.back(),
            },
        };
        while !out.is_full() && (taken == 0 || freed < bytes) {
            if d.candidate.is_none() && !d.candidates_from_window {
                d.candidate = self.window.back();
                d.candidates_from_window = true;
            }
            let (c, v) = match (d.candidate, d.victim) {
                (None, None) => {
                    match d.victim_queue {
                        PROBATION => {
                            d.victim_queue = PROTECTED;
                            d.victim = self.protected.back();
                        }
                        PROTECTED => {
                            d.victim_queue = WINDOW;
                            d.victim = self.window.back();
                        }
                        _ => break,
                    }
                    continue;
                }
                (Some(c), None) => {
                    d.candidate = self.links.newer(c);
                    self.evict(c, out, &mut freed, &mut taken);
                    continue;
                }
                (None, Some(v)) => {
                    d.victim = self.links.newer(v);
                    self.evict(v, out, &mut freed, &mut taken);
                    continue;
                }
                (Some(c), Some(v)) => (c, v),
            };
            if c == v {
                d.victim = self.links.newer(v);
                d.candidate = None;
                self.evict(c, out, &mut freed, &mut taken);
            } else if self.size[c as usize] as u64 > self.capacity_bytes {
                d.candidate = self.links.newer(c);
                self.evict(c, out, &mut freed, &mut taken);
            } else if self.admit(c, v) {
                d.victim = self.links.newer(v);
                self.evict(v, out, &mut freed, &mut taken);
                d.candidate = self.links.newer(c);
            } else {
                d.candidate = self.links.newer(c);
                self.evict(c, out, &mut freed, &mut taken);
            }
        }
        if out.is_full() && freed < bytes {
            self.resume = Some(d);
        }
    }

    fn clear(&mut self) {
        self.links.clear();
        self.window = List::default();
        self.probation = List::default();
        self.protected = List::default();
        self.queue.clear();
        self.size.clear();
        self.fingerprint.clear();
        self.window_bytes = 0;
        self.probation_bytes = 0;
        self.protected_bytes = 0;
        self.resident = 0;
        self.sketch.clear();
        self.resume = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;
    use proptest::prelude::*;

    const A: Slot = 0;
    const B: Slot = 1;
    const C: Slot = 2;
    const D: Slot = 3;
    const E: Slot = 4;
    const F: Slot = 5;
    const G: Slot = 6;

    fn meta(slot: Slot, size: u32) -> EntryMeta {
        EntryMeta {
            slot,
            hash: 0xabcd_0000_0000 + slot as u64 * 0x1_0001,
            size,
        }
    }

    fn victims(p: &mut WTinyLfu, bytes: u64) -> Vec<Slot> {
        let mut out = Vec::new();
        p.victims(bytes, &mut out);
        out
    }

    /// Capacity 1000 bytes, entries of 200: the window's share (10 bytes) holds none of them, so
    /// every new entry becomes a candidate at once; protected's share (792) holds three.
    #[test]
    fn frequency_decides_between_candidate_and_victim() {
        let mut p = WTinyLfu::default();
        p.set_capacity(1000);
        for s in [A, B, C, D, E] {
            p.on_insert(meta(s, 200));
        }
        // A, B and C are re-read: promoted to protected (600 bytes) with frequency 3.
        p.on_access(&[A, B, C, A, B, C]);
        assert_eq!((p.protected.len(), p.probation.len()), (3, 2));

        // F is new (frequency 1) and duels D (frequency 1): ties go to the incumbent.
        p.on_insert(meta(F, 200));
        assert_eq!(victims(&mut p, 200), vec![F]);
        // F comes back (frequency 2): now it beats D.
        p.on_insert(meta(F, 200));
        assert_eq!(victims(&mut p, 200), vec![D]);

        // E is re-read: protected would hold 800 > 792, so its coldest entry (A) is demoted.
        p.on_access(&[E]);
        assert_eq!(p.queue_of(A), PROBATION);
        // G (frequency 1) duels probation's cold end, F (frequency 2), and loses.
        p.on_insert(meta(G, 200));
        assert_eq!(victims(&mut p, 200), vec![G]);
        // G returns (frequency 2) and ties with F: G leaves. Asked for 500 bytes, the policy
        // goes on; with no candidates left (the window is empty) victims come straight from
        // probation's cold end: F, then A.
        p.on_insert(meta(G, 200));
        assert_eq!(victims(&mut p, 500), vec![G, F, A]);
    }

    #[test]
    fn a_scan_does_not_displace_frequently_read_keys() {
        let mut p = WTinyLfu::default();
        p.set_capacity(1000); // 100 entries of 10 bytes
        let hot: Vec<Slot> = (0..30).collect();
        for &s in &hot {
            p.on_insert(meta(s, 10));
        }
        for _ in 0..3 {
            p.on_access(&hot);
        }
        // 500 distinct keys, each seen once, in slots recycled from the scan's own victims.
        let mut free: Vec<Slot> = Vec::new();
        let mut fresh_slots = 100..;
        let mut evicted = Vec::new();
        for scan_key in 0..500u64 {
            let slot = free
                .pop()
                .or_else(|| fresh_slots.next())
                .expect("unbounded range");
            p.on_insert(EntryMeta {
                slot,
                hash: 0xfeed_0000_0000 + scan_key * 31,
                size: 10,
            });
            if p.total_bytes() > 1000 {
                let over = p.total_bytes() - 1000;
                let out = victims(&mut p, over);
                free.extend(&out);
                evicted.extend(out);
            }
        }
        assert!(evicted.len() >= 400);
        assert!(
            hot.iter().all(|s| !evicted.contains(s)),
            "a hot key was evicted by the scan"
        );
    }

    #[test]
    fn overwrite_keeps_the_entry_and_counts_as_an_access() {
        let mut p = WTinyLfu::default();
        p.set_capacity(1000);
        for s in [A, B, C] {
            p.on_insert(meta(s, 200));
        }
        assert_eq!(p.queue_of(A), PROBATION);
        p.on_update(meta(A, 200), meta(A, 300));
        assert_eq!(p.queue_of(A), PROTECTED);
        assert_eq!(p.total_bytes(), 700);
        assert_eq!(p.resident, 3);
        // A different key reusing a removed slot is a new arrival.
        p.on_remove(meta(B, 200));
        p.on_insert(EntryMeta {
            slot: B,
            hash: 7,
            size: 100,
        });
        assert_eq!(p.queue_of(B), PROBATION);
        assert_eq!(p.total_bytes(), 600);
    }

    #[test]
    fn shrinking_capacity_evicts_down_to_it() {
        let mut p = WTinyLfu::default();
        p.set_capacity(10_000);
        for s in 0..50 {
            p.on_insert(meta(s, 100));
        }
        p.on_access(&[1, 2, 3]);
        p.set_capacity(1_000);
        let mut rounds = 0;
        while p.total_bytes() > 1_000 {
            let over = p.total_bytes() - 1_000;
            let out = victims(&mut p, over);
            assert!(!out.is_empty());
            rounds += 1;
            assert!(rounds < 100);
        }
        assert_eq!(p.total_bytes(), 1_000);
        p.clear();
        assert_eq!((p.total_bytes(), p.resident), (0, 0));
    }

    proptest! {
        #[test]
        fn contract_holds(ops in testing::ops()) {
            testing::check_contract(|| Box::new(WTinyLfu::default()), &ops)?;
        }
    }
}

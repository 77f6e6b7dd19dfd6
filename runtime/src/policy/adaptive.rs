//! Adaptive W-TinyLFU: W-TinyLFU (see [`super::WTinyLfu`]) whose window share is tuned online by
//! hill climbing, as in Caffeine (Einziger, Eytan, Friedman & Manes, "Adaptive Software Cache
//! Management", Middleware 2018).
//!
//! A fixed 1 % window suits frequency-skewed workloads but loses badly where recency matters (a
//! working set that shifts, a trace where LRU is already near optimal). Here the window starts
//! at 1 % and, every sample period (ten requests per resident entry), the policy compares the
//! period's hit ratio with the previous one: if it improved, it keeps moving the window share the
//! same way, otherwise it turns around. Steps start at 6.25 % of the capacity, decay by 2 % per
//! period so the share settles, and restart at full size when the hit ratio jumps by 5 points
//! (the workload changed). A window grown to the whole capacity makes the policy plain LRU; a
//! window shrunk to nothing makes it a segmented LRU with TinyLFU admission.
//!
//! Between periods, ARC's signal nudges the share (Megiddo & Modha, 2003): two ghosts (key
//! fingerprints only, each bounded by the capacity) remember keys that left from the window side
//! (candidates that lost their duel) and from the main side (victims). A miss on a key in the
//! first says the window is too small, one in the second that it is too large; each moves the
//! share by half the key's share of the capacity. The climber alone reacts too slowly on short
//! traces; the ghosts alone drift on loops.
//!
//! The policy counts hits and misses itself: a batch of accesses is hits, a fresh insert is a
//! miss (an overwrite is neither). Per slot: 8 bytes of links, 4 of size, 4 of key fingerprint, 1
//! of queue; plus the sketch, about 8 bytes per resident key, and two ghosts.

use super::dense::{PendingRemoval, fingerprint, grow};
use super::ghost::Ghost;
use super::list::{Links, List};
use super::sketch::FrequencySketch;
use super::{EntryMeta, EvictionPolicy, Slot};

const ABSENT: u8 = 0;
const WINDOW: u8 = 1;
const PROBATION: u8 = 2;
const PROTECTED: u8 = 3;

/// Candidates at least this frequent may be admitted at random despite losing the duel.
const HASH_FLOODING_THRESHOLD: u8 = 6;

/// The window's share of the capacity before any adaptation (W-TinyLFU's fixed value).
const INITIAL_WINDOW_SHARE: f64 = 0.01;
/// First (and restarted) step of the window share, as a share of the capacity.
const STEP: f64 = 0.0625;
/// Each step is this much of the previous one, so the share settles on a stable workload.
const STEP_DECAY: f64 = 0.98;
/// A change of the hit ratio this large between periods means the workload moved: restart the
/// step at full size.
const RESTART_THRESHOLD: f64 = 0.05;
/// Requests per resident entry in one sample period.
const SAMPLE_PER_ENTRY: u64 = 10;
/// Smallest sample period, so a cache of a handful of entries still measures something.
const MIN_SAMPLE: u64 = 64;
/// How far one ghost hit moves the window share, in units of the returning key's share of the
/// capacity.
const GHOST_NUDGE: f64 = 0.5;

#[derive(Debug)]
pub struct AdaptiveTinyLfu {
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
    pending: Option<PendingRemoval>,
    climber: HillClimber,
    recency_ghost: Ghost,
    frequency_ghost: Ghost,
}

/// Tunes the window's share of the capacity from the hit ratio of successive sample periods.
#[derive(Debug, Clone)]
struct HillClimber {
    /// The window's share of the capacity, in `0.0..=1.0`.
    window_share: f64,
    /// The next move of `window_share`; its sign is the current direction.
    step: f64,
    hits: u64,
    misses: u64,
    previous_hit_ratio: Option<f64>,
}

impl Default for HillClimber {
    fn default() -> Self {
        Self {
            window_share: INITIAL_WINDOW_SHARE,
            step: STEP,
            hits: 0,
            misses: 0,
            previous_hit_ratio: None,
        }
    }
}

impl HillClimber {
    /// Close the period if `resident` entries' worth of requests were seen; true if the window
    /// share moved.
    fn maybe_climb(&mut self, resident: usize) -> bool {
        let requests = self.hits + self.misses;
        let sample = (resident as u64)
            .saturating_mul(SAMPLE_PER_ENTRY)
            .max(MIN_SAMPLE);
        if requests < sample {
            return false;
        }
        let hit_ratio = self.hits as f64 / requests as f64;
        self.hits = 0;
        self.misses = 0;
        let Some(previous) = self.previous_hit_ratio.replace(hit_ratio) else {
            // The first full period is the baseline; the first move is tried after it.
            return false;
        };
        let change = hit_ratio - previous;
        // Keep going the same way while the hit ratio does not drop; turn around when it does.
        let amount = if change >= 0.0 { self.step } else { -self.step };
        self.step = if change.abs() >= RESTART_THRESHOLD {
            STEP.copysign(amount)
        } else {
            amount * STEP_DECAY
        };
        self.window_share = (self.window_share + amount).clamp(0.0, 1.0);
        true
    }

    /// Forget the measurements (not the share): the period in progress no longer means anything.
    fn reset_sample(&mut self) {
        self.hits = 0;
        self.misses = 0;
        self.previous_hit_ratio = None;
    }
}

impl Default for AdaptiveTinyLfu {
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
            pending: None,
            climber: HillClimber::default(),
            recency_ghost: Ghost::default(),
            frequency_ghost: Ghost::default(),
        }
    }
}

impl AdaptiveTinyLfu {
    fn window_target(&self) -> u64 {
        (self.capacity_bytes as f64 * self.climber.window_share) as u64
    }

    /// ARC's signal, between the climber's periods: a returning key the window side let go of
    /// (a candidate that lost its duel) says the window is too small; one the main side let go
    /// of says it is too large. Each such miss moves the share by half the key's size.
    fn nudge_on_ghost_hit(&mut self, fp: u32, size: u32) {
        if self.capacity_bytes == 0 {
            return;
        }
        let unit = size as f64 / self.capacity_bytes as f64 * GHOST_NUDGE;
        if self.recency_ghost.take(fp) {
            self.climber.window_share = (self.climber.window_share + unit).min(1.0);
        } else if self.frequency_ghost.take(fp) {
            self.climber.window_share = (self.climber.window_share - unit).max(0.0);
        }
    }

    /// Count a request for the climber; only periods with a full cache are measured, since a
    /// cache still filling up misses for reasons no window share can change.
    fn record(&mut self, hit: bool) {
        if self.total_bytes() < self.capacity_bytes / 10 * 9 {
            return;
        }
        if hit {
            self.climber.hits += 1;
        } else {
            self.climber.misses += 1;
        }
        if self.climber.maybe_climb(self.resident) {
            // A larger window leaves protected a smaller share: demote its excess now rather
            // than at its next promotion.
            while self.protected_bytes > self.protected_target() {
                let Some(cold) = self.protected.back() else {
                    break;
                };
                self.unlink(cold);
                self.attach(cold, PROBATION);
            }
        }
    }

    fn protected_target(&self) -> u64 {
        self.capacity_bytes.saturating_sub(self.window_target()) / 10 * 8
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

    fn settle(&mut self) {
        if let Some(p) = self.pending.take() {
            self.detach(p.slot);
        }
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

    fn evict(&mut self, slot: Slot, out: &mut Vec<Slot>, freed: &mut u64, candidate: bool) {
        *freed += self.size[slot as usize] as u64;
        let fp = self.fingerprint[slot as usize];
        let size = self.size[slot as usize];
        if candidate || self.queue[slot as usize] == WINDOW {
            self.recency_ghost.insert(fp, size);
        } else {
            self.frequency_ghost.insert(fp, size);
        }
        self.detach(slot);
        out.push(slot);
    }
}

impl EvictionPolicy for AdaptiveTinyLfu {
    fn name(&self) -> &str {
        "adaptive"
    }

    fn set_capacity(&mut self, capacity_bytes: u64) {
        self.capacity_bytes = capacity_bytes;
        self.climber.reset_sample();
        self.recency_ghost.set_capacity(capacity_bytes);
        self.frequency_ghost.set_capacity(capacity_bytes);
    }

    fn on_insert(&mut self, entry: EntryMeta) {
        let slot = entry.slot;
        if let Some(p) = self.pending.take() {
            if p.is_reinsert_of(slot, entry.hash) {
                // Overwrite: same queue with the new size; the write counts as an access.
                let queue = self.queue[slot as usize];
                self.unlink(slot);
                self.size[slot as usize] = entry.size;
                self.attach(slot, queue);
                self.access(slot);
                return;
            }
            self.detach(p.slot);
        }
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
        self.nudge_on_ghost_hit(fp, entry.size);
        self.record(false);
        self.attach(slot, WINDOW);
        if self.total_bytes() <= self.capacity_bytes {
            // No eviction follows, so the window's overflow joins probation without a duel.
            self.drain_window();
        }
    }

    fn on_access(&mut self, slots: &[Slot]) {
        self.settle();
        for &slot in slots {
            if self.queue_of(slot) != ABSENT {
                self.access(slot);
                self.record(true);
            }
        }
    }

    fn on_remove(&mut self, entry: EntryMeta) {
        self.settle();
        if self.queue_of(entry.slot) != ABSENT {
            self.pending = Some(PendingRemoval {
                slot: entry.slot,
                hash: entry.hash,
            });
        }
    }

    /// Caffeine's `evictFromMain`: candidates (entries just pushed out of the window, then the
    /// window's own cold end) duel victims from probation's cold end, then protected's, then the
    /// window's. Ends once `bytes` are freed (at least one victim); every step either evicts or
    /// moves to the next queue, so it terminates.
    fn victims(&mut self, bytes: u64, out: &mut Vec<Slot>) {
        self.settle();
        let start = out.len();
        let mut freed = 0u64;
        let mut candidate = self.drain_window();
        let mut candidates_from_window = false;
        let mut victim_queue = PROBATION;
        let mut victim = self.probation.back();
        while out.len() == start || freed < bytes {
            if candidate.is_none() && !candidates_from_window {
                candidate = self.window.back();
                candidates_from_window = true;
            }
            let (c, v) = match (candidate, victim) {
                (None, None) => {
                    match victim_queue {
                        PROBATION => {
                            victim_queue = PROTECTED;
                            victim = self.protected.back();
                        }
                        PROTECTED => {
                            victim_queue = WINDOW;
                            victim = self.window.back();
                        }
                        _ => break,
                    }
                    continue;
                }
                (Some(c), None) => {
                    candidate = self.links.newer(c);
                    self.evict(c, out, &mut freed, true);
                    continue;
                }
                (None, Some(v)) => {
                    victim = self.links.newer(v);
                    self.evict(v, out, &mut freed, false);
                    continue;
                }
                (Some(c), Some(v)) => (c, v),
            };
            if c == v {
                victim = self.links.newer(v);
                candidate = None;
                self.evict(c, out, &mut freed, true);
            } else if self.size[c as usize] as u64 > self.capacity_bytes {
                candidate = self.links.newer(c);
                self.evict(c, out, &mut freed, true);
            } else if self.admit(c, v) {
                victim = self.links.newer(v);
                self.evict(v, out, &mut freed, false);
                candidate = self.links.newer(c);
            } else {
                candidate = self.links.newer(c);
                self.evict(c, out, &mut freed, true);
            }
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
        self.pending = None;
        self.climber = HillClimber::default();
        self.recency_ghost.clear();
        self.frequency_ghost.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::testing;
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

    fn victims(p: &mut AdaptiveTinyLfu, bytes: u64) -> Vec<Slot> {
        let mut out = Vec::new();
        p.victims(bytes, &mut out);
        out
    }

    /// Capacity 1000 bytes, entries of 200: the window's share (10 bytes) holds none of them, so
    /// every new entry becomes a candidate at once; protected's share (792) holds three.
    #[test]
    fn frequency_decides_between_candidate_and_victim() {
        let mut p = AdaptiveTinyLfu::default();
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
        let mut p = AdaptiveTinyLfu::default();
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
        let mut p = AdaptiveTinyLfu::default();
        p.set_capacity(1000);
        for s in [A, B, C] {
            p.on_insert(meta(s, 200));
        }
        assert_eq!(p.queue_of(A), PROBATION);
        p.on_remove(meta(A, 200));
        p.on_insert(meta(A, 300));
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
        let mut p = AdaptiveTinyLfu::default();
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

    #[test]
    fn climber_keeps_direction_while_hits_improve_and_turns_when_they_drop() {
        let mut c = HillClimber::default();
        let period = |c: &mut HillClimber, hits: u64| {
            c.hits = hits;
            c.misses = 100 - hits;
            c.maybe_climb(1)
        };
        // The first full period is only the baseline.
        assert!(!period(&mut c, 50));
        assert_eq!(c.window_share, INITIAL_WINDOW_SHARE);
        // Improvement (small): keep growing, with a decayed step.
        assert!(period(&mut c, 52));
        let grown = INITIAL_WINDOW_SHARE + STEP;
        assert!((c.window_share - grown).abs() < 1e-9);
        assert!((c.step - STEP * STEP_DECAY).abs() < 1e-9);
        // A drop: turn around.
        assert!(period(&mut c, 51));
        assert!(c.window_share < grown);
        assert!(c.step < 0.0);
        // A jump of 5 points or more restarts the step at full size.
        assert!(period(&mut c, 90));
        assert!((c.step.abs() - STEP).abs() < 1e-9);
        // The share never leaves 0..=1.
        for _ in 0..100 {
            period(&mut c, 10);
            assert!((0.0..=1.0).contains(&c.window_share));
        }
    }

    #[test]
    fn too_few_requests_do_not_close_a_period() {
        let mut c = HillClimber {
            hits: MIN_SAMPLE - 1,
            ..HillClimber::default()
        };
        assert!(!c.maybe_climb(1));
        assert_eq!(c.hits, MIN_SAMPLE - 1);
        // Ten requests per resident entry are needed once that exceeds the minimum.
        c.hits = 10 * 100 - 1;
        assert!(!c.maybe_climb(100));
    }

    /// A candidate that lost its duel and comes back is a miss the window caused: the window
    /// grows. A victim from main that comes back shrinks it.
    #[test]
    fn ghost_hits_move_the_window_share() {
        let mut p = AdaptiveTinyLfu::default();
        p.set_capacity(1000);
        for s in [A, B, C, D, E] {
            p.on_insert(meta(s, 200));
        }
        p.on_access(&[A, B, C, A, B, C]);
        let before = p.climber.window_share;
        // F (frequency 1) loses to D and leaves from the window side.
        p.on_insert(meta(F, 200));
        assert_eq!(victims(&mut p, 200), vec![F]);
        p.on_insert(meta(F, 200));
        let grown = p.climber.window_share;
        assert!((grown - (before + 0.1)).abs() < 1e-9, "{grown}");
        // F now beats D, which leaves from the main side.
        assert_eq!(victims(&mut p, 200), vec![D]);
        p.on_insert(meta(D, 200));
        assert!((p.climber.window_share - before).abs() < 1e-9);
    }

    proptest! {
        #[test]
        fn contract_holds(ops in testing::ops()) {
            testing::check_contract(|| Box::new(AdaptiveTinyLfu::default()), &ops)?;
        }
    }
}

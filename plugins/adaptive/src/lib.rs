//! Adaptive eviction: S3-FIFO or LRU, whichever the recent traffic favours. A port of the
//! built-in `adaptive` policy (`runtime/src/policy/adaptive.rs`) that decides what it decides:
//! same structure, same constants, same decision rule, and the same S3-FIFO and LRU underneath
//! ([`kit::S3Fifo`] and [`kit::Lru`], which match the built-ins event for event).
//!
//! S3-FIFO is the better policy on most workloads: it lets one-hit wonders leave early and keeps
//! what is read again. But where recency is everything — a working set swept forwards and back, a
//! phase where the newest keys are the hot ones — its small queue throws away exactly the keys
//! LRU would have kept. This policy runs both and lets the traffic choose (set dueling, as in CPU
//! caches: Qureshi et al., "Adaptive Insertion Policies for High Performance Caching", ISCA 2007):
//!
//! - **The serving cache** keeps S3-FIFO's queues *and* an LRU list over the same resident keys.
//!   One of them chooses the victims; the other is told what left, so either can take over at
//!   any moment with its order intact. Switching costs nothing and moves no key.
//! - **Two trials**, [`GhostCache`]s of keys and sizes only, replay a spatial sample of the keys
//!   (SHARDS: a key is sampled when its fingerprint falls below a threshold, so a sampled key is
//!   seen on every request) through pure LRU and pure S3-FIFO at the capacity scaled by the same
//!   rate. A small cache is sampled at 100 %; once a trial holds more than [`MAX_TRIAL_KEYS`]
//!   keys the rate halves and the trials start over, so their memory is bounded.
//! - **The decision**: every period (as many sampled requests as a trial holds keys, at least
//!   [`MIN_PERIOD`]) each trial's hits are added to an exponentially decayed score; the policy in
//!   charge changes when the other's score is ahead by more than [`SWITCH_MARGIN`]. It starts
//!   with S3-FIFO.
//!
//! Keys are sampled and remembered by the same 32-bit fingerprint of the key hash as in the
//! built-in, and the host passes the plugin the same key hash the built-in sees, so the plugin
//! samples the same keys and makes the same choices. Each switch is logged at debug level.

use kit::{GhostCache, Lru, Policy, S3Fifo, VictimSink};
use larder_sdk::host::{self, Level};
use larder_sdk::{Entry, export_plugin};

/// Most keys one trial may hold before the sampling rate halves: bounds the trials' memory.
pub const MAX_TRIAL_KEYS: usize = 1024;
/// Fewest sampled requests between two decisions.
pub const MIN_PERIOD: u64 = 256;
/// Weight of the past in the scores at each decision: a score remembers about 1 / (1 − DECAY)
/// periods.
pub const SCORE_DECAY: f64 = 0.5;
/// How far (relative) the other policy's score must be ahead before it takes charge.
pub const SWITCH_MARGIN: f64 = 0.02;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InCharge {
    S3Fifo,
    Lru,
}

/// The policy; served as the plugin's eviction hook by [`kit::EvictionHook`].
pub struct Adaptive {
    s3fifo: S3Fifo,
    lru: Lru,
    in_charge: InCharge,
    capacity_bytes: u64,
    /// Fingerprints below this are sampled into the trials (`u32::MAX as u64 + 1` = all).
    sample_below: u64,
    /// The sampling rate, a power of two: 1, 1/2, 1/4…
    rate: f64,
    trial_lru: GhostCache<Lru>,
    trial_s3fifo: GhostCache<S3Fifo>,
    /// Trial hits at the end of the previous period.
    last_hits: (u64, u64),
    period_requests: u64,
    score_lru: f64,
    score_s3fifo: f64,
    switches: u64,
    /// The victims of the current `victims` call, for the policy not in charge to forget.
    evicted: Vec<u32>,
}

impl Default for Adaptive {
    fn default() -> Self {
        Self {
            s3fifo: S3Fifo::default(),
            lru: Lru::default(),
            in_charge: InCharge::S3Fifo,
            capacity_bytes: 0,
            sample_below: 1 << 32,
            rate: 1.0,
            trial_lru: GhostCache::new(Lru::default(), 0),
            trial_s3fifo: GhostCache::new(S3Fifo::default(), 0),
            last_hits: (0, 0),
            period_requests: 0,
            score_lru: 0.0,
            score_s3fifo: 0.0,
            switches: 0,
            evicted: Vec::new(),
        }
    }
}

/// Passes victims on to the host's answer and records them.
struct Recording<'a, S> {
    out: &'a mut S,
    seen: &'a mut Vec<u32>,
}

impl<S: VictimSink> VictimSink for Recording<'_, S> {
    fn is_full(&self) -> bool {
        self.out.is_full()
    }

    fn push(&mut self, slot: u32) {
        self.out.push(slot);
        self.seen.push(slot);
    }
}

impl Adaptive {
    /// Which policy is choosing victims now: `"s3fifo"` or `"lru"`.
    pub fn in_charge(&self) -> &'static str {
        match self.in_charge {
            InCharge::S3Fifo => "s3fifo",
            InCharge::Lru => "lru",
        }
    }

    /// How many times the policy in charge has changed.
    pub fn switches(&self) -> u64 {
        self.switches
    }

    /// Start both trials over at the current rate and capacity (the scores are kept).
    fn restart_trials(&mut self) {
        let capacity = (self.capacity_bytes as f64 * self.rate) as u64;
        self.trial_lru = GhostCache::new(Lru::default(), capacity);
        self.trial_s3fifo = GhostCache::new(S3Fifo::default(), capacity);
        self.last_hits = (0, 0);
        self.period_requests = 0;
    }

    /// A request for a key, as the trials see it: `fp` is its fingerprint, `size` its charge.
    #[inline]
    fn observe(&mut self, fp: u32, size: u32) {
        if u64::from(fp) >= self.sample_below {
            return;
        }
        self.trial_lru.read(u64::from(fp), size);
        self.trial_s3fifo.read(u64::from(fp), size);
        self.period_requests += 1;
        if self.trial_lru.keys() > MAX_TRIAL_KEYS {
            self.rate /= 2.0;
            self.sample_below /= 2;
            self.restart_trials();
            return;
        }
        let period = (self.trial_lru.keys() as u64).max(MIN_PERIOD);
        if self.period_requests >= period {
            self.decide();
        }
    }

    fn decide(&mut self) {
        let hits = (self.trial_lru.hits(), self.trial_s3fifo.hits());
        let (lru, s3fifo) = (hits.0 - self.last_hits.0, hits.1 - self.last_hits.1);
        self.last_hits = hits;
        self.period_requests = 0;
        self.score_lru = self.score_lru * SCORE_DECAY + lru as f64;
        self.score_s3fifo = self.score_s3fifo * SCORE_DECAY + s3fifo as f64;
        let next = match self.in_charge {
            InCharge::S3Fifo if self.score_lru > self.score_s3fifo * (1.0 + SWITCH_MARGIN) => {
                InCharge::Lru
            }
            InCharge::Lru if self.score_s3fifo > self.score_lru * (1.0 + SWITCH_MARGIN) => {
                InCharge::S3Fifo
            }
            same => same,
        };
        if next != self.in_charge {
            self.in_charge = next;
            self.switches += 1;
            host::log(
                Level::Debug,
                match next {
                    InCharge::S3Fifo => "adaptive: S3-FIFO now chooses the victims",
                    InCharge::Lru => "adaptive: LRU now chooses the victims",
                },
            );
        }
    }
}

impl Policy for Adaptive {
    fn set_capacity(&mut self, capacity_bytes: u64) {
        self.s3fifo.set_capacity(capacity_bytes);
        self.lru.set_capacity(capacity_bytes);
        if capacity_bytes != self.capacity_bytes {
            self.capacity_bytes = capacity_bytes;
            self.restart_trials();
        }
    }

    fn on_insert(&mut self, entry: Entry) {
        self.s3fifo.on_insert(entry);
        self.lru.on_insert(entry);
        if let Some((fp, size)) = self.s3fifo.key_of(entry.slot) {
            self.observe(fp, size);
        }
    }

    fn on_access(&mut self, entry: Entry) {
        // The built-in takes the host's buffered reads as one batch: S3-FIFO's, then LRU's, then
        // the trials'. Each sees them in the same order here, one at a time, and none depends on
        // another, so the outcome is the same.
        self.s3fifo.on_access(entry);
        self.lru.on_access(entry);
        if let Some((fp, size)) = self.s3fifo.key_of(entry.slot) {
            self.observe(fp, size);
        }
    }

    fn on_remove(&mut self, entry: Entry) {
        if let Some((fp, _)) = self.s3fifo.key_of(entry.slot)
            && u64::from(fp) < self.sample_below
        {
            self.trial_lru.remove(u64::from(fp));
            self.trial_s3fifo.remove(u64::from(fp));
        }
        self.s3fifo.on_remove(entry);
        self.lru.on_remove(entry);
    }

    fn victims<S: VictimSink>(&mut self, bytes: u64, out: &mut S) {
        self.evicted.clear();
        let mut out = Recording {
            out,
            seen: &mut self.evicted,
        };
        match self.in_charge {
            InCharge::S3Fifo => {
                self.s3fifo.victims(bytes, &mut out);
                for &slot in &self.evicted {
                    self.lru.forget(slot);
                }
            }
            InCharge::Lru => {
                self.lru.victims(bytes, &mut out);
                for &slot in &self.evicted {
                    self.s3fifo.forget(slot);
                }
            }
        }
    }

    fn clear(&mut self) {
        self.s3fifo.clear();
        self.lru.clear();
        self.restart_trials();
    }
}

export_plugin!(kit::EvictionHook<Adaptive>, [eviction]);

#[cfg(test)]
mod tests {
    //! The built-in's behaviour tests, replayed through a [`GhostCache`] (which drives a policy as
    //! the host does), and the eviction contract under random events.
    use super::*;

    fn key(k: u64) -> u64 {
        kit::mix(k ^ 0xA5A5_5A5A)
    }

    /// What a replay of `requests` at `capacity` unit-size keys gives.
    struct Outcome {
        lru: f64,
        s3fifo: f64,
        adaptive: f64,
        in_charge: &'static str,
        switches: u64,
    }

    impl Outcome {
        fn report(&self) -> String {
            format!(
                "miss ratios: lru {:.4}, s3fifo {:.4}, adaptive {:.4} ({} switches, {} in charge)",
                self.lru, self.s3fifo, self.adaptive, self.switches, self.in_charge
            )
        }
    }

    fn replay(requests: impl Iterator<Item = u64>, capacity: u64) -> Outcome {
        let mut lru = GhostCache::new(Lru::default(), capacity);
        let mut s3fifo = GhostCache::new(S3Fifo::default(), capacity);
        let mut adaptive = GhostCache::new(Adaptive::default(), capacity);
        for k in requests {
            lru.read(key(k), 1);
            s3fifo.read(key(k), 1);
            adaptive.read(key(k), 1);
        }
        Outcome {
            lru: 1.0 - lru.hit_ratio(),
            s3fifo: 1.0 - s3fifo.hit_ratio(),
            adaptive: 1.0 - adaptive.hit_ratio(),
            in_charge: adaptive.policy().in_charge(),
            switches: adaptive.policy().switches(),
        }
    }

    /// Sweeps forwards and back over `keys` keys: LRU is optimal, S3-FIFO's small queue throws
    /// the next wanted keys away.
    fn zigzag(keys: u64, rounds: u64) -> impl Iterator<Item = u64> {
        (0..rounds).flat_map(move |_| (0..keys).chain((0..keys).rev()))
    }

    /// A loop a little larger than the cache: LRU misses every request, S3-FIFO keeps part.
    fn looping(keys: u64, rounds: u64) -> impl Iterator<Item = u64> {
        (0..rounds).flat_map(move |_| 0..keys)
    }

    #[test]
    fn hands_a_recency_workload_to_lru() {
        let o = replay(zigzag(1000, 30), 200);
        assert!(o.s3fifo > o.lru * 1.05, "{}", o.report());
        // Within 1 % of LRU: only the start, before the first decision, is served by S3-FIFO.
        assert!(o.adaptive < o.lru * 1.01, "{}", o.report());
        assert_eq!(o.in_charge, "lru", "{}", o.report());
    }

    #[test]
    fn keeps_s3fifo_where_it_wins() {
        let o = replay(looping(1100, 40), 1000);
        assert!(o.s3fifo < o.lru * 0.95, "{}", o.report());
        assert!(o.adaptive <= o.s3fifo * 1.01, "{}", o.report());
        assert_eq!(o.in_charge, "s3fifo", "{}", o.report());
    }

    #[test]
    fn follows_the_workload_when_it_changes() {
        // A loop phase (S3-FIFO's), then a zigzag phase (LRU's) over other keys: switching beats
        // staying with either.
        let requests = looping(1100, 40).chain(zigzag(5000, 10).map(|k| k + 10_000));
        let o = replay(requests, 1000);
        assert!(o.adaptive < o.lru, "{}", o.report());
        assert!(o.adaptive < o.s3fifo, "{}", o.report());
        assert!(o.switches >= 1, "{}", o.report());
    }

    #[test]
    fn trials_stay_bounded_on_a_large_cache() {
        let mut policy = Adaptive::default();
        policy.set_capacity(1_000_000);
        for slot in 0..50_000u32 {
            policy.on_insert(Entry {
                hash: key(slot as u64),
                slot,
                size: 1,
            });
        }
        assert!(policy.rate < 1.0, "sampling never started");
        assert!(policy.trial_lru.keys() <= MAX_TRIAL_KEYS);
        assert!(policy.trial_s3fifo.keys() <= MAX_TRIAL_KEYS);
        assert!(policy.trial_lru.keys() > 0);
    }

    /// Random inserts, reads, removals (overwrites among them) and victim requests, with either
    /// policy in charge: every victim is resident and named once, something is evicted whenever
    /// anything is resident, and the two policies never disagree about what is resident.
    #[test]
    fn respects_the_eviction_contract() {
        for lru_first in [false, true] {
            let mut policy = Adaptive::default();
            if lru_first {
                policy.in_charge = InCharge::Lru;
            }
            policy.set_capacity(50);
            let mut resident: Vec<Option<u64>> = vec![None; 64];
            let mut x = 0x9E37_79B9_7F4A_7C15u64;
            for _ in 0..20_000 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let slot = (x % 64) as u32;
                let entry = |hash| Entry {
                    hash,
                    slot,
                    size: 1 + (x >> 40) as u32 % 3,
                };
                match ((x >> 8) % 8, resident[slot as usize]) {
                    (0..=2, None) => {
                        let hash = key(x >> 16);
                        policy.on_insert(entry(hash));
                        resident[slot as usize] = Some(hash);
                    }
                    (0..=3, Some(hash)) => policy.on_access(entry(hash)),
                    (4, Some(hash)) => {
                        // An overwrite: removal, then the same slot and hash again.
                        policy.on_remove(entry(hash));
                        policy.on_insert(entry(hash));
                    }
                    (5, Some(hash)) => {
                        policy.on_remove(entry(hash));
                        resident[slot as usize] = None;
                    }
                    (6..=7, _) => {
                        let mut out = Vec::new();
                        policy.victims(1 + (x >> 32) % 4, &mut out);
                        let count = resident.iter().flatten().count();
                        assert!(count == 0 || !out.is_empty(), "no victim among {count}");
                        for slot in out {
                            let r = &mut resident[slot as usize];
                            assert!(r.is_some(), "victim {slot} is not resident");
                            *r = None;
                        }
                        // Both policies hold exactly the resident set, once S3-FIFO has
                        // applied its held-back removal (any event does; this one is for a slot
                        // that was never resident, and is otherwise ignored).
                        policy.on_access(Entry {
                            hash: 0,
                            slot: 1000,
                            size: 1,
                        });
                        let count = resident.iter().flatten().count();
                        assert_eq!((policy.s3fifo.len(), policy.lru.len()), (count, count));
                    }
                    _ => {}
                }
            }
        }
    }
}

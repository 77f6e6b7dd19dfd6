//! Adaptive: S3-FIFO or LRU, whichever the recent traffic favours.
//!
//! S3-FIFO is the better policy on most workloads: it lets one-hit wonders leave early and keeps
//! what is read again. But where recency is everything — a working set that is swept forwards
//! and back, a phase where the newest keys are the hot ones — its small queue throws away exactly
//! the keys LRU would have kept, and it can be 10 % worse than LRU. This policy runs both and lets
//! the traffic choose (set dueling, as in CPU caches: Qureshi et al., "Adaptive Insertion Policies
//! for High Performance Caching", ISCA 2007):
//!
//! - **The serving cache** keeps S3-FIFO's queues *and* an LRU list over the same resident keys.
//!   One of them is in charge of choosing victims; the other is told what left, so either can take
//!   over at any moment with its order intact. Switching costs nothing and moves no key.
//! - **Two trials**, [`GhostCache`]s of keys and sizes only, replay a spatial sample of the keys
//!   (SHARDS: a key is sampled when its fingerprint falls below a threshold, so a sampled key is
//!   seen on every request) through pure LRU and pure S3-FIFO at the capacity scaled by the same
//!   rate. A small cache is sampled at 100 %; once a trial holds more than [`MAX_TRIAL_KEYS`] keys
//!   the rate halves and the trials start over, so their memory is bounded whatever the cache size.
//! - **The decision**: every period (as many sampled requests as a trial holds keys, at least
//!   [`MIN_PERIOD`]) each trial's hits are added to an exponentially decayed score; the policy in
//!   charge changes when the other's score is ahead by more than [`SWITCH_MARGIN`]. It starts
//!   with S3-FIFO.
//!
//! Cost per event: the two policies' own work, plus — for sampled keys only — one lookup in each
//! trial. Per slot: S3-FIFO's 17 bytes and LRU's 8; the trials are bounded per shard.

use super::lru::Lru;
use super::s3fifo::S3Fifo;
use super::sink::{Tee, VictimSink};
use super::{BuiltinPolicy, EntryMeta, EvictionPolicy, Slot};
use crate::ghost_cache::GhostCache;

/// Most keys one trial may hold before the sampling rate halves: bounds the trials' memory to
/// roughly 150 KiB per shard. (256 to 4096 give the same choices on the shared traces.)
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

pub struct Adaptive {
    s3fifo: S3Fifo,
    lru: Lru,
    in_charge: InCharge,
    capacity_bytes: u64,
    /// Fingerprints below this are sampled into the trials (`u32::MAX as u64 + 1` = all).
    sample_below: u64,
    /// The sampling rate, a power of two: 1, 1/2, 1/4…
    rate: f64,
    trial_lru: GhostCache,
    trial_s3fifo: GhostCache,
    /// Trial hits at the end of the previous period.
    last_hits: (u64, u64),
    period_requests: u64,
    score_lru: f64,
    score_s3fifo: f64,
    switches: u64,
}

impl core::fmt::Debug for Adaptive {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Adaptive")
            .field("in_charge", &self.in_charge)
            .field("rate", &self.rate)
            .field("score_lru", &self.score_lru)
            .field("score_s3fifo", &self.score_s3fifo)
            .field("switches", &self.switches)
            .finish_non_exhaustive()
    }
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
            trial_lru: trial(BuiltinPolicy::Lru, 0),
            trial_s3fifo: trial(BuiltinPolicy::S3fifo, 0),
            last_hits: (0, 0),
            period_requests: 0,
            score_lru: 0.0,
            score_s3fifo: 0.0,
            switches: 0,
        }
    }
}

fn trial(policy: BuiltinPolicy, capacity: u64) -> GhostCache {
    GhostCache::new(policy.build(capacity), capacity)
}

impl Adaptive {
    /// Start both trials over at the current rate and capacity (the scores are kept).
    fn restart_trials(&mut self) {
        let capacity = (self.capacity_bytes as f64 * self.rate) as u64;
        self.trial_lru = trial(BuiltinPolicy::Lru, capacity);
        self.trial_s3fifo = trial(BuiltinPolicy::S3fifo, capacity);
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

    /// A resident key left (or is about to be re-requested): the trials forget it too.
    fn forget_in_trials(&mut self, slot: Slot) {
        if let Some((fp, _)) = self.s3fifo.key_of(slot)
            && u64::from(fp) < self.sample_below
        {
            self.trial_lru.remove(u64::from(fp));
            self.trial_s3fifo.remove(u64::from(fp));
        }
    }

    fn decide(&mut self) {
        let hits = (self.trial_lru.hits, self.trial_s3fifo.hits);
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
        }
    }
}

impl EvictionPolicy for Adaptive {
    fn name(&self) -> &str {
        "adaptive"
    }

    fn set_capacity(&mut self, capacity_bytes: u64) {
        self.s3fifo.set_capacity(capacity_bytes);
        self.lru.set_capacity(capacity_bytes);
        if capacity_bytes != self.capacity_bytes {
            self.capacity_bytes = capacity_bytes;
            self.restart_trials();
        }
    }

    fn on_insert(&mut self, entry: EntryMeta) {
        self.s3fifo.on_insert(entry);
        self.lru.on_insert(entry);
        if let Some((fp, size)) = self.s3fifo.key_of(entry.slot) {
            self.observe(fp, size);
        }
    }

    /// Both policies keep the entry where an overwrite leaves it; the trials see what they saw
    /// when the store wrote an overwrite as a removal and an insert: the key leaves the trials
    /// and is requested again at its new size.
    fn on_update(&mut self, old: EntryMeta, new: EntryMeta) {
        self.forget_in_trials(old.slot);
        self.s3fifo.on_update(old, new);
        self.lru.on_update(old, new);
        if let Some((fp, size)) = self.s3fifo.key_of(new.slot) {
            self.observe(fp, size);
        }
    }

    fn on_access(&mut self, slots: &[Slot]) {
        self.s3fifo.on_access(slots);
        self.lru.on_access(slots);
        for &slot in slots {
            if let Some((fp, size)) = self.s3fifo.key_of(slot) {
                self.observe(fp, size);
            }
        }
    }

    fn on_remove(&mut self, entry: EntryMeta) {
        self.forget_in_trials(entry.slot);
        self.s3fifo.on_remove(entry);
        self.lru.on_remove(entry);
    }

    fn victims(&mut self, bytes: u64, out: &mut dyn VictimSink) {
        match self.in_charge {
            InCharge::S3Fifo => {
                let lru = &mut self.lru;
                let mut tee = Tee {
                    out,
                    also: |slot| lru.evicted_elsewhere(slot),
                };
                self.s3fifo.victims(bytes, &mut tee);
            }
            InCharge::Lru => {
                let s3fifo = &mut self.s3fifo;
                let mut tee = Tee {
                    out,
                    also: |slot| s3fifo.evicted_elsewhere(slot),
                };
                self.lru.victims(bytes, &mut tee);
            }
        }
    }

    fn clear(&mut self) {
        self.s3fifo.clear();
        self.lru.clear();
        self.restart_trials();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{self, Replay};
    use proptest::prelude::*;

    impl Adaptive {
        fn with_lru_in_charge() -> Self {
            Self {
                in_charge: InCharge::Lru,
                ..Self::default()
            }
        }
    }

    fn replay(requests: impl Iterator<Item = u64>, capacity: u64) -> (Replay, Replay, Replay) {
        let mut lru = Replay::new(BuiltinPolicy::Lru.build(0), capacity);
        let mut s3fifo = Replay::new(BuiltinPolicy::S3fifo.build(0), capacity);
        let mut adaptive = Replay::new(BuiltinPolicy::Adaptive.build(0), capacity);
        for key in requests {
            lru.request(key, 1);
            s3fifo.request(key, 1);
            adaptive.request(key, 1);
        }
        (lru, s3fifo, adaptive)
    }

    /// The three miss ratios, printed (visible with `--nocapture`) and returned for assertion messages.
    fn report(lru: &Replay, s3fifo: &Replay, adaptive: &Replay) -> String {
        let report = format!(
            "miss ratios: lru {:.4}, s3fifo {:.4}, adaptive {:.4}",
            lru.miss_ratio(),
            s3fifo.miss_ratio(),
            adaptive.miss_ratio()
        );
        println!("{report}");
        report
    }

    /// Sweeps forwards and back over `keys` keys, `rounds` times: the newest keys are the next
    /// ones wanted, so LRU is optimal and S3-FIFO's small queue throws them away.
    fn zigzag(keys: u64, rounds: u64) -> impl Iterator<Item = u64> {
        (0..rounds).flat_map(move |_| (0..keys).chain((0..keys).rev()))
    }

    /// Keys re-read in a loop a little larger than the cache: LRU misses every request, S3-FIFO
    /// keeps part of the loop in its main queue.
    fn looping(keys: u64, rounds: u64) -> impl Iterator<Item = u64> {
        (0..rounds).flat_map(move |_| 0..keys)
    }

    #[test]
    fn hands_a_recency_workload_to_lru() {
        let (lru, s3fifo, adaptive) = replay(zigzag(1000, 30), 200);
        let report = report(&lru, &s3fifo, &adaptive);
        assert!(s3fifo.miss_ratio() > lru.miss_ratio() * 1.05, "{report}");
        // Within 1 % of LRU: only the start, before the first decision, is served by S3-FIFO.
        assert!(adaptive.miss_ratio() < lru.miss_ratio() * 1.01, "{report}");
    }

    #[test]
    fn keeps_s3fifo_where_it_wins() {
        let (lru, s3fifo, adaptive) = replay(looping(1100, 40), 1000);
        let report = report(&lru, &s3fifo, &adaptive);
        assert!(s3fifo.miss_ratio() < lru.miss_ratio() * 0.95, "{report}");
        assert!(
            adaptive.miss_ratio() <= s3fifo.miss_ratio() * 1.01,
            "{report}"
        );
    }

    #[test]
    fn follows_the_workload_when_it_changes() {
        // A loop phase (S3-FIFO's) then a zigzag phase (LRU's) over other keys: switching beats
        // staying with either.
        let requests = looping(1100, 40).chain(zigzag(5000, 10).map(|k| k + 10_000));
        let (lru, s3fifo, adaptive) = replay(requests, 1000);
        let report = report(&lru, &s3fifo, &adaptive);
        assert!(adaptive.miss_ratio() < lru.miss_ratio(), "{report}");
        assert!(adaptive.miss_ratio() < s3fifo.miss_ratio(), "{report}");
    }

    #[test]
    fn trials_stay_bounded_on_a_large_cache() {
        let mut policy = Adaptive::default();
        policy.set_capacity(1_000_000);
        for slot in 0..50_000u32 {
            policy.on_insert(EntryMeta {
                slot,
                hash: testing::key_hash(slot as u64),
                size: 1,
            });
        }
        assert!(policy.rate < 1.0, "sampling never started: {policy:?}");
        assert!(policy.trial_lru.keys() <= MAX_TRIAL_KEYS);
        assert!(policy.trial_s3fifo.keys() <= MAX_TRIAL_KEYS);
        assert!(policy.trial_lru.keys() > 0, "{policy:?}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn respects_the_policy_contract(ops in testing::ops()) {
            testing::check_contract(|| Box::new(Adaptive::default()), &ops)?;
            testing::check_contract(|| Box::new(Adaptive::with_lru_in_charge()), &ops)?;
        }
    }
}

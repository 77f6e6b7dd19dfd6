//! The replay engine: drives one [`EvictionPolicy`] through a trace exactly as a store shard does,
//! with the policy crate's slot-cache driver ([`GhostCache`]) — the same driver as shadow
//! evaluation, `adaptive`'s trials and the policy tests.
//!
//! Per request: a resident id is a **hit** and its slot is appended to an access buffer that reaches
//! the policy in batches ([`EvictionPolicy::on_access`]); an absent id is a **miss**, gets a slot
//! (freed slots are reused, most recently freed first, as in the shard) and is announced with
//! [`EvictionPolicy::on_insert`]; while the charged total exceeds the capacity the policy is asked
//! for [`EvictionPolicy::victims`], which are checked (unknown or repeated slots are ignored and
//! counted) and removed. A policy that offers nothing while over capacity is recorded as a
//! shortfall and the cache stays over capacity until the next miss, as in the shard.
//!
//! An id is known to the policy by its key hash: xxh3 of the id's 8 little-endian bytes, as if the
//! id were the key.
//!
//! (libCacheSim, like most papers' pseudo-code, makes room *before* inserting; a policy that cares
//! must treat the entry just inserted as not yet evictable, as the built-in SIEVE does.)
//!
//! Two deliberate differences from the server, both so that the numbers mean what they say:
//! - the charge is exactly 1 per object for object-count capacities and the trace's object size
//!   for byte capacities, without the store's per-entry overhead;
//! - buffered hits are delivered before every insert as well as before every victim request, so
//!   the policy sees events in request order and LRU is exact LRU.
//!
//! Objects larger than a byte capacity are not cached (a miss, counted as `too_large`); a hit on an
//! object whose size changed in the trace counts as a hit and keeps the size it was stored with.

use std::time::{Duration, Instant};

use super::capacity::Capacity;
use super::trace::Trace;
use crate::policy::{EvictionPolicy, GhostCache};

/// Hits are delivered to the policy in batches of this many (the shard's batch size).
pub use crate::policy::ACCESS_BATCH;

/// Counters from one replay.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplayCounts {
    pub requests: u64,
    pub hits: u64,
    pub bytes_requested: u64,
    pub bytes_hit: u64,
    /// Objects removed to make room.
    pub evictions: u64,
    /// Misses not cached because the object alone exceeds the byte capacity.
    pub too_large: u64,
    /// Times the policy offered no usable victim while the cache was over capacity.
    pub shortfalls: u64,
    /// Victims the policy named that were not resident (ignored).
    pub invalid_victims: u64,
}

impl ReplayCounts {
    pub fn misses(&self) -> u64 {
        self.requests - self.hits
    }
    pub fn miss_ratio(&self) -> f64 {
        ratio(self.misses(), self.requests)
    }
    pub fn byte_miss_ratio(&self) -> f64 {
        ratio(self.bytes_requested - self.bytes_hit, self.bytes_requested)
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// The outcome of replaying a trace through one policy.
#[derive(Debug, Clone, Copy)]
pub struct ReplayOutcome {
    pub counts: ReplayCounts,
    /// Wall time of the replay loop alone (the trace was already in memory).
    pub elapsed: Duration,
}

/// Replay `trace` through `policy` at `capacity`.
///
/// `policy` should be fresh (as from [`crate::BuiltinPolicy::build`]); it is told the capacity
/// again here, as the store does when it creates a shard.
pub fn replay(trace: &Trace, capacity: Capacity, policy: &mut dyn EvictionPolicy) -> ReplayOutcome {
    let started = Instant::now();
    let limit = capacity.amount();
    let by_bytes = capacity.is_bytes();
    let mut cache = GhostCache::new(policy, limit);
    let mut counts = ReplayCounts::default();
    for r in trace.requests() {
        counts.requests += 1;
        counts.bytes_requested += u64::from(r.size);
        let charge = if by_bytes { r.size } else { 1 };
        let hits = cache.hits;
        cache.read(crate::hash::key_hash(&r.id.to_le_bytes()), charge);
        if cache.hits > hits {
            counts.hits += 1;
            counts.bytes_hit += u64::from(r.size);
        } else if u64::from(charge) > limit {
            counts.too_large += 1;
        }
    }
    cache.flush();
    counts.evictions = cache.evictions;
    counts.shortfalls = cache.shortfalls;
    counts.invalid_victims = cache.invalid_victims;
    ReplayOutcome {
        counts,
        elapsed: started.elapsed(),
    }
}

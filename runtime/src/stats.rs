//! Counters kept per shard (plain integers under the shard lock, so the hot path does no atomic
//! read-modify-write on a shared cache line) and summed when someone asks.

use serde::Serialize;

#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct ShardStats {
    pub hits: u64,
    pub misses: u64,
    pub sets: u64,
    pub evictions: u64,
    pub expirations: u64,
    /// Times the policy answered no victim while the shard was over capacity.
    pub policy_shortfalls: u64,
    /// Value bytes returned by hits.
    pub hit_bytes: u64,
    /// Writes, removals, TTL changes and flushes: anything a snapshot would see. Only compared
    /// between two reads ("did anything change since the last save?").
    pub changes: u64,
    /// Value bytes of keys written while absent (what a miss costs to fill, in a cache-aside
    /// workload), the denominator's other half for a byte hit ratio.
    pub fill_bytes: u64,
}

/// The counters of one shard, for experiments that compare groups of shards.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ShardCounters {
    pub hits: u64,
    pub misses: u64,
    pub sets: u64,
    pub evictions: u64,
    pub hit_bytes: u64,
    pub fill_bytes: u64,
    pub keys: u64,
    pub bytes: u64,
    pub capacity_bytes: u64,
    /// Operation latencies, recorded only while timing is switched on for the store.
    pub latency: crate::experiment::LatencyHistogram,
    /// Sampled events dropped because the shadow buffer was full.
    pub sampled_dropped: u64,
}

/// A point-in-time view of a store: live counts plus counters since start.
#[derive(Debug, Default, Clone, Copy, PartialEq, Serialize)]
pub struct StoreStats {
    pub keys: u64,
    pub bytes: u64,
    pub capacity_bytes: u64,
    pub hits: u64,
    pub misses: u64,
    pub sets: u64,
    pub evictions: u64,
    pub expirations: u64,
    pub policy_shortfalls: u64,
    /// Resident keys that have an expiry.
    pub keys_with_ttl: u64,
    /// Resident values' bytes as clients see them, and as stored (less when compressed).
    pub value_bytes_plain: u64,
    pub value_bytes_stored: u64,
    /// Writes stored compressed, and those left raw because too small or not worth it.
    pub compressed_writes: u64,
    pub compression_skipped_small: u64,
    pub compression_skipped_no_savings: u64,
    /// Time spent compressing, in nanoseconds.
    pub compression_nanos: u64,
}

impl StoreStats {
    /// hits / (hits + misses), or 0 before the first read.
    pub fn hit_ratio(&self) -> f64 {
        let reads = self.hits + self.misses;
        if reads == 0 {
            0.0
        } else {
            self.hits as f64 / reads as f64
        }
    }

    pub(crate) fn add_shard(&mut self, s: &ShardStats, keys: usize, bytes: u64, capacity: u64) {
        self.keys += keys as u64;
        self.bytes += bytes;
        self.capacity_bytes += capacity;
        self.hits += s.hits;
        self.misses += s.misses;
        self.sets += s.sets;
        self.evictions += s.evictions;
        self.expirations += s.expirations;
        self.policy_shortfalls += s.policy_shortfalls;
    }
}

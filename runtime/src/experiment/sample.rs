//! What the store hands to shadow evaluation: sampled request events, keys as hashes and sizes only.
//!
//! Sampling is spatial (SHARDS): a key is in the sample when the low 32 bits of its hash fall below
//! `rate · 2^32`, so a sampled key is sampled on every request and the ghost caches see complete
//! histories of a fixed subset of keys. The store checks this with one compare against a per-shard
//! threshold (0 when shadow evaluation is off) and pushes the event into a per-shard buffer whose
//! room was reserved when sampling started — the request path never allocates for it and never
//! waits; a full buffer drops the event and counts the drop.

/// What happened to a sampled key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampledOp {
    /// A read; `size` is the resident entry's charged size on a hit, 0 on a miss.
    Read { hit: bool },
    /// A value was written (new key or overwrite); `size` is the new charged size.
    Write,
    /// The key left for a reason the ghost cannot know by itself (delete, expiry).
    Remove,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampledEvent {
    pub hash: u64,
    pub size: u32,
    pub op: SampledOp,
}

/// The per-shard threshold for a sampling `rate` in (0, 1]: compare `hash & 0xFFFF_FFFF` to it.
pub fn threshold_for(rate: f64) -> u64 {
    // NaN and non-positive rates sample nothing.
    if rate.is_nan() || rate <= 0.0 {
        return 0;
    }
    ((rate.min(1.0) * (1u64 << 32) as f64).round() as u64).max(1)
}

/// Whether a key with this hash is in the sample under `threshold`.
#[inline(always)]
pub fn is_sampled(hash: u64, threshold: u64) -> bool {
    (hash & 0xFFFF_FFFF) < threshold
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_cover_the_rate() {
        assert_eq!(threshold_for(0.0), 0);
        assert!(!is_sampled(0, threshold_for(0.0)));
        assert!(is_sampled(u32::MAX as u64, threshold_for(1.0)));
        let t = threshold_for(0.01);
        let sampled = (0..100_000u64)
            .filter(|i| is_sampled(crate::hash::key_hash(&i.to_le_bytes()), t))
            .count();
        // 1 % of 100 000 is 1 000; the binomial standard deviation is about 31.
        assert!((850..1150).contains(&sampled), "{sampled}");
    }
}

//! Miss ratios of the built-in policies on a synthetic skewed workload, compared with each other.
//!
//! The workload is Zipf-distributed reads over a fixed key space (seeded, so the run is
//! reproducible) with a one-time scan of never-repeated keys in the middle: the pattern that
//! separates frequency- and recency-aware policies from plain FIFO. The assertions are relative
//! (one policy against another on the same requests), not absolute numbers.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::testing::Replay;
use super::{BuiltinPolicy, EvictionPolicy, Fifo};

/// Zipf(`exponent`) over `0..keys`, sampled by inverting the cumulative distribution.
struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    fn new(keys: usize, exponent: f64) -> Self {
        let mut cdf = Vec::with_capacity(keys);
        let mut total = 0.0;
        for rank in 1..=keys {
            total += 1.0 / (rank as f64).powf(exponent);
            cdf.push(total);
        }
        for c in &mut cdf {
            *c /= total;
        }
        Self { cdf }
    }

    fn sample(&self, rng: &mut SmallRng) -> u64 {
        let u: f64 = rng.random();
        self.cdf.partition_point(|&c| c < u).min(self.cdf.len() - 1) as u64
    }
}

/// 200 k Zipf(0.9) reads over 20 k keys, with a scan of 30 k fresh keys after the first 100 k.
fn skewed_with_scan() -> Vec<u64> {
    let zipf = Zipf::new(20_000, 0.9);
    let mut rng = SmallRng::seed_from_u64(0x001a_2de2);
    let mut requests: Vec<u64> = (0..100_000).map(|_| zipf.sample(&mut rng)).collect();
    requests.extend((0..30_000).map(|i| 1_000_000 + i));
    requests.extend((0..100_000).map(|_| zipf.sample(&mut rng)));
    requests
}

fn miss_ratio(policy: Box<dyn EvictionPolicy>, requests: &[u64], capacity_entries: u64) -> f64 {
    // Sizes of 100 bytes: the byte-based queue shares work out to whole entries.
    let mut replay = Replay::new(policy, capacity_entries * 100);
    for &key in requests {
        replay.request(key, 100);
    }
    replay.miss_ratio()
}

#[test]
fn frequency_aware_policies_beat_fifo_on_a_skewed_workload_with_a_scan() {
    let requests = skewed_with_scan();
    let capacity = 1_000; // 5 % of the key space
    let fifo = miss_ratio(Box::new(Fifo::default()), &requests, capacity);
    let lru = miss_ratio(BuiltinPolicy::Lru.build(0), &requests, capacity);
    let s3fifo = miss_ratio(BuiltinPolicy::S3fifo.build(0), &requests, capacity);
    let sieve = miss_ratio(BuiltinPolicy::Sieve.build(0), &requests, capacity);
    let wtinylfu = miss_ratio(BuiltinPolicy::Wtinylfu.build(0), &requests, capacity);
    let report = format!(
        "miss ratios: fifo {fifo:.4}, lru {lru:.4}, sieve {sieve:.4}, s3fifo {s3fifo:.4}, \
         wtinylfu {wtinylfu:.4}"
    );
    println!("{report}");
    assert!(s3fifo < fifo, "{report}");
    assert!(wtinylfu < fifo, "{report}");
    assert!(sieve < fifo, "{report}");
    // The scan flushes LRU; S3-FIFO and W-TinyLFU keep their hot set through it.
    assert!(s3fifo < lru, "{report}");
    assert!(wtinylfu < lru, "{report}");
}

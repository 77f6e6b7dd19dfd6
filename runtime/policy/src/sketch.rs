//! A count-min sketch of 4-bit counters: W-TinyLFU's approximate, aging memory of how often each
//! key was requested.
//!
//! Sixteen counters share a `u64` word. A key maps to four counters (one per row, each in a word
//! chosen by a different hash of the key); an increment bumps each of the four that is below 15,
//! and the estimate is their minimum. After `10 × width` increments every counter is halved, so
//! the sketch forgets old popularity and follows a shifting workload (TinyLFU's "reset").
//!
//! The width follows the number of resident keys (one word per key, rounded up to a power of two,
//! as in Caffeine). It grows by doubling, and a key's word index is its hash masked by the width,
//! so copying the table into both halves keeps every estimate exactly: a cache that is still
//! filling up does not lose what it has learnt.

use alloc::vec;
use alloc::vec::Vec;

const MIN_WIDTH: usize = 64;
const RESET_FACTOR: u64 = 10;
/// Every counter's low bit cleared, applied after a right shift to halve 16 counters at once.
const HALVE_MASK: u64 = 0x7777_7777_7777_7777;
const SEEDS: [u64; 4] = [
    0xc3a5_c85c_97cb_3127,
    0xb492_b66f_be98_f273,
    0x9ae1_6a3b_2f90_404f,
    0xcbf2_9ce4_8422_2325,
];

#[derive(Debug, Clone)]
pub struct FrequencySketch {
    table: Vec<u64>,
    additions: u64,
    sample_size: u64,
}

impl Default for FrequencySketch {
    fn default() -> Self {
        Self::with_width(MIN_WIDTH)
    }
}

#[inline]
fn spread(hash: u64) -> u64 {
    // SplitMix64's finaliser: the input may be a narrow fingerprint; every output bit depends on
    // every input bit.
    let mut z = hash;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl FrequencySketch {
    fn with_width(width: usize) -> Self {
        let width = width.max(MIN_WIDTH).next_power_of_two();
        Self {
            table: vec![0; width],
            additions: 0,
            sample_size: RESET_FACTOR * width as u64,
        }
    }

    /// Make room for about `keys` distinct keys. Only grows, keeping every count.
    pub fn ensure_capacity(&mut self, keys: usize) {
        while keys > self.table.len() {
            let width = self.table.len();
            self.table.extend_from_within(..);
            debug_assert_eq!(self.table.len(), 2 * width);
            self.sample_size = RESET_FACTOR * self.table.len() as u64;
        }
    }

    /// Forget every count, keeping the width.
    pub fn clear(&mut self) {
        self.table.fill(0);
        self.additions = 0;
    }

    /// (word index, bit shift) of `hash`'s counter in each row.
    #[inline]
    fn counters(&self, hash: u64) -> [(usize, u32); 4] {
        let item = spread(hash);
        let mask = self.table.len() - 1;
        // Each row owns four of a word's sixteen counters; the low bits pick one of them.
        let start = ((item & 3) << 2) as u32;
        core::array::from_fn(|row| {
            let mut h = item.wrapping_add(SEEDS[row]).wrapping_mul(SEEDS[row]);
            h = h.wrapping_add(h >> 32);
            (h as usize & mask, (start + row as u32) << 2)
        })
    }

    pub fn frequency(&self, hash: u64) -> u8 {
        self.counters(hash)
            .iter()
            .map(|&(word, shift)| ((self.table[word] >> shift) & 0xf) as u8)
            .min()
            .unwrap_or(0)
    }

    pub fn increment(&mut self, hash: u64) {
        let mut added = false;
        for (word, shift) in self.counters(hash) {
            if (self.table[word] >> shift) & 0xf < 15 {
                self.table[word] += 1 << shift;
                added = true;
            }
        }
        if added {
            self.additions += 1;
            if self.additions >= self.sample_size {
                self.halve();
            }
        }
    }

    /// Age every counter. O(width), once per `10 × width` increments.
    fn halve(&mut self) {
        for word in &mut self.table {
            *word = (*word >> 1) & HALVE_MASK;
        }
        self.additions /= 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_saturate_at_fifteen() {
        let mut s = FrequencySketch::default();
        for _ in 0..3 {
            s.increment(42);
        }
        assert_eq!(s.frequency(42), 3);
        for _ in 0..40 {
            s.increment(42);
        }
        assert_eq!(s.frequency(42), 15);
        assert_eq!(s.frequency(43), 0);
    }

    #[test]
    fn estimates_never_undercount_and_rarely_overcount() {
        let mut s = FrequencySketch::default();
        s.ensure_capacity(1000);
        // Key k is incremented k % 8 times; 1000 keys in a 1024-word sketch.
        for k in 0..1000u64 {
            for _ in 0..k % 8 {
                s.increment(k);
            }
        }
        let mut exact = 0;
        for k in 0..1000u64 {
            let f = s.frequency(k) as u64;
            assert!(f >= k % 8, "count-min never undercounts before a reset");
            exact += (f == k % 8) as u32;
        }
        assert!(exact > 950, "only {exact} of 1000 estimates exact");
    }

    #[test]
    fn growing_keeps_every_estimate() {
        let mut s = FrequencySketch::default();
        for k in 0..200u64 {
            for _ in 0..k % 5 {
                s.increment(k);
            }
        }
        let before: Vec<u8> = (0..200).map(|k| s.frequency(k)).collect();
        s.ensure_capacity(1000);
        assert_eq!(s.table.len(), 1024);
        let after: Vec<u8> = (0..200).map(|k| s.frequency(k)).collect();
        assert_eq!(before, after);
    }

    #[test]
    fn halving_ages_counts() {
        let mut s = FrequencySketch::default();
        for _ in 0..9 {
            s.increment(7);
        }
        // Other keys bring the additions to one short of the sample size…
        let mut k = 1_000_000u64;
        for _ in 0..10 * s.sample_size {
            if s.additions == s.sample_size - 1 {
                break;
            }
            s.increment(k);
            k += 1;
        }
        assert_eq!(s.additions, s.sample_size - 1);
        let before = s.frequency(7);
        assert!(before >= 9);
        // …and the next one triggers the reset: every count is halved.
        s.increment(k);
        assert_eq!(s.additions, s.sample_size / 2);
        assert_eq!(s.frequency(7), before / 2);
    }
}

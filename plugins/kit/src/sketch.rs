//! Frequency estimation for admission: a count-min sketch with 4-bit-style saturating counters
//! and periodic halving (TinyLFU's "reset"), and a bloom filter used as a doorkeeper.

use crate::mix;

/// Count-min sketch: 4 rows of saturating `u8` counters (capped at 15), halved every
/// `sample` increments so old popularity fades.
pub struct CountMinSketch {
    rows: [Vec<u8>; 4],
    mask: usize,
    additions: usize,
    sample: usize,
}

impl CountMinSketch {
    /// Sized for about `capacity` distinct keys of interest.
    pub fn new(capacity: usize) -> Self {
        let width = capacity.max(64).next_power_of_two();
        Self {
            rows: core::array::from_fn(|_| vec![0; width]),
            mask: width - 1,
            additions: 0,
            sample: width * 10,
        }
    }

    fn index(&self, hash: u64, row: usize) -> usize {
        (mix(hash.wrapping_add(row as u64 * 0x9E37_79B9_7F4A_7C15)) as usize) & self.mask
    }

    pub fn increment(&mut self, hash: u64) {
        for r in 0..4 {
            let i = self.index(hash, r);
            let c = &mut self.rows[r][i];
            if *c < 15 {
                *c += 1;
            }
        }
        self.additions += 1;
        if self.additions >= self.sample {
            for row in &mut self.rows {
                for c in row.iter_mut() {
                    *c /= 2;
                }
            }
            self.additions /= 2;
        }
    }

    pub fn estimate(&self, hash: u64) -> u8 {
        (0..4)
            .map(|r| self.rows[r][self.index(hash, r)])
            .min()
            .unwrap_or(0)
    }
}

/// A bloom filter with 3 probes.
pub struct Bloom {
    bits: Vec<u64>,
    mask: usize,
}

impl Bloom {
    pub fn new(bits: usize) -> Self {
        let n = bits.max(64).next_power_of_two();
        Self {
            bits: vec![0; n / 64],
            mask: n - 1,
        }
    }

    fn probes(&self, hash: u64) -> [usize; 3] {
        let h = mix(hash);
        [
            h as usize & self.mask,
            (h >> 21) as usize & self.mask,
            (h >> 42) as usize & self.mask,
        ]
    }

    /// Insert; returns whether it was (probably) present already.
    pub fn insert(&mut self, hash: u64) -> bool {
        let mut present = true;
        for p in self.probes(hash) {
            let (w, b) = (p / 64, 1u64 << (p % 64));
            present &= self.bits[w] & b != 0;
            self.bits[w] |= b;
        }
        present
    }

    pub fn contains(&self, hash: u64) -> bool {
        self.probes(hash)
            .iter()
            .all(|&p| self.bits[p / 64] & (1 << (p % 64)) != 0)
    }

    pub fn clear(&mut self) {
        self.bits.iter_mut().for_each(|w| *w = 0);
    }
}

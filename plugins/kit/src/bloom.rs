//! [`Bloom`]: a bloom filter over key hashes, for admission plugins that ask "seen recently?".

use alloc::vec;
use alloc::vec::Vec;

/// 64-bit mix for deriving several probes from one key hash.
#[inline]
fn mix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
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

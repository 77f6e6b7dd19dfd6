//! Hash maps keyed by values that are already hashes (key hashes, fingerprints).
//!
//! The standard `HashMap` hashes its keys again with SipHash, which is slow and buys nothing
//! here: the keys are xxh3 outputs chosen by the host. [`Mixed`] runs one [`mix`] over them
//! instead. Only lookups depend on the hasher (no policy iterates a map), so it changes no
//! decision.

use core::hash::{BuildHasherDefault, Hasher};

use crate::mix;

/// A [`Hasher`] for integer keys that are already well distributed: one [`mix`] per word.
#[derive(Debug, Default, Clone, Copy)]
pub struct Mixed(u64);

impl Hasher for Mixed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not used by the integer keys of this kit; correct, if slow, for anything else.
        for &b in bytes {
            self.0 = mix(self.0 ^ u64::from(b));
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = mix(self.0 ^ n);
    }
}

/// A `HashMap` whose keys are hashes already.
pub type HashMap<K, V> = std::collections::HashMap<K, V, BuildHasherDefault<Mixed>>;

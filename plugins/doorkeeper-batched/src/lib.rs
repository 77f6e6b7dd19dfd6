//! The second-write doorkeeper in observe mode (ABI 4): a key is cached on its second write
//! within a sample of writes, decided by the host from this plugin's bitmap without a call, while
//! the writes reach the plugin in batches that set their bits.
//!
//! Compared with `tinylfu-doorkeeper` (a three-probe bloom filter asked per write): one bit per
//! key hash, so a little more of what is new gets in by collision; and a write is marked only when
//! its batch is delivered, so a key written twice within one batch (up to 256 new-key writes) is
//! dropped both times. In exchange a write costs no call.

use larder_sdk::{Admission, AdmissionMode, AdmitRequest, Plugin, export_plugin};

/// Writes per sample: the bitmap is cleared after this many, so "seen" means "seen recently".
const SAMPLE: u32 = 100_000;
/// Bits in the map: eight per sampled write keeps collisions (false admissions) near 12 %.
const BITS: usize = SAMPLE as usize * 8;

pub struct DoorkeeperBatched {
    seen: Vec<u8>,
    writes: u32,
}

impl Default for DoorkeeperBatched {
    fn default() -> Self {
        Self {
            seen: vec![0; BITS / 8],
            writes: 0,
        }
    }
}

impl DoorkeeperBatched {
    /// The bit the host reads for `hash` (byte `i / 8`, least significant bit first).
    fn bit(&self, hash: u64) -> (usize, u8) {
        let i = (hash % (self.seen.len() as u64 * 8)) as usize;
        (i / 8, 1 << (i % 8))
    }

    /// Mark `hash` seen; whether it was already.
    fn mark(&mut self, hash: u64) -> bool {
        self.writes += 1;
        if self.writes >= SAMPLE {
            self.seen.fill(0);
            self.writes = 0;
        }
        let (byte, mask) = self.bit(hash);
        let seen = self.seen[byte] & mask != 0;
        self.seen[byte] |= mask;
        seen
    }
}

impl Plugin for DoorkeeperBatched {}

impl Admission for DoorkeeperBatched {
    /// Not called in observe mode; answers as the map would, so the type is a complete policy.
    fn admit(&mut self, req: &AdmitRequest) -> bool {
        self.mark(req.hash)
    }

    fn mode(&mut self) -> AdmissionMode {
        AdmissionMode::Observe
    }

    fn observe(&mut self, req: &AdmitRequest, _admitted: bool) {
        self.mark(req.hash);
    }

    fn verdicts(&mut self) -> Option<&[u8]> {
        Some(&self.seen)
    }
}

export_plugin!(DoorkeeperBatched, [admission]);

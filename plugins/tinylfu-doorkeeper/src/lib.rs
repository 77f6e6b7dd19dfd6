//! TinyLFU admission with a doorkeeper: a key's first write only marks it in a bloom filter (the
//! doorkeeper) and is not cached; a key written again — seen before — is admitted. One-hit
//! wonders never displace anything. The doorkeeper is reset after a sample of writes, so
//! "seen before" means "seen recently".

use kit::Bloom;
use larder_sdk::{Admission, AdmitRequest, Plugin, export_plugin};

const SAMPLE: u32 = 100_000;

pub struct Doorkeeper {
    seen: Bloom,
    writes: u32,
}

impl Default for Doorkeeper {
    fn default() -> Self {
        Self {
            seen: Bloom::new(SAMPLE as usize * 8),
            writes: 0,
        }
    }
}

impl Plugin for Doorkeeper {}

impl Admission for Doorkeeper {
    fn admit(&mut self, req: &AdmitRequest) -> bool {
        self.writes += 1;
        if self.writes >= SAMPLE {
            self.seen.clear();
            self.writes = 0;
        }
        self.seen.insert(req.hash)
    }
}

export_plugin!(Doorkeeper, [admission]);

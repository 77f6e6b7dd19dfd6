//! Size-aware admission (in the spirit of AdaptSize): small objects are always admitted; an
//! object of `size` bytes above that is admitted with probability `exp(-size / SCALE)`, so large
//! objects — which displace many small ones — get in only if written repeatedly.

use larder_sdk::{Admission, AdmitRequest, Plugin, export_plugin, host};

/// Entries up to this size are always admitted.
const ALWAYS: u32 = 4 * 1024;
/// The size scale of the admission probability.
const SCALE: f64 = 64.0 * 1024.0;

#[derive(Default)]
pub struct SizeAware;

impl Plugin for SizeAware {}

impl Admission for SizeAware {
    fn admit(&mut self, req: &AdmitRequest) -> bool {
        if req.size <= ALWAYS {
            return true;
        }
        let p = (-(req.size as f64) / SCALE).exp();
        let draw = (host::random() >> 11) as f64 / (1u64 << 53) as f64;
        draw < p
    }
}

export_plugin!(SizeAware, [admission]);

//! Contextual admission: uses the request's context tags and the time of day.
//!
//! * `cache=skip` — the client says this value is not worth caching: refused.
//! * `tier=free` — large values (over 16 KiB) from free-tier tenants are refused, so they do not
//!   push out paying tenants' data.
//! * `device=tv` — video-sized values from TVs are admitted only off-peak (01:00–07:00 UTC),
//!   when there is room to spare.
//! * Everything else is admitted.

use larder_sdk::{Admission, AdmitRequest, Plugin, export_plugin, host};

const LARGE: u32 = 16 * 1024;

#[derive(Default)]
pub struct Contextual;

impl Plugin for Contextual {}

fn off_peak(now_ms: u64) -> bool {
    let hour = (now_ms / 3_600_000) % 24;
    (1..7).contains(&hour)
}

impl Admission for Contextual {
    fn admit(&mut self, req: &AdmitRequest) -> bool {
        let mut buf = [0u8; 32];
        if host::tag("cache", &mut buf) == Some(b"skip") {
            return false;
        }
        if req.size > LARGE && host::tag("tier", &mut buf) == Some(b"free") {
            return false;
        }
        if req.size > LARGE && host::tag("device", &mut buf) == Some(b"tv") {
            return off_peak(host::now_ms());
        }
        true
    }
}

export_plugin!(Contextual, [admission]);

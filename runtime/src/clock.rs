//! Time as the store sees it: milliseconds on a monotonic clock that starts with the process.
//!
//! Expiry deadlines are stored in this unit, so a wall-clock jump (NTP, a VM resume) never expires or
//! resurrects keys. Zero is reserved to mean "no deadline".

use std::sync::OnceLock;
use std::time::Instant;

fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

/// Milliseconds since the process's clock origin; always ≥ 1 so it never collides with "no deadline".
#[inline]
pub fn now_ms() -> u64 {
    origin().elapsed().as_millis() as u64 + 1
}

/// Seconds since the Unix epoch (for display and for plugins' time-of-day).
pub fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

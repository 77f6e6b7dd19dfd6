//! Time as the store sees it: milliseconds on a monotonic clock that starts with the process.
//!
//! Expiry deadlines are stored in this unit, so a wall-clock jump (NTP, a VM resume) never expires or
//! resurrects keys. Zero is reserved to mean "no deadline".

//! The store reads this clock on every operation (expiry checks, access times), so it reads the
//! kernel's *coarse* monotonic clock where there is one: on Linux `CLOCK_MONOTONIC_COARSE` is a
//! plain read of a value the kernel updates every tick (1–4 ms), a few nanoseconds instead of the
//! 20-odd of a full `clock_gettime`, which measured about a fifth of a cache hit's time. Deadlines
//! are in milliseconds and a tick is at most 4 ms, so a key may outlive its deadline by up to one
//! tick; Redis, which caches its clock per event-loop turn, is no closer.

/// Milliseconds since the process's clock origin; always ≥ 1 so it never collides with "no deadline".
#[inline]
pub fn now_ms() -> u64 {
    source::millis_since_origin() + 1
}

#[cfg(target_os = "linux")]
mod source {
    use std::sync::OnceLock;

    fn coarse_nanos() -> u64 {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC_COARSE exists on every
        // kernel Rust supports (2.6.32+), so the call cannot fail.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
        ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
    }

    fn origin() -> u64 {
        static ORIGIN: OnceLock<u64> = OnceLock::new();
        *ORIGIN.get_or_init(coarse_nanos)
    }

    #[inline]
    pub fn millis_since_origin() -> u64 {
        let origin = origin();
        coarse_nanos().saturating_sub(origin) / 1_000_000
    }
}

#[cfg(not(target_os = "linux"))]
mod source {
    use std::sync::OnceLock;
    use std::time::Instant;

    fn origin() -> Instant {
        static ORIGIN: OnceLock<Instant> = OnceLock::new();
        *ORIGIN.get_or_init(Instant::now)
    }

    #[inline]
    pub fn millis_since_origin() -> u64 {
        origin().elapsed().as_millis() as u64
    }
}

/// Seconds since the Unix epoch (for display and for plugins' time-of-day).
pub fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

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

use std::sync::OnceLock;

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

    pub fn tick_ms() -> u64 {
        static TICK: OnceLock<u64> = OnceLock::new();
        *TICK.get_or_init(|| {
            let mut res = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: as in `coarse_nanos`.
            unsafe { libc::clock_getres(libc::CLOCK_MONOTONIC_COARSE, &mut res) };
            let nanos = res.tv_sec as u64 * 1_000_000_000 + res.tv_nsec as u64;
            nanos.div_ceil(1_000_000).clamp(1, 100)
        })
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

    pub fn tick_ms() -> u64 {
        1
    }
}

/// How far the store's clock may trail the real time: the coarse clock's tick, in whole
/// milliseconds rounded up (1 where the clock is precise).
pub fn tick_ms() -> u64 {
    source::tick_ms()
}

/// Wall-clock milliseconds minus [`now_ms`], fixed once: `now_ms() + unix_offset_ms()` is "now"
/// on the Unix clock, and turning an absolute deadline into the store's time and back gives the
/// same number. Chosen so that it does not trail the wall clock (a client that reads its clock
/// and sends `PEXPIREAT now+5000` does not see a PTTL above 5000) and leads it by about one tick:
/// the offset is taken right after the coarse clock ticks (a wait of at most one tick, once) and
/// one tick is added for the lag that builds up until the next one. Both hold while the kernel
/// keeps the coarse clock current, which a heavily loaded machine can delay.
pub fn unix_offset_ms() -> i64 {
    static OFFSET: OnceLock<i64> = OnceLock::new();
    *OFFSET.get_or_init(|| {
        let mut offset = 0;
        // A thread descheduled between seeing the tick and reading the wall clock would take a
        // late wall time, and the offset would lead by the delay: such a sample is taken again
        // (a few times at most, so a starved start still gets an offset).
        for _ in 0..8 {
            let started = std::time::Instant::now();
            let first = now_ms();
            let mut mono = first;
            while mono == first && started.elapsed().as_millis() <= 2 * tick_ms() as u128 {
                std::hint::spin_loop();
                mono = now_ms();
            }
            let ticked = std::time::Instant::now();
            let wall = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0);
            // +1: the wall clock was read after the store's clock, and truncation to
            // milliseconds.
            offset = wall - mono as i64 + 1 + tick_ms() as i64;
            if ticked.elapsed() < std::time::Duration::from_micros(200) {
                break;
            }
        }
        offset
    })
}

/// Seconds since the Unix epoch (for display and for plugins' time-of-day).
pub fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wall_ms() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
    }

    /// "Now" on the Unix clock is the wall clock in milliseconds (not seconds, not the
    /// monotonic clock's own epoch). How close it stays — a tick ahead, by construction — depends
    /// on the scheduler, so the bound here is only what no loaded machine can excuse.
    #[test]
    fn unix_now_is_the_wall_clock_in_milliseconds() {
        for _ in 0..50 {
            let before = wall_ms();
            let ours = now_ms() as i64 + unix_offset_ms();
            let after = wall_ms();
            assert!(
                ours >= before - 1000 && ours <= after + 1000,
                "{ours} is not the wall clock ({before}..{after})"
            );
            std::thread::sleep(std::time::Duration::from_micros(300));
        }
    }

    #[test]
    fn the_store_clock_never_goes_back_and_is_never_zero() {
        let mut last = now_ms();
        assert!(last >= 1);
        for _ in 0..10_000 {
            let t = now_ms();
            assert!(t >= last);
            last = t;
        }
    }
}

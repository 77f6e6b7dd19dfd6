//! Expiry arguments: `EX`/`PX` (relative) and `EXAT`/`PXAT` (Unix time) as SET and GETEX take
//! them, and the time arguments of the EXPIRE family.
//!
//! The store keeps deadlines on a monotonic clock, so an absolute Unix time is turned into "this
//! many milliseconds from now" against the wall clock at the moment the command runs.

use super::{is, parse_i64};

/// How a time argument is expressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUnit {
    Seconds,
    Millis,
    UnixSeconds,
    UnixMillis,
}

impl TimeUnit {
    /// The SET/GETEX option naming a unit: `EX`, `PX`, `EXAT`, `PXAT`.
    pub fn from_option(opt: &[u8]) -> Option<Self> {
        if is(opt, "EX") {
            Some(Self::Seconds)
        } else if is(opt, "PX") {
            Some(Self::Millis)
        } else if is(opt, "EXAT") {
            Some(Self::UnixSeconds)
        } else if is(opt, "PXAT") {
            Some(Self::UnixMillis)
        } else {
            None
        }
    }

    /// `n` in this unit as milliseconds from now (zero or negative when already past); `None`
    /// when the deadline cannot be represented (Redis's "invalid expire time"): a relative time
    /// whose milliseconds, or whose absolute deadline, overflow. An absolute time far in the past
    /// is simply past, however negative.
    pub fn relative_ms(self, n: i64) -> Option<i64> {
        let now = unix_now_ms();
        match self {
            Self::Seconds | Self::Millis => {
                let ms = if self == Self::Seconds {
                    n.checked_mul(1000)?
                } else {
                    n
                };
                // The absolute deadline must fit, as Redis checks.
                now.checked_add(ms)?;
                Some(ms)
            }
            Self::UnixSeconds => match n.checked_mul(1000) {
                Some(ms) => Some(ms.saturating_sub(now)),
                None if n < 0 => Some(i64::MIN),
                None => None,
            },
            Self::UnixMillis => Some(n.saturating_sub(now)),
        }
    }
}

/// A SET/GETEX expiry: a lifetime from now, or an absolute time already past (the key is
/// written and at once removed, as in Redis).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deadline {
    InMs(u64),
    Past,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadlineError {
    /// Not an integer: `-ERR value is not an integer or out of range`.
    NotInteger,
    /// Zero, negative or overflowing: `-ERR invalid expire time in '…' command`.
    Invalid,
}

impl Deadline {
    pub fn parse(arg: &[u8], unit: TimeUnit) -> Result<Self, DeadlineError> {
        let n = parse_i64(arg).ok_or(DeadlineError::NotInteger)?;
        if n <= 0 {
            return Err(DeadlineError::Invalid);
        }
        match unit.relative_ms(n).ok_or(DeadlineError::Invalid)? {
            ms if ms > 0 => Ok(Deadline::InMs(ms as u64)),
            _ => Ok(Deadline::Past),
        }
    }
}

/// Milliseconds since the Unix epoch on the wall clock.
///
/// Read off the store's monotonic clock plus a wall-clock offset taken once
/// ([`larder_runtime::clock::unix_offset_ms`]), so an absolute deadline turned into the store's
/// time and back (PEXPIREAT, then PEXPIRETIME) comes back as given, and "now" never trails a
/// client's clock read just before. A wall-clock step after start is not followed: deadlines
/// are kept on the monotonic clock anyway.
pub fn unix_now_ms() -> i64 {
    larder_runtime::clock::now_ms() as i64 + larder_runtime::clock::unix_offset_ms()
}

//! Safe wrappers of the host imports (module `larder`). Off wasm32 (unit tests of plugin logic
//! on the build machine) they are stand-ins: time 0, a fixed random sequence, no tags, no log.

#[cfg(target_arch = "wasm32")]
mod imports {
    #[link(wasm_import_module = "larder")]
    unsafe extern "C" {
        pub fn now_ms() -> i64;
        pub fn random() -> i64;
        pub fn tag(name_ptr: i32, name_len: i32, out_ptr: i32, out_cap: i32) -> i32;
        pub fn log(level: i32, ptr: i32, len: i32);
    }
}

/// Unix time in milliseconds, frozen for the duration of the current call.
pub fn now_ms() -> u64 {
    #[cfg(target_arch = "wasm32")]
    // SAFETY: a host import without arguments.
    return unsafe { imports::now_ms() } as u64;
    #[cfg(not(target_arch = "wasm32"))]
    0
}

/// The next value of this instance's seeded random sequence.
pub fn random() -> u64 {
    #[cfg(target_arch = "wasm32")]
    // SAFETY: a host import without arguments.
    return unsafe { imports::random() } as u64;
    #[cfg(not(target_arch = "wasm32"))]
    {
        use core::sync::atomic::{AtomicU64, Ordering};
        static STATE: AtomicU64 = AtomicU64::new(0x2545_F491_4F6C_DD1D);
        let x = STATE.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
        (x ^ (x >> 31)).wrapping_mul(0xBF58_476D_1CE4_E5B9)
    }
}

/// The current request's context tag `name`, copied into `buf` (cut to its length).
/// `None` when absent, or outside a request (eviction calls).
pub fn tag<'b>(name: &str, buf: &'b mut [u8]) -> Option<&'b [u8]> {
    #[cfg(target_arch = "wasm32")]
    {
        // SAFETY: both ranges are valid for the call; the host checks them against memory.
        let len = unsafe {
            imports::tag(
                name.as_ptr() as i32,
                name.len() as i32,
                buf.as_mut_ptr() as i32,
                buf.len() as i32,
            )
        };
        if len < 0 {
            return None;
        }
        let n = (len as usize).min(buf.len());
        Some(&buf[..n])
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = (name, buf);
        None
    }
}

/// Log levels of [`log`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Warn = 0,
    Info = 1,
    Debug = 2,
}

/// Write a line to the host's log (cut at 512 bytes).
pub fn log(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    // SAFETY: the range is a valid &str for the call.
    unsafe {
        imports::log(level as i32, message.as_ptr() as i32, message.len() as i32)
    };
    #[cfg(not(target_arch = "wasm32"))]
    let _ = (level, message);
}

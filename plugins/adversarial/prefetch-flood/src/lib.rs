//! Adversarial test plugin, written against the raw ABI without the SDK (which would cap the
//! answer): every prefetch answer names 10 000 keys. The host must use at most 16 and count the
//! rest as invalid.

use core::cell::UnsafeCell;

const SCRATCH_LEN: usize = 128 * 1024;
const FLOOD: u32 = 10_000;

#[repr(C, align(8))]
struct Scratch(UnsafeCell<[u8; SCRATCH_LEN]>);
// SAFETY: a wasm32 instance is single-threaded.
unsafe impl Sync for Scratch {}
static SCRATCH: Scratch = Scratch(UnsafeCell::new([0; SCRATCH_LEN]));

#[unsafe(no_mangle)]
pub extern "C" fn larder_abi_version() -> i32 {
    1
}

#[unsafe(no_mangle)]
pub extern "C" fn larder_hooks() -> i32 {
    4 // prefetch
}

#[unsafe(no_mangle)]
pub extern "C" fn larder_scratch() -> i32 {
    SCRATCH.0.get() as usize as i32
}

#[unsafe(no_mangle)]
pub extern "C" fn larder_scratch_len() -> i32 {
    SCRATCH_LEN as i32
}

#[unsafe(no_mangle)]
pub extern "C" fn larder_prefetch(_hash: i64, _key_len: i32, _hit: i32) -> i32 {
    // SAFETY: single-threaded; no other reference to the buffer is live during this call.
    let buf = unsafe { &mut *SCRATCH.0.get() };
    let mut off = 0;
    for i in 0..FLOOD {
        let key = [
            b'k',
            b'0' + (i / 1000 % 10) as u8,
            b'0' + (i / 100 % 10) as u8,
            b'0' + (i / 10 % 10) as u8,
            b'0' + (i % 10) as u8,
        ];
        buf[off..off + 4].copy_from_slice(&(key.len() as u32).to_le_bytes());
        buf[off + 4..off + 4 + key.len()].copy_from_slice(&key);
        off += 4 + key.len();
    }
    FLOOD as i32
}

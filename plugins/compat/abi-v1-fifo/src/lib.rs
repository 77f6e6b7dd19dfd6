//! Compatibility fixture: a FIFO eviction plugin written by hand against ABI version 1, with no
//! SDK — the shape of a module built before version 2, or in another language.
//!
//! Under ABI 1 an overwrite arrives as a remove followed by an insert, so an overwritten key goes
//! to the back of this FIFO's line (the built-in FIFO keeps its place). Any event kind ABI 1 does
//! not define traps, so a host that sent this module a version-2 update would make it fault.

use std::cell::{RefCell, UnsafeCell};
use std::collections::VecDeque;

const SCRATCH_LEN: usize = 128 * 1024;
const EVENT_LEN: usize = 24;

struct Scratch(UnsafeCell<[u8; SCRATCH_LEN]>);
// The module is single-threaded: the host never calls an instance concurrently.
unsafe impl Sync for Scratch {}
static SCRATCH: Scratch = Scratch(UnsafeCell::new([0; SCRATCH_LEN]));

fn scratch() -> &'static mut [u8; SCRATCH_LEN] {
    // SAFETY: calls into an instance are never concurrent or re-entrant, and no reference to the
    // buffer outlives a call.
    unsafe { &mut *SCRATCH.0.get() }
}

/// Arrival order, as (slot, generation): an entry removed and its slot reused leaves a stale
/// pair behind, skipped when it reaches the front.
#[derive(Default)]
struct Fifo {
    line: VecDeque<(u32, u32)>,
    generation: Vec<u32>,
    resident: Vec<bool>,
}

impl Fifo {
    fn cell(&mut self, slot: u32) -> usize {
        let i = slot as usize;
        if i >= self.resident.len() {
            self.resident.resize(i + 1, false);
            self.generation.resize(i + 1, 0);
        }
        i
    }

    fn insert(&mut self, slot: u32) {
        let i = self.cell(slot);
        self.generation[i] = self.generation[i].wrapping_add(1);
        self.resident[i] = true;
        self.line.push_back((slot, self.generation[i]));
    }

    fn remove(&mut self, slot: u32) {
        let i = self.cell(slot);
        self.resident[i] = false;
        self.generation[i] = self.generation[i].wrapping_add(1);
    }

    fn victim(&mut self) -> Option<u32> {
        while let Some((slot, generation)) = self.line.pop_front() {
            let i = slot as usize;
            if self.resident[i] && self.generation[i] == generation {
                self.remove(slot);
                return Some(slot);
            }
        }
        None
    }
}

thread_local! {
    static FIFO: RefCell<Fifo> = RefCell::new(Fifo::default());
}

fn u32_at(buf: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([buf[off], buf[off + 1], buf[off + 2], buf[off + 3]])
}

#[unsafe(no_mangle)]
pub extern "C" fn larder_abi_version() -> i32 {
    1
}

#[unsafe(no_mangle)]
pub extern "C" fn larder_hooks() -> i32 {
    1 // eviction
}

#[unsafe(no_mangle)]
pub extern "C" fn larder_scratch() -> i32 {
    SCRATCH.0.get() as i32
}

#[unsafe(no_mangle)]
pub extern "C" fn larder_scratch_len() -> i32 {
    SCRATCH_LEN as i32
}

#[unsafe(no_mangle)]
pub extern "C" fn larder_evict(n_events: i32, need_bytes: i64, max_victims: i32) -> i32 {
    let buf = scratch();
    FIFO.with_borrow_mut(|fifo| {
        for e in 0..n_events.max(0) as usize {
            let off = e * EVENT_LEN;
            let slot = u32_at(buf, off + 8);
            match u32_at(buf, off + 16) {
                1 => fifo.insert(slot),
                2 => {}
                3 => fifo.remove(slot),
                // A panic aborts, which is a trap in wasm.
                kind => panic!("event kind {kind} is not defined by ABI 1"),
            }
        }
        if need_bytes <= 0 || max_victims <= 0 {
            return 0;
        }
        match fifo.victim() {
            Some(slot) => {
                buf[0..4].copy_from_slice(&slot.to_le_bytes());
                1
            }
            None => 0,
        }
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn larder_evict_clear() {
    FIFO.with_borrow_mut(|fifo| *fifo = Fifo::default());
}

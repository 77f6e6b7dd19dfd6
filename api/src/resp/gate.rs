//! The transaction gate: what makes `EXEC` atomic on a multi-threaded server.
//!
//! Every command runs holding the gate *shared*; `EXEC` holds it *exclusive* while it checks its
//! watched keys and runs its queue, so no other client's command runs in between — the promise
//! Redis keeps by being single-threaded.
//!
//! Shared holders must not slow each other down, so the gate is one reader-writer lock per slot,
//! each on its own cache line; a thread always takes the slot it was given on first use. Two
//! worker threads running commands touch two different lines, and the cost of a command is one
//! uncontended lock of a line that stays in its core's cache. `EXEC` takes every slot, in order.

use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};

#[repr(align(64))]
struct Slot(RwLock<()>);

pub struct TransactionGate {
    slots: Box<[Slot]>,
}

/// Held by `EXEC`: every slot, exclusively.
pub struct Exclusive<'a> {
    _slots: Vec<RwLockWriteGuard<'a, ()>>,
}

static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static MY_SLOT: usize = NEXT_SLOT.fetch_add(1, Ordering::Relaxed);
}

impl Default for TransactionGate {
    fn default() -> Self {
        let threads = std::thread::available_parallelism().map_or(4, |n| n.get());
        // Twice the cores, so the worker threads rarely share a slot; at most 64.
        let n = (threads * 2).next_power_of_two().min(64);
        Self {
            slots: (0..n).map(|_| Slot(RwLock::new(()))).collect(),
        }
    }
}

impl TransactionGate {
    /// Hold while running one command.
    #[inline]
    pub fn shared(&self) -> RwLockReadGuard<'_, ()> {
        let i = MY_SLOT.with(|s| *s) & (self.slots.len() - 1);
        self.slots[i].0.read()
    }

    /// Hold while running a transaction: waits for the commands running now, and keeps every
    /// other command out until dropped. Must not be taken by a thread holding [`shared`](Self::shared).
    pub fn exclusive(&self) -> Exclusive<'_> {
        Exclusive {
            _slots: self.slots.iter().map(|s| s.0.write()).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    #[test]
    fn exclusive_waits_for_shared_holders_on_other_threads_and_keeps_them_out() {
        let gate = Arc::new(TransactionGate::default());
        let held = gate.shared();
        let inside = Arc::new(AtomicBool::new(false));
        let t = {
            let (gate, inside) = (Arc::clone(&gate), Arc::clone(&inside));
            std::thread::spawn(move || {
                let _x = gate.exclusive();
                inside.store(true, Ordering::SeqCst);
                std::thread::sleep(std::time::Duration::from_millis(50));
                inside.store(false, Ordering::SeqCst);
            })
        };
        std::thread::sleep(std::time::Duration::from_millis(30));
        assert!(!inside.load(Ordering::SeqCst), "a command is still running");
        drop(held);
        while !inside.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
        // A command started now waits until the transaction is done.
        let _g = gate.shared();
        assert!(!inside.load(Ordering::SeqCst));
        t.join().unwrap();
    }
}

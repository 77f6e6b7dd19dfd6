//! Adversarial test plugin: a correct LRU that panics (a wasm trap, since plugins abort on panic)
//! on its 50th victim request — and, after the host restarts it, on the 50th again.

use kit::SlotList;
use larder_sdk::{Entry, Eviction, Plugin, Victims, export_plugin};

const TRAP_AT: u32 = 50;

#[derive(Default)]
pub struct TrapNth {
    list: SlotList<1>,
    requests: u32,
}

impl Plugin for TrapNth {}

impl Eviction for TrapNth {
    fn on_insert(&mut self, e: Entry) {
        self.list.push_front(0, e.slot, e.size);
    }
    fn on_access(&mut self, e: Entry) {
        if self.list.list_of(e.slot).is_some() {
            self.list.move_front(0, e.slot);
        }
    }
    fn on_remove(&mut self, e: Entry) {
        self.list.remove(e.slot);
    }
    fn victims(&mut self, bytes: u64, out: &mut Victims) {
        self.requests += 1;
        if self.requests == TRAP_AT {
            panic!("trap on victim request {TRAP_AT}");
        }
        let mut freed = 0u64;
        while freed < bytes && !out.is_full() {
            let Some(slot) = self.list.pop_back(0) else {
                break;
            };
            freed += self.list.size_of(slot) as u64;
            out.push(slot);
        }
    }
    fn clear(&mut self) {
        self.list.clear();
    }
}

export_plugin!(TrapNth, [eviction]);

//! LRU eviction: the least recently used entry leaves first. The reference against which the
//! built-in `lru` policy is benchmarked.

use kit::SlotList;
use larder_sdk::{Entry, Eviction, Plugin, Victims, export_plugin};

#[derive(Default)]
pub struct Lru {
    list: SlotList<1>,
}

impl Plugin for Lru {}

impl Eviction for Lru {
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
        let mut freed = 0u64;
        while freed < bytes && !out.is_full() {
            let Some(slot) = self.list.back(0) else { break };
            freed += self.list.size_of(slot) as u64;
            self.list.remove(slot);
            out.push(slot);
        }
    }
    fn clear(&mut self) {
        self.list.clear();
    }
}

export_plugin!(Lru, [eviction]);

//! Adversarial test plugin: an LRU whose victim request never returns. The host's call deadline
//! (epoch interruption) must stop it, and the namespace's built-in policy must take over.

use kit::SlotList;
use larder_sdk::{Entry, Eviction, Plugin, Victims, export_plugin};

#[derive(Default)]
pub struct Spin {
    list: SlotList<1>,
}

impl Plugin for Spin {}

impl Eviction for Spin {
    fn on_insert(&mut self, e: Entry) {
        self.list.push_front(0, e.slot, e.size);
    }
    fn on_remove(&mut self, e: Entry) {
        self.list.remove(e.slot);
    }
    fn victims(&mut self, _bytes: u64, _out: &mut Victims) {
        let mut spins = 0u64;
        loop {
            spins = core::hint::black_box(spins.wrapping_add(1));
        }
    }
    fn clear(&mut self) {
        self.list.clear();
    }
}

export_plugin!(Spin, [eviction]);

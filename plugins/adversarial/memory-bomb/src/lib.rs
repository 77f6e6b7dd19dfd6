//! Adversarial test plugin: when asked for victims it allocates megabyte after megabyte and never
//! lets go. The host's per-instance memory cap must stop it.

use kit::SlotList;
use larder_sdk::{Entry, Eviction, Plugin, Victims, export_plugin};

#[derive(Default)]
pub struct Hoarder {
    list: SlotList<1>,
    hoard: Vec<Vec<u8>>,
}

impl Plugin for Hoarder {}

impl Eviction for Hoarder {
    fn on_insert(&mut self, e: Entry) {
        self.list.push_front(0, e.slot, e.size);
    }
    fn on_remove(&mut self, e: Entry) {
        self.list.remove(e.slot);
    }
    fn victims(&mut self, _bytes: u64, _out: &mut Victims) {
        loop {
            let chunk = vec![1u8; 1 << 20];
            self.hoard.push(core::hint::black_box(chunk));
        }
    }
    fn clear(&mut self) {
        self.list.clear();
    }
}

export_plugin!(Hoarder, [eviction]);

//! Adversarial test plugin: when asked for victims it allocates megabyte after megabyte and never
//! lets go. The host's per-instance memory cap must stop it.

use larder_sdk::{Entry, Eviction, Plugin, Victims, export_plugin};

#[derive(Default)]
pub struct Hoarder {
    hoard: Vec<Vec<u8>>,
}

impl Plugin for Hoarder {}

impl Eviction for Hoarder {
    // It never names a victim, so it keeps no state about entries.
    fn on_insert(&mut self, _e: Entry) {}
    fn on_remove(&mut self, _e: Entry) {}
    fn victims(&mut self, _bytes: u64, _out: &mut Victims) {
        loop {
            let chunk = vec![1u8; 1 << 20];
            self.hoard.push(core::hint::black_box(chunk));
        }
    }
    fn clear(&mut self) {}
}

export_plugin!(Hoarder, [eviction]);

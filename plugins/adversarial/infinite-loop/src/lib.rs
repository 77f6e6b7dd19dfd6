//! Adversarial test plugin: a plugin whose victim request never returns. The host's call deadline
//! (epoch interruption) must stop it, and the namespace's built-in policy must take over.

use larder_sdk::{Entry, Eviction, Plugin, Victims, export_plugin};

#[derive(Default)]
pub struct Spin;

impl Plugin for Spin {}

impl Eviction for Spin {
    // It never names a victim, so it keeps no state about entries.
    fn on_insert(&mut self, _e: Entry) {}
    fn on_remove(&mut self, _e: Entry) {}
    fn victims(&mut self, _bytes: u64, _out: &mut Victims) {
        let mut spins = 0u64;
        loop {
            spins = core::hint::black_box(spins.wrapping_add(1));
        }
    }
    fn clear(&mut self) {}
}

export_plugin!(Spin, [eviction]);

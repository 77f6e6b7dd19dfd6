//! Adversarial test plugin: answers every victim request with slots that were never resident.
//! The host must ignore and count them, and its built-in policy must make up the shortfall.

use larder_sdk::{Entry, Eviction, Plugin, Victims, export_plugin};

#[derive(Default)]
pub struct Garbage;

impl Plugin for Garbage {}

impl Eviction for Garbage {
    fn on_insert(&mut self, _e: Entry) {}
    fn on_remove(&mut self, _e: Entry) {}
    fn victims(&mut self, _bytes: u64, out: &mut Victims) {
        for i in 0..8 {
            out.push(u32::MAX - i);
        }
    }
    fn clear(&mut self) {}
}

export_plugin!(Garbage, [eviction]);

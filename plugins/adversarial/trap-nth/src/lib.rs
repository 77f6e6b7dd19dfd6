//! Adversarial test plugin: a correct LRU (the built-in's own) that panics — a wasm trap, since
//! plugins abort on panic — on its 50th victim request, and, after the host restarts it, on the
//! 50th again.

use kit::EvictionHook;
use kit::policy::Lru;
use larder_sdk::{Entry, Eviction, Plugin, Victims, export_plugin};

const TRAP_AT: u32 = 50;

#[derive(Default)]
pub struct TrapNth {
    lru: EvictionHook<Lru>,
    requests: u32,
}

impl Plugin for TrapNth {}

impl Eviction for TrapNth {
    fn on_insert(&mut self, e: Entry) {
        self.lru.on_insert(e);
    }
    fn on_access(&mut self, e: Entry) {
        self.lru.on_access(e);
    }
    fn on_remove(&mut self, e: Entry) {
        self.lru.on_remove(e);
    }
    fn on_update(&mut self, old: Entry, new: Entry) {
        self.lru.on_update(old, new);
    }
    fn victims(&mut self, bytes: u64, out: &mut Victims) {
        self.requests += 1;
        if self.requests == TRAP_AT {
            panic!("trap on victim request {TRAP_AT}");
        }
        self.lru.victims(bytes, out);
    }
    fn clear(&mut self) {
        self.lru.clear();
    }
}

export_plugin!(TrapNth, [eviction]);

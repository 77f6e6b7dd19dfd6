//! FIFO eviction: entries leave in the order they arrived; reads change nothing.
//!
//! Per-entry state lives in a vector indexed by the entry's slot (a small dense handle the host
//! gives every resident entry), threaded into one doubly linked queue: O(1) per event, and no
//! allocation once the vectors have grown to the shard's size.

use larder_sdk::{Entry, Eviction, Plugin, Victims, export_plugin};

const NONE: u32 = u32::MAX;

#[derive(Clone, Copy)]
struct Node {
    newer: u32,
    older: u32,
    size: u32,
}

#[derive(Default)]
pub struct Fifo {
    nodes: Vec<Node>,
    newest: Option<u32>,
    oldest: Option<u32>,
}

impl Plugin for Fifo {}

impl Fifo {
    fn unlink(&mut self, slot: u32) {
        let Node { newer, older, .. } = self.nodes[slot as usize];
        match newer {
            NONE => self.newest = (older != NONE).then_some(older),
            n => self.nodes[n as usize].older = older,
        }
        match older {
            NONE => self.oldest = (newer != NONE).then_some(newer),
            o => self.nodes[o as usize].newer = newer,
        }
    }
}

impl Eviction for Fifo {
    fn on_insert(&mut self, e: Entry) {
        let i = e.slot as usize;
        if i >= self.nodes.len() {
            self.nodes.resize(i + 1, Node { newer: NONE, older: NONE, size: 0 });
        }
        let older = self.newest.unwrap_or(NONE);
        self.nodes[i] = Node { newer: NONE, older, size: e.size };
        if let Some(n) = self.newest {
            self.nodes[n as usize].newer = e.slot;
        }
        self.newest = Some(e.slot);
        self.oldest.get_or_insert(e.slot);
    }

    fn on_remove(&mut self, e: Entry) {
        self.unlink(e.slot);
    }

    fn victims(&mut self, bytes: u64, out: &mut Victims) {
        let mut freed = 0;
        while freed < bytes && !out.is_full() {
            let Some(slot) = self.oldest else { break };
            self.unlink(slot);
            freed += self.nodes[slot as usize].size as u64;
            out.push(slot);
        }
    }

    fn clear(&mut self) {
        *self = Self::default();
    }
}

export_plugin!(Fifo, [eviction]);

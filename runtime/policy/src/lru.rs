//! Least recently used: evict the entry whose last access is oldest.

use super::list::{Links, List};
use super::{EntryMeta, EvictionPolicy, Slot, VictimSink};

#[derive(Debug, Default)]
pub struct Lru {
    links: Links,
    queue: List,
}

impl Lru {
    /// Another policy sharing this resident set evicted `slot` (which must be resident).
    pub(super) fn evicted_elsewhere(&mut self, slot: Slot) {
        self.links.unlink(&mut self.queue, slot);
    }
}

impl EvictionPolicy for Lru {
    fn name(&self) -> &str {
        "lru"
    }
    fn set_capacity(&mut self, _capacity_bytes: u64) {}
    fn on_insert(&mut self, entry: EntryMeta) {
        self.links.push_front(&mut self.queue, entry.slot);
    }
    /// An overwrite is a use: the entry becomes the most recent.
    fn on_update(&mut self, _old: EntryMeta, new: EntryMeta) {
        self.links.move_to_front(&mut self.queue, new.slot);
    }
    fn on_access(&mut self, slots: &[Slot]) {
        for &slot in slots {
            self.links.move_to_front(&mut self.queue, slot);
        }
    }
    fn on_remove(&mut self, entry: EntryMeta) {
        self.links.unlink(&mut self.queue, entry.slot);
    }
    fn victims(&mut self, _bytes: u64, out: &mut dyn VictimSink) {
        if out.is_full() {
            return;
        }
        // One at a time: the store knows the sizes and asks again until enough is freed.
        if let Some(slot) = self.links.pop_back(&mut self.queue) {
            out.push(slot);
        }
    }
    fn clear(&mut self) {
        self.links.clear();
        self.queue = List::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(slot: Slot) -> EntryMeta {
        EntryMeta {
            slot,
            hash: slot as u64,
            size: 1,
        }
    }

    #[test]
    fn evicts_least_recently_used_first() {
        let mut lru = Lru::default();
        for s in 0..3 {
            lru.on_insert(meta(s));
        }
        lru.on_access(&[0]);
        let mut out = Vec::new();
        lru.victims(1, &mut out);
        lru.victims(1, &mut out);
        assert_eq!(out, vec![1, 2]);
    }
}

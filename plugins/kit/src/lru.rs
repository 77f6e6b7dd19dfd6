//! Least recently used: the entry whose last access is oldest leaves first. Decides exactly what
//! the built-in `lru` policy decides.

use larder_sdk::Entry;

use crate::{Policy, SlotList, VictimSink};

/// LRU over one [`SlotList`]: the head is the most recently used entry.
#[derive(Default)]
pub struct Lru {
    list: SlotList<1>,
}

impl Lru {
    /// Another policy sharing this resident set evicted `slot`: forget it.
    pub fn forget(&mut self, slot: u32) {
        self.list.remove(slot);
    }

    /// Resident entries.
    pub fn len(&self) -> usize {
        self.list.len(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Policy for Lru {
    fn set_capacity(&mut self, _capacity_bytes: u64) {}

    fn on_insert(&mut self, entry: Entry) {
        self.list.push_front(0, entry.slot, entry.size);
    }

    fn on_access(&mut self, entry: Entry) {
        if self.list.list_of(entry.slot).is_some() {
            self.list.move_front(0, entry.slot);
        }
    }

    fn on_remove(&mut self, entry: Entry) {
        self.list.remove(entry.slot);
    }

    fn victims<S: VictimSink>(&mut self, bytes: u64, out: &mut S) {
        // Taking several at once decides what taking one per call (as the built-in does) would:
        // nothing happens between the host's calls.
        let mut freed = 0u64;
        let mut taken = false;
        while !out.is_full() && (!taken || freed < bytes) {
            let Some(slot) = self.list.pop_back(0) else {
                break;
            };
            freed += self.list.size_of(slot) as u64;
            out.push(slot);
            taken = true;
        }
    }

    fn clear(&mut self) {
        self.list.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(slot: u32) -> Entry {
        Entry {
            hash: slot as u64,
            slot,
            size: 1,
        }
    }

    #[test]
    fn evicts_least_recently_used_first() {
        let mut lru = Lru::default();
        for s in 0..4 {
            lru.on_insert(entry(s));
        }
        lru.on_access(entry(0));
        lru.on_access(entry(9)); // not resident: ignored
        lru.forget(2);
        let mut out = Vec::new();
        lru.victims(2, &mut out);
        assert_eq!(out, vec![1, 3]);
        assert_eq!(lru.len(), 1);
    }
}

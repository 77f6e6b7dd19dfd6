//! First in, first out: evict the entry that became resident longest ago, whatever its hits.
//!
//! The baseline every other policy is measured against (and what the trace simulator needs to
//! reproduce published FIFO miss ratios). An overwrite keeps the entry's place in line.

use alloc::vec::Vec;

use super::dense::grow;
use super::list::{Links, List};
use super::{EntryMeta, EvictionPolicy, Slot, VictimSink};

#[derive(Debug, Default)]
pub struct Fifo {
    links: Links,
    queue: List,
    /// Whether each slot is in the queue (lets `on_remove` ignore a slot it does not hold).
    resident: Vec<bool>,
}

impl Fifo {
    fn is_resident(&self, slot: Slot) -> bool {
        self.resident.get(slot as usize).copied().unwrap_or(false)
    }

    fn detach(&mut self, slot: Slot) {
        self.links.unlink(&mut self.queue, slot);
        self.resident[slot as usize] = false;
    }
}

impl EvictionPolicy for Fifo {
    fn name(&self) -> &str {
        "fifo"
    }

    fn set_capacity(&mut self, _capacity_bytes: u64) {}

    fn on_insert(&mut self, entry: EntryMeta) {
        if self.is_resident(entry.slot) {
            self.detach(entry.slot);
        }
        grow(&mut self.resident, entry.slot, false);
        self.resident[entry.slot as usize] = true;
        self.links.push_front(&mut self.queue, entry.slot);
    }

    /// An overwritten entry keeps its place in the line.
    fn on_update(&mut self, _old: EntryMeta, _new: EntryMeta) {}

    fn on_access(&mut self, _slots: &[Slot]) {}

    fn on_remove(&mut self, entry: EntryMeta) {
        if self.is_resident(entry.slot) {
            self.detach(entry.slot);
        }
    }

    fn victims(&mut self, _bytes: u64, out: &mut dyn VictimSink) {
        if out.is_full() {
            return;
        }
        // One per call: FIFO needs no sizes, and the store asks again until enough is freed.
        if let Some(slot) = self.links.pop_back(&mut self.queue) {
            self.resident[slot as usize] = false;
            out.push(slot);
        }
    }

    fn clear(&mut self) {
        self.links.clear();
        self.queue = List::default();
        self.resident.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;
    use proptest::prelude::*;

    fn meta(slot: Slot) -> EntryMeta {
        EntryMeta {
            slot,
            hash: slot as u64 * 7919,
            size: 1,
        }
    }

    fn drain(p: &mut Fifo) -> Vec<Slot> {
        let mut out = Vec::new();
        for _ in 0..16 {
            p.victims(1, &mut out);
        }
        out
    }

    #[test]
    fn evicts_in_insertion_order_regardless_of_hits() {
        let mut p = Fifo::default();
        for s in 0..4 {
            p.on_insert(meta(s));
        }
        p.on_access(&[0, 0, 1]);
        p.on_remove(meta(2));
        assert_eq!(drain(&mut p), vec![0, 1, 3]);
    }

    #[test]
    fn overwrite_keeps_place_but_reused_slot_goes_to_the_back() {
        let mut p = Fifo::default();
        for s in 0..3 {
            p.on_insert(meta(s));
        }
        // Overwrite of slot 0 (same key): stays first in line.
        p.on_update(meta(0), meta(0));
        // Slot 1 deleted, then reused by a different key: that is a new arrival.
        p.on_remove(meta(1));
        p.on_insert(EntryMeta {
            slot: 1,
            hash: 42,
            size: 1,
        });
        assert_eq!(drain(&mut p), vec![0, 2, 1]);
    }

    proptest! {
        #[test]
        fn contract_holds(ops in testing::ops()) {
            testing::check_contract(|| Box::new(Fifo::default()), &ops)?;
        }
    }
}

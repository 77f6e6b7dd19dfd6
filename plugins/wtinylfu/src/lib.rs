//! W-TinyLFU eviction (Einziger et al., as in Caffeine): new entries enter a small LRU window
//! (1 % of the bytes); an entry leaving the window competes with the main region's LRU victim,
//! and the one a count-min sketch says is accessed more often stays. The main region is a
//! segmented LRU: probation (20 %) and protected (80 %).

use kit::{CountMinSketch, SlotList};
use larder_sdk::{Entry, Eviction, InitContext, Plugin, Victims, export_plugin};

const WINDOW: usize = 0;
const PROBATION: usize = 1;
const PROTECTED: usize = 2;

pub struct WTinyLfu {
    lists: SlotList<3>,
    hashes: Vec<u64>,
    sketch: CountMinSketch,
    capacity: u64,
}

impl Default for WTinyLfu {
    fn default() -> Self {
        Self {
            lists: SlotList::default(),
            hashes: Vec::new(),
            sketch: CountMinSketch::new(4096),
            capacity: 0,
        }
    }
}

impl Plugin for WTinyLfu {
    fn init(&mut self, ctx: &InitContext) {
        self.set_capacity(ctx.capacity_bytes);
    }
}

impl WTinyLfu {
    fn window_cap(&self) -> u64 {
        (self.capacity / 100).max(1)
    }
    fn protected_cap(&self) -> u64 {
        self.capacity * 8 / 10
    }
    fn main_has_room(&self, candidate: u32) -> bool {
        let main = self.lists.bytes(PROBATION) + self.lists.bytes(PROTECTED);
        main + self.lists.size_of(candidate) as u64
            <= self.capacity - self.window_cap().min(self.capacity)
    }
    fn hash(&self, slot: u32) -> u64 {
        self.hashes.get(slot as usize).copied().unwrap_or(0)
    }
    fn take(&mut self, slot: u32, out: &mut Victims) -> u64 {
        let size = self.lists.size_of(slot) as u64;
        self.lists.remove(slot);
        out.push(slot);
        size
    }
}

impl Eviction for WTinyLfu {
    fn set_capacity(&mut self, capacity_bytes: u64) {
        self.capacity = capacity_bytes;
        // About one sketch counter per 64 bytes of cache, within sane bounds.
        let keys = (capacity_bytes / 64).clamp(1024, 1 << 20) as usize;
        self.sketch = CountMinSketch::new(keys);
    }
    fn on_insert(&mut self, e: Entry) {
        let i = e.slot as usize;
        if i >= self.hashes.len() {
            self.hashes.resize((i + 1).max(self.hashes.len() * 2), 0);
        }
        self.hashes[i] = e.hash;
        self.sketch.increment(e.hash);
        self.lists.push_front(WINDOW, e.slot, e.size);
    }
    fn on_access(&mut self, e: Entry) {
        self.sketch.increment(e.hash);
        match self.lists.list_of(e.slot) {
            Some(WINDOW) => self.lists.move_front(WINDOW, e.slot),
            Some(PROBATION) | Some(PROTECTED) => {
                self.lists.move_front(PROTECTED, e.slot);
                // Keep protected within its share: demote its LRU end to probation.
                while self.lists.bytes(PROTECTED) > self.protected_cap() {
                    let Some(tail) = self.lists.back(PROTECTED) else {
                        break;
                    };
                    self.lists.move_front(PROBATION, tail);
                }
            }
            _ => {}
        }
    }
    fn on_remove(&mut self, e: Entry) {
        self.lists.remove(e.slot);
    }
    fn victims(&mut self, bytes: u64, out: &mut Victims) {
        let mut freed = 0u64;
        let mut budget = 2
            * (self.lists.len(WINDOW) + self.lists.len(PROBATION) + self.lists.len(PROTECTED))
            + 1;
        while freed < bytes && !out.is_full() && budget > 0 {
            budget -= 1;
            let main_victim = self
                .lists
                .back(PROBATION)
                .or_else(|| self.lists.back(PROTECTED));
            let window_over = self.lists.bytes(WINDOW) > self.window_cap();
            match (self.lists.back(WINDOW), main_victim) {
                (Some(candidate), _) if window_over && self.main_has_room(candidate) => {
                    // Main is not full yet: the window's LRU entry simply moves on.
                    self.lists.move_front(PROBATION, candidate);
                }
                (Some(candidate), Some(victim)) if window_over => {
                    // The window's LRU entry competes with main's: the more frequent one stays.
                    if self.sketch.estimate(self.hash(candidate))
                        > self.sketch.estimate(self.hash(victim))
                    {
                        self.lists.move_front(PROBATION, candidate);
                        freed += self.take(victim, out);
                    } else {
                        freed += self.take(candidate, out);
                    }
                }
                (_, Some(victim)) => freed += self.take(victim, out),
                (Some(candidate), None) => freed += self.take(candidate, out),
                (None, None) => break,
            }
        }
    }
    fn clear(&mut self) {
        self.lists.clear();
    }
}

export_plugin!(WTinyLfu, [eviction]);

//! A ghost cache: keys (as hashes) and sizes only, no values, driven by one eviction policy.
//!
//! It mirrors what a store shard does with the same [`EvictionPolicy`] calls — slots (the most
//! recently freed reused first), an access buffer delivered in batches before any other event,
//! updates in place, victims until the charged bytes fit — so a candidate policy behaves here as
//! it would serving. It is the driver of shadow evaluation, of `adaptive`'s trials and of the
//! policy tests' replays.
//!
//! Reads are demand-filled: a read that misses in the ghost but whose size is known (the live cache
//! had the key) is inserted as the application would have fetched and stored it; a read the live
//! cache also missed waits for the application's write, exactly as the live cache does.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::ops::DerefMut;

use hashbrown::HashMap;

use crate::{EntryMeta, EvictionPolicy, Slot};

/// Reads are delivered to the policy in batches of this many (the shard's batch size).
pub const ACCESS_BATCH: usize = 64;

#[derive(Clone, Copy)]
struct GhostSlot {
    hash: u64,
    size: u32,
    occupied: bool,
}

/// The driver: a cache of key hashes and sizes over the policy `P` (owned, or borrowed for one
/// replay).
pub struct GhostCache<P: DerefMut<Target = dyn EvictionPolicy> = Box<dyn EvictionPolicy>> {
    policy: P,
    capacity: u64,
    used: u64,
    resident: HashMap<u64, Slot>,
    slots: Vec<GhostSlot>,
    free: Vec<Slot>,
    pending_access: Vec<Slot>,
    victims: Vec<Slot>,
    pub reads: u64,
    pub hits: u64,
    pub evictions: u64,
    /// Victims the policy named that were not resident, or named twice (ignored).
    pub invalid_victims: u64,
    /// Times the policy offered no usable victim while over capacity; the cache then stays over
    /// capacity until the next write, as a shard does.
    pub shortfalls: u64,
}

impl<P: DerefMut<Target = dyn EvictionPolicy>> GhostCache<P> {
    pub fn new(mut policy: P, capacity: u64) -> Self {
        policy.set_capacity(capacity);
        Self {
            policy,
            capacity,
            used: 0,
            resident: HashMap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            pending_access: Vec::with_capacity(ACCESS_BATCH),
            victims: Vec::new(),
            reads: 0,
            hits: 0,
            evictions: 0,
            invalid_victims: 0,
            shortfalls: 0,
        }
    }

    /// Whether `hash` is resident.
    pub fn contains(&self, hash: u64) -> bool {
        self.resident.contains_key(&hash)
    }

    /// Deliver the reads still buffered (a replay's end).
    pub fn flush(&mut self) {
        self.flush_access();
    }

    pub fn policy_name(&self) -> &str {
        self.policy.name()
    }

    pub fn keys(&self) -> usize {
        self.resident.len()
    }

    pub fn hit_ratio(&self) -> f64 {
        if self.reads == 0 {
            0.0
        } else {
            self.hits as f64 / self.reads as f64
        }
    }

    /// A read of `hash`; `size` is its charged size when known (0 when nobody has the value).
    pub fn read(&mut self, hash: u64, size: u32) {
        self.reads += 1;
        if let Some(&slot) = self.resident.get(&hash) {
            self.hits += 1;
            self.pending_access.push(slot);
            if self.pending_access.len() >= ACCESS_BATCH {
                self.flush_access();
            }
        } else if size > 0 {
            self.insert(hash, size);
        }
    }

    /// A write of `hash` at `size`: a new key is inserted, a resident one updated in place
    /// (re-sized; one too large for the whole cache leaves it).
    pub fn write(&mut self, hash: u64, size: u32) {
        let Some(&slot) = self.resident.get(&hash) else {
            self.insert(hash, size);
            return;
        };
        if u64::from(size) > self.capacity {
            self.remove(hash);
            return;
        }
        self.flush_access();
        let state = &mut self.slots[slot as usize];
        let old = EntryMeta {
            slot,
            hash,
            size: state.size,
        };
        self.used = self.used - u64::from(state.size) + u64::from(size);
        state.size = size;
        self.policy.on_update(old, EntryMeta { slot, hash, size });
        self.evict_to_fit();
    }

    /// The key left the live cache for a reason of its own (delete, expiry).
    pub fn remove(&mut self, hash: u64) {
        let Some(slot) = self.resident.remove(&hash) else {
            return;
        };
        self.flush_access();
        let state = self.slots[slot as usize];
        self.policy.on_remove(EntryMeta {
            slot,
            hash,
            size: state.size,
        });
        self.vacate(slot);
    }

    fn insert(&mut self, hash: u64, size: u32) {
        if u64::from(size) > self.capacity {
            return;
        }
        let state = GhostSlot {
            hash,
            size,
            occupied: true,
        };
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = state;
                slot
            }
            None => {
                self.slots.push(state);
                (self.slots.len() - 1) as Slot
            }
        };
        self.resident.insert(hash, slot);
        self.used += u64::from(size);
        self.flush_access();
        self.policy.on_insert(EntryMeta { slot, hash, size });
        self.evict_to_fit();
    }

    fn vacate(&mut self, slot: Slot) {
        let state = &mut self.slots[slot as usize];
        state.occupied = false;
        self.used -= u64::from(state.size);
        self.free.push(slot);
    }

    fn flush_access(&mut self) {
        if !self.pending_access.is_empty() {
            self.policy.on_access(&self.pending_access);
            self.pending_access.clear();
        }
    }

    fn evict_to_fit(&mut self) {
        while self.used > self.capacity && !self.resident.is_empty() {
            self.flush_access();
            let mut victims = core::mem::take(&mut self.victims);
            victims.clear();
            self.policy.victims(self.used - self.capacity, &mut victims);
            let mut freed_any = false;
            for &slot in &victims {
                if let Some(state) = self.slots.get(slot as usize).copied()
                    && state.occupied
                {
                    self.resident.remove(&state.hash);
                    self.vacate(slot);
                    self.evictions += 1;
                    freed_any = true;
                } else {
                    self.invalid_victims += 1;
                }
            }
            self.victims = victims;
            if !freed_any {
                self.shortfalls += 1;
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BuiltinPolicy;

    #[test]
    fn lru_ghost_keeps_the_most_recent_keys() {
        let mut g = GhostCache::new(BuiltinPolicy::Lru.build(300), 300);
        for h in 1..=3 {
            g.write(h, 100);
        }
        g.read(1, 100); // 1 becomes most recent; 2 is now the oldest
        g.write(4, 100);
        assert_eq!(g.keys(), 3);
        g.read(2, 0);
        assert_eq!((g.hits, g.reads), (1, 2), "2 was evicted");
        g.read(1, 100);
        g.remove(1);
        g.read(1, 0);
        assert_eq!((g.hits, g.reads), (2, 4));
    }

    #[test]
    fn a_hit_elsewhere_demand_fills() {
        let mut g = GhostCache::new(BuiltinPolicy::S3fifo.build(1000), 1000);
        g.read(9, 50);
        g.read(9, 50);
        assert_eq!((g.hits, g.reads), (1, 2));
    }
}

//! A ghost cache: keys (as hashes) and sizes only, no values, driven by one [`Policy`] — the
//! built-in `GhostCache`, which `adaptive` uses for its trials, with the same decisions.
//!
//! It does what the host does with a policy's events — slots (freed ones reused, most recently
//! freed first), reads delivered in batches before every insert, removal and victim request,
//! victims until the charged bytes fit — so a policy behaves here as it would serving.
//!
//! Reads are demand-filled: a read that misses but whose size is known is inserted as the
//! application would have fetched and stored it; a read with size 0 waits for a write.

use larder_sdk::Entry;

use crate::Policy;
use crate::hash::HashMap;

/// Reads are delivered to the policy in batches of this many (the host's batch size).
const ACCESS_BATCH: usize = 64;

#[derive(Clone, Copy)]
struct GhostSlot {
    hash: u64,
    size: u32,
    occupied: bool,
}

pub struct GhostCache<P> {
    policy: P,
    capacity: u64,
    used: u64,
    resident: HashMap<u64, u32>,
    slots: Vec<GhostSlot>,
    free: Vec<u32>,
    pending_access: Vec<u32>,
    victims: Vec<u32>,
    reads: u64,
    hits: u64,
    evictions: u64,
}

impl<P: Policy> GhostCache<P> {
    /// An empty cache of `capacity` bytes run by `policy`.
    pub fn new(mut policy: P, capacity: u64) -> Self {
        policy.set_capacity(capacity);
        Self {
            policy,
            capacity,
            used: 0,
            resident: HashMap::default(),
            slots: Vec::new(),
            free: Vec::new(),
            pending_access: Vec::with_capacity(ACCESS_BATCH),
            victims: Vec::new(),
            reads: 0,
            hits: 0,
            evictions: 0,
        }
    }

    /// Resident keys.
    pub fn keys(&self) -> usize {
        self.resident.len()
    }

    pub fn reads(&self) -> u64 {
        self.reads
    }

    pub fn hits(&self) -> u64 {
        self.hits
    }

    pub fn evictions(&self) -> u64 {
        self.evictions
    }

    pub fn hit_ratio(&self) -> f64 {
        if self.reads == 0 {
            0.0
        } else {
            self.hits as f64 / self.reads as f64
        }
    }

    /// The policy running the cache.
    pub fn policy(&self) -> &P {
        &self.policy
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

    /// The key left for a reason of its own (delete, expiry).
    pub fn remove(&mut self, hash: u64) {
        let Some(slot) = self.resident.remove(&hash) else {
            return;
        };
        self.flush_access();
        let size = self.slots[slot as usize].size;
        self.policy.on_remove(Entry { hash, slot, size });
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
                (self.slots.len() - 1) as u32
            }
        };
        self.resident.insert(hash, slot);
        self.used += u64::from(size);
        self.flush_access();
        self.policy.on_insert(Entry { hash, slot, size });
        self.evict_to_fit();
    }

    fn vacate(&mut self, slot: u32) {
        let state = &mut self.slots[slot as usize];
        state.occupied = false;
        self.used -= u64::from(state.size);
        self.free.push(slot);
    }

    fn flush_access(&mut self) {
        for &slot in &self.pending_access {
            let GhostSlot { hash, size, .. } = self.slots[slot as usize];
            self.policy.on_access(Entry { hash, slot, size });
        }
        self.pending_access.clear();
    }

    fn evict_to_fit(&mut self) {
        while self.used > self.capacity && !self.resident.is_empty() {
            self.flush_access();
            let mut victims = std::mem::take(&mut self.victims);
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
                }
            }
            self.victims = victims;
            if !freed_any {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Lru, S3Fifo};

    #[test]
    fn lru_ghost_keeps_the_most_recent_keys() {
        let mut g = GhostCache::new(Lru::default(), 300);
        for h in 1..=3 {
            g.read(h, 100);
        }
        g.read(1, 100); // 1 becomes most recent; 2 is now the oldest
        g.read(4, 100);
        assert_eq!(g.keys(), 3);
        g.read(2, 0);
        assert_eq!((g.hits(), g.reads()), (1, 6), "2 was evicted");
        g.read(1, 100);
        g.remove(1);
        g.read(1, 0);
        assert_eq!((g.hits(), g.reads()), (2, 8));
        assert_eq!(g.evictions(), 1);
    }

    #[test]
    fn a_hit_elsewhere_demand_fills() {
        let mut g = GhostCache::new(S3Fifo::default(), 1000);
        g.read(9, 50);
        g.read(9, 50);
        assert_eq!((g.hits(), g.reads()), (1, 2));
    }
}

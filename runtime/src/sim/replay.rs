//! The replay engine: drives one [`EvictionPolicy`] through a trace exactly as a store shard does.
//!
//! Per request: a resident id is a **hit** and its slot is appended to an access buffer that reaches
//! the policy in batches ([`EvictionPolicy::on_access`]); an absent id is a **miss**, gets a slot
//! (freed slots are reused, most recently freed first, as in the shard) and is announced with
//! [`EvictionPolicy::on_insert`]; while the charged total exceeds the capacity the policy is asked
//! for [`EvictionPolicy::victims`], which are checked (unknown or repeated slots are ignored and
//! counted) and removed. A policy that offers nothing while over capacity is recorded as a
//! shortfall and the cache stays over capacity until the next miss, as in the shard.
//!
//! (libCacheSim, like most papers' pseudo-code, makes room *before* inserting; a policy that cares
//! must treat the entry just inserted as not yet evictable, as the built-in SIEVE does.)
//!
//! Two deliberate differences from the server, both so that the numbers mean what they say:
//! - the charge is exactly 1 per object for object-count capacities and the trace's object size
//!   for byte capacities, without the store's per-entry overhead;
//! - buffered hits are delivered before every insert as well as before every victim request, so
//!   the policy sees events in request order and LRU is exact LRU.
//!
//! Objects larger than a byte capacity are not cached (a miss, counted as `too_large`); a hit on an
//! object whose size changed in the trace counts as a hit and keeps the size it was stored with.

use std::time::{Duration, Instant};

use hashbrown::HashMap;

use super::capacity::Capacity;
use super::trace::Trace;
use crate::policy::{EntryMeta, EvictionPolicy, Slot};

/// Hits are delivered to the policy in batches of this many (the shard's batch size).
pub const ACCESS_BATCH: usize = 64;

/// Counters from one replay.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplayCounts {
    pub requests: u64,
    pub hits: u64,
    pub bytes_requested: u64,
    pub bytes_hit: u64,
    /// Objects removed to make room.
    pub evictions: u64,
    /// Misses not cached because the object alone exceeds the byte capacity.
    pub too_large: u64,
    /// Times the policy offered no usable victim while the cache was over capacity.
    pub shortfalls: u64,
    /// Victims the policy named that were not resident (ignored).
    pub invalid_victims: u64,
}

impl ReplayCounts {
    pub fn misses(&self) -> u64 {
        self.requests - self.hits
    }
    pub fn miss_ratio(&self) -> f64 {
        ratio(self.misses(), self.requests)
    }
    pub fn byte_miss_ratio(&self) -> f64 {
        ratio(self.bytes_requested - self.bytes_hit, self.bytes_requested)
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// The outcome of replaying a trace through one policy.
#[derive(Debug, Clone, Copy)]
pub struct ReplayOutcome {
    pub counts: ReplayCounts,
    /// Wall time of the replay loop alone (the trace was already in memory).
    pub elapsed: Duration,
}

/// Replay `trace` through `policy` at `capacity`.
///
/// `policy` should be fresh (as from [`crate::BuiltinPolicy::build`]); it is told the capacity
/// again here, as the store does when it creates a shard.
pub fn replay(trace: &Trace, capacity: Capacity, policy: &mut dyn EvictionPolicy) -> ReplayOutcome {
    let started = Instant::now();
    let mut state = Replay::new(capacity, policy);
    for r in trace.requests() {
        state.request(r.id, r.size);
    }
    state.flush_access();
    ReplayOutcome {
        counts: state.counts,
        elapsed: started.elapsed(),
    }
}

/// What a slot holds.
#[derive(Clone, Copy)]
struct SlotState {
    id: u64,
    charge: u32,
    occupied: bool,
}

/// Cache state during a replay: which ids are resident, in which slots, and what they are charged.
struct Replay<'p> {
    policy: &'p mut dyn EvictionPolicy,
    capacity: u64,
    by_bytes: bool,
    resident: HashMap<u64, Slot>,
    slots: Vec<SlotState>,
    free: Vec<Slot>,
    used: u64,
    pending_access: Vec<Slot>,
    victims: Vec<Slot>,
    counts: ReplayCounts,
}

impl<'p> Replay<'p> {
    fn new(capacity: Capacity, policy: &'p mut dyn EvictionPolicy) -> Self {
        policy.set_capacity(capacity.amount());
        Self {
            policy,
            capacity: capacity.amount(),
            by_bytes: capacity.is_bytes(),
            resident: HashMap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            used: 0,
            pending_access: Vec::with_capacity(ACCESS_BATCH),
            victims: Vec::new(),
            counts: ReplayCounts::default(),
        }
    }

    #[inline]
    fn request(&mut self, id: u64, size: u32) {
        self.counts.requests += 1;
        self.counts.bytes_requested += u64::from(size);
        let charge = if self.by_bytes { size } else { 1 };
        if let Some(&slot) = self.resident.get(&id) {
            self.counts.hits += 1;
            self.counts.bytes_hit += u64::from(size);
            self.pending_access.push(slot);
            if self.pending_access.len() >= ACCESS_BATCH {
                self.flush_access();
            }
            return;
        }
        if u64::from(charge) > self.capacity {
            self.counts.too_large += 1;
            return;
        }
        let state = SlotState {
            id,
            charge,
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
        self.resident.insert(id, slot);
        self.used += u64::from(charge);
        self.flush_access();
        let hash = crate::hash::key_hash(&id.to_le_bytes());
        self.policy.on_insert(EntryMeta {
            slot,
            hash,
            size: charge,
        });
        self.evict_to_fit();
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
            let mut victims = std::mem::take(&mut self.victims);
            victims.clear();
            self.policy.victims(self.used - self.capacity, &mut victims);
            let mut freed_any = false;
            for &slot in &victims {
                match self.slots.get_mut(slot as usize) {
                    Some(state) if state.occupied => {
                        state.occupied = false;
                        self.resident.remove(&state.id);
                        self.free.push(slot);
                        self.used -= u64::from(state.charge);
                        self.counts.evictions += 1;
                        freed_any = true;
                    }
                    _ => self.counts.invalid_victims += 1,
                }
            }
            self.victims = victims;
            if !freed_any {
                self.counts.shortfalls += 1;
                break;
            }
        }
    }
}

//! Test support shared by the policy tests: a generator of arbitrary event sequences with a
//! checker for the [`EvictionPolicy`] contract, and a minimal cache that replays a request
//! sequence through a policy to measure its miss ratio.
//!
//! Both drive a policy the way the store does: slots come from a LIFO free list (so they are
//! reused at once), an overwrite is a remove followed by an insert of the same slot and hash,
//! and after every insert or capacity change victims are requested until the contents fit.

use std::collections::HashMap;

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use super::{EntryMeta, EvictionPolicy, Slot};

/// The key hash the harness uses for a small integer key.
pub fn key_hash(key: u64) -> u64 {
    key.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5bd1_e995
}

#[derive(Debug, Clone)]
pub enum Op {
    /// Insert the key, or overwrite it if resident.
    Set {
        key: u8,
        size: u32,
    },
    Access(Vec<u8>),
    Remove(u8),
    /// An explicit request for victims, whether or not the contents fit.
    Victims(u32),
    SetCapacity(u32),
    Clear,
}

pub fn ops() -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        6 => (0u8..48, 1u32..300).prop_map(|(key, size)| Op::Set { key, size }),
        4 => prop::collection::vec(0u8..48, 1..8).prop_map(Op::Access),
        2 => (0u8..48).prop_map(Op::Remove),
        1 => (0u32..500).prop_map(Op::Victims),
        1 => (0u32..4000).prop_map(Op::SetCapacity),
        1 => Just(Op::Clear),
    ];
    prop::collection::vec(op, 0..300)
}

/// What the host knows: which key sits in which slot, with what size.
#[derive(Default)]
struct Residents {
    by_key: HashMap<u8, Slot>,
    by_slot: HashMap<Slot, (u8, u32)>,
    free: Vec<Slot>,
    next: Slot,
    bytes: u64,
}

impl Residents {
    fn meta(&self, slot: Slot) -> EntryMeta {
        let (key, size) = self.by_slot[&slot];
        EntryMeta {
            slot,
            hash: key_hash(key as u64),
            size,
        }
    }

    fn forget(&mut self, slot: Slot) {
        if let Some((key, size)) = self.by_slot.remove(&slot) {
            self.by_key.remove(&key);
            self.bytes -= size as u64;
            self.free.push(slot);
        }
    }

    /// Ask for victims once; check they are resident and distinct, and forget them.
    fn take_victims(
        &mut self,
        policy: &mut dyn EvictionPolicy,
        bytes: u64,
    ) -> Result<usize, TestCaseError> {
        let mut out = Vec::new();
        policy.victims(bytes, &mut out);
        if !self.by_slot.is_empty() {
            prop_assert!(
                !out.is_empty(),
                "no victim while {} entries are resident",
                self.by_slot.len()
            );
        }
        for (i, slot) in out.iter().enumerate() {
            prop_assert!(
                self.by_slot.contains_key(slot),
                "victim {slot} is not resident"
            );
            prop_assert!(!out[..i].contains(slot), "victim {slot} named twice");
        }
        for &slot in &out {
            self.forget(slot);
        }
        Ok(out.len())
    }

    fn evict_to_fit(
        &mut self,
        policy: &mut dyn EvictionPolicy,
        capacity: u64,
    ) -> Result<(), TestCaseError> {
        // Bounded: each round frees at least one entry.
        while self.bytes > capacity && !self.by_slot.is_empty() {
            self.take_victims(policy, self.bytes - capacity)?;
        }
        Ok(())
    }
}

/// Run `ops` against a fresh policy, checking the contract at every step.
pub fn check_contract(
    build: impl Fn() -> Box<dyn EvictionPolicy>,
    ops: &[Op],
) -> Result<(), TestCaseError> {
    let mut policy = build();
    let mut capacity = 1000u64;
    policy.set_capacity(capacity);
    let mut host = Residents::default();
    for op in ops {
        match op {
            Op::Set { key, size } => {
                if let Some(&slot) = host.by_key.get(key) {
                    policy.on_remove(host.meta(slot));
                    let old = host
                        .by_slot
                        .insert(slot, (*key, *size))
                        .map_or(0, |(_, s)| s);
                    host.bytes = host.bytes - old as u64 + *size as u64;
                    policy.on_insert(host.meta(slot));
                } else {
                    let slot = host.free.pop().unwrap_or_else(|| {
                        host.next += 1;
                        host.next - 1
                    });
                    host.by_key.insert(*key, slot);
                    host.by_slot.insert(slot, (*key, *size));
                    host.bytes += *size as u64;
                    policy.on_insert(host.meta(slot));
                }
                host.evict_to_fit(policy.as_mut(), capacity)?;
            }
            Op::Access(keys) => {
                let slots: Vec<Slot> = keys
                    .iter()
                    .filter_map(|k| host.by_key.get(k).copied())
                    .collect();
                policy.on_access(&slots);
            }
            Op::Remove(key) => {
                if let Some(&slot) = host.by_key.get(key) {
                    policy.on_remove(host.meta(slot));
                    host.forget(slot);
                }
            }
            Op::Victims(bytes) => {
                host.take_victims(policy.as_mut(), *bytes as u64)?;
            }
            Op::SetCapacity(c) => {
                capacity = *c as u64;
                policy.set_capacity(capacity);
                host.evict_to_fit(policy.as_mut(), capacity)?;
            }
            Op::Clear => {
                policy.clear();
                host = Residents::default();
            }
        }
    }
    // Draining must name every resident exactly once.
    let resident = host.by_slot.len();
    let mut drained = 0;
    for _ in 0..=resident {
        if host.by_slot.is_empty() {
            break;
        }
        drained += host.take_victims(policy.as_mut(), 1)?;
    }
    prop_assert_eq!(drained, resident);
    Ok(())
}

/// A minimal cache over one policy, for miss-ratio comparisons.
pub struct Replay {
    policy: Box<dyn EvictionPolicy>,
    slot_of: HashMap<u64, Slot>,
    /// (key, size) per slot.
    slots: Vec<(u64, u32)>,
    free: Vec<Slot>,
    bytes: u64,
    capacity: u64,
    out: Vec<Slot>,
    pub requests: u64,
    pub misses: u64,
}

impl Replay {
    pub fn new(mut policy: Box<dyn EvictionPolicy>, capacity: u64) -> Self {
        policy.set_capacity(capacity);
        Self {
            policy,
            slot_of: HashMap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            bytes: 0,
            capacity,
            out: Vec::new(),
            requests: 0,
            misses: 0,
        }
    }

    /// A read of `key`; on a miss the key is inserted (read-through). Returns whether it hit.
    pub fn request(&mut self, key: u64, size: u32) -> bool {
        self.requests += 1;
        if let Some(&slot) = self.slot_of.get(&key) {
            self.policy.on_access(&[slot]);
            return true;
        }
        self.misses += 1;
        let slot = self.free.pop().unwrap_or_else(|| {
            self.slots.push((0, 0));
            (self.slots.len() - 1) as Slot
        });
        self.slots[slot as usize] = (key, size);
        self.slot_of.insert(key, slot);
        self.bytes += size as u64;
        self.policy.on_insert(EntryMeta {
            slot,
            hash: key_hash(key),
            size,
        });
        while self.bytes > self.capacity {
            self.out.clear();
            self.policy
                .victims(self.bytes - self.capacity, &mut self.out);
            assert!(
                !self.out.is_empty(),
                "{}: no victims while over capacity",
                self.policy.name()
            );
            for &victim in &self.out {
                let (key, size) = self.slots[victim as usize];
                assert_eq!(
                    self.slot_of.remove(&key),
                    Some(victim),
                    "victim not resident"
                );
                self.bytes -= size as u64;
                self.free.push(victim);
            }
        }
        false
    }

    pub fn miss_ratio(&self) -> f64 {
        self.misses as f64 / self.requests.max(1) as f64
    }
}

//! Test support shared by the policy tests: a generator of arbitrary event sequences with a
//! checker for the [`EvictionPolicy`] contract, and a minimal cache that replays a request
//! sequence through a policy to measure its miss ratio.
//!
//! Both drive a policy the way the store does: slots come from a LIFO free list (so they are
//! reused at once), an overwrite is an update of the same slot and hash, and after every write or
//! capacity change victims are requested until the contents fit — sometimes through a sink with
//! room for only a few, as the plugin ABI's answers have, which must lose no entry.

use std::collections::HashMap;

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use super::{Bounded, EntryMeta, EvictionPolicy, GhostCache, Slot};

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
    /// An explicit request for victims, whether or not the contents fit, answered into a sink with
    /// room for `room` victims (0: unbounded).
    Victims {
        bytes: u32,
        room: u8,
    },
    /// From now on, evictions to fit are answered into sinks with room for this many (0:
    /// unbounded).
    SetRoom(u8),
    SetCapacity(u32),
    Clear,
}

pub fn ops() -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        6 => (0u8..48, 1u32..300).prop_map(|(key, size)| Op::Set { key, size }),
        4 => prop::collection::vec(0u8..48, 1..8).prop_map(Op::Access),
        2 => (0u8..48).prop_map(Op::Remove),
        1 => (0u32..500, 0u8..4).prop_map(|(bytes, room)| Op::Victims { bytes, room }),
        1 => (0u8..4).prop_map(Op::SetRoom),
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
    /// Room of the sinks evictions to fit are answered into (0: unbounded).
    room: u8,
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
        room: u8,
    ) -> Result<usize, TestCaseError> {
        let mut out = Vec::new();
        if room == 0 {
            policy.victims(bytes, &mut out);
        } else {
            let limit = room as usize;
            policy.victims(
                bytes,
                &mut Bounded {
                    out: &mut out,
                    limit,
                },
            );
            prop_assert!(
                out.len() <= limit,
                "{} victims in room for {limit}",
                out.len()
            );
        }
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
            self.take_victims(policy, self.bytes - capacity, self.room)?;
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
                    let before = host.meta(slot);
                    host.by_slot.insert(slot, (*key, *size));
                    host.bytes = host.bytes - before.size as u64 + *size as u64;
                    policy.on_update(before, host.meta(slot));
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
            Op::Victims { bytes, room } => {
                host.take_victims(policy.as_mut(), *bytes as u64, *room)?;
            }
            Op::SetRoom(room) => host.room = *room,
            Op::SetCapacity(c) => {
                capacity = *c as u64;
                policy.set_capacity(capacity);
                host.evict_to_fit(policy.as_mut(), capacity)?;
            }
            Op::Clear => {
                policy.clear();
                let room = host.room;
                host = Residents {
                    room,
                    ..Residents::default()
                };
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
        drained += host.take_victims(policy.as_mut(), 1, 0)?;
    }
    prop_assert_eq!(drained, resident);
    Ok(())
}

/// A minimal cache over one policy, for miss-ratio comparisons: the [`GhostCache`] driver, read
/// through (a miss inserts the key).
pub struct Replay {
    cache: GhostCache,
    pub requests: u64,
    pub misses: u64,
}

impl Replay {
    pub fn new(policy: Box<dyn EvictionPolicy>, capacity: u64) -> Self {
        Self {
            cache: GhostCache::new(policy, capacity),
            requests: 0,
            misses: 0,
        }
    }

    /// A read of `key`; on a miss the key is inserted (read-through). Returns whether it hit.
    pub fn request(&mut self, key: u64, size: u32) -> bool {
        self.requests += 1;
        let hits = self.cache.hits;
        self.cache.read(key_hash(key), size);
        let hit = self.cache.hits > hits;
        self.misses += u64::from(!hit);
        hit
    }

    pub fn miss_ratio(&self) -> f64 {
        self.misses as f64 / self.requests.max(1) as f64
    }
}

/// Drive two fresh instances of a policy through `ops`, one answering every victim request into
/// an unbounded sink, the other into sinks with room for `room` victims and asked again while
/// the contents do not fit (as the plugin host asks a plugin): both must evict the same entries
/// in the same order.
pub fn check_bounded_answers_match(
    build: impl Fn() -> Box<dyn EvictionPolicy>,
    ops: &[Op],
    room: usize,
) -> Result<(), TestCaseError> {
    struct Side {
        policy: Box<dyn EvictionPolicy>,
        evicted: Vec<Slot>,
    }
    let mut sides = [
        Side {
            policy: build(),
            evicted: Vec::new(),
        },
        Side {
            policy: build(),
            evicted: Vec::new(),
        },
    ];
    let mut capacity = 1000u64;
    let mut host = Residents::default();
    for side in &mut sides {
        side.policy.set_capacity(capacity);
    }
    // Victims until the contents fit; both sides must agree on every one.
    fn fit(
        sides: &mut [Side; 2],
        host: &mut Residents,
        capacity: u64,
        room: usize,
    ) -> Result<(), TestCaseError> {
        let start = sides[0].evicted.len();
        let mut bytes = host.bytes;
        while bytes > capacity {
            let before = sides[0].evicted.len();
            sides[0]
                .policy
                .victims(bytes - capacity, &mut sides[0].evicted);
            for &slot in &sides[0].evicted[before..] {
                bytes -= host.by_slot[&slot].1 as u64;
            }
            prop_assert!(
                sides[0].evicted.len() > before,
                "no victim while over capacity"
            );
        }
        let mut bytes = host.bytes;
        let mut chunk = Vec::new();
        while bytes > capacity {
            chunk.clear();
            sides[1].policy.victims(
                bytes - capacity,
                &mut Bounded {
                    out: &mut chunk,
                    limit: room,
                },
            );
            prop_assert!(!chunk.is_empty(), "no victim while over capacity");
            for &slot in &chunk {
                bytes -= host.by_slot[&slot].1 as u64;
            }
            sides[1].evicted.extend_from_slice(&chunk);
        }
        let (a, b) = (&sides[0].evicted[start..], &sides[1].evicted[start..]);
        prop_assert_eq!(a, b, "one answer and answers of {} differ", room);
        for &slot in a.to_vec().iter() {
            host.forget(slot);
        }
        Ok(())
    }
    for op in ops {
        match op {
            Op::Set { key, size } => {
                if let Some(&slot) = host.by_key.get(key) {
                    let before = host.meta(slot);
                    host.by_slot.insert(slot, (*key, *size));
                    host.bytes = host.bytes - before.size as u64 + *size as u64;
                    let after = host.meta(slot);
                    for side in &mut sides {
                        side.policy.on_update(before, after);
                    }
                } else {
                    let slot = host.free.pop().unwrap_or_else(|| {
                        host.next += 1;
                        host.next - 1
                    });
                    host.by_key.insert(*key, slot);
                    host.by_slot.insert(slot, (*key, *size));
                    host.bytes += *size as u64;
                    for side in &mut sides {
                        side.policy.on_insert(host.meta(slot));
                    }
                }
                fit(&mut sides, &mut host, capacity, room)?;
            }
            Op::Access(keys) => {
                let slots: Vec<Slot> = keys
                    .iter()
                    .filter_map(|k| host.by_key.get(k).copied())
                    .collect();
                for side in &mut sides {
                    side.policy.on_access(&slots);
                }
            }
            Op::Remove(key) => {
                if let Some(&slot) = host.by_key.get(key) {
                    for side in &mut sides {
                        side.policy.on_remove(host.meta(slot));
                    }
                    host.forget(slot);
                }
            }
            // Explicit requests would be answered differently by design (a short answer is
            // shorter); only evictions to fit are compared.
            Op::Victims { .. } | Op::SetRoom(_) => {}
            Op::SetCapacity(c) => {
                capacity = *c as u64;
                for side in &mut sides {
                    side.policy.set_capacity(capacity);
                }
                fit(&mut sides, &mut host, capacity, room)?;
            }
            Op::Clear => {
                for side in &mut sides {
                    side.policy.clear();
                }
                host = Residents::default();
            }
        }
    }
    Ok(())
}

proptest! {
    /// Every built-in answers the same in short answers as in one long one.
    #[test]
    fn bounded_answers_evict_what_one_answer_evicts(ops in ops(), room in 1usize..4) {
        for policy in super::BuiltinPolicy::ALL {
            check_bounded_answers_match(|| policy.build(0), &ops, room)?;
        }
    }
}

//! # larder-policy — every eviction policy Larder runs, natively and as plugins
//!
//! The store never decides *which* entry leaves; it asks the namespace's policy. This crate holds
//! the [`EvictionPolicy`] trait, every built-in policy (LRU, FIFO, S3-FIFO, SIEVE, W-TinyLFU, and
//! the default, `adaptive`, which hands the decisions to S3-FIFO or LRU as the traffic favours),
//! the parts they are built from, and [`GhostCache`], the slot-cache driver of keys and sizes only.
//!
//! It is `no_std` + `alloc` and depends on nothing of the server, so the same code serves twice:
//! the runtime builds the built-ins from it, and the reference plugins (`plugins/lru`,
//! `plugins/s3fifo`, …) compile it to wasm32 and serve it through the plugin ABI. A plugin named
//! after a built-in *is* that built-in, and the simulator's conformance tests hold them to the
//! same miss counts.
//!
//! | file | holds |
//! |---|---|
//! | `lru.rs`, `fifo.rs`, `sieve.rs`, `s3fifo.rs`, `wtinylfu.rs` | one policy each |
//! | `adaptive.rs` | the default: S3-FIFO and LRU over the same keys, chosen by sampled trials |
//! | `list.rs`, `ghost.rs`, `sketch.rs`, `dense.rs` | shared parts: slot lists, S3-FIFO's ghost, the frequency sketch, per-slot vectors |
//! | `sink.rs` | [`VictimSink`]: where a policy puts its victims, bounded or not |
//! | `ghost_cache.rs` | [`GhostCache`]: drives any policy over keys and sizes, as a shard would |
//!
//! ## How the store drives a policy
//!
//! Each shard owns one policy instance behind the shard's lock, so a policy is never called
//! concurrently and needs no locking of its own. Entries are named by their **slot**: a small,
//! dense index into the shard's entry table, reused after the entry is removed. Dense slots let a
//! policy keep its per-entry state in plain vectors instead of a second hash map.
//!
//! The store calls, in order of occurrence:
//! - [`EvictionPolicy::on_insert`] when a key becomes resident;
//! - [`EvictionPolicy::on_update`] when a resident key's value is replaced in place (same slot and
//!   key hash; the size may change);
//! - [`EvictionPolicy::on_access`] with a *batch* of hits, buffered per shard, always delivered
//!   before any removal or victim request so that a slot in a batch is still the entry that was hit;
//! - [`EvictionPolicy::on_remove`] when the store removes an entry by itself (delete, expiry,
//!   explicit evict) — never for a slot the policy returned as a victim;
//! - [`EvictionPolicy::victims`] when the shard is over capacity.

// Tests use std (proptest, collections); the library itself needs only `alloc`.
#![cfg_attr(not(test), no_std)]

extern crate alloc;

mod adaptive;
mod dense;
mod fifo;
mod ghost;
mod ghost_cache;
#[cfg(test)]
mod hit_ratio_tests;
mod list;
mod lru;
mod s3fifo;
mod sieve;
mod sink;
mod sketch;
#[cfg(test)]
mod testing;
mod wtinylfu;

pub use adaptive::Adaptive;
pub use dense::fingerprint;
pub use fifo::Fifo;
pub use ghost_cache::{ACCESS_BATCH, GhostCache};
pub use lru::Lru;
pub use s3fifo::{MOVE_TO_MAIN_THRESHOLD, S3Fifo};
pub use sieve::Sieve;
pub use sink::{Bounded, VictimSink};
pub use sketch::FrequencySketch;
pub use wtinylfu::WTinyLfu;

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;

use serde::{Deserialize, Serialize};

/// Index of an entry in its shard's table. Stable while the entry is resident; reused afterwards.
pub type Slot = u32;

/// What a policy learns about an entry when it becomes resident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryMeta {
    pub slot: Slot,
    /// 64-bit hash of the key (xxh3): the key's identity across the plugin ABI and the cluster ring.
    pub hash: u64,
    /// Charged size in bytes (key + value + per-entry overhead).
    pub size: u32,
}

/// A replaceable eviction strategy for one shard.
///
/// Contract (what the host guarantees):
/// - calls are serialised (one shard, one lock); no call is re-entrant;
/// - every slot passed to `on_access` / `on_remove` was announced by `on_insert` and not yet removed
///   or returned as a victim;
/// - `capacity_bytes` passed to [`EvictionPolicy::set_capacity`] is the shard's share of the
///   namespace capacity.
///
/// What the policy must do:
/// - `victims` pushes only resident slots, each at most once, and forgets each as it pushes it (the
///   host will not call `on_remove` for them). It checks [`VictimSink::is_full`] before choosing
///   each victim, so an answer cut short by a bounded sink loses no entry. It should free `bytes`,
///   but the host calls again if it freed too little, and treats an empty answer while entries are
///   resident (and the sink has room) as a fault;
/// - never panic on any sequence of calls that respects the host's guarantees; stay O(1) amortised per
///   event (the hot path runs through here).
pub trait EvictionPolicy: Send + 'static {
    /// Stable name shown in stats and metrics ("lru", "s3fifo", a plugin id…).
    fn name(&self) -> &str;
    /// The shard's byte capacity changed (or is being set for the first time).
    fn set_capacity(&mut self, capacity_bytes: u64);
    /// `entry` became resident.
    fn on_insert(&mut self, entry: EntryMeta);
    /// The value of a resident entry was replaced: `new` has the same slot and key hash as `old`
    /// and possibly another size. A write is a use, so the built-ins count it as a read of the
    /// entry and keep it where it is (S3-FIFO does not send a proven key back to its small queue,
    /// FIFO does not move it to the back of the line).
    fn on_update(&mut self, old: EntryMeta, new: EntryMeta);
    /// The entries in `slots` were read, in this order.
    fn on_access(&mut self, slots: &[Slot]);
    /// `entry` left on the store's own initiative (deleted, expired, evicted by an operator).
    fn on_remove(&mut self, entry: EntryMeta);
    /// Push victims freeing about `bytes` into `out`: at least one while any entry is resident
    /// and `out` has room.
    fn victims(&mut self, bytes: u64, out: &mut dyn VictimSink);
    /// Forget every entry (the namespace was flushed).
    fn clear(&mut self);
    /// The policy's per-slot read counters, for a policy whose read is nothing but a saturating
    /// increment of one byte (CLOCK-family: SIEVE's visited bit, S3-FIFO's frequency). Default:
    /// none, and every read goes through [`EvictionPolicy::on_access`].
    ///
    /// A policy that answers `Some` promises that `on_access` of a resident slot `s` does
    /// exactly `counters[s] = min(counters[s] + 1, max)` and nothing else, that `counters`
    /// covers every resident slot whose insert it has processed, and that processing an event
    /// for one slot neither reads nor writes another slot's counter (only `victims` may). A
    /// driver that batches events (the plugin host) may then apply a read to a resident slot in
    /// place, ahead of events still queued for other slots, and get the decisions it would have
    /// got by sending the read. It must send the read instead while the slot's own insert is
    /// still queued. The slice is valid until the next call that takes `&mut self`.
    fn access_counters(&mut self) -> Option<AccessCounters<'_>> {
        None
    }
}

/// A policy's per-slot read counters: see [`EvictionPolicy::access_counters`].
#[derive(Debug)]
pub struct AccessCounters<'a> {
    /// One counter per slot, indexed by slot.
    pub counters: &'a mut [u8],
    /// Where a counter saturates (1 for a visited bit).
    pub max: u8,
}

/// The built-in eviction policies, by the name used in configuration and the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum BuiltinPolicy {
    Lru,
    S3fifo,
    Sieve,
    Wtinylfu,
    Fifo,
    /// The default: S3-FIFO or LRU, whichever the traffic favours (see [`Adaptive`]).
    #[default]
    Adaptive,
}

impl BuiltinPolicy {
    pub const ALL: [BuiltinPolicy; 6] = [
        Self::Lru,
        Self::S3fifo,
        Self::Sieve,
        Self::Wtinylfu,
        Self::Fifo,
        Self::Adaptive,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Lru => "lru",
            Self::S3fifo => "s3fifo",
            Self::Sieve => "sieve",
            Self::Wtinylfu => "wtinylfu",
            Self::Fifo => "fifo",
            Self::Adaptive => "adaptive",
        }
    }

    /// A fresh instance sized for a shard of `capacity_bytes`.
    pub fn build(self, capacity_bytes: u64) -> Box<dyn EvictionPolicy> {
        let mut policy: Box<dyn EvictionPolicy> = match self {
            Self::Lru => Box::new(Lru::default()),
            Self::S3fifo => Box::new(S3Fifo::default()),
            Self::Sieve => Box::new(Sieve::default()),
            Self::Wtinylfu => Box::new(WTinyLfu::default()),
            Self::Fifo => Box::new(Fifo::default()),
            Self::Adaptive => Box::new(Adaptive::default()),
        };
        policy.set_capacity(capacity_bytes);
        policy
    }
}

impl core::str::FromStr for BuiltinPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                format!("unknown policy {s:?}; expected one of lru, s3fifo, sieve, wtinylfu, fifo, adaptive")
            })
    }
}

impl core::fmt::Display for BuiltinPolicy {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

//! [`EvictionHook`]: a `larder-policy` policy served through the SDK's eviction hook.
//!
//! The SDK hands a plugin one event at a time, in the order the host produced them; the policy
//! trait takes reads in batches. A batch of one read is the same read: the built-ins process a
//! batch in order, one slot at a time, so both paths make the same decisions. Victims go straight
//! into the host's answer buffer, which holds at most [`larder_sdk::abi::MAX_VICTIMS`]: the
//! policies check for room before choosing each victim, so an answer cut short loses no entry and
//! the host asks again.

use larder_policy::{EntryMeta, EvictionPolicy, Slot, VictimSink};
use larder_sdk::{Entry, Eviction, InitContext, Plugin, Victims};

/// Serves the policy `P` as a plugin's eviction hook.
#[derive(Debug, Default)]
pub struct EvictionHook<P>(pub P);

/// The host's answer buffer as a policy's victim sink.
struct Answer<'a>(&'a mut Victims);

impl VictimSink for Answer<'_> {
    #[inline]
    fn is_full(&self) -> bool {
        self.0.is_full()
    }

    #[inline]
    fn push(&mut self, slot: Slot) {
        self.0.push(slot);
    }
}

#[inline]
fn meta(entry: Entry) -> EntryMeta {
    EntryMeta {
        slot: entry.slot,
        hash: entry.hash,
        size: entry.size,
    }
}

impl<P: EvictionPolicy + Default> Plugin for EvictionHook<P> {
    fn init(&mut self, ctx: &InitContext) {
        self.0.set_capacity(ctx.capacity_bytes);
    }
}

impl<P: EvictionPolicy + Default> Eviction for EvictionHook<P> {
    fn set_capacity(&mut self, capacity_bytes: u64) {
        self.0.set_capacity(capacity_bytes);
    }

    #[inline]
    fn on_insert(&mut self, entry: Entry) {
        self.0.on_insert(meta(entry));
    }

    #[inline]
    fn on_access(&mut self, entry: Entry) {
        self.0.on_access(core::slice::from_ref(&entry.slot));
    }

    #[inline]
    fn on_remove(&mut self, entry: Entry) {
        self.0.on_remove(meta(entry));
    }

    #[inline]
    fn on_update(&mut self, old: Entry, new: Entry) {
        self.0.on_update(meta(old), meta(new));
    }

    fn victims(&mut self, bytes: u64, out: &mut Victims) {
        self.0.victims(bytes, &mut Answer(out));
    }

    fn clear(&mut self) {
        self.0.clear();
    }

    /// The policy's own read counters (SIEVE's visited bits, S3-FIFO's frequencies), which the
    /// host bumps in place: the same bytes the built-in's `on_access` bumps.
    fn access_counters(&mut self) -> Option<(&mut [u8], u8)> {
        self.0.access_counters().map(|c| (c.counters, c.max))
    }
}

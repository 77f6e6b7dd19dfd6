//! Eviction policies as plain values, so that one policy can be served as a plugin, embedded in
//! another policy, or replayed in a [`crate::GhostCache`].
//!
//! [`Policy`] is the SDK's [`Eviction`] hook with one difference: victims go to any
//! [`VictimSink`] — the host's answer buffer, a `Vec`, or a sink that also records them.
//! [`EvictionHook`] serves any `Policy` as a plugin's eviction hook.

use larder_sdk::{Entry, Eviction, InitContext, Plugin, Victims};

/// Where a policy puts the slots it evicts.
///
/// A policy checks [`VictimSink::is_full`] *before* choosing a victim and forgets the victim
/// only once it is pushed, so an answer cut short by the host's limit loses no entry.
pub trait VictimSink {
    /// Whether no further victim can be taken.
    fn is_full(&self) -> bool;
    /// Take `slot` as a victim. Called only when [`VictimSink::is_full`] is false.
    fn push(&mut self, slot: u32);
}

impl VictimSink for Vec<u32> {
    fn is_full(&self) -> bool {
        false
    }

    fn push(&mut self, slot: u32) {
        Vec::push(self, slot);
    }
}

impl VictimSink for Victims {
    fn is_full(&self) -> bool {
        Victims::is_full(self)
    }

    fn push(&mut self, slot: u32) {
        Victims::push(self, slot);
    }
}

/// An eviction policy over the host's slots (see [`Eviction`] for the contract of each event).
///
/// Implementations must not panic on events that break the contract (an access or removal of a
/// slot that is not resident): they ignore them.
pub trait Policy {
    /// The capacity in bytes changed (also called once at start).
    fn set_capacity(&mut self, capacity_bytes: u64);
    /// `entry` became resident.
    fn on_insert(&mut self, entry: Entry);
    /// `entry` was read.
    fn on_access(&mut self, entry: Entry);
    /// `entry` left on its own (deleted, expired, or removed to be overwritten).
    fn on_remove(&mut self, entry: Entry);
    /// Evict at least one entry (when any is resident and `out` has room), then more until
    /// `bytes` are freed or `out` is full, and forget them.
    fn victims<S: VictimSink>(&mut self, bytes: u64, out: &mut S);
    /// Forget every entry; the capacity stays.
    fn clear(&mut self);
}

/// Serves a [`Policy`] as a plugin's eviction hook:
/// `export_plugin!(EvictionHook<kit::Lru>, [eviction]);`.
#[derive(Debug, Default)]
pub struct EvictionHook<P>(pub P);

impl<P: Policy + Default + 'static> Plugin for EvictionHook<P> {
    fn init(&mut self, ctx: &InitContext) {
        self.0.set_capacity(ctx.capacity_bytes);
    }
}

impl<P: Policy + Default + 'static> Eviction for EvictionHook<P> {
    fn set_capacity(&mut self, capacity_bytes: u64) {
        self.0.set_capacity(capacity_bytes);
    }

    fn on_insert(&mut self, entry: Entry) {
        self.0.on_insert(entry);
    }

    fn on_access(&mut self, entry: Entry) {
        self.0.on_access(entry);
    }

    fn on_remove(&mut self, entry: Entry) {
        self.0.on_remove(entry);
    }

    fn victims(&mut self, bytes: u64, out: &mut Victims) {
        self.0.victims(bytes, out);
    }

    fn clear(&mut self) {
        self.0.clear();
    }
}

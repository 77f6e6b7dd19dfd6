//! Which hash slot a namespace's key lives in.
//!
//! `slot = crc16(routing key) mod 16384`. The routing key is what the namespace's routing hook
//! names; without a hook it is the key's Redis hash tag (`{user42}:cart` → `user42`), so a
//! cluster-aware client computes the same slot itself. A namespace with a hook places keys where
//! no client can compute, so its commands are forwarded to the owner even in redirect mode
//! ([`SlotRule::client_computable`]).
//!
//! Every member runs the same plugin version (plugins are shared through the cluster state), and
//! a routing plugin must be a pure function of the key (its contract), so every member computes
//! the same slot for a key. A plugin instance that faulted routes by the whole key, as it does for
//! shards.

use larder_cluster::slot::{SLOTS, Slot, crc16, key_slot};
use larder_runtime::Namespace;
use larder_runtime::hash::key_hash;
use larder_runtime::plugin::Router;
use larder_runtime::store::Store;

/// A namespace's slot rule: the hash-tag rule, or its routing hook. Borrowed from the store,
/// so taking it on every command costs nothing.
#[derive(Clone, Copy, Default)]
pub struct SlotRule<'a>(Option<&'a Router>);

impl<'a> SlotRule<'a> {
    /// The rule of the namespace `store` belongs to.
    pub fn of(store: &'a Store) -> Self {
        Self(store.router().map(|r| &**r))
    }

    /// The rule of a routing hook (`None`: the hash-tag rule).
    pub fn new(router: Option<&'a Router>) -> Self {
        Self(router)
    }

    /// The slot of `key`.
    #[inline]
    pub fn slot(self, key: &[u8]) -> Slot {
        match self.0 {
            None => key_slot(key),
            Some(router) => crc16(router.route(key, key_hash(key))) % SLOTS,
        }
    }

    /// Whether a cluster-aware client computes the same slots (no routing hook).
    pub fn client_computable(self) -> bool {
        self.0.is_none()
    }
}

/// The slot of `key` in `namespace`.
#[inline]
pub fn slot_in(namespace: &Namespace, key: &[u8]) -> Slot {
    SlotRule::of(namespace.store()).slot(key)
}

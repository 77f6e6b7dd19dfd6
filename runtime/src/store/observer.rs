//! The write observer: how something outside the store (the append-only log, a cluster's
//! replication) learns of every change to a namespace's contents.

use std::sync::Arc;

/// Told of every change to a store's contents, **under the lock of the key's shard**, in the
/// order the changes happen there: two changes to one key always arrive in the order they were
/// made. Implementations must be quick and must never call back into the store (the shard lock
/// is held). Deadlines are on the store's clock ([`crate::clock::now_ms`]; 0 = no expiry).
///
/// What is reported: writes (new keys and overwrites, from any command, including restores),
/// deadline changes, deletions and evictions, and flushes. Expiries are not: whoever replays a
/// write knows its deadline and can drop it as the store did.
pub trait WriteObserver: Send + Sync {
    /// `key` now holds `value` of `form.kind` (a zstd frame when `form.compressed`), expiring at
    /// `expires_at`. A collection's value is its whole encoding (see [`crate::value`]).
    fn put(&self, key: &[u8], value: &[u8], form: super::Form, expires_at: u64);
    /// `key`'s deadline is now `expires_at` (0: it no longer expires).
    fn set_expiry(&self, key: &[u8], expires_at: u64);
    /// `key` is gone: deleted by a client, or evicted by the policy.
    fn remove(&self, key: &[u8]);
    /// Every key of the store was dropped (a flush; reported once, with every shard locked, so no
    /// write is reported between two halves of it).
    fn clear(&self);
}

/// Several observers told of each change in turn (a node that logs to disk and replicates).
pub struct Tee(pub Vec<Arc<dyn WriteObserver>>);

impl WriteObserver for Tee {
    fn put(&self, key: &[u8], value: &[u8], form: super::Form, expires_at: u64) {
        self.0
            .iter()
            .for_each(|o| o.put(key, value, form, expires_at));
    }

    fn set_expiry(&self, key: &[u8], expires_at: u64) {
        self.0.iter().for_each(|o| o.set_expiry(key, expires_at));
    }

    fn remove(&self, key: &[u8]) {
        self.0.iter().for_each(|o| o.remove(key));
    }

    fn clear(&self) {
        self.0.iter().for_each(|o| o.clear());
    }
}

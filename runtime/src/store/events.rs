//! Key events: how the Redis-protocol layer learns that a key changed, for keyspace
//! notifications and client-side caching invalidations.
//!
//! Unlike the [`super::WriteObserver`] (which feeds the log and replication with *what* a key now
//! holds), a key-event sink is told only *that* a key changed and how — including expiries, which
//! the log does not need — so it can fan the news out to clients.

/// How a key changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyChange {
    /// A key that was absent now holds a value (any command: SET, APPEND, INCR, a restore…).
    Created,
    /// A present key's value was replaced.
    Written,
    /// Its deadline was set or changed.
    ExpirySet,
    /// Its deadline was removed (PERSIST, or a write that clears it).
    Persisted,
    /// A client deleted it (DEL, GETDEL, EXPIRE into the past, RENAME's source…).
    Deleted,
    /// Its TTL ran out and the store removed it.
    Expired,
    /// The eviction policy chose it (a plugin's choice included).
    Evicted,
}

/// Told of every key change of a store, **under the lock of the key's shard**, in the order the
/// changes happen there. Must be quick and must never call back into the store.
pub trait KeyEvents: Send + Sync {
    fn changed(&self, key: &[u8], change: KeyChange);
    /// Every key of the store was dropped (FLUSHDB, FLUSHALL, a REST flush); told once, with every
    /// shard locked.
    fn flushed(&self);
}

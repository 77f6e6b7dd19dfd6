//! Optimistic locking for transactions (Redis's `WATCH`): a watched key carries a version that
//! every change to it moves forward — a write, a deadline change, a delete, an eviction, an
//! expiry, a flush — so `EXEC` can tell whether anything touched it since `WATCH`.
//!
//! Versions live in the key's shard, only for keys someone watches: a shard nobody watches pays
//! one emptiness check per change. A key watched by several connections has one entry with a
//! count of watchers.

use std::collections::HashMap;

use super::Store;
use crate::clock::now_ms;
use crate::hash::key_hash;

/// The watched keys of one shard.
#[derive(Debug, Default)]
pub(crate) struct Watches {
    keys: HashMap<Box<[u8]>, Watched>,
    /// Source of versions: strictly increasing per shard.
    clock: u64,
}

#[derive(Debug)]
struct Watched {
    watchers: u32,
    version: u64,
}

impl Watches {
    /// `key` changed: a watched key's version moves on.
    #[inline]
    pub fn touched(&mut self, key: &[u8]) {
        if self.keys.is_empty() {
            return;
        }
        if let Some(w) = self.keys.get_mut(key) {
            self.clock += 1;
            w.version = self.clock;
        }
    }

    /// Someone watches a key of this shard.
    #[inline]
    pub fn any(&self) -> bool {
        !self.keys.is_empty()
    }

    /// The watched keys.
    pub fn keys(&self) -> impl Iterator<Item = &[u8]> {
        self.keys.keys().map(|k| &**k)
    }

    fn watch(&mut self, key: &[u8]) -> u64 {
        let w = self.keys.entry(key.into()).or_insert(Watched {
            watchers: 0,
            version: self.clock,
        });
        w.watchers += 1;
        w.version
    }

    fn unwatch(&mut self, key: &[u8]) {
        if let Some(w) = self.keys.get_mut(key) {
            w.watchers -= 1;
            if w.watchers == 0 {
                self.keys.remove(key);
            }
        }
    }

    fn version(&self, key: &[u8]) -> Option<u64> {
        self.keys.get(key).map(|w| w.version)
    }
}

/// What `WATCH` saw of one key; hand it back to [`Store::watch_unchanged`] and then to
/// [`Store::unwatch`] (exactly once: a watch that is never released costs memory in the shard).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchToken {
    version: u64,
    /// The key's deadline when watched (0: none, or absent): passing it is a change too, even if
    /// nothing has removed the key yet.
    expires_at: u64,
}

impl Store {
    /// Start watching `key`.
    pub fn watch(&self, key: &[u8]) -> WatchToken {
        let hash = key_hash(key);
        let now = now_ms();
        let mut shard = self.shard_of(key, hash).lock();
        // A key already past its deadline goes first, so that removal is not a change later.
        let expires_at = shard
            .find_live(hash, key, now)
            .map_or(0, |slot| shard.entry(slot).expires_at);
        WatchToken {
            version: shard.watches.watch(key),
            expires_at,
        }
    }

    /// Nothing has changed `key` since `token` was taken (and it has not expired since).
    pub fn watch_unchanged(&self, key: &[u8], token: WatchToken) -> bool {
        let hash = key_hash(key);
        let shard = self.shard_of(key, hash).lock();
        let expired = token.expires_at != 0 && now_ms() >= token.expires_at;
        shard.watches.version(key) == Some(token.version) && !expired
    }

    /// Stop one watch of `key` taken with [`watch`](Self::watch).
    pub fn unwatch(&self, key: &[u8]) {
        let hash = key_hash(key);
        self.shard_of(key, hash).lock().watches.unwatch(key);
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Expiry, SetOptions, StoreLimits};
    use super::*;
    use crate::policy::BuiltinPolicy;

    fn store() -> Store {
        let limits = StoreLimits {
            capacity_bytes: 1 << 20,
            max_item_size: 1 << 16,
            default_ttl_ms: 0,
        };
        Store::new(4, limits, || BuiltinPolicy::Lru.build(1 << 18))
    }

    #[test]
    fn every_kind_of_change_moves_a_watched_key_and_nothing_else_does() {
        let s = store();
        s.set(b"k", b"1", SetOptions::default()).unwrap();
        s.set(b"other", b"1", SetOptions::default()).unwrap();
        type Change<'a> = (&'a str, &'a dyn Fn(&Store));
        let changes: [Change<'_>; 5] = [
            ("overwrite", &|s| {
                s.set(b"k", b"2", SetOptions::default()).unwrap();
            }),
            ("same value", &|s| {
                s.set(b"k", b"2", SetOptions::default()).unwrap();
            }),
            ("expire", &|s| {
                s.expire(b"k", Some(60_000));
            }),
            ("delete", &|s| {
                s.delete(b"k");
            }),
            ("flush", &|s| s.flush()),
        ];
        for (what, change) in changes {
            s.set(b"k", b"2", SetOptions::default()).unwrap();
            let token = s.watch(b"k");
            assert!(s.watch_unchanged(b"k", token), "{what}: untouched yet");
            s.set(b"other", b"x", SetOptions::default()).unwrap();
            s.get_vec(b"k");
            assert!(
                s.watch_unchanged(b"k", token),
                "{what}: reads and other keys"
            );
            change(&s);
            assert!(!s.watch_unchanged(b"k", token), "{what}");
            s.unwatch(b"k");
        }
        // A flush changes only the watched keys it removes.
        s.delete(b"absent");
        let token = s.watch(b"absent");
        s.set(b"k", b"2", SetOptions::default()).unwrap();
        let k = s.watch(b"k");
        s.flush();
        assert!(s.watch_unchanged(b"absent", token), "nothing to remove");
        assert!(!s.watch_unchanged(b"k", k));
        s.unwatch(b"absent");
        s.unwatch(b"k");

        // Writing a key that was absent when watched is a change too.
        s.delete(b"new");
        let token = s.watch(b"new");
        s.set(b"new", b"v", SetOptions::default()).unwrap();
        assert!(!s.watch_unchanged(b"new", token));
        s.unwatch(b"new");
        assert!(
            s.shards
                .iter()
                .all(|sh| sh.0.lock().watches.keys.is_empty())
        );
    }

    #[test]
    fn a_deadline_passing_is_a_change_and_a_stale_key_is_not() {
        let s = store();
        s.set(
            b"soon",
            b"v",
            SetOptions {
                expiry: Expiry::AfterMs(30),
                ..Default::default()
            },
        )
        .unwrap();
        let token = s.watch(b"soon");
        std::thread::sleep(std::time::Duration::from_millis(60));
        assert!(!s.watch_unchanged(b"soon", token), "expired since WATCH");
        s.unwatch(b"soon");
        // Watched after its deadline: already gone, so nothing changes it later.
        let token = s.watch(b"soon");
        assert!(s.watch_unchanged(b"soon", token));
        s.unwatch(b"soon");
    }
}

//! The routing hook: which part of a key decides where it lives (its shard here, its node on the
//! cluster ring) — e.g. the `{tag}` of `user:{42}:cart`, or a prefix.
//!
//! The plugin answers a range of the key (its start and length, packed into one `i64`), so the
//! routing key is always a substring of the key and needs no copy. Instances form a small pool
//! indexed by the key hash, so the same key always asks the same instance and threads rarely
//! wait on each other.
//!
//! Contract for routing plugins: the answer must be a pure function of the key. A fault (or an
//! out-of-range answer) routes by the whole key; an instance that faulted is **not** retried,
//! because switching back would move keys between shards again and could resurface stale copies.

use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;

use super::abi;
use super::hook::Hook;
use super::instance::{Fault, GuestInstance, InitArgs};
use super::metrics::CounterHandle;
use super::registry::PluginVersion;
use crate::hash::key_hash;

struct RouteSlot {
    guest: Option<GuestInstance>,
    counters: CounterHandle,
}

/// A namespace's routing hook.
pub struct Router {
    version: Arc<PluginVersion>,
    pool: Box<[Mutex<RouteSlot>]>,
    mask: usize,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("plugin", &self.version.id)
            .finish()
    }
}

impl Router {
    pub(crate) fn new(
        version: Arc<PluginVersion>,
        init: InitArgs,
        instances: usize,
    ) -> Result<Self, Fault> {
        let n = instances.clamp(1, 64).next_power_of_two();
        let mut pool = Vec::with_capacity(n);
        for i in 0..n {
            let guest = version.instantiate(InitArgs {
                shard: i as u32,
                ..init
            })?;
            let counters = version.metrics.register(Hook::Routing);
            pool.push(Mutex::new(RouteSlot {
                guest: Some(guest),
                counters,
            }));
        }
        Ok(Self {
            version,
            pool: pool.into_boxed_slice(),
            mask: n - 1,
        })
    }

    /// The part of `key` (whose hash is `hash`) that decides placement.
    pub fn route<'k>(&self, key: &'k [u8], hash: u64) -> &'k [u8] {
        match self.range(key, hash) {
            Some((start, len)) => &key[start..start + len],
            None => key,
        }
    }

    /// The hash that decides placement: the routing key's hash (the key's own when whole).
    #[inline]
    pub fn route_hash(&self, key: &[u8], hash: u64) -> u64 {
        match self.range(key, hash) {
            Some((start, len)) if len != key.len() => key_hash(&key[start..start + len]),
            _ => hash,
        }
    }

    fn range(&self, key: &[u8], hash: u64) -> Option<(usize, usize)> {
        let mut slot = self.pool[(hash as usize) & self.mask].lock();
        let slot = &mut *slot;
        let guest = slot.guest.as_mut()?;
        if key.len() > guest.scratch_len() {
            return None;
        }
        guest.scratch_mut()[..key.len()].copy_from_slice(key);
        let timed = slot.counters.call().then(Instant::now);
        let answer = guest.route(hash, key.len());
        if let Some(t) = timed {
            slot.counters.time(t.elapsed().as_nanos() as u64);
        }
        match answer {
            Ok(abi::ROUTE_WHOLE_KEY) => None,
            Ok(packed) => {
                let (start, len) = (
                    (packed as u64 >> 32) as usize,
                    (packed as u64 as u32) as usize,
                );
                if packed < 0 || len == 0 || start.checked_add(len).is_none_or(|e| e > key.len()) {
                    slot.counters.invalid(1);
                    None
                } else {
                    Some((start, len))
                }
            }
            Err(fault) => {
                slot.counters.fault(&fault);
                slot.counters.set_state(true, false);
                slot.guest = None;
                tracing::warn!(
                    plugin = %self.version.id,
                    name = %self.version.name,
                    hook = "routing",
                    reason = fault.kind(),
                    "plugin {fault}; keys of this instance route by the whole key from now on"
                );
                None
            }
        }
    }
}

//! The prefetch hook: after an access, the plugin names keys worth fetching from the origin.
//!
//! One instance per namespace (a prefetcher learns from the whole access stream, e.g. a Markov
//! chain of successors), behind a mutex. The read-through origin calls
//! [`Prefetcher::after_access`] off the request path and fetches what it names, bounded.
//! Answers are validated: at most [`abi::MAX_PREFETCH_KEYS`] keys, each non-empty, within the
//! store's key limit and inside the scratch buffer; the rest is ignored and counted. A fault
//! means "no prefetch" until the quarantine's retry.

use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;

use super::abi;
use super::hook::Hook;
use super::instance::{Fault, GuestInstance, InitArgs};
use super::metrics::CounterHandle;
use super::quarantine::Quarantine;
use super::registry::PluginVersion;
use crate::hash::key_hash;

struct Slot {
    guest: Option<GuestInstance>,
    quarantine: Quarantine,
    counters: CounterHandle,
}

/// A namespace's prefetch hook.
pub struct Prefetcher {
    version: Arc<PluginVersion>,
    init: InitArgs,
    slot: Mutex<Slot>,
}

impl std::fmt::Debug for Prefetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prefetcher")
            .field("plugin", &self.version.id)
            .finish()
    }
}

impl Prefetcher {
    pub(crate) fn new(version: Arc<PluginVersion>, init: InitArgs) -> Result<Self, Fault> {
        let guest = version.instantiate(init)?;
        let slot = Slot {
            guest: Some(guest),
            quarantine: Quarantine::new(version.limits()),
            counters: version.metrics.register(Hook::Prefetch),
        };
        Ok(Self {
            version,
            init,
            slot: Mutex::new(slot),
        })
    }

    /// The plugin version serving this hook.
    pub fn version(&self) -> &Arc<PluginVersion> {
        &self.version
    }

    /// Ask which keys to prefetch after an access to `key` (`hit`: whether it was found), and
    /// call `each` with every valid key named. Returns how many keys were passed to `each`.
    /// `each` runs while the prefetcher is locked: collect, do not fetch, inside it.
    pub fn after_access(&self, key: &[u8], hit: bool, mut each: impl FnMut(&[u8])) -> usize {
        let mut slot = self.slot.lock();
        let slot = &mut *slot;
        if slot.guest.is_none() && slot.quarantine.retry_due() {
            match self.version.instantiate(self.init) {
                Ok(g) => {
                    slot.guest = Some(g);
                    slot.quarantine.recovered();
                    slot.counters.set_state(false, false);
                }
                Err(f) => {
                    self.fault(slot, f);
                    return 0;
                }
            }
        }
        let Some(guest) = slot.guest.as_mut() else {
            return 0;
        };
        let scratch_len = guest.scratch_len();
        if key.len() > scratch_len {
            return 0;
        }
        guest.scratch_mut()[..key.len()].copy_from_slice(key);
        let timed = slot.counters.call().then(Instant::now);
        let answer = guest.prefetch(key_hash(key), key.len(), hit);
        if let Some(t) = timed {
            slot.counters.time(t.elapsed().as_nanos() as u64);
        }
        let count = match answer {
            Ok(n) => n,
            Err(f) => {
                self.fault(slot, f);
                return 0;
            }
        };
        if count < 0 {
            slot.counters.invalid(1);
            return 0;
        }
        let count = count as usize;
        if count > abi::MAX_PREFETCH_KEYS {
            slot.counters
                .invalid((count - abi::MAX_PREFETCH_KEYS) as u64);
        }
        let scratch = guest.scratch_mut();
        let mut off = 0;
        let mut delivered = 0;
        for _ in 0..count.min(abi::MAX_PREFETCH_KEYS) {
            let Some(len_bytes) = scratch.get(off..off + 4) else {
                slot.counters.invalid(1);
                break;
            };
            let len = u32::from_le_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]])
                as usize;
            off += 4;
            let Some(k) = scratch.get(off..off.saturating_add(len)) else {
                slot.counters.invalid(1);
                break;
            };
            off += len;
            if len == 0 || len > abi::MAX_PREFETCH_KEY_LEN {
                slot.counters.invalid(1);
                continue;
            }
            each(k);
            delivered += 1;
        }
        delivered
    }

    /// Convenience over [`Self::after_access`]: the keys, copied.
    pub fn keys_after_access(&self, key: &[u8], hit: bool) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        self.after_access(key, hit, |k| out.push(k.to_vec()));
        out
    }

    fn fault(&self, slot: &mut Slot, fault: Fault) {
        slot.counters.fault(&fault);
        slot.guest = None;
        let backoff = slot.quarantine.fault();
        slot.counters.set_state(true, true);
        tracing::warn!(
            plugin = %self.version.id,
            name = %self.version.name,
            hook = "prefetch",
            reason = fault.kind(),
            retry_in_ms = backoff.as_millis() as u64,
            "plugin {fault}; no prefetch while it is quarantined"
        );
    }

    /// Current per-hook metrics (for tests and the admin API).
    pub fn metrics(&self) -> super::HookSnapshot {
        self.version.metrics.snapshot(Hook::Prefetch)
    }
}

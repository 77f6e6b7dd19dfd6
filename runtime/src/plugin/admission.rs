//! The admission hook: asked, once per new key and synchronously, whether to store it.
//!
//! [`AdmissionPolicy`] is what a shard calls; [`WasmAdmission`] implements it with a plugin.
//! A fault (trap, deadline, out-of-memory) admits the key — the fallback is "no admission
//! policy" — and quarantines the instance until its backoff passes.

use std::sync::Arc;
use std::time::Instant;

use super::hook::Hook;
use super::instance::{Fault, GuestInstance, InitArgs};
use super::metrics::CounterHandle;
use super::quarantine::Quarantine;
use super::registry::PluginVersion;

/// What an admission decision sees about the key being written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdmitRequest {
    /// Key hash ([`crate::hash::key_hash`]).
    pub hash: u64,
    /// Charged size in bytes (key + value + per-entry overhead).
    pub size: u32,
    /// Time to live in milliseconds; 0 means no expiry.
    pub ttl_ms: u64,
}

/// Decides whether a new key is stored.
///
/// Contract: called under the shard's lock (calls are serialised, never re-entrant), once per
/// write of a key that is not resident; overwrites of resident keys are not asked. Must not
/// panic and should answer in well under a microsecond. Request context tags of the write are
/// visible ([`super::current_tag`]).
pub trait AdmissionPolicy: Send + 'static {
    fn name(&self) -> &str;
    /// True to store the key; false to acknowledge the write without storing it.
    fn admit(&mut self, request: AdmitRequest) -> bool;
}

/// A plugin serving one shard's admission hook.
pub struct WasmAdmission {
    name: String,
    version: Arc<PluginVersion>,
    init: InitArgs,
    guest: Option<GuestInstance>,
    quarantine: Quarantine,
    counters: CounterHandle,
}

impl WasmAdmission {
    pub(crate) fn new(version: Arc<PluginVersion>, init: InitArgs) -> Self {
        let counters = version.metrics.register(Hook::Admission);
        let quarantine = Quarantine::new(version.limits());
        let mut this = Self {
            name: format!("plugin:{}", version.id),
            version,
            init,
            guest: None,
            quarantine,
            counters,
        };
        match this.version.instantiate(init) {
            Ok(g) => this.guest = Some(g),
            Err(f) => this.fault(f),
        }
        this
    }

    fn fault(&mut self, fault: Fault) {
        self.counters.fault(&fault);
        self.guest = None;
        let backoff = self.quarantine.fault();
        self.counters.set_state(true, true);
        tracing::warn!(
            plugin = %self.version.id,
            name = %self.version.name,
            hook = "admission",
            shard = self.init.shard,
            reason = fault.kind(),
            retry_in_ms = backoff.as_millis() as u64,
            "plugin {fault}; every key is admitted while it is quarantined"
        );
    }

    fn maybe_retry(&mut self) {
        if self.guest.is_none() && self.quarantine.retry_due() {
            match self.version.instantiate(self.init) {
                Ok(g) => {
                    self.guest = Some(g);
                    self.quarantine.recovered();
                    self.counters.set_state(false, false);
                    tracing::info!(plugin = %self.version.id, hook = "admission", "plugin back in service");
                }
                Err(f) => self.fault(f),
            }
        }
    }
}

impl AdmissionPolicy for WasmAdmission {
    fn name(&self) -> &str {
        &self.name
    }

    fn admit(&mut self, request: AdmitRequest) -> bool {
        self.maybe_retry();
        let Some(guest) = self.guest.as_mut() else {
            return true;
        };
        let timed = self.counters.call().then(Instant::now);
        let answer = guest.admit(request.hash, request.size, request.ttl_ms);
        if let Some(t) = timed {
            self.counters.time(t.elapsed().as_nanos() as u64);
        }
        match answer {
            Ok(1) => true,
            Ok(0) => {
                self.counters.rejected();
                false
            }
            Ok(_) => {
                // Out of range: ignored (admitted) and counted.
                self.counters.invalid(1);
                true
            }
            Err(f) => {
                self.fault(f);
                true
            }
        }
    }
}

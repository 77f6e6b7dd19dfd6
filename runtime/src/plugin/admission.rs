//! The admission hook: asked, once per new key and synchronously, whether to store it.
//!
//! [`AdmissionPolicy`] is what a shard calls; [`WasmAdmission`] implements it with a plugin.
//! A fault (trap, deadline, out-of-memory) admits the key — the fallback is "no admission
//! policy" — and quarantines the instance until its backoff passes.
//!
//! ## Modes (ABI 4)
//! A plugin declares how it is consulted. *Decide* (the default): one `larder_admit` call per new
//! key. *Never*: no call at all, every key admitted — a hook with nothing to decide costs one
//! branch. *Observe*: the verdict is a bit of the plugin's verdict map, read in place from its
//! memory; the request is written to its scratch buffer as a record and the records are delivered
//! [`abi::ADMIT_BATCH`] at a time, after which the map is read again. A deciding policy then costs
//! a fraction of a call per key, at the price of verdicts that lag by up to one batch.

use std::sync::Arc;
use std::time::Instant;

use super::abi::{ADMIT_BATCH, ADMIT_RECORD_LEN};
use super::hook::Hook;
use super::instance::{AdmitMode, Fault, GuestInstance, InitArgs, VerdictMap};
use super::metrics::CounterHandle;
use super::quarantine::Quarantine;
use super::registry::PluginVersion;
use super::restart::Restart;

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
    /// Observe mode: records written to the scratch buffer and not yet delivered.
    pending: usize,
    /// Observe mode: the verdict map as the guest last described it.
    verdicts: VerdictMap,
    quarantine: Quarantine,
    counters: CounterHandle,
    /// A fresh instance being started off the request path.
    restart: Option<Restart>,
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
            pending: 0,
            verdicts: VerdictMap::default(),
            quarantine,
            counters,
            restart: None,
        };
        match this.version.instantiate(init) {
            Ok(g) => this.serve(g),
            Err(f) => this.fault(f),
        }
        this
    }

    fn serve(&mut self, mut guest: GuestInstance) {
        self.verdicts = guest.verdict_map();
        self.pending = 0;
        self.guest = Some(guest);
    }

    fn fault(&mut self, fault: Fault) {
        self.counters.fault(&fault);
        self.guest = None;
        self.pending = 0;
        self.verdicts = VerdictMap::default();
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

    /// While quarantined: once the backoff has passed, start a fresh instance on its own thread,
    /// and serve with it from the first call after it is ready (keys are admitted meanwhile).
    fn maybe_retry(&mut self) {
        if self.guest.is_some() {
            return;
        }
        if let Some(restart) = &self.restart {
            let Some(result) = restart.poll() else {
                return;
            };
            self.restart = None;
            match result {
                Ok(g) => {
                    self.serve(g);
                    self.quarantine.recovered();
                    self.counters.set_state(false, false);
                    tracing::info!(plugin = %self.version.id, hook = "admission", "plugin back in service");
                }
                Err(f) => self.fault(f),
            }
            return;
        }
        if self.quarantine.retry_due() {
            let version = Arc::clone(&self.version);
            let init = self.init;
            self.restart = Some(Restart::spawn(move || version.instantiate(init)));
        }
    }

    /// Observe mode: the map decides; the request joins the batch the guest will be told of.
    fn observe(&mut self, request: AdmitRequest) -> bool {
        let Some(guest) = self.guest.as_mut() else {
            return true;
        };
        let admitted = guest.verdict(self.verdicts, request.hash);
        let off = self.pending * ADMIT_RECORD_LEN;
        let rec = &mut guest.scratch_mut()[off..off + ADMIT_RECORD_LEN];
        rec[0..8].copy_from_slice(&request.hash.to_le_bytes());
        rec[8..12].copy_from_slice(&request.size.to_le_bytes());
        rec[12..16].copy_from_slice(&u32::from(admitted).to_le_bytes());
        rec[16..24].copy_from_slice(&request.ttl_ms.to_le_bytes());
        self.pending += 1;
        if !admitted {
            self.counters.rejected();
        }
        if self.pending == ADMIT_BATCH {
            self.deliver();
        }
        admitted
    }

    /// One `larder_admit_observe` call with the pending records; then the map is read again.
    fn deliver(&mut self) {
        let Some(guest) = self.guest.as_mut() else {
            return;
        };
        let n = std::mem::take(&mut self.pending);
        let timed = self.counters.call().then(Instant::now);
        let answer = guest.admit_observe(n);
        if let Some(t) = timed {
            self.counters.time(t.elapsed().as_nanos() as u64);
        }
        match answer {
            Ok(code) => {
                if code != 0 {
                    self.counters.invalid(1);
                }
                self.verdicts = guest.verdict_map();
            }
            Err(f) => self.fault(f),
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
        match guest.admit_mode() {
            AdmitMode::Never => return true,
            AdmitMode::Observe => return self.observe(request),
            AdmitMode::Decide => {}
        }
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

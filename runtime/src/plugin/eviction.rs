//! [`WasmEviction`]: the adapter that lets a plugin serve a shard as its [`EvictionPolicy`].
//!
//! ## Events
//! Inserts, accesses and removals are written straight into the guest's scratch buffer as 24-byte
//! records and delivered in one `larder_evict` call when [`abi::EVENT_BATCH`] have accumulated, or
//! together with the next victim request — so in a full cache one insert costs one crossing.
//!
//! ## The access map (ABI 3)
//! A plugin whose reads are nothing but a saturating per-slot counter (SIEVE, S3-FIFO) describes
//! where those counters are in its memory. A read of a covered slot is then one byte written in
//! place, not an event: a hit costs the plugin nothing. The host re-reads the description after
//! every call. A read is still sent as an event while the slot's own insert waits in the current
//! batch (the guest's insert would reset the counter after the bump) or when the slot lies past
//! the counters (the guest has not grown them yet); the contract on
//! [`larder_policy::EvictionPolicy::access_counters`] makes both orders decide the same.
//!
//! ## Validation and fallback
//! The adapter keeps its own table of resident slots (hash and size), which makes every answer
//! checkable: a victim that is not resident, or named twice, is ignored and counted. An answer with
//! no valid victim while entries are resident is a fault, like a trap, a missed deadline or an
//! out-of-memory. On a fault the instance is dropped, the namespace's built-in fallback policy is
//! built from the resident table and answers in its place, and the plugin is quarantined. After the
//! backoff a fresh instance is started and replayed a snapshot of the resident entries on a thread
//! of its own ([`super::restart`]) while the fallback keeps serving; what changes meanwhile is
//! journaled, and the first call after the instance is ready sends it the journal and hands it
//! the hook again.

use std::sync::Arc;
use std::time::Instant;

use super::abi::{
    EVENT_ACCESS, EVENT_BATCH, EVENT_INSERT, EVENT_LEN, EVENT_REMOVE, EVENT_UPDATE, MAX_VICTIMS,
};
use super::hook::Hook;
use super::instance::{AccessMap, Fault, GuestInstance, InitArgs};
use super::metrics::CounterHandle;
use super::quarantine::Quarantine;
use super::registry::PluginVersion;
use super::restart::Restart;
use crate::policy::{BuiltinPolicy, EntryMeta, EvictionPolicy, Slot, VictimSink};

/// What the host knows of one slot.
#[derive(Debug, Clone, Copy, Default)]
struct Resident {
    hash: u64,
    /// 0 marks a slot that is not resident (sizes include the per-entry overhead, so a resident
    /// entry's is never 0).
    size: u32,
    /// The batch that carried (or will carry) the slot's insert event; while it is the current
    /// one, a read must be sent as an event rather than bumped in place.
    inserted_in: u32,
}

/// One change the fallback saw while a restart was being prepared, to be sent to the new instance
/// before it takes over (the snapshot it was replayed predates it).
#[derive(Debug, Clone, Copy)]
struct Journaled {
    kind: u32,
    slot: Slot,
    hash: u64,
    size: u32,
    /// The old size of an update.
    aux: u32,
}

/// Most changes journaled for one restart. Past it the restart is dropped and a new one started
/// from a fresh snapshot: a journal that long means the snapshot is stale anyway.
const MAX_JOURNAL: usize = 1 << 18;

/// A plugin serving one shard's eviction hook, with a built-in fallback.
pub struct WasmEviction {
    name: String,
    version: Arc<PluginVersion>,
    init: InitArgs,
    guest: Option<GuestInstance>,
    /// Events written to the guest's scratch buffer and not yet delivered.
    pending: usize,
    /// Counts deliveries: the number of the batch being written now.
    batch: u32,
    /// The guest's read counters, as it described them after the last call.
    map: AccessMap,
    /// Per slot: key hash, size, and the batch of the slot's last insert event.
    resident: Vec<Resident>,
    resident_count: usize,
    fallback_kind: BuiltinPolicy,
    /// Serves while the plugin is quarantined.
    fallback: Option<Box<dyn EvictionPolicy>>,
    quarantine: Quarantine,
    counters: CounterHandle,
    /// A fresh instance being prepared off the request path.
    restart: Option<Restart>,
    /// Changes since the restart's snapshot, in order.
    journal: Vec<Journaled>,
}

impl WasmEviction {
    /// Start an instance for one shard. Fails only if the instance cannot start; the caller
    /// decides whether that refuses the configuration or starts in fallback ([`Self::degraded`]).
    pub(crate) fn start(
        version: Arc<PluginVersion>,
        init: InitArgs,
        fallback: BuiltinPolicy,
    ) -> Result<Self, Fault> {
        let counters = version.metrics.register(Hook::Eviction);
        let guest = version.instantiate(init);
        if let Err(f) = &guest {
            counters.fault(f);
        }
        let guest = guest?;
        Ok(Self::assemble(
            version,
            init,
            fallback,
            Some(guest),
            counters,
        ))
    }

    /// An adapter whose instance failed to start: it serves with the fallback and retries later.
    pub(crate) fn degraded(
        version: Arc<PluginVersion>,
        init: InitArgs,
        fallback: BuiltinPolicy,
        fault: Fault,
    ) -> Self {
        let counters = version.metrics.register(Hook::Eviction);
        counters.fault(&fault);
        let mut this = Self::assemble(version, init, fallback, None, counters);
        this.enter_quarantine(fault);
        this
    }

    fn assemble(
        version: Arc<PluginVersion>,
        init: InitArgs,
        fallback_kind: BuiltinPolicy,
        guest: Option<GuestInstance>,
        counters: CounterHandle,
    ) -> Self {
        let quarantine = Quarantine::new(version.limits());
        Self {
            name: format!("plugin:{}", version.id),
            version,
            init,
            guest,
            pending: 0,
            batch: 0,
            map: AccessMap::default(),
            resident: Vec::new(),
            resident_count: 0,
            fallback_kind,
            fallback: None,
            quarantine,
            counters,
            restart: None,
            journal: Vec::new(),
        }
    }

    /// Whether the plugin (not the fallback) is serving.
    pub fn is_plugin_serving(&self) -> bool {
        self.guest.is_some()
    }

    fn fallback_from_resident(&self) -> Box<dyn EvictionPolicy> {
        let mut policy = self.fallback_kind.build(self.init.capacity_bytes);
        for (slot, r) in self.resident.iter().enumerate() {
            if r.size != 0 {
                policy.on_insert(EntryMeta {
                    slot: slot as Slot,
                    hash: r.hash,
                    size: r.size,
                });
            }
        }
        policy
    }

    fn enter_quarantine(&mut self, fault: Fault) {
        self.guest = None;
        self.pending = 0;
        self.map = AccessMap::default();
        let backoff = self.quarantine.fault();
        // A fallback already serving (a restart failed) has tracked every change: keep it.
        if self.fallback.is_none() {
            self.fallback = Some(self.fallback_from_resident());
        }
        self.counters.set_state(true, true);
        tracing::warn!(
            plugin = %self.version.id,
            name = %self.version.name,
            hook = "eviction",
            shard = self.init.shard,
            reason = fault.kind(),
            retry_in_ms = backoff.as_millis() as u64,
            "plugin {fault}; the built-in {} policy serves while it is quarantined",
            self.fallback_kind
        );
    }

    fn fault(&mut self, fault: Fault) {
        self.counters.fault(&fault);
        self.enter_quarantine(fault);
    }

    /// While quarantined: start a restart once the backoff has passed, and hand the hook to the
    /// restarted instance once it is ready.
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
                Ok(guest) => self.take_over(guest),
                Err(f) => {
                    self.journal.clear();
                    self.fault(f);
                }
            }
            return;
        }
        if !self.quarantine.retry_due() {
            return;
        }
        let snapshot: Vec<(Slot, u64, u32)> = self
            .resident
            .iter()
            .enumerate()
            .filter(|(_, r)| r.size != 0)
            .map(|(slot, r)| (slot as Slot, r.hash, r.size))
            .collect();
        self.journal.clear();
        let version = Arc::clone(&self.version);
        let init = self.init;
        self.restart = Some(Restart::spawn(move || {
            replayed_instance(&version, init, &snapshot)
        }));
    }

    /// Note a change for the restart being prepared, if there is one.
    fn journal(&mut self, kind: u32, slot: Slot, hash: u64, size: u32, aux: u32) {
        if self.restart.is_none() {
            return;
        }
        if self.journal.len() >= MAX_JOURNAL {
            self.restart = None;
            self.journal = Vec::new();
            return;
        }
        self.journal.push(Journaled {
            kind,
            slot,
            hash,
            size,
            aux,
        });
    }

    /// The restarted instance, replayed the snapshot, is sent the journal and serves again.
    fn take_over(&mut self, mut guest: GuestInstance) {
        // The capacity may have changed since the snapshot.
        if let Err(f) = guest.evict_capacity(self.init.capacity_bytes) {
            self.journal.clear();
            return self.fault(f);
        }
        self.map = guest.access_map();
        self.guest = Some(guest);
        self.pending = 0;
        // Inserts recorded under earlier batch numbers were all delivered; a stale number that
        // happens to match only turns a bump into an event, which is always right.
        self.batch = self.batch.wrapping_add(1);
        let journal = std::mem::take(&mut self.journal);
        for e in &journal {
            match e.kind {
                EVENT_UPDATE if self.version.abi_version < 2 => {
                    self.push(EVENT_REMOVE, e.slot, e.hash, e.aux);
                    self.push(EVENT_INSERT, e.slot, e.hash, e.size);
                }
                kind => self.push_event(kind, e.slot, e.hash, e.size, e.aux),
            }
            if self.guest.is_none() {
                return;
            }
        }
        if self.pending > 0 && self.deliver(0).is_err() {
            return;
        }
        self.fallback = None;
        self.quarantine.recovered();
        self.counters.set_state(false, false);
        tracing::info!(
            plugin = %self.version.id,
            shard = self.init.shard,
            journaled = journal.len(),
            "plugin back in service after quarantine"
        );
    }

    /// Write one event; deliver the batch when full.
    #[inline]
    fn push(&mut self, kind: u32, slot: Slot, hash: u64, size: u32) {
        self.push_event(kind, slot, hash, size, 0);
    }

    #[inline]
    fn push_event(&mut self, kind: u32, slot: Slot, hash: u64, size: u32, aux: u32) {
        let Some(guest) = self.guest.as_mut() else {
            return;
        };
        if kind == EVENT_INSERT
            && let Some(r) = self.resident.get_mut(slot as usize)
        {
            r.inserted_in = self.batch;
        }
        let off = self.pending * EVENT_LEN;
        write_event(
            &mut guest.scratch_mut()[off..off + EVENT_LEN],
            kind,
            slot,
            hash,
            size,
            aux,
        );
        self.pending += 1;
        if self.pending == EVENT_BATCH {
            let _ = self.deliver(0);
        }
    }

    /// One `larder_evict` call: the pending events, then (if `need` > 0) victims. On a fault the
    /// plugin is quarantined and `Err` returned.
    fn deliver(&mut self, need: u64) -> Result<usize, ()> {
        let Some(guest) = self.guest.as_mut() else {
            return Err(());
        };
        let n = std::mem::take(&mut self.pending);
        self.batch = self.batch.wrapping_add(1);
        let max = if need > 0 { MAX_VICTIMS } else { 0 };
        let timed = self.counters.call().then(Instant::now);
        let result = guest.evict(n, need, max);
        if let Some(t) = timed {
            self.counters.time(t.elapsed().as_nanos() as u64);
        }
        if result.is_ok() {
            self.map = guest.access_map();
        }
        match result {
            Ok(count) if need == 0 => {
                if count != 0 {
                    self.counters.invalid(1);
                }
                Ok(0)
            }
            Ok(count) if count < 0 => {
                self.fault(Fault::InvalidAnswer("negative victim count"));
                Err(())
            }
            Ok(count) => {
                let count = count as usize;
                if count > MAX_VICTIMS {
                    self.counters.invalid((count - MAX_VICTIMS) as u64);
                }
                Ok(count.min(MAX_VICTIMS))
            }
            Err(f) => {
                self.fault(f);
                Err(())
            }
        }
    }

    /// Accept a victim if it is resident: forget it and hand it to the store. A resident victim
    /// the sink has no room for stays resident, and the guest is told it is back (it forgot it
    /// when it named it).
    fn take(&mut self, slot: Slot, out: &mut dyn VictimSink) -> bool {
        match self.resident.get_mut(slot as usize) {
            Some(entry) if entry.size != 0 => {
                if out.is_full() {
                    let Resident { hash, size, .. } = *entry;
                    self.push(EVENT_INSERT, slot, hash, size);
                    return true;
                }
                entry.size = 0;
                self.resident_count -= 1;
                out.push(slot);
                true
            }
            _ => false,
        }
    }

    fn fallback_victims(&mut self, bytes: u64, out: &mut dyn VictimSink) {
        if let Some(fallback) = self.fallback.as_mut() {
            let mut checked = Checked {
                resident: &mut self.resident,
                resident_count: &mut self.resident_count,
                out,
                taken: Vec::new(),
                journaling: self.restart.is_some(),
            };
            fallback.victims(bytes, &mut checked);
            // The restarted instance was replayed these; it must forget them.
            for (slot, hash, size) in std::mem::take(&mut checked.taken) {
                self.journal(EVENT_REMOVE, slot, hash, size, 0);
            }
        }
    }
}

/// The fallback's victims, checked against the resident table as the plugin's are and
/// forgotten there as they are handed to the store.
struct Checked<'a> {
    resident: &'a mut Vec<Resident>,
    resident_count: &'a mut usize,
    out: &'a mut dyn VictimSink,
    /// The victims handed over, kept only while a restart needs them journaled.
    taken: Vec<(Slot, u64, u32)>,
    journaling: bool,
}

impl VictimSink for Checked<'_> {
    fn is_full(&self) -> bool {
        self.out.is_full()
    }

    fn push(&mut self, slot: Slot) {
        if let Some(entry) = self.resident.get_mut(slot as usize)
            && entry.size != 0
        {
            if self.journaling {
                self.taken.push((slot, entry.hash, entry.size));
            }
            entry.size = 0;
            *self.resident_count -= 1;
            self.out.push(slot);
        }
    }
}

impl EvictionPolicy for WasmEviction {
    fn name(&self) -> &str {
        &self.name
    }

    fn set_capacity(&mut self, capacity_bytes: u64) {
        self.init.capacity_bytes = capacity_bytes;
        if let Some(fallback) = self.fallback.as_mut() {
            fallback.set_capacity(capacity_bytes);
        }
        if self.guest.is_some() && self.deliver(0).is_ok() {
            let result = self.guest.as_mut().map(|g| {
                let r = g.evict_capacity(capacity_bytes);
                (r, g.access_map())
            });
            match result {
                Some((Err(f), _)) => self.fault(f),
                Some((Ok(()), map)) => self.map = map,
                None => {}
            }
        }
    }

    fn on_insert(&mut self, entry: EntryMeta) {
        let i = entry.slot as usize;
        if i >= self.resident.len() {
            self.resident.resize(i + 1, Resident::default());
        }
        if self.resident[i].size == 0 {
            self.resident_count += 1;
        }
        // Sizes include the per-entry overhead, so a resident entry's size is never 0.
        let size = entry.size.max(1);
        self.resident[i] = Resident {
            hash: entry.hash,
            size,
            inserted_in: self.batch,
        };
        match self.fallback.as_mut() {
            Some(fallback) => {
                fallback.on_insert(entry);
                self.journal(EVENT_INSERT, entry.slot, entry.hash, size, 0);
            }
            None => self.push(EVENT_INSERT, entry.slot, entry.hash, size),
        }
    }

    fn on_update(&mut self, old: EntryMeta, new: EntryMeta) {
        let Some(r) = self.resident.get_mut(new.slot as usize) else {
            return;
        };
        if r.size == 0 {
            return;
        }
        let old_size = r.size;
        let size = new.size.max(1);
        r.size = size;
        match self.fallback.as_mut() {
            Some(fallback) => {
                fallback.on_update(old, new);
                self.journal(EVENT_UPDATE, new.slot, new.hash, size, old_size);
            }
            None if self.version.abi_version >= 2 => {
                self.push_event(EVENT_UPDATE, new.slot, new.hash, size, old_size)
            }
            // ABI 1 knows no update: a removal and an insert, as it always had.
            None => {
                self.push(EVENT_REMOVE, old.slot, old.hash, old_size);
                self.push(EVENT_INSERT, new.slot, new.hash, size);
            }
        }
    }

    fn on_access(&mut self, slots: &[Slot]) {
        if let Some(fallback) = self.fallback.as_mut() {
            fallback.on_access(slots);
            self.maybe_retry();
            return;
        }
        for &slot in slots {
            let Some(&r) = self.resident.get(slot as usize) else {
                continue;
            };
            if r.size == 0 {
                continue;
            }
            if self.map.covers(slot)
                && r.inserted_in != self.batch
                && let Some(guest) = self.guest.as_mut()
            {
                guest.bump(self.map, slot);
            } else {
                self.push(EVENT_ACCESS, slot, r.hash, r.size);
            }
        }
    }

    fn on_remove(&mut self, entry: EntryMeta) {
        if let Some(r) = self.resident.get_mut(entry.slot as usize)
            && r.size != 0
        {
            let size = r.size;
            r.size = 0;
            self.resident_count -= 1;
            match self.fallback.as_mut() {
                Some(fallback) => {
                    fallback.on_remove(entry);
                    self.journal(EVENT_REMOVE, entry.slot, entry.hash, size, 0);
                }
                None => self.push(EVENT_REMOVE, entry.slot, entry.hash, size),
            }
        }
    }

    fn victims(&mut self, bytes: u64, out: &mut dyn VictimSink) {
        self.maybe_retry();
        if self.guest.is_some()
            && let Ok(count) = self.deliver(bytes.max(1))
        {
            // Copied out first: handing a victim back (`take`) writes events into the scratch
            // buffer the answer is read from.
            let mut named = [0 as Slot; MAX_VICTIMS];
            if let Some(guest) = self.guest.as_mut() {
                for (i, raw) in guest.scratch_mut()[..count * 4].chunks_exact(4).enumerate() {
                    named[i] = u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]);
                }
            }
            let mut accepted = 0;
            let mut invalid = 0;
            for &slot in &named[..count] {
                if self.take(slot, out) {
                    accepted += 1;
                } else {
                    invalid += 1;
                }
            }
            if invalid > 0 {
                self.counters.invalid(invalid);
            }
            if accepted > 0 || self.resident_count == 0 {
                return;
            }
            self.fault(Fault::InvalidAnswer(
                "no valid victim while entries are resident",
            ));
        }
        // Quarantined, or the plugin just failed: the built-in makes up the shortfall.
        self.fallback_victims(bytes, out);
    }

    fn clear(&mut self) {
        self.resident.clear();
        self.resident_count = 0;
        self.pending = 0;
        // A restart replaying the old contents is of no use now; the next call starts another.
        self.restart = None;
        self.journal.clear();
        if let Some(fallback) = self.fallback.as_mut() {
            fallback.clear();
        }
        let result = self.guest.as_mut().map(|g| {
            let r = g.evict_clear();
            (r, g.access_map())
        });
        match result {
            Some((Err(f), _)) => self.fault(f),
            Some((Ok(()), map)) => self.map = map,
            None => {}
        }
    }
}

/// On the restart thread: a fresh instance, told the capacity and replayed `resident` (slot, hash,
/// size) as inserts, as a hot swap would.
fn replayed_instance(
    version: &PluginVersion,
    init: InitArgs,
    resident: &[(Slot, u64, u32)],
) -> Result<GuestInstance, Fault> {
    let mut guest = version.instantiate(init)?;
    guest.evict_capacity(init.capacity_bytes)?;
    for batch in resident.chunks(EVENT_BATCH) {
        let scratch = guest.scratch_mut();
        for (i, &(slot, hash, size)) in batch.iter().enumerate() {
            write_event(
                &mut scratch[i * EVENT_LEN..(i + 1) * EVENT_LEN],
                EVENT_INSERT,
                slot,
                hash,
                size,
                0,
            );
        }
        if guest.evict(batch.len(), 0, 0)? != 0 {
            return Err(Fault::InvalidAnswer(
                "victims named when none were asked for",
            ));
        }
    }
    Ok(guest)
}

/// One event record, laid out as `abi::EVENT_LEN` says.
#[inline]
fn write_event(rec: &mut [u8], kind: u32, slot: Slot, hash: u64, size: u32, aux: u32) {
    rec[0..8].copy_from_slice(&hash.to_le_bytes());
    rec[8..12].copy_from_slice(&slot.to_le_bytes());
    rec[12..16].copy_from_slice(&size.to_le_bytes());
    rec[16..20].copy_from_slice(&kind.to_le_bytes());
    rec[20..24].copy_from_slice(&aux.to_le_bytes());
}

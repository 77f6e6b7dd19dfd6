//! A shard: a slice of one namespace's keys, its entries, its policy instance and its counters,
//! all behind one lock (taken by [`super::Store`], never held across an `.await`).

use hashbrown::HashTable;

use std::sync::Arc;

use super::entry::{Entry, Form, charge};
use super::events::{KeyChange, KeyEvents};
use super::observer::WriteObserver;
use super::watch::Watches;
use crate::experiment::{LatencyHistogram, SampledEvent, SampledOp, is_sampled};
use crate::plugin::{AdmissionPolicy, AdmitRequest};
use crate::policy::{EntryMeta, EvictionPolicy, Slot};
use crate::stats::{ShardCounters, ShardStats};

/// Hits are buffered and handed to the policy in batches of this many.
use crate::policy::ACCESS_BATCH;
const NO_SLOT: u64 = u64::MAX;

/// Bytes a shard frees beyond what an over-capacity write needs: 1/1024 of its capacity, at most
/// 64 KiB. Without it a full cache asks its policy for victims on every insert; with it, once per
/// several (a few dozen small entries on a shard of a few MiB), which is what makes a plugin
/// policy's eviction a fraction of a crossing per insert. The cost is that a full shard holds on
/// average half of this less than its capacity: 0.05 %. Every policy gets the same requests, so a
/// reference plugin still evicts exactly the built-in's keys. (The simulator and the ghost caches
/// evict to the capacity exactly, so they model a shard 0.05 % larger than it is on average.)
pub(crate) fn eviction_headroom(capacity_bytes: u64) -> u64 {
    (capacity_bytes / 1024).min(64 * 1024)
}

/// Why an entry left, for the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Removal {
    Deleted,
    Expired,
    Evicted,
}

pub(crate) struct Shard {
    /// Slot indices, hashed by the entry's key hash.
    table: HashTable<u32>,
    entries: Vec<Entry>,
    free_head: u64,
    policy: Box<dyn EvictionPolicy>,
    /// Asked before a new key is stored; `None` admits everything.
    admission: Option<Box<dyn AdmissionPolicy>>,
    pending_access: Vec<Slot>,
    victims: Vec<Slot>,
    used_bytes: u64,
    /// Resident values' lengths as clients see them, and as stored (they differ by compression).
    logical_bytes: u64,
    value_bytes: u64,
    /// Resident entries that have a deadline (INFO keyspace's `expires`).
    with_ttl: u64,
    capacity_bytes: u64,
    expiry_cursor: usize,
    pub stats: ShardStats,
    /// Filled only while the store's experiment timing is on.
    pub latency: LatencyHistogram,
    /// Shadow sampling threshold on the key hash's low 32 bits; 0 when shadow evaluation is off.
    sample_below: u64,
    /// Sampled events waiting for the shadow drainer; room reserved when sampling starts.
    sampled: Vec<SampledEvent>,
    sampled_dropped: u64,
    /// Told of every change (the append-only log); `None` costs one branch per write.
    observer: Option<Arc<dyn WriteObserver>>,
    /// Versions of the keys transactions watch (empty unless someone does).
    pub watches: Watches,
    /// Told that keys changed (notifications, client-side caching); `None` costs one branch.
    events: Option<Arc<dyn KeyEvents>>,
}

impl Shard {
    pub fn new(capacity_bytes: u64, policy: Box<dyn EvictionPolicy>) -> Self {
        Self {
            table: HashTable::new(),
            entries: Vec::new(),
            free_head: NO_SLOT,
            policy,
            admission: None,
            pending_access: Vec::with_capacity(ACCESS_BATCH),
            victims: Vec::new(),
            used_bytes: 0,
            logical_bytes: 0,
            value_bytes: 0,
            with_ttl: 0,
            capacity_bytes,
            expiry_cursor: 0,
            stats: ShardStats::default(),
            latency: LatencyHistogram::default(),
            sample_below: 0,
            sampled: Vec::new(),
            sampled_dropped: 0,
            observer: None,
            watches: Watches::default(),
            events: None,
        }
    }

    pub fn set_observer(&mut self, observer: Option<Arc<dyn WriteObserver>>) {
        self.observer = observer;
    }

    pub fn observer(&self) -> Option<&Arc<dyn WriteObserver>> {
        self.observer.as_ref()
    }

    pub fn set_events(&mut self, events: Option<Arc<dyn KeyEvents>>) {
        self.events = events;
    }

    pub fn events(&self) -> Option<&Arc<dyn KeyEvents>> {
        self.events.as_ref()
    }

    /// Offer an event to shadow evaluation: one compare when the key is not in the sample, and
    /// never an allocation (a full buffer drops the event and counts it).
    #[inline(always)]
    pub fn sample(&mut self, hash: u64, size: u64, op: SampledOp) {
        if is_sampled(hash, self.sample_below) {
            if self.sampled.len() < self.sampled.capacity() {
                let size = size.min(u32::MAX as u64) as u32;
                self.sampled.push(SampledEvent { hash, size, op });
            } else {
                self.sampled_dropped += 1;
            }
        }
    }

    /// Start (`threshold` > 0, with room for `buffer` events) or stop (0) shadow sampling.
    pub fn set_sampling(&mut self, threshold: u64, buffer: usize) {
        self.sample_below = threshold;
        self.sampled = if threshold == 0 {
            Vec::new()
        } else {
            Vec::with_capacity(buffer)
        };
    }

    /// Move the sampled events into `out` (cleared first), handing back `out`'s allocation as the
    /// new buffer so neither side allocates in steady state.
    pub fn drain_sampled(&mut self, out: &mut Vec<SampledEvent>) {
        out.clear();
        if out.capacity() < self.sampled.capacity() {
            out.reserve(self.sampled.capacity());
        }
        std::mem::swap(&mut self.sampled, out);
    }

    /// This shard's counters for experiments.
    pub fn counters(&self) -> ShardCounters {
        ShardCounters {
            hits: self.stats.hits,
            misses: self.stats.misses,
            sets: self.stats.sets,
            evictions: self.stats.evictions,
            hit_bytes: self.stats.hit_bytes,
            fill_bytes: self.stats.fill_bytes,
            keys: self.len() as u64,
            bytes: self.used_bytes,
            capacity_bytes: self.capacity_bytes,
            latency: self.latency.clone(),
            sampled_dropped: self.sampled_dropped,
        }
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }
    /// Resident entries with a deadline (some may have passed it and await removal).
    pub fn keys_with_ttl(&self) -> u64 {
        self.with_ttl
    }

    /// (values' plain bytes, values' stored bytes) of resident entries.
    pub fn value_bytes(&self) -> (u64, u64) {
        (self.logical_bytes, self.value_bytes)
    }

    pub fn used_bytes(&self) -> u64 {
        self.used_bytes
    }
    pub fn capacity_bytes(&self) -> u64 {
        self.capacity_bytes
    }
    pub fn policy_name(&self) -> &str {
        self.policy.name()
    }

    fn find(&self, hash: u64, key: &[u8]) -> Option<Slot> {
        let entries = &self.entries;
        self.table
            .find(hash, |&s| {
                let e = &entries[s as usize];
                e.hash == hash && e.key() == key
            })
            .copied()
    }

    /// The slot of a live (present, unexpired) key. An expired entry found on the way is removed.
    pub fn find_live(&mut self, hash: u64, key: &[u8], now: u64) -> Option<Slot> {
        let slot = self.find(hash, key)?;
        if self.entries[slot as usize].is_expired(now) {
            self.remove_slot(slot, Removal::Expired);
            return None;
        }
        Some(slot)
    }

    pub fn entry(&self, slot: Slot) -> &Entry {
        &self.entries[slot as usize]
    }

    /// A read of `slot` (counted as a hit and reported to the policy in the next batch).
    pub fn record_hit(&mut self, slot: Slot) {
        self.stats.hits += 1;
        self.stats.hit_bytes += self.entries[slot as usize].value().len() as u64;
        self.pending_access.push(slot);
        if self.pending_access.len() >= ACCESS_BATCH {
            self.flush_access();
        }
    }

    fn flush_access(&mut self) {
        if !self.pending_access.is_empty() {
            self.policy.on_access(&self.pending_access);
            self.pending_access.clear();
        }
    }

    fn meta(&self, slot: Slot) -> EntryMeta {
        let e = &self.entries[slot as usize];
        EntryMeta {
            slot,
            hash: e.hash,
            size: e.charge().min(u32::MAX as u64) as u32,
        }
    }

    /// Store a new key (the caller checked it is absent), then evict to fit.
    pub fn insert(&mut self, hash: u64, key: &[u8], value: &[u8], form: Form, expires_at: u64) {
        // Reads batched so far happened before this insert: the policy must see them first, or
        // an LRU would rank a key read before this insert as more recent than it.
        self.flush_access();
        let entry = Entry::new(hash, key, value, form, expires_at);
        self.logical_bytes += entry.plain_len();
        self.value_bytes += value.len() as u64;
        self.with_ttl += u64::from(expires_at != 0);
        self.used_bytes += entry.charge();
        let slot = if self.free_head != NO_SLOT {
            let slot = self.free_head as usize;
            self.free_head = self.entries[slot].hash;
            self.entries[slot] = entry;
            slot as Slot
        } else {
            self.entries.push(entry);
            (self.entries.len() - 1) as Slot
        };
        let entries = &self.entries;
        self.table
            .insert_unique(hash, slot, |&s| entries[s as usize].hash);
        self.stats.sets += 1;
        self.stats.changes += 1;
        self.stats.fill_bytes += value.len() as u64;
        if let Some(o) = &self.observer {
            o.put(key, value, form, expires_at);
        }
        key_changed(&mut self.watches, &self.events, key, KeyChange::Created);
        let meta = self.meta(slot);
        self.sample(hash, meta.size as u64, SampledOp::Write);
        self.policy.on_insert(meta);
        self.evict_to_fit();
    }

    /// Replace the value of a resident key in place; the policy sees one update (the entry's
    /// size may have changed).
    pub fn overwrite(&mut self, slot: Slot, value: &[u8], form: Form, expires_at: u64) {
        self.flush_access();
        let old = self.meta(slot);
        let entry = &mut self.entries[slot as usize];
        self.used_bytes -= entry.charge();
        self.logical_bytes -= entry.plain_len();
        self.value_bytes -= entry.value().len() as u64;
        self.with_ttl -= u64::from(entry.expires_at != 0);
        self.with_ttl += u64::from(expires_at != 0);
        entry.set_value(value, form);
        entry.expires_at = expires_at;
        self.used_bytes += entry.charge();
        self.logical_bytes += entry.plain_len();
        self.value_bytes += value.len() as u64;
        if let Some(o) = &self.observer {
            o.put(entry.key(), value, form, expires_at);
        }
        key_changed(
            &mut self.watches,
            &self.events,
            entry.key(),
            KeyChange::Written,
        );
        self.stats.sets += 1;
        self.stats.changes += 1;
        let meta = self.meta(slot);
        self.sample(meta.hash, meta.size as u64, SampledOp::Write);
        self.policy.on_update(old, meta);
        self.evict_to_fit();
    }

    /// Whether the admission hook lets a new key in.
    #[inline]
    pub fn admit(&mut self, request: AdmitRequest) -> bool {
        match &mut self.admission {
            None => true,
            Some(a) => a.admit(request),
        }
    }

    pub fn replace_admission(&mut self, admission: Option<Box<dyn AdmissionPolicy>>) {
        self.admission = admission;
    }

    pub fn set_expiry(&mut self, slot: Slot, expires_at: u64) {
        let entry = &mut self.entries[slot as usize];
        if let Some(o) = &self.observer
            && entry.expires_at != expires_at
        {
            o.set_expiry(entry.key(), expires_at);
        }
        let change = if expires_at == 0 {
            KeyChange::Persisted
        } else {
            KeyChange::ExpirySet
        };
        key_changed(&mut self.watches, &self.events, entry.key(), change);
        self.with_ttl -= u64::from(entry.expires_at != 0);
        self.with_ttl += u64::from(expires_at != 0);
        entry.expires_at = expires_at;
        self.stats.changes += 1;
    }

    /// Remove a resident entry on the store's own initiative (not a policy victim).
    pub fn remove_slot(&mut self, slot: Slot, why: Removal) {
        self.flush_access();
        let meta = self.meta(slot);
        self.policy.on_remove(meta);
        self.vacate(slot, why);
    }

    fn vacate(&mut self, slot: Slot, why: Removal) {
        let hash = self.entries[slot as usize].hash;
        if why != Removal::Evicted {
            // A ghost cache evicts by its own policy; deletes and expiries it must be told.
            self.sample(hash, 0, SampledOp::Remove);
        }
        if let Ok(found) = self.table.find_entry(hash, |&s| s == slot) {
            found.remove();
        }
        let old = std::mem::replace(
            &mut self.entries[slot as usize],
            Entry::vacant(self.free_head),
        );
        self.free_head = slot as u64;
        self.used_bytes -= old.charge();
        self.logical_bytes -= old.plain_len();
        self.value_bytes -= old.value().len() as u64;
        self.with_ttl -= u64::from(old.expires_at != 0);
        if why != Removal::Expired
            && let Some(o) = &self.observer
        {
            o.remove(old.key());
        }
        let change = match why {
            Removal::Deleted => KeyChange::Deleted,
            Removal::Expired => KeyChange::Expired,
            Removal::Evicted => KeyChange::Evicted,
        };
        key_changed(&mut self.watches, &self.events, old.key(), change);
        self.stats.changes += 1;
        match why {
            Removal::Deleted => {}
            Removal::Expired => self.stats.expirations += 1,
            Removal::Evicted => self.stats.evictions += 1,
        }
    }

    /// Ask the policy for victims until the shard fits its capacity, with [`eviction_headroom`]
    /// to spare. Victims the policy names that are not resident are ignored; if the policy has
    /// nothing to offer while the shard is over capacity, it stays over and the shortfall is
    /// counted (a correct built-in policy never does this).
    fn evict_to_fit(&mut self) {
        if self.used_bytes <= self.capacity_bytes {
            return;
        }
        let target = self
            .capacity_bytes
            .saturating_sub(eviction_headroom(self.capacity_bytes));
        while self.used_bytes > target && !self.table.is_empty() {
            self.flush_access();
            let mut victims = std::mem::take(&mut self.victims);
            victims.clear();
            self.policy.victims(self.used_bytes - target, &mut victims);
            let mut freed_any = false;
            for &slot in &victims {
                if (slot as usize) < self.entries.len() && self.entries[slot as usize].is_occupied()
                {
                    self.vacate(slot, Removal::Evicted);
                    freed_any = true;
                }
            }
            self.victims = victims;
            if !freed_any {
                if self.used_bytes > self.capacity_bytes {
                    self.stats.policy_shortfalls += 1;
                }
                break;
            }
        }
    }

    pub fn set_capacity(&mut self, capacity_bytes: u64) {
        self.capacity_bytes = capacity_bytes;
        self.policy.set_capacity(capacity_bytes);
        self.evict_to_fit();
    }

    /// Swap in a new policy and tell it about every resident entry, so it starts from the cache's
    /// current contents rather than from empty.
    pub fn replace_policy(&mut self, mut policy: Box<dyn EvictionPolicy>) {
        self.pending_access.clear();
        policy.set_capacity(self.capacity_bytes);
        for slot in 0..self.entries.len() {
            if self.entries[slot].is_occupied() {
                policy.on_insert(self.meta(slot as Slot));
            }
        }
        self.policy = policy;
        self.evict_to_fit();
    }

    pub fn clear(&mut self) {
        if self.watches.any() {
            // As in Redis, a flush changes the watched keys it removes, not those already gone.
            let now = crate::clock::now_ms();
            let live: Vec<Vec<u8>> = self
                .watches
                .keys()
                .filter(|k| {
                    self.find(crate::hash::key_hash(k), k)
                        .is_some_and(|s| !self.entries[s as usize].is_expired(now))
                })
                .map(<[u8]>::to_vec)
                .collect();
            for key in live {
                self.watches.touched(&key);
            }
        }
        self.table.clear();
        self.entries.clear();
        self.entries.shrink_to_fit();
        self.free_head = NO_SLOT;
        self.pending_access.clear();
        self.policy.clear();
        self.used_bytes = 0;
        self.logical_bytes = 0;
        self.value_bytes = 0;
        self.with_ttl = 0;
        self.expiry_cursor = 0;
        self.stats.changes += 1;
        // Not reported here: the store reports a flush once, with every shard locked.
    }

    /// Look at up to `budget` slots from where the last call stopped and remove expired entries.
    /// Returns (slots examined, entries removed).
    pub fn expire_step(&mut self, now: u64, budget: usize) -> (usize, usize) {
        let n = self.entries.len();
        if n == 0 {
            return (0, 0);
        }
        let mut removed = 0;
        let examined = budget.min(n);
        for _ in 0..examined {
            if self.expiry_cursor >= self.entries.len() {
                self.expiry_cursor = 0;
            }
            let slot = self.expiry_cursor;
            self.expiry_cursor += 1;
            let e = &self.entries[slot];
            if e.is_occupied() && e.is_expired(now) {
                self.remove_slot(slot as Slot, Removal::Expired);
                removed += 1;
            }
        }
        (examined, removed)
    }

    /// Store a key from a snapshot: like a write (it replaces a resident value), but without
    /// asking the admission hook, which already admitted it once.
    pub fn restore(
        &mut self,
        hash: u64,
        key: &[u8],
        value: &[u8],
        form: Form,
        expires_at: u64,
        now: u64,
    ) {
        match self.find_live(hash, key, now) {
            Some(slot) => self.overwrite(slot, value, form, expires_at),
            None => self.insert(hash, key, value, form, expires_at),
        }
    }

    /// Every resident, unexpired entry (used for snapshots, replay and tests; not on the request
    /// path).
    pub fn for_each_live(&self, now: u64, mut f: impl FnMut(&Entry)) {
        for e in &self.entries {
            if e.is_occupied() && !e.is_expired(now) {
                f(e);
            }
        }
    }

    /// Number of slots, occupied or vacant. A present entry never changes slot (vacant slots are
    /// reused, the vector only grows until a flush), which is what makes a scan cursor of
    /// (shard, slot) miss no key that stays present.
    pub fn slot_count(&self) -> usize {
        self.entries.len()
    }

    /// Append the keys of live entries in slots `from..from + budget` to `out`. Returns the slot
    /// to continue from, or `None` once the end of the shard is reached.
    pub fn scan_keys(
        &self,
        from: usize,
        budget: usize,
        now: u64,
        out: &mut Vec<Vec<u8>>,
    ) -> Option<usize> {
        let end = from.saturating_add(budget).min(self.entries.len());
        for e in self.entries.get(from..end).unwrap_or(&[]) {
            if e.is_occupied() && !e.is_expired(now) {
                out.push(e.key().to_vec());
            }
        }
        (end < self.entries.len()).then_some(end)
    }

    /// The first live key at or after slot `from`, wrapping around; `None` in an empty shard.
    pub fn live_key_from(&self, from: usize, now: u64) -> Option<Vec<u8>> {
        let n = self.entries.len();
        (0..n)
            .map(|i| &self.entries[(from + i) % n])
            .find(|e| e.is_occupied() && !e.is_expired(now))
            .map(|e| e.key().to_vec())
    }

    pub fn charge_of(key: &[u8], value: &[u8]) -> u64 {
        charge(key.len() + value.len())
    }
}

/// `key` changed as `change` says: move its watch version and tell the key-event sink. A free
/// function over the two fields, so callers can pass a key borrowed from the shard's entries.
#[inline]
fn key_changed(
    watches: &mut Watches,
    events: &Option<Arc<dyn KeyEvents>>,
    key: &[u8],
    change: KeyChange,
) {
    watches.touched(key);
    if let Some(e) = events {
        e.changed(key, change);
    }
}

//! The sharded in-memory store behind one namespace.
//!
//! A key's hash picks its shard; each shard is an independent cache with its share of the capacity,
//! its own policy instance and its own lock. Every operation takes exactly one shard lock, briefly,
//! and never across an `.await`.

pub mod compression;
pub mod dictionary;
mod entry;
pub mod events;
mod keyspace;
mod observer;
mod shard;
mod watch;

pub use entry::{ENTRY_OVERHEAD, Form, MAX_KEY_LEN, ValueKind};
pub use events::{KeyChange, KeyEvents};
pub use keyspace::CopyOutcome;
pub use observer::{Tee, WriteObserver};
pub use watch::WatchToken;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use parking_lot::{Mutex, MutexGuard};

use crate::clock::now_ms;
use crate::error::StoreError;
use crate::experiment::{Lab, SampledEvent, SampledOp};
use crate::hash::key_hash;
use crate::plugin::{AdmissionPolicy, AdmitRequest, Router};
use crate::policy::EvictionPolicy;
use crate::stats::{ShardCounters, StoreStats};
use compression::{CompressionConfig, Encoded, Skipped};
use dictionary::Dictionaries;
use shard::{Removal, Shard};

/// When a written key expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Expiry {
    /// The namespace's default TTL (which may be "never").
    #[default]
    Default,
    /// Never, whatever the namespace default.
    Never,
    /// Keep the key's current deadline (Redis `KEEPTTL`); a new key gets the namespace default.
    Keep,
    /// After this many milliseconds (must be > 0).
    AfterMs(u64),
}

/// Write only if the key is absent (`NX`) or present (`XX`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Condition {
    #[default]
    Always,
    IfAbsent,
    IfPresent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SetOptions {
    pub expiry: Expiry,
    pub condition: Condition,
    /// Return the previous value (Redis `SET … GET`).
    pub return_old: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SetOutcome {
    /// False when the condition was not met.
    pub written: bool,
    /// The previous value, when asked for and present.
    pub old: Option<Vec<u8>>,
}

/// What an [`Store::update`] closure decides to do with the key it was shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Leave the key as it is (present or absent).
    Keep,
    /// Store `value`. [`Expiry::Keep`] keeps a present key's deadline (a new key gets the
    /// namespace default), as INCR and APPEND do.
    Put { value: Vec<u8>, expiry: Expiry },
    /// Remove the key if present.
    Delete,
}

/// A copy of one live entry, taken for a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryCopy {
    pub key: Vec<u8>,
    /// As stored: a zstd frame when `form.compressed`, a collection's encoding for collections.
    pub value: Vec<u8>,
    pub form: Form,
    /// Milliseconds of life left when copied; `None` for no expiry.
    pub ttl_ms: Option<u64>,
}

/// Remaining lifetime of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ttl {
    Missing,
    Persistent,
    RemainingMs(u64),
}

/// Shard lock padded to its own cache line, so two cores working on neighbouring shards do not
/// bounce one line between them.
#[repr(align(64))]
struct PaddedShard(Mutex<Shard>);

pub struct Store {
    shards: Box<[PaddedShard]>,
    shard_mask: usize,
    default_ttl_ms: AtomicU64,
    max_item_size: AtomicU64,
    /// The routing hook, when the namespace has one: it picks the part of the key whose hash
    /// picks the shard. Fixed for the store's life, so a key never changes shard.
    router: Option<Arc<Router>>,
    /// Record per-shard operation latencies (on only while an experiment runs: two clock reads
    /// per operation are not free).
    timing: AtomicBool,
    /// The namespace's running experiment and shadow evaluation, if any.
    lab: Lab,
    /// Value compression, when the namespace has it; see [`compression`].
    compression: parking_lot::RwLock<Option<CompressionConfig>>,
    compression_on: AtomicBool,
    compression_counters: CompressionCounters,
    /// Trained dictionaries: the current one compresses new writes, all of them decompress.
    dictionaries: parking_lot::RwLock<Arc<Dictionaries>>,
}

/// What compression did, for metrics.
#[derive(Debug, Default)]
struct CompressionCounters {
    compressed: AtomicU64,
    skipped_small: AtomicU64,
    skipped_no_savings: AtomicU64,
    nanos: AtomicU64,
}

/// A value as the shard stores it: compressed or as sent.
struct Stored<'a> {
    bytes: std::borrow::Cow<'a, [u8]>,
    form: Form,
}

/// What a store needs to know at creation; everything here can be changed live later.
#[derive(Debug, Clone, Copy)]
pub struct StoreLimits {
    pub capacity_bytes: u64,
    pub max_item_size: u64,
    /// 0 means no default expiry.
    pub default_ttl_ms: u64,
}

impl Store {
    /// A store with `shards` shards (rounded up to a power of two) and one policy per shard from
    /// `make_policy`.
    pub fn new(
        shards: usize,
        limits: StoreLimits,
        mut make_policy: impl FnMut() -> Box<dyn EvictionPolicy>,
    ) -> Self {
        let n = shards.max(1).next_power_of_two();
        let per_shard = limits.capacity_bytes / n as u64;
        let shards = (0..n)
            .map(|_| {
                let mut policy = make_policy();
                policy.set_capacity(per_shard);
                PaddedShard(Mutex::new(Shard::new(per_shard, policy)))
            })
            .collect();
        Self {
            shards,
            shard_mask: n - 1,
            default_ttl_ms: AtomicU64::new(limits.default_ttl_ms),
            max_item_size: AtomicU64::new(limits.max_item_size),
            router: None,
            timing: AtomicBool::new(false),
            lab: Lab::default(),
            compression: parking_lot::RwLock::new(None),
            compression_on: AtomicBool::new(false),
            compression_counters: CompressionCounters::default(),
            dictionaries: parking_lot::RwLock::new(Arc::default()),
        }
    }

    /// Compress values written from now on as `config` says (`None`: store them as sent).
    /// Values already stored keep their form and read back either way.
    pub fn set_compression(&self, config: Option<CompressionConfig>) {
        let on = config.is_some();
        let mut current = self.compression.write();
        if let Some(c) = config
            && current.is_none_or(|was| was.level != c.level)
        {
            let mut dictionaries = self.dictionaries.write();
            *dictionaries = Arc::new(dictionaries.at_level(c.level));
        }
        *current = config;
        self.compression_on.store(on, Ordering::Release);
    }

    /// The plain value of a compressed stored one (empty if it cannot be read: see `decode`).
    fn decode(&self, stored: &[u8]) -> Vec<u8> {
        compression::decode(stored, &self.dictionaries.read()).unwrap_or_default()
    }

    /// An entry's value as clients see it: decompressed when stored compressed.
    fn plain_value<'e>(&self, entry: &'e entry::Entry) -> std::borrow::Cow<'e, [u8]> {
        if entry.is_compressed() {
            std::borrow::Cow::Owned(self.decode(entry.value()))
        } else {
            std::borrow::Cow::Borrowed(entry.value())
        }
    }

    /// `value` as it is to be stored: compressed when the namespace compresses and it pays.
    #[inline]
    fn encode<'a>(&self, value: &'a [u8]) -> Stored<'a> {
        let raw = Stored {
            bytes: std::borrow::Cow::Borrowed(value),
            form: Form::PLAIN,
        };
        if !self.compression_on.load(Ordering::Relaxed) {
            return raw;
        }
        let Some(config) = *self.compression.read() else {
            return raw;
        };
        let counters = &self.compression_counters;
        if value.len() < config.min_bytes as usize {
            counters.skipped_small.fetch_add(1, Ordering::Relaxed);
            return raw;
        }
        let started = Instant::now();
        let dictionaries = self.dictionaries();
        let outcome = compression::encode(&config, &dictionaries, value);
        counters
            .nanos
            .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        match outcome {
            Encoded::Compressed(z) => {
                counters.compressed.fetch_add(1, Ordering::Relaxed);
                Stored {
                    bytes: std::borrow::Cow::Owned(z),
                    form: Form::string(true),
                }
            }
            Encoded::Raw(Skipped::Small) => {
                counters.skipped_small.fetch_add(1, Ordering::Relaxed);
                raw
            }
            Encoded::Raw(Skipped::NoSavings) => {
                counters.skipped_no_savings.fetch_add(1, Ordering::Relaxed);
                raw
            }
        }
    }

    /// The namespace's experiment and shadow evaluation slots.
    pub fn lab(&self) -> &Lab {
        &self.lab
    }

    /// Switch per-shard latency recording on or off.
    pub fn set_timing(&self, on: bool) {
        self.timing.store(on, Ordering::Relaxed);
    }

    #[inline]
    fn timer(&self) -> Option<Instant> {
        if self.timing.load(Ordering::Relaxed) {
            Some(Instant::now())
        } else {
            None
        }
    }

    /// The counters of shard `index` (`None` past the last shard).
    pub fn shard_counters(&self, index: usize) -> Option<ShardCounters> {
        self.shards.get(index).map(|s| s.0.lock().counters())
    }

    /// Replace the policy of the listed shards only (indices past the last shard are ignored),
    /// one shard at a time, each new instance replayed the shard's resident keys.
    pub fn replace_policy_on(
        &self,
        shards: &[usize],
        mut make_policy: impl FnMut() -> Box<dyn EvictionPolicy>,
    ) {
        for &i in shards {
            if let Some(s) = self.shards.get(i) {
                let policy = make_policy();
                s.0.lock().replace_policy(policy);
            }
        }
    }

    /// The policy name of shard `index`.
    pub fn shard_policy_name(&self, index: usize) -> Option<String> {
        self.shards
            .get(index)
            .map(|s| s.0.lock().policy_name().to_string())
    }

    /// Start shadow sampling at `threshold` (see [`crate::experiment::threshold_for`]) with room
    /// for `buffer` events per shard, or stop it with 0.
    pub fn set_sampling(&self, threshold: u64, buffer: usize) {
        for s in self.shards.iter() {
            s.0.lock().set_sampling(threshold, buffer);
        }
    }

    /// Take shard `index`'s sampled events into `out` (see [`Shard::drain_sampled`]).
    pub fn drain_sampled(&self, index: usize, out: &mut Vec<SampledEvent>) {
        if let Some(s) = self.shards.get(index) {
            s.0.lock().drain_sampled(out);
        }
    }

    /// Route keys through a routing hook from now on. Only while the store is not yet shared
    /// (at namespace creation): routing decides which shard holds a key.
    pub fn set_router(&mut self, router: Router) {
        self.router = Some(Arc::new(router));
    }

    /// The routing hook placing this store's keys, if one is attached (it decides the key's
    /// shard here, and in a cluster its hash slot).
    pub fn router(&self) -> Option<&Arc<Router>> {
        self.router.as_ref()
    }

    /// The part of `key` that decides its placement: what the routing hook names, or the whole key.
    pub fn routing_key<'k>(&self, key: &'k [u8]) -> &'k [u8] {
        match &self.router {
            Some(r) => r.route(key, key_hash(key)),
            None => key,
        }
    }

    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// The shard holding `key` (whose hash is `hash`): by the routing key's hash when a routing
    /// hook is attached.
    #[inline]
    fn shard_of(&self, key: &[u8], hash: u64) -> &Mutex<Shard> {
        &self.shards[self.shard_index(key, hash)].0
    }

    #[inline]
    fn shard_index(&self, key: &[u8], hash: u64) -> usize {
        let routed = match &self.router {
            None => hash,
            Some(r) => r.route_hash(key, hash),
        };
        // High bits pick the shard; hashbrown uses the low and top-7 bits inside it.
        ((routed >> 32) as usize) & self.shard_mask
    }

    fn check_key(key: &[u8]) -> Result<(), StoreError> {
        if key.is_empty() {
            return Err(StoreError::EmptyKey);
        }
        if key.len() > MAX_KEY_LEN {
            return Err(StoreError::KeyTooLong {
                len: key.len(),
                max: MAX_KEY_LEN,
            });
        }
        Ok(())
    }

    fn check_item(&self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.check_item_len(key, value.len() as u64)
    }

    /// [`check_item`](Self::check_item) for a value of `len` plain bytes.
    fn check_item_len(&self, key: &[u8], len: u64) -> Result<(), StoreError> {
        Self::check_key(key)?;
        let max = self.max_item_size.load(Ordering::Relaxed);
        if key.len() as u64 + len > max {
            return Err(StoreError::ValueTooLarge {
                len: len as usize,
                max,
            });
        }
        Ok(())
    }

    /// The deadline for a newly written value; `Keep` is resolved by the caller for present keys.
    fn deadline(&self, expiry: Expiry, now: u64) -> u64 {
        match expiry {
            Expiry::Default | Expiry::Keep => match self.default_ttl_ms.load(Ordering::Relaxed) {
                0 => 0,
                ttl => now.saturating_add(ttl),
            },
            Expiry::Never => 0,
            Expiry::AfterMs(ms) => now.saturating_add(ms),
        }
    }

    /// Call `f` with the string value of `key` if it is present and unexpired; `None` also for a
    /// key holding another kind of value (MGET's and read-through's view). `f` runs under the
    /// shard lock: copy the bytes out, do nothing slow.
    #[inline]
    pub fn get<R>(&self, key: &[u8], f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        self.read(key, ValueKind::String, f).ok().flatten()
    }

    /// Call `f` with the value of `key` if it is present, unexpired and of `kind` (a collection's
    /// encoding for collections); `Err(WrongType)` for a key of another kind. Counts as an access
    /// (a hit or a miss). `f` runs under the shard lock: copy out, do nothing slow.
    #[inline]
    pub fn read<R>(
        &self,
        key: &[u8],
        kind: ValueKind,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<Option<R>, StoreError> {
        let hash = key_hash(key);
        let now = now_ms();
        let started = self.timer();
        let mut shard = self.shard_of(key, hash).lock();
        let mut f = Some(f);
        let out = match shard.find_live(hash, key, now) {
            Some(slot) if shard.entry(slot).kind() != kind => return Err(StoreError::WrongType),
            Some(slot) => {
                shard.record_hit(slot);
                let size = shard.entry(slot).charge();
                shard.sample(hash, size, SampledOp::Read { hit: true });
                let entry = shard.entry(slot);
                if entry.is_compressed() {
                    // Copied out here, decompressed once the lock is released.
                    Some(Err(entry.value().to_vec()))
                } else {
                    Some(Ok(f.take().map(|f| f(entry.value()))))
                }
            }
            None => {
                shard.stats.misses += 1;
                shard.sample(hash, 0, SampledOp::Read { hit: false });
                None
            }
        };
        if let Some(t) = started {
            shard.latency.record(t.elapsed().as_nanos() as u64);
        }
        drop(shard);
        Ok(match out {
            None => None,
            Some(Ok(r)) => r,
            Some(Err(z)) => f.map(|f| f(&self.decode(&z))),
        })
    }

    /// Bytes `key` is charged against the namespace's capacity (key, stored value and the
    /// per-entry overhead), if present; not an access (MEMORY USAGE).
    pub fn memory_usage(&self, key: &[u8]) -> Option<u64> {
        let hash = key_hash(key);
        let mut shard = self.shard_of(key, hash).lock();
        let slot = shard.find_live(hash, key, now_ms())?;
        Some(shard.entry(slot).charge())
    }

    /// The kind of value `key` holds, if present; not an access (TYPE, SCAN's TYPE filter).
    pub fn kind(&self, key: &[u8]) -> Option<ValueKind> {
        let hash = key_hash(key);
        let mut shard = self.shard_of(key, hash).lock();
        let slot = shard.find_live(hash, key, now_ms())?;
        Some(shard.entry(slot).kind())
    }

    /// The value of `key`, copied.
    pub fn get_vec(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.get(key, <[u8]>::to_vec)
    }

    pub fn set(
        &self,
        key: &[u8],
        value: &[u8],
        opts: SetOptions,
    ) -> Result<SetOutcome, StoreError> {
        self.check_item(key, value)?;
        if opts.expiry == Expiry::AfterMs(0) {
            return Err(StoreError::InvalidTtl("TTL must be positive".into()));
        }
        let stored = self.encode(value);
        let hash = key_hash(key);
        let now = now_ms();
        let started = self.timer();
        let mut shard = self.shard_of(key, hash).lock();
        let existing = shard.find_live(hash, key, now);
        let old = match (opts.return_old, existing) {
            // SET … GET reads the old value as GET would.
            (true, Some(slot)) if shard.entry(slot).kind() != ValueKind::String => {
                return Err(StoreError::WrongType);
            }
            (true, Some(slot)) => Some(self.plain_value(shard.entry(slot)).into_owned()),
            _ => None,
        };
        let allowed = match opts.condition {
            Condition::Always => true,
            Condition::IfAbsent => existing.is_none(),
            Condition::IfPresent => existing.is_some(),
        };
        if !allowed {
            return Ok(SetOutcome {
                written: false,
                old,
            });
        }
        match existing {
            Some(slot) => {
                let deadline = match opts.expiry {
                    Expiry::Keep => shard.entry(slot).expires_at,
                    e => self.deadline(e, now),
                };
                shard.overwrite(slot, &stored.bytes, stored.form, deadline);
            }
            None => {
                let deadline = self.deadline(opts.expiry, now);
                insert_admitted(&mut shard, hash, key, &stored, deadline, now);
            }
        }
        if let Some(t) = started {
            shard.latency.record(t.elapsed().as_nanos() as u64);
        }
        Ok(SetOutcome { written: true, old })
    }

    /// Read-modify-write of one key under its shard lock: `f` sees the current value (`None`
    /// when absent or expired) and decides the [`Change`]; its result is returned. Nothing else
    /// can touch the key in between, so APPEND, SETRANGE, GETDEL and INCRBYFLOAT are atomic.
    /// `f` runs under the lock: compute, do nothing slow. A value `f` puts is checked against the
    /// namespace's limits like any write (an error leaves the key unchanged); a new key passes
    /// the admission hook. Reading through `update` does not count as an access.
    pub fn update<R>(
        &self,
        key: &[u8],
        f: impl FnOnce(Option<&[u8]>) -> Result<(Change, R), StoreError>,
    ) -> Result<R, StoreError> {
        self.update_as(key, ValueKind::String, f)
    }

    /// [`update`](Self::update) for a key holding (or to hold) a value of `kind`: a present key of
    /// another kind fails with `WrongType` before `f` runs. A put value is `kind`'s encoding;
    /// collections are never compressed. This is how every collection command changes its key:
    /// decode, change, encode, all under the one shard lock.
    pub fn update_as<R>(
        &self,
        key: &[u8],
        kind: ValueKind,
        f: impl FnOnce(Option<&[u8]>) -> Result<(Change, R), StoreError>,
    ) -> Result<R, StoreError> {
        Self::check_key(key)?;
        let hash = key_hash(key);
        let now = now_ms();
        let mut shard = self.shard_of(key, hash).lock();
        let existing = shard.find_live(hash, key, now);
        if let Some(slot) = existing
            && shard.entry(slot).kind() != kind
        {
            return Err(StoreError::WrongType);
        }
        let (change, out) = {
            let current = existing.map(|slot| self.plain_value(shard.entry(slot)));
            f(current.as_deref())?
        };
        self.check_change(key, &change)?;
        self.apply(&mut shard, (hash, key), existing, change, kind, now);
        Ok(out)
    }

    /// [`update_as`](Self::update_as) of two distinct keys at once, both of `kind` (LMOVE,
    /// SMOVE): both shards stay locked from reading to writing, so no one sees the element in
    /// neither or both. A present key of another kind fails with `WrongType` before `f` runs; if
    /// either change is refused, neither is applied.
    pub fn update_pair_as<R>(
        &self,
        keys: (&[u8], &[u8]),
        kind: ValueKind,
        f: impl FnOnce(Option<&[u8]>, Option<&[u8]>) -> Result<(Change, Change, R), StoreError>,
    ) -> Result<R, StoreError> {
        let (a, b) = keys;
        Self::check_key(a)?;
        Self::check_key(b)?;
        debug_assert!(a != b, "update_pair_as needs two distinct keys");
        let (ha, hb) = (key_hash(a), key_hash(b));
        let now = now_ms();
        let (mut first, mut second) =
            self.lock_pair(self.shard_index(a, ha), self.shard_index(b, hb));
        let sa = first.find_live(ha, a, now);
        let sb = match second.as_deref_mut() {
            Some(shard) => shard.find_live(hb, b, now),
            None => first.find_live(hb, b, now),
        };
        let kind_of =
            |shard: &Shard, slot: Option<crate::policy::Slot>| slot.map(|s| shard.entry(s).kind());
        let kb = kind_of(second.as_deref().unwrap_or(&first), sb);
        if kind_of(&first, sa).is_some_and(|k| k != kind) || kb.is_some_and(|k| k != kind) {
            return Err(StoreError::WrongType);
        }
        let (ca, cb, out) = {
            let va = sa.map(|s| self.plain_value(first.entry(s)));
            let shard_b = second.as_deref().unwrap_or(&first);
            let vb = sb.map(|s| self.plain_value(shard_b.entry(s)));
            f(va.as_deref(), vb.as_deref())?
        };
        self.check_change(a, &ca)?;
        self.check_change(b, &cb)?;
        self.apply(&mut first, (ha, a), sa, ca, kind, now);
        // Removing or writing one key never moves another entry, so `sb` is still valid.
        let shard_b = match second.as_deref_mut() {
            Some(shard) => shard,
            None => &mut *first,
        };
        self.apply(shard_b, (hb, b), sb, cb, kind, now);
        Ok(out)
    }

    /// Whether `change` to `key` may be applied: a put within the namespace's limits.
    fn check_change(&self, key: &[u8], change: &Change) -> Result<(), StoreError> {
        if let Change::Put { value, expiry } = change {
            self.check_item(key, value)?;
            if *expiry == Expiry::AfterMs(0) {
                return Err(StoreError::InvalidTtl("TTL must be positive".into()));
            }
        }
        Ok(())
    }

    /// Apply a checked `change` to `key` (`existing`: its live slot) in `shard`, as `kind`.
    fn apply(
        &self,
        shard: &mut Shard,
        (hash, key): (u64, &[u8]),
        existing: Option<crate::policy::Slot>,
        change: Change,
        kind: ValueKind,
        now: u64,
    ) {
        match change {
            Change::Keep => {}
            Change::Delete => {
                if let Some(slot) = existing {
                    shard.remove_slot(slot, Removal::Deleted);
                }
            }
            Change::Put { value, expiry } => {
                // Under the lock: the value must not change between reading and writing it.
                let stored = match kind {
                    ValueKind::String => self.encode(&value),
                    kind => Stored {
                        bytes: std::borrow::Cow::Borrowed(&value),
                        form: Form::of(kind),
                    },
                };
                match existing {
                    Some(slot) => {
                        let deadline = match expiry {
                            Expiry::Keep => shard.entry(slot).expires_at,
                            e => self.deadline(e, now),
                        };
                        shard.overwrite(slot, &stored.bytes, stored.form, deadline);
                    }
                    None => {
                        let deadline = self.deadline(expiry, now);
                        insert_admitted(shard, hash, key, &stored, deadline, now);
                    }
                }
            }
        }
    }

    /// Call `f` with the kind and plain value of `key` without counting an access (OBJECT,
    /// STRLEN-like introspection must not change what the policy evicts).
    pub fn peek<R>(&self, key: &[u8], f: impl FnOnce(ValueKind, &[u8]) -> R) -> Option<R> {
        let hash = key_hash(key);
        let mut shard = self.shard_of(key, hash).lock();
        let slot = shard.find_live(hash, key, now_ms())?;
        let entry = shard.entry(slot);
        let kind = entry.kind();
        if !entry.is_compressed() {
            return Some(f(kind, entry.value()));
        }
        let z = entry.value().to_vec();
        drop(shard);
        Some(f(kind, &self.decode(&z)))
    }

    /// Remove `key`; true if it was present.
    pub fn delete(&self, key: &[u8]) -> bool {
        self.remove(key, Removal::Deleted)
    }

    /// Remove `key` if `doomed` still says so once the key's shard is locked, so a write to the
    /// key (which takes the same lock) cannot slip between the check and the removal; true if it
    /// was removed. For sweeps that decide by state that changes while they run.
    pub fn delete_if(&self, key: &[u8], doomed: impl FnOnce() -> bool) -> bool {
        let hash = key_hash(key);
        let mut shard = self.shard_of(key, hash).lock();
        match shard.find_live(hash, key, now_ms()) {
            Some(slot) if doomed() => {
                shard.remove_slot(slot, Removal::Deleted);
                true
            }
            _ => false,
        }
    }

    /// Evict `key` now, as if the policy had chosen it (counted as an eviction).
    pub fn evict(&self, key: &[u8]) -> bool {
        self.remove(key, Removal::Evicted)
    }

    fn remove(&self, key: &[u8], why: Removal) -> bool {
        let hash = key_hash(key);
        let mut shard = self.shard_of(key, hash).lock();
        match shard.find_live(hash, key, now_ms()) {
            Some(slot) => {
                shard.remove_slot(slot, why);
                true
            }
            None => false,
        }
    }

    pub fn exists(&self, key: &[u8]) -> bool {
        let hash = key_hash(key);
        self.shard_of(key, hash)
            .lock()
            .find_live(hash, key, now_ms())
            .is_some()
    }

    /// Set (`Some(ms)`, > 0) or clear (`None`) the expiry of a present key; false if absent.
    pub fn expire(&self, key: &[u8], ttl_ms: Option<u64>) -> bool {
        let hash = key_hash(key);
        let now = now_ms();
        let mut shard = self.shard_of(key, hash).lock();
        let Some(slot) = shard.find_live(hash, key, now) else {
            return false;
        };
        match ttl_ms {
            // Redis semantics: a non-positive TTL deletes the key.
            Some(0) => shard.remove_slot(slot, Removal::Deleted),
            Some(ms) => shard.set_expiry(slot, now.saturating_add(ms)),
            None => shard.set_expiry(slot, 0),
        }
        true
    }

    /// Sliding expiry: push a present key's deadline to `ttl_ms` from now, or the namespace default
    /// when `None`. Counts as an access. False if absent.
    pub fn touch(&self, key: &[u8], ttl_ms: Option<u64>) -> bool {
        let hash = key_hash(key);
        let now = now_ms();
        let mut shard = self.shard_of(key, hash).lock();
        let Some(slot) = shard.find_live(hash, key, now) else {
            return false;
        };
        let expiry = match ttl_ms {
            Some(ms) if ms > 0 => Expiry::AfterMs(ms),
            _ => Expiry::Default,
        };
        let current = shard.entry(slot).expires_at;
        let deadline = match expiry {
            // No namespace default: keep whatever the key had.
            Expiry::Default if self.default_ttl_ms.load(Ordering::Relaxed) == 0 => current,
            e => self.deadline(e, now),
        };
        shard.set_expiry(slot, deadline);
        shard.record_hit(slot);
        true
    }

    pub fn ttl(&self, key: &[u8]) -> Ttl {
        let hash = key_hash(key);
        let now = now_ms();
        let mut shard = self.shard_of(key, hash).lock();
        match shard.find_live(hash, key, now) {
            None => Ttl::Missing,
            Some(slot) => match shard.entry(slot).expires_at {
                0 => Ttl::Persistent,
                t => Ttl::RemainingMs(t - now),
            },
        }
    }

    /// Add `delta` to the integer stored at `key` (absent counts as 0) and return the result.
    /// The key keeps its expiry; a new key gets the namespace default.
    pub fn incr_by(&self, key: &[u8], delta: i64) -> Result<i64, StoreError> {
        Self::check_key(key)?;
        let hash = key_hash(key);
        let now = now_ms();
        let mut shard = self.shard_of(key, hash).lock();
        let existing = shard.find_live(hash, key, now);
        let current = match existing {
            Some(slot) if shard.entry(slot).kind() != ValueKind::String => {
                return Err(StoreError::WrongType);
            }
            Some(slot) => {
                parse_i64(&self.plain_value(shard.entry(slot))).ok_or(StoreError::NotAnInteger)?
            }
            None => 0,
        };
        let next = current.checked_add(delta).ok_or(StoreError::Overflow)?;
        let mut buf = itoa_buf(next);
        let text = buf.as_bytes_mut();
        match existing {
            Some(slot) => {
                let keep = shard.entry(slot).expires_at;
                shard.overwrite(slot, text, Form::PLAIN, keep);
            }
            None => {
                let deadline = self.deadline(Expiry::Default, now);
                shard.insert(hash, key, text, Form::PLAIN, deadline);
            }
        }
        Ok(next)
    }

    /// Attach (or, with `None`, detach) the observer told of every change from now on; see
    /// [`WriteObserver`]. Shards switch one at a time.
    pub fn set_observer(&self, observer: Option<std::sync::Arc<dyn WriteObserver>>) {
        for s in self.shards.iter() {
            s.0.lock().set_observer(observer.clone());
        }
    }

    /// Attach (or detach) the sink told that keys changed; see [`KeyEvents`].
    pub fn set_key_events(&self, events: Option<std::sync::Arc<dyn KeyEvents>>) {
        for s in self.shards.iter() {
            s.0.lock().set_events(events.clone());
        }
    }

    /// Drop every key. Every shard is locked for the flush (in index order, as every multi-shard
    /// operation locks), so the observer sees one flush that no write straddles.
    pub fn flush(&self) {
        let mut guards: Vec<MutexGuard<'_, Shard>> =
            self.shards.iter().map(|s| s.0.lock()).collect();
        for shard in guards.iter_mut() {
            shard.clear();
        }
        if let Some(o) = guards[0].observer() {
            o.clear();
        }
        if let Some(e) = guards[0].events() {
            e.flushed();
        }
    }

    pub fn set_capacity(&self, capacity_bytes: u64) {
        let per_shard = capacity_bytes / self.shards.len() as u64;
        for s in self.shards.iter() {
            s.0.lock().set_capacity(per_shard);
        }
    }

    pub fn set_default_ttl_ms(&self, ttl_ms: u64) {
        self.default_ttl_ms.store(ttl_ms, Ordering::Relaxed);
    }

    /// Largest key + value this store accepts.
    pub fn max_item_size(&self) -> u64 {
        self.max_item_size.load(Ordering::Relaxed)
    }

    pub fn set_max_item_size(&self, bytes: u64) {
        self.max_item_size.store(bytes, Ordering::Relaxed);
    }

    /// Replace every shard's policy, one shard at a time; each new instance is told about the
    /// shard's resident keys first.
    pub fn replace_policy(&self, mut make_policy: impl FnMut() -> Box<dyn EvictionPolicy>) {
        for s in self.shards.iter() {
            let policy = make_policy();
            s.0.lock().replace_policy(policy);
        }
    }

    /// Replace every shard's admission hook (`None` removes it), one shard at a time.
    pub fn replace_admission(&self, mut make: impl FnMut() -> Option<Box<dyn AdmissionPolicy>>) {
        for s in self.shards.iter() {
            let admission = make();
            s.0.lock().replace_admission(admission);
        }
    }

    /// Replace the admission hook of the listed shards only (`None` removes it); indices past the
    /// last shard are ignored.
    pub fn replace_admission_on(
        &self,
        shards: &[usize],
        mut make: impl FnMut() -> Option<Box<dyn AdmissionPolicy>>,
    ) {
        for &i in shards {
            if let Some(s) = self.shards.get(i) {
                let admission = make();
                s.0.lock().replace_admission(admission);
            }
        }
    }

    /// The name of the policy currently serving (shard 0's; all shards agree outside a swap).
    pub fn policy_name(&self) -> String {
        self.shards[0].0.lock().policy_name().to_string()
    }

    /// One round of active expiry: up to `budget_per_shard` slots examined in each shard, one shard
    /// lock at a time. Returns the number of expired entries removed.
    pub fn expire_step(&self, budget_per_shard: usize) -> usize {
        let now = now_ms();
        self.shards
            .iter()
            .map(|s| s.0.lock().expire_step(now, budget_per_shard).1)
            .sum()
    }

    pub fn stats(&self) -> StoreStats {
        let mut total = StoreStats::default();
        for s in self.shards.iter() {
            let shard = s.0.lock();
            total.add_shard(
                &shard.stats,
                shard.len(),
                shard.used_bytes(),
                shard.capacity_bytes(),
            );
            let (plain, stored) = shard.value_bytes();
            total.value_bytes_plain += plain;
            total.value_bytes_stored += stored;
            total.keys_with_ttl += shard.keys_with_ttl();
        }
        let c = &self.compression_counters;
        total.compressed_writes = c.compressed.load(Ordering::Relaxed);
        total.compression_skipped_small = c.skipped_small.load(Ordering::Relaxed);
        total.compression_skipped_no_savings = c.skipped_no_savings.load(Ordering::Relaxed);
        total.compression_nanos = c.nanos.load(Ordering::Relaxed);
        total
    }

    /// Copy shard `index`'s live entries into `out` (appending), holding its lock only while
    /// copying. For snapshots: the caller serialises outside the lock.
    pub fn copy_shard(&self, index: usize, out: &mut Vec<EntryCopy>) {
        let Some(shard) = self.shards.get(index) else {
            return;
        };
        let now = now_ms();
        shard.0.lock().for_each_live(now, |e| {
            out.push(EntryCopy {
                key: e.key().to_vec(),
                value: e.value().to_vec(),
                form: e.form(),
                ttl_ms: (e.expires_at != 0).then(|| e.expires_at - now),
            })
        });
    }

    /// Call `f` with every live entry of shard `index` — key, stored value (as
    /// [`EntryCopy::value`]), form and deadline (the store's clock, 0 for none, as a
    /// [`WriteObserver`] is told) — *while holding the shard's lock*, so no write to those keys
    /// happens between the read and what `f` does with it. For copying a slot to a new replica:
    /// what `f` queues is ordered before any later change to the key. `f` must be short and
    /// must not touch this store.
    pub fn visit_shard_locked(&self, index: usize, mut f: impl FnMut(&[u8], &[u8], Form, u64)) {
        let Some(shard) = self.shards.get(index) else {
            return;
        };
        let now = now_ms();
        shard
            .0
            .lock()
            .for_each_live(now, |e| f(e.key(), e.value(), e.form(), e.expires_at));
    }

    /// Put back an entry from a snapshot: `ttl_ms` is what remains of its life (`None`: no
    /// expiry). Bypasses the admission hook; eviction applies as to any write. Fails only on a
    /// key or value this namespace does not accept (its limits changed since the save).
    /// `value` is as it was stored: a zstd frame when `form.compressed` (snapshots and the log
    /// keep values in their stored form), a collection's encoding (checked here) for collections.
    pub fn restore(
        &self,
        key: &[u8],
        value: &[u8],
        form: Form,
        ttl_ms: Option<u64>,
    ) -> Result<(), StoreError> {
        if form.kind != ValueKind::String
            && (form.compressed || !crate::value::is_valid(form.kind, value))
        {
            return Err(StoreError::CorruptValue);
        }
        // The frame header names the plain length; reading it is the check (no decompression).
        let plain_len = if form.compressed {
            if let Some(id) = dictionary::id_of_frame(value)
                && self.dictionaries.read().get(id).is_none()
            {
                // Compressed with a dictionary the catalog does not hold: unreadable.
                return Err(StoreError::CorruptValue);
            }
            compression::frame_len(value).ok_or(StoreError::CorruptValue)?
        } else {
            value.len() as u64
        };
        self.check_item_len(key, plain_len)?;
        let hash = key_hash(key);
        let now = now_ms();
        let deadline = ttl_ms.map_or(0, |ms| now.saturating_add(ms.max(1)));
        self.shard_of(key, hash)
            .lock()
            .restore(hash, key, value, form, deadline, now);
        Ok(())
    }

    /// A number that grows with every change to the contents (writes, removals, evictions,
    /// expiries, TTL changes, flushes); equal readings mean nothing changed in between.
    pub fn changes(&self) -> u64 {
        self.shards.iter().map(|s| s.0.lock().stats.changes).sum()
    }

    /// Every live key with its value; for tests and tooling, not the request path.
    pub fn snapshot(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        let now = now_ms();
        let mut out = Vec::new();
        for s in self.shards.iter() {
            s.0.lock().for_each_live(now, |e| {
                out.push((e.key().to_vec(), self.plain_value(e).into_owned()))
            });
        }
        out
    }
}

/// Store a new key (the caller checked it is absent) if the admission hook lets it in. A refused
/// key is acknowledged but not stored, as a cache may always drop what it holds.
fn insert_admitted(
    shard: &mut Shard,
    hash: u64,
    key: &[u8],
    value: &Stored<'_>,
    deadline: u64,
    now: u64,
) {
    let ttl_ms = if deadline == 0 { 0 } else { deadline - now };
    let size = Shard::charge_of(key, &value.bytes).min(u32::MAX as u64) as u32;
    if shard.admit(AdmitRequest { hash, size, ttl_ms }) {
        shard.insert(hash, key, &value.bytes, value.form, deadline);
    }
}

fn parse_i64(bytes: &[u8]) -> Option<i64> {
    std::str::from_utf8(bytes).ok()?.parse().ok().filter(|_| {
        // Redis refuses "+1", " 1" and "01"-style forms only partly; we accept what i64 parses
        // except a leading '+' so INCR round-trips exactly what it wrote.
        bytes.first() != Some(&b'+')
    })
}

/// A small stack buffer holding the decimal text of an i64.
struct ItoaBuf {
    buf: [u8; 20],
    start: usize,
}

impl ItoaBuf {
    fn as_bytes_mut(&mut self) -> &[u8] {
        &self.buf[self.start..]
    }
}

fn itoa_buf(n: i64) -> ItoaBuf {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let neg = n < 0;
    let mut v = n.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if neg {
        i -= 1;
        buf[i] = b'-';
    }
    ItoaBuf { buf, start: i }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod keyspace_tests;

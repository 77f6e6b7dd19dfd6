//! The traits a plugin implements, one per hook, and the values they see.

use crate::abi;

/// What `larder_init` tells an instance about where it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InitContext {
    /// xxh3-64 of the namespace name.
    pub namespace_id: u64,
    /// The shard (or pool slot) this instance serves.
    pub shard: u32,
    /// The shard's capacity in bytes (0 for hooks without one).
    pub capacity_bytes: u64,
    /// A reproducible seed for this instance (the `random` import is seeded from it too).
    pub seed: u64,
}

/// Every plugin type implements this (usually with no methods) and `Default`: the SDK creates
/// the value with `Default::default()` when the instance starts, then calls [`Plugin::init`].
pub trait Plugin: Default + 'static {
    /// Called once per instance, before any hook. Default: nothing.
    fn init(&mut self, ctx: &InitContext) {
        let _ = ctx;
    }
}

/// A resident entry, as eviction events name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// xxh3-64 of the key: stable across removals, good for frequency sketches and ghost lists.
    pub hash: u64,
    /// Dense handle, stable while resident, reused afterwards: index your per-entry arrays by it.
    pub slot: u32,
    /// Bytes charged (key + value + overhead); never 0.
    pub size: u32,
}

/// Collects victim slots into the scratch buffer.
pub struct Victims {
    pub(crate) len: usize,
    pub(crate) max: usize,
}

impl Victims {
    /// Name `slot` as a victim. Returns false (and ignores it) when the answer is full.
    /// A victim must be resident; forget it: the host sends no remove event for it.
    #[inline]
    pub fn push(&mut self, slot: u32) -> bool {
        if self.len >= self.max {
            return false;
        }
        crate::rt::write_u32(self.len * 4, slot);
        self.len += 1;
        true
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn is_full(&self) -> bool {
        self.len >= self.max
    }
}

/// The eviction hook.
///
/// Contract: events come in order and are never concurrent; every slot in `on_access` /
/// `on_remove` was announced by `on_insert` and not yet removed or named as a victim. `victims`
/// must name resident slots only, each once, forget them, and name at least one whenever anything
/// is resident — the host ignores invalid victims, and treats an answer without a valid one as a
/// fault. Keep each event O(1): the cache's hot path runs through here.
pub trait Eviction: Plugin {
    /// The shard's capacity changed (also sent once after start). Default: ignored.
    fn set_capacity(&mut self, capacity_bytes: u64) {
        let _ = capacity_bytes;
    }
    /// `entry` became resident.
    fn on_insert(&mut self, entry: Entry);
    /// `entry` was read. Default: ignored (a FIFO needs no accesses).
    fn on_access(&mut self, entry: Entry) {
        let _ = entry;
    }
    /// `entry` left on its own (deleted or expired).
    fn on_remove(&mut self, entry: Entry);
    /// The value of a resident entry was replaced: `new` has the slot and key hash of `old` and
    /// possibly another size. Default: `on_remove(old)` then `on_insert(new)`, which is what a
    /// plugin built for ABI 1 was sent. Most policies should rather count a write as a use and
    /// keep the entry where it is.
    fn on_update(&mut self, old: Entry, new: Entry) {
        self.on_remove(old);
        self.on_insert(new);
    }
    /// Name victims freeing about `bytes` (more than enough is fine).
    fn victims(&mut self, bytes: u64, out: &mut Victims);
    /// Forget every entry (the namespace was flushed).
    fn clear(&mut self);
    /// ABI 3: the plugin's per-slot read counters, for a policy whose read is nothing but a
    /// saturating increment of one byte (a CLOCK or SIEVE visited bit, an S3-FIFO frequency).
    /// Return `(counters, max)`: one byte per slot, indexed by slot, saturating at `max` (1 to
    /// 255). The host then bumps `counters[slot]` itself on a read instead of sending an access
    /// event, which makes a hit cost the plugin nothing. Default: `None` (every read is an event).
    ///
    /// Contract when `Some`: `on_access` does exactly `counters[s] = min(counters[s] + 1, max)`
    /// and nothing else (the host still sends a read as an event when it cannot bump in place:
    /// the slot's insert is still queued, or the slot lies past `counters`); processing an event
    /// for one slot never reads or writes another slot's counter (only `victims` may); and the
    /// slice covers every resident slot whose insert was processed. The SDK asks again after
    /// every call, so the vector may grow and move.
    fn access_counters(&mut self) -> Option<(&mut [u8], u8)> {
        None
    }
}

/// What an admission decision sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdmitRequest {
    pub hash: u64,
    /// Bytes the entry would be charged.
    pub size: u32,
    /// Time to live in milliseconds; 0 = no expiry.
    pub ttl_ms: u64,
}

/// How the host consults an admission plugin (ABI 4), chosen once per instance after
/// [`Plugin::init`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdmissionMode {
    /// [`Admission::admit`] is called once per new key and its answer decides. The default.
    Decide,
    /// The hook is never called: every key is admitted, at no cost.
    Never,
    /// The host decides each new key from [`Admission::verdicts`] without calling the plugin, and
    /// reports the requests (with the verdict it gave) to [`Admission::observe`] in batches of up
    /// to 256. A deciding policy then costs a fraction of a call per key; its verdicts lag the
    /// requests by up to one batch, and context tags are not visible to `observe`.
    Observe,
}

/// The admission hook: consulted once per write of a key that is not resident.
///
/// Contract: answer quickly and deterministically enough to be reasoned about; the request's
/// context tags are readable with [`crate::host::tag`] during `admit`.
pub trait Admission: Plugin {
    /// True to store the key, false to drop it (called only in [`AdmissionMode::Decide`]).
    fn admit(&mut self, request: &AdmitRequest) -> bool;
    /// How the host should consult this instance; asked once, after `init`. Default: `Decide`.
    fn mode(&mut self) -> AdmissionMode {
        AdmissionMode::Decide
    }
    /// [`AdmissionMode::Observe`]: a request the host decided, `admitted` saying how. Default:
    /// ignored.
    fn observe(&mut self, request: &AdmitRequest, admitted: bool) {
        let _ = (request, admitted);
    }
    /// [`AdmissionMode::Observe`]: the verdict map. A key whose hash `h` has bit `h % (8 *
    /// map.len())` set (byte `i / 8`, least significant bit first) is admitted; clear, dropped.
    /// `None` or an empty map admits every key. Asked again after every batch of `observe` calls,
    /// so the map may grow and move. Default: `None`.
    fn verdicts(&mut self) -> Option<&[u8]> {
        None
    }
}

/// Collects prefetch keys into the scratch buffer.
pub struct PrefetchKeys {
    pub(crate) count: usize,
    pub(crate) offset: usize,
}

impl PrefetchKeys {
    /// Ask for `key` to be prefetched. Returns false (and ignores it) when the answer is full
    /// ([`abi::MAX_PREFETCH_KEYS`] keys) or `key` is empty, too long or does not fit.
    pub fn push(&mut self, key: &[u8]) -> bool {
        let end = self.offset + 4 + key.len();
        if self.count >= abi::MAX_PREFETCH_KEYS
            || key.is_empty()
            || key.len() > abi::MAX_KEY_LEN
            || end > abi::MIN_SCRATCH_LEN
        {
            return false;
        }
        crate::rt::write_u32(self.offset, key.len() as u32);
        crate::rt::write_bytes(self.offset + 4, key);
        self.offset = end;
        self.count += 1;
        true
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

/// The prefetch hook: after an access to `key`, name keys worth fetching from the origin.
pub trait Prefetch: Plugin {
    fn prefetch(&mut self, key: &[u8], hash: u64, hit: bool, out: &mut PrefetchKeys);
}

/// The routing hook: which part of a key decides its placement.
///
/// Contract: a pure function of the key (same key, same answer, forever).
pub trait Routing: Plugin {
    /// `Some(range)` to route by `key[range]` (non-empty, inside the key); `None` for the whole key.
    fn route(&mut self, key: &[u8]) -> Option<core::ops::Range<usize>>;
}

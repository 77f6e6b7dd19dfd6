//! The glue [`crate::export_plugin!`] expands to: the plugin's storage, the scratch buffer, and the
//! decoding of each call. Not for direct use.

use core::cell::UnsafeCell;

use crate::abi;
use crate::hooks::{
    Admission, AdmissionMode, AdmitRequest, Entry, Eviction, InitContext, Plugin, Prefetch,
    PrefetchKeys, Routing, Victims,
};

/// Holds the plugin value. Sound because a wasm32 instance is single-threaded and the host never
/// re-enters it: at most one `&mut T` exists at a time.
pub struct PluginCell<T>(UnsafeCell<Option<T>>);

// SAFETY: see the type's docs; wasm32-unknown-unknown instances have one thread.
unsafe impl<T> Sync for PluginCell<T> {}

impl<T: Plugin> PluginCell<T> {
    pub const fn new() -> Self {
        Self(UnsafeCell::new(None))
    }

    #[allow(clippy::mut_from_ref)]
    fn get(&self) -> &mut T {
        // SAFETY: single-threaded, non-reentrant (type docs); the reference does not outlive
        // the export call that took it.
        let slot = unsafe { &mut *self.0.get() };
        slot.get_or_insert_with(T::default)
    }
}

impl<T: Plugin> Default for PluginCell<T> {
    fn default() -> Self {
        Self::new()
    }
}

#[repr(C, align(8))]
struct Buffer<const N: usize>(UnsafeCell<[u8; N]>);

// SAFETY: single-threaded instance (see PluginCell).
unsafe impl<const N: usize> Sync for Buffer<N> {}

/// Where the host writes inputs and reads answers.
static SCRATCH: Buffer<{ abi::MIN_SCRATCH_LEN }> =
    Buffer(UnsafeCell::new([0; abi::MIN_SCRATCH_LEN]));
/// A copy of the key for prefetch and routing, so answers can be written to the scratch buffer
/// while the plugin still reads the key.
static KEY: Buffer<{ abi::MAX_KEY_LEN }> = Buffer(UnsafeCell::new([0; abi::MAX_KEY_LEN]));

pub fn scratch_addr() -> i32 {
    SCRATCH.0.get() as usize as i32
}

/// The access map's descriptor (`ptr, len, max`; ABI 3), refreshed after every eviction call.
static ACCESS_MAP: Buffer<{ abi::ACCESS_MAP_DESCRIPTOR_LEN }> =
    Buffer(UnsafeCell::new([0; abi::ACCESS_MAP_DESCRIPTOR_LEN]));

pub fn access_map_addr() -> i32 {
    ACCESS_MAP.0.get() as usize as i32
}

/// Tell the host where the plugin's read counters are now (or that it has none).
fn publish_access_map<T: Eviction>(plugin: &mut T) {
    let (ptr, len, max) = match plugin.access_counters() {
        Some((counters, max)) if max > 0 => (
            counters.as_mut_ptr() as usize as u32,
            counters.len() as u32,
            max as u32,
        ),
        _ => (0, 0, 0),
    };
    // SAFETY: single-threaded; nothing else holds the descriptor during a call.
    let d = unsafe { &mut *ACCESS_MAP.0.get() };
    d[0..4].copy_from_slice(&ptr.to_le_bytes());
    d[4..8].copy_from_slice(&len.to_le_bytes());
    d[8..12].copy_from_slice(&max.to_le_bytes());
}

fn scratch() -> &'static mut [u8; abi::MIN_SCRATCH_LEN] {
    // SAFETY: single-threaded; callers keep the borrow within one statement or call.
    unsafe { &mut *SCRATCH.0.get() }
}

pub(crate) fn write_u32(offset: usize, v: u32) {
    scratch()[offset..offset + 4].copy_from_slice(&v.to_le_bytes());
}

pub(crate) fn write_bytes(offset: usize, bytes: &[u8]) {
    scratch()[offset..offset + bytes.len()].copy_from_slice(bytes);
}

fn read_u32(offset: usize) -> u32 {
    let s = scratch();
    u32::from_le_bytes([s[offset], s[offset + 1], s[offset + 2], s[offset + 3]])
}

fn read_u64(offset: usize) -> u64 {
    (read_u32(offset) as u64) | ((read_u32(offset + 4) as u64) << 32)
}

pub fn init<T: Plugin>(
    cell: &PluginCell<T>,
    namespace_id: i64,
    shard: i32,
    capacity: i64,
    seed: i64,
) -> i32 {
    let ctx = InitContext {
        namespace_id: namespace_id as u64,
        shard: shard as u32,
        capacity_bytes: capacity.max(0) as u64,
        seed: seed as u64,
    };
    cell.get().init(&ctx);
    0
}

pub fn evict<T: Eviction>(cell: &PluginCell<T>, n_events: i32, need: i64, max: i32) -> i32 {
    let plugin = cell.get();
    let n = (n_events.max(0) as usize).min(abi::EVENT_BATCH);
    for i in 0..n {
        let off = i * abi::EVENT_LEN;
        let entry = Entry {
            hash: read_u64(off),
            slot: read_u32(off + 8),
            size: read_u32(off + 12),
        };
        match read_u32(off + 16) {
            abi::EVENT_INSERT => plugin.on_insert(entry),
            abi::EVENT_ACCESS => plugin.on_access(entry),
            abi::EVENT_REMOVE => plugin.on_remove(entry),
            abi::EVENT_UPDATE => {
                let old = Entry {
                    size: read_u32(off + 20),
                    ..entry
                };
                plugin.on_update(old, entry);
            }
            _ => {}
        }
    }
    let mut victims = Victims {
        len: 0,
        max: (max.max(0) as usize).min(abi::MAX_VICTIMS),
    };
    if need > 0 {
        plugin.victims(need as u64, &mut victims);
    }
    publish_access_map(plugin);
    victims.len as i32
}

pub fn evict_capacity<T: Eviction>(cell: &PluginCell<T>, bytes: i64) {
    let plugin = cell.get();
    plugin.set_capacity(bytes.max(0) as u64);
    publish_access_map(plugin);
}

pub fn evict_clear<T: Eviction>(cell: &PluginCell<T>) {
    let plugin = cell.get();
    plugin.clear();
    publish_access_map(plugin);
}

pub fn admit<T: Admission>(cell: &PluginCell<T>, hash: i64, size: i32, ttl_ms: i64) -> i32 {
    let req = AdmitRequest {
        hash: hash as u64,
        size: size as u32,
        ttl_ms: ttl_ms.max(0) as u64,
    };
    cell.get().admit(&req) as i32
}

/// The verdict map's descriptor (`ptr, len`; ABI 4), refreshed after every observe call.
static VERDICTS: Buffer<{ abi::VERDICT_MAP_DESCRIPTOR_LEN }> =
    Buffer(UnsafeCell::new([0; abi::VERDICT_MAP_DESCRIPTOR_LEN]));

pub fn verdicts_addr() -> i32 {
    VERDICTS.0.get() as usize as i32
}

/// Tell the host where the plugin's verdict map is now (or that it has none).
fn publish_verdicts<T: Admission>(plugin: &mut T) {
    let (ptr, len) = match plugin.verdicts() {
        Some(map) => (map.as_ptr() as usize as u32, map.len() as u32),
        None => (0, 0),
    };
    // SAFETY: single-threaded; nothing else holds the descriptor during a call.
    let d = unsafe { &mut *VERDICTS.0.get() };
    d[0..4].copy_from_slice(&ptr.to_le_bytes());
    d[4..8].copy_from_slice(&len.to_le_bytes());
}

pub fn admit_mode<T: Admission>(cell: &PluginCell<T>) -> i32 {
    let plugin = cell.get();
    let mode = plugin.mode();
    publish_verdicts(plugin);
    match mode {
        AdmissionMode::Decide => abi::ADMIT_MODE_DECIDE,
        AdmissionMode::Never => abi::ADMIT_MODE_NEVER,
        AdmissionMode::Observe => abi::ADMIT_MODE_OBSERVE,
    }
}

pub fn admit_observe<T: Admission>(cell: &PluginCell<T>, n_requests: i32) -> i32 {
    let plugin = cell.get();
    let n = (n_requests.max(0) as usize).min(abi::ADMIT_BATCH);
    for i in 0..n {
        let off = i * abi::ADMIT_RECORD_LEN;
        let req = AdmitRequest {
            hash: read_u64(off),
            size: read_u32(off + 8),
            ttl_ms: read_u64(off + 16),
        };
        plugin.observe(&req, read_u32(off + 12) != 0);
    }
    publish_verdicts(plugin);
    0
}

/// Copy the key out of the scratch buffer into the key buffer.
fn key(key_len: i32) -> &'static [u8] {
    let n = (key_len.max(0) as usize).min(abi::MAX_KEY_LEN);
    // SAFETY: single-threaded; the key buffer is only written here.
    let buf = unsafe { &mut *KEY.0.get() };
    buf[..n].copy_from_slice(&scratch()[..n]);
    &buf[..n]
}

pub fn prefetch<T: Prefetch>(cell: &PluginCell<T>, hash: i64, key_len: i32, hit: i32) -> i32 {
    let key = key(key_len);
    let mut out = PrefetchKeys {
        count: 0,
        offset: 0,
    };
    cell.get().prefetch(key, hash as u64, hit != 0, &mut out);
    out.count as i32
}

pub fn route<T: Routing>(cell: &PluginCell<T>, _hash: i64, key_len: i32) -> i64 {
    let key = key(key_len);
    match cell.get().route(key) {
        Some(r) if r.start < r.end && r.end <= key.len() => {
            ((r.start as i64) << 32) | ((r.end - r.start) as i64)
        }
        _ => abi::ROUTE_WHOLE_KEY,
    }
}

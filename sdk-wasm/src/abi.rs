//! ABI version 1 constants, shared with the host (see the crate docs for the full specification).

/// The ABI version this SDK implements.
pub const ABI_VERSION: i32 = 1;

pub const HOOK_EVICTION: i32 = 1;
pub const HOOK_ADMISSION: i32 = 2;
pub const HOOK_PREFETCH: i32 = 4;
pub const HOOK_ROUTING: i32 = 8;

/// Minimum scratch buffer length (this SDK allocates exactly this much).
pub const MIN_SCRATCH_LEN: usize = 128 * 1024;

/// Bytes per eviction event record.
pub const EVENT_LEN: usize = 24;
pub const EVENT_INSERT: u32 = 1;
pub const EVENT_ACCESS: u32 = 2;
pub const EVENT_REMOVE: u32 = 3;
/// Most events in one `larder_evict` call.
pub const EVENT_BATCH: usize = 256;
/// Most victims one `larder_evict` answer may name.
pub const MAX_VICTIMS: usize = 64;
/// Most keys one prefetch answer may name.
pub const MAX_PREFETCH_KEYS: usize = 16;
/// `larder_route`'s "route by the whole key".
pub const ROUTE_WHOLE_KEY: i64 = -1;
/// Longest key the host stores (and so the longest key a prefetch or routing call receives).
pub const MAX_KEY_LEN: usize = 64 * 1024;

//! # larder-abi — the plugin ABI's constants, defined once
//!
//! Every name, number and layout that crosses the boundary between a Larder node and a plugin:
//! export and import names, signatures, hook bits, event kinds and record sizes, limits. The guest
//! SDK (`larder-sdk`, whose crate docs are the specification for plugin authors) re-exports this
//! crate as `larder_sdk::abi`; the host (`larder-runtime`'s plugin module) builds its checks from
//! it. Neither side writes a number of its own, so the two cannot disagree.
//!
//! `no_std`, no dependencies: it compiles for wasm32 and for the host alike.

#![no_std]

/// The ABI version this definition describes, which a module built with this SDK returns from
/// `larder_abi_version`.
///
/// - **1**: the first version.
/// - **2**: adds [`EVENT_UPDATE`]: an overwrite is one event instead of a remove and an insert.
/// - **3**: adds the optional access map ([`EXPORT_ACCESS_MAP`]): per-slot read counters in the
///   guest's memory that the host bumps in place, so a read costs the plugin no event.
/// - **4**: adds declared admission modes ([`EXPORT_ADMIT_MODE`]): an admission hook that is never
///   called, or one the host decides from the plugin's verdict map and tells of writes in batches.
pub const ABI_VERSION: i32 = 4;
/// The oldest version the host still serves. A version-1 module is sent an overwrite as
/// [`EVENT_REMOVE`] followed by [`EVENT_INSERT`], as it always was.
pub const OLDEST_ABI_VERSION: i32 = 1;

/// The module name of every host import.
pub const IMPORT_MODULE: &str = "larder";

/// Host imports a plugin may use (module [`IMPORT_MODULE`]), with their signatures for messages.
pub const IMPORTS: &[(&str, &str)] = &[
    ("now_ms", "() -> i64"),
    ("random", "() -> i64"),
    (
        "tag",
        "(name_ptr: i32, name_len: i32, out_ptr: i32, out_cap: i32) -> i32",
    ),
    ("log", "(level: i32, ptr: i32, len: i32) -> ()"),
];

pub const EXPORT_MEMORY: &str = "memory";
pub const EXPORT_ABI_VERSION: &str = "larder_abi_version";
pub const EXPORT_HOOKS: &str = "larder_hooks";
pub const EXPORT_SCRATCH: &str = "larder_scratch";
pub const EXPORT_SCRATCH_LEN: &str = "larder_scratch_len";
pub const EXPORT_INIT: &str = "larder_init";
pub const EXPORT_EVICT: &str = "larder_evict";
pub const EXPORT_EVICT_CAPACITY: &str = "larder_evict_capacity";
pub const EXPORT_EVICT_CLEAR: &str = "larder_evict_clear";
pub const EXPORT_ADMIT: &str = "larder_admit";
pub const EXPORT_PREFETCH: &str = "larder_prefetch";
pub const EXPORT_ROUTE: &str = "larder_route";
/// ABI 3, optional, eviction only: `() -> i32`, the address of the access map's descriptor.
pub const EXPORT_ACCESS_MAP: &str = "larder_access_map";
/// ABI 4, optional, admission only: `() -> i32`, one of the `ADMIT_MODE_*` values, asked once
/// after `larder_init`. Absent means [`ADMIT_MODE_DECIDE`].
pub const EXPORT_ADMIT_MODE: &str = "larder_admit_mode";
/// ABI 4, required in [`ADMIT_MODE_OBSERVE`]: `(n_requests: i32) -> i32`, apply that many
/// [`ADMIT_RECORD_LEN`]-byte records from the scratch buffer; return 0.
pub const EXPORT_ADMIT_OBSERVE: &str = "larder_admit_observe";
/// ABI 4, required in [`ADMIT_MODE_OBSERVE`]: `() -> i32`, the address of the verdict map's
/// descriptor ([`VERDICT_MAP_DESCRIPTOR_LEN`] bytes).
pub const EXPORT_ADMIT_VERDICTS: &str = "larder_admit_verdicts";

/// Exported function signatures the host checks at upload: (name, params, results), types as
/// wasm value type letters (`i` = i32, `I` = i64).
pub const EXPORT_SIGNATURES: &[(&str, &str, &str)] = &[
    (EXPORT_ABI_VERSION, "", "i"),
    (EXPORT_HOOKS, "", "i"),
    (EXPORT_SCRATCH, "", "i"),
    (EXPORT_SCRATCH_LEN, "", "i"),
    (EXPORT_INIT, "IiII", "i"),
    (EXPORT_EVICT, "iIi", "i"),
    (EXPORT_EVICT_CAPACITY, "I", ""),
    (EXPORT_EVICT_CLEAR, "", ""),
    (EXPORT_ADMIT, "IiI", "i"),
    (EXPORT_PREFETCH, "Iii", "i"),
    (EXPORT_ROUTE, "Ii", "I"),
    (EXPORT_ACCESS_MAP, "", "i"),
    (EXPORT_ADMIT_MODE, "", "i"),
    (EXPORT_ADMIT_OBSERVE, "i", "i"),
    (EXPORT_ADMIT_VERDICTS, "", "i"),
];

/// Bits of `larder_hooks()`.
pub const HOOK_EVICTION: i32 = 1;
pub const HOOK_ADMISSION: i32 = 2;
pub const HOOK_PREFETCH: i32 = 4;
pub const HOOK_ROUTING: i32 = 8;
pub const HOOK_ALL: i32 = HOOK_EVICTION | HOOK_ADMISSION | HOOK_PREFETCH | HOOK_ROUTING;

/// The exports a module must have for each hook it declares.
pub const HOOK_EXPORTS: &[(i32, &str)] = &[
    (HOOK_EVICTION, EXPORT_EVICT),
    (HOOK_ADMISSION, EXPORT_ADMIT),
    (HOOK_PREFETCH, EXPORT_PREFETCH),
    (HOOK_ROUTING, EXPORT_ROUTE),
];

/// The scratch buffer must hold at least this many bytes: a whole batch of events, or the
/// largest key plus room for prefetch answers.
pub const MIN_SCRATCH_LEN: usize = 128 * 1024;

/// One eviction event in the scratch buffer: `hash: u64, slot: u32, size: u32, kind: u32,
/// aux: u32`, little-endian, packed back to back from offset 0. `aux` is the old size for
/// [`EVENT_UPDATE`] and 0 otherwise.
pub const EVENT_LEN: usize = 24;
/// The entry became resident.
pub const EVENT_INSERT: u32 = 1;
/// The entry was read.
pub const EVENT_ACCESS: u32 = 2;
/// The entry left on its own (deleted, expired; under ABI 1 also overwritten).
pub const EVENT_REMOVE: u32 = 3;
/// ABI 2: the entry's value was replaced in place (same slot and key hash); `size` is the new
/// size, `aux` the old one.
pub const EVENT_UPDATE: u32 = 4;
/// Most events the host passes in one `larder_evict` call.
pub const EVENT_BATCH: usize = 256;
/// Most victims one `larder_evict` answer may name (each a `u32` slot at offset 0).
pub const MAX_VICTIMS: usize = 64;

/// The access map's descriptor, at the address `larder_access_map` returns: `ptr: u32, len: u32,
/// max: u32`, little-endian. `len` counters of one byte each start at `ptr`, one per slot; `max`
/// (1 to 255) is where a counter saturates, and 0 means "no map: send every read as an event".
/// The guest may change the descriptor during any call (its counters grew or moved); the host
/// reads it again after every call.
pub const ACCESS_MAP_DESCRIPTOR_LEN: usize = 12;

/// Admission mode (ABI 4): `larder_admit` is asked once per new key and its answer decides.
pub const ADMIT_MODE_DECIDE: i32 = 0;
/// Admission mode: the hook is never called and every key is admitted (a plugin whose admission
/// has nothing to decide costs nothing).
pub const ADMIT_MODE_NEVER: i32 = 1;
/// Admission mode: the host decides each new key from the plugin's verdict map, without a call,
/// and delivers the requests (with the verdicts it gave) in batches to `larder_admit_observe`, from
/// which the plugin updates its map. Decisions lag the requests by at most one batch; context tags
/// are not visible (the call is not inside a request).
pub const ADMIT_MODE_OBSERVE: i32 = 2;
/// One admission record in the scratch buffer: `hash: u64, size: u32, admitted: u32, ttl_ms: u64`,
/// little-endian, back to back from offset 0. `admitted` is 1 if the host stored the key.
pub const ADMIT_RECORD_LEN: usize = 24;
/// Most admission records the host passes in one `larder_admit_observe` call.
pub const ADMIT_BATCH: usize = 256;
/// The verdict map's descriptor, at the address `larder_admit_verdicts` returns: `ptr: u32, len:
/// u32`, little-endian: `len` bytes at `ptr`. A key whose hash `h` has bit `h % (8 * len)` set
/// (byte `i / 8`, bit `i % 8`, least significant first) is admitted; clear, it is dropped.
/// `len = 0` admits every key. Read again after every `larder_admit_observe` call.
pub const VERDICT_MAP_DESCRIPTOR_LEN: usize = 8;

/// Most keys one `larder_prefetch` answer may name; the rest are ignored and counted.
pub const MAX_PREFETCH_KEYS: usize = 16;
/// Longest key the host stores, and so the longest key a prefetch or routing call receives or a
/// prefetch answer may name.
pub const MAX_KEY_LEN: usize = 64 * 1024;

/// `larder_route` returns this to mean "the whole key decides placement".
pub const ROUTE_WHOLE_KEY: i64 = -1;

/// Longest message the `log` import forwards; longer ones are cut.
pub const MAX_LOG_LEN: usize = 512;

// A whole batch of events fits in the scratch buffer, and so does the longest key.
const _: () = assert!(EVENT_BATCH * EVENT_LEN <= MIN_SCRATCH_LEN);
const _: () = assert!(MAX_KEY_LEN <= MIN_SCRATCH_LEN);
const _: () = assert!(MAX_VICTIMS * 4 <= MIN_SCRATCH_LEN);
const _: () = assert!(ADMIT_BATCH * ADMIT_RECORD_LEN <= MIN_SCRATCH_LEN);

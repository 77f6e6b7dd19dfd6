//! # larder-sdk — write Larder cache policy plugins
//!
//! A Larder plugin is a **core WebAssembly module** (not a component) that implements one or more
//! of four hooks: **admission** (store this new key?), **eviction** (which entries leave when a
//! shard is full), **prefetch** (which keys to fetch after an access) and **routing** (which part
//! of a key decides where it lives). In Rust you write a type, implement the traits of the hooks
//! you want, and call [`export_plugin!`] once:
//!
//! ```ignore
//! use larder_sdk::{export_plugin, Admission, AdmitRequest, Plugin};
//!
//! #[derive(Default)]
//! struct SmallOnly;
//! impl Plugin for SmallOnly {}
//! impl Admission for SmallOnly {
//!     fn admit(&mut self, req: &AdmitRequest) -> bool { req.size <= 4096 }
//! }
//! export_plugin!(SmallOnly, [admission]);
//! ```
//!
//! Build it as a `cdylib` with `cargo build --target wasm32-unknown-unknown --release` and upload
//! the `.wasm` file (`POST /v1/plugins` or `larder plugin push`).
//!
//! The rest of this page is the **ABI specification, version 4**, complete enough to write a
//! plugin in any language that compiles to WebAssembly. Version 2 added one eviction event to
//! version 1 (the update, §3); version 3 added the optional access map (§3), through which the
//! host counts reads in the plugin's memory instead of sending them; version 4 adds declared
//! admission modes (§3): an admission hook that is never called, or one the host decides from a
//! verdict map in the plugin's memory and tells of writes in batches. The host still serves
//! versions 1 to 3: a version-1 module is sent an overwrite as a remove and an insert, a module
//! without an access map is sent every read as an event, and one without an admission mode is
//! asked about every new key.
//!
//! ## 1. Module shape
//!
//! * A core module (the WebAssembly 2.0 binary format: magic `\0asm`, version 1). Component-model
//!   binaries are refused.
//! * It exports its linear memory as `memory` (32-bit addressing).
//! * It imports nothing except the functions of §4, all from the module `larder`. Importing
//!   anything else — WASI included — refuses the upload, naming the import.
//! * Size, memory and time are capped by the host (defaults: 4 MiB module, 32 MiB memory per
//!   instance, 50 ms per call). Exceeding the memory cap or the call deadline is a *fault* (§6).
//! * All integers crossing the boundary are little-endian; `i32`/`i64` are the wasm types. Values
//!   described as unsigned (`u32`, `u64`) are passed in the signed type of the same width.
//!
//! ## 2. Required exports
//!
//! | export | signature | meaning |
//! |---|---|---|
//! | `larder_abi_version` | `() -> i32` | `4` ([`abi::ABI_VERSION`]); `1` to `3` are still served ([`abi::OLDEST_ABI_VERSION`]) |
//! | `larder_hooks` | `() -> i32` | bitmask of implemented hooks: 1 eviction, 2 admission, 4 prefetch, 8 routing |
//! | `larder_scratch` | `() -> i32` | address of the scratch buffer in `memory` |
//! | `larder_scratch_len` | `() -> i32` | its length in bytes, at least 131072 ([`abi::MIN_SCRATCH_LEN`]) |
//!
//! The **scratch buffer** is allocated once by the plugin (a static array is simplest) and must
//! not move. Every variable-length input and output of a call travels through it; nothing is
//! allocated per call on either side.
//!
//! Optional: `larder_init(namespace_id: i64, shard: i32, capacity_bytes: i64, seed: i64) -> i32`,
//! called once right after instantiation. `namespace_id` is the xxh3-64 hash of the namespace
//! name, `shard` the shard (or pool slot) this instance serves, `capacity_bytes` the shard's byte
//! capacity (0 for hooks that have none), `seed` a reproducible seed. Return 0; anything else
//! refuses the instance.
//!
//! The host calls nothing a plugin has not declared in `larder_hooks`, and checks at upload that
//! each declared hook's exports exist with the right signature.
//!
//! ## 3. Hooks
//!
//! ### Instances and threads
//! Eviction and admission run **one instance per shard**; prefetch **one per namespace**; routing a
//! small pool. Calls into one instance are never concurrent and never re-entrant, so a plugin needs
//! no locking. State lives in the instance's memory for as long as the instance lives.
//!
//! ### Keys and entries
//! A key crosses as its **hash**: xxh3-64 of the key bytes, seed 0 (the same on every node). A
//! resident entry also has a **slot**: a small dense `u32` handle, stable while the entry is
//! resident and reused after it leaves, so per-entry state can live in an array indexed by slot.
//! Sizes are the bytes charged to the cache: key + value + a fixed per-entry overhead (never 0).
//!
//! ### Eviction (bit 1)
//! `larder_evict(n_events: i32, need_bytes: i64, max_victims: i32) -> i32` — required.
//!
//! 1. Apply `n_events` (≤ 256) events found at the start of the scratch buffer, 24 bytes each:
//!
//!    | offset | type | field |
//!    |---|---|---|
//!    | 0 | u64 | key hash |
//!    | 8 | u32 | slot |
//!    | 12 | u32 | size |
//!    | 16 | u32 | kind: 1 insert (became resident), 2 access (was read), 3 remove (left on its own: deleted, expired), 4 update (the value was replaced in place; version 2) |
//!    | 20 | u32 | update: the entry's old size (`size` is the new one); otherwise 0 |
//!
//!    An update keeps the slot and key hash. A version-1 module gets a remove of the old entry
//!    followed at once by an insert of the new one instead.
//!
//!    Events arrive in order, batched: accesses are buffered by the host and may arrive late, but
//!    always before any event or request that depends on them.
//! 2. If `need_bytes > 0`, choose victims that together free about `need_bytes`, write their slots
//!    as `u32`s from the start of the scratch buffer (at most `max_victims`, ≤ 64), **forget them**
//!    (no remove event will follow), and return how many. Otherwise return 0.
//!
//! The host validates the answer: a slot that is not resident, or is named twice, is ignored and
//! counted; a count above `max_victims` is cut. Returning no valid victim while entries are resident
//! is a fault (§6). The host calls again if too little was freed.
//!
//! Optional: `larder_evict_capacity(bytes: i64)` (the shard's capacity changed) and
//! `larder_evict_clear()` (the namespace was flushed: forget every entry).
//!
//! #### The access map (version 3, optional)
//! `larder_access_map() -> i32` returns the address of a 12-byte descriptor in `memory`:
//! `ptr: u32, len: u32, max: u32`. It describes `len` one-byte read counters starting at `ptr`,
//! indexed by slot, saturating at `max` (1 to 255; 0 means "no map"). For a resident slot the map
//! covers, the host may then apply a read as `counters[slot] = min(counters[slot] + 1, max)` in
//! place of an access event, so a hit costs no call. The host reads the descriptor again after
//! every `larder_evict`, `larder_evict_capacity` and `larder_evict_clear` call, so the counters
//! may grow or move during any of them (the SDK does this for you: implement
//! [`Eviction::access_counters`]). A descriptor outside `memory` counts as no map.
//!
//! A plugin that describes a map promises: its handling of an access event is exactly that
//! increment and nothing else; handling any other event for one slot reads or writes no other
//! slot's counter (only victim selection may); and the counters cover every resident slot whose
//! insert it has applied. The host still sends a read as an access event while the slot's insert
//! is in the batch not yet delivered, or when the slot lies past `len`. Under these rules a plugin
//! sees, at every victim request, exactly the counters it would have built from the events.
//!
//! When a plugin replaces another (hot swap) or restarts after quarantine, the new instance first
//! receives one insert event per resident entry, so it starts from what the cache holds.
//!
//! ### Admission (bit 2)
//! `larder_admit(hash: i64, size: i32, ttl_ms: i64) -> i32` — asked once per write of a key that
//! is not resident; return 1 to store it, 0 to drop it (the write is acknowledged but not
//! cached). `ttl_ms` is 0 for no expiry. Any other return value is counted as invalid and the key
//! is admitted.
//!
//! #### Admission modes (version 4, optional)
//! `larder_admit_mode() -> i32`, asked once right after `larder_init`, says how the host consults
//! the instance ([`AdmissionMode`] in the SDK); without the export the mode is 0.
//!
//! * **0, decide**: `larder_admit` per new key, as above.
//! * **1, never**: `larder_admit` is never called and every key is admitted. A hook with nothing to
//!   decide costs the write one branch.
//! * **2, observe**: the host decides each new key without a call, from the plugin's **verdict
//!   map**, and delivers the requests in batches to `larder_admit_observe(n: i32) -> i32` (return
//!   0). `larder_admit_verdicts() -> i32` returns the address of an 8-byte descriptor `ptr: u32,
//!   len: u32`: `len` bytes at `ptr`. A key whose hash `h` has bit `h % (8 × len)` set (byte
//!   `i / 8`, least significant bit first) is admitted; clear, it is dropped; `len = 0` admits
//!   everything. The host reads the descriptor after `larder_admit_mode` and after every
//!   `larder_admit_observe`, so the map may grow or move then. The `n` (≤ 256) records are at the
//!   start of the scratch buffer, 24 bytes each, in request order:
//!
//!   | offset | type | field |
//!   |---|---|---|
//!   | 0 | u64 | key hash |
//!   | 8 | u32 | size the entry would be charged |
//!   | 12 | u32 | 1 if the host admitted it (by the map), else 0 |
//!   | 16 | u64 | time to live in ms, 0 for none |
//!
//!   Verdicts therefore lag the requests by up to one batch, and context tags are not visible
//!   (the call is not inside a request). A mode other than 0 to 2, or mode 2 without both exports,
//!   refuses the instance (at upload, with a message naming what is missing).
//!
//! ### Prefetch (bit 4)
//! `larder_prefetch(hash: i64, key_len: i32, hit: i32) -> i32` — called after an access; the key's
//! bytes are at the start of the scratch buffer, `hit` is 1 if it was found. Write the keys to
//! prefetch from the start of the scratch buffer, each as `u32 length` followed by the bytes, and
//! return how many. At most 16 ([`abi::MAX_PREFETCH_KEYS`]) are used; empty keys, keys past the
//! buffer and the excess are ignored and counted.
//!
//! ### Routing (bit 8)
//! `larder_route(hash: i64, key_len: i32) -> i64` — the key's bytes are at the start of the scratch
//! buffer. Return `-1` to route by the whole key, or `(start << 32) | len` to route by
//! `key[start .. start + len]` (non-empty, inside the key; otherwise counted and the whole key
//! used). The answer must be a pure function of the key: it picks the key's shard and its node.
//!
//! ## 4. Host imports (module `larder`)
//!
//! | import | signature | meaning |
//! |---|---|---|
//! | `now_ms` | `() -> i64` | Unix time in milliseconds, frozen for the duration of one call |
//! | `random` | `() -> i64` | next value of the instance's seeded generator (reproducible) |
//! | `tag` | `(name_ptr: i32, name_len: i32, out_ptr: i32, out_cap: i32) -> i32` | copy the current request's context tag `name` to `out` (truncated to `out_cap`); returns the value's full length, or -1 if absent |
//! | `log` | `(level: i32, ptr: i32, len: i32)` | a UTF-8 log line (0 warn, 1 info, 2 debug), cut at 512 bytes |
//!
//! **Request context tags** are `name=value` pairs a client attaches (REST: the header
//! `X-Larder-Tags: device=mobile, region=eu`; RESP: the per-connection command
//! `CLIENT TAGS device mobile region eu`). They are visible during admission, prefetch and routing
//! calls, which happen inside one request; eviction calls carry batches of many requests and see
//! no tags. A pointer range outside memory traps.
//!
//! ## 5. Building
//!
//! `wasm32-unknown-unknown`, `crate-type = ["cdylib"]`; `panic = "abort"`, `opt-level = "s"` or 3
//! and `lto = true` keep modules small and fast. Rust plugins may use `std` and `alloc`; this SDK
//! itself needs neither.
//!
//! ## 6. Faults
//!
//! A trap, a missed deadline, hitting the memory cap, or an answer that breaks the contract never
//! fails a request. The host drops the instance and the namespace's built-in policy serves in its
//! place (eviction: the configured built-in; admission: admit everything; prefetch: nothing;
//! routing: the whole key). The plugin is quarantined and retried with exponential backoff (a
//! fresh instance, replayed the resident entries); routing instances are not retried. Metrics
//! (`larder_plugin_*`) and a warning in the log say which plugin, which hook and why.

#![no_std]

pub mod abi;
mod hooks;
pub mod host;
#[doc(hidden)]
pub mod rt;

pub use hooks::{
    Admission, AdmissionMode, AdmitRequest, Entry, Eviction, InitContext, Plugin, Prefetch,
    PrefetchKeys, Routing, Victims,
};

/// Export a plugin type: `export_plugin!(MyType, [eviction, admission, prefetch, routing])`,
/// listing the hooks it implements (any non-empty subset, in any order). `MyType` must implement
/// [`Plugin`] (which requires `Default`) and the trait of each listed hook. Use once per crate.
#[macro_export]
macro_rules! export_plugin {
    ($ty:ty, [$($hook:ident),+ $(,)?]) => {
        static __LARDER_PLUGIN: $crate::rt::PluginCell<$ty> = $crate::rt::PluginCell::new();

        #[unsafe(no_mangle)]
        pub extern "C" fn larder_abi_version() -> i32 {
            $crate::abi::ABI_VERSION
        }

        #[unsafe(no_mangle)]
        pub extern "C" fn larder_hooks() -> i32 {
            0 $(| $crate::__hook_bit!($hook))+
        }

        #[unsafe(no_mangle)]
        pub extern "C" fn larder_scratch() -> i32 {
            $crate::rt::scratch_addr()
        }

        #[unsafe(no_mangle)]
        pub extern "C" fn larder_scratch_len() -> i32 {
            $crate::abi::MIN_SCRATCH_LEN as i32
        }

        #[unsafe(no_mangle)]
        pub extern "C" fn larder_init(namespace_id: i64, shard: i32, capacity: i64, seed: i64) -> i32 {
            $crate::rt::init(&__LARDER_PLUGIN, namespace_id, shard, capacity, seed)
        }

        $( $crate::__export_hook!($hook, $ty, __LARDER_PLUGIN); )+
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __hook_bit {
    (eviction) => {
        $crate::abi::HOOK_EVICTION
    };
    (admission) => {
        $crate::abi::HOOK_ADMISSION
    };
    (prefetch) => {
        $crate::abi::HOOK_PREFETCH
    };
    (routing) => {
        $crate::abi::HOOK_ROUTING
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __export_hook {
    (eviction, $ty:ty, $cell:ident) => {
        #[unsafe(no_mangle)]
        pub extern "C" fn larder_evict(n_events: i32, need_bytes: i64, max_victims: i32) -> i32 {
            $crate::rt::evict::<$ty>(&$cell, n_events, need_bytes, max_victims)
        }
        #[unsafe(no_mangle)]
        pub extern "C" fn larder_evict_capacity(bytes: i64) {
            $crate::rt::evict_capacity::<$ty>(&$cell, bytes)
        }
        #[unsafe(no_mangle)]
        pub extern "C" fn larder_evict_clear() {
            $crate::rt::evict_clear::<$ty>(&$cell)
        }
        #[unsafe(no_mangle)]
        pub extern "C" fn larder_access_map() -> i32 {
            $crate::rt::access_map_addr()
        }
    };
    (admission, $ty:ty, $cell:ident) => {
        #[unsafe(no_mangle)]
        pub extern "C" fn larder_admit(hash: i64, size: i32, ttl_ms: i64) -> i32 {
            $crate::rt::admit::<$ty>(&$cell, hash, size, ttl_ms)
        }
        #[unsafe(no_mangle)]
        pub extern "C" fn larder_admit_mode() -> i32 {
            $crate::rt::admit_mode::<$ty>(&$cell)
        }
        #[unsafe(no_mangle)]
        pub extern "C" fn larder_admit_observe(n_requests: i32) -> i32 {
            $crate::rt::admit_observe::<$ty>(&$cell, n_requests)
        }
        #[unsafe(no_mangle)]
        pub extern "C" fn larder_admit_verdicts() -> i32 {
            $crate::rt::verdicts_addr()
        }
    };
    (prefetch, $ty:ty, $cell:ident) => {
        #[unsafe(no_mangle)]
        pub extern "C" fn larder_prefetch(hash: i64, key_len: i32, hit: i32) -> i32 {
            $crate::rt::prefetch::<$ty>(&$cell, hash, key_len, hit)
        }
    };
    (routing, $ty:ty, $cell:ident) => {
        #[unsafe(no_mangle)]
        pub extern "C" fn larder_route(hash: i64, key_len: i32) -> i64 {
            $crate::rt::route::<$ty>(&$cell, hash, key_len)
        }
    };
}

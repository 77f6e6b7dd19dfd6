//! The plugins under `plugins/`, compiled to wasm32 by this crate's build script and embedded as
//! byte constants — for tests and benchmarks, which thereby always use freshly built modules.
//!
//! The reference plugins: [`LRU`], [`S3FIFO`], [`ADAPTIVE`], [`SIEVE`], [`WTINYLFU`] (eviction),
//! [`TINYLFU_DOORKEEPER`], [`SIZE_AWARE_ADMISSION`], [`CONTEXTUAL_ADMISSION`], [`NOOP`],
//! [`ADMIT_ALL`] and [`DOORKEEPER_BATCHED`]
//! (admission), [`SEQUENTIAL_PREFETCH`], [`MARKOV_PREFETCH`] (prefetch), [`HASHTAG_ROUTING`]
//! (routing). The walk-through's FIFO plugin from `examples/plugin-from-scratch`:
//! [`FIFO_FROM_SCRATCH`]. The adversarial ones, which the host must survive: [`INFINITE_LOOP`],
//! [`MEMORY_BOMB`], [`TRAP_NTH`], [`GARBAGE_VICTIMS`], [`PREFETCH_FLOOD`], [`WASI_IMPORT`].

include!(concat!(env!("OUT_DIR"), "/modules.rs"));

//! The trace simulator behind `larder sim`: replays cache traces through eviction policies — the
//! same [`EvictionPolicy`](crate::policy::EvictionPolicy) implementations the server runs — and
//! measures miss ratios against Belady's optimum.
//!
//! | module | holds |
//! |---|---|
//! | [`trace`] | [`Trace`]: requests with object id, size and next-access index |
//! | [`format`] | readers for libCacheSim oracleGeneral (plain or zstd), text and CSV traces |
//! | [`zipf`] | seeded synthetic Zipf traces |
//! | [`capacity`] | `10%` / `5000` / `64MiB` capacities and how they resolve against a trace |
//! | [`replay`] | the engine: drives one policy through a trace the way a store shard does |
//! | [`belady`] | Belady's MIN, the optimal bound for object-count capacities |
//! | [`run`] | [`Simulation`]: every policy × every capacity, plus the bound |
//! | [`report`] | [`SimReport`]: miss ratio, byte miss ratio, gap closed, requests/s; table and JSON |
//! | [`plot`] | the miss-ratio curve as SVG |
//! | [`wasm`] | WebAssembly eviction plugins, through the server's plugin host |
//!
//! A simulation loads the whole trace into memory first (24 bytes a request), so replay speed is
//! the policy's speed, not the disk's or the decompressor's.

pub mod belady;
pub mod capacity;
mod error;
pub mod format;
pub mod plot;
pub mod replay;
pub mod report;
pub mod run;
pub mod trace;
pub mod wasm;
pub mod zipf;

pub use belady::BeladyVariant;
pub use capacity::{Capacity, CapacitySpec};
pub use error::SimError;
pub use format::{TraceFormat, read_trace};
pub use report::{CapacityResult, PolicyResult, SimReport};
pub use run::{FaultCount, PolicyFactory, SimPolicy, Simulation};
pub use trace::{Request, Trace};
pub use wasm::{wasm_policy, wasm_policy_file};
pub use zipf::ZipfSpec;

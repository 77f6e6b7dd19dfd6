//! What Larder's reference plugins share.
//!
//! - [`EvictionHook`] serves any policy of the `larder-policy` crate (the very code the built-ins
//!   run) as a plugin's eviction hook: `export_plugin!(EvictionHook<larder_policy::S3Fifo>,
//!   [eviction]);`. The `lru`, `s3fifo`, `sieve`, `wtinylfu` and `adaptive` plugins are exactly
//!   that, so each decides what the built-in of the same name decides.
//! - [`Bloom`]: a bloom filter for admission plugins.
//!
//! The policies themselves live in `larder-policy` (`runtime/policy`), not here: a policy is
//! written once and served natively or as wasm.

#![no_std]

extern crate alloc;

mod bloom;
mod hook;

pub use bloom::Bloom;
pub use hook::EvictionHook;
pub use larder_policy as policy;

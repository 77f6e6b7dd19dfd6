//! The host side of the plugin ABI: the names, signatures, layouts and limits of the `larder-abi`
//! crate, which the guest SDK re-exports too (its crate docs are the specification for plugin
//! authors), so host and guest share one definition.
//!
//! Everything that crosses the boundary is a scalar (`i32`/`i64`) or a range of the guest's
//! **scratch buffer**, a region the guest allocated once and whose address it exports. The host
//! never allocates in guest memory and the guest never allocates per call.

pub use larder_abi::*;

/// Longest prefetch key accepted: the store's own key limit, which is the ABI's.
pub const MAX_PREFETCH_KEY_LEN: usize = crate::store::MAX_KEY_LEN;
const _: () = assert!(MAX_PREFETCH_KEY_LEN == MAX_KEY_LEN);

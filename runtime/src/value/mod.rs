//! Collections as stored values: how a hash, a list, a set and a sorted set are encoded in the
//! one store entry that holds each.
//!
//! | file | holds |
//! |---|---|
//! | `codec` | the shared primitives: varints, length-prefixed byte strings, the reader |
//! | [`hash`] | [`Hash`]: fields with values and optional per-field deadlines |
//! | [`list`] | [`List`]: a double-ended sequence |
//! | [`set`] | [`Set`]: distinct members |
//! | [`zset`] | [`SortedSet`]: members ordered by (score, member) |
//!
//! ## Why one encoded block per collection
//!
//! A collection is one entry to the store, exactly like a string: its value is the encoding
//! written here, tagged with its [`ValueKind`](crate::store::ValueKind). So the policies, the
//! capacity charge, admission, eviction, expiry, snapshots, the append-only log and a slot's copy
//! between nodes treat it as they treat a string, and none of them needed to change. A command
//! decodes the block into the owned form, changes it and encodes it again, all under the key's
//! shard lock ([`Store::update_as`](crate::store::Store::update_as)); reads of one element walk the
//! bytes without copying. The price: a write costs time proportional to the collection's size,
//! as it does in Redis's listpack encoding (which Redis itself uses up to 128 small elements).
//! Caches hold small collections — a session's fields, a group's tag set, a rate-limit window;
//! a collection of tens of thousands of members pays for each write.
//!
//! Every encoding starts with the element count, then the elements; see each file for its
//! element layout. Decoding a block that does not parse fails with
//! [`StoreError::CorruptValue`]; blocks only come from these encoders or from restores, which are
//! checked with [`is_valid`].

mod codec;
pub mod hash;
pub mod list;
pub mod set;
pub mod zset;

pub use hash::{Hash, HashField};
pub use list::List;
pub use set::Set;
pub use zset::SortedSet;

use crate::store::ValueKind;

/// Whether `bytes` is a well-formed encoding of `kind` (strings are any bytes).
pub fn is_valid(kind: ValueKind, bytes: &[u8]) -> bool {
    match kind {
        ValueKind::String => true,
        ValueKind::Hash => Hash::decode(bytes).is_ok(),
        ValueKind::List => List::decode(bytes).is_ok(),
        ValueKind::Set => Set::decode(bytes).is_ok(),
        ValueKind::SortedSet => SortedSet::decode(bytes).is_ok(),
    }
}

//! The key hash: xxh3-64 of the key bytes.
//!
//! It picks the shard, names the key across the plugin ABI and places it on the cluster ring, so it
//! must be the same on every node and in every release: never change the seed.

#[inline]
pub fn key_hash(key: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(key)
}

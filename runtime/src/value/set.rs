//! Sets: distinct byte-string members.
//!
//! Encoding: `count`, then each member as a length-prefixed byte string, in insertion order
//! (SPOP and SREM move the last member into the gap, so order is not stable across removals).

use indexmap::IndexSet;

use super::codec::{Reader, put_bytes, put_varint};
use crate::error::StoreError;

/// A decoded set, for changing it or combining it with others.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Set {
    pub members: IndexSet<Vec<u8>>,
}

impl Set {
    pub fn decode(bytes: &[u8]) -> Result<Self, StoreError> {
        let mut r = Reader::new(bytes);
        let n = r.count()?;
        let mut members = IndexSet::with_capacity(n);
        for _ in 0..n {
            if !members.insert(r.bytes()?.to_vec()) {
                return Err(StoreError::CorruptValue);
            }
        }
        r.finish()?;
        Ok(Self { members })
    }

    /// The set in `bytes`, or an empty one for an absent key.
    pub fn decode_or_empty(bytes: Option<&[u8]>) -> Result<Self, StoreError> {
        bytes.map_or_else(|| Ok(Self::default()), Self::decode)
    }

    pub fn encode(&self) -> Vec<u8> {
        let size: usize = self.members.iter().map(|m| m.len() + 2).sum();
        let mut out = Vec::with_capacity(size + 5);
        put_varint(&mut out, self.members.len() as u64);
        for m in &self.members {
            put_bytes(&mut out, m);
        }
        out
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }
}

/// The number of members of an encoded set.
pub fn len(bytes: &[u8]) -> usize {
    Reader::new(bytes).count().unwrap_or(0)
}

/// The members of an encoded set, without copying.
pub fn members(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut r = Reader::new(bytes);
    let n = r.count().unwrap_or(0);
    (0..n).map_while(move |_| r.bytes().ok())
}

pub fn contains(bytes: &[u8], member: &[u8]) -> bool {
    members(bytes).any(|m| m == member)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_duplicates() {
        let mut s = Set::default();
        s.members.insert(b"x".to_vec());
        s.members.insert(b"y".to_vec());
        let bytes = s.encode();
        assert_eq!(Set::decode(&bytes).unwrap(), s);
        assert!(contains(&bytes, b"y") && !contains(&bytes, b"z"));
        assert_eq!(len(&bytes), 2);
        let mut dup = Vec::new();
        put_varint(&mut dup, 2);
        put_bytes(&mut dup, b"x");
        put_bytes(&mut dup, b"x");
        assert!(Set::decode(&dup).is_err());
    }
}

//! Lists: a double-ended sequence of byte strings.
//!
//! Encoding: `count`, then each element as a length-prefixed byte string, head first.

use std::collections::VecDeque;

use super::codec::{Reader, put_bytes, put_varint};
use crate::error::StoreError;

/// A decoded list, for changing it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct List {
    pub items: VecDeque<Vec<u8>>,
}

impl List {
    pub fn decode(bytes: &[u8]) -> Result<Self, StoreError> {
        let mut r = Reader::new(bytes);
        let n = r.count()?;
        let mut items = VecDeque::with_capacity(n);
        for _ in 0..n {
            items.push_back(r.bytes()?.to_vec());
        }
        r.finish()?;
        Ok(Self { items })
    }

    /// The list in `bytes`, or an empty one for an absent key.
    pub fn decode_or_empty(bytes: Option<&[u8]>) -> Result<Self, StoreError> {
        bytes.map_or_else(|| Ok(Self::default()), Self::decode)
    }

    pub fn encode(&self) -> Vec<u8> {
        let size: usize = self.items.iter().map(|i| i.len() + 2).sum();
        let mut out = Vec::with_capacity(size + 5);
        put_varint(&mut out, self.items.len() as u64);
        for item in &self.items {
            put_bytes(&mut out, item);
        }
        out
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// The number of elements of an encoded list.
pub fn len(bytes: &[u8]) -> usize {
    Reader::new(bytes).count().unwrap_or(0)
}

/// The elements of an encoded list, head first, without copying.
pub fn items(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut r = Reader::new(bytes);
    let n = r.count().unwrap_or(0);
    (0..n).map_while(move |_| r.bytes().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let mut l = List::default();
        l.items.push_back(b"b".to_vec());
        l.items.push_front(b"a".to_vec());
        l.items.push_back(Vec::new());
        let bytes = l.encode();
        assert_eq!(List::decode(&bytes).unwrap(), l);
        assert_eq!(len(&bytes), 3);
        assert_eq!(items(&bytes).collect::<Vec<_>>(), [&b"a"[..], b"b", b""]);
        assert!(List::decode(&bytes[..bytes.len() - 1]).is_err());
    }
}

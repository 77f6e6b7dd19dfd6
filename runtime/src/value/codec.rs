//! The primitives every collection encoding is built from: LEB128 varints, length-prefixed byte
//! strings, little-endian f64s, and a bounds-checked reader that fails instead of panicking.

use crate::error::StoreError;

pub(crate) fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

pub(crate) fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Reads an encoding front to back; every read is checked against the end.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    pub fn varint(&mut self) -> Result<u64, StoreError> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let (&b, rest) = self.bytes.split_first().ok_or(StoreError::CorruptValue)?;
            self.bytes = rest;
            n |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(n);
            }
        }
        Err(StoreError::CorruptValue)
    }

    pub fn bytes(&mut self) -> Result<&'a [u8], StoreError> {
        let len = self.varint()?;
        let len = usize::try_from(len).map_err(|_| StoreError::CorruptValue)?;
        if len > self.bytes.len() {
            return Err(StoreError::CorruptValue);
        }
        let (head, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        Ok(head)
    }

    pub fn f64(&mut self) -> Result<f64, StoreError> {
        if self.bytes.len() < 8 {
            return Err(StoreError::CorruptValue);
        }
        let (head, rest) = self.bytes.split_at(8);
        self.bytes = rest;
        let mut raw = [0u8; 8];
        raw.copy_from_slice(head);
        Ok(f64::from_le_bytes(raw))
    }

    /// The element count that starts every encoding; an empty block is an empty collection.
    /// Bounded by the bytes left (every element takes at least one byte), so a corrupt count
    /// cannot make a caller reserve a huge vector.
    pub fn count(&mut self) -> Result<usize, StoreError> {
        if self.bytes.is_empty() {
            return Ok(0);
        }
        let n = self.varint()?;
        if n > self.bytes.len() as u64 {
            return Err(StoreError::CorruptValue);
        }
        Ok(n as usize)
    }

    /// Fails unless every byte was read.
    pub fn finish(self) -> Result<(), StoreError> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            Err(StoreError::CorruptValue)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_and_truncation_fails() {
        for n in [0, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, n);
            let mut r = Reader::new(&out);
            assert_eq!(r.varint().unwrap(), n);
            assert!(r.is_empty());
            let mut cut = Reader::new(&out[..out.len() - 1]);
            assert!(cut.varint().is_err());
        }
        let mut r = Reader::new(&[5, b'a']);
        assert!(r.bytes().is_err());
        assert!(Reader::new(&[0xff; 11]).varint().is_err());
    }
}

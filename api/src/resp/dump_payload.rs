//! The `DUMP`/`RESTORE` payload: Redis's own serialization of one value, so keys move between
//! Larder and Redis with the tools that use these commands (migration and backup tools,
//! `redis-cli --pipe` scripts, `MIGRATE`-style copies).
//!
//! A payload is `[type][value][RDB version: u16 LE][CRC-64/Redis of all before: u64 LE]`.
//!
//! - **Written** ([`dump`]): the encodings every Redis since 2.x loads — a string as a plain
//!   length-prefixed string (type 0), a list (type 1), a set (2), a hash (4) and a sorted set
//!   with binary scores (5) as element counts followed by their strings — stamped RDB version 9,
//!   which Redis 5.0 and later accept. A hash's field deadlines (Redis 7.4's `HEXPIRE`) are not
//!   in the payload: those fields come back without them, as in a Redis older than 7.4.
//! - **Read** ([`parse`]): those, and what Redis 7 writes for small values — integer and
//!   LZF-compressed strings, the listpack hash (16), sorted set (17) and set (20), the quicklist
//!   of listpacks (18), the intset (11) and the old sorted set with text scores (3) — with RDB
//!   versions up to 12. The ziplist encodings of Redis 6 and older are refused with a message
//!   saying so. Every length is checked against what is left of the payload before it is used,
//!   so no payload makes the parser read past its end; and everything a payload decodes to —
//!   decompressed strings, the elements of nested listpacks — is charged to one budget the
//!   caller sets ([`parse_within`]), so a small payload cannot expand into a large allocation.

use thiserror::Error;

/// The RDB version stamped on payloads written here (Redis 5.0's).
pub const WRITTEN_RDB_VERSION: u16 = 9;
/// The newest RDB version whose payloads are read (Redis 7.4's is 12).
pub const MAX_RDB_VERSION: u16 = 12;

const TYPE_STRING: u8 = 0;
const TYPE_LIST: u8 = 1;
const TYPE_SET: u8 = 2;
const TYPE_ZSET: u8 = 3;
const TYPE_HASH: u8 = 4;
const TYPE_ZSET_2: u8 = 5;
const TYPE_SET_INTSET: u8 = 11;
const TYPE_HASH_LISTPACK: u8 = 16;
const TYPE_ZSET_LISTPACK: u8 = 17;
const TYPE_LIST_QUICKLIST_2: u8 = 18;
const TYPE_SET_LISTPACK: u8 = 20;

const CRC: crc::Crc<u64> = crc::Crc::<u64>::new(&crc::CRC_64_REDIS);

/// A value as a payload carries it.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    String(Vec<u8>),
    List(Vec<Vec<u8>>),
    Set(Vec<Vec<u8>>),
    /// (member, score), in the payload's order.
    SortedSet(Vec<(Vec<u8>, f64)>),
    /// (field, value), in the payload's order.
    Hash(Vec<(Vec<u8>, Vec<u8>)>),
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum PayloadError {
    /// Redis's own wording for a payload whose footer does not check.
    #[error("DUMP payload version or checksum are wrong")]
    Footer,
    #[error("Bad data format")]
    Format,
    #[error(
        "the payload holds a ziplist-encoded value (type {0}, written by Redis 6 or older); \
         DUMP it from Redis 7, or move the key with its commands"
    )]
    Ziplist(u8),
    #[error("the payload holds a value of RDB type {0}, which Larder does not store")]
    UnknownType(u8),
    #[error("the payload's value is larger than this namespace's max item size allows")]
    TooLarge,
}

/// What each decoded element costs the budget besides its bytes (its place in a collection).
const ELEMENT_COST: usize = 16;

/// The payload of `value`.
pub fn dump(value: &Payload) -> Vec<u8> {
    let mut out = Vec::new();
    match value {
        Payload::String(s) => {
            out.push(TYPE_STRING);
            put_string(&mut out, s);
        }
        Payload::List(items) => {
            out.push(TYPE_LIST);
            put_len(&mut out, items.len() as u64);
            items.iter().for_each(|i| put_string(&mut out, i));
        }
        Payload::Set(members) => {
            out.push(TYPE_SET);
            put_len(&mut out, members.len() as u64);
            members.iter().for_each(|m| put_string(&mut out, m));
        }
        Payload::SortedSet(items) => {
            out.push(TYPE_ZSET_2);
            put_len(&mut out, items.len() as u64);
            for (member, score) in items {
                put_string(&mut out, member);
                out.extend_from_slice(&score.to_le_bytes());
            }
        }
        Payload::Hash(fields) => {
            out.push(TYPE_HASH);
            put_len(&mut out, fields.len() as u64);
            for (field, value) in fields {
                put_string(&mut out, field);
                put_string(&mut out, value);
            }
        }
    }
    out.extend_from_slice(&WRITTEN_RDB_VERSION.to_le_bytes());
    let crc = CRC.checksum(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The value a payload holds, after checking its footer, with no budget (tests and trusted
/// payloads).
pub fn parse(payload: &[u8]) -> Result<Payload, PayloadError> {
    parse_within(payload, usize::MAX)
}

/// The value a payload holds, decoding at most `budget` bytes (plus [`ELEMENT_COST`] per
/// element) in all: `TooLarge` past it.
pub fn parse_within(payload: &[u8], budget: usize) -> Result<Payload, PayloadError> {
    if payload.len() < 10 {
        return Err(PayloadError::Footer);
    }
    let (body, footer) = payload.split_at(payload.len() - 8);
    let crc = u64::from_le_bytes(footer.try_into().map_err(|_| PayloadError::Footer)?);
    let version = u16::from_le_bytes([body[body.len() - 2], body[body.len() - 1]]);
    if version > MAX_RDB_VERSION || CRC.checksum(body) != crc {
        return Err(PayloadError::Footer);
    }
    let budget = std::cell::Cell::new(budget);
    let mut r = Reader {
        bytes: &body[..body.len() - 2],
        budget: &budget,
    };
    let value = r.value()?;
    if !r.bytes.is_empty() {
        return Err(PayloadError::Format);
    }
    Ok(value)
}

fn put_len(out: &mut Vec<u8>, len: u64) {
    if len < 1 << 6 {
        out.push(len as u8);
    } else if len < 1 << 14 {
        out.push(0x40 | (len >> 8) as u8);
        out.push(len as u8);
    } else if len <= u64::from(u32::MAX) {
        out.push(0x80);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

fn put_string(out: &mut Vec<u8>, s: &[u8]) {
    put_len(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// A length, or a special string encoding (`11xxxxxx`).
enum Len {
    Plain(u64),
    Encoded(u8),
}

struct Reader<'a> {
    bytes: &'a [u8],
    /// What may still be decoded, shared with the readers of nested blobs.
    budget: &'a std::cell::Cell<usize>,
}

impl<'a> Reader<'a> {
    fn charge(&self, bytes: usize) -> Result<(), PayloadError> {
        let left = self
            .budget
            .get()
            .checked_sub(bytes.saturating_add(ELEMENT_COST))
            .ok_or(PayloadError::TooLarge)?;
        self.budget.set(left);
        Ok(())
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], PayloadError> {
        if n > self.bytes.len() {
            return Err(PayloadError::Format);
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn byte(&mut self) -> Result<u8, PayloadError> {
        Ok(self.take(1)?[0])
    }

    fn len_or_encoding(&mut self) -> Result<Len, PayloadError> {
        let first = self.byte()?;
        Ok(match first >> 6 {
            0 => Len::Plain(u64::from(first & 0x3f)),
            1 => Len::Plain(u64::from(first & 0x3f) << 8 | u64::from(self.byte()?)),
            2 if first == 0x80 => Len::Plain(u64::from(u32::from_be_bytes(self.array::<4>()?))),
            2 if first == 0x81 => Len::Plain(u64::from_be_bytes(self.array::<8>()?)),
            2 => return Err(PayloadError::Format),
            _ => Len::Encoded(first & 0x3f),
        })
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], PayloadError> {
        self.take(N)?.try_into().map_err(|_| PayloadError::Format)
    }

    /// A count of elements, each at least `min_bytes` long: more than the payload could hold is
    /// malformed, so no count can make the parser reserve more than the payload's size.
    fn count(&mut self, min_bytes: usize) -> Result<usize, PayloadError> {
        match self.len_or_encoding()? {
            Len::Plain(n) if n <= (self.bytes.len() / min_bytes.max(1)) as u64 => Ok(n as usize),
            _ => Err(PayloadError::Format),
        }
    }

    fn string(&mut self) -> Result<Vec<u8>, PayloadError> {
        match self.len_or_encoding()? {
            Len::Plain(n) => {
                let n = usize::try_from(n).map_err(|_| PayloadError::Format)?;
                let bytes = self.take(n)?;
                self.charge(n)?;
                Ok(bytes.to_vec())
            }
            Len::Encoded(0) => Ok((self.byte()? as i8).to_string().into_bytes()),
            Len::Encoded(1) => Ok(i16::from_le_bytes(self.array()?).to_string().into_bytes()),
            Len::Encoded(2) => Ok(i32::from_le_bytes(self.array()?).to_string().into_bytes()),
            Len::Encoded(3) => {
                let compressed = self.plain_len()?;
                let original = self.plain_len()?;
                let data = self.take(compressed)?;
                self.charge(original)?;
                lzf_decompress(data, original)
            }
            Len::Encoded(_) => Err(PayloadError::Format),
        }
    }

    fn plain_len(&mut self) -> Result<usize, PayloadError> {
        match self.len_or_encoding()? {
            Len::Plain(n) => usize::try_from(n).map_err(|_| PayloadError::Format),
            Len::Encoded(_) => Err(PayloadError::Format),
        }
    }

    /// A score written as text (type 3): a length byte, or 253 NaN, 254 +inf, 255 -inf.
    fn text_double(&mut self) -> Result<f64, PayloadError> {
        let len = self.byte()?;
        match len {
            253 => Err(PayloadError::Format),
            254 => Ok(f64::INFINITY),
            255 => Ok(f64::NEG_INFINITY),
            n => parse_score(self.take(usize::from(n))?),
        }
    }

    fn strings(&mut self) -> Result<Vec<Vec<u8>>, PayloadError> {
        let n = self.count(1)?;
        (0..n).map(|_| self.string()).collect()
    }

    fn value(&mut self) -> Result<Payload, PayloadError> {
        let kind = self.byte()?;
        Ok(match kind {
            TYPE_STRING => Payload::String(self.string()?),
            TYPE_LIST => Payload::List(self.strings()?),
            TYPE_SET => Payload::Set(self.strings()?),
            TYPE_HASH => {
                let n = self.count(2)?;
                let fields = (0..n)
                    .map(|_| Ok((self.string()?, self.string()?)))
                    .collect::<Result<_, PayloadError>>()?;
                Payload::Hash(fields)
            }
            TYPE_ZSET | TYPE_ZSET_2 => {
                let n = self.count(2)?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    let member = self.string()?;
                    let score = if kind == TYPE_ZSET_2 {
                        let score = f64::from_le_bytes(self.array()?);
                        if score.is_nan() {
                            return Err(PayloadError::Format);
                        }
                        score
                    } else {
                        self.text_double()?
                    };
                    items.push((member, score));
                }
                Payload::SortedSet(items)
            }
            TYPE_SET_INTSET => {
                let members = intset(&self.string()?)?;
                self.charge(members.len().saturating_mul(20))?;
                Payload::Set(members)
            }
            TYPE_SET_LISTPACK => Payload::Set(listpack(&self.string()?, self.budget)?),
            TYPE_HASH_LISTPACK => {
                let flat = listpack(&self.string()?, self.budget)?;
                if flat.len() % 2 != 0 {
                    return Err(PayloadError::Format);
                }
                let mut fields = Vec::with_capacity(flat.len() / 2);
                let mut it = flat.into_iter();
                while let (Some(f), Some(v)) = (it.next(), it.next()) {
                    fields.push((f, v));
                }
                Payload::Hash(fields)
            }
            TYPE_ZSET_LISTPACK => {
                let flat = listpack(&self.string()?, self.budget)?;
                if flat.len() % 2 != 0 {
                    return Err(PayloadError::Format);
                }
                let mut items = Vec::with_capacity(flat.len() / 2);
                let mut it = flat.into_iter();
                while let (Some(member), Some(score)) = (it.next(), it.next()) {
                    items.push((member, parse_score(&score)?));
                }
                Payload::SortedSet(items)
            }
            TYPE_LIST_QUICKLIST_2 => {
                let nodes = self.count(2)?;
                let mut items = Vec::new();
                for _ in 0..nodes {
                    match self.plain_len()? {
                        // A plain node: one large element.
                        1 => items.push(self.string()?),
                        2 => items.extend(listpack(&self.string()?, self.budget)?),
                        _ => return Err(PayloadError::Format),
                    }
                }
                Payload::List(items)
            }
            9 | 10 | 12 | 13 | 14 => return Err(PayloadError::Ziplist(kind)),
            other => return Err(PayloadError::UnknownType(other)),
        })
    }
}

fn parse_score(text: &[u8]) -> Result<f64, PayloadError> {
    let score: f64 = std::str::from_utf8(text)
        .ok()
        .and_then(|t| match t {
            "inf" | "+inf" => Some(f64::INFINITY),
            "-inf" => Some(f64::NEG_INFINITY),
            _ => t.parse().ok(),
        })
        .ok_or(PayloadError::Format)?;
    if score.is_nan() {
        return Err(PayloadError::Format);
    }
    Ok(score)
}

/// An intset blob: `encoding: u32 LE` (2, 4 or 8 bytes per integer), `length: u32 LE`, integers.
fn intset(blob: &[u8]) -> Result<Vec<Vec<u8>>, PayloadError> {
    let header = blob.get(..8).ok_or(PayloadError::Format)?;
    let width = u32::from_le_bytes(header[..4].try_into().map_err(|_| PayloadError::Format)?);
    let count = u32::from_le_bytes(header[4..].try_into().map_err(|_| PayloadError::Format)?);
    let width = match width {
        2 | 4 | 8 => width as usize,
        _ => return Err(PayloadError::Format),
    };
    let body = &blob[8..];
    if body.len() != width * count as usize {
        return Err(PayloadError::Format);
    }
    Ok(body
        .chunks_exact(width)
        .map(|c| {
            let n = match width {
                2 => i64::from(i16::from_le_bytes([c[0], c[1]])),
                4 => i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])),
                _ => i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]),
            };
            n.to_string().into_bytes()
        })
        .collect())
}

/// A listpack blob's elements, integers as their decimal text: `total_bytes: u32 LE`,
/// `count: u16 LE`, entries (encoding, data, back-length), `0xFF`.
fn listpack(blob: &[u8], budget: &std::cell::Cell<usize>) -> Result<Vec<Vec<u8>>, PayloadError> {
    if blob.len() < 7 || blob.last() != Some(&0xFF) {
        return Err(PayloadError::Format);
    }
    let total = u32::from_le_bytes(blob[..4].try_into().map_err(|_| PayloadError::Format)?);
    if total as usize != blob.len() {
        return Err(PayloadError::Format);
    }
    let mut r = Reader {
        bytes: &blob[6..blob.len() - 1],
        budget,
    };
    let mut out = Vec::new();
    while !r.bytes.is_empty() {
        let start = r.bytes.len();
        let b = r.byte()?;
        let element = if b & 0x80 == 0 {
            (b & 0x7f).to_string().into_bytes()
        } else if b & 0xC0 == 0x80 {
            r.take(usize::from(b & 0x3f))?.to_vec()
        } else if b & 0xE0 == 0xC0 {
            let raw = (i64::from(b & 0x1f) << 8) | i64::from(r.byte()?);
            let n = if raw >= 1 << 12 { raw - (1 << 13) } else { raw };
            n.to_string().into_bytes()
        } else if b & 0xF0 == 0xE0 {
            let len = (usize::from(b & 0x0f) << 8) | usize::from(r.byte()?);
            r.take(len)?.to_vec()
        } else {
            match b {
                0xF0 => {
                    let len = u32::from_le_bytes(r.array()?) as usize;
                    r.take(len)?.to_vec()
                }
                0xF1 => i16::from_le_bytes(r.array()?).to_string().into_bytes(),
                0xF2 => {
                    let [x, y, z] = r.array::<3>()?;
                    (i32::from_le_bytes([0, x, y, z]) >> 8)
                        .to_string()
                        .into_bytes()
                }
                0xF3 => i32::from_le_bytes(r.array()?).to_string().into_bytes(),
                0xF4 => i64::from_le_bytes(r.array()?).to_string().into_bytes(),
                _ => return Err(PayloadError::Format),
            }
        };
        let entry_len = start - r.bytes.len();
        // Redis's lpEncodeBacklen: the boundaries are 127, 16383, 2097151 and 268435455.
        let back_len = match entry_len {
            0..=127 => 1,
            128..16_383 => 2,
            16_383..2_097_151 => 3,
            2_097_151..268_435_455 => 4,
            _ => 5,
        };
        r.take(back_len)?;
        r.charge(element.len())?;
        out.push(element);
    }
    Ok(out)
}

/// LZF (liblzf) decompression into exactly `original` bytes.
fn lzf_decompress(data: &[u8], original: usize) -> Result<Vec<u8>, PayloadError> {
    // Each input byte expands to at most 264 output bytes (a back-reference of 264): a claimed
    // length beyond that is malformed, and nothing larger is reserved.
    if original > data.len().saturating_mul(264) {
        return Err(PayloadError::Format);
    }
    let mut out = Vec::with_capacity(original);
    let mut i = 0;
    while i < data.len() {
        let ctrl = usize::from(data[i]);
        i += 1;
        if ctrl < 32 {
            // A literal run of ctrl + 1 bytes.
            let run = data.get(i..i + ctrl + 1).ok_or(PayloadError::Format)?;
            out.extend_from_slice(run);
            i += ctrl + 1;
        } else {
            // A back-reference: length (ctrl >> 5) + 2, or 7 + next byte + 2.
            let mut len = ctrl >> 5;
            if len == 7 {
                len += usize::from(*data.get(i).ok_or(PayloadError::Format)?);
                i += 1;
            }
            len += 2;
            let low = usize::from(*data.get(i).ok_or(PayloadError::Format)?);
            i += 1;
            let back = ((ctrl & 0x1f) << 8) + low + 1;
            if back > out.len() {
                return Err(PayloadError::Format);
            }
            let from = out.len() - back;
            for k in 0..len {
                out.push(out[from + k]);
            }
        }
        if out.len() > original {
            return Err(PayloadError::Format);
        }
    }
    if out.len() != original {
        return Err(PayloadError::Format);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    fn strings(items: &[&str]) -> Vec<Vec<u8>> {
        items.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    /// Payloads `DUMP` answered on Redis 7.0.15 (RDB version 10) for the values named.
    #[test]
    fn what_redis_7_dumps_is_read() {
        let cases = [
            // SET s10 10: an integer-encoded string.
            (
                "00c00a0a006e9f57450eae63bb",
                Payload::String(b"10".to_vec()),
            ),
            (
                "000b68656c6c6f20776f726c640a000bfc49b9a6c7a034",
                Payload::String(b"hello world".to_vec()),
            ),
            // SET big <200 × 'a'>: LZF-compressed.
            (
                "00c30940c8016161e0bb000161610a001f99f72e01b20de3",
                Payload::String(vec![b'a'; 200]),
            ),
            // RPUSH lst a b 123 -5 70000: a quicklist of one listpack.
            (
                "120102171700000005008161028162027b01dffb02f270110104ff0a0012da219f9a307aee",
                Payload::List(strings(&["a", "b", "123", "-5", "70000"])),
            ),
            // SADD iset 1 2 300: an intset.
            (
                "0b0e0200000003000000010002002c010a00e510b28e7b9529aa",
                Payload::Set(strings(&["1", "2", "300"])),
            ),
            (
                "0202017901780a000cdf6b3db330bcf0",
                Payload::Set(strings(&["y", "x"])),
            ),
            // ZADD zs 1.5 a 2 b -3 c: a listpack, scores as text or integers.
            (
                "111a1a0000000600816302dffd0281610283312e35048162020201ff0a0088c4c030f0ae8276",
                Payload::SortedSet(vec![
                    (b"c".to_vec(), -3.0),
                    (b"a".to_vec(), 1.5),
                    (b"b".to_vec(), 2.0),
                ]),
            ),
            // HSET h f1 v1 f2 22.
            (
                "10151500000004008266310382763103826632031601ff0a00794ee62e9c48a90c",
                Payload::Hash(vec![
                    (b"f1".to_vec(), b"v1".to_vec()),
                    (b"f2".to_vec(), b"22".to_vec()),
                ]),
            ),
        ];
        for (payload, want) in cases {
            assert_eq!(parse(&hex(payload)), Ok(want), "{payload}");
        }
    }

    #[test]
    fn every_value_survives_its_own_payload() {
        let long = vec![b'x'; 20_000];
        let values = [
            Payload::String(Vec::new()),
            Payload::String(long.clone()),
            Payload::List(vec![b"a".to_vec(), long.clone(), Vec::new()]),
            Payload::Set(strings(&["m1", "m2"])),
            Payload::SortedSet(vec![
                (b"lo".to_vec(), f64::NEG_INFINITY),
                (b"mid".to_vec(), -0.25),
                (b"hi".to_vec(), 1e300),
            ]),
            Payload::Hash(vec![(b"f".to_vec(), long)]),
        ];
        for value in values {
            let payload = dump(&value);
            assert_eq!(
                payload[payload.len() - 10..payload.len() - 8],
                [9, 0],
                "RDB version 9"
            );
            assert_eq!(parse(&payload), Ok(value));
        }
    }

    #[test]
    fn a_damaged_payload_is_refused_never_misread() {
        let payload = dump(&Payload::List(strings(&["one", "two", "three"])));
        for i in 0..payload.len() {
            let mut bad = payload.clone();
            bad[i] ^= 0x01;
            assert!(parse(&bad).is_err(), "a flipped bit at {i}");
        }
        for cut in 0..payload.len() {
            assert!(parse(&payload[..cut]).is_err(), "cut at {cut}");
        }
        let mut newer = payload[..payload.len() - 10].to_vec();
        newer.extend_from_slice(&13u16.to_le_bytes());
        let crc = CRC.checksum(&newer);
        newer.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(
            parse(&newer),
            Err(PayloadError::Footer),
            "RDB 13 is too new"
        );
    }

    /// A payload that decompresses (or whose nested listpacks expand) past the budget is
    /// refused before the memory is reserved.
    #[test]
    fn decoding_is_held_to_the_budget() {
        let lzf = hex("00c30940c8016161e0bb000161610a001f99f72e01b20de3"); // 200 × 'a'
        assert_eq!(parse_within(&lzf, 100), Err(PayloadError::TooLarge));
        assert_eq!(
            parse_within(&lzf, 1000),
            Ok(Payload::String(vec![b'a'; 200]))
        );
        let list = dump(&Payload::List(vec![b"x".to_vec(); 1000]));
        assert_eq!(parse_within(&list, 5_000), Err(PayloadError::TooLarge));
        assert!(parse_within(&list, 100_000).is_ok());
    }

    /// Random bodies with a valid footer: the parser answers, and never panics or reserves
    /// more than the payload could describe.
    #[test]
    fn random_bodies_with_valid_footers_never_panic() {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for round in 0..20_000 {
            let len = (next() % 64) as usize;
            let mut body: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if let Some(first) = body.first_mut() {
                // Mostly the types that exist, so the parsers behind them are reached.
                *first = [0, 1, 2, 3, 4, 5, 11, 16, 17, 18, 20][round % 11];
            }
            body.extend_from_slice(&10u16.to_le_bytes());
            let crc = CRC.checksum(&body);
            body.extend_from_slice(&crc.to_le_bytes());
            let _ = parse(&body);
        }
    }
}

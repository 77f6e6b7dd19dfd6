//! Bit commands on string values: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD and
//! BITFIELD_RO, with Redis's semantics and error wording.
//!
//! Bits are numbered as Redis numbers them: bit 0 is the most significant bit of byte 0. A
//! string grows (zero-padded) when a write reaches past its end, and is refused *before* it
//! is allocated when the result would exceed the namespace's max item size. Every argument is
//! checked before the key is looked at, so a bad argument answers the same error whether the
//! key exists, is missing or holds another type.

use larder_runtime::{Change, Condition, Expiry, SetOptions, Store, StoreError, ValueKind};

use super::string_edits::{edit_error, put_keeping_ttl};
use super::{Args, is, not_an_integer, parse_i64, store_error, syntax_error};
use crate::resp::reply::Reply;

/// Redis caps bit offsets at its 512 MB string limit; this node's own cap is the namespace's
/// max item size, checked separately.
const MAX_BIT_OFFSET: u64 = 512 * 1024 * 1024 * 8;

fn bad_offset(reply: &mut Reply) {
    reply.error("ERR bit offset is not an integer or out of range");
}

/// A bit offset: a non-negative integer below Redis's cap. With `hash_unit`, `#n` means
/// `n * hash_unit` (BITFIELD's "n-th field of this width" form).
fn parse_offset(arg: &[u8], hash_unit: Option<u64>) -> Option<u64> {
    let (digits, unit) = match (arg.split_first(), hash_unit) {
        (Some((b'#', rest)), Some(unit)) => (rest, unit),
        _ => (arg, 1),
    };
    let n = u64::try_from(parse_i64(digits)?).ok()?;
    let offset = n.checked_mul(unit)?;
    (offset < MAX_BIT_OFFSET).then_some(offset)
}

/// The refusal for a write that would grow the value past the namespace's max item size.
fn too_large(len: usize, max: u64) -> StoreError {
    StoreError::ValueTooLarge { len, max }
}

#[inline]
fn bit_at(value: &[u8], bit: u64) -> u8 {
    match value.get((bit >> 3) as usize) {
        Some(byte) => (byte >> (7 - (bit & 7))) & 1,
        None => 0,
    }
}

#[inline]
fn set_bit_at(value: &mut [u8], bit: u64, on: bool) {
    let mask = 1u8 << (7 - (bit & 7));
    let byte = &mut value[(bit >> 3) as usize];
    if on {
        *byte |= mask;
    } else {
        *byte &= !mask;
    }
}

/// `SETBIT key offset 0|1`: the bit's previous value. Changing nothing (the bit already had
/// that value, inside the string) is not a write.
pub fn setbit(store: &Store, args: &Args<'_>, reply: &mut Reply) {
    let key = args.get(1);
    let Some(offset) = parse_offset(args.get(2), None) else {
        return bad_offset(reply);
    };
    let on = match args.get(3) {
        b"0" => false,
        b"1" => true,
        _ => return reply.error("ERR bit is not an integer or out of range"),
    };
    let max = store.max_item_size();
    let result = store.update(key, |current| {
        let needed = (offset >> 3) as usize + 1;
        let old = current.map_or(0, |v| bit_at(v, offset));
        if let Some(v) = current
            && v.len() >= needed
            && (old == 1) == on
        {
            return Ok((Change::Keep, old));
        }
        let mut value = current.unwrap_or_default().to_vec();
        if value.len() < needed {
            if (key.len() + needed) as u64 > max {
                return Err(too_large(needed, max));
            }
            value.resize(needed, 0);
        }
        set_bit_at(&mut value, offset, on);
        Ok((put_keeping_ttl(value), old))
    });
    match result {
        Ok(old) => reply.integer(i64::from(old)),
        Err(e) => edit_error(&e, reply),
    }
}

/// `GETBIT key offset`: 0 past the end of the string and for a missing key.
pub fn getbit(store: &Store, args: &Args<'_>, reply: &mut Reply) {
    let Some(offset) = parse_offset(args.get(2), None) else {
        return bad_offset(reply);
    };
    match store.read(args.get(1), ValueKind::String, |v| bit_at(v, offset)) {
        Ok(bit) => reply.integer(i64::from(bit.unwrap_or(0))),
        Err(e) => store_error(&e, reply),
    }
}

/// The unit of a BITCOUNT/BITPOS range.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Unit {
    Byte,
    Bit,
}

fn parse_unit(arg: &[u8]) -> Option<Unit> {
    if is(arg, "BYTE") {
        Some(Unit::Byte)
    } else if is(arg, "BIT") {
        Some(Unit::Bit)
    } else {
        None
    }
}

/// A `start end` range resolved against a string of `len` units as Redis resolves it (negative
/// counts from the end, clamped to the string): the inclusive first and last *bit*, or `None`
/// for an empty range.
fn resolve_range(start: i64, end: i64, unit: Unit, byte_len: usize) -> Option<(u64, u64)> {
    let total = match unit {
        Unit::Byte => byte_len as i64,
        Unit::Bit => byte_len as i64 * 8,
    };
    if start < 0 && end < 0 && start > end {
        return None;
    }
    let start = if start < 0 { start + total } else { start }.max(0);
    let end = if end < 0 { end + total } else { end }
        .max(0)
        .min(total - 1);
    if start > end {
        return None;
    }
    Some(match unit {
        Unit::Byte => (start as u64 * 8, end as u64 * 8 + 7),
        Unit::Bit => (start as u64, end as u64),
    })
}

/// The set bits in `[first, last]`: whole bytes by `count_ones`, the partial edge bytes masked.
fn count_bits(value: &[u8], first: u64, last: u64) -> u64 {
    let (first_byte, last_byte) = ((first >> 3) as usize, (last >> 3) as usize);
    let head_mask = 0xffu8 >> (first & 7);
    let tail_mask = 0xffu8 << (7 - (last & 7));
    if first_byte == last_byte {
        return u64::from((value[first_byte] & head_mask & tail_mask).count_ones());
    }
    let middle: u64 = value[first_byte + 1..last_byte]
        .iter()
        .map(|b| u64::from(b.count_ones()))
        .sum();
    middle
        + u64::from((value[first_byte] & head_mask).count_ones())
        + u64::from((value[last_byte] & tail_mask).count_ones())
}

/// Parse BITCOUNT's or BITPOS's optional `start [end [BYTE|BIT]]` from `args[from..]`. `Err`
/// means the reply (an error) is written.
struct Range {
    start: i64,
    end: Option<i64>,
    unit: Unit,
}

fn parse_range(args: &Args<'_>, from: usize, reply: &mut Reply) -> Result<Option<Range>, ()> {
    let n = args.len() - from;
    if n == 0 {
        return Ok(None);
    }
    if n > 3 {
        syntax_error(reply);
        return Err(());
    }
    // The unit is checked before the integers, as Redis checks them.
    let unit = if n == 3 {
        match parse_unit(args.get(from + 2)) {
            Some(unit) => unit,
            None => {
                syntax_error(reply);
                return Err(());
            }
        }
    } else {
        Unit::Byte
    };
    let Some(start) = parse_i64(args.get(from)) else {
        not_an_integer(reply);
        return Err(());
    };
    let end = if n >= 2 {
        match parse_i64(args.get(from + 1)) {
            Some(end) => Some(end),
            None => {
                not_an_integer(reply);
                return Err(());
            }
        }
    } else {
        None
    };
    Ok(Some(Range { start, end, unit }))
}

/// `BITCOUNT key [start end [BYTE|BIT]]`: the set bits in the string or the range.
pub fn bitcount(store: &Store, args: &Args<'_>, reply: &mut Reply) {
    let Ok(range) = parse_range(args, 2, reply) else {
        return;
    };
    // A start without an end is a syntax error (checked after both parse, as Redis does).
    if matches!(range, Some(Range { end: None, .. })) {
        return syntax_error(reply);
    }
    let counted = store.read(args.get(1), ValueKind::String, |value| {
        let (start, end, unit) = match &range {
            Some(r) => (r.start, r.end.unwrap_or(-1), r.unit),
            None => (0, -1, Unit::Byte),
        };
        resolve_range(start, end, unit, value.len())
            .map_or(0, |(first, last)| count_bits(value, first, last))
    });
    match counted {
        Ok(n) => reply.integer(n.unwrap_or(0) as i64),
        Err(e) => store_error(&e, reply),
    }
}

/// The first bit equal to `bit` in `[first, last]`, skipping whole bytes that cannot hold it.
fn find_bit(value: &[u8], bit: u8, first: u64, last: u64) -> Option<u64> {
    let skip = if bit == 1 { 0x00 } else { 0xff };
    let mut i = first;
    while i <= last {
        if i & 7 == 0 && i + 7 <= last && value[(i >> 3) as usize] == skip {
            i += 8;
            continue;
        }
        if bit_at(value, i) == bit {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// `BITPOS key 0|1 [start [end [BYTE|BIT]]]`: the first bit with that value, or -1. Looking
/// for a 0 with no end given, a string of all ones answers the bit just past its end (the
/// string is as if padded with zeros), as Redis does.
pub fn bitpos(store: &Store, args: &Args<'_>, reply: &mut Reply) {
    let bit = match parse_i64(args.get(2)) {
        Some(0) => 0u8,
        Some(1) => 1u8,
        Some(_) => return reply.error("ERR The bit argument must be 1 or 0."),
        None => return not_an_integer(reply),
    };
    let Ok(range) = parse_range(args, 3, reply) else {
        return;
    };
    let end_given = range.as_ref().is_some_and(|r| r.end.is_some());
    let found = store.read(args.get(1), ValueKind::String, |value| {
        let (start, end, unit) = match &range {
            Some(r) => (r.start, r.end.unwrap_or(-1), r.unit),
            None => (0, -1, Unit::Byte),
        };
        let Some((first, last)) = resolve_range(start, end, unit, value.len()) else {
            return -1;
        };
        match find_bit(value, bit, first, last) {
            Some(i) => i as i64,
            None if bit == 0 && !end_given => last as i64 + 1,
            None => -1,
        }
    });
    match found {
        Ok(Some(pos)) => reply.integer(pos),
        // A missing key is all zeros: a 0 is found at once, a 1 never.
        Ok(None) => reply.integer(if bit == 0 { 0 } else { -1 }),
        Err(e) => store_error(&e, reply),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

/// `BITOP AND|OR|XOR|NOT destkey key [key …]`: the destination's new length. Missing sources
/// are empty strings, shorter sources are zero-padded; an empty result deletes the destination.
/// The destination is replaced whole (its expiry cleared), as SET would.
pub fn bitop(store: &Store, args: &Args<'_>, reply: &mut Reply) {
    let op = match args.get(1) {
        o if is(o, "AND") => BitOp::And,
        o if is(o, "OR") => BitOp::Or,
        o if is(o, "XOR") => BitOp::Xor,
        o if is(o, "NOT") => BitOp::Not,
        _ => return syntax_error(reply),
    };
    if op == BitOp::Not && args.len() != 4 {
        return reply.error("ERR BITOP NOT must be called with a single source key.");
    }
    let mut sources = Vec::with_capacity(args.len() - 3);
    for key in args.from(3) {
        match store.read(key, ValueKind::String, <[u8]>::to_vec) {
            Ok(value) => sources.push(value.unwrap_or_default()),
            Err(e) => return store_error(&e, reply),
        }
    }
    let len = sources.iter().map(Vec::len).max().unwrap_or(0);
    let dst = args.get(2);
    if len == 0 {
        store.delete(dst);
        return reply.integer(0);
    }
    let mut result = sources[0].clone();
    result.resize(len, 0);
    match op {
        BitOp::Not => result.iter_mut().for_each(|b| *b = !*b),
        _ => {
            for source in &sources[1..] {
                for (i, r) in result.iter_mut().enumerate() {
                    let s = source.get(i).copied().unwrap_or(0);
                    *r = match op {
                        BitOp::And => *r & s,
                        BitOp::Or => *r | s,
                        _ => *r ^ s,
                    };
                }
            }
        }
    }
    let opts = SetOptions {
        expiry: Expiry::Default,
        condition: Condition::Always,
        return_old: false,
    };
    match store.set(dst, &result, opts) {
        Ok(_) => reply.integer(len as i64),
        Err(e) => edit_error(&e, reply),
    }
}

/// A BITFIELD integer type: `i1`…`i64` or `u1`…`u63`.
#[derive(Clone, Copy)]
struct FieldType {
    signed: bool,
    bits: u32,
}

impl FieldType {
    fn parse(arg: &[u8]) -> Option<Self> {
        let (signed, digits) = match arg.split_first()? {
            (b'i' | b'I', rest) => (true, rest),
            (b'u' | b'U', rest) => (false, rest),
            _ => return None,
        };
        let bits = u32::try_from(parse_i64(digits)?).ok()?;
        let max = if signed { 64 } else { 63 };
        (1..=max).contains(&bits).then_some(Self { signed, bits })
    }

    fn max(self) -> i128 {
        if self.signed {
            (1i128 << (self.bits - 1)) - 1
        } else {
            (1i128 << self.bits) - 1
        }
    }

    fn min(self) -> i128 {
        if self.signed {
            -(1i128 << (self.bits - 1))
        } else {
            0
        }
    }

    /// `value` reduced modulo 2^bits into this type's range (two's complement for signed).
    fn wrap(self, value: i128) -> i128 {
        let modulus = 1i128 << self.bits;
        let low = value.rem_euclid(modulus);
        if self.signed && low > self.max() {
            low - modulus
        } else {
            low
        }
    }

    /// Read the field at bit `offset` (big-endian, past the end reads zeros).
    fn get(self, value: &[u8], offset: u64) -> i128 {
        let mut raw: u64 = 0;
        for j in 0..u64::from(self.bits) {
            raw = (raw << 1) | u64::from(bit_at(value, offset + j));
        }
        let raw = i128::from(raw);
        if self.signed { self.wrap(raw) } else { raw }
    }

    /// Write the (in-range) `field` at bit `offset`; `value` is long enough.
    fn put(self, value: &mut [u8], offset: u64, field: i128) {
        let raw = (field.rem_euclid(1i128 << self.bits)) as u64;
        for j in 0..u64::from(self.bits) {
            let on = (raw >> (u64::from(self.bits) - 1 - j)) & 1 == 1;
            set_bit_at(value, offset + j, on);
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

enum FieldOp {
    Get,
    Set(i64),
    IncrBy(i64),
}

struct Field {
    op: FieldOp,
    ty: FieldType,
    offset: u64,
    overflow: Overflow,
}

impl Field {
    /// The field's new value for a SET or INCRBY from `old`, after the overflow rule, or `None`
    /// when the rule is FAIL and the result does not fit. Redis treats a SET value for an
    /// unsigned type as the 64-bit pattern of the integer given, so `SET u8 0 -1` overflows.
    fn apply(&self, old: i128) -> Option<i128> {
        let wanted = match self.op {
            FieldOp::Get => return Some(old),
            FieldOp::Set(v) if !self.ty.signed => i128::from(v as u64),
            FieldOp::Set(v) => i128::from(v),
            FieldOp::IncrBy(by) => old + i128::from(by),
        };
        if (self.ty.min()..=self.ty.max()).contains(&wanted) {
            return Some(wanted);
        }
        match self.overflow {
            Overflow::Wrap => Some(self.ty.wrap(wanted)),
            Overflow::Sat if wanted > self.ty.max() => Some(self.ty.max()),
            Overflow::Sat => Some(self.ty.min()),
            Overflow::Fail => None,
        }
    }
}

/// Parse BITFIELD's operations; `Err` means the error reply is written.
fn parse_fields(args: &Args<'_>, read_only: bool, reply: &mut Reply) -> Result<Vec<Field>, ()> {
    let mut fields = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut i = 2;
    while i < args.len() {
        let sub = args.get(i);
        let takes = if is(sub, "GET") {
            2
        } else if is(sub, "SET") || is(sub, "INCRBY") {
            3
        } else if is(sub, "OVERFLOW") {
            1
        } else {
            0
        };
        if takes == 0 || i + takes >= args.len() {
            syntax_error(reply);
            return Err(());
        }
        if is(sub, "OVERFLOW") {
            let how = args.get(i + 1);
            overflow = if is(how, "WRAP") {
                Overflow::Wrap
            } else if is(how, "SAT") {
                Overflow::Sat
            } else if is(how, "FAIL") {
                Overflow::Fail
            } else {
                reply.error("ERR Invalid OVERFLOW type specified");
                return Err(());
            };
            i += 2;
            continue;
        }
        let Some(ty) = FieldType::parse(args.get(i + 1)) else {
            reply.error(
                "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.",
            );
            return Err(());
        };
        let Some(offset) = parse_offset(args.get(i + 2), Some(u64::from(ty.bits)))
            .filter(|o| o + u64::from(ty.bits) <= MAX_BIT_OFFSET)
        else {
            bad_offset(reply);
            return Err(());
        };
        let op = if is(sub, "GET") {
            FieldOp::Get
        } else {
            if read_only {
                reply.error("ERR BITFIELD_RO only supports the GET subcommand");
                return Err(());
            }
            let Some(n) = parse_i64(args.get(i + 3)) else {
                not_an_integer(reply);
                return Err(());
            };
            if is(sub, "SET") {
                FieldOp::Set(n)
            } else {
                FieldOp::IncrBy(n)
            }
        };
        i += takes + 1;
        fields.push(Field {
            op,
            ty,
            offset,
            overflow,
        });
    }
    Ok(fields)
}

/// Run every operation on `value` in order; one reply element each (`None`: FAIL overflow).
/// Returns whether the value was changed.
fn run_fields(fields: &[Field], value: &mut [u8], results: &mut Vec<Option<i64>>) -> bool {
    let mut changed = false;
    for field in fields {
        let old = field.ty.get(value, field.offset);
        match (&field.op, field.apply(old)) {
            (FieldOp::Get, _) => results.push(Some(old as i64)),
            (_, None) => results.push(None),
            (op, Some(new)) => {
                if new != old || matches!(op, FieldOp::IncrBy(_)) {
                    changed = true;
                }
                field.ty.put(value, field.offset, new);
                let shown = if matches!(op, FieldOp::Set(_)) {
                    old
                } else {
                    new
                };
                results.push(Some(shown as i64));
            }
        }
    }
    changed
}

/// `BITFIELD key [GET type offset] [SET type offset value] [INCRBY type offset increment]
/// [OVERFLOW WRAP|SAT|FAIL] …` (and `BITFIELD_RO key [GET type offset] …`): one reply per
/// GET/SET/INCRBY, in order — SET answers the old value, INCRBY the new one, and an overflow
/// under FAIL answers nil and writes nothing for that operation.
pub fn bitfield(store: &Store, args: &Args<'_>, read_only: bool, reply: &mut Reply) {
    let Ok(fields) = parse_fields(args, read_only, reply) else {
        return;
    };
    let key = args.get(1);
    let mut results = Vec::with_capacity(fields.len());
    let writes = fields.iter().any(|f| !matches!(f.op, FieldOp::Get));
    let outcome = if writes {
        let needed = fields
            .iter()
            .filter(|f| !matches!(f.op, FieldOp::Get))
            .map(|f| ((f.offset + u64::from(f.ty.bits) - 1) >> 3) as usize + 1)
            .max()
            .unwrap_or(0);
        let max = store.max_item_size();
        store.update(key, |current| {
            let mut value = current.unwrap_or_default().to_vec();
            let grows = current.is_none() || value.len() < needed;
            if value.len() < needed {
                if (key.len() + needed) as u64 > max {
                    return Err(too_large(needed, max));
                }
                value.resize(needed, 0);
            }
            let changed = run_fields(&fields, &mut value, &mut results);
            if changed || grows {
                Ok((put_keeping_ttl(value), ()))
            } else {
                Ok((Change::Keep, ()))
            }
        })
    } else {
        store
            .read(key, ValueKind::String, |value| {
                for f in &fields {
                    results.push(Some(f.ty.get(value, f.offset) as i64));
                }
            })
            .map(|found| {
                if found.is_none() {
                    results.extend(fields.iter().map(|_| Some(0)));
                }
            })
    };
    if let Err(e) = outcome {
        return edit_error(&e, reply);
    }
    reply.array(results.len());
    for r in results {
        match r {
            Some(n) => reply.integer(n),
            None => reply.null(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{FieldType, Unit, count_bits, find_bit, resolve_range};

    #[test]
    fn ranges_resolve_as_redis_resolves_them() {
        // "foobar": 6 bytes, 48 bits.
        assert_eq!(resolve_range(0, -1, Unit::Byte, 6), Some((0, 47)));
        assert_eq!(resolve_range(1, -2, Unit::Byte, 6), Some((8, 39)));
        assert_eq!(resolve_range(-2, 1, Unit::Byte, 6), None);
        assert_eq!(resolve_range(0, 1000, Unit::Byte, 6), Some((0, 47)));
        assert_eq!(resolve_range(10, -34, Unit::Bit, 6), Some((10, 14)));
        assert_eq!(resolve_range(-6, -7, Unit::Byte, 6), None);
        assert_eq!(resolve_range(4, 10, Unit::Byte, 4), None);
        assert_eq!(resolve_range(0, -1, Unit::Byte, 0), None);
    }

    #[test]
    fn counting_masks_the_edge_bytes() {
        assert_eq!(count_bits(b"foobar", 0, 47), 26);
        assert_eq!(count_bits(b"ab", 8, 15), 3);
        // "__PPxxxxxxxxxxxxxxxxRR__" from byte 2 to byte 21.
        let s = b"__PPxxxxxxxxxxxxxxxxRR__";
        assert_eq!(count_bits(s, 16, 21 * 8 + 7), 74);
        assert_eq!(count_bits(&[0xff], 3, 5), 3);
    }

    #[test]
    fn finding_skips_bytes_that_cannot_match() {
        assert_eq!(find_bit(&[0x00, 0x00, 0x01], 1, 0, 23), Some(23));
        assert_eq!(find_bit(&[0xff, 0xff, 0xfe], 0, 0, 23), Some(23));
        assert_eq!(find_bit(&[0xff], 0, 0, 7), None);
        assert_eq!(find_bit(&[0x0f], 1, 0, 3), None);
    }

    #[test]
    fn fields_wrap_and_read_back() {
        let i8t = FieldType::parse(b"i8").unwrap();
        let u8t = FieldType::parse(b"u8").unwrap();
        assert!(FieldType::parse(b"u64").is_none());
        assert!(FieldType::parse(b"i65").is_none());
        assert!(FieldType::parse(b"i0").is_none());
        assert_eq!(i8t.wrap(128), -128);
        assert_eq!(u8t.wrap(256 + 5), 5);
        assert_eq!(u8t.wrap(-1), 255);
        let mut v = vec![0u8; 3];
        i8t.put(&mut v, 4, -100);
        assert_eq!(i8t.get(&v, 4), -100);
        assert_eq!(u8t.get(&v, 4), 156);
        let i64t = FieldType::parse(b"i64").unwrap();
        let mut w = vec![0u8; 9];
        i64t.put(&mut w, 3, i128::from(i64::MIN));
        assert_eq!(i64t.get(&w, 3), i128::from(i64::MIN));
    }
}

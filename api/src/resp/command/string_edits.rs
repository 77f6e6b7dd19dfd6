//! String commands that read and rewrite a value in one step: APPEND, SETRANGE, GETRANGE (and
//! its old name SUBSTR), STRLEN, GETDEL, GETSET, MSETNX and INCRBYFLOAT.
//!
//! Each read-modify-write is one [`Store::update`] call, so it is atomic against every other
//! command on the key. A result that would exceed the namespace's max item size is refused
//! *before* anything is allocated (`SETRANGE key 500000000 x` must not allocate 500 MB to find
//! out), with Redis's "string exceeds maximum allowed size" wording.

use larder_runtime::{Change, Condition, Expiry, SetOptions, Store, StoreError, ValueKind};

use super::{Args, not_an_integer, parse_i64, store_error, wrong_arity};
use crate::resp::reply::Reply;

/// `APPEND key value`: the length after appending (a missing key starts empty).
pub fn append(store: &Store, args: &Args<'_>, reply: &mut Reply) {
    let (key, tail) = (args.get(1), args.get(2));
    let max = store.max_item_size();
    let result = store.update(key, |current| {
        let current = current.unwrap_or_default();
        let len = current.len() + tail.len();
        if (key.len() + len) as u64 > max {
            return Err(StoreError::ValueTooLarge { len, max });
        }
        let mut value = Vec::with_capacity(len);
        value.extend_from_slice(current);
        value.extend_from_slice(tail);
        Ok((put_keeping_ttl(value), len))
    });
    match result {
        Ok(len) => reply.integer(len as i64),
        Err(e) => edit_error(&e, reply),
    }
}

/// `SETRANGE key offset value`: overwrite from `offset`, padding with zero bytes; the new
/// length. An empty `value` changes nothing (and creates no key).
pub fn setrange(store: &Store, args: &Args<'_>, reply: &mut Reply) {
    let (key, patch) = (args.get(1), args.get(3));
    let Some(offset) = parse_i64(args.get(2)) else {
        return not_an_integer(reply);
    };
    let Ok(offset) = usize::try_from(offset) else {
        return reply.error("ERR offset is out of range");
    };
    let max = store.max_item_size();
    let result = store.update(key, |current| {
        let current = current.unwrap_or_default();
        if patch.is_empty() {
            return Ok((Change::Keep, current.len()));
        }
        let end = offset.saturating_add(patch.len());
        if (key.len() as u64).saturating_add(end as u64) > max {
            return Err(StoreError::ValueTooLarge { len: end, max });
        }
        let mut value = current.to_vec();
        if value.len() < end {
            value.resize(end, 0);
        }
        value[offset..end].copy_from_slice(patch);
        let len = value.len();
        Ok((put_keeping_ttl(value), len))
    });
    match result {
        Ok(len) => reply.integer(len as i64),
        Err(e) => edit_error(&e, reply),
    }
}

/// `GETRANGE key start end` (inclusive, negative counts from the end, clamped as Redis does).
pub fn getrange(store: &Store, args: &Args<'_>, reply: &mut Reply) {
    let (Some(start), Some(end)) = (parse_i64(args.get(2)), parse_i64(args.get(3))) else {
        return not_an_integer(reply);
    };
    let buf = &mut reply.buf;
    let found = store.read(args.get(1), ValueKind::String, |value| {
        Reply::bulk_into(buf, substring(value, start, end));
    });
    match found {
        Ok(Some(())) => {}
        Ok(None) => reply.bulk(b""),
        Err(e) => store_error(&e, reply),
    }
}

/// Redis's GETRANGE arithmetic: negative indexes count from the end, both ends are clamped to
/// the string, and an empty or inverted range is the empty string.
fn substring(value: &[u8], start: i64, end: i64) -> &[u8] {
    let len = value.len() as i64;
    if len == 0 || (start < 0 && end < 0 && start > end) {
        return &[];
    }
    let start = if start < 0 {
        (len + start).max(0)
    } else {
        start
    };
    let end = if end < 0 {
        (len + end).max(0)
    } else {
        end.min(len - 1)
    };
    if start > end || start >= len {
        return &[];
    }
    &value[start as usize..=end as usize]
}

/// `STRLEN key`: 0 for a missing key. Not an access: nothing is read out.
pub fn strlen(store: &Store, key: &[u8], reply: &mut Reply) {
    match store.peek(key, |kind, value| (kind, value.len())) {
        Some((ValueKind::String, len)) => reply.integer(len as i64),
        Some(_) => store_error(&StoreError::WrongType, reply),
        None => reply.integer(0),
    }
}

/// `GETDEL key`: the value, and the key is gone.
pub fn getdel(store: &Store, key: &[u8], reply: &mut Reply) {
    match store.update(key, |current| {
        Ok((Change::Delete, current.map(<[u8]>::to_vec)))
    }) {
        Ok(Some(value)) => reply.bulk(&value),
        Ok(None) => reply.null(),
        Err(e) => store_error(&e, reply),
    }
}

/// `GETSET key value`: `SET key value GET` — the old value, and the expiry is cleared.
pub fn getset(store: &Store, args: &Args<'_>, reply: &mut Reply) {
    let opts = SetOptions {
        expiry: Expiry::Default,
        condition: Condition::Always,
        return_old: true,
    };
    match store.set(args.get(1), args.get(2), opts) {
        Ok(outcome) => match outcome.old {
            Some(old) => reply.bulk(&old),
            None => reply.null(),
        },
        Err(e) => store_error(&e, reply),
    }
}

/// `MSETNX key value [key value …]`: 1 if every key was absent and all were written, else 0 and
/// nothing written. Atomic across keys (see [`Store::set_all_if_absent`]).
pub fn msetnx(store: &Store, args: &Args<'_>, reply: &mut Reply) {
    if args.len().is_multiple_of(2) {
        return wrong_arity("msetnx", reply);
    }
    let mut pairs = Vec::with_capacity(args.len() / 2);
    let mut rest = args.from(1);
    while let (Some(key), Some(value)) = (rest.next(), rest.next()) {
        pairs.push((key, value));
    }
    match store.set_all_if_absent(&pairs) {
        Ok(written) => reply.integer(i64::from(written)),
        Err(e) => store_error(&e, reply),
    }
}

/// `INCRBYFLOAT key increment`: the new value as text. Kept to 15 significant digits, the
/// precision an f64 holds exactly, so `1 + -1.1` reads `-0.1` as it does in Redis (which uses
/// a wider float and prints 17) rather than `-0.10000000000000009`.
pub fn incrbyfloat(store: &Store, args: &Args<'_>, reply: &mut Reply) {
    let Some(increment) = parse_float(args.get(2)) else {
        return reply.error("ERR value is not a valid float");
    };
    let result = store.update(args.get(1), |current| {
        let base = match current {
            None => 0.0,
            Some(text) => parse_float(text).ok_or(StoreError::NotAFloat)?,
        };
        let sum = base + increment;
        if !sum.is_finite() {
            return Err(StoreError::NotFinite);
        }
        let text = format_float(round_to_operands(sum, base, increment)).into_bytes();
        Ok((put_keeping_ttl(text.clone()), text))
    });
    match result {
        Ok(text) => reply.bulk(&text),
        Err(e) => store_error(&e, reply),
    }
}

/// A float as Redis's `string2ld` accepts it: the whole argument, no spaces, not NaN.
pub(super) fn parse_float(text: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(text).ok()?;
    if text.is_empty()
        || text.starts_with(char::is_whitespace)
        || text.ends_with(char::is_whitespace)
    {
        return None;
    }
    text.parse::<f64>().ok().filter(|x| !x.is_nan())
}

/// Drop the digits of `sum` below the 15th significant digit of the larger operand: they are
/// rounding noise, and keeping them turns `x + -x` computed from printed decimals into
/// `-0.0000000000000000242…` instead of Redis's `0`.
pub(super) fn round_to_operands(sum: f64, a: f64, b: f64) -> f64 {
    let scale = a.abs().max(b.abs());
    if scale == 0.0 || !scale.is_finite() {
        return sum;
    }
    let quantum = 10f64.powi(scale.log10().floor() as i32 - 14);
    let rounded = (sum / quantum).round() * quantum;
    if rounded.is_finite() { rounded } else { sum }
}

/// Plain decimal notation (no exponent), 15 significant digits, no trailing zeros, no `-0`.
pub(super) fn format_float(x: f64) -> String {
    let rounded: f64 = format!("{x:.14e}").parse().unwrap_or(x);
    if rounded == 0.0 {
        return "0".to_string();
    }
    rounded.to_string()
}

/// An in-place edit's write: the new value, the key's deadline kept.
pub(super) fn put_keeping_ttl(value: Vec<u8>) -> Change {
    Change::Put {
        value,
        expiry: Expiry::Keep,
    }
}

/// A size refusal in Redis's words (test suites match "maximum allowed size"), other errors as
/// the store words them.
pub(super) fn edit_error(error: &StoreError, reply: &mut Reply) {
    match error {
        StoreError::ValueTooLarge { max, .. } => reply.error_fmt(format_args!(
            "ERR string exceeds maximum allowed size (this namespace's max item size is {max} bytes)"
        )),
        e => store_error(e, reply),
    }
}

#[cfg(test)]
mod tests {
    use super::{format_float, parse_float, round_to_operands, substring};

    #[test]
    fn getrange_clamps_like_redis() {
        let v = b"Hello World";
        assert_eq!(substring(v, 0, 3), b"Hell");
        assert_eq!(substring(v, 0, -1), v);
        assert_eq!(substring(v, -4, -1), b"orld");
        assert_eq!(substring(v, 5, 3), b"");
        assert_eq!(substring(v, 5, 5000), b" World");
        assert_eq!(substring(v, -5000, 10000), v);
        assert_eq!(substring(v, -1, -5), b"");
        assert_eq!(substring(b"", 0, -1), b"");
        assert_eq!(substring(v, 20, 30), b"");
    }

    #[test]
    fn floats_read_and_print_as_redis_does() {
        assert_eq!(parse_float(b"1.5"), Some(1.5));
        assert_eq!(parse_float(b"+inf"), Some(f64::INFINITY));
        assert_eq!(parse_float(b" 1"), None);
        assert_eq!(parse_float(b"1 "), None);
        assert_eq!(parse_float(b"nan"), None);
        assert_eq!(parse_float(b""), None);
        assert_eq!(parse_float(b"1\x002"), None);
        assert_eq!(format_float(1.0 - 1.1), "-0.1");
        assert_eq!(format_float(17179869184.0 + 1.5), "17179869185.5");
        assert_eq!(format_float(-0.0), "0");
        assert_eq!(format_float(1e20), "100000000000000000000");
        assert_eq!(format_float(3.0), "3");
        // x + -x from printed decimals is zero, not noise.
        let (a, b) = (0.024390243902439, -0.024390243902439025);
        assert_eq!(format_float(round_to_operands(a + b, a, b)), "0");
        let (a, b) = (1.0, -1.1);
        assert_eq!(format_float(round_to_operands(a + b, a, b)), "-0.1");
        let (a, b) = (17179869184.0, 1.5);
        assert_eq!(
            format_float(round_to_operands(a + b, a, b)),
            "17179869185.5"
        );
    }
}

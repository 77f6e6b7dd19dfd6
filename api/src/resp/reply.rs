//! Reply encoding, straight into the connection's write buffer.
//!
//! [`Reply`] owns the write buffer and knows which protocol the client negotiated (RESP2 unless it
//! sent `HELLO 3`). Commands call its methods; the only things that differ between the two
//! protocols here are nulls (`$-1`/`*-1` vs `_`) and maps (a flat array vs `%`).

use std::fmt::Write as _;

use bytes::{BufMut, BytesMut};

/// The protocol version a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Resp2,
    Resp3,
}

impl Protocol {
    pub fn version(self) -> i64 {
        match self {
            Protocol::Resp2 => 2,
            Protocol::Resp3 => 3,
        }
    }
}

/// The connection's pending output and the protocol to encode it in.
#[derive(Debug)]
pub struct Reply {
    pub buf: BytesMut,
    pub protocol: Protocol,
}

impl Reply {
    pub fn new(capacity: usize) -> Self {
        Self {
            buf: BytesMut::with_capacity(capacity),
            protocol: Protocol::Resp2,
        }
    }

    pub fn ok(&mut self) {
        self.buf.extend_from_slice(b"+OK\r\n");
    }

    /// A simple string; `text` must not contain CR or LF (callers pass constants).
    pub fn simple(&mut self, text: &str) {
        self.buf.reserve(text.len() + 3);
        self.buf.put_u8(b'+');
        self.buf.extend_from_slice(text.as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }

    /// An error line. `message` starts with its code (`ERR …`, `NOPROTO …`); any CR or LF in it
    /// (an echoed argument, say) becomes a space so the reply stays one line.
    pub fn error(&mut self, message: &str) {
        self.error_bytes(message.as_bytes());
    }

    /// [`Reply::error`] with a formatted message.
    pub fn error_fmt(&mut self, message: std::fmt::Arguments<'_>) {
        let mut text = String::new();
        let _ = text.write_fmt(message);
        self.error_bytes(text.as_bytes());
    }

    fn error_bytes(&mut self, message: &[u8]) {
        self.buf.reserve(message.len() + 3);
        self.buf.put_u8(b'-');
        self.buf.extend(
            message
                .iter()
                .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
        );
        self.buf.extend_from_slice(b"\r\n");
    }

    pub fn integer(&mut self, n: i64) {
        self.header(b':', n);
    }

    pub fn bulk(&mut self, data: &[u8]) {
        self.bulk_header(data.len());
        self.buf.extend_from_slice(data);
        self.buf.extend_from_slice(b"\r\n");
    }

    /// The `$<len>\r\n` that precedes a bulk string's bytes; the caller appends the bytes and
    /// CRLF (see [`Reply::bulk_into`], used to copy a value out of the store directly).
    pub fn bulk_header(&mut self, len: usize) {
        self.header(b'$', len as i64);
    }

    /// Write a whole bulk string into `buf`. A free function so a store closure can call it while
    /// the [`Reply`] itself is borrowed only for its buffer.
    #[inline]
    pub fn bulk_into(buf: &mut BytesMut, data: &[u8]) {
        let mut digits = itoa::Buffer::new();
        let len = digits.format(data.len()).as_bytes();
        buf.reserve(len.len() + data.len() + 5);
        buf.put_u8(b'$');
        buf.extend_from_slice(len);
        buf.extend_from_slice(b"\r\n");
        buf.extend_from_slice(data);
        buf.extend_from_slice(b"\r\n");
    }

    /// A missing value: `$-1` in RESP2, `_` in RESP3.
    pub fn null(&mut self) {
        match self.protocol {
            Protocol::Resp2 => self.buf.extend_from_slice(b"$-1\r\n"),
            Protocol::Resp3 => self.buf.extend_from_slice(b"_\r\n"),
        }
    }

    /// A missing array (`*-1` in RESP2).
    pub fn null_array(&mut self) {
        match self.protocol {
            Protocol::Resp2 => self.buf.extend_from_slice(b"*-1\r\n"),
            Protocol::Resp3 => self.buf.extend_from_slice(b"_\r\n"),
        }
    }

    /// The header of an array of `len` elements; the caller writes the elements.
    pub fn array(&mut self, len: usize) {
        self.header(b'*', len as i64);
    }

    /// The header of an out-of-band message of `len` elements: a push frame (`>`) in RESP3, an
    /// array in RESP2 (pub/sub messages, invalidations).
    pub fn push(&mut self, len: usize) {
        match self.protocol {
            Protocol::Resp2 => self.header(b'*', len as i64),
            Protocol::Resp3 => self.header(b'>', len as i64),
        }
    }

    /// A `… HELP` answer: an array of simple-string lines.
    pub fn help(&mut self, lines: &[&str]) {
        self.array(lines.len());
        for line in lines {
            self.simple(line);
        }
    }

    /// A floating-point number (a sorted-set score): RESP3's double (`,1.5`), a bulk string
    /// in RESP2, both in Redis's notation (`inf`, `-inf`, `1.5`, `1e+30`).
    pub fn double(&mut self, x: f64) {
        let text = format_double(x);
        match self.protocol {
            Protocol::Resp2 => self.bulk(text.as_bytes()),
            Protocol::Resp3 => {
                self.buf.put_u8(b',');
                self.buf.extend_from_slice(text.as_bytes());
                self.buf.extend_from_slice(b"\r\n");
            }
        }
    }

    /// The header of a set of `len` members (`~` in RESP3, an array in RESP2).
    pub fn set(&mut self, len: usize) {
        match self.protocol {
            Protocol::Resp2 => self.header(b'*', len as i64),
            Protocol::Resp3 => self.header(b'~', len as i64),
        }
    }

    /// The header of a map of `pairs` key/value pairs (a flat array of `2 * pairs` in RESP2).
    pub fn map(&mut self, pairs: usize) {
        match self.protocol {
            Protocol::Resp2 => self.header(b'*', 2 * pairs as i64),
            Protocol::Resp3 => self.header(b'%', pairs as i64),
        }
    }

    fn header(&mut self, marker: u8, n: i64) {
        let mut digits = itoa::Buffer::new();
        let text = digits.format(n).as_bytes();
        self.buf.reserve(text.len() + 3);
        self.buf.put_u8(marker);
        self.buf.extend_from_slice(text);
        self.buf.extend_from_slice(b"\r\n");
    }
}

/// A double as Redis 7.2 prints one: whole numbers within ±i64::MAX/2 as integers; otherwise
/// (its `fpconv_dtoa`) the shortest digits that read back as the same number, written plain when
/// the exponent is small — fractions down to 6 leading zeros — and with an exponent otherwise
/// (`1e+30`, `1.5e-7`); `inf` / `-inf` for infinities, `-0` for negative zero.
pub fn format_double(x: f64) -> String {
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    // Whole numbers within ±i64::MAX/2 print as integers (Redis's `double2ll` fast path).
    const WHOLE: f64 = (i64::MAX / 2) as f64;
    if (-WHOLE..=WHOLE).contains(&x) && x.fract() == 0.0 {
        return (x as i64).to_string();
    }
    // Rust's `{:e}` gives the shortest round-trip digits: "-1.5e-7" → digits "15", exponent -7.
    let sci = format!("{:e}", x.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let n = digits.len() as i32;
    // value = digits × 10^k
    let k = exp - (n - 1);
    let sign = if x < 0.0 { "-" } else { "" };
    let magnitude = (k + n - 1).abs();
    if k >= 0 && magnitude < n + 7 {
        return format!("{sign}{digits}{}", "0".repeat(k as usize));
    }
    if k < 0 && (k > -7 || magnitude < 4) {
        let point = n + k;
        return if point <= 0 {
            format!("{sign}0.{}{digits}", "0".repeat((-point) as usize))
        } else {
            let (int, frac) = digits.split_at(point as usize);
            format!("{sign}{int}.{frac}")
        };
    }
    let (first, rest) = digits.split_at(1);
    let dot = if rest.is_empty() { "" } else { "." };
    let exp_sign = if exp < 0 { '-' } else { '+' };
    format!("{sign}{first}{dot}{rest}e{exp_sign}{}", exp.abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_print_as_redis_prints_them() {
        for (x, text) in [
            (1.5, "1.5"),
            (10.0, "10"),
            (-0.25, "-0.25"),
            (0.0, "0"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (1e30, "1e+30"),
            (1.5e-7, "1.5e-7"),
            (0.000001, "0.000001"),
            (1e7, "10000000"),
            (1e8, "100000000"),
            (1e17, "100000000000000000"),
            (-2.5e18, "-2500000000000000000"),
            (1e19, "1e+19"),
            (123456789.0, "123456789"),
            (-1234.5678, "-1234.5678"),
            (0.1 + 0.2, "0.30000000000000004"),
        ] {
            assert_eq!(format_double(x), text);
        }
    }

    #[test]
    fn encodes_both_protocols() {
        let mut reply = Reply::new(64);
        reply.null();
        reply.map(1);
        reply.protocol = Protocol::Resp3;
        reply.null();
        reply.map(1);
        reply.integer(-5);
        reply.bulk(b"a\r\nb");
        reply.error("ERR bad\r\nthing");
        assert_eq!(
            &reply.buf[..],
            b"$-1\r\n*2\r\n_\r\n%1\r\n:-5\r\n$4\r\na\r\nb\r\n-ERR bad  thing\r\n"
        );
    }
}

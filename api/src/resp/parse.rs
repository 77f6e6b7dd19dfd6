//! Request parsing, in place.
//!
//! A client sends either a RESP array of bulk strings (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`, what every
//! client library sends) or an inline command: one text line split on whitespace (`PING\r\n`, what
//! a person types into telnet). [`RequestParser`] reads either straight out of the connection's
//! read buffer and records each argument as a byte range into that buffer, so parsing allocates
//! nothing per argument: the range list is reused from one command to the next.
//!
//! The parser is resumable. When a frame is cut short it remembers how far it got (the arguments
//! already seen, or the size of the bulk string it is waiting for), so a large value arriving over
//! many reads is scanned once, not once per read.
//!
//! Inline commands are split as Redis splits them: on whitespace, with `"double quotes"` (and the
//! escapes `\n \r \t \b \a \\ \" \xHH`) and `'single quotes'` (only `\'` escaped) grouping an
//! argument. A line without quotes is still parsed in place; a quoted one is unescaped into a
//! buffer the parser owns ([`RequestParser::source`] says which buffer the ranges point into).

use std::ops::Range;

use thiserror::Error;

use super::limits::RespLimits;

/// Longest `*<count>` or `$<len>` header line we wait for. Real headers are at most 21 bytes; a
/// longer line without CRLF is garbage, and waiting for it would let a client grow our buffer.
const MAX_HEADER_LINE: usize = 32;

/// Why a request frame was refused. Every variant closes the connection that sent it.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    #[error("invalid multibulk length")]
    InvalidMultibulkLength,
    #[error("invalid bulk length")]
    InvalidBulkLength,
    #[error("expected '$', got '{}'", printable(*.0))]
    ExpectedBulk(u8),
    #[error("expected CRLF after bulk data")]
    MissingCrlf,
    #[error("header line not terminated by CRLF")]
    BadLineEnding,
    #[error("too big inline request")]
    InlineTooBig,
    // Redis's words first ("invalid multibulk length", "invalid bulk length"): clients and test
    // suites match on them; the numbers after say what the limit is.
    #[error("invalid multibulk length: {count} arguments (the limit is {max})")]
    TooManyArgs { count: u64, max: usize },
    #[error("invalid bulk length: {len} bytes (the limit is {max})")]
    BulkTooBig { len: u64, max: usize },
    #[error("unbalanced quotes in request")]
    UnbalancedQuotes,
    #[error("request exceeds the {max}-byte limit")]
    RequestTooBig { max: usize },
}

fn printable(b: u8) -> char {
    if b.is_ascii_graphic() { b as char } else { '?' }
}

/// The outcome of one [`RequestParser::parse`] call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed {
    /// A whole frame of this many bytes; its arguments are in [`RequestParser::args`]. A frame may
    /// have no arguments (an empty line, `*0\r\n`): such frames are consumed and ignored.
    Frame(usize),
    /// The frame is not complete yet: call again once more bytes have arrived.
    Incomplete,
}

/// Where an unfinished frame stopped.
#[derive(Debug, Clone, Copy)]
enum State {
    /// Between frames.
    Start,
    /// Scanning an inline line; `scanned` bytes hold no newline.
    Inline { scanned: usize },
    /// Inside an array: `remaining` arguments to go, the next one starting at `cursor`.
    Array { remaining: usize, cursor: usize },
    /// Waiting for the data of a bulk string at `start..end` (then CRLF); `remaining` counts it.
    Bulk {
        remaining: usize,
        start: usize,
        end: usize,
    },
}

/// A resumable parser for one connection's request stream.
///
/// Contract: `parse` is given a buffer that starts at the first byte of the current frame. After
/// [`Parsed::Incomplete`], the next call must pass the same bytes followed by whatever has arrived
/// since (the buffer may have moved; offsets are relative to its start). After
/// [`Parsed::Frame`], the caller reads the arguments, then passes a buffer starting at the next
/// frame. After an error the parser must not be used again.
#[derive(Debug)]
pub struct RequestParser {
    args: Vec<Range<usize>>,
    state: State,
    limits: RespLimits,
    /// The unescaped arguments of a quoted inline command; `args` point into it while
    /// `args_in_unquoted` is set.
    unquoted: Vec<u8>,
    args_in_unquoted: bool,
}

impl RequestParser {
    pub fn new(limits: RespLimits) -> Self {
        Self {
            args: Vec::with_capacity(8),
            state: State::Start,
            limits,
            unquoted: Vec::new(),
            args_in_unquoted: false,
        }
    }

    /// The bytes the ranges of [`Self::args`] index: `frame` (the buffer the frame was parsed
    /// from), or the parser's own buffer for a quoted inline command.
    pub fn source<'a>(&'a self, frame: &'a [u8]) -> &'a [u8] {
        if self.args_in_unquoted {
            &self.unquoted
        } else {
            frame
        }
    }

    /// The arguments of the frame last returned, as ranges into the buffer it was parsed from.
    pub fn args(&self) -> &[Range<usize>] {
        &self.args
    }

    /// A lower bound on the size of the frame being waited for (0 when unknown), so the caller
    /// can reserve buffer space for a large value in one step.
    pub fn needed(&self) -> usize {
        match self.state {
            State::Bulk { end, .. } => end + 2,
            _ => 0,
        }
    }

    /// Parse the frame at the start of `buf`. See the type's contract.
    pub fn parse(&mut self, buf: &[u8]) -> Result<Parsed, ProtocolError> {
        let result = self.parse_inner(buf);
        if result.is_err() {
            self.state = State::Start;
        }
        result
    }

    fn parse_inner(&mut self, buf: &[u8]) -> Result<Parsed, ProtocolError> {
        let (mut remaining, mut cursor) = match self.state {
            State::Start => {
                self.args.clear();
                self.args_in_unquoted = false;
                match buf.first() {
                    None => return Ok(Parsed::Incomplete),
                    Some(b'*') => {}
                    Some(_) => return self.parse_inline(buf, 0),
                }
                let Some(eol) = find_line_end(buf, 1, ProtocolError::InvalidMultibulkLength)?
                else {
                    return Ok(Parsed::Incomplete);
                };
                let count = parse_int(&buf[1..eol]).ok_or(ProtocolError::InvalidMultibulkLength)?;
                if count <= 0 {
                    // Redis ignores empty and null arrays; so do we.
                    return Ok(Parsed::Frame(eol + 2));
                }
                let count = count as u64;
                if count > self.limits.max_args as u64 {
                    return Err(ProtocolError::TooManyArgs {
                        count,
                        max: self.limits.max_args,
                    });
                }
                // Trust the announced count only as far as a small reservation.
                self.args.reserve((count as usize).min(1024));
                (count as usize, eol + 2)
            }
            State::Inline { scanned } => return self.parse_inline(buf, scanned),
            State::Array { remaining, cursor } => (remaining, cursor),
            State::Bulk {
                remaining,
                start,
                end,
            } => {
                if buf.len() < end + 2 {
                    return Ok(Parsed::Incomplete);
                }
                if &buf[end..end + 2] != b"\r\n" {
                    return Err(ProtocolError::MissingCrlf);
                }
                self.args.push(start..end);
                (remaining - 1, end + 2)
            }
        };
        while remaining > 0 {
            let Some(&marker) = buf.get(cursor) else {
                self.state = State::Array { remaining, cursor };
                return Ok(Parsed::Incomplete);
            };
            if marker != b'$' {
                return Err(ProtocolError::ExpectedBulk(marker));
            }
            let Some(eol) = find_line_end(buf, cursor + 1, ProtocolError::InvalidBulkLength)?
            else {
                self.state = State::Array { remaining, cursor };
                return Ok(Parsed::Incomplete);
            };
            let len = parse_int(&buf[cursor + 1..eol])
                .filter(|len| *len >= 0)
                .ok_or(ProtocolError::InvalidBulkLength)? as u64;
            if len > self.limits.max_bulk_len as u64 {
                return Err(ProtocolError::BulkTooBig {
                    len,
                    max: self.limits.max_bulk_len,
                });
            }
            let start = eol + 2;
            let end = start + len as usize;
            if end + 2 > self.limits.max_request_len {
                return Err(ProtocolError::RequestTooBig {
                    max: self.limits.max_request_len,
                });
            }
            if buf.len() < end + 2 {
                self.state = State::Bulk {
                    remaining,
                    start,
                    end,
                };
                return Ok(Parsed::Incomplete);
            }
            if &buf[end..end + 2] != b"\r\n" {
                return Err(ProtocolError::MissingCrlf);
            }
            self.args.push(start..end);
            remaining -= 1;
            cursor = end + 2;
        }
        self.state = State::Start;
        Ok(Parsed::Frame(cursor))
    }

    /// An inline command: everything up to `\n` (an optional `\r` before it is dropped), split on
    /// whitespace.
    fn parse_inline(&mut self, buf: &[u8], scanned: usize) -> Result<Parsed, ProtocolError> {
        let Some(offset) = buf[scanned..].iter().position(|&b| b == b'\n') else {
            if buf.len() > self.limits.max_inline_len {
                return Err(ProtocolError::InlineTooBig);
            }
            self.state = State::Inline { scanned: buf.len() };
            return Ok(Parsed::Incomplete);
        };
        let newline = scanned + offset;
        if newline > self.limits.max_inline_len {
            return Err(ProtocolError::InlineTooBig);
        }
        let line = &buf[..newline];
        if line.iter().any(|&b| b == b'"' || b == b'\'') {
            self.split_quoted(line)?;
        } else {
            let mut i = 0;
            while i < line.len() {
                if is_space(line[i]) {
                    i += 1;
                    continue;
                }
                let start = i;
                while i < line.len() && !is_space(line[i]) {
                    i += 1;
                }
                self.push_arg(start..i)?;
            }
        }
        self.state = State::Start;
        Ok(Parsed::Frame(newline + 1))
    }

    fn push_arg(&mut self, range: Range<usize>) -> Result<(), ProtocolError> {
        if self.args.len() == self.limits.max_args {
            return Err(ProtocolError::TooManyArgs {
                count: self.args.len() as u64 + 1,
                max: self.limits.max_args,
            });
        }
        self.args.push(range);
        Ok(())
    }

    /// Redis's `sdssplitargs`: split `line` into arguments, unescaping quoted parts into
    /// `self.unquoted`. A closing quote must be followed by whitespace or the end of the line.
    fn split_quoted(&mut self, line: &[u8]) -> Result<(), ProtocolError> {
        let mut out = std::mem::take(&mut self.unquoted);
        out.clear();
        let mut i = 0;
        loop {
            while i < line.len() && is_space(line[i]) {
                i += 1;
            }
            if i == line.len() {
                break;
            }
            let start = out.len();
            let mut quote: Option<u8> = None;
            loop {
                let Some(&b) = line.get(i) else {
                    if quote.is_some() {
                        self.unquoted = out;
                        return Err(ProtocolError::UnbalancedQuotes);
                    }
                    break;
                };
                match quote {
                    None if is_space(b) => break,
                    None if b == b'"' || b == b'\'' => quote = Some(b),
                    None => out.push(b),
                    Some(q) if b == q => {
                        if line.get(i + 1).is_some_and(|&next| !is_space(next)) {
                            self.unquoted = out;
                            return Err(ProtocolError::UnbalancedQuotes);
                        }
                        i += 1;
                        break;
                    }
                    Some(b'"') if b == b'\\' && i + 1 < line.len() => {
                        let escaped = line[i + 1];
                        let hex = |c: u8| (c as char).to_digit(16);
                        if escaped == b'x'
                            && let (Some(hi), Some(lo)) = (
                                line.get(i + 2).and_then(|&c| hex(c)),
                                line.get(i + 3).and_then(|&c| hex(c)),
                            )
                        {
                            out.push((hi * 16 + lo) as u8);
                            i += 3;
                        } else {
                            out.push(match escaped {
                                b'n' => b'\n',
                                b'r' => b'\r',
                                b't' => b'\t',
                                b'b' => 0x08,
                                b'a' => 0x07,
                                other => other,
                            });
                            i += 1;
                        }
                    }
                    Some(b'\'') if b == b'\\' && line.get(i + 1) == Some(&b'\'') => {
                        out.push(b'\'');
                        i += 1;
                    }
                    Some(_) => out.push(b),
                }
                i += 1;
            }
            let end = out.len();
            if let Err(e) = self.push_arg(start..end) {
                self.unquoted = out;
                return Err(e);
            }
        }
        self.unquoted = out;
        self.args_in_unquoted = true;
        Ok(())
    }
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\x0b' | b'\x0c')
}

/// The index of the `\r` ending the header line that starts at `from`, `None` if the line has not
/// fully arrived, or `too_long` if no CRLF can be coming within [`MAX_HEADER_LINE`].
fn find_line_end(
    buf: &[u8],
    from: usize,
    too_long: ProtocolError,
) -> Result<Option<usize>, ProtocolError> {
    let window_end = buf.len().min(from + MAX_HEADER_LINE);
    match buf[from..window_end].iter().position(|&b| b == b'\r') {
        Some(offset) => {
            let cr = from + offset;
            match buf.get(cr + 1) {
                None => Ok(None),
                Some(b'\n') => Ok(Some(cr)),
                Some(_) => Err(ProtocolError::BadLineEnding),
            }
        }
        None if buf.len() - from >= MAX_HEADER_LINE => Err(too_long),
        None => Ok(None),
    }
}

/// A strict decimal integer: optional `-`, digits, at most 18 of them (so it cannot overflow).
fn parse_int(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    if digits.is_empty() || digits.len() > 18 {
        return None;
    }
    let mut value: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        value = value * 10 + i64::from(d - b'0');
    }
    Some(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(input: &[u8]) -> Result<Vec<Vec<Vec<u8>>>, ProtocolError> {
        let mut parser = RequestParser::new(RespLimits::default());
        let mut pos = 0;
        let mut frames = Vec::new();
        while let Parsed::Frame(len) = parser.parse(&input[pos..])? {
            let frame = parser.source(&input[pos..]);
            frames.push(
                parser
                    .args()
                    .iter()
                    .map(|r| frame[r.clone()].to_vec())
                    .collect(),
            );
            pos += len;
        }
        Ok(frames)
    }

    #[test]
    fn array_and_inline_frames() {
        let frames = parse_all(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\n  echo  hi \n").unwrap();
        assert_eq!(frames[0], vec![b"GET".to_vec(), b"k".to_vec()]);
        assert_eq!(frames[1], vec![b"PING".to_vec()]);
        assert_eq!(frames[2], vec![b"echo".to_vec(), b"hi".to_vec()]);
    }

    #[test]
    fn binary_bulk_with_crlf_inside() {
        let frames = parse_all(b"*1\r\n$4\r\n\r\n\0\xff\r\n").unwrap();
        assert_eq!(frames[0], vec![b"\r\n\0\xff".to_vec()]);
    }

    #[test]
    fn empty_array_is_consumed_without_args() {
        let mut parser = RequestParser::new(RespLimits::default());
        assert_eq!(parser.parse(b"*0\r\n").unwrap(), Parsed::Frame(4));
        assert!(parser.args().is_empty());
    }

    #[test]
    fn inline_quotes_as_redis_splits_them() {
        let frames = parse_all(
            b"set \"a b\" 'c d'\r\nset \"x\\n\\x41\\\"\" 'it\\'s'\r\nget k\r\necho a\"b c\"\n",
        )
        .unwrap();
        assert_eq!(
            frames[0],
            vec![b"set".to_vec(), b"a b".to_vec(), b"c d".to_vec()]
        );
        assert_eq!(
            frames[1],
            vec![b"set".to_vec(), b"x\nA\"".to_vec(), b"it's".to_vec()]
        );
        // A line without quotes after a quoted one is parsed in place again.
        assert_eq!(frames[2], vec![b"get".to_vec(), b"k".to_vec()]);
        // A quote inside a bare word opens a quoted part, as in Redis.
        assert_eq!(frames[3], vec![b"echo".to_vec(), b"ab c".to_vec()]);
        let err = |input: &[u8]| parse_all(input).unwrap_err();
        assert_eq!(err(b"set \"a\r\n"), ProtocolError::UnbalancedQuotes);
        assert_eq!(err(b"set \"a\"b\r\n"), ProtocolError::UnbalancedQuotes);
        assert_eq!(err(b"set 'a\r\n"), ProtocolError::UnbalancedQuotes);
    }

    #[test]
    fn errors() {
        let err = |input: &[u8]| parse_all(input).unwrap_err();
        assert_eq!(err(b"*x\r\n"), ProtocolError::InvalidMultibulkLength);
        assert_eq!(err(b"*1\r\n+OK\r\n"), ProtocolError::ExpectedBulk(b'+'));
        assert_eq!(err(b"*1\r\n$-1\r\n"), ProtocolError::InvalidBulkLength);
        assert_eq!(err(b"*1\r\n$1\r\nab\r\n"), ProtocolError::MissingCrlf);
        assert_eq!(err(b"*1\rx"), ProtocolError::BadLineEnding);
        assert_eq!(err(&[b'*'; 40]), ProtocolError::InvalidMultibulkLength);
        assert_eq!(
            err(b"*1\r\n$99999999999\r\n"),
            ProtocolError::BulkTooBig {
                len: 99_999_999_999,
                max: 64 * 1024 * 1024
            }
        );
        assert!(matches!(
            err(b"*9999999\r\n"),
            ProtocolError::TooManyArgs { .. }
        ));
        assert_eq!(err(&vec![b'a'; 70 * 1024]), ProtocolError::InlineTooBig);
    }

    #[test]
    fn waits_for_a_large_bulk_without_rescanning() {
        let mut parser = RequestParser::new(RespLimits::default());
        let mut input = b"*1\r\n$10\r\n0123".to_vec();
        assert_eq!(parser.parse(&input).unwrap(), Parsed::Incomplete);
        assert_eq!(parser.needed(), 9 + 10 + 2);
        input.extend_from_slice(b"456789\r\n");
        assert_eq!(parser.parse(&input).unwrap(), Parsed::Frame(input.len()));
        assert_eq!(parser.args().to_vec(), vec![Range { start: 9, end: 19 }]);
    }
}

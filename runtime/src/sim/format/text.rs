//! Plain text traces: one request a line, `key [size]`, separated by whitespace.
//!
//! A key that is a decimal `u64` is used as the object id as is; any other key is hashed. The size
//! defaults to 1. Blank lines and lines starting with `#` are skipped.

use std::io::BufRead;

use super::{ParseError, key_id, lines};
use crate::sim::trace::Trace;

pub(super) fn read(reader: impl BufRead) -> Result<Trace, ParseError> {
    let mut keys = Vec::new();
    for (n, line) in lines(reader).enumerate() {
        let line = line?;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split_whitespace();
        let key = fields.next().unwrap_or_default();
        let size = match fields.next() {
            None => 1,
            Some(s) => parse_size(s).ok_or_else(|| {
                bad(
                    n,
                    format!("size {s:?} is not a number from 0 to 4294967295"),
                )
            })?,
        };
        if let Some(extra) = fields.next() {
            return Err(bad(
                n,
                format!("unexpected field {extra:?}; expected `key [size]`"),
            ));
        }
        keys.push((key_id(key), size));
    }
    Ok(Trace::from_keys(keys))
}

pub(super) fn parse_size(s: &str) -> Option<u32> {
    s.parse::<u32>().ok()
}

fn bad(line_index: usize, message: String) -> ParseError {
    ParseError::Malformed(format!("line {}: {message}", line_index + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_keys_sizes_comments_and_blank_lines() {
        let t = read("# a comment\na 10\n\nb\n42 3\na 10\n".as_bytes())
            .map_err(|e| e.to_string())
            .unwrap();
        let r = t.requests();
        assert_eq!(r.len(), 4);
        assert_eq!((r[0].size, r[1].size, r[2].id, r[2].size), (10, 1, 42, 3));
        assert_eq!(r[0].id, r[3].id);
        assert_eq!(r[0].next_access, 3);
    }

    #[test]
    fn bad_size_names_the_line() {
        let err = read("a 1\nb many\n".as_bytes())
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.starts_with("line 2:")));
    }
}

//! CSV traces.
//!
//! The key column is the first column whose header is one of `key`, `id`, `obj_id`, `object_id`
//! (case-insensitive), the size column one of `size`, `obj_size`, `object_size`. Without a
//! recognisable header (the first line is then data) the key is column 1 and the size, if present,
//! column 2. Fields are trimmed and may be wrapped in double quotes; quoted commas are not
//! supported (cache traces do not have them).

use std::io::BufRead;

use super::text::parse_size;
use super::{ParseError, key_id, lines};
use crate::sim::trace::Trace;

const KEY_NAMES: [&str; 4] = ["key", "id", "obj_id", "object_id"];
const SIZE_NAMES: [&str; 3] = ["size", "obj_size", "object_size"];

pub(super) fn read(reader: impl BufRead) -> Result<Trace, ParseError> {
    let mut keys = Vec::new();
    let mut columns: Option<(usize, Option<usize>)> = None;
    for (n, line) in lines(reader).enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line
            .split(',')
            .map(|f| f.trim().trim_matches('"'))
            .collect();
        let (key_col, size_col) = match columns {
            Some(c) => c,
            None => {
                let find = |names: &[&str]| {
                    fields
                        .iter()
                        .position(|f| names.iter().any(|n| f.eq_ignore_ascii_case(n)))
                };
                if let Some(key_col) = find(&KEY_NAMES) {
                    columns = Some((key_col, find(&SIZE_NAMES)));
                    continue; // a header line, not a request
                }
                let c = (0, (fields.len() > 1).then_some(1));
                columns = Some(c);
                c
            }
        };
        let key = fields
            .get(key_col)
            .filter(|k| !k.is_empty())
            .ok_or_else(|| bad(n, format!("no key in column {}", key_col + 1)))?;
        let size = match size_col.and_then(|c| fields.get(c)) {
            None => 1,
            Some(s) => parse_size(s).ok_or_else(|| {
                bad(
                    n,
                    format!("size {s:?} is not a number from 0 to 4294967295"),
                )
            })?,
        };
        keys.push((key_id(key), size));
    }
    Ok(Trace::from_keys(keys))
}

fn bad(line_index: usize, message: String) -> ParseError {
    ParseError::Malformed(format!("line {}: {message}", line_index + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Trace {
        read(s.as_bytes()).map_err(|e| e.to_string()).unwrap()
    }

    #[test]
    fn header_names_pick_the_columns() {
        let t = parse("timestamp,obj_size,obj_id\n1,100,7\n2,5,8\n3,100,7\n");
        let r = t.requests();
        assert_eq!(r.len(), 3);
        assert_eq!((r[0].id, r[0].size, r[1].id, r[1].size), (7, 100, 8, 5));
        assert_eq!(r[0].next_access, 2);
    }

    #[test]
    fn without_header_key_then_size() {
        let t = parse("\"a\", 3\nb,4\n");
        assert_eq!(
            t.requests().iter().map(|r| r.size).collect::<Vec<_>>(),
            vec![3, 4]
        );
    }

    #[test]
    fn bad_size_is_reported_with_its_line() {
        let err = read("key,size\nx,1\ny,-2\n".as_bytes())
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.starts_with("line 3:")));
    }
}

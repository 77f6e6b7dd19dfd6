//! libCacheSim's oracleGeneral binary format.
//!
//! Each record is 24 bytes, little-endian, packed: `timestamp u32, object id u64, object size u32,
//! next access i64`. The next-access field is the 1-based index of the next request for the same
//! object, or -1 if there is none; it is kept as the trace's next-access index (made 0-based).

use std::io::{BufRead, Read};

use super::ParseError;
use crate::sim::trace::{NEVER, Request, Trace};

/// Bytes per oracleGeneral record.
pub const RECORD_LEN: usize = 24;

pub(super) fn read(mut reader: impl BufRead) -> Result<Trace, ParseError> {
    let mut requests = Vec::new();
    let mut record = [0u8; RECORD_LEN];
    let mut index: u64 = 0;
    loop {
        let filled = fill(&mut reader, &mut record)?;
        if filled == 0 {
            break;
        }
        if filled < RECORD_LEN {
            return Err(ParseError::Malformed(format!(
                "ends with a partial record ({filled} of {RECORD_LEN} bytes) after {index} requests; \
                 is this really an oracleGeneral trace?"
            )));
        }
        let id = u64::from_le_bytes(record[4..12].try_into().unwrap_or_default());
        let size = u32::from_le_bytes(record[12..16].try_into().unwrap_or_default());
        let next = i64::from_le_bytes(record[16..24].try_into().unwrap_or_default());
        let next_access = match next {
            // libCacheSim writes -1, and some converters i64::MAX, for "never again".
            n if n < 0 || n == i64::MAX => NEVER,
            // 1-based in the file; a next access must lie after the current request.
            n if (n as u64) > index + 1 => n as u64 - 1,
            n => {
                return Err(ParseError::Malformed(format!(
                    "request {} names next access {n}, which is not after it; \
                     is this really an oracleGeneral trace?",
                    index + 1
                )));
            }
        };
        requests.push(Request {
            id,
            size,
            next_access,
        });
        index += 1;
    }
    Ok(Trace::from_requests(requests))
}

/// Read until `buf` is full or the stream ends; returns how many bytes were read.
fn fill(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// One oracleGeneral record for `request` at 0-based `index` (timestamp `index / 1000 + 1`, as in
/// the shared traces). Lets tests and tools write traces the reader (and libCacheSim) accept.
pub fn encode_record(index: u64, request: &Request) -> [u8; RECORD_LEN] {
    let mut out = [0u8; RECORD_LEN];
    let ts = (index / 1000 + 1) as u32;
    let next: i64 = if request.next_access == NEVER {
        -1
    } else {
        request.next_access as i64 + 1
    };
    out[0..4].copy_from_slice(&ts.to_le_bytes());
    out[4..12].copy_from_slice(&request.id.to_le_bytes());
    out[12..16].copy_from_slice(&request.size.to_le_bytes());
    out[16..24].copy_from_slice(&next.to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_encode_record() {
        let trace = Trace::from_keys([(7, 100), (8, 1), (7, 100)]);
        let bytes: Vec<u8> = trace
            .requests()
            .iter()
            .enumerate()
            .flat_map(|(i, r)| encode_record(i as u64, r))
            .collect();
        let back = read(&bytes[..]).map_err(|e| e.to_string()).unwrap();
        assert_eq!(back.requests(), trace.requests());
    }

    #[test]
    fn partial_record_is_an_error() {
        let bytes = [0u8; 30];
        assert!(matches!(read(&bytes[..]), Err(ParseError::Malformed(_))));
    }

    #[test]
    fn next_access_before_the_request_is_an_error() {
        let r = Request {
            id: 1,
            size: 1,
            next_access: 0,
        };
        let mut rec = encode_record(0, &r);
        rec[16..24].copy_from_slice(&1i64.to_le_bytes());
        assert!(matches!(read(&rec[..]), Err(ParseError::Malformed(_))));
    }
}

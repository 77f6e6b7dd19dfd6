//! Fuzz the Redis-protocol request parser. The first byte picks where the input is split in
//! two, so resumption after a partial frame is exercised as well as whole buffers. The parser
//! must never panic, must report frames that lie inside the buffer, and must give the same
//! frames whether the input arrives whole or in two parts.

#![no_main]

use larder::resp::{Parsed, RequestParser, RespLimits};
use libfuzzer_sys::fuzz_target;

fn limits() -> RespLimits {
    RespLimits {
        max_bulk_len: 1 << 16,
        max_args: 1024,
        max_inline_len: 4096,
        max_request_len: 1 << 20,
    }
}

/// Frames (as argument lists) from `input` delivered in chunks split at `cuts`, and whether an
/// error ended the stream.
fn run(input: &[u8], cut: usize) -> (Vec<Vec<Vec<u8>>>, bool) {
    let mut parser = RequestParser::new(limits());
    let mut buffer = Vec::new();
    let mut frames = Vec::new();
    for chunk in [&input[..cut], &input[cut..]] {
        buffer.extend_from_slice(chunk);
        loop {
            match parser.parse(&buffer) {
                Ok(Parsed::Frame(len)) => {
                    assert!(len > 0 && len <= buffer.len());
                    let source = parser.source(&buffer);
                    let args = parser
                        .args()
                        .iter()
                        .map(|r| source[r.clone()].to_vec())
                        .collect();
                    frames.push(args);
                    buffer.drain(..len);
                }
                Ok(Parsed::Incomplete) => break,
                Err(_) => return (frames, true),
            }
        }
    }
    (frames, false)
}

fuzz_target!(|data: &[u8]| {
    let Some((&split, input)) = data.split_first() else {
        return;
    };
    let cut = usize::from(split) % (input.len() + 1);
    let whole = run(input, input.len());
    let parts = run(input, cut);
    if !whole.1 && !parts.1 {
        assert_eq!(whole.0, parts.0);
    }
});

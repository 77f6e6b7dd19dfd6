//! Property tests of the request parser (the fuzz target CI runs; a cargo-fuzz target over the
//! same entry point lives in `api/fuzz`).
//!
//! - arbitrary bytes never panic, and yield frames, "need more data" or an error;
//! - valid frames parse to the same arguments however the byte stream is split;
//! - a valid stream with garbage spliced into an argument header never yields a command that
//!   was not sent.

use larder::resp::{Parsed, ProtocolError, RequestParser, RespLimits};
use proptest::prelude::*;

fn limits() -> RespLimits {
    RespLimits {
        max_bulk_len: 4096,
        max_args: 64,
        max_inline_len: 1024,
        max_request_len: 64 * 1024,
    }
}

fn encode(args: &[Vec<u8>]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Feed `stream` to a parser in chunks ending at `cuts`, the way a connection does: the buffer
/// grows by a chunk, every complete frame is taken off its front.
fn feed(stream: &[u8], cuts: &[usize]) -> (Vec<Vec<Vec<u8>>>, Option<ProtocolError>) {
    let mut parser = RequestParser::new(limits());
    let mut buffer: Vec<u8> = Vec::new();
    let mut frames = Vec::new();
    let mut boundaries: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
    boundaries.push(stream.len());
    boundaries.sort_unstable();
    let mut fed = 0;
    for end in boundaries {
        if end <= fed {
            continue;
        }
        buffer.extend_from_slice(&stream[fed..end]);
        fed = end;
        loop {
            match parser.parse(&buffer) {
                Ok(Parsed::Frame(len)) => {
                    assert!(
                        len > 0 && len <= buffer.len(),
                        "frame length {len} out of bounds"
                    );
                    let source = parser.source(&buffer);
                    let args: Vec<Vec<u8>> = parser
                        .args()
                        .iter()
                        .map(|r| source[r.clone()].to_vec())
                        .collect();
                    if !args.is_empty() {
                        frames.push(args);
                    }
                    buffer.drain(..len);
                }
                Ok(Parsed::Incomplete) => break,
                Err(e) => return (frames, Some(e)),
            }
        }
    }
    (frames, None)
}

fn arg() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..64)
}

fn command() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(arg(), 1..6)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048),
                                   cuts in prop::collection::vec(any::<usize>(), 0..8)) {
        let (frames, _) = feed(&bytes, &cuts);
        for f in frames {
            prop_assert!(f.len() <= limits().max_args);
        }
    }

    #[test]
    fn valid_frames_parse_the_same_however_split(
        commands in prop::collection::vec(command(), 1..8),
        cuts in prop::collection::vec(any::<usize>(), 0..16),
    ) {
        let stream: Vec<u8> = commands.iter().flat_map(|c| encode(c)).collect();
        let (whole, error) = feed(&stream, &[]);
        prop_assert!(error.is_none());
        prop_assert_eq!(&whole, &commands);
        let (split, error) = feed(&stream, &cuts);
        prop_assert!(error.is_none());
        prop_assert_eq!(&split, &commands);
        // One byte at a time, the hardest split.
        let every: Vec<usize> = (0..stream.len()).collect();
        let (bytewise, error) = feed(&stream, &every);
        prop_assert!(error.is_none());
        prop_assert_eq!(&bytewise, &commands);
    }

    /// Corrupt the `$` of one argument header: everything before it parses as sent, and then the
    /// parser reports an error instead of inventing a command.
    #[test]
    fn garbage_is_an_error_never_a_bogus_command(
        commands in prop::collection::vec(command(), 1..6),
        victim in any::<prop::sample::Index>(),
        junk in any::<u8>().prop_filter("not a bulk marker", |b| *b != b'$'),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let victim = victim.index(commands.len());
        let mut stream = Vec::new();
        let mut corrupt_at = 0;
        for (i, c) in commands.iter().enumerate() {
            let encoded = encode(c);
            if i == victim {
                corrupt_at = stream.len() + encoded.iter().position(|b| *b == b'$').unwrap();
            }
            stream.extend(encoded);
        }
        stream[corrupt_at] = junk;
        let (frames, error) = feed(&stream, &cuts);
        prop_assert_eq!(&frames[..], &commands[..victim]);
        prop_assert_eq!(error, Some(ProtocolError::ExpectedBulk(junk)));
    }

    /// Inline commands split on whitespace, however the line arrives.
    #[test]
    fn inline_commands(words in prop::collection::vec("[a-zA-Z0-9:_-]{1,12}", 1..6),
                       cuts in prop::collection::vec(any::<usize>(), 0..6)) {
        let line = format!("{}\r\n", words.join("  "));
        let (frames, error) = feed(line.as_bytes(), &cuts);
        prop_assert!(error.is_none());
        let expected: Vec<Vec<u8>> = words.iter().map(|w| w.as_bytes().to_vec()).collect();
        prop_assert_eq!(frames, vec![expected]);
    }

    /// Any bytes, quoted the way redis-cli quotes them (`"…"` with `\xHH`, `\"`, `\\`), come
    /// back exactly, however the line arrives.
    #[test]
    fn quoted_inline_arguments_round_trip(
        args in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..16), 1..5),
        cuts in prop::collection::vec(any::<usize>(), 0..6),
    ) {
        let mut line = String::from("ECHO");
        for a in &args {
            line.push_str(" \"");
            for &b in a {
                match b {
                    b'"' => line.push_str("\\\""),
                    b'\\' => line.push_str("\\\\"),
                    b' '..=b'~' => line.push(b as char),
                    _ => line.push_str(&format!("\\x{b:02x}")),
                }
            }
            line.push('"');
        }
        line.push_str("\r\n");
        let (frames, error) = feed(line.as_bytes(), &cuts);
        prop_assert!(error.is_none(), "{line:?}: {error:?}");
        let mut expected = vec![b"ECHO".to_vec()];
        expected.extend(args.iter().cloned());
        prop_assert_eq!(frames, vec![expected]);
    }
}

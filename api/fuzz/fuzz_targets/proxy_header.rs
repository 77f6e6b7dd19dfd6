//! Fuzz the PROXY protocol header framing: it must never panic, and a header it accepts must
//! lie inside the input (what follows it is the client's and must be left alone).

#![no_main]

use larder::resp::proxy_protocol::parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    if let Ok(Some((len, _client))) = parse(input) {
        assert!(len > 0 && len <= input.len());
    }
});

//! Fuzz the readers of the data directory's files: the snapshot, the append-only log and a
//! sealed file, each in the clear and encrypted. The first byte picks the reader. None may
//! panic or allocate what a length field merely claims; each returns records or an error.

#![no_main]

use std::path::Path;
use std::sync::Arc;

use larder_runtime::persist::{KeyRing, append_log, sealed, snapshot};
use libfuzzer_sys::fuzz_target;

fn keys() -> Arc<KeyRing> {
    Arc::new(
        KeyRing::parse("1:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
            .expect("a valid key"),
    )
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, input)) = data.split_first() else {
        return;
    };
    let path = Path::new("fuzzed");
    let keys = (which & 1 == 1).then(keys);
    match which >> 1 & 3 {
        0 => {
            let _ = snapshot::read_from(input, path, keys);
        }
        1 => {
            let _ = append_log::read_bytes(input, path, keys.as_ref());
        }
        _ => {
            let _ = sealed::open(input.to_vec(), path, keys.as_ref());
        }
    }
});

//! Adversarial test plugin: an admission hook that writes to stdout through WASI. Plugins get no
//! WASI; the upload must be refused, naming the import.

use larder_sdk::{Admission, AdmitRequest, Plugin, export_plugin};

#[link(wasm_import_module = "wasi_snapshot_preview1")]
unsafe extern "C" {
    fn fd_write(fd: i32, iovs: i32, iovs_len: i32, written: i32) -> i32;
}

#[derive(Default)]
pub struct Chatty;

impl Plugin for Chatty {}

impl Admission for Chatty {
    fn admit(&mut self, _req: &AdmitRequest) -> bool {
        // SAFETY: never runs: the host refuses this module at upload.
        unsafe { fd_write(1, 0, 0, 0) == 0 }
    }
}

export_plugin!(Chatty, [admission]);

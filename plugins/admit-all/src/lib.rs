//! An admission plugin with nothing to decide, declared as such: mode `Never` (ABI 4), so the
//! host never calls it and a write pays one branch for it. Beside `noop` (a call per new key, the
//! same answer) it shows what declaring the mode saves.

use larder_sdk::{Admission, AdmissionMode, AdmitRequest, Plugin, export_plugin};

#[derive(Default)]
pub struct AdmitAll;

impl Plugin for AdmitAll {}

impl Admission for AdmitAll {
    fn admit(&mut self, _req: &AdmitRequest) -> bool {
        true
    }

    fn mode(&mut self) -> AdmissionMode {
        AdmissionMode::Never
    }
}

export_plugin!(AdmitAll, [admission]);

//! A plugin that does nothing but answer: admits every key. Attached as a namespace's admission
//! hook it measures what one hook call per insert costs.

use larder_sdk::{Admission, AdmitRequest, Plugin, export_plugin};

#[derive(Default)]
pub struct Noop;

impl Plugin for Noop {}

impl Admission for Noop {
    fn admit(&mut self, _req: &AdmitRequest) -> bool {
        true
    }
}

export_plugin!(Noop, [admission]);

//! openraft's own storage conformance suite against the on-disk log store and the state machine.

use std::sync::Arc;

use larder_cluster::{LogStore, StateMachine, TypeConfig};
use openraft::StorageError;
use openraft::testing::{StoreBuilder, Suite};

struct OnDisk;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir> for OnDisk {
    async fn build(
        &self,
    ) -> Result<(tempfile::TempDir, LogStore, StateMachine), StorageError<u64>> {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = LogStore::open(dir.path()).expect("open log");
        let sm = StateMachine::open(dir.path(), Arc::new(|_| {})).expect("open state machine");
        Ok((dir, log, sm))
    }
}

#[test]
fn the_on_disk_stores_pass_openraft_s_storage_suite() {
    Suite::test_all(OnDisk).unwrap();
}

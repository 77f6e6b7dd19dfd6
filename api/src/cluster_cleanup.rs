//! A cluster member drops the keys of slots it no longer holds.
//!
//! When a slot passes to another member (a rebalance or a drain, once the new owner has its
//! keys) or a replica role moves, the member it left keeps its keys until this sweep drops them:
//! otherwise they would be unreachable memory, and stale values served again should the slot
//! ever come back. After every change of the slot table — and once
//! at start, for a member that was down while slots moved — a background sweep walks every
//! namespace and deletes each key whose slot another member owns and this one does not replicate
//! (a replica keeps its copies: they are what a failover promotes). A slot with no owner (a table
//! not yet known, a member restarting) is left alone, so an incomplete view never drops data.
//!
//! Each key is judged by the slot table *current when its shard is locked*, not the one the
//! sweep started with: a member that joins sweeps with an old table while the slots it was just
//! given are being copied to it, and a verdict from that table would drop the copies.
//!
//! The sweep is O(keys) per change and runs on the blocking pool, a batch of keys per shard lock
//! (the store's SCAN), so requests keep flowing while it runs.

use std::sync::Arc;
use std::time::Duration;

use larder_cluster::ClusterView;
use larder_runtime::Namespaces;

use crate::slot_rule::SlotRule;
use crate::state::Cluster;

/// How often the slot table's epoch is compared with the last one swept.
const CHECK_EVERY: Duration = Duration::from_millis(500);
/// Keys examined per store scan step.
const SCAN_BATCH: usize = 1024;

/// Sweep after every slot-table change, until the task is aborted.
pub async fn run(cluster: Cluster, namespaces: Arc<Namespaces>) {
    let mut swept_epoch = 0;
    let mut tick = tokio::time::interval(CHECK_EVERY);
    loop {
        tick.tick().await;
        let view: Arc<ClusterView> = Arc::clone(&cluster.node.view());
        // Epoch 0 is the empty table of a member that does not know the cluster yet.
        if view.slots.epoch == 0 || view.slots.epoch == swept_epoch {
            continue;
        }
        swept_epoch = view.slots.epoch;
        let namespaces = Arc::clone(&namespaces);
        let epoch = view.slots.epoch;
        let node = cluster.node.clone();
        let current = move || Arc::clone(&node.view());
        match tokio::task::spawn_blocking(move || sweep(current, &namespaces)).await {
            Ok(0) => {}
            Ok(dropped) => {
                tracing::info!(
                    epoch,
                    dropped,
                    "dropped the keys of slots other members own now"
                );
            }
            Err(e) => tracing::error!(error = %e, "the slot sweep failed"),
        }
    }
}

/// Delete every key of every namespace whose slot another member owns and this one does not
/// replicate, by the table `current` gives when the key's shard is locked; returns how many.
pub fn sweep(current: impl Fn() -> Arc<ClusterView>, namespaces: &Namespaces) -> usize {
    let mut dropped = 0;
    let mut batch = Vec::with_capacity(SCAN_BATCH);
    for namespace in namespaces.list() {
        let store = namespace.store();
        let rule = SlotRule::of(store);
        let mut cursor = 0;
        loop {
            batch.clear();
            cursor = store.scan(cursor, SCAN_BATCH, &mut batch);
            for key in &batch {
                let slot = rule.slot(key);
                // A replica's copy is kept: it is what a failover promotes.
                let doomed = || {
                    let view = current();
                    view.slots.owner(slot).is_some() && !view.slots.holds(slot, view.me)
                };
                if store.delete_if(key, doomed) {
                    dropped += 1;
                }
            }
            if cursor == 0 {
                break;
            }
        }
    }
    dropped
}

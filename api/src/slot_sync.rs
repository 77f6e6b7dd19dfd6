//! Copying a slot's keys to a replica that is syncing, so it can be promoted without losing any.
//!
//! A member becomes a *syncing* replica of a slot when the slot table gives it a slot it did not
//! hold: a slot short of replicas after a failure is topped up, a member that restarted is given
//! its replica roles back, a rebalance moves replicas (see `larder_cluster::slot_table`). From
//! that moment the owner's write observer sends it every new change, but it lacks the slot's
//! older keys. The owner copies them here, per replica, in one pass over every namespace:
//!
//! 1. It queues, on the replica's ordinary replication queue, a `ClearSlots` for each namespace:
//!    the replica drops whatever it kept of those slots (a member that was away kept stale keys).
//! 2. It visits every shard *under the shard's lock* and queues each live entry of those slots as
//!    a put. A write to a key takes the same lock, so its change is queued either before the
//!    copy's read (and the copy carries its result) or after the copy's put: the replica ends
//!    with the owner's value either way, and a change the clear wiped is re-sent by the copy.
//! 3. It waits until the replica applied everything queued up to the copy's end, then commits
//!    `Synced` through raft: the replica is in sync, and may be promoted from then on. The copy
//!    ends only once this node's own view shows that, so the next check cannot redo it.
//!
//! Copied changes are not *awaited*: a client's write waits for its own change, not for a
//! copy queued before it. The copy is paced — a shard at a time, holding back while the
//! replica's queue is long — so a large slot does not fill the owner's memory.
//!
//! A namespace configured `rebalance = "drop"` is cleared on the replica but not copied: the
//! replica starts empty for it and refills from traffic.
//!
//! One copy runs per replica at a time; a copy that fails (the replica left, the commit did not
//! go through) is simply started again from scratch by the next check.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use larder_cluster::slot::{SLOTS, Slot};
use larder_cluster::{ClusterView, Command, NodeId};
use larder_runtime::Namespaces;
use larder_runtime::namespace::RebalanceMode;

use crate::replication::Replication;
use crate::slot_rule::SlotRule;

/// How often the slot table is checked for replicas to sync.
const CHECK_EVERY: Duration = Duration::from_millis(200);
/// A copy holds back while more changes than this wait for the replica.
const QUEUE_HIGH_WATER: usize = 50_000;
/// How long a commit of `Synced` may take before the copy is retried.
const COMMIT_PATIENCE: Duration = Duration::from_secs(10);

/// Start copies for syncing replicas of this node's slots, until the task is aborted.
pub async fn run(replication: Arc<Replication>, namespaces: Arc<Namespaces>) {
    let mut running: HashMap<NodeId, AbortOnDrop> = HashMap::new();
    let mut tick = tokio::time::interval(CHECK_EVERY);
    loop {
        tick.tick().await;
        running.retain(|_, task| !task.0.is_finished());
        let view = Arc::clone(&replication.node().view());
        for (replica, slots) in syncing_replicas(&view) {
            if running.contains_key(&replica) {
                continue;
            }
            let task = tokio::spawn(copy(
                Arc::clone(&replication),
                Arc::clone(&namespaces),
                replica,
                slots,
                view.slots.epoch,
            ));
            running.insert(replica, AbortOnDrop(task));
        }
    }
}

/// A copy in flight, stopped when the task that started it is (a node shutting down).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The slots this node owns that each replica is still syncing.
fn syncing_replicas(view: &ClusterView) -> BTreeMap<NodeId, Vec<Slot>> {
    let mut out: BTreeMap<NodeId, Vec<Slot>> = BTreeMap::new();
    for slot in 0..SLOTS {
        if view.slots.owner(slot) != Some(view.me) {
            continue;
        }
        for &(replica, _) in view.slots.syncing(slot) {
            out.entry(replica).or_default().push(slot);
        }
    }
    out
}

/// Sorted slots as inclusive runs.
fn runs(slots: &[Slot]) -> Vec<(Slot, Slot)> {
    let mut out: Vec<(Slot, Slot)> = Vec::new();
    for &slot in slots {
        match out.last_mut() {
            Some((_, end)) if *end + 1 == slot => *end = slot,
            _ => out.push((slot, slot)),
        }
    }
    out
}

/// Copy `slots` to `replica` and commit that it is in sync; see the module docs.
async fn copy(
    replication: Arc<Replication>,
    namespaces: Arc<Namespaces>,
    replica: NodeId,
    slots: Vec<Slot>,
    epoch: u64,
) {
    let started = std::time::Instant::now();
    let runs = runs(&slots);
    let mut wanted = vec![false; usize::from(SLOTS)];
    for &slot in &slots {
        wanted[usize::from(slot)] = true;
    }
    let wanted: Arc<[bool]> = wanted.into();
    let mut copied = 0usize;
    for namespace in namespaces.list() {
        let ns = namespace.name().to_string();
        replication.queue_copy_start(replica, &ns, runs.clone(), epoch);
        if namespace.config().rebalance == RebalanceMode::Drop {
            // The clear above still runs: the replica keeps nothing stale of these slots.
            continue;
        }
        for shard in 0..namespace.store().shard_count() {
            while replication.queued_for(replica, 0).0 > QUEUE_HIGH_WATER {
                if !still_syncing(&replication, replica) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let (replication, namespace, ns, wanted) = (
                Arc::clone(&replication),
                Arc::clone(&namespace),
                ns.clone(),
                Arc::clone(&wanted),
            );
            let visited = tokio::task::spawn_blocking(move || {
                let mut n = 0;
                let rule = SlotRule::of(namespace.store());
                namespace
                    .store()
                    .visit_shard_locked(shard, |key, value, form, expires_at| {
                        let slot = rule.slot(key);
                        if wanted[usize::from(slot)] {
                            replication.queue_copied_entry(
                                replica, &ns, slot, key, value, form, expires_at,
                            );
                            n += 1;
                        }
                    });
                n
            })
            .await;
            copied += visited.unwrap_or(0);
        }
    }
    // Everything queued so far, the copy included, must reach the replica.
    let end = replication.last_seq();
    loop {
        if replication.queued_for(replica, end).1 {
            break;
        }
        if !still_syncing(&replication, replica) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let synced = Command::Synced {
        owner: replication.me(),
        node: replica,
        slots: runs,
        copied_at: epoch,
    };
    match replication.node().propose(synced, COMMIT_PATIENCE).await {
        Ok(()) => {
            tracing::info!(
                replica = %format_args!("{replica:016x}"),
                slots = slots.len(),
                keys = copied,
                ms = started.elapsed().as_millis() as u64,
                "copied slots to a syncing replica"
            );
            // The commit may reach this node's view later than the leader's answer. Until it
            // does, the check would see the replica still syncing and start the copy again,
            // and a copy begins by clearing the replica's keys of those slots: if ownership
            // then passed to the replica, the redone copy stops half-way and the new owner
            // lacks keys. So this copy ends only once the view shows its slots in sync.
            let deadline = tokio::time::Instant::now() + COMMIT_PATIENCE;
            while syncing_any(&replication, replica, &slots)
                && tokio::time::Instant::now() < deadline
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        Err(e) => {
            tracing::warn!(replica = %format_args!("{replica:016x}"), error = %e, "a slot copy finished but was not committed; it will be redone");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

/// Whether this node's view still has `replica` syncing one of `slots` this node owns.
fn syncing_any(replication: &Replication, replica: NodeId, slots: &[Slot]) -> bool {
    let view = replication.node().view();
    slots.iter().any(|&slot| {
        view.slots.owner(slot) == Some(view.me)
            && view.slots.syncing(slot).iter().any(|(r, _)| *r == replica)
    })
}

/// Whether `replica` still syncs any slot of this node (otherwise the copy is moot).
fn still_syncing(replication: &Replication, replica: NodeId) -> bool {
    let view = replication.node().view();
    (0..SLOTS).any(|slot| {
        view.slots.owner(slot) == Some(view.me)
            && view.slots.syncing(slot).iter().any(|(r, _)| *r == replica)
    })
}

#[cfg(test)]
mod tests {
    use super::runs;

    #[test]
    fn slots_become_inclusive_runs() {
        assert_eq!(runs(&[]), vec![]);
        assert_eq!(runs(&[0, 1, 2, 5, 7, 8]), vec![(0, 2), (5, 5), (7, 8)]);
    }
}

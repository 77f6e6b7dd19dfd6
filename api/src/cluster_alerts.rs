//! The cluster's signals for the alert rules `member_down` and `replication_backlog_above`
//! (see `larder_runtime::alert`): read from the cluster view and replication on every tick.
//!
//! Failed members are reported by the raft leader alone, so a member going down is announced
//! once rather than by every survivor; a node that is not the leader reports none (when the
//! leader changes, the new one picks the alert up after the rule's window). Backlogs are this
//! node's own queues: each owner watches the replicas of its slots.

use larder_runtime::alert::ClusterSignals;
use larder_runtime::alert::engine::ClusterProbe;

use crate::state::Cluster;

/// The probe a cluster member gives its alert engine.
pub fn probe(cluster: Cluster) -> ClusterProbe {
    Box::new(move || {
        let view = cluster.node.view();
        let id = |n: u64| format!("{n:016x}");
        let leads = cluster.node.raft_status().leader == Some(view.me);
        ClusterSignals {
            failed_members: if leads {
                view.failed.iter().map(|n| id(*n)).collect()
            } else {
                Vec::new()
            },
            backlogs: cluster
                .replication
                .backlog()
                .into_iter()
                .map(|(r, queued)| (id(r), queued as u64))
                .collect(),
        }
    })
}

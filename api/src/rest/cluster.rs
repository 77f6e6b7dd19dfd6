//! `GET /v1/cluster`: the cluster as this member sees it — members, their health and slots, raft,
//! and replication's backlog per replica. The operator's (it names every node's addresses).

use axum::Json;
use axum::extract::State;
use larder_cluster::slot::SLOTS;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::ApiError;
use crate::state::AppState;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ClusterInfo {
    /// This member's id (16 hex digits; `CLUSTER MYID` pads it to Redis's 40).
    pub me: String,
    /// The raft leader's id, when one is known.
    pub leader: Option<String>,
    /// This member's raft role: `Leader`, `Follower`, `Candidate` or `Learner`.
    pub raft_state: String,
    pub raft_term: u64,
    /// The slot table's epoch: bumped by every change of owners or replicas.
    pub epoch: u64,
    /// Replicas kept of every slot besides its owner.
    pub replicas_per_slot: usize,
    /// Slots with no owner (the cluster answers `-CLUSTERDOWN` for them).
    pub unowned_slots: u32,
    /// Slots with fewer in-sync replicas than `replicas_per_slot` (after a failure, until new
    /// replicas have their copy; or for good, when too few members are left).
    pub under_replicated_slots: u32,
    /// Replica roles still receiving their slot's older keys (slot and replica pairs).
    pub syncing_replicas: u32,
    pub members: Vec<ClusterMember>,
    /// Changes this member queued for each replica and that are not confirmed yet.
    pub replication_backlog: Vec<ReplicaBacklog>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ClusterMember {
    pub id: String,
    pub resp_addr: String,
    pub http_addr: String,
    pub bus_addr: String,
    /// Whether it votes in raft (the first three members do).
    pub voter: bool,
    /// Failed by the leader after it stopped answering: it owns and replicates nothing.
    pub failed: bool,
    pub owned_slots: u32,
    /// Slots it holds a copy of, syncing ones included.
    pub replicated_slots: u32,
    /// Of those, the slots whose older keys it is still receiving (it cannot be promoted there).
    pub syncing_slots: u32,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReplicaBacklog {
    pub replica: String,
    pub queued_changes: usize,
}

#[utoipa::path(
    get,
    path = "/v1/cluster",
    tag = "operations",
    responses(
        (status = 200, description = "Members, slots, raft and replication as this member sees them", body = ClusterInfo),
        (status = 404, description = "`not_a_cluster`: this node runs alone", body = crate::rest::error::ErrorBody),
    )
)]
pub async fn get_cluster(State(state): State<AppState>) -> Result<Json<ClusterInfo>, ApiError> {
    let Some(cluster) = &state.cluster else {
        return Err(ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            "not_a_cluster",
            "this node is not a cluster member (start it with --bus-addr)".to_string(),
        ));
    };
    let view = cluster.node.view();
    let raft = cluster.node.raft_status();
    let id = |n: u64| format!("{n:016x}");
    let mut owned = std::collections::HashMap::new();
    let mut replicated = std::collections::HashMap::new();
    let mut syncing = std::collections::HashMap::new();
    let (mut unowned, mut under, mut syncing_total) = (0, 0, 0);
    for slot in 0..SLOTS {
        match view.slots.owner(slot) {
            Some(owner) => *owned.entry(owner).or_insert(0u32) += 1,
            None => unowned += 1,
        }
        let replicas = view.slots.replicas(slot);
        if view.slots.in_sync_count(slot) < view.replicas {
            under += 1;
        }
        for (r, _) in view.slots.syncing(slot) {
            *syncing.entry(*r).or_insert(0u32) += 1;
            syncing_total += 1;
        }
        for r in replicas {
            *replicated.entry(*r).or_insert(0u32) += 1;
        }
    }
    let members = view
        .members
        .iter()
        .map(|(n, m)| ClusterMember {
            id: id(*n),
            resp_addr: m.resp.clone(),
            http_addr: m.http.clone(),
            bus_addr: m.bus.clone(),
            voter: view.voters.contains(n),
            failed: view.failed.contains(n),
            owned_slots: owned.get(n).copied().unwrap_or(0),
            replicated_slots: replicated.get(n).copied().unwrap_or(0),
            syncing_slots: syncing.get(n).copied().unwrap_or(0),
        })
        .collect();
    Ok(Json(ClusterInfo {
        me: id(view.me),
        leader: raft.leader.map(id),
        raft_state: format!("{:?}", raft.state),
        raft_term: raft.term,
        epoch: view.slots.epoch,
        replicas_per_slot: view.replicas,
        unowned_slots: unowned,
        under_replicated_slots: under,
        syncing_replicas: syncing_total,
        members,
        replication_backlog: cluster
            .replication
            .backlog()
            .into_iter()
            .map(|(r, queued_changes)| ReplicaBacklog {
                replica: id(r),
                queued_changes,
            })
            .collect(),
    }))
}

//! `GET /v1/cluster`: the cluster as this member sees it — members, their health and slots, raft,
//! and replication's backlog per replica. The operator's (it names every node's addresses).
//!
//! And the operator's two verbs, each committed through raft (via the leader) and answered with
//! the cluster as it is then: `POST /v1/cluster/rebalance` spreads the slots evenly over the
//! members (a member that came back after a failure owns nothing until one), and
//! `POST /v1/cluster/members/{id}/drain` moves every slot off a member. A slot that changes
//! owner keeps serving from its old one until the new one has its keys.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use larder_cluster::Command;
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
    /// Slots a rebalance or a drain is moving: their new owner is receiving their keys, and
    /// the old one serves them until it has.
    pub migrating_slots: u32,
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
    /// Slots moving to it: it takes them over once it has their keys.
    pub incoming_slots: u32,
    /// Being emptied by a drain: it takes no new slots or replica roles.
    pub draining: bool,
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
    let cluster = cluster_of(&state)?;
    Ok(Json(describe(cluster)))
}

/// How long a verb waits for its command to be committed.
const COMMIT_PATIENCE: Duration = Duration::from_secs(10);

#[utoipa::path(
    post,
    path = "/v1/cluster/rebalance",
    tag = "operations",
    responses(
        (status = 200, description = "Committed: the slots are spread over the members; moving ones show in `migrating_slots` until their new owner has them", body = ClusterInfo),
        (status = 404, description = "`not_a_cluster`: this node runs alone", body = crate::rest::error::ErrorBody),
        (status = 503, description = "`no_quorum`: the change could not be committed (no leader reachable)", body = crate::rest::error::ErrorBody),
    )
)]
pub async fn rebalance(State(state): State<AppState>) -> Result<Json<ClusterInfo>, ApiError> {
    let cluster = cluster_of(&state)?;
    let members = cluster.node.view().members.keys().copied().collect();
    commit(cluster, Command::Rebalance { members }).await?;
    Ok(Json(describe(cluster)))
}

#[utoipa::path(
    post,
    path = "/v1/cluster/members/{id}/drain",
    tag = "operations",
    params(("id" = String, Path, description = "The member's id, 16 hex digits as `GET /v1/cluster` lists it")),
    responses(
        (status = 200, description = "Committed: the member's slots are moving to the others; it owns none once `incoming_slots` of the others reach 0", body = ClusterInfo),
        (status = 400, description = "`last_member`: no other member could take the slots", body = crate::rest::error::ErrorBody),
        (status = 404, description = "`not_a_cluster`, or `member_not_found`", body = crate::rest::error::ErrorBody),
        (status = 503, description = "`no_quorum`: the change could not be committed (no leader reachable)", body = crate::rest::error::ErrorBody),
    )
)]
pub async fn drain_member(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ClusterInfo>, ApiError> {
    let cluster = cluster_of(&state)?;
    let view = cluster.node.view();
    let node = u64::from_str_radix(&id, 16)
        .ok()
        .filter(|n| view.members.contains_key(n))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "member_not_found",
                format!("no member has the id {id:?} (GET /v1/cluster lists them)"),
            )
        })?;
    let others = view
        .members
        .keys()
        .filter(|m| **m != node && !view.failed.contains(m) && !view.draining.contains(m))
        .count();
    if others == 0 {
        return Err(ApiError::bad_request(
            "last_member",
            "no other live member is left to take the slots",
        ));
    }
    commit(cluster, Command::Drain { node }).await?;
    Ok(Json(describe(cluster)))
}

fn cluster_of(state: &AppState) -> Result<&crate::state::Cluster, ApiError> {
    state.cluster.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_a_cluster",
            "this node is not a cluster member (start it with --bus-addr)".to_string(),
        )
    })
}

/// Commit `command` through the leader, and wait until this member has applied it, so the
/// answer shows its effect.
async fn commit(cluster: &crate::state::Cluster, command: Command) -> Result<(), ApiError> {
    let before = cluster.node.view().slots.epoch;
    cluster
        .node
        .propose(command, COMMIT_PATIENCE)
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "no_quorum",
                format!("the change was not committed: {e}"),
            )
        })?;
    // Both verbs bump the epoch; a follower applies the commit a moment after the leader.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while cluster.node.view().slots.epoch <= before && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

fn describe(cluster: &crate::state::Cluster) -> ClusterInfo {
    let view = cluster.node.view();
    let raft = cluster.node.raft_status();
    let id = |n: u64| format!("{n:016x}");
    let mut owned = std::collections::HashMap::new();
    let mut replicated = std::collections::HashMap::new();
    let mut syncing = std::collections::HashMap::new();
    let mut incoming = std::collections::HashMap::new();
    let (mut unowned, mut under, mut syncing_total, mut migrating) = (0, 0, 0, 0);
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
        if let Some(n) = view.slots.incoming(slot) {
            *incoming.entry(n).or_insert(0u32) += 1;
            migrating += 1;
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
            incoming_slots: incoming.get(n).copied().unwrap_or(0),
            draining: view.draining.contains(n),
        })
        .collect();
    ClusterInfo {
        me: id(view.me),
        leader: raft.leader.map(id),
        raft_state: format!("{:?}", raft.state),
        raft_term: raft.term,
        epoch: view.slots.epoch,
        replicas_per_slot: view.replicas,
        unowned_slots: unowned,
        under_replicated_slots: under,
        syncing_replicas: syncing_total,
        migrating_slots: migrating,
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
    }
}

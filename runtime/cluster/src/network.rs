//! openraft's network over the cluster bus: each RPC is one bus call with raft's deadline.

use std::collections::HashMap;
use std::sync::Arc;

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use parking_lot::Mutex;

use crate::bus::{BusError, BusRequest, BusResponse, Peer};
use crate::raft_types::{Member, NodeId, TypeConfig};

/// Hands openraft one client per peer; peers are kept by bus address, so a member that comes
/// back on the same address reuses its entry.
#[derive(Clone, Default)]
pub struct Network {
    peers: Arc<Mutex<HashMap<String, Arc<Peer>>>>,
    tls: Option<crate::bus::BusTls>,
}

impl Network {
    pub fn new(tls: Option<crate::bus::BusTls>) -> Self {
        Self {
            peers: Arc::default(),
            tls,
        }
    }
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = RaftClient;

    async fn new_client(&mut self, target: NodeId, node: &Member) -> RaftClient {
        let peer = Arc::clone(
            self.peers
                .lock()
                .entry(node.bus.clone())
                .or_insert_with(|| Arc::new(Peer::new(node.bus.clone(), self.tls.clone()))),
        );
        RaftClient { target, peer }
    }
}

pub struct RaftClient {
    target: NodeId,
    peer: Arc<Peer>,
}

fn unexpected(addr: &str, response: &BusResponse) -> NetworkError {
    NetworkError::new(&std::io::Error::other(format!(
        "{addr} answered a raft RPC with {response:?}"
    )))
}

impl RaftClient {
    async fn call<E: std::error::Error>(
        &self,
        request: BusRequest,
        option: &RPCOption,
    ) -> Result<BusResponse, RPCError<NodeId, Member, E>> {
        match self.peer.call(&request, option.hard_ttl()).await {
            Ok(BusResponse::Refused(why)) => Err(RPCError::Network(NetworkError::new(
                &std::io::Error::other(why),
            ))),
            Ok(r) => Ok(r),
            Err(e @ (BusError::Connect { .. } | BusError::Lost { .. })) => {
                Err(RPCError::Unreachable(Unreachable::new(&e)))
            }
            Err(e) => Err(RPCError::Network(NetworkError::new(&e))),
        }
    }
}

impl RaftNetwork<TypeConfig> for RaftClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, Member, RaftError<NodeId>>> {
        match self.call(BusRequest::AppendEntries(rpc), &option).await? {
            BusResponse::AppendEntries(r) => {
                r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            other => Err(RPCError::Network(unexpected(self.peer.addr(), &other))),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, Member, RaftError<NodeId, InstallSnapshotError>>,
    > {
        match self.call(BusRequest::InstallSnapshot(rpc), &option).await? {
            BusResponse::InstallSnapshot(r) => {
                r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            other => Err(RPCError::Network(unexpected(self.peer.addr(), &other))),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, Member, RaftError<NodeId>>> {
        match self.call(BusRequest::Vote(rpc), &option).await? {
            BusResponse::Vote(r) => {
                r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            other => Err(RPCError::Network(unexpected(self.peer.addr(), &other))),
        }
    }
}

//! The Larder cluster: a raft control plane that holds the members and the slot table, the
//! hash-slot rule that places keys, and the bus nodes talk over.
//!
//! | module | holds |
//! |---|---|
//! | [`slot`] | CRC16 and the hash-tag rule: a key's slot, as Redis Cluster clients compute it |
//! | [`slot_table`] | which node owns each slot; the rebalance that moves the fewest slots |
//! | `raft_types` | openraft's type configuration, the replicated [`Command`]s, [`Member`] addresses |
//! | `log_store` | the raft log and vote on disk (fsynced appends, torn-tail recovery) |
//! | `state_machine` | the replicated [`ClusterState`] and its snapshots (written atomically) |
//! | [`broadcast`] | `PUBLISH` across the members: queued, batched, in order per member |
//! | [`bus`] | framed, pipelined MessagePack over TCP: raft RPCs, joins, forwarded commands, module fetches |
//! | `network` | openraft's network over the bus |
//! | [`node`] | one member: start, join or resume; the [`ClusterView`] the data plane reads |
//!
//! openraft appears only in `raft_types`, `log_store`, `state_machine`, `network` and `node`, so
//! a move to another openraft line stays inside them.
//!
//! The data plane (which commands run where, forwarding, `MOVED`) lives in the `larder` binary;
//! this crate knows nothing about namespaces or stores.

pub mod broadcast;
pub mod bus;
mod files;
mod log_store;
mod network;
pub mod node;
mod raft_types;
pub mod slot;
pub mod slot_table;
mod state_machine;

pub use broadcast::{PubSubHandler, Published};
pub use bus::{BusTls, Forward, Replicate, Replicated};
pub use log_store::LogStore;
pub use node::{
    ClusterError, ClusterNode, ClusterOptions, ClusterView, ForwardHandler, ModuleSource,
    RaftStatus, ReplicaHandler, Start,
};
pub use raft_types::{Applied, Command, Member, NodeId, PluginMeta, TypeConfig};
pub use state_machine::{ClusterState, StateMachine};

/// openraft's server states, for callers that report them.
pub use openraft::ServerState;

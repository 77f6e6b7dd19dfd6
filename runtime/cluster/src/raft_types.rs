//! The openraft type configuration and the control-plane commands its log carries.
//!
//! Every openraft type the crate uses is named here (or in the storage and network modules that
//! implement openraft's traits), so a move to another openraft line touches this module and those
//! two, not the rest of the node.

use std::io::Cursor;

use serde::{Deserialize, Serialize};

/// A member's id: random at a node's first start, kept in its data directory.
pub type NodeId = u64;

/// How to reach a member; raft keeps it in the membership config, so every node knows every
/// member's addresses.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The cluster bus: raft, forwarding, joins.
    pub bus: String,
    /// Where Redis clients connect (what `MOVED` and `CLUSTER SLOTS` point at).
    pub resp: String,
    /// The REST API and dashboard.
    pub http: String,
}

impl std::fmt::Display for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "bus {} resp {} http {}", self.bus, self.resp, self.http)
    }
}

/// A change to the replicated cluster state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Spread the slots over these members (those not failed or draining), moving the fewest,
    /// and give every slot its replicas among them. A slot that changes owner passes once its
    /// new owner has received its keys.
    Rebalance { members: Vec<NodeId> },
    /// Empty `node`: its slots move to the other members (each once copied), and it takes no
    /// slots or replica roles from then on.
    Drain { node: NodeId },
    /// Keep this many replicas of every slot (set when the cluster is formed).
    SetReplicas { count: usize },
    /// The leader stopped hearing from `node`: its slots pass to their first replicas and it
    /// replicates nothing until it is back.
    Fail { node: NodeId },
    /// A failed node answers again. It comes back owning nothing; slots short of replicas
    /// take it as a syncing replica, and the next rebalance gives it a share.
    Recover { node: NodeId },
    /// `node` started with a fresh process (`boot` is random per start). When it had started
    /// before, what it held in memory may be gone: its slots pass to their in-sync replicas and
    /// the replica roles it had become syncing ones again, exactly as after a failure.
    Started { node: NodeId, boot: u64 },
    /// `owner` copied every older key of `slots` (inclusive runs) to their syncing replica
    /// `node`, starting from a view at epoch `copied_at`: the replica is in sync there now.
    Synced {
        owner: NodeId,
        node: NodeId,
        slots: Vec<(u16, u16)>,
        copied_at: u64,
    },
    /// Every member serves namespace `name` with `config` (the namespace config as JSON, which
    /// this crate does not interpret): created where it is missing, reconfigured where it differs.
    PutNamespace { name: String, config: String },
    /// Every member drops namespace `name` with its keys.
    DeleteNamespace { name: String },
    /// Every member serves plugin version `id` (the hex SHA-256 of its module). The module's
    /// bytes are not in the log: a member that lacks them fetches them from another member over
    /// the bus and checks them against `id`.
    PutPlugin { id: String, plugin: PluginMeta },
    /// Set record `key` of the shared table `table` to `value` (an opaque encoding the data
    /// plane chooses), or mark it deleted (`None`), on every member. Tenants, API keys and users
    /// travel this way.
    PutRecord {
        table: String,
        key: String,
        value: Option<String>,
    },
}

/// What the cluster state records of a plugin version besides its id.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginMeta {
    pub name: String,
    pub description: String,
    /// The module's size, so a member can tell a truncated fetch before hashing it.
    pub size_bytes: u64,
}

impl std::fmt::Display for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Rebalance { members } => write!(f, "rebalance over {members:?}"),
            Command::Drain { node } => write!(f, "drain node {node:016x}"),
            Command::SetReplicas { count } => write!(f, "keep {count} replicas per slot"),
            Command::Fail { node } => write!(f, "fail node {node:016x}"),
            Command::Recover { node } => write!(f, "node {node:016x} is back"),
            Command::Started { node, .. } => write!(f, "node {node:016x} started"),
            Command::Synced {
                owner, node, slots, ..
            } => write!(
                f,
                "node {node:016x} has {} slot run(s) of {owner:016x}",
                slots.len()
            ),
            Command::PutNamespace { name, .. } => write!(f, "configure namespace {name:?}"),
            Command::DeleteNamespace { name } => write!(f, "delete namespace {name:?}"),
            Command::PutRecord {
                table, key, value, ..
            } => match value {
                Some(_) => write!(f, "set {table} record {key:?}"),
                None => write!(f, "delete {table} record {key:?}"),
            },
            Command::PutPlugin { id, plugin } => {
                write!(
                    f,
                    "serve plugin {:?} ({})",
                    plugin.name,
                    &id[..id.len().min(12)]
                )
            }
        }
    }
}

/// What applying a [`Command`] answered: the slot table's epoch after it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    pub epoch: u64,
}

openraft::declare_raft_types!(
    /// Larder's raft: control-plane commands, members with their addresses.
    pub TypeConfig:
        D = Command,
        R = Applied,
        NodeId = NodeId,
        Node = Member,
        SnapshotData = Cursor<Vec<u8>>,
);

pub type Raft = openraft::Raft<TypeConfig>;
pub type Entry = openraft::Entry<TypeConfig>;
pub type LogId = openraft::LogId<NodeId>;
pub type Vote = openraft::Vote<NodeId>;
pub type StorageError = openraft::StorageError<NodeId>;
pub type StoredMembership = openraft::StoredMembership<NodeId, Member>;
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, Member>;

//! The replicated cluster state and the raft state machine that applies commands to it.
//!
//! The state is small (members live in raft's membership; the slot table travels as runs), so it
//! is kept in memory and a snapshot is the whole state serialized. The current snapshot is also
//! on disk, replaced atomically, so a node whose log was purged up to a snapshot restarts from it
//! and openraft replays only the entries after it.
//!
//! Every apply publishes a fresh [`ClusterView`](crate::ClusterView) through the `on_change`
//! callback, which is how the data plane learns the new slot owners without touching raft.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{AnyError, EntryPayload, RaftSnapshotBuilder, StorageIOError};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::files;
use crate::raft_types::{
    Applied, Command, Entry, LogId, NodeId, PluginMeta, SnapshotMeta, StorageError,
    StoredMembership, TypeConfig,
};
use crate::slot_table::SlotTable;

const SNAPSHOT_FILE: &str = "raft-snapshot";

/// What raft replicates besides its own membership.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ClusterState {
    pub last_applied: Option<LogId>,
    pub membership: StoredMembership,
    pub slots: SlotTable,
    /// Replicas kept of every slot (0: every slot has one copy).
    #[serde(default)]
    pub replicas: usize,
    /// Members the leader stopped hearing from; they own and replicate nothing.
    #[serde(default)]
    pub failed: BTreeSet<NodeId>,
    /// Each member's last process start (see [`Command::Started`]).
    #[serde(default)]
    pub boots: BTreeMap<NodeId, u64>,
    /// Members an operator is emptying: they are handing their slots over and take no new ones.
    #[serde(default)]
    pub draining: BTreeSet<NodeId>,
    /// Namespaces every member serves: name → config (JSON, opaque to the cluster).
    #[serde(default)]
    pub namespaces: BTreeMap<String, String>,
    /// Namespaces deleted through the cluster and not configured again since: a member that
    /// still holds one (it was down, or has it in its config file) drops it.
    #[serde(default)]
    pub deleted_namespaces: BTreeSet<String>,
    /// Plugin versions every member serves: id (hex SHA-256 of the module) → what it is.
    #[serde(default)]
    pub plugins: BTreeMap<String, PluginMeta>,
    /// Shared tables: table → record key → value (`None`: deleted through the cluster, so a
    /// member that still holds it drops it).
    #[serde(default)]
    pub records: BTreeMap<String, BTreeMap<String, Option<String>>>,
}

impl ClusterState {
    /// The members that may own and replicate slots.
    fn live_members(&self) -> Vec<NodeId> {
        self.membership
            .membership()
            .nodes()
            .map(|(id, _)| *id)
            .filter(|id| !self.failed.contains(id))
            .collect()
    }

    /// The live members that may take slots and replica roles: not draining.
    pub fn hosts(&self) -> Vec<NodeId> {
        let mut hosts = self.live_members();
        hosts.retain(|m| !self.draining.contains(m));
        hosts
    }

    /// Spread the slots over the hosts among `members`, moving the fewest; a slot that changes
    /// owner stays with its owner until the new one has received it (see
    /// [`SlotTable::migrating_to`]).
    fn rebalance(&mut self, members: &[NodeId]) {
        let sources: Vec<NodeId> = members
            .iter()
            .copied()
            .filter(|m| !self.failed.contains(m))
            .collect();
        let hosts: Vec<NodeId> = sources
            .iter()
            .copied()
            .filter(|m| !self.draining.contains(m))
            .collect();
        let (plan, moved) = self.slots.rebalanced(&hosts);
        self.slots = self
            .slots
            .migrating_to(&plan, &sources, &hosts, self.replicas);
        tracing::info!(
            epoch = self.slots.epoch,
            moved = moved.len(),
            migrating = self.slots.migrating_count(),
            members = ?hosts,
            "slot table rebalanced; moving slots pass once their new owner has them"
        );
    }

    /// Hand moving slots over to their incoming owners where those are in sync.
    fn hand_over(&mut self) {
        let (next, moved) = self.slots.handed_over(&self.hosts(), self.replicas);
        if moved > 0 {
            tracing::info!(
                moved,
                epoch = next.epoch,
                "slots passed to their new owners"
            );
            self.slots = next;
        }
    }

    /// Give slots short of replicas new ones among the hosts (they start syncing).
    fn top_up(&mut self) {
        let (next, added) = self.slots.topped_up(&self.hosts(), self.replicas);
        if added > 0 {
            tracing::info!(
                added,
                epoch = next.epoch,
                "slots short of replicas got new ones; they are syncing"
            );
            self.slots = next;
        }
    }

    fn apply(&mut self, command: &Command) -> Applied {
        match command {
            Command::Rebalance { members } => self.rebalance(members),
            Command::Drain { node } => {
                if self.draining.insert(*node) {
                    tracing::info!(
                        node = %format_args!("{node:016x}"),
                        "member is draining: its slots move to the others"
                    );
                }
                self.rebalance(&self.live_members());
            }
            Command::SetReplicas { count } => {
                self.replicas = *count;
                let mut next = self.slots.with_replicas(&self.hosts(), *count, &self.slots);
                if next != self.slots {
                    next.epoch += 1;
                }
                self.slots = next;
            }
            Command::Fail { node } => {
                if self.failed.insert(*node) {
                    let (next, promoted) = self.slots.failed_over(*node);
                    tracing::warn!(
                        node = %format_args!("{node:016x}"),
                        promoted,
                        epoch = next.epoch,
                        "member failed: its slots pass to their replicas"
                    );
                    self.slots = next;
                    self.top_up();
                    self.hand_over();
                }
            }
            Command::Recover { node } => {
                if self.failed.remove(node) {
                    tracing::info!(node = %format_args!("{node:016x}"), "failed member is back");
                    self.top_up();
                }
            }
            Command::Started { node, boot } => {
                let before = self.boots.insert(*node, *boot);
                if before.is_some_and(|b| b != *boot) && !self.failed.contains(node) {
                    let (next, promoted) = self.slots.failed_over(*node);
                    tracing::warn!(
                        node = %format_args!("{node:016x}"),
                        promoted,
                        epoch = next.epoch,
                        "member restarted: its slots pass to their replicas and it resyncs"
                    );
                    self.slots = next;
                    self.top_up();
                    self.hand_over();
                }
            }
            Command::Synced {
                owner,
                node,
                slots,
                copied_at,
            } => {
                let (next, done) = self.slots.marked_synced(*owner, *node, slots, *copied_at);
                if done > 0 {
                    tracing::info!(
                        node = %format_args!("{node:016x}"),
                        owner = %format_args!("{owner:016x}"),
                        slots = done,
                        epoch = next.epoch,
                        "replica has every key of its slots"
                    );
                    self.slots = next;
                    self.hand_over();
                }
            }
            Command::PutNamespace { name, config } => {
                self.deleted_namespaces.remove(name);
                self.namespaces.insert(name.clone(), config.clone());
            }
            Command::DeleteNamespace { name } => {
                self.namespaces.remove(name);
                self.deleted_namespaces.insert(name.clone());
            }
            Command::PutRecord { table, key, value } => {
                self.records
                    .entry(table.clone())
                    .or_default()
                    .insert(key.clone(), value.clone());
            }
            Command::PutPlugin { id, plugin } => {
                // The first upload's name stays (a version is its bytes; names are labels).
                self.plugins
                    .entry(id.clone())
                    .or_insert_with(|| plugin.clone());
            }
        }
        Applied {
            epoch: self.slots.epoch,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta,
    data: Vec<u8>,
}

/// Called with the state after every change.
pub type OnChange = Arc<dyn Fn(&ClusterState) + Send + Sync>;

struct Inner {
    state: ClusterState,
    snapshot: Option<StoredSnapshot>,
    snapshots_built: u64,
}

/// The state machine; the snapshot builder openraft asks for is a clone.
#[derive(Clone)]
pub struct StateMachine {
    dir: PathBuf,
    inner: Arc<Mutex<Inner>>,
    on_change: OnChange,
}

fn io_err(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

impl StateMachine {
    /// Open the state machine in `dir`, starting from the snapshot on disk if there is one.
    pub fn open(dir: &Path, on_change: OnChange) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let (state, snapshot) = match files::read_optional(&dir.join(SNAPSHOT_FILE))? {
            Some(bytes) => {
                let stored: StoredSnapshot = rmp_serde::from_slice(&bytes).map_err(io_err)?;
                let state: ClusterState = rmp_serde::from_slice(&stored.data).map_err(io_err)?;
                (state, Some(stored))
            }
            None => (ClusterState::default(), None),
        };
        on_change(&state);
        Ok(Self {
            dir: dir.to_path_buf(),
            inner: Arc::new(Mutex::new(Inner {
                state,
                snapshot,
                snapshots_built: 0,
            })),
            on_change,
        })
    }

    /// A copy of the current state.
    pub fn state(&self) -> ClusterState {
        self.inner.lock().state.clone()
    }

    fn store_snapshot(&self, stored: &StoredSnapshot) -> std::io::Result<()> {
        let bytes = rmp_serde::to_vec(stored).map_err(io_err)?;
        files::write_atomic(&self.dir.join(SNAPSHOT_FILE), &bytes)
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let (meta, data) = {
            let mut inner = self.inner.lock();
            let data = rmp_serde::to_vec(&inner.state)
                .map_err(|e| StorageIOError::read_state_machine(AnyError::new(&e)))?;
            inner.snapshots_built += 1;
            let last = inner.state.last_applied;
            let meta = SnapshotMeta {
                last_log_id: last,
                last_membership: inner.state.membership.clone(),
                snapshot_id: format!(
                    "{}-{}-{}",
                    last.map_or(0, |l| l.leader_id.term),
                    last.map_or(0, |l| l.index),
                    inner.snapshots_built
                ),
            };
            (meta, data)
        };
        let stored = StoredSnapshot {
            meta: meta.clone(),
            data: data.clone(),
        };
        self.store_snapshot(&stored).map_err(|e| {
            StorageIOError::write_snapshot(Some(meta.signature()), AnyError::new(&e))
        })?;
        self.inner.lock().snapshot = Some(stored);
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = StateMachine;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        let inner = self.inner.lock();
        Ok((inner.state.last_applied, inner.state.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Applied>, StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let mut inner = self.inner.lock();
        let mut answers = Vec::new();
        for entry in entries {
            inner.state.last_applied = Some(entry.log_id);
            let answer = match &entry.payload {
                EntryPayload::Blank => Applied {
                    epoch: inner.state.slots.epoch,
                },
                EntryPayload::Normal(command) => inner.state.apply(command),
                EntryPayload::Membership(m) => {
                    inner.state.membership = StoredMembership::new(Some(entry.log_id), m.clone());
                    Applied {
                        epoch: inner.state.slots.epoch,
                    }
                }
            };
            answers.push(answer);
        }
        (self.on_change)(&inner.state);
        Ok(answers)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let data = snapshot.into_inner();
        let state: ClusterState = rmp_serde::from_slice(&data).map_err(|e| {
            StorageIOError::read_snapshot(Some(meta.signature()), AnyError::new(&e))
        })?;
        let stored = StoredSnapshot {
            meta: meta.clone(),
            data,
        };
        self.store_snapshot(&stored).map_err(|e| {
            StorageIOError::write_snapshot(Some(meta.signature()), AnyError::new(&e))
        })?;
        let mut inner = self.inner.lock();
        inner.state = ClusterState {
            last_applied: meta.last_log_id,
            membership: meta.last_membership.clone(),
            ..state
        };
        inner.snapshot = Some(stored);
        (self.on_change)(&inner.state);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let inner = self.inner.lock();
        Ok(inner.snapshot.as_ref().map(|s| Snapshot {
            meta: s.meta.clone(),
            snapshot: Box::new(Cursor::new(s.data.clone())),
        }))
    }
}

//! One cluster member: its raft instance, its bus server, the view of the slot table the data
//! plane reads, and the ways in (start a cluster, join one, resume after a restart).
//!
//! Joining: a new node sends `Join` to any member's bus; a member that is not the leader answers
//! with the leader's address and the node asks there. The leader adds it as a learner (waiting
//! until it has caught up), makes it a voter while the cluster has fewer than three, and commits
//! a rebalance that hands it its share of the slots. Joins are serialised on the leader.
//!
//! The data plane never touches raft: every applied change publishes a new [`ClusterView`],
//! which a command reads with one atomic load.
//!
//! Failure detection: the leader probes every member over the bus (`Ping`) every
//! [`PROBE_EVERY`]. A member it has not heard from for `node_timeout` is failed through raft
//! (its slots pass to their first replicas, see [`SlotTable::failed_over`]); a failed member
//! that answers again is recovered (it comes back owning nothing). Only the leader decides, and
//! only through a committed command, so a leader cut off from the majority fails nobody.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use arc_swap::ArcSwap;
use openraft::{ChangeMembers, Config, ServerState};
use parking_lot::Mutex;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::broadcast::{Broadcaster, PubSubHandler, Published};
use crate::bus::{
    self, BusError, BusHandler, BusRequest, BusResponse, Forward, Peer, Replicate, Replicated,
};
use crate::files;
use crate::log_store::LogStore;
use crate::network::Network;
use crate::raft_types::{Command, Member, NodeId, PluginMeta, Raft};
use crate::slot::{SLOTS, Slot};
use crate::slot_table::SlotTable;
use crate::state_machine::{ClusterState, StateMachine};

const NODE_ID_FILE: &str = "node-id";
/// The voters a cluster grows to; later members are learners (they serve slots, not votes).
pub const VOTERS: usize = 3;
/// How long a node keeps trying to join before giving up.
const JOIN_PATIENCE: Duration = Duration::from_secs(30);
const JOIN_CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the leader probes every member.
pub const PROBE_EVERY: Duration = Duration::from_millis(200);
/// How long the leader waits for a failover or recovery to commit before trying again.
const DECISION_TIMEOUT: Duration = Duration::from_secs(2);

/// How a node enters the cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Start {
    /// Form a new cluster of this one node, owning every slot.
    Init,
    /// Join the cluster whose member listens on this bus address.
    Join(String),
}

#[derive(Clone, Debug)]
pub struct ClusterOptions {
    /// Where the raft log, vote, snapshot and node id live.
    pub dir: PathBuf,
    /// The addresses other members and clients reach this node on.
    pub advertise: Member,
    /// Only for a node with no cluster state yet; a node that has state resumes from it.
    pub start: Option<Start>,
    /// Raft's heartbeat; elections time out after 3–6 heartbeats.
    pub heartbeat: Duration,
    /// Mutual TLS on the bus; `None` speaks plain TCP (loopback and private networks only).
    pub tls: Option<crate::bus::BusTls>,
    /// Replicas per slot, for a node that forms the cluster (`Start::Init`); joiners and
    /// resumed members take the cluster's.
    pub replicas: usize,
    /// How long the leader goes without hearing from a member before failing it.
    pub node_timeout: Duration,
}

impl ClusterOptions {
    pub fn new(dir: impl Into<PathBuf>, advertise: Member, start: Option<Start>) -> Self {
        Self {
            dir: dir.into(),
            advertise,
            start,
            heartbeat: Duration::from_millis(100),
            tls: None,
            replicas: 0,
            node_timeout: Duration::from_secs(5),
        }
    }
}

/// Why a node could not enter or use the cluster.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cluster state in {dir}: {source}")]
    Storage {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("the raft configuration is invalid: {0}")]
    Config(String),
    #[error("{0}")]
    Raft(String),
    #[error(
        "this node has no cluster state in {0}: start it with --cluster-init to form a cluster or --join <bus address> to join one"
    )]
    NotAMember(PathBuf),
    #[error("could not join through {via}: {why}")]
    Join { via: String, why: String },
    #[error(transparent)]
    Bus(#[from] BusError),
}

/// What the data plane knows about the cluster: slot owners and how to reach members.
#[derive(Debug, Clone, Default)]
pub struct ClusterView {
    pub me: NodeId,
    pub slots: SlotTable,
    pub members: BTreeMap<NodeId, Member>,
    pub voters: BTreeSet<NodeId>,
    /// Members the leader failed (they own and replicate nothing until they are back).
    pub failed: BTreeSet<NodeId>,
    /// Members being emptied by an operator (they take no new slots or replica roles).
    pub draining: BTreeSet<NodeId>,
    /// Replicas the cluster keeps of every slot.
    pub replicas: usize,
    /// Namespaces every member serves (name → config as JSON) and those deleted through the
    /// cluster; see [`crate::Command::PutNamespace`].
    pub namespaces: BTreeMap<String, String>,
    pub deleted_namespaces: BTreeSet<String>,
    /// Plugin versions every member serves, by id; see [`crate::Command::PutPlugin`].
    pub plugins: BTreeMap<String, PluginMeta>,
    /// Shared tables (see [`crate::Command::PutRecord`]): table → key → value, `None` deleted.
    pub records: BTreeMap<String, BTreeMap<String, Option<String>>>,
}

impl ClusterView {
    fn from_state(me: NodeId, state: &ClusterState) -> Self {
        let membership = state.membership.membership();
        Self {
            me,
            slots: state.slots.clone(),
            members: membership.nodes().map(|(id, m)| (*id, m.clone())).collect(),
            voters: membership.voter_ids().collect(),
            failed: state.failed.clone(),
            draining: state.draining.clone(),
            replicas: state.replicas,
            namespaces: state.namespaces.clone(),
            deleted_namespaces: state.deleted_namespaces.clone(),
            plugins: state.plugins.clone(),
            records: state.records.clone(),
        }
    }

    /// The members holding a copy of `slot` besides its owner, with their addresses.
    pub fn replicas(&self, slot: Slot) -> impl Iterator<Item = (NodeId, &Member)> {
        self.slots
            .replicas(slot)
            .iter()
            .filter_map(|id| self.members.get(id).map(|m| (*id, m)))
    }

    /// The owner of `slot` and its addresses (`None` while the slot has no live owner).
    pub fn owner(&self, slot: Slot) -> Option<(NodeId, &Member)> {
        let id = self.slots.owner(slot)?;
        self.members.get(&id).map(|m| (id, m))
    }
}

/// Runs a command forwarded by another node (proxy mode) and returns its reply bytes, encoded
/// for the protocol the client speaks. A command can wait (a read-through fetch), so the answer
/// is a future; the bus serves other requests on the connection meanwhile.
pub trait ForwardHandler: Send + Sync + 'static {
    fn execute(&self, request: Forward) -> Pin<Box<dyn Future<Output = Vec<u8>> + Send>>;
}

/// Applies the changes a slot's owner replicates to this node (see [`Replicate`]). Runs on the
/// bus task that received them; batches are bounded by the sender.
pub trait ReplicaHandler: Send + Sync + 'static {
    fn apply(&self, batch: Replicate) -> Replicated;
}

/// Answers other members' requests for plugin module bytes (see
/// [`crate::Command::PutPlugin`]): the module of version `id`, when this node has it. The
/// caller checks the bytes against the id, so a source need not.
pub trait ModuleSource: Send + Sync + 'static {
    fn module(&self, id: &str) -> Option<Arc<[u8]>>;
}

/// Raft's view of the node, for INFO and the admin API.
#[derive(Debug, Clone)]
pub struct RaftStatus {
    pub state: ServerState,
    pub term: u64,
    pub leader: Option<NodeId>,
    pub last_applied: Option<u64>,
}

struct Shared {
    id: NodeId,
    raft: Raft,
    view: Arc<ArcSwap<ClusterView>>,
    forward_handler: OnceLock<Arc<dyn ForwardHandler>>,
    forward_peers: Mutex<HashMap<String, Arc<Peer>>>,
    replica_handler: OnceLock<Arc<dyn ReplicaHandler>>,
    /// Replication's own connections, so a replication batch never waits behind forwards.
    replica_peers: Mutex<HashMap<String, Arc<Peer>>>,
    module_source: OnceLock<Arc<dyn ModuleSource>>,
    pubsub_handler: OnceLock<Arc<dyn PubSubHandler>>,
    broadcaster: Broadcaster,
    tls: Option<crate::bus::BusTls>,
    joins: tokio::sync::Mutex<()>,
    /// Bumped after every change to the state, once the new view is published.
    changes: watch::Sender<u64>,
}

/// A running cluster member. Cheap to clone.
#[derive(Clone)]
pub struct ClusterNode {
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    bus_addr: std::net::SocketAddr,
}

fn node_id(dir: &Path) -> std::io::Result<(NodeId, bool)> {
    let path = dir.join(NODE_ID_FILE);
    if let Some(bytes) = files::read_optional(&path)? {
        let text = String::from_utf8_lossy(&bytes);
        let id = u64::from_str_radix(text.trim(), 16).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        })?;
        return Ok((id, false));
    }
    // Zero is never an id, so an unset field cannot pass for one.
    let id = loop {
        let id: u64 = rand::random();
        if id != 0 {
            break id;
        }
    };
    files::write_atomic(&path, format!("{id:016x}\n").as_bytes())?;
    Ok((id, true))
}

impl ClusterNode {
    /// Open the cluster state, start raft and the bus server on `bus`, and enter the cluster as
    /// `options.start` says (or resume membership from the state on disk). Returns once this
    /// node is a member that knows the slot table.
    pub async fn start(options: ClusterOptions, bus: TcpListener) -> Result<Self, ClusterError> {
        let storage = |source| ClusterError::Storage {
            dir: options.dir.clone(),
            source,
        };
        std::fs::create_dir_all(&options.dir).map_err(storage)?;
        let (id, _fresh) = node_id(&options.dir).map_err(storage)?;
        let log = LogStore::open(&options.dir).map_err(storage)?;
        let view = Arc::new(ArcSwap::from_pointee(ClusterView {
            me: id,
            ..ClusterView::default()
        }));
        let (changes, _) = watch::channel(0u64);
        let publish = {
            let view = Arc::clone(&view);
            let changes = changes.clone();
            Arc::new(move |state: &ClusterState| {
                view.store(Arc::new(ClusterView::from_state(id, state)));
                changes.send_modify(|n| *n += 1);
            })
        };
        let sm = StateMachine::open(&options.dir, publish).map_err(storage)?;
        let hb = options.heartbeat.as_millis() as u64;
        let config = Config {
            cluster_name: "larder".into(),
            heartbeat_interval: hb,
            election_timeout_min: hb * 3,
            election_timeout_max: hb * 6,
            ..Config::default()
        }
        .validate()
        .map_err(|e| ClusterError::Config(e.to_string()))?;
        let raft = Raft::new(
            id,
            Arc::new(config),
            Network::new(options.tls.clone()),
            log,
            sm,
        )
        .await
        .map_err(|e| ClusterError::Raft(e.to_string()))?;
        let bus_addr = bus.local_addr().map_err(storage)?;
        let broadcaster = Broadcaster::start(Arc::clone(&view), options.tls.clone());
        let shared = Arc::new(Shared {
            id,
            raft,
            view,
            forward_handler: OnceLock::new(),
            forward_peers: Mutex::new(HashMap::new()),
            replica_handler: OnceLock::new(),
            replica_peers: Mutex::new(HashMap::new()),
            module_source: OnceLock::new(),
            pubsub_handler: OnceLock::new(),
            broadcaster,
            tls: options.tls.clone(),
            joins: tokio::sync::Mutex::new(()),
            changes,
        });
        let (stop, stop_rx) = watch::channel(false);
        tokio::spawn(bus::serve(
            bus,
            Arc::clone(&shared) as Arc<dyn BusHandler>,
            stop_rx.clone(),
            options.tls.clone(),
        ));
        tokio::spawn(watch_members(
            Arc::clone(&shared),
            stop_rx,
            options.node_timeout,
        ));
        let node = Self {
            shared,
            stop,
            bus_addr,
        };
        let initialized = node
            .shared
            .raft
            .is_initialized()
            .await
            .map_err(|e| ClusterError::Raft(e.to_string()))?;
        if initialized {
            tracing::info!(node = %format_args!("{id:016x}"), "resuming cluster membership from the data directory");
        } else {
            match &options.start {
                Some(Start::Init) => node.init(&options.advertise, options.replicas).await?,
                Some(Start::Join(via)) => node.join(via, &options.advertise).await?,
                None => return Err(ClusterError::NotAMember(options.dir.clone())),
            }
        }
        // Tell the cluster this is a new process, so a restart that lost memory is resynced. In
        // the background: a member that resumes while the others are down must still start.
        let started = Command::Started {
            node: id,
            boot: rand::random(),
        };
        let announcer = node.clone();
        tokio::spawn(async move {
            loop {
                match announcer.propose(started.clone(), JOIN_PATIENCE).await {
                    Ok(()) => return,
                    Err(e) if *announcer.stop.borrow() => {
                        tracing::debug!(error = %e, "stopped before the start was committed");
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "this start is not committed yet; retrying")
                    }
                }
            }
        });
        Ok(node)
    }

    async fn init(&self, me: &Member, replicas: usize) -> Result<(), ClusterError> {
        let raft = &self.shared.raft;
        raft.initialize(BTreeMap::from([(self.shared.id, me.clone())]))
            .await
            .map_err(|e| ClusterError::Raft(e.to_string()))?;
        raft.wait(Some(Duration::from_secs(10)))
            .current_leader(self.shared.id, "leader of a new cluster")
            .await
            .map_err(|e| ClusterError::Raft(e.to_string()))?;
        if replicas > 0 {
            raft.client_write(Command::SetReplicas { count: replicas })
                .await
                .map_err(|e| ClusterError::Raft(e.to_string()))?;
        }
        raft.client_write(Command::Rebalance {
            members: vec![self.shared.id],
        })
        .await
        .map_err(|e| ClusterError::Raft(e.to_string()))?;
        tracing::info!(node = %format_args!("{:016x}", self.shared.id), "formed a new cluster");
        Ok(())
    }

    async fn join(&self, via: &str, me: &Member) -> Result<(), ClusterError> {
        let deadline = tokio::time::Instant::now() + JOIN_PATIENCE;
        let mut target = via.to_string();
        let mut last_error;
        loop {
            let request = BusRequest::Join {
                id: self.shared.id,
                member: me.clone(),
            };
            match Peer::new(target.clone(), self.shared.tls.clone())
                .call(&request, JOIN_CALL_TIMEOUT)
                .await
            {
                Ok(BusResponse::Joined) => break,
                Ok(BusResponse::NotLeader { leader: Some(l) }) => {
                    target = l.bus;
                    continue;
                }
                Ok(BusResponse::NotLeader { leader: None }) => {
                    last_error = "no leader yet".to_string()
                }
                Ok(BusResponse::Refused(why)) => last_error = why,
                Ok(other) => last_error = format!("unexpected answer {other:?}"),
                Err(e) => last_error = e.to_string(),
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ClusterError::Join {
                    via: via.to_string(),
                    why: last_error,
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            target = via.to_string();
        }
        // The leader committed our membership and slots; wait until we have applied them.
        let id = self.shared.id;
        self.shared
            .raft
            .wait(Some(JOIN_PATIENCE))
            .metrics(
                |m| m.membership_config.membership().get_node(&id).is_some(),
                "own membership applied",
            )
            .await
            .map_err(|e| ClusterError::Raft(e.to_string()))?;
        // The rebalance gives us slots to receive (we own them once their owners copied them to
        // us, which needs this node serving: so wait for the plan, not the handover).
        let view = self.shared.view.clone();
        let until = tokio::time::Instant::now() + JOIN_PATIENCE;
        let planned = |slots: &SlotTable| {
            slots.counts().contains_key(&id) || (0..SLOTS).any(|s| slots.incoming(s) == Some(id))
        };
        while !planned(&view.load().slots) && tokio::time::Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tracing::info!(node = %format_args!("{id:016x}"), via, "joined the cluster");
        Ok(())
    }

    pub fn id(&self) -> NodeId {
        self.shared.id
    }

    /// The bus address actually bound.
    pub fn bus_addr(&self) -> std::net::SocketAddr {
        self.bus_addr
    }

    /// The current view; one atomic load.
    pub fn view(&self) -> arc_swap::Guard<Arc<ClusterView>> {
        self.shared.view.load()
    }

    /// Wakes after every change to the cluster state (the view is already the new one).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.shared.changes.subscribe()
    }

    pub fn raft_status(&self) -> RaftStatus {
        let m = self.shared.raft.metrics().borrow().clone();
        RaftStatus {
            state: m.state,
            term: m.current_term,
            leader: m.current_leader,
            last_applied: m.last_applied.map(|l| l.index),
        }
    }

    /// Where forwarded commands are run on this node; set once, before clients arrive.
    pub fn set_forward_handler(&self, handler: Arc<dyn ForwardHandler>) {
        let _ = self.shared.forward_handler.set(handler);
    }

    /// Run `request` on `owner` and return the reply bytes.
    pub async fn forward(
        &self,
        owner: &Member,
        request: Forward,
        timeout: Duration,
    ) -> Result<Vec<u8>, BusError> {
        let peer = self.shared.pooled(&self.shared.forward_peers, owner);
        match peer.call(&BusRequest::Forward(request), timeout).await? {
            BusResponse::Forwarded(bytes) => Ok(bytes),
            BusResponse::Refused(why) => Ok(format!("-TRYAGAIN {why}\r\n").into_bytes()),
            other => Ok(
                format!("-ERR unexpected answer from {}: {other:?}\r\n", owner.bus).into_bytes(),
            ),
        }
    }

    /// Where other members' published messages are delivered; set once, at start.
    pub fn set_pubsub_handler(&self, handler: Arc<dyn PubSubHandler>) {
        let _ = self.shared.pubsub_handler.set(handler);
    }

    /// Send a message published here to every other member's subscribers (queued: this
    /// returns at once); see [`crate::broadcast`].
    pub fn publish(&self, channel: &[u8], message: &[u8], sharded: bool) {
        self.shared.broadcaster.send(Published {
            channel: channel.to_vec(),
            message: message.to_vec(),
            sharded,
        });
    }

    /// Published messages not sent to the other members because the queue was full.
    pub fn publish_dropped(&self) -> u64 {
        self.shared.broadcaster.dropped()
    }

    /// What answers other members' module fetches; set once, at start.
    pub fn set_module_source(&self, source: Arc<dyn ModuleSource>) {
        let _ = self.shared.module_source.set(source);
    }

    /// Ask `from` for the module bytes of plugin version `id` (`None`: it does not have them).
    /// Rare and large, so on a connection of its own rather than the forwarding pool's.
    pub async fn fetch_module(
        &self,
        from: &Member,
        id: &str,
        timeout: Duration,
    ) -> Result<Option<Vec<u8>>, BusError> {
        let peer = Peer::new(from.bus.clone(), self.shared.tls.clone());
        let request = BusRequest::FetchModule { id: id.to_string() };
        match peer.call(&request, timeout).await? {
            BusResponse::Module(bytes) => Ok(bytes.map(serde_bytes::ByteBuf::into_vec)),
            _ => Ok(None),
        }
    }

    /// Run the commands of `batch` on `owner`, one after another, and return each one's reply
    /// bytes in order (a client's pipeline of commands for one owner, in one round trip).
    pub async fn forward_batch(
        &self,
        owner: &Member,
        batch: Vec<Forward>,
        timeout: Duration,
    ) -> Result<Vec<Vec<u8>>, BusError> {
        let n = batch.len();
        let peer = self.shared.pooled(&self.shared.forward_peers, owner);
        let refused = |why: String| vec![format!("-TRYAGAIN {why}\r\n").into_bytes(); n];
        match peer.call(&BusRequest::ForwardBatch(batch), timeout).await? {
            BusResponse::ForwardedBatch(replies) if replies.len() == n => Ok(replies
                .into_iter()
                .map(serde_bytes::ByteBuf::into_vec)
                .collect()),
            BusResponse::Refused(why) => Ok(refused(why)),
            other => Ok(refused(format!(
                "unexpected answer from {}: {other:?}",
                owner.bus
            ))),
        }
    }

    /// Where replicated changes are applied on this node; set once, before clients arrive.
    pub fn set_replica_handler(&self, handler: Arc<dyn ReplicaHandler>) {
        let _ = self.shared.replica_handler.set(handler);
    }

    /// Send `batch` to the replica `to` and return what it applied.
    pub async fn replicate(
        &self,
        to: &Member,
        batch: Replicate,
        timeout: Duration,
    ) -> Result<Replicated, BusError> {
        let peer = self.shared.pooled(&self.shared.replica_peers, to);
        match peer.call(&BusRequest::Replicate(batch), timeout).await? {
            BusResponse::Replicated(done) => Ok(done),
            BusResponse::Refused(why) => Ok(Replicated {
                applied: 0,
                refused: Some(why),
            }),
            other => Ok(Replicated {
                applied: 0,
                refused: Some(format!("unexpected answer {other:?}")),
            }),
        }
    }

    /// Commit `command` through the leader, wherever it is; retries (a leader change, a leader
    /// not known yet) until `patience` runs out. Without a quorum the leader's own attempt would
    /// wait for one indefinitely; it is cut at `patience` too. An `Err` therefore means "not known
    /// to be committed": an entry the leader appended may still commit once a quorum is back.
    pub async fn propose(&self, command: Command, patience: Duration) -> Result<(), ClusterError> {
        let deadline = tokio::time::Instant::now() + patience;
        let mut last_error = String::from("no leader");
        loop {
            let leader = self.shared.raft.metrics().borrow().current_leader;
            let outcome: Result<(), String> = match leader {
                Some(l) if l == self.shared.id => {
                    let attempt = self.shared.handle_propose(command.clone());
                    match tokio::time::timeout_at(deadline, attempt).await {
                        Ok(BusResponse::Committed) => return Ok(()),
                        Ok(other) => Err(format!("{other:?}")),
                        Err(_) => Err(format!(
                            "no quorum confirmed it within {} ms",
                            patience.as_millis()
                        )),
                    }
                }
                Some(l) => match self.view().members.get(&l).cloned() {
                    Some(member) => {
                        match Peer::new(member.bus.clone(), self.shared.tls.clone())
                            .call(&BusRequest::Propose(command.clone()), JOIN_CALL_TIMEOUT)
                            .await
                        {
                            Ok(BusResponse::Committed) => return Ok(()),
                            Ok(other) => Err(format!("{other:?}")),
                            Err(e) => Err(e.to_string()),
                        }
                    }
                    None => Err("the leader's address is not known yet".into()),
                },
                None => Err("no leader yet".into()),
            };
            if let Err(e) = outcome {
                last_error = e;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ClusterError::Raft(format!(
                    "could not commit \"{command}\": {last_error}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stop raft and the bus server.
    pub async fn shutdown(&self) {
        self.stop.send_replace(true);
        let _ = self.shared.raft.shutdown().await;
    }
}

impl Shared {
    /// `None` when this node leads; otherwise the answer naming the leader (when known).
    fn unless_leader(&self) -> Option<BusResponse> {
        let metrics = self.raft.metrics().borrow().clone();
        if metrics.current_leader == Some(self.id) {
            return None;
        }
        let leader = metrics
            .current_leader
            .and_then(|l| metrics.membership_config.membership().get_node(&l).cloned());
        Some(BusResponse::NotLeader { leader })
    }

    /// Commit `command` if this node leads; otherwise say who does.
    async fn handle_propose(&self, command: Command) -> BusResponse {
        if let Some(not_leader) = self.unless_leader() {
            return not_leader;
        }
        match self.raft.client_write(command).await {
            Ok(_) => BusResponse::Committed,
            Err(e) => BusResponse::Refused(format!("not committed: {e}")),
        }
    }

    async fn handle_join(&self, id: NodeId, member: Member) -> BusResponse {
        if let Some(not_leader) = self.unless_leader() {
            return not_leader;
        }
        let _one_at_a_time = self.joins.lock().await;
        let membership = self
            .raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .clone();
        if let Some(known) = membership.get_node(&id)
            && *known != member
        {
            return BusResponse::Refused(format!(
                "node {id:016x} is already a member at {known}; it must keep its addresses"
            ));
        }
        if membership.get_node(&id).is_none() {
            tracing::info!(node = %format_args!("{id:016x}"), %member, "adding a member");
            if let Err(e) = self.raft.add_learner(id, member, true).await {
                return BusResponse::Refused(format!("adding the node failed: {e}"));
            }
        }
        let membership = self
            .raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .clone();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        if voters.len() < VOTERS
            && !voters.contains(&id)
            && let Err(e) = self
                .raft
                .change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id])), true)
                .await
        {
            return BusResponse::Refused(format!("making the node a voter failed: {e}"));
        }
        let members: Vec<NodeId> = self
            .raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .nodes()
            .map(|(id, _)| *id)
            .collect();
        match self.raft.client_write(Command::Rebalance { members }).await {
            Ok(_) => BusResponse::Joined,
            Err(e) => BusResponse::Refused(format!("rebalancing the slots failed: {e}")),
        }
    }
}

impl Shared {
    /// `member`'s connection in `pool`, made on first use.
    fn pooled(&self, pool: &Mutex<HashMap<String, Arc<Peer>>>, member: &Member) -> Arc<Peer> {
        Arc::clone(
            pool.lock()
                .entry(member.bus.clone())
                .or_insert_with(|| Arc::new(Peer::new(member.bus.clone(), self.tls.clone()))),
        )
    }
}

impl BusHandler for Shared {
    fn handle(
        &self,
        request: BusRequest,
    ) -> Pin<Box<dyn Future<Output = BusResponse> + Send + '_>> {
        Box::pin(async move {
            match request {
                BusRequest::AppendEntries(r) => {
                    BusResponse::AppendEntries(self.raft.append_entries(r).await)
                }
                BusRequest::Vote(r) => BusResponse::Vote(self.raft.vote(r).await),
                BusRequest::InstallSnapshot(r) => {
                    BusResponse::InstallSnapshot(self.raft.install_snapshot(r).await)
                }
                BusRequest::Join { id, member } => self.handle_join(id, member).await,
                BusRequest::Forward(f) => match self.forward_handler.get() {
                    Some(h) => BusResponse::Forwarded(h.execute(f).await),
                    None => BusResponse::Refused("this node is still starting".into()),
                },
                BusRequest::ForwardBatch(batch) => match self.forward_handler.get() {
                    Some(h) => {
                        let mut replies = Vec::with_capacity(batch.len());
                        // One after another: a client's pipeline runs in the order it was sent.
                        for f in batch {
                            replies.push(serde_bytes::ByteBuf::from(h.execute(f).await));
                        }
                        BusResponse::ForwardedBatch(replies)
                    }
                    None => BusResponse::Refused("this node is still starting".into()),
                },
                BusRequest::Replicate(batch) => match self.replica_handler.get() {
                    Some(h) => BusResponse::Replicated(h.apply(batch)),
                    None => BusResponse::Refused("this node is still starting".into()),
                },
                BusRequest::Ping => BusResponse::Pong,
                BusRequest::Propose(command) => self.handle_propose(command).await,
                BusRequest::Publish(messages) => match self.pubsub_handler.get() {
                    Some(h) => {
                        h.deliver(messages);
                        BusResponse::Delivered
                    }
                    None => BusResponse::Refused("this node is still starting".into()),
                },
                BusRequest::FetchModule { id } => BusResponse::Module(
                    self.module_source
                        .get()
                        .and_then(|source| source.module(&id))
                        .map(|bytes| serde_bytes::ByteBuf::from(bytes.to_vec())),
                ),
            }
        })
    }
}

/// The leader's failure detector; see the module docs. Runs on every node, acts only while the
/// node leads, and starts every member's clock afresh when it becomes leader.
async fn watch_members(shared: Arc<Shared>, mut stop: watch::Receiver<bool>, timeout: Duration) {
    let mut last_heard: HashMap<NodeId, tokio::time::Instant> = HashMap::new();
    let mut peers: HashMap<String, Arc<Peer>> = HashMap::new();
    let mut tick = tokio::time::interval(PROBE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let probe_timeout = (timeout / 2).clamp(Duration::from_millis(100), Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
        if shared.raft.metrics().borrow().current_leader != Some(shared.id) {
            last_heard.clear();
            continue;
        }
        let view = shared.view.load_full();
        let mut probes = tokio::task::JoinSet::new();
        for (&id, member) in view.members.iter().filter(|(id, _)| **id != shared.id) {
            let peer =
                Arc::clone(peers.entry(member.bus.clone()).or_insert_with(|| {
                    Arc::new(Peer::new(member.bus.clone(), shared.tls.clone()))
                }));
            probes.spawn(async move {
                let alive = matches!(
                    peer.call(&BusRequest::Ping, probe_timeout).await,
                    Ok(BusResponse::Pong)
                );
                (id, alive)
            });
        }
        let now = tokio::time::Instant::now();
        while let Some(Ok((id, alive))) = probes.join_next().await {
            let heard = last_heard.entry(id).or_insert(now);
            let decision = if alive {
                *heard = tokio::time::Instant::now();
                view.failed
                    .contains(&id)
                    .then_some(Command::Recover { node: id })
            } else if now.duration_since(*heard) >= timeout && !view.failed.contains(&id) {
                tracing::warn!(node = %format_args!("{id:016x}"), silent_ms = now.duration_since(*heard).as_millis() as u64, "a member stopped answering");
                Some(Command::Fail { node: id })
            } else {
                None
            };
            if let Some(command) = decision {
                let what = command.to_string();
                match tokio::time::timeout(DECISION_TIMEOUT, shared.raft.client_write(command))
                    .await
                {
                    Ok(Ok(_)) => tracing::info!(decision = %what, "committed"),
                    Ok(Err(e)) => tracing::warn!(decision = %what, error = %e, "not committed"),
                    Err(_) => {
                        tracing::warn!(decision = %what, "not committed in time (no quorum?)")
                    }
                }
            }
        }
    }
}

//! Replication in a cluster: every change to a slot's keys reaches the slot's replicas before
//! the write is acknowledged, so a failed owner's slots pass to a replica without losing one.
//!
//! **Owner's side.** [`Replication`] is a write observer on every namespace (see
//! [`larder_runtime::store::WriteObserver`]): told of each change under the key's shard lock, it
//! looks up the key's slot in the current [`ClusterView`] and, when this node owns the slot and
//! the slot has replicas, numbers the change (one sequence per node, so changes to one key are
//! numbered in the order they were made) and queues its encoding for each replica. One sender
//! task per replica sends its queue in order, in batches, over the bus (`Replicate`), and drops
//! what the replica applied.
//!
//! **Acknowledgement.** A connection that ran a write waits, before it answers, until no queue
//! holds a change numbered at or below the last one made when its batch ended
//! ([`Replication::wait`]); that is the `appendfsync always` wait's counterpart. A change that
//! can no longer reach a replica of its slot — this node lost the slot to a failover, say — is a
//! *loss*, and the waiting writes get an error instead of an acknowledgement: they may or may not
//! survive, so they are never reported as done. A replica the cluster dropped from the slot (the
//! raft leader failed it) no longer needs the change; waiting writes go on without it.
//!
//! **Replica's side.** [`ReplicaApplier`] applies a batch in order, after checking each change
//! against its own view: the sender must own the change's slot and this node must replicate it.
//! A change that fails the check (the two views differ for a moment around a slot-table change) is
//! refused with the ones after it, and the sender tries again shortly.
//!
//! The replica applies what the owner decided — puts, deletes, evictions, deadlines — so
//! admission and eviction plugins run once, on the owner.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use larder_cluster::slot::{SLOTS, Slot};
use larder_cluster::{ClusterNode, ClusterView, NodeId, ReplicaHandler, Replicate, Replicated};
use larder_runtime::Namespaces;
use larder_runtime::namespace::ObserverSource;
use larder_runtime::persist::append_log::{self, LogRecord, ReplaySummary, unix_deadline};
use larder_runtime::plugin::Router;
use larder_runtime::store::{Form, Store, WriteObserver};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, watch};

use crate::slot_rule::{SlotRule, slot_in};

/// Most changes in one `Replicate` batch.
const BATCH_RECORDS: usize = 512;
/// Most bytes of changes in one batch (a batch holds at least one change, however large).
const BATCH_BYTES: usize = 1 << 20;
/// How long a sender waits for a replica's answer before trying again.
const SEND_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a sender pauses after a refusal or an unreachable replica.
const RETRY_AFTER: Duration = Duration::from_millis(100);

/// One change as it travels to a replica.
#[derive(Debug, Serialize, Deserialize)]
enum Change {
    /// A put, deadline change or removal, in the append-only log's form.
    Key(LogRecord),
    /// The namespace was flushed on the sender: drop the keys of every slot it owns.
    ClearOwned { ns: String },
    /// The start of a slot copy (see `slot_sync`): drop what this replica holds of these slots
    /// (inclusive runs), which the sender owns in its view at `epoch`; the copy follows.
    ClearSlots {
        ns: String,
        slots: Vec<(Slot, Slot)>,
        epoch: u64,
    },
}

/// A change queued for one replica.
struct Queued {
    seq: u64,
    /// The change's slot; `None` for a flush, which concerns all of the sender's slots.
    slot: Option<Slot>,
    bytes: Arc<[u8]>,
}

#[derive(Default)]
struct Outbox {
    /// The number of the last change queued (0: none yet).
    last: u64,
    queues: HashMap<NodeId, Queue>,
}

struct Queue {
    records: VecDeque<Queued>,
    /// The numbers of the queued changes writes wait for, in order: every change except a slot
    /// copy's, which no write waits on (a copy of a large slot must not hold up every write).
    awaited: VecDeque<u64>,
    wake: Arc<Notify>,
}

impl Queue {
    /// Forget awaited numbers of changes no longer queued.
    fn trim_awaited(&mut self) {
        let first = self.records.front().map(|r| r.seq);
        while let Some(&a) = self.awaited.front() {
            if first.is_some_and(|f| a >= f) {
                break;
            }
            self.awaited.pop_front();
        }
    }
}

/// Why a write was not acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum NotReplicated {
    #[error("NOREPLICAS the slot's replicas did not confirm the write within {0:?}")]
    Timeout(Duration),
    #[error(
        "NOREPLICAS the write may not have reached the slot's replicas: this node lost the slot \
         while it was on its way (it may or may not survive)"
    )]
    Lost,
}

/// Where a batch started: the last change queued and the slot table it was checked against.
pub struct Mark {
    seq: u64,
    view: Arc<ClusterView>,
}

impl Mark {
    /// The slot table the batch started with: what to check ownership against, so that a slot
    /// lost after the check is caught by [`Replication::wait`].
    pub fn view(&self) -> &ClusterView {
        &self.view
    }
}

/// Whether `me` owned a slot in `before` that it does not own in `now`.
fn lost_a_slot(before: &ClusterView, now: &ClusterView, me: NodeId) -> bool {
    (0..SLOTS).any(|s| before.slots.owner(s) == Some(me) && now.slots.owner(s) != Some(me))
}

/// This node's replication: the owner's queues and their senders; see the module docs.
pub struct Replication {
    node: ClusterNode,
    me: NodeId,
    outbox: Mutex<Outbox>,
    /// `outbox.last`, readable without the lock (every connection reads it per batch).
    last_queued: AtomicU64,
    /// Every change numbered at or below this has reached all the replicas it had to.
    acked: watch::Sender<u64>,
    /// The number of the last change dropped as lost (0: none).
    lost: AtomicU64,
    /// How long a write waits for its replicas before it is answered with an error.
    wait_timeout: Duration,
    runtime: tokio::runtime::Handle,
    stopped: AtomicBool,
    /// Changes sent and applied, for INFO.
    pub applied_by_replicas: AtomicU64,
    /// Changes this node applied as a replica, for INFO.
    pub applied_here: AtomicU64,
}

impl Replication {
    /// Replicate `namespaces`' changes from now on, and apply the changes other owners send.
    /// Must run inside the Tokio runtime (the senders are spawned on it).
    pub fn start(
        node: ClusterNode,
        namespaces: &Arc<Namespaces>,
        wait_timeout: Duration,
    ) -> Arc<Self> {
        let this = Arc::new(Self {
            me: node.id(),
            node,
            outbox: Mutex::new(Outbox::default()),
            last_queued: AtomicU64::new(0),
            acked: watch::channel(0).0,
            lost: AtomicU64::new(0),
            wait_timeout,
            runtime: tokio::runtime::Handle::current(),
            stopped: AtomicBool::new(false),
            applied_by_replicas: AtomicU64::new(0),
            applied_here: AtomicU64::new(0),
        });
        this.node.set_replica_handler(Arc::new(ReplicaApplier {
            replication: Arc::downgrade(&this),
            namespaces: Arc::clone(namespaces),
        }));
        namespaces.observe_writes(Arc::new(Source(Arc::clone(&this))));
        this
    }

    /// The number of the last change queued.
    #[inline]
    pub(crate) fn last_seq(&self) -> u64 {
        self.last_queued.load(Ordering::Acquire)
    }

    /// What a connection notes before running a batch, for [`Replication::wait`].
    #[inline]
    pub fn mark(&self) -> Mark {
        Mark {
            seq: self.last_seq(),
            view: Arc::clone(&self.node.view()),
        }
    }

    /// Wait until every change queued after `mark` (and before now) reached its replicas; call
    /// it after a batch that wrote. Returns at once when nothing was queued since `mark` and
    /// this node still owns every slot it owned then.
    ///
    /// A write to a slot that passed to another member while the batch ran (its check said
    /// "mine", the write observer then saw the new owner) is queued for nobody, and the new
    /// owner never gets it: such a batch is answered [`NotReplicated::Lost`]. The check is by
    /// slot table, not by key — a batch that straddles a handover away from this node is refused
    /// whole, which is safe (the client retries) and rare.
    pub async fn wait(&self, mark: Mark) -> Result<(), NotReplicated> {
        {
            let now = self.node.view();
            if now.slots.epoch != mark.view.slots.epoch && lost_a_slot(&mark.view, &now, self.me) {
                return Err(NotReplicated::Lost);
            }
        }
        let mark = mark.seq;
        let last = self.last_seq();
        if last == mark {
            return Ok(());
        }
        let mut rx = self.acked.subscribe();
        match tokio::time::timeout(self.wait_timeout, rx.wait_for(|&a| a >= last)).await {
            Ok(Ok(_)) => {}
            Ok(Err(_)) | Err(_) => return Err(NotReplicated::Timeout(self.wait_timeout)),
        }
        if self.lost.load(Ordering::Acquire) > mark {
            return Err(NotReplicated::Lost);
        }
        Ok(())
    }

    /// Changes queued for replicas and not yet applied, per replica (for INFO).
    pub fn backlog(&self) -> Vec<(NodeId, usize)> {
        let outbox = self.outbox.lock();
        let mut out: Vec<(NodeId, usize)> = outbox
            .queues
            .iter()
            .map(|(id, q)| (*id, q.records.len()))
            .collect();
        out.sort_unstable();
        out
    }

    /// This node's id.
    pub(crate) fn me(&self) -> NodeId {
        self.me
    }

    /// The cluster membership this replication serves.
    pub(crate) fn node(&self) -> &ClusterNode {
        &self.node
    }

    /// Queue the start of a copy of `slots` of namespace `ns` for replica `to`; see `slot_sync`.
    pub(crate) fn queue_copy_start(
        self: &Arc<Self>,
        to: NodeId,
        ns: &str,
        slots: Vec<(Slot, Slot)>,
        epoch: u64,
    ) {
        let change = Change::ClearSlots {
            ns: ns.to_string(),
            slots,
            epoch,
        };
        self.queue_as(None, &[to], &change, false);
    }

    /// Queue one copied entry (of `slot`) for replica `to`; called under the key's shard lock.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn queue_copied_entry(
        self: &Arc<Self>,
        to: NodeId,
        ns: &str,
        slot: Slot,
        key: &[u8],
        value: &[u8],
        form: Form,
        expires_at: u64,
    ) {
        let change = Change::Key(LogRecord::Put {
            ns: ns.to_string(),
            key: key.to_vec(),
            value: value.to_vec(),
            expires_at_unix_ms: unix_deadline(expires_at),
            compressed: form.compressed,
            kind: form.kind,
        });
        self.queue_as(Some(slot), &[to], &change, false);
    }

    /// How many changes wait for replica `to`, and whether none numbered `seq` or lower does.
    pub(crate) fn queued_for(&self, to: NodeId, seq: u64) -> (usize, bool) {
        let outbox = self.outbox.lock();
        match outbox.queues.get(&to) {
            Some(q) => (
                q.records.len(),
                q.records.front().is_none_or(|r| r.seq > seq),
            ),
            None => (0, true),
        }
    }

    /// Stop the senders (shutdown); queued changes are dropped.
    pub fn shutdown(&self) {
        self.stopped.store(true, Ordering::Release);
        let mut outbox = self.outbox.lock();
        for (_, q) in outbox.queues.drain() {
            q.wake.notify_one();
        }
        self.acked.send_replace(outbox.last);
    }

    /// Queue `change` for `replicas`; called under the key's shard lock.
    fn queue(self: &Arc<Self>, slot: Option<Slot>, replicas: &[NodeId], change: &Change) {
        self.queue_as(slot, replicas, change, true);
    }

    /// Queue `change` for `replicas`; `awaited`: whether writes wait for it (not a copy's).
    fn queue_as(
        self: &Arc<Self>,
        slot: Option<Slot>,
        replicas: &[NodeId],
        change: &Change,
        awaited: bool,
    ) {
        if self.stopped.load(Ordering::Acquire) {
            return;
        }
        // Encoding into a Vec cannot fail: every field is a string, bytes or an integer.
        let bytes: Arc<[u8]> = rmp_serde::to_vec(change).unwrap_or_default().into();
        let mut outbox = self.outbox.lock();
        outbox.last += 1;
        let seq = outbox.last;
        self.last_queued.store(seq, Ordering::Release);
        for &to in replicas {
            let queue = outbox.queues.entry(to).or_insert_with(|| {
                let wake = Arc::new(Notify::new());
                self.runtime
                    .spawn(Arc::clone(self).send_to(to, Arc::clone(&wake)));
                Queue {
                    records: VecDeque::new(),
                    awaited: VecDeque::new(),
                    wake,
                }
            });
            if awaited {
                queue.awaited.push_back(seq);
            }
            queue.records.push_back(Queued {
                seq,
                slot,
                bytes: Arc::clone(&bytes),
            });
            if queue.records.len() == 1 {
                queue.wake.notify_one();
            }
        }
    }

    /// Publish how far every queue got.
    fn publish_acked(&self, outbox: &Outbox) {
        let acked = outbox
            .queues
            .values()
            .filter_map(|q| q.awaited.front())
            .map(|seq| seq - 1)
            .min()
            .unwrap_or(outbox.last);
        self.acked.send_if_modified(|a| {
            let changed = *a != acked;
            *a = acked;
            changed
        });
    }

    /// Whether a queued change still has to reach `to`: this node still owns its slot and `to`
    /// still replicates it. `Err(())` when this node lost the slot (the change is a loss).
    fn still_due(&self, view: &ClusterView, to: NodeId, slot: Option<Slot>) -> Result<bool, ()> {
        let Some(slot) = slot else {
            return Ok(view.members.contains_key(&to));
        };
        if view.slots.owner(slot) != Some(self.me) {
            return Err(());
        }
        Ok(view.slots.replicas(slot).contains(&to))
    }

    /// The sender for replica `to`: see the module docs.
    async fn send_to(self: Arc<Self>, to: NodeId, wake: Arc<Notify>) {
        let mut last_refusal: Option<String> = None;
        loop {
            if self.stopped.load(Ordering::Acquire) {
                return;
            }
            let view = Arc::clone(&self.node.view());
            // Drop what no longer has to go to `to`, then take a batch of what does.
            let (records, count) = {
                let mut outbox = self.outbox.lock();
                let Some(queue) = outbox.queues.get_mut(&to) else {
                    return;
                };
                let mut dropped = false;
                while let Some(front) = queue.records.front() {
                    match self.still_due(&view, to, front.slot) {
                        Ok(true) => break,
                        Ok(false) => {}
                        Err(()) => {
                            if queue.awaited.front() == Some(&front.seq) {
                                self.lost.fetch_max(front.seq, Ordering::AcqRel);
                            }
                        }
                    }
                    queue.records.pop_front();
                    queue.trim_awaited();
                    dropped = true;
                }
                let mut records = Vec::new();
                let mut count = 0;
                for r in &queue.records {
                    if count == BATCH_RECORDS
                        || (count > 0 && records.len() + r.bytes.len() > BATCH_BYTES)
                        || self.still_due(&view, to, r.slot) != Ok(true)
                    {
                        break;
                    }
                    records.extend_from_slice(&r.bytes);
                    count += 1;
                }
                if dropped {
                    self.publish_acked(&outbox);
                }
                (records, count)
            };
            if count == 0 {
                // Woken by the next change queued, or after a while to re-check a queue whose
                // front waits on a slot-table change.
                let _ = tokio::time::timeout(RETRY_AFTER * 5, wake.notified()).await;
                continue;
            }
            let Some(member) = view.members.get(&to).cloned() else {
                tokio::time::sleep(RETRY_AFTER).await;
                continue;
            };
            let batch = Replicate {
                from: self.me,
                records,
            };
            let answer = self.node.replicate(&member, batch, SEND_TIMEOUT).await;
            let (applied, refused) = match answer {
                Ok(done) => (done.applied as usize, done.refused),
                Err(e) => (0, Some(e.to_string())),
            };
            if applied > 0 {
                self.applied_by_replicas
                    .fetch_add(applied as u64, Ordering::Relaxed);
                let mut outbox = self.outbox.lock();
                if let Some(queue) = outbox.queues.get_mut(&to) {
                    let applied = applied.min(count).min(queue.records.len());
                    queue.records.drain(..applied);
                    queue.trim_awaited();
                }
                self.publish_acked(&outbox);
            }
            match refused {
                Some(why) => {
                    // Once per distinct reason: a replica that refuses for a while (a missing
                    // namespace, a long partition) would otherwise log ten times a second.
                    if last_refusal.as_deref() != Some(why.as_str()) {
                        tracing::warn!(replica = %format_args!("{to:016x}"), reason = %why, "a replica did not apply changes; retrying");
                        last_refusal = Some(why);
                    }
                    tokio::time::sleep(RETRY_AFTER).await;
                }
                None => last_refusal = None,
            }
        }
    }
}

/// Hands each namespace its [`NamespaceReplication`].
struct Source(Arc<Replication>);

impl ObserverSource for Source {
    fn observer(&self, namespace: &str, store: &Store, _created: bool) -> Arc<dyn WriteObserver> {
        Arc::new(NamespaceReplication {
            replication: Arc::clone(&self.0),
            ns: namespace.into(),
            router: store.router().cloned(),
        })
    }
}

/// Queues one namespace's changes for the replicas of their slots.
struct NamespaceReplication {
    replication: Arc<Replication>,
    ns: Box<str>,
    /// The namespace's routing hook, which places its keys in slots (`None`: the hash tag).
    router: Option<Arc<Router>>,
}

impl NamespaceReplication {
    /// Queue the change `make` builds, if `key`'s slot is this node's and has replicas.
    #[inline]
    fn key_change(&self, key: &[u8], make: impl FnOnce(String) -> LogRecord) {
        let slot = SlotRule::new(self.router.as_deref()).slot(key);
        let view = self.replication.node.view();
        let replicas = view.slots.replicas(slot);
        if replicas.is_empty() || view.slots.owner(slot) != Some(self.replication.me) {
            return;
        }
        let change = Change::Key(make(self.ns.to_string()));
        self.replication.queue(Some(slot), replicas, &change);
    }
}

impl WriteObserver for NamespaceReplication {
    fn put(&self, key: &[u8], value: &[u8], form: Form, expires_at: u64) {
        self.key_change(key, |ns| LogRecord::Put {
            ns,
            key: key.to_vec(),
            value: value.to_vec(),
            expires_at_unix_ms: unix_deadline(expires_at),
            compressed: form.compressed,
            kind: form.kind,
        });
    }

    fn set_expiry(&self, key: &[u8], expires_at: u64) {
        self.key_change(key, |ns| LogRecord::Expire {
            ns,
            key: key.to_vec(),
            expires_at_unix_ms: unix_deadline(expires_at),
        });
    }

    fn remove(&self, key: &[u8]) {
        self.key_change(key, |ns| LogRecord::Remove {
            ns,
            key: key.to_vec(),
        });
    }

    fn clear(&self) {
        let me = self.replication.me;
        let view = self.replication.node.view();
        let mut replicas: Vec<NodeId> = (0..SLOTS)
            .filter(|&s| view.slots.owner(s) == Some(me))
            .flat_map(|s| view.slots.replicas(s).iter().copied())
            .collect();
        replicas.sort_unstable();
        replicas.dedup();
        if replicas.is_empty() {
            return;
        }
        let change = Change::ClearOwned {
            ns: self.ns.to_string(),
        };
        self.replication.queue(None, &replicas, &change);
    }
}

/// Applies the changes owners send to this node; see the module docs.
struct ReplicaApplier {
    replication: Weak<Replication>,
    namespaces: Arc<Namespaces>,
}

impl ReplicaHandler for ReplicaApplier {
    fn apply(&self, batch: Replicate) -> Replicated {
        let Some(replication) = self.replication.upgrade() else {
            return refused(0, "this node is shutting down".into());
        };
        let view = replication.node.view();
        let me = replication.me;
        let mut input = batch.records.as_slice();
        let mut applied = 0u32;
        let mut summary = ReplaySummary::default();
        while !input.is_empty() {
            let change: Change = match rmp_serde::from_read(&mut input) {
                Ok(c) => c,
                Err(e) => return refused(applied, format!("a change does not decode: {e}")),
            };
            match change {
                Change::Key(record) => {
                    let key = match &record {
                        LogRecord::Put { key, .. }
                        | LogRecord::Expire { key, .. }
                        | LogRecord::Remove { key, .. } => key,
                        LogRecord::Clear { .. } => {
                            return refused(
                                applied,
                                "a whole-namespace clear is not replicated".into(),
                            );
                        }
                    };
                    let ns = match &record {
                        LogRecord::Put { ns, .. }
                        | LogRecord::Expire { ns, .. }
                        | LogRecord::Remove { ns, .. }
                        | LogRecord::Clear { ns } => ns,
                    };
                    let Ok(namespace) = self.namespaces.get(ns) else {
                        // Applying nothing and answering "applied" would lose the write on a
                        // failover; refusing holds the owner's writes until it is created here.
                        return refused(
                            applied,
                            format!("namespace '{ns}' does not exist on this replica"),
                        );
                    };
                    let slot = slot_in(&namespace, key);
                    if view.slots.owner(slot) != Some(batch.from)
                        || !view.slots.replicas(slot).contains(&me)
                    {
                        return refused(
                            applied,
                            format!(
                                "slot {slot} is not the sender's with this node as a replica in \
                                 this node's slot table (epoch {})",
                                view.slots.epoch
                            ),
                        );
                    }
                    append_log::replay(&self.namespaces, vec![record], &mut summary);
                }
                Change::ClearOwned { ns } => {
                    if let Ok(namespace) = self.namespaces.get(&ns) {
                        clear_owned(&namespace, &view, batch.from);
                    }
                }
                Change::ClearSlots { ns, slots, epoch } => {
                    if view.slots.epoch < epoch {
                        // This node may not know yet that it replicates these slots: clearing
                        // only some of them would leave stale keys behind the copy.
                        return refused(
                            applied,
                            format!(
                                "a slot copy from epoch {epoch} is ahead of this node's slot \
                                 table (epoch {})",
                                view.slots.epoch
                            ),
                        );
                    }
                    if let Ok(namespace) = self.namespaces.get(&ns) {
                        clear_slots(&namespace, &view, batch.from, &slots);
                    }
                }
            }
            applied += 1;
        }
        replication
            .applied_here
            .fetch_add(u64::from(applied), Ordering::Relaxed);
        Replicated {
            applied,
            refused: None,
        }
    }
}

fn refused(applied: u32, why: String) -> Replicated {
    Replicated {
        applied,
        refused: Some(why),
    }
}

/// Delete the keys of `namespace` in `slots` that `owner` owns and this node replicates (the
/// others moved on since the copy started; their changes are refused or dropped).
fn clear_slots(
    namespace: &larder_runtime::Namespace,
    view: &ClusterView,
    owner: NodeId,
    slots: &[(Slot, Slot)],
) {
    let mut clear = vec![false; usize::from(SLOTS)];
    for &(start, end) in slots {
        for slot in start..=end.min(SLOTS - 1) {
            clear[usize::from(slot)] = view.slots.owner(slot) == Some(owner)
                && view.slots.replicas(slot).contains(&view.me);
        }
    }
    delete_keys_where(namespace, |key| clear[usize::from(slot_in(namespace, key))]);
}

/// Delete the keys of `namespace` whose slots `owner` owns.
fn clear_owned(namespace: &larder_runtime::Namespace, view: &ClusterView, owner: NodeId) {
    delete_keys_where(namespace, |key| {
        view.slots.owner(slot_in(namespace, key)) == Some(owner)
    });
}

/// Delete every key of `namespace` that `doomed` picks, a batch of keys per shard lock.
fn delete_keys_where(namespace: &larder_runtime::Namespace, doomed: impl Fn(&[u8]) -> bool) {
    let store = namespace.store();
    let mut cursor = 0;
    let mut batch = Vec::with_capacity(1024);
    loop {
        batch.clear();
        cursor = store.scan(cursor, 1024, &mut batch);
        for key in batch.iter().filter(|k| doomed(k)) {
            store.delete(key);
        }
        if cursor == 0 {
            return;
        }
    }
}

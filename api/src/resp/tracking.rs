//! Client-side caching: `CLIENT TRACKING`, and the invalidation messages that keep a client's
//! local (L1) copy of a key fresh.
//!
//! - **Default mode.** The server remembers which keys a tracking client read (the keys of its
//!   read-only commands), per namespace. When one of them changes — written, deleted, expired,
//!   or **evicted by the policy** (a plugin's choice included) — each client that read it gets one
//!   invalidation and is forgotten for that key, until it reads it again. The table holds at
//!   most [`MAX_TRACKED_KEYS`] keys per namespace (`CONFIG SET tracking-table-max-keys`
//!   changes that for the server; 0: no bound); past that, the oldest-remembered keys are
//!   invalidated early, so memory stays bounded.
//! - **BCAST.** No table: a client hears of every change to a key starting with one of its
//!   prefixes (every key, without PREFIX).
//! - **OPTIN / OPTOUT.** Only reads after `CLIENT CACHING yes` are tracked (OPTIN), or all but
//!   those after `CLIENT CACHING no` (OPTOUT).
//! - **NOLOOP.** A client is not told of changes it made itself.
//! - **REDIRECT id.** Invalidations go to another connection, as messages on the
//!   `__redis__:invalidate` channel, which that connection must be subscribed to (the RESP2 way).
//!   Without REDIRECT, a RESP3 client gets `invalidate` push frames on its own connection.
//!   When the target has disconnected, a RESP3 tracking client gets `tracking-redir-broken`
//!   instead, each time an invalidation could not be delivered.
//! - A flush invalidates everything (a null key list), as Redis does.
//!
//! Changes come from the store's key-event sink (see `notify`), so every writer counts: other
//! RESP clients, the REST API, the origin, expiry and eviction.

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};

use super::pubsub::{Push, Subscriber};

/// Keys remembered per namespace at most (Redis's `tracking-table-max-keys` is global).
pub const MAX_TRACKED_KEYS: usize = 1_000_000;

/// The channel a REDIRECT target receives invalidations on.
pub const INVALIDATE_CHANNEL: &[u8] = b"__redis__:invalidate";

/// How one client is tracked (`CLIENT TRACKING ON …`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrackingMode {
    /// 0: invalidations go to this client itself.
    pub redirect: u64,
    pub bcast: bool,
    pub prefixes: Vec<Vec<u8>>,
    pub optin: bool,
    pub optout: bool,
    pub noloop: bool,
}

/// A client's tracking, as its session holds it: dropping it (CLIENT TRACKING OFF, or the
/// connection closing) stops the invalidations.
pub struct ActiveTracking {
    pub mode: TrackingMode,
    id: u64,
    registry: Arc<Tracking>,
}

impl std::fmt::Debug for ActiveTracking {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActiveTracking")
            .field("mode", &self.mode)
            .finish()
    }
}

impl Drop for ActiveTracking {
    fn drop(&mut self) {
        self.registry.disable(self.id);
    }
}

/// Where a tracking client's invalidations go.
struct Tracker {
    mode: TrackingMode,
    /// The client's own queue (no REDIRECT).
    own: Subscriber,
    /// `tenant/` for a tenant's client: it hears only of its tenant's namespaces, and its
    /// REDIRECT target is looked up on its tenant's invalidation channel.
    tenant: Option<Box<[u8]>>,
}

/// One namespace's table: key → clients that read it since its last invalidation.
#[derive(Default)]
pub struct Table {
    /// `tenant/` when the namespace is a tenant's (see [`Tracker::tenant`]).
    tenant: Option<Box<[u8]>>,
    keys: HashMap<Bytes, HashSet<u64>>,
    /// Insertion order, for bounding the table (entries may be stale: skipped when popped).
    order: std::collections::VecDeque<Bytes>,
}

/// Every tracking client and every namespace's table; shared by all connections.
pub struct Tracking {
    trackers: RwLock<HashMap<u64, Tracker>>,
    tables: RwLock<HashMap<String, Arc<Mutex<Table>>>>,
    /// Tracking clients now: zero means a change costs one load.
    active: AtomicUsize,
    /// Of those, BCAST ones: zero means a change need not walk the trackers.
    bcast: AtomicUsize,
    /// Where REDIRECT targets are found (subscribers of [`INVALIDATE_CHANNEL`]).
    pubsub: Arc<super::pubsub::PubSub>,
    /// Whether a REDIRECT target that is not subscribed is still connected.
    clients: Arc<super::clients::Clients>,
    /// Keys remembered per namespace at most (`tracking-table-max-keys`; 0: no bound).
    max_keys: AtomicUsize,
}

thread_local! {
    /// The client whose command is running on this thread (0: none), for NOLOOP.
    static CURRENT_CLIENT: Cell<u64> = const { Cell::new(0) };
}

/// Invalidations raised by the command running on this thread, sent when it ends: a recipient
/// gets one message listing every key the command changed (MSET of three tracked keys is one
/// invalidation of three keys), as Redis sends them.
/// (recipient, as a REDIRECT message, group, keys); a BCAST client gets one message per
/// matching prefix (group = prefix index + 1), as Redis sends them.
type Batch = Vec<(Subscriber, bool, usize, Option<Vec<Bytes>>)>;

thread_local! {
    static PENDING: std::cell::RefCell<Option<Batch>> = const { std::cell::RefCell::new(None) };
}

/// Run `f` as client `id`: changes it makes are its own (NOLOOP), and the invalidations it
/// causes are sent together when it returns.
pub fn as_client<R>(id: u64, f: impl FnOnce() -> R) -> R {
    let before = CURRENT_CLIENT.with(|c| c.replace(id));
    let outer = PENDING.with(|p| {
        let mut p = p.borrow_mut();
        let outer = p.is_some();
        if !outer {
            *p = Some(Vec::new());
        }
        outer
    });
    let out = f();
    CURRENT_CLIENT.with(|c| c.set(before));
    if !outer && let Some(batch) = PENDING.with(|p| p.borrow_mut().take()) {
        send_batch(batch);
    }
    out
}

/// Group a command's invalidations by recipient, in order: one message each.
fn send_batch(batch: Batch) {
    if batch.is_empty() {
        return;
    }
    let mut grouped: Batch = Vec::new();
    for (target, as_message, group, keys) in batch {
        match grouped
            .iter_mut()
            .find(|(t, m, g, _)| t.same_queue(&target) && *m == as_message && *g == group)
        {
            Some((_, _, _, all)) => match (all.as_mut(), keys) {
                (Some(all), Some(keys)) => all.extend(keys),
                // A flush in the same command: everything.
                _ => *all = None,
            },
            None => grouped.push((target, as_message, group, keys)),
        }
    }
    for (target, as_message, _, keys) in grouped {
        target.offer(Push::Invalidate { keys, as_message });
    }
}

impl Tracking {
    /// Some client tracks: commands then run as [`as_client`] (for NOLOOP and batching).
    #[inline]
    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::Relaxed) != 0
    }

    pub fn new(pubsub: Arc<super::pubsub::PubSub>, clients: Arc<super::clients::Clients>) -> Self {
        Self {
            trackers: RwLock::default(),
            tables: RwLock::default(),
            active: AtomicUsize::new(0),
            bcast: AtomicUsize::new(0),
            pubsub,
            clients,
            max_keys: AtomicUsize::new(MAX_TRACKED_KEYS),
        }
    }

    /// Client `id` tracks as `mode` from now on (replacing any earlier mode), until the
    /// returned handle is dropped.
    pub fn enable(
        self: &Arc<Self>,
        id: u64,
        mode: TrackingMode,
        own: Subscriber,
        tenant: Option<&str>,
    ) -> ActiveTracking {
        let tracker = Tracker {
            mode: mode.clone(),
            own,
            tenant: tenant.map(|t| format!("{t}/").into_bytes().into_boxed_slice()),
        };
        if mode.bcast {
            self.bcast.fetch_add(1, Ordering::Relaxed);
        }
        match self.trackers.write().insert(id, tracker) {
            None => {
                self.active.fetch_add(1, Ordering::Relaxed);
            }
            Some(old) if old.mode.bcast => {
                self.bcast.fetch_sub(1, Ordering::Relaxed);
            }
            Some(_) => {}
        }
        ActiveTracking {
            mode,
            id,
            registry: Arc::clone(self),
        }
    }

    /// Client `id` stops tracking (CLIENT TRACKING OFF, or it disconnected). Its entries in
    /// the tables are dropped lazily: a key's clients are looked up when it changes.
    fn disable(&self, id: u64) {
        if let Some(old) = self.trackers.write().remove(&id) {
            self.active.fetch_sub(1, Ordering::Relaxed);
            if old.mode.bcast {
                self.bcast.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }

    /// `namespace`'s table (created on first use); its key-event sink holds it.
    pub fn table(&self, namespace: &str) -> Arc<Mutex<Table>> {
        if let Some(t) = self.tables.read().get(namespace) {
            return Arc::clone(t);
        }
        let tenant = larder_runtime::tenant::split(namespace)
            .0
            .map(|t| format!("{t}/").into_bytes().into_boxed_slice());
        Arc::clone(
            self.tables
                .write()
                .entry(namespace.to_string())
                .or_insert_with(|| {
                    Arc::new(Mutex::new(Table {
                        tenant,
                        ..Default::default()
                    }))
                }),
        )
    }

    /// `tracking-table-max-keys`.
    pub fn max_keys(&self) -> usize {
        self.max_keys.load(Ordering::Relaxed)
    }

    /// `CONFIG SET tracking-table-max-keys`: applies from the next read a client is tracked for.
    pub fn set_max_keys(&self, max_keys: usize) {
        self.max_keys.store(max_keys, Ordering::Relaxed);
    }

    /// Client `id` read `keys` in `namespace` (default mode): tell it when they change.
    pub fn remember<'a>(&self, id: u64, namespace: &str, keys: impl Iterator<Item = &'a [u8]>) {
        let table = self.table(namespace);
        let max_keys = match self.max_keys() {
            0 => usize::MAX,
            n => n,
        };
        let mut evicted = Vec::new();
        {
            let mut t = table.lock();
            for key in keys {
                let key = Bytes::copy_from_slice(key);
                match t.keys.get_mut(&key) {
                    Some(clients) => {
                        clients.insert(id);
                    }
                    None => {
                        t.keys.insert(key.clone(), HashSet::from([id]));
                        t.order.push_back(key);
                    }
                }
            }
            // Keys invalidated since leave stale places in `order`; drop them once they
            // outnumber the live ones, so `order` stays proportional to the table.
            if t.order.len() > 2 * t.keys.len() + 1024 {
                let Table { keys, order, .. } = &mut *t;
                let mut seen = HashSet::with_capacity(keys.len());
                order.retain(|k| keys.contains_key(k) && seen.insert(k.clone()));
            }
            while t.keys.len() > max_keys {
                let Some(oldest) = t.order.pop_front() else {
                    break;
                };
                if let Some(clients) = t.keys.remove(&oldest) {
                    evicted.push((oldest, clients));
                }
            }
        }
        for (key, clients) in evicted {
            self.deliver(&clients, Some(&[key]), 0);
        }
    }

    /// `key` of `namespace` changed.
    pub fn changed(&self, namespace_table: &Mutex<Table>, key: &[u8]) {
        if !self.is_active() {
            return;
        }
        let writer = CURRENT_CLIENT.with(Cell::get);
        let key = Bytes::copy_from_slice(key);
        let (readers, tenant) = {
            let mut table = namespace_table.lock();
            (table.keys.remove(&key), table.tenant.clone())
        };
        if let Some(clients) = readers {
            self.deliver(&clients, Some(std::slice::from_ref(&key)), writer);
        }
        if self.bcast.load(Ordering::Relaxed) == 0 {
            return;
        }
        let trackers = self.trackers.read();
        for (id, t) in trackers.iter() {
            // BCAST hears every namespace of its own tenant (or of no tenant), never another's.
            if !t.mode.bcast || (t.mode.noloop && *id == writer) || t.tenant != tenant {
                continue;
            }
            let group = if t.mode.prefixes.is_empty() {
                Some(0)
            } else {
                t.mode
                    .prefixes
                    .iter()
                    .position(|p| key.starts_with(p))
                    .map(|i| i + 1)
            };
            if let Some(group) = group {
                self.send(t, Some(vec![key.clone()]), group);
            }
        }
    }

    /// Every key of a namespace went (a flush): every tracking client invalidates everything.
    pub fn flushed(&self, namespace_table: &Mutex<Table>) {
        if !self.is_active() {
            return;
        }
        let tenant = {
            let mut t = namespace_table.lock();
            t.keys.clear();
            t.order.clear();
            t.tenant.clone()
        };
        for t in self.trackers.read().values().filter(|t| t.tenant == tenant) {
            self.send(t, None, 0);
        }
    }

    fn deliver(&self, clients: &HashSet<u64>, keys: Option<&[Bytes]>, writer: u64) {
        let trackers = self.trackers.read();
        for id in clients {
            if let Some(t) = trackers.get(id)
                && !t.mode.bcast
                && !(t.mode.noloop && *id == writer)
            {
                self.send(t, keys.map(<[Bytes]>::to_vec), 0);
            }
        }
    }

    fn send(&self, t: &Tracker, keys: Option<Vec<Bytes>>, group: usize) {
        let (target, as_message) = if t.mode.redirect == 0 {
            (t.own.clone(), false)
        } else {
            let channel = match &t.tenant {
                None => std::borrow::Cow::Borrowed(INVALIDATE_CHANNEL),
                Some(prefix) => std::borrow::Cow::Owned([&prefix[..], INVALIDATE_CHANNEL].concat()),
            };
            match self.pubsub.subscriber_of(&channel, t.mode.redirect) {
                Some(target) => (target, true),
                None => {
                    // Gone (not merely unsubscribed): tell the tracking client, as Redis does.
                    if !self.clients.exists(t.mode.redirect) {
                        t.own.offer(Push::RedirectBroken(t.mode.redirect));
                    }
                    return;
                }
            }
        };
        let pending = PENDING.with(|p| {
            let mut p = p.borrow_mut();
            match p.as_mut() {
                // Inside a command: one message per recipient when it ends.
                Some(batch) => {
                    batch.push((target.clone(), as_message, group, keys.clone()));
                    true
                }
                None => false,
            }
        });
        if !pending {
            target.offer(Push::Invalidate { keys, as_message });
        }
    }
}

/// One namespace's table behind its lock, as the namespace's key-event sink holds it.
pub type NamespaceTable = Mutex<Table>;

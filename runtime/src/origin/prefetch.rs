//! Background prefetch: keys someone expects to be read soon are fetched from the origin before
//! they are asked for.
//!
//! [`Prefetcher::request`] never blocks and never touches the store, so it may be called from
//! anywhere, including code that holds a shard lock. Keys go into a bounded queue; a full queue
//! drops the rest and counts them, because a prefetch that arrives late is worth nothing and an
//! unbounded queue is a memory leak under a slow origin.
//!
//! Accesses reach the namespace's prefetch hook the same way: [`Prefetcher::offer_access`] queues
//! the access, and the drain task — not the reader — asks the hook which keys to fetch, so a
//! plugin call never lengthens a request.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, OnceLock, Weak};

use parking_lot::Mutex;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::stats::OriginStats;
use super::{Purpose, Start, land};
use crate::namespace::Namespace;
use crate::plugin::Prefetcher as PrefetchHook;

/// What the drain task works on.
enum Job {
    /// Fetch this key.
    Key(Box<[u8]>),
    /// `key` was read (`hit`: found resident); fetch what the hook names after it.
    Access {
        hook: Arc<PrefetchHook>,
        key: Box<[u8]>,
        hit: bool,
    },
}

/// The bounded prefetch queue of one namespace and the task that drains it.
pub struct Prefetcher {
    home: OnceLock<Weak<Namespace>>,
    stats: Arc<OriginStats>,
    /// Started by the first request (which needs a running tokio runtime); reset when the queue
    /// size or the origin changes. Dropping the sender lets the old drain task finish and exit.
    queue: Mutex<Option<mpsc::Sender<Job>>>,
}

impl std::fmt::Debug for Prefetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prefetcher").finish_non_exhaustive()
    }
}

impl Prefetcher {
    pub(crate) fn new(stats: Arc<OriginStats>) -> Self {
        Self {
            home: OnceLock::new(),
            stats,
            queue: Mutex::new(None),
        }
    }

    pub(crate) fn bind(&self, home: Weak<Namespace>) {
        let _ = self.home.set(home);
    }

    pub(crate) fn reset(&self) {
        *self.queue.lock() = None;
    }

    /// Queue `keys` for a background fetch; returns how many were accepted. Keys that do not fit
    /// the queue — or arrive when the namespace has no origin or no tokio runtime is running — are
    /// dropped and counted. Resident and in-flight keys are skipped later, when dequeued.
    pub fn request<K: AsRef<[u8]>>(&self, keys: impl IntoIterator<Item = K>) -> usize {
        let mut keys = keys.into_iter();
        let mut queue = self.queue.lock();
        let Some(sender) = self.running(&mut queue) else {
            drop(queue);
            self.stats
                .prefetch_dropped
                .fetch_add(keys.count() as u64, Relaxed);
            return 0;
        };
        let mut accepted = 0;
        let mut dropped = 0;
        for key in keys.by_ref() {
            match sender.try_send(Job::Key(key.as_ref().into())) {
                Ok(()) => accepted += 1,
                Err(mpsc::error::TrySendError::Full(_)) => dropped += 1,
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    dropped += 1;
                    break;
                }
            }
        }
        drop(queue);
        dropped += keys.count();
        self.stats
            .prefetch_queued
            .fetch_add(accepted as u64, Relaxed);
        self.stats
            .prefetch_dropped
            .fetch_add(dropped as u64, Relaxed);
        accepted
    }

    /// Queue an access to `key` for `hook`: the drain task asks the hook which keys follow and
    /// fetches them. Dropped and counted (as one dropped key) when the queue is full.
    pub(crate) fn offer_access(&self, hook: Arc<PrefetchHook>, key: &[u8], hit: bool) {
        let mut queue = self.queue.lock();
        let accepted = self.running(&mut queue).is_some_and(|q| {
            q.try_send(Job::Access {
                hook,
                key: key.into(),
                hit,
            })
            .is_ok()
        });
        if !accepted {
            self.stats.prefetch_dropped.fetch_add(1, Relaxed);
        }
    }

    /// The queue's sender, starting the drain task first if none is running.
    fn running<'q>(
        &self,
        queue: &'q mut Option<mpsc::Sender<Job>>,
    ) -> Option<&'q mpsc::Sender<Job>> {
        if queue.as_ref().is_none_or(mpsc::Sender::is_closed) {
            *queue = self.start();
        }
        queue.as_ref()
    }

    /// A queue sized from the current origin config, with its drain task running.
    fn start(&self) -> Option<mpsc::Sender<Job>> {
        let home = self.home.get()?;
        let ns = home.upgrade()?;
        let capacity = ns.origin().config()?.prefetch_queue as usize;
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let (sender, receiver) = mpsc::channel(capacity);
        runtime.spawn(drain(home.clone(), receiver));
        Some(sender)
    }
}

/// Work through the queue: fetch keys, at most `Fetcher::prefetch_workers` at once. Holds the
/// namespace only while working on a job, so a deleted namespace (whose drop closes the queue) is
/// not kept alive.
async fn drain(home: Weak<Namespace>, mut queue: mpsc::Receiver<Job>) {
    let mut running = JoinSet::new();
    while let Some(job) = queue.recv().await {
        while running.try_join_next().is_some() {}
        let Some(ns) = home.upgrade() else { break };
        let going = match job {
            Job::Key(key) => prefetch(&ns, &key, &mut running).await,
            Job::Access { hook, key, hit } => {
                let named = hook.keys_after_access(&key, hit);
                ns.origin()
                    .stats
                    .prefetch_queued
                    .fetch_add(named.len() as u64, Relaxed);
                let mut going = true;
                for key in named {
                    going = prefetch(&ns, &key, &mut running).await;
                    if !going {
                        break;
                    }
                }
                going
            }
        };
        if !going {
            break;
        }
    }
    // Fetches already started finish on their own tasks; nothing more to wait for here.
}

/// Start a background fetch of `key` unless it is resident or in flight. False when the namespace
/// is going away.
async fn prefetch(ns: &Arc<Namespace>, key: &[u8], running: &mut JoinSet<()>) -> bool {
    let origin = ns.origin();
    let Some(fetcher) = origin.fetcher() else {
        origin.stats.prefetch_skipped.fetch_add(1, Relaxed);
        return true;
    };
    while running.len() >= fetcher.prefetch_workers() {
        running.join_next().await;
    }
    let flight = match origin.start_or_join(ns, &fetcher, key, Purpose::Prefetch) {
        Ok(Start::Led(flight)) => flight,
        Ok(Start::Resident(_) | Start::Joined(_)) => {
            origin.stats.prefetch_skipped.fetch_add(1, Relaxed);
            return true;
        }
        // Only when the namespace is going away.
        Err(_) => return false,
    };
    let stats = Arc::clone(&origin.stats);
    running.spawn(async move {
        if let Ok(Some(_)) = land(flight).await {
            stats.prefetch_fetched.fetch_add(1, Relaxed);
        }
    });
    true
}

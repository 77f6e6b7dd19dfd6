//! # Read-through origin and background prefetch
//!
//! A namespace may name an origin ([`OriginConfig`]): an HTTP URL template with the key in it. A
//! read that misses asks the origin, stores the answer in the namespace's [`Store`](crate::Store)
//! (through [`Store::set`](crate::Store::set), so admission applies) and returns it.
//!
//! ## What a miss goes through
//!
//! 1. **Single flight.** [`Origin`] keeps a map from key to the fetch in flight for it. The first
//!    read of a key starts a fetch; every read of the same key that arrives while it runs joins it
//!    and gets the same answer, so an origin sees one request per key however many readers missed.
//! 2. **The fetch runs on its own task**, not in the reader's future: a reader that gives up (a
//!    client disconnecting) does not cancel the fetch other readers wait on. The task stores the
//!    value, leaves the map, then publishes the answer — in that order, so a read arriving after
//!    it left finds the value in the store instead of fetching again.
//! 3. **Bounded wait.** Each fetch has one deadline, `origin.timeout_ms`, covering both the wait
//!    for one of `origin.concurrency` request slots and the request itself. A slow, refusing or
//!    saturated origin becomes an [`OriginError`] within the timeout, never a hang; a refused
//!    connection fails at once.
//! 4. **Outcomes.** `2xx` → the body is the value. `404`/`410` → a miss (`Ok(None)`). Misses are
//!    not cached: the next read asks again (concurrent ones still share one request), so a key
//!    created at the origin is visible at once. Anything else is an error with a stable code.
//!
//! Values are stored only if the key is still absent when the answer arrives: a client `SET` that
//! lands during the fetch is newer than the origin's copy and wins.
//!
//! ## Prefetch
//!
//! [`Prefetcher::request`] queues keys to fetch in the background (for example the answer of a
//! prefetch hook after an access). The queue is bounded (`origin.prefetch_queue`): when full, keys
//! are dropped and counted, never waited for. One task per namespace drains it, skips keys that are
//! resident or already in flight, and runs at most half of `origin.concurrency` prefetches at once
//! through the same single-flight map and slots as demand reads, so a demand read for a key being
//! prefetched joins that fetch.
//!
//! The namespace's prefetch hook (a plugin, `prefetch` in its config) is fed the same way:
//! [`record_access`] queues the access and the drain task asks the hook which keys follow.
//!
//! ## For front ends
//!
//! Keep calling `Store::get`; on a miss, if [`Origin::is_enabled`], call [`fetch_after_miss`]; on a
//! hit in such a namespace, call [`record_access`] so the prefetch hook sees it.
//! [`get_or_fetch`] does both for callers without a store lookup of their own.

mod config;
mod error;
mod fetch;
mod prefetch;
mod stats;

pub use config::{KEY_PLACEHOLDER, OriginConfig};
pub use error::OriginError;
pub use prefetch::Prefetcher;
pub use stats::{OriginCollector, OriginStatsSnapshot};

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, OnceLock, Weak};

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use prometheus::Histogram;
use tokio::sync::watch;

use crate::namespace::Namespace;
use crate::store::{Condition, SetOptions};
use fetch::Fetcher;
use stats::OriginStats;

type FlightResult = Result<Option<Bytes>, OriginError>;
/// The answer of one fetch, once it lands; shared by every reader that joined it.
type Flight = watch::Receiver<Option<FlightResult>>;

/// Look `key` up in the namespace's store, and on a miss in its origin (if it has one).
pub async fn get_or_fetch(ns: &Namespace, key: &[u8]) -> Result<Option<Bytes>, OriginError> {
    if let Some(value) = ns.store().get(key, Bytes::copy_from_slice) {
        record_access(ns, key, true);
        return Ok(Some(value));
    }
    fetch_after_miss(ns, key).await
}

/// Tell the namespace's prefetch hook that `key` was read and found (`hit`); the keys it names
/// are fetched from the origin in the background. Front ends call this on hits in a namespace
/// with an origin ([`fetch_after_miss`] reports misses itself). Never blocks: the hook runs on the
/// prefetch task. One atomic load when the namespace has no origin.
#[inline]
pub fn record_access(ns: &Namespace, key: &[u8], hit: bool) {
    if !ns.origin().is_enabled() {
        return;
    }
    if let Some(hook) = ns.hooks().prefetcher() {
        ns.origin().prefetcher.offer_access(hook, key, hit);
    }
}

/// Fetch `key` from the namespace's origin after the caller's own store lookup missed: joins a
/// fetch already in flight for the key or starts one. `Ok(None)` when the namespace has no origin
/// or the origin does not know the key. Returns within the origin's timeout.
pub async fn fetch_after_miss(ns: &Namespace, key: &[u8]) -> Result<Option<Bytes>, OriginError> {
    let origin = ns.origin();
    let Some(fetcher) = origin.fetcher() else {
        return Ok(None);
    };
    record_access(ns, key, false);
    match origin.start_or_join(ns, &fetcher, key, Purpose::Read)? {
        Start::Resident(value) => Ok(value),
        Start::Joined(flight) => {
            origin.stats.joins.fetch_add(1, Relaxed);
            land(flight).await
        }
        Start::Led(flight) => land(flight).await,
    }
}

/// Who is asking: a read wants the value, a prefetch only wants the key to become resident.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Read,
    Prefetch,
}

enum Start {
    /// The key is in the store after all (a read gets the value; a prefetch gets `None`).
    Resident(Option<Bytes>),
    /// A fetch of the key was already running.
    Joined(Flight),
    /// This call started the fetch.
    Led(Flight),
}

/// Wait for a fetch's answer. The fetch task always publishes one before its deadline; the sender
/// only disappears without one if the task died (panic, runtime shutting down).
async fn land(mut flight: Flight) -> FlightResult {
    match flight.wait_for(Option::is_some).await {
        Ok(answer) => answer.clone().unwrap_or(Ok(None)),
        Err(_) => Err(OriginError::Unavailable("the fetch was abandoned".into())),
    }
}

/// A namespace's origin state: the active config's fetcher, the fetches in flight, the HTTP client,
/// the prefetcher and the counters. Owned by the [`Namespace`]; present (and cheap) even when no
/// origin is configured.
pub struct Origin {
    namespace: String,
    /// The namespace this belongs to, so spawned fetches can reach its store.
    home: OnceLock<Weak<Namespace>>,
    fetcher: RwLock<Option<Arc<Fetcher>>>,
    enabled: AtomicBool,
    ever_configured: AtomicBool,
    /// Built on the first fetch: a namespace without an origin never pays for one.
    client: OnceLock<reqwest::Client>,
    flights: Mutex<HashMap<Box<[u8]>, Flight>>,
    stats: Arc<OriginStats>,
    prefetcher: Prefetcher,
}

impl std::fmt::Debug for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Origin")
            .field("namespace", &self.namespace)
            .field("config", &self.config())
            .finish_non_exhaustive()
    }
}

impl Origin {
    /// The origin state of namespace `namespace`, configured from `config` (validated already).
    pub(crate) fn new(namespace: &str, config: Option<&OriginConfig>) -> Self {
        let stats = Arc::new(OriginStats::new(namespace));
        let this = Self {
            namespace: namespace.to_owned(),
            home: OnceLock::new(),
            fetcher: RwLock::new(None),
            enabled: AtomicBool::new(false),
            ever_configured: AtomicBool::new(false),
            client: OnceLock::new(),
            flights: Mutex::new(HashMap::new()),
            prefetcher: Prefetcher::new(Arc::clone(&stats)),
            stats,
        };
        this.configure(config);
        this
    }

    /// Tell this origin which namespace owns it; called once, right after the namespace is
    /// wrapped in its `Arc`.
    pub(crate) fn bind(&self, home: Weak<Namespace>) {
        let _ = self.home.set(home.clone());
        self.prefetcher.bind(home);
    }

    /// Switch to `config` (or to no origin). Fetches in flight finish under the old config.
    pub(crate) fn configure(&self, config: Option<&OriginConfig>) {
        let mut current = self.fetcher.write();
        if current.as_ref().map(|f| &f.config) == config {
            return;
        }
        let queue_changed =
            current.as_ref().map(|f| f.config.prefetch_queue) != config.map(|c| c.prefetch_queue);
        *current = config.map(|c| Arc::new(Fetcher::new(c.clone())));
        self.enabled.store(current.is_some(), Relaxed);
        if current.is_some() {
            self.ever_configured.store(true, Relaxed);
        }
        // The prefetcher takes its queue lock before this one; never hold both the other way.
        drop(current);
        if queue_changed {
            self.prefetcher.reset();
        }
    }

    /// Whether misses in this namespace go to an origin. One relaxed load: front ends may call it
    /// on every miss.
    #[inline]
    pub fn is_enabled(&self) -> bool {
        self.enabled.load(Relaxed)
    }

    /// The active origin config.
    pub fn config(&self) -> Option<OriginConfig> {
        self.fetcher.read().as_ref().map(|f| f.config.clone())
    }

    /// The background prefetcher of this namespace.
    pub fn prefetcher(&self) -> &Prefetcher {
        &self.prefetcher
    }

    /// Current counters.
    pub fn stats(&self) -> OriginStatsSnapshot {
        self.stats.snapshot()
    }

    /// Whether a fetch of `key` is running now.
    pub fn in_flight(&self, key: &[u8]) -> bool {
        self.flights.lock().contains_key(key)
    }

    pub(crate) fn ever_configured(&self) -> bool {
        self.ever_configured.load(Relaxed)
    }

    pub(crate) fn latency_histogram(&self) -> &Histogram {
        &self.stats.latency
    }

    fn fetcher(&self) -> Option<Arc<Fetcher>> {
        self.fetcher.read().clone()
    }

    fn client(&self) -> Result<&reqwest::Client, OriginError> {
        if let Some(client) = self.client.get() {
            return Ok(client);
        }
        let client = reqwest::Client::builder()
            .build()
            .map_err(OriginError::from_transport)?;
        // Two first fetches may race to build one; either client is fine.
        Ok(self.client.get_or_init(|| client))
    }

    /// Join the fetch of `key` in flight, or start one on its own task.
    fn start_or_join(
        &self,
        ns: &Namespace,
        fetcher: &Arc<Fetcher>,
        key: &[u8],
        purpose: Purpose,
    ) -> Result<Start, OriginError> {
        let mut flights = self.flights.lock();
        if let Some(flight) = flights.get(key) {
            return Ok(Start::Joined(flight.clone()));
        }
        // A fetch that ended between the caller's miss and here has stored its value already:
        // look again rather than ask the origin twice. `exists` counts nothing, so a prefetch
        // leaves the hit/miss statistics alone.
        if ns.store().exists(key) {
            let value = match purpose {
                Purpose::Read => ns.store().get(key, Bytes::copy_from_slice),
                Purpose::Prefetch => None,
            };
            if value.is_some() || purpose == Purpose::Prefetch {
                return Ok(Start::Resident(value));
            }
        }
        let home = self
            .home
            .get()
            .and_then(Weak::upgrade)
            .ok_or_else(|| OriginError::Unavailable("the namespace is being deleted".into()))?;
        let (answer, flight) = watch::channel(None);
        flights.insert(key.into(), flight.clone());
        drop(flights);
        tokio::spawn(fly(home, Arc::clone(fetcher), key.into(), answer));
        Ok(Start::Led(flight))
    }
}

/// Removes a key's flight from the map when dropped, so a failed or panicking fetch never leaves
/// readers joining a flight that will not land.
struct Landing<'a> {
    origin: &'a Origin,
    key: &'a [u8],
}

impl Drop for Landing<'_> {
    fn drop(&mut self) {
        self.origin.flights.lock().remove(self.key);
    }
}

/// One fetch: ask the origin, store a value, leave the flight map, publish the answer.
async fn fly(
    ns: Arc<Namespace>,
    fetcher: Arc<Fetcher>,
    key: Box<[u8]>,
    answer: watch::Sender<Option<FlightResult>>,
) {
    let origin = ns.origin();
    let landing = Landing { origin, key: &key };
    let max_item_size = ns.config().max_item_size();
    let result = match origin.client() {
        Ok(client) => {
            fetcher
                .fetch(client, &origin.stats, &key, max_item_size)
                .await
        }
        Err(e) => Err(e),
    };
    match &result {
        Ok(Some(value)) => {
            let opts = SetOptions {
                expiry: fetcher.expiry,
                condition: Condition::IfAbsent,
                return_old: false,
            };
            match ns.store().set(&key, value, opts) {
                Ok(outcome) if outcome.written => {}
                Ok(_) => {
                    origin.stats.store_refusals.fetch_add(1, Relaxed);
                }
                Err(e) => {
                    origin.stats.store_refusals.fetch_add(1, Relaxed);
                    tracing::debug!(namespace = %origin.namespace, error = %e, "fetched value not stored");
                }
            }
        }
        Ok(None) => {}
        Err(e) => {
            origin.stats.count_error(e);
            tracing::debug!(namespace = %origin.namespace, code = e.code(), error = %e, "origin fetch failed");
        }
    }
    drop(landing);
    // Nobody may be waiting any more (every reader gave up); the value is stored regardless.
    let _ = answer.send(Some(result));
}

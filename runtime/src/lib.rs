//! # larder-runtime — the engine behind the `larder` binary
//!
//! Everything that decides what is cached lives here; the binary in `api/` only speaks protocols.
//!
//! ## Layout
//!
//! | module | holds |
//! |---|---|
//! | [`namespace`] | [`Namespaces`] (the registry) and [`NamespaceConfig`]: capacity, limits, TTL, policy |
//! | [`store`] | [`Store`]: the sharded key/value table of one namespace, TTLs, memory accounting |
//! | [`value`] | how hashes, lists, sets and sorted sets are encoded in the one entry each is |
//! | [`policy`] | re-exports the `larder-policy` crate: [`EvictionPolicy`], the built-ins, the ghost cache |
//! | [`plugin`] | the WebAssembly plugin host: hooks, sandbox, registry of versions, fallback |
//! | [`origin`] | read-through from a namespace's HTTP origin (single-flight, bounded) and prefetch |
//! | [`alert`] | alert rules over the namespaces' numbers, their evaluation, webhook and email notifiers |
//! | [`sim`] | the trace simulator behind `larder sim`: replay, Belady's bound, miss-ratio reports |
//! | [`expiry`] | the background task that reclaims expired keys nobody reads |
//! | [`persist`] | the data directory: atomic files, the catalog, data snapshots |
//! | [`tenant`] | how a tenant's namespaces are named (`tenant/name`) and the quotas a tenant is held to |
//! | [`metrics`] | Prometheus collectors that read the store's counters at scrape time |
//! | [`clock`], [`hash`] | the store's time scale and the key hash (shared with plugins and the ring) |
//! | [`error`] | the errors at this crate's boundary, each with a stable code |
//!
//! ## How a request flows
//!
//! A front end (REST or RESP, in `api/`) resolves the namespace by name once, then calls the
//! namespace's [`Store`]. The store hashes the key ([`hash::key_hash`]), which picks a shard; the
//! shard's lock is taken for the one operation. A hit copies the value out and appends the slot to
//! the shard's access buffer, which reaches the policy in batches. A write stores the entry, tells
//! the policy, and — if the shard is now over its share of the capacity — asks the policy for victims
//! until it fits. Expired entries are dropped when touched and swept by [`expiry`] in the background.
//! A miss in a namespace with an origin is fetched through [`origin`], which stores the value
//! (admission applies) and feeds the prefetch hook's answers to a bounded background fetcher.

pub mod alert;
pub mod clock;
pub mod error;
pub mod experiment;
pub mod expiry;
pub mod hash;
pub mod metrics;
pub mod namespace;
pub mod origin;
pub mod persist;
pub mod plugin;
pub use larder_policy as policy;
pub mod sim;
mod stats;
pub mod store;
pub mod tenant;
pub mod value;

pub use error::{NamespaceError, StoreError};
pub use namespace::{
    DEFAULT_NAMESPACE, KeyEventSource, Namespace, NamespaceConfig, Namespaces, ObserverSource,
};
pub use plugin::{PluginHost, PolicyRef};
pub use policy::{BuiltinPolicy, EvictionPolicy};
pub use stats::StoreStats;
pub use store::{
    Change, Condition, CopyOutcome, Expiry, Form, KeyChange, KeyEvents, SetOptions, SetOutcome,
    Store, Ttl, ValueKind, WatchToken, WriteObserver,
};

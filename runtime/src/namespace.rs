//! Namespaces: the unit of configuration. Each owns a [`Store`] and the config it was built from;
//! [`Namespaces`] is the registry the front ends look names up in.
//!
//! A namespace's config names, per hook, the policy that serves it: eviction is a built-in or a
//! plugin version (`"plugin:<id>"`); admission, prefetch and routing are off unless they name a
//! plugin version. Plugin references are resolved against the registry's [`PluginHost`] when the
//! namespace is created or reconfigured, so a bad reference is refused before anything changes.

use std::sync::Arc;

use dashmap::DashMap;
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::NamespaceError;
use crate::origin::{Origin, OriginConfig};
use crate::plugin::{Hook, NamespaceHooks, PluginHost, PolicyRef};
use crate::policy::BuiltinPolicy;
use crate::store::compression::CompressionConfig;
use crate::store::{ENTRY_OVERHEAD, KeyEvents, Store, StoreLimits, WriteObserver};

/// The namespace every client reaches without asking for another.
pub const DEFAULT_NAMESPACE: &str = "default";
const MAX_NAME_LEN: usize = 64;
const MAX_SHARDS: u32 = 1024;

/// Configuration of one namespace. Every field has a default, so `{}` is a valid config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NamespaceConfig {
    /// Memory budget in bytes for keys, values and per-entry overhead. Eviction keeps the namespace
    /// under it; writes are never refused for lack of room.
    #[serde(default = "default_capacity")]
    pub capacity_bytes: u64,
    /// Largest accepted key + value, in bytes. Omitted: 1 MiB, or less when the capacity is too
    /// small for that (a quarter of a shard's share, less the per-entry overhead), so a small
    /// namespace with only a capacity just works. Pinned when the namespace is created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_item_size: Option<u64>,
    /// TTL in seconds applied to writes that give none; 0 means keys do not expire by default.
    #[serde(default)]
    pub default_ttl_secs: u64,
    /// Eviction policy: a built-in (`adaptive`, `s3fifo`, `lru`, `sieve`, `wtinylfu`, `fifo`) or
    /// `plugin:<version id>`.
    #[serde(default)]
    #[schema(value_type = String, example = "s3fifo")]
    pub eviction: PolicyRef,
    /// The built-in that takes over while an eviction plugin is quarantined and makes up any
    /// shortfall in its answers. Defaults to the default built-in policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "lru")]
    pub eviction_fallback: Option<BuiltinPolicy>,
    /// Admission hook (`plugin:<version id>`): asked once per new key whether to store it.
    /// Absent: every write is stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "plugin:3f2a…")]
    pub admission: Option<PolicyRef>,
    /// Prefetch hook (`plugin:<version id>`): after an access, names keys worth fetching from the
    /// origin. Absent: no prefetch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub prefetch: Option<PolicyRef>,
    /// Routing hook (`plugin:<version id>`): picks the part of a key that decides its shard (and
    /// its node in a cluster). Absent: the whole key. Fixed once the namespace exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub routing: Option<PolicyRef>,
    /// Read-through origin: a miss is fetched from it, stored and returned. Absent: a miss is a
    /// miss.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<OriginConfig>,
    /// Number of shards (a power of two). Chosen from the capacity when omitted; fixed once the
    /// namespace exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shards: Option<u32>,
    /// Value compression: values of at least `min_bytes` are stored zstd-compressed when that
    /// saves at least `min_savings`; clients always see the plain value. Absent: stored as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression: Option<CompressionConfig>,
    /// In a cluster, what happens to this namespace's keys when their slots move to another
    /// member (a join, a drain, a rebalance, a replica topped up after a failure): `migrate`
    /// (the default) copies them first, `drop` does not — the new holder starts empty for this
    /// namespace and refills from traffic (or its origin), which makes moves cheaper for data
    /// that is cheap to lose. With `drop`, keys written before a move are lost if the slot's
    /// owner then fails.
    #[serde(default, skip_serializing_if = "RebalanceMode::is_migrate")]
    pub rebalance: RebalanceMode,
}

/// What a cluster does with a namespace's keys when their slots move ([`NamespaceConfig::rebalance`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RebalanceMode {
    /// Copy the keys to the slot's new holder before it serves them.
    #[default]
    Migrate,
    /// Leave them behind: the new holder starts empty for this namespace.
    Drop,
}

impl RebalanceMode {
    pub fn is_migrate(&self) -> bool {
        *self == Self::Migrate
    }
}

fn default_capacity() -> u64 {
    256 * 1024 * 1024
}
/// The max item size of a namespace that is big enough for it and names none.
pub const DEFAULT_MAX_ITEM_SIZE: u64 = 1024 * 1024;
/// Below this, a derived max item size would make a namespace nobody can use; such a capacity is
/// refused unless the caller names the max item size.
const MIN_DERIVED_MAX_ITEM_SIZE: u64 = 1024;

impl Default for NamespaceConfig {
    fn default() -> Self {
        Self {
            capacity_bytes: default_capacity(),
            max_item_size: None,
            default_ttl_secs: 0,
            eviction: PolicyRef::default(),
            eviction_fallback: None,
            admission: None,
            prefetch: None,
            routing: None,
            origin: None,
            shards: None,
            compression: None,
            rebalance: RebalanceMode::Migrate,
        }
    }
}

impl NamespaceConfig {
    /// What serves each hook: (hook, its policy reference, if the hook is on).
    pub fn hook_refs(&self) -> [(Hook, Option<&PolicyRef>); 4] {
        [
            (Hook::Eviction, Some(&self.eviction)),
            (Hook::Admission, self.admission.as_ref()),
            (Hook::Prefetch, self.prefetch.as_ref()),
            (Hook::Routing, self.routing.as_ref()),
        ]
    }

    /// The shard count this config asks for, or the one chosen for it: up to 16, while each shard
    /// still holds at least four max-size items (the caller's max item size, else the 1 MiB
    /// default).
    pub fn shard_count(&self) -> u32 {
        if let Some(n) = self.shards {
            return n;
        }
        let item = self.max_item_size.unwrap_or(DEFAULT_MAX_ITEM_SIZE);
        let mut n = 16u32;
        while n > 1 && self.capacity_bytes / n as u64 / 4 < item + ENTRY_OVERHEAD {
            n /= 2;
        }
        n
    }

    /// The max item size this config asks for, or the one derived for it: the 1 MiB default
    /// where a shard holds four such items, else a quarter of a shard's share less the
    /// per-entry overhead (at least 1 byte).
    pub fn max_item_size(&self) -> u64 {
        if let Some(m) = self.max_item_size {
            return m;
        }
        let per_shard = self.capacity_bytes / self.shard_count() as u64;
        (per_shard / 4)
            .saturating_sub(ENTRY_OVERHEAD)
            .clamp(1, DEFAULT_MAX_ITEM_SIZE)
    }

    /// Reject configs the store cannot honour, naming the field.
    pub fn validate(&self) -> Result<(), NamespaceError> {
        let bad = |field, reason: String| Err(NamespaceError::InvalidConfig { field, reason });
        if let Some(n) = self.shards
            && (n == 0 || !n.is_power_of_two() || n > MAX_SHARDS)
        {
            return bad(
                "shards",
                format!("must be a power of two from 1 to {MAX_SHARDS}"),
            );
        }
        if let Some((field, reason)) = self.compression.as_ref().and_then(|c| c.invalid()) {
            return bad(field, reason);
        }
        if self.max_item_size == Some(0) {
            return bad("max_item_size", "must be at least 1 byte".into());
        }
        if self.capacity_bytes == 0 {
            return bad("capacity_bytes", "must be at least 1 byte".into());
        }
        let per_shard = self.capacity_bytes / self.shard_count() as u64;
        let max_item = self.max_item_size();
        if self.max_item_size.is_none() && max_item < MIN_DERIVED_MAX_ITEM_SIZE {
            return bad(
                "capacity_bytes",
                format!(
                    "{} bytes is too small to derive a max item size: each of the {} shards gets \
                     {per_shard} bytes, and four items of at least {MIN_DERIVED_MAX_ITEM_SIZE} \
                     bytes (+ {ENTRY_OVERHEAD} overhead each) need {}; raise capacity_bytes or \
                     give max_item_size",
                    self.capacity_bytes,
                    self.shard_count(),
                    4 * (MIN_DERIVED_MAX_ITEM_SIZE + ENTRY_OVERHEAD)
                ),
            );
        }
        if per_shard < max_item + ENTRY_OVERHEAD {
            let fix = if self.max_item_size.is_some() {
                "raise capacity_bytes or lower max_item_size"
            } else if self.shard_count() > 1 {
                "raise capacity_bytes or lower shards"
            } else {
                "raise capacity_bytes"
            };
            return bad(
                "capacity_bytes",
                format!(
                    "each of the {} shards gets {per_shard} bytes, less than one max-size item \
                     ({max_item} bytes + {ENTRY_OVERHEAD} overhead); {fix}",
                    self.shard_count(),
                ),
            );
        }
        if self.default_ttl_secs > u64::MAX / 1000 {
            return bad("default_ttl_secs", "too large".into());
        }
        for (field, hook) in [
            ("admission", &self.admission),
            ("prefetch", &self.prefetch),
            ("routing", &self.routing),
        ] {
            if let Some(PolicyRef::Builtin(b)) = hook {
                return bad(
                    field,
                    format!("{b:?} is an eviction policy; this hook takes plugin:<version id>"),
                );
            }
        }
        if let Some(origin) = &self.origin {
            origin.validate()?;
        }
        Ok(())
    }

    fn limits(&self) -> StoreLimits {
        StoreLimits {
            capacity_bytes: self.capacity_bytes,
            max_item_size: self.max_item_size(),
            default_ttl_ms: self.default_ttl_secs * 1000,
        }
    }
}

/// A named store and its configuration.
pub struct Namespace {
    name: String,
    config: RwLock<NamespaceConfig>,
    store: Store,
    hooks: NamespaceHooks,
    origin: Origin,
}

impl std::fmt::Debug for Namespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Namespace")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Namespace {
    fn new(
        name: String,
        config: NamespaceConfig,
        plugins: &PluginHost,
    ) -> Result<Self, NamespaceError> {
        // Pin the shard count chosen from the capacity, so a later capacity change cannot make the
        // config describe a different count than the store has; pin the derived max item size
        // too, so the config a caller reads back is the one being enforced.
        let mut config = config;
        config.shards = Some(config.shard_count());
        config.max_item_size = Some(config.max_item_size());
        let per_shard = config.capacity_bytes / config.shard_count() as u64;
        let mut eviction = plugins
            .eviction_source(&name, &config)
            .map_err(hook_error(Hook::Eviction))?;
        let mut store = Store::new(config.shard_count() as usize, config.limits(), || {
            eviction.build(per_shard)
        });
        store.set_compression(config.compression);
        let hooks = NamespaceHooks::default();
        if let Some(r) = &config.routing {
            store.set_router(
                plugins
                    .router(&name, r, store.shard_count())
                    .map_err(hook_error(Hook::Routing))?,
            );
        }
        if let Some(r) = &config.admission {
            let mut admission = plugins
                .admission_source(&name, r)
                .map_err(hook_error(Hook::Admission))?;
            store.replace_admission(|| Some(admission.build()));
        }
        if let Some(r) = &config.prefetch {
            hooks.set_prefetch(Some(
                plugins
                    .prefetcher(&name, r)
                    .map_err(hook_error(Hook::Prefetch))?,
            ));
        }
        let origin = Origin::new(&name, config.origin.as_ref());
        Ok(Self {
            name,
            config: RwLock::new(config),
            store,
            hooks,
            origin,
        })
    }

    /// The namespace's prefetch hook, when it has one: ask it which keys to fetch after an access.
    pub fn hooks(&self) -> &NamespaceHooks {
        &self.hooks
    }

    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn store(&self) -> &Store {
        &self.store
    }
    /// Read-through origin and prefetch state (inert when no origin is configured).
    pub fn origin(&self) -> &Origin {
        &self.origin
    }
    pub fn config(&self) -> NamespaceConfig {
        self.config.read().clone()
    }

    /// Apply a new config live: capacity, limits and TTL at once, a new policy by swapping each
    /// shard's instance (the new one is replayed the resident keys).
    fn reconfigure(
        &self,
        mut next: NamespaceConfig,
        plugins: &PluginHost,
    ) -> Result<(), NamespaceError> {
        let mut current = self.config.write();
        let shards = current.shard_count();
        match next.shards {
            Some(n) if n != shards => {
                return Err(NamespaceError::InvalidConfig {
                    field: "shards",
                    reason: format!("is {shards} and cannot change on a live namespace"),
                });
            }
            _ => {}
        }
        // Validate against the shard count actually in use, not a re-derived one; an omitted max
        // item size is derived afresh from the new capacity.
        next.shards = Some(shards);
        next.max_item_size = Some(next.max_item_size());
        next.validate()?;
        if next.routing != current.routing {
            return Err(NamespaceError::InvalidConfig {
                field: "routing",
                reason: "cannot change on a live namespace (keys would move between shards)".into(),
            });
        }
        // Resolve (and instantiate) every new hook before changing anything, so a bad reference
        // leaves the namespace as it was. Modules were compiled at upload: nothing here compiles.
        let per_shard = next.capacity_bytes / shards as u64;
        let eviction_changed = next.eviction != current.eviction
            || next.eviction_fallback != current.eviction_fallback;
        let mut eviction = if eviction_changed {
            Some(
                plugins
                    .eviction_source(&self.name, &next)
                    .map_err(hook_error(Hook::Eviction))?,
            )
        } else {
            None
        };
        let mut admission = match (&next.admission, next.admission != current.admission) {
            (Some(r), true) => Some(Some(
                plugins
                    .admission_source(&self.name, r)
                    .map_err(hook_error(Hook::Admission))?,
            )),
            (None, true) => Some(None),
            (_, false) => None,
        };
        let prefetch = match (&next.prefetch, next.prefetch != current.prefetch) {
            (Some(r), true) => Some(Some(
                plugins
                    .prefetcher(&self.name, r)
                    .map_err(hook_error(Hook::Prefetch))?,
            )),
            (None, true) => Some(None),
            (_, false) => None,
        };
        let limits = next.limits();
        self.store.set_max_item_size(limits.max_item_size);
        self.store.set_default_ttl_ms(limits.default_ttl_ms);
        self.store.set_compression(next.compression);
        if let Some(eviction) = &mut eviction {
            self.store.replace_policy(|| eviction.build(per_shard));
        }
        if let Some(admission) = &mut admission {
            self.store
                .replace_admission(|| admission.as_mut().map(|a| a.build()));
        }
        if let Some(prefetch) = prefetch {
            self.hooks.set_prefetch(prefetch);
        }
        if next.capacity_bytes != current.capacity_bytes {
            self.store.set_capacity(next.capacity_bytes);
        }
        self.origin.configure(next.origin.as_ref());
        *current = next;
        Ok(())
    }
}

/// Turns a plugin resolution error into a config error naming the hook's field.
fn hook_error(hook: Hook) -> impl Fn(crate::plugin::PluginError) -> NamespaceError {
    move |e| NamespaceError::InvalidConfig {
        field: hook.as_str(),
        reason: e.to_string(),
    }
}

/// All namespaces of this node, by name.
pub struct Namespaces {
    map: DashMap<String, Arc<Namespace>>,
    plugins: Arc<PluginHost>,
    /// Give every namespace its write observers (the append-only log, replication), in the
    /// order they were added.
    observers: RwLock<Vec<Arc<dyn ObserverSource>>>,
    /// Gives every namespace its key-event sink (notifications, client-side caching).
    key_events: RwLock<Option<Arc<dyn KeyEventSource>>>,
}

/// Where namespaces get their [`KeyEvents`] sink from (the Redis-protocol server).
pub trait KeyEventSource: Send + Sync {
    fn key_events(&self, namespace: &str) -> Arc<dyn KeyEvents>;
}

/// Where namespaces get their [`WriteObserver`] from (the append-only log).
pub trait ObserverSource: Send + Sync {
    /// The observer for `namespace`'s `store` (which it must not hold: the store holds the
    /// observer). `created` is true for a namespace created just now (empty), false for one that
    /// existed when the source was set.
    fn observer(&self, namespace: &str, store: &Store, created: bool) -> Arc<dyn WriteObserver>;
}

/// One observer for `namespace` from all `sources`: the only one itself (no indirection on the
/// write path of a node with one), several through a [`crate::store::Tee`].
fn observer_of(
    sources: &[Arc<dyn ObserverSource>],
    namespace: &str,
    store: &Store,
    created: bool,
) -> Option<Arc<dyn WriteObserver>> {
    let mut all: Vec<Arc<dyn WriteObserver>> = sources
        .iter()
        .map(|s| s.observer(namespace, store, created))
        .collect();
    match all.len() {
        0 => None,
        1 => all.pop(),
        _ => Some(Arc::new(crate::store::Tee(all))),
    }
}

impl std::fmt::Debug for Namespaces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Namespaces")
            .field("count", &self.map.len())
            .finish()
    }
}

/// A namespace's own name, or `tenant/name` for a tenant's (see [`crate::tenant`]): the check
/// [`Namespaces::create`] makes first, for callers that check more before creating.
pub fn check_name(full: &str) -> Result<(), NamespaceError> {
    let (tenant, name) = crate::tenant::split(full);
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        && tenant.is_none_or(crate::tenant::valid_tenant_name);
    if ok {
        Ok(())
    } else {
        Err(NamespaceError::InvalidConfig {
            field: "name",
            reason: format!(
                "{name:?}: use 1 to {MAX_NAME_LEN} characters from A-Z, a-z, 0-9, '_', '-', '.'"
            ),
        })
    }
}

impl Namespaces {
    /// A registry holding only the `default` namespace, built from `default_config`.
    pub fn new(default_config: NamespaceConfig) -> Result<Self, NamespaceError> {
        Self::with_plugins(default_config, Arc::new(PluginHost::default()))
    }

    /// A registry whose namespaces resolve plugin references against `plugins`.
    pub fn with_plugins(
        default_config: NamespaceConfig,
        plugins: Arc<PluginHost>,
    ) -> Result<Self, NamespaceError> {
        let this = Self {
            map: DashMap::new(),
            plugins,
            observers: RwLock::new(Vec::new()),
            key_events: RwLock::new(None),
        };
        this.create(DEFAULT_NAMESPACE, default_config)?;
        Ok(this)
    }

    /// From now on, also tell `source`'s observers of every change (after those of the sources
    /// added before): each existing namespace gets its observer now, each namespace created
    /// later at creation.
    pub fn observe_writes(&self, source: Arc<dyn ObserverSource>) {
        let mut sources = self.observers.write();
        sources.push(source);
        for ns in self.list() {
            ns.store()
                .set_observer(observer_of(&sources, ns.name(), ns.store(), false));
        }
    }

    /// From now on, tell `source` that keys changed: each existing namespace gets its sink now,
    /// each namespace created later at creation.
    pub fn notify_key_events(&self, source: Arc<dyn KeyEventSource>) {
        // Set first and release: `create` reads this slot while holding the map's entry lock,
        // so holding it while walking the map could deadlock with a concurrent create. A
        // namespace created in between gets its sink twice, which is harmless.
        *self.key_events.write() = Some(Arc::clone(&source));
        for ns in self.list() {
            ns.store()
                .set_key_events(Some(source.key_events(ns.name())));
        }
    }

    /// The plugin registry and sandbox these namespaces use.
    pub fn plugins(&self) -> &Arc<PluginHost> {
        &self.plugins
    }

    /// Where a plugin version is in use: (namespace, hook) pairs, sorted.
    pub fn plugin_usage(&self, version_id: &str) -> Vec<(String, Hook)> {
        let mut out = Vec::new();
        for ns in self.list() {
            let cfg = ns.config();
            for (hook, r) in cfg.hook_refs() {
                if let Some(id) = r.and_then(PolicyRef::as_plugin)
                    && version_id.starts_with(id)
                {
                    out.push((ns.name().to_string(), hook));
                }
            }
        }
        out
    }

    pub fn get(&self, name: &str) -> Result<Arc<Namespace>, NamespaceError> {
        self.map
            .get(name)
            .map(|ns| Arc::clone(&ns))
            .ok_or_else(|| NamespaceError::NotFound(name.to_string()))
    }

    pub fn create(
        &self,
        name: &str,
        config: NamespaceConfig,
    ) -> Result<Arc<Namespace>, NamespaceError> {
        check_name(name)?;
        config.validate()?;
        match self.map.entry(name.to_string()) {
            dashmap::Entry::Occupied(_) => Err(NamespaceError::AlreadyExists(name.to_string())),
            dashmap::Entry::Vacant(slot) => {
                let ns = Arc::new(Namespace::new(name.to_string(), config, &self.plugins)?);
                ns.origin.bind(Arc::downgrade(&ns));
                let sources = self.observers.read();
                if !sources.is_empty() {
                    ns.store()
                        .set_observer(observer_of(&sources, name, ns.store(), true));
                }
                drop(sources);
                if let Some(source) = self.key_events.read().as_ref() {
                    ns.store().set_key_events(Some(source.key_events(name)));
                }
                slot.insert(Arc::clone(&ns));
                tracing::info!(namespace = name, "namespace created");
                Ok(ns)
            }
        }
    }

    /// Reconfigure a namespace. While an experiment runs on it, a change of eviction (or its
    /// fallback) or admission is refused: the arms decide those, and the experiment is stopped or
    /// promoted first. Other fields (capacity, TTLs, compression…) apply to every arm.
    pub fn update(
        &self,
        name: &str,
        config: NamespaceConfig,
    ) -> Result<Arc<Namespace>, NamespaceError> {
        let ns = self.get(name)?;
        // Held across the change, so an experiment cannot start half-way through it.
        let experiment = ns.store().lab().experiment.lock();
        if experiment.is_some() {
            let current = ns.config();
            let field = if config.eviction != current.eviction
                || config.eviction_fallback != current.eviction_fallback
            {
                Some("eviction")
            } else if config.admission != current.admission {
                Some("admission")
            } else {
                None
            };
            if let Some(field) = field {
                return Err(NamespaceError::ExperimentRunning {
                    namespace: name.to_string(),
                    field,
                });
            }
        }
        ns.reconfigure(config, &self.plugins)?;
        drop(experiment);
        tracing::info!(namespace = name, "namespace reconfigured");
        Ok(ns)
    }

    /// Reconfigure a namespace whose experiment lock the caller holds (promotion: the arms are
    /// already back on the namespace's policies).
    pub(crate) fn update_holding_lab(
        &self,
        name: &str,
        config: NamespaceConfig,
    ) -> Result<Arc<Namespace>, NamespaceError> {
        let ns = self.get(name)?;
        ns.reconfigure(config, &self.plugins)?;
        tracing::info!(namespace = name, "namespace reconfigured");
        Ok(ns)
    }

    /// Delete a namespace with its keys. A `default` (the node's, or a tenant's) is refused: it
    /// goes only with its tenant ([`Namespaces::delete_tenant`]).
    pub fn delete(&self, name: &str) -> Result<(), NamespaceError> {
        if crate::tenant::split(name).1 == DEFAULT_NAMESPACE {
            return Err(NamespaceError::DefaultUndeletable);
        }
        self.map
            .remove(name)
            .map(|_| tracing::info!(namespace = name, "namespace deleted"))
            .ok_or_else(|| NamespaceError::NotFound(name.to_string()))
    }

    /// Delete every namespace of `tenant`, its `default` included; how many there were.
    pub fn delete_tenant(&self, tenant: &str) -> usize {
        let mut removed = 0;
        self.map.retain(|name, _| {
            let keep = crate::tenant::split(name).0 != Some(tenant);
            removed += usize::from(!keep);
            keep
        });
        if removed > 0 {
            tracing::info!(tenant, namespaces = removed, "tenant's namespaces deleted");
        }
        removed
    }

    /// The namespaces of `tenant` (`None`: those of no tenant), sorted by name.
    pub fn list_tenant(&self, tenant: Option<&str>) -> Vec<Arc<Namespace>> {
        let mut mine: Vec<_> = self
            .map
            .iter()
            .filter(|e| crate::tenant::split(e.key()).0 == tenant)
            .map(|e| Arc::clone(e.value()))
            .collect();
        mine.sort_by(|a, b| a.name.cmp(&b.name));
        mine
    }

    /// Every namespace, sorted by name.
    pub fn list(&self) -> Vec<Arc<Namespace>> {
        let mut all: Vec<_> = self.map.iter().map(|e| Arc::clone(e.value())).collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts the changes its observers see, per namespace.
    #[derive(Default)]
    struct Counting(parking_lot::Mutex<Vec<String>>);

    struct CountingObserver(Arc<Counting>, String);

    impl WriteObserver for CountingObserver {
        fn put(&self, key: &[u8], _: &[u8], _: crate::store::Form, _: u64) {
            let line = format!("{} put {}", self.1, String::from_utf8_lossy(key));
            self.0.0.lock().push(line);
        }
        fn set_expiry(&self, _: &[u8], _: u64) {}
        fn remove(&self, key: &[u8]) {
            let line = format!("{} remove {}", self.1, String::from_utf8_lossy(key));
            self.0.0.lock().push(line);
        }
        fn clear(&self) {}
    }

    struct CountingSource(Arc<Counting>);

    impl ObserverSource for CountingSource {
        fn observer(&self, namespace: &str, _: &Store, _: bool) -> Arc<dyn WriteObserver> {
            Arc::new(CountingObserver(Arc::clone(&self.0), namespace.into()))
        }
    }

    #[test]
    fn every_observer_source_sees_every_change_in_existing_and_new_namespaces() {
        let all = Namespaces::new(NamespaceConfig::default()).unwrap();
        let (first, second) = (Arc::new(Counting::default()), Arc::new(Counting::default()));
        all.observe_writes(Arc::new(CountingSource(Arc::clone(&first))));
        let default = all.get(DEFAULT_NAMESPACE).unwrap();
        default
            .store()
            .set(b"a", b"1", crate::SetOptions::default())
            .unwrap();
        all.observe_writes(Arc::new(CountingSource(Arc::clone(&second))));
        let other = all.create("other", NamespaceConfig::default()).unwrap();
        default
            .store()
            .set(b"b", b"2", crate::SetOptions::default())
            .unwrap();
        other
            .store()
            .set(b"c", b"3", crate::SetOptions::default())
            .unwrap();
        other.store().delete(b"c");
        assert_eq!(
            *first.0.lock(),
            [
                "default put a",
                "default put b",
                "other put c",
                "other remove c"
            ]
        );
        assert_eq!(
            *second.0.lock(),
            ["default put b", "other put c", "other remove c"]
        );
    }

    #[test]
    fn default_namespace_exists_and_cannot_be_deleted() {
        let all = Namespaces::new(NamespaceConfig::default()).unwrap();
        assert!(all.get(DEFAULT_NAMESPACE).is_ok());
        assert_eq!(
            all.delete(DEFAULT_NAMESPACE),
            Err(NamespaceError::DefaultUndeletable)
        );
    }

    #[test]
    fn small_capacity_derives_max_item_size_and_shards() {
        let cfg = NamespaceConfig {
            capacity_bytes: 1 << 20,
            ..Default::default()
        };
        cfg.validate().unwrap();
        assert_eq!(cfg.shard_count(), 1);
        assert_eq!(cfg.max_item_size(), (1 << 18) - ENTRY_OVERHEAD);
        let big = NamespaceConfig::default();
        assert_eq!(big.shard_count(), 16);
        assert_eq!(big.max_item_size(), DEFAULT_MAX_ITEM_SIZE);
        // The caller's own shard count is kept; the max item size follows from it.
        let sharded = NamespaceConfig {
            shards: Some(16),
            ..cfg
        };
        sharded.validate().unwrap();
        assert_eq!(sharded.max_item_size(), (1 << 20) / 16 / 4 - ENTRY_OVERHEAD);
    }

    #[test]
    fn a_capacity_too_small_for_1_kib_items_needs_an_explicit_max_item_size() {
        let tiny = NamespaceConfig {
            capacity_bytes: 1000,
            ..Default::default()
        };
        match tiny.validate() {
            Err(NamespaceError::InvalidConfig { field, reason }) => {
                assert_eq!(field, "capacity_bytes");
                assert!(reason.contains("max_item_size"), "{reason}");
            }
            other => panic!("unexpected {other:?}"),
        }
        let explicit = NamespaceConfig {
            max_item_size: Some(100),
            ..tiny
        };
        explicit.validate().unwrap();
    }

    #[test]
    fn invalid_config_names_the_field() {
        // The caller's own numbers contradict each other: 1 MiB items in a 1000-byte namespace.
        let cfg = NamespaceConfig {
            capacity_bytes: 1000,
            max_item_size: Some(DEFAULT_MAX_ITEM_SIZE),
            ..Default::default()
        };
        match cfg.validate() {
            Err(NamespaceError::InvalidConfig { field, .. }) => assert_eq!(field, "capacity_bytes"),
            other => panic!("unexpected {other:?}"),
        }
        let cfg = NamespaceConfig {
            shards: Some(3),
            ..Default::default()
        };
        assert!(matches!(
            cfg.validate(),
            Err(NamespaceError::InvalidConfig {
                field: "shards",
                ..
            })
        ));
    }

    #[test]
    fn names_are_checked() {
        let all = Namespaces::new(NamespaceConfig::default()).unwrap();
        assert!(all.create("bad name", NamespaceConfig::default()).is_err());
        assert!(
            all.create("sessions-eu.v2", NamespaceConfig::default())
                .is_ok()
        );
        assert!(matches!(
            all.create("sessions-eu.v2", NamespaceConfig::default()),
            Err(NamespaceError::AlreadyExists(_))
        ));
        // A tenant's namespaces: `tenant/name`, one separator, a valid tenant name.
        assert!(
            all.create("acme/default", NamespaceConfig::default())
                .is_ok()
        );
        assert!(all.create("acme/carts", NamespaceConfig::default()).is_ok());
        for bad in ["acme/", "/x", "a/b/c", "Acme/x", "a.b/x"] {
            assert!(
                all.create(bad, NamespaceConfig::default()).is_err(),
                "{bad}"
            );
        }
        assert_eq!(
            all.delete("acme/default"),
            Err(NamespaceError::DefaultUndeletable)
        );
        let names: Vec<_> = all
            .list_tenant(Some("acme"))
            .iter()
            .map(|n| n.name().to_string())
            .collect();
        assert_eq!(names, ["acme/carts", "acme/default"]);
        assert_eq!(all.delete_tenant("acme"), 2);
        assert!(all.list_tenant(Some("acme")).is_empty());
        assert!(all.get(DEFAULT_NAMESPACE).is_ok(), "others stay");
    }

    #[test]
    fn live_reconfigure_shrinks_capacity_and_swaps_policy() {
        let all = Namespaces::new(NamespaceConfig::default()).unwrap();
        let cfg = NamespaceConfig {
            capacity_bytes: 1 << 20,
            max_item_size: Some(1024),
            shards: Some(1),
            ..Default::default()
        };
        let ns = all.create("t", cfg.clone()).unwrap();
        for i in 0..1000u32 {
            ns.store()
                .set(&i.to_le_bytes(), &[0u8; 500], Default::default())
                .unwrap();
        }
        let before = ns.store().stats();
        assert_eq!(before.keys, 1000);
        let smaller = NamespaceConfig {
            capacity_bytes: 100 * 1024,
            eviction: BuiltinPolicy::Lru.into(),
            ..cfg
        };
        all.update("t", smaller).unwrap();
        let after = ns.store().stats();
        assert!(after.bytes <= 100 * 1024, "{after:?}");
        assert!(after.keys < 1000 && after.keys > 100, "{after:?}");
        assert_eq!(ns.store().policy_name(), "lru");
    }
}

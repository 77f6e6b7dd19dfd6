//! Tenants: who owns which namespaces and plugin versions, and the quotas each is held to.
//!
//! | file | holds |
//! |---|---|
//! | `mod.rs` | [`Tenant`] (quotas, limiter, connection count, owned plugins) and the [`Tenants`] table |
//! | `names` | a caller's view of namespace names: `sessions` to the tenant is `acme/sessions` inside |
//! | `quota` | the checks a change makes against its tenant's quotas, and where origins may point |
//!
//! ## The rules
//!
//! - Tenants exist only with authentication on; the operator makes them (`POST /v1/tenants`).
//!   Each has its own `default` namespace, made with it and deleted only with it.
//! - A caller whose API key (or token) belongs to a tenant sees only that tenant's namespaces,
//!   plugin versions and API keys, under their own names. Anything else answers exactly as a
//!   missing name does — on REST `404` with the same code and message, on RESP the same error —
//!   so no answer tells a tenant what another tenant holds.
//! - Plugin versions are content-addressed and shared underneath, but ownership is per tenant:
//!   uploading bytes another tenant uploaded answers exactly like a first upload.
//! - Operator-level callers (the operator key, keys of no tenant) see everything, and address a
//!   tenant's namespace as `tenant/name`.

mod names;
mod quota;

pub use names::{NsView, localize};

pub use quota::{
    QuotaError, check_alert_rule, check_namespace, check_plugin_upload, resolve_config_refs,
    resolve_experiment_refs, resolve_ref, resolve_shadow_refs,
};

use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use larder_runtime::persist::{CatalogTenant, CatalogTenantPlugin};
use larder_runtime::tenant::{TenantQuotas, valid_tenant_name};
use parking_lot::{Mutex, RwLock};
use thiserror::Error;

use crate::auth::Limiter;

/// Tenants one node holds at most.
pub const MAX_TENANTS: usize = 10_000;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum TenantError {
    #[error("a tenant name is 1 to 32 characters from a-z, 0-9, '_' and '-'")]
    InvalidName,
    #[error("tenant {0:?} already exists")]
    Exists(String),
    #[error("tenant {0:?} does not exist")]
    NotFound(String),
    #[error("invalid quota: {field}: {reason}")]
    InvalidQuota { field: &'static str, reason: String },
    #[error("this node already holds {MAX_TENANTS} tenants")]
    TooMany,
}

/// One tenant.
#[derive(Debug)]
pub struct Tenant {
    name: String,
    created_unix_ms: u64,
    quotas: RwLock<TenantQuotas>,
    /// Operations per second over all the tenant's keys, when its quotas limit them.
    limiter: RwLock<Option<Arc<Limiter>>>,
    connections: AtomicU32,
    /// The plugin versions it uploaded, by id, with the name and description it gave them.
    plugins: RwLock<BTreeMap<String, OwnedPlugin>>,
    deleted: AtomicBool,
    /// Held across a quota check and the change it admits, so two concurrent creates cannot
    /// both fit into the room for one.
    changes: Mutex<()>,
}

impl Tenant {
    fn new(name: String, quotas: TenantQuotas, created_unix_ms: u64) -> Result<Self, TenantError> {
        let limiter = limiter_for(&quotas)?;
        Ok(Self {
            name,
            created_unix_ms,
            quotas: RwLock::new(quotas),
            limiter: RwLock::new(limiter),
            connections: AtomicU32::new(0),
            plugins: RwLock::default(),
            deleted: AtomicBool::new(false),
            changes: Mutex::new(()),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn created_unix_ms(&self) -> u64 {
        self.created_unix_ms
    }

    pub fn quotas(&self) -> TenantQuotas {
        self.quotas.read().clone()
    }

    /// Whether the tenant was deleted (its callers lose their rights).
    pub fn is_deleted(&self) -> bool {
        self.deleted.load(Ordering::Acquire)
    }

    /// Count one operation against the tenant's rate: `Err(wait)` when it is over it.
    #[inline]
    pub fn admit(&self) -> Result<(), Duration> {
        match self.limiter.read().as_deref() {
            None => Ok(()),
            Some(limiter) => crate::auth::admit(limiter),
        }
    }

    /// Take one of the tenant's connection slots, released when the slot is dropped; `None`
    /// when all `max_connections` are in use.
    pub fn connect(self: &Arc<Self>) -> Option<ConnectionSlot> {
        let max = self.quotas.read().max_connections;
        self.connections
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| ConnectionSlot(Arc::clone(self)))
    }

    pub fn connections(&self) -> u32 {
        self.connections.load(Ordering::Acquire)
    }

    pub fn owns_plugin(&self, id: &str) -> bool {
        self.plugins.read().contains_key(id)
    }

    /// Record that the tenant owns version `id`, uploaded as `meta`; `false` (and the first
    /// upload's name kept) when it already did.
    pub fn add_plugin(&self, id: &str, meta: OwnedPlugin) -> bool {
        match self.plugins.write().entry(id.to_string()) {
            std::collections::btree_map::Entry::Occupied(_) => false,
            std::collections::btree_map::Entry::Vacant(slot) => {
                slot.insert(meta);
                true
            }
        }
    }

    /// How the tenant uploaded version `id`, if it did.
    pub fn plugin(&self, id: &str) -> Option<OwnedPlugin> {
        self.plugins.read().get(id).cloned()
    }

    /// The ids of the versions it owns, sorted.
    pub fn plugins(&self) -> Vec<String> {
        self.plugins.read().keys().cloned().collect()
    }

    /// The lock a quota-checked change holds (see the field).
    pub fn lock_changes(&self) -> parking_lot::MutexGuard<'_, ()> {
        self.changes.lock()
    }
}

/// A plugin version as the tenant uploaded it: the module is shared, what the tenant called it
/// and when it uploaded it are its own (so nothing shows another tenant's upload).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedPlugin {
    pub name: String,
    pub description: String,
    pub uploaded_at_unix_ms: u64,
}

/// A RESP connection authenticated as a tenant; gives its slot back when dropped.
#[derive(Debug)]
pub struct ConnectionSlot(Arc<Tenant>);

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::AcqRel);
    }
}

fn limiter_for(quotas: &TenantQuotas) -> Result<Option<Arc<Limiter>>, TenantError> {
    quotas
        .validate()
        .map_err(|(field, reason)| TenantError::InvalidQuota { field, reason })?;
    Ok(quotas.rate().and_then(|(rate, burst)| {
        let quota = governor::Quota::per_second(NonZeroU32::new(rate)?)
            .allow_burst(NonZeroU32::new(burst)?);
        Some(Arc::new(Limiter::direct(quota)))
    }))
}

/// The tenants of one node.
#[derive(Debug, Default)]
pub struct Tenants {
    by_name: RwLock<HashMap<String, Arc<Tenant>>>,
}

impl Tenants {
    /// Make tenant `name` with `quotas` (its `default` namespace is the caller's to make).
    pub fn create(&self, name: &str, quotas: TenantQuotas) -> Result<Arc<Tenant>, TenantError> {
        if !valid_tenant_name(name) {
            return Err(TenantError::InvalidName);
        }
        let tenant = Arc::new(Tenant::new(
            name.to_string(),
            quotas,
            larder_runtime::persist::unix_now_ms(),
        )?);
        let mut table = self.by_name.write();
        if table.contains_key(name) {
            return Err(TenantError::Exists(name.to_string()));
        }
        if table.len() >= MAX_TENANTS {
            return Err(TenantError::TooMany);
        }
        table.insert(name.to_string(), Arc::clone(&tenant));
        Ok(tenant)
    }

    pub fn get(&self, name: &str) -> Option<Arc<Tenant>> {
        self.by_name.read().get(name).cloned()
    }

    /// Every tenant, by name.
    pub fn list(&self) -> Vec<Arc<Tenant>> {
        let mut all: Vec<_> = self.by_name.read().values().cloned().collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    /// Replace a tenant's quotas. Lowering one below what the tenant holds keeps what it holds
    /// and refuses what would add to it.
    pub fn set_quotas(&self, name: &str, quotas: TenantQuotas) -> Result<Arc<Tenant>, TenantError> {
        let tenant = self
            .get(name)
            .ok_or_else(|| TenantError::NotFound(name.to_string()))?;
        let limiter = limiter_for(&quotas)?;
        *tenant.quotas.write() = quotas;
        *tenant.limiter.write() = limiter;
        Ok(tenant)
    }

    /// Make the tenant `entry` describes, or bring the one of that name to it (quotas and owned
    /// plugins), keeping its live state (connections, rate limiter, the keys that point at it).
    pub fn apply_record(&self, entry: &CatalogTenant) -> Result<(), TenantError> {
        let Some(tenant) = self.get(&entry.name) else {
            return self.restore(std::slice::from_ref(entry));
        };
        if tenant.quotas() != entry.quotas {
            self.set_quotas(&entry.name, entry.quotas.clone())?;
        }
        *tenant.plugins.write() = entry
            .plugins
            .iter()
            .map(|p| {
                let meta = OwnedPlugin {
                    name: p.name.clone(),
                    description: p.description.clone(),
                    uploaded_at_unix_ms: p.uploaded_at_unix_ms,
                };
                (p.id.clone(), meta)
            })
            .collect();
        Ok(())
    }

    /// Take a tenant out of the table and mark it deleted; the caller drops its namespaces
    /// and keys.
    pub fn remove(&self, name: &str) -> Option<Arc<Tenant>> {
        let tenant = self.by_name.write().remove(name)?;
        tenant.deleted.store(true, Ordering::Release);
        Some(tenant)
    }

    /// The table as the catalog records it.
    pub fn capture(&self) -> Vec<CatalogTenant> {
        self.list()
            .iter()
            .map(|t| CatalogTenant {
                name: t.name.clone(),
                created_unix_ms: t.created_unix_ms,
                quotas: t.quotas(),
                plugins: t
                    .plugins
                    .read()
                    .iter()
                    .map(|(id, p)| CatalogTenantPlugin {
                        id: id.clone(),
                        name: p.name.clone(),
                        description: p.description.clone(),
                        uploaded_at_unix_ms: p.uploaded_at_unix_ms,
                    })
                    .collect(),
            })
            .collect()
    }

    /// Put back the tenants a catalog recorded. A malformed entry is refused whole.
    pub fn restore(&self, entries: &[CatalogTenant]) -> Result<(), TenantError> {
        let mut table = self.by_name.write();
        for entry in entries {
            if !valid_tenant_name(&entry.name) {
                return Err(TenantError::InvalidName);
            }
            let tenant = Tenant::new(
                entry.name.clone(),
                entry.quotas.clone(),
                entry.created_unix_ms,
            )?;
            tenant.plugins.write().extend(entry.plugins.iter().map(|p| {
                let meta = OwnedPlugin {
                    name: p.name.clone(),
                    description: p.description.clone(),
                    uploaded_at_unix_ms: p.uploaded_at_unix_ms,
                };
                (p.id.clone(), meta)
            }));
            table.insert(entry.name.clone(), Arc::new(tenant));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_slots_are_bounded_and_given_back() {
        let tenants = Tenants::default();
        let t = tenants
            .create(
                "acme",
                TenantQuotas {
                    max_connections: 2,
                    ..Default::default()
                },
            )
            .unwrap();
        let a = t.connect().expect("first");
        let _b = t.connect().expect("second");
        assert!(t.connect().is_none(), "the third is over the quota");
        drop(a);
        assert!(t.connect().is_some(), "a slot given back is free again");
    }

    #[test]
    fn the_rate_is_shared_and_follows_quota_changes() {
        let tenants = Tenants::default();
        let quotas = TenantQuotas {
            ops_per_second: Some(1),
            ops_burst: Some(10),
            ..Default::default()
        };
        let t = tenants.create("acme", quotas).unwrap();
        assert_eq!((0..50).filter(|_| t.admit().is_ok()).count(), 10);
        tenants.set_quotas("acme", TenantQuotas::default()).unwrap();
        assert!((0..1000).all(|_| t.admit().is_ok()), "unlimited now");
    }

    #[test]
    fn tenants_survive_the_catalog_and_names_are_checked() {
        let tenants = Tenants::default();
        assert_eq!(
            tenants.create("Bad", TenantQuotas::default()).unwrap_err(),
            TenantError::InvalidName
        );
        let t = tenants.create("acme", TenantQuotas::default()).unwrap();
        let meta = OwnedPlugin {
            name: "mine".into(),
            description: String::new(),
            uploaded_at_unix_ms: 1,
        };
        assert!(t.add_plugin("ab12", meta.clone()));
        assert!(!t.add_plugin("ab12", meta.clone()));
        assert!(matches!(
            tenants.create("acme", TenantQuotas::default()),
            Err(TenantError::Exists(_))
        ));
        let restored = Tenants::default();
        restored.restore(&tenants.capture()).unwrap();
        let back = restored.get("acme").unwrap();
        assert_eq!(back.plugin("ab12"), Some(meta));
        let gone = restored.remove("acme").unwrap();
        assert!(gone.is_deleted());
        assert!(restored.get("acme").is_none());
    }
}

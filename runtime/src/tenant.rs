//! Tenants as the engine sees them: how a tenant's namespaces are named, and the quotas a tenant
//! is held to. Who a tenant is (its keys, its limiter, its connections) is the server's business;
//! the engine only needs the naming rule, so that a namespace's full name says whose it is.
//!
//! A tenant's namespace `sessions` is the namespace `acme/sessions` to the engine, the catalog,
//! the metrics and the operator; the tenant itself only ever sees `sessions`. Names without a
//! `/` belong to no tenant: the operator's own, as on a node without tenants. A tenant name is
//! 1 to 32 characters from `a-z 0-9 _ -` (no `.` and no `/`), so `tenant/name` splits one way.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Between a tenant's name and its namespace's own name in the full name.
pub const SEPARATOR: char = '/';
/// Longest tenant name.
pub const MAX_TENANT_NAME_LEN: usize = 32;

/// Whether `name` is a valid tenant name.
pub fn valid_tenant_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_TENANT_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-'))
}

/// `(Some(tenant), name)` for `tenant/name`, `(None, name)` for a name without a tenant.
pub fn split(full: &str) -> (Option<&str>, &str) {
    match full.split_once(SEPARATOR) {
        Some((tenant, name)) => (Some(tenant), name),
        None => (None, full),
    }
}

/// The full name of `tenant`'s namespace `name`.
pub fn full_name(tenant: &str, name: &str) -> String {
    let mut out = String::with_capacity(tenant.len() + 1 + name.len());
    out.push_str(tenant);
    out.push(SEPARATOR);
    out.push_str(name);
    out
}

/// What one tenant may hold and use. Every field has a default, so `{}` is a valid quota set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantQuotas {
    /// Namespaces the tenant may have, its `default` included.
    #[serde(default = "default_max_namespaces")]
    #[schema(minimum = 1, example = 16)]
    pub max_namespaces: u32,
    /// The sum of its namespaces' `capacity_bytes`.
    #[serde(default = "default_max_capacity_bytes")]
    #[schema(minimum = 1, example = 1073741824)]
    pub max_capacity_bytes: u64,
    /// Plugin versions it may own.
    #[serde(default = "default_max_plugins")]
    #[schema(example = 16)]
    pub max_plugins: u32,
    /// The sum of the sizes of the plugin modules it owns.
    #[serde(default = "default_max_plugin_bytes")]
    #[schema(example = 67108864)]
    pub max_plugin_bytes: u64,
    /// Memory its plugins may reserve: per namespace and hook, instances (one per shard) times
    /// the sandbox's memory cap.
    #[serde(default = "default_max_plugin_memory_bytes")]
    #[schema(example = 1073741824)]
    pub max_plugin_memory_bytes: u64,
    /// RESP connections authenticated as the tenant at once.
    #[serde(default = "default_max_connections")]
    #[schema(minimum = 1, example = 1000)]
    pub max_connections: u32,
    /// API keys the tenant may hold.
    #[serde(default = "default_max_api_keys")]
    #[schema(minimum = 1, example = 100)]
    pub max_api_keys: u32,
    /// Users with passwords the tenant may hold (`ACL SETUSER`, `PUT /v1/users/{name}`).
    #[serde(default = "default_max_users")]
    #[schema(example = 100)]
    pub max_users: u32,
    /// Alert rules the tenant may hold (`POST /v1/alerts/rules`).
    #[serde(default = "default_max_alert_rules")]
    #[schema(example = 20)]
    pub max_alert_rules: u32,
    /// Operations per second over all its keys and connections (each RESP command and REST
    /// request is one); absent: unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, example = 10000)]
    pub ops_per_second: Option<u32>,
    /// Operations allowed at once above the rate; defaults to a tenth of a second's worth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, example = 1000)]
    pub ops_burst: Option<u32>,
    /// Whether its namespaces' origins and its alert rules' webhooks may be loopback,
    /// link-local or private addresses. Only an operator sets this; the default refuses them,
    /// so a tenant cannot use the cache to reach the operator's internal network.
    #[serde(default)]
    pub allow_private_origins: bool,
}

fn default_max_namespaces() -> u32 {
    16
}
fn default_max_capacity_bytes() -> u64 {
    1 << 30
}
fn default_max_plugins() -> u32 {
    16
}
fn default_max_plugin_bytes() -> u64 {
    64 << 20
}
fn default_max_plugin_memory_bytes() -> u64 {
    1 << 30
}
fn default_max_api_keys() -> u32 {
    100
}
fn default_max_users() -> u32 {
    100
}
fn default_max_alert_rules() -> u32 {
    20
}
fn default_max_connections() -> u32 {
    1000
}

impl Default for TenantQuotas {
    fn default() -> Self {
        Self {
            max_namespaces: default_max_namespaces(),
            max_capacity_bytes: default_max_capacity_bytes(),
            max_plugins: default_max_plugins(),
            max_plugin_bytes: default_max_plugin_bytes(),
            max_plugin_memory_bytes: default_max_plugin_memory_bytes(),
            max_connections: default_max_connections(),
            max_api_keys: default_max_api_keys(),
            max_users: default_max_users(),
            max_alert_rules: default_max_alert_rules(),
            ops_per_second: None,
            ops_burst: None,
            allow_private_origins: false,
        }
    }
}

impl TenantQuotas {
    /// The most operations per second (and burst) a quota may name.
    pub const MAX_RATE: u32 = 100_000_000;

    /// `Err((field, reason))` for a quota set that cannot be applied.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.max_namespaces == 0 {
            return Err((
                "max_namespaces",
                "at least 1: every tenant has its default namespace".into(),
            ));
        }
        if self.max_capacity_bytes == 0 {
            return Err(("max_capacity_bytes", "at least 1".into()));
        }
        if self.max_connections == 0 {
            return Err(("max_connections", "at least 1".into()));
        }
        for (field, value) in [
            ("ops_per_second", self.ops_per_second),
            ("ops_burst", self.ops_burst),
        ] {
            if let Some(v) = value
                && (v == 0 || v > Self::MAX_RATE)
            {
                return Err((field, format!("1 to {}", Self::MAX_RATE)));
            }
        }
        if self.ops_burst.is_some() && self.ops_per_second.is_none() {
            return Err(("ops_burst", "needs ops_per_second".into()));
        }
        Ok(())
    }

    /// `(per_second, burst)` when operations are limited.
    pub fn rate(&self) -> Option<(u32, u32)> {
        self.ops_per_second
            .map(|rate| (rate, self.ops_burst.unwrap_or((rate / 10).max(1))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_one_way() {
        assert_eq!(split("acme/sessions"), (Some("acme"), "sessions"));
        assert_eq!(split("sessions"), (None, "sessions"));
        assert_eq!(full_name("acme", "default"), "acme/default");
        assert!(valid_tenant_name("acme-eu_2"));
        assert!(!valid_tenant_name("Acme"));
        assert!(!valid_tenant_name("a.b"));
        assert!(!valid_tenant_name("a/b"));
        assert!(!valid_tenant_name(""));
        assert!(!valid_tenant_name(&"a".repeat(33)));
    }

    #[test]
    fn quotas_default_and_validate() {
        let q: TenantQuotas = serde_json::from_str("{}").unwrap();
        assert_eq!(q, TenantQuotas::default());
        assert!(q.validate().is_ok());
        assert_eq!(q.rate(), None);
        let limited = TenantQuotas {
            ops_per_second: Some(1000),
            ..Default::default()
        };
        assert_eq!(limited.rate(), Some((1000, 100)));
        let bad = TenantQuotas {
            ops_burst: Some(5),
            ..Default::default()
        };
        assert_eq!(bad.validate().unwrap_err().0, "ops_burst");
        let zero = TenantQuotas {
            max_namespaces: 0,
            ..Default::default()
        };
        assert_eq!(zero.validate().unwrap_err().0, "max_namespaces");
    }
}

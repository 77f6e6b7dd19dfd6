//! The checks a tenant's change makes before it is applied: quotas, plugin ownership, and where
//! an origin may point.
//!
//! Callers hold [`Tenant::lock_changes`] across the check and the change, so two concurrent
//! changes cannot both fit into the room for one. A refusal changes nothing.

use std::net::{IpAddr, ToSocketAddrs};

use larder_runtime::experiment::{ExperimentError, ExperimentSpec, ShadowSpec};
use larder_runtime::plugin::{Hook, MIN_ID_PREFIX, PluginError, PluginHost};
use larder_runtime::{NamespaceConfig, NamespaceError, Namespaces, PolicyRef};
use thiserror::Error;

use super::Tenant;

/// Why a tenant's change was refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum QuotaError {
    /// A quota would be exceeded: REST `429` (with `Retry-After`), RESP `-ERR quota exceeded`.
    #[error("quota exceeded: {what} would be {would_be}, over the tenant's {quota} of {limit}")]
    Exceeded {
        what: &'static str,
        quota: &'static str,
        would_be: u64,
        limit: u64,
    },
    /// The origin points where the tenant may not send requests.
    #[error(
        "origin {0:?} resolves to a loopback, link-local or private address, which this tenant may not use (an operator can allow it with the allow_private_origins quota)"
    )]
    PrivateOrigin(String),
    /// An alert rule's webhook points where the tenant may not send requests.
    #[error(
        "webhook {0:?} resolves to a loopback, link-local or private address, which this tenant may not use (an operator can allow it with the allow_private_origins quota)"
    )]
    PrivateWebhook(String),
}

fn exceeded(what: &'static str, quota: &'static str, would_be: u64, limit: u64) -> QuotaError {
    QuotaError::Exceeded {
        what,
        quota,
        would_be,
        limit,
    }
}

/// Whether `tenant` may give its namespace `internal` (which may not exist yet) `config`.
pub fn check_namespace(
    tenant: &Tenant,
    namespaces: &Namespaces,
    internal: &str,
    config: &NamespaceConfig,
) -> Result<(), QuotaError> {
    let quotas = tenant.quotas();
    let mine = namespaces.list_tenant(Some(tenant.name()));
    let exists = mine.iter().any(|ns| ns.name() == internal);
    if !exists && mine.len() as u64 >= u64::from(quotas.max_namespaces) {
        return Err(exceeded(
            "namespaces",
            "max_namespaces",
            mine.len() as u64 + 1,
            quotas.max_namespaces.into(),
        ));
    }
    let others: u64 = mine
        .iter()
        .filter(|ns| ns.name() != internal)
        .map(|ns| ns.config().capacity_bytes)
        .sum();
    let capacity = others.saturating_add(config.capacity_bytes);
    if capacity > quotas.max_capacity_bytes {
        return Err(exceeded(
            "the namespaces' capacity_bytes",
            "max_capacity_bytes",
            capacity,
            quotas.max_capacity_bytes,
        ));
    }
    let cap = namespaces.plugins().limits().max_memory_bytes as u64;
    let memory_of = |cfg: &NamespaceConfig| -> u64 {
        let plugins = cfg
            .hook_refs()
            .into_iter()
            .filter_map(|(_, r)| r?.as_plugin())
            .count() as u64;
        plugins * u64::from(cfg.shard_count()) * cap
    };
    let memory = mine
        .iter()
        .filter(|ns| ns.name() != internal)
        .map(|ns| memory_of(&ns.config()))
        .sum::<u64>()
        .saturating_add(memory_of(config));
    if memory > quotas.max_plugin_memory_bytes {
        return Err(exceeded(
            "the plugins' reserved memory (instances × memory cap)",
            "max_plugin_memory_bytes",
            memory,
            quotas.max_plugin_memory_bytes,
        ));
    }
    if !quotas.allow_private_origins
        && let Some(origin) = &config.origin
    {
        check_origin(&origin.url)?;
    }
    Ok(())
}

/// Whether `tenant` may add an alert rule watching through `webhook`, holding `held` rules now.
pub fn check_alert_rule(
    tenant: &Tenant,
    held: usize,
    webhook: Option<&str>,
) -> Result<(), QuotaError> {
    let quotas = tenant.quotas();
    if held as u64 >= u64::from(quotas.max_alert_rules) {
        return Err(exceeded(
            "alert rules",
            "max_alert_rules",
            held as u64 + 1,
            quotas.max_alert_rules.into(),
        ));
    }
    if !quotas.allow_private_origins
        && let Some(url) = webhook
    {
        check_origin(url).map_err(|_| QuotaError::PrivateWebhook(url.to_string()))?;
    }
    Ok(())
}

/// Whether `tenant` may upload a module of `len` bytes whose id is `id` (owning it already
/// costs nothing more).
pub fn check_plugin_upload(
    tenant: &Tenant,
    plugins: &PluginHost,
    id: &str,
    len: usize,
) -> Result<(), QuotaError> {
    if tenant.owns_plugin(id) {
        return Ok(());
    }
    let quotas = tenant.quotas();
    let owned = tenant.plugins();
    if owned.len() as u64 >= u64::from(quotas.max_plugins) {
        return Err(exceeded(
            "plugin versions",
            "max_plugins",
            owned.len() as u64 + 1,
            quotas.max_plugins.into(),
        ));
    }
    let bytes: u64 = owned
        .iter()
        .filter_map(|id| plugins.get(id).ok())
        .map(|v| v.size_bytes as u64)
        .sum::<u64>()
        .saturating_add(len as u64);
    if bytes > quotas.max_plugin_bytes {
        return Err(exceeded(
            "the plugin modules' bytes",
            "max_plugin_bytes",
            bytes,
            quotas.max_plugin_bytes,
        ));
    }
    Ok(())
}

/// Point every plugin reference in `config` at a version `tenant` owns, by its full id (a
/// prefix is matched among the tenant's own versions only, so it cannot reach another's). A
/// reference to a version the tenant does not own fails exactly as one to a missing version.
pub fn resolve_config_refs(
    tenant: &Tenant,
    config: &mut NamespaceConfig,
) -> Result<(), NamespaceError> {
    let refs = [
        (Hook::Eviction, Some(&mut config.eviction)),
        (Hook::Admission, config.admission.as_mut()),
        (Hook::Prefetch, config.prefetch.as_mut()),
        (Hook::Routing, config.routing.as_mut()),
    ];
    for (hook, r) in refs {
        if let Some(r) = r {
            resolve_ref(tenant, r).map_err(|e| NamespaceError::InvalidConfig {
                field: hook.as_str(),
                reason: e.to_string(),
            })?;
        }
    }
    Ok(())
}

/// Every plugin reference of an experiment's arms, as [`resolve_config_refs`] does.
pub fn resolve_experiment_refs(
    tenant: &Tenant,
    spec: &mut ExperimentSpec,
) -> Result<(), ExperimentError> {
    for arm in &mut spec.arms {
        let name = arm.name.clone();
        let invalid = |e: PluginError| ExperimentError::Invalid(format!("arm {name:?}: {e}"));
        resolve_ref(tenant, &mut arm.eviction).map_err(invalid)?;
        if let Some(r) = arm.admission.as_mut() {
            resolve_ref(tenant, r).map_err(invalid)?;
        }
    }
    Ok(())
}

/// Every plugin reference of a shadow evaluation's candidates, as [`resolve_config_refs`] does.
pub fn resolve_shadow_refs(tenant: &Tenant, spec: &mut ShadowSpec) -> Result<(), ExperimentError> {
    for c in &mut spec.candidates {
        resolve_ref(tenant, &mut c.eviction)
            .map_err(|e| ExperimentError::InvalidShadow(format!("candidate {:?}: {e}", c.name)))?;
    }
    Ok(())
}

/// One reference: `Err(NotFound)` unless it names exactly one version the tenant owns.
pub fn resolve_ref(tenant: &Tenant, r: &mut PolicyRef) -> Result<(), PluginError> {
    let Some(id) = r.as_plugin() else {
        return Ok(());
    };
    let owned = tenant.plugins();
    let wanted = id.to_ascii_lowercase();
    let mut matches = owned.iter().filter(|own| own.starts_with(&wanted));
    match (matches.next(), matches.next()) {
        (Some(full), None) if wanted.len() >= MIN_ID_PREFIX || wanted.len() == full.len() => {
            *r = PolicyRef::plugin(full.clone());
            Ok(())
        }
        _ => Err(PluginError::NotFound(id.to_string())),
    }
}

/// Whether an origin URL may be used by a tenant: its host must resolve only to public
/// addresses. (Resolved when the config is set; a name that later resolves elsewhere is the
/// operator's DNS to keep honest.)
fn check_origin(url: &str) -> Result<(), QuotaError> {
    let refused = || QuotaError::PrivateOrigin(url.to_string());
    let parsed = reqwest::Url::parse(url).map_err(|_| refused())?;
    let host = parsed.host_str().ok_or_else(refused)?;
    let port = parsed.port_or_known_default().unwrap_or(80);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<IpAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => (host, port)
            .to_socket_addrs()
            .map_err(|_| refused())?
            .map(|a| a.ip())
            .collect(),
    };
    if addrs.is_empty() || addrs.iter().any(|ip| !is_public(ip)) {
        return Err(refused());
    }
    Ok(())
}

fn is_public(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64 // 100.64/10, CGNAT
                || v4.octets()[0] == 0)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(&IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80) // link-local
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_origins_are_refused_and_public_ones_pass() {
        for url in [
            "http://127.0.0.1:8080/",
            "http://localhost/",
            "http://10.1.2.3/",
            "http://192.168.0.1/",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]:80/",
            "http://[fe80::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://0.0.0.0/",
            "not a url",
        ] {
            assert!(check_origin(url).is_err(), "{url}");
        }
        assert!(check_origin("http://93.184.215.14/").is_ok());
        assert!(check_origin("https://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]/").is_ok());
    }
}

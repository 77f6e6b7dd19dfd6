//! Tenants, API keys, users and alert rules shared by every member.
//!
//! On a cluster member, a change to them through the API (creating or revoking a key, making or
//! changing a tenant or a user, a tenant's plugin upload, adding or deleting an alert rule) is
//! committed to the raft state as records of shared tables ([`Command::PutRecord`]), each record
//! the catalog's own form of the entry as JSON; a deletion commits the record as deleted. Every
//! member's reconciler applies the state ([`reconcile`]), so a key made through one member
//! authenticates on all of them, a revoked one on none, and every member evaluates the same
//! rules (each on its own share of the keyspace). The tenant, key and user tables exist with
//! authentication on.
//!
//! The REST side is one middleware ([`share_record_changes`]): it holds the cluster's
//! configuration lock, runs the request, and commits exactly what the request changed here (the
//! tables before and after it, compared). When no quorum confirms it in time, the change is
//! undone here and the caller gets `503 cluster_unavailable`, so a member never keeps a key or a
//! revocation the cluster did not agree on. `ACL SETUSER`/`DELUSER` on the Redis port go through
//! [`commit_since`] the same way.
//!
//! Records the state does not name (made before the member joined, or from the config file's
//! `[alerts]`) stay the member's own until they are changed. A tenant deleted through the cluster
//! takes its namespaces with it on every member. Sessions, failure budgets, rate-limit buckets
//! and firing alerts stay per member.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use larder_cluster::{ClusterNode, Command};
use larder_runtime::Namespaces;
use larder_runtime::persist::catalog::{CatalogApiKey, CatalogTenant, CatalogUser};

use larder_runtime::alert::AlertRule;
use larder_runtime::alert::engine::AlertEngine;

use crate::auth::Auth;
use crate::rest::error::ApiError;
use crate::state::AppState;

pub const TENANTS: &str = "tenants";
pub const API_KEYS: &str = "api_keys";
pub const USERS: &str = "users";
pub const ALERT_RULES: &str = "alert_rules";
/// In the order records are applied: a key or user needs its tenant first.
const TABLES: [&str; 4] = [TENANTS, API_KEYS, USERS, ALERT_RULES];

/// What holds the shared tables on this member.
#[derive(Clone, Copy)]
pub struct Holders<'a> {
    /// Tenants, keys and users; `None` with authentication off.
    pub auth: Option<&'a Auth>,
    pub alerts: Option<&'a AlertEngine>,
    pub namespaces: &'a Namespaces,
}

/// How long a change waits for its commit before it is undone.
const COMMIT_PATIENCE: Duration = Duration::from_secs(10);

/// The tables as this member holds them: table → record key → record (JSON).
#[derive(Default, PartialEq)]
struct Tables(BTreeMap<&'static str, BTreeMap<String, String>>);

/// A user's record key: its tenant (empty for an operator-level user) and name.
fn user_key(tenant: Option<&str>, name: &str) -> String {
    format!("{}/{name}", tenant.unwrap_or(""))
}

fn json<T: serde::Serialize>(record: &T) -> String {
    serde_json::to_string(record).unwrap_or_default()
}

impl Tables {
    fn capture(holders: Holders<'_>) -> Self {
        let mut tables = BTreeMap::new();
        if let Some(auth) = holders.auth {
            tables.insert(
                TENANTS,
                auth.tenants()
                    .capture()
                    .iter()
                    .map(|t| (t.name.clone(), json(t)))
                    .collect(),
            );
            tables.insert(
                API_KEYS,
                auth.keys()
                    .capture()
                    .iter()
                    .map(|k| (k.id.clone(), json(k)))
                    .collect(),
            );
            tables.insert(
                USERS,
                auth.users()
                    .capture()
                    .iter()
                    .map(|u| (user_key(u.tenant.as_deref(), &u.name), json(u)))
                    .collect(),
            );
        }
        if let Some(alerts) = holders.alerts {
            tables.insert(
                ALERT_RULES,
                alerts
                    .rules()
                    .iter()
                    .map(|r| (r.name.clone(), json(r)))
                    .collect(),
            );
        }
        Self(tables)
    }

    fn get(&self, table: &str, key: &str) -> Option<&String> {
        self.0.get(table)?.get(key)
    }

    /// What changed from `self` to `after`: (table, key, new record or `None` for deleted), in
    /// the order they can be applied (records before deletions; deletions of keys and users
    /// before their tenant's).
    fn changes_to(&self, after: &Tables) -> Vec<(&'static str, String, Option<String>)> {
        let mut puts = Vec::new();
        let mut deletes = Vec::new();
        for table in TABLES {
            let (old, new) = (self.0.get(table), after.0.get(table));
            for (key, record) in new.into_iter().flatten() {
                if old.and_then(|o| o.get(key)) != Some(record) {
                    puts.push((table, key.clone(), Some(record.clone())));
                }
            }
            for key in old.into_iter().flatten().map(|(k, _)| k) {
                if new.is_none_or(|n| !n.contains_key(key)) {
                    deletes.push((table, key.clone(), None));
                }
            }
        }
        deletes.reverse();
        puts.extend(deletes);
        puts
    }
}

/// Make this member's record `key` of `table` be `record` (`None`: deleted).
fn apply(holders: Holders<'_>, table: &str, key: &str, record: Option<&str>) -> Result<(), String> {
    fn parse<T: serde::de::DeserializeOwned>(record: &str) -> Result<T, String> {
        serde_json::from_str(record).map_err(|e| format!("the record does not parse here: {e}"))
    }
    if table == ALERT_RULES {
        let alerts = holders.alerts.ok_or("this member has no alert engine")?;
        let existing = alerts.rules().into_iter().find(|r| r.name == key);
        return match record {
            Some(record) => {
                let rule: AlertRule = parse(record)?;
                if existing.as_ref() == Some(&rule) {
                    return Ok(());
                }
                if existing.is_some() {
                    let _ = alerts.remove_rule(key);
                }
                alerts.add_rule(rule).map_err(|e| e.to_string())
            }
            None => {
                if existing.is_some() {
                    let _ = alerts.remove_rule(key);
                }
                Ok(())
            }
        };
    }
    let Some(auth) = holders.auth else {
        return Err("authentication is off on this member".into());
    };
    let namespaces = holders.namespaces;
    match (table, record) {
        (TENANTS, Some(record)) => auth
            .tenants()
            .apply_record(&parse::<CatalogTenant>(record)?)
            .map_err(|e| e.to_string()),
        (TENANTS, None) => {
            if auth.remove_tenant(key).is_some() {
                namespaces.delete_tenant(key);
            }
            Ok(())
        }
        (API_KEYS, Some(record)) => {
            let entry: CatalogApiKey = parse(record)?;
            auth.keys()
                .restore(std::slice::from_ref(&entry), auth.tenants())
                .map_err(|e| e.to_string())?;
            // The key may now carry fewer rights: sessions resting on it are checked again.
            auth.rights_changed();
            Ok(())
        }
        (API_KEYS, None) => {
            auth.revoke(key);
            Ok(())
        }
        (USERS, Some(record)) => {
            let entry: CatalogUser = parse(record)?;
            auth.users()
                .restore(std::slice::from_ref(&entry), auth.tenants())
                .map_err(|e| e.to_string())?;
            auth.rights_changed();
            Ok(())
        }
        (USERS, None) => {
            let (tenant, name) = key.split_once('/').unwrap_or(("", key));
            let tenant = (!tenant.is_empty()).then_some(tenant);
            if auth.users().delete(tenant, name) {
                auth.rights_changed();
            }
            Ok(())
        }
        _ => Err(format!("unknown shared table {table:?}")),
    }
}

/// Make this member's shared tables agree with the cluster state; returns whether anything
/// changed here (the catalog needs saving) and, per record that could not be applied, why.
/// Blocking (it takes the tables' locks). A table this member does not hold (authentication
/// off) is left alone.
pub fn reconcile(node: &ClusterNode, holders: Holders<'_>) -> (bool, Vec<(String, String)>) {
    let view = node.view();
    let here = Tables::capture(holders);
    let mut changed = false;
    let mut failed = Vec::new();
    let mut deletions = Vec::new();
    for table in TABLES {
        if !here.0.contains_key(table) {
            continue;
        }
        for (key, record) in view.records.get(table).into_iter().flatten() {
            let outcome = match record {
                None => {
                    if here.get(table, key).is_some() {
                        deletions.push((table, key));
                    }
                    continue;
                }
                Some(record) if same_record(table, here.get(table, key), record) => continue,
                Some(record) => apply(holders, table, key, Some(record)),
            };
            match outcome {
                Ok(()) => changed = true,
                Err(why) => failed.push((format!("{table} {key}"), why)),
            }
        }
    }
    // Keys and users before the tenant they belong to.
    for (table, key) in deletions.into_iter().rev() {
        match apply(holders, table, key, None) {
            Ok(()) => changed = true,
            Err(why) => failed.push((format!("{table} {key}"), why)),
        }
    }
    (changed, failed)
}

/// Whether this member's record `here` already is `record` (compared as values, so the
/// encoding's field order never causes a change).
fn same_record(table: &str, here: Option<&String>, record: &str) -> bool {
    let Some(here) = here else {
        return false;
    };
    if here == record {
        return true;
    }
    fn eq<T: serde::de::DeserializeOwned + PartialEq>(a: &str, b: &str) -> bool {
        matches!((serde_json::from_str::<T>(a), serde_json::from_str::<T>(b)), (Ok(a), Ok(b)) if a == b)
    }
    match table {
        TENANTS => eq::<CatalogTenant>(here, record),
        API_KEYS => eq::<CatalogApiKey>(here, record),
        USERS => eq::<CatalogUser>(here, record),
        ALERT_RULES => eq::<AlertRule>(here, record),
        _ => false,
    }
}

/// Whether a request to `path` may change a shared table (also what the OpenAPI document
/// marks as answering `503 cluster_unavailable`).
pub fn changes_records(path: &str) -> bool {
    [
        "/v1/tenants",
        "/v1/api-keys",
        "/v1/users",
        "/v1/plugins",
        "/v1/alerts/rules",
    ]
    .iter()
    .any(|prefix| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

/// Middleware: commit what a request changed in the shared tables here; see the module docs.
pub async fn share_record_changes(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(cluster) = &state.cluster else {
        return next.run(request).await;
    };
    if request.method().is_safe() || !changes_records(request.uri().path()) {
        return next.run(request).await;
    }
    let _one = cluster.namespaces.lock().await;
    let before = RecordsSnapshot::take(&state);
    let response = next.run(request).await;
    if !response.status().is_success() {
        return response;
    }
    match commit_since(&state, before).await {
        Ok(()) => response,
        Err(e) => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "cluster_unavailable", e).into_response()
        }
    }
}

fn holders(state: &AppState) -> Holders<'_> {
    Holders {
        auth: state.auth.as_deref(),
        alerts: state.cluster.as_ref().and_then(|c| c.namespaces.alerts()),
        namespaces: &state.namespaces,
    }
}

/// This member's shared tables at one moment, to commit what changed since.
pub struct RecordsSnapshot(Tables);

impl RecordsSnapshot {
    pub fn take(state: &AppState) -> Self {
        Self(Tables::capture(holders(state)))
    }
}

/// Commit what changed here since `before` (on a cluster member; nothing to do elsewhere).
/// When no quorum confirms it, what is not committed is undone here and the error says so, for
/// the caller to answer with.
pub async fn commit_since(state: &AppState, before: RecordsSnapshot) -> Result<(), String> {
    let Some(cluster) = &state.cluster else {
        return Ok(());
    };
    let before = before.0;
    let changes = before.changes_to(&Tables::capture(holders(state)));
    for (i, (table, key, record)) in changes.iter().enumerate() {
        let new_tenant = *table == TENANTS && record.is_some() && before.get(table, key).is_none();
        let Err(e) = commit_change(state, cluster, table, key, record, new_tenant).await else {
            continue;
        };
        // Undo what is not committed yet, newest first, so this member agrees with the cluster
        // again.
        for (table, key, _) in changes[i..].iter().rev() {
            let previous = before.get(table, key).map(String::as_str);
            if let Err(why) = apply(holders(state), table, key, previous) {
                tracing::error!(%table, %key, error = %why, "an uncommitted change could not be undone");
            }
        }
        if let Some(p) = state.persistence.clone() {
            let _ = tokio::task::spawn_blocking(move || p.save_catalog()).await;
        }
        return Err(format!(
            "the change could not be committed to the cluster: {e}; it is undone on this member \
             (should it still commit once the members are back, every member applies it then)"
        ));
    }
    Ok(())
}

/// Commit one changed record, with what goes with it: a new tenant's `default` namespace, a
/// deleted tenant's namespaces.
async fn commit_change(
    state: &AppState,
    cluster: &crate::state::Cluster,
    table: &str,
    key: &str,
    record: &Option<String>,
    new_tenant: bool,
) -> Result<(), String> {
    let put = Command::PutRecord {
        table: table.to_string(),
        key: key.to_string(),
        value: record.clone(),
    };
    cluster
        .node
        .propose(put, COMMIT_PATIENCE)
        .await
        .map_err(|e| e.to_string())?;
    if new_tenant {
        // Made with the tenant here, so the cluster's too.
        let name = larder_runtime::tenant::full_name(key, larder_runtime::DEFAULT_NAMESPACE);
        if let Ok(ns) = state.namespaces.get(&name) {
            cluster
                .namespaces
                .commit_put(&name, &ns.config())
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    if table == TENANTS && record.is_none() {
        // Its namespaces went with it here; so they do on every member.
        let prefix = format!("{key}/");
        let doomed: Vec<String> = cluster
            .node
            .view()
            .namespaces
            .keys()
            .filter(|name| name.starts_with(&prefix))
            .cloned()
            .collect();
        for name in doomed {
            cluster
                .namespaces
                .commit_delete(&name)
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_access_routes_are_watched() {
        assert!(changes_records("/v1/api-keys"));
        assert!(changes_records("/v1/api-keys/0123456789ab"));
        assert!(changes_records("/v1/tenants/acme"));
        assert!(changes_records("/v1/users/acme%2Fbob"));
        assert!(changes_records("/v1/plugins"));
        assert!(changes_records("/v1/alerts/rules/hot"));
        assert!(!changes_records("/v1/alerts"));
        assert!(!changes_records("/v1/namespaces/default/keys/k"));
        assert!(!changes_records("/v1/tenantsx"));
    }

    #[test]
    fn changes_put_records_before_deleting_and_tenants_last() {
        let mut before = Tables::default();
        before
            .0
            .insert(TENANTS, [("acme".into(), "t1".into())].into());
        before
            .0
            .insert(API_KEYS, [("k1".into(), "a".into())].into());
        let mut after = Tables::default();
        after.0.insert(API_KEYS, [("k2".into(), "b".into())].into());
        let changes = before.changes_to(&after);
        assert_eq!(
            changes,
            vec![
                (API_KEYS, "k2".to_string(), Some("b".to_string())),
                (API_KEYS, "k1".to_string(), None),
                (TENANTS, "acme".to_string(), None),
            ]
        );
        assert!(after.changes_to(&after).is_empty());
    }
}

//! Namespaces configured once for the whole cluster.
//!
//! On a cluster member, creating, reconfiguring or deleting a namespace through the REST API
//! commits the change to the raft state ([`Command::PutNamespace`], [`Command::DeleteNamespace`])
//! as well as making it here, and every member applies it. The reconciler ([`run`]) makes this
//! node's namespaces agree with the raft state after every change of that state, and every few
//! seconds to retry what failed (a config naming a plugin not uploaded to this member yet):
//!
//! - a namespace in the state that this node lacks is created, one whose config differs is
//!   reconfigured (the config crosses as JSON, the REST API's own form);
//! - a namespace deleted through the cluster and not configured again since is dropped here
//!   with its keys, also when it comes back from this node's config file or catalog after a
//!   restart;
//! - a namespace the state does not name at all (this node's config file, or made before the
//!   node joined) is left alone: it stays this node's own until it is changed through the API.
//!
//! Before each pass, the plugin versions the cluster serves and this member lacks are fetched
//! (see [`crate::cluster_plugins`]), so a namespace naming one is created on the same pass.
//!
//! A REST change holds [`SharedNamespaces::lock`] from its local change to its commit, and the
//! reconciler holds it for a pass, so a pass never sees a change half made. When no quorum
//! confirms the commit in time, a create is undone here and the caller gets
//! `503 cluster_unavailable`; an update stays applied here (it is answered `503` too, saying so),
//! and retrying the same `PUT` commits it. Should the leader's entry commit later after all, the
//! reconcilers apply it then.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use larder_cluster::{ClusterNode, Command};
use larder_runtime::alert::engine::AlertEngine;
use larder_runtime::{NamespaceConfig, Namespaces};
use parking_lot::Mutex;

use crate::auth::Auth;
use crate::cluster_plugins::{ModuleFetcher, commit_plugins_of};
use crate::persistence::Persistence;

/// How long a REST change waits for its commit before answering 503.
const COMMIT_PATIENCE: Duration = Duration::from_secs(10);
/// How often a pass runs without a change, to retry what failed.
const RETRY_EVERY: Duration = Duration::from_secs(2);

/// Why a namespace change could not be committed to the cluster.
#[derive(Debug, thiserror::Error)]
#[error("the change could not be committed to the cluster: {0}")]
pub struct NotCommitted(String);

impl NotCommitted {
    pub(crate) fn new(why: String) -> Self {
        Self(why)
    }
}

/// This member's side of the cluster's namespace configuration.
pub struct SharedNamespaces {
    node: ClusterNode,
    namespaces: Arc<Namespaces>,
    persistence: Option<Arc<Persistence>>,
    lock: Arc<tokio::sync::Mutex<()>>,
    /// The last failure reported per namespace, so a retry that fails the same way is quiet.
    reported: Mutex<HashMap<String, String>>,
    /// Brings the plugin versions the cluster serves here before a pass creates namespaces.
    modules: ModuleFetcher,
    /// Tenants, API keys and users, reconciled before namespaces (a tenant's namespace needs
    /// its tenant); see [`crate::cluster_records`].
    auth: Option<Arc<Auth>>,
    /// The alert rules' engine, set once it exists (it starts after the cluster).
    alerts: OnceLock<Arc<AlertEngine>>,
}

impl SharedNamespaces {
    pub fn new(
        node: ClusterNode,
        namespaces: Arc<Namespaces>,
        persistence: Option<Arc<Persistence>>,
        auth: Option<Arc<Auth>>,
    ) -> Self {
        Self {
            modules: ModuleFetcher::new(node.clone(), Arc::clone(namespaces.plugins())),
            node,
            namespaces,
            persistence,
            auth,
            alerts: OnceLock::new(),
            lock: Arc::new(tokio::sync::Mutex::new(())),
            reported: Mutex::new(HashMap::new()),
        }
    }

    /// The alert engine whose rules are shared; set once, at start.
    pub fn set_alerts(&self, alerts: Arc<AlertEngine>) {
        let _ = self.alerts.set(alerts);
    }

    pub fn alerts(&self) -> Option<&AlertEngine> {
        self.alerts.get().map(|a| &**a)
    }

    /// Serialises namespace changes on this node with the reconciler's passes.
    pub async fn lock(&self) -> tokio::sync::OwnedMutexGuard<()> {
        Arc::clone(&self.lock).lock_owned().await
    }

    /// Commit `config` for `name` to the cluster (the caller made the change here already),
    /// after the plugin versions it names, so every member can fetch them.
    pub async fn commit_put(
        &self,
        name: &str,
        config: &NamespaceConfig,
    ) -> Result<(), NotCommitted> {
        commit_plugins_of(&self.node, self.namespaces.plugins(), config).await?;
        let config = serde_json::to_string(config).map_err(|e| NotCommitted(e.to_string()))?;
        let command = Command::PutNamespace {
            name: name.to_string(),
            config,
        };
        self.commit(command).await
    }

    /// Commit the deletion of `name` (the caller deletes it here once this succeeds).
    pub async fn commit_delete(&self, name: &str) -> Result<(), NotCommitted> {
        let command = Command::DeleteNamespace {
            name: name.to_string(),
        };
        self.commit(command).await
    }

    async fn commit(&self, command: Command) -> Result<(), NotCommitted> {
        self.node
            .propose(command, COMMIT_PATIENCE)
            .await
            .map_err(|e| NotCommitted(e.to_string()))
    }

    /// One pass: make this node's namespaces agree with the cluster state. Blocking (creating a
    /// namespace may start plugin instances; saving the catalog syncs a file).
    fn reconcile(&self, plugins_added: bool) {
        let mut changed = plugins_added;
        let holders = crate::cluster_records::Holders {
            auth: self.auth.as_deref(),
            alerts: self.alerts(),
            namespaces: &self.namespaces,
        };
        let (records_changed, failed) = crate::cluster_records::reconcile(&self.node, holders);
        changed |= records_changed;
        for (record, why) in failed {
            self.report(&record, &why);
        }
        let view = self.node.view();
        for name in &view.deleted_namespaces {
            if self.namespaces.get(name).is_ok() {
                match self.namespaces.delete(name) {
                    Ok(()) => {
                        tracing::info!(namespace = %name, "namespace deleted through the cluster");
                        changed = true;
                    }
                    Err(e) => self.report(name, &e.to_string()),
                }
            }
        }
        for (name, json) in &view.namespaces {
            let config: NamespaceConfig = match serde_json::from_str(json) {
                Ok(c) => c,
                Err(e) => {
                    self.report(
                        name,
                        &format!("its cluster config does not parse here: {e}"),
                    );
                    continue;
                }
            };
            let outcome = match self.namespaces.get(name) {
                Ok(ns) => {
                    let current = ns.config();
                    if current == config
                        || serde_json::to_string(&current).ok().as_ref() == Some(json)
                    {
                        self.reported.lock().remove(name);
                        continue;
                    }
                    self.namespaces.update(name, config).map(|_| "reconfigured")
                }
                Err(_) => self.namespaces.create(name, config).map(|_| "created"),
            };
            match outcome {
                Ok(what) => {
                    self.reported.lock().remove(name);
                    tracing::info!(namespace = %name, "namespace {what} as the cluster configures it");
                    changed = true;
                }
                Err(e) => self.report(name, &e.to_string()),
            }
        }
        if changed
            && let Some(p) = &self.persistence
            && let Err(e) = p.save_catalog()
        {
            tracing::error!(error = %e, "the catalog could not be saved after a cluster namespace change");
        }
    }

    fn report(&self, name: &str, why: &str) {
        let mut reported = self.reported.lock();
        if reported.get(name).map(String::as_str) != Some(why) {
            tracing::warn!(
                config = %name,
                error = %why,
                "this member cannot apply the cluster's config for it; it retries"
            );
            reported.insert(name.to_string(), why.to_string());
        }
    }
}

/// The reconciler: a pass after every change of the cluster state, and every few seconds.
pub async fn run(shared: Arc<SharedNamespaces>) {
    let mut changes = shared.node.subscribe();
    loop {
        {
            let _one = shared.lock().await;
            let plugins_added = shared.modules.fetch_missing().await;
            let this = Arc::clone(&shared);
            if let Err(e) = tokio::task::spawn_blocking(move || this.reconcile(plugins_added)).await
            {
                tracing::error!(error = %e, "the namespace reconciler panicked");
            }
        }
        tokio::select! {
            changed = changes.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            _ = tokio::time::sleep(RETRY_EVERY) => {}
        }
    }
}

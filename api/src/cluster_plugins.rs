//! Plugin versions served by every member.
//!
//! An upload to any member commits the version's id (the hex SHA-256 of the module), name and
//! size to the raft state ([`Command::PutPlugin`]); the bytes stay out of the log. Every other
//! member, on its next reconciler pass, sees an id it lacks, fetches the module from a member
//! that has it over the bus ([`ClusterNode::fetch_module`]), checks the bytes hash to the id,
//! and uploads them to its own plugin host (compiled and validated exactly as an upload is).
//! A namespace naming the version is then created on the same pass, after the fetch.
//!
//! A namespace committed to the cluster commits the plugin versions it names too
//! ([`commit_plugins_of`]), so a version uploaded to one member before it joined, or restored
//! from its catalog, still reaches the others once a shared namespace runs it.
//!
//! What is shared is the version itself. Which tenant owns it, and the tenant's own name for
//! it, stay on the member the tenant uploaded to (tenants are per member for now).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use larder_cluster::{ClusterNode, Command, ModuleSource, PluginMeta};
use larder_runtime::plugin::{PluginVersion, version_id};
use larder_runtime::{NamespaceConfig, PluginHost, PolicyRef};
use parking_lot::Mutex;

use crate::cluster_namespaces::NotCommitted;

/// How long one member gets to send a module.
const FETCH_TIMEOUT: Duration = Duration::from_secs(30);
/// How long an upload waits for its commit.
const COMMIT_PATIENCE: Duration = Duration::from_secs(10);

/// Answers other members' module fetches from this member's plugin host.
pub struct ModulesHere(pub Arc<PluginHost>);

impl ModuleSource for ModulesHere {
    fn module(&self, id: &str) -> Option<Arc<[u8]>> {
        // Full ids only: a fetch names the version exactly.
        let version = self.0.get(id).ok()?;
        (version.id == id).then(|| Arc::clone(&version.module))
    }
}

/// Commit `version` to the cluster unless the state has it already.
pub async fn commit_upload(
    node: &ClusterNode,
    version: &PluginVersion,
) -> Result<(), NotCommitted> {
    if node.view().plugins.contains_key(&version.id) {
        return Ok(());
    }
    let command = Command::PutPlugin {
        id: version.id.clone(),
        plugin: PluginMeta {
            name: version.name.clone(),
            description: version.description.clone(),
            size_bytes: version.size_bytes as u64,
        },
    };
    node.propose(command, COMMIT_PATIENCE)
        .await
        .map_err(|e| NotCommitted::new(e.to_string()))
}

/// Commit every plugin version `config` names (as this member resolves its references) that
/// the cluster state lacks, so the members the namespace reaches can fetch them.
pub async fn commit_plugins_of(
    node: &ClusterNode,
    plugins: &PluginHost,
    config: &NamespaceConfig,
) -> Result<(), NotCommitted> {
    let named: Vec<Arc<PluginVersion>> = config
        .hook_refs()
        .into_iter()
        .filter_map(|(_, r)| r.and_then(PolicyRef::as_plugin))
        .filter_map(|id| plugins.get(id).ok())
        .collect();
    for version in named {
        commit_upload(node, &version).await?;
    }
    Ok(())
}

/// Fetches the modules of versions the cluster serves that this member lacks.
pub struct ModuleFetcher {
    node: ClusterNode,
    plugins: Arc<PluginHost>,
    /// Versions whose fetch failed, reported once each until one succeeds.
    reported: Mutex<HashSet<String>>,
}

impl ModuleFetcher {
    pub fn new(node: ClusterNode, plugins: Arc<PluginHost>) -> Self {
        Self {
            node,
            plugins,
            reported: Mutex::new(HashSet::new()),
        }
    }

    /// One pass; returns whether a version was added here (the catalog needs saving).
    pub async fn fetch_missing(&self) -> bool {
        let view = Arc::clone(&self.node.view());
        let mut added = false;
        for (id, meta) in &view.plugins {
            if self.plugins.get(id).is_ok_and(|v| v.id == *id) {
                continue;
            }
            match self.fetch_one(&view, id, meta).await {
                Ok(()) => {
                    self.reported.lock().remove(id);
                    tracing::info!(plugin = %id, name = %meta.name, "plugin fetched from another member");
                    added = true;
                }
                Err(why) => {
                    if self.reported.lock().insert(id.clone()) {
                        tracing::warn!(
                            plugin = %id,
                            name = %meta.name,
                            error = %why,
                            "the cluster serves a plugin this member cannot fetch yet; it retries"
                        );
                    }
                }
            }
        }
        added
    }

    async fn fetch_one(
        &self,
        view: &larder_cluster::ClusterView,
        id: &str,
        meta: &PluginMeta,
    ) -> Result<(), String> {
        let mut last = String::from("no other member to fetch it from");
        for (member_id, member) in &view.members {
            if *member_id == view.me || view.failed.contains(member_id) {
                continue;
            }
            let bytes = match self.node.fetch_module(member, id, FETCH_TIMEOUT).await {
                Ok(Some(bytes)) => bytes,
                Ok(None) => {
                    last = format!("{} does not have it", member.bus);
                    continue;
                }
                Err(e) => {
                    last = e.to_string();
                    continue;
                }
            };
            // The bytes are whatever the peer sent: they must be the version the state names.
            if bytes.len() as u64 != meta.size_bytes || version_id(&bytes) != id {
                last = format!("{} sent bytes that are not this version", member.bus);
                continue;
            }
            let plugins = Arc::clone(&self.plugins);
            let (name, description) = (meta.name.clone(), meta.description.clone());
            return tokio::task::spawn_blocking(move || {
                plugins.upload(&bytes, &name, &description).map(|_| ())
            })
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("the module does not load here: {e}"));
        }
        Err(last)
    }
}

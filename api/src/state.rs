//! What every front end shares: the namespaces, the server's own metrics, the data directory.

use std::sync::Arc;

use larder_runtime::Namespaces;

use crate::metrics::ServerMetrics;
use crate::persistence::Persistence;

/// Cheap to clone; handed to every connection and handler.
#[derive(Clone)]
pub struct AppState {
    pub namespaces: Arc<Namespaces>,
    pub metrics: Arc<ServerMetrics>,
    /// The data directory; `None` when the node keeps everything in memory only.
    pub persistence: Option<Arc<Persistence>>,
    /// This node's cluster membership; `None` for a single node.
    pub cluster: Option<Cluster>,
    /// Who may use the node; `None` when no operator key is set (loopback, open).
    pub auth: Option<Arc<crate::auth::Auth>>,
    /// The TLS settings of the TLS ports; `None` without TLS.
    pub tls: Option<Arc<crate::tls::ServerTls>>,
    /// The alert rules and alerts; `None` where nothing evaluates alerts (tests that serve one
    /// protocol alone).
    pub alerts: Option<Arc<larder_runtime::alert::AlertEngine>>,
    /// Lets `SHUTDOWN` stop the node; `None` where nothing runs the node's shutdown (tests
    /// that serve one protocol alone).
    pub shutdown: Option<Arc<crate::server::ShutdownControl>>,
}

/// A cluster member's handle and how it treats a command for a slot another node owns.
#[derive(Clone)]
pub struct Cluster {
    pub node: larder_cluster::ClusterNode,
    pub mode: ClusterMode,
    /// Sends this node's changes to its slots' replicas and applies other owners' changes.
    pub replication: Arc<crate::replication::Replication>,
    /// Mutual TLS on the bus, when configured: reloaded with the ports' certificates.
    pub bus_tls: Option<crate::tls::BusTlsLive>,
    /// The namespaces configured for the whole cluster, and this node's reconciler of them.
    pub namespaces: Arc<crate::cluster_namespaces::SharedNamespaces>,
}

/// What a node does with a command whose keys live on another node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ClusterMode {
    /// Run it on the owner over the cluster bus and relay the answer: every client works.
    #[default]
    Proxy,
    /// Answer `-MOVED <slot> <owner>`, as Redis Cluster does, for cluster-aware clients.
    Redirect,
}

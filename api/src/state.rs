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
}

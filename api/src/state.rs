//! What every front end shares: the namespaces and the server's own metrics.

use std::sync::Arc;

use larder_runtime::Namespaces;

use crate::metrics::ServerMetrics;

/// Cheap to clone; handed to every connection and handler.
#[derive(Clone)]
pub struct AppState {
    pub namespaces: Arc<Namespaces>,
    pub metrics: Arc<ServerMetrics>,
}

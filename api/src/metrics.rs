//! The server's Prometheus registry: request latency per protocol and operation, connections, and
//! the runtime's per-namespace collector. Histogram handles are resolved once, at start, into
//! [`OpMetrics`]; nothing is looked up by label on the request path.

use std::sync::Arc;

use larder_runtime::Namespaces;
use larder_runtime::metrics::NamespaceCollector;
use larder_runtime::origin::OriginCollector;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry, TextEncoder,
};

/// Latency buckets in seconds, from 5 µs to 1 s: a cache answers in microseconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.000_005, 0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005,
    0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

pub struct ServerMetrics {
    pub registry: Registry,
    latency: HistogramVec,
    pub resp_connections: IntGauge,
    pub http_requests_in_flight: IntGauge,
    /// `larder_auth_refusals_total{protocol, reason}`, for alerting on credential guessing and
    /// on clients that lost their rights.
    pub auth_refusals: AuthRefusals,
}

/// The refusal counters of one protocol, resolved once.
#[derive(Clone)]
pub struct RefusalCounters {
    /// A wrong key or token.
    pub bad_credentials: IntCounter,
    /// A command or route before authenticating (or without a credential).
    pub unauthenticated: IntCounter,
    /// A command or route outside the caller's scope.
    pub no_permission: IntCounter,
    /// Over the key's rate limit.
    pub rate_limited: IntCounter,
}

#[derive(Clone)]
pub struct AuthRefusals {
    pub resp: RefusalCounters,
    pub http: RefusalCounters,
}

impl ServerMetrics {
    pub fn new(namespaces: Arc<Namespaces>) -> Self {
        let registry = Registry::new();
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "larder_request_duration_seconds",
                "Time to serve one request.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["protocol", "op"],
        )
        .expect("static metric");
        let resp_connections = IntGauge::new(
            "larder_resp_connections",
            "Open Redis-protocol connections.",
        )
        .expect("static metric");
        let http_requests_in_flight = IntGauge::new(
            "larder_http_requests_in_flight",
            "HTTP requests being served.",
        )
        .expect("static metric");
        let refusals = IntCounterVec::new(
            Opts::new(
                "larder_auth_refusals_total",
                "Requests refused by authentication: bad_credentials, unauthenticated, \
                 no_permission, rate_limited.",
            ),
            &["protocol", "reason"],
        )
        .expect("static metric");
        let counters = |protocol: &str| RefusalCounters {
            bad_credentials: refusals.with_label_values(&[protocol, "bad_credentials"]),
            unauthenticated: refusals.with_label_values(&[protocol, "unauthenticated"]),
            no_permission: refusals.with_label_values(&[protocol, "no_permission"]),
            rate_limited: refusals.with_label_values(&[protocol, "rate_limited"]),
        };
        let auth_refusals = AuthRefusals {
            resp: counters("resp"),
            http: counters("http"),
        };
        registry
            .register(Box::new(refusals.clone()))
            .expect("unique metric");
        registry
            .register(Box::new(latency.clone()))
            .expect("unique metric");
        registry
            .register(Box::new(resp_connections.clone()))
            .expect("unique metric");
        registry
            .register(Box::new(http_requests_in_flight.clone()))
            .expect("unique metric");
        registry
            .register(Box::new(OriginCollector::new(Arc::clone(&namespaces))))
            .expect("unique metric");
        registry
            .register(Box::new(
                larder_runtime::experiment::ExperimentCollector::new(Arc::clone(&namespaces))
                    .expect("static metric"),
            ))
            .expect("unique metric");
        registry
            .register(Box::new(Arc::clone(namespaces.plugins()).collector()))
            .expect("unique metric");
        registry
            .register(Box::new(NamespaceCollector::new(namespaces)))
            .expect("unique metric");
        Self {
            registry,
            latency,
            resp_connections,
            http_requests_in_flight,
            auth_refusals,
        }
    }

    /// Add a cluster member's metrics (see [`crate::cluster_metrics`]).
    pub fn register_cluster(&self, cluster: &crate::state::Cluster) {
        let collector = crate::cluster_metrics::ClusterCollector::new(cluster.clone());
        if let Err(e) = self.registry.register(Box::new(collector)) {
            tracing::warn!(error = %e, "the cluster metrics were not registered");
        }
    }

    /// The latency histogram for one protocol and operation; call once and keep the handle.
    pub fn latency(&self, protocol: &str, op: &str) -> Histogram {
        self.latency.with_label_values(&[protocol, op])
    }

    /// Everything in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

//! Per-route request metrics: latency into `larder_request_duration_seconds{protocol="http",op}`
//! and the `larder_http_requests_in_flight` gauge.
//!
//! Each route gets its own [`RouteTimer`] when the router is built, holding the histogram already
//! resolved for its operation, so serving a request does no label lookup.

use std::time::Instant;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus::{Histogram, IntGauge};

use crate::metrics::ServerMetrics;

#[derive(Clone)]
pub struct RouteTimer {
    latency: Histogram,
    in_flight: IntGauge,
}

impl RouteTimer {
    /// `op` names the operation in the metric's `op` label, e.g. `get_key`.
    pub fn new(metrics: &ServerMetrics, op: &str) -> Self {
        Self {
            latency: metrics.latency("http", op),
            in_flight: metrics.http_requests_in_flight.clone(),
        }
    }
}

/// Decrements the in-flight gauge however the request ends, even if its future is dropped.
struct InFlight<'a>(&'a IntGauge);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Middleware (`axum::middleware::from_fn_with_state`) timing one route.
pub async fn time_request(
    State(timer): State<RouteTimer>,
    request: Request,
    next: Next,
) -> Response {
    timer.in_flight.inc();
    let _in_flight = InFlight(&timer.in_flight);
    let start = Instant::now();
    let response = next.run(request).await;
    timer.latency.observe(start.elapsed().as_secs_f64());
    response
}

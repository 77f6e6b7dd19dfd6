//! Origin and prefetch counters of one namespace, and the Prometheus collector that reads them.
//!
//! Counters are plain atomics bumped on the miss path only; [`OriginCollector`] turns them into
//! labelled series at scrape time, so nothing is looked up by label while serving. The latency
//! histogram is a Prometheus histogram owned by the namespace, its `namespace` label fixed at
//! creation.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{Histogram, HistogramOpts, IntCounterVec, IntGaugeVec, Opts};

use super::OriginError;
use crate::namespace::Namespaces;

/// Seconds, from 1 ms to 10 s: origins answer in milliseconds, timeouts reach seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Error codes in the order of [`OriginStats`]'s error counters.
pub(crate) const ERROR_CODES: [&str; 5] = [
    "origin_timeout",
    "origin_unavailable",
    "origin_status",
    "origin_value_too_large",
    "origin_invalid_key",
];

fn error_index(err: &OriginError) -> usize {
    match err {
        OriginError::Timeout { .. } => 0,
        OriginError::Unavailable(_) => 1,
        OriginError::Status { .. } => 2,
        OriginError::TooLarge { .. } => 3,
        OriginError::InvalidKey(_) => 4,
    }
}

/// Live counters; they survive origin reconfiguration, like the namespace's store counters.
pub(crate) struct OriginStats {
    pub(crate) requests: AtomicU64,
    pub(crate) found: AtomicU64,
    pub(crate) not_found: AtomicU64,
    errors: [AtomicU64; ERROR_CODES.len()],
    pub(crate) joins: AtomicU64,
    pub(crate) in_flight: AtomicI64,
    pub(crate) store_refusals: AtomicU64,
    pub(crate) prefetch_queued: AtomicU64,
    pub(crate) prefetch_dropped: AtomicU64,
    pub(crate) prefetch_skipped: AtomicU64,
    pub(crate) prefetch_fetched: AtomicU64,
    pub(crate) latency: Histogram,
}

impl OriginStats {
    pub(crate) fn new(namespace: &str) -> Self {
        let latency = Histogram::with_opts(
            HistogramOpts::new(
                "larder_origin_request_duration_seconds",
                "Time for the origin to answer one read-through or prefetch request.",
            )
            .const_label("namespace", namespace)
            .buckets(LATENCY_BUCKETS.to_vec()),
        )
        .expect("static metric name and label");
        Self {
            requests: AtomicU64::new(0),
            found: AtomicU64::new(0),
            not_found: AtomicU64::new(0),
            errors: Default::default(),
            joins: AtomicU64::new(0),
            in_flight: AtomicI64::new(0),
            store_refusals: AtomicU64::new(0),
            prefetch_queued: AtomicU64::new(0),
            prefetch_dropped: AtomicU64::new(0),
            prefetch_skipped: AtomicU64::new(0),
            prefetch_fetched: AtomicU64::new(0),
            latency,
        }
    }

    pub(crate) fn count_error(&self, err: &OriginError) {
        self.errors[error_index(err)].fetch_add(1, Relaxed);
    }

    pub(crate) fn snapshot(&self) -> OriginStatsSnapshot {
        OriginStatsSnapshot {
            requests: self.requests.load(Relaxed),
            found: self.found.load(Relaxed),
            not_found: self.not_found.load(Relaxed),
            errors: std::array::from_fn(|i| (ERROR_CODES[i], self.errors[i].load(Relaxed))),
            joins: self.joins.load(Relaxed),
            in_flight: self.in_flight.load(Relaxed).max(0) as u64,
            store_refusals: self.store_refusals.load(Relaxed),
            prefetch_queued: self.prefetch_queued.load(Relaxed),
            prefetch_dropped: self.prefetch_dropped.load(Relaxed),
            prefetch_skipped: self.prefetch_skipped.load(Relaxed),
            prefetch_fetched: self.prefetch_fetched.load(Relaxed),
        }
    }
}

/// A point-in-time copy of a namespace's origin counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginStatsSnapshot {
    /// Requests sent to the origin (single-flight followers send none).
    pub requests: u64,
    /// Requests answered with a value.
    pub found: u64,
    /// Requests answered 404 or 410.
    pub not_found: u64,
    /// Failed fetches by error code.
    pub errors: [(&'static str, u64); ERROR_CODES.len()],
    /// Reads that waited for a fetch another read had already started.
    pub joins: u64,
    /// Requests at the origin right now.
    pub in_flight: u64,
    /// Fetched values the store would not keep (for example a concurrent write won).
    pub store_refusals: u64,
    /// Prefetch keys accepted into the queue.
    pub prefetch_queued: u64,
    /// Prefetch keys dropped because the queue was full (or no runtime was running).
    pub prefetch_dropped: u64,
    /// Queued prefetch keys skipped because they were resident or already being fetched.
    pub prefetch_skipped: u64,
    /// Prefetch keys fetched and stored.
    pub prefetch_fetched: u64,
}

impl OriginStatsSnapshot {
    /// Failed fetches with this error code.
    pub fn errors_of(&self, code: &str) -> u64 {
        self.errors
            .iter()
            .find(|(c, _)| *c == code)
            .map_or(0, |(_, n)| *n)
    }

    /// All failed fetches.
    pub fn total_errors(&self) -> u64 {
        self.errors.iter().map(|(_, n)| n).sum()
    }
}

type Read = fn(&OriginStatsSnapshot) -> u64;

/// Exposes every namespace's origin and prefetch counters, and its origin latency histogram.
/// Namespaces that have never had an origin are left out.
pub struct OriginCollector {
    namespaces: Arc<Namespaces>,
    counters: Vec<(IntCounterVec, Read)>,
    errors: IntCounterVec,
    prefetch: IntCounterVec,
    in_flight: IntGaugeVec,
    descs: Vec<Desc>,
}

impl OriginCollector {
    pub fn new(namespaces: Arc<Namespaces>) -> Self {
        let counter = |name: &str, help: &str, labels: &[&str]| {
            IntCounterVec::new(Opts::new(name, help), labels).expect("static metric")
        };
        let ns = &["namespace"];
        let counters: Vec<(IntCounterVec, Read)> = vec![
            (
                counter(
                    "larder_origin_requests_total",
                    "Requests sent to the origin.",
                    ns,
                ),
                |s| s.requests,
            ),
            (
                counter(
                    "larder_origin_found_total",
                    "Origin answers carrying a value.",
                    ns,
                ),
                |s| s.found,
            ),
            (
                counter(
                    "larder_origin_not_found_total",
                    "Origin answers of 404 or 410 (misses).",
                    ns,
                ),
                |s| s.not_found,
            ),
            (
                counter(
                    "larder_origin_single_flight_joins_total",
                    "Reads that joined a fetch of the same key already in flight.",
                    ns,
                ),
                |s| s.joins,
            ),
            (
                counter(
                    "larder_origin_store_refusals_total",
                    "Fetched values the store did not keep.",
                    ns,
                ),
                |s| s.store_refusals,
            ),
        ];
        let errors = counter(
            "larder_origin_errors_total",
            "Failed origin fetches by error code.",
            &["namespace", "kind"],
        );
        let prefetch = counter(
            "larder_prefetch_keys_total",
            "Prefetch keys by outcome: queued, dropped (queue full), skipped (resident or in \
             flight), fetched.",
            &["namespace", "outcome"],
        );
        let in_flight = IntGaugeVec::new(
            Opts::new(
                "larder_origin_in_flight",
                "Requests at the origin right now.",
            ),
            ns,
        )
        .expect("static metric");
        let template = OriginStats::new("");
        let descs = counters
            .iter()
            .flat_map(|(c, _)| c.desc().into_iter().cloned())
            .chain(errors.desc().into_iter().cloned())
            .chain(prefetch.desc().into_iter().cloned())
            .chain(in_flight.desc().into_iter().cloned())
            .chain(template.latency.desc().into_iter().cloned())
            .collect();
        Self {
            namespaces,
            counters,
            errors,
            prefetch,
            in_flight,
            descs,
        }
    }
}

impl Collector for OriginCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        for (c, _) in &self.counters {
            c.reset();
        }
        self.errors.reset();
        self.prefetch.reset();
        self.in_flight.reset();
        let mut latency = Vec::new();
        for ns in self.namespaces.list() {
            let origin = ns.origin();
            if !origin.ever_configured() {
                continue;
            }
            let s = origin.stats();
            let name = ns.name();
            for (c, read) in &self.counters {
                c.with_label_values(&[name]).inc_by(read(&s));
            }
            for (kind, n) in s.errors {
                self.errors.with_label_values(&[name, kind]).inc_by(n);
            }
            for (outcome, n) in [
                ("queued", s.prefetch_queued),
                ("dropped", s.prefetch_dropped),
                ("skipped", s.prefetch_skipped),
                ("fetched", s.prefetch_fetched),
            ] {
                self.prefetch.with_label_values(&[name, outcome]).inc_by(n);
            }
            self.in_flight
                .with_label_values(&[name])
                .set(s.in_flight as i64);
            // Families of the same name are merged by the registry.
            latency.extend(origin.latency_histogram().collect());
        }
        self.counters
            .iter()
            .flat_map(|(c, _)| c.collect())
            .chain(self.errors.collect())
            .chain(self.prefetch.collect())
            .chain(self.in_flight.collect())
            .chain(latency)
            .collect()
    }
}

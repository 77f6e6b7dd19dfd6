//! Prometheus metrics for namespaces, read at scrape time.
//!
//! The store keeps its counters as plain integers under the shard locks it already takes, so the
//! request path pays nothing for metrics; [`NamespaceCollector`] sums them when `/metrics` is read.

use std::sync::Arc;

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{IntCounterVec, IntGaugeVec, Opts};

use crate::namespace::Namespaces;

/// Reads one figure out of a namespace's statistics.
type StatOf = fn(&crate::StoreStats) -> u64;

/// Exposes per-namespace hits, misses, sets, evictions, expirations, keys and bytes.
pub struct NamespaceCollector {
    namespaces: Arc<Namespaces>,
    counters: Vec<(IntCounterVec, StatOf)>,
    gauges: Vec<(IntGaugeVec, StatOf)>,
    descs: Vec<Desc>,
}

impl NamespaceCollector {
    pub fn new(namespaces: Arc<Namespaces>) -> Self {
        let counter = |name: &str, help: &str| {
            IntCounterVec::new(Opts::new(name, help), &["namespace"]).expect("static metric")
        };
        let gauge = |name: &str, help: &str| {
            IntGaugeVec::new(Opts::new(name, help), &["namespace"]).expect("static metric")
        };
        let counters: Vec<(IntCounterVec, StatOf)> = vec![
            (
                counter("larder_hits_total", "Reads that found a live key."),
                |s| s.hits,
            ),
            (
                counter("larder_misses_total", "Reads that found no live key."),
                |s| s.misses,
            ),
            (counter("larder_sets_total", "Values written."), |s| s.sets),
            (
                counter(
                    "larder_evictions_total",
                    "Entries removed by the eviction policy.",
                ),
                |s| s.evictions,
            ),
            (
                counter(
                    "larder_expirations_total",
                    "Entries removed because their TTL ran out.",
                ),
                |s| s.expirations,
            ),
            (
                counter(
                    "larder_policy_shortfalls_total",
                    "Times the policy named no victim while a shard was over capacity.",
                ),
                |s| s.policy_shortfalls,
            ),
            (
                counter(
                    "larder_compressed_writes_total",
                    "Values stored compressed.",
                ),
                |s| s.compressed_writes,
            ),
            (
                counter(
                    "larder_compression_skipped_small_total",
                    "Values stored raw because shorter than compression.min_bytes.",
                ),
                |s| s.compression_skipped_small,
            ),
            (
                counter(
                    "larder_compression_skipped_no_savings_total",
                    "Values stored raw because compression saved less than compression.min_savings.",
                ),
                |s| s.compression_skipped_no_savings,
            ),
            (
                counter(
                    "larder_compression_nanoseconds_total",
                    "Time spent compressing values.",
                ),
                |s| s.compression_nanos,
            ),
        ];
        let gauges: Vec<(IntGaugeVec, StatOf)> = vec![
            (gauge("larder_keys", "Resident keys."), |s| s.keys),
            (
                gauge(
                    "larder_bytes",
                    "Bytes charged: keys, values and per-entry overhead.",
                ),
                |s| s.bytes,
            ),
            (
                gauge("larder_capacity_bytes", "Configured capacity."),
                |s| s.capacity_bytes,
            ),
            (
                gauge(
                    "larder_value_bytes_logical",
                    "Resident values' bytes as clients see them (before compression).",
                ),
                |s| s.value_bytes_plain,
            ),
            (
                gauge(
                    "larder_value_bytes_stored",
                    "Resident values' bytes as stored (after compression).",
                ),
                |s| s.value_bytes_stored,
            ),
        ];
        let descs = counters
            .iter()
            .flat_map(|(c, _)| c.desc().into_iter().cloned())
            .chain(
                gauges
                    .iter()
                    .flat_map(|(g, _)| g.desc().into_iter().cloned()),
            )
            .collect();
        Self {
            namespaces,
            counters,
            gauges,
            descs,
        }
    }
}

impl Collector for NamespaceCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        for (c, _) in &self.counters {
            c.reset();
        }
        for (g, _) in &self.gauges {
            g.reset();
        }
        for ns in self.namespaces.list() {
            let stats = ns.store().stats();
            for (c, read) in &self.counters {
                c.with_label_values(&[ns.name()]).inc_by(read(&stats));
            }
            for (g, read) in &self.gauges {
                g.with_label_values(&[ns.name()]).set(read(&stats) as i64);
            }
        }
        self.counters
            .iter()
            .flat_map(|(c, _)| c.collect())
            .chain(self.gauges.iter().flat_map(|(g, _)| g.collect()))
            .collect()
    }
}

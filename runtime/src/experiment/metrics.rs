//! Prometheus series for experiments and shadow evaluations, read at scrape time.
//!
//! Per arm (`namespace`, `arm` labels): reads, hits, evictions since the experiment started, hit
//! and byte hit ratio, mean and p99 latency. Per shadow candidate (`namespace`, `candidate`): the
//! estimated hit ratio and sampled reads. Nothing is recorded on the request path for these: the
//! collector reads the shards' counters when `/metrics` is scraped, like the namespace collector.

use std::sync::Arc;

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{GaugeVec, IntGaugeVec, Opts};

use crate::namespace::Namespaces;

pub struct ExperimentCollector {
    namespaces: Arc<Namespaces>,
    requests: IntGaugeVec,
    hits: IntGaugeVec,
    evictions: IntGaugeVec,
    hit_ratio: GaugeVec,
    byte_hit_ratio: GaugeVec,
    latency_mean: GaugeVec,
    latency_p99: GaugeVec,
    shadow_ratio: GaugeVec,
    shadow_reads: IntGaugeVec,
    descs: Vec<Desc>,
}

impl ExperimentCollector {
    pub fn new(namespaces: Arc<Namespaces>) -> Result<Self, prometheus::Error> {
        let arm = ["namespace", "arm"];
        let cand = ["namespace", "candidate"];
        let int = |n: &str, h: &str, l: &[&str]| IntGaugeVec::new(Opts::new(n, h), l);
        let float = |n: &str, h: &str, l: &[&str]| GaugeVec::new(Opts::new(n, h), l);
        let requests = int(
            "larder_experiment_requests",
            "Reads served by the arm since the experiment started.",
            &arm,
        )?;
        let hits = int(
            "larder_experiment_hits",
            "Hits of the arm since the experiment started.",
            &arm,
        )?;
        let evictions = int(
            "larder_experiment_evictions",
            "Evictions in the arm since the experiment started.",
            &arm,
        )?;
        let hit_ratio = float("larder_experiment_hit_ratio", "The arm's hit ratio.", &arm)?;
        let byte_hit_ratio = float(
            "larder_experiment_byte_hit_ratio",
            "The arm's byte hit ratio.",
            &arm,
        )?;
        let latency_mean = float(
            "larder_experiment_latency_mean_seconds",
            "Mean store operation latency in the arm.",
            &arm,
        )?;
        let latency_p99 = float(
            "larder_experiment_latency_p99_seconds",
            "99th percentile store operation latency in the arm (bucket upper bound).",
            &arm,
        )?;
        let shadow_ratio = float(
            "larder_shadow_estimated_hit_ratio",
            "A shadow candidate's estimated hit ratio.",
            &cand,
        )?;
        let shadow_reads = int(
            "larder_shadow_sampled_requests",
            "Sampled reads a shadow candidate has seen.",
            &cand,
        )?;
        let mut descs = Vec::new();
        for c in [&requests, &hits, &evictions, &shadow_reads] {
            descs.extend(c.desc().into_iter().cloned());
        }
        for g in [
            &hit_ratio,
            &byte_hit_ratio,
            &latency_mean,
            &latency_p99,
            &shadow_ratio,
        ] {
            descs.extend(g.desc().into_iter().cloned());
        }
        Ok(Self {
            namespaces,
            requests,
            hits,
            evictions,
            hit_ratio,
            byte_hit_ratio,
            latency_mean,
            latency_p99,
            shadow_ratio,
            shadow_reads,
            descs,
        })
    }
}

impl Collector for ExperimentCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        for g in [
            &self.requests,
            &self.hits,
            &self.evictions,
            &self.shadow_reads,
        ] {
            g.reset();
        }
        for g in [
            &self.hit_ratio,
            &self.byte_hit_ratio,
            &self.latency_mean,
            &self.latency_p99,
            &self.shadow_ratio,
        ] {
            g.reset();
        }
        for ns in self.namespaces.list() {
            let lab = ns.store().lab();
            if let Some(experiment) = lab.experiment() {
                for arm in experiment.report(ns.store()).arms {
                    let labels = [ns.name(), arm.name.as_str()];
                    self.requests
                        .with_label_values(&labels)
                        .set(arm.requests as i64);
                    self.hits.with_label_values(&labels).set(arm.hits as i64);
                    self.evictions
                        .with_label_values(&labels)
                        .set(arm.evictions as i64);
                    self.hit_ratio.with_label_values(&labels).set(arm.hit_ratio);
                    if let Some(b) = arm.byte_hit_ratio {
                        self.byte_hit_ratio.with_label_values(&labels).set(b);
                    }
                    if let Some(m) = arm.latency.mean_ns {
                        self.latency_mean.with_label_values(&labels).set(m / 1e9);
                    }
                    if let Some(p) = arm.latency.p99_ns {
                        self.latency_p99
                            .with_label_values(&labels)
                            .set(p as f64 / 1e9);
                    }
                }
            }
            if let Ok(report) = super::shadow_report(&self.namespaces, ns.name()) {
                for c in report.candidates {
                    let labels = [ns.name(), c.name.as_str()];
                    self.shadow_ratio
                        .with_label_values(&labels)
                        .set(c.estimated_hit_ratio);
                    self.shadow_reads
                        .with_label_values(&labels)
                        .set(c.sampled_requests as i64);
                }
            }
        }
        let mut out = Vec::new();
        for g in [
            &self.requests,
            &self.hits,
            &self.evictions,
            &self.shadow_reads,
        ] {
            out.extend(g.collect());
        }
        for g in [
            &self.hit_ratio,
            &self.byte_hit_ratio,
            &self.latency_mean,
            &self.latency_p99,
            &self.shadow_ratio,
        ] {
            out.extend(g.collect());
        }
        out
    }
}

//! Per-plugin, per-hook metrics: calls, sampled time per call, invalid answers, traps, deadline
//! misses, out-of-memory, and how many instances are on fallback or in quarantine.
//!
//! Each instance (one per shard and hook) owns a cache-line-aligned block of counters that only it
//! writes, under the lock that already serialises its calls; so counting costs a plain load and
//! store, and cores never fight over a counter's cache line. A scrape sums the live blocks plus
//! what retired instances left behind. One call in [`TIME_SAMPLE`] is timed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use parking_lot::Mutex;
use prometheus::core::{Collector, Desc};
use prometheus::proto::{self, MetricFamily, MetricType};
use serde::Serialize;

use super::hook::Hook;
use super::instance::Fault;

/// Upper bounds (nanoseconds) of the call-time histogram buckets; a last +Inf bucket follows.
pub const TIME_BUCKETS_NS: [u64; 11] = [
    250,
    500,
    1_000,
    2_500,
    5_000,
    10_000,
    25_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
];
/// One call in this many is timed (timing every call would cost as much as a small call).
pub const TIME_SAMPLE: u64 = 16;

const N_BUCKETS: usize = TIME_BUCKETS_NS.len() + 1;

/// Counters of one instance. Written by one thread at a time (its owner, under a lock).
#[derive(Default)]
#[repr(align(64))]
pub(crate) struct HookCounters {
    calls: AtomicU64,
    invalid_answers: AtomicU64,
    traps: AtomicU64,
    deadline_misses: AtomicU64,
    out_of_memory: AtomicU64,
    start_failures: AtomicU64,
    rejections: AtomicU64,
    fallback_active: AtomicU64,
    quarantined: AtomicU64,
    timed_calls: AtomicU64,
    time_ns_sum: AtomicU64,
    buckets: [AtomicU64; N_BUCKETS],
}

#[inline]
fn bump(c: &AtomicU64, n: u64) {
    // Single writer: a load and a store, no locked read-modify-write.
    c.store(c.load(Relaxed).wrapping_add(n), Relaxed);
}

impl HookCounters {
    /// Count a call; true when this call should be timed.
    #[inline]
    pub fn call(&self) -> bool {
        let n = self.calls.load(Relaxed);
        self.calls.store(n + 1, Relaxed);
        n.is_multiple_of(TIME_SAMPLE)
    }

    pub fn time(&self, nanos: u64) {
        bump(&self.timed_calls, 1);
        bump(&self.time_ns_sum, nanos);
        let i = TIME_BUCKETS_NS
            .iter()
            .position(|&b| nanos <= b)
            .unwrap_or(N_BUCKETS - 1);
        bump(&self.buckets[i], 1);
    }

    pub fn invalid(&self, n: u64) {
        bump(&self.invalid_answers, n);
    }

    pub fn rejected(&self) {
        bump(&self.rejections, 1);
    }

    pub fn fault(&self, fault: &Fault) {
        match fault {
            Fault::Trap(_) => bump(&self.traps, 1),
            Fault::Deadline => bump(&self.deadline_misses, 1),
            Fault::OutOfMemory => bump(&self.out_of_memory, 1),
            Fault::InvalidAnswer(_) => bump(&self.invalid_answers, 1),
            Fault::Start(_) => bump(&self.start_failures, 1),
        }
    }

    pub fn set_state(&self, fallback_active: bool, quarantined: bool) {
        self.fallback_active.store(fallback_active as u64, Relaxed);
        self.quarantined.store(quarantined as u64, Relaxed);
    }

    fn add_into(&self, s: &mut HookSnapshot, with_gauges: bool) {
        s.calls += self.calls.load(Relaxed);
        s.invalid_answers += self.invalid_answers.load(Relaxed);
        s.traps += self.traps.load(Relaxed);
        s.deadline_misses += self.deadline_misses.load(Relaxed);
        s.out_of_memory += self.out_of_memory.load(Relaxed);
        s.start_failures += self.start_failures.load(Relaxed);
        s.rejections += self.rejections.load(Relaxed);
        s.timed_calls += self.timed_calls.load(Relaxed);
        s.time_ns_sum += self.time_ns_sum.load(Relaxed);
        for (dst, src) in s.time_buckets.iter_mut().zip(&self.buckets) {
            *dst += src.load(Relaxed);
        }
        if with_gauges {
            s.fallback_active += self.fallback_active.load(Relaxed);
            s.quarantined += self.quarantined.load(Relaxed);
        }
    }

    /// Fold a retiring instance's totals in (many writers: atomic adds).
    fn absorb(&self, other: &HookCounters) {
        let pairs = [
            (&self.calls, &other.calls),
            (&self.invalid_answers, &other.invalid_answers),
            (&self.traps, &other.traps),
            (&self.deadline_misses, &other.deadline_misses),
            (&self.out_of_memory, &other.out_of_memory),
            (&self.start_failures, &other.start_failures),
            (&self.rejections, &other.rejections),
            (&self.timed_calls, &other.timed_calls),
            (&self.time_ns_sum, &other.time_ns_sum),
        ];
        for (dst, src) in pairs {
            dst.fetch_add(src.load(Relaxed), Relaxed);
        }
        for (dst, src) in self.buckets.iter().zip(&other.buckets) {
            dst.fetch_add(src.load(Relaxed), Relaxed);
        }
    }
}

/// Totals of one plugin version's hook, across its instances.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct HookSnapshot {
    pub calls: u64,
    /// Answers (or parts of answers) ignored for breaking the ABI: unknown victims, too many
    /// prefetch keys, out-of-range values.
    pub invalid_answers: u64,
    pub traps: u64,
    pub deadline_misses: u64,
    pub out_of_memory: u64,
    /// Instances that failed to start (instantiation or `larder_init`).
    pub start_failures: u64,
    /// Admission: keys refused.
    pub rejections: u64,
    /// Instances currently served by the built-in fallback.
    pub fallback_active: u64,
    /// Instances currently quarantined (waiting for a retry).
    pub quarantined: u64,
    pub timed_calls: u64,
    pub time_ns_sum: u64,
    /// Sampled call times per bucket of [`TIME_BUCKETS_NS`] (the last is +Inf), not cumulative.
    pub time_buckets: Vec<u64>,
}

#[derive(Default)]
struct HookRollup {
    live: Mutex<Vec<Arc<HookCounters>>>,
    retired: HookCounters,
}

/// All metrics of one plugin version.
#[derive(Default)]
pub struct PluginMetrics {
    hooks: [HookRollup; 4],
}

impl PluginMetrics {
    /// A counter block for a new instance serving `hook`.
    pub(crate) fn register(self: &Arc<Self>, hook: Hook) -> CounterHandle {
        let counters = Arc::new(HookCounters::default());
        self.hooks[hook.index()]
            .live
            .lock()
            .push(Arc::clone(&counters));
        CounterHandle {
            counters,
            owner: Arc::clone(self),
            hook,
        }
    }

    pub fn snapshot(&self, hook: Hook) -> HookSnapshot {
        let rollup = &self.hooks[hook.index()];
        let mut s = HookSnapshot {
            time_buckets: vec![0; N_BUCKETS],
            ..Default::default()
        };
        rollup.retired.add_into(&mut s, false);
        for c in rollup.live.lock().iter() {
            c.add_into(&mut s, true);
        }
        s
    }
}

/// An instance's counters; folds them into the plugin's totals when the instance goes away.
pub(crate) struct CounterHandle {
    counters: Arc<HookCounters>,
    owner: Arc<PluginMetrics>,
    hook: Hook,
}

impl std::ops::Deref for CounterHandle {
    type Target = HookCounters;
    fn deref(&self) -> &HookCounters {
        &self.counters
    }
}

impl Drop for CounterHandle {
    fn drop(&mut self) {
        let rollup = &self.owner.hooks[self.hook.index()];
        let mut live = rollup.live.lock();
        live.retain(|c| !Arc::ptr_eq(c, &self.counters));
        rollup.retired.absorb(&self.counters);
    }
}

/// Exposes every plugin version's hook metrics to Prometheus, read at scrape time.
pub struct PluginCollector {
    host: Arc<super::PluginHost>,
    descs: Vec<Desc>,
}

/// (metric name, help, how to read it from a snapshot)
type Reading = (&'static str, &'static str, fn(&HookSnapshot) -> u64);

const COUNTERS: &[Reading] = &[
    (
        "larder_plugin_calls_total",
        "Calls into a plugin hook.",
        |s| s.calls,
    ),
    (
        "larder_plugin_invalid_answers_total",
        "Plugin answers ignored for breaking the ABI (unknown victims, too many prefetch keys…).",
        |s| s.invalid_answers,
    ),
    (
        "larder_plugin_traps_total",
        "Plugin calls that trapped.",
        |s| s.traps,
    ),
    (
        "larder_plugin_deadline_misses_total",
        "Plugin calls interrupted for running past the call deadline.",
        |s| s.deadline_misses,
    ),
    (
        "larder_plugin_out_of_memory_total",
        "Plugin calls that hit the instance memory cap.",
        |s| s.out_of_memory,
    ),
    (
        "larder_plugin_start_failures_total",
        "Plugin instances that failed to start.",
        |s| s.start_failures,
    ),
    (
        "larder_plugin_admission_rejections_total",
        "Keys an admission plugin refused.",
        |s| s.rejections,
    ),
];
const GAUGES: &[Reading] = &[
    (
        "larder_plugin_fallback_active",
        "Plugin instances currently replaced by the namespace's built-in fallback.",
        |s| s.fallback_active,
    ),
    (
        "larder_plugin_quarantined",
        "Plugin instances in quarantine, waiting for a retry.",
        |s| s.quarantined,
    ),
];
const HISTOGRAM: (&str, &str) = (
    "larder_plugin_call_duration_seconds",
    "Time per plugin call (one call in 16 is timed).",
);
const LABELS: [&str; 3] = ["plugin", "name", "hook"];

impl PluginCollector {
    pub fn new(host: Arc<super::PluginHost>) -> Self {
        let labels: Vec<String> = LABELS.iter().map(|l| l.to_string()).collect();
        let desc = |name: &str, help: &str| {
            Desc::new(name.into(), help.into(), labels.clone(), Default::default())
                .expect("static metric description")
        };
        let descs = COUNTERS
            .iter()
            .chain(GAUGES)
            .map(|(n, h, _)| desc(n, h))
            .chain(std::iter::once(desc(HISTOGRAM.0, HISTOGRAM.1)))
            .collect();
        Self { host, descs }
    }
}

fn family(name: &str, help: &str, kind: MetricType) -> MetricFamily {
    let mut f = MetricFamily::default();
    f.set_name(name.into());
    f.set_help(help.into());
    f.set_field_type(kind);
    f
}

fn label_pairs(values: [&str; 3]) -> Vec<proto::LabelPair> {
    LABELS
        .iter()
        .zip(values)
        .map(|(n, v)| {
            let mut p = proto::LabelPair::default();
            p.set_name(n.to_string());
            p.set_value(v.to_string());
            p
        })
        .collect()
}

impl Collector for PluginCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let mut counters: Vec<MetricFamily> = COUNTERS
            .iter()
            .map(|(n, h, _)| family(n, h, MetricType::COUNTER))
            .collect();
        let mut gauges: Vec<MetricFamily> = GAUGES
            .iter()
            .map(|(n, h, _)| family(n, h, MetricType::GAUGE))
            .collect();
        let mut hist = family(HISTOGRAM.0, HISTOGRAM.1, MetricType::HISTOGRAM);
        for version in self.host.list() {
            for hook in version.hooks.iter() {
                let s = version.metrics.snapshot(hook);
                let labels = label_pairs([version.short_id(), &version.name, hook.as_str()]);
                for ((_, _, read), f) in COUNTERS.iter().zip(&mut counters) {
                    let mut c = proto::Counter::default();
                    c.set_value(read(&s) as f64);
                    let mut m = proto::Metric::from_label(labels.clone());
                    m.set_counter(c);
                    f.mut_metric().push(m);
                }
                for ((_, _, read), f) in GAUGES.iter().zip(&mut gauges) {
                    let mut g = proto::Gauge::default();
                    g.set_value(read(&s) as f64);
                    let mut m = proto::Metric::from_label(labels.clone());
                    m.set_gauge(g);
                    f.mut_metric().push(m);
                }
                let mut h = proto::Histogram::default();
                let mut cumulative = 0;
                let mut buckets = Vec::with_capacity(TIME_BUCKETS_NS.len());
                for (bound, count) in TIME_BUCKETS_NS.iter().zip(&s.time_buckets) {
                    cumulative += count;
                    let mut b = proto::Bucket::default();
                    b.set_upper_bound(*bound as f64 / 1e9);
                    b.set_cumulative_count(cumulative);
                    buckets.push(b);
                }
                h.set_bucket(buckets);
                h.set_sample_count(s.timed_calls);
                h.set_sample_sum(s.time_ns_sum as f64 / 1e9);
                let mut m = proto::Metric::from_label(labels);
                m.set_histogram(h);
                hist.mut_metric().push(m);
            }
        }
        counters
            .into_iter()
            .chain(gauges)
            .chain(std::iter::once(hist))
            .collect()
    }
}

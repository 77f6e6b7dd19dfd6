//! What a simulation reports, and its two renderings: an aligned table for people and JSON (the
//! types derive `Serialize`) for machines.

use serde::Serialize;

use super::capacity::{Capacity, CapacitySpec};
use super::replay::ReplayOutcome;
use super::trace::Trace;

/// A whole simulation: one trace, one or more capacities, each with every policy's result.
#[derive(Debug, Clone, Serialize)]
pub struct SimReport {
    pub trace: TraceSummary,
    pub capacities: Vec<CapacityResult>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TraceSummary {
    pub name: String,
    pub requests: u64,
    pub distinct_objects: u64,
    pub distinct_bytes: u64,
    pub requested_bytes: u64,
}

impl TraceSummary {
    pub fn of(name: &str, trace: &Trace) -> Self {
        Self {
            name: name.to_string(),
            requests: trace.len() as u64,
            distinct_objects: trace.distinct_objects(),
            distinct_bytes: trace.distinct_bytes(),
            requested_bytes: trace.requested_bytes(),
        }
    }
}

/// Results at one capacity.
#[derive(Debug, Clone, Serialize)]
pub struct CapacityResult {
    /// The capacity as given (`10%`, `5000`, `64MiB`).
    pub spec: String,
    pub capacity: Capacity,
    pub policies: Vec<PolicyResult>,
    /// Belady's MIN, when asked for.
    pub belady: Option<PolicyResult>,
}

/// One policy at one capacity.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyResult {
    pub policy: String,
    pub requests: u64,
    pub hits: u64,
    pub misses: u64,
    pub miss_ratio: f64,
    pub byte_miss_ratio: f64,
    pub evictions: u64,
    /// Misses not cached because the object exceeds the byte capacity.
    pub too_large: u64,
    /// Times the policy had no victim to offer while over capacity (0 for a correct policy).
    pub shortfalls: u64,
    /// Victims named that were not resident (0 for a correct policy).
    pub invalid_victims: u64,
    pub seconds: f64,
    pub requests_per_sec: f64,
    /// `(LRU - this) / (LRU - Belady)` in miss ratio: 0 is LRU, 1 is optimal. Present only when the
    /// run has LRU and an exact Belady bound at this capacity, and they differ.
    pub gap_closed: Option<f64>,
    /// For a plugin: faults during this replay (traps, missed deadlines, invalid answers). Any
    /// fault means part of the replay was served by the built-in fallback.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugin_faults: Option<u64>,
    /// For the Belady row: whether it is the exact optimum (object-count capacities) or the
    /// furthest-next-access heuristic (byte capacities). Absent for policies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exact: Option<bool>,
}

impl PolicyResult {
    pub fn from_outcome(policy: &str, outcome: &ReplayOutcome) -> Self {
        let c = &outcome.counts;
        let seconds = outcome.elapsed.as_secs_f64();
        Self {
            policy: policy.to_string(),
            requests: c.requests,
            hits: c.hits,
            misses: c.misses(),
            miss_ratio: c.miss_ratio(),
            byte_miss_ratio: c.byte_miss_ratio(),
            evictions: c.evictions,
            too_large: c.too_large,
            shortfalls: c.shortfalls,
            invalid_victims: c.invalid_victims,
            seconds,
            requests_per_sec: if seconds > 0.0 {
                c.requests as f64 / seconds
            } else {
                0.0
            },
            gap_closed: None,
            plugin_faults: None,
            exact: None,
        }
    }
}

impl CapacityResult {
    pub fn new(spec: CapacitySpec, capacity: Capacity) -> Self {
        Self {
            spec: spec.to_string(),
            capacity,
            policies: Vec::new(),
            belady: None,
        }
    }

    /// The result for `policy` at this capacity.
    pub fn get(&self, policy: &str) -> Option<&PolicyResult> {
        self.policies
            .iter()
            .chain(&self.belady)
            .find(|p| p.policy == policy)
    }

    /// Fill in every policy's gap closed from LRU to an exact Belady bound.
    pub fn compute_gaps(&mut self) {
        let (Some(belady), Some(lru)) = (&self.belady, self.get("lru")) else {
            return;
        };
        if belady.exact != Some(true) {
            return;
        }
        let gap = lru.miss_ratio - belady.miss_ratio;
        if gap <= f64::EPSILON {
            return;
        }
        let lru = lru.miss_ratio;
        for p in &mut self.policies {
            p.gap_closed = Some((lru - p.miss_ratio) / gap);
        }
        if let Some(b) = &mut self.belady {
            b.gap_closed = Some(1.0);
        }
    }
}

impl SimReport {
    /// An aligned plain-text table, one row per policy and capacity.
    pub fn to_table(&self) -> String {
        let t = &self.trace;
        let mut out = format!(
            "trace {}: {} requests, {} distinct objects, {} distinct bytes\n\n",
            t.name, t.requests, t.distinct_objects, t.distinct_bytes
        );
        let header = [
            "capacity",
            "policy",
            "miss ratio",
            "byte miss ratio",
            "gap closed",
            "requests/s",
        ];
        let mut rows: Vec<[String; 6]> = Vec::new();
        let mut notes = Vec::new();
        for c in &self.capacities {
            let cap = format!("{} ({})", c.spec, c.capacity);
            for p in c.policies.iter().chain(&c.belady) {
                let mut name = p.policy.clone();
                if p.exact == Some(false) {
                    name.push('*');
                    notes.push(
                        "* Belady at a byte capacity: furthest-next-access heuristic, not the optimum",
                    );
                }
                if p.shortfalls > 0
                    || p.invalid_victims > 0
                    || p.plugin_faults.is_some_and(|f| f > 0)
                {
                    notes.push(
                        "! the policy misbehaved: see shortfalls, invalid_victims, plugin_faults in --json",
                    );
                    name.push('!');
                }
                rows.push([
                    cap.clone(),
                    name,
                    format!("{:.4}", p.miss_ratio),
                    format!("{:.4}", p.byte_miss_ratio),
                    p.gap_closed
                        .map_or_else(|| "-".into(), |g| format!("{:.1}%", g * 100.0)),
                    if p.exact.is_some() {
                        "-".into()
                    } else {
                        format_rate(p.requests_per_sec)
                    },
                ]);
            }
        }
        let mut widths = header.map(str::len);
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |cells: &[&str]| {
            let mut s = String::new();
            for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
                // Text columns align left, numbers right.
                if i < 2 {
                    s.push_str(&format!("{cell:<w$}  "));
                } else {
                    s.push_str(&format!("{cell:>w$}  "));
                }
            }
            s.truncate(s.trim_end().len());
            s.push('\n');
            s
        };
        out.push_str(&line(&header));
        for row in &rows {
            out.push_str(&line(&row.each_ref().map(String::as_str)));
        }
        notes.sort_unstable();
        notes.dedup();
        for note in notes {
            out.push('\n');
            out.push_str(note);
        }
        if !out.ends_with('\n') {
            out.push('\n');
        }
        out
    }
}

/// Requests per second with an SI suffix (`12.3M`).
fn format_rate(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.1}M", r / 1e6)
    } else if r >= 1e3 {
        format!("{:.1}k", r / 1e3)
    } else {
        format!("{r:.0}")
    }
}

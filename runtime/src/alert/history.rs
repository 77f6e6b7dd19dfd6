//! The numbers a rule's window is judged over: one [`Sample`] of each namespace's counters per
//! evaluation tick, kept only as long as the longest window needs.
//!
//! A window is "covered" once there is a sample at least a window old; until then rules over it
//! are not judged, so a fresh namespace cannot page anyone on its first three reads.

use std::collections::{HashMap, VecDeque};

use crate::StoreStats;

/// One namespace's counters at one instant (milliseconds on the engine's clock).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub at_ms: u64,
    pub hits: u64,
    pub misses: u64,
    pub bytes: u64,
    pub capacity_bytes: u64,
}

impl Sample {
    pub fn from_stats(at_ms: u64, stats: &StoreStats) -> Self {
        Self {
            at_ms,
            hits: stats.hits,
            misses: stats.misses,
            bytes: stats.bytes,
            capacity_bytes: stats.capacity_bytes,
        }
    }

    fn memory_share(&self) -> f64 {
        if self.capacity_bytes == 0 {
            0.0
        } else {
            self.bytes as f64 / self.capacity_bytes as f64
        }
    }
}

/// Hit ratio measured over a window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowRatio {
    pub ratio: f64,
    pub reads: u64,
}

#[derive(Debug, Default)]
pub struct History {
    per_namespace: HashMap<String, VecDeque<Sample>>,
    keep_ms: u64,
}

impl History {
    /// Keep enough samples to cover windows up to `keep_ms`.
    pub fn set_keep_ms(&mut self, keep_ms: u64) {
        self.keep_ms = keep_ms;
    }

    /// Append a sample. Counters that went backwards mean the namespace was recreated under the
    /// same name: its old samples describe another store and are dropped.
    pub fn record(&mut self, namespace: &str, sample: Sample) {
        let samples = match self.per_namespace.get_mut(namespace) {
            Some(s) => s,
            None => self.per_namespace.entry(namespace.to_string()).or_default(),
        };
        if let Some(last) = samples.back()
            && (sample.hits < last.hits || sample.misses < last.misses || sample.at_ms < last.at_ms)
        {
            samples.clear();
        }
        samples.push_back(sample);
        // Drop samples older than the newest one that is still at least `keep_ms` old: that one
        // is the baseline of the longest window and must stay.
        let horizon = sample.at_ms.saturating_sub(self.keep_ms);
        while samples.len() > 1 && samples[1].at_ms <= horizon {
            samples.pop_front();
        }
    }

    /// Forget namespaces for which `live` answers false (deleted namespaces).
    pub fn retain(&mut self, live: impl Fn(&str) -> bool) {
        self.per_namespace.retain(|name, _| live(name));
    }

    /// The samples spanning the window that ends at the newest sample, starting with the newest
    /// sample at least `window_ms` older than `now_ms`; `None` while no sample is that old.
    fn window(&self, namespace: &str, now_ms: u64, window_ms: u64) -> Option<Vec<&Sample>> {
        let samples = self.per_namespace.get(namespace)?;
        let start = now_ms.checked_sub(window_ms)?;
        let base = samples.iter().rposition(|s| s.at_ms <= start)?;
        Some(samples.iter().skip(base).collect())
    }

    /// Hits over reads between the window's first and last sample.
    pub fn hit_ratio(&self, namespace: &str, now_ms: u64, window_ms: u64) -> Option<WindowRatio> {
        let w = self.window(namespace, now_ms, window_ms)?;
        let (first, last) = (w.first()?, w.last()?);
        let hits = last.hits - first.hits;
        let reads = hits + (last.misses - first.misses);
        let ratio = if reads == 0 {
            0.0
        } else {
            hits as f64 / reads as f64
        };
        Some(WindowRatio { ratio, reads })
    }

    /// The lowest share of capacity in use across the window: above a threshold means "above it
    /// the whole time".
    pub fn min_memory_share(&self, namespace: &str, now_ms: u64, window_ms: u64) -> Option<f64> {
        let w = self.window(namespace, now_ms, window_ms)?;
        w.iter().map(|s| s.memory_share()).reduce(f64::min)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(at_ms: u64, hits: u64, misses: u64, bytes: u64) -> Sample {
        Sample {
            at_ms,
            hits,
            misses,
            bytes,
            capacity_bytes: 100,
        }
    }

    #[test]
    fn a_window_is_not_judged_until_covered() {
        let mut h = History::default();
        h.set_keep_ms(1000);
        h.record("a", s(500, 0, 0, 0));
        h.record("a", s(1000, 1, 9, 0));
        assert_eq!(h.hit_ratio("a", 1000, 1000), None);
        h.record("a", s(1500, 2, 18, 0));
        let r = h.hit_ratio("a", 1500, 1000).unwrap();
        assert_eq!(r.reads, 20);
        assert!((r.ratio - 0.1).abs() < 1e-9);
    }

    #[test]
    fn only_the_window_counts() {
        let mut h = History::default();
        h.set_keep_ms(1000);
        for (i, (hits, misses)) in [(0, 0), (0, 100), (0, 200), (50, 200), (100, 200)]
            .iter()
            .enumerate()
        {
            h.record("a", s(i as u64 * 500, *hits, *misses, 0));
        }
        // The last 1000 ms saw 100 hits and no misses, whatever came before.
        assert_eq!(
            h.hit_ratio("a", 2000, 1000).unwrap(),
            WindowRatio {
                ratio: 1.0,
                reads: 100
            }
        );
    }

    #[test]
    fn counters_going_backwards_start_over() {
        let mut h = History::default();
        h.set_keep_ms(1000);
        h.record("a", s(0, 50, 50, 0));
        h.record("a", s(1000, 0, 10, 0));
        assert_eq!(h.hit_ratio("a", 1000, 1000), None);
    }

    #[test]
    fn memory_share_is_the_minimum_over_the_window() {
        let mut h = History::default();
        h.set_keep_ms(1000);
        h.record("a", s(0, 0, 0, 95));
        h.record("a", s(500, 0, 0, 80));
        h.record("a", s(1000, 0, 0, 99));
        assert_eq!(h.min_memory_share("a", 1000, 1000), Some(0.8));
        h.record("a", s(1500, 0, 0, 97));
        assert_eq!(h.min_memory_share("a", 1500, 1000), Some(0.8));
        h.record("a", s(2000, 0, 0, 96));
        assert_eq!(h.min_memory_share("a", 2000, 1000), Some(0.96));
    }
}

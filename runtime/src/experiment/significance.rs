//! Is one arm's hit ratio really higher than another's? A two-proportion z-interval and the plain
//! verdict built from it.
//!
//! Each read is treated as an independent Bernoulli trial (hit or miss). For arms with `h₁` hits
//! in `n₁` reads and `h₂` in `n₂`, the difference `d = p₁ − p₂` has standard error
//! `√(p₁(1−p₁)/n₁ + p₂(1−p₂)/n₂)`, and the 95 % interval is `d ± 1.96·SE`. Reads of one key are
//! correlated in reality, so the interval is somewhat optimistic; the minimum sample below keeps
//! the verdict from firing on a handful of requests.

use serde::Serialize;
use utoipa::ToSchema;

/// z for a two-sided 95 % interval.
pub const Z_95: f64 = 1.959_963_985;
/// No verdict is given before each compared arm has seen this many reads.
pub const MIN_READS_PER_ARM: u64 = 1_000;
/// When reaching significance would take more than this many times the reads seen so far, the arms
/// are called equal for practical purposes.
const HOPELESS_FACTOR: f64 = 1_000.0;

/// Hits out of reads, for one arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proportion {
    pub hits: u64,
    pub reads: u64,
}

impl Proportion {
    pub fn ratio(self) -> f64 {
        if self.reads == 0 {
            0.0
        } else {
            self.hits as f64 / self.reads as f64
        }
    }
    fn variance_term(self) -> f64 {
        let p = self.ratio();
        if self.reads == 0 {
            0.0
        } else {
            p * (1.0 - p) / self.reads as f64
        }
    }
}

/// The leading arm against the runner-up.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Comparison {
    /// The arm with the higher hit ratio so far.
    pub leader: String,
    pub runner_up: String,
    /// Leader's hit ratio minus the runner-up's.
    pub difference: f64,
    /// 95 % confidence interval of the difference.
    pub ci_low: f64,
    pub ci_high: f64,
    pub confidence: f64,
}

/// What the numbers say, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Winner(String),
    NoDifferenceYet,
    NeedsMore(u64),
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Winner(arm) => write!(f, "winner: {arm}"),
            Self::NoDifferenceYet => f.write_str("no difference yet"),
            Self::NeedsMore(n) => write!(f, "needs ~{n} more requests"),
        }
    }
}

/// Compare the best two of `arms` (name, hits/reads); `None` with fewer than two arms.
pub fn compare(arms: &[(&str, Proportion)]) -> Option<(Comparison, Verdict)> {
    let mut ranked: Vec<&(&str, Proportion)> = arms.iter().collect();
    ranked.sort_by(|a, b| b.1.ratio().total_cmp(&a.1.ratio()));
    let (leader, a) = **ranked.first()?;
    let (runner_up, b) = **ranked.get(1)?;
    let difference = a.ratio() - b.ratio();
    let se = (a.variance_term() + b.variance_term()).sqrt();
    let comparison = Comparison {
        leader: leader.to_string(),
        runner_up: runner_up.to_string(),
        difference,
        ci_low: difference - Z_95 * se,
        ci_high: difference + Z_95 * se,
        confidence: 0.95,
    };
    let verdict = verdict(leader, a, b, difference, se);
    Some((comparison, verdict))
}

fn verdict(leader: &str, a: Proportion, b: Proportion, difference: f64, se: f64) -> Verdict {
    let seen = a.reads + b.reads;
    let fewest = a.reads.min(b.reads);
    if difference <= 0.0 {
        return if fewest < MIN_READS_PER_ARM {
            Verdict::NeedsMore(2 * (MIN_READS_PER_ARM - fewest))
        } else {
            Verdict::NoDifferenceYet
        };
    }
    if difference - Z_95 * se > 0.0 && fewest >= MIN_READS_PER_ARM {
        return Verdict::Winner(leader.to_string());
    }
    // The interval shrinks as 1/√n: with the reads scaled by k (same split between the arms), the
    // half-width is Z·SE/√k, which drops below the observed difference once k > (Z·SE/d)².
    let scale = (Z_95 * se / difference).powi(2);
    if !scale.is_finite() || scale > HOPELESS_FACTOR {
        return Verdict::NoDifferenceYet;
    }
    let for_significance = (seen as f64 * scale).ceil() as u64;
    let for_minimum = if fewest < MIN_READS_PER_ARM {
        seen + 2 * (MIN_READS_PER_ARM - fewest)
    } else {
        0
    };
    let needed = for_significance.max(for_minimum);
    Verdict::NeedsMore(needed.saturating_sub(seen).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(hits: u64, reads: u64) -> Proportion {
        Proportion { hits, reads }
    }

    #[test]
    fn interval_matches_the_textbook_formula() {
        // 0.6 vs 0.5 at 1000 reads each: SE = sqrt(.24/1000 + .25/1000) = 0.022136.
        let (c, v) = compare(&[("a", p(500, 1000)), ("b", p(600, 1000))]).unwrap();
        assert_eq!((c.leader.as_str(), c.runner_up.as_str()), ("b", "a"));
        assert!((c.difference - 0.1).abs() < 1e-12);
        assert!(
            (c.ci_low - (0.1 - 1.959964 * 0.022136)).abs() < 1e-5,
            "{c:?}"
        );
        assert_eq!(v, Verdict::Winner("b".into()));
    }

    #[test]
    fn small_difference_asks_for_more_requests_in_proportion() {
        // 0.51 vs 0.50 at 2000 reads each: SE ≈ 0.0158, needs (1.96·0.0158/0.01)² ≈ 9.6× the reads.
        let (_, v) = compare(&[("a", p(1000, 2000)), ("b", p(1020, 2000))]).unwrap();
        match v {
            Verdict::NeedsMore(n) => assert!((30_000..36_000).contains(&n), "{n}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(v.to_string().split(' ').next(), Some("needs"));
    }

    #[test]
    fn equal_arms_show_no_difference() {
        let (_, v) = compare(&[("a", p(5000, 10_000)), ("b", p(5000, 10_000))]).unwrap();
        assert_eq!(v, Verdict::NoDifferenceYet);
        let (_, v) = compare(&[("a", p(50_000, 100_000)), ("b", p(50_001, 100_000))]).unwrap();
        assert_eq!(v, Verdict::NoDifferenceYet);
    }

    #[test]
    fn too_few_reads_give_no_winner() {
        let (_, v) = compare(&[("a", p(1, 10)), ("b", p(9, 10))]).unwrap();
        assert!(matches!(v, Verdict::NeedsMore(_)), "{v:?}");
        assert!(compare(&[("a", p(1, 10))]).is_none());
    }
}

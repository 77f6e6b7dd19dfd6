//! Failed authentications, counted per client address, so guessing credentials is slow.
//!
//! Each address has a budget of failures ([`FailureBudget`]: by default [`BURST`], refilling at
//! [`PER_SECOND`]; `auth_failure_burst` and `auth_failure_refill_per_sec` change it). Only
//! failures spend it: a client that authenticates correctly is never slowed, however many
//! connections it opens at once (a pool of a hundred connections all sending `AUTH` at start
//! is normal). Once an address has spent its budget, its attempts are refused *before* the
//! credential is checked — so a guess made then cannot succeed, and an expensive check (an
//! argon2id password) costs the node nothing — until the budget refills.
//!
//! IPv6 addresses count per /64, the block one host usually holds; IPv4 per address. The
//! table forgets addresses whose budget is whole again, and holds at most [`MAX_TRACKED`].

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Failures an address may make in a burst, by default.
pub const BURST: f64 = 20.0;
/// Failures per second the budget refills by, by default.
pub const PER_SECOND: f64 = 5.0;

/// How many failures an address may make at once, and how fast it may make more.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct FailureBudget {
    /// Failures in a burst; 0 turns the throttle off (every attempt is checked).
    pub burst: u32,
    /// Failures per second the budget refills by (more than 0).
    pub per_second: f64,
}

impl Default for FailureBudget {
    fn default() -> Self {
        Self {
            burst: BURST as u32,
            per_second: PER_SECOND,
        }
    }
}
/// Addresses tracked at most; past it, the ones whose budget is whole are forgotten first.
const MAX_TRACKED: usize = 65_536;

#[derive(Clone, Copy)]
struct Budget {
    left: f64,
    at: Instant,
}

impl Budget {
    fn refilled(self, now: Instant, rule: FailureBudget) -> f64 {
        (self.left + now.duration_since(self.at).as_secs_f64() * rule.per_second)
            .min(rule.burst as f64)
    }
}

/// The failure budgets of the addresses that failed lately.
#[derive(Default)]
pub struct FailedAuths {
    rule: FailureBudget,
    by_source: Mutex<HashMap<IpAddr, Budget>>,
    /// Whether any address is tracked: [`FailedAuths::blocked`] runs for every REST request
    /// with a bearer token, and while nobody has failed it costs one load, not a lock.
    any: AtomicBool,
}

/// The address a budget is kept under: IPv6 by its /64 (IPv4-mapped ones as IPv4).
fn source(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
    }
}

impl FailedAuths {
    pub fn new(rule: FailureBudget) -> Self {
        Self {
            rule,
            ..Self::default()
        }
    }

    /// `Some(wait)` when `ip` has spent its budget: refuse its attempt unchecked, and say it
    /// may try again after `wait`.
    pub fn blocked(&self, ip: IpAddr) -> Option<Duration> {
        if !self.any.load(Ordering::Relaxed) {
            return None;
        }
        let now = Instant::now();
        let mut table = self.by_source.lock();
        let key = source(ip);
        let Some(budget) = table.get(&key).copied() else {
            self.any.store(!table.is_empty(), Ordering::Relaxed);
            return None;
        };
        let left = budget.refilled(now, self.rule);
        if left >= self.rule.burst as f64 {
            // Whole again: forget it, so a quiet node goes back to the lock-free answer.
            table.remove(&key);
            self.any.store(!table.is_empty(), Ordering::Relaxed);
            return None;
        }
        (left < 1.0).then(|| Duration::from_secs_f64((1.0 - left) / self.rule.per_second))
    }

    /// Give back one failure charged in advance ([`FailedAuths::failed`] before a slow check,
    /// so attempts in flight at once cannot all pass [`FailedAuths::blocked`]) once the
    /// attempt succeeded.
    pub fn refund(&self, ip: IpAddr) {
        let now = Instant::now();
        let mut table = self.by_source.lock();
        let key = source(ip);
        if let Some(budget) = table.get_mut(&key) {
            let burst = self.rule.burst as f64;
            budget.left = (budget.refilled(now, self.rule) + 1.0).min(burst);
            budget.at = now;
            if budget.left >= burst {
                table.remove(&key);
            }
        }
        self.any.store(!table.is_empty(), Ordering::Relaxed);
    }

    /// Count one failed attempt from `ip`.
    pub fn failed(&self, ip: IpAddr) {
        if self.rule.burst == 0 {
            return;
        }
        let now = Instant::now();
        let rule = self.rule;
        let burst = rule.burst as f64;
        let mut table = self.by_source.lock();
        if table.len() >= MAX_TRACKED {
            table.retain(|_, b| b.refilled(now, rule) < burst);
            if table.len() >= MAX_TRACKED {
                // A flood from more addresses than the table holds: start over rather than
                // grow without bound.
                table.clear();
            }
        }
        let budget = table.entry(source(ip)).or_insert(Budget {
            left: burst,
            at: now,
        });
        budget.left = (budget.refilled(now, rule) - 1.0).max(0.0);
        budget.at = now;
        self.any.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_blocked_after_its_burst_of_failures_and_others_are_not() {
        let failures = FailedAuths::default();
        let guesser: IpAddr = "10.0.0.7".parse().unwrap();
        let other: IpAddr = "10.0.0.8".parse().unwrap();
        for _ in 0..BURST as usize {
            assert!(failures.blocked(guesser).is_none());
            failures.failed(guesser);
        }
        let wait = failures.blocked(guesser).expect("budget spent");
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs_f64(1.0 / PER_SECOND));
        assert!(failures.blocked(other).is_none());
    }

    #[test]
    fn the_budget_is_configurable_and_zero_turns_it_off() {
        let ip: IpAddr = "10.0.0.9".parse().unwrap();
        let small = FailedAuths::new(FailureBudget {
            burst: 3,
            per_second: 0.5,
        });
        for _ in 0..3 {
            assert!(small.blocked(ip).is_none());
            small.failed(ip);
        }
        let wait = small
            .blocked(ip)
            .expect("three failures spend a budget of three");
        assert!(
            wait > Duration::from_secs(1) && wait <= Duration::from_secs(2),
            "{wait:?}"
        );
        let off = FailedAuths::new(FailureBudget {
            burst: 0,
            per_second: 1.0,
        });
        for _ in 0..100 {
            off.failed(ip);
        }
        assert!(off.blocked(ip).is_none());
    }

    #[test]
    fn ipv6_counts_per_64_block() {
        let failures = FailedAuths::default();
        for i in 0..BURST as u16 {
            let ip: IpAddr = format!("2001:db8::{i:x}").parse().unwrap();
            failures.failed(ip);
        }
        assert!(
            failures
                .blocked("2001:db8::ffff".parse().unwrap())
                .is_some()
        );
        assert!(
            failures
                .blocked("2001:db8:0:1::1".parse().unwrap())
                .is_none()
        );
    }
}

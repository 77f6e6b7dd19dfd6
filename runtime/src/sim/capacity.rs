//! Cache capacities as the user writes them (`1%`, `5000`, `64MiB`) and as a replay uses them.
//!
//! A percentage is a share of the trace's distinct objects, rounded down (as libCacheSim does), so
//! `10%` of a trace with 5684 objects is 568 objects. A plain number is an object count. A number
//! with a size suffix (`B`, `KiB`, `MiB`, `GiB`, `TiB`, or the decimal `KB`, `MB`, `GB`, `TB`) is a
//! byte capacity.

use serde::Serialize;

use super::SimError;
use super::trace::Trace;

/// A capacity before it is resolved against a trace.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CapacitySpec {
    /// Share of the trace's distinct objects, in percent.
    Percent(f64),
    Objects(u64),
    Bytes(u64),
}

/// What a replay charges against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "unit", content = "value", rename_all = "lowercase")]
pub enum Capacity {
    /// Every object is charged 1.
    Objects(u64),
    /// Every object is charged its size.
    Bytes(u64),
}

impl Capacity {
    /// The number a policy's `set_capacity` receives.
    pub fn amount(self) -> u64 {
        match self {
            Self::Objects(n) | Self::Bytes(n) => n,
        }
    }
    pub fn is_bytes(self) -> bool {
        matches!(self, Self::Bytes(_))
    }
}

impl std::fmt::Display for Capacity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Self::Objects(n) => write!(f, "{n} objects"),
            Self::Bytes(n) => write!(f, "{}", format_bytes(n)),
        }
    }
}

impl CapacitySpec {
    /// Parse one capacity (`10%`, `5000`, `64MiB`).
    pub fn parse(spec: &str) -> Result<Self, SimError> {
        let bad = |message: &str| SimError::BadCapacity {
            spec: spec.to_string(),
            message: message.into(),
        };
        let s = spec.trim();
        if let Some(p) = s.strip_suffix('%') {
            let p: f64 = p
                .trim()
                .parse()
                .map_err(|_| bad("expected a number before %"))?;
            if !(p > 0.0 && p <= 100.0) {
                return Err(bad("a percentage must be above 0 and at most 100"));
            }
            return Ok(Self::Percent(p));
        }
        let digits_end = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len());
        let (number, unit) = s.split_at(digits_end);
        let unit = unit.trim();
        if unit.is_empty() {
            let n: u64 = number.parse().map_err(|_| {
                bad("expected an object count, a percentage or a size such as 64MiB")
            })?;
            if n == 0 {
                return Err(bad("capacity must be at least 1"));
            }
            return Ok(Self::Objects(n));
        }
        let multiplier: u64 = match unit.to_ascii_lowercase().as_str() {
            "b" => 1,
            "kib" | "k" => 1 << 10,
            "mib" | "m" => 1 << 20,
            "gib" | "g" => 1 << 30,
            "tib" | "t" => 1 << 40,
            "kb" => 1_000,
            "mb" => 1_000_000,
            "gb" => 1_000_000_000,
            "tb" => 1_000_000_000_000,
            _ => {
                return Err(bad(
                    "unknown size unit; use B, KiB, MiB, GiB, TiB (or KB, MB, GB, TB)",
                ));
            }
        };
        let number: f64 = number
            .parse()
            .map_err(|_| bad("expected a number before the unit"))?;
        let bytes = number * multiplier as f64;
        if !(bytes >= 1.0 && bytes < u64::MAX as f64) {
            return Err(bad("byte capacity out of range"));
        }
        Ok(Self::Bytes(bytes as u64))
    }

    /// Parse a comma-separated list (`1%,10%`).
    pub fn parse_list(list: &str) -> Result<Vec<Self>, SimError> {
        let specs: Vec<Self> = list
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(Self::parse)
            .collect::<Result<_, _>>()?;
        if specs.is_empty() {
            return Err(SimError::BadCapacity {
                spec: list.to_string(),
                message: "no capacity given".into(),
            });
        }
        Ok(specs)
    }

    /// The concrete capacity for `trace`.
    pub fn resolve(self, trace: &Trace) -> Capacity {
        match self {
            Self::Percent(p) => {
                let n = (trace.distinct_objects() as f64 * p / 100.0).floor() as u64;
                Capacity::Objects(n.max(1))
            }
            Self::Objects(n) => Capacity::Objects(n),
            Self::Bytes(n) => Capacity::Bytes(n),
        }
    }
}

impl std::fmt::Display for CapacitySpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Self::Percent(p) => write!(f, "{p}%"),
            Self::Objects(n) => write!(f, "{n}"),
            Self::Bytes(n) => f.write_str(&format_bytes(n)),
        }
    }
}

/// `n` bytes in the largest binary unit that keeps it readable (`64MiB`, `1.5GiB`, `100B`).
pub fn format_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if value.fract() == 0.0 {
        format!("{value}{}", UNITS[unit])
    } else {
        format!("{value:.2}{}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        assert_eq!(
            CapacitySpec::parse("10%").ok(),
            Some(CapacitySpec::Percent(10.0))
        );
        assert_eq!(
            CapacitySpec::parse("0.5%").ok(),
            Some(CapacitySpec::Percent(0.5))
        );
        assert_eq!(
            CapacitySpec::parse("5000").ok(),
            Some(CapacitySpec::Objects(5000))
        );
        assert_eq!(
            CapacitySpec::parse("64MiB").ok(),
            Some(CapacitySpec::Bytes(64 << 20))
        );
        assert_eq!(
            CapacitySpec::parse("1.5 KiB").ok(),
            Some(CapacitySpec::Bytes(1536))
        );
        assert_eq!(
            CapacitySpec::parse("2GB").ok(),
            Some(CapacitySpec::Bytes(2_000_000_000))
        );
    }

    #[test]
    fn rejects_nonsense_with_a_reason() {
        for bad in ["", "0", "-3", "150%", "0%", "abc", "12 parsecs", "1.5", "%"] {
            assert!(
                CapacitySpec::parse(bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
    }

    #[test]
    fn percent_is_a_share_of_distinct_objects_rounded_down() {
        let trace = Trace::from_keys((0..5684u64).map(|id| (id, 1)));
        assert_eq!(
            CapacitySpec::Percent(10.0).resolve(&trace),
            Capacity::Objects(568)
        );
        assert_eq!(
            CapacitySpec::Percent(0.001).resolve(&trace),
            Capacity::Objects(1)
        );
    }

    #[test]
    fn list_splits_on_commas() {
        let l = CapacitySpec::parse_list("1%,10%,1MiB").ok();
        assert_eq!(l.map(|l| l.len()), Some(3));
    }
}

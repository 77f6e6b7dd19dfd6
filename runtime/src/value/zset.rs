//! Sorted sets: distinct members, each with a score, ordered by (score, member bytes).
//!
//! Encoding: `count`, then each element as `score` (f64, little-endian) and the member as a
//! length-prefixed byte string, in order. Scores are never NaN (commands refuse one), so the
//! order is total.

use std::cmp::Ordering;
use std::ops::Range;

use super::codec::{Reader, put_bytes, put_varint};
use crate::error::StoreError;

/// A decoded sorted set, for changing it or reading a range.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SortedSet {
    /// Sorted by (score, member).
    items: Vec<(f64, Vec<u8>)>,
}

/// One end of a score range (`ZRANGEBYSCORE`'s `1`, `(1`, `-inf`, `+inf`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoreBound {
    pub score: f64,
    pub exclusive: bool,
}

/// One end of a lexicographic range (`ZRANGEBYLEX`'s `[a`, `(a`, `-`, `+`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LexBound {
    /// `-`: before every member.
    Min,
    /// `+`: after every member.
    Max,
    Inclusive(Vec<u8>),
    Exclusive(Vec<u8>),
}

fn order(a: (f64, &[u8]), b: (f64, &[u8])) -> Ordering {
    a.0.total_cmp(&b.0).then_with(|| a.1.cmp(b.1))
}

impl SortedSet {
    pub fn decode(bytes: &[u8]) -> Result<Self, StoreError> {
        let mut r = Reader::new(bytes);
        let n = r.count()?;
        let mut items: Vec<(f64, Vec<u8>)> = Vec::with_capacity(n);
        for _ in 0..n {
            let score = r.f64()?;
            let member = r.bytes()?;
            if score.is_nan() {
                return Err(StoreError::CorruptValue);
            }
            if let Some((s, m)) = items.last()
                && order((*s, m), (score, member)) != Ordering::Less
            {
                return Err(StoreError::CorruptValue);
            }
            items.push((score, member.to_vec()));
        }
        r.finish()?;
        let set = Self { items };
        // Members are distinct: sorted by score first, so duplicates need a separate check.
        let mut seen: Vec<&[u8]> = set.items.iter().map(|(_, m)| m.as_slice()).collect();
        seen.sort_unstable();
        if seen.windows(2).any(|w| w[0] == w[1]) {
            return Err(StoreError::CorruptValue);
        }
        Ok(set)
    }

    /// The sorted set in `bytes`, or an empty one for an absent key.
    pub fn decode_or_empty(bytes: Option<&[u8]>) -> Result<Self, StoreError> {
        bytes.map_or_else(|| Ok(Self::default()), Self::decode)
    }

    pub fn encode(&self) -> Vec<u8> {
        let size: usize = self.items.iter().map(|(_, m)| m.len() + 10).sum();
        let mut out = Vec::with_capacity(size + 5);
        put_varint(&mut out, self.items.len() as u64);
        for (score, member) in &self.items {
            out.extend_from_slice(&score.to_le_bytes());
            put_bytes(&mut out, member);
        }
        out
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Elements in order, as `(score, member)`.
    pub fn items(&self) -> &[(f64, Vec<u8>)] {
        &self.items
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        self.items
            .iter()
            .find(|(_, m)| m == member)
            .map(|&(s, _)| s)
    }

    /// 0-based position of `member` in ascending order.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        let score = self.score(member)?;
        Some(self.position(score, member))
    }

    fn position(&self, score: f64, member: &[u8]) -> usize {
        self.items
            .partition_point(|(s, m)| order((*s, m), (score, member)) == Ordering::Less)
    }

    /// Set `member`'s score (`score` must not be NaN); returns the previous score.
    pub fn insert(&mut self, member: &[u8], score: f64) -> Option<f64> {
        debug_assert!(!score.is_nan());
        // -0 is stored as 0: equal scores order by member, as Redis orders them.
        let score = if score == 0.0 { 0.0 } else { score };
        let old = self.score(member);
        if let Some(old) = old {
            if old == score {
                return Some(old);
            }
            let at = self.position(old, member);
            self.items.remove(at);
        }
        let at = self.position(score, member);
        self.items.insert(at, (score, member.to_vec()));
        old
    }

    /// Remove `member`; true if it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self.score(member) {
            Some(score) => {
                let at = self.position(score, member);
                self.items.remove(at);
                true
            }
            None => false,
        }
    }

    /// Remove the elements at positions `range` (ascending order), returning them.
    pub fn drain(&mut self, range: Range<usize>) -> Vec<(f64, Vec<u8>)> {
        self.items.drain(range).collect()
    }

    /// Positions of the elements whose score lies within `min..max`.
    pub fn score_range(&self, min: ScoreBound, max: ScoreBound) -> Range<usize> {
        let start = self.items.partition_point(|&(s, _)| {
            if min.exclusive {
                s <= min.score
            } else {
                s < min.score
            }
        });
        let end = self.items.partition_point(|&(s, _)| {
            if max.exclusive {
                s < max.score
            } else {
                s <= max.score
            }
        });
        start..end.max(start)
    }

    /// Positions of the elements whose member lies within `min..max` (meaningful, as in Redis,
    /// when every score is equal: the members are then in byte order).
    pub fn lex_range(&self, min: &LexBound, max: &LexBound) -> Range<usize> {
        let below_min = |m: &[u8]| match min {
            LexBound::Min => false,
            LexBound::Max => true,
            LexBound::Inclusive(b) => m < b.as_slice(),
            LexBound::Exclusive(b) => m <= b.as_slice(),
        };
        let within_max = |m: &[u8]| match max {
            LexBound::Min => false,
            LexBound::Max => true,
            LexBound::Inclusive(b) => m <= b.as_slice(),
            LexBound::Exclusive(b) => m < b.as_slice(),
        };
        let start = self.items.partition_point(|(_, m)| below_min(m));
        let end = self.items.partition_point(|(_, m)| within_max(m));
        start..end.max(start)
    }
}

/// The number of elements of an encoded sorted set.
pub fn len(bytes: &[u8]) -> usize {
    Reader::new(bytes).count().unwrap_or(0)
}

/// The elements of an encoded sorted set in order, without copying.
pub fn items(bytes: &[u8]) -> impl Iterator<Item = (f64, &[u8])> {
    let mut r = Reader::new(bytes);
    let n = r.count().unwrap_or(0);
    (0..n).map_while(move |_| Some((r.f64().ok()?, r.bytes().ok()?)))
}

/// `member`'s score in an encoded sorted set.
pub fn score(bytes: &[u8], member: &[u8]) -> Option<f64> {
    items(bytes).find(|&(_, m)| m == member).map(|(s, _)| s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incl(score: f64) -> ScoreBound {
        ScoreBound {
            score,
            exclusive: false,
        }
    }

    #[test]
    fn keeps_score_then_member_order_and_round_trips() {
        let mut z = SortedSet::default();
        assert_eq!(z.insert(b"b", 2.0), None);
        assert_eq!(z.insert(b"a", 2.0), None);
        assert_eq!(z.insert(b"c", 1.0), None);
        assert_eq!(z.insert(b"c", 3.0), Some(1.0));
        let order: Vec<&[u8]> = z.items().iter().map(|(_, m)| m.as_slice()).collect();
        assert_eq!(order, [&b"a"[..], b"b", b"c"]);
        assert_eq!(z.rank(b"c"), Some(2));
        let bytes = z.encode();
        assert_eq!(SortedSet::decode(&bytes).unwrap(), z);
        assert_eq!(score(&bytes, b"b"), Some(2.0));
        assert_eq!(len(&bytes), 3);
        assert_eq!(z.score_range(incl(2.0), incl(2.0)), 0..2);
        let open = ScoreBound {
            score: 2.0,
            exclusive: true,
        };
        assert_eq!(z.score_range(open, incl(f64::INFINITY)), 2..3);
        assert_eq!(z.score_range(incl(5.0), incl(1.0)), 3..3);
        assert_eq!(
            z.lex_range(
                &LexBound::Inclusive(b"a".to_vec()),
                &LexBound::Exclusive(b"b".to_vec())
            ),
            0..1
        );
        assert!(z.remove(b"a") && !z.remove(b"a"));
        // Out of order or duplicated elements do not decode.
        let mut bad = Vec::new();
        put_varint(&mut bad, 2);
        for m in [b"x", b"x"] {
            bad.extend_from_slice(&1.0f64.to_le_bytes());
            put_bytes(&mut bad, m);
        }
        assert!(SortedSet::decode(&bad).is_err());
    }
}

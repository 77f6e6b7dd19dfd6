//! `LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]`: the longest common
//! subsequence of two string values, as Redis computes it (the classic dynamic-programming
//! table, walked back from the end, so the same pair of strings gives the same subsequence and
//! the same match ranges as Redis).
//!
//! The table costs 4 bytes per pair of positions; a pair of strings whose table would pass
//! [`TABLE_MAX_BYTES`] is refused instead of stalling the node.

use larder_runtime::{Store, ValueKind};

use super::{Args, is, not_an_integer, syntax_error};
use crate::resp::reply::Reply;

/// The most transient memory one LCS may take for its table.
const TABLE_MAX_BYTES: u64 = 256 << 20;

/// One run of matching bytes: inclusive ranges in the first and the second string.
struct Match {
    a: (usize, usize),
    b: (usize, usize),
}

impl Match {
    fn len(&self) -> usize {
        self.a.1 - self.a.0 + 1
    }
}

/// The LCS of `a` and `b`, its length, and the runs of matching bytes from the end backwards.
fn longest_common_subsequence(a: &[u8], b: &[u8]) -> (Vec<u8>, Vec<Match>) {
    let width = b.len() + 1;
    let mut table = vec![0u32; (a.len() + 1) * width];
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            table[i * width + j] = if a[i - 1] == b[j - 1] {
                table[(i - 1) * width + j - 1] + 1
            } else {
                table[(i - 1) * width + j].max(table[i * width + j - 1])
            };
        }
    }
    let mut idx = table[a.len() * width + b.len()] as usize;
    let mut lcs = vec![0u8; idx];
    let mut matches = Vec::new();
    let (mut i, mut j) = (a.len(), b.len());
    // The run being built, backwards: `None` until a match starts one.
    let mut run: Option<Match> = None;
    while i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            lcs[idx - 1] = a[i - 1];
            match &mut run {
                None => {
                    run = Some(Match {
                        a: (i - 1, i - 1),
                        b: (j - 1, j - 1),
                    })
                }
                Some(m) if m.a.0 == i && m.b.0 == j => {
                    m.a.0 -= 1;
                    m.b.0 -= 1;
                }
                Some(_) => emit = true,
            }
            if run.as_ref().is_some_and(|m| m.a.0 == 0 || m.b.0 == 0) {
                emit = true;
            }
            idx -= 1;
            i -= 1;
            j -= 1;
        } else {
            if table[(i - 1) * width + j] > table[i * width + j - 1] {
                i -= 1;
            } else {
                j -= 1;
            }
            emit = run.is_some();
        }
        if emit && let Some(m) = run.take() {
            matches.push(m);
        }
    }
    (lcs, matches)
}

pub fn lcs(store: &Store, args: &Args<'_>, reply: &mut Reply) {
    let (mut idx, mut len, mut with_len, mut min_len) = (false, false, false, 0usize);
    let mut i = 3;
    while i < args.len() {
        let opt = args.get(i);
        if is(opt, "IDX") {
            idx = true;
        } else if is(opt, "LEN") {
            len = true;
        } else if is(opt, "WITHMATCHLEN") {
            with_len = true;
        } else if is(opt, "MINMATCHLEN") && i + 1 < args.len() {
            let Some(n) = super::parse_i64(args.get(i + 1)) else {
                return not_an_integer(reply);
            };
            min_len = usize::try_from(n).unwrap_or(0);
            i += 1;
        } else {
            return syntax_error(reply);
        }
        i += 1;
    }
    let mut values = [Vec::new(), Vec::new()];
    for (slot, key) in values.iter_mut().zip([args.get(1), args.get(2)]) {
        match store.read(key, ValueKind::String, <[u8]>::to_vec) {
            Ok(value) => *slot = value.unwrap_or_default(),
            Err(_) => return reply.error("ERR The specified keys must contain string values"),
        }
    }
    if idx && len {
        return reply.error("ERR If you want both the length and indexes, please just use IDX.");
    }
    let [a, b] = &values;
    let cells = (a.len() as u64 + 1).saturating_mul(b.len() as u64 + 1);
    if cells.saturating_mul(4) > TABLE_MAX_BYTES {
        return reply.error_fmt(format_args!(
            "ERR Insufficient memory, transient memory for LCS exceeds {} MiB",
            TABLE_MAX_BYTES >> 20
        ));
    }
    let (lcs, matches) = longest_common_subsequence(a, b);
    if idx {
        let shown: Vec<&Match> = matches
            .iter()
            .filter(|m| min_len == 0 || m.len() >= min_len)
            .collect();
        reply.map(2);
        reply.bulk(b"matches");
        reply.array(shown.len());
        for m in shown {
            reply.array(2 + usize::from(with_len));
            reply.array(2);
            reply.integer(m.a.0 as i64);
            reply.integer(m.a.1 as i64);
            reply.array(2);
            reply.integer(m.b.0 as i64);
            reply.integer(m.b.1 as i64);
            if with_len {
                reply.integer(m.len() as i64);
            }
        }
        reply.bulk(b"len");
        reply.integer(lcs.len() as i64);
    } else if len {
        reply.integer(lcs.len() as i64);
    } else {
        reply.bulk(&lcs);
    }
}

#[cfg(test)]
mod tests {
    use super::longest_common_subsequence;

    #[test]
    fn finds_the_subsequence_and_its_runs() {
        let (lcs, matches) = longest_common_subsequence(b"ohmytext", b"mynewtext");
        assert_eq!(lcs, b"mytext");
        let runs: Vec<_> = matches.iter().map(|m| (m.a, m.b, m.len())).collect();
        assert_eq!(runs, vec![((4, 7), (5, 8), 4), ((2, 3), (0, 1), 2)]);
        let (lcs, matches) = longest_common_subsequence(b"", b"abc");
        assert!(lcs.is_empty() && matches.is_empty());
    }
}

//! Markov prefetch: learns, for each key, which key tends to be accessed right after it (a
//! first-order Markov chain over the access stream, counts per successor), and after an access
//! prefetches the most frequent successors seen at least twice. Memory is bounded: when the table
//! is full it starts over.

use std::collections::HashMap;

use larder_sdk::{Plugin, Prefetch, PrefetchKeys, export_plugin};

const MAX_KEYS: usize = 50_000;
const SUCCESSORS: usize = 4;
const MIN_COUNT: u32 = 2;
const PREFETCH: usize = 2;

#[derive(Default)]
pub struct Markov {
    /// Successor key bytes and counts, by the predecessor's hash.
    next: HashMap<u64, Vec<(Vec<u8>, u32)>>,
    previous: Option<u64>,
}

impl Plugin for Markov {}

impl Markov {
    fn learn(&mut self, prev: u64, key: &[u8]) {
        if self.next.len() >= MAX_KEYS && !self.next.contains_key(&prev) {
            self.next.clear();
        }
        let successors = self.next.entry(prev).or_default();
        if let Some(s) = successors.iter_mut().find(|(k, _)| k == key) {
            s.1 += 1;
        } else if successors.len() < SUCCESSORS {
            successors.push((key.to_vec(), 1));
        } else if let Some(weakest) = successors.iter_mut().min_by_key(|(_, c)| *c) {
            // Replace the weakest successor, so a changed pattern is picked up.
            *weakest = (key.to_vec(), 1);
        }
        successors.sort_by_key(|s| std::cmp::Reverse(s.1));
    }
}

impl Prefetch for Markov {
    fn prefetch(&mut self, key: &[u8], hash: u64, _hit: bool, out: &mut PrefetchKeys) {
        if let Some(prev) = self.previous
            && prev != hash
        {
            self.learn(prev, key);
        }
        self.previous = Some(hash);
        if let Some(successors) = self.next.get(&hash) {
            for (k, _) in successors
                .iter()
                .filter(|(_, c)| *c >= MIN_COUNT)
                .take(PREFETCH)
            {
                out.push(k);
            }
        }
    }
}

export_plugin!(Markov, [prefetch]);

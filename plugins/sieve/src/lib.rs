//! SIEVE eviction (Zhang et al., NSDI '24): a FIFO queue with one "visited" bit per entry and a
//! hand that moves from the tail towards the head, sparing visited entries (clearing their bit)
//! and evicting the first unvisited one. Hits only set a bit: no list moves.

use kit::SlotList;
use larder_sdk::{Entry, Eviction, Plugin, Victims, export_plugin};

#[derive(Default)]
pub struct Sieve {
    queue: SlotList<1>,
    visited: Vec<bool>,
    hand: Option<u32>,
}

impl Plugin for Sieve {}

impl Sieve {
    fn set_visited(&mut self, slot: u32, v: bool) {
        let i = slot as usize;
        if i >= self.visited.len() {
            self.visited
                .resize((i + 1).max(self.visited.len() * 2), false);
        }
        self.visited[i] = v;
    }

    fn unlink(&mut self, slot: u32) {
        if self.hand == Some(slot) {
            self.hand = self.queue.prev(slot);
        }
        self.queue.remove(slot);
    }
}

impl Eviction for Sieve {
    fn on_insert(&mut self, e: Entry) {
        self.queue.push_front(0, e.slot, e.size);
        self.set_visited(e.slot, false);
    }
    fn on_access(&mut self, e: Entry) {
        if self.queue.list_of(e.slot).is_some() {
            self.set_visited(e.slot, true);
        }
    }
    fn on_remove(&mut self, e: Entry) {
        if self.queue.list_of(e.slot).is_some() {
            self.unlink(e.slot);
        }
    }
    fn victims(&mut self, bytes: u64, out: &mut Victims) {
        let mut freed = 0u64;
        // Each pass clears at most every bit once, so two laps always find a victim.
        let mut budget = self.queue.len(0) * 2 + 1;
        while freed < bytes && !out.is_full() && budget > 0 {
            budget -= 1;
            let Some(slot) = self.hand.or_else(|| self.queue.back(0)) else {
                break;
            };
            if self.visited.get(slot as usize).copied().unwrap_or(false) {
                self.visited[slot as usize] = false;
                self.hand = self.queue.prev(slot);
                continue;
            }
            self.hand = self.queue.prev(slot);
            freed += self.queue.size_of(slot) as u64;
            self.queue.remove(slot);
            out.push(slot);
        }
    }
    fn clear(&mut self) {
        self.queue.clear();
        self.visited.clear();
        self.hand = None;
    }
}

export_plugin!(Sieve, [eviction]);

//! S3-FIFO eviction (Yang et al., SOSP '23): a small FIFO (10 % of the bytes) filters one-hit
//! wonders, a main FIFO with lazy promotion keeps the rest, and a ghost FIFO of recently evicted
//! key hashes sends returning keys straight to main.

use std::collections::{HashMap, VecDeque};

use kit::SlotList;
use larder_sdk::{Entry, Eviction, InitContext, Plugin, Victims, export_plugin};

const SMALL: usize = 0;
const MAIN: usize = 1;
const MAX_FREQ: u8 = 3;

#[derive(Default)]
pub struct S3Fifo {
    queues: SlotList<2>,
    freq: Vec<u8>,
    hashes: Vec<u64>,
    capacity: u64,
    /// Ghost FIFO: hashes of keys evicted from small, bounded by the number of resident entries.
    ghost_order: VecDeque<u64>,
    ghost: HashMap<u64, u32>,
}

impl Plugin for S3Fifo {
    fn init(&mut self, ctx: &InitContext) {
        self.capacity = ctx.capacity_bytes;
    }
}

impl S3Fifo {
    fn remember(&mut self, slot: u32, hash: u64) {
        let i = slot as usize;
        if i >= self.freq.len() {
            let n = (i + 1).max(self.freq.len() * 2);
            self.freq.resize(n, 0);
            self.hashes.resize(n, 0);
        }
        self.freq[i] = 0;
        self.hashes[i] = hash;
    }

    fn add_ghost(&mut self, hash: u64) {
        *self.ghost.entry(hash).or_insert(0) += 1;
        self.ghost_order.push_back(hash);
        let limit = (self.queues.len(SMALL) + self.queues.len(MAIN)).max(64);
        while self.ghost_order.len() > limit {
            if let Some(old) = self.ghost_order.pop_front()
                && let Some(n) = self.ghost.get_mut(&old)
            {
                *n -= 1;
                if *n == 0 {
                    self.ghost.remove(&old);
                }
            }
        }
    }

    /// One step of the algorithm: evicts one entry (returned) or moves one between queues.
    fn step(&mut self) -> Option<u32> {
        let small_over = self.queues.bytes(SMALL) * 10 >= self.capacity.max(1);
        if (small_over || self.queues.len(MAIN) == 0) && self.queues.len(SMALL) > 0 {
            let slot = self.queues.back(SMALL)?;
            if self.freq[slot as usize] > 0 {
                self.freq[slot as usize] = 0;
                self.queues.move_front(MAIN, slot);
                return None;
            }
            self.queues.remove(slot);
            self.add_ghost(self.hashes[slot as usize]);
            return Some(slot);
        }
        let slot = self.queues.back(MAIN)?;
        if self.freq[slot as usize] > 0 {
            self.freq[slot as usize] -= 1;
            self.queues.move_front(MAIN, slot);
            return None;
        }
        self.queues.remove(slot);
        Some(slot)
    }
}

impl Eviction for S3Fifo {
    fn set_capacity(&mut self, capacity_bytes: u64) {
        self.capacity = capacity_bytes;
    }
    fn on_insert(&mut self, e: Entry) {
        self.remember(e.slot, e.hash);
        let queue = if self.ghost.contains_key(&e.hash) {
            MAIN
        } else {
            SMALL
        };
        self.queues.push_front(queue, e.slot, e.size);
    }
    fn on_access(&mut self, e: Entry) {
        if let Some(f) = self.freq.get_mut(e.slot as usize)
            && *f < MAX_FREQ
        {
            *f += 1;
        }
    }
    fn on_remove(&mut self, e: Entry) {
        self.queues.remove(e.slot);
    }
    fn victims(&mut self, bytes: u64, out: &mut Victims) {
        let mut freed = 0u64;
        // Every entry is promoted or demoted at most MAX_FREQ + 1 times before it must leave.
        let mut budget = (self.queues.len(SMALL) + self.queues.len(MAIN)) * (MAX_FREQ as usize + 2);
        while freed < bytes && !out.is_full() && budget > 0 {
            budget -= 1;
            if self.queues.len(SMALL) + self.queues.len(MAIN) == 0 {
                break;
            }
            if let Some(slot) = self.step() {
                freed += self.queues.size_of(slot) as u64;
                out.push(slot);
            }
        }
    }
    fn clear(&mut self) {
        self.queues.clear();
        self.ghost.clear();
        self.ghost_order.clear();
    }
}

export_plugin!(S3Fifo, [eviction]);

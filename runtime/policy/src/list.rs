//! An intrusive doubly-linked list over slots, stored in two `u32` vectors.
//!
//! LRU, SIEVE and W-TinyLFU keep their queues in these: 8 bytes per slot, no allocation per node,
//! O(1) push, unlink and move-to-front.

use alloc::vec::Vec;

use super::Slot;

const NIL: u32 = u32::MAX;

/// A set of lists sharing one node table: a slot can be in at most one of them at a time.
#[derive(Debug, Default, Clone)]
pub struct Links {
    prev: Vec<u32>,
    next: Vec<u32>,
}

/// Head (most recent) and tail (oldest) of one list in a [`Links`] table.
#[derive(Debug, Clone, Copy)]
pub struct List {
    head: u32,
    tail: u32,
    len: usize,
}

impl Default for List {
    fn default() -> Self {
        Self {
            head: NIL,
            tail: NIL,
            len: 0,
        }
    }
}

impl List {
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// The oldest slot (the tail).
    pub fn back(&self) -> Option<Slot> {
        (self.tail != NIL).then_some(self.tail)
    }
}

impl Links {
    fn ensure(&mut self, slot: Slot) {
        let need = slot as usize + 1;
        if self.prev.len() < need {
            let len = need.max(self.prev.len() * 2).max(64);
            self.prev.resize(len, NIL);
            self.next.resize(len, NIL);
        }
    }

    /// Insert `slot` at the head (most recent end) of `list`.
    pub fn push_front(&mut self, list: &mut List, slot: Slot) {
        self.ensure(slot);
        let s = slot as usize;
        self.prev[s] = NIL;
        self.next[s] = list.head;
        if list.head != NIL {
            self.prev[list.head as usize] = slot;
        } else {
            list.tail = slot;
        }
        list.head = slot;
        list.len += 1;
    }

    /// Remove `slot` from `list`. The slot must be in that list.
    pub fn unlink(&mut self, list: &mut List, slot: Slot) {
        let s = slot as usize;
        let (p, n) = (self.prev[s], self.next[s]);
        if p != NIL {
            self.next[p as usize] = n;
        } else {
            list.head = n;
        }
        if n != NIL {
            self.prev[n as usize] = p;
        } else {
            list.tail = p;
        }
        self.prev[s] = NIL;
        self.next[s] = NIL;
        list.len -= 1;
    }

    pub fn move_to_front(&mut self, list: &mut List, slot: Slot) {
        if list.head != slot {
            self.unlink(list, slot);
            self.push_front(list, slot);
        }
    }

    /// Remove and return the tail (oldest) slot.
    pub fn pop_back(&mut self, list: &mut List) -> Option<Slot> {
        let tail = list.back()?;
        self.unlink(list, tail);
        Some(tail)
    }

    /// The slot after `slot` towards the head (newer), if any.
    pub fn newer(&self, slot: Slot) -> Option<Slot> {
        let p = self.prev[slot as usize];
        (p != NIL).then_some(p)
    }

    pub fn clear(&mut self) {
        self.prev.clear();
        self.next.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_unlink_pop_keep_order() {
        let mut links = Links::default();
        let mut list = List::default();
        for s in [3, 1, 4, 1000] {
            links.push_front(&mut list, s);
        }
        assert_eq!(list.len(), 4);
        links.unlink(&mut list, 4);
        links.move_to_front(&mut list, 3);
        assert_eq!(links.pop_back(&mut list), Some(1));
        assert_eq!(links.pop_back(&mut list), Some(1000));
        assert_eq!(links.pop_back(&mut list), Some(3));
        assert_eq!(links.pop_back(&mut list), None);
        assert!(list.is_empty());
    }
}

//! Doubly linked lists threaded through one shared node array indexed by slot. A slot is on at
//! most one list at a time; several lists (LRU segments, FIFO queues) can share the array.

const NIL: u32 = u32::MAX;

#[derive(Clone, Copy)]
struct Node {
    prev: u32,
    next: u32,
}

/// One list's ends and byte total. The nodes live in a [`SlotList`]'s arena.
#[derive(Debug, Clone, Copy)]
pub struct Ends {
    head: u32,
    tail: u32,
    pub len: usize,
    pub bytes: u64,
}

impl Default for Ends {
    fn default() -> Self {
        Self {
            head: NIL,
            tail: NIL,
            len: 0,
            bytes: 0,
        }
    }
}

/// Up to `N` lists over one slot-indexed node array.
pub struct SlotList<const N: usize> {
    nodes: Vec<Node>,
    sizes: Vec<u32>,
    which: Vec<u8>,
    pub lists: [Ends; N],
}

impl<const N: usize> Default for SlotList<N> {
    fn default() -> Self {
        Self {
            nodes: Vec::new(),
            sizes: Vec::new(),
            which: Vec::new(),
            lists: [Ends::default(); N],
        }
    }
}

const NONE: u8 = u8::MAX;

impl<const N: usize> SlotList<N> {
    fn ensure(&mut self, slot: u32) {
        let i = slot as usize;
        if i >= self.nodes.len() {
            let n = (i + 1).max(self.nodes.len() * 2);
            self.nodes.resize(
                n,
                Node {
                    prev: NIL,
                    next: NIL,
                },
            );
            self.sizes.resize(n, 0);
            self.which.resize(n, NONE);
        }
    }

    /// The list `slot` is on, if any.
    pub fn list_of(&self, slot: u32) -> Option<usize> {
        match self.which.get(slot as usize) {
            Some(&w) if w != NONE => Some(w as usize),
            _ => None,
        }
    }

    pub fn size_of(&self, slot: u32) -> u32 {
        self.sizes.get(slot as usize).copied().unwrap_or(0)
    }

    /// Put `slot` at the head (most recent end) of list `l`.
    pub fn push_front(&mut self, l: usize, slot: u32, size: u32) {
        self.ensure(slot);
        self.remove(slot);
        let i = slot as usize;
        let ends = &mut self.lists[l];
        self.nodes[i] = Node {
            prev: NIL,
            next: ends.head,
        };
        if ends.head != NIL {
            self.nodes[ends.head as usize].prev = slot;
        } else {
            ends.tail = slot;
        }
        ends.head = slot;
        ends.len += 1;
        ends.bytes += size as u64;
        self.sizes[i] = size;
        self.which[i] = l as u8;
    }

    /// Unlink `slot` from whatever list holds it; returns that list.
    pub fn remove(&mut self, slot: u32) -> Option<usize> {
        let l = self.list_of(slot)?;
        let i = slot as usize;
        let Node { prev, next } = self.nodes[i];
        let ends = &mut self.lists[l];
        if prev != NIL {
            self.nodes[prev as usize].next = next;
        } else {
            ends.head = next;
        }
        if next != NIL {
            self.nodes[next as usize].prev = prev;
        } else {
            ends.tail = prev;
        }
        ends.len -= 1;
        ends.bytes -= self.sizes[i] as u64;
        self.which[i] = NONE;
        Some(l)
    }

    /// Change the size of a listed slot in place: it keeps its position, and its list's byte
    /// total follows. Does nothing to a slot that is on no list.
    pub fn set_size(&mut self, slot: u32, size: u32) {
        if let Some(l) = self.list_of(slot) {
            let i = slot as usize;
            let ends = &mut self.lists[l];
            ends.bytes = ends.bytes - self.sizes[i] as u64 + size as u64;
            self.sizes[i] = size;
        }
    }

    /// Move `slot` to the head of list `l` (keeping its size).
    pub fn move_front(&mut self, l: usize, slot: u32) {
        let size = self.size_of(slot);
        self.push_front(l, slot, size);
    }

    /// The tail (least recent end) of list `l`.
    pub fn back(&self, l: usize) -> Option<u32> {
        let t = self.lists[l].tail;
        (t != NIL).then_some(t)
    }

    /// The neighbour of `slot` towards the head.
    pub fn prev(&self, slot: u32) -> Option<u32> {
        let p = self.nodes.get(slot as usize)?.prev;
        (p != NIL).then_some(p)
    }

    pub fn pop_back(&mut self, l: usize) -> Option<u32> {
        let t = self.back(l)?;
        self.remove(t);
        Some(t)
    }

    pub fn len(&self, l: usize) -> usize {
        self.lists[l].len
    }

    pub fn bytes(&self, l: usize) -> u64 {
        self.lists[l].bytes
    }

    pub fn clear(&mut self) {
        *self = Self::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_share_nodes() {
        let mut l: SlotList<2> = SlotList::default();
        l.push_front(0, 1, 10);
        l.push_front(0, 2, 20);
        l.push_front(1, 3, 30);
        assert_eq!(l.back(0), Some(1));
        l.move_front(1, 1);
        assert_eq!((l.len(0), l.bytes(0), l.len(1), l.bytes(1)), (1, 20, 2, 40));
        assert_eq!(l.pop_back(1), Some(3));
        assert_eq!(l.pop_back(1), Some(1));
        assert_eq!(l.pop_back(1), None);
    }

    #[test]
    fn set_size_keeps_the_position_and_the_byte_total() {
        let mut l: SlotList<1> = SlotList::default();
        l.push_front(0, 1, 10);
        l.push_front(0, 2, 20);
        l.set_size(1, 15);
        assert_eq!((l.back(0), l.bytes(0), l.size_of(1)), (Some(1), 35, 15));
        l.set_size(7, 99);
        assert_eq!(l.bytes(0), 35, "a slot on no list changes nothing");
    }
}

//! [`VictimSink`]: where a policy puts the slots it evicts.
//!
//! The store takes every victim a policy names; the plugin ABI takes at most a fixed number per
//! call. A policy that checks [`VictimSink::is_full`] before choosing each victim serves both: cut
//! short, it has forgotten only the victims it handed over, and the host simply asks again.

use alloc::vec::Vec;

use crate::Slot;

/// Where a policy puts the slots it evicts.
///
/// A policy checks [`VictimSink::is_full`] *before* choosing a victim and forgets the victim
/// only once it is pushed, so an answer cut short by the sink's limit loses no entry.
pub trait VictimSink {
    /// Whether no further victim can be taken.
    fn is_full(&self) -> bool;
    /// Take `slot` as a victim. Called only when [`VictimSink::is_full`] is false.
    fn push(&mut self, slot: Slot);
}

/// Unbounded: every victim is taken.
impl VictimSink for Vec<Slot> {
    #[inline]
    fn is_full(&self) -> bool {
        false
    }

    #[inline]
    fn push(&mut self, slot: Slot) {
        Vec::push(self, slot);
    }
}

/// A `Vec` that takes at most `limit` victims in all (victims already in it count).
#[derive(Debug)]
pub struct Bounded<'a> {
    pub out: &'a mut Vec<Slot>,
    pub limit: usize,
}

impl VictimSink for Bounded<'_> {
    #[inline]
    fn is_full(&self) -> bool {
        self.out.len() >= self.limit
    }

    #[inline]
    fn push(&mut self, slot: Slot) {
        self.out.push(slot);
    }
}

/// Forwards every victim to `out` and tells `also` about it: a policy that keeps a second
/// policy's order over the same keys (the adaptive policy) uses it to keep both in step.
pub(crate) struct Tee<'a, F: FnMut(Slot)> {
    pub out: &'a mut dyn VictimSink,
    pub also: F,
}

impl<F: FnMut(Slot)> VictimSink for Tee<'_, F> {
    #[inline]
    fn is_full(&self) -> bool {
        self.out.is_full()
    }

    #[inline]
    fn push(&mut self, slot: Slot) {
        (self.also)(slot);
        self.out.push(slot);
    }
}

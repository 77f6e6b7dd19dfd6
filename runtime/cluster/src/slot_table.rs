//! The slot table: which node owns each of the 16384 slots, and how it changes when members
//! come and go.
//!
//! The table lives in the raft state machine, so every node sees the same owners in the same
//! order of changes; `epoch` counts the changes, and a node compares epochs to know whether the
//! table a peer acted on is older than its own.
//!
//! [`SlotTable::rebalanced`] moves the fewest slots that leave every member with ⌊16384/N⌋ or
//! ⌈16384/N⌉: each member keeps what it owns up to its share, and only the excess (and the slots
//! of members that left) changes hands. Going from 3 to 4 members moves exactly 4096 slots.
//!
//! **Syncing replicas.** A member that becomes a replica of a slot it did not hold (a top-up
//! after a failure, a member that is back, a rebalance) starts *syncing*: it receives new writes
//! at once, but it has the slot's older keys only once the owner has copied them over and
//! reported so ([`SlotTable::marked_synced`]). A syncing replica is never promoted, so a failover
//! never hands a slot to a member that lacks part of it.
//!
//! **Migrating slots.** A rebalance does not hand a slot to its new owner at once: the slot
//! keeps its owner, and the new one joins it as an *incoming* syncing replica
//! ([`SlotTable::migrating_to`]). Once the owner has copied the slot to it, ownership passes
//! ([`SlotTable::handed_over`]), so a slot that moves keeps its keys.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use serde::{Deserialize, Serialize};

use crate::NodeId;
use crate::slot::{SLOTS, Slot};

/// Owner (primary) and replicas of every slot; the owner is `None` only before the cluster has
/// members.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotTable {
    owners: Vec<Option<NodeId>>,
    /// The members that hold a copy of each slot besides its owner, in promotion order: when
    /// the owner fails, the first becomes the owner. Empty without replication.
    replicas: Vec<Vec<NodeId>>,
    /// The replicas of each slot still receiving its older keys, with the epoch at which each
    /// started; a subset of `replicas`.
    syncing: Vec<Vec<(NodeId, u64)>>,
    /// The member each slot is moving to, when a rebalance gave it a new owner that does not
    /// have it yet; that member is one of the slot's replicas until it takes over.
    incoming: Vec<Option<NodeId>>,
    /// Bumped by every change, starting at 0 for the empty table.
    pub epoch: u64,
}

impl Default for SlotTable {
    fn default() -> Self {
        Self {
            owners: vec![None; usize::from(SLOTS)],
            replicas: vec![Vec::new(); usize::from(SLOTS)],
            syncing: vec![Vec::new(); usize::from(SLOTS)],
            incoming: vec![None; usize::from(SLOTS)],
            epoch: 0,
        }
    }
}

impl SlotTable {
    /// Who owns `slot` (`None` for an unassigned slot or one out of range).
    pub fn owner(&self, slot: Slot) -> Option<NodeId> {
        self.owners.get(usize::from(slot)).copied().flatten()
    }

    /// The replicas of `slot`, in promotion order (empty for none, or a slot out of range).
    pub fn replicas(&self, slot: Slot) -> &[NodeId] {
        self.replicas
            .get(usize::from(slot))
            .map_or(&[], Vec::as_slice)
    }

    /// The replicas of `slot` still receiving its older keys, each with the epoch at which it
    /// started syncing.
    pub fn syncing(&self, slot: Slot) -> &[(NodeId, u64)] {
        self.syncing
            .get(usize::from(slot))
            .map_or(&[], Vec::as_slice)
    }

    /// The member `slot` is moving to, while a rebalance's new owner is still receiving it.
    pub fn incoming(&self, slot: Slot) -> Option<NodeId> {
        self.incoming.get(usize::from(slot)).copied().flatten()
    }

    /// How many slots are moving to a new owner.
    pub fn migrating_count(&self) -> usize {
        self.incoming.iter().flatten().count()
    }

    /// Whether `node` is a replica of `slot` that has all of it.
    pub fn in_sync(&self, slot: Slot, node: NodeId) -> bool {
        self.replicas(slot).contains(&node) && !self.syncing(slot).iter().any(|(n, _)| *n == node)
    }

    /// How many replicas of `slot` have all of it.
    pub fn in_sync_count(&self, slot: Slot) -> usize {
        self.replicas(slot).len() - self.syncing(slot).len()
    }

    /// Whether `node` holds `slot`'s keys: as its owner or as one of its replicas (syncing ones
    /// included: they hold what they have received, and must keep it).
    pub fn holds(&self, slot: Slot, node: NodeId) -> bool {
        self.owner(slot) == Some(node) || self.replicas(slot).contains(&node)
    }

    /// The same owners, with `count` replicas per slot (fewer when there are not enough other
    /// members): the members that follow the owner in id order, wrapping around. So every
    /// member replicates a share of every other member's slots, and the replicas of one
    /// member's slots are spread rather than all on one node. The epoch is left as it is: this
    /// completes a change (a rebalance) that already counted.
    ///
    /// A replica that did not have the whole slot in `before` (the table before the change this
    /// completes: it was not the slot's owner or an in-sync replica there) is syncing from this
    /// table's epoch.
    pub fn with_replicas(&self, members: &[NodeId], count: usize, before: &SlotTable) -> SlotTable {
        let mut members = members.to_vec();
        members.sort_unstable();
        members.dedup();
        let mut next = self.clone();
        for slot in 0..usize::from(SLOTS) {
            next.fill_replicas(slot, &members, count, before);
        }
        next
    }

    /// Give `slot` its `count` replicas following its owner among `members` (sorted), as
    /// [`SlotTable::with_replicas`] does, plus its incoming member when it is moving. A replica
    /// that was not the owner or an in-sync replica in `before` is syncing (from when it started
    /// there, or from this table's epoch).
    fn fill_replicas(&mut self, slot: usize, members: &[NodeId], count: usize, before: &SlotTable) {
        self.replicas[slot].clear();
        self.syncing[slot].clear();
        let Some(owner) = self.owners[slot] else {
            return;
        };
        // An owner that is leaving (draining) gets no new followers, only its incoming member.
        let followers: Vec<NodeId> = match members.binary_search(&owner) {
            Ok(at) => {
                let wanted = count.min(members.len() - 1);
                (1..=wanted)
                    .map(|i| members[(at + i) % members.len()])
                    .collect()
            }
            Err(_) => Vec::new(),
        };
        let incoming = self.incoming[slot].filter(|n| *n != owner);
        for replica in followers.into_iter().chain(incoming) {
            if self.replicas[slot].contains(&replica) {
                continue;
            }
            self.replicas[slot].push(replica);
            let had = before.owners[slot] == Some(replica) || before.in_sync(slot as Slot, replica);
            if !had {
                let since = before
                    .syncing(slot as Slot)
                    .iter()
                    .find(|(n, _)| *n == replica)
                    .map_or(self.epoch, |(_, e)| *e);
                self.syncing[slot].push((replica, since));
            }
        }
    }

    /// The table on its way to `plan` (a [`SlotTable::rebalanced`] table) without losing keys:
    /// a slot whose owner changes stays with its owner when that owner is among `members`, and
    /// the new owner becomes its incoming member and a syncing replica; slots whose new owner
    /// already has them are handed over at once. Other slots take `plan`'s owner (an unowned
    /// slot, or one of a departed member, has nothing to copy). Every slot gets its `count`
    /// replicas among `members`, as with [`SlotTable::with_replicas`].
    ///
    /// `sources` are the members that can copy their slots out: `members` and those leaving
    /// (a draining member owns nothing in `plan` but hands its slots over like any other).
    pub fn migrating_to(
        &self,
        plan: &SlotTable,
        sources: &[NodeId],
        members: &[NodeId],
        count: usize,
    ) -> SlotTable {
        let mut members = members.to_vec();
        members.sort_unstable();
        members.dedup();
        let mut next = plan.clone();
        for slot in 0..usize::from(SLOTS) {
            let (was, will) = (self.owners[slot], plan.owners[slot]);
            next.incoming[slot] = None;
            if let (Some(was), Some(will)) = (was, will)
                && was != will
                && sources.contains(&was)
            {
                next.owners[slot] = Some(was);
                next.incoming[slot] = Some(will);
            }
            next.fill_replicas(slot, &members, count, self);
        }
        // Slots whose new owner was an in-sync replica pass at once (one more epoch).
        next.handed_over(&members, count).0
    }

    /// The table with every moving slot whose incoming member is in sync handed over to it:
    /// it owns the slot, and the slot's replicas are the `count` members following it among
    /// `members` (the old owner keeps its copy only if it is one of them). Returns the table
    /// (epoch bumped when anything changed) and how many slots changed hands.
    pub fn handed_over(&self, members: &[NodeId], count: usize) -> (SlotTable, usize) {
        let mut members = members.to_vec();
        members.sort_unstable();
        members.dedup();
        let mut next = self.clone();
        let mut moved = 0;
        next.epoch = self.epoch + 1;
        for slot in 0..usize::from(SLOTS) {
            let Some(incoming) = self.incoming[slot] else {
                continue;
            };
            if self.owners[slot] == Some(incoming) {
                next.incoming[slot] = None;
                continue;
            }
            if !self.in_sync(slot as Slot, incoming) {
                continue;
            }
            next.owners[slot] = Some(incoming);
            next.incoming[slot] = None;
            next.fill_replicas(slot, &members, count, self);
            moved += 1;
        }
        if next.owners == self.owners && next.incoming == self.incoming {
            return (self.clone(), 0);
        }
        (next, moved)
    }

    /// The table with every owned slot given up to `count` replicas among `members` (fewer when
    /// there are not enough): the replicas a slot has are kept, and the members that follow its
    /// owner in id order fill the gaps, syncing from the new epoch. Returns the table (its epoch
    /// bumped when anything changed) and how many replicas were added.
    pub fn topped_up(&self, members: &[NodeId], count: usize) -> (SlotTable, usize) {
        let mut members = members.to_vec();
        members.sort_unstable();
        members.dedup();
        let mut next = self.clone();
        let epoch = self.epoch + 1;
        let mut added = 0;
        for slot in 0..usize::from(SLOTS) {
            let Some(owner) = next.owners[slot] else {
                continue;
            };
            let Ok(at) = members.binary_search(&owner) else {
                continue;
            };
            let wanted = count.min(members.len() - 1);
            for i in 1..members.len() {
                if next.replicas[slot].len() >= wanted {
                    break;
                }
                let candidate = members[(at + i) % members.len()];
                if !next.replicas[slot].contains(&candidate) {
                    next.replicas[slot].push(candidate);
                    next.syncing[slot].push((candidate, epoch));
                    added += 1;
                }
            }
        }
        if added > 0 {
            next.epoch = epoch;
        }
        (next, added)
    }

    /// The table after `owner` reported that `node` has every older key of `slots`, copied from
    /// a view at `copied_at` or later: `node` stops syncing those of them that `owner` still owns,
    /// where it started syncing at or before `copied_at` (a replica dropped and added again since
    /// needs a fresh copy). Returns the table (epoch bumped when anything changed) and how many
    /// slots are in sync now.
    pub fn marked_synced(
        &self,
        owner: NodeId,
        node: NodeId,
        slots: &[(Slot, Slot)],
        copied_at: u64,
    ) -> (SlotTable, usize) {
        let mut next = self.clone();
        let mut done = 0;
        for &(start, end) in slots {
            for slot in start..=end.min(SLOTS - 1) {
                let i = usize::from(slot);
                if next.owners[i] != Some(owner) {
                    continue;
                }
                let before = next.syncing[i].len();
                next.syncing[i].retain(|&(n, since)| !(n == node && since <= copied_at));
                done += before - next.syncing[i].len();
            }
        }
        if done > 0 {
            next.epoch = self.epoch + 1;
        }
        (next, done)
    }

    /// The table after `node` failed: each slot it owned passes to its first in-sync replica (a
    /// slot without one stays with `node`, which serves it again from its data directory when
    /// it returns), and `node` is no longer anyone's replica. Returns the table and how many
    /// slots were promoted.
    pub fn failed_over(&self, node: NodeId) -> (SlotTable, usize) {
        let mut next = self.clone();
        let mut promoted = 0;
        for slot in 0..usize::from(SLOTS) {
            next.replicas[slot].retain(|&r| r != node);
            next.syncing[slot].retain(|&(r, _)| r != node);
            if next.incoming[slot] == Some(node) {
                next.incoming[slot] = None;
            }
            if next.owners[slot] != Some(node) {
                continue;
            }
            let syncing = &next.syncing[slot];
            let heir = next.replicas[slot]
                .iter()
                .position(|r| !syncing.iter().any(|(s, _)| s == r));
            if let Some(at) = heir {
                let heir = next.replicas[slot].remove(at);
                next.owners[slot] = Some(heir);
                if next.incoming[slot] == Some(heir) {
                    next.incoming[slot] = None;
                }
                promoted += 1;
            }
        }
        if next != *self {
            next.epoch = self.epoch + 1;
        }
        (next, promoted)
    }

    /// The table as maximal runs of consecutive slots with one owner, in slot order.
    pub fn ranges(&self) -> Vec<(RangeInclusive<Slot>, NodeId)> {
        let mut out: Vec<(RangeInclusive<Slot>, NodeId)> = Vec::new();
        for (slot, owner) in self.owners.iter().enumerate() {
            let (Some(owner), slot) = (*owner, slot as Slot) else {
                continue;
            };
            match out.last_mut() {
                Some((range, o)) if *o == owner && *range.end() + 1 == slot => {
                    *range = *range.start()..=slot;
                }
                _ => out.push((slot..=slot, owner)),
            }
        }
        out
    }

    /// How many slots each owner has.
    pub fn counts(&self) -> BTreeMap<NodeId, usize> {
        let mut counts = BTreeMap::new();
        for owner in self.owners.iter().flatten() {
            *counts.entry(*owner).or_default() += 1;
        }
        counts
    }

    /// The table that spreads every slot over `members` moving the fewest slots, and the slots
    /// that change owner. With no members every slot is unassigned.
    pub fn rebalanced(&self, members: &[NodeId]) -> (SlotTable, Vec<Slot>) {
        let mut members = members.to_vec();
        members.sort_unstable();
        members.dedup();
        let mut next = SlotTable {
            owners: self.owners.clone(),
            replicas: self.replicas.clone(),
            syncing: self.syncing.clone(),
            incoming: self.incoming.clone(),
            epoch: self.epoch + 1,
        };
        if members.is_empty() {
            let moved = (0..SLOTS).filter(|&s| self.owner(s).is_some()).collect();
            next.owners.fill(None);
            next.replicas.iter_mut().for_each(Vec::clear);
            next.syncing.iter_mut().for_each(Vec::clear);
            next.incoming.fill(None);
            return (next, moved);
        }
        let counts = self.counts();
        // The remainder's extra slot goes to the members that own the most already, so fewer
        // slots have to move to make up their share.
        let base = usize::from(SLOTS) / members.len();
        let extra = usize::from(SLOTS) % members.len();
        let mut by_holdings = members.clone();
        by_holdings.sort_by_key(|m| (std::cmp::Reverse(counts.get(m).copied().unwrap_or(0)), *m));
        let mut quota: BTreeMap<NodeId, usize> = BTreeMap::new();
        for (i, m) in by_holdings.iter().enumerate() {
            quota.insert(*m, base + usize::from(i < extra));
        }
        // Each member keeps its lowest slots up to its quota; the rest, and the slots of
        // non-members, are freed.
        let mut kept: BTreeMap<NodeId, usize> = BTreeMap::new();
        let mut freed = Vec::new();
        for slot in 0..SLOTS {
            let owner = self.owner(slot);
            match owner.and_then(|o| quota.get(&o).map(|q| (o, *q))) {
                Some((o, q)) if kept.get(&o).copied().unwrap_or(0) < q => {
                    *kept.entry(o).or_default() += 1;
                }
                _ => freed.push(slot),
            }
        }
        // Freed slots fill the members below quota, in member order, each in one run of slots
        // as far as possible.
        let mut freed_iter = freed.iter();
        for m in &members {
            let need = quota[m] - kept.get(m).copied().unwrap_or(0);
            for &slot in freed_iter.by_ref().take(need) {
                next.owners[usize::from(slot)] = Some(*m);
            }
        }
        let moved = freed
            .into_iter()
            .filter(|&s| self.owner(s) != next.owner(s))
            .collect();
        (next, moved)
    }
}

/// Consecutive slots with the same syncing replicas (each with the epoch it started syncing).
type SyncingRun = (Slot, Slot, Vec<(NodeId, u64)>);

/// On the wire and in snapshots the table travels as runs, not 16384 entries.
#[derive(Serialize, Deserialize)]
struct Runs {
    epoch: u64,
    runs: Vec<(Slot, Slot, NodeId)>,
    /// Runs of slots with the same replicas (absent in tables written before replication).
    #[serde(default)]
    replica_runs: Vec<(Slot, Slot, Vec<NodeId>)>,
    /// Runs of slots with the same syncing replicas (absent in tables written before syncing).
    #[serde(default)]
    syncing_runs: Vec<SyncingRun>,
    /// Runs of slots moving to the same member (absent in tables written before migration).
    #[serde(default)]
    incoming_runs: Vec<(Slot, Slot, Vec<NodeId>)>,
}

/// Maximal runs of consecutive slots with equal, non-empty lists.
fn runs_of<T: Clone + PartialEq>(per_slot: &[Vec<T>]) -> Vec<(Slot, Slot, Vec<T>)> {
    let mut out: Vec<(Slot, Slot, Vec<T>)> = Vec::new();
    for (slot, list) in per_slot.iter().enumerate() {
        let slot = slot as Slot;
        if list.is_empty() {
            continue;
        }
        match out.last_mut() {
            Some((_, end, l)) if l == list && *end + 1 == slot => *end = slot,
            _ => out.push((slot, slot, list.clone())),
        }
    }
    out
}

/// Put each run's list on its slots, refusing runs outside the table.
fn fill_runs<T: Clone, E: serde::de::Error>(
    per_slot: &mut [Vec<T>],
    runs: Vec<(Slot, Slot, Vec<T>)>,
    what: &str,
) -> Result<(), E> {
    for (start, end, list) in runs {
        if start > end || end >= SLOTS {
            return Err(E::custom(format!(
                "{what} run {start}..={end} is outside 0..{SLOTS}"
            )));
        }
        for slot in start..=end {
            per_slot[usize::from(slot)].clone_from(&list);
        }
    }
    Ok(())
}

impl Serialize for SlotTable {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Runs {
            epoch: self.epoch,
            runs: self
                .ranges()
                .into_iter()
                .map(|(r, o)| (*r.start(), *r.end(), o))
                .collect(),
            replica_runs: runs_of(&self.replicas),
            syncing_runs: runs_of(&self.syncing),
            incoming_runs: runs_of(
                &self
                    .incoming
                    .iter()
                    .map(|n| n.iter().copied().collect())
                    .collect::<Vec<Vec<NodeId>>>(),
            ),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for SlotTable {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let runs = Runs::deserialize(d)?;
        let mut table = SlotTable {
            epoch: runs.epoch,
            ..SlotTable::default()
        };
        for (start, end, owner) in runs.runs {
            if start > end || end >= SLOTS {
                return Err(serde::de::Error::custom(format!(
                    "slot run {start}..={end} is outside 0..{SLOTS}"
                )));
            }
            for slot in start..=end {
                table.owners[usize::from(slot)] = Some(owner);
            }
        }
        fill_runs(&mut table.replicas, runs.replica_runs, "replica")?;
        fill_runs(&mut table.syncing, runs.syncing_runs, "syncing")?;
        let mut incoming = vec![Vec::new(); usize::from(SLOTS)];
        fill_runs(&mut incoming, runs.incoming_runs, "incoming")?;
        table.incoming = incoming.into_iter().map(|n| n.first().copied()).collect();
        Ok(table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn spread(members: &[NodeId]) -> SlotTable {
        SlotTable::default().rebalanced(members).0
    }

    fn assert_balanced(table: &SlotTable, members: &[NodeId]) {
        let n = members.len();
        let (lo, hi) = (16384 / n, 16384_usize.div_ceil(n));
        let counts = table.counts();
        assert_eq!(counts.len(), n, "every member owns slots: {counts:?}");
        for m in members {
            let c = counts[m];
            assert!(c == lo || c == hi, "member {m} owns {c}, not {lo} or {hi}");
        }
        assert!((0..SLOTS).all(|s| table.owner(s).is_some()));
    }

    #[test]
    fn one_member_owns_everything_in_one_run() {
        let t = spread(&[7]);
        assert_eq!(t.ranges(), vec![(0..=16383, 7)]);
        assert_eq!(t.epoch, 1);
    }

    #[test]
    fn three_to_four_moves_exactly_4096_slots_and_back() {
        let three = spread(&[1, 2, 3]);
        assert_balanced(&three, &[1, 2, 3]);
        let (four, moved) = three.rebalanced(&[1, 2, 3, 4]);
        assert_eq!(moved.len(), 4096);
        assert_balanced(&four, &[1, 2, 3, 4]);
        assert!(moved.iter().all(|&s| four.owner(s) == Some(4)));
        let (back, moved) = four.rebalanced(&[1, 2, 3]);
        assert_eq!(moved.len(), 4096);
        assert_balanced(&back, &[1, 2, 3]);
    }

    #[test]
    fn a_new_member_gets_contiguous_runs() {
        let (four, _) = spread(&[1, 2, 3]).rebalanced(&[1, 2, 3, 4]);
        let runs_of_4 = four.ranges().iter().filter(|(_, o)| *o == 4).count();
        assert!(runs_of_4 <= 3, "{:?}", four.ranges());
    }

    #[test]
    fn the_table_round_trips_through_its_runs() {
        let t = spread(&[1, 2, 3]).rebalanced(&[1, 2, 3, 9]).0;
        let bytes = rmp_serde::to_vec(&t).unwrap();
        assert!(bytes.len() < 200, "{} bytes", bytes.len());
        assert_eq!(rmp_serde::from_slice::<SlotTable>(&bytes).unwrap(), t);
        let bad = rmp_serde::to_vec(&Runs {
            epoch: 1,
            runs: vec![(10, 20000, 1)],
            replica_runs: Vec::new(),
            syncing_runs: Vec::new(),
            incoming_runs: Vec::new(),
        })
        .unwrap();
        assert!(rmp_serde::from_slice::<SlotTable>(&bad).is_err());
    }

    #[test]
    fn replicas_follow_the_owner_and_round_trip() {
        let t = spread(&[1, 2, 3]).with_replicas(&[1, 2, 3], 1, &SlotTable::default());
        for slot in [0, 6000, 16383] {
            let owner = t.owner(slot).unwrap();
            let replicas = t.replicas(slot);
            assert_eq!(replicas.len(), 1);
            assert_ne!(replicas[0], owner);
            assert_eq!(replicas[0], owner % 3 + 1, "the next member in id order");
        }
        // Asking for more replicas than there are other members gives every other member.
        let all = spread(&[1, 2]).with_replicas(&[1, 2], 5, &SlotTable::default());
        assert_eq!(all.replicas(0).len(), 1);
        let bytes = rmp_serde::to_vec(&t).unwrap();
        assert!(bytes.len() < 300, "{} bytes", bytes.len());
        assert_eq!(rmp_serde::from_slice::<SlotTable>(&bytes).unwrap(), t);
    }

    /// `table` with every replica in sync, as after the copies.
    fn synced(mut table: SlotTable) -> SlotTable {
        table.syncing.iter_mut().for_each(Vec::clear);
        table
    }

    #[test]
    fn new_replicas_sync_and_only_in_sync_ones_are_promoted() {
        let members = [1, 2, 3];
        let empty = SlotTable::default();
        let t = spread(&members).with_replicas(&members, 1, &empty);
        // Nobody had the slots before: every replica starts syncing.
        assert!((0..SLOTS).all(|s| t.syncing(s).len() == 1 && t.in_sync_count(s) == 0));
        // A syncing replica is never promoted: the slot stays with its failed owner.
        let (same, promoted) = t.failed_over(2);
        assert_eq!(promoted, 0);
        assert!((0..SLOTS).all(|s| same.owner(s) == t.owner(s)));
        // The owner reports the copy of its slots to their replica: those are in sync now.
        let owned_by_2: Vec<Slot> = (0..SLOTS).filter(|&s| t.owner(s) == Some(2)).collect();
        let run = (owned_by_2[0], *owned_by_2.last().unwrap());
        let (after, done) = t.marked_synced(2, 3, &[run], t.epoch);
        assert_eq!(done, owned_by_2.len());
        assert_eq!(after.epoch, t.epoch + 1);
        assert!(owned_by_2.iter().all(|&s| after.in_sync(s, 3)));
        // A report from another owner, or from a copy older than the syncing, changes nothing.
        assert_eq!(t.marked_synced(1, 3, &[run], t.epoch).1, 0);
        let (readded, _) = synced(t.clone()).failed_over(3).0.topped_up(&[1, 2, 3], 1);
        let stale = readded.marked_synced(2, 3, &[run], t.epoch).1;
        assert_eq!(
            stale, 0,
            "a copy from before the replica was re-added does not count"
        );
    }

    #[test]
    fn topping_up_keeps_in_sync_replicas_and_adds_syncing_ones() {
        let members = [1, 2, 3, 4];
        let t = synced(spread(&members).with_replicas(&members, 1, &SlotTable::default()));
        let (failed, _) = t.failed_over(2);
        let live = [1, 3, 4];
        let short = (0..SLOTS)
            .filter(|&s| failed.replicas(s).is_empty())
            .count();
        assert!(short > 0);
        let (topped, added) = failed.topped_up(&live, 1);
        assert_eq!(added, short);
        assert_eq!(topped.epoch, failed.epoch + 1);
        for s in 0..SLOTS {
            assert_eq!(topped.replicas(s).len(), 1, "slot {s}");
            assert_ne!(topped.replicas(s)[0], topped.owner(s).unwrap());
            assert!(!topped.holds(s, 2));
            if failed.replicas(s).is_empty() {
                assert_eq!(topped.syncing(s), &[(topped.replicas(s)[0], topped.epoch)]);
            } else {
                assert_eq!(topped.replicas(s), failed.replicas(s), "kept as it was");
                assert!(topped.in_sync(s, topped.replicas(s)[0]));
            }
        }
        // Nothing short: nothing changes.
        assert_eq!(topped.topped_up(&live, 1).1, 0);
        let bytes = rmp_serde::to_vec(&topped).unwrap();
        assert_eq!(rmp_serde::from_slice::<SlotTable>(&bytes).unwrap(), topped);
    }

    #[test]
    fn a_failed_owner_s_slots_pass_to_their_first_replica() {
        let t = synced(spread(&[1, 2, 3]).with_replicas(&[1, 2, 3], 1, &SlotTable::default()));
        let owned_by_2: Vec<Slot> = (0..SLOTS).filter(|&s| t.owner(s) == Some(2)).collect();
        let (after, promoted) = t.failed_over(2);
        assert_eq!(promoted, owned_by_2.len());
        assert_eq!(after.epoch, t.epoch + 1);
        for s in 0..SLOTS {
            assert_ne!(after.owner(s), Some(2));
            assert!(!after.replicas(s).contains(&2));
        }
        assert!(owned_by_2.iter().all(|&s| after.owner(s) == Some(3)));
        // Without a replica a slot stays with its failed owner, to be served again on return.
        let bare = spread(&[1, 2]);
        let (same, promoted) = bare.failed_over(2);
        assert_eq!((promoted, same.epoch), (0, bare.epoch));
        assert_eq!(same.counts(), bare.counts());
    }

    #[test]
    fn a_rebalanced_slot_keeps_its_owner_until_the_new_one_has_it() {
        let three = [1, 2, 3];
        let four = [1, 2, 3, 4];
        let t = synced(spread(&three).with_replicas(&three, 1, &SlotTable::default()));
        let (plan, moved) = t.rebalanced(&four);
        assert_eq!(moved.len(), 4096);
        let m = t.migrating_to(&plan, &four, &four, 1);
        // Nothing changed hands yet: every moving slot is incoming to 4, which syncs it.
        assert_eq!(m.counts(), t.counts());
        assert_eq!(m.migrating_count(), 4096);
        for &s in &moved {
            assert_eq!(m.incoming(s), Some(4));
            assert!(m.replicas(s).contains(&4) && !m.in_sync(s, 4), "slot {s}");
            assert_eq!(m.owner(s), t.owner(s));
        }
        let bytes = rmp_serde::to_vec(&m).unwrap();
        assert_eq!(rmp_serde::from_slice::<SlotTable>(&bytes).unwrap(), m);
        // 1's copy to 4 is reported: 1's moving slots pass to 4, the others wait.
        let from_1: Vec<Slot> = moved
            .iter()
            .copied()
            .filter(|&s| t.owner(s) == Some(1))
            .collect();
        let runs: Vec<(Slot, Slot)> = from_1.iter().map(|&s| (s, s)).collect();
        let (synced_1, done) = m.marked_synced(1, 4, &runs, m.epoch);
        assert!(done >= from_1.len());
        let (handed, n) = synced_1.handed_over(&four, 1);
        assert_eq!(n, from_1.len());
        for &s in &moved {
            if t.owner(s) == Some(1) {
                assert_eq!((handed.owner(s), handed.incoming(s)), (Some(4), None));
                // The new owner's replicas follow it; one that had the slot is in sync.
                assert_eq!(handed.replicas(s), &[1]);
                assert!(handed.in_sync(s, 1));
            } else {
                assert_eq!(handed.incoming(s), Some(4));
            }
        }
        // Nothing more is in sync: nothing more is handed over.
        assert_eq!(handed.handed_over(&four, 1).1, 0);
        // The incoming member fails: the slots it was receiving stay where they are.
        let (failed, _) = handed.failed_over(4);
        assert_eq!(failed.migrating_count(), 0);
        // Without replicas, the incoming member is the slot's one replica while it syncs.
        let bare = spread(&three);
        let (plan, _) = bare.rebalanced(&four);
        let m = bare.migrating_to(&plan, &four, &four, 0);
        for s in 0..SLOTS {
            let expect: &[NodeId] = if m.incoming(s).is_some() { &[4] } else { &[] };
            assert_eq!(m.replicas(s), expect);
        }
    }

    #[test]
    fn a_slot_moving_to_an_in_sync_replica_passes_at_once() {
        // Two members, one replica each: each has the other's slots, so moving them copies
        // nothing.
        let two = [1, 2];
        let t = synced(spread(&two).with_replicas(&two, 1, &SlotTable::default()));
        let (plan, moved) = t.rebalanced(&[1]);
        assert_eq!(moved.len(), 8192);
        // 2 is leaving (a drain): its slots go to 1, which has them already, and 2 keeps no
        // replica role.
        let m = t.migrating_to(&plan, &two, &[1], 1);
        assert_eq!(m.counts().get(&1), Some(&16384));
        assert_eq!(m.migrating_count(), 0);
        assert!((0..SLOTS).all(|s| !m.holds(s, 2)));
    }

    proptest! {
        /// Any sequence of membership changes leaves a valid, balanced table, and each change moves
        /// only slots whose owner left or had more than its share.
        #[test]
        fn every_plan_is_balanced_and_moves_only_what_it_must(
            steps in proptest::collection::vec(proptest::collection::btree_set(1u64..12, 1..8), 1..6)
        ) {
            let mut table = SlotTable::default();
            for members in steps {
                let members: Vec<NodeId> = members.into_iter().collect();
                let before = table.counts();
                let (next, moved) = table.rebalanced(&members);
                assert_balanced(&next, &members);
                let hi = 16384_usize.div_ceil(members.len());
                for &s in &moved {
                    let old = table.owner(s);
                    prop_assert_ne!(old, next.owner(s));
                    if let Some(o) = old {
                        prop_assert!(!members.contains(&o) || before[&o] > 16384 / members.len()
                            || before[&o] > hi, "slot {} left {} needlessly", s, o);
                    }
                }
                // Nobody who stays loses a slot while below its share.
                for m in &members {
                    let lost = moved.iter().filter(|&&s| table.owner(s) == Some(*m)).count();
                    let had = before.get(m).copied().unwrap_or(0);
                    prop_assert!(had - lost >= (16384 / members.len()).min(had));
                }
                prop_assert_eq!(next.epoch, table.epoch + 1);
                table = next;
            }
        }
    }
}

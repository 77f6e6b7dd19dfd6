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
    /// Bumped by every change, starting at 0 for the empty table.
    pub epoch: u64,
}

impl Default for SlotTable {
    fn default() -> Self {
        Self {
            owners: vec![None; usize::from(SLOTS)],
            replicas: vec![Vec::new(); usize::from(SLOTS)],
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

    /// Whether `node` holds `slot`'s keys: as its owner or as one of its replicas.
    pub fn holds(&self, slot: Slot, node: NodeId) -> bool {
        self.owner(slot) == Some(node) || self.replicas(slot).contains(&node)
    }

    /// The same owners, with `count` replicas per slot (fewer when there are not enough other
    /// members): the members that follow the owner in id order, wrapping around. So every
    /// member replicates a share of every other member's slots, and the replicas of one
    /// member's slots are spread rather than all on one node. The epoch is left as it is: this
    /// completes a change (a rebalance) that already counted.
    pub fn with_replicas(&self, members: &[NodeId], count: usize) -> SlotTable {
        let mut members = members.to_vec();
        members.sort_unstable();
        members.dedup();
        let mut next = self.clone();
        for slot in 0..usize::from(SLOTS) {
            next.replicas[slot].clear();
            let Some(owner) = next.owners[slot] else {
                continue;
            };
            let Ok(at) = members.binary_search(&owner) else {
                continue;
            };
            let wanted = count.min(members.len() - 1);
            next.replicas[slot].extend((1..=wanted).map(|i| members[(at + i) % members.len()]));
        }
        next
    }

    /// The table after `node` failed: each slot it owned passes to its first replica (a slot
    /// without one stays with `node`, which serves it again from its data directory when it
    /// returns), and `node` is no longer anyone's replica. Returns the table and how many slots
    /// were promoted.
    pub fn failed_over(&self, node: NodeId) -> (SlotTable, usize) {
        let mut next = self.clone();
        let mut promoted = 0;
        for slot in 0..usize::from(SLOTS) {
            let replicas = &mut next.replicas[slot];
            replicas.retain(|&r| r != node);
            if next.owners[slot] == Some(node) && !replicas.is_empty() {
                next.owners[slot] = Some(replicas.remove(0));
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
            epoch: self.epoch + 1,
        };
        if members.is_empty() {
            let moved = (0..SLOTS).filter(|&s| self.owner(s).is_some()).collect();
            next.owners.fill(None);
            next.replicas.iter_mut().for_each(Vec::clear);
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

/// On the wire and in snapshots the table travels as runs, not 16384 entries.
#[derive(Serialize, Deserialize)]
struct Runs {
    epoch: u64,
    runs: Vec<(Slot, Slot, NodeId)>,
    /// Runs of slots with the same replicas (absent in tables written before replication).
    #[serde(default)]
    replica_runs: Vec<(Slot, Slot, Vec<NodeId>)>,
}

impl SlotTable {
    fn replica_runs(&self) -> Vec<(Slot, Slot, Vec<NodeId>)> {
        let mut out: Vec<(Slot, Slot, Vec<NodeId>)> = Vec::new();
        for (slot, replicas) in self.replicas.iter().enumerate() {
            let slot = slot as Slot;
            if replicas.is_empty() {
                continue;
            }
            match out.last_mut() {
                Some((_, end, r)) if r == replicas && *end + 1 == slot => *end = slot,
                _ => out.push((slot, slot, replicas.clone())),
            }
        }
        out
    }
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
            replica_runs: self.replica_runs(),
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
        for (start, end, replicas) in runs.replica_runs {
            if start > end || end >= SLOTS {
                return Err(serde::de::Error::custom(format!(
                    "replica run {start}..={end} is outside 0..{SLOTS}"
                )));
            }
            for slot in start..=end {
                table.replicas[usize::from(slot)].clone_from(&replicas);
            }
        }
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
        })
        .unwrap();
        assert!(rmp_serde::from_slice::<SlotTable>(&bad).is_err());
    }

    #[test]
    fn replicas_follow_the_owner_and_round_trip() {
        let t = spread(&[1, 2, 3]).with_replicas(&[1, 2, 3], 1);
        for slot in [0, 6000, 16383] {
            let owner = t.owner(slot).unwrap();
            let replicas = t.replicas(slot);
            assert_eq!(replicas.len(), 1);
            assert_ne!(replicas[0], owner);
            assert_eq!(replicas[0], owner % 3 + 1, "the next member in id order");
        }
        // Asking for more replicas than there are other members gives every other member.
        let all = spread(&[1, 2]).with_replicas(&[1, 2], 5);
        assert_eq!(all.replicas(0).len(), 1);
        let bytes = rmp_serde::to_vec(&t).unwrap();
        assert!(bytes.len() < 300, "{} bytes", bytes.len());
        assert_eq!(rmp_serde::from_slice::<SlotTable>(&bytes).unwrap(), t);
    }

    #[test]
    fn a_failed_owner_s_slots_pass_to_their_first_replica() {
        let t = spread(&[1, 2, 3]).with_replicas(&[1, 2, 3], 1);
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

//! A cluster member's Prometheus metrics, read from the cluster view and replication at each
//! scrape: members and failed members, slots owned and under-replicated, and per replica the
//! changes queued and not yet confirmed (the replication-lag signal an alert rule watches), and
//! published messages that could not go to the other members.

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{IntCounter, IntGauge, IntGaugeVec, Opts};

use crate::state::Cluster;

pub struct ClusterCollector {
    cluster: Cluster,
    members: IntGauge,
    failed: IntGauge,
    owned_slots: IntGauge,
    under_replicated: IntGauge,
    backlog: IntGaugeVec,
    sent: IntCounter,
    applied: IntCounter,
    publish_dropped: IntCounter,
    descs: Vec<Desc>,
}

impl ClusterCollector {
    pub fn new(cluster: Cluster) -> Self {
        let gauge = |name: &str, help: &str| IntGauge::new(name, help).expect("static metric");
        let counter = |name: &str, help: &str| IntCounter::new(name, help).expect("static metric");
        let members = gauge(
            "larder_cluster_members",
            "Members of the cluster, failed ones included.",
        );
        let failed = gauge(
            "larder_cluster_failed_members",
            "Members the raft leader failed over after they stopped answering.",
        );
        let owned_slots = gauge("larder_cluster_owned_slots", "Hash slots this member owns.");
        let under_replicated = gauge(
            "larder_cluster_under_replicated_slots",
            "Slots with fewer in-sync replicas than the cluster keeps (after a failure, until new replicas have their copy).",
        );
        let backlog = IntGaugeVec::new(
            Opts::new(
                "larder_replication_backlog_changes",
                "Changes this member queued for a replica and that it has not confirmed yet.",
            ),
            &["replica"],
        )
        .expect("static metric");
        let sent = counter(
            "larder_replication_changes_sent_total",
            "Changes replicas confirmed they applied, sent by this member as a slot owner.",
        );
        let applied = counter(
            "larder_replication_changes_applied_total",
            "Changes this member applied as a replica of other members' slots.",
        );
        let publish_dropped = counter(
            "larder_cluster_publish_dropped_total",
            "Messages published here that did not go to the other members: the queue to them was full.",
        );
        let descs = [&members, &failed, &owned_slots, &under_replicated]
            .iter()
            .flat_map(|g| g.desc().into_iter().cloned())
            .chain(backlog.desc().into_iter().cloned())
            .chain(sent.desc().into_iter().cloned())
            .chain(applied.desc().into_iter().cloned())
            .chain(publish_dropped.desc().into_iter().cloned())
            .collect();
        Self {
            cluster,
            members,
            failed,
            owned_slots,
            under_replicated,
            backlog,
            sent,
            applied,
            publish_dropped,
            descs,
        }
    }
}

impl Collector for ClusterCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        use std::sync::atomic::Ordering;
        let view = self.cluster.node.view();
        self.members.set(view.members.len() as i64);
        self.failed.set(view.failed.len() as i64);
        let (mut owned, mut under) = (0, 0);
        for slot in 0..larder_cluster::slot::SLOTS {
            owned += i64::from(view.slots.owner(slot) == Some(view.me));
            under += i64::from(view.slots.in_sync_count(slot) < view.replicas);
        }
        self.owned_slots.set(owned);
        self.under_replicated.set(under);
        let replication = &self.cluster.replication;
        self.backlog.reset();
        for (replica, queued) in replication.backlog() {
            self.backlog
                .with_label_values(&[&format!("{replica:016x}")])
                .set(queued as i64);
        }
        // Counters mirror totals kept elsewhere: set them to the total at each scrape.
        for (counter, total) in [
            (
                &self.sent,
                replication.applied_by_replicas.load(Ordering::Relaxed),
            ),
            (
                &self.applied,
                replication.applied_here.load(Ordering::Relaxed),
            ),
            (&self.publish_dropped, self.cluster.node.publish_dropped()),
        ] {
            counter.reset();
            counter.inc_by(total);
        }
        [
            &self.members,
            &self.failed,
            &self.owned_slots,
            &self.under_replicated,
        ]
        .iter()
        .flat_map(|g| g.collect())
        .chain(self.backlog.collect())
        .chain(self.sent.collect())
        .chain(self.applied.collect())
        .chain(self.publish_dropped.collect())
        .collect()
    }
}

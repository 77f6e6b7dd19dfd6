//! Pub/sub messages every member delivers: a `PUBLISH` on one member reaches the subscribers of
//! all of them, as in Redis Cluster.
//!
//! [`Broadcaster::send`] queues a message without waiting (the publisher's answer counts this
//! member's receivers only, as Redis Cluster's does). One task drains the queue: it takes what
//! has gathered, sends it to every other live member as one batch, waits for all of them (or a
//! short deadline), then takes the next. Batches go one at a time, so each member delivers a
//! publisher's messages in the order they were published. Delivery is at most once: a member
//! that is down or slow misses the messages meanwhile, as a Redis subscriber on a lost
//! connection does. A full queue drops the newest message and counts it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::bus::{BusRequest, BusResponse, Peer};
use crate::node::ClusterView;

/// Messages queued beyond this are dropped (and counted).
const QUEUE: usize = 65_536;
/// The most messages in one batch.
const BATCH: usize = 1_024;
/// How long a member gets to take a batch before the next one goes without waiting for it.
const DELIVER_TIMEOUT: Duration = Duration::from_secs(2);

/// One published message, the channel as the publishing member's hub names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Published {
    #[serde(with = "serde_bytes")]
    pub channel: Vec<u8>,
    #[serde(with = "serde_bytes")]
    pub message: Vec<u8>,
    /// Published to a shard channel (`SPUBLISH`), not a plain one.
    #[serde(default)]
    pub sharded: bool,
}

/// Delivers other members' published messages to this member's subscribers.
pub trait PubSubHandler: Send + Sync + 'static {
    fn deliver(&self, messages: Vec<Published>);
}

/// The sending side; see the module docs.
pub(crate) struct Broadcaster {
    queue: mpsc::Sender<Published>,
    dropped: Arc<AtomicU64>,
}

impl Broadcaster {
    /// Start the sending task; it ends when the broadcaster is dropped.
    pub fn start(
        view: Arc<arc_swap::ArcSwap<ClusterView>>,
        tls: Option<crate::bus::BusTls>,
    ) -> Self {
        let (queue, rx) = mpsc::channel(QUEUE);
        tokio::spawn(send_batches(rx, view, tls));
        Self {
            queue,
            dropped: Arc::default(),
        }
    }

    pub fn send(&self, message: Published) {
        if self.queue.try_send(message).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Messages dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

async fn send_batches(
    mut rx: mpsc::Receiver<Published>,
    view: Arc<arc_swap::ArcSwap<ClusterView>>,
    tls: Option<crate::bus::BusTls>,
) {
    let mut peers: std::collections::HashMap<String, Arc<Peer>> = Default::default();
    let mut batch = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        let view = view.load_full();
        let request = Arc::new(BusRequest::Publish(std::mem::take(&mut batch)));
        let mut calls = tokio::task::JoinSet::new();
        for (id, member) in &view.members {
            if *id == view.me || view.failed.contains(id) {
                continue;
            }
            let peer = Arc::clone(
                peers
                    .entry(member.bus.clone())
                    .or_insert_with(|| Arc::new(Peer::new(member.bus.clone(), tls.clone()))),
            );
            let (request, addr) = (Arc::clone(&request), member.bus.clone());
            calls.spawn(async move {
                match peer.call(&request, DELIVER_TIMEOUT).await {
                    Ok(BusResponse::Delivered) => {}
                    Ok(other) => {
                        tracing::debug!(peer = %addr, answer = ?other, "published messages not taken")
                    }
                    Err(e) => {
                        tracing::debug!(peer = %addr, error = %e, "published messages not delivered")
                    }
                }
            });
        }
        calls.join_all().await;
    }
}

//! What every connection of one RESP server shares: the application state, the limits, the
//! server-wide counters INFO reports, and the latency histograms resolved once per command.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use prometheus::Histogram;

use super::command::CommandKind;
use super::gate::TransactionGate;
use super::limits::RespLimits;
use super::notify::Notifications;
use super::pubsub::PubSub;
use super::tracking::Tracking;
use crate::state::AppState;

pub struct ServerContext {
    pub state: AppState,
    pub limits: RespLimits,
    pub started: Instant,
    /// The port clients connect to, for INFO.
    pub port: u16,
    next_client_id: AtomicU64,
    pub connections_received: AtomicU64,
    /// Commands executed; connections add their counts in batches (see `latency`).
    pub commands_processed: AtomicU64,
    /// `larder_request_duration_seconds{protocol="resp", op=<command>}`, indexed by
    /// [`CommandKind::index`].
    pub latency: Box<[Histogram]>,
    /// Held shared by every command, exclusive by `EXEC` (see `gate`).
    pub gate: TransactionGate,
    /// Pub/sub channels and patterns, server-wide.
    pub pubsub: Arc<PubSub>,
    /// Keyspace notification flags per namespace (they publish on `pubsub`).
    pub notifications: Arc<Notifications>,
    /// Client-side caching: tracking clients and what they read.
    pub tracking: Arc<Tracking>,
    /// Clients blocked in BLPOP and friends, woken by writes to their keys.
    pub waiters: Arc<super::blocking::Waiters>,
    /// Every connected client (CLIENT LIST, CLIENT KILL, shutdown).
    pub clients: Arc<super::clients::Clients>,
    /// The proxies whose connections start with a PROXY protocol header (`None`: no header is
    /// read from anyone).
    pub proxy_protocol: Option<crate::auth::client_addr::TrustedProxies>,
}

impl ServerContext {
    /// Also attaches the key-event sinks (notifications) to every namespace of `state`.
    pub fn new(state: AppState, limits: RespLimits, port: u16) -> Self {
        let pubsub: Arc<PubSub> = Arc::default();
        let clients: Arc<super::clients::Clients> = Arc::default();
        let tracking = Arc::new(Tracking::new(Arc::clone(&pubsub), Arc::clone(&clients)));
        let waiters: Arc<super::blocking::Waiters> = Arc::default();
        let notifications = Arc::new(Notifications::new(
            Arc::clone(&pubsub),
            Arc::clone(&tracking),
            Arc::clone(&waiters),
        ));
        state
            .namespaces
            .notify_key_events(Arc::clone(&notifications) as _);
        if let Some(cluster) = &state.cluster {
            // Messages published on other members reach this member's subscribers.
            cluster
                .node
                .set_pubsub_handler(Arc::new(super::pubsub::FromMembers(Arc::clone(&pubsub))));
        }
        let latency = CommandKind::ALL
            .iter()
            .map(|kind| state.metrics.latency("resp", kind.spec().name))
            .collect();
        Self {
            state,
            limits,
            started: Instant::now(),
            port,
            next_client_id: AtomicU64::new(1),
            connections_received: AtomicU64::new(0),
            commands_processed: AtomicU64::new(0),
            latency,
            gate: TransactionGate::default(),
            pubsub,
            notifications,
            tracking,
            waiters,
            clients,
            proxy_protocol: None,
        }
    }

    pub fn next_client_id(&self) -> u64 {
        self.next_client_id.fetch_add(1, Ordering::Relaxed)
    }
}

//! Every connected RESP client, server-wide: what `CLIENT LIST` shows, what `CLIENT KILL` ends,
//! what INFO's client counts add up, and the stop signals shutdown sends.
//!
//! A connection's own [`Session`] stays private to its task; the table holds a
//! [`ClientRecord`] per connection, which the connection brings up to date only when something
//! it describes changed (a command from [`describes_client`] ran) — so the data path pays two
//! relaxed atomic stores per batch (the last command and the time of the last interaction) and
//! takes no lock.
//!
//! Killing a client sends its stop signal: the connection finishes the batch it is executing,
//! writes the replies and closes, exactly as at shutdown. A client that kills itself gets its
//! answer first.

use std::collections::HashMap;
use std::fmt::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::time::Instant;

use parking_lot::Mutex;
use tokio::sync::oneshot;

use super::command::CommandKind;
use super::reply::Protocol;
use super::session::Session;

/// The clients table of one RESP server.
#[derive(Default)]
pub struct Clients {
    live: Mutex<HashMap<u64, Live>>,
}

struct Live {
    record: Arc<ClientRecord>,
    stop: oneshot::Sender<()>,
}

/// One connection as other clients see it.
#[derive(Debug)]
pub struct ClientRecord {
    pub id: u64,
    pub peer: SocketAddr,
    pub local: SocketAddr,
    pub connected_at: Instant,
    /// Milliseconds from `connected_at` to the last batch of commands.
    last_interaction_ms: AtomicU64,
    /// [`CommandKind::index`] of the last command, plus one (0: none yet).
    last_command: AtomicU16,
    blocked: AtomicBool,
    described: Mutex<Described>,
}

/// What a connection's session says about it, copied when it changes.
#[derive(Debug, Clone, Default)]
pub struct Described {
    pub name: String,
    pub lib_name: String,
    pub lib_ver: String,
    /// The selected namespace as the client's own tenant calls it.
    pub namespace: String,
    /// `SELECT`'s number for `default` and `db1` … `db15`; 0 for any other namespace.
    pub db: u32,
    pub user: String,
    /// The tenant the client authenticated as (`None`: the operator, or no authentication).
    pub tenant: Option<String>,
    pub resp: i64,
    pub channels: usize,
    pub patterns: usize,
    pub shard_channels: usize,
    /// Commands queued since MULTI; `None` outside a transaction.
    pub multi: Option<usize>,
    pub watched: usize,
    /// `CLIENT TRACKING` is on; `Some(true)` in BCAST mode.
    pub tracking: Option<bool>,
    pub redirect: Option<u64>,
}

impl Described {
    pub fn of(session: &Session, protocol: Protocol) -> Self {
        let view = session.view();
        let text = |bytes: &Option<Vec<u8>>| {
            bytes
                .as_deref()
                .map(String::from_utf8_lossy)
                .unwrap_or_default()
                .into_owned()
        };
        let namespace = view
            .shown(session.namespace.name())
            .unwrap_or(session.namespace.name())
            .to_string();
        let db = match namespace.as_str() {
            larder_runtime::DEFAULT_NAMESPACE => 0,
            name => name
                .strip_prefix("db")
                .and_then(|n| n.parse().ok())
                .filter(|n| (1..=15).contains(n))
                .unwrap_or(0),
        };
        let (channels, patterns) = session
            .subscriptions
            .as_ref()
            .map_or((0, 0), |s| s.counts());
        let shard_channels = session
            .subscriptions
            .as_ref()
            .map_or(0, |s| s.shard_count());
        Self {
            name: text(&session.name),
            lib_name: text(&session.lib_name),
            lib_ver: text(&session.lib_ver),
            namespace,
            db,
            user: super::command::acl::user(session).to_string(),
            tenant: view.tenant_name().map(str::to_string),
            resp: protocol.version(),
            channels,
            patterns,
            shard_channels,
            multi: session.transaction.as_ref().map(|t| t.queued_count()),
            watched: session.watched.len(),
            tracking: session.tracking.as_ref().map(|t| t.mode.bcast),
            redirect: session
                .tracking
                .as_ref()
                .map(|t| t.mode.redirect)
                .filter(|&r| r != 0),
        }
    }

    fn is_pubsub(&self) -> bool {
        self.channels + self.patterns + self.shard_channels > 0
    }
}

/// Redis's client types, for `CLIENT LIST TYPE` and `CLIENT KILL TYPE`. There are never
/// replicas or masters among a Larder node's RESP clients, so those match nobody.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientType {
    Normal,
    Pubsub,
    Replica,
    Master,
}

impl ClientType {
    pub fn parse(name: &[u8]) -> Option<Self> {
        let name = std::str::from_utf8(name).ok()?.to_ascii_lowercase();
        Some(match name.as_str() {
            "normal" => Self::Normal,
            "pubsub" => Self::Pubsub,
            "replica" | "slave" => Self::Replica,
            "master" => Self::Master,
            _ => return None,
        })
    }

    pub fn matches(self, described: &Described) -> bool {
        match self {
            Self::Normal => !described.is_pubsub(),
            Self::Pubsub => described.is_pubsub(),
            Self::Replica | Self::Master => false,
        }
    }
}

/// Which clients `CLIENT KILL` ends (every given filter must match).
#[derive(Debug, Default)]
pub struct KillFilter {
    pub addr: Option<String>,
    pub laddr: Option<String>,
    pub id: Option<u64>,
    pub user: Option<String>,
    pub client_type: Option<ClientType>,
    /// Only clients connected at least this many seconds.
    pub max_age_secs: Option<u64>,
    /// Leave the calling client alone.
    pub skip: Option<u64>,
}

/// What INFO's `# Clients` section counts, over the clients a caller may see.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ClientCounts {
    pub connected: usize,
    pub pubsub: usize,
    pub watching: usize,
    pub watched_keys: usize,
    pub tracking: usize,
}

impl Clients {
    /// Add a new connection; the receiver fires when it is killed or the server stops.
    pub fn register(
        &self,
        id: u64,
        peer: SocketAddr,
        local: SocketAddr,
    ) -> (Arc<ClientRecord>, oneshot::Receiver<()>) {
        let record = Arc::new(ClientRecord {
            id,
            peer,
            local,
            connected_at: Instant::now(),
            last_interaction_ms: AtomicU64::new(0),
            last_command: AtomicU16::new(0),
            blocked: AtomicBool::new(false),
            described: Mutex::new(Described {
                namespace: larder_runtime::DEFAULT_NAMESPACE.to_string(),
                user: "default".to_string(),
                resp: 2,
                ..Described::default()
            }),
        });
        let (stop, stopped) = oneshot::channel();
        self.live.lock().insert(
            id,
            Live {
                record: Arc::clone(&record),
                stop,
            },
        );
        (record, stopped)
    }

    /// The connection ended (also when its task was aborted).
    pub fn remove(&self, id: u64) {
        self.live.lock().remove(&id);
    }

    /// Tell every connection to stop (shutdown); returns how many there were.
    pub fn stop_all(&self) -> usize {
        let live: Vec<Live> = self.live.lock().drain().map(|(_, l)| l).collect();
        let count = live.len();
        for l in live {
            let _ = l.stop.send(());
        }
        count
    }

    /// The records `visible` admits, in connection order.
    pub fn list(
        &self,
        visible: impl Fn(&Described) -> bool,
    ) -> Vec<(Arc<ClientRecord>, Described)> {
        let mut out: Vec<_> = self
            .live
            .lock()
            .values()
            .map(|l| (Arc::clone(&l.record), l.record.described.lock().clone()))
            .filter(|(_, d)| visible(d))
            .collect();
        out.sort_by_key(|(r, _)| r.id);
        out
    }

    /// Stop every client `filter` and `visible` admit; returns their ids.
    pub fn kill(&self, filter: &KillFilter, visible: impl Fn(&Described) -> bool) -> Vec<u64> {
        let mut live = self.live.lock();
        let doomed: Vec<u64> = live
            .values()
            .filter(|l| {
                let r = &l.record;
                let d = r.described.lock();
                visible(&d)
                    && filter.skip != Some(r.id)
                    && filter.id.is_none_or(|id| id == r.id)
                    && filter
                        .addr
                        .as_ref()
                        .is_none_or(|a| *a == r.peer.to_string())
                    && filter
                        .laddr
                        .as_ref()
                        .is_none_or(|a| *a == r.local.to_string())
                    && filter.user.as_ref().is_none_or(|u| *u == d.user)
                    && filter.client_type.is_none_or(|t| t.matches(&d))
                    && filter
                        .max_age_secs
                        .is_none_or(|age| r.connected_at.elapsed().as_secs() >= age)
            })
            .map(|l| l.record.id)
            .collect();
        for id in &doomed {
            if let Some(l) = live.remove(id) {
                let _ = l.stop.send(());
            }
        }
        doomed
    }

    /// Whether a client with this id is connected.
    pub fn exists(&self, id: u64) -> bool {
        self.live.lock().contains_key(&id)
    }

    /// `own` stands in for the caller's entry, which may lag its current batch.
    pub fn counts(
        &self,
        visible: impl Fn(&Described) -> bool,
        own: Option<(u64, &Described)>,
    ) -> ClientCounts {
        let mut counts = ClientCounts::default();
        for l in self.live.lock().values() {
            let guard = l.record.described.lock();
            let d = match own {
                Some((id, own)) if id == l.record.id => own,
                _ => &guard,
            };
            if !visible(d) {
                continue;
            }
            counts.connected += 1;
            counts.pubsub += usize::from(d.is_pubsub());
            counts.watching += usize::from(d.watched > 0);
            counts.watched_keys += d.watched;
            counts.tracking += usize::from(d.tracking.is_some());
        }
        counts
    }
}

impl ClientRecord {
    /// A batch of commands is being executed (once per batch, on the data path).
    pub fn touch(&self) {
        let ms = self.connected_at.elapsed().as_millis() as u64;
        self.last_interaction_ms.store(ms, Ordering::Relaxed);
    }

    /// The command about to run (once per command, on the data path).
    pub fn ran(&self, kind: CommandKind) {
        self.last_command
            .store(kind.index() as u16 + 1, Ordering::Relaxed);
    }

    pub fn set_blocked(&self, blocked: bool) {
        self.blocked.store(blocked, Ordering::Relaxed);
    }

    pub fn describe(&self, described: Described) {
        *self.described.lock() = described;
    }

    fn idle_secs(&self) -> u64 {
        let now = self.connected_at.elapsed().as_millis() as u64;
        now.saturating_sub(self.last_interaction_ms.load(Ordering::Relaxed)) / 1000
    }

    fn last_command(&self) -> &'static str {
        match self.last_command.load(Ordering::Relaxed) {
            0 => "NULL",
            n => CommandKind::ALL
                .get(usize::from(n) - 1)
                .map_or("NULL", |kind| kind.spec().name),
        }
    }
}

/// The commands after which a connection's [`Described`] may have changed.
pub fn describes_client(kind: CommandKind) -> bool {
    use CommandKind as K;
    matches!(
        kind,
        K::Hello
            | K::Auth
            | K::Select
            | K::Client
            | K::Subscribe
            | K::PSubscribe
            | K::Unsubscribe
            | K::PUnsubscribe
            | K::SSubscribe
            | K::SUnsubscribe
            | K::Multi
            | K::Exec
            | K::Discard
            | K::Watch
            | K::Unwatch
            | K::Reset
    )
}

/// What a `CLIENT LIST` line says about a connection besides its [`Described`].
#[derive(Debug, Clone)]
pub struct LineFacts {
    pub id: u64,
    pub peer: SocketAddr,
    pub local: SocketAddr,
    pub age_secs: u64,
    pub idle_secs: u64,
    pub blocked: bool,
    pub command: &'static str,
}

impl LineFacts {
    /// The calling client, from its live session, running `kind`.
    pub fn own(session: &Session, kind: CommandKind) -> Self {
        Self {
            id: session.id,
            peer: session.peer,
            local: session.local,
            age_secs: session.connected_at.elapsed().as_secs(),
            idle_secs: 0,
            blocked: false,
            command: kind.spec().name,
        }
    }
}

impl ClientRecord {
    pub fn facts(&self) -> LineFacts {
        LineFacts {
            id: self.id,
            peer: self.peer,
            local: self.local,
            age_secs: self.connected_at.elapsed().as_secs(),
            idle_secs: self.idle_secs(),
            blocked: self.blocked.load(Ordering::Relaxed),
            command: self.last_command(),
        }
    }
}

/// One line in Redis's `CLIENT LIST` / `CLIENT INFO` format, newline-terminated, with the fields
/// that mean something here plus `ns=`, the selected namespace.
pub fn info_line(facts: &LineFacts, d: &Described) -> String {
    let mut flags = String::new();
    if d.is_pubsub() {
        flags.push('P');
    }
    if d.multi.is_some() {
        flags.push('x');
    }
    if facts.blocked {
        flags.push('b');
    }
    if let Some(bcast) = d.tracking {
        flags.push('t');
        if bcast {
            flags.push('B');
        }
    }
    if flags.is_empty() {
        flags.push('N');
    }
    let mut line = String::with_capacity(256);
    let _ = writeln!(
        line,
        "id={} addr={} laddr={} name={} age={} idle={} flags={} db={} ns={} sub={} psub={} ssub={} \
         multi={} watch={} cmd={} user={} redir={} resp={} lib-name={} lib-ver={}",
        facts.id,
        facts.peer,
        facts.local,
        d.name,
        facts.age_secs,
        facts.idle_secs,
        flags,
        d.db,
        d.namespace,
        d.channels,
        d.patterns,
        d.shard_channels,
        d.multi.map_or(-1, |n| n as i64),
        d.watched,
        facts.command,
        d.user,
        match (d.tracking, d.redirect) {
            (Some(_), Some(r)) => r as i64,
            (Some(_), None) => 0,
            (None, _) => -1,
        },
        d.resp,
        d.lib_name,
        d.lib_ver,
    );
    line
}

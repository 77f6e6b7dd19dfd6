//! What one connection remembers between commands: its namespace, its name, its client library,
//! and the request context tags set with `CLIENT TAGS` (sent along with every data command).
//!
//! The protocol version lives with the write buffer ([`super::reply::Reply`]), which is what
//! needs it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use larder_runtime::Namespace;
use larder_runtime::plugin::RequestTags;

use std::sync::atomic::AtomicBool;

use tokio::sync::mpsc;

use super::command::pubsub::Subscriptions;
use super::command::transaction::{Transaction, Watched};
use super::pubsub::{Push, Subscriber};
use super::tracking::ActiveTracking;

#[derive(Debug)]
pub struct Session {
    /// `CLIENT ID`: unique per server, increasing.
    pub id: u64,
    /// The selected namespace, resolved once per SELECT so commands never look it up by name.
    pub namespace: Arc<Namespace>,
    /// `CLIENT SETNAME` / `HELLO … SETNAME`.
    pub name: Option<Vec<u8>>,
    /// `CLIENT SETINFO LIB-NAME` / `LIB-VER`, as client libraries send on connect.
    pub lib_name: Option<Vec<u8>>,
    pub lib_ver: Option<Vec<u8>>,
    /// `CLIENT TAGS`: context tags the plugin hooks see during this connection's data commands.
    /// Empty (the default) means data commands run without a tag scope at all.
    pub tags: RequestTags,
    pub peer: SocketAddr,
    pub local: SocketAddr,
    pub connected_at: Instant,
    /// Set by QUIT: the connection closes once the reply is written.
    pub quit: bool,
    /// Between MULTI and EXEC/DISCARD: the queued commands.
    pub transaction: Option<Transaction>,
    /// Keys WATCHed, released by EXEC, DISCARD, UNWATCH or the connection closing.
    pub watched: Vec<Watched>,
    /// Pub/sub channels and patterns, once the connection subscribed to anything.
    pub subscriptions: Option<Subscriptions>,
    /// The queue pub/sub messages and tracking invalidations reach this client through, once
    /// it needs one.
    pub push: Option<PushQueue>,
    /// `CLIENT TRACKING ON`: how this client is tracked.
    pub tracking: Option<ActiveTracking>,
    /// `CLIENT CACHING yes|no`: applies to the next command only.
    pub caching_next: Option<bool>,
    /// `CLIENT REPLY`: whether answers are sent.
    pub reply_mode: ReplyMode,
    /// Who authenticated on this connection (authentication on only; see `auth_gate`).
    pub principal: Option<crate::auth::Principal>,
    /// The key table's epoch when `principal` was last checked.
    pub auth_epoch: u64,
    /// The tenant connection slot `principal` holds, when it is a tenant's.
    pub tenant_slot: Option<crate::tenants::ConnectionSlot>,
    /// A JWT or user password the connection checked (asynchronously) for the AUTH or HELLO it
    /// is about to run, and who it belongs to.
    pub verified: Option<super::auth_gate::Verified>,
    /// The new passwords of the `ACL SETUSER` about to run, hashed off the event loop.
    pub hashed_passwords: Option<super::auth_gate::Hashed>,
    /// A blocking command (BLPOP, …) waiting for its keys; see `resp::blocking`.
    pub blocked: Option<super::blocking::Blocked>,
    /// Set by a blocking command that found nothing yet: run this frame again later.
    pub wants_retry: bool,
    /// EXEC is running the queued commands: blocking commands answer at once.
    pub in_exec: bool,
    /// This connection in the server's clients table (`None` for a command forwarded from
    /// another cluster member, which is nobody's connection here).
    pub record: Option<Arc<super::clients::ClientRecord>>,
    /// A command ran that may change what `record` says (see `clients::describes_client`).
    pub redescribe: bool,
}

/// `CLIENT REPLY ON|OFF|SKIP`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReplyMode {
    #[default]
    On,
    Off,
    /// Set by CLIENT REPLY SKIP: the next command's answer is dropped.
    SkipNext,
    /// The command now running is the skipped one.
    Skipping,
}

/// A client's queue of out-of-band messages.
#[derive(Debug)]
pub struct PushQueue {
    pub subscriber: Subscriber,
    /// Taken by the connection loop, which writes what arrives on it.
    pub receiver: Option<mpsc::Receiver<Push>>,
    /// Set when the queue was full: the connection closes.
    pub overflowed: Arc<AtomicBool>,
}

impl Session {
    /// After a command: whether its answer is to be dropped (and advance SKIP).
    pub fn suppress_reply(&mut self) -> bool {
        match self.reply_mode {
            ReplyMode::On => false,
            ReplyMode::Off => true,
            ReplyMode::SkipNext => {
                // The CLIENT REPLY SKIP command itself is answered with nothing too.
                self.reply_mode = ReplyMode::Skipping;
                true
            }
            ReplyMode::Skipping => {
                self.reply_mode = ReplyMode::On;
                true
            }
        }
    }

    /// This client's queue, created on first use.
    pub fn push_subscriber(&mut self) -> Subscriber {
        let queue = self.push.get_or_insert_with(|| {
            let (subscriber, receiver, overflowed) = Subscriber::new();
            PushQueue {
                subscriber,
                receiver: Some(receiver),
                overflowed,
            }
        });
        queue.subscriber.clone()
    }
}

impl Session {
    /// How this session names namespaces (its tenant's view, or the operator's).
    pub fn view(&self) -> crate::tenants::NsView {
        crate::tenants::NsView::of(self.principal.as_ref())
    }

    /// The tenant of the session's caller, if any.
    pub fn tenant(&self) -> Option<&crate::tenants::Tenant> {
        self.principal.as_ref().and_then(|p| p.tenant.as_deref())
    }

    /// Forget the caller (its key was revoked, its token expired, its tenant deleted).
    /// Its subscriptions and tracking go too: nothing more is pushed to a connection whose
    /// rights ended.
    pub fn drop_principal(&mut self) {
        self.principal = None;
        self.tenant_slot = None;
        self.subscriptions = None;
        self.tracking = None;
        self.caching_next = None;
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        super::command::transaction::unwatch_all(self);
    }
}

impl Session {
    pub fn new(id: u64, namespace: Arc<Namespace>, peer: SocketAddr, local: SocketAddr) -> Self {
        Self {
            id,
            namespace,
            name: None,
            lib_name: None,
            lib_ver: None,
            tags: RequestTags::default(),
            peer,
            local,
            connected_at: Instant::now(),
            quit: false,
            transaction: None,
            watched: Vec::new(),
            subscriptions: None,
            push: None,
            tracking: None,
            caching_next: None,
            reply_mode: ReplyMode::On,
            principal: None,
            auth_epoch: 0,
            tenant_slot: None,
            verified: None,
            hashed_passwords: None,
            blocked: None,
            wants_retry: false,
            in_exec: false,
            record: None,
            redescribe: false,
        }
    }
}

//! In a cluster: where a command on keys runs.
//!
//! Before a command runs, the connection asks [`route`] whether this node owns the slot of its
//! keys. The slot is Redis Cluster's (`crc16` of the key's hash tag, mod 16384), read from the
//! command table's key positions, so a cluster-aware client computes the same one — unless the
//! namespace has a routing hook, whose routing key replaces the hash tag
//! ([`crate::slot_rule`]); such a namespace is forwarded, never redirected.
//!
//! - Keys in more than one slot: `-CROSSSLOT`, as Redis answers — except, in proxy mode and
//!   outside a transaction, `MGET`, `DEL`, `UNLINK`, `EXISTS` and `TOUCH`, which are split by
//!   owner and gathered (`resp::cluster_split`).
//! - A slot without an owner (a cluster still forming): `-CLUSTERDOWN Hash slot not served`.
//! - Another node's slot: in proxy mode (the default) the command is forwarded over the cluster
//!   bus and the owner's answer relayed; in redirect mode it is answered
//!   `-MOVED <slot> <owner's RESP address>`. Inside MULTI and for WATCH it is always `MOVED`
//!   (a transaction runs whole on the slot's owner), and a queued command that is refused aborts
//!   the transaction as any refused command does.
//! - Keyless commands (PING, INFO, SCAN, DBSIZE, FLUSHDB, …) run here, on this node's share of
//!   the keyspace, as on a Redis Cluster node.
//!
//! A single node has no cluster and never comes here.

use std::time::Duration;

use larder_cluster::slot::Slot;
use larder_cluster::{ClusterView, Forward, Member};
use larder_runtime::Namespace;

use super::cluster_split::{self, Split};
use super::command::{self, Args, CommandKind};
use super::context::ServerContext;
use super::reply::{Protocol, Reply};
use super::session::Session;
use crate::slot_rule::{SlotRule, slot_in};
use crate::state::ClusterMode;

/// How long a forwarded command may take, round trip, before the client gets an error.
pub const FORWARD_TIMEOUT: Duration = Duration::from_secs(5);

/// What to do with one command.
pub enum Route {
    /// Run it here.
    Local,
    /// Its answer (an error) is already written.
    Answered,
    /// Run it on another node.
    Forward(Forwarding),
}

/// A command to run on the owner of its slot, or split over the owners of its keys.
pub struct Forwarding {
    pub kind: CommandKind,
    target: Target,
}

enum Target {
    Owner { owner: Member, request: Forward },
    Split(Split),
}

/// Decide where the command in `args` runs; see the module docs.
#[inline]
pub fn route(
    args: &Args<'_>,
    session: &mut Session,
    ctx: &ServerContext,
    reply: &mut Reply,
) -> Route {
    let Some(cluster) = &ctx.state.cluster else {
        return Route::Local;
    };
    let Some(kind) = CommandKind::lookup(args.get(0)) else {
        return Route::Local;
    };
    let spec = kind.spec();
    // Arity errors and keyless commands are answered here; a RESP2 subscriber gets the
    // subscribed-mode refusal from the command layer.
    if (spec.first_key <= 0 && kind.numkeys_at().is_none())
        || !spec.arity_ok(args.len())
        || command::pubsub::subscribed_mode(session, reply)
    {
        return Route::Local;
    }
    let rule = SlotRule::of(session.namespace.store());
    let slot = match slot_of_keys(kind, args, rule) {
        Ok(Some(slot)) => slot,
        Ok(None) => return Route::Local,
        Err(CrossSlot) => {
            if cluster.mode == ClusterMode::Proxy
                && session.transaction.is_none()
                && larder_runtime::tenant::split(session.namespace.name())
                    .0
                    .is_none()
                && let Some(split) = cluster_split::plan(
                    kind,
                    args,
                    &cluster.node.view(),
                    rule,
                    forwarded_namespace(session.namespace.name()),
                    reply.protocol == Protocol::Resp3,
                )
            {
                return match split {
                    Ok(split) => Route::Forward(Forwarding {
                        kind,
                        target: Target::Split(split),
                    }),
                    Err(message) => {
                        reply.error(message);
                        Route::Answered
                    }
                };
            }
            command::transaction::refuse(session);
            reply.error("CROSSSLOT Keys in request don't hash to the same slot");
            return Route::Answered;
        }
    };
    // Shard channels are names, not keys, to a member: in proxy mode any member subscribes
    // and publishes (an SPUBLISH reaches every member), so they run where the client is.
    if cluster.mode == ClusterMode::Proxy
        && matches!(
            kind,
            CommandKind::SSubscribe | CommandKind::SUnsubscribe | CommandKind::SPublish
        )
    {
        return Route::Local;
    }
    let view = cluster.node.view();
    let Some((owner, member)) = view.owner(slot) else {
        command::transaction::refuse(session);
        reply.error("CLUSTERDOWN Hash slot not served");
        return Route::Answered;
    };
    if owner == view.me {
        return Route::Local;
    }
    // A client cannot compute a routing hook's slots: such a namespace is forwarded even in
    // redirect mode (a MOVED would send a cluster client to the slot its own rule computes).
    let redirect = (cluster.mode == ClusterMode::Redirect && rule.client_computable())
        || session.transaction.is_some()
        || kind == CommandKind::Watch;
    if redirect {
        command::transaction::refuse(session);
        reply.error_fmt(format_args!("MOVED {slot} {}", member.resp));
        return Route::Answered;
    }
    Route::Forward(Forwarding {
        kind,
        target: Target::Owner {
            owner: member.clone(),
            request: Forward {
                namespace: forwarded_namespace(session.namespace.name()),
                resp3: reply.protocol == Protocol::Resp3,
                args: args.from(0).map(<[u8]>::to_vec).collect(),
            },
        },
    })
}

/// The most commands of one pipeline forwarded together, and their most argument bytes.
pub const BATCH_MAX: usize = 256;
pub const BATCH_MAX_BYTES: usize = 4 << 20;

impl Forwarding {
    /// Whether this goes to one owner whole (not split), so it can join a batch.
    pub fn batchable(&self) -> bool {
        matches!(self.target, Target::Owner { .. })
    }

    /// Its arguments' size, for [`BATCH_MAX_BYTES`].
    pub fn size(&self) -> usize {
        match &self.target {
            Target::Owner { request, .. } => request.args.iter().map(Vec::len).sum(),
            Target::Split(_) => 0,
        }
    }

    /// Run commands a client pipelined, each on its slot's owner, and append their answers to
    /// `reply` in the client's order. The commands for one owner go in one batch that it runs in
    /// order; batches to different owners go at once (their keys differ, so only a third party
    /// could tell the order apart, as with Redis Cluster's own pipelines).
    pub async fn answer_all(batch: Vec<Forwarding>, ctx: &ServerContext, reply: &mut Reply) {
        let Some(cluster) = &ctx.state.cluster else {
            return reply.error("ERR This instance has cluster support disabled");
        };
        if batch.len() == 1 || !batch.iter().all(Forwarding::batchable) {
            for f in batch {
                f.answer(ctx, reply).await;
            }
            return;
        }
        let n = batch.len();
        let mut groups: Vec<(Member, Vec<usize>, Vec<Forward>)> = Vec::new();
        for (i, f) in batch.into_iter().enumerate() {
            let Target::Owner { owner, request } = f.target else {
                unreachable!("only whole forwards are batched")
            };
            match groups.iter_mut().find(|(o, _, _)| o.bus == owner.bus) {
                Some((_, at, requests)) => {
                    at.push(i);
                    requests.push(request);
                }
                None => groups.push((owner, vec![i], vec![request])),
            }
        }
        let calls = groups.iter_mut().map(|(owner, _, requests)| {
            let requests = std::mem::take(requests);
            let owner = owner.clone();
            async move {
                let answer = cluster
                    .node
                    .forward_batch(&owner, requests, FORWARD_TIMEOUT)
                    .await;
                (owner, answer)
            }
        });
        let answers = futures_util::future::join_all(calls).await;
        let mut replies: Vec<Vec<u8>> = vec![Vec::new(); n];
        for ((_, at, _), (owner, answer)) in groups.iter().zip(answers) {
            match answer {
                Ok(bytes) => {
                    for (i, b) in at.iter().zip(bytes) {
                        replies[*i] = b;
                    }
                }
                Err(e) => {
                    let text = format!(
                        "-TRYAGAIN the slot's owner at {} did not answer: {e}\r\n",
                        owner.resp
                    );
                    for i in at {
                        replies[*i] = text.clone().into_bytes();
                    }
                }
            }
        }
        for r in replies {
            reply.buf.extend_from_slice(&r);
        }
    }

    /// Run the command on its owner and append the owner's answer to `reply`. A node that cannot
    /// be reached gets the client a `-TRYAGAIN` (the command may or may not have run there).
    pub async fn answer(self, ctx: &ServerContext, reply: &mut Reply) {
        let Some(cluster) = &ctx.state.cluster else {
            return reply.error("ERR This instance has cluster support disabled");
        };
        let (owner, request) = match self.target {
            Target::Owner { owner, request } => (owner, request),
            Target::Split(split) => return split.answer(ctx, reply).await,
        };
        match cluster.node.forward(&owner, request, FORWARD_TIMEOUT).await {
            Ok(bytes) => reply.buf.extend_from_slice(&bytes),
            Err(e) => reply.error_fmt(format_args!(
                "TRYAGAIN the slot's owner at {} did not answer: {e}",
                owner.resp
            )),
        }
    }
}

/// Whether `view`'s member owns the slot of every key of the command in `args` (true for a
/// command without keys). The owner of a forwarded command checks this before it runs it: the
/// forwarding node may have acted on a slot table older than its own.
pub(super) fn keys_are_mine(args: &Args<'_>, view: &ClusterView, namespace: &Namespace) -> bool {
    let Some(kind) = CommandKind::lookup(args.get(0)) else {
        return true;
    };
    let numkeys = kind
        .numkeys_at()
        .and_then(|(at, _)| command::parse_i64_arg(args.get(at)));
    kind.key_positions(args.len(), numkeys)
        .into_iter()
        .all(|i| view.slots.owner(slot_in(namespace, args.get(i))) == Some(view.me))
}

/// The keys span more than one slot.
struct CrossSlot;

/// The one slot every key of the command falls in, `None` for a command given no keys.
fn slot_of_keys(
    kind: CommandKind,
    args: &Args<'_>,
    rule: SlotRule<'_>,
) -> Result<Option<Slot>, CrossSlot> {
    let numkeys = kind
        .numkeys_at()
        .and_then(|(at, _)| command::parse_i64_arg(args.get(at)));
    let mut slot = None;
    for i in kind.key_positions(args.len(), numkeys) {
        let this = rule.slot(args.get(i));
        match slot {
            None => slot = Some(this),
            Some(s) if s != this => return Err(CrossSlot),
            Some(_) => {}
        }
    }
    Ok(slot)
}

/// The namespace as the owner resolves it: numbered databases by number (so the owner creates
/// `db<n>` on demand exactly as SELECT does), anything else by name.
fn forwarded_namespace(name: &str) -> String {
    if name == larder_runtime::DEFAULT_NAMESPACE {
        return "0".into();
    }
    match name.strip_prefix("db").and_then(|n| n.parse::<i64>().ok()) {
        Some(n) if (1..command::DATABASES).contains(&n) && name == format!("db{n}") => {
            n.to_string()
        }
        _ => name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use larder_cluster::slot::key_slot;

    fn slot(parts: &[&str]) -> Result<Option<Slot>, ()> {
        let mut frame = Vec::new();
        let mut ranges = Vec::new();
        for p in parts {
            let start = frame.len();
            frame.extend_from_slice(p.as_bytes());
            ranges.push(start..frame.len());
        }
        let args = Args::new(&frame, &ranges);
        let kind = CommandKind::lookup(args.get(0)).unwrap();
        slot_of_keys(kind, &args, SlotRule::default()).map_err(|_| ())
    }

    #[test]
    fn keys_come_from_the_command_table_positions() {
        assert_eq!(slot(&["GET", "foo"]), Ok(Some(12182)));
        // MSET's keys are every other argument: the values do not count.
        assert_eq!(
            slot(&["MSET", "{u}a", "x", "{u}b", "y"]),
            Ok(Some(key_slot(b"u")))
        );
        assert_eq!(slot(&["MGET", "foo", "bar"]), Err(()));
        assert_eq!(
            slot(&["DEL", "{t}1", "{t}2", "{t}3"]),
            Ok(Some(key_slot(b"t")))
        );
        // OBJECT's key is its third argument; OBJECT HELP has none.
        assert_eq!(slot(&["OBJECT", "ENCODING", "foo"]), Ok(Some(12182)));
        assert_eq!(slot(&["OBJECT", "HELP"]), Ok(None));
        // Counted keys: the numkeys argument says which arguments are keys.
        assert_eq!(
            slot(&[
                "ZUNIONSTORE",
                "{z}d",
                "2",
                "{z}a",
                "{z}b",
                "WEIGHTS",
                "1",
                "2"
            ]),
            Ok(Some(key_slot(b"z")))
        );
        assert_eq!(slot(&["ZUNIONSTORE", "d", "2", "a", "b"]), Err(()));
        assert_eq!(
            slot(&["LMPOP", "2", "{q}1", "{q}2", "LEFT"]),
            Ok(Some(key_slot(b"q")))
        );
        assert_eq!(slot(&["BLMPOP", "0", "1", "foo", "LEFT"]), Ok(Some(12182)));
        assert_eq!(slot(&["BLPOP", "foo", "0"]), Ok(Some(12182)));
    }

    #[test]
    fn numbered_databases_travel_by_number() {
        assert_eq!(forwarded_namespace("default"), "0");
        assert_eq!(forwarded_namespace("db3"), "3");
        assert_eq!(forwarded_namespace("db03"), "db03");
        assert_eq!(forwarded_namespace("db16"), "db16");
        assert_eq!(forwarded_namespace("sessions"), "sessions");
    }
}

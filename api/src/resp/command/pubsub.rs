//! SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, PUBLISH, PUBSUB and the shard channels'
//! SSUBSCRIBE, SUNSUBSCRIBE, SPUBLISH — Redis's replies, in RESP2 (arrays) and RESP3 (push
//! frames). The channel registry is [`crate::resp::pubsub`]. Shard channels are a namespace of
//! their own (no patterns reach them); in a cluster their names are keys for slot purposes
//! (`-CROSSSLOT`, `MOVED` in redirect mode), and like `PUBLISH` an `SPUBLISH` reaches the
//! subscribers of every member.
//!
//! A RESP2 connection with at least one subscription is in *subscribed mode*: only the
//! (un)subscribe commands, PING (answered `["pong", arg]`) and QUIT are accepted, as in Redis.
//! RESP3 has no such mode: push frames and replies cannot be confused.
//!
//! A tenant's channels are its own: on the shared hub they are `tenant/<channel>` (patterns
//! too, so `*` matches only the tenant's channels), and every name a tenant's client sends or
//! receives is translated at this boundary — `__redis__:invalidate` too, so a tenant's tracking
//! REDIRECT reaches only a subscriber of its own tenant.

use super::{Args, CommandKind};
use crate::resp::context::ServerContext;
use crate::resp::pubsub::{PubSub, Push, Subscriber};
use crate::resp::reply::{Protocol, Reply};
use crate::resp::session::Session;
use std::collections::BTreeSet;
use std::sync::Arc;

/// A connection's subscriptions; dropping it (the connection closing) unsubscribes from all.
pub struct Subscriptions {
    client: u64,
    hub: Arc<PubSub>,
    subscriber: Subscriber,
    /// Hub names (a tenant's carry its prefix).
    channels: BTreeSet<Vec<u8>>,
    patterns: BTreeSet<Vec<u8>>,
    shard_channels: BTreeSet<Vec<u8>>,
    /// `tenant/` for a tenant's connection.
    prefix: Option<Vec<u8>>,
}

impl std::fmt::Debug for Subscriptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscriptions")
            .field("channels", &self.channels.len())
            .field("patterns", &self.patterns.len())
            .finish()
    }
}

impl Subscriptions {
    /// Channels and patterns subscribed to.
    pub fn counts(&self) -> (usize, usize) {
        (self.channels.len(), self.patterns.len())
    }

    /// Shard channels subscribed to.
    pub fn shard_count(&self) -> usize {
        self.shard_channels.len()
    }

    /// What SUBSCRIBE and PSUBSCRIBE report: channels and patterns (shard channels are counted
    /// apart, as Redis counts them).
    fn count(&self) -> i64 {
        (self.channels.len() + self.patterns.len()) as i64
    }

    /// Any subscription at all: RESP2's subscribed mode.
    fn any(&self) -> bool {
        self.count() > 0 || !self.shard_channels.is_empty()
    }

    /// The prefix of a tenant's channels on the hub, for [`write_push`].
    pub fn prefix(&self) -> Option<&[u8]> {
        self.prefix.as_deref()
    }
}

/// `tenant/` for a tenant's session: what its channel names carry on the hub.
fn prefix_of(session: &Session) -> Option<Vec<u8>> {
    session
        .tenant()
        .map(|t| [t.name().as_bytes(), b"/"].concat())
}

/// The hub's name for channel (or pattern) `name` of a client with `prefix`.
fn hub_name<'a>(prefix: Option<&[u8]>, name: &'a [u8]) -> std::borrow::Cow<'a, [u8]> {
    match prefix {
        Some(p) => std::borrow::Cow::Owned([p, name].concat()),
        None => std::borrow::Cow::Borrowed(name),
    }
}

/// What a client with `prefix` calls the hub's `name`.
fn shown<'a>(prefix: Option<&[u8]>, name: &'a [u8]) -> &'a [u8] {
    prefix.and_then(|p| name.strip_prefix(p)).unwrap_or(name)
}

impl Drop for Subscriptions {
    fn drop(&mut self) {
        for c in &self.channels {
            self.hub.unsubscribe(self.client, c);
        }
        for p in &self.patterns {
            self.hub.punsubscribe(self.client, p);
        }
        for c in &self.shard_channels {
            self.hub.sunsubscribe(self.client, c);
        }
    }
}

/// `kind` confirms subscriptions, which CLIENT REPLY OFF does not silence (as in Redis).
pub fn confirms_with_push(kind: CommandKind) -> bool {
    use CommandKind as K;
    matches!(
        kind,
        K::Subscribe
            | K::Unsubscribe
            | K::PSubscribe
            | K::PUnsubscribe
            | K::SSubscribe
            | K::SUnsubscribe
    )
}

/// In RESP2 subscribed mode, whether `kind` may run.
pub fn allowed_when_subscribed(kind: CommandKind) -> bool {
    use CommandKind as K;
    matches!(
        kind,
        K::Subscribe
            | K::Unsubscribe
            | K::PSubscribe
            | K::PUnsubscribe
            | K::SSubscribe
            | K::SUnsubscribe
            | K::Ping
            | K::Quit
            | K::Reset
    )
}

/// The connection is in RESP2 subscribed mode.
pub fn subscribed_mode(session: &Session, reply: &Reply) -> bool {
    reply.protocol == Protocol::Resp2
        && session
            .subscriptions
            .as_ref()
            .is_some_and(Subscriptions::any)
}

pub fn refuse_in_subscribed_mode(name: &str, reply: &mut Reply) {
    reply.error_fmt(format_args!(
        "ERR Can't execute '{name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
    ));
}

/// PING in subscribed mode: `["pong", message or ""]`.
pub fn ping(args: &Args<'_>, reply: &mut Reply) {
    if args.len() > 2 {
        super::wrong_arity("ping", reply);
        return;
    }
    reply.array(2);
    reply.bulk(b"pong");
    reply.bulk(args.get(1));
}

fn subscriptions<'a>(session: &'a mut Session, ctx: &ServerContext) -> &'a mut Subscriptions {
    let client = session.id;
    let subscriber = session.push_subscriber();
    let prefix = prefix_of(session);
    session.subscriptions.get_or_insert_with(|| Subscriptions {
        client,
        hub: Arc::clone(&ctx.pubsub),
        subscriber,
        channels: BTreeSet::new(),
        patterns: BTreeSet::new(),
        shard_channels: BTreeSet::new(),
        prefix,
    })
}

fn confirm(reply: &mut Reply, what: &[u8], name: Option<&[u8]>, count: i64) {
    reply.push(3);
    reply.bulk(what);
    match name {
        Some(n) => reply.bulk(n),
        None => reply.null(),
    }
    reply.integer(count);
}

/// SUBSCRIBE (`pattern = false`) or PSUBSCRIBE.
pub fn subscribe(
    args: &Args<'_>,
    pattern: bool,
    session: &mut Session,
    ctx: &ServerContext,
    reply: &mut Reply,
) {
    let subs = subscriptions(session, ctx);
    for name in args.from(1) {
        let hub = hub_name(subs.prefix.as_deref(), name);
        let new = if pattern {
            subs.patterns.insert(hub.to_vec())
        } else {
            subs.channels.insert(hub.to_vec())
        };
        if new {
            if pattern {
                subs.hub.psubscribe(subs.client, &hub, &subs.subscriber);
            } else {
                subs.hub.subscribe(subs.client, &hub, &subs.subscriber);
            }
        }
        let what: &[u8] = if pattern { b"psubscribe" } else { b"subscribe" };
        confirm(reply, what, Some(name), subs.count());
    }
}

/// UNSUBSCRIBE (`pattern = false`) or PUNSUBSCRIBE; without arguments, from every one.
pub fn unsubscribe(
    args: &Args<'_>,
    pattern: bool,
    session: &mut Session,
    ctx: &ServerContext,
    reply: &mut Reply,
) {
    let what: &[u8] = if pattern {
        b"punsubscribe"
    } else {
        b"unsubscribe"
    };
    let subs = subscriptions(session, ctx);
    let names: Vec<Vec<u8>> = if args.len() > 1 {
        args.from(1)
            .map(|n| hub_name(subs.prefix.as_deref(), n).into_owned())
            .collect()
    } else if pattern {
        subs.patterns.iter().cloned().collect()
    } else {
        subs.channels.iter().cloned().collect()
    };
    if names.is_empty() {
        confirm(reply, what, None, subs.count());
        return;
    }
    for name in names {
        let was = if pattern {
            subs.patterns.remove(&name)
        } else {
            subs.channels.remove(&name)
        };
        if was {
            if pattern {
                subs.hub.punsubscribe(subs.client, &name);
            } else {
                subs.hub.unsubscribe(subs.client, &name);
            }
        }
        confirm(
            reply,
            what,
            Some(shown(subs.prefix.as_deref(), &name)),
            subs.count(),
        );
    }
}

/// SSUBSCRIBE: shard channels; the count confirmed is the shard channels', as Redis reports it.
pub fn ssubscribe(args: &Args<'_>, session: &mut Session, ctx: &ServerContext, reply: &mut Reply) {
    let subs = subscriptions(session, ctx);
    for name in args.from(1) {
        let hub = hub_name(subs.prefix.as_deref(), name);
        if subs.shard_channels.insert(hub.to_vec()) {
            subs.hub.ssubscribe(subs.client, &hub, &subs.subscriber);
        }
        confirm(reply, b"ssubscribe", Some(name), subs.shard_count() as i64);
    }
}

/// SUNSUBSCRIBE; without arguments, from every shard channel.
pub fn sunsubscribe(
    args: &Args<'_>,
    session: &mut Session,
    ctx: &ServerContext,
    reply: &mut Reply,
) {
    let subs = subscriptions(session, ctx);
    let names: Vec<Vec<u8>> = if args.len() > 1 {
        args.from(1)
            .map(|n| hub_name(subs.prefix.as_deref(), n).into_owned())
            .collect()
    } else {
        subs.shard_channels.iter().cloned().collect()
    };
    if names.is_empty() {
        confirm(reply, b"sunsubscribe", None, 0);
        return;
    }
    for name in names {
        if subs.shard_channels.remove(&name) {
            subs.hub.sunsubscribe(subs.client, &name);
        }
        confirm(
            reply,
            b"sunsubscribe",
            Some(shown(subs.prefix.as_deref(), &name)),
            subs.shard_count() as i64,
        );
    }
}

/// SPUBLISH: to a shard channel's subscribers (and, in a cluster, every member's).
pub fn spublish(args: &Args<'_>, session: &Session, ctx: &ServerContext, reply: &mut Reply) {
    let prefix = prefix_of(session);
    let channel = hub_name(prefix.as_deref(), args.get(1));
    reply.integer(ctx.pubsub.spublish(&channel, args.get(2)) as i64);
    if let Some(cluster) = &ctx.state.cluster {
        cluster.node.publish(&channel, args.get(2), true);
    }
}

pub fn publish(args: &Args<'_>, session: &Session, ctx: &ServerContext, reply: &mut Reply) {
    let prefix = prefix_of(session);
    let channel = hub_name(prefix.as_deref(), args.get(1));
    reply.integer(ctx.pubsub.publish(&channel, args.get(2)) as i64);
    // In a cluster every member's subscribers get it; the count is this member's, as Redis
    // Cluster answers.
    if let Some(cluster) = &ctx.state.cluster {
        cluster.node.publish(&channel, args.get(2), false);
    }
}

/// `CHANNELS [pattern]` (or `SHARDCHANNELS`): the active names `list` gives that match, as the
/// caller names them (a tenant's: its own only).
fn active_channels(
    args: &Args<'_>,
    prefix: Option<&[u8]>,
    list: impl Fn(Option<&[u8]>) -> Vec<bytes::Bytes>,
    reply: &mut Reply,
) {
    let pattern = if args.len() == 3 { args.get(2) } else { b"*" };
    let channels = match prefix {
        None if args.len() == 2 => list(None),
        _ => list(Some(&hub_name(prefix, pattern))),
    };
    reply.array(channels.len());
    for c in channels {
        reply.bulk(shown(prefix, &c));
    }
}

/// `NUMSUB [channel …]` (or `SHARDNUMSUB`): each channel with the subscribers `count` gives.
fn subscriber_counts(
    args: &Args<'_>,
    prefix: Option<&[u8]>,
    count: impl Fn(&[u8]) -> usize,
    reply: &mut Reply,
) {
    reply.map(args.len() - 2);
    for channel in args.from(2) {
        reply.bulk(channel);
        reply.integer(count(&hub_name(prefix, channel)) as i64);
    }
}

/// `PUBSUB CHANNELS [pattern] | NUMSUB [channel …] | NUMPAT | SHARDCHANNELS [pattern] |
/// SHARDNUMSUB [channel …] | HELP` (a tenant's: its own).
pub fn pubsub(args: &Args<'_>, session: &Session, ctx: &ServerContext, reply: &mut Reply) {
    let prefix = prefix_of(session);
    let prefix = prefix.as_deref();
    let sub = args.get(1).to_ascii_uppercase();
    match (sub.as_slice(), args.len()) {
        (b"CHANNELS", 2 | 3) => active_channels(args, prefix, |p| ctx.pubsub.channels(p), reply),
        (b"NUMSUB", _) => subscriber_counts(args, prefix, |c| ctx.pubsub.subscribers(c), reply),
        (b"NUMPAT", 2) => reply.integer(ctx.pubsub.pattern_count(prefix) as i64),
        (b"SHARDCHANNELS", 2 | 3) => {
            active_channels(args, prefix, |p| ctx.pubsub.shard_channels(p), reply)
        }
        (b"SHARDNUMSUB", _) => {
            subscriber_counts(args, prefix, |c| ctx.pubsub.shard_subscribers(c), reply)
        }
        (b"HELP", 2) => {
            let lines = [
                "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "CHANNELS [<pattern>]",
                "    Return the currently active channels matching a <pattern> (default: '*').",
                "NUMPAT",
                "    Return number of subscriptions to patterns.",
                "NUMSUB [<channel> ...]",
                "    Return the number of subscribers for the specified channels, excluding",
                "    pattern subscriptions(default: no channels).",
                "SHARDCHANNELS [<pattern>]",
                "    Return the currently active shard level channels matching a <pattern> (default: '*').",
                "SHARDNUMSUB [<shardchannel> ...]",
                "    Return the number of subscribers for the specified shard level channel(s)",
            ];
            reply.array(lines.len());
            for l in lines {
                reply.simple(l);
            }
        }
        (b"CHANNELS" | b"NUMPAT" | b"HELP" | b"SHARDCHANNELS", _) => {
            super::wrong_arity("pubsub", reply)
        }
        _ => reply.error_fmt(format_args!(
            "ERR unknown subcommand '{}'. Try PUBSUB HELP.",
            String::from_utf8_lossy(args.get(1))
        )),
    }
}

/// Write one message as Redis frames it: `message` or `pmessage`, a push frame in RESP3.
/// `prefix` is the tenant's channel prefix, taken off the names it sees.
pub fn write_push(push: &Push, prefix: Option<&[u8]>, reply: &mut Reply) {
    match push {
        Push::Message { channel, payload } => {
            reply.push(3);
            reply.bulk(b"message");
            reply.bulk(shown(prefix, channel));
            reply.bulk(payload);
        }
        Push::SMessage { channel, payload } => {
            reply.push(3);
            reply.bulk(b"smessage");
            reply.bulk(shown(prefix, channel));
            reply.bulk(payload);
        }
        Push::PMessage {
            pattern,
            channel,
            payload,
        } => {
            reply.push(4);
            reply.bulk(b"pmessage");
            reply.bulk(shown(prefix, pattern));
            reply.bulk(shown(prefix, channel));
            reply.bulk(payload);
        }
        Push::RedirectBroken(_) if reply.protocol == Protocol::Resp2 => {}
        Push::RedirectBroken(id) => {
            reply.push(2);
            reply.bulk(b"tracking-redir-broken");
            reply.integer(*id as i64);
        }
        // A RESP2 connection tracking without REDIRECT has no way to receive them (Redis sends
        // nothing either).
        Push::Invalidate {
            as_message: false, ..
        } if reply.protocol == Protocol::Resp2 => {}
        Push::Invalidate { keys, as_message } => {
            // A RESP3 connection gets the `invalidate` push even as a REDIRECT target, as Redis
            // sends it; only a RESP2 target gets the `__redis__:invalidate` message.
            if *as_message && reply.protocol == Protocol::Resp2 {
                reply.push(3);
                reply.bulk(b"message");
                reply.bulk(crate::resp::tracking::INVALIDATE_CHANNEL);
            } else {
                reply.push(2);
                reply.bulk(b"invalidate");
            }
            match keys {
                Some(keys) => {
                    reply.array(keys.len());
                    for k in keys {
                        reply.bulk(k);
                    }
                }
                None => reply.null_array(),
            }
        }
    }
}

//! SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, PUBLISH, PUBSUB — Redis's replies, in
//! RESP2 (arrays) and RESP3 (push frames). The channel registry is [`crate::resp::pubsub`].
//!
//! A RESP2 connection with at least one subscription is in *subscribed mode*: only the
//! (un)subscribe commands, PING (answered `["pong", arg]`) and QUIT are accepted, as in Redis.
//! RESP3 has no such mode: push frames and replies cannot be confused.

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
    channels: BTreeSet<Vec<u8>>,
    patterns: BTreeSet<Vec<u8>>,
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
    fn count(&self) -> i64 {
        (self.channels.len() + self.patterns.len()) as i64
    }
}

impl Drop for Subscriptions {
    fn drop(&mut self) {
        for c in &self.channels {
            self.hub.unsubscribe(self.client, c);
        }
        for p in &self.patterns {
            self.hub.punsubscribe(self.client, p);
        }
    }
}

/// `kind` confirms subscriptions, which CLIENT REPLY OFF does not silence (as in Redis).
pub fn confirms_with_push(kind: CommandKind) -> bool {
    use CommandKind as K;
    matches!(
        kind,
        K::Subscribe | K::Unsubscribe | K::PSubscribe | K::PUnsubscribe
    )
}

/// In RESP2 subscribed mode, whether `kind` may run.
pub fn allowed_when_subscribed(kind: CommandKind) -> bool {
    use CommandKind as K;
    matches!(
        kind,
        K::Subscribe | K::Unsubscribe | K::PSubscribe | K::PUnsubscribe | K::Ping | K::Quit
    )
}

/// The connection is in RESP2 subscribed mode.
pub fn subscribed_mode(session: &Session, reply: &Reply) -> bool {
    reply.protocol == Protocol::Resp2
        && session
            .subscriptions
            .as_ref()
            .is_some_and(|s| s.count() > 0)
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
    session.subscriptions.get_or_insert_with(|| Subscriptions {
        client,
        hub: Arc::clone(&ctx.pubsub),
        subscriber,
        channels: BTreeSet::new(),
        patterns: BTreeSet::new(),
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
        let new = if pattern {
            subs.patterns.insert(name.to_vec())
        } else {
            subs.channels.insert(name.to_vec())
        };
        if new {
            if pattern {
                subs.hub.psubscribe(subs.client, name, &subs.subscriber);
            } else {
                subs.hub.subscribe(subs.client, name, &subs.subscriber);
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
        args.from(1).map(<[u8]>::to_vec).collect()
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
        confirm(reply, what, Some(&name), subs.count());
    }
}

pub fn publish(args: &Args<'_>, ctx: &ServerContext, reply: &mut Reply) {
    reply.integer(ctx.pubsub.publish(args.get(1), args.get(2)) as i64);
}

/// `PUBSUB CHANNELS [pattern] | NUMSUB [channel …] | NUMPAT | HELP`
pub fn pubsub(args: &Args<'_>, ctx: &ServerContext, reply: &mut Reply) {
    let sub = args.get(1).to_ascii_uppercase();
    match (sub.as_slice(), args.len()) {
        (b"CHANNELS", 2 | 3) => {
            let pattern = (args.len() == 3).then(|| args.get(2));
            let channels = ctx.pubsub.channels(pattern);
            reply.array(channels.len());
            for c in channels {
                reply.bulk(&c);
            }
        }
        (b"NUMSUB", _) => {
            reply.map(args.len() - 2);
            for channel in args.from(2) {
                reply.bulk(channel);
                reply.integer(ctx.pubsub.subscribers(channel) as i64);
            }
        }
        (b"NUMPAT", 2) => reply.integer(ctx.pubsub.pattern_count() as i64),
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
            ];
            reply.array(lines.len());
            for l in lines {
                reply.simple(l);
            }
        }
        (b"CHANNELS" | b"NUMPAT" | b"HELP", _) => super::wrong_arity("pubsub", reply),
        _ => reply.error_fmt(format_args!(
            "ERR unknown subcommand '{}'. Try PUBSUB HELP.",
            String::from_utf8_lossy(args.get(1))
        )),
    }
}

/// Write one message as Redis frames it: `message` or `pmessage`, a push frame in RESP3.
pub fn write_push(push: &Push, reply: &mut Reply) {
    match push {
        Push::Message { channel, payload } => {
            reply.push(3);
            reply.bulk(b"message");
            reply.bulk(channel);
            reply.bulk(payload);
        }
        Push::PMessage {
            pattern,
            channel,
            payload,
        } => {
            reply.push(4);
            reply.bulk(b"pmessage");
            reply.bulk(pattern);
            reply.bulk(channel);
            reply.bulk(payload);
        }
        // A RESP2 connection tracking without REDIRECT has no way to receive them (Redis sends
        // nothing either).
        Push::Invalidate {
            as_message: false, ..
        } if reply.protocol == Protocol::Resp2 => {}
        Push::Invalidate { keys, as_message } => {
            if *as_message {
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

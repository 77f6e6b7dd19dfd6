//! Pub/sub: the channels and patterns every connection of a server shares.
//!
//! As in Redis, channels are server-wide (not per namespace or database). `PUBLISH` hands the
//! message to each subscriber's bounded queue without waiting; the subscriber's connection writes
//! it out between its own requests. A subscriber that falls [`QUEUE_LEN`] messages behind loses
//! what does not fit and is disconnected as soon as its connection gets to run (Redis's
//! `client-output-buffer-limit pubsub` disconnects too), so one slow reader never makes the
//! server hold more than that for it.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use parking_lot::RwLock;
use tokio::sync::mpsc;

use super::glob::Glob;

/// Messages a subscriber may have waiting before it is disconnected.
pub const QUEUE_LEN: usize = 16 * 1024;

/// One message on its way to one subscriber.
#[derive(Debug, Clone)]
pub enum Push {
    Message {
        channel: Bytes,
        payload: Bytes,
    },
    PMessage {
        pattern: Bytes,
        channel: Bytes,
        payload: Bytes,
    },
    /// A message on a shard channel (`SPUBLISH`).
    SMessage {
        channel: Bytes,
        payload: Bytes,
    },
    /// Client-side caching: these keys changed (`None`: everything, after a flush). Framed as an
    /// `invalidate` push, or, for a REDIRECT target, as a message on `__redis__:invalidate`.
    Invalidate {
        keys: Option<Vec<Bytes>>,
        as_message: bool,
    },
    /// Client-side caching: this client's REDIRECT target (the id) is no longer connected, so
    /// an invalidation could not be delivered (RESP3 only, as in Redis).
    RedirectBroken(u64),
}

/// A connection's end of its queue: where the hub sends, and whether it fell behind.
#[derive(Debug, Clone)]
pub struct Subscriber {
    tx: mpsc::Sender<Push>,
    overflowed: Arc<AtomicBool>,
}

impl Subscriber {
    /// A new queue: the subscriber to register, and the receiving end for the connection.
    pub fn new() -> (Self, mpsc::Receiver<Push>, Arc<AtomicBool>) {
        let (tx, rx) = mpsc::channel(QUEUE_LEN);
        let overflowed = Arc::new(AtomicBool::new(false));
        (
            Self {
                tx,
                overflowed: Arc::clone(&overflowed),
            },
            rx,
            overflowed,
        )
    }

    /// Both ends lead to the same client's queue.
    pub fn same_queue(&self, other: &Subscriber) -> bool {
        self.tx.same_channel(&other.tx)
    }

    /// Queue `push` without waiting; false if the queue is full (flagged) or gone.
    pub fn offer(&self, push: Push) -> bool {
        match self.tx.try_send(push) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.overflowed.store(true, Ordering::Relaxed);
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}

struct PatternEntry {
    glob: Glob,
    subscribers: HashMap<u64, Subscriber>,
}

/// Channel name → its subscribers by client id.
#[derive(Default)]
struct Channels(RwLock<HashMap<Bytes, HashMap<u64, Subscriber>>>);

impl Channels {
    fn add(&self, client: u64, channel: &[u8], subscriber: &Subscriber) {
        self.0
            .write()
            .entry(Bytes::copy_from_slice(channel))
            .or_default()
            .insert(client, subscriber.clone());
    }

    fn remove(&self, client: u64, channel: &[u8]) {
        let mut channels = self.0.write();
        if let Some(subs) = channels.get_mut(channel) {
            subs.remove(&client);
            if subs.is_empty() {
                channels.remove(channel);
            }
        }
    }

    /// Offer `push` to every subscriber of `channel`; how many took it.
    fn deliver(&self, channel: &Bytes, push: impl Fn() -> Push) -> usize {
        self.0.read().get(channel).map_or(0, |subs| {
            subs.values().map(|s| usize::from(s.offer(push()))).sum()
        })
    }

    fn list(&self, pattern: Option<&[u8]>) -> Vec<Bytes> {
        let glob = pattern.map(Glob::new);
        let mut out: Vec<Bytes> = self
            .0
            .read()
            .keys()
            .filter(|c| glob.as_ref().is_none_or(|g| g.matches(c)))
            .cloned()
            .collect();
        out.sort();
        out
    }

    fn count(&self, channel: &[u8]) -> usize {
        self.0.read().get(channel).map_or(0, HashMap::len)
    }
}

#[derive(Default)]
pub struct PubSub {
    channels: Channels,
    /// Shard channels (`SSUBSCRIBE`/`SPUBLISH`): a namespace of their own, without patterns.
    shard_channels: Channels,
    patterns: RwLock<HashMap<Bytes, PatternEntry>>,
}

impl PubSub {
    /// Deliver `payload` to every subscriber of `channel` and of every pattern matching it;
    /// returns how many received it (a subscriber of two matching patterns counts twice, as in
    /// Redis).
    pub fn publish(&self, channel: &[u8], payload: &[u8]) -> usize {
        let channel = Bytes::copy_from_slice(channel);
        let payload = Bytes::copy_from_slice(payload);
        let mut received = self.channels.deliver(&channel, || Push::Message {
            channel: channel.clone(),
            payload: payload.clone(),
        });
        for (pattern, entry) in self.patterns.read().iter() {
            if entry.glob.matches(&channel) {
                for s in entry.subscribers.values() {
                    received += usize::from(s.offer(Push::PMessage {
                        pattern: pattern.clone(),
                        channel: channel.clone(),
                        payload: payload.clone(),
                    }));
                }
            }
        }
        received
    }

    /// Deliver `payload` to the subscribers of shard channel `channel` (patterns never match
    /// shard channels, as in Redis); how many received it.
    pub fn spublish(&self, channel: &[u8], payload: &[u8]) -> usize {
        let channel = Bytes::copy_from_slice(channel);
        let payload = Bytes::copy_from_slice(payload);
        self.shard_channels.deliver(&channel, || Push::SMessage {
            channel: channel.clone(),
            payload: payload.clone(),
        })
    }

    pub fn subscribe(&self, client: u64, channel: &[u8], subscriber: &Subscriber) {
        self.channels.add(client, channel, subscriber);
    }

    pub fn unsubscribe(&self, client: u64, channel: &[u8]) {
        self.channels.remove(client, channel);
    }

    pub fn ssubscribe(&self, client: u64, channel: &[u8], subscriber: &Subscriber) {
        self.shard_channels.add(client, channel, subscriber);
    }

    pub fn sunsubscribe(&self, client: u64, channel: &[u8]) {
        self.shard_channels.remove(client, channel);
    }

    pub fn psubscribe(&self, client: u64, pattern: &[u8], subscriber: &Subscriber) {
        self.patterns
            .write()
            .entry(Bytes::copy_from_slice(pattern))
            .or_insert_with(|| PatternEntry {
                glob: Glob::new(pattern),
                subscribers: HashMap::new(),
            })
            .subscribers
            .insert(client, subscriber.clone());
    }

    pub fn punsubscribe(&self, client: u64, pattern: &[u8]) {
        let mut patterns = self.patterns.write();
        if let Some(entry) = patterns.get_mut(pattern) {
            entry.subscribers.remove(&client);
            if entry.subscribers.is_empty() {
                patterns.remove(pattern);
            }
        }
    }

    /// Channels with at least one subscriber, matching `pattern` when given (PUBSUB CHANNELS).
    pub fn channels(&self, pattern: Option<&[u8]>) -> Vec<Bytes> {
        self.channels.list(pattern)
    }

    /// Shard channels with at least one subscriber (PUBSUB SHARDCHANNELS).
    pub fn shard_channels(&self, pattern: Option<&[u8]>) -> Vec<Bytes> {
        self.shard_channels.list(pattern)
    }

    /// Client `client`'s queue, if it is subscribed to `channel` (a REDIRECT target).
    pub fn subscriber_of(&self, channel: &[u8], client: u64) -> Option<Subscriber> {
        self.channels.0.read().get(channel)?.get(&client).cloned()
    }

    /// Subscribers of `channel` (PUBSUB NUMSUB; patterns not counted, as in Redis).
    pub fn subscribers(&self, channel: &[u8]) -> usize {
        self.channels.count(channel)
    }

    /// Subscribers of shard channel `channel` (PUBSUB SHARDNUMSUB).
    pub fn shard_subscribers(&self, channel: &[u8]) -> usize {
        self.shard_channels.count(channel)
    }

    /// Distinct patterns subscribed to by anyone (PUBSUB NUMPAT); with `prefix`, only those
    /// starting with it (a tenant's).
    pub fn pattern_count(&self, prefix: Option<&[u8]>) -> usize {
        let patterns = self.patterns.read();
        match prefix {
            None => patterns.len(),
            Some(p) => patterns.keys().filter(|k| k.starts_with(p)).count(),
        }
    }
}

/// Delivers messages published on other cluster members to this member's subscribers (see
/// `larder_cluster::broadcast`).
pub struct FromMembers(pub Arc<PubSub>);

impl larder_cluster::PubSubHandler for FromMembers {
    fn deliver(&self, messages: Vec<larder_cluster::Published>) {
        for m in messages {
            if m.sharded {
                self.0.spublish(&m.channel, &m.message);
            } else {
                self.0.publish(&m.channel, &m.message);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_and_patterns_reach_their_subscribers_and_a_full_queue_is_flagged() {
        let hub = PubSub::default();
        let (a, mut a_rx, a_over) = Subscriber::new();
        let (b, mut b_rx, _) = Subscriber::new();
        hub.subscribe(1, b"news", &a);
        hub.psubscribe(2, b"n*", &b);
        hub.psubscribe(2, b"*s", &b);
        assert_eq!(hub.publish(b"news", b"hi"), 3);
        assert!(
            matches!(a_rx.try_recv().unwrap(), Push::Message { payload, .. } if payload == "hi")
        );
        assert!(matches!(b_rx.try_recv().unwrap(), Push::PMessage { .. }));
        assert!(matches!(b_rx.try_recv().unwrap(), Push::PMessage { .. }));
        assert_eq!(hub.publish(b"other", b"x"), 0);
        assert_eq!(hub.channels(None), vec![Bytes::from_static(b"news")]);
        assert_eq!(hub.channels(Some(b"z*")), Vec::<Bytes>::new());
        assert_eq!((hub.subscribers(b"news"), hub.pattern_count(None)), (1, 2));

        hub.punsubscribe(2, b"n*");
        hub.punsubscribe(2, b"*s");
        assert_eq!(hub.pattern_count(None), 0);
        for _ in 0..QUEUE_LEN {
            assert_eq!(hub.publish(b"news", b"flood"), 1);
        }
        assert!(!a_over.load(Ordering::Relaxed));
        assert_eq!(
            hub.publish(b"news", b"one too many"),
            0,
            "a's queue is full"
        );
        assert!(a_over.load(Ordering::Relaxed));

        hub.unsubscribe(1, b"news");
        assert_eq!(hub.subscribers(b"news"), 0);
        assert!(hub.channels(None).is_empty());
    }
}

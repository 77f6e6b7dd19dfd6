//! Keyspace notifications (`notify-keyspace-events`), per namespace, published on the server's
//! pub/sub channels as Redis names them:
//!
//! - `__keyspace@<db>__:<key>` with the event as the message (class `K`);
//! - `__keyevent@<db>__:<event>` with the key as the message (class `E`).
//!
//! `<db>` is `0` for `default`, `n` for `db<n>`, and the name for any other namespace.
//!
//! The events come from the store, not from commands (see `larder_runtime::KeyChange`), so they
//! cover every way a key changes — RESP, REST, the origin, the eviction policy — with these
//! names:
//!
//! | event | class | when |
//! |---|---|---|
//! | `new` | `n` | a key that was absent was written (before its `set`) |
//! | `set` | `$` | any write to a string (Redis names some by command: `incrby`, `append`, …; Larder says `set`) |
//! | the command's name (`hset`, `lpush`, `zadd`, …) | `h`, `l`, `s`, `z` | a write to a hash, list, set or sorted set |
//! | `expire` | `g` | a deadline set or changed on a resident key (a write that carries its deadline, `SET … EX`, is one `set`) |
//! | `persist` | `g` | a deadline removed |
//! | `del` | `g` | a delete |
//! | `expired` | `x` | a TTL ran out |
//! | `evicted` | `e` | the policy evicted the key |
//!
//! Flags are set with `CONFIG SET notify-keyspace-events` on the selected namespace and are kept
//! in memory (not in the catalog). A namespace without flags pays one atomic load per change.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use larder_runtime::{KeyChange, KeyEventSource, KeyEvents};
use parking_lot::RwLock;

use super::blocking::Waiters;
use super::pubsub::PubSub;
use super::tracking::{NamespaceTable, Tracking};

const KEYSPACE: u32 = 1 << 0; // K
const KEYEVENT: u32 = 1 << 1; // E
const GENERIC: u32 = 1 << 2; // g
const STRING: u32 = 1 << 3; // $
const EXPIRED: u32 = 1 << 4; // x
const EVICTED: u32 = 1 << 5; // e
const LIST: u32 = 1 << 6; // l
const SET: u32 = 1 << 7; // s
const HASH: u32 = 1 << 8; // h
const ZSET: u32 = 1 << 9; // z
/// Classes of what Larder does not have, accepted so clients can set Redis's usual flags.
const STREAM: u32 = 1 << 10; // t
const MISS: u32 = 1 << 11; // m
const NEW: u32 = 1 << 12; // n
const MODULE: u32 = 1 << 13; // d
/// `A`: every class but `m` and `n`, as in Redis.
const ALL: u32 = GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;

/// Parse Redis's flag string; `None` for an unknown character.
pub fn parse_flags(text: &str) -> Option<u32> {
    let mut flags = 0;
    for c in text.chars() {
        flags |= match c {
            'A' => ALL,
            'g' => GENERIC,
            '$' => STRING,
            'l' => LIST,
            's' => SET,
            'h' => HASH,
            'z' => ZSET,
            'x' => EXPIRED,
            'e' => EVICTED,
            'K' => KEYSPACE,
            'E' => KEYEVENT,
            't' => STREAM,
            'm' => MISS,
            'n' => NEW,
            'd' => MODULE,
            _ => return None,
        };
    }
    // Without K or E nothing would be published: Redis treats that as off.
    Some(if flags & (KEYSPACE | KEYEVENT) == 0 {
        0
    } else {
        flags
    })
}

/// The flag string CONFIG GET answers, in Redis's canonical form.
pub fn format_flags(flags: u32) -> String {
    let mut out = String::new();
    if flags & ALL == ALL {
        out.push('A');
    } else {
        for (bit, c) in [
            (GENERIC, 'g'),
            (STRING, '$'),
            (LIST, 'l'),
            (SET, 's'),
            (HASH, 'h'),
            (ZSET, 'z'),
            (EXPIRED, 'x'),
            (EVICTED, 'e'),
            (STREAM, 't'),
            (MODULE, 'd'),
        ] {
            if flags & bit != 0 {
                out.push(c);
            }
        }
    }
    for (bit, c) in [(KEYSPACE, 'K'), (KEYEVENT, 'E'), (MISS, 'm'), (NEW, 'n')] {
        if flags & bit != 0 {
            out.push(c);
        }
    }
    out
}

thread_local! {
    /// The event name and class a collection command's writes are published under (see
    /// [`as_command`]); `None` while any other command runs.
    static COMMAND_EVENT: std::cell::Cell<Option<(&'static str, u32)>> =
        const { std::cell::Cell::new(None) };
}

/// Run a collection or bitmap command (its table group `hash`, `list`, `set`, `sorted-set` or
/// `bitmap`) so that the writes it makes are notified as Redis names them: event = the command's
/// name, class = the type's (a bitmap is a string). The store tells this module of changes synchronously, on the command's own thread.
pub fn as_command<R>(name: &'static str, group: &str, f: impl FnOnce() -> R) -> R {
    let class = match group {
        "hash" => HASH,
        "list" => LIST,
        "set" => SET,
        "sorted-set" => ZSET,
        "bitmap" => STRING,
        _ => return f(),
    };
    COMMAND_EVENT.with(|c| c.set(Some((name, class))));
    let out = f();
    COMMAND_EVENT.with(|c| c.set(None));
    out
}

/// The database label of a namespace in channel names.
fn db_label(namespace: &str) -> String {
    match namespace {
        larder_runtime::DEFAULT_NAMESPACE => "0".to_string(),
        name => match name.strip_prefix("db") {
            Some(n) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => n.to_string(),
            _ => name.to_string(),
        },
    }
}

/// Every namespace's notification flags, and where to publish.
pub struct Notifications {
    pubsub: Arc<PubSub>,
    flags: RwLock<HashMap<String, Arc<AtomicU32>>>,
    /// Client-side caching: told of every change too.
    tracking: Arc<Tracking>,
    /// Blocked clients (BLPOP, …): told of every write.
    waiters: Arc<Waiters>,
}

impl Notifications {
    pub fn new(pubsub: Arc<PubSub>, tracking: Arc<Tracking>, waiters: Arc<Waiters>) -> Self {
        Self {
            pubsub,
            flags: RwLock::default(),
            tracking,
            waiters,
        }
    }

    fn flags_of(&self, namespace: &str) -> Arc<AtomicU32> {
        if let Some(f) = self.flags.read().get(namespace) {
            return Arc::clone(f);
        }
        Arc::clone(
            self.flags
                .write()
                .entry(namespace.to_string())
                .or_insert_with(|| Arc::new(AtomicU32::new(0))),
        )
    }

    pub fn flags(&self, namespace: &str) -> u32 {
        self.flags
            .read()
            .get(namespace)
            .map_or(0, |f| f.load(Ordering::Relaxed))
    }

    pub fn set_flags(&self, namespace: &str, flags: u32) {
        self.flags_of(namespace).store(flags, Ordering::Relaxed);
    }
}

/// The sink one namespace's store reports to.
struct NamespaceEvents {
    flags: Arc<AtomicU32>,
    keyspace_prefix: Vec<u8>,
    keyevent_prefix: Vec<u8>,
    pubsub: Arc<PubSub>,
    tracking: Arc<Tracking>,
    table: Arc<NamespaceTable>,
    waiters: Arc<Waiters>,
    namespace: String,
}

impl NamespaceEvents {
    fn publish(&self, flags: u32, key: &[u8], event: &[u8]) {
        if flags & KEYSPACE != 0 {
            let channel = [&self.keyspace_prefix[..], key].concat();
            self.pubsub.publish(&channel, event);
        }
        if flags & KEYEVENT != 0 {
            let channel = [&self.keyevent_prefix[..], event].concat();
            self.pubsub.publish(&channel, key);
        }
    }
}

impl KeyEvents for NamespaceEvents {
    fn changed(&self, key: &[u8], change: KeyChange) {
        // A deadline set or removed leaves the value a client cached as it was.
        if !matches!(change, KeyChange::ExpirySet | KeyChange::Persisted) {
            self.tracking.changed(&self.table, key);
        }
        if matches!(change, KeyChange::Created | KeyChange::Written) {
            self.waiters.key_written(&self.namespace, key);
        }
        let flags = self.flags.load(Ordering::Relaxed);
        if flags == 0 {
            return;
        }
        if change == KeyChange::Created && flags & NEW != 0 {
            self.publish(flags, key, b"new");
        }
        let (event, class): (&[u8], u32) = match change {
            KeyChange::Created | KeyChange::Written => match COMMAND_EVENT.with(|c| c.get()) {
                Some((name, class)) => (name.as_bytes(), class),
                None => (b"set", STRING),
            },
            KeyChange::ExpirySet => (b"expire", GENERIC),
            KeyChange::Persisted => (b"persist", GENERIC),
            KeyChange::Deleted => (b"del", GENERIC),
            KeyChange::Expired => (b"expired", EXPIRED),
            KeyChange::Evicted => (b"evicted", EVICTED),
        };
        if flags & class != 0 {
            self.publish(flags, key, event);
        }
    }

    fn flushed(&self) {
        self.tracking.flushed(&self.table);
    }
}

impl KeyEventSource for Notifications {
    fn key_events(&self, namespace: &str) -> Arc<dyn KeyEvents> {
        // A tenant's namespace publishes on the tenant's own channels (see `command::pubsub`):
        // `acme/db1` notifies `acme/__keyspace@1__:<key>`, which acme's clients see as
        // `__keyspace@1__:<key>`.
        let (tenant, own) = larder_runtime::tenant::split(namespace);
        let db = db_label(own);
        let hub = tenant.map(|t| format!("{t}/")).unwrap_or_default();
        Arc::new(NamespaceEvents {
            flags: self.flags_of(namespace),
            keyspace_prefix: format!("{hub}__keyspace@{db}__:").into_bytes(),
            keyevent_prefix: format!("{hub}__keyevent@{db}__:").into_bytes(),
            pubsub: Arc::clone(&self.pubsub),
            tracking: Arc::clone(&self.tracking),
            table: self.tracking.table(namespace),
            waiters: Arc::clone(&self.waiters),
            namespace: namespace.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse_and_print_as_redis_does() {
        assert_eq!(parse_flags(""), Some(0));
        assert_eq!(parse_flags("g$"), Some(0), "no K or E: off");
        assert_eq!(format_flags(parse_flags("KEA").unwrap()), "AKE");
        assert_eq!(format_flags(parse_flags("Egx").unwrap()), "gxE");
        assert_eq!(format_flags(parse_flags("K$").unwrap()), "$K");
        assert_eq!(parse_flags("Kq"), None);
        assert_eq!(db_label("default"), "0");
        assert_eq!(db_label("db7"), "7");
        assert_eq!(db_label("dbx"), "dbx");
        assert_eq!(db_label("sessions"), "sessions");
    }
}

//! CONFIG GET / SET for the Redis parameters that mean something in Larder, mapped onto its own
//! configuration, and accepted-but-ignored for the ones that only tune Redis internals.
//!
//! | parameter | in Larder |
//! |---|---|
//! | `maxmemory` | the selected namespace's `capacity_bytes` (SET resizes it live; `0` is refused: a cache namespace always has a bound) |
//! | `maxmemory-policy` | the selected namespace's eviction: `allkeys-lru` ↔ `lru`, `allkeys-lfu` ↔ `wtinylfu`, `allkeys-random` ↔ `sieve`; other built-ins and plugins read as `allkeys-lru`-like `larder:<policy>`; `noeviction` and the `volatile-*` policies are refused |
//! | `save`, `appendonly`, `appendfsync` | read-only: how this node persists (set at start) |
//! | `databases` | `16` (SELECT 0-15, see `connection`) |
//! | `notify-keyspace-events` | the selected namespace's keyspace notification classes (see `resp::notify`); kept in memory |
//! | `tracking-table-max-keys` | the server's bound on keys remembered per namespace for CLIENT TRACKING's default mode (`0`: none); the operator's to set |
//! | `timeout`, `tcp-keepalive` | read as `0` / `300`; SET accepted, connections are not timed out |
//! | encoding thresholds (`hash-max-listpack-entries`, `zset-max-ziplist-value`, `list-max-listpack-size`, …) | what `OBJECT ENCODING` answers by (see `encodings`); process-wide, as in Redis |
//! | `hz`, `activerehashing`, `lazyfree-*`, `lua-time-limit`, … | accepted and ignored; GET returns the last value set |
//!
//! A namespace change made here is the same as one through the admin API: validated, applied
//! live and written to the catalog when the node persists.

use std::collections::BTreeMap;
use std::sync::Mutex;

use larder_runtime::BuiltinPolicy;
use larder_runtime::plugin::PolicyRef;

use super::{Args, is, wrong_arity};
use crate::resp::context::ServerContext;
use crate::resp::glob::Glob;
use crate::resp::reply::Reply;
use crate::resp::session::Session;

/// Parameters that only tune Redis's own encodings or background work. Setting them changes
/// nothing here; they are remembered so GET reads back what was set, as tools expect.
const IGNORED: &[(&str, &str)] = &[
    ("activerehashing", "yes"),
    ("hz", "10"),
    ("lazyfree-lazy-eviction", "no"),
    ("lazyfree-lazy-expire", "no"),
    ("lazyfree-lazy-server-del", "no"),
    ("lazyfree-lazy-user-del", "no"),
    ("lazyfree-lazy-user-flush", "no"),
    ("list-compress-depth", "0"),
    ("lua-time-limit", "5000"),
    ("maxmemory-samples", "5"),
    ("slowlog-log-slower-than", "10000"),
    ("slowlog-max-len", "128"),
    ("stream-node-max-bytes", "4096"),
    ("stream-node-max-entries", "100"),
    ("tcp-keepalive", "300"),
    ("timeout", "0"),
];

/// Values set for [`IGNORED`] parameters, shared by every connection of the process.
static IGNORED_VALUES: Mutex<BTreeMap<&'static str, String>> = Mutex::new(BTreeMap::new());

pub fn config(args: &Args<'_>, session: &Session, ctx: &ServerContext, reply: &mut Reply) {
    let sub = args.get(1);
    if is(sub, "GET") {
        if args.len() < 3 {
            return wrong_arity("config|get", reply);
        }
        get(args, session, ctx, reply);
    } else if is(sub, "SET") {
        if args.len() < 4 || !args.len().is_multiple_of(2) {
            return wrong_arity("config|set", reply);
        }
        set(args, session, ctx, reply);
    } else if is(sub, "RESETSTAT") && args.len() == 2 {
        // Counters here are Prometheus counters, which never go backwards by design.
        reply.ok();
    } else if is(sub, "REWRITE") && args.len() == 2 {
        reply.error("ERR CONFIG REWRITE is not supported: Larder's config file is yours to edit")
    } else if is(sub, "HELP") && args.len() == 2 {
        let lines = [
            "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set maxmemory / maxmemory-policy of the selected namespace; Redis-only",
            "    tuning parameters are accepted and ignored.",
            "RESETSTAT",
            "    Accepted; Larder's counters are Prometheus counters and never reset.",
        ];
        reply.help(&lines);
    } else {
        reply.error_fmt(format_args!(
            "ERR unknown subcommand '{}'. Try CONFIG HELP.",
            String::from_utf8_lossy(sub)
        ));
    }
}

/// Every parameter CONFIG GET knows, with its current value.
fn values(session: &Session, ctx: &ServerContext) -> Vec<(&'static str, String)> {
    let namespace = session.namespace.config();
    let save = match &ctx.state.persistence {
        Some(p) if !p.config().snapshot_every.is_zero() => {
            format!("{} 1", p.config().snapshot_every.as_secs())
        }
        _ => String::new(),
    };
    let log = ctx.state.persistence.as_ref().and_then(|p| p.log());
    let mut out = vec![
        ("maxmemory", namespace.capacity_bytes.to_string()),
        ("maxmemory-policy", redis_policy_name(&namespace.eviction)),
        ("save", save),
        (
            "appendonly",
            if log.is_some() { "yes" } else { "no" }.to_string(),
        ),
        (
            "appendfsync",
            log.map_or("everysec", |l| l.fsync().as_str()).to_string(),
        ),
        ("databases", super::connection::DATABASES.to_string()),
        (
            "tracking-table-max-keys",
            ctx.tracking.max_keys().to_string(),
        ),
        (
            "notify-keyspace-events",
            crate::resp::notify::format_flags(ctx.notifications.flags(session.namespace.name())),
        ),
    ];
    for t in super::encodings::ALL {
        for &name in t.names {
            out.push((name, t.get().to_string()));
        }
    }
    let set = IGNORED_VALUES.lock().unwrap_or_else(|e| e.into_inner());
    for &(name, default) in IGNORED {
        let value = set
            .get(name)
            .cloned()
            .unwrap_or_else(|| default.to_string());
        out.push((name, value));
    }
    out
}

fn get(args: &Args<'_>, session: &Session, ctx: &ServerContext, reply: &mut Reply) {
    let patterns: Vec<Glob> = args
        .from(2)
        .map(|p| Glob::new(&p.to_ascii_lowercase()))
        .collect();
    let matching: Vec<(&str, String)> = values(session, ctx)
        .into_iter()
        .filter(|(name, _)| patterns.iter().any(|g| g.matches(name.as_bytes())))
        .collect();
    reply.map(matching.len());
    for (name, value) in matching {
        reply.bulk(name.as_bytes());
        reply.bulk(value.as_bytes());
    }
}

/// `CONFIG SET name value [name value …]`: all or nothing — every pair is checked before any
/// is applied, as Redis 7 does.
fn set(args: &Args<'_>, session: &Session, ctx: &ServerContext, reply: &mut Reply) {
    let mut namespace = session.namespace.config();
    let mut namespace_changed = false;
    let mut ignored = Vec::new();
    let mut notify = None;
    let mut tracking_max_keys = None;
    let mut thresholds = Vec::new();
    let mut rest = args.from(2);
    while let (Some(name), Some(value)) = (rest.next(), rest.next()) {
        let name_text = String::from_utf8_lossy(name).to_ascii_lowercase();
        let value_text = String::from_utf8_lossy(value).into_owned();
        let refuse = |why: &str| {
            format!("ERR CONFIG SET failed (possibly related to argument '{name_text}') - {why}")
        };
        match name_text.as_str() {
            "maxmemory" => match parse_memory(&value_text) {
                Some(0) => {
                    return reply.error(&refuse(
                        "a namespace always has a capacity; 0 (unbounded) is not supported",
                    ));
                }
                Some(bytes) => {
                    namespace.capacity_bytes = bytes;
                    namespace_changed = true;
                }
                None => return reply.error(&refuse("argument must be a memory value")),
            },
            "maxmemory-policy" => match larder_policy(&value_text) {
                Ok(policy) => {
                    namespace.eviction = policy;
                    namespace_changed = true;
                }
                Err(why) => return reply.error(&refuse(why)),
            },
            "notify-keyspace-events" => match crate::resp::notify::parse_flags(&value_text) {
                Some(flags) => notify = Some(flags),
                None => {
                    return reply.error(&refuse(
                        "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.",
                    ));
                }
            },
            // Server-wide, so the operator's (or anyone's without authentication).
            "tracking-table-max-keys" if session.view().tenant().is_some() => {
                return reply.error(&refuse("server-wide; only the operator may set it"));
            }
            "tracking-table-max-keys" => match value_text.trim().parse::<usize>() {
                Ok(n) => tracking_max_keys = Some(n),
                Err(_) => {
                    return reply.error(&refuse("argument couldn't be parsed into an integer"));
                }
            },
            // Snapshots are configured at start (`--snapshot-every-secs`); test harnesses turn
            // Redis's RDB saves off with `save ""`, which asks for nothing Larder would do.
            "save" if value_text.trim().is_empty() => {}
            name => match (
                super::encodings::threshold(name),
                IGNORED.iter().find(|(known, _)| *known == name),
            ) {
                (Some(t), _) => match super::encodings::parse(t, &value_text) {
                    Ok(n) => thresholds.push((t, n)),
                    Err(why) => return reply.error(&refuse(why)),
                },
                (None, Some(&(known, _))) => ignored.push((known, value_text)),
                (None, None) => {
                    return reply.error(&refuse(
                        "unknown or read-only parameter (Larder maps maxmemory, \
                         maxmemory-policy, notify-keyspace-events and the encoding thresholds; \
                         persistence is set at start)",
                    ));
                }
            },
        }
    }
    if namespace_changed {
        let view = session.view();
        let mut namespace = namespace;
        let _admitted = match view.tenant() {
            Some(tenant) => {
                if let Err(e) = crate::tenants::resolve_config_refs(tenant, &mut namespace) {
                    let e = view.localize(e);
                    return reply.error_fmt(format_args!("ERR CONFIG SET failed - {e}"));
                }
                let guard = tenant.lock_changes();
                if let Err(e) = crate::tenants::check_namespace(
                    tenant,
                    &ctx.state.namespaces,
                    session.namespace.name(),
                    &namespace,
                ) {
                    return reply.error_fmt(format_args!("ERR CONFIG SET failed - {e}"));
                }
                Some(guard)
            }
            None => None,
        };
        if let Err(e) = ctx
            .state
            .namespaces
            .update(session.namespace.name(), namespace)
        {
            let e = view.localize(e);
            return reply.error_fmt(format_args!("ERR CONFIG SET failed - {e}"));
        }
        if let Some(p) = &ctx.state.persistence
            && let Err(e) = p.save_catalog()
        {
            return reply.error_fmt(format_args!(
                "ERR CONFIG SET applied but not saved to the data directory: {e}"
            ));
        }
    }
    if let Some(flags) = notify {
        ctx.notifications.set_flags(session.namespace.name(), flags);
    }
    if let Some(n) = tracking_max_keys {
        ctx.tracking.set_max_keys(n);
    }
    for (t, n) in thresholds {
        super::encodings::set(t, n);
    }
    let mut set = IGNORED_VALUES.lock().unwrap_or_else(|e| e.into_inner());
    for (name, value) in ignored {
        set.insert(name, value);
    }
    reply.ok();
}

/// Redis's memory syntax: bytes, or a number with k/kb/m/mb/g/gb (k = 1000, kb = 1024).
fn parse_memory(text: &str) -> Option<u64> {
    let lower = text.to_ascii_lowercase();
    let split = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    let (digits, unit) = lower.split_at(split);
    let n: u64 = digits.parse().ok()?;
    let factor = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    n.checked_mul(factor)
}

fn redis_policy_name(policy: &PolicyRef) -> String {
    match policy.as_builtin() {
        Some(BuiltinPolicy::Lru) => "allkeys-lru".to_string(),
        Some(BuiltinPolicy::Wtinylfu) => "allkeys-lfu".to_string(),
        Some(BuiltinPolicy::Sieve) => "allkeys-random".to_string(),
        _ => format!("larder:{policy}"),
    }
}

fn larder_policy(name: &str) -> Result<PolicyRef, &'static str> {
    match name.to_ascii_lowercase().as_str() {
        "allkeys-lru" => Ok(BuiltinPolicy::Lru.into()),
        "allkeys-lfu" => Ok(BuiltinPolicy::Wtinylfu.into()),
        "allkeys-random" => Ok(BuiltinPolicy::Sieve.into()),
        "noeviction" => Err("a cache namespace always evicts; noeviction is not supported"),
        n if n.starts_with("volatile-") => {
            Err("volatile-* policies are not supported; every key is evictable")
        }
        n => match n.strip_prefix("larder:").unwrap_or(n).parse::<PolicyRef>() {
            Ok(policy) => Ok(policy),
            Err(_) => Err("unknown policy"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::{larder_policy, parse_memory, redis_policy_name};

    #[test]
    fn memory_values_read_as_redis_reads_them() {
        assert_eq!(parse_memory("1024"), Some(1024));
        assert_eq!(parse_memory("1kb"), Some(1024));
        assert_eq!(parse_memory("1k"), Some(1000));
        assert_eq!(parse_memory("64MB"), Some(64 << 20));
        assert_eq!(parse_memory("2gb"), Some(2 << 30));
        assert_eq!(parse_memory("x"), None);
        assert_eq!(parse_memory("1tb"), None);
        assert_eq!(parse_memory(""), None);
    }

    #[test]
    fn policies_map_both_ways() {
        for name in ["allkeys-lru", "allkeys-lfu", "allkeys-random"] {
            assert_eq!(redis_policy_name(&larder_policy(name).unwrap()), name);
        }
        assert_eq!(
            redis_policy_name(&larder_policy("larder:s3fifo").unwrap()),
            "larder:s3fifo"
        );
        assert!(larder_policy("noeviction").is_err());
        assert!(larder_policy("volatile-lru").is_err());
        assert!(larder_policy("bogus").is_err());
    }
}

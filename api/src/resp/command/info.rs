//! INFO: Redis-style `field:value` lines in `# Section` blocks.
//!
//! Sections: `server`, `clients`, `memory`, `persistence`, `stats`, `replication` (always a
//! master without replicas), `cpu`, `commandstats`, `keyspace`. `INFO` and `INFO default` give all
//! but `commandstats`; `INFO all` and `INFO everything` give all; unknown names give nothing, as
//! in Redis.
//! Memory and keyspace figures are the stores' own accounting summed over namespaces. In
//! `keyspace`, the `default` namespace appears as `db0` (where Redis tools look for it) and every
//! other namespace under its own name. Command counts are added by each connection about once a
//! second, so `total_commands_processed` may trail by that much.

use crate::tenants::NsView;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use larder_runtime::{DEFAULT_NAMESPACE, StoreStats};

use super::connection::REDIS_COMPAT_VERSION;
use super::is;
use super::{Args, CommandKind};
use crate::resp::clients::Described;
use crate::resp::context::ServerContext;
use crate::resp::reply::{Protocol, Reply};
use crate::resp::session::Session;

/// Every section, in Redis's order; the default set is all but `commandstats`.
const SECTIONS: [&str; 10] = [
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "commandstats",
    "cluster",
    "keyspace",
];

pub fn info(args: &Args<'_>, session: &Session, ctx: &ServerContext, reply: &mut Reply) {
    let all = args.from(1).any(|a| is(a, "ALL") || is(a, "EVERYTHING"));
    let default = args.len() == 1 || args.from(1).any(|a| is(a, "DEFAULT"));
    let wanted = |section: &str| {
        all || (default && section != "commandstats") || args.from(1).any(|a| is(a, section))
    };
    let view = session.view();
    // A tenant sees its own numbers; node-wide ones that would tell it about other tenants'
    // traffic (persistence's change count, per-command totals) are the operator's.
    let tenant = view.tenant().is_some();
    let mut out = String::with_capacity(1024);
    for section in SECTIONS
        .iter()
        .filter(|s| wanted(s))
        .filter(|s| !(tenant && matches!(**s, "persistence" | "commandstats")))
    {
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        match *section {
            "server" => server(&mut out, ctx),
            "clients" => clients(&mut out, ctx, &view, session, reply.protocol),
            "memory" => memory(&mut out, &view, ctx, session),
            "stats" => stats(&mut out, &view, ctx),
            "persistence" => persistence(&mut out, ctx),
            "replication" => replication(&mut out, ctx),
            "cpu" => cpu(&mut out),
            "commandstats" => commandstats(&mut out, ctx),
            "cluster" => out.push_str(if ctx.state.cluster.is_some() {
                "# Cluster\r\ncluster_enabled:1\r\n"
            } else {
                "# Cluster\r\ncluster_enabled:0\r\n"
            }),
            _ => keyspace(&mut out, &view, ctx),
        }
    }
    reply.bulk(out.as_bytes());
}

fn server(out: &mut String, ctx: &ServerContext) {
    let uptime = ctx.started.elapsed().as_secs();
    let _ = write!(
        out,
        "# Server\r\nredis_version:{REDIS_COMPAT_VERSION}\r\nlarder_version:{}\r\n\
         redis_mode:standalone\r\nos:{} {}\r\narch_bits:{}\r\nprocess_id:{}\r\ntcp_port:{}\r\n\
         uptime_in_seconds:{uptime}\r\nuptime_in_days:{}\r\n",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::OS,
        std::env::consts::ARCH,
        usize::BITS,
        std::process::id(),
        ctx.port,
        uptime / 86_400,
    );
}

fn clients(
    out: &mut String,
    ctx: &ServerContext,
    view: &NsView,
    session: &Session,
    protocol: Protocol,
) {
    let tenant = view.tenant_name();
    let own = Described::of(session, protocol);
    let counts = ctx.clients.counts(
        |d| tenant.is_none() || d.tenant.as_deref() == tenant,
        Some((session.id, &own)),
    );
    let _ = write!(
        out,
        "# Clients\r\nconnected_clients:{}\r\nblocked_clients:{}\r\ntracking_clients:{}\r\n\
         pubsub_clients:{}\r\nwatching_clients:{}\r\ntotal_watched_keys:{}\r\n",
        match view.tenant() {
            Some(t) => i64::from(t.connections()),
            None => ctx.state.metrics.resp_connections.get(),
        },
        ctx.waiters
            .blocked_clients(|namespace| view.shown(namespace).is_some()),
        counts.tracking,
        counts.pubsub,
        counts.watching,
        counts.watched_keys,
    );
}

fn totals(view: &NsView, ctx: &ServerContext) -> StoreStats {
    let mut total = StoreStats::default();
    for ns in view.list(&ctx.state.namespaces) {
        let s = ns.store().stats();
        total.keys += s.keys;
        total.bytes += s.bytes;
        total.capacity_bytes += s.capacity_bytes;
        total.hits += s.hits;
        total.misses += s.misses;
        total.sets += s.sets;
        total.evictions += s.evictions;
        total.expirations += s.expirations;
    }
    total
}

fn memory(out: &mut String, view: &NsView, ctx: &ServerContext, session: &Session) {
    let total = totals(view, ctx);
    let _ = write!(
        out,
        "# Memory\r\nused_memory:{}\r\nused_memory_human:{}\r\nmaxmemory:{}\r\n\
         maxmemory_human:{}\r\nmaxmemory_policy:{}\r\n",
        total.bytes,
        human(total.bytes),
        total.capacity_bytes,
        human(total.capacity_bytes),
        session.namespace.store().policy_name(),
    );
}

/// Redis's field names for what they mean here (`rdb_*`: the data snapshot).
fn persistence(out: &mut String, ctx: &ServerContext) {
    out.push_str("# Persistence\r\nloading:0\r\n");
    let Some(p) = &ctx.state.persistence else {
        // Nothing was ever saved: every change since the start is unsaved, as Redis counts its
        // dirty writes with persistence off.
        let changes: u64 = ctx
            .state
            .namespaces
            .list()
            .iter()
            .map(|ns| ns.store().changes())
            .sum();
        let _ = write!(
            out,
            "rdb_changes_since_last_save:{changes}\r\nrdb_bgsave_in_progress:0\r\nrdb_last_save_time:0\r\nrdb_last_bgsave_status:ok\r\naof_enabled:0\r\n"
        );
        return;
    };
    let _ = write!(
        out,
        "rdb_changes_since_last_save:{}\r\nrdb_bgsave_in_progress:{}\r\nrdb_last_save_time:{}\r\n\
         rdb_last_bgsave_status:{}\r\n",
        p.changes_since_save(),
        u8::from(p.bgsave_in_progress()),
        p.last_save_unix_secs(),
        if p.last_save_ok() { "ok" } else { "err" },
    );
    match p.log() {
        None => out.push_str("aof_enabled:0\r\n"),
        Some(log) => {
            let _ = write!(
                out,
                "aof_enabled:1\r\naof_fsync:{}\r\naof_last_write_status:{}\r\n\
                 aof_current_generation:{}\r\naof_bytes_written:{}\r\n",
                log.fsync().as_str(),
                if log.error().is_none() { "ok" } else { "err" },
                log.generation(),
                log.bytes_written(),
            );
        }
    }
    let _ = write!(
        out,
        "encryption_at_rest:{}\r\n",
        match &p.config().encryption {
            Some(k) => format!("aes-256-gcm key_id={}", k.0.current_id()),
            None => "off".to_string(),
        }
    );
}

fn stats(out: &mut String, view: &NsView, ctx: &ServerContext) {
    let total = totals(view, ctx);
    let _ = write!(
        out,
        "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\n\
         keyspace_hits:{}\r\nkeyspace_misses:{}\r\nevicted_keys:{}\r\nexpired_keys:{}\r\n\
         total_writes:{}\r\n",
        ctx.connections_received.load(Ordering::Relaxed),
        ctx.commands_processed.load(Ordering::Relaxed),
        total.hits,
        total.misses,
        total.evictions,
        total.expirations,
        total.sets,
    );
}

/// Process CPU time, as getrusage reports it (seconds with microseconds).
fn cpu(out: &mut String) {
    let usage = |who| {
        // SAFETY: getrusage writes only into the zeroed struct we pass and reads nothing else.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        if unsafe { libc::getrusage(who, &mut ru) } != 0 {
            return (0.0, 0.0);
        }
        let secs = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
        (secs(ru.ru_stime), secs(ru.ru_utime))
    };
    let (sys, user) = usage(libc::RUSAGE_SELF);
    let (sys_children, user_children) = usage(libc::RUSAGE_CHILDREN);
    let _ = write!(
        out,
        "# CPU\r\nused_cpu_sys:{sys:.6}\r\nused_cpu_user:{user:.6}\r\n\
         used_cpu_sys_children:{sys_children:.6}\r\nused_cpu_user_children:{user_children:.6}\r\n",
    );
}

/// `cmdstat_<name>:calls=…,usec=…,usec_per_call=…,rejected_calls=0,failed_calls=0` per command
/// called at least once, from the same latency histograms `/metrics` exports. Rejections and
/// failures are not counted separately here.
fn commandstats(out: &mut String, ctx: &ServerContext) {
    out.push_str("# Commandstats\r\n");
    for (kind, histogram) in CommandKind::ALL.iter().zip(ctx.latency.iter()) {
        let calls = histogram.get_sample_count();
        if calls == 0 {
            continue;
        }
        let usec = histogram.get_sample_sum() * 1e6;
        let _ = write!(
            out,
            "cmdstat_{}:calls={calls},usec={:.0},usec_per_call={:.2},rejected_calls=0,\
             failed_calls=0\r\n",
            kind.spec().name,
            usec,
            usec / calls as f64,
        );
    }
}

fn keyspace(out: &mut String, view: &NsView, ctx: &ServerContext) {
    out.push_str("# Keyspace\r\n");
    for ns in view.list(&ctx.state.namespaces) {
        let s = ns.store().stats();
        let name = view.shown(ns.name()).unwrap_or(ns.name());
        let label = if name == DEFAULT_NAMESPACE {
            "db0"
        } else {
            name
        };
        let _ = write!(
            out,
            "{label}:keys={},expires={},avg_ttl=0,bytes={},capacity={}\r\n",
            s.keys, s.keys_with_ttl, s.bytes, s.capacity_bytes
        );
    }
}

/// Bytes as Redis's `*_human` fields show them: `1.50M`.
fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "K", "M", "G", "T"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes}B")
    } else {
        format!("{value:.2}{}", UNITS[unit])
    }
}

/// `# Replication`: in Redis's words (every member is a primary for its slots); in a cluster
/// with replicas, also the changes queued for each replica (`replica_backlog_<node id>`) and the
/// changes applied both ways.
fn replication(out: &mut String, ctx: &ServerContext) {
    use std::fmt::Write;
    use std::sync::atomic::Ordering;
    let Some(cluster) = &ctx.state.cluster else {
        out.push_str(
            "# Replication\r\nrole:master\r\nconnected_slaves:0\r\nmaster_repl_offset:0\r\n",
        );
        return;
    };
    let r = &cluster.replication;
    let backlog = r.backlog();
    let _ = write!(
        out,
        "# Replication\r\nrole:master\r\nconnected_slaves:{}\r\nmaster_repl_offset:{}\r\n\
         cluster_replicas_per_slot:{}\r\nreplicated_changes_sent:{}\r\n\
         replicated_changes_applied:{}\r\n",
        backlog.len(),
        r.last_seq(),
        cluster.node.view().replicas,
        r.applied_by_replicas.load(Ordering::Relaxed),
        r.applied_here.load(Ordering::Relaxed),
    );
    for (id, queued) in backlog {
        let _ = write!(out, "replica_backlog_{id:016x}:{queued}\r\n");
    }
}

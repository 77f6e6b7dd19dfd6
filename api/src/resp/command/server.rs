//! Server commands that act on whole namespaces: FLUSHDB, FLUSHALL, SAVE, BGSAVE, LASTSAVE, and
//! FUNCTION's reset subcommands (CONFIG has its own file, `config`).

use super::{Args, is, syntax_error};
use crate::resp::context::ServerContext;
use crate::resp::reply::Reply;
use crate::resp::session::Session;

/// `ASYNC` and `SYNC` are accepted; a flush here is always synchronous (and quick: it drops each
/// shard's table under its lock).
fn flush_mode_ok(args: &Args<'_>) -> bool {
    match args.len() {
        1 => true,
        2 => is(args.get(1), "ASYNC") || is(args.get(1), "SYNC"),
        _ => false,
    }
}

pub fn flushdb(args: &Args<'_>, session: &Session, reply: &mut Reply) {
    if !flush_mode_ok(args) {
        return syntax_error(reply);
    }
    session.namespace.store().flush();
    reply.ok();
}

/// `FLUSHALL`: every namespace the caller sees (a tenant's caller: its tenant's only).
pub fn flushall(args: &Args<'_>, session: &Session, ctx: &ServerContext, reply: &mut Reply) {
    if !flush_mode_ok(args) {
        return syntax_error(reply);
    }
    for namespace in session.view().list(&ctx.state.namespaces) {
        namespace.store().flush();
    }
    reply.ok();
}

/// `SAVE`: write a snapshot of every namespace and answer when it is on disk. Like Redis's, it
/// makes this client wait; other connections keep being served (shards are copied one at a time).
pub fn save(ctx: &ServerContext, reply: &mut Reply) {
    let Some(p) = &ctx.state.persistence else {
        return not_persisting(reply);
    };
    match p.save() {
        Ok(()) => reply.ok(),
        Err(e) => reply.error_fmt(format_args!("ERR {e}")),
    }
}

/// `SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]` (operator only): stop the node as SIGTERM
/// does — stop accepting, finish what is in flight, write the final snapshot — and close this
/// connection without an answer, as Redis does. `NOSAVE` skips the snapshot; `SAVE` on a node
/// without a data directory is refused and nothing stops. `NOW` and `FORCE` are accepted:
/// there is no replica wait to skip, and a failed final snapshot is logged, never a reason to
/// keep serving. `ABORT` has nothing to abort: shutdown starts at once.
pub fn shutdown(args: &Args<'_>, session: &mut Session, ctx: &ServerContext, reply: &mut Reply) {
    let (mut save, mut nosave) = (false, false);
    for i in 1..args.len() {
        let arg = args.get(i);
        if is(arg, "SAVE") {
            save = true;
        } else if is(arg, "NOSAVE") {
            nosave = true;
        } else if is(arg, "ABORT") {
            return reply.error("ERR No shutdown in progress.");
        } else if !(is(arg, "NOW") || is(arg, "FORCE")) {
            return syntax_error(reply);
        }
    }
    if save && nosave {
        return syntax_error(reply);
    }
    if save && ctx.state.persistence.is_none() {
        return reply.error(
            "ERR SHUTDOWN SAVE needs a data directory, and this node keeps everything in memory \
             only; nothing was shut down",
        );
    }
    let Some(control) = &ctx.state.shutdown else {
        return reply.error("ERR SHUTDOWN is not available on this server");
    };
    tracing::warn!(client = session.id, nosave, "SHUTDOWN requested over RESP");
    control.request(!nosave);
    session.quit = true;
}

/// `BGSAVE [SCHEDULE]`: start a snapshot in the background.
pub fn bgsave(args: &Args<'_>, ctx: &ServerContext, reply: &mut Reply) {
    if args.len() > 2 || (args.len() == 2 && !is(args.get(1), "SCHEDULE")) {
        return syntax_error(reply);
    }
    let Some(p) = &ctx.state.persistence else {
        return not_persisting(reply);
    };
    match p.bgsave() {
        Ok(()) => reply.simple("Background saving started"),
        Err(e) => reply.error_fmt(format_args!("ERR {e}")),
    }
}

/// `LASTSAVE`: Unix seconds of the last successful snapshot (the start time before the first;
/// 0 on a node that does not persist).
pub fn lastsave(ctx: &ServerContext, reply: &mut Reply) {
    let at = ctx
        .state
        .persistence
        .as_ref()
        .map_or(0, |p| p.last_save_unix_secs());
    reply.integer(at as i64);
}

/// `WAIT numreplicas timeout`: the number of replicas that hold this connection's writes.
///
/// A cluster member with replication answers a write only once every replica of its slot has
/// it (see `crate::replication`), and a batch whose writes do not all reach their replicas is
/// answered with errors, WAIT's reply included. So WAIT never has to wait: every replica of
/// this node's slots holds the writes before the answer goes out, and that number — the fewest
/// replicas any slot this node owns has — is the answer. A single node has no replicas: 0.
pub fn wait(args: &Args<'_>, ctx: &ServerContext, reply: &mut Reply) {
    let (Some(wanted), Some(timeout)) = (
        super::parse_i64_arg(args.get(1)),
        super::parse_i64_arg(args.get(2)),
    ) else {
        return reply.error("ERR value is not an integer or out of range");
    };
    if wanted < 0 || timeout < 0 {
        return reply.error("ERR timeout is negative");
    }
    let replicas = ctx.state.cluster.as_ref().map_or(0, |cluster| {
        let view = cluster.node.view();
        (0..larder_cluster::slot::SLOTS)
            .filter(|&s| view.slots.owner(s) == Some(view.me))
            .map(|s| view.slots.replicas(s).len())
            .min()
            .unwrap_or(0)
    });
    reply.integer(replicas as i64);
}

/// `FUNCTION FLUSH [ASYNC|SYNC]` and `FUNCTION LIST …`: Larder runs no server-side scripts (its
/// programmability is the plugin hooks), so there is never a function to flush or list. Answered
/// rather than refused because tools and test harnesses flush functions as part of a reset.
/// Loading one (`FUNCTION LOAD`) is refused.
pub fn function(args: &Args<'_>, reply: &mut Reply) {
    let sub = args.get(1);
    let flush_mode_ok = match args.len() {
        2 => true,
        3 => is(args.get(2), "ASYNC") || is(args.get(2), "SYNC"),
        _ => false,
    };
    if is(sub, "FLUSH") && flush_mode_ok {
        reply.ok();
    } else if is(sub, "LIST") {
        reply.array(0);
    } else {
        reply.error_fmt(format_args!(
            "ERR FUNCTION {} is not supported: Larder runs no server-side scripts; policies are \
             wasm plugins (see the admin API)",
            String::from_utf8_lossy(sub).to_ascii_uppercase()
        ));
    }
}

fn not_persisting(reply: &mut Reply) {
    reply.error("ERR this node keeps everything in memory only (started with --no-persist)");
}

/// `TIME`: the wall clock as `[unix seconds, microseconds]`, both as bulk strings.
pub fn time(reply: &mut Reply) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    reply.array(2);
    reply.bulk(now.as_secs().to_string().as_bytes());
    reply.bulk(now.subsec_micros().to_string().as_bytes());
}

/// `DEBUG SET-ACTIVE-EXPIRE 0|1`, the one DEBUG subcommand here: pause or resume the active
/// expiry sweeps (process-wide), so a client can watch lazy expiry as Redis's test suite does.
/// Every other DEBUG subcommand pokes at Redis internals and is refused by name.
pub fn debug(args: &Args<'_>, reply: &mut Reply) {
    let sub = args.get(1);
    if is(sub, "SET-ACTIVE-EXPIRE") && args.len() == 3 {
        match args.get(2) {
            b"0" => larder_runtime::expiry::set_active_expiry(false),
            b"1" => larder_runtime::expiry::set_active_expiry(true),
            _ => return reply.error("ERR DEBUG SET-ACTIVE-EXPIRE takes 0 or 1"),
        }
        reply.ok();
    } else {
        reply.error_fmt(format_args!(
            "ERR DEBUG {} is not supported (only SET-ACTIVE-EXPIRE is)",
            String::from_utf8_lossy(sub).to_ascii_uppercase()
        ));
    }
}

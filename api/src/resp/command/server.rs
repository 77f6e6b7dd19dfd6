//! Server commands that act on whole namespaces: FLUSHDB, FLUSHALL, SAVE, BGSAVE, LASTSAVE, and
//! the read-only CONFIG GET that tools such as redis-benchmark issue on start.

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

pub fn flushall(args: &Args<'_>, ctx: &ServerContext, reply: &mut Reply) {
    if !flush_mode_ok(args) {
        return syntax_error(reply);
    }
    for namespace in ctx.state.namespaces.list() {
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

fn not_persisting(reply: &mut Reply) {
    reply.error("ERR this node keeps everything in memory only (started with --no-persist)");
}

/// The parameters CONFIG GET answers, with the values that are true of Larder. `save` reads as
/// Redis's "snapshot after N seconds if at least 1 change" when this node persists.
fn config_values(ctx: &ServerContext) -> [(&'static str, String); 2] {
    let save = match &ctx.state.persistence {
        Some(p) if !p.config().snapshot_every.is_zero() => {
            format!("{} 1", p.config().snapshot_every.as_secs())
        }
        _ => String::new(),
    };
    [("save", save), ("appendonly", "no".to_string())]
}

/// `CONFIG GET parameter [parameter …]` answers from [`config_values`] (`*` matches all); unknown names
/// are left out, as in Redis. Everything else is configured through Larder's own config and
/// admin API, so other subcommands are refused.
pub fn config(args: &Args<'_>, ctx: &ServerContext, reply: &mut Reply) {
    let sub = args.get(1);
    if !is(sub, "GET") {
        return reply.error_fmt(format_args!(
            "ERR CONFIG {} is not supported; Larder is configured through its config file and \
             admin API",
            String::from_utf8_lossy(sub).to_ascii_uppercase()
        ));
    }
    if args.len() < 3 {
        return reply.error("ERR wrong number of arguments for 'config|get' command");
    }
    let values = config_values(ctx);
    let matches: Vec<&(&str, String)> = values
        .iter()
        .filter(|(name, _)| {
            args.from(2)
                .any(|pattern| pattern == b"*" || is(pattern, name))
        })
        .collect();
    reply.map(matches.len());
    for (name, value) in matches {
        reply.bulk(name.as_bytes());
        reply.bulk(value.as_bytes());
    }
}

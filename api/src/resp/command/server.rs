//! Server commands that act on whole namespaces: FLUSHDB, FLUSHALL, and the read-only CONFIG GET
//! that tools such as redis-benchmark issue on start.

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

/// The parameters CONFIG GET answers, with the values that are true of Larder: it never
/// persists to disk.
const CONFIG: &[(&str, &str)] = &[("save", ""), ("appendonly", "no")];

/// `CONFIG GET parameter [parameter …]` answers from [`CONFIG`] (`*` matches all); unknown names
/// are left out, as in Redis. Everything else is configured through Larder's own config and
/// admin API, so other subcommands are refused.
pub fn config(args: &Args<'_>, reply: &mut Reply) {
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
    let matches: Vec<&(&str, &str)> = CONFIG
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

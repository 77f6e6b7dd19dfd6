//! COMMAND: what `redis-cli` and client libraries ask on start to learn the command set.
//!
//! `COMMAND` and `COMMAND INFO` reply in Redis 7's ten-field shape (name, arity, flags, first
//! key, last key, step, and four lists this server leaves empty); `COMMAND DOCS` gives the three
//! fields Redis marks mandatory (summary, since, group), which is what `redis-cli` reads for its
//! hints.

use super::table::{CommandKind, CommandSpec};
use super::{Args, is};
use crate::resp::reply::Reply;

pub fn command(args: &Args<'_>, reply: &mut Reply) {
    if args.len() == 1 {
        reply.array(CommandKind::ALL.len());
        for kind in CommandKind::ALL {
            info_entry(kind.spec(), reply);
        }
        return;
    }
    let sub = args.get(1);
    if is(sub, "COUNT") && args.len() == 2 {
        reply.integer(CommandKind::ALL.len() as i64);
    } else if is(sub, "LIST") && args.len() == 2 {
        reply.array(CommandKind::ALL.len());
        for kind in CommandKind::ALL {
            reply.bulk(kind.spec().name.as_bytes());
        }
    } else if is(sub, "INFO") {
        let names = requested(args);
        reply.array(names.len());
        for kind in names {
            match kind {
                Some(kind) => info_entry(kind.spec(), reply),
                None => reply.null_array(),
            }
        }
    } else if is(sub, "DOCS") {
        let docs: Vec<CommandKind> = requested(args).into_iter().flatten().collect();
        reply.map(docs.len());
        for kind in docs {
            let spec = kind.spec();
            reply.bulk(spec.name.as_bytes());
            reply.map(3);
            reply.bulk(b"summary");
            reply.bulk(spec.summary.as_bytes());
            reply.bulk(b"since");
            reply.bulk(spec.since.as_bytes());
            reply.bulk(b"group");
            reply.bulk(spec.group.as_bytes());
        }
    } else if is(sub, "HELP") && args.len() == 2 {
        let lines = [
            "COMMAND <subcommand> [<arg> ...]. Subcommands are:",
            "(no subcommand)",
            "    Return details about all commands.",
            "COUNT",
            "    Return the total number of commands.",
            "LIST",
            "    Return the names of all commands.",
            "INFO [<command-name> ...]",
            "    Return details about the given commands, or all of them.",
            "DOCS [<command-name> ...]",
            "    Return documentation for the given commands, or all of them.",
        ];
        reply.help(&lines);
    } else {
        reply.error_fmt(format_args!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try COMMAND HELP.",
            String::from_utf8_lossy(sub)
        ));
    }
}

/// The commands named after the subcommand (all when none), `None` for unknown names.
fn requested(args: &Args<'_>) -> Vec<Option<CommandKind>> {
    if args.len() == 2 {
        CommandKind::ALL.iter().copied().map(Some).collect()
    } else {
        args.from(2).map(CommandKind::lookup).collect()
    }
}

fn info_entry(spec: &CommandSpec, reply: &mut Reply) {
    reply.array(10);
    reply.bulk(spec.name.as_bytes());
    reply.integer(i64::from(spec.arity));
    reply.array(spec.flags.len());
    for flag in spec.flags {
        reply.simple(flag);
    }
    reply.integer(spec.first_key);
    reply.integer(spec.last_key);
    reply.integer(spec.step);
    for _ in 0..4 {
        reply.array(0);
    }
}

//! CLIENT TRACKING, CLIENT CACHING, CLIENT GETREDIR, CLIENT TRACKINGINFO; and remembering what a
//! tracking client reads. The tables and invalidations are in [`crate::resp::tracking`].

use super::{Args, CommandKind};
use crate::resp::context::ServerContext;
use crate::resp::reply::Reply;
use crate::resp::session::Session;
use crate::resp::tracking::TrackingMode;

fn is(arg: &[u8], name: &str) -> bool {
    arg.eq_ignore_ascii_case(name.as_bytes())
}

/// The CLIENT subcommands handled here; `false` for any other.
pub fn client(
    args: &Args<'_>,
    session: &mut Session,
    ctx: &ServerContext,
    reply: &mut Reply,
) -> bool {
    let sub = args.get(1);
    if is(sub, "TRACKING") {
        tracking(args, session, ctx, reply);
    } else if is(sub, "CACHING") {
        caching(args, session, reply);
    } else if is(sub, "GETREDIR") && args.len() == 2 {
        reply.integer(match &session.tracking {
            Some(t) => t.mode.redirect as i64,
            None => -1,
        });
    } else if is(sub, "TRACKINGINFO") && args.len() == 2 {
        info(session, reply);
    } else {
        return false;
    }
    true
}

/// `CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p …] [BCAST] [OPTIN] [OPTOUT] [NOLOOP]`
fn tracking(args: &Args<'_>, session: &mut Session, ctx: &ServerContext, reply: &mut Reply) {
    let on = match args.get(2) {
        a if is(a, "ON") => true,
        a if is(a, "OFF") => false,
        _ => return super::syntax_error(reply),
    };
    let mut mode = TrackingMode::default();
    let mut i = 3;
    while i < args.len() {
        let opt = args.get(i);
        if is(opt, "BCAST") {
            mode.bcast = true;
        } else if is(opt, "OPTIN") {
            mode.optin = true;
        } else if is(opt, "OPTOUT") {
            mode.optout = true;
        } else if is(opt, "NOLOOP") {
            mode.noloop = true;
        } else if is(opt, "REDIRECT") && i + 1 < args.len() {
            i += 1;
            match super::parse_i64(args.get(i)) {
                Some(id) if id > 0 && id as u64 != session.id && ctx.clients.exists(id as u64) => {
                    mode.redirect = id as u64
                }
                Some(_) => {
                    return reply.error("ERR The client ID you want redirect to does not exist");
                }
                _ => return super::not_an_integer(reply),
            }
        } else if is(opt, "PREFIX") && i + 1 < args.len() {
            i += 1;
            mode.prefixes.push(args.get(i).to_vec());
        } else {
            return super::syntax_error(reply);
        }
        i += 1;
    }
    if !on {
        session.tracking = None;
        session.caching_next = None;
        return reply.ok();
    }
    if !mode.prefixes.is_empty() && !mode.bcast {
        return reply.error("ERR PREFIX option requires BCAST mode to be enabled");
    }
    if mode.optin && mode.optout {
        return reply.error("ERR You can't use both OPTIN and OPTOUT");
    }
    if mode.bcast && (mode.optin || mode.optout) {
        return reply.error("ERR OPTIN and OPTOUT are not compatible with BCAST");
    }
    if mode.bcast {
        // As in Redis, BCAST prefixes add to those the connection already broadcasts for, and
        // a new one may not overlap another (else one key would be announced twice). No
        // prefix is the empty prefix, every key; here an empty list.
        let existing: Option<&[Vec<u8>]> = match &session.tracking {
            Some(t) if t.mode.bcast && t.mode.prefixes.is_empty() => Some(&[][..]),
            Some(t) if t.mode.bcast => Some(&t.mode.prefixes),
            _ => None,
        };
        let every_key = [Vec::new()];
        let existing_shown = match existing {
            Some([]) => &every_key[..],
            Some(prefixes) => prefixes,
            None => &[][..],
        };
        if let Err(message) = check_prefix_collisions(existing_shown, &mode.prefixes) {
            return reply.error(&message);
        }
        mode.prefixes = match existing {
            // Either side covering every key covers every key.
            Some([]) => Vec::new(),
            _ if mode.prefixes.is_empty() => Vec::new(),
            Some(prefixes) => [prefixes, &mode.prefixes[..]].concat(),
            None => mode.prefixes,
        };
    }
    // Switching modes starts afresh: what was tracked under the old mode is not carried over.
    session.tracking = None;
    let own = session.push_subscriber();
    let tenant = session.tenant().map(|t| t.name().to_string());
    session.tracking = Some(
        ctx.tracking
            .enable(session.id, mode, own, tenant.as_deref()),
    );
    session.caching_next = None;
    reply.ok();
}

/// Redis's check that BCAST prefixes do not overlap: none of `new` may be a prefix of, or start
/// with, one in `existing` or another in `new` (the empty prefix overlaps every other).
fn check_prefix_collisions(existing: &[Vec<u8>], new: &[Vec<u8>]) -> Result<(), String> {
    let overlap = |a: &[u8], b: &[u8]| a.starts_with(b) || b.starts_with(a);
    let shown = |p: &[u8]| String::from_utf8_lossy(p).into_owned();
    for (i, p) in new.iter().enumerate() {
        if let Some(e) = existing.iter().find(|e| overlap(p, e)) {
            return Err(format!(
                "ERR Prefix '{}' overlaps with an existing prefix '{}'. Prefixes for a single client must not overlap.",
                shown(p),
                shown(e)
            ));
        }
        if let Some(q) = new[i + 1..].iter().find(|q| overlap(p, q)) {
            return Err(format!(
                "ERR Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a single client must not overlap.",
                shown(p),
                shown(q)
            ));
        }
    }
    Ok(())
}

/// `CLIENT CACHING YES|NO`: whether the next command's reads are tracked.
fn caching(args: &Args<'_>, session: &mut Session, reply: &mut Reply) {
    if args.len() != 3 {
        return super::wrong_arity("client|caching", reply);
    }
    let Some(t) = &session.tracking else {
        return reply.error(
            "ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled",
        );
    };
    let yes = match args.get(2) {
        a if is(a, "YES") => true,
        a if is(a, "NO") => false,
        _ => return super::syntax_error(reply),
    };
    match (t.mode.optin, t.mode.optout, yes) {
        (true, _, true) | (_, true, false) => {
            session.caching_next = Some(yes);
            reply.ok();
        }
        (true, _, false) => reply.error(
            "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
        ),
        (_, true, true) => reply.error(
            "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
        ),
        _ => reply.error(
            "ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled",
        ),
    }
}

fn info(session: &Session, reply: &mut Reply) {
    let mut flags: Vec<&str> = Vec::new();
    match &session.tracking {
        None => flags.push("off"),
        Some(t) => {
            flags.push("on");
            if t.mode.bcast {
                flags.push("bcast");
            }
            if t.mode.optin {
                flags.push("optin");
                if session.caching_next == Some(true) {
                    flags.push("caching-yes");
                }
            }
            if t.mode.optout {
                flags.push("optout");
                if session.caching_next == Some(false) {
                    flags.push("caching-no");
                }
            }
            if t.mode.noloop {
                flags.push("noloop");
            }
        }
    }
    reply.map(3);
    reply.bulk(b"flags");
    reply.array(flags.len());
    for f in flags {
        reply.bulk(f.as_bytes());
    }
    reply.bulk(b"redirect");
    reply.integer(
        session
            .tracking
            .as_ref()
            .map_or(-1, |t| t.mode.redirect as i64),
    );
    reply.bulk(b"prefixes");
    let prefixes = session
        .tracking
        .as_ref()
        .map(|t| t.mode.prefixes.clone())
        .unwrap_or_default();
    reply.array(prefixes.len());
    for p in prefixes {
        reply.bulk(&p);
    }
}

/// After a command ran: if the client tracks in default mode and the command read keys, remember
/// them; consume a `CLIENT CACHING` that applied to this command.
pub fn after_command(
    kind: CommandKind,
    args: &Args<'_>,
    session: &mut Session,
    ctx: &ServerContext,
) {
    let Some(t) = &session.tracking else {
        return;
    };
    if kind == CommandKind::Client {
        return;
    }
    let caching = session.caching_next.take();
    let spec = kind.spec();
    if t.mode.bcast || !spec.flags.contains(&"readonly") {
        return;
    }
    let wanted = if t.mode.optin {
        caching == Some(true)
    } else if t.mode.optout {
        caching != Some(false)
    } else {
        true
    };
    if !wanted {
        return;
    }
    let numkeys = kind
        .numkeys_at()
        .and_then(|(at, _)| super::parse_i64(args.get(at)));
    let positions = kind.key_positions(args.len(), numkeys);
    if positions.is_empty() {
        return;
    }
    let keys = positions.into_iter().map(|i| args.get(i));
    ctx.tracking
        .remember(session.id, session.namespace.name(), keys);
}

//! `CLIENT LIST` and `CLIENT KILL`: the operator's view of who is connected, and the way to end
//! a connection. Both need the admin scope when authentication is on, and a tenant's caller sees
//! and kills only its own tenant's clients (others answer as if they were not connected).
//! The table itself is [`crate::resp::clients`].

use super::{Args, CommandKind, is, syntax_error};
use crate::resp::clients::{ClientType, Described, KillFilter, LineFacts, info_line};
use crate::resp::context::ServerContext;
use crate::resp::reply::Reply;
use crate::resp::session::Session;

/// Which clients the caller may see: all for the operator, its own tenant's for a tenant.
fn visible(session: &Session) -> impl Fn(&Described) -> bool + use<> {
    let tenant = session.view().tenant_name().map(str::to_string);
    move |d: &Described| tenant.is_none() || d.tenant == tenant
}

/// The caller's own line, from its live session (its table entry may lag this batch).
fn own_line(session: &Session, reply: &Reply) -> String {
    let d = Described::of(session, reply.protocol);
    info_line(&LineFacts::own(session, CommandKind::Client), &d)
}

/// `CLIENT INFO`.
pub fn info(session: &Session, reply: &mut Reply) {
    let line = own_line(session, reply);
    reply.bulk(line.as_bytes());
}

/// `CLIENT LIST [TYPE NORMAL|MASTER|REPLICA|PUBSUB] [ID client-id …]`
pub fn list(args: &Args<'_>, session: &Session, ctx: &ServerContext, reply: &mut Reply) {
    let mut client_type = None;
    let mut ids: Option<Vec<u64>> = None;
    if args.len() > 2 {
        let option = args.get(2);
        if is(option, "TYPE") && args.len() == 4 {
            match ClientType::parse(args.get(3)) {
                Some(t) => client_type = Some(t),
                None => {
                    return reply.error_fmt(format_args!(
                        "ERR Unknown client type '{}'",
                        String::from_utf8_lossy(args.get(3))
                    ));
                }
            }
        } else if is(option, "ID") && args.len() >= 4 {
            let mut wanted = Vec::with_capacity(args.len() - 3);
            for arg in args.from(3) {
                match super::parse_i64(arg) {
                    Some(id) if id > 0 => wanted.push(id as u64),
                    _ => return reply.error("ERR Invalid client ID"),
                }
            }
            ids = Some(wanted);
        } else {
            return syntax_error(reply);
        }
    }
    let shown = visible(session);
    let mut out = String::new();
    for (record, described) in ctx.clients.list(&shown) {
        if ids.as_ref().is_some_and(|ids| !ids.contains(&record.id)) {
            continue;
        }
        if record.id == session.id {
            let own = Described::of(session, reply.protocol);
            if client_type.is_none_or(|t| t.matches(&own)) {
                out.push_str(&own_line(session, reply));
            }
            continue;
        }
        if client_type.is_none_or(|t| t.matches(&described)) {
            out.push_str(&info_line(&record.facts(), &described));
        }
    }
    reply.bulk(out.as_bytes());
}

/// `CLIENT KILL ip:port` (answers OK, or an error when nobody matched) and
/// `CLIENT KILL <filter> <value> …` with ID, ADDR, LADDR, USER, TYPE, SKIPME and MAXAGE (answers
/// how many were killed). Every filter given must match; SKIPME defaults to yes.
pub fn kill(args: &Args<'_>, session: &Session, ctx: &ServerContext, reply: &mut Reply) {
    let old_form = args.len() == 3;
    let mut filter = KillFilter::default();
    if old_form {
        filter.addr = Some(String::from_utf8_lossy(args.get(2)).into_owned());
    } else if args.len() > 3 {
        filter.skip = Some(session.id);
        let mut i = 2;
        while i < args.len() {
            if i + 1 >= args.len() {
                return syntax_error(reply);
            }
            let (option, value) = (args.get(i), args.get(i + 1));
            let text = || String::from_utf8_lossy(value).into_owned();
            if is(option, "ID") {
                match super::parse_i64(value) {
                    Some(id) if id > 0 => filter.id = Some(id as u64),
                    Some(_) => return reply.error("ERR client-id should be greater than 0"),
                    None => return reply.error("ERR client-id should be greater than 0"),
                }
            } else if is(option, "MAXAGE") {
                match super::parse_i64(value) {
                    Some(age) if age > 0 => filter.max_age_secs = Some(age as u64),
                    Some(_) => return reply.error("ERR maxage should be greater than 0"),
                    None => return reply.error("ERR maxage is not an integer or out of range"),
                }
            } else if is(option, "TYPE") {
                match ClientType::parse(value) {
                    Some(t) => filter.client_type = Some(t),
                    None => {
                        return reply
                            .error_fmt(format_args!("ERR Unknown client type '{}'", text()));
                    }
                }
            } else if is(option, "ADDR") {
                filter.addr = Some(text());
            } else if is(option, "LADDR") {
                filter.laddr = Some(text());
            } else if is(option, "USER") {
                filter.user = Some(text());
            } else if is(option, "SKIPME") {
                if is(value, "YES") {
                    filter.skip = Some(session.id);
                } else if is(value, "NO") {
                    filter.skip = None;
                } else {
                    return syntax_error(reply);
                }
            } else {
                return syntax_error(reply);
            }
            i += 2;
        }
    } else {
        return syntax_error(reply);
    }
    let killed = ctx.clients.kill(&filter, visible(session));
    if old_form {
        if killed.is_empty() {
            reply.error("ERR No such client");
        } else {
            reply.ok();
        }
    } else {
        reply.integer(killed.len() as i64);
    }
}

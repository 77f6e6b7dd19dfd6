//! Connection commands: PING, HELLO, AUTH, SELECT and CLIENT (QUIT and ECHO are one-liners in
//! the dispatcher).
//!
//! SELECT is how a Redis client reaches a namespace other than `default`: `SELECT 0` selects
//! `default`, `SELECT 1` … `SELECT 15` select `db1` … `db15` (created with the default config
//! on first use), and `SELECT <name>` selects the namespace called `<name>`. The namespace is
//! resolved here, once, and kept in the session.
//!
//! Without an operator key there are no passwords on the data port: AUTH and HELLO's AUTH
//! option are accepted so that clients configured with credentials still connect. With one,
//! they take the operator key or an API key as the password (see `resp::auth_gate`).
//!
//! `CLIENT TAGS name value [name value …]` sets the connection's request context tags (replacing
//! any earlier ones; no pairs clears them). Plugin hooks called during the connection's later data
//! commands see them, so a contextual admission or prefetch plugin can tell a phone from a TV.

use std::sync::Arc;

use larder_runtime::plugin::{RequestTags, TagError};
use larder_runtime::{DEFAULT_NAMESPACE, Namespace, NamespaceConfig, NamespaceError};

use super::{Args, is, syntax_error, wrong_arity};
use crate::resp::context::ServerContext;
use crate::resp::reply::{Protocol, Reply};
use crate::resp::session::Session;
use crate::tenants::NsView;

/// The Redis version we answer as: the command set and protocol behave like this release's.
pub const REDIS_COMPAT_VERSION: &str = "7.4.0";

pub fn ping(args: &Args<'_>, reply: &mut Reply) {
    match args.len() {
        1 => reply.simple("PONG"),
        2 => reply.bulk(args.get(1)),
        _ => wrong_arity("ping", reply),
    }
}

/// `HELLO [protover [AUTH username password] [SETNAME clientname]]`
pub fn hello(args: &Args<'_>, session: &mut Session, ctx: &ServerContext, reply: &mut Reply) {
    let mut protocol = reply.protocol;
    if args.len() >= 2 {
        protocol = match super::parse_i64(args.get(1)) {
            Some(2) => Protocol::Resp2,
            Some(3) => Protocol::Resp3,
            Some(_) => return reply.error("NOPROTO unsupported protocol version"),
            None => {
                return reply.error("ERR Protocol version is not an integer or out of range");
            }
        };
    }
    let mut new_name = None;
    let mut credentials = None;
    let mut i = 2;
    while i < args.len() {
        let opt = args.get(i);
        let remaining = args.len() - i - 1;
        if is(opt, "AUTH") && remaining >= 2 {
            credentials = Some((args.get(i + 1), args.get(i + 2)));
            i += 3;
        } else if is(opt, "SETNAME") && remaining >= 1 {
            let name = args.get(i + 1);
            if let Err(message) = check_client_name(name) {
                return reply.error(message);
            }
            new_name = Some(name);
            i += 2;
        } else {
            return reply.error_fmt(format_args!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(opt)
            ));
        }
    }
    if let Some(auth) = &ctx.state.auth {
        match credentials {
            Some((user, password)) => {
                if let Err(refusal) = crate::resp::auth_gate::authenticate(
                    auth,
                    &ctx.state.namespaces,
                    Some(user),
                    password,
                    session,
                ) {
                    return refusal.answer(ctx, reply);
                }
            }
            None if session.principal.is_none() => {
                return reply.error(
                    "NOAUTH HELLO must be called with the client already authenticated, \
                     otherwise the HELLO <proto> AUTH <user> <pass> option can be used to \
                     authenticate the client and select the RESP protocol version at the same \
                     time",
                );
            }
            None => {}
        }
    }
    if let Some(name) = new_name {
        session.name = (!name.is_empty()).then(|| name.to_vec());
    }
    reply.protocol = protocol;
    reply.map(7);
    reply.bulk(b"server");
    reply.bulk(b"redis");
    reply.bulk(b"version");
    reply.bulk(REDIS_COMPAT_VERSION.as_bytes());
    reply.bulk(b"proto");
    reply.integer(protocol.version());
    reply.bulk(b"id");
    reply.integer(session.id as i64);
    reply.bulk(b"mode");
    reply.bulk(if ctx.state.cluster.is_some() {
        b"cluster"
    } else {
        b"standalone"
    });
    reply.bulk(b"role");
    reply.bulk(b"master");
    reply.bulk(b"modules");
    reply.array(0);
}

/// With authentication on, `AUTH [user] key` authenticates with the operator key or an API key.
/// Without, `AUTH password` is refused the way Redis refuses it when no password is set and
/// `AUTH user pass` is accepted (the default user needs no password).
pub fn auth(args: &Args<'_>, session: &mut Session, ctx: &ServerContext, reply: &mut Reply) {
    if let Some(auth) = &ctx.state.auth {
        let (user, password) = match args.len() {
            2 => (None, args.get(1)),
            3 => (Some(args.get(1)), args.get(2)),
            _ => return syntax_error(reply),
        };
        return match crate::resp::auth_gate::authenticate(
            auth,
            &ctx.state.namespaces,
            user,
            password,
            session,
        ) {
            Ok(()) => reply.ok(),
            Err(refusal) => refusal.answer(ctx, reply),
        };
    }
    match args.len() {
        2 => reply.error(
            "ERR AUTH <password> called without any password configured for the default user. \
             Are you sure your configuration is correct?",
        ),
        3 => reply.ok(),
        _ => syntax_error(reply),
    }
}

pub fn select(args: &Args<'_>, session: &mut Session, ctx: &ServerContext, reply: &mut Reply) {
    match resolve_db(
        args.get(1),
        ctx,
        &session.view(),
        may_create_databases(session, ctx),
    ) {
        Ok(namespace) => {
            session.namespace = namespace;
            reply.ok();
        }
        Err(message) => reply.error(&message),
    }
}

/// Whether this session may create `db<n>` namespaces on first use: always without
/// authentication, only with the admin scope with it.
pub fn may_create_databases(session: &Session, ctx: &ServerContext) -> bool {
    ctx.state.auth.is_none()
        || session
            .principal
            .as_ref()
            .is_some_and(|p| p.may(crate::auth::Scope::Admin))
}

/// Numbered databases a client may SELECT, as Redis's default `databases 16`.
pub const DATABASES: i64 = 16;

/// The namespace a SELECT (or COPY … DB) argument names: `0` is `default`, `1`–`15` are `db1`
/// to `db15` (created with the default config on first use, so clients configured with
/// `redis://host/2` just work), anything else is a namespace name that must exist. The error
/// is the reply line to send.
///
/// With authentication on, only an admin may create one (as creating a namespace over REST is
/// an admin change): `may_create` says whether the caller may. Names are the caller's own
/// (`view`): a tenant's `db1` is its own, and counts against its quotas when made.
pub fn resolve_db(
    arg: &[u8],
    ctx: &ServerContext,
    view: &NsView,
    may_create: bool,
) -> Result<Arc<Namespace>, String> {
    if let Some(n) = super::parse_i64(arg) {
        if !(0..DATABASES).contains(&n) {
            return Err("ERR DB index is out of range".to_string());
        }
        if n == 0 {
            return view
                .get(&ctx.state.namespaces, DEFAULT_NAMESPACE)
                .map_err(|e| format!("ERR {e}"));
        }
        let shown = format!("db{n}");
        if let Ok(namespace) = view.get(&ctx.state.namespaces, &shown) {
            return Ok(namespace);
        }
        let name = view.internal(&shown).map_err(|e| format!("ERR {e}"))?;
        let name = name.as_ref();
        if !may_create {
            return Err(format!(
                "ERR namespace '{shown}' does not exist; creating it needs the admin scope \
                 (SELECT it once with an admin key, or create it through the admin API)"
            ));
        }
        let config = NamespaceConfig::default();
        let _admitted = match view.tenant() {
            Some(tenant) => {
                let guard = tenant.lock_changes();
                crate::tenants::check_namespace(tenant, &ctx.state.namespaces, name, &config)
                    .map_err(|e| format!("ERR {e}"))?;
                Some(guard)
            }
            None => None,
        };
        return match ctx.state.namespaces.create(name, config) {
            Ok(namespace) => {
                if let Some(p) = &ctx.state.persistence
                    && let Err(e) = p.save_catalog()
                {
                    tracing::warn!(namespace = %name, error = %e, "catalog not saved");
                }
                Ok(namespace)
            }
            // Another connection created it first.
            Err(NamespaceError::AlreadyExists(_)) => view
                .get(&ctx.state.namespaces, &shown)
                .map_err(|e| format!("ERR {e}")),
            Err(e) => Err(format!("ERR {}", view.localize(e))),
        };
    }
    std::str::from_utf8(arg)
        .ok()
        .and_then(|name| view.get(&ctx.state.namespaces, name).ok())
        .ok_or_else(|| {
            format!(
                "ERR namespace '{}' does not exist; create it with POST /v1/namespaces",
                String::from_utf8_lossy(arg)
            )
        })
}

/// `CLIENT ID | GETNAME | SETNAME name | SETINFO LIB-NAME|LIB-VER value | INFO | LIST … |
/// KILL … | TAGS [name value …] | NO-EVICT … | NO-TOUCH … | HELP`
pub fn client(args: &Args<'_>, session: &mut Session, ctx: &ServerContext, reply: &mut Reply) {
    let sub = args.get(1);
    let argc = args.len();
    if (is(sub, "LIST") || is(sub, "KILL")) && !super::acl::may_administer(session, ctx) {
        return reply.error_fmt(format_args!(
            "NOPERM User {} has no permissions to run the 'client|{}' command",
            super::acl::user(session),
            String::from_utf8_lossy(sub).to_ascii_lowercase()
        ));
    }
    if is(sub, "ID") && argc == 2 {
        reply.integer(session.id as i64);
    } else if is(sub, "GETNAME") && argc == 2 {
        match &session.name {
            Some(name) => reply.bulk(name),
            None => reply.null(),
        }
    } else if is(sub, "SETNAME") && argc == 3 {
        let name = args.get(2);
        match check_client_name(name) {
            Ok(()) => {
                session.name = (!name.is_empty()).then(|| name.to_vec());
                reply.ok();
            }
            Err(message) => reply.error(message),
        }
    } else if is(sub, "SETINFO") && argc == 4 {
        let (attr, value) = (args.get(2), args.get(3));
        if value
            .iter()
            .any(|&b| b == b' ' || b == b'\n' || !(b' '..=b'~').contains(&b))
        {
            return reply.error(
                "ERR LIB-NAME and LIB-VER cannot contain spaces, newlines or special characters.",
            );
        }
        if is(attr, "LIB-NAME") {
            session.lib_name = Some(value.to_vec());
        } else if is(attr, "LIB-VER") {
            session.lib_ver = Some(value.to_vec());
        } else {
            return reply.error_fmt(format_args!(
                "ERR Unrecognized option '{}'",
                String::from_utf8_lossy(attr)
            ));
        }
        reply.ok();
    } else if is(sub, "TAGS") && argc.is_multiple_of(2) {
        client_tags(args, session, reply);
    } else if is(sub, "REPLY") && argc == 3 {
        let mode = args.get(2);
        if is(mode, "ON") {
            session.reply_mode = super::super::session::ReplyMode::On;
            reply.ok();
        } else if is(mode, "OFF") {
            session.reply_mode = super::super::session::ReplyMode::Off;
        } else if is(mode, "SKIP") {
            session.reply_mode = super::super::session::ReplyMode::SkipNext;
        } else {
            super::syntax_error(reply);
        }
    } else if is(sub, "INFO") && argc == 2 {
        super::client_admin::info(session, reply);
    } else if is(sub, "LIST") {
        super::client_admin::list(args, session, ctx, reply);
    } else if is(sub, "KILL") && argc >= 3 {
        super::client_admin::kill(args, session, ctx, reply);
    } else if (is(sub, "NO-EVICT") || is(sub, "NO-TOUCH")) && argc == 3 {
        // Accepted for compatibility; they change nothing here.
        reply.ok();
    } else if is(sub, "HELP") && argc == 2 {
        let lines: &[&[u8]] = &[
            b"CLIENT <subcommand> [<arg> ...]. Subcommands are:",
            b"ID",
            b"    Return the ID of the current connection.",
            b"GETNAME",
            b"    Return the name of the current connection.",
            b"SETNAME <name>",
            b"    Assign the name <name> to the current connection.",
            b"SETINFO <LIB-NAME|LIB-VER> <value>",
            b"    Record the client library's name or version.",
            b"INFO",
            b"    Return information about the current connection.",
            b"LIST [TYPE (NORMAL|MASTER|REPLICA|PUBSUB)] [ID <id> ...]",
            b"    Return information about client connections (a tenant's: its own).",
            b"KILL <ip:port>",
            b"    Kill the connection made from <ip:port>.",
            b"KILL <option> <value> [<option> <value> [...]]",
            b"    Kill connections. Options: ADDR <ip:port>, LADDR <ip:port>, ID <client-id>,",
            b"    TYPE (NORMAL|MASTER|REPLICA|PUBSUB), USER <username>, SKIPME (YES|NO),",
            b"    MAXAGE <seconds> (connected at least that long).",
            b"TAGS [<name> <value> ...]",
            b"    Set the request context tags plugins see for this connection's commands",
            b"    (no pairs clears them).",
        ];
        reply.array(lines.len());
        for line in lines {
            reply.simple(&String::from_utf8_lossy(line));
        }
    } else if [
        "ID", "GETNAME", "SETNAME", "SETINFO", "INFO", "LIST", "KILL", "TAGS", "NO-EVICT",
        "NO-TOUCH", "HELP",
    ]
    .iter()
    .any(|known| is(sub, known))
    {
        reply.error_fmt(format_args!(
            "ERR wrong number of arguments for 'client|{}' command",
            String::from_utf8_lossy(sub).to_ascii_lowercase()
        ));
    } else {
        reply.error_fmt(format_args!(
            "ERR unknown subcommand '{}'. Try CLIENT HELP.",
            String::from_utf8_lossy(sub)
        ));
    }
}

/// `CLIENT TAGS [name value …]`: replace the connection's tags. Invalid input leaves the previous
/// tags in place and answers with the reason.
fn client_tags(args: &Args<'_>, session: &mut Session, reply: &mut Reply) {
    let mut pairs = Vec::with_capacity((args.len() - 2) / 2);
    let mut rest = args.from(2);
    while let (Some(name), Some(value)) = (rest.next(), rest.next()) {
        let Ok(name) = std::str::from_utf8(name) else {
            let error = TagError::BadName(String::from_utf8_lossy(name).into_owned());
            return reply.error_fmt(format_args!("ERR {error}"));
        };
        pairs.push((name, value));
    }
    match RequestTags::from_pairs(pairs) {
        Ok(tags) => {
            session.tags = tags;
            reply.ok();
        }
        Err(e) => reply.error_fmt(format_args!("ERR {e}")),
    }
}

fn check_client_name(name: &[u8]) -> Result<(), &'static str> {
    if name.iter().all(|b| (b'!'..=b'~').contains(b)) {
        Ok(())
    } else {
        Err("ERR Client names cannot contain spaces, newlines or special characters.")
    }
}

/// `RESET`: the connection as it was when it opened — no transaction or WATCH, no
/// subscriptions, tracking off, replies on, no name or tags, RESP2, the default namespace, and,
/// with authentication on, not authenticated (Redis's default user). Runs at once inside
/// `MULTI` (discarding it) and in subscribed mode; answers `+RESET`.
pub fn reset(session: &mut Session, ctx: &ServerContext, reply: &mut Reply) {
    session.transaction = None;
    super::transaction::unwatch_all(session);
    if ctx.state.auth.is_some() {
        // Also ends subscriptions and tracking.
        session.drop_principal();
    }
    session.subscriptions = None;
    session.tracking = None;
    session.caching_next = None;
    session.reply_mode = crate::resp::session::ReplyMode::On;
    session.name = None;
    session.tags = Default::default();
    if let Ok(home) = session
        .view()
        .get(&ctx.state.namespaces, larder_runtime::DEFAULT_NAMESPACE)
    {
        session.namespace = home;
    }
    reply.protocol = Protocol::Resp2;
    reply.simple("RESET");
}

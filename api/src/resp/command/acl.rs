//! `ACL`: Redis's user commands, over Larder's API keys.
//!
//! A Redis "user" here is an API key, named by its key name; a tenant's caller sees its tenant's
//! keys only. `WHOAMI`, `CAT`, `GENPASS` and `HELP` are open to everyone; `USERS`, `LIST`,
//! `GETUSER` and `DELUSER` need the admin scope (Redis flags them `admin`). `SETUSER` is refused
//! with the reason: a key's secret is generated (`POST /v1/api-keys`), never chosen. Rights are
//! the three scopes, shown as Redis categories (`+@read`, `+@read +@write`, `+@all`).

use ring::rand::SecureRandom;

use super::table::CommandKind;
use super::{Args, is};
use crate::auth::{ApiKeyInfo, Scope};
use crate::resp::auth_gate::needed_scope;
use crate::resp::context::ServerContext;
use crate::resp::reply::Reply;
use crate::resp::session::Session;

/// Who the connection is: the API key's name, the token's subject, `operator`, or Redis's
/// `default` when authentication is off or nobody authenticated yet.
pub fn user(session: &Session) -> &str {
    session
        .principal
        .as_ref()
        .map_or("default", |p| p.name.as_str())
}

/// The categories `ACL CAT` lists, and which commands each holds.
const CATEGORIES: [&str; 10] = [
    "read",
    "write",
    "admin",
    "fast",
    "keyspace",
    "string",
    "pubsub",
    "connection",
    "transactions",
    "server",
];

fn in_category(kind: CommandKind, category: &str) -> bool {
    let spec = kind.spec();
    match category {
        "read" => needed_scope(kind) == Scope::Read,
        "write" => needed_scope(kind) == Scope::Write,
        "admin" => needed_scope(kind) == Scope::Admin,
        "fast" => spec.flags.contains(&"fast"),
        "keyspace" => spec.group == "generic",
        "string" => spec.group == "string",
        "pubsub" => spec.group == "pubsub",
        "connection" => spec.group == "connection",
        "transactions" => spec.group == "transactions",
        "server" => spec.group == "server",
        _ => false,
    }
}

fn rules(scope: Scope) -> &'static str {
    match scope {
        Scope::Read => "-@all +@read",
        Scope::Write => "-@all +@read +@write",
        Scope::Admin => "+@all",
    }
}

/// The keys the caller may see as users (a tenant's: its own), sorted by name.
fn visible_keys(session: &Session, ctx: &ServerContext) -> Vec<ApiKeyInfo> {
    let Some(auth) = &ctx.state.auth else {
        return Vec::new();
    };
    let tenant = session.tenant().map(|t| t.name().to_string());
    let mut keys: Vec<_> = auth
        .keys()
        .list()
        .into_iter()
        .filter(|k| tenant.is_none() || k.tenant == tenant)
        .collect();
    keys.sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
    keys
}

pub(super) fn may_administer(session: &Session, ctx: &ServerContext) -> bool {
    ctx.state.auth.is_none()
        || session
            .principal
            .as_ref()
            .is_some_and(|p| p.may(Scope::Admin))
}

pub fn acl(args: &Args<'_>, session: &Session, ctx: &ServerContext, reply: &mut Reply) {
    let sub = args.get(1);
    let argc = args.len();
    let admin_only = ["USERS", "LIST", "GETUSER", "DELUSER", "SETUSER"]
        .iter()
        .any(|s| is(sub, s));
    if admin_only && !may_administer(session, ctx) {
        return reply.error_fmt(format_args!(
            "NOPERM User {} has no permissions to run the 'acl|{}' command",
            user(session),
            String::from_utf8_lossy(sub).to_ascii_lowercase()
        ));
    }
    if is(sub, "WHOAMI") && argc == 2 {
        reply.bulk(user(session).as_bytes());
    } else if is(sub, "USERS") && argc == 2 {
        let mut names: Vec<String> = visible_keys(session, ctx)
            .into_iter()
            .map(|k| k.name)
            .collect();
        names.push("default".into());
        names.sort();
        names.dedup();
        reply.array(names.len());
        for n in names {
            reply.bulk(n.as_bytes());
        }
    } else if is(sub, "LIST") && argc == 2 {
        let keys = visible_keys(session, ctx);
        let default = if ctx.state.auth.is_some() {
            "user default off resetchannels -@all"
        } else {
            "user default on nopass sanitize-payload ~* &* +@all"
        };
        reply.array(keys.len() + 1);
        reply.bulk(default.as_bytes());
        for k in keys {
            let line = format!(
                "user {} on sanitize-payload ~* &* {}",
                k.name,
                rules(k.scope)
            );
            reply.bulk(line.as_bytes());
        }
    } else if is(sub, "GETUSER") && argc == 3 {
        let name = args.get(2);
        let scope = if name == b"default" {
            ctx.state.auth.is_none().then_some(Scope::Admin)
        } else {
            visible_keys(session, ctx)
                .into_iter()
                .filter(|k| k.name.as_bytes() == name)
                .map(|k| k.scope)
                .max()
        };
        let Some(scope) = scope else {
            return reply.null();
        };
        reply.map(6);
        reply.bulk(b"flags");
        reply.array(2);
        reply.bulk(b"on");
        reply.bulk(b"sanitize-payload");
        // Only a hash of each key is kept, and that is not shown either.
        reply.bulk(b"passwords");
        reply.array(0);
        reply.bulk(b"commands");
        reply.bulk(rules(scope).as_bytes());
        reply.bulk(b"keys");
        reply.bulk(b"~*");
        reply.bulk(b"channels");
        reply.bulk(b"&*");
        reply.bulk(b"selectors");
        reply.array(0);
    } else if is(sub, "DELUSER") && argc >= 3 {
        let Some(auth) = &ctx.state.auth else {
            return reply.error("ERR The 'default' user cannot be removed");
        };
        let keys = visible_keys(session, ctx);
        let mut removed = 0;
        for name in args.from(2) {
            if name == b"default" {
                return reply.error("ERR The 'default' user cannot be removed");
            }
            let mut any = false;
            for k in keys.iter().filter(|k| k.name.as_bytes() == name) {
                any |= auth.revoke(&k.id);
            }
            removed += i64::from(any);
        }
        if removed > 0
            && let Some(p) = &ctx.state.persistence
            && let Err(e) = p.save_catalog()
        {
            return reply.error_fmt(format_args!(
                "ERR the keys were revoked but the catalog was not saved: {e}"
            ));
        }
        reply.integer(removed);
    } else if is(sub, "SETUSER") && argc >= 3 {
        reply.error(
            "ERR ACL SETUSER is not supported: users are API keys, made with POST /v1/api-keys \
             (their secret is generated, never chosen) and revoked with ACL DELUSER",
        );
    } else if is(sub, "CAT") && argc == 2 {
        reply.array(CATEGORIES.len());
        for c in CATEGORIES {
            reply.bulk(c.as_bytes());
        }
    } else if is(sub, "CAT") && argc == 3 {
        let category = String::from_utf8_lossy(args.get(2)).to_ascii_lowercase();
        if !CATEGORIES.contains(&category.as_str()) {
            return reply.error_fmt(format_args!("ERR Unknown category '{category}'"));
        }
        let names: Vec<&str> = CommandKind::ALL
            .iter()
            .filter(|k| in_category(**k, &category))
            .map(|k| k.spec().name)
            .collect();
        reply.array(names.len());
        for n in names {
            reply.bulk(n.as_bytes());
        }
    } else if is(sub, "GENPASS") && (argc == 2 || argc == 3) {
        let bits = if argc == 3 {
            match super::parse_i64(args.get(2)) {
                Some(b) if (1..=4096).contains(&b) => b as usize,
                _ => {
                    return reply.error(
                        "ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096",
                    );
                }
            }
        } else {
            256
        };
        let mut bytes = vec![0u8; bits.div_ceil(8)];
        if ring::rand::SystemRandom::new().fill(&mut bytes).is_err() {
            return reply.error("ERR the operating system's random source failed");
        }
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        reply.bulk(&hex.as_bytes()[..bits.div_ceil(4)]);
    } else if is(sub, "HELP") && argc == 2 {
        reply.help(&[
            "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "WHOAMI",
            "    Return the current connection username.",
            "USERS",
            "    List the users (API key names) you may see.",
            "LIST",
            "    Show each user's rules.",
            "GETUSER <username>",
            "    Get a user's details.",
            "DELUSER <username> [<username> ...]",
            "    Revoke the API keys of those names.",
            "CAT [<category>]",
            "    List the categories, or the commands in one.",
            "GENPASS [<bits>]",
            "    A random password (256 bits by default).",
            "HELP",
            "    Print this help.",
        ]);
    } else {
        reply.error_fmt(format_args!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try ACL HELP.",
            String::from_utf8_lossy(sub)
        ));
    }
}

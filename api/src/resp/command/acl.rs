//! `ACL`: Redis's user commands, over Larder's users (with passwords) and API keys.
//!
//! A Redis "user" here is a user with passwords (`crate::auth::users`) or an API key, named by
//! its key name; a tenant's caller sees its tenant's users and keys only, by their bare names
//! (the operator sees a tenant's user as `tenant/name`, the name it logs in with). `WHOAMI`,
//! `CAT`, `GENPASS` and `HELP` are open to everyone; `USERS`, `LIST`, `GETUSER`, `SETUSER`,
//! `DELUSER` and `LOG` need the admin scope (Redis flags them `admin`). Rights are the three scopes, shown
//! as Redis categories (`+@read`, `+@read +@write`, `+@all`).
//!
//! `SETUSER` takes the rules that map onto that model: `on`, `off`, `>password`, `resetpass`,
//! `reset`, `+@all`/`allcommands`, `+@admin`, `+@write`, `+@read`, `-@all`/`nocommands`,
//! `-@admin`, `-@write`, `-@read`, and the no-ops `~*`, `allkeys`, `&*`, `allchannels`,
//! `sanitize-payload`. Anything else — key patterns, single commands, `nopass`, `<password` —
//! is refused with the reason, and nothing changes. A new password is hashed (argon2id) by the
//! connection before the command runs, off the event loop (`auth_gate::work_before`); so
//! `SETUSER` with a password cannot be queued in MULTI. An API key is not a user one can
//! `SETUSER`: its secret is generated (`POST /v1/api-keys`), never chosen.

use ring::rand::SecureRandom;

use super::table::CommandKind;
use super::{Args, is};
use crate::auth::users::{UserEdit, UserInfo, check_name};
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

fn rules(scope: Option<Scope>) -> &'static str {
    match scope {
        None => "-@all",
        Some(Scope::Read) => "-@all +@read",
        Some(Scope::Write) => "-@all +@read +@write",
        Some(Scope::Admin) => "+@all",
    }
}

/// The users with passwords the caller may see, each with the name the caller knows it by.
fn visible_users(session: &Session, ctx: &ServerContext) -> Vec<(String, UserInfo)> {
    let Some(auth) = &ctx.state.auth else {
        return Vec::new();
    };
    match session.tenant() {
        Some(tenant) => auth
            .users()
            .list(Some(tenant.name()))
            .into_iter()
            .map(|u| (u.name.clone(), u))
            .collect(),
        None => auth
            .users()
            .list(None)
            .into_iter()
            .map(|u| {
                let shown = match &u.tenant {
                    Some(t) => format!("{t}/{}", u.name),
                    None => u.name.clone(),
                };
                (shown, u)
            })
            .collect(),
    }
}

/// The tenant and bare name a caller's `ACL SETUSER`/`DELUSER` name means: a tenant's caller
/// names its own users; the operator names `tenant/user` or an operator-level `user`.
fn target(
    name: &[u8],
    session: &Session,
    ctx: &ServerContext,
) -> Result<(Option<std::sync::Arc<crate::tenants::Tenant>>, String), String> {
    let name = std::str::from_utf8(name).map_err(|_| "ERR a user name is UTF-8".to_string())?;
    let auth = ctx.state.auth.as_ref().ok_or_else(|| {
        "ERR authentication is off on this node (no operator key): there are no users to set"
            .to_string()
    })?;
    let (tenant, bare) = match (session.tenant(), name.split_once('/')) {
        (Some(own), None) => (auth.tenants().get(own.name()), name),
        (None, Some((tenant, bare))) => match auth.tenants().get(tenant) {
            Some(t) => (Some(t), bare),
            None => return Err(format!("ERR no tenant '{tenant}'")),
        },
        (None, None) => (None, name),
        (Some(_), Some(_)) => {
            return Err(format!(
                "ERR {}",
                crate::auth::users::UserError::InvalidName
            ));
        }
    };
    check_name(bare).map_err(|e| format!("ERR {e}"))?;
    Ok((tenant, bare.to_string()))
}

/// `ACL SETUSER`'s rules as a change, or the error naming the first rule refused.
/// `existing` is the user's scope now (`None` for a new user).
fn parse_rules(
    args: &Args<'_>,
    hashed: &[(Vec<u8>, String)],
    existing: Option<Scope>,
) -> Result<UserEdit, String> {
    let mut edit = UserEdit::default();
    // Categories apply in order to the scope as it stands, which `reset` clears.
    let mut scope: Option<Option<Scope>> = None;
    let refuse = |rule: &[u8], why: &str| {
        format!(
            "ERR Error in ACL SETUSER modifier '{}': {why}",
            String::from_utf8_lossy(rule)
        )
    };
    for rule in args.from(3) {
        if let Some(password) = rule.strip_prefix(b">") {
            let hash = hashed
                .iter()
                .find(|(p, _)| p == password)
                .map(|(_, h)| h.clone())
                .ok_or_else(|| {
                    refuse(
                        rule,
                        "a new password is hashed before the command runs, so ACL SETUSER with \
                         passwords cannot be queued in MULTI and takes at most 8 of them",
                    )
                })?;
            edit.add_hashes.push(hash);
            continue;
        }
        let lower = String::from_utf8_lossy(rule).to_ascii_lowercase();
        let current = scope.unwrap_or(existing);
        match lower.as_str() {
            "on" => edit.enabled = Some(true),
            "off" => edit.enabled = Some(false),
            "resetpass" => {
                edit.reset_passwords = true;
                edit.add_hashes.clear();
            }
            "reset" => {
                edit = UserEdit {
                    reset: true,
                    ..UserEdit::default()
                };
                scope = Some(None);
            }
            "+@all" | "allcommands" | "+@admin" => scope = Some(Some(Scope::Admin)),
            "+@write" => scope = Some(current.max(Some(Scope::Write))),
            "+@read" => scope = Some(current.max(Some(Scope::Read))),
            "-@all" | "nocommands" | "-@read" => scope = Some(None),
            "-@admin" => scope = Some(current.min(Some(Scope::Write))),
            "-@write" => scope = Some(current.min(Some(Scope::Read))),
            "~*" | "allkeys" | "%rw~*" | "&*" | "allchannels" | "sanitize-payload" => {}
            "nopass" => return Err(refuse(rule, "every user here has a password")),
            _ if rule.starts_with(b"<") || rule.starts_with(b"#") || rule.starts_with(b"!") => {
                return Err(refuse(
                    rule,
                    "passwords are kept as argon2id hashes: use resetpass and add the ones to keep",
                ));
            }
            _ => {
                return Err(refuse(
                    rule,
                    "rights here are the read, write and admin scopes (+@read, +@write, +@all) \
                     over all of the tenant's keys and channels",
                ));
            }
        }
    }
    edit.scope = scope;
    Ok(edit)
}

/// `ACL LOG [count | RESET]`: the caller's tenant's entries (the operator's: all), newest first.
fn log(args: &Args<'_>, session: &Session, ctx: &ServerContext, reply: &mut Reply) {
    let Some(auth) = &ctx.state.auth else {
        // Nothing is ever refused on a node without authentication.
        return if args.len() == 3 && is(args.get(2), "RESET") {
            reply.ok()
        } else {
            reply.array(0)
        };
    };
    let tenant = session.tenant().map(|t| t.name());
    let count = if args.len() == 3 {
        if is(args.get(2), "RESET") {
            auth.acl_log().reset(tenant);
            return reply.ok();
        }
        match super::parse_i64(args.get(2)) {
            Some(n) if n >= 0 => n as usize,
            _ => return reply.error("ERR value is out of range, must be positive"),
        }
    } else {
        10
    };
    let now = larder_runtime::persist::unix_now_ms();
    let entries = auth.acl_log().latest(tenant, count);
    reply.array(entries.len());
    for e in entries {
        reply.map(10);
        reply.bulk(b"count");
        reply.integer(e.count as i64);
        reply.bulk(b"reason");
        reply.bulk(e.reason.as_str().as_bytes());
        reply.bulk(b"context");
        reply.bulk(e.context.as_bytes());
        reply.bulk(b"object");
        reply.bulk(e.object.as_bytes());
        reply.bulk(b"username");
        reply.bulk(e.username.as_bytes());
        reply.bulk(b"age-seconds");
        reply.double(now.saturating_sub(e.created_unix_ms) as f64 / 1000.0);
        reply.bulk(b"client-info");
        reply.bulk(e.client_info.as_bytes());
        reply.bulk(b"entry-id");
        reply.integer(e.id as i64);
        reply.bulk(b"timestamp-created");
        reply.integer(e.created_unix_ms as i64);
        reply.bulk(b"timestamp-last-updated");
        reply.integer(e.updated_unix_ms as i64);
    }
}

fn setuser(args: &Args<'_>, session: &mut Session, ctx: &ServerContext, reply: &mut Reply) {
    let hashed = session.hashed_passwords.take();
    let (tenant, name) = match target(args.get(2), session, ctx) {
        Ok(t) => t,
        Err(e) => return reply.error(&e),
    };
    let hashed = match hashed {
        Some(Ok(h)) => h,
        Some(Err(e)) => return reply.error_fmt(format_args!("ERR {e}")),
        None => Vec::new(),
    };
    let existing = ctx.state.auth.as_ref().and_then(|auth| {
        auth.users()
            .get(tenant.as_ref().map(|t| t.name()), &name)
            .and_then(|u| u.scope)
    });
    let edit = match parse_rules(args, &hashed, existing) {
        Ok(e) => e,
        Err(e) => return reply.error(&e),
    };
    let Some(auth) = &ctx.state.auth else {
        return reply.error("ERR authentication is off on this node");
    };
    match auth.users().set(tenant, &name, edit) {
        Ok(narrowed) => {
            if narrowed {
                auth.rights_changed();
            }
        }
        Err(e) => return reply.error_fmt(format_args!("ERR {e}")),
    }
    if let Some(p) = &ctx.state.persistence
        && let Err(e) = p.save_catalog()
    {
        return reply.error_fmt(format_args!(
            "ERR the user was set but the catalog was not saved: {e}"
        ));
    }
    reply.ok();
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

pub fn acl(args: &Args<'_>, session: &mut Session, ctx: &ServerContext, reply: &mut Reply) {
    let sub = args.get(1);
    let argc = args.len();
    let admin_only = ["USERS", "LIST", "GETUSER", "DELUSER", "SETUSER", "LOG"]
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
            .chain(
                visible_users(session, ctx)
                    .into_iter()
                    .map(|(shown, _)| shown),
            )
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
        let users = visible_users(session, ctx);
        let default = if ctx.state.auth.is_some() {
            "user default off resetchannels -@all"
        } else {
            "user default on nopass sanitize-payload ~* &* +@all"
        };
        reply.array(keys.len() + users.len() + 1);
        reply.bulk(default.as_bytes());
        for (shown, u) in users {
            let line = format!(
                "user {shown} {} sanitize-payload ~* &* {}",
                if u.enabled { "on" } else { "off" },
                rules(u.scope)
            );
            reply.bulk(line.as_bytes());
        }
        for k in keys {
            let line = format!(
                "user {} on sanitize-payload ~* &* {}",
                k.name,
                rules(Some(k.scope))
            );
            reply.bulk(line.as_bytes());
        }
    } else if is(sub, "GETUSER") && argc == 3 {
        let name = args.get(2);
        let user = visible_users(session, ctx)
            .into_iter()
            .find(|(shown, _)| shown.as_bytes() == name)
            .map(|(_, u)| (u.enabled, u.scope));
        let found = if name == b"default" {
            ctx.state
                .auth
                .is_none()
                .then_some((true, Some(Scope::Admin)))
        } else if user.is_some() {
            user
        } else {
            visible_keys(session, ctx)
                .into_iter()
                .filter(|k| k.name.as_bytes() == name)
                .map(|k| k.scope)
                .max()
                .map(|scope| (true, Some(scope)))
        };
        let Some((enabled, scope)) = found else {
            return reply.null();
        };
        reply.map(6);
        reply.bulk(b"flags");
        reply.array(2);
        reply.bulk(if enabled { b"on" } else { b"off" });
        reply.bulk(b"sanitize-payload");
        // Only a hash of each key or password is kept, and that is not shown either.
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
            if let Ok((tenant, bare)) = target(name, session, ctx)
                && auth
                    .users()
                    .delete(tenant.as_ref().map(|t| t.name()), &bare)
            {
                auth.rights_changed();
                any = true;
            }
            removed += i64::from(any);
        }
        if removed > 0
            && let Some(p) = &ctx.state.persistence
            && let Err(e) = p.save_catalog()
        {
            return reply.error_fmt(format_args!(
                "ERR the users were deleted but the catalog was not saved: {e}"
            ));
        }
        reply.integer(removed);
    } else if is(sub, "SETUSER") && argc >= 3 {
        setuser(args, session, ctx, reply);
    } else if is(sub, "LOG") && argc <= 3 {
        log(args, session, ctx, reply);
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
            "SETUSER <username> [<rule> ...]",
            "    Make or change a user with passwords: on, off, >password, resetpass, reset, +@read, +@write, +@all, -@all.",
            "DELUSER <username> [<username> ...]",
            "    Delete the users, and revoke the API keys, of those names.",
            "LOG [<count> | RESET]",
            "    Show the latest refusals (failed log-ins, commands outside a user's rights), or forget them.",
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

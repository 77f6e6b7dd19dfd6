//! The data port's check, when authentication is on: who is asking, and may they run this?
//!
//! A connection starts unauthenticated. Until `AUTH` (or `HELLO … AUTH`) succeeds, every command
//! but AUTH, HELLO and QUIT gets `-NOAUTH Authentication required.` — unknown commands included,
//! so an unauthenticated client learns nothing, not even which commands exist. Once
//! authenticated, each command needs a scope: `admin` for commands Redis flags `admin` (CONFIG,
//! SAVE, BGSAVE, DEBUG) and for FLUSHALL (it reaches every namespace); `write` for commands
//! flagged `write` and for PUBLISH; `read` for the rest. A command outside the caller's scope
//! gets Redis's `-NOPERM User <name> has no permissions to run the '<command>' command`.
//!
//! A key with a rate limit spends one operation per command (queued ones included); over it,
//! the command answers `-ERR rate limit exceeded for <name>: retry in <ms> ms` and does nothing.
//!
//! Failed AUTHs spend the client address's budget (`crate::auth::failed_auths`); an address
//! that spent it gets `-ERR too many failed authentication attempts …` without its credential
//! being checked (a JWT is not even verified), until the budget refills.
//!
//! A session that authenticated with a JWT (`[oidc]`) loses its rights at the token's expiry:
//! the next command answers `-NOAUTH`. Checking a token may need the provider's keys, so the
//! connection checks it before the AUTH or HELLO runs (`token_to_verify`), off the command path.
//!
//! Every refusal inside MULTI make EXEC fail with `-EXECABORT`, as Redis's do. A revoked API key
//! loses its rights before the connection's next command: the session re-checks its key
//! whenever the key table's epoch moved, which costs one atomic load per command otherwise.

use super::command::{Args, CommandKind, transaction};
use super::context::ServerContext;
use super::reply::Reply;
use super::session::Session;
use crate::auth::acl_log::{Reason, Refusal};
use crate::auth::{Auth, Principal, Scope};
use crate::tenants::NsView;
use larder_runtime::{DEFAULT_NAMESPACE, Namespaces};

/// Redis's answer when no more clients are accepted: here, the tenant's `max_connections`.
const MAX_CLIENTS: &str = "ERR max number of clients reached";

/// Whether a command of `kind` (looked up once by the caller; `None`: unknown) is refused; if
/// so, the refusal has been written to `reply`.
#[inline]
pub fn refuses(
    kind: Option<CommandKind>,
    session: &mut Session,
    ctx: &ServerContext,
    reply: &mut Reply,
) -> bool {
    match &ctx.state.auth {
        None => false,
        Some(auth) => check(auth, kind, session, ctx, reply),
    }
}

fn check(
    auth: &Auth,
    kind: Option<CommandKind>,
    session: &mut Session,
    ctx: &ServerContext,
    reply: &mut Reply,
) -> bool {
    let refusals = &ctx.state.metrics.auth_refusals.resp;
    let epoch = auth.epoch();
    if session.auth_epoch != epoch {
        session.auth_epoch = epoch;
        if session
            .principal
            .as_ref()
            .is_some_and(|p| !auth.still_valid(p))
        {
            session.drop_principal();
        }
    }
    if session.principal.as_ref().is_some_and(|p| p.expired()) {
        // A token's expiry ends the session's rights.
        session.drop_principal();
    }
    let Some(principal) = &session.principal else {
        if matches!(
            kind,
            Some(CommandKind::Auth | CommandKind::Hello | CommandKind::Quit | CommandKind::Reset)
        ) {
            return false;
        }
        transaction::refuse(session);
        refusals.unauthenticated.inc();
        reply.error("NOAUTH Authentication required.");
        return true;
    };
    let Some(kind) = kind else {
        // Unknown to everyone: the dispatcher answers it.
        return false;
    };
    if !principal.may(needed_scope(kind)) || (principal.tenant.is_some() && operator_only(kind)) {
        refusals.no_permission.inc();
        auth.acl_log().record(Refusal {
            reason: Reason::Command,
            context: if session.transaction.is_some() {
                "multi"
            } else {
                "toplevel"
            },
            object: kind.spec().name,
            username: &principal.name,
            client_info: client_info(session, &principal.name),
            tenant: principal.tenant.as_ref().map(|t| t.name()),
        });
        reply.error_fmt(format_args!(
            "NOPERM User {} has no permissions to run the '{}' command",
            principal.name,
            kind.spec().name
        ));
        transaction::refuse(session);
        return true;
    }
    if let Err(wait) = principal.admit() {
        refusals.rate_limited.inc();
        reply.error_fmt(format_args!(
            "ERR rate limit exceeded for {}: retry in {} ms",
            principal.name,
            wait.as_millis().max(1)
        ));
        transaction::refuse(session);
        return true;
    }
    false
}

/// Commands that act on the whole node, which a tenant's caller may not run whatever its
/// scope: snapshots of every tenant's data, DEBUG and SHUTDOWN.
fn operator_only(kind: CommandKind) -> bool {
    matches!(
        kind,
        CommandKind::Save | CommandKind::BgSave | CommandKind::Debug | CommandKind::Shutdown
    )
}

/// The scope a command needs (from a table built once, so the command path does not scan
/// flag strings).
pub fn needed_scope(kind: CommandKind) -> Scope {
    static SCOPES: std::sync::LazyLock<Box<[Scope]>> = std::sync::LazyLock::new(|| {
        CommandKind::ALL
            .iter()
            .map(|&k| scope_from_flags(k))
            .collect()
    });
    SCOPES[kind.index()]
}

fn scope_from_flags(kind: CommandKind) -> Scope {
    let flags = kind.spec().flags;
    if flags.contains(&"admin") || kind == CommandKind::FlushAll {
        Scope::Admin
    } else if flags.contains(&"write") || kind == CommandKind::Publish {
        Scope::Write
    } else {
        Scope::Read
    }
}

/// Why `AUTH` (or `HELLO … AUTH`) was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthRefusal {
    /// No such credential, or the username does not match it.
    WrongPass,
    /// The tenant has all the connections its quota allows.
    MaxClients,
    /// The client's address failed too often lately; the credential was not checked.
    Throttled(std::time::Duration),
}

impl AuthRefusal {
    /// Write the refusal as Redis words it (throttling has no Redis word: it says what to do)
    /// and count it.
    pub fn answer(self, ctx: &ServerContext, reply: &mut Reply) {
        let refusals = &ctx.state.metrics.auth_refusals.resp;
        match self {
            AuthRefusal::WrongPass => {
                refusals.bad_credentials.inc();
                reply.error("WRONGPASS invalid username-password pair or user is disabled.")
            }
            AuthRefusal::MaxClients => reply.error(MAX_CLIENTS),
            AuthRefusal::Throttled(wait) => {
                refusals.rate_limited.inc();
                reply.error_fmt(format_args!(
                    "ERR too many failed authentication attempts from this address; retry in {} ms",
                    wait.as_millis().max(1)
                ))
            }
        }
    }
}

/// A credential the connection checked off the command path, and who it belongs to (`None`:
/// refused). `login` is the user name of a password login; `None` for a token.
#[derive(Debug)]
pub struct Verified {
    pub login: Option<Vec<u8>>,
    pub secret: Vec<u8>,
    pub principal: Option<Principal>,
}

/// Passwords and their argon2id hashes, made for the `ACL SETUSER` about to run.
pub type Hashed = Result<Vec<(Vec<u8>, String)>, crate::auth::users::UserError>;

/// Work a command needs done off the event loop before it runs (see [`work_before`]).
#[derive(Debug)]
pub enum Work {
    /// Check a JWT (this may fetch the provider's keys).
    Token(Vec<u8>),
    /// Check a user's password (argon2id).
    Password { login: Vec<u8>, password: Vec<u8> },
    /// Hash `ACL SETUSER`'s new passwords.
    Hash(Vec<Vec<u8>>),
}

impl Work {
    /// Do the work and leave its result in the session for the command's second run.
    pub async fn run(self, auth: &Auth, session: &mut Session) {
        match self {
            Work::Token(token) => {
                let principal = auth.verify_token(&token).await;
                session.verified = Some(Verified {
                    login: None,
                    secret: token,
                    principal,
                });
            }
            Work::Password { login, password } => {
                let principal = auth.users().verify(&login, &password).await;
                session.verified = Some(Verified {
                    login: Some(login),
                    secret: password,
                    principal,
                });
            }
            Work::Hash(passwords) => {
                let hashed = auth
                    .users()
                    .hash_passwords(passwords.clone())
                    .await
                    .map(|hashes| passwords.into_iter().zip(hashes).collect());
                session.hashed_passwords = Some(hashed);
            }
        }
    }
}

/// The principal `password` names at once (the operator key or an API key), when `username`
/// (if given) is `default` or its name.
fn key_principal(auth: &Auth, username: Option<&[u8]>, password: &[u8]) -> Option<Principal> {
    let principal = auth.authenticate(password)?;
    match username {
        Some(user) if user != b"default" && user != principal.name.as_bytes() => None,
        _ => Some(principal),
    }
}

/// `AUTH [username] password` and HELLO's AUTH option with authentication on: the password is
/// the operator key, an API key or a JWT — the username, when given, then being `default` or
/// the key's name — or the password of user `username` (`tenant/user` for a tenant's user;
/// see [`crate::auth::users`]). On failure the session keeps whatever rights it had (as in Redis), and the failure
/// spends the client address's budget ([`crate::auth::failed_auths`]); an address that spent
/// it is refused without its credential being checked.
///
/// A tenant's caller takes one of the tenant's connection slots (`max_connections`) and lands
/// in the tenant's `default` namespace; moving to another tenant (or to the operator) selects
/// that one's `default`.
pub fn authenticate(
    auth: &Auth,
    namespaces: &Namespaces,
    username: Option<&[u8]>,
    password: &[u8],
    session: &mut Session,
) -> Result<(), AuthRefusal> {
    let failures = auth.failed_auths();
    if let Some(wait) = failures.blocked(session.peer.ip()) {
        session.verified = None;
        return Err(AuthRefusal::Throttled(wait));
    }
    let checked = check_credential(auth, namespaces, username, password, session);
    if checked == Err(AuthRefusal::WrongPass) {
        failures.failed(session.peer.ip());
        log_failed_auth(auth, username, session);
    }
    checked
}

/// What `ACL LOG` shows of the client: its id and addresses, and who it tried to be.
fn client_info(session: &Session, user: &str) -> String {
    format!("id={} addr={} user={user}", session.id, session.peer)
}

/// Record a failed log-in in `ACL LOG` ([`Auth::log_failed_login`]).
fn log_failed_auth(auth: &Auth, username: Option<&[u8]>, session: &Session) {
    let login = String::from_utf8_lossy(username.unwrap_or(b"default"));
    auth.log_failed_login(&login, "AUTH", client_info(session, &login));
}

fn check_credential(
    auth: &Auth,
    namespaces: &Namespaces,
    username: Option<&[u8]>,
    password: &[u8],
    session: &mut Session,
) -> Result<(), AuthRefusal> {
    const WRONGPASS: AuthRefusal = AuthRefusal::WrongPass;
    const MAX_CLIENTS: AuthRefusal = AuthRefusal::MaxClients;
    // Read before the lookup: a revocation between the two then moves the epoch past this
    // value, and the next command re-checks the key.
    let epoch = auth.epoch();
    let verified = session.verified.take();
    let principal: Principal = if auth.is_token(password) {
        // Checked by the connection before this command ran (it may have fetched keys).
        match verified {
            Some(v) if v.login.is_none() && v.secret == password => v.principal,
            _ => None,
        }
        .filter(|p| username.is_none_or(|u| u == b"default" || u == p.name.as_bytes()))
    } else if let Some(principal) = key_principal(auth, username, password) {
        Some(principal)
    } else {
        // A user's password, checked (argon2id) by the connection before this command ran.
        match verified {
            Some(v) if v.login.as_deref() == username && v.secret == password => v.principal,
            _ => None,
        }
    }
    .ok_or(WRONGPASS)?;
    let same_tenant = match (&principal.tenant, session.tenant()) {
        (Some(new), Some(old)) => new.name() == old.name(),
        (None, None) => true,
        _ => false,
    };
    let (slot, namespace) = if same_tenant {
        (session.tenant_slot.take(), None)
    } else {
        let slot = match &principal.tenant {
            Some(tenant) => Some(tenant.connect().ok_or(MAX_CLIENTS)?),
            None => None,
        };
        let home = NsView::of(Some(&principal))
            .get(namespaces, DEFAULT_NAMESPACE)
            .map_err(|_| WRONGPASS)?;
        (slot, Some(home))
    };
    tracing::debug!(peer = %session.peer, who = %principal.name, "RESP client authenticated");
    if let Some(home) = namespace {
        session.namespace = home;
    }
    session.tenant_slot = slot;
    session.principal = Some(principal);
    session.auth_epoch = epoch;
    Ok(())
}

/// What must be done off the event loop before the command in `args` runs: a JWT or a user's
/// password to check for AUTH or `HELLO … AUTH`, new passwords to hash for `ACL SETUSER`.
/// `None` to run it at once (also when the work's result is already in the session).
pub fn work_before(
    kind: Option<CommandKind>,
    args: &Args<'_>,
    session: &Session,
    ctx: &ServerContext,
) -> Option<Work> {
    let auth = ctx.state.auth.as_ref()?;
    let (username, password) = match kind? {
        CommandKind::Auth if args.len() == 3 => (Some(args.get(1)), args.get(2)),
        CommandKind::Auth => (None, args.get(args.len() - 1)),
        CommandKind::Hello => {
            let at = (2..args.len()).find(|&i| args.get(i).eq_ignore_ascii_case(b"AUTH"))?;
            if at + 2 >= args.len() {
                return None;
            }
            (Some(args.get(at + 1)), args.get(at + 2))
        }
        CommandKind::Acl => return passwords_to_hash(args, session),
        _ => return None,
    };
    if auth.failed_auths().blocked(session.peer.ip()).is_some() {
        // A throttled address's credential is refused unchecked, by `authenticate`.
        return None;
    }
    if auth.is_token(password) {
        return match &session.verified {
            Some(v) if v.login.is_none() && v.secret == password => None,
            _ => Some(Work::Token(password.to_vec())),
        };
    }
    let user = username.filter(|u| *u != b"default")?;
    if key_principal(auth, username, password).is_some() {
        return None;
    }
    match &session.verified {
        Some(v) if v.login.as_deref() == Some(user) && v.secret == password => None,
        _ => Some(Work::Password {
            login: user.to_vec(),
            password: password.to_vec(),
        }),
    }
}

/// `ACL SETUSER name … >password …` by a caller who may run it, outside MULTI: the passwords to
/// hash, unless the session holds their hashes already.
fn passwords_to_hash(args: &Args<'_>, session: &Session) -> Option<Work> {
    if !args.get(1).eq_ignore_ascii_case(b"SETUSER")
        || session.transaction.is_some()
        || !session
            .principal
            .as_ref()
            .is_some_and(|p| p.may(Scope::Admin))
    {
        return None;
    }
    let passwords: Vec<Vec<u8>> = args
        .from(3)
        .filter_map(|rule| rule.strip_prefix(b">"))
        .map(<[u8]>::to_vec)
        .collect();
    if passwords.is_empty() || passwords.len() > crate::auth::users::MAX_PASSWORDS {
        return None;
    }
    match &session.hashed_passwords {
        Some(Err(_)) => None,
        Some(Ok(done)) if passwords.iter().all(|p| done.iter().any(|(q, _)| q == p)) => None,
        _ => Some(Work::Hash(passwords)),
    }
}

/// Whether a session that authenticated has lost its rights (its key revoked, its token
/// expired): checked before the connection writes out-of-band messages, which no command gates.
pub fn lost_rights(session: &Session, ctx: &ServerContext) -> bool {
    match (&ctx.state.auth, &session.principal) {
        (Some(auth), Some(principal)) => {
            principal.expired()
                || (session.auth_epoch != auth.epoch() && !auth.still_valid(principal))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_follow_the_command_flags() {
        assert_eq!(needed_scope(CommandKind::Get), Scope::Read);
        assert_eq!(needed_scope(CommandKind::Scan), Scope::Read);
        assert_eq!(needed_scope(CommandKind::Set), Scope::Write);
        assert_eq!(needed_scope(CommandKind::Del), Scope::Write);
        assert_eq!(needed_scope(CommandKind::FlushDb), Scope::Write);
        assert_eq!(needed_scope(CommandKind::Publish), Scope::Write);
        assert_eq!(needed_scope(CommandKind::FlushAll), Scope::Admin);
        assert_eq!(needed_scope(CommandKind::Config), Scope::Admin);
        assert_eq!(needed_scope(CommandKind::Save), Scope::Admin);
    }
}

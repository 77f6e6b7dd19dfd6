//! Who may use a node: the operator key, API keys with scopes, and the check both ports make.
//!
//! | file | holds |
//! |---|---|
//! | `mod.rs` | [`Auth`] (is authentication on, and who a secret belongs to), [`Principal`], [`Scope`] |
//! | `api_keys` | the API key table: making, listing, revoking keys; their text and hash |
//! | `jwt` | OAuth 2.0 / OIDC bearer tokens checked against the provider's JWKS |
//! | `users` | users with passwords (argon2id), Redis ACL style: `AUTH <tenant>/<user> <password>` |
//! | `acl_log` | `ACL LOG`: the latest refusals on the Redis port, each visible to its tenant |
//! | `sessions` | the dashboard's login sessions (HttpOnly cookie, CSRF token), rate-limited logins |
//! | `failed_auths` | failed authentications per client address; an address that spent its budget is refused unchecked |
//!
//! ## The rules
//!
//! - **Off unless configured.** With no operator key, [`AppState::auth`](crate::state::AppState)
//!   is `None` and both ports serve openly, as a zero-config node always did; `Config::load`
//!   then refuses to bind anything but loopback (Redis's protected mode, made a start-up error so
//!   an operator sees it at once rather than as refused clients).
//! - **The operator key** (from `LARDER_OPERATOR_KEY`, `--operator-key-file` or the config file)
//!   holds every scope. It is how the first API keys get made.
//! - **API keys** carry scopes: `read` (GET, MGET, SCAN, …), `write` (SET, DEL, key and batch
//!   writes; implies read) and `admin` (namespaces, plugins, experiments, alert rules, API keys,
//!   CONFIG, FLUSHALL, SAVE; implies write). A key is `lk_<id>_<secret>`: the id finds the record
//!   in one lookup, the secret is 256 random bits. Only the SHA-256 of the key is kept (in the
//!   catalog), and it is compared in constant time. A fast hash is right here, unlike for
//!   passwords: a 256-bit random secret cannot be guessed, so slowing the hash buys nothing.
//! - **Rate limits**: a key may carry `per_second` and `burst` (a GCRA limiter, `governor`),
//!   shared by every connection and request that uses the key. Over it, RESP answers
//!   `-ERR rate limit exceeded …` and REST `429` with `Retry-After`; the refused operation does
//!   nothing. The operator key is never limited.
//! - **Revoking** a key ends its rights on open connections too: RESP sessions re-check their
//!   key whenever the table's [`Auth::epoch`] moved, before their next command.

pub mod acl_log;
mod api_keys;
pub mod client_addr;
pub mod failed_auths;
pub mod jwt;
pub mod sessions;
pub mod users;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use subtle::ConstantTimeEq;

use crate::tenants::{Tenant, Tenants};

pub use api_keys::{ApiKeyError, ApiKeyInfo, ApiKeys, NewApiKey, RateLimit};

/// The limiter of one API key, shared by everything that uses the key.
pub type Limiter = governor::DefaultDirectRateLimiter;

/// Count one operation against `limiter`: `Err(wait)` when it is over its rate, `wait` being
/// how long until the next operation would be admitted.
#[inline]
pub fn admit(limiter: &Limiter) -> Result<(), std::time::Duration> {
    use governor::clock::{Clock, DefaultClock};
    limiter
        .check()
        .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
}

/// What a caller may do. Each scope implies the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Read keys and the configuration.
    Read,
    /// Also write and delete keys.
    Write,
    /// Also change the configuration: namespaces, plugins, experiments, alerts, API keys.
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Read, Scope::Write, Scope::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// The highest of the scopes a catalog entry lists (`None` for none); `Err` names the
    /// first entry that is no scope.
    pub fn highest(names: &[String]) -> Result<Option<Scope>, &str> {
        names
            .iter()
            .map(|s| Scope::parse(s).ok_or(s.as_str()))
            .try_fold(None, |best, scope| Ok(best.max(Some(scope?))))
    }
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The operator, or the API key's name (what `ACL WHOAMI` and logs show).
    pub name: String,
    /// The API key's id; `None` for the operator.
    pub key_id: Option<String>,
    /// The user's id, for a user who logged in with a password (`users`).
    pub user_id: Option<u64>,
    /// The highest scope held (the lower ones come with it).
    pub scope: Scope,
    /// The key's rate limiter, when it has a limit.
    pub limiter: Option<Arc<Limiter>>,
    /// For a JWT: when its rights end (unix seconds, the leeway included).
    pub expires_at_unix: Option<u64>,
    /// The tenant the caller belongs to; `None`: operator-level (sees every tenant).
    pub tenant: Option<Arc<Tenant>>,
}

impl Principal {
    pub fn may(&self, needed: Scope) -> bool {
        self.scope >= needed
    }

    /// Whether the caller speaks for the operator (not for one tenant): the operator key, or
    /// an admin key or token of no tenant. Tenants and node-wide settings are theirs alone.
    pub fn is_operator(&self) -> bool {
        self.tenant.is_none() && self.scope == Scope::Admin
    }

    /// Whether a token's rights have run out.
    #[inline]
    pub fn expired(&self) -> bool {
        self.expires_at_unix
            .is_some_and(|exp| larder_runtime::persist::unix_now_ms() / 1000 >= exp)
    }

    /// Count one operation against the key's rate limit: `Err(wait)` when it is over the
    /// limit, `wait` being how long until the next operation would be admitted.
    #[inline]
    pub fn admit(&self) -> Result<(), std::time::Duration> {
        if let Some(limiter) = &self.limiter {
            admit(limiter)?;
        }
        match &self.tenant {
            None => Ok(()),
            Some(tenant) => tenant.admit(),
        }
    }
}

/// Authentication for one node: the operator key and the API keys.
pub struct Auth {
    /// SHA-256 of the operator key.
    operator: [u8; 32],
    keys: ApiKeys,
    users: users::Users,
    /// Moves on every revocation, so sessions know when to re-check their key.
    epoch: AtomicU64,
    /// OIDC bearer tokens, when configured.
    jwt: Option<jwt::JwtVerifier>,
    tenants: Tenants,
    sessions: sessions::Sessions,
    failed: failed_auths::FailedAuths,
    /// Proxies whose `X-Forwarded-For` names the client (HTTP only).
    trusted_proxies: client_addr::TrustedProxies,
    acl_log: acl_log::AclLog,
    /// SHA-256 of the metrics token: it reads `/metrics` and nothing else.
    metrics_token: Option<[u8; 32]>,
}

/// How failed attempts are throttled and whose word on a client's address is taken.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct AuthLimits {
    pub failure_budget: failed_auths::FailureBudget,
    pub trusted_proxies: client_addr::TrustedProxies,
}

/// The name the operator key authenticates as.
pub const OPERATOR: &str = "operator";

impl Auth {
    /// Authentication with `operator_key` as the operator's secret and no API keys yet.
    pub fn new(operator_key: &str) -> Arc<Self> {
        Self::with_oidc(operator_key, None)
    }

    /// Also accept JWTs of the provider `oidc` describes.
    pub fn with_oidc(operator_key: &str, oidc: Option<jwt::OidcConfig>) -> Arc<Self> {
        Self::with_settings(operator_key, oidc, None, AuthLimits::default())
    }

    /// Authentication with the operator key, `[oidc]` tokens when configured, and a metrics
    /// token when given (`metrics_token_file`): a secret for a Prometheus scraper that reads
    /// `/metrics` and nothing else, so the scraper's configuration holds no key that reads data.
    pub fn with_settings(
        operator_key: &str,
        oidc: Option<jwt::OidcConfig>,
        metrics_token: Option<&str>,
        limits: AuthLimits,
    ) -> Arc<Self> {
        Arc::new(Self {
            operator: api_keys::sha256(operator_key.as_bytes()),
            keys: ApiKeys::default(),
            users: users::Users::default(),
            epoch: AtomicU64::new(0),
            jwt: oidc.map(jwt::JwtVerifier::new),
            tenants: Tenants::default(),
            sessions: sessions::Sessions::default(),
            failed: failed_auths::FailedAuths::new(limits.failure_budget),
            trusted_proxies: limits.trusted_proxies,
            acl_log: acl_log::AclLog::default(),
            metrics_token: metrics_token.map(|t| api_keys::sha256(t.as_bytes())),
        })
    }

    /// Whether `secret` is the metrics token (compared in constant time).
    pub fn is_metrics_token(&self, secret: &[u8]) -> bool {
        self.metrics_token
            .is_some_and(|hash| bool::from(api_keys::sha256(secret).ct_eq(&hash)))
    }

    pub fn jwt(&self) -> Option<&jwt::JwtVerifier> {
        self.jwt.as_ref()
    }

    /// Whether `secret` is a token to check with [`Auth::verify_token`] (which may fetch keys)
    /// rather than a key [`Auth::authenticate`] can check at once.
    pub fn is_token(&self, secret: &[u8]) -> bool {
        self.jwt.is_some() && jwt::looks_like_jwt(secret)
    }

    /// Check a JWT; `None` when it is refused (the reason is logged at debug).
    pub async fn verify_token(&self, token: &[u8]) -> Option<Principal> {
        let verifier = self.jwt.as_ref()?;
        let text = std::str::from_utf8(token).ok()?;
        match verifier.verify(text).await {
            Ok((mut principal, tenant)) => {
                if let Some(name) = tenant {
                    // A token for a tenant this node does not hold is no credential here.
                    let Some(tenant) = self.tenants.get(&name) else {
                        tracing::debug!(tenant = %name, "bearer token for an unknown tenant refused");
                        return None;
                    };
                    principal.tenant = Some(tenant);
                }
                Some(principal)
            }
            Err(e) => {
                tracing::debug!(error = %e, "bearer token refused");
                None
            }
        }
    }

    /// Who `secret` belongs to: a JWT when it looks like one and OIDC is configured, else the
    /// operator key or an API key.
    pub async fn authenticate_any(&self, secret: &[u8]) -> Option<Principal> {
        if self.is_token(secret) {
            self.verify_token(secret).await
        } else {
            self.authenticate(secret)
        }
    }

    /// Who `secret` belongs to, or `None`. Both comparisons are constant-time, so timing
    /// reveals nothing about how close a guess was.
    pub fn authenticate(&self, secret: &[u8]) -> Option<Principal> {
        let digest = api_keys::sha256(secret);
        if bool::from(digest.ct_eq(&self.operator)) {
            return Some(Principal {
                name: OPERATOR.to_string(),
                key_id: None,
                user_id: None,
                scope: Scope::Admin,
                limiter: None,
                expires_at_unix: None,
                tenant: None,
            });
        }
        self.keys.authenticate(secret, &digest)
    }

    /// Whether `principal` still holds its rights (its key was not revoked, its tenant not
    /// deleted meanwhile).
    pub fn still_valid(&self, principal: &Principal) -> bool {
        if principal.tenant.as_ref().is_some_and(|t| t.is_deleted()) {
            return false;
        }
        if let Some(id) = principal.user_id
            && !self.users.still_grants(
                principal.tenant.as_ref().map(|t| t.name()),
                &principal.name,
                id,
                principal.scope,
            )
        {
            return false;
        }
        match &principal.key_id {
            None => true,
            Some(id) => self.keys.contains(id),
        }
    }

    /// The users with passwords.
    pub fn users(&self) -> &users::Users {
        &self.users
    }

    /// Open sessions must re-check their rights before their next command: a user was
    /// deleted, turned off or narrowed.
    pub fn rights_changed(&self) {
        self.epoch.fetch_add(1, Ordering::Release);
    }

    pub fn tenants(&self) -> &Tenants {
        &self.tenants
    }

    /// Failed authentications per client address (RESP `AUTH`, dashboard logins).
    pub fn failed_auths(&self) -> &failed_auths::FailedAuths {
        &self.failed
    }

    /// The client behind an HTTP request from `peer` (see [`client_addr`]).
    pub fn http_client(
        &self,
        peer: std::net::IpAddr,
        headers: &axum::http::HeaderMap,
    ) -> std::net::IpAddr {
        self.trusted_proxies.client(peer, headers)
    }

    /// The latest refusals on the Redis port and failed dashboard logins (`ACL LOG`).
    pub fn acl_log(&self) -> &acl_log::AclLog {
        &self.acl_log
    }

    /// Record a failed log-in as `login` (`default`, a user name or `tenant/user`) in `ACL LOG`:
    /// visible to the tenant a `tenant/user` name points at (when it exists), otherwise to the
    /// operator alone. `object` is what was tried (`AUTH`, `POST /v1/session`).
    pub fn log_failed_login(&self, login: &str, object: &str, client_info: String) {
        let (tenant, _) = users::split_login(login);
        let tenant = tenant.and_then(|t| self.tenants.get(t));
        self.acl_log.record(acl_log::Refusal {
            reason: acl_log::Reason::Auth,
            context: "toplevel",
            object,
            username: login,
            client_info,
            tenant: tenant.as_ref().map(|t| t.name()),
        });
    }

    /// The dashboard's login sessions.
    pub fn sessions(&self) -> &sessions::Sessions {
        &self.sessions
    }

    /// Delete tenant `name`: revoke its keys and mark it deleted, so its open sessions lose
    /// their rights before their next command. The caller drops its namespaces.
    pub fn remove_tenant(&self, name: &str) -> Option<Arc<Tenant>> {
        let tenant = self.tenants.remove(name)?;
        self.keys.revoke_tenant(name);
        self.users.remove_tenant(name);
        self.epoch.fetch_add(1, Ordering::Release);
        Some(tenant)
    }

    pub fn keys(&self) -> &ApiKeys {
        &self.keys
    }

    /// Revoke the key `id`; `false` when there is no such key.
    pub fn revoke(&self, id: &str) -> bool {
        let removed = self.keys.revoke(id);
        if removed {
            self.epoch.fetch_add(1, Ordering::Release);
        }
        removed
    }

    /// Moves whenever a key is revoked.
    #[inline]
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("api_keys", &self.keys.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_operator_key_holds_every_scope_and_nothing_else_matches_it() {
        let auth = Auth::new("s3cret-operator-key");
        let op = auth.authenticate(b"s3cret-operator-key").expect("operator");
        assert_eq!(op.name, OPERATOR);
        assert!(op.may(Scope::Admin));
        assert!(auth.authenticate(b"s3cret-operator-kez").is_none());
        assert!(auth.authenticate(b"").is_none());
    }

    #[test]
    fn a_limited_key_admits_its_burst_then_refuses() {
        let auth = Auth::new("op");
        let limit = RateLimit {
            per_second: 1,
            burst: 5,
        };
        let made = auth
            .keys()
            .create("slow", Scope::Read, Some(limit))
            .expect("created");
        let who = auth.authenticate(made.key.as_bytes()).expect("valid key");
        let admitted = (0..20).filter(|_| who.admit().is_ok()).count();
        assert_eq!(
            admitted, 5,
            "the burst, then nothing within the same second"
        );
        let wait = who.admit().unwrap_err();
        assert!(wait <= std::time::Duration::from_secs(1));
        // Every connection of the key shares the one limiter.
        let again = auth.authenticate(made.key.as_bytes()).expect("valid key");
        assert!(again.admit().is_err());
        let op = auth.authenticate(b"op").expect("operator");
        assert!(
            (0..1000).all(|_| op.admit().is_ok()),
            "the operator is never limited"
        );
    }

    #[test]
    fn a_key_authenticates_until_it_is_revoked() {
        let auth = Auth::new("op");
        let made = auth
            .keys()
            .create("reader", Scope::Read, None)
            .expect("created");
        let who = auth.authenticate(made.key.as_bytes()).expect("valid key");
        assert_eq!(who.name, "reader");
        assert!(who.may(Scope::Read) && !who.may(Scope::Write));
        // A key with one character changed is refused.
        let mut wrong = made.key.clone().into_bytes();
        let last = wrong.len() - 1;
        wrong[last] = if wrong[last] == b'A' { b'B' } else { b'A' };
        assert!(auth.authenticate(&wrong).is_none());
        let before = auth.epoch();
        assert!(auth.revoke(&made.info.id));
        assert!(auth.epoch() > before);
        assert!(!auth.still_valid(&who));
        assert!(auth.authenticate(made.key.as_bytes()).is_none());
        assert!(!auth.revoke(&made.info.id), "a second revoke finds nothing");
    }
}

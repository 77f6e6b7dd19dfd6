//! Users with passwords (Redis ACL style), kept only as argon2id hashes.
//!
//! A user belongs to a tenant or, with no tenant, to the operator. It logs in as
//! `AUTH <tenant>/<name> <password>` (an operator-level user as `AUTH <name> <password>`) and
//! holds one of the three scopes, or none (`-@all`: it may authenticate for nothing). A disabled
//! user (`off`) cannot authenticate, and turning a user off, narrowing its scope or deleting it
//! ends the rights of the sessions it opened before their next command (Redis keeps such
//! sessions; a cache that serves tenants' data cuts them).
//!
//! Unlike an API key's 256-bit secret, a password may be guessable, so it is hashed with
//! argon2id (19 MiB, 2 passes: OWASP's recommendation), which takes tens of milliseconds on
//! purpose. Hashing and checking therefore never run on the event loop: callers use the async
//! [`Users::verify`] and [`Users::hash_passwords`], which run the work on the blocking pool, at
//! most [`PARALLEL_HASHES`] at once so a flood of logins cannot take the node's memory or
//! cores. An unknown user name costs a check against a throwaway hash, so the answer's timing
//! does not tell which names exist.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2};
use larder_runtime::persist::CatalogUser;
use parking_lot::RwLock;
use ring::rand::SecureRandom;
use thiserror::Error;

use super::{Principal, Scope};
use crate::tenants::{Tenant, Tenants};

/// Users one node holds at most.
pub const MAX_USERS: usize = 10_000;
/// Passwords one user may have at once (Redis allows several, so a password can be rotated
/// without a moment where no client can log in).
pub const MAX_PASSWORDS: usize = 8;
/// Longest password, in bytes.
pub const MAX_PASSWORD_LEN: usize = 4096;
/// Longest password over REST, in characters (JSON strings count characters): always within
/// [`MAX_PASSWORD_LEN`] bytes, so the limit the OpenAPI document states is the one enforced.
pub const MAX_PASSWORD_CHARS: usize = MAX_PASSWORD_LEN / 4;
/// Password hashes or checks running at once, node-wide.
pub const PARALLEL_HASHES: usize = 2;

/// A user as listed: everything but its password hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    pub name: String,
    /// `None`: an operator-level user.
    pub tenant: Option<String>,
    /// `None`: no commands at all.
    pub scope: Option<Scope>,
    pub enabled: bool,
    pub passwords: usize,
    pub created_unix_ms: u64,
}

/// A change to a user (what `ACL SETUSER`'s rules say), applied in this order: `reset`,
/// `reset_passwords`, then the rest.
#[derive(Debug, Default, Clone)]
pub struct UserEdit {
    /// Back to a new user's state: off, no passwords, no commands.
    pub reset: bool,
    pub reset_passwords: bool,
    pub enabled: Option<bool>,
    /// `Some(None)`: no commands.
    pub scope: Option<Option<Scope>>,
    /// Hashes made by [`Users::hash_passwords`], to add.
    pub add_hashes: Vec<String>,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum UserError {
    #[error("a user name is 1 to 64 characters: letters, digits, '.', '_', '-' and '@'")]
    InvalidName,
    #[error("a password is 1 to {MAX_PASSWORD_LEN} bytes")]
    InvalidPassword,
    #[error("a user has at most {MAX_PASSWORDS} passwords; 'resetpass' first")]
    TooManyPasswords,
    #[error("this node already holds {MAX_USERS} users; delete some first")]
    TooMany,
    /// The tenant's `max_users` quota (REST `429`, RESP `-ERR quota exceeded`).
    #[error(transparent)]
    Quota(#[from] crate::tenants::QuotaError),
    #[error("the operating system's random source failed")]
    Random,
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("catalog user {name}: {reason}")]
    BadRecord { name: String, reason: String },
}

struct Record {
    /// Changes whenever the user is made again, so a session of a deleted user that was
    /// re-created under the same name does not come back to life.
    id: u64,
    info: UserInfo,
    hashes: Vec<String>,
    tenant: Option<Arc<Tenant>>,
}

type Key = (Option<String>, String);

/// The users of one node.
pub struct Users {
    by_name: RwLock<HashMap<Key, Record>>,
    next_id: AtomicU64,
    work: tokio::sync::Semaphore,
    /// Checked when the user does not exist, so that case costs what a wrong password does.
    decoy: std::sync::OnceLock<String>,
}

impl Default for Users {
    fn default() -> Self {
        Self {
            by_name: RwLock::default(),
            next_id: AtomicU64::new(1),
            work: tokio::sync::Semaphore::new(PARALLEL_HASHES),
            decoy: std::sync::OnceLock::new(),
        }
    }
}

fn hasher() -> Argon2<'static> {
    // Argon2id, version 0x13, m = 19 MiB, t = 2, p = 1.
    Argon2::default()
}

fn hash_one(password: &[u8]) -> Result<String, UserError> {
    let mut salt = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut salt)
        .map_err(|_| UserError::Random)?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| UserError::Hash(e.to_string()))?;
    hasher()
        .hash_password(password, &salt)
        .map(|h| h.to_string())
        .map_err(|e| UserError::Hash(e.to_string()))
}

fn matches(password: &[u8], hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| hasher().verify_password(password, &parsed).is_ok())
}

/// Whether `hash` is an argon2id hash in PHC form whose cost a check can afford.
fn acceptable_hash(hash: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    if parsed.algorithm != Algorithm::Argon2id.ident() {
        return false;
    }
    argon2::Params::try_from(&parsed)
        .is_ok_and(|p| p.m_cost() <= 256 * 1024 && p.t_cost() <= 16 && p.p_cost() <= 4)
}

/// Split a login name into its tenant and user name: `acme/alice` is tenant `acme`'s `alice`,
/// `alice` the operator-level user.
pub fn split_login(login: &str) -> (Option<&str>, &str) {
    match login.split_once('/') {
        Some((tenant, name)) => (Some(tenant), name),
        None => (None, login),
    }
}

pub fn check_name(name: &str) -> Result<(), UserError> {
    if super::api_keys::valid_name(name) {
        Ok(())
    } else {
        Err(UserError::InvalidName)
    }
}

impl Users {
    /// Hash each password (argon2id, a fresh salt each), off the event loop.
    pub async fn hash_passwords(&self, passwords: Vec<Vec<u8>>) -> Result<Vec<String>, UserError> {
        if passwords
            .iter()
            .any(|p| p.is_empty() || p.len() > MAX_PASSWORD_LEN)
        {
            return Err(UserError::InvalidPassword);
        }
        let _permit = self
            .work
            .acquire()
            .await
            .map_err(|e| UserError::Hash(e.to_string()))?;
        tokio::task::spawn_blocking(move || passwords.iter().map(|p| hash_one(p)).collect())
            .await
            .map_err(|e| UserError::Hash(e.to_string()))?
    }

    /// Who `login` (see [`split_login`]) with `password` is: `None` for no such enabled user
    /// or a wrong password. Runs the check off the event loop.
    pub async fn verify(&self, login: &[u8], password: &[u8]) -> Option<Principal> {
        let found = std::str::from_utf8(login).ok().and_then(|login| {
            let (tenant, name) = split_login(login);
            let table = self.by_name.read();
            let record = table.get(&(tenant.map(str::to_string), name.to_string()))?;
            Some((
                record.id,
                record.info.clone(),
                record.hashes.clone(),
                record.tenant.clone(),
            ))
        });
        let hashes = match &found {
            Some((_, _, hashes, _)) if !hashes.is_empty() => hashes.clone(),
            _ => vec![self.decoy_hash()?],
        };
        let password = password.to_vec();
        let _permit = self.work.acquire().await.ok()?;
        let right = tokio::task::spawn_blocking(move || {
            // Every hash is checked, so which of them matched does not show in the timing.
            hashes
                .iter()
                .fold(false, |any, h| matches(&password, h) | any)
        })
        .await
        .ok()?;
        let (id, info, _, tenant) = found?;
        if !right || !info.enabled || tenant.as_ref().is_some_and(|t| t.is_deleted()) {
            return None;
        }
        Some(Principal {
            name: info.name,
            key_id: None,
            user_id: Some(id),
            scope: info.scope?,
            limiter: None,
            expires_at_unix: None,
            tenant,
        })
    }

    fn decoy_hash(&self) -> Option<String> {
        if let Some(h) = self.decoy.get() {
            return Some(h.clone());
        }
        let made = hash_one(b"no such user").ok()?;
        Some(self.decoy.get_or_init(|| made).clone())
    }

    /// Make the user `name` of `tenant` if it does not exist (off, no passwords, no commands, as
    /// Redis makes one), then apply `edit`. Returns whether the change narrowed or ended the
    /// user's rights, so open sessions must be re-checked.
    pub fn set(
        &self,
        tenant: Option<Arc<Tenant>>,
        name: &str,
        edit: UserEdit,
    ) -> Result<bool, UserError> {
        check_name(name)?;
        let key = (
            tenant.as_ref().map(|t| t.name().to_string()),
            name.to_string(),
        );
        let mut table = self.by_name.write();
        if !table.contains_key(&key) {
            if table.len() >= MAX_USERS {
                return Err(UserError::TooMany);
            }
            // Checked under the table's lock, so two makes at once cannot both pass.
            if let Some(t) = &tenant {
                let held = table.keys().filter(|(of, _)| of == &key.0).count() as u64;
                let limit = u64::from(t.quotas().max_users);
                if held >= limit {
                    return Err(crate::tenants::QuotaError::Exceeded {
                        what: "users",
                        quota: "max_users",
                        would_be: held + 1,
                        limit,
                    }
                    .into());
                }
            }
        }
        let before = table.get(&key).map(|r| (r.info.enabled, r.info.scope));
        let mut next = match table.get(&key) {
            Some(r) => (r.info.clone(), r.hashes.clone()),
            None => (
                UserInfo {
                    name: name.to_string(),
                    tenant: key.0.clone(),
                    scope: None,
                    enabled: false,
                    passwords: 0,
                    created_unix_ms: larder_runtime::persist::unix_now_ms(),
                },
                Vec::new(),
            ),
        };
        let (info, hashes) = &mut next;
        if edit.reset {
            info.enabled = false;
            info.scope = None;
            hashes.clear();
        }
        if edit.reset_passwords {
            hashes.clear();
        }
        if let Some(enabled) = edit.enabled {
            info.enabled = enabled;
        }
        if let Some(scope) = edit.scope {
            info.scope = scope;
        }
        hashes.extend(edit.add_hashes);
        if hashes.len() > MAX_PASSWORDS {
            return Err(UserError::TooManyPasswords);
        }
        info.passwords = hashes.len();
        let narrowed = before
            .is_some_and(|(was_on, was_scope)| (was_on && !info.enabled) || info.scope < was_scope);
        let (info, hashes) = next;
        let id = match table.get(&key) {
            Some(r) => r.id,
            None => self.next_id.fetch_add(1, Ordering::Relaxed),
        };
        table.insert(
            key,
            Record {
                id,
                info,
                hashes,
                tenant,
            },
        );
        Ok(narrowed)
    }

    /// Delete the user `name` of `tenant`; `false` when there is none.
    pub fn delete(&self, tenant: Option<&str>, name: &str) -> bool {
        self.by_name
            .write()
            .remove(&(tenant.map(str::to_string), name.to_string()))
            .is_some()
    }

    pub fn get(&self, tenant: Option<&str>, name: &str) -> Option<UserInfo> {
        self.by_name
            .read()
            .get(&(tenant.map(str::to_string), name.to_string()))
            .map(|r| r.info.clone())
    }

    /// The users of `tenant` (`None`: every user, for the operator), by tenant and name.
    pub fn list(&self, tenant: Option<&str>) -> Vec<UserInfo> {
        let mut all: Vec<_> = self
            .by_name
            .read()
            .values()
            .filter(|r| tenant.is_none() || r.info.tenant.as_deref() == tenant)
            .map(|r| r.info.clone())
            .collect();
        all.sort_by(|a, b| (&a.tenant, &a.name).cmp(&(&b.tenant, &b.name)));
        all
    }

    /// Whether the session of user `name` of `tenant`, made as `id` with `scope`, still holds
    /// it: the user exists (and was not deleted and made again), is on, and its scope was not
    /// narrowed.
    pub fn still_grants(&self, tenant: Option<&str>, name: &str, id: u64, scope: Scope) -> bool {
        self.by_name
            .read()
            .get(&(tenant.map(str::to_string), name.to_string()))
            .is_some_and(|r| r.id == id && r.info.enabled && r.info.scope >= Some(scope))
    }

    /// Delete every user of `tenant`.
    pub(super) fn remove_tenant(&self, tenant: &str) {
        self.by_name
            .write()
            .retain(|(t, _), _| t.as_deref() != Some(tenant));
    }

    /// The table as the catalog records it.
    pub fn capture(&self) -> Vec<CatalogUser> {
        let mut out: Vec<_> = self
            .by_name
            .read()
            .values()
            .map(|r| CatalogUser {
                name: r.info.name.clone(),
                tenant: r.info.tenant.clone(),
                scopes: r
                    .info
                    .scope
                    .map(|s| s.as_str().to_string())
                    .into_iter()
                    .collect(),
                enabled: r.info.enabled,
                password_hashes: r.hashes.clone(),
                created_unix_ms: r.info.created_unix_ms,
            })
            .collect();
        out.sort_by(|a, b| (&a.tenant, &a.name).cmp(&(&b.tenant, &b.name)));
        out
    }

    /// Put back the users a catalog recorded. A malformed entry is refused whole, as an API
    /// key's is.
    pub fn restore(&self, entries: &[CatalogUser], tenants: &Tenants) -> Result<(), UserError> {
        let mut table = self.by_name.write();
        for entry in entries {
            let bad = |reason: &str| UserError::BadRecord {
                name: entry.name.clone(),
                reason: reason.to_string(),
            };
            check_name(&entry.name).map_err(|e| bad(&e.to_string()))?;
            let scope = Scope::highest(&entry.scopes).map_err(|_| bad("unknown scope"))?;
            if entry.password_hashes.len() > MAX_PASSWORDS {
                return Err(bad("too many passwords"));
            }
            if !entry.password_hashes.iter().all(|h| acceptable_hash(h)) {
                return Err(bad(
                    "a password hash is not argon2id in PHC form within the cost limits",
                ));
            }
            let tenant = entry
                .tenant
                .as_deref()
                .map(|name| {
                    tenants
                        .get(name)
                        .ok_or_else(|| bad("its tenant does not exist"))
                })
                .transpose()?;
            table.insert(
                (entry.tenant.clone(), entry.name.clone()),
                Record {
                    id: self.next_id.fetch_add(1, Ordering::Relaxed),
                    info: UserInfo {
                        name: entry.name.clone(),
                        tenant: entry.tenant.clone(),
                        scope,
                        enabled: entry.enabled,
                        passwords: entry.password_hashes.len(),
                        created_unix_ms: entry.created_unix_ms,
                    },
                    hashes: entry.password_hashes.clone(),
                    tenant,
                },
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn a_user_logs_in_with_any_of_its_passwords_and_only_while_on() {
        let users = Users::default();
        runtime().block_on(async {
            let hashes = users
                .hash_passwords(vec![b"first".to_vec(), b"second".to_vec()])
                .await
                .unwrap();
            assert!(hashes.iter().all(|h| h.starts_with("$argon2id$")));
            assert!(!hashes[0].contains("first"));
            let edit = UserEdit {
                enabled: Some(true),
                scope: Some(Some(Scope::Write)),
                add_hashes: hashes,
                ..UserEdit::default()
            };
            assert!(!users.set(None, "alice", edit).unwrap());
            for pw in [&b"first"[..], b"second"] {
                let who = users.verify(b"alice", pw).await.expect("logs in");
                assert_eq!(who.name, "alice");
                assert_eq!(who.scope, Scope::Write);
            }
            assert!(users.verify(b"alice", b"third").await.is_none());
            assert!(users.verify(b"bob", b"first").await.is_none());
            let who = users.verify(b"alice", b"first").await.unwrap();
            let off = UserEdit {
                enabled: Some(false),
                ..UserEdit::default()
            };
            assert!(
                users.set(None, "alice", off).unwrap(),
                "turning off narrows"
            );
            assert!(!users.still_grants(None, "alice", who.user_id.unwrap(), who.scope));
            assert!(users.verify(b"alice", b"first").await.is_none());
        });
    }

    #[test]
    fn users_survive_a_trip_through_the_catalog_and_bad_hashes_are_refused() {
        let users = Users::default();
        let tenants = Tenants::default();
        runtime().block_on(async {
            let hashes = users.hash_passwords(vec![b"pw".to_vec()]).await.unwrap();
            let edit = UserEdit {
                enabled: Some(true),
                scope: Some(Some(Scope::Read)),
                add_hashes: hashes,
                ..UserEdit::default()
            };
            users.set(None, "reader", edit).unwrap();
            let saved = users.capture();
            let restored = Users::default();
            restored.restore(&saved, &tenants).unwrap();
            assert_eq!(restored.list(None), users.list(None));
            assert!(restored.verify(b"reader", b"pw").await.is_some());
            let mut forged = saved.clone();
            forged[0].password_hashes =
                vec!["$argon2id$v=19$m=4000000,t=1,p=1$c2FsdHNhbHQ$aGFzaA".into()];
            assert!(matches!(
                Users::default().restore(&forged, &tenants),
                Err(UserError::BadRecord { .. })
            ));
        });
    }

    #[test]
    fn login_names_split_at_the_first_slash() {
        assert_eq!(split_login("acme/alice"), (Some("acme"), "alice"));
        assert_eq!(split_login("alice"), (None, "alice"));
    }
}

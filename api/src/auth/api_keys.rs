//! The API key table: `lk_<id>_<secret>` keys, kept only as their SHA-256.
//!
//! The id (12 hex digits) is public — it names the key in lists, logs and `DELETE
//! /v1/api-keys/{id}` — and finds the record in one lookup; the secret is 32 random bytes from
//! the operating system, base64url. The whole key text is what is hashed and compared, in
//! constant time.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;

use base64::Engine;
use larder_runtime::persist::{CatalogApiKey, CatalogRateLimit};
use parking_lot::RwLock;
use ring::rand::SecureRandom;
use subtle::ConstantTimeEq;
use thiserror::Error;

use super::{Limiter, Principal, Scope};
use crate::tenants::{Tenant, Tenants};

/// Every key starts with this, so a leaked one is recognisable (and greppable) as a Larder key.
pub const KEY_PREFIX: &str = "lk_";
const ID_HEX_LEN: usize = 12;
/// Keys one node holds at most: the table lives in memory and in the catalog.
pub const MAX_KEYS: usize = 10_000;
/// Longest key name.
pub const MAX_NAME_LEN: usize = 64;

/// The most operations per second (and burst) a limit may name.
pub const MAX_RATE: u32 = 100_000_000;

/// Operations per second a key may use, and how many at once above that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub per_second: u32,
    pub burst: u32,
}

impl RateLimit {
    fn limiter(self) -> Result<Arc<Limiter>, ApiKeyError> {
        let (Some(rate), Some(burst)) = (
            NonZeroU32::new(self.per_second),
            NonZeroU32::new(self.burst),
        ) else {
            return Err(ApiKeyError::InvalidRateLimit);
        };
        if rate.get() > MAX_RATE || burst.get() > MAX_RATE {
            return Err(ApiKeyError::InvalidRateLimit);
        }
        Ok(Arc::new(Limiter::direct(
            governor::Quota::per_second(rate).allow_burst(burst),
        )))
    }
}

/// An API key as listed: everything but the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyInfo {
    pub id: String,
    pub name: String,
    pub scope: Scope,
    pub created_unix_ms: u64,
    pub rate_limit: Option<RateLimit>,
    /// The tenant the key belongs to; `None`: operator-level.
    pub tenant: Option<String>,
}

/// A key just made: its record, and the key text, shown this once.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub info: ApiKeyInfo,
    pub key: String,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ApiKeyError {
    #[error("a key name is 1 to {MAX_NAME_LEN} characters: letters, digits, '.', '_', '-' and '@'")]
    InvalidName,
    #[error("this node already holds {MAX_KEYS} API keys; revoke some first")]
    TooMany,
    #[error("a rate limit's per_second and burst are each 1 to {MAX_RATE}")]
    InvalidRateLimit,
    #[error("the operating system's random source failed")]
    Random,
    #[error("catalog entry {id}: {reason}")]
    BadRecord { id: String, reason: String },
}

struct Record {
    info: ApiKeyInfo,
    sha256: [u8; 32],
    limiter: Option<Arc<Limiter>>,
    tenant: Option<Arc<Tenant>>,
}

/// The keys of one node. Reads (every authentication) take a read lock; making and revoking
/// keys is rare.
#[derive(Default)]
pub struct ApiKeys {
    by_id: RwLock<HashMap<String, Record>>,
}

impl ApiKeys {
    /// Make an operator-level key called `name` with `scope` and, optionally, a rate limit.
    pub fn create(
        &self,
        name: &str,
        scope: Scope,
        rate_limit: Option<RateLimit>,
    ) -> Result<NewApiKey, ApiKeyError> {
        self.create_for(name, scope, rate_limit, None)
    }

    /// Make a key of `tenant` (`None`: operator-level).
    pub fn create_for(
        &self,
        name: &str,
        scope: Scope,
        rate_limit: Option<RateLimit>,
        tenant: Option<Arc<Tenant>>,
    ) -> Result<NewApiKey, ApiKeyError> {
        check_name(name)?;
        let limiter = rate_limit.map(RateLimit::limiter).transpose()?;
        let rng = ring::rand::SystemRandom::new();
        let mut id_bytes = [0u8; ID_HEX_LEN / 2];
        let mut secret = [0u8; 32];
        rng.fill(&mut id_bytes).map_err(|_| ApiKeyError::Random)?;
        rng.fill(&mut secret).map_err(|_| ApiKeyError::Random)?;
        let id: String = id_bytes.iter().map(|b| format!("{b:02x}")).collect();
        let key = format!(
            "{KEY_PREFIX}{id}_{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret)
        );
        let info = ApiKeyInfo {
            id: id.clone(),
            name: name.to_string(),
            scope,
            created_unix_ms: larder_runtime::persist::unix_now_ms(),
            rate_limit,
            tenant: tenant.as_ref().map(|t| t.name().to_string()),
        };
        let mut table = self.by_id.write();
        if table.len() >= MAX_KEYS {
            return Err(ApiKeyError::TooMany);
        }
        table.insert(
            id,
            Record {
                info: info.clone(),
                sha256: sha256(key.as_bytes()),
                limiter,
                tenant,
            },
        );
        Ok(NewApiKey { info, key })
    }

    /// The key whose text is `secret` (its hash is `digest`), as a principal.
    pub(super) fn authenticate(&self, secret: &[u8], digest: &[u8; 32]) -> Option<Principal> {
        let id = key_id(secret)?;
        let table = self.by_id.read();
        let record = table.get(id)?;
        bool::from(record.sha256.ct_eq(digest)).then(|| Principal {
            name: record.info.name.clone(),
            key_id: Some(record.info.id.clone()),
            user_id: None,
            scope: record.info.scope,
            limiter: record.limiter.clone(),
            expires_at_unix: None,
            tenant: record.tenant.clone(),
        })
    }

    pub fn contains(&self, id: &str) -> bool {
        self.by_id.read().contains_key(id)
    }

    pub fn get(&self, id: &str) -> Option<ApiKeyInfo> {
        self.by_id.read().get(id).map(|r| r.info.clone())
    }

    /// Every key, oldest first.
    pub fn list(&self) -> Vec<ApiKeyInfo> {
        let mut all: Vec<_> = self.by_id.read().values().map(|r| r.info.clone()).collect();
        all.sort_by(|a, b| (a.created_unix_ms, &a.id).cmp(&(b.created_unix_ms, &b.id)));
        all
    }

    pub fn len(&self) -> usize {
        self.by_id.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(super) fn revoke(&self, id: &str) -> bool {
        self.by_id.write().remove(id).is_some()
    }

    /// Revoke every key of `tenant`.
    pub(super) fn revoke_tenant(&self, tenant: &str) {
        self.by_id
            .write()
            .retain(|_, r| r.info.tenant.as_deref() != Some(tenant));
    }

    /// The table as the catalog records it.
    pub fn capture(&self) -> Vec<CatalogApiKey> {
        let table = self.by_id.read();
        let mut out: Vec<_> = table
            .values()
            .map(|r| CatalogApiKey {
                id: r.info.id.clone(),
                name: r.info.name.clone(),
                scopes: vec![r.info.scope.as_str().to_string()],
                sha256: r.sha256.iter().map(|b| format!("{b:02x}")).collect(),
                created_unix_ms: r.info.created_unix_ms,
                rate_limit: r.info.rate_limit.map(|l| CatalogRateLimit {
                    per_second: l.per_second,
                    burst: l.burst,
                }),
                tenant: r.info.tenant.clone(),
            })
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }

    /// Put back the keys a catalog recorded, their tenants found in `tenants`. A malformed
    /// entry is refused whole: a node that silently dropped a key would lock its holder out
    /// without saying why.
    pub fn restore(&self, entries: &[CatalogApiKey], tenants: &Tenants) -> Result<(), ApiKeyError> {
        let mut table = self.by_id.write();
        for entry in entries {
            let bad = |reason: &str| ApiKeyError::BadRecord {
                id: entry.id.clone(),
                reason: reason.to_string(),
            };
            if entry.id.len() != ID_HEX_LEN || !entry.id.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(bad("the id is not 12 hex digits"));
            }
            check_name(&entry.name).map_err(|e| bad(&e.to_string()))?;
            let scope = Scope::highest(&entry.scopes)
                .map_err(|_| bad("unknown scope"))?
                .ok_or_else(|| bad("no scope"))?;
            let sha256 =
                parse_digest(&entry.sha256).ok_or_else(|| bad("sha256 is not 64 hex digits"))?;
            let rate_limit = entry.rate_limit.map(|l| RateLimit {
                per_second: l.per_second,
                burst: l.burst,
            });
            let limiter = rate_limit
                .map(RateLimit::limiter)
                .transpose()
                .map_err(|e| bad(&e.to_string()))?;
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
                entry.id.clone(),
                Record {
                    info: ApiKeyInfo {
                        id: entry.id.clone(),
                        name: entry.name.clone(),
                        scope,
                        created_unix_ms: entry.created_unix_ms,
                        rate_limit,
                        tenant: entry.tenant.clone(),
                    },
                    sha256,
                    limiter,
                    tenant,
                },
            );
        }
        Ok(())
    }
}

/// The id part of a key text, if it has the key's shape.
fn key_id(secret: &[u8]) -> Option<&str> {
    let rest = secret.strip_prefix(KEY_PREFIX.as_bytes())?;
    let id = rest.get(..ID_HEX_LEN)?;
    if rest.get(ID_HEX_LEN) != Some(&b'_') {
        return None;
    }
    std::str::from_utf8(id).ok()
}

/// Whether `name` is a valid name for an API key or a user: 1 to [`MAX_NAME_LEN`] letters,
/// digits, '.', '_', '-' and '@' (no '/', which separates a tenant from a user).
pub(super) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'))
}

fn check_name(name: &str) -> Result<(), ApiKeyError> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(ApiKeyError::InvalidName)
    }
}

fn parse_digest(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

pub(super) fn sha256(bytes: &[u8]) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_survive_a_trip_through_the_catalog() {
        let keys = ApiKeys::default();
        let limit = RateLimit {
            per_second: 1000,
            burst: 100,
        };
        let made = keys
            .create("ci-writer", Scope::Write, Some(limit))
            .expect("created");
        assert!(made.key.starts_with(KEY_PREFIX));
        let saved = keys.capture();
        assert!(
            !saved[0].sha256.contains(&made.key),
            "only the hash is kept"
        );
        let restored = ApiKeys::default();
        restored
            .restore(&saved, &Tenants::default())
            .expect("restored");
        assert_eq!(restored.list(), keys.list());
        let digest = sha256(made.key.as_bytes());
        let who = restored
            .authenticate(made.key.as_bytes(), &digest)
            .expect("the restored key works");
        assert_eq!(who.scope, Scope::Write);
        assert!(who.limiter.is_some(), "and keeps its rate limit");
        assert_eq!(
            keys.create(
                "zero",
                Scope::Read,
                Some(RateLimit {
                    per_second: 0,
                    burst: 1
                })
            )
            .unwrap_err(),
            ApiKeyError::InvalidRateLimit
        );
    }

    #[test]
    fn bad_names_and_malformed_records_are_refused() {
        let keys = ApiKeys::default();
        assert_eq!(
            keys.create("", Scope::Read, None).unwrap_err(),
            ApiKeyError::InvalidName
        );
        assert_eq!(
            keys.create("has space", Scope::Read, None).unwrap_err(),
            ApiKeyError::InvalidName
        );
        let mut entry = {
            keys.create("ok", Scope::Read, None).expect("created");
            keys.capture().remove(0)
        };
        entry.sha256.pop();
        assert!(matches!(
            ApiKeys::default().restore(&[entry], &Tenants::default()),
            Err(ApiKeyError::BadRecord { .. })
        ));
    }

    #[test]
    fn text_that_is_not_shaped_like_a_key_finds_no_record() {
        assert_eq!(key_id(b"lk_0123456789ab_secret"), Some("0123456789ab"));
        assert_eq!(key_id(b"lk_0123456789abXsecret"), None);
        assert_eq!(key_id(b"lk_0123"), None);
        assert_eq!(key_id(b"password"), None);
    }
}

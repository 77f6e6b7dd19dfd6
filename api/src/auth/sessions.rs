//! Dashboard sessions: a browser logs in once with a key and then holds an `HttpOnly` cookie.
//!
//! The cookie's value is 256 random bits; the table keeps only its SHA-256, with who logged in
//! (their [`Principal`], so a revoked key or deleted tenant ends the session too), a CSRF token
//! and when the session ends. Requests that change something must echo the CSRF token in
//! `X-CSRF-Token`: the cookie is `SameSite=Strict` already, and the token is the second lock
//! (a browser sends cookies, never custom headers, on a cross-site request). Login attempts are
//! rate-limited node-wide: failed ones spend the budget, so guessing through the form is slow
//! and holders of real keys are never locked out.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use parking_lot::RwLock;
use ring::rand::SecureRandom;
use subtle::ConstantTimeEq;

use super::{Limiter, Principal, api_keys::sha256};

/// The cookie's name.
pub const COOKIE: &str = "larder_session";
/// The header a changing request carries the CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// How long a session lasts unless configured otherwise.
pub const DEFAULT_TTL: Duration = Duration::from_secs(8 * 3600);
/// The longest a session may be configured to last.
pub const MAX_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
/// Sessions one node holds at most; past it, the oldest is dropped.
const MAX_SESSIONS: usize = 10_000;
/// Login attempts per second, node-wide, and how many at once.
const LOGINS_PER_SECOND: NonZeroU32 = NonZeroU32::new(10).unwrap();
const LOGIN_BURST: NonZeroU32 = NonZeroU32::new(20).unwrap();

struct Entry {
    principal: Principal,
    csrf: String,
    created: Instant,
    expires: Instant,
}

/// A session just made: the cookie value (set once, never shown again) and its CSRF token.
pub struct NewSession {
    pub cookie: String,
    pub csrf: String,
    pub ttl: Duration,
}

/// A session found by its cookie.
pub struct Found {
    pub principal: Principal,
    pub csrf: String,
    pub expires_in: Duration,
}

pub struct Sessions {
    by_digest: RwLock<HashMap<[u8; 32], Entry>>,
    ttl_secs: AtomicU64,
    logins: Limiter,
}

impl Default for Sessions {
    fn default() -> Self {
        let quota = governor::Quota::per_second(LOGINS_PER_SECOND).allow_burst(LOGIN_BURST);
        Self {
            by_digest: RwLock::default(),
            ttl_secs: AtomicU64::new(DEFAULT_TTL.as_secs()),
            logins: Limiter::direct(quota),
        }
    }
}

fn random_text() -> Option<String> {
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new().fill(&mut bytes).ok()?;
    Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

impl Sessions {
    /// How long new sessions last.
    /// Between 1 second and [`MAX_TTL`].
    pub fn set_ttl(&self, ttl: Duration) {
        self.ttl_secs
            .store(ttl.as_secs().clamp(1, MAX_TTL.as_secs()), Ordering::Relaxed);
    }

    pub fn ttl(&self) -> Duration {
        Duration::from_secs(self.ttl_secs.load(Ordering::Relaxed))
    }

    /// Count one login attempt: `Err(wait)` when attempts come faster than the node allows.
    pub fn admit_login(&self) -> Result<(), Duration> {
        super::admit(&self.logins)
    }

    /// Start a session for `principal`; `None` if the random source failed.
    pub fn create(&self, principal: Principal) -> Option<NewSession> {
        let cookie = random_text()?;
        let csrf = random_text()?;
        let ttl = self.ttl();
        let now = Instant::now();
        let mut table = self.by_digest.write();
        table.retain(|_, e| e.expires > now);
        if table.len() >= MAX_SESSIONS
            && let Some(oldest) = table.iter().min_by_key(|(_, e)| e.created).map(|(k, _)| *k)
        {
            table.remove(&oldest);
        }
        table.insert(
            sha256(cookie.as_bytes()),
            Entry {
                principal,
                csrf: csrf.clone(),
                created: now,
                expires: now + ttl,
            },
        );
        Some(NewSession { cookie, csrf, ttl })
    }

    /// The live session whose cookie is `cookie`.
    pub fn find(&self, cookie: &str) -> Option<Found> {
        let digest = sha256(cookie.as_bytes());
        let now = Instant::now();
        let table = self.by_digest.read();
        let entry = table.get(&digest).filter(|e| e.expires > now)?;
        Some(Found {
            principal: entry.principal.clone(),
            csrf: entry.csrf.clone(),
            expires_in: entry.expires - now,
        })
    }

    /// End the session whose cookie is `cookie`; `false` when there was none.
    pub fn remove(&self, cookie: &str) -> bool {
        self.by_digest
            .write()
            .remove(&sha256(cookie.as_bytes()))
            .is_some()
    }
}

/// Whether `sent` is `expected`, in constant time.
pub fn csrf_matches(expected: &str, sent: &[u8]) -> bool {
    expected.len() == sent.len() && bool::from(expected.as_bytes().ct_eq(sent))
}

/// The session cookie's value in a `Cookie` header, if it carries one.
pub fn cookie_in(header: &str) -> Option<&str> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Scope;

    fn operator() -> Principal {
        Principal {
            name: "operator".into(),
            key_id: None,
            user_id: None,
            scope: Scope::Admin,
            limiter: None,
            expires_at_unix: None,
            tenant: None,
        }
    }

    #[test]
    fn a_session_is_found_by_its_cookie_until_it_ends() {
        let sessions = Sessions::default();
        let made = sessions.create(operator()).unwrap();
        let found = sessions.find(&made.cookie).expect("live");
        assert_eq!(found.principal.name, "operator");
        assert!(csrf_matches(&found.csrf, made.csrf.as_bytes()));
        assert!(!csrf_matches(&found.csrf, b"guess"));
        assert!(sessions.find("not-a-cookie").is_none());
        assert!(sessions.remove(&made.cookie));
        assert!(sessions.find(&made.cookie).is_none(), "logged out");
        sessions.set_ttl(Duration::from_secs(1));
        let short = sessions.create(operator()).unwrap();
        std::thread::sleep(Duration::from_millis(1100));
        assert!(sessions.find(&short.cookie).is_none(), "expired");
    }

    #[test]
    fn logins_are_rate_limited_and_cookies_parsed() {
        let sessions = Sessions::default();
        let admitted = (0..100).filter(|_| sessions.admit_login().is_ok()).count();
        assert_eq!(admitted, LOGIN_BURST.get() as usize);
        assert_eq!(cookie_in("a=1; larder_session=xyz; b=2"), Some("xyz"));
        assert_eq!(cookie_in("larder_session="), None);
        assert_eq!(cookie_in("other=1"), None);
    }
}

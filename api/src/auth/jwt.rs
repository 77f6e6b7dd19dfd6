//! OAuth 2.0 / OIDC bearer tokens: JWTs signed by an identity provider, checked against its
//! JWKS.
//!
//! A token is accepted when its header names an allowed algorithm and a `kid` the JWKS holds,
//! its signature verifies, `iss` and `aud` are the configured ones, `exp` (required) and `nbf`
//! (when present) hold within the clock leeway — both must be JSON numbers; a string `nbf` or
//! `exp` is refused, not skipped — and its scope claim (space-separated, as OAuth writes
//! `scope`) names `read`, `write` or `admin`. The caller is the token's `sub`, holding the
//! highest scope named, until `exp` (plus the leeway): a RESP session authenticated with a token
//! loses its rights then (`-NOAUTH`).
//!
//! ## The key cache
//!
//! The JWKS is fetched once at start and kept. A token with a `kid` the cache lacks (the
//! provider rotated its keys) triggers one refetch, at most one per [`MIN_REFETCH`] and one at a
//! time, so a flood of tokens with made-up `kid`s costs the provider at most one request a
//! second.
//!
//! ## Discovery
//!
//! Without `jwks_url`, the keys' address is discovered: the provider's
//! `{issuer}/.well-known/openid-configuration` is fetched, its `issuer` must be the configured
//! one exactly (OpenID Connect Discovery 1.0, §4.3: otherwise another provider could speak for
//! this one), and its `jwks_uri` must be https (or http to loopback), as a configured URL must.
//! The address found is kept; a JWKS fetch from it that fails forgets it, so the next fetch
//! discovers again (a provider that moved its keys is followed).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use parking_lot::RwLock;
use serde::Deserialize;

use super::{Principal, Scope};

/// The least time between two JWKS fetches caused by unknown `kid`s.
pub const MIN_REFETCH: Duration = Duration::from_secs(1);
/// How long a JWKS fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// `[oidc]` in the config file.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    /// The `iss` tokens must carry.
    pub issuer: String,
    /// The `aud` tokens must carry.
    pub audience: String,
    /// Where the provider publishes its keys. Absent: discovered from the issuer's
    /// `/.well-known/openid-configuration` (its `jwks_uri`).
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// Signature algorithms accepted [default: RS256 and ES256]. `none` is never accepted.
    #[serde(default = "default_algorithms")]
    pub algorithms: Vec<Algorithm>,
    /// Clock skew allowed on `exp` and `nbf`, in seconds [default: 30].
    #[serde(default = "default_leeway")]
    pub leeway_secs: u64,
    /// The claim holding the scopes [default: `scope`].
    #[serde(default = "default_scope_claim")]
    pub scope_claim: String,
    /// The claim naming the caller's tenant [default: `tenant`]. A token with it speaks for
    /// that tenant (which must exist on the node); one without it is operator-level, unless
    /// `require_tenant` is set.
    #[serde(default = "default_tenant_claim")]
    pub tenant_claim: String,
    /// Refuse tokens that name no tenant [default: false].
    #[serde(default)]
    pub require_tenant: bool,
}

fn default_tenant_claim() -> String {
    "tenant".to_string()
}

fn default_algorithms() -> Vec<Algorithm> {
    vec![Algorithm::RS256, Algorithm::ES256]
}

fn default_leeway() -> u64 {
    30
}

fn default_scope_claim() -> String {
    "scope".to_string()
}

/// Why a token was refused (logged at debug; the client only hears "invalid").
#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    #[error("not a well-formed JWT: {0}")]
    Malformed(String),
    #[error("algorithm {0:?} is not accepted")]
    Algorithm(Algorithm),
    #[error("the token names no key (kid)")]
    NoKid,
    #[error("no key {0} in the provider's JWKS")]
    UnknownKey(String),
    #[error("the token does not verify: {0}")]
    Invalid(String),
    #[error("the token carries no read, write or admin scope")]
    NoScope,
}

/// Why the JWKS could not be fetched (logged; tokens are refused until a fetch succeeds).
#[derive(Debug, thiserror::Error)]
enum FetchError {
    #[error("{url}: {source}")]
    Http { url: String, source: reqwest::Error },
    #[error("{url} says its issuer is {found:?}, not the configured {expected:?}")]
    WrongIssuer {
        url: String,
        found: String,
        expected: String,
    },
    #[error("{url} gives jwks_uri {jwks_uri:?}, which is not https (nor http to loopback)")]
    UnsafeJwksUri { url: String, jwks_uri: String },
}

/// The fields of a discovery document Larder reads.
#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

/// `https://…`, or `http://` to a loopback address (a provider on the same machine, tests):
/// whoever sits on the path of a plain-http fetch could hand out signing keys.
pub fn url_is_safe(url: &str) -> bool {
    if url.starts_with("https://") {
        return true;
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let host = rest.split(['/', '?']).next().unwrap_or("");
    let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The discovery document's address for `issuer` (a trailing `/` is not doubled).
pub fn discovery_url(issuer: &str) -> String {
    format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    )
}

/// Verifies tokens of one provider.
pub struct JwtVerifier {
    config: OidcConfig,
    /// The JWKS address: the configured one, or the one discovery found (`None` until then).
    jwks_url: RwLock<Option<String>>,
    keys: RwLock<HashMap<String, DecodingKey>>,
    /// One fetch at a time; holds when the last one started.
    fetching: tokio::sync::Mutex<Option<Instant>>,
    fetches: AtomicU64,
    http: reqwest::Client,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("issuer", &self.config.issuer)
            .finish_non_exhaustive()
    }
}

/// Whether `text` has a JWT's shape (three base64url parts, a JSON header), so it is checked
/// as a token rather than as an API key.
pub fn looks_like_jwt(text: &[u8]) -> bool {
    text.starts_with(b"eyJ") && text.iter().filter(|&&b| b == b'.').count() == 2
}

#[derive(Deserialize)]
struct Claims {
    sub: Option<String>,
    exp: u64,
    #[serde(flatten)]
    rest: HashMap<String, serde_json::Value>,
}

impl JwtVerifier {
    pub fn new(config: OidcConfig) -> Self {
        Self {
            jwks_url: RwLock::new(config.jwks_url.clone()),
            config,
            keys: RwLock::new(HashMap::new()),
            fetching: tokio::sync::Mutex::new(None),
            fetches: AtomicU64::new(0),
            http: reqwest::Client::builder()
                .timeout(FETCH_TIMEOUT)
                .build()
                .unwrap_or_default(),
        }
    }

    /// JWKS fetches so far (for tests and the operator).
    pub fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// Fetch the JWKS now (at start). A failure is logged; tokens then trigger a refetch.
    pub async fn prime(&self) {
        let mut last = self.fetching.lock().await;
        *last = Some(Instant::now());
        self.fetch().await;
    }

    async fn fetch(&self) {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        match self.fetch_keys().await {
            Ok((url, keys)) => {
                tracing::info!(%url, keys = keys.len(), "JWKS fetched");
                *self.keys.write() = keys;
            }
            Err(e) => tracing::warn!(error = %e, "JWKS fetch failed"),
        }
    }

    /// The provider's keys by `kid`, and the address they came from.
    async fn fetch_keys(&self) -> Result<(String, HashMap<String, DecodingKey>), FetchError> {
        let known = self.jwks_url.read().clone();
        let url = match known {
            Some(url) => url,
            None => self.discover().await?,
        };
        let set = self.get_json::<JwkSet>(&url).await;
        if set.is_err() && self.config.jwks_url.is_none() {
            // Perhaps the provider moved its keys: discover again next time.
            *self.jwks_url.write() = None;
        }
        let keys = set?
            .keys
            .iter()
            .filter_map(|jwk| {
                let kid = jwk.common.key_id.clone()?;
                DecodingKey::from_jwk(jwk).ok().map(|key| (kid, key))
            })
            .collect();
        Ok((url, keys))
    }

    /// Find the JWKS address in the issuer's discovery document, checked, and keep it.
    async fn discover(&self) -> Result<String, FetchError> {
        let url = discovery_url(&self.config.issuer);
        let doc = self.get_json::<Discovery>(&url).await?;
        if doc.issuer != self.config.issuer {
            return Err(FetchError::WrongIssuer {
                url,
                found: doc.issuer,
                expected: self.config.issuer.clone(),
            });
        }
        if !url_is_safe(&doc.jwks_uri) {
            return Err(FetchError::UnsafeJwksUri {
                url,
                jwks_uri: doc.jwks_uri,
            });
        }
        tracing::info!(%url, jwks_uri = %doc.jwks_uri, "OIDC discovery");
        *self.jwks_url.write() = Some(doc.jwks_uri.clone());
        Ok(doc.jwks_uri)
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, FetchError> {
        async {
            self.http
                .get(url)
                .send()
                .await?
                .error_for_status()?
                .json::<T>()
                .await
        }
        .await
        .map_err(|source| FetchError::Http {
            url: url.to_string(),
            source,
        })
    }

    /// Refetch for an unknown `kid`, unless one ran within [`MIN_REFETCH`].
    async fn refetch_for(&self, kid: &str) {
        let mut last = self.fetching.lock().await;
        if self.keys.read().contains_key(kid) {
            return; // another caller's fetch brought it
        }
        if last.is_some_and(|t| t.elapsed() < MIN_REFETCH) {
            return;
        }
        *last = Some(Instant::now());
        self.fetch().await;
    }

    /// Check `token`; the principal holds until the token's `exp` (unix seconds) plus leeway.
    /// Also returns the tenant the token names, for the caller to find.
    pub async fn verify(&self, token: &str) -> Result<(Principal, Option<String>), JwtError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| JwtError::Malformed(e.to_string()))?;
        if !self.config.algorithms.contains(&header.alg) {
            return Err(JwtError::Algorithm(header.alg));
        }
        let kid = header.kid.ok_or(JwtError::NoKid)?;
        if !self.keys.read().contains_key(&kid) {
            self.refetch_for(&kid).await;
        }
        let keys = self.keys.read();
        let key = keys
            .get(&kid)
            .ok_or_else(|| JwtError::UnknownKey(kid.clone()))?;
        let mut validation = Validation::new(header.alg);
        validation.algorithms = vec![header.alg];
        validation.leeway = self.config.leeway_secs;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.config.issuer]);
        validation.set_audience(&[&self.config.audience]);
        validation.required_spec_claims =
            HashSet::from(["exp".to_string(), "iss".to_string(), "aud".to_string()]);
        let data = jsonwebtoken::decode::<Claims>(token, key, &validation)
            .map_err(|e| JwtError::Invalid(e.to_string()))?;
        let claims = data.claims;
        // jsonwebtoken checks a numeric nbf; a string one must not slip through unchecked.
        if let Some(nbf) = claims.rest.get("nbf")
            && !nbf.is_u64()
        {
            return Err(JwtError::Invalid("nbf is not a number".into()));
        }
        let scope = claims
            .rest
            .get(&self.config.scope_claim)
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .split_ascii_whitespace()
            .filter_map(Scope::parse)
            .max()
            .ok_or(JwtError::NoScope)?;
        // The subject appears in CLIENT LIST lines and errors: keep it one printable word.
        let name: String = claims
            .sub
            .unwrap_or_else(|| "jwt".to_string())
            .chars()
            .take(128)
            .map(|c| if c.is_ascii_graphic() { c } else { '_' })
            .collect();
        let tenant = match claims.rest.get(&self.config.tenant_claim) {
            Some(serde_json::Value::String(t)) => Some(t.clone()),
            Some(_) => return Err(JwtError::Invalid("the tenant claim is not a string".into())),
            None if self.config.require_tenant => {
                return Err(JwtError::Invalid("the token names no tenant".into()));
            }
            None => None,
        };
        let principal = Principal {
            name,
            key_id: None,
            user_id: None,
            scope,
            limiter: None,
            expires_at_unix: Some(claims.exp.saturating_add(self.config.leeway_secs)),
            tenant: None,
        };
        Ok((principal, tenant))
    }
}

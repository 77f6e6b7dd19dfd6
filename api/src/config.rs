//! Server configuration: where the node listens, how it logs, and which namespaces exist at start.
//!
//! ## Sources and precedence
//!
//! Every setting can come from four places; the first one that sets it wins:
//!
//! 1. a command-line flag (`larder serve --http-addr 127.0.0.1:9000`);
//! 2. an environment variable (`LARDER_HTTP_ADDR=127.0.0.1:9000`; for the log filter, `RUST_LOG`
//!    is consulted after `LARDER_LOG_LEVEL`);
//! 3. the TOML file named by `--config` / `LARDER_CONFIG`;
//! 4. the built-in default, which needs no file at all: RESP on `127.0.0.1:6390` (beside, not on,
//!    Redis's 6379) and HTTP on `127.0.0.1:8390`.
//!
//! Flags and environment variables are resolved by clap (see `cli`) into an [`Overrides`];
//! [`Config::load`] lays them over the file and the defaults and validates the result.
//!
//! ## The file
//!
//! ```toml
//! resp_addr = "127.0.0.1:6390"
//! http_addr = "127.0.0.1:8390"
//! log_format = "text"          # or "json"
//! log_level = "info,larder=debug"
//! max_body_bytes = 16777216
//!
//! data_dir = "larder-data"     # catalog and snapshots; `persist = false` keeps all in memory
//! snapshot_every_secs = 60     # when something changed; 0: only SAVE, BGSAVE and shutdown
//! appendonly = true            # log every write, replayed after the snapshot at start
//! appendfsync = "everysec"     # "always": a write is answered once it is on disk; or "no"
//! encryption_key_file = "/etc/larder/keys"  # encrypt every file at rest (`larder keygen`)
//! operator_key_file = "/etc/larder/operator-key"  # turns authentication on (see `auth`)
//! session_ttl_secs = 28800     # how long a dashboard login lasts
//! metrics_token_file = "/etc/larder/metrics-token"  # a bearer that reads /metrics only
//! auth_failure_burst = 20      # failed logins, tokens and AUTHs an address may make at once (0: no limit)
//! auth_failure_refill_per_sec = 5.0
//! trusted_proxies = ["10.0.0.0/8"]  # HTTP: believe their X-Forwarded-For about the client
//! proxy_protocol = true        # RESP: their connections open with a PROXY header (v1 or v2)
//!
//! [tls]                        # `larder certs` makes a local CA and certificates to try it
//! cert_file = "certs/server.pem"
//! key_file = "certs/server-key.pem"
//! ca_file = "certs/ca.pem"     # client certificates must chain to it
//! client_auth = "optional"     # none (default), optional or required
//! resp_addr = "127.0.0.1:6391" # a RESP port with TLS beside the plain one
//! resp_only = false            # true: that port only, no plain RESP port
//! http = true                  # the HTTP port speaks HTTPS
//!
//! [oidc]                       # also accept JWTs from an identity provider
//! issuer = "https://id.example.com/"
//! audience = "larder"
//! jwks_url = "https://id.example.com/.well-known/jwks.json"  # absent: discovered from the issuer
//! algorithms = ["RS256", "ES256"]
//! leeway_secs = 30
//! scope_claim = "scope"        # space-separated: read, write, admin
//! tenant_claim = "tenant"      # names the caller's tenant; absent: operator-level
//! require_tenant = false       # true: refuse tokens that name no tenant
//!
//! [namespaces.default]         # the namespace every client starts in
//! capacity_bytes = 536870912
//! eviction = "s3fifo"
//!
//! [namespaces.sessions]        # created at start
//! capacity_bytes = 67108864
//! default_ttl_secs = 1800
//! ```
//!
//! Without an operator key only loopback addresses may be bound: a node reachable from other
//! machines without authentication is refused at start, with what to set.
//!
//! Unknown keys, wrong types, unparsable addresses and namespace configs the store cannot honour are
//! refused with an error that names the field ([`ConfigError`]); the binary exits with code 2.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use larder_runtime::alert::AlertsConfig;
use std::sync::Arc;

use larder_runtime::{
    DEFAULT_NAMESPACE, NamespaceConfig, NamespaceError, Namespaces, PluginHost, PolicyRef,
};

use crate::persistence::EncryptionKeys;
pub use crate::persistence::PersistConfig;
use larder_runtime::persist::{Fsync, KeyRing};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Default Redis-protocol address: loopback, one port above what Redis itself would not use.
pub const DEFAULT_RESP_ADDR: &str = "127.0.0.1:6390";
/// Default HTTP address (REST API, `/metrics`, `/openapi.json`, `/docs`).
pub const DEFAULT_HTTP_ADDR: &str = "127.0.0.1:8390";
/// Default cap on an HTTP request body: room for a 1 MiB item many times over, small enough that a
/// client cannot make the server buffer gigabytes.
pub const DEFAULT_MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
const DEFAULT_LOG_LEVEL: &str = "info";
/// Where the binary keeps its catalog and snapshots when nothing says otherwise (relative to the
/// working directory).
pub const DEFAULT_DATA_DIR: &str = "larder-data";
/// How often a snapshot is taken when something changed, by default.
pub const DEFAULT_SNAPSHOT_EVERY_SECS: u64 = 60;

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// The fully resolved configuration of one node.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Config {
    pub resp_addr: SocketAddr,
    pub http_addr: SocketAddr,
    pub log_format: LogFormat,
    /// A `RUST_LOG`-style filter, e.g. `info` or `warn,larder=debug`.
    pub log_level: String,
    /// Largest HTTP request body accepted; larger bodies get `413 body_too_large`.
    pub max_body_bytes: usize,
    /// Namespaces to create at start, by name. `default` configures the default namespace.
    pub namespaces: BTreeMap<String, NamespaceConfig>,
    /// Alert rules and notifiers (`[alerts]`; see `larder_runtime::alert::config`).
    pub alerts: AlertsConfig,
    /// The data directory and snapshot schedule; `None` keeps everything in memory only. The
    /// binary persists to [`DEFAULT_DATA_DIR`] unless told otherwise; [`Config::default`] (tests,
    /// embedding) does not persist.
    pub persist: Option<PersistConfig>,
    /// Cluster membership; `None` runs a single node.
    pub cluster: Option<ClusterConfig>,
    /// The operator key; `None` serves without authentication, which only loopback addresses
    /// may do.
    pub operator_key: Option<Secret>,
    /// A bearer token that reads `/metrics` and nothing else (for a Prometheus scraper); needs
    /// an operator key.
    pub metrics_token: Option<Secret>,
    /// How long a dashboard login lasts.
    pub session_ttl: std::time::Duration,
    /// TLS for the RESP and HTTP ports; `None` serves them in clear.
    pub tls: Option<crate::tls::TlsConfig>,
    /// OAuth 2.0 / OIDC bearer tokens (`[oidc]`); needs an operator key.
    pub oidc: Option<crate::auth::jwt::OidcConfig>,
    /// The failure budget per client address, and the proxies trusted to name the client.
    pub auth_limits: crate::auth::AuthLimits,
    /// Connections to the Redis ports from the trusted proxies start with a PROXY protocol
    /// header naming the client (see `resp::proxy_protocol`).
    pub proxy_protocol: bool,
}

impl Config {
    /// Whether the Redis protocol is served on the TLS port only (no plain port).
    pub fn plain_resp_off(&self) -> bool {
        self.tls.as_ref().is_some_and(|t| t.resp_only)
    }
}

/// A secret from the configuration: never printed, logged or serialized.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("<redacted>")
    }
}

/// The shortest operator key accepted: it guards everything, so it must not be guessable.
pub const MIN_OPERATOR_KEY_LEN: usize = 16;

/// How this node takes part in a cluster.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterConfig {
    /// The cluster bus address to bind (port 0 picks one; the bound one is advertised).
    pub bus_addr: SocketAddr,
    /// Form a cluster (`true`), join through this bus address, or neither: resume from the data
    /// directory.
    pub init: bool,
    pub join: Option<String>,
    /// Proxy (default) or redirect commands for slots other nodes own.
    pub mode: crate::state::ClusterMode,
    /// Mutual TLS on the bus; `None`: clear text, loopback only and only without authentication.
    pub tls: Option<crate::tls::BusTlsConfig>,
    /// Replicas per slot for a cluster this node forms (see docs/cluster.md, "Replication").
    pub replicas: usize,
    /// How long the leader waits on a silent member before failing it over.
    pub node_timeout: std::time::Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            resp_addr: parse_const_addr(DEFAULT_RESP_ADDR),
            http_addr: parse_const_addr(DEFAULT_HTTP_ADDR),
            log_format: LogFormat::Text,
            log_level: DEFAULT_LOG_LEVEL.to_string(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            namespaces: BTreeMap::new(),
            alerts: AlertsConfig::default(),
            persist: None,
            cluster: None,
            operator_key: None,
            metrics_token: None,
            session_ttl: crate::auth::sessions::DEFAULT_TTL,
            auth_limits: crate::auth::AuthLimits::default(),
            proxy_protocol: false,
            tls: None,
            oidc: None,
        }
    }
}

fn parse_const_addr(addr: &str) -> SocketAddr {
    addr.parse()
        .unwrap_or_else(|_| unreachable!("{addr} is a valid literal address"))
}

/// The TOML file as written: every field optional, unknown fields refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    resp_addr: Option<SocketAddr>,
    http_addr: Option<SocketAddr>,
    log_format: Option<LogFormat>,
    log_level: Option<String>,
    max_body_bytes: Option<usize>,
    data_dir: Option<PathBuf>,
    /// `false` keeps everything in memory only.
    persist: Option<bool>,
    snapshot_every_secs: Option<u64>,
    appendonly: Option<bool>,
    appendfsync: Option<Fsync>,
    encryption_key_file: Option<PathBuf>,
    operator_key_file: Option<PathBuf>,
    metrics_token_file: Option<PathBuf>,
    session_ttl_secs: Option<u64>,
    auth_failure_burst: Option<u32>,
    auth_failure_refill_per_sec: Option<f64>,
    #[serde(default)]
    trusted_proxies: Vec<ipnet::IpNet>,
    /// Connections to the Redis ports from `trusted_proxies` start with a PROXY protocol header.
    proxy_protocol: Option<bool>,
    tls: Option<FileTls>,
    oidc: Option<crate::auth::jwt::OidcConfig>,
    #[serde(default)]
    namespaces: BTreeMap<String, NamespaceConfig>,
    #[serde(default)]
    alerts: AlertsConfig,
}

/// `[tls]` in the file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTls {
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    ca_file: Option<PathBuf>,
    client_auth: Option<crate::tls::ClientAuth>,
    resp_addr: Option<SocketAddr>,
    /// `true`: the TLS RESP port only, no plain one.
    resp_only: Option<bool>,
    http: Option<bool>,
}

/// Values from flags or environment variables; `None` means "not given, fall through".
///
/// The `default_*` fields override single fields of the default namespace's config on top of
/// whatever `[namespaces.default]` in the file says.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub resp_addr: Option<SocketAddr>,
    pub http_addr: Option<SocketAddr>,
    pub log_format: Option<LogFormat>,
    pub log_level: Option<String>,
    pub max_body_bytes: Option<usize>,
    pub default_capacity_bytes: Option<u64>,
    pub default_max_item_size: Option<u64>,
    pub default_ttl_secs: Option<u64>,
    pub default_eviction: Option<PolicyRef>,
    pub data_dir: Option<PathBuf>,
    /// Keep everything in memory only (`--no-persist`).
    pub no_persist: bool,
    pub snapshot_every_secs: Option<u64>,
    pub discard_bad_data: bool,
    pub appendonly: Option<bool>,
    pub appendfsync: Option<Fsync>,
    /// Key text itself (`LARDER_ENCRYPTION_KEY`); wins over a key file.
    pub encryption_key: Option<String>,
    pub encryption_key_file: Option<PathBuf>,
    /// `--bus-addr`: run as a cluster member.
    pub bus_addr: Option<SocketAddr>,
    /// `--cluster-init`.
    pub cluster_init: bool,
    /// `--join <bus address>`.
    pub join: Option<String>,
    /// `--cluster-redirect`: answer MOVED instead of forwarding.
    pub cluster_redirect: bool,
    /// `--cluster-replicas`.
    pub cluster_replicas: u8,
    /// `--cluster-node-timeout-ms` (default 5000).
    pub cluster_node_timeout_ms: Option<u64>,
    /// The operator key itself (`LARDER_OPERATOR_KEY`); wins over a key file.
    pub operator_key: Option<String>,
    pub operator_key_file: Option<PathBuf>,
    /// `--metrics-token-file`; wins over the config file's.
    pub metrics_token_file: Option<PathBuf>,
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
    pub tls_ca_file: Option<PathBuf>,
    pub tls_client_auth: Option<crate::tls::ClientAuth>,
    pub tls_resp_addr: Option<SocketAddr>,
    /// `--tls-resp-only`: no plain RESP port.
    pub tls_resp_only: Option<bool>,
    pub tls_http: Option<bool>,
    /// `--bus-tls-cert-file`, `--bus-tls-key-file`, `--bus-tls-ca-file`: mutual TLS on the bus.
    pub bus_tls_cert_file: Option<PathBuf>,
    pub bus_tls_key_file: Option<PathBuf>,
    pub bus_tls_ca_file: Option<PathBuf>,
}

/// Why a configuration was refused. The message always names the field (or the file) at fault.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The TOML did not parse or did not match the schema; toml's message quotes the offending
    /// line, so the field is named there.
    #[error("invalid config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid config: {field}: {reason}")]
    Invalid { field: String, reason: String },
}

impl Config {
    /// Resolve the configuration: `overrides` (flags, env) over the file at `path` over defaults.
    pub fn load(path: Option<&Path>, overrides: Overrides) -> Result<Self, ConfigError> {
        let file = match path {
            Some(path) => Self::read_file(path)?,
            None => FileConfig::default(),
        };
        let defaults = Config::default();
        let encryption = Self::encryption_keys(&overrides, file.encryption_key_file.as_deref())?;
        let operator_key = Self::operator_key(&overrides, file.operator_key_file.as_deref())?;
        let metrics_token = match overrides
            .metrics_token_file
            .as_deref()
            .or(file.metrics_token_file.as_deref())
        {
            None => None,
            Some(path) => {
                let text = Self::secret_file(path, "metrics_token_file")?;
                Some(Self::checked_secret(
                    &text,
                    "metrics_token_file",
                    "the metrics token",
                )?)
            }
        };
        let tls = Self::tls(&overrides, file.tls.unwrap_or_default())?;
        let bus_tls = Self::bus_tls(&overrides)?;
        let append_log = overrides
            .appendonly
            .or(file.appendonly)
            .unwrap_or(false)
            .then(|| {
                overrides
                    .appendfsync
                    .or(file.appendfsync)
                    .unwrap_or(Fsync::Everysec)
            });
        let mut config = Config {
            resp_addr: overrides
                .resp_addr
                .or(file.resp_addr)
                .unwrap_or(defaults.resp_addr),
            http_addr: overrides
                .http_addr
                .or(file.http_addr)
                .unwrap_or(defaults.http_addr),
            log_format: overrides
                .log_format
                .or(file.log_format)
                .unwrap_or(defaults.log_format),
            log_level: overrides
                .log_level
                .or(file.log_level)
                .unwrap_or(defaults.log_level),
            max_body_bytes: overrides
                .max_body_bytes
                .or(file.max_body_bytes)
                .unwrap_or(defaults.max_body_bytes),
            persist: (!overrides.no_persist && file.persist != Some(false)).then(|| {
                PersistConfig {
                    data_dir: overrides
                        .data_dir
                        .clone()
                        .or(file.data_dir)
                        .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
                    snapshot_every: std::time::Duration::from_secs(
                        overrides
                            .snapshot_every_secs
                            .or(file.snapshot_every_secs)
                            .unwrap_or(DEFAULT_SNAPSHOT_EVERY_SECS),
                    ),
                    discard_bad_data: overrides.discard_bad_data,
                    append_log,
                    encryption,
                }
            }),
            namespaces: file.namespaces,
            alerts: file.alerts,
            cluster: overrides.bus_addr.map(|bus_addr| ClusterConfig {
                bus_addr,
                init: overrides.cluster_init,
                join: overrides.join.clone(),
                mode: if overrides.cluster_redirect {
                    crate::state::ClusterMode::Redirect
                } else {
                    crate::state::ClusterMode::Proxy
                },
                tls: bus_tls.clone(),
                replicas: usize::from(overrides.cluster_replicas),
                node_timeout: std::time::Duration::from_millis(
                    overrides.cluster_node_timeout_ms.unwrap_or(5000),
                ),
            }),
            operator_key,
            metrics_token,
            session_ttl: file.session_ttl_secs.map_or(
                crate::auth::sessions::DEFAULT_TTL,
                std::time::Duration::from_secs,
            ),
            tls,
            oidc: file.oidc,
            auth_limits: crate::auth::AuthLimits {
                failure_budget: crate::auth::failed_auths::FailureBudget {
                    burst: file
                        .auth_failure_burst
                        .unwrap_or(crate::auth::failed_auths::BURST as u32),
                    per_second: file
                        .auth_failure_refill_per_sec
                        .unwrap_or(crate::auth::failed_auths::PER_SECOND),
                },
                trusted_proxies: crate::auth::client_addr::TrustedProxies::new(
                    file.trusted_proxies,
                ),
            },
            proxy_protocol: file.proxy_protocol.unwrap_or(false),
        };
        if config.proxy_protocol && config.auth_limits.trusted_proxies.is_empty() {
            return Err(ConfigError::Invalid {
                field: "proxy_protocol".into(),
                reason: "the PROXY protocol is read from trusted proxies only: list the load \
                         balancers' addresses in trusted_proxies"
                    .into(),
            });
        }
        if config.cluster.is_some() && config.persist.is_none() {
            return Err(ConfigError::Invalid {
                field: "bus_addr".into(),
                reason:
                    "a cluster member keeps its raft log in the data directory; drop --no-persist"
                        .into(),
            });
        }
        let has_default_override = overrides.default_capacity_bytes.is_some()
            || overrides.default_max_item_size.is_some()
            || overrides.default_ttl_secs.is_some()
            || overrides.default_eviction.is_some();
        if has_default_override {
            let ns = config
                .namespaces
                .entry(DEFAULT_NAMESPACE.to_string())
                .or_default();
            if let Some(v) = overrides.default_capacity_bytes {
                ns.capacity_bytes = v;
            }
            if let Some(v) = overrides.default_max_item_size {
                ns.max_item_size = Some(v);
            }
            if let Some(v) = overrides.default_ttl_secs {
                ns.default_ttl_secs = v;
            }
            if let Some(v) = overrides.default_eviction {
                ns.eviction = v;
            }
        }
        config.validate()?;
        Ok(config)
    }

    /// The encryption keys from `--encryption-key`, else the key file (flag, then file config).
    fn encryption_keys(
        overrides: &Overrides,
        file_setting: Option<&Path>,
    ) -> Result<Option<EncryptionKeys>, ConfigError> {
        let (text, field) = match (&overrides.encryption_key, &overrides.encryption_key_file) {
            (Some(text), _) => (text.clone(), "encryption_key".to_string()),
            (None, from_flag) => {
                let Some(path) = from_flag.as_deref().or(file_setting) else {
                    return Ok(None);
                };
                let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Invalid {
                    field: "encryption_key_file".into(),
                    reason: format!("cannot read {}: {e}", path.display()),
                })?;
                (text, "encryption_key_file".to_string())
            }
        };
        KeyRing::parse(&text)
            .map(|k| Some(EncryptionKeys(Arc::new(k))))
            .map_err(|e| ConfigError::Invalid {
                field,
                reason: e.to_string(),
            })
    }

    /// The operator key from `LARDER_OPERATOR_KEY`, else the key file (flag, then file config).
    fn operator_key(
        overrides: &Overrides,
        file_setting: Option<&Path>,
    ) -> Result<Option<Secret>, ConfigError> {
        let (text, field) = match (&overrides.operator_key, &overrides.operator_key_file) {
            (Some(text), _) => (text.clone(), "operator_key"),
            (None, from_flag) => {
                let Some(path) = from_flag.as_deref().or(file_setting) else {
                    return Ok(None);
                };
                (
                    Self::secret_file(path, "operator_key_file")?,
                    "operator_key_file",
                )
            }
        };
        Self::checked_secret(&text, field, "the operator key").map(Some)
    }

    /// The text of a file holding a secret.
    fn secret_file(path: &Path, field: &str) -> Result<String, ConfigError> {
        std::fs::read_to_string(path).map_err(|e| ConfigError::Invalid {
            field: field.into(),
            reason: format!("cannot read {}: {e}", path.display()),
        })
    }

    /// `text` as a secret, when it is long enough to be one; `what` names it in the error.
    fn checked_secret(text: &str, field: &str, what: &str) -> Result<Secret, ConfigError> {
        // A key file written with `echo` ends in a newline that is not part of the key.
        let key = text.trim();
        if key.len() < MIN_OPERATOR_KEY_LEN || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ConfigError::Invalid {
                field: field.into(),
                reason: format!(
                    "{what} must be at least {MIN_OPERATOR_KEY_LEN} printable characters without spaces \
                     (for example: `openssl rand -hex 32`)"
                ),
            });
        }
        Ok(Secret(key.to_string()))
    }

    /// TLS from flags over `[tls]`; `None` when no port asks for it. The files are loaded here
    /// once, so a bad certificate is a start-up error that names it.
    fn tls(
        overrides: &Overrides,
        file: FileTls,
    ) -> Result<Option<crate::tls::TlsConfig>, ConfigError> {
        let resp_addr = overrides.tls_resp_addr.or(file.resp_addr);
        let resp_only = overrides.tls_resp_only.or(file.resp_only).unwrap_or(false);
        if resp_only && resp_addr.is_none() {
            return Err(ConfigError::Invalid {
                field: "tls.resp_only".into(),
                reason: "the Redis protocol on TLS only needs a TLS port: add --tls-resp-addr \
                         (or `resp_addr` under [tls])"
                    .into(),
            });
        }
        let http = overrides.tls_http.or(file.http).unwrap_or(false);
        let cert_file = overrides.tls_cert_file.clone().or(file.cert_file);
        let key_file = overrides.tls_key_file.clone().or(file.key_file);
        if resp_addr.is_none() && !http {
            if cert_file.is_some() || key_file.is_some() {
                return Err(ConfigError::Invalid {
                    field: "tls_cert_file".into(),
                    reason: "a certificate is set but no port uses TLS: add --tls-resp-addr or --tls-http".into(),
                });
            }
            return Ok(None);
        }
        let (Some(cert_file), Some(key_file)) = (cert_file, key_file) else {
            return Err(ConfigError::Invalid {
                field: "tls_cert_file".into(),
                reason: "TLS needs both --tls-cert-file and --tls-key-file".into(),
            });
        };
        let config = crate::tls::TlsConfig {
            cert_file,
            key_file,
            client_ca_file: overrides.tls_ca_file.clone().or(file.ca_file),
            client_auth: overrides
                .tls_client_auth
                .or(file.client_auth)
                .unwrap_or_default(),
            resp_addr,
            resp_only,
            http,
        };
        crate::tls::ServerTls::load(&config).map_err(|e| ConfigError::Invalid {
            field: "tls".into(),
            reason: e.to_string(),
        })?;
        Ok(Some(config))
    }

    /// Mutual TLS on the cluster bus: all three `--bus-tls-*` files, or none.
    fn bus_tls(overrides: &Overrides) -> Result<Option<crate::tls::BusTlsConfig>, ConfigError> {
        let files = (
            overrides.bus_tls_cert_file.clone(),
            overrides.bus_tls_key_file.clone(),
            overrides.bus_tls_ca_file.clone(),
        );
        let config = match files {
            (None, None, None) => return Ok(None),
            (Some(cert_file), Some(key_file), Some(ca_file)) => crate::tls::BusTlsConfig {
                cert_file,
                key_file,
                ca_file,
            },
            _ => {
                return Err(ConfigError::Invalid {
                    field: "bus_tls_cert_file".into(),
                    reason: "mutual TLS on the bus needs --bus-tls-cert-file, --bus-tls-key-file \
                             and --bus-tls-ca-file together"
                        .into(),
                });
            }
        };
        crate::tls::bus_tls(&config).map_err(|e| ConfigError::Invalid {
            field: "bus_tls".into(),
            reason: e.to_string(),
        })?;
        Ok(Some(config))
    }

    fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })
    }

    /// Check everything a file or flag can get wrong that the types alone do not catch.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let per_second = self.auth_limits.failure_budget.per_second;
        if !(per_second.is_finite() && per_second > 0.0) {
            return Err(ConfigError::Invalid {
                field: "auth_failure_refill_per_sec".into(),
                reason: format!("{per_second} is not a positive number of failures per second"),
            });
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log_level) {
            return Err(ConfigError::Invalid {
                field: "log_level".into(),
                reason: format!("{:?} is not a valid filter: {e}", self.log_level),
            });
        }
        if let Some(token) = &self.metrics_token {
            let Some(operator) = &self.operator_key else {
                return Err(ConfigError::Invalid {
                    field: "metrics_token_file".into(),
                    reason: "a metrics token needs authentication on: set an operator key too"
                        .into(),
                });
            };
            if operator.0 == token.0 {
                return Err(ConfigError::Invalid {
                    field: "metrics_token_file".into(),
                    reason: "the metrics token must differ from the operator key".into(),
                });
            }
        }
        if self.oidc.is_some() && self.operator_key.is_none() {
            return Err(ConfigError::Invalid {
                field: "oidc".into(),
                reason: "bearer tokens need authentication on: set an operator key too".into(),
            });
        }
        if let Some(oidc) = &self.oidc {
            // Without `jwks_url` the keys' address comes from the issuer's discovery document,
            // so the issuer's address must be as safe as a JWKS address.
            let (field, url) = match &oidc.jwks_url {
                Some(url) => ("oidc.jwks_url", url.clone()),
                None => ("oidc.issuer", crate::auth::jwt::discovery_url(&oidc.issuer)),
            };
            if !crate::auth::jwt::url_is_safe(&url) {
                return Err(ConfigError::Invalid {
                    field: field.into(),
                    reason: format!(
                        "{url} is not https: whoever sits on the path could hand out signing keys \
                         (plain http is allowed for loopback addresses only)"
                    ),
                });
            }
        }
        if let Some(oidc) = &self.oidc
            && oidc.algorithms.is_empty()
        {
            return Err(ConfigError::Invalid {
                field: "oidc.algorithms".into(),
                reason: "list at least one algorithm (e.g. RS256, ES256)".into(),
            });
        }
        if let Some(cluster) = &self.cluster
            && cluster.tls.is_none()
        {
            let reason = if !cluster.bus_addr.ip().is_loopback() {
                Some(format!(
                    "refusing to open the cluster bus on {} in clear: anyone who reaches it could \
                     join the cluster or run commands",
                    cluster.bus_addr
                ))
            } else if self.operator_key.is_some() {
                Some(
                    "with authentication on, the cluster bus must be mutual TLS too: forwarded \
                     commands run on a member's word, and a clear-text bus would let any local \
                     process speak for one"
                        .to_string(),
                )
            } else {
                None
            };
            if let Some(reason) = reason {
                return Err(ConfigError::Invalid {
                    field: "bus_addr".into(),
                    reason: format!(
                        "{reason}. Give the bus mutual TLS (--bus-tls-cert-file, \
                         --bus-tls-key-file, --bus-tls-ca-file; `larder certs` makes a set)"
                    ),
                });
            }
        }
        if let (Some(bus), Some(tls)) = (
            self.cluster.as_ref().and_then(|c| c.tls.as_ref()),
            &self.tls,
        ) && tls.client_ca_file.as_ref() == Some(&bus.ca_file)
        {
            return Err(ConfigError::Invalid {
                field: "bus_tls_ca_file".into(),
                reason: "the cluster bus's CA is also the CA of client certificates: every \
                         client would pass as a cluster member. Give the bus a CA of its own"
                    .into(),
            });
        }
        if self.operator_key.is_none() {
            let tls_resp = self.tls.as_ref().and_then(|t| t.resp_addr);
            // A plain port that is not bound exposes nothing.
            let plain_resp = Some(self.resp_addr).filter(|_| !self.plain_resp_off());
            for (field, addr) in [
                ("resp_addr", plain_resp),
                ("http_addr", Some(self.http_addr)),
                ("tls.resp_addr", tls_resp),
            ] {
                if let Some(addr) = addr.filter(|a| !a.ip().is_loopback()) {
                    return Err(ConfigError::Invalid {
                        field: field.into(),
                        reason: format!(
                            "refusing to serve {addr} without authentication: anyone who reaches it \
                             could read, change and flush everything. Set an operator key \
                             (LARDER_OPERATOR_KEY or --operator-key-file), or listen on 127.0.0.1"
                        ),
                    });
                }
            }
        }
        if self.max_body_bytes == 0 {
            return Err(ConfigError::Invalid {
                field: "max_body_bytes".into(),
                reason: "must be at least 1".into(),
            });
        }
        // Building the registry runs exactly the checks the server will run, so nothing that
        // passes here can fail at start.
        self.build_namespaces().map(drop)
    }

    /// The default namespace's config: `[namespaces.default]`, or the built-in default.
    pub fn default_namespace(&self) -> NamespaceConfig {
        self.namespaces
            .get(DEFAULT_NAMESPACE)
            .cloned()
            .unwrap_or_default()
    }

    /// The namespace registry this config describes.
    pub fn build_namespaces(&self) -> Result<Namespaces, ConfigError> {
        Self::build_namespaces_from(&self.namespaces, Arc::new(PluginHost::default()))
    }

    /// A registry of `namespaces` (by name; `default` configures the default one) whose plugin
    /// references resolve against `plugins`.
    pub fn build_namespaces_from(
        namespaces: &BTreeMap<String, NamespaceConfig>,
        plugins: Arc<PluginHost>,
    ) -> Result<Namespaces, ConfigError> {
        let default = namespaces
            .get(DEFAULT_NAMESPACE)
            .cloned()
            .unwrap_or_default();
        let registry = Namespaces::with_plugins(default, plugins)
            .map_err(|e| namespace_error(DEFAULT_NAMESPACE, e))?;
        let namespaces_in = namespaces;
        let namespaces = registry;
        for (name, config) in namespaces_in {
            if name != DEFAULT_NAMESPACE {
                namespaces
                    .create(name, config.clone())
                    .map_err(|e| namespace_error(name, e))?;
            }
        }
        Ok(namespaces)
    }
}

/// Name the field as it is spelled in the file: `namespaces.<name>.<field>`.
fn namespace_error(name: &str, err: NamespaceError) -> ConfigError {
    match err {
        NamespaceError::InvalidConfig {
            field: "name",
            reason,
        } => ConfigError::Invalid {
            field: "namespaces".into(),
            reason: format!("bad name {reason}"),
        },
        NamespaceError::InvalidConfig { field, reason } => ConfigError::Invalid {
            field: format!("namespaces.{name}.{field}"),
            reason,
        },
        other => ConfigError::Invalid {
            field: format!("namespaces.{name}"),
            reason: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_str(toml: &str, overrides: Overrides) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("larder.toml");
        std::fs::write(&path, toml).unwrap();
        Config::load(Some(&path), overrides)
    }

    #[test]
    fn zero_configuration_uses_the_documented_ports() {
        let config = Config::load(None, Overrides::default()).unwrap();
        assert_eq!(config.resp_addr.to_string(), "127.0.0.1:6390");
        assert_eq!(config.http_addr.to_string(), "127.0.0.1:8390");
        assert_eq!(config.default_namespace(), NamespaceConfig::default());
    }

    #[test]
    fn overrides_beat_the_file() {
        let overrides = Overrides {
            http_addr: Some("127.0.0.1:9001".parse().unwrap()),
            default_ttl_secs: Some(7),
            ..Default::default()
        };
        let config = load_str(
            "http_addr = \"127.0.0.1:9000\"\nresp_addr = \"127.0.0.1:9100\"\n\
             [namespaces.default]\ncapacity_bytes = 33554432\n",
            overrides,
        )
        .unwrap();
        assert_eq!(config.http_addr.to_string(), "127.0.0.1:9001");
        assert_eq!(config.resp_addr.to_string(), "127.0.0.1:9100");
        let default = config.default_namespace();
        assert_eq!(default.capacity_bytes, 33554432);
        assert_eq!(default.default_ttl_secs, 7);
    }

    #[test]
    fn a_metrics_token_needs_an_operator_key_and_must_differ_from_it() {
        let dir = tempfile::tempdir().unwrap();
        let token_file = dir.path().join("metrics-token");
        std::fs::write(&token_file, "metrics-token-0123456789abcdef\n").unwrap();
        let with = |operator_key: Option<&str>| Overrides {
            operator_key: operator_key.map(str::to_string),
            metrics_token_file: Some(token_file.clone()),
            ..Default::default()
        };
        let err = Config::load(None, with(None)).unwrap_err().to_string();
        assert!(err.contains("needs authentication on"), "{err}");
        let err = Config::load(None, with(Some("metrics-token-0123456789abcdef")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("must differ"), "{err}");
        let config = Config::load(None, with(Some("operator-key-0123456789abcdef"))).unwrap();
        assert_eq!(
            config.metrics_token.map(|t| t.0).as_deref(),
            Some("metrics-token-0123456789abcdef"),
            "the file's newline is not part of the token"
        );
        std::fs::write(&token_file, "short").unwrap();
        let err = Config::load(None, with(Some("operator-key-0123456789abcdef")))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("metrics_token_file") && err.contains("at least"),
            "{err}"
        );
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            ("bogus = 1\n", "bogus"),
            ("http_addr = \"not an address\"\n", "http_addr"),
            ("max_body_bytes = \"big\"\n", "max_body_bytes"),
            ("log_level = \"[[[\"\n", "log_level"),
            (
                "[namespaces.s]\ncapacity_bytes = 10\n",
                "namespaces.s.capacity_bytes",
            ),
            ("[namespaces.s]\ncolour = 1\n", "colour"),
            ("[namespaces.\"bad name\"]\n", "namespaces"),
        ];
        for (toml, field) in cases {
            let err = load_str(toml, Overrides::default())
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(field),
                "{toml:?} gave {err:?}, which does not name {field}"
            );
        }
    }
}

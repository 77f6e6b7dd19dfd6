//! The command line: `larder [serve] [flags]`, `larder openapi`, and room for more verbs.
//!
//! `larder` with no subcommand is `larder serve`, and the serve flags are accepted at the top level
//! too (`larder --http-addr …`). Every flag has a `LARDER_*` environment variable; see `config`
//! for the precedence (flags > env > file > defaults).
//!
//! ## Adding a verb
//!
//! Add a variant to [`Command`] holding its clap `Args` (defined in the verb's own module), and an
//! arm in [`run`] calling that module's `run(args) -> ExitCode`.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use larder_runtime::PolicyRef;
use larder_runtime::persist::{Fsync, KeyRing};

use crate::config::{Config, LogFormat, Overrides};
use crate::server;

/// Exit code for a configuration that was refused (clap uses the same code for bad flags).
pub const EXIT_BAD_CONFIG: u8 = 2;
/// Prefix of the line `serve` prints on stdout once both ports are bound, for scripts and tests:
/// `larder ready resp_addr=127.0.0.1:6390 http_addr=127.0.0.1:8390`.
pub const READY_LINE_PREFIX: &str = "larder ready";

#[derive(Debug, Parser)]
#[command(
    name = "larder",
    version,
    about = "A programmable cache: Redis protocol, REST, pluggable eviction"
)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// `larder [flags]` means `larder serve [flags]`.
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a node: Redis protocol and HTTP (REST, /metrics, /openapi.json, /docs). The default.
    Serve(Box<ServeArgs>),
    /// Print the OpenAPI document of the REST API (the content of openapi/openapi.json).
    Openapi,
    Sim(crate::cli_sim::SimArgs),
    /// Upload policy plugins and attach them to namespaces (through a running node's API).
    Plugin(crate::cli_plugin::PluginArgs),
    /// Write a local CA and server and client certificates, to try TLS and mutual TLS.
    Certs(crate::tls::certs::CertsArgs),
    /// Print a new random encryption key (`<id>:<64 hex digits>`) for --encryption-key-file.
    Keygen {
        /// The key's id (1–65535); give each new key the next id, so files name the key they need.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
        id: u16,
    },
}

#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// TOML config file.
    #[arg(short, long, env = "LARDER_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Redis-protocol address [default: 127.0.0.1:6390].
    #[arg(long, env = "LARDER_RESP_ADDR", value_name = "IP:PORT")]
    pub resp_addr: Option<std::net::SocketAddr>,
    /// HTTP address: REST, /metrics, /openapi.json, /docs [default: 127.0.0.1:8390].
    #[arg(long, env = "LARDER_HTTP_ADDR", value_name = "IP:PORT")]
    pub http_addr: Option<std::net::SocketAddr>,
    /// Log line format [default: text].
    #[arg(long, env = "LARDER_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Log filter, RUST_LOG syntax (e.g. `info,larder=debug`); RUST_LOG is read after
    /// LARDER_LOG_LEVEL [default: info].
    #[arg(long, env = "LARDER_LOG_LEVEL", value_name = "FILTER")]
    pub log_level: Option<String>,
    /// Largest HTTP request body, in bytes [default: 16777216].
    #[arg(long, env = "LARDER_MAX_BODY_BYTES", value_name = "BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Capacity of the default namespace, in bytes [default: 268435456].
    #[arg(long, env = "LARDER_CAPACITY_BYTES", value_name = "BYTES")]
    pub capacity_bytes: Option<u64>,
    /// Largest key + value in the default namespace, in bytes [default: 1048576].
    #[arg(long, env = "LARDER_MAX_ITEM_SIZE", value_name = "BYTES")]
    pub max_item_size: Option<u64>,
    /// Default TTL of the default namespace in seconds; 0 = keys do not expire [default: 0].
    #[arg(long, env = "LARDER_DEFAULT_TTL_SECS", value_name = "SECS")]
    pub default_ttl_secs: Option<u64>,
    /// Eviction policy of the default namespace: adaptive, s3fifo, lru, sieve, wtinylfu, fifo or
    /// plugin:<id> [default: adaptive].
    #[arg(long, env = "LARDER_EVICTION", value_name = "POLICY")]
    pub eviction: Option<PolicyRef>,
    /// Data directory: the catalog (namespaces, plugins, alert rules) and data snapshots
    /// [default: ./larder-data].
    #[arg(long, env = "LARDER_DATA_DIR", value_name = "PATH")]
    pub data_dir: Option<PathBuf>,
    /// Keep everything in memory only: nothing is read from or written to disk.
    #[arg(long, env = "LARDER_NO_PERSIST", conflicts_with = "data_dir", value_parser = clap::builder::BoolishValueParser::new())]
    pub no_persist: bool,
    /// Take a snapshot this often when something changed, in seconds; 0: only on SAVE, BGSAVE and
    /// shutdown [default: 60].
    #[arg(long, env = "LARDER_SNAPSHOT_EVERY_SECS", value_name = "SECS")]
    pub snapshot_every_secs: Option<u64>,
    /// Move an unreadable catalog, module or snapshot aside (`<file>.bad-<time>`) and start without
    /// it, instead of refusing to start.
    #[arg(long, env = "LARDER_DISCARD_BAD_DATA", value_parser = clap::builder::BoolishValueParser::new())]
    pub discard_bad_data: bool,
    /// Log every write to an append-only log, replayed after the snapshot at start
    /// [default: false].
    #[arg(long, env = "LARDER_APPENDONLY", value_name = "BOOL", value_parser = clap::builder::BoolishValueParser::new())]
    pub appendonly: Option<bool>,
    /// When the append-only log is synced: always (a write is answered once it is on disk),
    /// everysec or no [default: everysec].
    #[arg(long, env = "LARDER_APPENDFSYNC", value_name = "POLICY")]
    pub appendfsync: Option<Fsync>,
    /// Encrypt every file in the data directory: `<id>:<64 hex digits>`, several separated by
    /// commas, the first one current (`larder keygen` makes one). Prefer the key file.
    #[arg(
        long,
        env = "LARDER_ENCRYPTION_KEY",
        value_name = "KEYS",
        hide_env_values = true
    )]
    pub encryption_key: Option<String>,
    /// A file holding the encryption keys, one `<id>:<hex>` per line, the current key first.
    #[arg(long, env = "LARDER_ENCRYPTION_KEY_FILE", value_name = "PATH")]
    pub encryption_key_file: Option<PathBuf>,
    /// Run as a cluster member with its cluster bus (raft, joins, forwarding) on this address;
    /// the cluster state lives in `<data-dir>/cluster` (see docs/cluster.md).
    #[arg(long, env = "LARDER_BUS_ADDR", value_name = "HOST:PORT")]
    pub bus_addr: Option<SocketAddr>,
    /// Form a new cluster of this node (first start only; needs --bus-addr).
    #[arg(long, requires = "bus_addr", conflicts_with = "join")]
    pub cluster_init: bool,
    /// Join the cluster one of whose members has its bus on this address (first start only).
    #[arg(
        long,
        env = "LARDER_JOIN",
        value_name = "HOST:PORT",
        requires = "bus_addr"
    )]
    pub join: Option<String>,
    /// In a cluster, answer a command for a slot another node owns with `-MOVED` (for
    /// cluster-aware clients) instead of running it there and relaying the answer.
    #[arg(long, env = "LARDER_CLUSTER_REDIRECT", requires = "bus_addr")]
    pub cluster_redirect: bool,
    /// Copies of every slot kept on other members besides its owner (with --cluster-init; the
    /// cluster keeps the number it was formed with). A write is acknowledged only once every
    /// replica of its slot has it, so a failed owner's slots pass to a replica without loss.
    #[arg(
        long,
        env = "LARDER_CLUSTER_REPLICAS",
        value_name = "N",
        default_value_t = 0,
        requires = "cluster_init",
        value_parser = clap::value_parser!(u8).range(0..=2)
    )]
    pub cluster_replicas: u8,
    /// How long the raft leader goes without an answer from a member before failing it over.
    #[arg(
        long,
        env = "LARDER_CLUSTER_NODE_TIMEOUT_MS",
        value_name = "MS",
        default_value_t = 5000,
        requires = "bus_addr",
        value_parser = clap::value_parser!(u64).range(200..=600_000)
    )]
    pub cluster_node_timeout_ms: u64,
    /// The operator key: turns authentication on for both ports (needed to listen beyond
    /// loopback). Prefer the key file.
    #[arg(
        long,
        env = "LARDER_OPERATOR_KEY",
        value_name = "KEY",
        hide_env_values = true
    )]
    pub operator_key: Option<String>,
    /// A file holding the operator key.
    #[arg(long, env = "LARDER_OPERATOR_KEY_FILE", value_name = "PATH")]
    pub operator_key_file: Option<PathBuf>,
    /// A file holding a bearer token that reads `/metrics` and nothing else (for a Prometheus
    /// scraper).
    #[arg(long, env = "LARDER_METRICS_TOKEN_FILE", value_name = "PATH")]
    pub metrics_token_file: Option<PathBuf>,
    /// TLS: the server certificate chain (PEM). `larder certs` makes one to try.
    #[arg(long, env = "LARDER_TLS_CERT_FILE", value_name = "PATH")]
    pub tls_cert_file: Option<PathBuf>,
    /// TLS: the server's private key (PEM).
    #[arg(long, env = "LARDER_TLS_KEY_FILE", value_name = "PATH")]
    pub tls_key_file: Option<PathBuf>,
    /// TLS: the CA client certificates must chain to (PEM).
    #[arg(long, env = "LARDER_TLS_CA_FILE", value_name = "PATH")]
    pub tls_ca_file: Option<PathBuf>,
    /// TLS: client certificates: none, optional or required [default: none].
    #[arg(long, env = "LARDER_TLS_CLIENT_AUTH", value_enum)]
    pub tls_client_auth: Option<crate::tls::ClientAuth>,
    /// A Redis-protocol port with TLS, beside the plain one (Redis's tls-port).
    #[arg(long, env = "LARDER_TLS_RESP_ADDR", value_name = "IP:PORT")]
    pub tls_resp_addr: Option<SocketAddr>,
    /// Serve the Redis protocol on the TLS port only: no plain port is bound (--resp-addr is
    /// unused).
    #[arg(long, env = "LARDER_TLS_RESP_ONLY", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    pub tls_resp_only: Option<bool>,
    /// Serve the HTTP port (REST, dashboard, metrics) with TLS.
    #[arg(long, env = "LARDER_TLS_HTTP", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    pub tls_http: Option<bool>,
    /// Mutual TLS on the cluster bus: this member's certificate (server and client usage).
    #[arg(
        long,
        env = "LARDER_BUS_TLS_CERT_FILE",
        value_name = "PATH",
        requires = "bus_addr"
    )]
    pub bus_tls_cert_file: Option<PathBuf>,
    /// Mutual TLS on the cluster bus: this member's private key.
    #[arg(
        long,
        env = "LARDER_BUS_TLS_KEY_FILE",
        value_name = "PATH",
        requires = "bus_addr"
    )]
    pub bus_tls_key_file: Option<PathBuf>,
    /// Mutual TLS on the cluster bus: the cluster's CA, which signs member certificates only.
    #[arg(
        long,
        env = "LARDER_BUS_TLS_CA_FILE",
        value_name = "PATH",
        requires = "bus_addr"
    )]
    pub bus_tls_ca_file: Option<PathBuf>,
}

impl ServeArgs {
    fn overrides(&self) -> Overrides {
        Overrides {
            resp_addr: self.resp_addr,
            http_addr: self.http_addr,
            log_format: self.log_format,
            log_level: self
                .log_level
                .clone()
                .or_else(|| std::env::var("RUST_LOG").ok()),
            max_body_bytes: self.max_body_bytes,
            default_capacity_bytes: self.capacity_bytes,
            default_max_item_size: self.max_item_size,
            default_ttl_secs: self.default_ttl_secs,
            default_eviction: self.eviction.clone(),
            data_dir: self.data_dir.clone(),
            no_persist: self.no_persist,
            snapshot_every_secs: self.snapshot_every_secs,
            discard_bad_data: self.discard_bad_data,
            appendonly: self.appendonly,
            appendfsync: self.appendfsync,
            encryption_key: self.encryption_key.clone(),
            encryption_key_file: self.encryption_key_file.clone(),
            bus_addr: self.bus_addr,
            cluster_init: self.cluster_init,
            join: self.join.clone(),
            cluster_redirect: self.cluster_redirect,
            cluster_replicas: self.cluster_replicas,
            cluster_node_timeout_ms: Some(self.cluster_node_timeout_ms),
            operator_key: self.operator_key.clone(),
            operator_key_file: self.operator_key_file.clone(),
            metrics_token_file: self.metrics_token_file.clone(),
            tls_cert_file: self.tls_cert_file.clone(),
            tls_key_file: self.tls_key_file.clone(),
            tls_ca_file: self.tls_ca_file.clone(),
            tls_client_auth: self.tls_client_auth,
            tls_resp_addr: self.tls_resp_addr,
            tls_resp_only: self.tls_resp_only,
            tls_http: self.tls_http,
            bus_tls_cert_file: self.bus_tls_cert_file.clone(),
            bus_tls_key_file: self.bus_tls_key_file.clone(),
            bus_tls_ca_file: self.bus_tls_ca_file.clone(),
        }
    }
}

/// Parse the command line and run the chosen verb.
pub fn main() -> ExitCode {
    run(Cli::parse())
}

pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        None => serve(cli.serve),
        Some(Command::Serve(args)) => serve(*args),
        Some(Command::Openapi) => print_openapi(),
        Some(Command::Sim(args)) => crate::cli_sim::run(args),
        Some(Command::Plugin(args)) => crate::cli_plugin::run(args),
        Some(Command::Certs(args)) => crate::tls::certs::run(args),
        Some(Command::Keygen { id }) => match KeyRing::generate_text(id) {
            Ok(key) => {
                println!("{key}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("larder: cannot make a key: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

fn print_openapi() -> ExitCode {
    let mut out = std::io::stdout().lock();
    match out
        .write_all(crate::rest::openapi::document_json().as_bytes())
        .and_then(|()| out.flush())
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("larder: cannot write the OpenAPI document: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(args: ServeArgs) -> ExitCode {
    let config = match Config::load(args.config.as_deref(), args.overrides()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("larder: {e}");
            return ExitCode::from(EXIT_BAD_CONFIG);
        }
    };
    init_logging(&config);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("larder: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve_until_signal(&config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("larder: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve_until_signal(config: &Config) -> anyhow::Result<()> {
    // Install the handlers before the ready line: a supervisor may signal as soon as it reads it.
    let mut signals = Termination::install()?;
    let running = server::start(config).await?;
    print_banner(&running, config);
    let bus_tls = running
        .state
        .cluster
        .as_ref()
        .and_then(|c| c.bus_tls.clone());
    if running.state.tls.is_some() || bus_tls.is_some() {
        reload_tls_on_sighup(running.state.tls.clone(), bus_tls)?;
    }
    let trigger = running.shutdown_trigger();
    tokio::spawn(async move {
        signals.recv().await;
        tracing::info!("shutting down: finishing requests in flight (signal again to force)");
        trigger.trigger();
        signals.recv().await;
        tracing::warn!("second signal: exiting without waiting");
        std::process::exit(1);
    });
    running.wait().await
}

/// SIGHUP reloads the TLS certificates, keys and CAs of the ports and of the cluster bus (Unix
/// only). Each reload stands alone: one whose files do not load keeps its old certificate.
fn reload_tls_on_sighup(
    tls: Option<std::sync::Arc<crate::tls::ServerTls>>,
    bus_tls: Option<crate::tls::BusTlsLive>,
) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hangups = signal(SignalKind::hangup())?;
        tokio::spawn(async move {
            while hangups.recv().await.is_some() {
                let (tls, bus_tls) = (tls.clone(), bus_tls.clone());
                let reloaded = tokio::task::spawn_blocking(move || {
                    (tls.map(|t| t.reload()), bus_tls.map(|b| b.reload()))
                })
                .await;
                match reloaded {
                    Ok((ports, bus)) => {
                        if let Some(Err(e)) = ports {
                            tracing::error!(error = %e, "TLS reload failed; the old certificate still serves")
                        }
                        if let Some(Err(e)) = bus {
                            tracing::error!(error = %e, "cluster bus TLS reload failed; the old certificate still serves")
                        }
                    }
                    Err(e) => tracing::error!(error = %e, "TLS reload panicked"),
                }
            }
        });
    }
    #[cfg(not(unix))]
    let _ = (tls, bus_tls);
    Ok(())
}

/// Where everything is, for a human, plus one line for scripts.
fn print_banner(running: &server::RunningServer, config: &Config) {
    let (resp, http, bus) = (running.resp_addr, running.http_addr, running.bus_addr);
    let https = config.tls.as_ref().is_some_and(|t| t.http);
    let base = format!("{}://{http}", if https { "https" } else { "http" });
    let tls_resp = running.tls_resp_addr.map_or(String::new(), |a| {
        format!(
            "  Redis over TLS  {a}   (redis-cli --tls --cacert <ca.pem> -h {} -p {})\n",
            a.ip(),
            a.port()
        )
    });
    let auth = if config.operator_key.is_some() {
        "  authentication  on: operator key; API keys at /v1/api-keys\n"
    } else {
        "  authentication  off (loopback only; set an operator key to serve beyond it)\n"
    };
    let data = match &config.persist {
        Some(p) => {
            let dir = std::path::absolute(&p.data_dir).unwrap_or_else(|_| p.data_dir.clone());
            format!("{} (snapshot on shutdown, SAVE/BGSAVE", dir.display())
                + &match p.snapshot_every.as_secs() {
                    0 => ")".to_string(),
                    s => format!(", every {s} s when changed)"),
                }
                + &match p.append_log {
                    Some(f) => format!(", append-only log fsync {}", f.as_str()),
                    None => String::new(),
                }
                + &match &p.encryption {
                    Some(k) => format!(", encrypted with key id {}", k.0.current_id()),
                    None => String::new(),
                }
        }
        None => "none: memory only (--no-persist)".to_string(),
    };
    let plain = if config.plain_resp_off() {
        "  Redis protocol  TLS only (no plain port)\n".to_string()
    } else {
        format!(
            "  Redis protocol  {resp}   (redis-cli -h {} -p {})\n",
            resp.ip(),
            resp.port()
        )
    };
    let mut out = std::io::stdout().lock();
    // stdout may be closed (e.g. piped into a finished `head`); serving matters more than the banner.
    let _ = writeln!(
        out,
        "larder {version} serving\n\
         {plain}\
         {tls_resp}\
         \x20 dashboard       {base}/\n\
         \x20 REST API        {base}/v1/namespaces\n\
         \x20 metrics         {base}/metrics\n\
         \x20 OpenAPI         {base}/openapi.json\n\
         \x20 Swagger UI      {base}/docs\n\
         \x20 data directory  {data}\n\
         {auth}\
         {cluster}\
         {READY_LINE_PREFIX} resp_addr={resp} http_addr={http}{bus_field}{tls_field}",
        tls_field = running
            .tls_resp_addr
            .map_or(String::new(), |a| format!(" tls_resp_addr={a}")),
        cluster = bus.map_or(String::new(), |b| format!("  cluster bus     {b}\n")),
        bus_field = bus.map_or(String::new(), |b| format!(" bus_addr={b}")),
        version = env!("CARGO_PKG_VERSION"),
    );
    let _ = out.flush();
}

/// SIGTERM or SIGINT (Ctrl-C) on Unix; Ctrl-C elsewhere. Registered when installed, so no
/// signal is missed between installing and waiting.
struct Termination {
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
}

impl Termination {
    fn install() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                terminate: signal(SignalKind::terminate())?,
                interrupt: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    async fn recv(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.terminate.recv() => {}
            _ = self.interrupt.recv() => {}
        }
        #[cfg(not(unix))]
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

fn init_logging(config: &Config) {
    use tracing_subscriber::EnvFilter;
    // Config::load validated the filter; fall back to `info` rather than fail if it changes.
    let filter = EnvFilter::try_new(&config.log_level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let installed = match config.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    if let Err(e) = installed {
        eprintln!("larder: logging not initialised: {e}");
    }
}

//! Starting and stopping a node: read the data directory, bind both ports, spawn the servers, the
//! active-expiry task and the snapshot timer, and shut everything down gracefully on request (with
//! a last snapshot once the servers have stopped).
//!
//! [`start`] is what the binary runs and what integration tests call on `127.0.0.1:0`: it returns
//! once both ports are bound, with the addresses actually bound, so a test can connect at once.
//!
//! Shutdown is one watch channel: [`RunningServer::trigger_shutdown`] (or a [`ShutdownTrigger`],
//! which the binary fires on SIGTERM / Ctrl-C) tells both servers to stop accepting; each finishes
//! the requests in flight, then [`RunningServer::wait`] returns.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use larder_runtime::PluginHost;
use larder_runtime::alert::AlertEngine;
use larder_runtime::persist::snapshot;

use crate::auth::Auth;
use crate::config::Config;
use crate::metrics::ServerMetrics;
use crate::persistence::{self, Persistence};
use crate::rest;
use crate::state::AppState;
use crate::tls::ServerTls;

/// How often the active-expiry task sweeps for expired keys.
pub const EXPIRY_INTERVAL: Duration = Duration::from_millis(100);

/// A node that is serving. Dropping it without [`RunningServer::shutdown`] also stops the
/// servers (the shutdown channel closes), but then nobody waits for in-flight requests.
pub struct RunningServer {
    /// Where the Redis-protocol server listens (the real port when configured with port 0): the
    /// plain port, or the TLS port when the Redis protocol is served with TLS only.
    pub resp_addr: SocketAddr,
    /// Where the HTTP server listens.
    pub http_addr: SocketAddr,
    /// Where the cluster bus listens, for a cluster member.
    pub bus_addr: Option<SocketAddr>,
    /// Where the Redis protocol with TLS listens, when configured.
    pub tls_resp_addr: Option<SocketAddr>,
    /// The state both servers share: tests can inspect namespaces and metrics directly.
    pub state: AppState,
    shutdown: watch::Sender<bool>,
    resp: JoinHandle<std::io::Result<()>>,
    http: JoinHandle<std::io::Result<()>>,
    expiry: JoinHandle<()>,
    /// A cluster member's background tasks: the sweep of keys in slots it lost, the slot copies
    /// and the namespace reconciler.
    slot_sweeps: Option<[JoinHandle<()>; 3]>,
    alerting: JoinHandle<()>,
    snapshots: Option<JoinHandle<()>>,
}

/// A cloneable handle that asks a [`RunningServer`] to shut down gracefully.
#[derive(Clone)]
pub struct ShutdownTrigger(watch::Sender<bool>);

impl ShutdownTrigger {
    pub fn trigger(&self) {
        self.0.send_replace(true);
    }
}

/// What the `SHUTDOWN` command needs: a way to stop the node from inside it, and whether the
/// final snapshot is skipped (`SHUTDOWN NOSAVE`). A channel of its own, not a clone of the
/// node's shutdown sender, so dropping a [`RunningServer`] still stops its servers.
pub struct ShutdownControl {
    requested: watch::Sender<bool>,
    nosave: std::sync::atomic::AtomicBool,
}

impl ShutdownControl {
    fn new() -> Self {
        Self {
            requested: watch::channel(false).0,
            nosave: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Stop accepting connections and shut down as on SIGTERM; `save: false` skips the
    /// final data snapshot.
    pub fn request(&self, save: bool) {
        if !save {
            self.nosave
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        self.requested.send_replace(true);
    }

    fn skips_save(&self) -> bool {
        self.nosave.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Bind the cluster bus and enter the cluster (form it, join it, or resume membership).
async fn start_cluster(
    config: &crate::config::ClusterConfig,
    data_dir: &std::path::Path,
    resp: SocketAddr,
    http: SocketAddr,
    namespaces: &Arc<larder_runtime::Namespaces>,
    persistence: Option<Arc<persistence::Persistence>>,
    auth: Option<Arc<Auth>>,
) -> anyhow::Result<crate::state::Cluster> {
    use larder_cluster::{ClusterNode, ClusterOptions, Member, Start};
    let bus = TcpListener::bind(config.bus_addr)
        .await
        .with_context(|| format!("cannot listen for the cluster bus on {}", config.bus_addr))?;
    let advertise = Member {
        bus: bus.local_addr()?.to_string(),
        resp: resp.to_string(),
        http: http.to_string(),
    };
    let start = match (&config.join, config.init) {
        (Some(via), _) => Some(Start::Join(via.clone())),
        (None, true) => Some(Start::Init),
        (None, false) => None,
    };
    let mut options = ClusterOptions::new(data_dir.join("cluster"), advertise, start);
    options.replicas = config.replicas;
    options.node_timeout = config.node_timeout;
    let bus_tls = match &config.tls {
        Some(t) => Some(crate::tls::BusTlsLive {
            live: crate::tls::bus_tls(t).context("cannot load the cluster bus's TLS files")?,
            config: t.clone(),
        }),
        None => None,
    };
    options.tls = bus_tls.as_ref().map(|t| t.live.clone());
    let node = ClusterNode::start(options, bus)
        .await
        .context("cannot enter the cluster")?;
    tracing::info!(node = %format_args!("{:016x}", node.id()), bus = %node.bus_addr(), mode = ?config.mode, "cluster member");
    // A write waits for its replicas for longer than the leader takes to fail a silent one, so
    // a dead replica delays writes (until it is dropped from its slots) rather than failing them.
    let wait = config.node_timeout + Duration::from_secs(3);
    let replication = crate::replication::Replication::start(node.clone(), namespaces, wait);
    node.set_module_source(Arc::new(crate::cluster_plugins::ModulesHere(Arc::clone(
        namespaces.plugins(),
    ))));
    let shared_namespaces = Arc::new(crate::cluster_namespaces::SharedNamespaces::new(
        node.clone(),
        Arc::clone(namespaces),
        persistence,
        auth,
    ));
    Ok(crate::state::Cluster {
        node,
        mode: config.mode,
        replication,
        bus_tls,
        namespaces: shared_namespaces,
    })
}

/// Bind both ports, spawn the RESP and HTTP servers and the active-expiry task.
///
/// Fails if the config describes invalid namespaces or a port cannot be bound.
pub async fn start(config: &Config) -> anyhow::Result<RunningServer> {
    // Everything on disk is read and checked before anything is built from it.
    let mut loaded = match &config.persist {
        Some(p) => Some(Persistence::read(p)?),
        None => None,
    };
    let catalog = loaded.as_ref().and_then(|l| l.catalog.as_ref());
    let plugins = Arc::new(PluginHost::default());
    if let Some(c) = catalog {
        persistence::restore_plugins(&plugins, c)?;
    }
    let namespaces = Arc::new(Config::build_namespaces_from(
        &persistence::merged_namespaces(&config.namespaces, catalog),
        plugins,
    )?);
    if let Some(c) = catalog {
        persistence::restore_dictionaries(&namespaces, c)?;
    }
    if let Some(data) = loaded.as_mut().and_then(|l| l.snapshot.take()) {
        let saved_at = data.saved_at_unix_ms;
        let summary = snapshot::restore(&namespaces, data);
        tracing::info!(
            restored = summary.restored,
            expired_while_down = summary.expired,
            refused = summary.refused,
            saved_at_unix_ms = saved_at,
            "snapshot restored"
        );
        for name in &summary.missing_namespaces {
            tracing::warn!(namespace = %name, "the snapshot holds keys of a namespace that no longer exists; dropped");
        }
    }
    let mut replayed_logs = false;
    if let Some(logs) = loaded.as_mut().map(|l| std::mem::take(&mut l.logs))
        && !logs.is_empty()
    {
        replayed_logs = true;
        let files = logs.len();
        let summary = Persistence::replay_logs(&namespaces, logs);
        tracing::info!(
            files,
            records = summary.records,
            skipped_for_deleted_namespaces = summary.skipped,
            refused = summary.refused,
            "append-only log replayed"
        );
    }
    let lock = loaded.as_mut().and_then(|l| l.lock.take());
    let next_generation = loaded.as_ref().map_or(1, |l| l.next_generation);
    let persistence = match (config.persist.clone(), lock) {
        (Some(p), Some(lock)) => Some(Arc::new(Persistence::new(
            p,
            Arc::clone(&namespaces),
            lock,
            next_generation,
        )?)),
        _ => None,
    };
    if let Some(p) = persistence.as_ref().filter(|_| replayed_logs) {
        p.mark_unsaved();
    }
    let metrics = Arc::new(ServerMetrics::new(Arc::clone(&namespaces)));
    let saved_api_keys = catalog_api_keys(loaded.as_ref());
    let auth = match &config.operator_key {
        Some(key) => {
            let auth = Auth::with_settings(
                &key.0,
                config.oidc.clone(),
                config.metrics_token.as_ref().map(|t| t.0.as_str()),
                config.auth_limits.clone(),
            );
            auth.sessions().set_ttl(config.session_ttl);
            if let Some(jwt) = auth.jwt() {
                jwt.prime().await;
            }
            auth.tenants()
                .restore(&saved_api_keys.tenants)
                .context("the catalog's tenants cannot be read")?;
            auth.keys()
                .restore(&saved_api_keys.api_keys, auth.tenants())
                .context("the catalog's API keys cannot be read")?;
            auth.users()
                .restore(&saved_api_keys.users, auth.tenants())
                .context("the catalog's users cannot be read")?;
            if let Some(p) = &persistence {
                p.set_auth(Arc::clone(&auth));
            }
            Some(auth)
        }
        None => {
            if !saved_api_keys.api_keys.is_empty()
                || !saved_api_keys.tenants.is_empty()
                || !saved_api_keys.users.is_empty()
            {
                tracing::warn!(
                    keys = saved_api_keys.api_keys.len(),
                    tenants = saved_api_keys.tenants.len(),
                    users = saved_api_keys.users.len(),
                    "authentication is off (no operator key): the catalog's API keys, tenants and users are kept but not used"
                );
            }
            if let Some(p) = &persistence {
                p.keep_dormant_api_keys(saved_api_keys);
            }
            None
        }
    };
    let tls = match &config.tls {
        Some(t) => Some(ServerTls::load(t).context("cannot load the TLS files")?),
        None => None,
    };

    let resp_listener = if config.plain_resp_off() {
        None
    } else {
        Some(TcpListener::bind(config.resp_addr).await.with_context(|| {
            format!(
                "cannot listen for the Redis protocol on {}",
                config.resp_addr
            )
        })?)
    };
    let http_listener = TcpListener::bind(config.http_addr)
        .await
        .with_context(|| format!("cannot listen for HTTP on {}", config.http_addr))?;
    let tls_resp_listener =
        match config.tls.as_ref().and_then(|t| t.resp_addr) {
            Some(addr) => Some(TcpListener::bind(addr).await.with_context(|| {
                format!("cannot listen for the Redis protocol with TLS on {addr}")
            })?),
            None => None,
        };
    let http_addr = http_listener.local_addr()?;
    let tls_resp_addr = match &tls_resp_listener {
        Some(l) => Some(l.local_addr()?),
        None => None,
    };
    // TLS only: the TLS port is where the Redis protocol is (and what a cluster advertises).
    let resp_addr = match (&resp_listener, tls_resp_addr) {
        (Some(l), _) => l.local_addr()?,
        (None, Some(tls)) => tls,
        (None, None) => anyhow::bail!("no port serves the Redis protocol"),
    };
    let cluster = match (&config.cluster, &config.persist) {
        (Some(c), Some(p)) => Some(
            start_cluster(
                c,
                &p.data_dir,
                resp_addr,
                http_addr,
                &namespaces,
                persistence.clone(),
                auth.clone(),
            )
            .await?,
        ),
        _ => None,
    };
    if let Some(c) = &cluster {
        metrics.register_cluster(c);
    }
    let bus_addr = cluster.as_ref().map(|c| c.node.bus_addr());
    let shutdown_control = Arc::new(ShutdownControl::new());
    let alerts = Arc::new(
        AlertEngine::new(&config.alerts, Arc::clone(&namespaces))
            .context("invalid [alerts] config")?,
    );
    let state = AppState {
        alerts: Some(Arc::clone(&alerts)),
        namespaces: Arc::clone(&namespaces),
        metrics,
        persistence: persistence.clone(),
        cluster,
        auth: auth.clone(),
        tls: tls.clone(),
        shutdown: Some(Arc::clone(&shutdown_control)),
    };

    let (shutdown, _) = watch::channel(false);
    let requested = || shutdown_control.requested.subscribe();
    let resp = tokio::spawn(crate::resp::serve(
        resp_listener,
        tls_resp_listener,
        state.clone(),
        config
            .proxy_protocol
            .then(|| config.auth_limits.trusted_proxies.clone()),
        shutdown_signal(shutdown.subscribe(), requested()),
    ));
    persistence::restore_alert_rules(&alerts, loaded.as_ref().and_then(|l| l.catalog.as_ref()));
    persistence::restore_experiments(
        &state.namespaces,
        loaded.as_ref().and_then(|l| l.catalog.as_ref()),
    );
    let mut app = rest::router(state.clone(), config.max_body_bytes)
        .merge(rest::alerts::router(
            Arc::clone(&alerts),
            config.max_body_bytes,
        ))
        .merge(rest::dashboard::router());
    let mut snapshots = None;
    if let Some(p) = &persistence {
        p.set_alerts(Arc::clone(&alerts));
        // The first catalog is written at once, so the data directory describes this node from
        // its first second (and a config-file namespace is in it before anyone changes it).
        let first = Arc::clone(p);
        tokio::task::spawn_blocking(move || first.save_catalog())
            .await
            .context("the catalog writer failed")??;
        app = app.layer(axum::middleware::from_fn_with_state(
            Arc::clone(p),
            persistence::save_catalog_after_admin_changes,
        ));
        if let Some(log) = p.sync_log() {
            app = app.layer(axum::middleware::from_fn_with_state(
                Arc::clone(log),
                persistence::wait_for_log_after_writes,
            ));
        }
        snapshots = Some(tokio::spawn(Arc::clone(p).run_periodic()));
    }
    if state.cluster.is_some() {
        // Inside authentication, outside the catalog and log writers: a forwarded request runs
        // them on its owner.
        app = app.layer(axum::middleware::from_fn_with_state(
            state.clone(),
            rest::cluster_forward::route_to_owner,
        ));
    }
    if state.cluster.is_some() {
        // Inside authentication (only a change that was allowed is shared), outside the
        // catalog writer (an undone change is saved again).
        app = app.layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::cluster_records::share_record_changes,
        ));
    }
    if let Some(auth) = &auth {
        // Outermost, so nothing (not even the catalog writer) runs for a refused request.
        app = app.layer(axum::middleware::from_fn_with_state(
            rest::auth::Gate {
                auth: Arc::clone(auth),
                refusals: state.metrics.auth_refusals.http.clone(),
                cluster: state.cluster.as_ref().map(|c| c.node.clone()),
            },
            rest::auth::require_credentials,
        ));
    }
    let http_shutdown = shutdown_signal(shutdown.subscribe(), requested());
    let http = match tls.clone().filter(|t| t.config().http) {
        Some(tls) => {
            let listener = crate::tls::TlsListener::new(http_listener, tls)?;
            tokio::spawn(async move {
                axum::serve(
                    listener,
                    app.into_make_service_with_connect_info::<crate::rest::extract::ClientAddr>(),
                )
                .with_graceful_shutdown(http_shutdown)
                .await
            })
        }
        None => tokio::spawn(async move {
            // The peer's address travels with each request: failed credentials are throttled,
            // and failed dashboard logins logged, per client address.
            axum::serve(
                http_listener,
                app.into_make_service_with_connect_info::<crate::rest::extract::ClientAddr>(),
            )
            .with_graceful_shutdown(http_shutdown)
            .await
        }),
    };
    let expiry = tokio::spawn(larder_runtime::expiry::run_active_expiry(
        namespaces,
        EXPIRY_INTERVAL,
    ));
    if let Some(cluster) = &state.cluster {
        alerts.set_cluster_probe(crate::cluster_alerts::probe(cluster.clone()));
        cluster.namespaces.set_alerts(Arc::clone(&alerts));
    }
    let alerting = tokio::spawn(Arc::clone(&alerts).run());
    let slot_sweeps = state.cluster.clone().map(|cluster| {
        let copies = tokio::spawn(crate::slot_sync::run(
            Arc::clone(&cluster.replication),
            Arc::clone(&state.namespaces),
        ));
        let reconciler = tokio::spawn(crate::cluster_namespaces::run(Arc::clone(
            &cluster.namespaces,
        )));
        let sweeps = tokio::spawn(crate::cluster_cleanup::run(
            cluster,
            Arc::clone(&state.namespaces),
        ));
        [sweeps, copies, reconciler]
    });
    tracing::info!(%resp_addr, %http_addr, "larder started");
    Ok(RunningServer {
        resp_addr,
        http_addr,
        bus_addr,
        tls_resp_addr,
        state,
        shutdown,
        resp,
        http,
        expiry,
        slot_sweeps,
        alerting,
        snapshots,
    })
}

/// The API keys the catalog on disk records (none without one).
fn catalog_api_keys(loaded: Option<&persistence::Loaded>) -> persistence::DormantAuth {
    loaded
        .and_then(|l| l.catalog.as_ref())
        .map(|c| persistence::DormantAuth {
            api_keys: c.catalog.api_keys.clone(),
            tenants: c.catalog.tenants.clone(),
            users: c.catalog.users.clone(),
        })
        .unwrap_or_default()
}

/// Resolves when shutdown is triggered, or when every sender of `rx` is gone, or when a
/// `SHUTDOWN` command asks for it (`requested`; its sender going away is no request).
async fn shutdown_signal(mut rx: watch::Receiver<bool>, mut requested: watch::Receiver<bool>) {
    let asked = async move {
        if requested.wait_for(|&stop| stop).await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        _ = rx.wait_for(|&stop| stop) => {}
        () = asked => {}
    }
}

impl RunningServer {
    /// A handle that can trigger shutdown from elsewhere (a signal handler, another task).
    pub fn shutdown_trigger(&self) -> ShutdownTrigger {
        ShutdownTrigger(self.shutdown.clone())
    }

    /// Stop accepting connections; in-flight requests still finish. Returns at once.
    pub fn trigger_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    /// Wait until both servers have stopped (after a shutdown was triggered, or because one of
    /// them failed, which shuts the other down too). Returns the first server error.
    pub async fn wait(self) -> anyhow::Result<()> {
        let RunningServer {
            shutdown,
            resp,
            http,
            expiry,
            slot_sweeps,
            alerting,
            snapshots,
            state,
            ..
        } = self;
        let mut first_error = None;
        let mut record =
            |name: &str, outcome: Result<std::io::Result<()>, tokio::task::JoinError>| {
                let failure = match outcome {
                    Ok(Ok(())) => return,
                    Ok(Err(e)) => {
                        anyhow::Error::new(e).context(format!("the {name} server failed"))
                    }
                    Err(e) => anyhow::Error::new(e)
                        .context(format!("the {name} server task ended abnormally")),
                };
                tracing::error!(error = format!("{failure:#}"), "server stopped");
                // One server down means the node is not serving as configured: stop the other too.
                shutdown.send_replace(true);
                first_error.get_or_insert(failure);
            };
        tokio::pin!(resp, http);
        tokio::select! {
            outcome = &mut resp => { record("RESP", outcome); record("HTTP", http.await); }
            outcome = &mut http => { record("HTTP", outcome); record("RESP", resp.await); }
        }
        if let Some(cluster) = &state.cluster {
            cluster.replication.shutdown();
            cluster.node.shutdown().await;
        }
        expiry.abort();
        for task in slot_sweeps.iter().flatten() {
            task.abort();
        }
        alerting.abort();
        if let Some(timer) = snapshots {
            timer.abort();
        }
        // Both servers have stopped: nothing writes any more, so this snapshot is the last word
        // (unless SHUTDOWN NOSAVE said to skip it).
        let save_data = !state.shutdown.as_ref().is_some_and(|c| c.skips_save());
        if let Some(p) = state.persistence {
            let saved = tokio::task::spawn_blocking(move || {
                p.save_catalog()?;
                let saved = if save_data {
                    p.save_if_changed().map(drop)
                } else {
                    tracing::warn!(
                        "SHUTDOWN NOSAVE: no final snapshot; changes since the last one survive only in an append log"
                    );
                    Ok(())
                };
                p.close_log();
                saved
            })
            .await;
            match saved {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    let failure = anyhow::Error::new(e).context("the shutdown snapshot failed");
                    tracing::error!(error = format!("{failure:#}"), "data not saved");
                    first_error.get_or_insert(failure);
                }
                Err(e) => {
                    first_error.get_or_insert(
                        anyhow::Error::new(e).context("the shutdown snapshot panicked"),
                    );
                }
            }
        }
        tracing::info!("larder stopped");
        first_error.map_or(Ok(()), Err)
    }

    /// Trigger shutdown and wait for it to complete.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.trigger_shutdown();
        self.wait().await
    }
}

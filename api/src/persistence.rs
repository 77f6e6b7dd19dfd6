//! The node's data directory at run time (the formats are `larder_runtime::persist`).
//!
//! - **At start** ([`Persistence::read`]): lock the directory (one node per data directory,
//!   see `data_dir_lock`), read the catalog and the snapshot, check both whole,
//!   then rebuild namespaces, plugins and alert rules from the catalog and put the keys back. A
//!   file that is corrupt, truncated or foreign stops startup with a message naming it — unless
//!   the operator passed `--discard-bad-data`, which moves the file aside (`<name>.bad-<unix
//!   time>`, nothing is deleted) and starts without it.
//! - **Catalog**: saved after every successful admin change, before the response goes out, so a
//!   client that saw `2xx` has its change on disk ([`save_catalog_after_admin_changes`]).
//! - **Snapshots**: on `SAVE` (the caller waits), `BGSAVE` (a background thread), every
//!   `snapshot_every` when something changed, and at graceful shutdown. One writer at a time.
//!   Each rotates the append-only log first and deletes the log files it makes redundant.
//! - **Append-only log** (`appendonly`): every namespace's store reports its changes to it; at
//!   start the logs from the snapshot's generation on are replayed after the snapshot. With
//!   `appendfsync always` the front ends wait for [`Persistence::sync_log`] before answering a
//!   write.
//! - **Encryption at rest**: with keys configured, every file written is sealed with the current
//!   key ([`larder_runtime::persist::crypto`]).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use larder_runtime::alert::{AlertEngine, AlertRule};
use larder_runtime::persist::append_log::{self, ReadLog, ReplaySummary};
use larder_runtime::persist::{
    self, AppendLog, CATALOG_FILE, Catalog, Fsync, KeyRing, LoadedCatalog, PersistError,
    SNAPSHOT_FILE, SnapshotData, snapshot,
};
use larder_runtime::{NamespaceConfig, Namespaces, PluginHost};
use parking_lot::Mutex;

use crate::data_dir_lock::DataDirLock;

/// Where and how often a node persists.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PersistConfig {
    pub data_dir: PathBuf,
    /// Snapshot this often when something changed; zero: only on SAVE, BGSAVE and shutdown.
    pub snapshot_every: Duration,
    /// Move unreadable files aside and start without them, instead of refusing to start.
    pub discard_bad_data: bool,
    /// The append-only log's sync policy; `None` when there is no log (`appendonly no`).
    pub append_log: Option<Fsync>,
    /// Encryption at rest; `None` writes files in the clear.
    pub encryption: Option<EncryptionKeys>,
}

/// The operator's encryption keys. Shown and compared by key ids only, never by key material.
#[derive(Debug, Clone)]
pub struct EncryptionKeys(pub Arc<KeyRing>);

impl PartialEq for EncryptionKeys {
    fn eq(&self, other: &Self) -> bool {
        self.0.ids() == other.0.ids()
    }
}

impl serde::Serialize for EncryptionKeys {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.ids().serialize(s)
    }
}

impl PersistConfig {
    fn keys(&self) -> Option<&Arc<KeyRing>> {
        self.encryption.as_ref().map(|k| &k.0)
    }
}

/// What startup found in the data directory, to be applied once the namespaces exist.
pub struct Loaded {
    /// The directory's lock, to be handed to [`Persistence::new`].
    pub lock: Option<DataDirLock>,
    pub catalog: Option<LoadedCatalog>,
    pub snapshot: Option<SnapshotData>,
    /// The log files to replay after the snapshot, oldest first.
    pub logs: Vec<(PathBuf, ReadLog)>,
    /// The first log generation no file has yet.
    pub next_generation: u64,
}

/// Why a snapshot was not written.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    #[error("Background save already in progress")]
    InProgress,
    #[error(transparent)]
    Failed(#[from] PersistError),
}

/// The API keys, tenants and users a catalog holds, kept as they are while authentication is off.
#[derive(Debug, Clone, Default)]
pub struct DormantAuth {
    pub api_keys: Vec<larder_runtime::persist::CatalogApiKey>,
    pub tenants: Vec<larder_runtime::persist::CatalogTenant>,
    pub users: Vec<larder_runtime::persist::CatalogUser>,
}

pub struct Persistence {
    _lock: DataDirLock,
    config: PersistConfig,
    namespaces: Arc<Namespaces>,
    alerts: OnceLock<Arc<AlertEngine>>,
    /// The API keys the catalog records (authentication on only).
    auth: OnceLock<Arc<crate::auth::Auth>>,
    /// With authentication off: the keys the catalog held, written back unchanged, so turning
    /// the operator key off for a while does not destroy every key.
    dormant_api_keys: OnceLock<DormantAuth>,
    /// One snapshot writer at a time.
    snapshot_lock: Mutex<()>,
    /// One catalog writer at a time, so an older capture never lands after a newer one.
    catalog_lock: Mutex<()>,
    bgsave_running: AtomicBool,
    last_save_ok: AtomicBool,
    /// Unix seconds of the last successful snapshot (the start time before the first).
    last_save_unix_secs: AtomicU64,
    /// The stores' change counters at the last snapshot.
    changes_at_last_save: AtomicU64,
    /// The append-only log, when on.
    log: Option<Arc<AppendLog>>,
    /// Without a log: the generation the next snapshot names (older log files, left by a run
    /// that had the log on, are replayed until a snapshot makes them redundant).
    next_generation: AtomicU64,
}

impl Persistence {
    /// Lock and read the data directory (creating it if needed). Fails if another node holds
    /// it, and, naming the file, on anything it cannot read unless `discard_bad_data` is set.
    pub fn read(config: &PersistConfig) -> anyhow::Result<Loaded> {
        let dir = &config.data_dir;
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
        let lock = DataDirLock::acquire(dir)?;
        let keys = config.keys();
        let catalog = keep_or_discard(config, Catalog::load(dir, keys), &dir.join(CATALOG_FILE))?;
        let snapshot = keep_or_discard(
            config,
            snapshot::read(&dir.join(SNAPSHOT_FILE), keys.cloned()),
            &dir.join(SNAPSHOT_FILE),
        )?
        .flatten();
        let files = append_log::list_files(dir).context("cannot list the append-only log files")?;
        let next_generation = files.last().map_or(1, |(g, _)| g + 1);
        let from = snapshot.as_ref().map_or(0, |s| s.log_from);
        let mut logs = Vec::new();
        for (_, path) in files.into_iter().filter(|(g, _)| *g >= from) {
            if let Some(read) = keep_or_discard(config, append_log::read(&path, keys), &path)? {
                if let Some(why) = &read.torn_tail {
                    tracing::warn!(file = %path.display(), reason = %why, "the log's last record was cut short by a crash; the records before it are replayed");
                }
                logs.push((path, read));
            }
        }
        Ok(Loaded {
            lock: Some(lock),
            catalog: catalog.flatten(),
            snapshot,
            logs,
            next_generation: next_generation.max(from),
        })
    }

    /// Replay the logs read at start into `namespaces` (after the snapshot is restored).
    pub fn replay_logs(namespaces: &Namespaces, logs: Vec<(PathBuf, ReadLog)>) -> ReplaySummary {
        let mut summary = ReplaySummary::default();
        for (_, log) in logs {
            append_log::replay(namespaces, log.records, &mut summary);
        }
        summary
    }

    /// Persist `namespaces` (already restored: what they hold now counts as saved), holding the
    /// directory's `lock` for as long as this lives; with the log on, start it in
    /// `next_generation` and attach it to every namespace.
    pub fn new(
        config: PersistConfig,
        namespaces: Arc<Namespaces>,
        lock: DataDirLock,
        next_generation: u64,
    ) -> anyhow::Result<Self> {
        let changes = total_changes(&namespaces);
        let log = match config.append_log {
            Some(fsync) => {
                let log = AppendLog::open(
                    &config.data_dir,
                    fsync,
                    config.keys().cloned(),
                    next_generation,
                )
                .context("cannot start the append-only log")?;
                namespaces.observe_writes(log.observers());
                Some(log)
            }
            None => None,
        };
        Ok(Self {
            _lock: lock,
            config,
            namespaces,
            alerts: OnceLock::new(),
            auth: OnceLock::new(),
            dormant_api_keys: OnceLock::new(),
            snapshot_lock: Mutex::new(()),
            catalog_lock: Mutex::new(()),
            bgsave_running: AtomicBool::new(false),
            last_save_ok: AtomicBool::new(true),
            last_save_unix_secs: AtomicU64::new(persist::unix_now_ms() / 1000),
            changes_at_last_save: AtomicU64::new(changes),
            log,
            next_generation: AtomicU64::new(next_generation),
        })
    }

    /// Count what the stores hold as not yet in a snapshot (it came from replaying logs), so the
    /// next periodic or shutdown snapshot folds the logs into one file.
    pub fn mark_unsaved(&self) {
        self.changes_at_last_save.store(0, Ordering::Relaxed);
    }

    /// The append-only log, when on.
    pub fn log(&self) -> Option<&Arc<AppendLog>> {
        self.log.as_ref()
    }

    /// The log writes must wait for before they are answered: set only with `appendfsync always`.
    pub fn sync_log(&self) -> Option<&Arc<AppendLog>> {
        self.log.as_ref().filter(|l| l.fsync() == Fsync::Always)
    }

    /// Sync and stop the log (after the shutdown snapshot).
    pub fn close_log(&self) {
        if let Some(log) = &self.log {
            log.close();
        }
    }

    pub fn config(&self) -> &PersistConfig {
        &self.config
    }

    /// The alert engine whose run-time rules the catalog records (it is built after this).
    /// The authentication whose API keys the catalog records.
    pub fn set_auth(&self, auth: Arc<crate::auth::Auth>) {
        let _ = self.auth.set(auth);
    }

    /// Keys to keep in the catalog while authentication is off.
    pub fn keep_dormant_api_keys(&self, saved: DormantAuth) {
        let _ = self.dormant_api_keys.set(saved);
    }

    pub fn set_alerts(&self, alerts: Arc<AlertEngine>) {
        let _ = self.alerts.set(alerts);
    }

    /// Write the catalog as things are now. Blocking (fsync): call off the async workers.
    pub fn save_catalog(&self) -> Result<(), PersistError> {
        let _one = self.catalog_lock.lock();
        let rules = self.alerts.get().map(|a| a.rules()).unwrap_or_default();
        let mut catalog = Catalog::capture(&self.namespaces, rules);
        if let Some(auth) = self.auth.get() {
            catalog.api_keys = auth.keys().capture();
            catalog.tenants = auth.tenants().capture();
            catalog.users = auth.users().capture();
        } else if let Some(saved) = self.dormant_api_keys.get() {
            catalog.api_keys = saved.api_keys.clone();
            catalog.tenants = saved.tenants.clone();
            catalog.users = saved.users.clone();
        }
        catalog.save(&self.config.data_dir, &self.namespaces, self.config.keys())
    }

    /// Write a snapshot now and wait for it (SAVE). Blocking.
    pub fn save(&self) -> Result<(), SaveError> {
        if self.bgsave_running.load(Ordering::Acquire) {
            return Err(SaveError::InProgress);
        }
        self.snapshot_now().map_err(SaveError::from)
    }

    /// Start a snapshot on a background thread (BGSAVE).
    pub fn bgsave(self: &Arc<Self>) -> Result<(), SaveError> {
        if self
            .bgsave_running
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Err(SaveError::InProgress);
        }
        let this = Arc::clone(self);
        std::thread::Builder::new()
            .name("larder-bgsave".into())
            .spawn(move || {
                let _ = this.snapshot_now();
                this.bgsave_running.store(false, Ordering::Release);
            })
            .map_err(|e| {
                self.bgsave_running.store(false, Ordering::Release);
                SaveError::Failed(PersistError::Io {
                    path: self.config.data_dir.clone(),
                    source: e,
                })
            })?;
        Ok(())
    }

    pub fn bgsave_in_progress(&self) -> bool {
        self.bgsave_running.load(Ordering::Acquire)
    }

    pub fn last_save_unix_secs(&self) -> u64 {
        self.last_save_unix_secs.load(Ordering::Relaxed)
    }

    pub fn last_save_ok(&self) -> bool {
        self.last_save_ok.load(Ordering::Relaxed)
    }

    /// Changes to the stores since the last snapshot (0 means a snapshot would be the same).
    pub fn changes_since_save(&self) -> u64 {
        total_changes(&self.namespaces)
            .saturating_sub(self.changes_at_last_save.load(Ordering::Relaxed))
    }

    /// Snapshot if anything changed since the last one (the timer and shutdown). Blocking.
    pub fn save_if_changed(&self) -> Result<bool, PersistError> {
        if self.changes_since_save() == 0 {
            return Ok(false);
        }
        self.snapshot_now().map(|()| true)
    }

    fn snapshot_now(&self) -> Result<(), PersistError> {
        let _one = self.snapshot_lock.lock();
        // Read the counter before copying: a write that lands during the copy makes the next
        // check see a change, so it is saved next time even if this copy missed it.
        let changes = total_changes(&self.namespaces);
        let started = Instant::now();
        // Rotate first: every record in the older files is then in this copy too.
        let generation = match &self.log {
            Some(log) => log.rotate()?,
            None => self.next_generation.load(Ordering::Relaxed),
        };
        let dir = &self.config.data_dir;
        let outcome = snapshot::write(
            &self.namespaces,
            &dir.join(SNAPSHOT_FILE),
            self.config.keys().cloned(),
            generation,
        );
        if outcome.is_ok()
            && let Err(e) = append_log::remove_before(dir, generation)
        {
            tracing::warn!(error = %e, "an old log file could not be deleted; the next snapshot tries again");
        }
        match &outcome {
            Ok(summary) => {
                self.changes_at_last_save.store(changes, Ordering::Relaxed);
                self.last_save_unix_secs
                    .store(summary.saved_at_unix_ms / 1000, Ordering::Relaxed);
                self.last_save_ok.store(true, Ordering::Relaxed);
                tracing::info!(
                    keys = summary.keys,
                    namespaces = summary.namespaces,
                    ms = started.elapsed().as_millis() as u64,
                    "snapshot saved"
                );
            }
            Err(e) => {
                self.last_save_ok.store(false, Ordering::Relaxed);
                tracing::error!(error = %e, "snapshot failed");
            }
        }
        outcome.map(|_| ())
    }

    /// Snapshot every `snapshot_every` when something changed; returns never (abort to stop).
    pub async fn run_periodic(self: Arc<Self>) {
        let every = self.config.snapshot_every;
        if every.is_zero() {
            return std::future::pending().await;
        }
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let this = Arc::clone(&self);
            let _ = tokio::task::spawn_blocking(move || this.save_if_changed()).await;
        }
    }
}

fn total_changes(namespaces: &Namespaces) -> u64 {
    namespaces
        .list()
        .iter()
        .map(|ns| ns.store().changes())
        .sum()
}

/// `Ok(value)` through; a bad file either stops startup or, with `discard_bad_data`, is renamed
/// aside and treated as absent.
fn keep_or_discard<T>(
    config: &PersistConfig,
    outcome: Result<T, PersistError>,
    path: &Path,
) -> anyhow::Result<Option<T>> {
    match outcome {
        Ok(v) => Ok(Some(v)),
        Err(e @ PersistError::Io { .. }) => {
            Err(anyhow::Error::new(e).context("cannot read the data directory"))
        }
        Err(e) if config.discard_bad_data => {
            // Move aside the file being read and, when the fault is in a file it names (a plugin
            // module), that one too: a catalog is discarded whole, and leaving it in place would
            // let the node's first save overwrite it.
            let stamp = persist::unix_now_ms() / 1000;
            let mut files = vec![path.to_path_buf()];
            if e.path() != path {
                files.push(e.path().to_path_buf());
            }
            for file in files.iter().filter(|f| f.exists()) {
                let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("file");
                let aside = file.with_file_name(format!("{name}.bad-{stamp}"));
                std::fs::rename(file, &aside)
                    .with_context(|| format!("cannot move {} aside", file.display()))?;
                tracing::warn!(error = %e, moved_to = %aside.display(), "discarded an unreadable file (--discard-bad-data)");
            }
            Ok(None)
        }
        Err(e) => Err(anyhow::Error::new(e).context(
            "refusing to start on an unreadable data directory file; fix or remove it, or start \
             with --discard-bad-data to move it aside and start without it",
        )),
    }
}

/// Upload the catalog's modules into `plugins` (compiling them) before any namespace names them.
pub fn restore_plugins(plugins: &PluginHost, catalog: &LoadedCatalog) -> anyhow::Result<()> {
    for (plugin, bytes) in &catalog.modules {
        plugins
            .upload(bytes, &plugin.name, &plugin.description)
            .with_context(|| format!("restoring plugin {} ({})", plugin.name, plugin.id))?;
    }
    Ok(())
}

/// Give each namespace the compression dictionaries the catalog records, before any value is
/// restored (values compressed with one cannot be read without it).
pub fn restore_dictionaries(
    namespaces: &Namespaces,
    catalog: &LoadedCatalog,
) -> anyhow::Result<()> {
    let mut by_namespace: std::collections::BTreeMap<&str, (Vec<_>, Option<u32>)> =
        Default::default();
    for (name, entry, bytes) in &catalog.dictionaries {
        let dictionary = larder_runtime::store::dictionary::Dictionary::new(bytes)
            .with_context(|| format!("dictionary {} of namespace {name}", entry.sha256))?;
        anyhow::ensure!(
            dictionary.id() == entry.id,
            "dictionary {} of namespace {name} has id {}, the catalog says {}",
            entry.sha256,
            dictionary.id(),
            entry.id
        );
        let slot = by_namespace.entry(name).or_default();
        if entry.current {
            slot.1 = Some(entry.id);
        }
        slot.0.push(Arc::new(dictionary));
    }
    for (name, (retained, current)) in by_namespace {
        if let Ok(ns) = namespaces.get(name) {
            ns.store().set_dictionaries(retained, current);
        }
    }
    Ok(())
}

/// The namespace configs to build: the catalog's (it holds every change made at run time), then
/// any namespace of the config file that the catalog does not have.
pub fn merged_namespaces(
    from_file: &std::collections::BTreeMap<String, NamespaceConfig>,
    catalog: Option<&LoadedCatalog>,
) -> std::collections::BTreeMap<String, NamespaceConfig> {
    let mut merged = from_file.clone();
    if let Some(c) = catalog {
        for ns in &c.catalog.namespaces {
            merged.insert(ns.name.clone(), ns.config.clone());
        }
    }
    merged
}

/// Add the catalog's alert rules that the config file did not already define.
pub fn restore_alert_rules(alerts: &AlertEngine, catalog: Option<&LoadedCatalog>) {
    let Some(c) = catalog else { return };
    let existing: Vec<String> = alerts.rules().into_iter().map(|r| r.name).collect();
    for rule in &c.catalog.alert_rules {
        if !existing.contains(&rule.name) {
            let name = rule.name.clone();
            if let Err(e) = alerts.add_rule(AlertRule::clone(rule)) {
                tracing::warn!(rule = %name, error = %e, "a saved alert rule was not restored");
            }
        }
    }
}

/// Whether a write to `path` is an admin change, which the catalog records: everything under
/// `/v1/` except key data, batches and flushes. The OpenAPI document uses the same rule to list
/// the 503 `not_durable` answer on exactly these routes.
pub fn is_admin_path(path: &str) -> bool {
    path.starts_with("/v1/")
        && path != "/v1/session"
        && !path.contains("/keys/")
        && !path.contains("/batch/")
        && !path.ends_with("/flush")
}

/// Middleware: after a successful admin change (any non-GET under `/v1/` except key and batch
/// routes), write the catalog before answering. A failed write turns the answer into a 503
/// `not_durable` saying the change is live but not on disk.
pub async fn save_catalog_after_admin_changes(
    State(persistence): State<Arc<Persistence>>,
    request: Request,
    next: Next,
) -> Response {
    let admin_change = !request.method().is_safe() && is_admin_path(request.uri().path());
    let response = next.run(request).await;
    if admin_change && response.status().is_success() {
        let p = Arc::clone(&persistence);
        let saved = tokio::task::spawn_blocking(move || p.save_catalog()).await;
        match saved {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::error!(error = %e, "the catalog could not be saved");
                return crate::rest::error::ApiError::new(
                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    "not_durable",
                    format!("the change is live but could not be written to disk: {e}"),
                )
                .into_response();
            }
            Err(e) => tracing::error!(error = %e, "the catalog writer panicked"),
        }
    }
    response
}

/// Middleware (`appendfsync always` only): a successful key write, batch or flush is answered
/// only once the append-only log has it on disk. A log that cannot be written turns the answer
/// into a 503 `not_durable`: the write is live, but not known to survive a crash.
pub async fn wait_for_log_after_writes(
    State(log): State<Arc<AppendLog>>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    let data_write =
        !request.method().is_safe() && path.starts_with("/v1/") && !is_admin_path(path);
    let response = next.run(request).await;
    if data_write
        && response.status().is_success()
        && let Err(e) = log.wait_durable(log.appended()).await
    {
        return crate::rest::error::ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "not_durable",
            format!("the write is live but could not be written to disk: {e}"),
        )
        .into_response();
    }
    response
}

/// Start again the experiments and shadow evaluations the catalog records (their counters start
/// from zero). One that no longer fits its namespace is skipped with a warning, not fatal.
pub fn restore_experiments(namespaces: &Namespaces, catalog: Option<&LoadedCatalog>) {
    let Some(c) = catalog else { return };
    for e in &c.catalog.experiments {
        match larder_runtime::experiment::start(namespaces, &e.namespace, e.spec.clone()) {
            Ok(_) => tracing::info!(namespace = %e.namespace, "experiment restarted"),
            Err(err) => {
                tracing::warn!(namespace = %e.namespace, error = %err, "a saved experiment was not restarted")
            }
        }
    }
    for s in &c.catalog.shadows {
        match larder_runtime::experiment::start_shadow(namespaces, &s.namespace, s.spec.clone()) {
            Ok(_) => tracing::info!(namespace = %s.namespace, "shadow evaluation restarted"),
            Err(err) => {
                tracing::warn!(namespace = %s.namespace, error = %err, "a saved shadow evaluation was not restarted")
            }
        }
    }
}

//! The append-only log: every change to every namespace's keys, written as it happens, replayed
//! after the snapshot at start.
//!
//! ## Files and generations
//!
//! The log is a sequence of files `log-<generation>.laof` in the data directory, each a
//! [`frame`](super::frame) file (magic `LARDALOG`) whose frames hold batches of records. A
//! snapshot **rotates** the log first (the current file is synced and closed, writing goes on
//! in generation + 1) and records that generation as where replay starts; once the snapshot is
//! on disk the older files are deleted. So at any moment the snapshot plus the logs from its
//! generation on hold every logged change, and a crash between rotation and the end of a
//! snapshot still finds the older files beside the older snapshot.
//!
//! Records are absolute (the value written, the deadline set, the key removed, the namespace
//! cleared), never increments, so replaying a record the snapshot already holds changes nothing:
//! the state of a key after replay is what its last record says.
//!
//! ## When a write is on disk
//!
//! Records are appended to a buffer under the key's shard lock (see [`WriteObserver`]); a
//! flusher thread writes the buffer as one frame and, by [`Fsync`] policy, syncs it:
//!
//! - `always`: after every batch; a client is answered only after [`AppendLog::wait_durable`]
//!   returns, so an acknowledged write survives `kill -9` and power loss (batches from many
//!   clients share one fsync);
//! - `everysec`: written at least every second, synced once a second;
//! - `no`: written at least every second, synced when the kernel decides.
//!
//! ## Reading
//!
//! A record cut short at the end of the last file (the process died while writing it) is a
//! **torn tail**: the records before it are replayed and the tail is reported, as a crash can
//! leave it. Damage anywhere else refuses the file like any other file in the data directory.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

use super::crypto::KeyRing;
use super::frame::{FrameReader, FrameWriter, HEADER_LEN};
use super::{PersistError, unix_now_ms};
use crate::clock::now_ms;
use crate::namespace::{Namespaces, ObserverSource};
use crate::store::{Form, Store, ValueKind, WriteObserver};

pub const MAGIC: &[u8; 8] = b"LARDALOG";
pub const VERSION: u16 = 1;
/// A buffered batch is cut into frames of about this size, and the flusher is woken early when
/// one fills (bounding the memory `everysec` and `no` hold between flushes).
const CHUNK_BYTES: usize = 4 << 20;

/// When the log is synced to disk (Redis's `appendfsync`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fsync {
    Always,
    Everysec,
    No,
}

impl Fsync {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Always => "always",
            Self::Everysec => "everysec",
            Self::No => "no",
        }
    }
}

impl std::str::FromStr for Fsync {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "always" => Ok(Self::Always),
            "everysec" => Ok(Self::Everysec),
            "no" => Ok(Self::No),
            other => Err(format!(
                "'{other}' is not an fsync policy: use always, everysec or no"
            )),
        }
    }
}

/// One logged change, as read back. Deadlines are Unix milliseconds; 0 is "no expiry".
/// Serialised exactly as the log writes it (replication sends records in this form too).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum LogRecord {
    Put {
        ns: String,
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
        /// As stored: a zstd frame when `compressed`.
        #[serde(with = "serde_bytes")]
        value: Vec<u8>,
        expires_at_unix_ms: u64,
        compressed: bool,
        /// What the value is; a collection's value is its encoding.
        #[serde(default)]
        kind: ValueKind,
    },
    Expire {
        ns: String,
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
        expires_at_unix_ms: u64,
    },
    Remove {
        ns: String,
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
    },
    Clear {
        ns: String,
    },
}

/// [`LogRecord`] borrowed, for writing without copying; the same encoding.
#[derive(Serialize)]
enum RecordRef<'a> {
    Put {
        ns: &'a str,
        key: &'a serde_bytes::Bytes,
        value: &'a serde_bytes::Bytes,
        expires_at_unix_ms: u64,
        compressed: bool,
        kind: ValueKind,
    },
    Expire {
        ns: &'a str,
        key: &'a serde_bytes::Bytes,
        expires_at_unix_ms: u64,
    },
    Remove {
        ns: &'a str,
        key: &'a serde_bytes::Bytes,
    },
    Clear {
        ns: &'a str,
    },
}

/// The log's file for `generation` in `dir`.
pub fn file_path(dir: &Path, generation: u64) -> PathBuf {
    dir.join(format!("log-{generation:010}.laof"))
}

/// The log files in `dir`, by generation.
pub fn list_files(dir: &Path) -> Result<Vec<(u64, PathBuf)>, PersistError> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(PersistError::io(dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| PersistError::io(dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(generation) = name
            .strip_prefix("log-")
            .and_then(|n| n.strip_suffix(".laof"))
            .and_then(|n| n.parse::<u64>().ok())
        {
            out.push((generation, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// A log file read back.
#[derive(Debug, Default)]
pub struct ReadLog {
    pub records: Vec<LogRecord>,
    /// Why the file's last frame was dropped, when it was cut short by a crash.
    pub torn_tail: Option<String>,
}

/// Read and check one log file. A torn last frame is dropped and reported; anything else wrong
/// refuses the file.
pub fn read(path: &Path, keys: Option<&Arc<KeyRing>>) -> Result<ReadLog, PersistError> {
    let bytes = std::fs::read(path).map_err(|e| PersistError::io(path, e))?;
    read_bytes(&bytes, path, keys)
}

/// [`read`] over bytes already in memory (`path` names them in errors).
pub fn read_bytes(
    bytes: &[u8],
    path: &Path,
    keys: Option<&Arc<KeyRing>>,
) -> Result<ReadLog, PersistError> {
    let mut out = ReadLog::default();
    if bytes.len() < HEADER_LEN && MAGIC.starts_with(&bytes[..bytes.len().min(MAGIC.len())]) {
        // Created, then the process died before the header was whole: nothing was logged.
        out.torn_tail = Some("the file ends inside its header".into());
        return Ok(out);
    }
    let mut reader = FrameReader::new(bytes, path, MAGIC, VERSION, keys.cloned())?;
    loop {
        let at = reader.offset() as usize;
        match reader.next_frame() {
            Ok(None) => return Ok(out),
            Ok(Some(payload)) => decode_batch(&payload, path, at, &mut out.records)?,
            Err(e) => {
                if is_torn_tail(bytes, at) {
                    out.torn_tail = Some(format!("the last frame, at byte {at}, is incomplete"));
                    return Ok(out);
                }
                return Err(e);
            }
        }
    }
}

/// Whether the frame starting at `at` is the file's last and was cut short or half written:
/// its header or payload runs past the end, or it ends exactly at the end with a payload that
/// does not match its checksum.
fn is_torn_tail(bytes: &[u8], at: usize) -> bool {
    let rest = &bytes[at..];
    if rest.len() < 12 {
        return true;
    }
    let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
    match rest.len().cmp(&(12 + len)) {
        std::cmp::Ordering::Less => true,
        std::cmp::Ordering::Equal => {
            let sum = u64::from_le_bytes(rest[4..12].try_into().expect("8 bytes"));
            xxh3_64(&rest[12..]) != sum
        }
        std::cmp::Ordering::Greater => false,
    }
}

fn decode_batch(
    payload: &[u8],
    path: &Path,
    at: usize,
    out: &mut Vec<LogRecord>,
) -> Result<(), PersistError> {
    let mut input = payload;
    while !input.is_empty() {
        let record: LogRecord = rmp_serde::from_read(&mut input).map_err(|e| {
            PersistError::invalid(
                path,
                format!("a record in the frame at byte {at} does not decode: {e}"),
            )
        })?;
        out.push(record);
    }
    Ok(())
}

/// What a replay did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplaySummary {
    pub records: u64,
    /// Records for namespaces that no longer exist (deleted since): skipped.
    pub skipped: u64,
    /// Writes the namespace no longer accepts (its limits shrank).
    pub refused: u64,
}

/// Apply `records` in order to `namespaces` (after the snapshot was restored).
pub fn replay(namespaces: &Namespaces, records: Vec<LogRecord>, summary: &mut ReplaySummary) {
    let mut current: Option<(String, Arc<crate::namespace::Namespace>)> = None;
    for record in records {
        summary.records += 1;
        let name = match &record {
            LogRecord::Put { ns, .. }
            | LogRecord::Expire { ns, .. }
            | LogRecord::Remove { ns, .. }
            | LogRecord::Clear { ns } => ns,
        };
        if current.as_ref().is_none_or(|(n, _)| n != name) {
            current = namespaces.get(name).ok().map(|ns| (name.clone(), ns));
        }
        let Some((_, ns)) = &current else {
            summary.skipped += 1;
            continue;
        };
        let store = ns.store();
        let now = unix_now_ms();
        match record {
            LogRecord::Put {
                key,
                value,
                expires_at_unix_ms,
                compressed,
                kind,
                ..
            } => match remaining(expires_at_unix_ms, now) {
                Remaining::Gone => {
                    store.delete(&key);
                }
                Remaining::Never => {
                    let form = Form { kind, compressed };
                    if store.restore(&key, &value, form, None).is_err() {
                        summary.refused += 1;
                    }
                }
                Remaining::Ms(ms) => {
                    let form = Form { kind, compressed };
                    if store.restore(&key, &value, form, Some(ms)).is_err() {
                        summary.refused += 1;
                    }
                }
            },
            LogRecord::Expire {
                key,
                expires_at_unix_ms,
                ..
            } => match remaining(expires_at_unix_ms, now) {
                Remaining::Gone => {
                    store.delete(&key);
                }
                Remaining::Never => {
                    store.expire(&key, None);
                }
                Remaining::Ms(ms) => {
                    store.expire(&key, Some(ms));
                }
            },
            LogRecord::Remove { key, .. } => {
                store.delete(&key);
            }
            LogRecord::Clear { .. } => store.flush(),
        }
    }
}

enum Remaining {
    Never,
    Gone,
    Ms(u64),
}

fn remaining(deadline: u64, now: u64) -> Remaining {
    match deadline {
        0 => Remaining::Never,
        d if d <= now => Remaining::Gone,
        d => Remaining::Ms(d - now),
    }
}

/// How far the log is on disk, for [`AppendLog::wait_durable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Durable {
    /// Every record numbered up to this is synced.
    seq: u64,
    /// Writing or syncing failed; waiting is pointless until a snapshot starts a new file.
    failed: bool,
}

/// The log could not be written; the writes waiting on it are not known to be on disk.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the append-only log could not be written: {0}")]
pub struct LogFailed(pub String);

struct Pending {
    /// Encoded records, cut into chunks of about [`CHUNK_BYTES`]; never empty.
    chunks: Vec<Vec<u8>>,
    /// Records appended so far (the last one's number).
    seq: u64,
}

struct Writer {
    out: Option<FrameWriter<BufWriter<File>>>,
    generation: u64,
    path: PathBuf,
    last_sync: Instant,
    /// Frames were written since the last sync.
    unsynced: bool,
}

/// The running log; see the module docs. Cheap to share: observers hold an `Arc`.
pub struct AppendLog {
    dir: PathBuf,
    fsync: Fsync,
    keys: Option<Arc<KeyRing>>,
    pending: Mutex<Pending>,
    wake: Condvar,
    appended: AtomicU64,
    writer: Mutex<Writer>,
    durable: tokio::sync::watch::Sender<Durable>,
    last_error: Mutex<Option<String>>,
    stop: AtomicBool,
    bytes_written: AtomicU64,
}

impl std::fmt::Debug for AppendLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppendLog")
            .field("fsync", &self.fsync)
            .field("appended", &self.appended.load(Ordering::Relaxed))
            .finish()
    }
}

impl AppendLog {
    /// Start logging into a new file of `generation` in `dir` (a generation no file has yet) and
    /// spawn the flusher thread.
    pub fn open(
        dir: &Path,
        fsync: Fsync,
        keys: Option<Arc<KeyRing>>,
        generation: u64,
    ) -> Result<Arc<Self>, PersistError> {
        let path = file_path(dir, generation);
        let out = create_file(&path, keys.clone())?;
        let (durable, _) = tokio::sync::watch::channel(Durable {
            seq: 0,
            failed: false,
        });
        let log = Arc::new(Self {
            dir: dir.to_path_buf(),
            fsync,
            keys,
            pending: Mutex::new(Pending {
                chunks: vec![Vec::new()],
                seq: 0,
            }),
            wake: Condvar::new(),
            appended: AtomicU64::new(0),
            writer: Mutex::new(Writer {
                out: Some(out),
                generation,
                path,
                last_sync: Instant::now(),
                unsynced: false,
            }),
            durable,
            last_error: Mutex::new(None),
            stop: AtomicBool::new(false),
            bytes_written: AtomicU64::new(0),
        });
        let flusher = Arc::clone(&log);
        std::thread::Builder::new()
            .name("larder-log".into())
            .spawn(move || flusher.run_flusher())
            .map_err(|e| PersistError::io(dir, e))?;
        Ok(log)
    }

    pub fn fsync(&self) -> Fsync {
        self.fsync
    }

    /// The generation being written.
    pub fn generation(&self) -> u64 {
        self.writer.lock().generation
    }

    /// Bytes of frames written since start.
    pub fn bytes_written(&self) -> u64 {
        self.bytes_written.load(Ordering::Relaxed)
    }

    /// The last failure, if the log is failing now.
    pub fn error(&self) -> Option<String> {
        self.last_error.lock().clone()
    }

    /// The number of the last record appended.
    pub fn appended(&self) -> u64 {
        self.appended.load(Ordering::Acquire)
    }

    /// What [`Namespaces::observe_writes`] takes to log every namespace's changes.
    pub fn observers(self: &Arc<Self>) -> Arc<dyn ObserverSource> {
        Arc::new(LogObservers(Arc::clone(self)))
    }

    /// Log that `namespace` starts empty (it was just created), so records of an earlier
    /// namespace of that name are not replayed into it.
    pub fn log_cleared(&self, namespace: &str) {
        self.append(&RecordRef::Clear { ns: namespace });
    }

    fn append(&self, record: &RecordRef<'_>) {
        let mut pending = self.pending.lock();
        let chunk = pending.chunks.last_mut().expect("never empty");
        // Encoding into a Vec cannot fail: every field is a plain string, bytes or integer.
        let _ = rmp_serde::encode::write(chunk, record);
        let full = chunk.len() >= CHUNK_BYTES;
        if full {
            pending.chunks.push(Vec::new());
        }
        pending.seq += 1;
        self.appended.store(pending.seq, Ordering::Release);
        drop(pending);
        if full || self.fsync == Fsync::Always {
            self.wake.notify_one();
        }
    }

    /// Wait until every record up to `seq` is synced to disk (`always`). Errs if the log failed.
    pub async fn wait_durable(&self, seq: u64) -> Result<(), LogFailed> {
        let mut rx = self.durable.subscribe();
        let state = rx
            .wait_for(|d| d.seq >= seq || d.failed)
            .await
            .map(|d| *d)
            .unwrap_or(Durable {
                seq: 0,
                failed: true,
            });
        if state.seq >= seq {
            Ok(())
        } else {
            Err(LogFailed(
                self.error().unwrap_or_else(|| "the log is closed".into()),
            ))
        }
    }

    fn run_flusher(self: Arc<Self>) {
        loop {
            {
                let mut pending = self.pending.lock();
                // `always` writes as soon as anything is pending (an append wakes it; the timeout
                // only bounds a missed wake-up); the others gather for up to a second unless a
                // chunk fills.
                let wait = match self.fsync {
                    Fsync::Always => pending.chunks.len() == 1 && pending.chunks[0].is_empty(),
                    Fsync::Everysec | Fsync::No => pending.chunks.len() == 1,
                };
                if wait && !self.stop.load(Ordering::Acquire) {
                    self.wake.wait_for(&mut pending, Duration::from_secs(1));
                }
            }
            let stopping = self.stop.load(Ordering::Acquire);
            let _ = self.flush(self.fsync == Fsync::Always || stopping);
            if stopping {
                return;
            }
        }
    }

    /// Write what is buffered as frames; sync when `sync` is set, or when the policy says a
    /// sync is due.
    fn flush(&self, sync: bool) -> Result<(), PersistError> {
        let mut writer = self.writer.lock();
        self.flush_locked(&mut writer, sync)
    }

    fn flush_locked(&self, writer: &mut Writer, sync: bool) -> Result<(), PersistError> {
        let (chunks, seq) = {
            let mut pending = self.pending.lock();
            let chunks = std::mem::replace(&mut pending.chunks, vec![Vec::new()]);
            (chunks, pending.seq)
        };
        let Some(out) = writer.out.as_mut() else {
            // Failed earlier: nothing is written until a rotation opens a new file.
            return Err(PersistError::invalid(
                &writer.path,
                "the log failed earlier",
            ));
        };
        let mut written = 0u64;
        let mut outcome: Result<(), PersistError> = Ok(());
        for chunk in chunks.iter().filter(|c| !c.is_empty()) {
            if let Err(e) = out.frame(chunk) {
                outcome = Err(e);
                break;
            }
            written += chunk.len() as u64 + 12;
        }
        let due = sync
            || (self.fsync == Fsync::Everysec
                && writer.last_sync.elapsed() >= Duration::from_secs(1));
        if outcome.is_ok() {
            outcome = out
                .get_mut()
                .flush()
                .map_err(|e| PersistError::io(&writer.path, e));
        }
        writer.unsynced |= written > 0;
        // Nothing written since the last sync: every record so far is on disk already, and an idle
        // node must not fsync once a second.
        if outcome.is_ok() && due && writer.unsynced {
            outcome = out
                .get_mut()
                .get_ref()
                .sync_data()
                .map_err(|e| PersistError::io(&writer.path, e));
            writer.last_sync = Instant::now();
            writer.unsynced = outcome.is_err();
        }
        self.bytes_written.fetch_add(written, Ordering::Relaxed);
        match outcome {
            Ok(()) => {
                if due {
                    self.durable.send_modify(|d| d.seq = d.seq.max(seq));
                }
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e, "the append-only log could not be written; writes are not logged until the next snapshot starts a new file");
                *self.last_error.lock() = Some(e.to_string());
                writer.out = None;
                self.durable.send_modify(|d| d.failed = true);
                Err(e)
            }
        }
    }

    /// Sync and close the current file and go on in the next generation, which is returned: a
    /// snapshot taken after this holds everything the older files hold. A log that had failed
    /// starts afresh here.
    pub fn rotate(&self) -> Result<u64, PersistError> {
        let mut writer = self.writer.lock();
        let flushed = if writer.out.is_some() {
            self.flush_locked(&mut writer, true)
        } else {
            // Drop what could not be written: the snapshot that follows holds it.
            let mut pending = self.pending.lock();
            pending.chunks = vec![Vec::new()];
            Ok(())
        };
        if let Err(e) = flushed {
            tracing::warn!(error = %e, "the old log file could not be synced; the snapshot covers it");
        }
        let next = writer.generation + 1;
        let path = file_path(&self.dir, next);
        let out = create_file(&path, self.keys.clone())?;
        writer.out = Some(out);
        writer.generation = next;
        writer.path = path;
        writer.unsynced = false;
        *self.last_error.lock() = None;
        self.durable.send_modify(|d| d.failed = false);
        Ok(next)
    }

    /// Write and sync everything buffered, and stop the flusher (graceful shutdown).
    pub fn close(&self) {
        self.stop.store(true, Ordering::Release);
        self.wake.notify_one();
        let _ = self.flush(true);
    }
}

/// Create a log file with its header, synced with its directory entry, so a crash right after
/// leaves a readable (empty) file.
fn create_file(
    path: &Path,
    keys: Option<Arc<KeyRing>>,
) -> Result<FrameWriter<BufWriter<File>>, PersistError> {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| PersistError::io(path, e))?;
    let mut out = FrameWriter::new(
        BufWriter::with_capacity(1 << 16, file),
        path,
        MAGIC,
        VERSION,
        keys,
    )?;
    out.get_mut()
        .flush()
        .and_then(|()| out.get_mut().get_ref().sync_all())
        .map_err(|e| PersistError::io(path, e))?;
    super::atomic::sync_dir(path)?;
    Ok(out)
}

/// Delete the log files older than `generation` (a snapshot holding them is on disk).
pub fn remove_before(dir: &Path, generation: u64) -> Result<(), PersistError> {
    for (g, path) in list_files(dir)? {
        if g < generation {
            std::fs::remove_file(&path).map_err(|e| PersistError::io(&path, e))?;
        }
    }
    Ok(())
}

/// Hands each namespace its [`NamespaceLog`]; see [`AppendLog::observers`].
struct LogObservers(Arc<AppendLog>);

impl ObserverSource for LogObservers {
    fn observer(&self, namespace: &str, _: &Store, created: bool) -> Arc<dyn WriteObserver> {
        if created {
            self.0.log_cleared(namespace);
        }
        Arc::new(NamespaceLog {
            log: Arc::clone(&self.0),
            ns: namespace.into(),
        })
    }
}

/// Logs one namespace's changes; attached to its store by [`Namespaces::observe_writes`].
struct NamespaceLog {
    log: Arc<AppendLog>,
    ns: Box<str>,
}

/// A store deadline ([`crate::clock::now_ms`]; 0 = none) as Unix milliseconds (0 = none), the
/// form records carry it in so another process (a restart, a replica) can place it on its clock.
pub fn unix_deadline(expires_at: u64) -> u64 {
    match expires_at {
        0 => 0,
        at => unix_now_ms()
            .saturating_add(at.saturating_sub(now_ms()))
            .max(1),
    }
}

impl WriteObserver for NamespaceLog {
    fn put(&self, key: &[u8], value: &[u8], form: Form, expires_at: u64) {
        self.log.append(&RecordRef::Put {
            ns: &self.ns,
            key: serde_bytes::Bytes::new(key),
            value: serde_bytes::Bytes::new(value),
            expires_at_unix_ms: unix_deadline(expires_at),
            compressed: form.compressed,
            kind: form.kind,
        });
    }

    fn set_expiry(&self, key: &[u8], expires_at: u64) {
        self.log.append(&RecordRef::Expire {
            ns: &self.ns,
            key: serde_bytes::Bytes::new(key),
            expires_at_unix_ms: unix_deadline(expires_at),
        });
    }

    fn remove(&self, key: &[u8]) {
        self.log.append(&RecordRef::Remove {
            ns: &self.ns,
            key: serde_bytes::Bytes::new(key),
        });
    }

    fn clear(&self) {
        self.log.append(&RecordRef::Clear { ns: &self.ns });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{NamespaceConfig, SetOptions};

    fn logged(keys: Option<Arc<KeyRing>>) -> (tempfile::TempDir, Namespaces) {
        let dir = tempfile::tempdir().unwrap();
        let all = Namespaces::new(NamespaceConfig::default()).unwrap();
        let log = AppendLog::open(dir.path(), Fsync::Always, keys, 1).unwrap();
        all.observe_writes(log.observers());
        all.create("other", NamespaceConfig::default()).unwrap();
        let store = all.get("default").unwrap();
        let store = store.store();
        for i in 0..100u32 {
            store
                .set(
                    format!("k{i}").as_bytes(),
                    &i.to_le_bytes(),
                    SetOptions::default(),
                )
                .unwrap();
        }
        store.delete(b"k5");
        store.expire(b"k6", Some(60_000));
        store.incr_by(b"n", 41).unwrap();
        store.incr_by(b"n", 1).unwrap();
        all.get("other")
            .unwrap()
            .store()
            .set(b"o", b"1", SetOptions::default())
            .unwrap();
        all.get("other").unwrap().store().flush();
        log.close();
        (dir, all)
    }

    fn replayed(records: Vec<LogRecord>) -> Namespaces {
        let fresh = Namespaces::new(NamespaceConfig::default()).unwrap();
        fresh.create("other", NamespaceConfig::default()).unwrap();
        let mut summary = ReplaySummary::default();
        replay(&fresh, records, &mut summary);
        fresh
    }

    type Contents = Vec<(String, Vec<(Vec<u8>, Vec<u8>)>)>;

    fn contents(all: &Namespaces) -> Contents {
        all.list()
            .iter()
            .map(|ns| {
                let mut kv = ns.store().snapshot();
                kv.sort();
                (ns.name().to_string(), kv)
            })
            .collect()
    }

    #[test]
    fn replaying_the_log_rebuilds_the_same_contents() {
        let (dir, all) = logged(None);
        let files = list_files(dir.path()).unwrap();
        assert_eq!(files.len(), 1);
        let read = read(&files[0].1, None).unwrap();
        assert!(read.torn_tail.is_none());
        let fresh = replayed(read.records);
        assert_eq!(contents(&fresh), contents(&all));
        let ns = fresh.get("default").unwrap();
        assert!(matches!(ns.store().ttl(b"k6"), crate::Ttl::RemainingMs(ms) if ms > 50_000));
        assert_eq!(ns.store().get_vec(b"n"), Some(b"42".to_vec()));
    }

    #[test]
    fn every_cut_inside_the_last_frame_is_a_torn_tail_and_earlier_frames_survive() {
        let (dir, _) = logged(None);
        let path = list_files(dir.path()).unwrap()[0].1.clone();
        let bytes = std::fs::read(&path).unwrap();
        let whole = read_bytes(&bytes, &path, None).unwrap().records.len();
        for cut in 0..bytes.len() {
            let got = read_bytes(&bytes[..cut], &path, None)
                .unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
            assert!(got.records.len() < whole, "cut at {cut}");
        }
    }

    #[test]
    fn an_encrypted_log_reads_back_only_with_its_key() {
        let key = "1:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
        let keys = Arc::new(KeyRing::parse(key).unwrap());
        let (dir, all) = logged(Some(Arc::clone(&keys)));
        let path = list_files(dir.path()).unwrap()[0].1.clone();
        let bytes = std::fs::read(&path).unwrap();
        assert!(!bytes.windows(7).any(|w| w == b"default"));
        let records = read(&path, Some(&keys)).unwrap().records;
        assert_eq!(contents(&replayed(records)), contents(&all));
        let err = read(&path, None).unwrap_err().to_string();
        assert!(err.contains("no encryption key"), "{err}");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// The log reader's fuzz property (the cargo-fuzz target `data_files` runs it
        /// unbounded): arbitrary bytes after a valid header, or a flipped byte anywhere, never
        /// panic; a flipped byte never yields a record that was not written.
        #[test]
        fn damaged_logs_never_panic_or_invent_records(
            tail in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512),
            at in proptest::prelude::any::<proptest::sample::Index>(),
            bit in 0u8..8,
        ) {
            let (bytes, records) = LOGGED.with(|l| l.clone());
            let path = Path::new("f");
            let mut garbage = bytes[..HEADER_LEN].to_vec();
            garbage.extend(tail);
            let _ = read_bytes(&garbage, path, None);
            let mut flipped = bytes.clone();
            let i = at.index(flipped.len());
            flipped[i] ^= 1 << bit;
            if let Ok(read) = read_bytes(&flipped, path, None) {
                proptest::prop_assert!(records.starts_with(&read.records));
            }
        }
    }

    thread_local! {
        static LOGGED: (Vec<u8>, Vec<LogRecord>) = {
            let (dir, _) = logged(None);
            let path = list_files(dir.path()).unwrap()[0].1.clone();
            let bytes = std::fs::read(&path).unwrap();
            let records = read_bytes(&bytes, &path, None).unwrap().records;
            (bytes, records)
        };
    }
}

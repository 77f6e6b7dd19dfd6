//! The raft log and vote on disk.
//!
//! The log is one append-only file of records, each `[len u32 LE][crc32 u32 LE][payload]` with
//! a MessagePack payload: an entry, a truncation (drop entries from an index on) or a purge
//! (drop entries up to a log id). Appends are synced before openraft is told they are durable.
//! Opening replays the file into memory; a record cut short or failing its checksum can only be
//! the last one written when the node died, so the file is cut back to the last whole record and
//! the node goes on (raft re-sends anything that was not acknowledged). When purged records make
//! up most of the file it is rewritten with only the live entries (atomically).
//!
//! The vote is its own small file, replaced atomically on every change.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{AnyError, RaftLogReader, StorageIOError};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::files;
use crate::raft_types::{Entry, LogId, StorageError, TypeConfig, Vote};

const LOG_FILE: &str = "raft-log";
const VOTE_FILE: &str = "raft-vote";
/// Header of one record: length and checksum of the payload.
const HEADER: usize = 8;
/// The largest record accepted when reading; anything longer is a torn or corrupt length.
const MAX_RECORD: usize = 64 << 20;
/// Rewrite the file once it holds this many more records than live entries.
const COMPACT_SLACK: usize = 4096;

#[derive(Serialize, Deserialize)]
enum Record {
    Entry(Entry),
    /// Entries with this index and above are gone.
    Truncate(u64),
    /// Entries up to and including this id are gone.
    Purge(LogId),
}

struct Inner {
    dir: PathBuf,
    file: File,
    entries: BTreeMap<u64, Entry>,
    last_purged: Option<LogId>,
    vote: Option<Vote>,
    /// Records in the file, to decide when to compact.
    records: usize,
}

/// The log store; clones share one log (the reader openraft asks for is a clone).
#[derive(Clone)]
pub struct LogStore {
    inner: Arc<Mutex<Inner>>,
}

fn io_err(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

impl LogStore {
    /// Open (or create) the log and vote in `dir`, recovering a torn last record.
    pub fn open(dir: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(LOG_FILE);
        let bytes = files::read_optional(&path)?.unwrap_or_default();
        let mut entries = BTreeMap::new();
        let mut last_purged = None;
        let mut at = 0;
        let mut records = 0;
        while let Some((record, next)) = read_record(&bytes, at) {
            match record {
                Record::Entry(e) => {
                    entries.insert(e.log_id.index, e);
                }
                Record::Truncate(index) => {
                    entries.split_off(&index);
                }
                Record::Purge(id) => {
                    entries = entries.split_off(&(id.index + 1));
                    last_purged = Some(id);
                }
            }
            records += 1;
            at = next;
        }
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        if at < bytes.len() {
            tracing::warn!(
                file = %path.display(),
                kept = at,
                dropped = bytes.len() - at,
                "the raft log ends in a torn record (a crash mid-write); cutting it off"
            );
            file.set_len(at as u64)?;
            file.sync_all()?;
        }
        let vote = match files::read_optional(&dir.join(VOTE_FILE))? {
            Some(b) => Some(rmp_serde::from_slice(&b).map_err(io_err)?),
            None => None,
        };
        Ok(Self {
            inner: Arc::new(Mutex::new(Inner {
                dir: dir.to_path_buf(),
                file,
                entries,
                last_purged,
                vote,
                records,
            })),
        })
    }
}

/// The record at `at` and where the next one starts, or `None` at the end or at a torn record.
fn read_record(bytes: &[u8], at: usize) -> Option<(Record, usize)> {
    let header = bytes.get(at..at + HEADER)?;
    let len = u32::from_le_bytes(header[..4].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(header[4..].try_into().ok()?);
    if len > MAX_RECORD {
        return None;
    }
    let payload = bytes.get(at + HEADER..at + HEADER + len)?;
    if crc32fast::hash(payload) != crc {
        return None;
    }
    let record = rmp_serde::from_slice(payload).ok()?;
    Some((record, at + HEADER + len))
}

fn encode(record: &Record, out: &mut Vec<u8>) -> io::Result<()> {
    let payload = rmp_serde::to_vec(record).map_err(io_err)?;
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    Ok(())
}

impl Inner {
    fn write(&mut self, records: &[Record]) -> io::Result<()> {
        let mut buf = Vec::new();
        for r in records {
            encode(r, &mut buf)?;
        }
        self.file.write_all(&buf)?;
        self.file.sync_data()?;
        self.records += records.len();
        Ok(())
    }

    /// Rewrite the file with only the live entries once dead records dominate it.
    fn maybe_compact(&mut self) -> io::Result<()> {
        if self.records < self.entries.len() + COMPACT_SLACK {
            return Ok(());
        }
        let mut buf = Vec::new();
        if let Some(p) = self.last_purged {
            encode(&Record::Purge(p), &mut buf)?;
        }
        for e in self.entries.values() {
            encode(&Record::Entry(e.clone()), &mut buf)?;
        }
        let path = self.dir.join(LOG_FILE);
        files::write_atomic(&path, &buf)?;
        self.file = OpenOptions::new().append(true).open(&path)?;
        self.records = self.entries.len() + usize::from(self.last_purged.is_some());
        Ok(())
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + std::fmt::Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let inner = self.inner.lock();
        Ok(inner.entries.range(range).map(|(_, e)| e.clone()).collect())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let inner = self.inner.lock();
        let last = inner.entries.values().next_back().map(|e| e.log_id);
        Ok(LogState {
            last_purged_log_id: inner.last_purged,
            last_log_id: last.or(inner.last_purged),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        let mut inner = self.inner.lock();
        let bytes =
            rmp_serde::to_vec(vote).map_err(|e| StorageIOError::write_vote(AnyError::new(&e)))?;
        files::write_atomic(&inner.dir.join(VOTE_FILE), &bytes)
            .map_err(|e| StorageIOError::write_vote(AnyError::new(&e)))?;
        inner.vote = Some(*vote);
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        Ok(self.inner.lock().vote)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let mut inner = self.inner.lock();
        let records: Vec<Record> = entries.into_iter().map(Record::Entry).collect();
        let written = inner.write(&records);
        match written {
            Ok(()) => {
                for r in records {
                    if let Record::Entry(e) = r {
                        inner.entries.insert(e.log_id.index, e);
                    }
                }
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                let err = StorageIOError::write_logs(AnyError::new(&e));
                callback.log_io_completed(Err(e));
                Err(err.into())
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let mut inner = self.inner.lock();
        inner
            .write(&[Record::Truncate(log_id.index)])
            .map_err(|e| StorageIOError::write_logs(AnyError::new(&e)))?;
        inner.entries.split_off(&log_id.index);
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let mut inner = self.inner.lock();
        inner
            .write(&[Record::Purge(log_id)])
            .map_err(|e| StorageIOError::write_logs(AnyError::new(&e)))?;
        inner.entries = inner.entries.split_off(&(log_id.index + 1));
        inner.last_purged = Some(log_id);
        inner
            .maybe_compact()
            .map_err(|e| StorageIOError::write_logs(AnyError::new(&e)))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::{CommittedLeaderId, EntryPayload};

    fn entry(index: u64) -> Entry {
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
            payload: EntryPayload::Blank,
        }
    }

    fn append_sync(store: &LogStore, e: Entry) {
        let mut inner = store.inner.lock();
        inner.write(&[Record::Entry(e.clone())]).unwrap();
        inner.entries.insert(e.log_id.index, e);
    }

    #[test]
    fn a_torn_last_record_is_cut_off_and_the_rest_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = LogStore::open(dir.path()).unwrap();
        for i in 1..=3 {
            append_sync(&store, entry(i));
        }
        drop(store);
        let path = dir.path().join(LOG_FILE);
        let whole = std::fs::metadata(&path).unwrap().len();
        // A crash in the middle of writing a fourth record.
        let mut torn = Vec::new();
        encode(&Record::Entry(entry(4)), &mut torn).unwrap();
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&torn[..torn.len() - 3]).unwrap();
        drop(f);

        let store = LogStore::open(dir.path()).unwrap();
        let inner = store.inner.lock();
        assert_eq!(
            inner.entries.keys().copied().collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        assert_eq!(std::fs::metadata(&path).unwrap().len(), whole);
        drop(inner);
        // And the log goes on from there.
        append_sync(&store, entry(4));
        drop(store);
        let store = LogStore::open(dir.path()).unwrap();
        assert_eq!(store.inner.lock().entries.len(), 4);
    }

    #[test]
    fn a_flipped_byte_in_the_last_record_is_treated_as_torn() {
        let dir = tempfile::tempdir().unwrap();
        let store = LogStore::open(dir.path()).unwrap();
        append_sync(&store, entry(1));
        append_sync(&store, entry(2));
        drop(store);
        let path = dir.path().join(LOG_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        let store = LogStore::open(dir.path()).unwrap();
        assert_eq!(
            store
                .inner
                .lock()
                .entries
                .keys()
                .copied()
                .collect::<Vec<_>>(),
            vec![1]
        );
    }

    #[test]
    fn truncations_and_purges_survive_a_reopen_and_compaction() {
        let dir = tempfile::tempdir().unwrap();
        let store = LogStore::open(dir.path()).unwrap();
        for i in 1..=10 {
            append_sync(&store, entry(i));
        }
        {
            let mut inner = store.inner.lock();
            inner
                .write(&[Record::Truncate(8), Record::Purge(entry(3).log_id)])
                .unwrap();
        }
        drop(store);
        let store = LogStore::open(dir.path()).unwrap();
        {
            let mut inner = store.inner.lock();
            assert_eq!(
                inner.entries.keys().copied().collect::<Vec<_>>(),
                vec![4, 5, 6, 7]
            );
            assert_eq!(inner.last_purged, Some(entry(3).log_id));
            inner.records = usize::MAX / 2; // force the rewrite
            inner.maybe_compact().unwrap();
        }
        drop(store);
        let store = LogStore::open(dir.path()).unwrap();
        let inner = store.inner.lock();
        assert_eq!(
            inner.entries.keys().copied().collect::<Vec<_>>(),
            vec![4, 5, 6, 7]
        );
        assert_eq!(inner.records, 5);
    }
}

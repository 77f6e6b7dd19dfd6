//! The data snapshot: every live key of every namespace, in one [`frame`](super::frame) file.
//!
//! Records, in order: for each namespace a `Namespace` record, then its entries in chunks of about
//! a megabyte; last an `End` record counting namespaces and entries. Deadlines are Unix
//! milliseconds, so a key restored after downtime keeps its real expiry and a key that expired
//! while the node was down is not restored.
//!
//! Writing copies one shard at a time under that shard's lock and encodes outside it, so traffic
//! keeps flowing; the snapshot is consistent per shard, not across shards (as with any snapshot
//! taken while serving). Reading checks the whole file before returning anything.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::atomic::AtomicFile;
use super::crypto::KeyRing;
use super::frame::{FrameReader, FrameWriter};
use super::{PersistError, unix_now_ms};
use crate::namespace::Namespaces;
use crate::store::{EntryCopy, Form, ValueKind};

pub const MAGIC: &[u8; 8] = b"LARDSNAP";
pub const VERSION: u16 = 1;
/// Entries are written in chunks of about this many payload bytes.
const CHUNK_BYTES: usize = 1 << 20;

#[derive(Debug, Serialize, Deserialize)]
enum Record {
    /// First, in files that have it: replay starts at this append-only log generation (files
    /// without it replay every log file).
    LogFrom {
        generation: u64,
    },
    /// The entries that follow belong to this namespace.
    Namespace {
        name: String,
    },
    Entries(Vec<SavedEntry>),
    /// The last record: what came before, so a file cut at a frame boundary is caught.
    End {
        namespaces: u32,
        entries: u64,
        saved_at_unix_ms: u64,
    },
}

/// One key as saved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedEntry {
    #[serde(with = "serde_bytes")]
    pub key: Vec<u8>,
    /// As stored: a zstd frame when `compressed`.
    #[serde(with = "serde_bytes")]
    pub value: Vec<u8>,
    /// Unix milliseconds after which the key is gone; 0 for no expiry.
    pub expires_at_unix_ms: u64,
    #[serde(default)]
    pub compressed: bool,
    /// What the value is; a collection's value is its encoding (see [`crate::value`]).
    #[serde(default)]
    pub kind: ValueKind,
}

/// What a save wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotSummary {
    pub namespaces: usize,
    pub keys: u64,
    pub saved_at_unix_ms: u64,
}

/// A snapshot read back and checked whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotData {
    pub saved_at_unix_ms: u64,
    /// The first append-only log generation to replay after this snapshot.
    pub log_from: u64,
    /// Each namespace's entries, by name, in the order saved.
    pub namespaces: Vec<(String, Vec<SavedEntry>)>,
}

impl SnapshotData {
    pub fn keys(&self) -> u64 {
        self.namespaces.iter().map(|(_, e)| e.len() as u64).sum()
    }
}

/// What a restore put back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestoreSummary {
    pub restored: u64,
    /// Keys whose deadline passed while the node was down: not restored.
    pub expired: u64,
    /// Keys the namespace no longer accepts (its limits shrank since the save).
    pub refused: u64,
    /// Namespaces in the snapshot that no longer exist; their keys are dropped.
    pub missing_namespaces: Vec<String>,
}

/// Save every namespace's live keys to `path`, atomically, encrypted when `keys` is given.
/// `log_from` is the append-only log generation a restore replays from (the one that started
/// before this copy did).
pub fn write(
    namespaces: &Namespaces,
    path: &Path,
    keys: Option<Arc<KeyRing>>,
    log_from: u64,
) -> Result<SnapshotSummary, PersistError> {
    let mut file = AtomicFile::create(path)?;
    let mut out = FrameWriter::new(file.writer(), path, MAGIC, VERSION, keys)?;
    out.record(&Record::LogFrom {
        generation: log_from,
    })?;
    let mut list = namespaces.list();
    list.sort_by(|a, b| a.name().cmp(b.name()));
    let mut keys = 0u64;
    let mut copied: Vec<EntryCopy> = Vec::new();
    let mut chunk: Vec<SavedEntry> = Vec::new();
    for ns in &list {
        out.record(&Record::Namespace {
            name: ns.name().to_string(),
        })?;
        let store = ns.store();
        let mut chunk_bytes = 0usize;
        for shard in 0..store.shard_count() {
            copied.clear();
            // The wall clock is read before the copy reads the store's clock, so a remaining TTL
            // added to it can only end early (by the copy's duration), never late.
            let now = unix_now_ms();
            store.copy_shard(shard, &mut copied);
            for e in copied.drain(..) {
                chunk_bytes += e.key.len() + e.value.len() + 16;
                chunk.push(SavedEntry {
                    compressed: e.form.compressed,
                    kind: e.form.kind,
                    expires_at_unix_ms: e.ttl_ms.map_or(0, |ttl| now.saturating_add(ttl).max(1)),
                    key: e.key,
                    value: e.value,
                });
                if chunk_bytes >= CHUNK_BYTES {
                    keys += chunk.len() as u64;
                    out.record(&Record::Entries(std::mem::take(&mut chunk)))?;
                    chunk_bytes = 0;
                }
            }
        }
        if !chunk.is_empty() {
            keys += chunk.len() as u64;
            out.record(&Record::Entries(std::mem::take(&mut chunk)))?;
        }
    }
    let saved_at_unix_ms = unix_now_ms();
    out.record(&Record::End {
        namespaces: list.len() as u32,
        entries: keys,
        saved_at_unix_ms,
    })?;
    drop(out);
    file.commit()?;
    Ok(SnapshotSummary {
        namespaces: list.len(),
        keys,
        saved_at_unix_ms,
    })
}

/// Read the snapshot at `path`: `Ok(None)` when there is none.
pub fn read(path: &Path, keys: Option<Arc<KeyRing>>) -> Result<Option<SnapshotData>, PersistError> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(PersistError::io(path, e)),
    };
    read_from(std::io::BufReader::new(file), path, keys).map(Some)
}

/// Read and check a whole snapshot from `input` (`path` names it in errors).
pub fn read_from(
    input: impl Read,
    path: &Path,
    keys: Option<Arc<KeyRing>>,
) -> Result<SnapshotData, PersistError> {
    let mut reader = FrameReader::new(input, path, MAGIC, VERSION, keys)?;
    let mut namespaces: Vec<(String, Vec<SavedEntry>)> = Vec::new();
    let mut log_from = 0;
    let mut entries = 0u64;
    loop {
        let Some(record) = reader.next_record::<Record>()? else {
            return Err(PersistError::invalid(
                path,
                "truncated: the file ends before its end record",
            ));
        };
        match record {
            Record::LogFrom { generation } if namespaces.is_empty() && entries == 0 => {
                log_from = generation;
            }
            Record::LogFrom { .. } => {
                return Err(PersistError::invalid(
                    path,
                    "a log record after the first record",
                ));
            }
            Record::Namespace { name } => namespaces.push((name, Vec::new())),
            Record::Entries(chunk) => {
                let Some((_, current)) = namespaces.last_mut() else {
                    return Err(PersistError::invalid(
                        path,
                        "entries before any namespace record",
                    ));
                };
                entries += chunk.len() as u64;
                current.extend(chunk);
            }
            Record::End {
                namespaces: n,
                entries: e,
                saved_at_unix_ms,
            } => {
                if n as usize != namespaces.len() || e != entries {
                    return Err(PersistError::invalid(
                        path,
                        format!(
                            "the end record counts {n} namespaces and {e} keys, the file holds \
                             {} and {entries}",
                            namespaces.len()
                        ),
                    ));
                }
                if reader.next_record::<Record>()?.is_some() {
                    return Err(PersistError::invalid(path, "data after the end record"));
                }
                return Ok(SnapshotData {
                    saved_at_unix_ms,
                    log_from,
                    namespaces,
                });
            }
        }
    }
}

/// Put a snapshot's keys back into the namespaces of the same names, skipping keys that expired
/// in the meantime.
pub fn restore(namespaces: &Namespaces, data: SnapshotData) -> RestoreSummary {
    let mut summary = RestoreSummary::default();
    for (name, entries) in data.namespaces {
        let Ok(ns) = namespaces.get(&name) else {
            summary.missing_namespaces.push(name);
            continue;
        };
        let store = ns.store();
        for e in entries {
            // The clock is read per key: a restore of millions of keys takes a while, and a TTL
            // measured against its start would come back longer than it was.
            let now = unix_now_ms();
            let ttl_ms = match e.expires_at_unix_ms {
                0 => None,
                deadline if deadline <= now => {
                    summary.expired += 1;
                    continue;
                }
                deadline => Some(deadline - now),
            };
            let form = Form {
                kind: e.kind,
                compressed: e.compressed,
            };
            match store.restore(&e.key, &e.value, form, ttl_ms) {
                Ok(()) => summary.restored += 1,
                Err(_) => summary.refused += 1,
            }
        }
    }
    summary
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{NamespaceConfig, SetOptions, Ttl};
    use proptest::prelude::*;

    fn filled() -> Namespaces {
        let all = Namespaces::new(NamespaceConfig::default()).unwrap();
        all.create("sessions", NamespaceConfig::default()).unwrap();
        let default = all.get("default").unwrap();
        for i in 0..500u32 {
            default
                .store()
                .set(
                    format!("k{i}").as_bytes(),
                    &i.to_le_bytes(),
                    SetOptions::default(),
                )
                .unwrap();
        }
        let sessions = all.get("sessions").unwrap();
        sessions
            .store()
            .set(
                b"s",
                &[0, 255, 1],
                SetOptions {
                    expiry: crate::Expiry::AfterMs(60_000),
                    ..Default::default()
                },
            )
            .unwrap();
        all
    }

    fn saved_bytes(all: &Namespaces) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.lsnap");
        write(all, &path, None, 0).unwrap();
        std::fs::read(&path).unwrap()
    }

    #[test]
    fn round_trip_keeps_values_and_ttls() {
        let all = filled();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.lsnap");
        let summary = write(&all, &path, None, 0).unwrap();
        assert_eq!((summary.namespaces, summary.keys), (2, 501));

        let fresh = Namespaces::new(NamespaceConfig::default()).unwrap();
        fresh
            .create("sessions", NamespaceConfig::default())
            .unwrap();
        let data = read(&path, None).unwrap().expect("a snapshot");
        assert_eq!(data.keys(), 501);
        let restored = restore(&fresh, data);
        assert_eq!(restored.restored, 501);
        let default = fresh.get("default").unwrap();
        for i in 0..500u32 {
            assert_eq!(
                default.store().get_vec(format!("k{i}").as_bytes()),
                Some(i.to_le_bytes().to_vec())
            );
            assert_eq!(
                default.store().ttl(format!("k{i}").as_bytes()),
                Ttl::Persistent
            );
        }
        let sessions = fresh.get("sessions").unwrap();
        assert_eq!(sessions.store().get_vec(b"s"), Some(vec![0, 255, 1]));
        match sessions.store().ttl(b"s") {
            Ttl::RemainingMs(ms) => assert!(ms > 55_000 && ms <= 60_000, "{ms}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn expired_keys_are_not_restored_and_missing_namespaces_are_reported() {
        let data = SnapshotData {
            saved_at_unix_ms: 1,
            log_from: 0,
            namespaces: vec![
                (
                    "default".into(),
                    vec![
                        SavedEntry {
                            key: b"gone".to_vec(),
                            value: b"x".to_vec(),
                            expires_at_unix_ms: 1,
                            compressed: false,
                            kind: ValueKind::String,
                        },
                        SavedEntry {
                            key: b"kept".to_vec(),
                            value: b"y".to_vec(),
                            expires_at_unix_ms: 0,
                            compressed: false,
                            kind: ValueKind::String,
                        },
                    ],
                ),
                ("nowhere".into(), vec![]),
            ],
        };
        let all = Namespaces::new(NamespaceConfig::default()).unwrap();
        let summary = restore(&all, data.clone());
        assert_eq!((summary.restored, summary.expired), (1, 1));
        assert_eq!(summary.missing_namespaces, vec!["nowhere".to_string()]);
        assert!(
            all.get("default")
                .unwrap()
                .store()
                .get_vec(b"gone")
                .is_none()
        );
    }

    #[test]
    fn a_file_cut_at_a_frame_boundary_is_refused() {
        let bytes = saved_bytes(&filled());
        // Walk the frames; cutting before the last one drops the end record and leaves every
        // remaining frame intact.
        let mut at = super::super::frame::HEADER_LEN;
        let mut last = at;
        while at < bytes.len() {
            last = at;
            let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
            at += 12 + len;
        }
        assert_eq!(at, bytes.len());
        let err = read_from(&bytes[..last], Path::new("data.lsnap"), None).unwrap_err();
        assert!(err.to_string().contains("end record"), "{err}");
    }

    #[test]
    fn foreign_and_newer_files_are_refused_with_the_reason() {
        let mut bytes = saved_bytes(&filled());
        let err = read_from(&b"PNG\x89 not a snapshot"[..], Path::new("f"), None).unwrap_err();
        assert!(err.to_string().contains("not a LARDSNAP file"), "{err}");
        bytes[8] = 9;
        let err = read_from(&bytes[..], Path::new("f"), None).unwrap_err();
        assert!(err.to_string().contains("format version 9"), "{err}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// A flipped byte anywhere is refused as a whole; nothing panics.
        #[test]
        fn any_flipped_byte_is_refused(at in any::<prop::sample::Index>(), bit in 0u8..8) {
            let bytes = SAVED.with(|b| b.clone());
            let mut bad = bytes.clone();
            let i = at.index(bad.len());
            bad[i] ^= 1 << bit;
            prop_assert!(read_from(&bad[..], Path::new("f"), None).is_err());
        }

        /// Any truncation is refused; nothing panics.
        #[test]
        fn any_truncation_is_refused(at in any::<prop::sample::Index>()) {
            let bytes = SAVED.with(|b| b.clone());
            let cut = at.index(bytes.len());
            prop_assert!(read_from(&bytes[..cut], Path::new("f"), None).is_err());
        }

        /// Arbitrary bytes after a valid header never panic the reader.
        #[test]
        fn garbage_never_panics(tail in prop::collection::vec(any::<u8>(), 0..512)) {
            let mut bytes = SAVED.with(|b| b[..super::super::frame::HEADER_LEN].to_vec());
            bytes.extend(tail);
            let _ = read_from(&bytes[..], Path::new("f"), None);
        }
    }

    thread_local! {
        static SAVED: Vec<u8> = saved_bytes(&filled());
    }
}

#[cfg(test)]
mod encrypted_tests {
    use super::super::frame::HEADER_LEN;
    use super::*;
    use crate::{NamespaceConfig, SetOptions};

    #[test]
    fn an_encrypted_snapshot_round_trips_and_hides_its_values() {
        let keys = Arc::new(
            KeyRing::parse("9:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
                .unwrap(),
        );
        let all = Namespaces::new(NamespaceConfig::default()).unwrap();
        let store = all.get("default").unwrap();
        for i in 0..200u32 {
            let value = format!("visible-value-{i}");
            store
                .store()
                .set(
                    format!("k{i}").as_bytes(),
                    value.as_bytes(),
                    SetOptions::default(),
                )
                .unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.lsnap");
        write(&all, &path, Some(Arc::clone(&keys)), 7).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert!(!bytes.windows(13).any(|w| w == b"visible-value"));
        let data = read(&path, Some(Arc::clone(&keys))).unwrap().unwrap();
        assert_eq!((data.keys(), data.log_from), (200, 7));
        let err = read(&path, None).unwrap_err().to_string();
        assert!(err.contains("encrypted with key id 9"), "{err}");
        // Frames swapped in place: each is bound to its position, so it does not open.
        let first = HEADER_LEN;
        let len = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        let second = first + 12 + len(first);
        let third = second + 12 + len(second);
        let mut swapped = bytes[..first].to_vec();
        swapped.extend_from_slice(&bytes[second..third]);
        swapped.extend_from_slice(&bytes[first..second]);
        swapped.extend_from_slice(&bytes[third..]);
        let err = read_from(&swapped[..], &path, Some(keys))
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not decrypt"), "{err}");
    }
}

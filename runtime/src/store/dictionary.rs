//! Compression dictionaries trained from a namespace's own values.
//!
//! Small values (a 300-byte JSON object) barely compress on their own: zstd has nothing to refer
//! back to. A dictionary trained on the namespace's values (zstd's dictionary builder) gives it
//! the shared structure — field names, common strings — up front, so each value stores only what
//! is particular to it.
//!
//! A namespace has at most one **current** dictionary, used for new writes, and keeps every older
//! one that stored values may still name: a zstd frame records its dictionary's id, so a value
//! reads back whatever dictionary was current when it was written. Dictionaries no stored value
//! names any more are dropped when the next one is trained. Dictionaries live in the catalog, so
//! a restarted node can read the values its snapshot and log restore.

use std::collections::HashMap;
use std::sync::Arc;

use zstd::zstd_safe;

use super::Store;
use crate::clock::now_ms;

/// Largest dictionary accepted (zstd's own builder rarely helps past a few hundred KiB).
pub const MAX_DICTIONARY_BYTES: usize = 1 << 20;
/// Smallest dictionary that can be asked for.
pub const MIN_DICTIONARY_BYTES: usize = 1024;
/// How many dictionaries a namespace keeps (current plus older ones values still name).
pub const MAX_RETAINED: usize = 8;

/// Why a dictionary cannot be trained or loaded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DictionaryError {
    #[error(
        "training needs at least {needed} values to learn from; the namespace holds {found} \
         (write representative values first)"
    )]
    TooFewSamples { needed: usize, found: usize },
    #[error("zstd could not train a dictionary from these values: {0}")]
    Training(String),
    #[error("not a zstd dictionary with an id (it must come from zstd's dictionary builder)")]
    NotADictionary,
    #[error(
        "{MAX_RETAINED} dictionaries are still named by stored values; rewrite or flush the \
         older values before training another"
    )]
    TooMany,
}

/// Fewest values training accepts: zstd's builder fails or learns noise from fewer.
pub const MIN_SAMPLES: usize = 16;

/// Train a dictionary of at most `max_bytes` from `samples` (plain values).
pub fn train(samples: &[Vec<u8>], max_bytes: usize) -> Result<Vec<u8>, DictionaryError> {
    if samples.len() < MIN_SAMPLES {
        return Err(DictionaryError::TooFewSamples {
            needed: MIN_SAMPLES,
            found: samples.len(),
        });
    }
    let max_bytes = max_bytes.clamp(MIN_DICTIONARY_BYTES, MAX_DICTIONARY_BYTES);
    let bytes = zstd::dict::from_samples(samples, max_bytes)
        .map_err(|e| DictionaryError::Training(e.to_string()))?;
    if zstd_safe::get_dict_id_from_dict(&bytes).is_none() {
        return Err(DictionaryError::NotADictionary);
    }
    Ok(bytes)
}

/// One dictionary, ready to decompress with.
pub struct Dictionary {
    id: u32,
    bytes: Arc<[u8]>,
    ddict: zstd_safe::DDict<'static>,
}

impl std::fmt::Debug for Dictionary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dictionary")
            .field("id", &self.id)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

impl Dictionary {
    /// Check and prepare `bytes` (a trained zstd dictionary).
    pub fn new(bytes: &[u8]) -> Result<Self, DictionaryError> {
        let id = zstd_safe::get_dict_id_from_dict(bytes)
            .ok_or(DictionaryError::NotADictionary)?
            .get();
        let ddict = zstd_safe::DDict::try_create(bytes).ok_or(DictionaryError::NotADictionary)?;
        Ok(Self {
            id,
            bytes: bytes.into(),
            ddict,
        })
    }

    /// The id zstd writes into every frame compressed with this dictionary.
    pub fn id(&self) -> u32 {
        self.id
    }

    pub fn bytes(&self) -> &Arc<[u8]> {
        &self.bytes
    }
}

/// The current dictionary prepared for compressing at one level.
struct Current {
    dictionary: Arc<Dictionary>,
    cdict: zstd_safe::CDict<'static>,
}

/// A namespace's dictionaries: the current one (for writes) and every one values may name.
#[derive(Default)]
pub struct Dictionaries {
    current: Option<Current>,
    by_id: HashMap<u32, Arc<Dictionary>>,
}

impl std::fmt::Debug for Dictionaries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dictionaries")
            .field("current", &self.current_id())
            .field("retained", &self.by_id.len())
            .finish()
    }
}

impl Dictionaries {
    /// `retained` (every dictionary values may name) with `current` (one of their ids, or none)
    /// for writes at `level`.
    pub fn new(retained: Vec<Arc<Dictionary>>, current: Option<u32>, level: i32) -> Self {
        let by_id: HashMap<u32, Arc<Dictionary>> =
            retained.into_iter().map(|d| (d.id, d)).collect();
        let current = current
            .and_then(|id| by_id.get(&id))
            .and_then(|d| prepare(d, level));
        Self { current, by_id }
    }

    pub fn current_id(&self) -> Option<u32> {
        self.current.as_ref().map(|c| c.dictionary.id)
    }

    pub fn current(&self) -> Option<&Arc<Dictionary>> {
        self.current.as_ref().map(|c| &c.dictionary)
    }

    /// Every retained dictionary, current or not, by id.
    pub fn retained(&self) -> Vec<Arc<Dictionary>> {
        let mut all: Vec<_> = self.by_id.values().cloned().collect();
        all.sort_by_key(|d| d.id);
        all
    }

    pub fn get(&self, id: u32) -> Option<&Arc<Dictionary>> {
        self.by_id.get(&id)
    }

    /// The same dictionaries, with writes compressed at `level`.
    pub fn at_level(&self, level: i32) -> Self {
        Self::new(self.retained(), self.current_id(), level)
    }

    /// Compress `value` with the current dictionary; `None` without one (or if zstd fails).
    pub fn compress(&self, value: &[u8]) -> Option<Vec<u8>> {
        let current = self.current.as_ref()?;
        let mut out = Vec::with_capacity(zstd_safe::compress_bound(value.len()));
        CCTX.with(|c| {
            let mut c = c.borrow_mut();
            let cctx = match &mut *c {
                Some(c) => c,
                slot => slot.insert(zstd_safe::CCtx::try_create()?),
            };
            cctx.compress_using_cdict(&mut out, value, &current.cdict)
                .ok()
        })?;
        Some(out)
    }

    /// Decompress a frame that names dictionary `id`, into `size` bytes; `None` when this
    /// namespace has no such dictionary or the frame is damaged.
    pub fn decompress(&self, id: u32, frame: &[u8], size: usize) -> Option<Vec<u8>> {
        let dictionary = self.by_id.get(&id)?;
        let mut out = Vec::with_capacity(size);
        DCTX.with(|d| {
            let mut d = d.borrow_mut();
            let dctx = match &mut *d {
                Some(d) => d,
                slot => slot.insert(zstd_safe::DCtx::try_create()?),
            };
            dctx.decompress_using_ddict(&mut out, frame, &dictionary.ddict)
                .ok()
        })?;
        (out.len() == size).then_some(out)
    }
}

fn prepare(dictionary: &Arc<Dictionary>, level: i32) -> Option<Current> {
    Some(Current {
        dictionary: Arc::clone(dictionary),
        cdict: zstd_safe::CDict::try_create(&dictionary.bytes, level)?,
    })
}

/// The dictionary id a stored zstd frame names; `None` for a frame compressed without one.
pub fn id_of_frame(frame: &[u8]) -> Option<u32> {
    zstd_safe::get_dict_id_from_frame(frame).map(|id| id.get())
}

// One context per thread, reused (see `compression` for why). The context holds no reference
// to a dictionary between calls: each call names the one it uses.
thread_local! {
    static CCTX: std::cell::RefCell<Option<zstd_safe::CCtx<'static>>> =
        const { std::cell::RefCell::new(None) };
    static DCTX: std::cell::RefCell<Option<zstd_safe::DCtx<'static>>> =
        const { std::cell::RefCell::new(None) };
}

/// The most bytes of values one training reads.
pub const MAX_SAMPLE_BYTES: usize = 64 << 20;

impl Store {
    /// Train a dictionary of at most `max_bytes` on up to `max_samples` of the namespace's values
    /// and make it current. Blocking (training takes CPU time in proportion to the samples):
    /// call off the async workers. Returns the new dictionary and how many values it learnt from.
    pub fn train_dictionary(
        &self,
        max_bytes: usize,
        max_samples: usize,
    ) -> Result<(Arc<Dictionary>, usize), DictionaryError> {
        let samples = self.sample_values(max_samples, MAX_SAMPLE_BYTES);
        let bytes = train(&samples, max_bytes)?;
        let dictionary = Arc::new(Dictionary::new(&bytes)?);
        self.add_dictionary(Arc::clone(&dictionary))?;
        Ok((dictionary, samples.len()))
    }

    fn level(&self) -> i32 {
        self.compression.read().map_or(
            super::compression::CompressionConfig::default().level,
            |c| c.level,
        )
    }

    /// Install `retained` (dictionaries stored values may name) with `current` compressing new
    /// writes. For restoring the catalog at start, before any value is restored.
    pub fn set_dictionaries(&self, retained: Vec<Arc<Dictionary>>, current: Option<u32>) {
        let level = self.level();
        *self.dictionaries.write() = Arc::new(Dictionaries::new(retained, current, level));
    }

    /// The dictionaries as they are now.
    pub fn dictionaries(&self) -> Arc<Dictionaries> {
        Arc::clone(&self.dictionaries.read())
    }

    /// Make `dictionary` the current one. Older dictionaries are kept while stored values name
    /// them (found by reading each value's frame header, one shard lock at a time); fails,
    /// changing nothing, if more than [`MAX_RETAINED`] would then be kept.
    pub fn add_dictionary(&self, dictionary: Arc<Dictionary>) -> Result<(), DictionaryError> {
        let referenced = self.dictionary_ids_in_use();
        let before = self.dictionaries();
        let id = dictionary.id();
        let mut retained: Vec<Arc<Dictionary>> = before
            .retained()
            .into_iter()
            // The current one stays too: a write may be compressing with it right now.
            .filter(|d| {
                d.id() != id
                    && (referenced.contains(&d.id()) || before.current_id() == Some(d.id()))
            })
            .collect();
        if retained.len() >= MAX_RETAINED {
            return Err(DictionaryError::TooMany);
        }
        retained.push(dictionary);
        self.set_dictionaries(retained, Some(id));
        Ok(())
    }

    /// Stop compressing new writes with a dictionary; values that name one still read back.
    pub fn clear_current_dictionary(&self) {
        let now = self.dictionaries();
        self.set_dictionaries(now.retained(), None);
    }

    /// Ids of the dictionaries stored values were compressed with.
    pub fn dictionary_ids_in_use(&self) -> std::collections::HashSet<u32> {
        let now = now_ms();
        let mut ids = std::collections::HashSet::new();
        for s in self.shards.iter() {
            s.0.lock().for_each_live(now, |e| {
                if e.is_compressed()
                    && let Some(id) = id_of_frame(e.value())
                {
                    ids.insert(id);
                }
            });
        }
        ids
    }

    /// Up to `max_values` plain values (at most `max_bytes` in all), taken evenly from every
    /// shard, to train a dictionary on. Each shard's lock is held only while copying its share.
    pub fn sample_values(&self, max_values: usize, max_bytes: usize) -> Vec<Vec<u8>> {
        let now = now_ms();
        let per_shard = max_values.div_ceil(self.shards.len()).max(1);
        let mut out = Vec::new();
        let mut bytes = 0usize;
        let dictionaries = self.dictionaries();
        for s in self.shards.iter() {
            let mut copied: Vec<(bool, Vec<u8>)> = Vec::new();
            s.0.lock().for_each_live(now, |e| {
                if copied.len() < per_shard && !e.value().is_empty() {
                    copied.push((e.is_compressed(), e.value().to_vec()));
                }
            });
            for (compressed, value) in copied {
                let value = if compressed {
                    match super::compression::decode(&value, &dictionaries) {
                        Some(v) => v,
                        None => continue,
                    }
                } else {
                    value
                };
                if out.len() >= max_values || bytes + value.len() > max_bytes {
                    return out;
                }
                bytes += value.len();
                out.push(value);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Session-like JSON objects of about 300 bytes that share their structure.
    pub(crate) fn json_values(n: usize) -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| {
                format!(
                    r#"{{"session_id":"s-{i:08}","user":{{"id":{},"name":"user{}","locale":"en-GB","roles":["reader","commenter"]}},"cart":{{"items":{},"currency":"EUR","total":{}.{:02}}},"last_seen":"2026-11-{:02}T10:{:02}:00Z","flags":{{"beta":{},"newsletter":true}}}}"#,
                    i * 7919 % 100_000,
                    i % 977,
                    i % 9,
                    i * 13 % 500,
                    i % 100,
                    1 + i % 28,
                    i % 60,
                    i.is_multiple_of(2)
                )
                .into_bytes()
            })
            .collect()
    }

    #[test]
    fn a_trained_dictionary_shrinks_small_json_and_round_trips() {
        let values = json_values(2000);
        let bytes = train(&values, 16 * 1024).unwrap();
        let d = Arc::new(Dictionary::new(&bytes).unwrap());
        let id = d.id();
        let dicts = Dictionaries::new(vec![d], Some(id), 3);
        let sample = &values[1234];
        let plain_z = zstd::bulk::compress(sample, 3).unwrap();
        let dict_z = dicts.compress(sample).unwrap();
        assert!(
            dict_z.len() * 2 < plain_z.len(),
            "with the dictionary {} B, without {} B",
            dict_z.len(),
            plain_z.len()
        );
        assert_eq!(id_of_frame(&dict_z), Some(id));
        assert_eq!(id_of_frame(&plain_z), None);
        assert_eq!(
            dicts.decompress(id, &dict_z, sample.len()).unwrap(),
            *sample
        );
        assert!(dicts.decompress(id + 1, &dict_z, sample.len()).is_none());
        assert!(dicts.decompress(id, b"garbage", 7).is_none());
    }

    #[test]
    fn refuses_too_few_samples_and_non_dictionaries() {
        assert_eq!(
            train(&json_values(3), 4096),
            Err(DictionaryError::TooFewSamples {
                needed: MIN_SAMPLES,
                found: 3
            })
        );
        assert_eq!(
            Dictionary::new(b"just some bytes").unwrap_err(),
            DictionaryError::NotADictionary
        );
    }

    fn compressing_store() -> Store {
        let limits = super::super::StoreLimits {
            capacity_bytes: 64 << 20,
            max_item_size: 1 << 20,
            default_ttl_ms: 0,
        };
        let s = Store::new(4, limits, || {
            crate::policy::BuiltinPolicy::Lru.build(16 << 20)
        });
        s.set_compression(Some(super::super::compression::CompressionConfig {
            min_bytes: 64,
            ..Default::default()
        }));
        s
    }

    fn put_all(s: &Store, prefix: &str, values: &[Vec<u8>]) {
        for (i, v) in values.iter().enumerate() {
            s.set(format!("{prefix}{i}").as_bytes(), v, Default::default())
                .unwrap();
        }
    }

    #[test]
    fn a_store_compresses_with_its_trained_dictionary_and_reads_every_generation_back() {
        let s = compressing_store();
        let values = json_values(3000);
        put_all(&s, "a", &values[..1000]);
        let before = s.stats();
        let (first, learnt) = s.train_dictionary(16 * 1024, 10_000).unwrap();
        assert_eq!(learnt, 1000, "every value offered to training");
        put_all(&s, "b", &values[1000..2000]);
        let after = s.stats();
        let stored_without = before.value_bytes_stored;
        let stored_with = after.value_bytes_stored - before.value_bytes_stored;
        assert!(
            stored_with * 2 < stored_without,
            "1000 values: {stored_with} B stored with the dictionary, {stored_without} B without"
        );
        // A second dictionary: values of both earlier generations still read back.
        let (second, _) = s.train_dictionary(8 * 1024, 10_000).unwrap();
        assert_ne!(first.id(), second.id());
        put_all(&s, "c", &values[2000..]);
        for (i, v) in values.iter().enumerate() {
            let key = match i {
                0..1000 => format!("a{i}"),
                1000..2000 => format!("b{}", i - 1000),
                _ => format!("c{}", i - 2000),
            };
            assert_eq!(s.get_vec(key.as_bytes()).as_ref(), Some(v), "{key}");
        }
        let in_use = s.dictionary_ids_in_use();
        assert!(in_use.contains(&first.id()) && in_use.contains(&second.id()));

        // Once no value names the first dictionary, training again drops it.
        for i in 1000..2000 {
            s.delete(format!("b{}", i - 1000).as_bytes());
        }
        s.train_dictionary(8 * 1024, 10_000).unwrap();
        let kept: Vec<u32> = s.dictionaries().retained().iter().map(|d| d.id()).collect();
        assert!(!kept.contains(&first.id()), "kept {kept:?}");
        assert!(kept.contains(&second.id()), "still named by the c values");
    }

    #[test]
    fn restore_refuses_a_value_compressed_with_an_unknown_dictionary() {
        let s = compressing_store();
        let values = json_values(200);
        put_all(&s, "k", &values);
        s.train_dictionary(4096, 1000).unwrap();
        s.set(b"new", &values[7], Default::default()).unwrap();
        let mut copies = Vec::new();
        for shard in 0..s.shard_count() {
            s.copy_shard(shard, &mut copies);
        }
        let copy = copies.iter().find(|c| c.key == b"new").unwrap();
        assert!(copy.form.compressed && id_of_frame(&copy.value).is_some());

        let fresh = compressing_store();
        assert_eq!(
            fresh.restore(b"new", &copy.value, super::super::Form::string(true), None),
            Err(crate::error::StoreError::CorruptValue)
        );
        fresh.set_dictionaries(s.dictionaries().retained(), s.dictionaries().current_id());
        fresh
            .restore(b"new", &copy.value, super::super::Form::string(true), None)
            .unwrap();
        assert_eq!(fresh.get_vec(b"new").unwrap(), values[7]);
    }

    #[test]
    fn training_an_empty_namespace_says_what_is_missing() {
        let s = compressing_store();
        assert_eq!(
            s.train_dictionary(4096, 1000).unwrap_err(),
            DictionaryError::TooFewSamples {
                needed: MIN_SAMPLES,
                found: 0
            }
        );
        assert!(s.dictionaries().current().is_none());
    }
}

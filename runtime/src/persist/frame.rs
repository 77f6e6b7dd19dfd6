//! The container of every binary file in the data directory.
//!
//! ```text
//! header  magic [8]  version u16 LE  key id u16 LE (0: not encrypted)  file id u32 (0 when not encrypted)
//! frame*  length u32 LE  checksum u64 LE (xxh3-64 of the payload)  payload [length]
//! ```
//!
//! A payload is a MessagePack record, or, in an encrypted file (key id ≠ 0), that record sealed
//! by [`KeyRing::seal`] with the header and the frame's index as additional data (see
//! [`crypto`](super::crypto)). The checksum covers the payload as stored, so random corruption is
//! reported as such and a wrong key as a failure to decrypt.
//!
//! The file's own format decides what the records are and how it ends (a snapshot ends with a
//! record that counts what came before), so a file cut at a frame boundary is caught too. The
//! reader checks everything before handing out a record and never trusts a length: a frame longer
//! than [`MAX_FRAME_LEN`] is refused before anything is allocated for it.

use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use xxhash_rust::xxh3::xxh3_64;

use super::PersistError;
use super::crypto::KeyRing;

pub const HEADER_LEN: usize = 16;
/// Largest frame a reader accepts; writers keep frames far smaller (a snapshot chunk is ~1 MiB).
pub const MAX_FRAME_LEN: u32 = 64 * 1024 * 1024;
const FRAME_HEADER_LEN: usize = 12;

/// Writes the header, then one frame per record.
pub struct FrameWriter<W: Write> {
    out: W,
    path: PathBuf,
    buf: Vec<u8>,
    header: [u8; HEADER_LEN],
    keys: Option<Arc<KeyRing>>,
    frames: u64,
    sealed: Vec<u8>,
}

impl<W: Write> FrameWriter<W> {
    /// Write the header of a `magic` file at `version`, encrypted with the current key of
    /// `keys` when given. `path` is for error messages.
    pub fn new(
        mut out: W,
        path: &Path,
        magic: &[u8; 8],
        version: u16,
        keys: Option<Arc<KeyRing>>,
    ) -> Result<Self, PersistError> {
        let mut header = [0u8; HEADER_LEN];
        header[..8].copy_from_slice(magic);
        header[8..10].copy_from_slice(&version.to_le_bytes());
        if let Some(k) = &keys {
            header[10..12].copy_from_slice(&k.current_id().to_le_bytes());
            // A zero file id would read as "not encrypted" in the reserved field's old meaning.
            let file_id = k
                .random_u32()
                .map_err(|e| PersistError::invalid(path, format!("cannot encrypt: {e}")))?;
            header[12..16].copy_from_slice(&file_id.max(1).to_le_bytes());
        }
        out.write_all(&header)
            .map_err(|e| PersistError::io(path, e))?;
        Ok(Self {
            out,
            path: path.to_path_buf(),
            buf: Vec::new(),
            header,
            keys,
            frames: 0,
            sealed: Vec::new(),
        })
    }

    /// Append one record as a frame.
    pub fn record<T: Serialize>(&mut self, record: &T) -> Result<(), PersistError> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        let encoded = rmp_serde::encode::write(&mut buf, record)
            .map_err(|e| PersistError::invalid(&self.path, format!("cannot encode a record: {e}")));
        let written = encoded.and_then(|()| self.frame(&buf));
        self.buf = buf;
        written
    }

    /// Append `payload` (already encoded) as one frame, sealing it in an encrypted file.
    pub fn frame(&mut self, payload: &[u8]) -> Result<(), PersistError> {
        let stored: &[u8] = match &self.keys {
            None => payload,
            Some(keys) => {
                self.sealed.clear();
                keys.seal(
                    &frame_aad(&self.header, self.frames),
                    payload,
                    &mut self.sealed,
                )
                .map_err(|e| PersistError::invalid(&self.path, format!("cannot encrypt: {e}")))?;
                &self.sealed
            }
        };
        let len = u32::try_from(stored.len())
            .ok()
            .filter(|&l| l <= MAX_FRAME_LEN)
            .ok_or_else(|| {
                PersistError::invalid(&self.path, "a record is too large for a frame")
            })?;
        let mut head = [0u8; FRAME_HEADER_LEN];
        head[..4].copy_from_slice(&len.to_le_bytes());
        head[4..].copy_from_slice(&xxh3_64(stored).to_le_bytes());
        self.out
            .write_all(&head)
            .and_then(|()| self.out.write_all(stored))
            .map_err(|e| PersistError::io(&self.path, e))?;
        self.frames += 1;
        Ok(())
    }

    pub fn get_mut(&mut self) -> &mut W {
        &mut self.out
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

/// What a sealed frame is bound to: its file's header and its place in the file.
fn frame_aad(header: &[u8; HEADER_LEN], index: u64) -> [u8; HEADER_LEN + 8] {
    let mut aad = [0u8; HEADER_LEN + 8];
    aad[..HEADER_LEN].copy_from_slice(header);
    aad[HEADER_LEN..].copy_from_slice(&index.to_le_bytes());
    aad
}

/// Reads and checks the header, then hands out records one frame at a time.
pub struct FrameReader<R: Read> {
    input: R,
    path: PathBuf,
    buf: Vec<u8>,
    header: [u8; HEADER_LEN],
    keys: Option<Arc<KeyRing>>,
    frames: u64,
    offset: u64,
    /// The version the header names.
    pub version: u16,
    /// The key id the header names; 0 for a file that is not encrypted.
    pub key_id: u16,
}

impl<R: Read> FrameReader<R> {
    /// Check that the input starts with a `magic` header of a version up to `max_version`. An
    /// encrypted file needs its key in `keys`; a file that is not encrypted is read either way
    /// (that is how a data directory moves to encryption: each file is rewritten encrypted the
    /// next time it is saved).
    pub fn new(
        mut input: R,
        path: &Path,
        magic: &[u8; 8],
        max_version: u16,
        keys: Option<Arc<KeyRing>>,
    ) -> Result<Self, PersistError> {
        let mut header = [0u8; HEADER_LEN];
        read_exact_or(
            &mut input,
            &mut header,
            path,
            "the file is shorter than its header",
        )?;
        if &header[..8] != magic {
            return Err(PersistError::invalid(
                path,
                format!(
                    "not a {} file (it starts with {:?})",
                    String::from_utf8_lossy(magic).trim_end_matches('\0'),
                    String::from_utf8_lossy(&header[..8])
                ),
            ));
        }
        let version = u16::from_le_bytes([header[8], header[9]]);
        if version == 0 || version > max_version {
            return Err(PersistError::invalid(
                path,
                format!("format version {version}; this build reads versions 1 to {max_version}"),
            ));
        }
        let key_id = u16::from_le_bytes([header[10], header[11]]);
        let file_id = u32::from_le_bytes([header[12], header[13], header[14], header[15]]);
        match (key_id, &keys) {
            (0, _) if file_id != 0 => {
                return Err(PersistError::invalid(
                    path,
                    "the header's reserved bytes are not zero (corrupt, or written by a newer build)",
                ));
            }
            (0, _) => {}
            (id, None) => {
                return Err(PersistError::invalid(
                    path,
                    format!(
                        "encrypted with key id {id}, and this node has no encryption key; \
                         configure it (--encryption-key or --encryption-key-file)"
                    ),
                ));
            }
            (id, Some(k)) if !k.has(id) => {
                return Err(PersistError::invalid(
                    path,
                    format!(
                        "encrypted with key id {id}, which is not among this node's keys (ids \
                         {:?}); add that key to the key list to read it",
                        k.ids()
                    ),
                ));
            }
            _ => {}
        }
        Ok(Self {
            input,
            path: path.to_path_buf(),
            buf: Vec::new(),
            header,
            keys: if key_id == 0 { None } else { keys },
            frames: 0,
            offset: HEADER_LEN as u64,
            version,
            key_id,
        })
    }

    /// The next record; `None` at a clean end of file (after a whole frame).
    pub fn next_record<T: DeserializeOwned>(&mut self) -> Result<Option<T>, PersistError> {
        let at = self.offset;
        let index = self.frames;
        let Some(payload) = self.next_frame()? else {
            return Ok(None);
        };
        rmp_serde::from_slice(&payload).map(Some).map_err(|e| {
            PersistError::invalid(
                &self.path,
                format!("frame {index} at byte {at} does not decode: {e}"),
            )
        })
    }

    /// The next frame's payload, checked (and decrypted); `None` at a clean end of file.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, PersistError> {
        let mut head = [0u8; FRAME_HEADER_LEN];
        let got =
            read_up_to(&mut self.input, &mut head).map_err(|e| PersistError::io(&self.path, e))?;
        if got == 0 {
            return Ok(None);
        }
        let at = self.offset;
        if got < FRAME_HEADER_LEN {
            return Err(self.bad(format!(
                "truncated: frame {} at byte {at} is cut short",
                self.frames
            )));
        }
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        if len > MAX_FRAME_LEN {
            return Err(self.bad(format!(
                "frame {} at byte {at} claims {len} bytes, more than any writer produces (corrupt)",
                self.frames
            )));
        }
        let mut sum = [0u8; 8];
        sum.copy_from_slice(&head[4..]);
        let checksum = u64::from_le_bytes(sum);
        self.buf.resize(len as usize, 0);
        let got = read_up_to(&mut self.input, &mut self.buf)
            .map_err(|e| PersistError::io(&self.path, e))?;
        if got < len as usize {
            return Err(self.bad(format!(
                "truncated: frame {} at byte {at} is cut short",
                self.frames
            )));
        }
        if xxh3_64(&self.buf) != checksum {
            return Err(self.bad(format!(
                "checksum mismatch in frame {} at byte {at} (the file is corrupt)",
                self.frames
            )));
        }
        let payload = match &self.keys {
            None => std::mem::take(&mut self.buf),
            Some(keys) => keys
                .open(
                    self.key_id,
                    &frame_aad(&self.header, self.frames),
                    &self.buf,
                )
                .map_err(|e| self.bad(format!("frame {} at byte {at} {e}", self.frames)))?,
        };
        self.frames += 1;
        self.offset += (FRAME_HEADER_LEN + len as usize) as u64;
        Ok(Some(payload))
    }

    /// Where the next frame starts (after the last one read).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    fn bad(&self, reason: String) -> PersistError {
        PersistError::invalid(&self.path, reason)
    }
}

/// Read until `buf` is full or the input ends; how many bytes were read.
fn read_up_to(input: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

fn read_exact_or(
    input: &mut impl Read,
    buf: &mut [u8],
    path: &Path,
    short: &str,
) -> Result<(), PersistError> {
    let got = read_up_to(input, buf).map_err(|e| PersistError::io(path, e))?;
    if got < buf.len() {
        return Err(PersistError::invalid(path, short));
    }
    Ok(())
}

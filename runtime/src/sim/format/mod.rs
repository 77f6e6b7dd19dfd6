//! Trace file formats: libCacheSim's binary oracleGeneral (plain or zstd), plain text and CSV.
//!
//! Every reader turns a byte stream into a [`Trace`]. Compression is detected from the zstd magic
//! number, not the file name, so any format may be zstd-compressed.

mod csv;
mod oracle_general;
mod text;

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use super::SimError;
use super::trace::Trace;

pub use oracle_general::{RECORD_LEN, encode_record};

/// The first four bytes of every zstd frame.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// A trace file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceFormat {
    /// libCacheSim's oracleGeneral: 24-byte little-endian records
    /// `(timestamp u32, id u64, size u32, next access i64)`.
    OracleGeneral,
    /// One request a line: `key [size]`. Blank lines and lines starting with `#` are skipped.
    Text,
    /// Comma-separated; the key and size columns are found by header name or position.
    Csv,
}

impl TraceFormat {
    /// The format a file name suggests: `.csv` → CSV, `oracleGeneral`/`.bin`/`.zst` → oracleGeneral,
    /// anything else → text.
    pub fn guess(path: &Path) -> Self {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_ascii_lowercase());
        let name = name.as_deref().unwrap_or("");
        let name = name.strip_suffix(".zst").unwrap_or(name);
        if name.ends_with(".csv") {
            Self::Csv
        } else if name.contains("oraclegeneral") || name.ends_with(".bin") {
            Self::OracleGeneral
        } else if path.extension().is_some_and(|e| e == "zst") {
            // A bare `.zst` is almost always a compressed oracleGeneral trace in the wild.
            Self::OracleGeneral
        } else {
            Self::Text
        }
    }
}

impl std::str::FromStr for TraceFormat {
    type Err = SimError;
    fn from_str(s: &str) -> Result<Self, SimError> {
        match s.to_ascii_lowercase().as_str() {
            "oraclegeneral" | "oracle" | "oracle_general" => Ok(Self::OracleGeneral),
            "text" | "txt" => Ok(Self::Text),
            "csv" => Ok(Self::Csv),
            _ => Err(SimError::UnknownFormat(s.to_string())),
        }
    }
}

/// Read a whole trace file in `format` (guessed from the name when `None`).
pub fn read_trace(path: &Path, format: Option<TraceFormat>) -> Result<Trace, SimError> {
    let format = format.unwrap_or_else(|| TraceFormat::guess(path));
    let io = |source| SimError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = BufReader::with_capacity(1 << 20, File::open(path).map_err(io)?);
    let compressed = file.fill_buf().map_err(io)?.starts_with(&ZSTD_MAGIC);
    let reader: Box<dyn BufRead> = if compressed {
        let decoder = zstd::stream::read::Decoder::with_buffer(file).map_err(io)?;
        Box::new(BufReader::with_capacity(1 << 20, decoder))
    } else {
        Box::new(file)
    };
    let trace = read_stream(reader, format).map_err(|e| e.at(path))?;
    if trace.is_empty() {
        return Err(SimError::EmptyTrace {
            path: path.to_path_buf(),
        });
    }
    Ok(trace)
}

/// Read a trace from any (uncompressed) stream.
pub fn read_stream(reader: impl BufRead, format: TraceFormat) -> Result<Trace, ParseError> {
    match format {
        TraceFormat::OracleGeneral => oracle_general::read(reader),
        TraceFormat::Text => text::read(reader),
        TraceFormat::Csv => csv::read(reader),
    }
}

/// A problem inside a trace stream, before it is tied to a file name.
#[derive(Debug)]
pub enum ParseError {
    Io(std::io::Error),
    Malformed(String),
}

impl ParseError {
    fn at(self, path: &Path) -> SimError {
        match self {
            Self::Io(source) => SimError::Io {
                path: path.to_path_buf(),
                source,
            },
            Self::Malformed(message) => SimError::BadTrace {
                path: path.to_path_buf(),
                message,
            },
        }
    }
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Io(e) => write!(f, "{e}"),
            Self::Malformed(m) => f.write_str(m),
        }
    }
}

impl From<std::io::Error> for ParseError {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e)
    }
}

/// The object id of a textual key: the number itself when the key is a decimal `u64` (so a trace
/// exported to text replays identically), otherwise the key's hash.
fn key_id(key: &str) -> u64 {
    key.parse::<u64>()
        .unwrap_or_else(|_| crate::hash::key_hash(key.as_bytes()))
}

/// The lines of a text trace, with I/O errors in the reader's error type.
fn lines(reader: impl BufRead) -> impl Iterator<Item = Result<String, ParseError>> {
    reader.lines().map(|l| l.map_err(ParseError::from))
}

//! Errors at the runtime's public boundary. Each variant maps to one stable API error code.

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum StoreError {
    #[error("key is {len} bytes; the limit is {max}")]
    KeyTooLong { len: usize, max: usize },
    #[error("key must not be empty")]
    EmptyKey,
    #[error("value is {len} bytes; this namespace's max item size is {max}")]
    ValueTooLarge { len: usize, max: u64 },
    #[error("value is not an integer or out of range")]
    NotAnInteger,
    #[error("increment or decrement would overflow")]
    Overflow,
    #[error("value is not a valid float")]
    NotAFloat,
    #[error("increment would produce NaN or Infinity")]
    NotFinite,
    #[error("invalid TTL: {0}")]
    InvalidTtl(String),
    /// A value restored in stored form (from a snapshot or the log) is flagged compressed but is
    /// not a zstd frame.
    #[error("a stored compressed value is not a zstd frame")]
    CorruptValue,
    /// A command for one kind of value (string, hash, list, set, sorted set) on a key holding
    /// another. The RESP port prefixes Redis's `WRONGTYPE` code.
    #[error("Operation against a key holding the wrong kind of value")]
    WrongType,
    /// A collection command's own argument error, worded as Redis words it (the whole line after
    /// the error code, e.g. "value is not a valid float").
    #[error("{0}")]
    Refused(&'static str),
}

impl StoreError {
    /// Stable machine-readable code used by the REST API.
    pub fn code(&self) -> &'static str {
        match self {
            Self::KeyTooLong { .. } => "key_too_long",
            Self::EmptyKey => "empty_key",
            Self::ValueTooLarge { .. } => "value_too_large",
            Self::NotAnInteger => "not_an_integer",
            Self::Overflow => "overflow",
            Self::NotAFloat => "not_a_float",
            Self::NotFinite => "not_finite",
            Self::InvalidTtl(_) => "invalid_ttl",
            Self::CorruptValue => "corrupt_value",
            Self::WrongType => "wrong_type",
            Self::Refused(_) => "refused",
        }
    }
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum NamespaceError {
    #[error("namespace {0:?} does not exist")]
    NotFound(String),
    #[error("namespace {0:?} already exists")]
    AlreadyExists(String),
    #[error("invalid namespace config: {field}: {reason}")]
    InvalidConfig { field: &'static str, reason: String },
    #[error("the default namespace cannot be deleted")]
    DefaultUndeletable,
    /// A change of the namespace's eviction or admission while an experiment decides them per
    /// arm: applying it would silently replace the arms' policies.
    #[error(
        "an experiment is running on namespace {namespace:?} and its arms set {field}; stop it (DELETE /v1/namespaces/{namespace}/experiment) or promote an arm (POST /v1/namespaces/{namespace}/experiment/promote) first"
    )]
    ExperimentRunning {
        namespace: String,
        field: &'static str,
    },
}

impl NamespaceError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "namespace_not_found",
            Self::AlreadyExists(_) => "namespace_exists",
            Self::InvalidConfig { .. } => "invalid_config",
            Self::DefaultUndeletable => "default_undeletable",
            Self::ExperimentRunning { .. } => "experiment_running",
        }
    }
}

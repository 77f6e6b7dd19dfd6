//! Errors the simulator reports to its caller (the `larder sim` command, tests, benches).

use std::path::PathBuf;

/// Why a simulation could not run. Each variant has a stable [`SimError::code`].
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("cannot read trace {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("trace {path}: {message}")]
    BadTrace { path: PathBuf, message: String },
    #[error("trace {path} has no requests")]
    EmptyTrace { path: PathBuf },
    #[error("invalid capacity {spec:?}: {message}")]
    BadCapacity { spec: String, message: String },
    #[error("invalid zipf parameters {spec:?}: {message}")]
    BadZipf { spec: String, message: String },
    #[error("unknown trace format {0:?}; expected oraclegeneral, text or csv")]
    UnknownFormat(String),
    #[error("policy {policy}: {message}")]
    Policy { policy: String, message: String },
    #[error("cannot draw the miss-ratio curve: {0}")]
    Plot(String),
}

impl SimError {
    /// A stable snake_case name for the error, for scripts and JSON output.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Io { .. } => "trace_io",
            Self::BadTrace { .. } => "bad_trace",
            Self::EmptyTrace { .. } => "empty_trace",
            Self::BadCapacity { .. } => "bad_capacity",
            Self::BadZipf { .. } => "bad_zipf",
            Self::UnknownFormat(_) => "unknown_format",
            Self::Policy { .. } => "policy",
            Self::Plot(_) => "plot",
        }
    }
}

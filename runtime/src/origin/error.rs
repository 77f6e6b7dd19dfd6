//! Why a read-through fetch failed. Every variant has a stable code and the HTTP status a front end
//! should answer with; a `404` from the origin is not an error but a miss.

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum OriginError {
    /// No answer within the namespace's `origin.timeout_ms`, which covers waiting for a free
    /// request slot (`origin.concurrency`) as well as the request itself.
    #[error("origin did not answer within {timeout_ms} ms")]
    Timeout { timeout_ms: u64 },
    /// The origin could not be reached or broke off the answer (connection refused, reset, DNS…).
    #[error("origin unavailable: {0}")]
    Unavailable(String),
    /// The origin answered with a status other than 2xx, 404 or 410.
    #[error("origin answered HTTP {status}")]
    Status { status: u16 },
    /// The origin's value does not fit this namespace's max item size.
    #[error(
        "origin value is larger than this namespace's max item size ({max} bytes with the key)"
    )]
    TooLarge { max: u64 },
    /// The key cannot be fetched: empty, too long, or `.`/`..` where the URL template puts it in
    /// the path.
    #[error("key cannot be fetched from the origin: {0}")]
    InvalidKey(&'static str),
}

impl OriginError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Timeout { .. } => "origin_timeout",
            Self::Unavailable(_) => "origin_unavailable",
            Self::Status { .. } => "origin_status",
            Self::TooLarge { .. } => "origin_value_too_large",
            Self::InvalidKey(_) => "origin_invalid_key",
        }
    }

    /// The HTTP status a gateway answers with: 504 when waiting ran out, 502 when the origin
    /// failed or sent something unusable, 400 when the key itself is the problem.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::Timeout { .. } => 504,
            Self::Unavailable(_) | Self::Status { .. } | Self::TooLarge { .. } => 502,
            Self::InvalidKey(_) => 400,
        }
    }

    /// The same error from a reqwest failure, with its cause chain (reqwest's top-level message
    /// alone rarely says what went wrong).
    /// The origin URL is left out: it is internal to the deployment.
    pub(crate) fn from_transport(err: reqwest::Error) -> Self {
        use std::error::Error as _;
        let err = err.without_url();
        let mut message = err.to_string();
        let mut source = err.source();
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        Self::Unavailable(message)
    }
}

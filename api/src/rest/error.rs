//! The REST API's one error shape: `{"error": {"code": "stable_code", "message": "..."}}`.
//!
//! Codes are stable and machine-readable (clients switch on them); messages are for humans and may
//! change. Store and namespace errors keep the codes the runtime gives them
//! ([`StoreError::code`], [`NamespaceError::code`]); this module adds the HTTP status for each and
//! the codes for what only the HTTP layer can get wrong (bad JSON, bad query, oversized body).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use larder_runtime::origin::OriginError;
use larder_runtime::{NamespaceError, StoreError};
use serde::Serialize;

use crate::tenants::QuotaError;
use utoipa::ToSchema;

/// An error response body.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `key_not_found`, `namespace_not_found`, `bad_json`.
    #[schema(example = "key_not_found")]
    pub code: &'static str,
    /// Human-readable explanation.
    pub message: String,
}

/// An error on its way to becoming a JSON response.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Sent as `Retry-After` (whole seconds) when set: how long a refused client should wait.
    pub retry_after_secs: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after_secs: None,
        }
    }

    /// Tell the client to retry after `wait`, rounded up to whole seconds (at least one), so a
    /// client that waits this long is admitted.
    pub fn retry_after(mut self, wait: std::time::Duration) -> Self {
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        self.retry_after_secs = Some(seconds.max(1));
        self
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn key_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "key_not_found",
            "no such key (or it has expired)",
        )
    }

    pub fn bad_json(message: impl Into<String>) -> Self {
        Self::bad_request("bad_json", message)
    }

    pub fn invalid_ttl(message: impl Into<String>) -> Self {
        Self::bad_request("invalid_ttl", message)
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        let status = match err {
            // The key travels in the URI on single-key routes, hence 414.
            StoreError::KeyTooLong { .. } => StatusCode::URI_TOO_LONG,
            StoreError::ValueTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            StoreError::EmptyKey | StoreError::InvalidTtl(_) => StatusCode::BAD_REQUEST,
            // The request was fine; the stored value does not allow it.
            StoreError::NotAnInteger
            | StoreError::Overflow
            | StoreError::NotAFloat
            | StoreError::NotFinite
            | StoreError::WrongType
            | StoreError::Refused(_) => StatusCode::CONFLICT,
            // Only restores produce it; no request does.
            StoreError::CorruptValue => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self::new(status, err.code(), err.to_string())
    }
}

impl From<NamespaceError> for ApiError {
    fn from(err: NamespaceError) -> Self {
        let status = match err {
            NamespaceError::NotFound(_) => StatusCode::NOT_FOUND,
            NamespaceError::AlreadyExists(_)
            | NamespaceError::DefaultUndeletable
            | NamespaceError::ExperimentRunning { .. } => StatusCode::CONFLICT,
            NamespaceError::InvalidConfig { .. } => StatusCode::BAD_REQUEST,
        };
        Self::new(status, err.code(), err.to_string())
    }
}

/// How long a client over a quota is told to wait: quotas are about what the tenant holds, so
/// room comes back only when it frees some (or the operator raises the quota).
const QUOTA_RETRY_AFTER_SECS: u64 = 60;

impl From<QuotaError> for ApiError {
    fn from(err: QuotaError) -> Self {
        match err {
            QuotaError::Exceeded { .. } => Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "quota_exceeded",
                err.to_string(),
            )
            .retry_after(std::time::Duration::from_secs(QUOTA_RETRY_AFTER_SECS)),
            QuotaError::PrivateOrigin(_) => {
                Self::bad_request("origin_not_allowed", err.to_string())
            }
            QuotaError::PrivateWebhook(_) => {
                Self::bad_request("webhook_not_allowed", err.to_string())
            }
        }
    }
}

impl From<OriginError> for ApiError {
    fn from(err: OriginError) -> Self {
        let status = StatusCode::from_u16(err.http_status()).unwrap_or(StatusCode::BAD_GATEWAY);
        Self::new(status, err.code(), err.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after_secs {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(seconds),
            );
        }
        response
    }
}

/// `404 route_not_found` for paths no route matches.
pub async fn route_not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "route_not_found",
        "no such route; see /openapi.json",
    )
}

/// `405 method_not_allowed` for a known path with the wrong method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not accept that method; see /openapi.json",
    )
}

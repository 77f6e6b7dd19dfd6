//! Errors at the plugin host's boundary: refused uploads and bad references. Each has a stable
//! code for the API. Faults of a running plugin are not errors (they never fail a request); see
//! [`super::Fault`].

use thiserror::Error;

use super::Hook;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum PluginError {
    #[error("module is {size} bytes, over the {max}-byte limit")]
    TooLarge { size: usize, max: usize },
    #[error("not a valid WebAssembly module: {0}")]
    InvalidModule(String),
    #[error("missing export {name}: {why}")]
    MissingExport {
        name: &'static str,
        why: &'static str,
    },
    #[error("export {name} has type {found}; the ABI wants {expected}")]
    BadExport {
        name: String,
        expected: String,
        found: String,
    },
    #[error("imports {module}::{name}, which is not part of the Larder ABI (allowed: {allowed})")]
    UnknownImport {
        module: String,
        name: String,
        allowed: String,
    },
    #[error(
        "larder_abi_version returned {found}; this host serves ABI versions 1 to {expected}: rebuild the plugin with the current larder-sdk"
    )]
    UnsupportedAbi { found: i32, expected: i32 },
    #[error("larder_hooks returned {0:#x}: {1}")]
    BadHooks(i32, String),
    #[error("over limits: {0}")]
    OverLimits(String),
    #[error("plugin failed to start: {0}")]
    StartFailed(String),
    #[error("no plugin version {0:?}")]
    NotFound(String),
    #[error("plugin version prefix {0:?} matches more than one version; give more digits")]
    Ambiguous(String),
    #[error("plugin version {id} does not implement the {hook} hook")]
    HookNotImplemented { id: String, hook: Hook },
}

impl PluginError {
    /// Stable machine-readable code used by the REST API.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "module_too_large",
            Self::InvalidModule(_) => "invalid_module",
            Self::MissingExport { .. } => "missing_export",
            Self::BadExport { .. } => "bad_export",
            Self::UnknownImport { .. } => "unknown_import",
            Self::UnsupportedAbi { .. } => "unsupported_abi",
            Self::BadHooks(..) => "bad_hooks",
            Self::OverLimits(_) => "over_limits",
            Self::StartFailed(_) => "plugin_start_failed",
            Self::NotFound(_) => "plugin_not_found",
            Self::Ambiguous(_) => "ambiguous_plugin_id",
            Self::HookNotImplemented { .. } => "hook_not_implemented",
        }
    }

    /// True for errors about the uploaded bytes (HTTP 400/413/422), false for lookups (404/409).
    pub fn is_upload_rejection(&self) -> bool {
        !matches!(
            self,
            Self::NotFound(_) | Self::Ambiguous(_) | Self::HookNotImplemented { .. }
        )
    }
}

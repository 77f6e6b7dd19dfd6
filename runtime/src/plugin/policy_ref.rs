//! How a namespace's config names the policy for a hook: a built-in by name (`"lru"`,
//! `"s3fifo"`, …) or an uploaded plugin version (`"plugin:<version id>"`). Serialized as that string.

use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::policy::BuiltinPolicy;

/// Prefix of a plugin reference in configuration.
pub const PLUGIN_PREFIX: &str = "plugin:";

/// A built-in policy or a plugin version, as named in a namespace's config.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PolicyRef {
    Builtin(BuiltinPolicy),
    /// A plugin version id (the hex sha-256 of the module bytes, or a unique prefix of it).
    Plugin(String),
}

impl PolicyRef {
    pub fn plugin(id: impl Into<String>) -> Self {
        Self::Plugin(id.into())
    }
    pub fn as_builtin(&self) -> Option<BuiltinPolicy> {
        match self {
            Self::Builtin(b) => Some(*b),
            Self::Plugin(_) => None,
        }
    }
    pub fn as_plugin(&self) -> Option<&str> {
        match self {
            Self::Builtin(_) => None,
            Self::Plugin(id) => Some(id),
        }
    }
}

impl Default for PolicyRef {
    fn default() -> Self {
        Self::Builtin(BuiltinPolicy::default())
    }
}

impl From<BuiltinPolicy> for PolicyRef {
    fn from(b: BuiltinPolicy) -> Self {
        Self::Builtin(b)
    }
}

impl PartialEq<BuiltinPolicy> for PolicyRef {
    fn eq(&self, other: &BuiltinPolicy) -> bool {
        self.as_builtin() == Some(*other)
    }
}

impl FromStr for PolicyRef {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.strip_prefix(PLUGIN_PREFIX) {
            Some(id) => {
                let id = id.trim();
                if id.is_empty() || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(format!(
                        "{s:?}: a plugin reference is \"plugin:\" followed by a version id (hex)"
                    ));
                }
                Ok(Self::Plugin(id.to_ascii_lowercase()))
            }
            None => BuiltinPolicy::from_str(s)
                .map(Self::Builtin)
                .map_err(|e| format!("{e}, or plugin:<version id>")),
        }
    }
}

impl std::fmt::Display for PolicyRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Builtin(b) => b.fmt(f),
            Self::Plugin(id) => write!(f, "{PLUGIN_PREFIX}{id}"),
        }
    }
}

impl Serialize for PolicyRef {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PolicyRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_as_a_string() {
        for text in ["lru", "s3fifo", "plugin:ab12cd"] {
            let r: PolicyRef = serde_json::from_value(serde_json::json!(text)).unwrap();
            assert_eq!(serde_json::to_value(&r).unwrap(), serde_json::json!(text));
        }
        assert_eq!("LRU".parse::<PolicyRef>().unwrap(), BuiltinPolicy::Lru);
        assert!("plugin:".parse::<PolicyRef>().is_err());
        assert!("plugin:xyz".parse::<PolicyRef>().is_err());
        assert!(
            "arc"
                .parse::<PolicyRef>()
                .unwrap_err()
                .contains("plugin:<version id>")
        );
    }
}

//! The four hook points a plugin can implement, and the set a module declares.

use serde::{Serialize, Serializer};

use super::abi;

/// One hook point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Hook {
    Eviction,
    Admission,
    Prefetch,
    Routing,
}

impl Hook {
    pub const ALL: [Hook; 4] = [
        Hook::Eviction,
        Hook::Admission,
        Hook::Prefetch,
        Hook::Routing,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Hook::Eviction => "eviction",
            Hook::Admission => "admission",
            Hook::Prefetch => "prefetch",
            Hook::Routing => "routing",
        }
    }

    /// Its bit in `larder_hooks()`.
    pub fn bit(self) -> i32 {
        match self {
            Hook::Eviction => abi::HOOK_EVICTION,
            Hook::Admission => abi::HOOK_ADMISSION,
            Hook::Prefetch => abi::HOOK_PREFETCH,
            Hook::Routing => abi::HOOK_ROUTING,
        }
    }

    /// Dense index for per-hook arrays.
    pub fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Hook {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// The hooks a module declares (the `larder_hooks()` bitmask).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HookSet(pub(crate) i32);

impl HookSet {
    pub fn contains(self, hook: Hook) -> bool {
        self.0 & hook.bit() != 0
    }
    pub fn iter(self) -> impl Iterator<Item = Hook> {
        Hook::ALL.into_iter().filter(move |h| self.contains(*h))
    }
    pub fn bits(self) -> i32 {
        self.0
    }
}

impl Serialize for HookSet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

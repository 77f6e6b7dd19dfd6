//! `ACL LOG`: the latest refusals on the Redis port, as Redis keeps them.
//!
//! Two kinds are recorded: failed authentications (`reason = auth`, `object = AUTH`) and
//! commands outside the caller's scope (`reason = command`, `object` = the command). Like
//! Redis, a refusal identical to a recent one (same reason, context, object and user, within
//! [`GROUP_WITHIN_MS`]) adds to that entry's count instead of making a new one, so a client
//! failing in a loop fills one entry, not the log; at most [`MAX_ENTRIES`] are kept, newest
//! first.
//!
//! Each entry belongs to a tenant or to the operator: a tenant's admin sees the refusals of its
//! own callers and the failed log-ins of its own user names (`<tenant>/…`), and nothing else —
//! another tenant's failed log-ins would tell who is trying what where. The operator sees all.

use std::collections::VecDeque;

use parking_lot::Mutex;

/// Entries kept (Redis's `acllog-max-len` default).
pub const MAX_ENTRIES: usize = 128;
/// A refusal this close to an identical one is counted in the same entry.
pub const GROUP_WITHIN_MS: u64 = 60_000;

/// Why a refusal was logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// A failed `AUTH` or `HELLO … AUTH`.
    Auth,
    /// A command outside the caller's scope (`-NOPERM`).
    Command,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Auth => "auth",
            Reason::Command => "command",
        }
    }
}

/// One entry of the log.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub id: u64,
    pub count: u64,
    pub reason: Reason,
    /// `toplevel`, or `multi` for a command queued in a transaction.
    pub context: &'static str,
    pub object: String,
    pub username: String,
    pub client_info: String,
    /// The tenant whose admin may see the entry; `None`: the operator's alone.
    pub tenant: Option<String>,
    pub created_unix_ms: u64,
    pub updated_unix_ms: u64,
}

/// A refusal to record.
pub struct Refusal<'a> {
    pub reason: Reason,
    pub context: &'static str,
    pub object: &'a str,
    pub username: &'a str,
    pub client_info: String,
    pub tenant: Option<&'a str>,
}

#[derive(Default)]
pub struct AclLog {
    entries: Mutex<VecDeque<Entry>>,
    next_id: std::sync::atomic::AtomicU64,
}

impl AclLog {
    pub fn record(&self, refusal: Refusal<'_>) {
        let now = larder_runtime::persist::unix_now_ms();
        let mut entries = self.entries.lock();
        if let Some(same) = entries.iter_mut().find(|e| {
            e.reason == refusal.reason
                && e.context == refusal.context
                && e.object == refusal.object
                && e.username == refusal.username
                && e.tenant.as_deref() == refusal.tenant
                && now.saturating_sub(e.updated_unix_ms) < GROUP_WITHIN_MS
        }) {
            same.count += 1;
            same.updated_unix_ms = now;
            same.client_info = refusal.client_info;
            return;
        }
        if entries.len() >= MAX_ENTRIES {
            entries.pop_back();
        }
        let id = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        entries.push_front(Entry {
            id,
            count: 1,
            reason: refusal.reason,
            context: refusal.context,
            object: refusal.object.to_string(),
            username: refusal.username.to_string(),
            client_info: refusal.client_info,
            tenant: refusal.tenant.map(str::to_string),
            created_unix_ms: now,
            updated_unix_ms: now,
        });
    }

    /// The newest `count` entries `tenant` may see (`None`: the operator, who sees all).
    pub fn latest(&self, tenant: Option<&str>, count: usize) -> Vec<Entry> {
        self.entries
            .lock()
            .iter()
            .filter(|e| tenant.is_none() || e.tenant.as_deref() == tenant)
            .take(count)
            .cloned()
            .collect()
    }

    /// Forget the entries `tenant` may see (`None`: every entry).
    pub fn reset(&self, tenant: Option<&str>) {
        self.entries
            .lock()
            .retain(|e| tenant.is_some() && e.tenant.as_deref() != tenant);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal<'a>(object: &'a str, tenant: Option<&'a str>) -> Refusal<'a> {
        Refusal {
            reason: Reason::Command,
            context: "toplevel",
            object,
            username: "reader",
            client_info: "addr=127.0.0.1:1".into(),
            tenant,
        }
    }

    #[test]
    fn identical_refusals_share_an_entry_and_tenants_see_their_own() {
        let log = AclLog::default();
        for _ in 0..5 {
            log.record(refusal("set", Some("a")));
        }
        log.record(refusal("del", Some("a")));
        log.record(refusal("set", Some("b")));
        let a = log.latest(Some("a"), 10);
        assert_eq!(a.len(), 2);
        assert_eq!(
            (a[0].object.as_str(), a[0].count),
            ("del", 1),
            "newest first"
        );
        assert_eq!((a[1].object.as_str(), a[1].count), ("set", 5));
        assert_eq!(log.latest(None, 10).len(), 3, "the operator sees all");
        log.reset(Some("a"));
        assert!(log.latest(Some("a"), 10).is_empty());
        assert_eq!(
            log.latest(Some("b"), 10).len(),
            1,
            "a tenant resets its own only"
        );
        for i in 0..(MAX_ENTRIES + 10) {
            log.record(refusal(&format!("cmd{i}"), None));
        }
        assert_eq!(log.latest(None, usize::MAX).len(), MAX_ENTRIES);
    }
}

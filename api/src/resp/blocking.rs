//! Blocked clients: BLPOP, BLMOVE, BZPOPMIN and the other blocking commands wait here for a key
//! to be written.
//!
//! A blocking command first tries its non-blocking form. When every key is empty it registers
//! the connection's [`Registration`] on its keys and asks the connection loop to run the same
//! frame again later (the frame is not consumed, so commands pipelined after it wait, as in
//! Redis). The loop runs it once more at once — a write between the first try and the
//! registration is not missed — and then waits for a write to one of the keys, the timeout,
//! or the client going away.
//!
//! Clients are served in the order they blocked, as in Redis: a write to a key wakes only the
//! client that has waited longest on it; once that client has run its retry (taking the element,
//! failing on a destination of the wrong kind, or finding nothing and waiting on), it passes the
//! wake-up to the next client on the key, and so on down the line. A client that leaves passes
//! it on too, so nothing written is left unclaimed while someone waits for it.
//!
//! Writes are learnt of from the store's key events (`notify`), on the writer's thread, under
//! the key's shard lock: one atomic load when nobody is blocked, a map lookup when someone is.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use parking_lot::Mutex;
use tokio::sync::Notify;

type Waiting = HashMap<(String, Vec<u8>), Vec<Arc<Notify>>>;

/// Every blocked client, by (namespace, key).
#[derive(Default)]
pub struct Waiters {
    waiting: Mutex<Waiting>,
    /// Registrations alive: when 0, a write costs one load here.
    active: AtomicUsize,
}

impl Waiters {
    /// Wait for writes to `keys` of `namespace` from now on.
    pub fn register(self: &Arc<Self>, namespace: &str, keys: Vec<Vec<u8>>) -> Registration {
        let notify = Arc::new(Notify::new());
        let mut waiting = self.waiting.lock();
        for key in &keys {
            waiting
                .entry((namespace.to_string(), key.clone()))
                .or_default()
                .push(Arc::clone(&notify));
        }
        self.active.fetch_add(1, Ordering::Relaxed);
        Registration {
            waiters: Arc::clone(self),
            namespace: namespace.to_string(),
            keys,
            notify,
        }
    }

    /// `key` of `namespace` was written: wake whoever waits for it.
    #[inline]
    pub fn key_written(&self, namespace: &str, key: &[u8]) {
        if self.active.load(Ordering::Relaxed) == 0 {
            return;
        }
        let waiting = self.waiting.lock();
        // The map is keyed by owned names; a lookup with borrowed ones needs the owned form.
        if let Some(first) = waiting
            .get(&(namespace.to_string(), key.to_vec()))
            .and_then(|list| list.first())
        {
            // A permit is kept if the client is not waiting yet: no wake-up is lost.
            first.notify_one();
        }
    }

    /// Wake, on each of `r`'s keys, the client that blocked right after `r` (see the module
    /// docs: a wake-up travels down the line once).
    fn pass_on(&self, r: &Registration) {
        let waiting = self.waiting.lock();
        for key in &r.keys {
            if let Some(list) = waiting.get(&(r.namespace.clone(), key.clone()))
                && let Some(at) = list.iter().position(|n| Arc::ptr_eq(n, &r.notify))
                && let Some(next) = list.get(at + 1)
            {
                next.notify_one();
            }
        }
    }

    /// Clients blocked on keys of namespaces `in_scope` accepts (INFO's `blocked_clients`).
    pub fn blocked_clients(&self, in_scope: impl Fn(&str) -> bool) -> usize {
        let waiting = self.waiting.lock();
        let mut clients: Vec<*const Notify> = waiting
            .iter()
            .filter(|((namespace, _), _)| in_scope(namespace))
            .flat_map(|(_, list)| list.iter().map(Arc::as_ptr))
            .collect();
        clients.sort_unstable();
        clients.dedup();
        clients.len()
    }

    fn deregister(&self, r: &Registration) {
        let mut waiting = self.waiting.lock();
        for key in &r.keys {
            let slot = (r.namespace.clone(), key.clone());
            if let Some(list) = waiting.get_mut(&slot) {
                list.retain(|n| !Arc::ptr_eq(n, &r.notify));
                if list.is_empty() {
                    waiting.remove(&slot);
                }
            }
        }
        self.active.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One blocked client's place in [`Waiters`]; dropping it (served, timed out, disconnected)
/// takes the client off every key.
pub struct Registration {
    waiters: Arc<Waiters>,
    namespace: String,
    keys: Vec<Vec<u8>>,
    notify: Arc<Notify>,
}

impl Registration {
    /// Resolves at the first write to one of the keys since registering (or since the last
    /// wake-up).
    pub async fn written(&self) {
        self.notify.notified().await
    }

    /// This client ran its retry after a wake-up: the next in line gets its turn.
    pub fn pass_on(&self) {
        self.waiters.pass_on(self);
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.waiters.pass_on(self);
        self.waiters.deregister(self);
    }
}

/// A session's blocked command: until when it waits, and where it is registered.
pub struct Blocked {
    /// `None`: wait forever (timeout 0).
    pub deadline: Option<Instant>,
    pub registration: Registration,
    /// Registered during the last run: run once more before waiting (see the module docs).
    pub fresh: bool,
    /// Woken by a write: the run that follows passes the wake-up on.
    pub woken: bool,
}

impl std::fmt::Debug for Blocked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Blocked")
            .field("deadline", &self.deadline)
            .field("keys", &self.registration.keys.len())
            .field("fresh", &self.fresh)
            .field("woken", &self.woken)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_write_before_waiting_is_not_lost_and_drop_deregisters() {
        let waiters = Arc::new(Waiters::default());
        let r = waiters.register("default", vec![b"q".to_vec()]);
        waiters.key_written("default", b"other");
        waiters.key_written("default", b"q");
        tokio::time::timeout(std::time::Duration::from_secs(5), r.written())
            .await
            .expect("the earlier write wakes it");
        // Served in order: a write wakes the first; passing on wakes the second.
        let second = waiters.register("default", vec![b"q".to_vec()]);
        waiters.key_written("default", b"q");
        let early = tokio::time::timeout(std::time::Duration::from_millis(50), second.written());
        assert!(early.await.is_err(), "the second waits its turn");
        r.pass_on();
        tokio::time::timeout(std::time::Duration::from_secs(5), second.written())
            .await
            .expect("woken when the first passed it on");
        drop(second);
        drop(r);
        assert_eq!(waiters.active.load(Ordering::Relaxed), 0);
        assert!(waiters.waiting.lock().is_empty());
    }
}

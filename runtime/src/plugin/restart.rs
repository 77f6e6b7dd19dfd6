//! Restarting a quarantined plugin off the request path.
//!
//! When a quarantined hook's backoff has passed, the request that notices starts a [`Restart`]:
//! a thread of its own instantiates the module, runs `larder_init` and (for eviction) replays a
//! snapshot of the resident entries into it. Requests meanwhile keep being served by the fallback,
//! and the first call after the instance is ready swaps it in under the shard lock it already
//! holds, with only what changed since the snapshot still to send. No request waits for a
//! compile, an init or a replay.

use std::sync::mpsc::{self, Receiver, TryRecvError};

use super::instance::{Fault, GuestInstance};

/// A fresh instance being prepared on its own thread.
pub(crate) struct Restart {
    ready: Receiver<Result<GuestInstance, Fault>>,
}

impl Restart {
    /// Run `prepare` on a new thread. If no thread can be started, the restart fails at once.
    pub fn spawn(prepare: impl FnOnce() -> Result<GuestInstance, Fault> + Send + 'static) -> Self {
        let (tx, ready) = mpsc::sync_channel(1);
        let failed = tx.clone();
        let spawned = std::thread::Builder::new()
            .name("larder-plugin-restart".into())
            .spawn(move || {
                // The receiver may be gone (the shard dropped the restart); nothing to do then.
                let _ = tx.send(prepare());
            });
        if let Err(e) = spawned {
            let _ = failed.send(Err(Fault::Start(format!(
                "cannot start a thread to restart the plugin: {e}"
            ))));
        }
        Self { ready }
    }

    /// The prepared instance (or why it could not be), once the thread is done.
    pub fn poll(&self) -> Option<Result<GuestInstance, Fault>> {
        match self.ready.try_recv() {
            Ok(result) => Some(result),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => Some(Err(Fault::Start(
                "the restart thread ended without an answer".into(),
            ))),
        }
    }
}

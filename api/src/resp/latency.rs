//! Per-command latency, recorded cheaply.
//!
//! What is measured: the server-side time of a *batch* — from the first command parsed out of a
//! read to the last reply encoded, before the write — divided evenly among the batch's commands.
//! A client that does not pipeline has batches of one, so its commands are timed exactly; a
//! pipeline of 16 costs two clock reads instead of 32. Network time and time spent waiting in the
//! socket are not included.
//!
//! Observations go into per-connection [`LocalHistogram`]s (plain integers, no atomics) that are
//! created on a command's first use and flushed into the shared Prometheus histograms about once
//! a second and when the connection ends, so `/metrics` trails by at most that much.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use prometheus::local::LocalHistogram;

use super::command::CommandKind;
use super::context::ServerContext;

const FLUSH_EVERY: Duration = Duration::from_secs(1);

pub struct LatencyRecorder {
    ctx: Arc<ServerContext>,
    local: Vec<Option<LocalHistogram>>,
    /// Commands of the current batch, by kind index.
    batch: Vec<u8>,
    batch_started: Option<Instant>,
    last_flush: Instant,
    /// Commands not yet added to the server-wide counter.
    unflushed_commands: u64,
}

impl LatencyRecorder {
    pub fn new(ctx: Arc<ServerContext>) -> Self {
        let local = (0..CommandKind::ALL.len()).map(|_| None).collect();
        Self {
            ctx,
            local,
            batch: Vec::with_capacity(32),
            batch_started: None,
            last_flush: Instant::now(),
            unflushed_commands: 0,
        }
    }

    /// Note that a command is about to run; the first call of a batch starts its clock.
    #[inline]
    pub fn start(&mut self) {
        if self.batch_started.is_none() {
            self.batch_started = Some(Instant::now());
        }
    }

    /// Count a finished command of `kind` into the current batch.
    #[inline]
    pub fn record(&mut self, kind: CommandKind) {
        self.batch.push(kind.index() as u8);
    }

    /// Close the batch: share its time among its commands.
    pub fn finish_batch(&mut self) {
        let Some(started) = self.batch_started.take() else {
            return;
        };
        let now = Instant::now();
        if !self.batch.is_empty() {
            let each = now.duration_since(started).as_secs_f64() / self.batch.len() as f64;
            for &index in &self.batch {
                let index = usize::from(index);
                let ctx = &self.ctx;
                self.local[index]
                    .get_or_insert_with(|| ctx.latency[index].local())
                    .observe(each);
            }
            self.unflushed_commands += self.batch.len() as u64;
            self.batch.clear();
        }
        if now.duration_since(self.last_flush) >= FLUSH_EVERY {
            self.flush();
            self.last_flush = now;
        }
    }

    fn flush(&mut self) {
        for histogram in self.local.iter().flatten() {
            histogram.flush();
        }
        self.ctx
            .commands_processed
            .fetch_add(self.unflushed_commands, Ordering::Relaxed);
        self.unflushed_commands = 0;
    }
}

impl Drop for LatencyRecorder {
    fn drop(&mut self) {
        self.flush();
    }
}

//! One client connection: read, execute every complete request in the buffer, write once.
//!
//! The loop is what makes pipelining cheap. After a read, every complete frame in the read buffer
//! is parsed in place and executed, its reply appended to the write buffer; only when no complete
//! frame is left is the write buffer sent. A pipeline of 16 commands arriving in one read costs
//! one read and one write system call. Output is also sent early when it passes
//! [`OUTPUT_HIGH_WATER`], so a pipeline of large GETs cannot grow the buffer without bound.
//!
//! A protocol error (malformed or oversized frame) is answered with `-ERR Protocol error: …`, after
//! the replies to the frames before it, and closes this connection only.
//!
//! With `appendfsync always`, a batch that executed a write command is answered only once the
//! append-only log has synced everything appended so far (one fsync serves every connection
//! waiting at that moment). If the log cannot be written, the connection is closed without the
//! answers: the client sees an unknown outcome, never an acknowledgement of a write that may be
//! lost.
//!
//! With authentication on, every command first passes `auth_gate` (NOAUTH, NOPERM).
//!
//! In a cluster, a command for a slot another member owns is forwarded there (or answered
//! `MOVED`) before anything runs locally; see `cluster_route`. A forward ends the batch like a
//! read-through does, so replies stay in order.
//!
//! Pub/sub: once the client subscribed, the loop also waits for published messages and writes
//! them (all that are queued, in one write) between requests. A subscriber whose queue filled up
//! is disconnected.
//!
//! Shutdown: the connection watches a stop signal only while it waits for input, so a batch that
//! has been read is always executed and answered before the connection closes.

use std::sync::Arc;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

use larder_runtime::persist::AppendLog;

use super::auth_gate;
use super::clients::Described;
use super::cluster_route::{self, Forwarding, Route};
use super::command::{self, Args};
use super::context::ServerContext;
use super::latency::LatencyRecorder;
use super::parse::{Parsed, RequestParser};
use super::pubsub::Push;
use super::read_through::{self, ReadThrough};
use super::reply::Reply;
use super::session::Session;

/// Initial size of each buffer, and the least free space offered to a read.
const BUFFER_SIZE: usize = 16 * 1024;
/// Send pending output mid-batch past this size.
const OUTPUT_HIGH_WATER: usize = 1024 * 1024;
/// An idle buffer larger than this (left by one big request or reply) is given back.
const SHRINK_ABOVE: usize = 4 * 1024 * 1024;
/// Queued pub/sub messages written in one go at most, before requests get their turn.
const PUSH_BATCH: usize = 1024;
/// The most buffer grown in one step for a large bulk that is still arriving; growth beyond it
/// is amortised doubling, so a client announcing a huge value reserves memory only as it sends.
const MAX_RESERVE_STEP: usize = 1024 * 1024;

/// What the loop does after executing what was buffered.
enum Next {
    /// Everything complete was executed: write, then read more.
    Read,
    /// Output passed the high-water mark: write, then keep executing.
    Write,
    /// QUIT or a protocol error: write, then close.
    Close,
    /// A GET/MGET in a namespace with an origin: write, await its answer, then keep executing.
    ReadThrough(ReadThrough),
    /// Commands for slots other cluster members own, pipelined back to back: write, await
    /// their answers from there (one batch per owner), then keep executing.
    Forward(Vec<Forwarding>),
    /// AUTH or HELLO with a JWT or a user's password, or ACL SETUSER with new passwords: write,
    /// do the work off the event loop (check the token, which may fetch the provider's keys;
    /// check or hash passwords with argon2id), then run the same command again with the result
    /// at hand.
    Credential(auth_gate::Work),
    /// A blocking command (BLPOP, …) found nothing: write, wait for its keys or its timeout
    /// (see `resp::blocking`), then run the same command again.
    Block,
}

/// While blocked, input beyond this is not read (a client pipelining behind a blocked command
/// waits, as it would for a full socket buffer).
const BLOCKED_INPUT_MAX: usize = 64 * 1024 * 1024;

/// One client on a plain TCP stream or a TLS stream over one.
pub struct Connection<S> {
    stream: S,
    input: BytesMut,
    parser: RequestParser,
    reply: Reply,
    session: Session,
    ctx: Arc<ServerContext>,
    latency: LatencyRecorder,
    /// The log to wait for before answering writes (`appendfsync always` only).
    sync_log: Option<Arc<AppendLog>>,
    /// Replication in a cluster: writes wait for the replicas of their slots before answering.
    replication: Option<Arc<crate::replication::Replication>>,
    /// The batch being answered executed a write command.
    wrote: bool,
    /// Commands the batch being answered ran (each gets the error if its writes are not
    /// replicated).
    ran: usize,
    /// Published messages for this client, once it subscribed.
    pushes: Option<mpsc::Receiver<Push>>,
    /// An `ACL SETUSER`/`DELUSER` on a cluster member ended the batch: the users before it, and
    /// where its answer starts in the reply, so the change is committed to the cluster before
    /// the answer goes out (and the answer replaced should it not be).
    access_change: Option<(crate::cluster_records::RecordsSnapshot, usize)>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    pub fn new(stream: S, session: Session, ctx: Arc<ServerContext>) -> Self {
        Self {
            stream,
            input: BytesMut::with_capacity(BUFFER_SIZE),
            parser: RequestParser::new(ctx.limits),
            reply: Reply::new(BUFFER_SIZE),
            session,
            latency: LatencyRecorder::new(Arc::clone(&ctx)),
            sync_log: ctx
                .state
                .persistence
                .as_ref()
                .and_then(|p| p.sync_log().cloned()),
            replication: ctx
                .state
                .cluster
                .as_ref()
                .map(|c| Arc::clone(&c.replication)),
            wrote: false,
            ran: 0,
            pushes: None,
            access_change: None,
            ctx,
        }
    }

    /// Serve the client until it disconnects, sends QUIT or a bad frame, or `stop` fires.
    pub async fn run(mut self, mut stop: oneshot::Receiver<()>) -> std::io::Result<()> {
        loop {
            let mark = self.replication.as_ref().map(|r| r.mark());
            let next = self.execute_buffered();
            if let Some(record) = &self.session.record {
                record.touch();
                if std::mem::take(&mut self.session.redescribe) {
                    record.describe(Described::of(&self.session, self.reply.protocol));
                }
            }
            let ran = std::mem::take(&mut self.ran);
            if std::mem::take(&mut self.wrote) {
                if let Some(log) = &self.sync_log
                    && let Err(e) = log.wait_durable(log.appended()).await
                {
                    tracing::error!(peer = %self.session.peer, error = %e, "closing a connection whose writes are not on disk");
                    return Ok(());
                }
                if let (Some(replication), Some(mark)) = (&self.replication, mark)
                    && let Err(e) = replication.wait(mark).await
                {
                    // Each command of the batch is answered with the error: a write that may
                    // not survive a failover is never acknowledged.
                    tracing::warn!(peer = %self.session.peer, error = %e, "writes not acknowledged");
                    self.reply.buf.clear();
                    let message = e.to_string();
                    for _ in 0..ran.max(1) {
                        self.reply.error(&message);
                    }
                }
            }
            if let Some((before, at)) = self.access_change.take()
                && let Err(e) = crate::cluster_records::commit_since(&self.ctx.state, before).await
            {
                self.reply.buf.truncate(at);
                self.reply.error_fmt(format_args!("CLUSTERDOWN {e}"));
            }
            if !self.reply.buf.is_empty() {
                self.stream.write_all(&self.reply.buf).await?;
                self.reply.buf.clear();
                if self.reply.buf.capacity() > SHRINK_ABOVE {
                    self.reply.buf = BytesMut::with_capacity(BUFFER_SIZE);
                }
            }
            match next {
                Next::Close => {
                    let _ = self.stream.shutdown().await;
                    return Ok(());
                }
                Next::Write => continue,
                Next::ReadThrough(command) => {
                    self.latency.start();
                    let kind = command.kind;
                    read_through::answer(command, &self.session, &mut self.reply).await;
                    self.latency.record(kind);
                    self.latency.finish_batch();
                    continue;
                }
                Next::Forward(batch) => {
                    self.latency.start();
                    let kinds: Vec<_> = batch.iter().map(|c| c.kind).collect();
                    Forwarding::answer_all(batch, &self.ctx, &mut self.reply).await;
                    if self.session.suppress_reply() {
                        self.reply.buf.clear();
                    }
                    for kind in kinds {
                        self.latency.record(kind);
                    }
                    self.latency.finish_batch();
                    continue;
                }
                Next::Credential(work) => {
                    if let Some(auth) = &self.ctx.state.auth {
                        work.run(auth, &mut self.session).await;
                    }
                    continue;
                }
                Next::Block => {
                    let Some(blocked) = self.session.blocked.as_mut() else {
                        continue;
                    };
                    // Registered during that run: one more try catches a write in between.
                    if std::mem::take(&mut blocked.fresh) {
                        continue;
                    }
                    // Woken, ran, and waiting on: the next client in line gets its turn.
                    if std::mem::take(&mut blocked.woken) {
                        blocked.registration.pass_on();
                    }
                    let deadline = blocked.deadline.map(tokio::time::Instant::from_std);
                    let timeout = async move {
                        match deadline {
                            Some(d) => tokio::time::sleep_until(d).await,
                            None => std::future::pending().await,
                        }
                    };
                    let input_room = self.input.len() < BLOCKED_INPUT_MAX;
                    let record = self.session.record.as_deref();
                    record.inspect(|r| r.set_blocked(true));
                    tokio::select! {
                        biased;
                        _ = &mut stop => return Ok(()),
                        _ = blocked.registration.written() => blocked.woken = true,
                        _ = timeout => {}
                        read = self.stream.read_buf(&mut self.input), if input_room => {
                            if read? == 0 {
                                return Ok(());
                            }
                        }
                    }
                    record.inspect(|r| r.set_blocked(false));
                    continue;
                }
                Next::Read => {}
            }
            if self.pushes.is_none()
                && let Some(queue) = &mut self.session.push
            {
                self.pushes = queue.receiver.take();
            }
            if self.input.is_empty() && self.input.capacity() > SHRINK_ABOVE {
                self.input = BytesMut::with_capacity(BUFFER_SIZE);
            }
            let missing = self.parser.needed().saturating_sub(self.input.len());
            self.input
                .reserve(missing.clamp(BUFFER_SIZE / 4, MAX_RESERVE_STEP));
            tokio::select! {
                biased;
                _ = &mut stop => return Ok(()),
                read = self.stream.read_buf(&mut self.input) => {
                    if read? == 0 {
                        return Ok(());
                    }
                    // What was pushed before these commands arrived goes out before their
                    // replies (an invalidation before the reply that follows it, as in Redis).
                    if let Some(Ok(push)) = self.pushes.as_mut().map(|r| r.try_recv())
                        && !self.write_pushes(push)
                    {
                        return Ok(());
                    }
                }
                Some(push) = next_push(&mut self.pushes) => {
                    if !self.write_pushes(push) {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Write `first` and up to a batch of the pushes queued behind it into the reply buffer;
    /// `false` when the connection must close instead (its rights were revoked, or it fell
    /// too far behind).
    fn write_pushes(&mut self, first: Push) -> bool {
        if auth_gate::lost_rights(&self.session, &self.ctx) {
            tracing::debug!(peer = %self.session.peer, "closing a subscriber whose key was revoked or token expired");
            return false;
        }
        if self
            .session
            .push
            .as_ref()
            .is_some_and(|q| q.overflowed.load(std::sync::atomic::Ordering::Relaxed))
        {
            tracing::warn!(peer = %self.session.peer, "closing a pub/sub client that fell too far behind");
            return false;
        }
        let prefix = self.session.subscriptions.as_ref().and_then(|s| s.prefix());
        command::pubsub::write_push(&first, prefix, &mut self.reply);
        let mut more = 1;
        while more < PUSH_BATCH
            && let Some(Ok(push)) = self.pushes.as_mut().map(|r| r.try_recv())
        {
            command::pubsub::write_push(&push, prefix, &mut self.reply);
            more += 1;
        }
        true
    }

    /// Execute every complete frame in the read buffer, appending replies to the write buffer.
    ///
    /// Commands for other members' slots that follow each other are gathered into one
    /// [`Next::Forward`] (up to [`cluster_route::BATCH_MAX`] of them), so a pipelining client
    /// keeps its pipeline through a forwarding member. Once one is gathered, the first frame that
    /// would do anything else is left unconsumed (any answer its routing wrote is taken back) and
    /// runs after the batch, so answers stay in the client's order. With authentication on,
    /// forwards go one at a time (the credential checks answer on their own).
    fn execute_buffered(&mut self) -> Next {
        let mut consumed = 0;
        let mut next = Next::Read;
        let mut forwards: Vec<Forwarding> = Vec::new();
        let mut forward_bytes = 0;
        loop {
            let frame = &self.input[consumed..];
            match self.parser.parse(frame) {
                Ok(Parsed::Incomplete) => break,
                Ok(Parsed::Frame(len)) => {
                    let args = Args::new(self.parser.source(frame), self.parser.args());
                    let batching = !forwards.is_empty();
                    if batching && self.ctx.state.auth.is_some() {
                        break;
                    }
                    if !args.is_empty() {
                        if self.ctx.state.auth.is_some() {
                            let kind = command::CommandKind::lookup(args.get(0));
                            if let Some(work) =
                                auth_gate::work_before(kind, &args, &self.session, &self.ctx)
                            {
                                // Not consumed: the frame runs again once the work is done.
                                next = Next::Credential(work);
                                break;
                            }
                            if auth_gate::refuses(
                                kind,
                                &mut self.session,
                                &self.ctx,
                                &mut self.reply,
                            ) {
                                consumed += len;
                                continue;
                            }
                        }
                        let mark = self.reply.buf.len();
                        match cluster_route::route(
                            &args,
                            &mut self.session,
                            &self.ctx,
                            &mut self.reply,
                        ) {
                            Route::Forward(command) => {
                                let joins = !batching
                                    || (command.batchable()
                                        && forwards.iter().all(Forwarding::batchable)
                                        && forwards.len() < cluster_route::BATCH_MAX
                                        && forward_bytes + command.size()
                                            <= cluster_route::BATCH_MAX_BYTES);
                                if !joins {
                                    // Not consumed: it goes in the next batch.
                                    break;
                                }
                                consumed += len;
                                forward_bytes += command.size();
                                forwards.push(command);
                                continue;
                            }
                            _ if batching => {
                                // Not consumed: it runs after the batch, in the client's order.
                                self.reply.buf.truncate(mark);
                                break;
                            }
                            Route::Local => {}
                            Route::Answered => {
                                consumed += len;
                                continue;
                            }
                        }
                        if self.session.transaction.is_none()
                            && let Some(command) = read_through::intercept(&args, &self.session)
                        {
                            consumed += len;
                            next = Next::ReadThrough(command);
                            break;
                        }
                        self.latency.start();
                        let before = self.reply.buf.len();
                        let access_before = self.changes_users(&args).then(|| {
                            crate::cluster_records::RecordsSnapshot::take(&self.ctx.state)
                        });
                        let kind =
                            command::execute(&args, &mut self.session, &self.ctx, &mut self.reply);
                        if let Some(snapshot) = access_before {
                            self.access_change = Some((snapshot, before));
                        }
                        if std::mem::take(&mut self.session.wants_retry) {
                            // Not consumed: the blocked command runs again once woken.
                            next = Next::Block;
                            break;
                        }
                        // CLIENT REPLY OFF / SKIP: the command ran, its answer is dropped —
                        // except subscription confirmations, which Redis always sends.
                        if self.session.suppress_reply()
                            && !kind.is_some_and(command::pubsub::confirms_with_push)
                        {
                            self.reply.buf.truncate(before);
                        }
                        self.ran += 1;
                        if let Some(kind) = kind {
                            self.latency.record(kind);
                            if (self.sync_log.is_some() || self.replication.is_some())
                                && (kind == command::CommandKind::Exec
                                    || kind.spec().flags.contains(&"write"))
                            {
                                self.wrote = true;
                            }
                        }
                    }
                    consumed += len;
                    if self.access_change.is_some() {
                        // Committed before the answer is written; the batch ends here.
                        next = Next::Write;
                        break;
                    }
                    if self.session.quit {
                        next = Next::Close;
                        break;
                    }
                    if self.reply.buf.len() >= OUTPUT_HIGH_WATER {
                        next = Next::Write;
                        break;
                    }
                }
                // Answered after the gathered forwards, when the frame is parsed again.
                Err(_) if !forwards.is_empty() => break,
                Err(error) => {
                    tracing::debug!(peer = %self.session.peer, %error, "closing RESP connection");
                    self.reply
                        .error_fmt(format_args!("ERR Protocol error: {error}"));
                    next = Next::Close;
                    break;
                }
            }
        }
        if !forwards.is_empty() {
            next = Next::Forward(forwards);
        }
        self.input.advance(consumed);
        self.latency.finish_batch();
        next
    }
}

impl<S> Connection<S> {
    /// Whether `args` is an `ACL SETUSER` or `DELUSER` that a cluster member with
    /// authentication shares with the other members (outside a transaction: queued, it runs
    /// at EXEC and stays this member's).
    fn changes_users(&self, args: &Args<'_>) -> bool {
        self.ctx.state.cluster.is_some()
            && self.ctx.state.auth.is_some()
            && self.session.transaction.is_none()
            && args.len() >= 2
            && args.get(0).eq_ignore_ascii_case(b"ACL")
            && (args.get(1).eq_ignore_ascii_case(b"SETUSER")
                || args.get(1).eq_ignore_ascii_case(b"DELUSER"))
    }
}

/// The next published message, or never when the client has not subscribed.
async fn next_push(pushes: &mut Option<mpsc::Receiver<Push>>) -> Option<Push> {
    match pushes {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

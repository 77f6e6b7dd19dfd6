//! MULTI, EXEC, DISCARD, WATCH, UNWATCH, with Redis's semantics.
//!
//! - After `MULTI` every command is checked (known, right arity) and queued (`+QUEUED`); one that
//!   fails the check is answered with its error and makes `EXEC` refuse the whole transaction
//!   (`-EXECABORT`). Errors *while running* (a wrong argument type found by the command itself)
//!   are that command's reply inside `EXEC`'s array; the others still run, nothing rolls back.
//! - `EXEC` holds the transaction gate exclusively (see `resp::gate`): no other client's command
//!   runs between its check of the watched keys and its last command.
//! - `WATCH key…` (outside MULTI only) remembers each key's version in its namespace; if any of
//!   them changed by the time of `EXEC` (written, deleted, expired, evicted, flushed — by anyone,
//!   this connection included), `EXEC` runs nothing and answers a null array. `EXEC`, `DISCARD`
//!   and `UNWATCH` forget every watch.
//! - Queued commands run in the namespace selected when they run (a queued `SELECT` applies to
//!   the commands after it), on the cache only: a namespace's origin is not consulted inside a
//!   transaction.

use std::ops::Range;
use std::sync::Arc;

use larder_runtime::{Namespace, WatchToken};

use super::{Args, CommandKind};
use crate::resp::context::ServerContext;
use crate::resp::reply::Reply;
use crate::resp::session::Session;

/// Queued commands at most, so a client cannot grow a queue without bound.
pub const MAX_QUEUED: usize = 100_000;

/// The state between MULTI and EXEC/DISCARD.
#[derive(Debug, Default)]
pub struct Transaction {
    queued: Vec<Queued>,
    /// A command failed its check while queueing: EXEC refuses.
    aborted: bool,
}

impl Transaction {
    /// Commands queued so far.
    pub fn queued_count(&self) -> usize {
        self.queued.len()
    }
}

/// One queued command, its arguments copied out of the read buffer.
#[derive(Debug)]
struct Queued {
    bytes: Vec<u8>,
    ranges: Vec<Range<usize>>,
}

/// One key `WATCH` took, in the namespace it was watched in.
#[derive(Debug)]
pub struct Watched {
    namespace: Arc<Namespace>,
    key: Vec<u8>,
    token: WatchToken,
}

/// Commands that act on the transaction itself rather than being queued.
pub fn runs_in_multi(kind: CommandKind) -> bool {
    use CommandKind as K;
    matches!(
        kind,
        K::Exec | K::Discard | K::Multi | K::Watch | K::Quit | K::Reset
    )
}

/// Commands Redis refuses inside a transaction (its `no-multi` flag), which abort it.
pub fn refused_in_multi(kind: CommandKind) -> bool {
    matches!(kind, CommandKind::Save | CommandKind::Shutdown)
}

/// Queue `args` (already known to be a command with the right arity).
pub fn queue(args: &Args<'_>, session: &mut Session, reply: &mut Reply) {
    let Some(tx) = session.transaction.as_mut() else {
        return;
    };
    if tx.queued.len() >= MAX_QUEUED {
        tx.aborted = true;
        reply.error_fmt(format_args!(
            "ERR a transaction holds at most {MAX_QUEUED} commands"
        ));
        return;
    }
    let mut bytes = Vec::new();
    let mut ranges = Vec::with_capacity(args.len());
    for arg in args.from(0) {
        let start = bytes.len();
        bytes.extend_from_slice(arg);
        ranges.push(start..bytes.len());
    }
    tx.queued.push(Queued { bytes, ranges });
    reply.simple("QUEUED");
}

/// A command refused while queueing (unknown, or wrong arity): EXEC will refuse.
pub fn refuse(session: &mut Session) {
    if let Some(tx) = session.transaction.as_mut() {
        tx.aborted = true;
    }
}

pub fn multi(session: &mut Session, reply: &mut Reply) {
    if session.transaction.is_some() {
        reply.error("ERR MULTI calls can not be nested");
        return;
    }
    session.transaction = Some(Transaction::default());
    reply.ok();
}

pub fn discard(session: &mut Session, reply: &mut Reply) {
    if session.transaction.take().is_none() {
        reply.error("ERR DISCARD without MULTI");
        return;
    }
    unwatch_all(session);
    reply.ok();
}

pub fn watch(args: &Args<'_>, session: &mut Session, reply: &mut Reply) {
    if session.transaction.is_some() {
        reply.error("ERR WATCH inside MULTI is not allowed");
        return;
    }
    for key in args.from(1) {
        let store = session.namespace.store();
        let token = store.watch(key);
        session.watched.push(Watched {
            namespace: Arc::clone(&session.namespace),
            key: key.to_vec(),
            token,
        });
    }
    reply.ok();
}

pub fn unwatch(session: &mut Session, reply: &mut Reply) {
    unwatch_all(session);
    reply.ok();
}

/// Release every watch of the connection (also when it closes).
pub fn unwatch_all(session: &mut Session) {
    for w in session.watched.drain(..) {
        w.namespace.store().unwatch(&w.key);
    }
}

/// `EXEC`: run the queue under the exclusive gate, unless the transaction was refused or a
/// watched key changed. `run` executes one queued command (without taking the gate).
pub fn exec(
    session: &mut Session,
    ctx: &ServerContext,
    reply: &mut Reply,
    run: impl Fn(&Args<'_>, &mut Session, &ServerContext, &mut Reply),
) {
    let Some(tx) = session.transaction.take() else {
        reply.error("ERR EXEC without MULTI");
        return;
    };
    if tx.aborted {
        unwatch_all(session);
        reply.error("EXECABORT Transaction discarded because of previous errors.");
        return;
    }
    let _exclusive = ctx.gate.exclusive();
    let changed = session
        .watched
        .iter()
        .any(|w| !w.namespace.store().watch_unchanged(&w.key, w.token));
    unwatch_all(session);
    if changed {
        reply.null_array();
        return;
    }
    reply.array(tx.queued.len());
    session.in_exec = true;
    for q in &tx.queued {
        run(&Args::new(&q.bytes, &q.ranges), session, ctx, reply);
    }
    session.in_exec = false;
}

//! GET and MGET in a namespace with a read-through origin.
//!
//! Commands run synchronously inside the connection's batch loop; an origin fetch cannot. So when
//! the connection's namespace has an origin, the loop hands each GET or MGET here: [`intercept`]
//! copies the keys out of the frame, the batch stops after it, and the connection awaits
//! [`answer`] before executing the rest of the batch, so replies stay in order. Namespaces without
//! an origin cost one relaxed atomic load per command and never come here.
//!
//! A miss that the origin does not know is a null, as without an origin. If a fetch fails, the
//! whole command answers `-ERR origin_<code>: <message>` (an MGET does not mix values and errors).

use bytes::Bytes;
use larder_runtime::origin::{self, OriginError};
use tokio::task::JoinSet;

use super::command::{Args, CommandKind};
use super::reply::Reply;
use super::session::Session;

/// A GET or MGET to be answered through the origin.
pub struct ReadThrough {
    pub kind: CommandKind,
    keys: Vec<Vec<u8>>,
}

/// The command in `args`, if it is a GET or MGET (with a valid arity) that must go through the
/// namespace's origin. Anything else, including arity errors, stays on the normal path.
#[inline]
pub fn intercept(args: &Args<'_>, session: &Session) -> Option<ReadThrough> {
    if !session.namespace.origin().is_enabled() {
        return None;
    }
    let kind = CommandKind::lookup(args.get(0))?;
    let keys = match kind {
        CommandKind::Get if args.len() == 2 => vec![args.get(1).to_vec()],
        CommandKind::MGet if args.len() >= 2 => args.from(1).map(<[u8]>::to_vec).collect(),
        _ => return None,
    };
    Some(ReadThrough { kind, keys })
}

/// Answer `command`: resident keys from the store, the rest fetched from the origin concurrently
/// (each within the origin's timeout). Every key read is reported to the prefetch hook.
pub async fn answer(command: ReadThrough, session: &Session, reply: &mut Reply) {
    let ns = &session.namespace;
    let mut values: Vec<Option<Bytes>> = Vec::with_capacity(command.keys.len());
    let mut fetches = JoinSet::new();
    for (i, key) in command.keys.into_iter().enumerate() {
        match ns.store().get(&key, Bytes::copy_from_slice) {
            Some(value) => {
                origin::record_access(ns, &key, true);
                values.push(Some(value));
            }
            None => {
                values.push(None);
                let ns = ns.clone();
                fetches.spawn(async move { (i, origin::fetch_after_miss(&ns, &key).await) });
            }
        }
    }
    let mut failure: Option<OriginError> = None;
    while let Some(done) = fetches.join_next().await {
        match done {
            Ok((i, Ok(value))) => values[i] = value,
            Ok((_, Err(e))) => failure = failure.or(Some(e)),
            Err(join) => {
                failure = failure.or(Some(OriginError::Unavailable(join.to_string())));
            }
        }
    }
    if let Some(e) = failure {
        return reply.error_fmt(format_args!("ERR {}: {e}", e.code()));
    }
    if command.kind == CommandKind::MGet {
        reply.array(values.len());
    }
    for value in values {
        match value {
            Some(v) => reply.bulk(&v),
            None => reply.null(),
        }
    }
}

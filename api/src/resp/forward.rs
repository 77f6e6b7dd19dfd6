//! The owner's side of proxy mode: run a command another node forwarded and return its answer.
//!
//! The forwarding node sends the command as its client sent it, the namespace the client had
//! selected and the client's protocol; the command runs here in a short-lived session exactly as
//! it would for a client connected to this node — read-through, notifications, tracking of
//! local clients, the `appendfsync always` wait — and the reply bytes go back as they are.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Weak};

use larder_cluster::{Forward, ForwardHandler};

use super::command::{self, Args};
use super::context::ServerContext;
use super::read_through;
use super::reply::{Protocol, Reply};
use super::session::Session;

/// Runs forwarded commands against this node's namespaces.
///
/// Holds the context weakly: the cluster node (inside the context's state) holds this handler,
/// and a strong reference would keep the whole server — its data directory lock included —
/// alive after shutdown.
pub struct ForwardExecutor {
    ctx: Weak<ServerContext>,
}

impl ForwardExecutor {
    pub fn new(ctx: &Arc<ServerContext>) -> Self {
        Self {
            ctx: Arc::downgrade(ctx),
        }
    }
}

impl ForwardHandler for ForwardExecutor {
    fn execute(&self, request: Forward) -> Pin<Box<dyn Future<Output = Vec<u8>> + Send>> {
        let ctx = self.ctx.upgrade();
        Box::pin(async move {
            match ctx {
                Some(ctx) => run(&ctx, request).await,
                None => b"-TRYAGAIN the slot's owner is shutting down\r\n".to_vec(),
            }
        })
    }
}

pub(super) async fn run(ctx: &ServerContext, request: Forward) -> Vec<u8> {
    let mut reply = Reply::new(256);
    if request.resp3 {
        reply.protocol = Protocol::Resp3;
    }
    // Tenants live on each node, not in the cluster's raft state yet: a tenant's command is not
    // run on another node (where it would run with the operator's view of names).
    if larder_runtime::tenant::split(&request.namespace)
        .0
        .is_some()
    {
        reply.error(
            "ERR a tenant's namespaces are not served across the cluster yet: connect to the \
             node that owns the slot",
        );
        return reply.buf.to_vec();
    }
    // The node the client reached checked its rights; the owner serves what it was sent.
    let namespace = match command::resolve_db(
        request.namespace.as_bytes(),
        ctx,
        &crate::tenants::NsView::default(),
        true,
    ) {
        Ok(namespace) => namespace,
        Err(message) => {
            reply.error(&message);
            return reply.buf.to_vec();
        }
    };
    let mut frame = Vec::with_capacity(request.args.iter().map(Vec::len).sum());
    let mut ranges = Vec::with_capacity(request.args.len());
    for arg in &request.args {
        let start = frame.len();
        frame.extend_from_slice(arg);
        ranges.push(start..frame.len());
    }
    let args = Args::new(&frame, &ranges);
    // The session stands for the remote client; it is never listed among this node's clients.
    let nowhere = SocketAddr::from(([0, 0, 0, 0], 0));
    let mut session = Session::new(ctx.next_client_id(), namespace, nowhere, nowhere);
    if let Some(fetch) = read_through::intercept(&args, &session) {
        read_through::answer(fetch, &session, &mut reply).await;
        return reply.buf.to_vec();
    }
    let replication = ctx.state.cluster.as_ref().map(|c| &c.replication);
    let mark = replication.map(|r| r.mark());
    // The sender chose this node by its own slot table; if the slot has moved on since (a
    // handover this node already knows of), running it here would store a key nobody serves.
    if let Some(mark) = &mark
        && !super::cluster_route::keys_are_mine(&args, mark.view(), &session.namespace)
    {
        reply.error(
            "TRYAGAIN the slot moved to another member while the command was on its way; retry",
        );
        return reply.buf.to_vec();
    }
    let kind = command::execute(&args, &mut session, ctx, &mut reply);
    let wrote = kind.is_some_and(|k| k.spec().flags.contains(&"write"));
    if wrote
        && let Some(log) = ctx.state.persistence.as_ref().and_then(|p| p.sync_log())
        && let Err(e) = log.wait_durable(log.appended()).await
    {
        // As for a local client: never acknowledge a write that may not be on disk.
        tracing::error!(error = %e, "a forwarded write is not on disk");
        reply.buf.clear();
        reply.error("ERR the write could not be made durable on the slot's owner");
    } else if wrote
        && let (Some(replication), Some(mark)) = (replication, mark)
        && let Err(e) = replication.wait(mark).await
    {
        reply.buf.clear();
        reply.error(&e.to_string());
    }
    reply.buf.to_vec()
}

//! The accept loop and graceful shutdown.
//!
//! The plain port and the optional TLS port are served by this one loop and share everything.
//! Each accepted socket gets `TCP_NODELAY` (replies are complete when written; Nagle would only
//! delay them), a [`Session`] in the `default` namespace, its own task, and an entry in the
//! server's clients table (`clients`) holding a private stop signal: a one-shot channel rather
//! than one shared notifier, because a connection polls its signal on every read and a shared one
//! would put a lock on that path. `CLIENT KILL` sends the same signal.
//!
//! On shutdown the listener is dropped (no new connections), every connection is told to stop —
//! each finishes the batch it is executing, writes the replies and closes — and [`serve_with`]
//! waits up to [`DRAIN_TIMEOUT`] before aborting whatever is still running (a client that stopped
//! reading its replies, say).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use larder_runtime::DEFAULT_NAMESPACE;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use super::connection::Connection;
use super::context::ServerContext;
use super::limits::RespLimits;
use super::session::Session;
use crate::auth::client_addr::TrustedProxies;
use crate::state::AppState;
use crate::tls::ServerTls;

/// The next connection on the plain port; never, when there is none (TLS only).
async fn accept_plain(
    listener: &Option<TcpListener>,
) -> std::io::Result<(TcpStream, std::net::SocketAddr)> {
    match listener {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

/// How long shutdown waits for connections to finish their current batch.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Serve the Redis protocol on `listener` with `limits` until `shutdown` resolves; see the module
/// docs of [`crate::resp`].
pub async fn serve_with(
    listener: TcpListener,
    state: AppState,
    limits: RespLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_ports(Some(listener), None, state, limits, None, shutdown).await
}

/// Serve the plain port `listener` and the TLS port `tls_listener` (with the settings in
/// `state.tls`), each when given (at least one). Both ports share one server: the same clients
/// table, pub/sub, tracking and transaction gate, so a TLS client and a plain one see each
/// other's writes, messages and transactions as two plain clients would. With `proxies`,
/// connections from them start with a PROXY protocol header (see `resp::proxy_protocol`).
pub async fn serve_ports(
    listener: Option<TcpListener>,
    tls_listener: Option<TcpListener>,
    state: AppState,
    limits: RespLimits,
    proxies: Option<TrustedProxies>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let port = match (&listener, &tls_listener) {
        (Some(l), _) | (None, Some(l)) => l.local_addr()?.port(),
        (None, None) => return Err(std::io::Error::other("no RESP port to serve")),
    };
    let tls = match (tls_listener, &state.tls) {
        (Some(l), Some(settings)) => Some((l, Arc::clone(settings))),
        (Some(_), None) => {
            return Err(std::io::Error::other(
                "a TLS port was given without TLS settings",
            ));
        }
        (None, _) => None,
    };
    let mut ctx = ServerContext::new(state, limits, port);
    ctx.proxy_protocol = proxies;
    let ctx = Arc::new(ctx);
    if let Some(cluster) = &ctx.state.cluster {
        cluster
            .node
            .set_forward_handler(Arc::new(super::forward::ForwardExecutor::new(&ctx)));
    }
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            // Reap finished connection tasks so the set does not grow with closed connections.
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            accepted = accept_plain(&listener) => match accepted {
                Ok((stream, _)) => {
                    if let Some(task) = start_connection(stream, None, &ctx) {
                        tasks.spawn(task);
                    }
                }
                Err(error) => accept_failed(error).await,
            },
            accepted = accept_tls(&tls) => match accepted {
                Ok((stream, settings)) => {
                    if let Some(task) = start_connection(stream, Some(settings), &ctx) {
                        tasks.spawn(task);
                    }
                }
                Err(error) => accept_failed(error).await,
            },
        }
    }
    drop(listener);
    drop(tls);
    let connections = ctx.clients.stop_all();
    tracing::info!(connections, "RESP server stopping");
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            remaining = tasks.len(),
            "RESP connections still busy after the drain timeout; closing them"
        );
        tasks.shutdown().await;
    }
    Ok(())
}

async fn accept_failed(error: std::io::Error) {
    // Out of file descriptors and the like: back off instead of spinning.
    tracing::warn!(%error, "RESP accept failed");
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// The next connection on the TLS port, or never when there is none.
async fn accept_tls(
    tls: &Option<(TcpListener, Arc<ServerTls>)>,
) -> std::io::Result<(TcpStream, Arc<ServerTls>)> {
    match tls {
        Some((listener, settings)) => {
            let (stream, _) = listener.accept().await?;
            Ok((stream, Arc::clone(settings)))
        }
        None => std::future::pending().await,
    }
}

/// Set up one accepted socket; `None` if it is already unusable. A trusted proxy's PROXY
/// protocol header is read first, then with `tls` the handshake runs, both in the connection's
/// own task (never in the accept loop, so a client that says nothing holds up nobody), bounded
/// by their timeouts and, once registered, by the stop signal.
fn start_connection(
    mut stream: TcpStream,
    tls: Option<Arc<ServerTls>>,
    ctx: &Arc<ServerContext>,
) -> Option<impl Future<Output = ()> + Send + 'static> {
    let peer = stream.peer_addr().ok()?;
    let local = stream.local_addr().ok()?;
    let _ = stream.set_nodelay(true);
    let namespace = match ctx.state.namespaces.get(DEFAULT_NAMESPACE) {
        Ok(namespace) => namespace,
        Err(error) => {
            tracing::error!(%error, "no default namespace; refusing RESP connection");
            return None;
        }
    };
    let behind_proxy = ctx
        .proxy_protocol
        .as_ref()
        .is_some_and(|p| p.trusts(peer.ip()));
    ctx.connections_received
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let ctx = Arc::clone(ctx);
    Some(async move {
        let peer = if behind_proxy {
            match super::proxy_protocol::read_header(&mut stream).await {
                Ok(client) => client.unwrap_or(peer),
                Err(error) => {
                    tracing::debug!(%peer, %error, "RESP connection from a trusted proxy refused");
                    return;
                }
            }
        } else {
            peer
        };
        let id = ctx.next_client_id();
        let (record, mut stop_rx) = ctx.clients.register(id, peer, local);
        let _open = OpenConnection::new(id, Arc::clone(&ctx));
        let mut session = Session::new(id, namespace, peer, local);
        session.record = Some(record);
        let ended = match tls {
            None => Connection::new(stream, session, ctx).run(stop_rx).await,
            Some(settings) => {
                let handshake = tokio::select! {
                    _ = &mut stop_rx => return,
                    done = settings.handshake(stream) => done,
                };
                match handshake {
                    Ok(stream) => Connection::new(stream, session, ctx).run(stop_rx).await,
                    Err(error) => {
                        tracing::debug!(%peer, %error, "RESP TLS handshake failed");
                        return;
                    }
                }
            }
        };
        if let Err(error) = ended {
            tracing::debug!(%peer, %error, "RESP connection ended with an I/O error");
        }
    })
}

/// Held by a connection's task for its lifetime, so the connection gauge and the clients table
/// are put right even when the task is aborted.
struct OpenConnection {
    id: u64,
    ctx: Arc<ServerContext>,
}

impl OpenConnection {
    fn new(id: u64, ctx: Arc<ServerContext>) -> Self {
        ctx.state.metrics.resp_connections.inc();
        Self { id, ctx }
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.ctx.state.metrics.resp_connections.dec();
        self.ctx.clients.remove(self.id);
    }
}

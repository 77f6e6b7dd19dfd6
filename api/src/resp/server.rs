//! The accept loop and graceful shutdown.
//!
//! The plain port and the optional TLS port are served by this one loop and share everything.
//! Each accepted socket gets `TCP_NODELAY` (replies are complete when written; Nagle would only
//! delay them), a [`Session`] in the `default` namespace, and its own task. Each task also gets a
//! private stop signal: a one-shot channel rather than one shared notifier, because a connection
//! polls its signal on every read and a shared one would put a lock on that path.
//!
//! On shutdown the listener is dropped (no new connections), every connection is told to stop —
//! each finishes the batch it is executing, writes the replies and closes — and [`serve_with`]
//! waits up to [`DRAIN_TIMEOUT`] before aborting whatever is still running (a client that stopped
//! reading its replies, say).

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use larder_runtime::DEFAULT_NAMESPACE;
use parking_lot::Mutex;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinSet;

use super::connection::Connection;
use super::context::ServerContext;
use super::limits::RespLimits;
use super::session::Session;
use crate::state::AppState;
use crate::tls::ServerTls;

/// How long shutdown waits for connections to finish their current batch.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Stop signals of the live connections, by client id. A connection removes its own entry when
/// it ends.
type StopSignals = Arc<Mutex<HashMap<u64, oneshot::Sender<()>>>>;

/// Serve the Redis protocol on `listener` with `limits` until `shutdown` resolves; see the module
/// docs of [`crate::resp`].
pub async fn serve_with(
    listener: TcpListener,
    state: AppState,
    limits: RespLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_ports(listener, None, state, limits, shutdown).await
}

/// Serve the plain port `listener` and, when given, the TLS port `tls_listener` (with the
/// settings in `state.tls`). Both ports share one server: the same clients table, pub/sub,
/// tracking and transaction gate, so a TLS client and a plain one see each other's writes,
/// messages and transactions as two plain clients would.
pub async fn serve_ports(
    listener: TcpListener,
    tls_listener: Option<TcpListener>,
    state: AppState,
    limits: RespLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let port = listener.local_addr()?.port();
    let tls = match (tls_listener, &state.tls) {
        (Some(l), Some(settings)) => Some((l, Arc::clone(settings))),
        (Some(_), None) => {
            return Err(std::io::Error::other(
                "a TLS port was given without TLS settings",
            ));
        }
        (None, _) => None,
    };
    let ctx = Arc::new(ServerContext::new(state, limits, port));
    if let Some(cluster) = &ctx.state.cluster {
        cluster
            .node
            .set_forward_handler(Arc::new(super::forward::ForwardExecutor::new(&ctx)));
    }
    let stops: StopSignals = Arc::default();
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            // Reap finished connection tasks so the set does not grow with closed connections.
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    if let Some(task) = start_connection(stream, None, &ctx, &stops) {
                        tasks.spawn(task);
                    }
                }
                Err(error) => accept_failed(error).await,
            },
            accepted = accept_tls(&tls) => match accepted {
                Ok((stream, settings)) => {
                    if let Some(task) = start_connection(stream, Some(settings), &ctx, &stops) {
                        tasks.spawn(task);
                    }
                }
                Err(error) => accept_failed(error).await,
            },
        }
    }
    drop(listener);
    drop(tls);
    let signals: Vec<_> = stops.lock().drain().map(|(_, stop)| stop).collect();
    tracing::info!(connections = signals.len(), "RESP server stopping");
    for stop in signals {
        let _ = stop.send(());
    }
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

/// Set up one accepted socket; `None` if it is already unusable. With `tls`, the handshake runs
/// first, in the connection's own task (never in the accept loop, so a client that says nothing
/// holds up nobody), bounded by the handshake timeout and by the stop signal.
fn start_connection(
    stream: TcpStream,
    tls: Option<Arc<ServerTls>>,
    ctx: &Arc<ServerContext>,
    stops: &StopSignals,
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
    let id = ctx.next_client_id();
    let (stop_tx, stop_rx) = oneshot::channel();
    stops.lock().insert(id, stop_tx);
    ctx.connections_received
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let open = OpenConnection::new(id, Arc::clone(ctx), Arc::clone(stops));
    let session = Session::new(id, namespace, peer, local);
    let ctx = Arc::clone(ctx);
    Some(async move {
        let _open = open;
        let mut stop_rx = stop_rx;
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

/// Held by a connection's task for its lifetime, so the connection gauge and the stop-signal
/// table are put right even when the task is aborted.
struct OpenConnection {
    id: u64,
    ctx: Arc<ServerContext>,
    stops: StopSignals,
}

impl OpenConnection {
    fn new(id: u64, ctx: Arc<ServerContext>, stops: StopSignals) -> Self {
        ctx.state.metrics.resp_connections.inc();
        Self { id, ctx, stops }
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.ctx.state.metrics.resp_connections.dec();
        self.stops.lock().remove(&self.id);
    }
}

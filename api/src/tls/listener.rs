//! A TLS listener for axum: a background task accepts TCP connections and hands each to its own
//! handshake task; only finished handshakes reach axum's accept. A silent or slow client so holds
//! up nobody, and a failed handshake is logged and dropped without axum ever seeing it.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;

use super::ServerTls;

/// Finished handshakes waiting for axum; a full queue makes handshake tasks wait, not fail.
const READY_QUEUE: usize = 128;

pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
    accept_loop: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    pub fn new(listener: TcpListener, tls: Arc<ServerTls>) -> std::io::Result<Self> {
        let local = listener.local_addr()?;
        let (tx, ready) = mpsc::channel(READY_QUEUE);
        let accept_loop = tokio::spawn(accept_loop(listener, tls, tx));
        Ok(Self {
            ready,
            local,
            accept_loop,
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        // Stop accepting when axum lets go of the listener (graceful shutdown).
        self.accept_loop.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    tls: Arc<ServerTls>,
    ready: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    loop {
        let (stream, peer) = tokio::select! {
            () = ready.closed() => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "HTTPS accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let tls = Arc::clone(&tls);
        let ready = ready.clone();
        tokio::spawn(async move {
            match tls.handshake(stream).await {
                Ok(stream) => {
                    let _ = ready.send((stream, peer)).await;
                }
                Err(error) => tracing::debug!(%peer, %error, "HTTPS handshake failed"),
            }
        });
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(ready) => ready,
            // The accept loop only ends when this listener is dropped; until then, wait.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

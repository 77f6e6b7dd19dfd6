//! The cluster bus: one TCP port per node for raft's RPCs, joins, forwarded commands,
//! replication and plugin module fetches.
//!
//! A frame is `[len u32 BE][MessagePack envelope]`; an envelope carries a request id, so one
//! connection carries many requests at once and answers come back in any order. [`Peer`] is the
//! client side: one connection per peer, opened on first use and again after a failure, each call
//! waiting for its own answer with a deadline. Raft and forwarding use separate [`Peer`]s, so a
//! burst of forwarded commands never queues a heartbeat behind it.
//!
//! With [`BusTls`] every connection is mutual TLS: the server demands a client certificate from
//! the cluster's CA and the client checks the server's against it, so only members talk on the
//! bus. The handshake runs in the connection's own task with [`HANDSHAKE_TIMEOUT`].
//!
//! The server runs each request in its own task, so a slow one (a snapshot install) does not
//! hold up the heartbeats behind it. A frame that does not decode closes that connection only.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::raft_types::{Command, Member, NodeId, TypeConfig};

/// The largest frame either side accepts.
pub const MAX_FRAME: usize = 64 << 20;
/// The longest a peer may take over its TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Mutual TLS for the bus: how this node accepts members and how it connects to them. Both
/// configs come from the server (they must require and present certificates of one CA).
///
/// Clones share one live pair: [`BusTls::replace`] (a certificate reload) reaches the accept
/// loop and every peer at once, for the connections opened from then on; open connections keep
/// the certificates they were made with.
#[derive(Clone)]
pub struct BusTls {
    live: Arc<parking_lot::RwLock<(TlsAcceptor, TlsConnector)>>,
}

impl BusTls {
    pub fn new(acceptor: TlsAcceptor, connector: TlsConnector) -> Self {
        Self {
            live: Arc::new(parking_lot::RwLock::new((acceptor, connector))),
        }
    }

    /// Serve new connections with these from now on.
    pub fn replace(&self, acceptor: TlsAcceptor, connector: TlsConnector) {
        *self.live.write() = (acceptor, connector);
    }

    fn acceptor(&self) -> TlsAcceptor {
        self.live.read().0.clone()
    }

    fn connector(&self) -> TlsConnector {
        self.live.read().1.clone()
    }
}

impl std::fmt::Debug for BusTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BusTls")
    }
}

type BoxedRead = Box<dyn AsyncRead + Send + Unpin>;
type BoxedWrite = Box<dyn AsyncWrite + Send + Unpin>;

fn split<S: AsyncRead + AsyncWrite + Send + 'static>(stream: S) -> (BoxedRead, BoxedWrite) {
    let (read, write) = tokio::io::split(stream);
    (Box::new(read), Box::new(write))
}

/// A command a node runs on behalf of another (proxy mode), as the client sent it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Forward {
    /// The namespace the client's connection had selected.
    pub namespace: String,
    /// The client speaks RESP3 (the reply is encoded for it).
    pub resp3: bool,
    /// The command and its arguments.
    pub args: Vec<Vec<u8>>,
}

/// A batch of changes a slot's owner sends to one of its replicas, in the order they were made.
/// The records are opaque here (the data plane encodes them); `from` is the sending owner, so
/// the replica can refuse changes to slots it does not know `from` to own.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Replicate {
    pub from: NodeId,
    #[serde(with = "serde_bytes")]
    pub records: Vec<u8>,
}

/// What a replica did with a [`Replicate`] batch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replicated {
    /// How many records, from the first, were applied.
    pub applied: u32,
    /// Why the record after those was not (`None`: all were).
    pub refused: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub enum BusRequest {
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<NodeId>),
    InstallSnapshot(InstallSnapshotRequest<TypeConfig>),
    /// A node asks to become a member.
    Join {
        id: NodeId,
        member: Member,
    },
    Forward(Forward),
    /// Commands a client pipelined, for the owner to run one after another, in order.
    ForwardBatch(Vec<Forward>),
    /// Changes for a replica to apply.
    Replicate(Replicate),
    /// The leader's failure detector asking whether the node is alive.
    Ping,
    /// A member asks the leader to commit a control-plane command.
    Propose(Command),
    /// A member asks for the module bytes of plugin version `id` (see [`Command::PutPlugin`]).
    FetchModule {
        id: String,
    },
    /// Messages published on another member, for this member's subscribers.
    Publish(Vec<crate::broadcast::Published>),
}

#[derive(Debug, Serialize, Deserialize)]
pub enum BusResponse {
    AppendEntries(Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>),
    Vote(Result<VoteResponse<NodeId>, RaftError<NodeId>>),
    InstallSnapshot(
        Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>,
    ),
    /// The join was accepted and committed.
    Joined,
    /// Ask the leader instead (when it is known).
    NotLeader {
        leader: Option<Member>,
    },
    /// The reply bytes of a forwarded command, encoded for the client.
    Forwarded(Vec<u8>),
    /// The reply bytes of each command of a forwarded batch, in order.
    ForwardedBatch(Vec<serde_bytes::ByteBuf>),
    Replicated(Replicated),
    Pong,
    /// The proposed command is committed and applied on the leader.
    Committed,
    /// The module bytes of a fetched plugin version (`None`: this member does not have it).
    Module(Option<serde_bytes::ByteBuf>),
    /// Published messages were handed to this member's subscribers.
    Delivered,
    /// The request could not be handled; the text says why.
    Refused(String),
}

#[derive(Serialize, Deserialize)]
struct Envelope<T> {
    id: u64,
    body: T,
}

/// Why a bus call failed.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("cannot reach {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("connection to {addr} lost")]
    Lost { addr: String },
    #[error("{addr} did not answer within {timeout:?}")]
    Timeout { addr: String, timeout: Duration },
    #[error("cannot encode a bus message: {0}")]
    Encode(String),
}

async fn write_frame<W: AsyncWrite + Unpin, T: Serialize>(
    w: &mut W,
    id: u64,
    body: &T,
) -> std::io::Result<()> {
    let payload = rmp_serde::to_vec(&Envelope { id, body })
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
    let mut frame = Vec::with_capacity(4 + payload.len());
    frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    frame.extend_from_slice(&payload);
    w.write_all(&frame).await
}

async fn read_frame<R: AsyncRead + Unpin, T: DeserializeOwned>(
    r: &mut R,
) -> std::io::Result<Option<Envelope<T>>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("bus frame of {len} bytes is over the {MAX_FRAME}-byte limit"),
        ));
    }
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload).await?;
    rmp_serde::from_slice(&payload)
        .map(Some)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))
}

/// What answers the bus's requests on a node.
pub trait BusHandler: Send + Sync + 'static {
    fn handle(&self, request: BusRequest)
    -> Pin<Box<dyn Future<Output = BusResponse> + Send + '_>>;
}

/// Accept bus connections on `listener` until `stop` turns true; with `tls`, only members with
/// a certificate of the cluster's CA. `stop` also closes the connections already accepted, so
/// peers reconnect to whatever listens on the address next (a member restarted in place).
pub async fn serve(
    listener: TcpListener,
    handler: Arc<dyn BusHandler>,
    mut stop: watch::Receiver<bool>,
    tls: Option<BusTls>,
) {
    loop {
        tokio::select! {
            _ = async { let _ = stop.wait_for(|s| *s).await; } => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let handler = Arc::clone(&handler);
                    let tls = tls.clone();
                    let mut stop = stop.clone();
                    tokio::spawn(async move {
                        let halves = match tls {
                            None => split(stream),
                            Some(tls) => match tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.acceptor().accept(stream)).await {
                                Ok(Ok(stream)) => split(stream),
                                Ok(Err(e)) => {
                                    tracing::warn!(%peer, error = %e, "bus TLS handshake refused");
                                    return;
                                }
                                Err(_) => {
                                    tracing::debug!(%peer, "bus TLS handshake timed out");
                                    return;
                                }
                            },
                        };
                        tokio::select! {
                            _ = async { let _ = stop.wait_for(|s| *s).await; } => {}
                            served = serve_connection(halves, handler) => {
                                if let Err(e) = served {
                                    tracing::debug!(%peer, error = %e, "bus connection closed");
                                }
                            }
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "bus accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
}

async fn serve_connection(
    (mut read, mut write): (BoxedRead, BoxedWrite),
    handler: Arc<dyn BusHandler>,
) -> std::io::Result<()> {
    let (tx, mut rx) = mpsc::channel::<(u64, BusResponse)>(256);
    let writer = tokio::spawn(async move {
        while let Some((id, response)) = rx.recv().await {
            if write_frame(&mut write, id, &response).await.is_err() {
                return;
            }
        }
    });
    let result = loop {
        match read_frame::<_, BusRequest>(&mut read).await {
            Ok(Some(Envelope { id, body })) => {
                let handler = Arc::clone(&handler);
                let tx = tx.clone();
                tokio::spawn(async move {
                    let response = handler.handle(body).await;
                    let _ = tx.send((id, response)).await;
                });
            }
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    drop(tx);
    let _ = writer.await;
    result
}

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<BusResponse>>>>;

struct Connection {
    writer: tokio::sync::Mutex<BoxedWrite>,
    pending: Pending,
    dead: Arc<AtomicBool>,
}

/// The client side of the bus to one peer.
pub struct Peer {
    addr: String,
    connection: tokio::sync::Mutex<Option<Arc<Connection>>>,
    next_id: AtomicU64,
    tls: Option<BusTls>,
}

impl Peer {
    /// A peer at `addr` (`host:port`); with `tls`, its certificate must name `host`.
    pub fn new(addr: impl Into<String>, tls: Option<BusTls>) -> Self {
        Self {
            addr: addr.into(),
            connection: tokio::sync::Mutex::new(None),
            next_id: AtomicU64::new(1),
            tls,
        }
    }

    /// A fresh connection to the peer: TCP, then the TLS handshake when the bus has TLS.
    async fn open(&self) -> std::io::Result<(BoxedRead, BoxedWrite)> {
        let stream = TcpStream::connect(&self.addr).await?;
        let _ = stream.set_nodelay(true);
        match &self.tls {
            None => Ok(split(stream)),
            Some(tls) => self.secure(stream, tls).await,
        }
    }

    /// The TLS handshake on a fresh connection, naming the host part of the peer's address.
    async fn secure(
        &self,
        stream: TcpStream,
        tls: &BusTls,
    ) -> std::io::Result<(BoxedRead, BoxedWrite)> {
        let host = self
            .addr
            .rsplit_once(':')
            .map_or(self.addr.as_str(), |(host, _)| host)
            .trim_start_matches('[')
            .trim_end_matches(']');
        let name = ServerName::try_from(host.to_string())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        Ok(split(tls.connector().connect(name, stream).await?))
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    async fn connection(&self, timeout: Duration) -> Result<Arc<Connection>, BusError> {
        let mut slot = self.connection.lock().await;
        if let Some(c) = slot.as_ref()
            && !c.dead.load(Ordering::Acquire)
        {
            return Ok(Arc::clone(c));
        }
        // One deadline for the connect and the handshake together.
        let (mut read, write) = tokio::time::timeout(timeout, self.open())
            .await
            .map_err(|_| BusError::Timeout {
                addr: self.addr.clone(),
                timeout,
            })?
            .map_err(|source| BusError::Connect {
                addr: self.addr.clone(),
                source,
            })?;
        let pending: Pending = Arc::default();
        let dead = Arc::new(AtomicBool::new(false));
        {
            let pending = Arc::clone(&pending);
            let dead = Arc::clone(&dead);
            tokio::spawn(async move {
                while let Ok(Some(Envelope { id, body })) =
                    read_frame::<_, BusResponse>(&mut read).await
                {
                    if let Some(tx) = pending.lock().remove(&id) {
                        let _ = tx.send(body);
                    }
                }
                dead.store(true, Ordering::Release);
                // Waiting callers see their sender dropped: the connection is lost.
                pending.lock().clear();
            });
        }
        let c = Arc::new(Connection {
            writer: tokio::sync::Mutex::new(write),
            pending,
            dead,
        });
        *slot = Some(Arc::clone(&c));
        Ok(c)
    }

    /// Send `request` and wait up to `timeout` for its answer.
    pub async fn call(
        &self,
        request: &BusRequest,
        timeout: Duration,
    ) -> Result<BusResponse, BusError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let c = self.connection(timeout).await?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        c.pending.lock().insert(id, tx);
        let written = {
            let mut w = c.writer.lock().await;
            tokio::time::timeout_at(deadline, write_frame(&mut *w, id, request)).await
        };
        match written {
            Ok(Ok(())) => {}
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::InvalidInput => {
                c.pending.lock().remove(&id);
                return Err(BusError::Encode(e.to_string()));
            }
            Ok(Err(_)) => {
                c.dead.store(true, Ordering::Release);
                c.pending.lock().remove(&id);
                return Err(BusError::Lost {
                    addr: self.addr.clone(),
                });
            }
            Err(_) => {
                // A half-written frame leaves the stream unusable.
                c.dead.store(true, Ordering::Release);
                c.pending.lock().remove(&id);
                return Err(BusError::Timeout {
                    addr: self.addr.clone(),
                    timeout,
                });
            }
        }
        match tokio::time::timeout_at(deadline, rx).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(_)) => Err(BusError::Lost {
                addr: self.addr.clone(),
            }),
            Err(_) => {
                c.pending.lock().remove(&id);
                Err(BusError::Timeout {
                    addr: self.addr.clone(),
                    timeout,
                })
            }
        }
    }
}

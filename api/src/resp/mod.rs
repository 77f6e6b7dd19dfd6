//! The Redis-protocol data port: RESP2 and RESP3, so every Redis client and tool works.
//!
//! ## Layout
//!
//! | module | holds |
//! |---|---|
//! | `server` | the accept loop, per-connection stop signals, graceful shutdown ([`serve`]) |
//! | `proxy_protocol` | the PROXY protocol header a trusted load balancer opens a connection with |
//! | `connection` | one client: read, execute every complete frame, write once |
//! | `parse` | the in-place, resumable request parser ([`RequestParser`]) |
//! | `reply` | reply encoding into the write buffer, RESP2 or RESP3 |
//! | `command` | the command table and one file per command family |
//! | `session` | per-connection state: selected namespace, client name, protocol |
//! | `context` | what all connections share: app state, limits, counters, histograms |
//! | `gate` | the transaction gate: commands hold it shared, `EXEC` exclusive |
//! | `latency` | per-command latency histograms, recorded per batch |
//! | `notify` | keyspace notifications (`notify-keyspace-events`), per namespace |
//! | `pubsub` | the server-wide channel and pattern registry, bounded per-subscriber queues |
//! | `cluster_route` | in a cluster: run here, forward to the slot's owner, or answer `MOVED` |
//! | `cluster_split` | proxy mode: `MGET`/`DEL`/`UNLINK`/`EXISTS`/`TOUCH` across owners, split and gathered |
//! | `forward` | the owner's side of a forwarded command |
//! | `read_through` | GET/MGET in a namespace with an origin: fetch misses, then answer |
//! | `tracking` | client-side caching: CLIENT TRACKING's tables and invalidations |
//! | `auth_gate` | with authentication on: NOAUTH before AUTH, NOPERM outside the caller's scope |
//! | `limits` | [`RespLimits`], the request-size caps |
//! | `glob` | Redis's glob patterns (KEYS, SCAN MATCH, CONFIG GET) |
//! | `dump_payload` | the `DUMP`/`RESTORE` payload: Redis's serialization of one value, read and written |
//!
//! ## Namespaces
//!
//! A new connection uses the `default` namespace, so existing clients work unmodified.
//! `SELECT 0` selects `default`; `SELECT 1` … `SELECT 15` select `db1` … `db15`, created with
//! the default config on first use (so a client configured with `redis://host/3` just works);
//! larger numbers get `-ERR DB index is out of range`. `SELECT <name>` selects the namespace
//! named `<name>`, or fails with `-ERR namespace '<name>' does not exist; …`. The namespace is
//! resolved once per SELECT and held by the connection; `DBSIZE`, `FLUSHDB` and every key
//! command act on it, `FLUSHALL` on all namespaces.
//!
//! ## Protocol notes
//!
//! - `HELLO 3` switches a connection to RESP3 (nulls become `_`, maps `%`); `HELLO 2` back.
//! - With an operator key configured, a connection starts unauthenticated: only AUTH, HELLO
//!   (with its AUTH option) and QUIT run until it authenticates (`auth_gate`).
//! - Requests may be pipelined freely; replies come back in order.
//! - Inline commands (`PING\r\n` typed into telnet) are split on whitespace, with Redis's double
//!   and single quoting.
//! - A malformed frame, or one beyond [`RespLimits`], gets `-ERR Protocol error: …` and closes
//!   that connection only.
//! - Values are strings only, so `WRONGTYPE` never occurs.
//! - Pub/sub messages and subscription confirmations are RESP3 push frames (`>`), arrays in
//!   RESP2; a RESP2 connection with subscriptions accepts only what Redis accepts then.
//! - `GETEX key EX seconds` is the way to slide a session's expiry on read; `TOUCH` keeps Redis's
//!   meaning (count existing keys, record an access, leave the TTL alone).

mod auth_gate;
mod blocking;
mod clients;
mod cluster_route;
mod cluster_split;
mod command;
mod connection;
mod context;
pub mod dump_payload;
mod forward;
mod gate;
mod glob;
mod latency;
mod limits;
mod notify;
mod parse;
pub mod proxy_protocol;
mod pubsub;
mod read_through;
mod reply;
mod server;
mod session;
mod tracking;

use std::future::Future;

pub use limits::RespLimits;
pub use parse::{Parsed, ProtocolError, RequestParser};
pub use server::{DRAIN_TIMEOUT, serve_ports, serve_with};

use crate::state::AppState;

/// Serve the Redis protocol on `listener` (and on `tls_listener` with TLS) with the default
/// [`RespLimits`] until `shutdown` resolves. Then it stops accepting, lets each connection finish
/// the batch it is executing (waiting at most [`DRAIN_TIMEOUT`]), and returns.
pub async fn serve(
    listener: Option<tokio::net::TcpListener>,
    tls_listener: Option<tokio::net::TcpListener>,
    state: AppState,
    proxies: Option<crate::auth::client_addr::TrustedProxies>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_ports(
        listener,
        tls_listener,
        state,
        RespLimits::default(),
        proxies,
        shutdown,
    )
    .await
}

//! Shared set-up for the Redis-protocol tests: a real server on 127.0.0.1:0 with a fresh state,
//! and small helpers around the `redis` crate and raw sockets.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use larder::metrics::ServerMetrics;
use larder::resp::{self, RespLimits};
use larder::state::AppState;
use larder_runtime::{NamespaceConfig, Namespaces};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub struct TestServer {
    pub addr: SocketAddr,
    pub state: AppState,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

pub fn fresh_state() -> AppState {
    let namespaces =
        Arc::new(Namespaces::new(NamespaceConfig::default()).expect("default namespace"));
    let metrics = Arc::new(ServerMetrics::new(Arc::clone(&namespaces)));
    AppState {
        alerts: None,
        namespaces,
        metrics,
        persistence: None,
        cluster: None,
        auth: None,
        tls: None,
        shutdown: None,
    }
}

pub async fn start() -> TestServer {
    start_with(RespLimits::default()).await
}

pub async fn start_with(limits: RespLimits) -> TestServer {
    let state = fresh_state();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(resp::serve_with(
        listener,
        state.clone(),
        limits,
        async move {
            let _ = stopped.await;
        },
    ));
    TestServer {
        addr,
        state,
        stop: Some(stop),
        task: Some(task),
    }
}

impl TestServer {
    pub fn url(&self) -> String {
        format!("redis://{}/", self.addr)
    }

    pub fn client(&self) -> redis::Client {
        redis::Client::open(self.url()).expect("client")
    }

    pub async fn connection(&self) -> redis::aio::MultiplexedConnection {
        self.client()
            .get_multiplexed_async_connection()
            .await
            .expect("connect")
    }

    /// Signal shutdown and wait for `serve` to return.
    pub async fn shut_down(mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let task = self.task.take().expect("running");
        tokio::time::timeout(Duration::from_secs(30), task)
            .await
            .expect("serve returned after shutdown")
            .expect("serve task did not panic")
    }
}

/// `CODE detail` of a server error, as the server sent it.
pub fn error_text(error: &redis::RedisError) -> String {
    format!(
        "{} {}",
        error.code().unwrap_or("?"),
        error.detail().unwrap_or("")
    )
}

pub type Con = redis::aio::MultiplexedConnection;

/// Send `args` (the command name first) and decode the reply as `T`.
pub async fn query<T: redis::FromRedisValue>(
    con: &mut Con,
    args: &[&str],
) -> redis::RedisResult<T> {
    let mut c = redis::cmd(args[0]);
    for a in &args[1..] {
        c.arg(*a);
    }
    c.query_async(con).await
}

/// `args` must fail with exactly `expected` (`CODE detail`).
pub async fn expect_error(con: &mut Con, args: &[&str], expected: &str) {
    match query::<redis::Value>(con, args).await {
        Err(e) => assert_eq!(error_text(&e), expected, "{args:?}"),
        Ok(v) => panic!("{args:?} should fail with {expected:?}, got {v:?}"),
    }
}

/// `args` must fail with an error starting with `prefix`.
pub async fn expect_error_starting(con: &mut Con, args: &[&str], prefix: &str) {
    match query::<redis::Value>(con, args).await {
        Err(e) => assert!(
            error_text(&e).starts_with(prefix),
            "{args:?}: {} does not start with {prefix:?}",
            error_text(&e)
        ),
        Ok(v) => panic!("{args:?} should fail with {prefix:?}…, got {v:?}"),
    }
}

/// A raw TCP connection for byte-level checks.
pub struct Raw {
    pub stream: TcpStream,
}

impl Raw {
    pub async fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        Self { stream }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    /// Read until exactly `expected.len()` bytes have arrived and return them.
    pub async fn read_exact_len(&mut self, len: usize) -> Vec<u8> {
        let mut buf = vec![0u8; len];
        tokio::time::timeout(Duration::from_secs(10), self.stream.read_exact(&mut buf))
            .await
            .expect("reply within 10 s")
            .expect("read");
        buf
    }

    /// Send `request` and assert the reply is exactly `expected`.
    pub async fn roundtrip(&mut self, request: &[u8], expected: &[u8]) {
        self.send(request).await;
        let got = self.read_exact_len(expected.len()).await;
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(expected),
            "reply to {:?}",
            String::from_utf8_lossy(request)
        );
    }

    /// Read everything until the server closes the connection.
    pub async fn read_to_close(&mut self) -> Vec<u8> {
        let mut buf = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), self.stream.read_to_end(&mut buf))
            .await
            .expect("server closed the connection within 10 s")
            .expect("read");
        buf
    }
}

/// Encode a command as a RESP array of bulk strings.
pub fn frame(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// [`frame`] for text arguments.
pub fn cmd(args: &[&str]) -> Vec<u8> {
    frame(&args.iter().map(|a| a.as_bytes()).collect::<Vec<_>>())
}

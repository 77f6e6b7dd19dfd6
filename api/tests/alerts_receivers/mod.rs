//! Real receivers for alert tests: an HTTP server that records every webhook call and a small SMTP
//! server that records every mail. Both listen on 127.0.0.1:0 and run until the test ends.

#![allow(dead_code)] // each test file uses a different part of this module

use std::net::SocketAddr;
use std::sync::Arc;

use axum::{Json, Router, extract::State, routing::post};
use parking_lot::Mutex;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// Every call received: the path it came in on and its JSON body, in arrival order.
type Calls = Arc<Mutex<Vec<(String, Value)>>>;

/// Records JSON bodies POSTed to `/slack` and `/json`, in arrival order.
#[derive(Clone, Default)]
pub struct WebhookRecorder {
    pub calls: Calls,
    pub addr: Option<SocketAddr>,
}

impl WebhookRecorder {
    pub async fn start() -> Self {
        let calls: Calls = Arc::default();
        async fn record(
            State((path, calls)): State<(&'static str, Calls)>,
            Json(body): Json<Value>,
        ) -> &'static str {
            calls.lock().push((path.to_string(), body));
            "ok"
        }
        let app = Router::new()
            .route("/slack", post(record).with_state(("slack", calls.clone())))
            .route("/json", post(record).with_state(("json", calls.clone())));
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind webhook recorder");
        let addr = listener.local_addr().expect("webhook recorder address");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            calls,
            addr: Some(addr),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}/{path}", self.addr.expect("started"))
    }

    /// Bodies received on one path.
    pub fn received(&self, path: &str) -> Vec<Value> {
        self.calls
            .lock()
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

/// One mail as the SMTP server received it.
#[derive(Debug, Clone)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    /// Headers and body as sent, with quoted-printable soft line breaks joined.
    pub data: String,
}

impl Mail {
    pub fn subject(&self) -> Option<&str> {
        self.data.lines().find_map(|l| l.strip_prefix("Subject: "))
    }
}

/// Speaks enough SMTP (RFC 5321) for a client to deliver: greeting, EHLO/HELO, MAIL, RCPT, DATA,
/// RSET, NOOP, QUIT.
#[derive(Clone)]
pub struct SmtpRecorder {
    pub mails: Arc<Mutex<Vec<Mail>>>,
    pub port: u16,
}

impl SmtpRecorder {
    pub async fn start() -> Self {
        let mails: Arc<Mutex<Vec<Mail>>> = Arc::default();
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind smtp recorder");
        let port = listener.local_addr().expect("smtp address").port();
        let sink = mails.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let sink = sink.clone();
                tokio::spawn(async move {
                    let _ = serve_smtp(socket, sink).await;
                });
            }
        });
        Self { mails, port }
    }

    pub fn received(&self) -> Vec<Mail> {
        self.mails.lock().clone()
    }
}

async fn serve_smtp(
    socket: tokio::net::TcpStream,
    sink: Arc<Mutex<Vec<Mail>>>,
) -> std::io::Result<()> {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read);
    write
        .write_all(b"220 localhost test SMTP ready\r\n")
        .await?;
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_string();
        let verb = command
            .split([' ', ':'])
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" => b"250-localhost\r\n250 8BITMIME\r\n",
            "HELO" | "NOOP" => b"250 OK\r\n",
            "RSET" => {
                (from, to) = (String::new(), Vec::new());
                b"250 OK\r\n"
            }
            "MAIL" => {
                from = angle(&command);
                b"250 OK\r\n"
            }
            "RCPT" => {
                to.push(angle(&command));
                b"250 OK\r\n"
            }
            "DATA" => {
                write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
                let mut data = String::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await? == 0 {
                        return Ok(());
                    }
                    if line == ".\r\n" || line == ".\n" {
                        break;
                    }
                    // Undo dot-stuffing (RFC 5321 4.5.2).
                    data.push_str(line.strip_prefix('.').unwrap_or(&line));
                }
                let data = data.replace("=\r\n", "");
                sink.lock().push(Mail {
                    from: from.clone(),
                    to: to.clone(),
                    data,
                });
                b"250 OK queued\r\n"
            }
            "QUIT" => {
                write.write_all(b"221 bye\r\n").await?;
                return Ok(());
            }
            _ => b"502 command not implemented\r\n",
        };
        write.write_all(reply).await?;
    }
}

/// The address between angle brackets in `MAIL FROM:<a@b>` / `RCPT TO:<a@b>`.
fn angle(command: &str) -> String {
    let start = command.find('<').map_or(0, |i| i + 1);
    let end = command[start..]
        .find('>')
        .map_or(command.len(), |i| start + i);
    command[start..end].to_string()
}

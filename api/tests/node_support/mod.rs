//! The real `larder` binary on a data directory, for the durability tests: start it on free
//! loopback ports and wait for its ready line, stop it with SIGTERM, talk to it.

#![allow(dead_code)] // each test binary uses its own subset

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_larder");

pub struct Node {
    pub child: Child,
    pub resp: SocketAddr,
    pub http: String,
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub fn command(data_dir: &Path, extra: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args([
        "serve",
        "--resp-addr",
        "127.0.0.1:0",
        "--http-addr",
        "127.0.0.1:0",
    ])
    .arg("--data-dir")
    .arg(data_dir)
    .args(["--snapshot-every-secs", "0", "--log-level", "info"])
    .args(extra)
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    for var in [
        "LARDER_CONFIG",
        "LARDER_NO_PERSIST",
        "LARDER_DATA_DIR",
        "RUST_LOG",
    ] {
        c.env_remove(var);
    }
    c
}

/// Start on `data_dir` and wait for the ready line.
pub fn start(data_dir: &Path, extra: &[&str]) -> Node {
    let mut child = command(data_dir, extra).spawn().expect("spawn larder");
    let stdout = child.stdout.take().unwrap();
    let mut banner = String::new();
    for line in BufReader::new(stdout).lines().take(50) {
        let line = line.unwrap();
        banner.push_str(&line);
        banner.push('\n');
        if let Some(rest) = line.strip_prefix("larder ready ") {
            assert!(
                banner.contains("data directory")
                    && banner.contains(&data_dir.display().to_string()),
                "the banner says where the data goes: {banner}"
            );
            let field = |name: &str| -> SocketAddr {
                rest.split(' ')
                    .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
                    .unwrap()
                    .parse()
                    .unwrap()
            };
            return Node {
                resp: field("resp_addr"),
                http: format!("http://{}", field("http_addr")),
                child,
            };
        }
    }
    let out = child.wait_with_output().unwrap();
    panic!("no ready line: {}", String::from_utf8_lossy(&out.stderr));
}

pub fn sigterm_and_wait(node: &mut Node) {
    let status = Command::new("kill")
        .args(["-TERM", &node.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let started = Instant::now();
    loop {
        if let Some(status) = node.child.try_wait().unwrap() {
            assert!(status.success(), "exit after SIGTERM: {status}");
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn redis(node: &Node) -> redis::Connection {
    redis::Client::open(format!("redis://{}/", node.resp))
        .unwrap()
        .get_connection()
        .unwrap()
}

pub fn value_of(i: u32) -> Vec<u8> {
    // Binary and varied: every byte value appears, lengths differ.
    (0..(i % 97 + 1))
        .map(|j| (i.wrapping_mul(31) + j) as u8)
        .collect()
}

pub fn http(method: reqwest::Method, url: &str, body: Option<Value>) -> (u16, Value) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut req = reqwest::Client::new().request(method, url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    })
}

//! The `larder` binary as a user runs it: the ready line, graceful shutdown on SIGTERM, config
//! precedence (flags > env > file > defaults), and refusal of an invalid config with exit code 2.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_larder");

/// A spawned `larder serve`; killed on drop if a test fails before stopping it.
struct Process {
    child: Child,
    resp_addr: SocketAddr,
    http_addr: SocketAddr,
    banner: Vec<String>,
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Start the binary with `args` and `env`, on port 0 unless the args or env say otherwise, and
/// read stdout up to the ready line.
fn spawn(args: &[&str], env: &[(&str, &str)]) -> Process {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for var in [
        "LARDER_RESP_ADDR",
        "LARDER_HTTP_ADDR",
        "LARDER_CONFIG",
        "LARDER_DATA_DIR",
        "RUST_LOG",
    ] {
        command.env_remove(var);
    }
    // These tests are about flags and config, not durability: nothing goes to disk.
    command.env("LARDER_NO_PERSIST", "1");
    command.envs(env.iter().copied());
    let mut child = command.spawn().expect("spawn larder");
    let stdout = child.stdout.take().unwrap();
    let mut banner = Vec::new();
    // Bounded: the banner is a handful of lines, and read_line returns 0 at EOF if startup fails.
    for line in BufReader::new(stdout).lines().take(50) {
        let line = line.unwrap();
        banner.push(line.clone());
        if let Some(rest) = line.strip_prefix("larder ready ") {
            let field = |name: &str| -> SocketAddr {
                rest.split(' ')
                    .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
                    .unwrap_or_else(|| panic!("{name} in {line:?}"))
                    .parse()
                    .unwrap()
            };
            let (resp_addr, http_addr) = (field("resp_addr"), field("http_addr"));
            return Process {
                child,
                resp_addr,
                http_addr,
                banner,
            };
        }
    }
    let output = child.wait_with_output().unwrap();
    panic!(
        "no ready line; stdout {banner:?}, stderr {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn sigterm(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn get_json(url: &str) -> Value {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        reqwest::get(url)
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    })
}

#[test]
fn prints_where_everything_is_and_exits_0_on_sigterm() {
    let mut process = spawn(
        &[
            "serve",
            "--resp-addr",
            "127.0.0.1:0",
            "--http-addr",
            "127.0.0.1:0",
        ],
        &[],
    );
    let banner = process.banner.join("\n");
    let base = format!("http://{}", process.http_addr);
    for expected in [
        format!("{}", process.resp_addr),
        format!("{base}/v1/namespaces"),
        format!("{base}/metrics"),
        format!("{base}/openapi.json"),
        format!("{base}/docs"),
    ] {
        assert!(
            banner.contains(&expected),
            "banner lacks {expected}:\n{banner}"
        );
    }
    assert_eq!(get_json(&format!("{base}/healthz"))["status"], "ok");
    // The Redis-protocol port is bound too.
    assert!(std::net::TcpStream::connect(process.resp_addr).is_ok());

    sigterm(&process.child);
    let status = process.child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "graceful shutdown exits 0");
    assert!(std::net::TcpStream::connect(process.http_addr).is_err());
}

#[test]
fn no_subcommand_means_serve_and_json_logs_are_json() {
    let mut process = spawn(
        &[
            "--resp-addr",
            "127.0.0.1:0",
            "--http-addr",
            "127.0.0.1:0",
            "--log-format",
            "json",
        ],
        &[],
    );
    sigterm(&process.child);
    let output = std::mem::replace(&mut process.child, Command::new("true").spawn().unwrap())
        .wait_with_output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let stderr = String::from_utf8(output.stderr).unwrap();
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.is_empty()).collect();
    assert!(!lines.is_empty(), "expected log lines");
    for line in lines {
        let parsed: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
        assert!(parsed.get("level").is_some(), "{line}");
    }
}

#[test]
fn flags_beat_env_beat_file_beat_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("larder.toml");
    std::fs::write(
        &path,
        r#"
resp_addr = "127.0.0.1:0"
http_addr = "127.0.0.1:1"   # overridden by the environment below

[namespaces.default]
capacity_bytes = 33554432
default_ttl_secs = 10       # overridden by the flag below

[namespaces.sessions]
capacity_bytes = 16777216
eviction = "lru"
"#,
    )
    .unwrap();
    let process = spawn(
        &[
            "serve",
            "--config",
            path.to_str().unwrap(),
            "--default-ttl-secs",
            "30",
        ],
        &[
            ("LARDER_HTTP_ADDR", "127.0.0.1:0"),
            ("LARDER_DEFAULT_TTL_SECS", "20"),
        ],
    );
    let base = format!("http://{}", process.http_addr);
    let default = get_json(&format!("{base}/v1/namespaces/default"));
    assert_eq!(
        default["config"]["capacity_bytes"], 33554432,
        "from the file"
    );
    assert_eq!(
        default["config"]["default_ttl_secs"], 30,
        "the flag beats env and file"
    );
    assert_eq!(
        default["config"]["max_item_size"], 1048576,
        "the built-in default"
    );
    let sessions = get_json(&format!("{base}/v1/namespaces/sessions"));
    assert_eq!(sessions["config"]["eviction"], "lru");
    assert_eq!(sessions["config"]["capacity_bytes"], 16777216);
    sigterm(&process.child);

    // Env beats file when there is no flag.
    let process = spawn(
        &["--config", path.to_str().unwrap()],
        &[
            ("LARDER_HTTP_ADDR", "127.0.0.1:0"),
            ("LARDER_DEFAULT_TTL_SECS", "20"),
        ],
    );
    let default = get_json(&format!(
        "http://{}/v1/namespaces/default",
        process.http_addr
    ));
    assert_eq!(default["config"]["default_ttl_secs"], 20);
    sigterm(&process.child);
}

/// Run the binary on a config file; return (exit code, stderr). Ports are 0, so a config wrongly
/// accepted binds nothing fixed; such a server is killed after a bounded wait and the test fails.
fn run_with_config(toml: &str, extra: &[&str]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("larder.toml");
    std::fs::write(&path, toml).unwrap();
    let mut child = Command::new(BIN)
        .args(["serve", "--config", path.to_str().unwrap()])
        .args(["--resp-addr", "127.0.0.1:0"])
        .args(extra)
        .env("LARDER_HTTP_ADDR", "127.0.0.1:0")
        .env_remove("LARDER_RESP_ADDR")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..600 {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    if child.try_wait().unwrap().is_none() {
        let _ = child.kill();
        let output = child.wait_with_output().unwrap();
        panic!(
            "{toml:?} was accepted: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let output = child.wait_with_output().unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn an_invalid_config_is_refused_with_exit_2_naming_the_field() {
    let cases = [
        ("listen_adr = \"127.0.0.1:1\"\n", "listen_adr"),
        ("http_addr = \"localhost\"\n", "http_addr"),
        ("max_body_bytes = \"lots\"\n", "max_body_bytes"),
        ("log_format = \"xml\"\n", "log_format"),
        ("log_level = \"info,[[[\"\n", "log_level"),
        (
            "[namespaces.sessions]\ncapacity_bytes = 100\n",
            "namespaces.sessions.capacity_bytes",
        ),
        ("[namespaces.sessions]\neviction = \"mru\"\n", "eviction"),
        (
            "[namespaces.sessions]\ncapacity_bytes = \"big\"\n",
            "capacity_bytes",
        ),
        (
            "[namespaces.sessions]\nshards = 3\n",
            "namespaces.sessions.shards",
        ),
    ];
    for (toml, field) in cases {
        let (code, stderr) = run_with_config(toml, &[]);
        assert_eq!(code, Some(2), "{toml:?}: {stderr}");
        assert!(
            stderr.contains(field),
            "{toml:?}: stderr does not name {field}: {stderr}"
        );
    }
    let (code, stderr) = run_with_config("", &["--http-addr", "nonsense"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--http-addr"), "{stderr}");
    let output = Command::new(BIN)
        .args(["serve", "--config", "/nonexistent/larder.toml"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("larder.toml"));
}

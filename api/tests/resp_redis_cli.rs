//! A smoke test with `redis-cli` (Debian's redis-tools), a client nobody here wrote. The test
//! fails when redis-cli is missing: the test setup is expected to install it.

mod resp_support;

use std::process::Command;

use resp_support::start;

fn redis_cli(port: u16, args: &[&str]) -> String {
    let output = Command::new("redis-cli")
        .arg("-h")
        .arg("127.0.0.1")
        .arg("-p")
        .arg(port.to_string())
        .args(args)
        .output()
        .expect("redis-cli is required for this test: install redis-tools (apt-get install redis-tools)");
    assert!(
        output.status.success(),
        "redis-cli {args:?} failed: {output:?}"
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cli_smoke() {
    let server = start().await;
    let port = server.addr.port();
    // redis-cli blocks; run it off the runtime's worker threads.
    let out = tokio::task::spawn_blocking(move || {
        vec![
            redis_cli(port, &["ping"]),
            redis_cli(port, &["set", "k", "hello world"]),
            redis_cli(port, &["get", "k"]),
            redis_cli(port, &["--no-raw", "get", "k"]),
            redis_cli(port, &["--no-raw", "get", "missing"]),
            redis_cli(port, &["--no-raw", "incrby", "n", "5"]),
            redis_cli(port, &["--no-raw", "mget", "k", "missing"]),
            redis_cli(port, &["--no-raw", "nosuchcommand", "x"]),
            redis_cli(port, &["-3", "--no-raw", "get", "missing"]),
            redis_cli(port, &["info", "server"]),
        ]
    })
    .await
    .unwrap();
    assert_eq!(out[0], "PONG\n");
    assert_eq!(out[1], "OK\n");
    assert_eq!(out[2], "hello world\n");
    assert_eq!(out[3], "\"hello world\"\n");
    assert_eq!(out[4], "(nil)\n");
    assert_eq!(out[5], "(integer) 5\n");
    assert_eq!(out[6], "1) \"hello world\"\n2) (nil)\n");
    assert_eq!(
        out[7],
        "(error) ERR unknown command 'nosuchcommand', with args beginning with: 'x' \n"
    );
    assert_eq!(out[8], "(nil)\n");
    assert!(out[9].contains(&format!("tcp_port:{port}")), "{}", out[9]);

    // Interactive-style start with commands on stdin: redis-cli issues COMMAND DOCS first.
    let stdin_run = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = Command::new("redis-cli")
            .args(["-p", &port.to_string()])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("redis-cli is required for this test: install redis-tools");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"SET piped 1\nINCR piped\n")
            .unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    assert!(stdin_run.status.success());
    assert_eq!(String::from_utf8_lossy(&stdin_run.stdout), "OK\n2\n");
    assert_eq!(String::from_utf8_lossy(&stdin_run.stderr), "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cli_shows_every_collection_family_as_redis_does() {
    let server = start().await;
    let port = server.addr.port();
    let out = tokio::task::spawn_blocking(move || {
        let cli = |args: &[&str]| redis_cli(port, &[&["--no-raw"], args].concat());
        vec![
            cli(&["hset", "h", "f", "v", "g", "w"]),
            cli(&["hgetall", "h"]),
            cli(&["rpush", "l", "a", "b"]),
            cli(&["lrange", "l", "0", "-1"]),
            cli(&["sadd", "s", "x"]),
            cli(&["smembers", "s"]),
            cli(&["zadd", "z", "1.5", "m"]),
            cli(&["zrange", "z", "0", "-1", "withscores"]),
            cli(&["get", "h"]),
            cli(&["-3", "hgetall", "h"]),
            cli(&["-3", "zscore", "z", "m"]),
            cli(&["type", "z"]),
        ]
    })
    .await
    .unwrap();
    assert_eq!(out[0], "(integer) 2\n");
    assert_eq!(out[1], "1) \"f\"\n2) \"v\"\n3) \"g\"\n4) \"w\"\n");
    assert_eq!(out[2], "(integer) 2\n");
    assert_eq!(out[3], "1) \"a\"\n2) \"b\"\n");
    assert_eq!(out[4], "(integer) 1\n");
    assert_eq!(out[5], "1) \"x\"\n");
    assert_eq!(out[6], "(integer) 1\n");
    assert_eq!(out[7], "1) \"m\"\n2) \"1.5\"\n");
    assert_eq!(
        out[8],
        "(error) WRONGTYPE Operation against a key holding the wrong kind of value\n"
    );
    // RESP3: a map and a double, as redis-cli prints them.
    assert_eq!(out[9], "1# \"f\" => \"v\"\n2# \"g\" => \"w\"\n");
    assert_eq!(out[10], "(double) 1.5\n");
    assert_eq!(out[11], "zset\n");
}

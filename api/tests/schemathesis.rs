//! The OpenAPI document against the real binary, from outside: schemathesis (pinned in
//! `python/requirements.txt`) runs every check it has (examples, boundary coverage, fuzzing, and
//! stateful sequences that follow the document's links) against a node without authentication
//! and against one with an operator key, and must find no failure and no server error; and a
//! client generated from `openapi/openapi.json` by openapi-python-client (pinned there too)
//! works against a live node.
//!
//! The run is bounded (30 examples per operation, a fixed seed) so it takes about a minute. Its
//! configuration and hooks are `python/schemathesis.toml` and `python/schemathesis_hooks.py`:
//! the hooks apply, to requests meant to be valid, the few rules between fields that JSON Schema
//! cannot state (the document states them in prose). `POST /v1/plugins` is left out: a valid
//! body is a compiled WebAssembly module, which no schema can generate (`plugin_api` covers it).
//!
//! The Python interpreter is `LARDER_TEST_PYTHON`, which `.ci/test-all.sh` sets to the virtual
//! environment it creates; without it, that environment's default place is used.

mod node_support;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Instant;

use node_support::Node;

const OPERATOR_KEY: &str = "schemathesis-operator-key-0123456789";

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("LARDER_TEST_PYTHON") {
        return PathBuf::from(p);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .expect("HOME or XDG_CACHE_HOME");
    cache.join("larder-ci/venv/bin/python")
}

fn checked_python() -> PathBuf {
    let python = python();
    assert!(
        python.exists(),
        "no Python at {} — run .ci/test-all.sh once (it creates that environment) or point \
         LARDER_TEST_PYTHON at a python with `pip install -r api/tests/python/requirements.txt`",
        python.display()
    );
    python
}

fn python_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python")
}

/// The real binary on a temporary data directory, with an operator key or without one. Its
/// output is drained (a schemathesis run makes it log a lot) and its errors discarded.
fn start(data_dir: &Path, operator_key: Option<&str>) -> Node {
    let mut command = node_support::command(data_dir, &[]);
    command.env_remove("LARDER_OPERATOR_KEY");
    if let Some(key) = operator_key {
        command.env("LARDER_OPERATOR_KEY", key);
    }
    let mut child = command.stderr(Stdio::null()).spawn().expect("spawn larder");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|line| line.strip_prefix("larder ready ").map(str::to_string))
        .expect("the node printed its ready line");
    std::thread::spawn(move || lines.for_each(drop));
    let field = |name: &str| -> SocketAddr {
        ready
            .split(' ')
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .unwrap()
            .parse()
            .unwrap()
    };
    Node {
        resp: field("resp_addr"),
        http: format!("http://{}", field("http_addr")),
        child,
    }
}

fn said(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Run schemathesis with every check against `node`; panics unless it found nothing.
fn schemathesis(node: &Node, token: Option<&str>) {
    let python = checked_python();
    let st = python.with_file_name("st");
    assert!(st.exists(), "no schemathesis next to {}", python.display());
    let mut command = Command::new(st);
    command
        .current_dir(python_dir())
        .env("LARDER_TEST_BASE_URL", &node.http)
        .env("NO_COLOR", "1")
        .args(["--config-file", "schemathesis.toml", "run"])
        .arg(format!("{}/openapi.json", node.http))
        .args([
            "--checks",
            "all",
            "--max-examples",
            "30",
            "--seed",
            "1",
            // One worker: the run is reproducible, and Python 3.11 can fail parsing source in
            // several threads at once (hypothesis inspects the hooks' source).
            "--workers",
            "1",
            "--exclude-operation-id",
            "upload_plugin",
            // Generating namespace names draws `.` and `..` often, which cannot be path segments.
            "--suppress-health-check",
            "filter_too_much",
            "--generation-database",
            "none",
            "--no-color",
        ]);
    if let Some(token) = token {
        command
            .env("LARDER_TEST_TOKEN", token)
            .args(["--header", &format!("Authorization: Bearer {token}")]);
    }
    let started = Instant::now();
    let out = command.output().expect("run schemathesis");
    let said = said(&out);
    let last = said
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    assert!(
        out.status.success() && !last.contains("failure") && !last.contains("error"),
        "schemathesis found problems ({}):\n{said}",
        out.status
    );
    // `Test cases: N generated, N passed[, M skipped]`: something was really sent.
    let counts = said
        .lines()
        .skip_while(|l| !l.starts_with("Test cases:"))
        .nth(1)
        .unwrap_or("");
    let generated: u64 = counts
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(
        generated > 1000 && counts.contains(&format!("{generated} passed")),
        "{counts}\n{said}"
    );
    assert!(
        said.contains("✅  Stateful"),
        "the stateful phase ran and passed:\n{said}"
    );
    eprintln!(
        "schemathesis: {} in {:.0?}",
        counts.trim(),
        started.elapsed()
    );
}

#[test]
fn schemathesis_finds_nothing_against_a_node_without_authentication() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), None);
    schemathesis(&node, None);
}

#[test]
fn schemathesis_finds_nothing_against_a_node_with_authentication() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), Some(OPERATOR_KEY));
    schemathesis(&node, Some(OPERATOR_KEY));
}

/// openapi-python-client generates a client from the checked-in document into a temporary
/// directory; `python/generated_client.py` drives a live, authenticated node with it.
#[test]
fn a_client_generated_from_the_document_works_against_a_live_node() {
    let python = checked_python();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("generator.yaml");
    // No formatter run after generating: the client is used as generated.
    std::fs::write(&config, "post_hooks: []\n").unwrap();
    let document = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../openapi/openapi.json");
    let out = Command::new(&python)
        .current_dir(dir.path())
        .args(["-m", "openapi_python_client", "generate", "--meta", "none"])
        .arg("--path")
        .arg(&document)
        .arg("--output-path")
        .arg(dir.path().join("larder_client"))
        .arg("--config")
        .arg(&config)
        .output()
        .expect("run openapi-python-client");
    let generated = said(&out);
    assert!(out.status.success(), "generation failed:\n{generated}");
    // The one operation it leaves out takes a WebAssembly module, a media type it has no
    // serializer for; every other operation is generated.
    for line in generated
        .lines()
        .filter(|l| l.contains("will not be generated"))
    {
        assert!(line.contains("POST /v1/plugins"), "{generated}");
    }

    let data = tempfile::tempdir().unwrap();
    let node = start(data.path(), Some(OPERATOR_KEY));
    let out = Command::new(&python)
        .arg(python_dir().join("generated_client.py"))
        .arg(dir.path())
        .arg(&node.http)
        .arg(OPERATOR_KEY)
        .output()
        .expect("run the generated client");
    let said = said(&out);
    assert!(
        out.status.success() && said.contains("generated client: every call ok"),
        "the generated client failed:\n{said}"
    );
}

//! redis-py, a mainstream client with its own reply parsing, drives every collection family in
//! RESP2 and RESP3 against a real server (`python/redis_py_families.py`), and its client-side
//! cache stays fresh through Larder's invalidations (`python/redis_py_client_cache.py`), and it
//! logs in over mutual TLS with `ssl=True` (`python/redis_py_tls.py`).
//! redis-py's version is pinned in `python/requirements.txt`.
//!
//! The Python interpreter is `LARDER_TEST_PYTHON`, which `.ci/test-all.sh` sets to the virtual
//! environment it creates; without it, that environment's default place is used.

mod auth_support;
mod resp_support;

use std::path::PathBuf;
use std::process::Command;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_py_drives_every_collection_family_in_resp2_and_resp3() {
    let server = resp_support::start().await;
    let python = python();
    assert!(
        python.exists(),
        "no Python with redis-py at {} — run .ci/test-all.sh once (it creates that environment) \
         or point LARDER_TEST_PYTHON at a python with `pip install -r api/tests/python/requirements.txt`",
        python.display()
    );
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/redis_py_families.py");
    let port = server.addr.port().to_string();
    for protocol in ["2", "3"] {
        let (python, script, port) = (python.clone(), script.clone(), port.clone());
        let out = tokio::task::spawn_blocking(move || {
            Command::new(python)
                .arg(script)
                .arg(port)
                .arg(protocol)
                .output()
                .expect("run python")
        })
        .await
        .unwrap();
        assert!(
            out.status.success(),
            "redis-py over RESP{protocol} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            said.contains(&format!("RESP{protocol}: every family ok")),
            "{said}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_py_client_side_cache_is_served_locally_and_invalidated() {
    let server = resp_support::start().await;
    // The server's own expiry, as `larder serve` runs it, so an expired key is invalidated
    // without anyone reading it.
    let sweeper = tokio::spawn(larder_runtime::expiry::run_active_expiry(
        std::sync::Arc::clone(&server.state.namespaces),
        std::time::Duration::from_millis(20),
    ));
    let python = python();
    assert!(
        python.exists(),
        "no Python with redis-py at {}",
        python.display()
    );
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/redis_py_client_cache.py");
    let port = server.addr.port().to_string();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .arg(port)
            .output()
            .expect("run python")
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "redis-py's client-side cache failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("client-side cache ok"), "{said}");
    sweeper.abort();
}

/// redis-py with `ssl=True` on the TLS port under required mutual TLS: a user made with
/// `ACL SETUSER` logs in over TLS in RESP2 and RESP3, another CA and a missing client certificate
/// are refused, a wrong password is an authentication error (`python/redis_py_tls.py`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_py_over_tls_logs_in_a_user_and_is_refused_without_the_right_certificates() {
    use larder::tls::{ClientAuth, TlsConfig, certs};

    let hosts = ["localhost".to_string(), "127.0.0.1".to_string()];
    let dir = tempfile::tempdir().unwrap();
    certs::write_all(dir.path(), &hosts, true).unwrap();
    let other = tempfile::tempdir().unwrap();
    certs::write_all(other.path(), &hosts, true).unwrap();
    let config = larder::config::Config {
        tls: Some(TlsConfig {
            cert_file: dir.path().join("server.pem"),
            key_file: dir.path().join("server-key.pem"),
            client_ca_file: Some(dir.path().join("ca.pem")),
            client_auth: ClientAuth::Required,
            resp_addr: Some("127.0.0.1:0".parse().unwrap()),
            resp_only: false,
            http: false,
        }),
        ..auth_support::config(None)
    };
    let node = larder::server::start(&config).await.unwrap();

    // The operator makes a user of its own on the plain port.
    let mut admin = auth_support::connect_with_key(&node, auth_support::OPERATOR_KEY).await;
    let () = redis::cmd("ACL")
        .arg(&["SETUSER", "py", "on", ">a long TLS password", "+@all"])
        .query_async(&mut admin)
        .await
        .unwrap();

    let python = python();
    assert!(
        python.exists(),
        "no Python with redis-py at {}",
        python.display()
    );
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/redis_py_tls.py");
    let path = |d: &tempfile::TempDir, f: &str| d.path().join(f).to_string_lossy().into_owned();
    let args = [
        node.tls_resp_addr.unwrap().port().to_string(),
        node.resp_addr.port().to_string(),
        path(&dir, "ca.pem"),
        path(&dir, "client.pem"),
        path(&dir, "client-key.pem"),
        path(&other, "ca.pem"),
        "py".to_string(),
        "a long TLS password".to_string(),
    ];
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .args(args)
            .output()
            .expect("run python")
    })
    .await
    .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "redis-py over TLS failed:\n{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains("RESP2: TLS ok") && said.contains("RESP3: TLS ok"),
        "{said}"
    );
}

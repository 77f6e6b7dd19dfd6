//! TLS end to end: certificates from `larder certs`' generator, a real node with a TLS RESP port
//! and HTTPS on 127.0.0.1:0, the `redis` crate over rustls, redis-cli --tls and reqwest.

use std::path::Path;
use std::time::{Duration, Instant};

use larder::config::Config;
use larder::server::{self, RunningServer};
use larder::tls::{ClientAuth, TlsConfig, certs};
use redis::{ClientTlsConfig, TlsCertificates};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn write_certs(dir: &Path) -> certs::CertSet {
    certs::write_all(dir, &["localhost".into(), "127.0.0.1".into()], true).unwrap();
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
    certs::CertSet {
        ca: read("ca.pem"),
        ca_key: read("ca-key.pem"),
        server: read("server.pem"),
        server_key: read("server-key.pem"),
        client: read("client.pem"),
        client_key: read("client-key.pem"),
        cluster_ca: read("cluster-ca.pem"),
        cluster_ca_key: read("cluster-ca-key.pem"),
        node: read("node.pem"),
        node_key: read("node-key.pem"),
    }
}

fn config(dir: &Path, client_auth: ClientAuth) -> Config {
    Config {
        resp_addr: "127.0.0.1:0".parse().unwrap(),
        http_addr: "127.0.0.1:0".parse().unwrap(),
        tls: Some(TlsConfig {
            cert_file: dir.join("server.pem"),
            key_file: dir.join("server-key.pem"),
            client_ca_file: Some(dir.join("ca.pem")),
            client_auth,
            resp_addr: Some("127.0.0.1:0".parse().unwrap()),
            resp_only: false,
            http: true,
        }),
        ..Default::default()
    }
}

fn tls_client(node: &RunningServer, ca: &str, client: Option<(&str, &str)>) -> redis::Client {
    redis::Client::build_with_tls(
        format!("rediss://127.0.0.1:{}/", node.tls_resp_addr.unwrap().port()),
        TlsCertificates {
            client_tls: client.map(|(cert, key)| ClientTlsConfig {
                client_cert: cert.as_bytes().to_vec(),
                client_key: key.as_bytes().to_vec(),
            }),
            root_cert: Some(ca.as_bytes().to_vec()),
        },
    )
    .unwrap()
}

/// Connect anew and PING: the answer, or why the connection or handshake failed.
async fn ping_fresh(client: &redis::Client) -> redis::RedisResult<String> {
    let mut c = client.get_multiplexed_async_connection().await?;
    redis::cmd("PING").query_async(&mut c).await
}

/// An HTTP client that trusts `ca` (PEM).
fn https_client(ca: &str) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca.as_bytes()).unwrap())
}

fn redis_cli(port: u16, extra: &[&str], command: &[&str]) -> std::process::Output {
    std::process::Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(extra)
        .args(command)
        .output()
        .expect("redis-cli runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resp_and_http_over_tls_share_one_server_with_the_plain_port() {
    let dir = tempfile::tempdir().unwrap();
    let set = write_certs(dir.path());
    let node = server::start(&config(dir.path(), ClientAuth::None))
        .await
        .unwrap();
    let tls_port = node.tls_resp_addr.unwrap().port();

    // The redis crate over rustls, then the plain port sees the write.
    let mut c = tls_client(&node, &set.ca, None)
        .get_multiplexed_async_connection()
        .await
        .expect("TLS connection");
    let () = redis::cmd("SET")
        .arg("k")
        .arg("over-tls")
        .query_async(&mut c)
        .await
        .unwrap();
    let mut plain = redis::Client::open(format!("redis://{}/", node.resp_addr))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let got: String = redis::cmd("GET")
        .arg("k")
        .query_async(&mut plain)
        .await
        .unwrap();
    assert_eq!(got, "over-tls");

    // redis-cli --tls, as the README shows it.
    let ca = dir.path().join("ca.pem");
    let out = redis_cli(
        tls_port,
        &["--tls", "--cacert", ca.to_str().unwrap()],
        &["GET", "k"],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "over-tls");

    // Plaintext to the TLS port fails for that client only, and the port keeps serving.
    let mut s = tokio::net::TcpStream::connect(node.tls_resp_addr.unwrap())
        .await
        .unwrap();
    s.write_all(b"PING\r\n").await.unwrap();
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .expect("the server answers or closes")
        .unwrap_or(0);
    assert!(
        n == 0 || buf[0] == 0x15,
        "a plaintext client gets a TLS alert or a close, never a RESP answer: {:?}",
        &buf[..n]
    );
    let pong: String = redis::cmd("PING").query_async(&mut c).await.unwrap();
    assert_eq!(pong, "PONG");

    // HTTPS with the local CA.
    let https = https_client(&set.ca).build().unwrap();
    let health = https
        .get(format!(
            "https://127.0.0.1:{}/healthz",
            node.http_addr.port()
        ))
        .send()
        .await
        .unwrap();
    assert!(health.status().is_success());
    let key = https
        .get(format!(
            "https://127.0.0.1:{}/v1/namespaces/default/keys/k",
            node.http_addr.port()
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(key, "over-tls");
    // Plain HTTP to the HTTPS port gets nothing usable.
    let plain_http = reqwest::Client::new()
        .get(format!(
            "http://127.0.0.1:{}/healthz",
            node.http_addr.port()
        ))
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    assert!(plain_http.is_err() || !plain_http.unwrap().status().is_success());
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connections_do_not_hold_up_a_real_handshake() {
    let dir = tempfile::tempdir().unwrap();
    let set = write_certs(dir.path());
    let node = server::start(&config(dir.path(), ClientAuth::None))
        .await
        .unwrap();
    let mut silent = Vec::new();
    for _ in 0..100 {
        silent.push(
            tokio::net::TcpStream::connect(node.tls_resp_addr.unwrap())
                .await
                .unwrap(),
        );
        silent.push(
            tokio::net::TcpStream::connect(node.http_addr)
                .await
                .unwrap(),
        );
    }
    // The bound is the handshake timeout: an accept loop that handshook inline would wait on
    // the first silent socket until it timed out, and this would fail.
    let started = Instant::now();
    let bound = larder::tls::HANDSHAKE_TIMEOUT / 2;
    let mut c = tokio::time::timeout(
        bound,
        tls_client(&node, &set.ca, None).get_multiplexed_async_connection(),
    )
    .await
    .expect("the handshake completes while 100 silent clients wait")
    .unwrap();
    let pong: String = redis::cmd("PING").query_async(&mut c).await.unwrap();
    assert_eq!(pong, "PONG");
    let https = https_client(&set.ca).timeout(bound).build().unwrap();
    let health = https
        .get(format!(
            "https://127.0.0.1:{}/healthz",
            node.http_addr.port()
        ))
        .send()
        .await
        .expect("HTTPS answers while 100 silent clients wait");
    assert!(health.status().is_success());
    println!(
        "TLS handshake + PING + HTTPS GET with 200 silent sockets open: {:?}",
        started.elapsed()
    );
    drop(silent);
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_required_refuses_missing_and_foreign_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let set = write_certs(dir.path());
    let foreign_dir = tempfile::tempdir().unwrap();
    let foreign = write_certs(foreign_dir.path());
    let node = server::start(&config(dir.path(), ClientAuth::Required))
        .await
        .unwrap();

    let none = tls_client(&node, &set.ca, None);
    assert!(
        ping_fresh(&none).await.is_err(),
        "no client certificate: refused"
    );

    let other_ca = tls_client(&node, &set.ca, Some((&foreign.client, &foreign.client_key)));
    assert!(
        ping_fresh(&other_ca).await.is_err(),
        "a certificate from another CA: refused"
    );

    let good = tls_client(&node, &set.ca, Some((&set.client, &set.client_key)));
    assert_eq!(ping_fresh(&good).await.unwrap(), "PONG");

    let port = node.tls_resp_addr.unwrap().port().to_string();
    let p = |f: &str| dir.path().join(f).to_str().unwrap().to_string();
    let out = std::process::Command::new("redis-cli")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "--tls",
            "--cacert",
            &p("ca.pem"),
        ])
        .args([
            "--cert",
            &p("client.pem"),
            "--key",
            &p("client-key.pem"),
            "PING",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "PONG");
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reloaded_certificate_reaches_new_connections_only() {
    let dir = tempfile::tempdir().unwrap();
    let first = write_certs(dir.path());
    let node = server::start(&config(dir.path(), ClientAuth::None))
        .await
        .unwrap();
    let mut open = tls_client(&node, &first.ca, None)
        .get_multiplexed_async_connection()
        .await
        .unwrap();

    // A new CA and certificate replace the files; nothing changes until the reload.
    let second = write_certs(dir.path());
    assert_ne!(first.ca, second.ca);
    let https = |ca: &str| https_client(ca).build().unwrap();
    let reload_url = format!(
        "https://127.0.0.1:{}/v1/admin/tls/reload",
        node.http_addr.port()
    );
    let reloaded = https(&first.ca).post(&reload_url).send().await.unwrap();
    assert_eq!(reloaded.status(), reqwest::StatusCode::OK);

    assert!(
        ping_fresh(&tls_client(&node, &first.ca, None))
            .await
            .is_err(),
        "new connections get the new certificate"
    );
    let new = tls_client(&node, &second.ca, None);
    assert_eq!(ping_fresh(&new).await.unwrap(), "PONG");
    let pong: String = redis::cmd("PING").query_async(&mut open).await.unwrap();
    assert_eq!(
        pong, "PONG",
        "the connection opened before the reload keeps working"
    );

    // A broken file leaves the current certificate serving.
    std::fs::write(dir.path().join("server.pem"), "not a certificate").unwrap();
    let failed = https(&second.ca).post(&reload_url).send().await.unwrap();
    assert_eq!(failed.status(), reqwest::StatusCode::UNPROCESSABLE_ENTITY);
    let still = tls_client(&node, &second.ca, None);
    assert_eq!(ping_fresh(&still).await.unwrap(), "PONG");
    node.shutdown().await.unwrap();
}

#[test]
fn config_names_the_tls_setting_at_fault() {
    let dir = tempfile::tempdir().unwrap();
    write_certs(dir.path());
    let overrides = |f: &dyn Fn(&mut larder::config::Overrides)| {
        let mut o = larder::config::Overrides {
            tls_resp_addr: Some("127.0.0.1:0".parse().unwrap()),
            tls_cert_file: Some(dir.path().join("server.pem")),
            tls_key_file: Some(dir.path().join("server-key.pem")),
            no_persist: true,
            ..Default::default()
        };
        f(&mut o);
        Config::load(None, o)
    };
    overrides(&|_| {}).expect("a good TLS config loads");
    let err = overrides(&|o| o.tls_key_file = None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("--tls-key-file"), "{err}");
    let err = overrides(&|o| o.tls_cert_file = Some(dir.path().join("missing.pem")))
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing.pem"), "{err}");
    let err = overrides(&|o| o.tls_client_auth = Some(ClientAuth::Required))
        .unwrap_err()
        .to_string();
    assert!(err.contains("client CA"), "{err}");
    let err = overrides(&|o| {
        o.tls_resp_only = Some(true);
        o.tls_resp_addr = None;
        o.tls_http = Some(true);
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains("--tls-resp-addr"), "{err}");
    // With the plain port off, a non-loopback plain address exposes nothing.
    let loaded = overrides(&|o| {
        o.tls_resp_only = Some(true);
        o.resp_addr = Some("0.0.0.0:6390".parse().unwrap());
    })
    .expect("TLS only, the plain address is not bound");
    assert!(loaded.plain_resp_off());
}

/// `resp_only`: the Redis protocol on the TLS port alone. Nothing listens on the plain address,
/// the node reports the TLS port as its Redis port, and TLS clients are served as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_tls_only_no_plain_port_is_bound() {
    let dir = tempfile::tempdir().unwrap();
    let set = write_certs(dir.path());
    // A port that was free a moment ago: the plain port the node must not bind.
    let plain = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut cfg = config(dir.path(), ClientAuth::None);
    cfg.resp_addr = plain;
    cfg.tls.as_mut().unwrap().resp_only = true;
    let node = server::start(&cfg).await.unwrap();
    assert_eq!(Some(node.resp_addr), node.tls_resp_addr);
    let refused = tokio::net::TcpStream::connect(plain).await;
    assert!(refused.is_err(), "the plain port answers: {refused:?}");
    let client = tls_client(&node, &set.ca, None);
    assert_eq!(ping_fresh(&client).await.unwrap(), "PONG");
    let out = redis_cli(
        node.tls_resp_addr.unwrap().port(),
        &[
            "--tls",
            "--cacert",
            dir.path().join("ca.pem").to_str().unwrap(),
        ],
        &["PING"],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "PONG");
    node.shutdown().await.unwrap();
}

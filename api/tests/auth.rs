//! Authentication end to end: a real node with an operator key on 127.0.0.1:0, driven by the
//! `redis` crate, redis-cli and reqwest. API keys are made through the admin API, as an operator
//! would, and used on both ports.

mod auth_support;
use auth_support::{OPERATOR_KEY, config, raw};
use larder::config::{Config, Secret};
use std::time::Duration;

use larder::server::{self, RunningServer};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

fn base(node: &RunningServer) -> String {
    format!("http://{}", node.http_addr)
}

/// Make an API key through the admin API with the operator key; returns (id, key text).
async fn make_key(node: &RunningServer, name: &str, scope: &str) -> (String, String) {
    let made = create_key(node, json!({"name": name, "scopes": [scope]})).await;
    (
        made["id"].as_str().unwrap().to_string(),
        made["key"].as_str().unwrap().to_string(),
    )
}

/// `POST /v1/api-keys` with `body`, as the operator; the answer.
async fn create_key(node: &RunningServer, body: Value) -> Value {
    Client::new()
        .post(format!("{}/v1/api-keys", base(node)))
        .bearer_auth(OPERATOR_KEY)
        .json(&body)
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn resp_with(
    node: &RunningServer,
    user: &str,
    password: &str,
) -> redis::aio::MultiplexedConnection {
    redis::Client::open(format!("redis://{user}:{password}@{}/", node.resp_addr))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .expect("connect and authenticate")
}

fn error_text(e: &redis::RedisError) -> String {
    format!("{} {}", e.code().unwrap_or(""), e.detail().unwrap_or(""))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resp_needs_auth_and_each_key_gets_only_its_scope() {
    let node = server::start(&config(None)).await.unwrap();

    // Before AUTH: every command but AUTH, HELLO and QUIT is refused — unknown ones too.
    assert_eq!(
        raw(&node, b"GET k\r\n").await,
        "-NOAUTH Authentication required.\r\n"
    );
    assert_eq!(
        raw(&node, b"NOSUCHCOMMAND\r\n").await,
        "-NOAUTH Authentication required.\r\n"
    );
    assert!(
        raw(&node, b"HELLO 3\r\n")
            .await
            .starts_with("-NOAUTH HELLO must be called")
    );
    assert_eq!(
        raw(&node, b"AUTH not-a-key\r\n").await,
        "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    assert_eq!(raw(&node, b"QUIT\r\n").await, "+OK\r\n");
    let hello = raw(
        &node,
        format!("HELLO 3 AUTH default {OPERATOR_KEY}\r\n").as_bytes(),
    )
    .await;
    assert!(
        hello.starts_with('%'),
        "HELLO with AUTH answers its map: {hello}"
    );

    // The operator may do everything.
    let mut op = resp_with(&node, "default", OPERATOR_KEY).await;
    let () = redis::cmd("SET")
        .arg("k")
        .arg("v")
        .query_async(&mut op)
        .await
        .unwrap();

    let (_, reader) = make_key(&node, "reader", "read").await;
    let (writer_id, writer) = make_key(&node, "writer", "write").await;

    // The username must be `default` or the key's own name.
    let mut r = resp_with(&node, "reader", &reader).await;
    let me: String = redis::cmd("ACL")
        .arg("WHOAMI")
        .query_async(&mut r)
        .await
        .unwrap();
    assert_eq!(me, "reader");
    let info: String = redis::cmd("CLIENT")
        .arg("INFO")
        .query_async(&mut r)
        .await
        .unwrap();
    assert!(info.contains(" user=reader "), "{info}");
    let got: String = redis::cmd("GET")
        .arg("k")
        .query_async(&mut r)
        .await
        .unwrap();
    assert_eq!(got, "v");
    let refused = redis::cmd("SET")
        .arg("k")
        .arg("x")
        .query_async::<()>(&mut r)
        .await
        .unwrap_err();
    assert_eq!(
        error_text(&refused),
        "NOPERM User reader has no permissions to run the 'set' command"
    );
    let wrong_user = redis::Client::open(format!("redis://writer:{reader}@{}/", node.resp_addr))
        .unwrap()
        .get_multiplexed_async_connection()
        .await;
    assert!(
        wrong_user.is_err(),
        "another key's name is not this key's user"
    );

    // A NOPERM inside MULTI aborts the transaction, as Redis does.
    let mut pipe = redis::pipe();
    pipe.atomic().cmd("GET").arg("k").cmd("DEL").arg("k");
    let aborted = pipe.query_async::<Vec<String>>(&mut r).await.unwrap_err();
    assert!(error_text(&aborted).contains("EXECABORT"), "{aborted}");

    let mut w = resp_with(&node, "default", &writer).await;
    let () = redis::cmd("SET")
        .arg("k")
        .arg("w")
        .query_async(&mut w)
        .await
        .unwrap();
    for admin_only in [
        &["CONFIG", "GET", "maxmemory"][..],
        &["FLUSHALL"],
        &["SAVE"],
    ] {
        let refused = redis::cmd(admin_only[0])
            .arg(&admin_only[1..])
            .query_async::<redis::Value>(&mut w)
            .await
            .unwrap_err();
        assert!(
            error_text(&refused).starts_with("NOPERM User writer"),
            "{admin_only:?}: {refused}"
        );
    }

    // Revoking the key ends its rights on the open connection, before its next command.
    let revoked = Client::new()
        .delete(format!("{}/v1/api-keys/{writer_id}", base(&node)))
        .bearer_auth(OPERATOR_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    let after = redis::cmd("GET")
        .arg("k")
        .query_async::<String>(&mut w)
        .await
        .unwrap_err();
    assert_eq!(error_text(&after), "NOAUTH Authentication required.");
    let got: String = redis::cmd("GET")
        .arg("k")
        .query_async(&mut op)
        .await
        .unwrap();
    assert_eq!(got, "w", "the operator's session is untouched");

    // redis-cli, as an operator would use it.
    let (_, cli_key) = make_key(&node, "cli", "write").await;
    let out = std::process::Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &node.resp_addr.port().to_string()])
        .args(["--no-auth-warning", "--user", "cli", "--pass", &cli_key])
        .args(["SET", "from-cli", "1"])
        .output()
        .expect("redis-cli runs");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "OK");
    let out = std::process::Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &node.resp_addr.port().to_string()])
        .args(["GET", "from-cli"])
        .output()
        .expect("redis-cli runs");
    assert!(String::from_utf8_lossy(&out.stdout).contains("NOAUTH"));
    node.shutdown().await.unwrap();
}

/// Every operation of the OpenAPI document, with its path parameters filled in.
fn every_operation() -> Vec<(reqwest::Method, String)> {
    let doc: Value = serde_json::from_str(&larder::rest::openapi::document_json()).unwrap();
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        let concrete = path
            .replace("{ns}", "default")
            .replace("{key}", "k")
            .replace("{id}", "0123456789ab")
            .replace("{name}", "r");
        for method in item.as_object().unwrap().keys() {
            ops.push((method.to_uppercase().parse().unwrap(), concrete.clone()));
        }
    }
    ops
}

const PUBLIC: [&str; 2] = ["/healthz", "/openapi.json"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_refuses_every_operation_without_a_valid_credential() {
    let node = server::start(&config(None)).await.unwrap();
    let http = Client::new();
    let ops = every_operation();
    assert!(ops.len() > 30, "the document lists the API: {}", ops.len());
    let mut refused = 0;
    for (i, (method, path)) in ops.iter().enumerate() {
        let url = format!("{}{path}", base(&node));
        // Bad tokens spend their address's failure budget (20), after which the answer is 429:
        // each operation's guesses come from a loopback address of their own, so every answer
        // here is the 401 this test is about.
        let http = Client::builder()
            .local_address(std::net::IpAddr::from([127, 0, 1, (i % 250) as u8 + 1]))
            .build()
            .unwrap();
        for token in [
            None,
            Some("wrong"),
            Some("lk_0123456789ab_notthesecret"),
            Some(""),
        ] {
            let mut request = http.request(method.clone(), &url);
            if let Some(t) = token {
                request = request.header("authorization", format!("Bearer {t}"));
            }
            let response = request.send().await.unwrap();
            if PUBLIC.contains(&path.as_str()) {
                assert!(response.status().is_success(), "{method} {path} is public");
                continue;
            }
            if *method == reqwest::Method::POST && path == "/v1/session" {
                // The dashboard's login takes its key in the body: without one it is a bad
                // request, and it never sets a cookie.
                assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{token:?}");
                assert!(response.headers().get("set-cookie").is_none());
                continue;
            }
            assert_eq!(
                response.status(),
                StatusCode::UNAUTHORIZED,
                "{method} {path} {token:?}"
            );
            let challenge = response.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .to_string();
            assert!(
                challenge.starts_with("Bearer realm=\"larder\""),
                "{challenge}"
            );
            if token.is_some_and(|t| !t.is_empty()) {
                assert!(challenge.contains("invalid_token"), "{challenge}");
            }
            let body: Value = response.json().await.unwrap();
            assert!(body["error"]["code"].as_str().is_some());
            refused += 1;
        }
    }
    println!(
        "{} requests without a valid credential, {refused} refused",
        ops.len() * 4
    );
    // Every refusal is counted, for alerting on guessing.
    let metrics = http
        .get(format!("{}/metrics", base(&node)))
        .bearer_auth(OPERATOR_KEY)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let counted = |reason: &str| -> u64 {
        let prefix =
            format!("larder_auth_refusals_total{{protocol=\"http\",reason=\"{reason}\"}} ");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("{prefix} missing"))
            .parse()
            .unwrap()
    };
    assert_eq!(
        counted("unauthenticated") + counted("bad_credentials"),
        refused
    );
    // Swagger UI and the dashboard's files stay public.
    assert!(
        http.get(format!("{}/docs/", base(&node)))
            .send()
            .await
            .unwrap()
            .status()
            .is_success()
    );
    // An unknown route needs a credential too: no mapping the API without one.
    let unknown = http
        .get(format!("{}/v1/nothing-here", base(&node)))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_scopes_read_write_admin() {
    let node = server::start(&config(None)).await.unwrap();
    let http = Client::new();
    let url = |p: &str| format!("{}{p}", base(&node));
    let (_, reader) = make_key(&node, "reader", "read").await;
    let (_, writer) = make_key(&node, "writer", "write").await;
    let (_, admin) = make_key(&node, "admin", "admin").await;

    let status = |r: reqwest::Response| r.status();
    let put = |key: &str| {
        http.put(url("/v1/namespaces/default/keys/k"))
            .bearer_auth(key)
            .body("v")
            .send()
    };
    assert_eq!(status(put(&reader).await.unwrap()), StatusCode::FORBIDDEN);
    assert_eq!(status(put(&writer).await.unwrap()), StatusCode::NO_CONTENT);
    let read = http
        .get(url("/v1/namespaces/default/keys/k"))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), StatusCode::OK);
    assert_eq!(read.text().await.unwrap(), "v");
    let batch_get = http
        .post(url("/v1/namespaces/default/batch/get"))
        .bearer_auth(&reader)
        .json(&json!({"keys": ["k"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(batch_get.status(), StatusCode::OK, "a batch read is a read");
    let metrics = http
        .get(url("/metrics"))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), StatusCode::OK);

    let create_ns = |key: &str| {
        http.post(url("/v1/namespaces"))
            .bearer_auth(key)
            .json(&json!({"name": "made-by-test", "config": {}}))
            .send()
    };
    let forbidden = create_ns(&writer).await.unwrap();
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
    assert!(
        forbidden.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("insufficient_scope")
    );
    assert_eq!(
        status(create_ns(&admin).await.unwrap()),
        StatusCode::CREATED
    );
    // Only admins see the key table; nobody sees a key's text after its creation.
    let listed = http
        .get(url("/v1/api-keys"))
        .bearer_auth(&writer)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), StatusCode::FORBIDDEN);
    let listed = http
        .get(url("/v1/api-keys"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for secret in [&reader, &writer, &admin] {
        assert!(!listed.contains(secret.as_str()));
    }
    let listed: Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(listed["api_keys"].as_array().unwrap().len(), 3);
    let writer_entry = listed["api_keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "writer")
        .unwrap();
    assert_eq!(writer_entry["scopes"], json!(["read", "write"]));
    let bad = http
        .post(url("/v1/api-keys"))
        .bearer_auth(&admin)
        .json(&json!({"name": "has space", "scopes": ["read"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_survive_a_restart_and_only_their_hash_is_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let node = server::start(&config(Some(dir.path()))).await.unwrap();
    let (id, key) = make_key(&node, "kept", "write").await;
    node.shutdown().await.unwrap();
    let catalog = std::fs::read_to_string(dir.path().join("catalog.json")).unwrap();
    assert!(catalog.contains(&id), "the catalog records the key");
    assert!(!catalog.contains(&key), "but never its text");

    // Restarting without an operator key keeps the keys on disk (unused), so turning
    // authentication off for a while does not destroy them.
    let open = Config {
        operator_key: None,
        ..config(Some(dir.path()))
    };
    let node = server::start(&open).await.unwrap();
    node.shutdown().await.unwrap();

    let node = server::start(&config(Some(dir.path()))).await.unwrap();
    let mut c = resp_with(&node, "kept", &key).await;
    let () = redis::cmd("SET")
        .arg("a")
        .arg("1")
        .query_async(&mut c)
        .await
        .unwrap();
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_without_authentication_serves_only_loopback() {
    let exposed = Config {
        resp_addr: "0.0.0.0:0".parse().unwrap(),
        ..Config::default()
    };
    let refused = exposed.validate().unwrap_err().to_string();
    assert!(
        refused.contains("resp_addr") && refused.contains("operator key"),
        "{refused}"
    );
    let with_key = Config {
        operator_key: Some(Secret(OPERATOR_KEY.into())),
        ..exposed
    };
    with_key.validate().expect("an operator key allows it");
    // The binary says so and exits with the config error code.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_larder"))
        .args([
            "--no-persist",
            "--http-addr",
            "0.0.0.0:0",
            "--resp-addr",
            "127.0.0.1:0",
        ])
        .env_remove("LARDER_OPERATOR_KEY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("without authentication"));
    // And API keys are refused, not silently made, when authentication is off.
    let node = server::start(&Config {
        resp_addr: "127.0.0.1:0".parse().unwrap(),
        http_addr: "127.0.0.1:0".parse().unwrap(),
        ..Config::default()
    })
    .await
    .unwrap();
    let made = Client::new()
        .post(format!("{}/v1/api-keys", base(&node)))
        .json(&json!({"name": "x", "scopes": ["read"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), StatusCode::CONFLICT);
    node.shutdown().await.unwrap();
}

/// Make a key with a rate limit; returns its text.
async fn make_limited_key(node: &RunningServer, name: &str, per_second: u32, burst: u32) -> String {
    let made = create_key(
        node,
        json!({"name": name, "scopes": ["read"],
               "rate_limit": {"per_second": per_second, "burst": burst}}),
    )
    .await;
    assert_eq!(
        made["rate_limit"],
        json!({"per_second": per_second, "burst": burst})
    );
    made["key"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_key_gets_its_quota_and_others_are_unaffected() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let node = server::start(&config(None)).await.unwrap();
    let (per_second, burst) = (1000u32, 100u32);
    let key = make_limited_key(&node, "limited", per_second, burst).await;

    // 5 000 GETs paced over about a second, 50 every 10 ms, on one connection.
    let stream = tokio::net::TcpStream::connect(node.resp_addr)
        .await
        .unwrap();
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    write
        .write_all(format!("AUTH {key}\r\n").as_bytes())
        .await
        .unwrap();
    assert_eq!(lines.next_line().await.unwrap().unwrap(), "+OK");
    let started = std::time::Instant::now();
    let reader = tokio::spawn(async move {
        let (mut admitted, mut limited) = (0u32, 0u32);
        while admitted + limited < 5000 {
            let line = lines
                .next_line()
                .await
                .unwrap()
                .expect("a reply per request");
            if line == "$-1" {
                admitted += 1;
            } else {
                assert!(
                    line.starts_with("-ERR rate limit exceeded for limited"),
                    "{line}"
                );
                limited += 1;
            }
        }
        // From the first request sent to the last answer read: the span the server saw.
        (admitted, limited, started.elapsed())
    });
    let batch = "GET k\r\n".repeat(50);
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    for _ in 0..100 {
        tick.tick().await;
        write.write_all(batch.as_bytes()).await.unwrap();
    }
    // Meanwhile an unlimited key is served as usual.
    let (_, other) = make_key(&node, "other", "read").await;
    let mut c = resp_with(&node, "other", &other).await;
    for _ in 0..200 {
        let none: Option<String> = redis::cmd("GET")
            .arg("k")
            .query_async(&mut c)
            .await
            .unwrap();
        assert!(none.is_none());
    }
    let (admitted, limited, elapsed) = reader.await.unwrap();
    let elapsed = elapsed.as_secs_f64();
    // The limiter admits the burst, then `per_second` over the time the requests took.
    let expected = f64::from(burst) + f64::from(per_second) * elapsed;
    println!(
        "rate limit {per_second}/s burst {burst}: 5000 requests over {elapsed:.3} s, \
         {admitted} admitted (model {expected:.0}), {limited} refused"
    );
    assert!(
        (f64::from(admitted) - expected).abs() <= expected * 0.1,
        "admitted {admitted}, model {expected:.0}"
    );

    // REST answers 429 with Retry-After once the key is over its limit.
    let slow = make_limited_key(&node, "slow", 1, 2).await;
    let http = Client::new();
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..4 {
        let r = http
            .get(format!("{}/v1/namespaces/default/keys/k", base(&node)))
            .bearer_auth(&slow)
            .send()
            .await
            .unwrap();
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            retry_after = Some(r.headers()["retry-after"].to_str().unwrap().to_string());
        }
        statuses.push(r.status());
    }
    assert_eq!(
        statuses[..2],
        [StatusCode::NOT_FOUND, StatusCode::NOT_FOUND],
        "the burst"
    );
    assert!(
        statuses[2..].contains(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    assert_eq!(retry_after.as_deref(), Some("1"));
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_admins_create_databases_and_revoked_subscribers_are_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let node = server::start(&config(None)).await.unwrap();
    let (_, writer) = make_key(&node, "writer", "write").await;
    let mut w = resp_with(&node, "writer", &writer).await;
    let refused = redis::cmd("SELECT")
        .arg(7)
        .query_async::<()>(&mut w)
        .await
        .unwrap_err();
    assert!(
        error_text(&refused).contains("needs the admin scope"),
        "{refused}"
    );
    assert!(
        node.state.namespaces.get("db7").is_err(),
        "nothing was created"
    );
    let mut op = resp_with(&node, "default", OPERATOR_KEY).await;
    let () = redis::cmd("SELECT")
        .arg(7)
        .query_async(&mut op)
        .await
        .unwrap();
    let () = redis::cmd("SELECT")
        .arg(7)
        .query_async(&mut w)
        .await
        .unwrap();

    // A subscriber sends no more commands; revoking its key still ends its feed.
    let (id, reader) = make_key(&node, "listener", "read").await;
    let mut sub = tokio::net::TcpStream::connect(node.resp_addr)
        .await
        .unwrap();
    sub.write_all(format!("AUTH {reader}\r\nSUBSCRIBE news\r\n").as_bytes())
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let mut got = Vec::new();
    while !String::from_utf8_lossy(&got).contains("news") {
        let n = sub.read(&mut buf).await.unwrap();
        assert!(n > 0);
        got.extend_from_slice(&buf[..n]);
    }
    let revoked = Client::new()
        .delete(format!("{}/v1/api-keys/{id}", base(&node)))
        .bearer_auth(OPERATOR_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    let _: i64 = redis::cmd("PUBLISH")
        .arg("news")
        .arg("secret")
        .query_async(&mut op)
        .await
        .unwrap();
    let mut after = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(5), sub.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => after.extend_from_slice(&buf[..n]),
            Err(_) => panic!("the revoked subscriber was not disconnected"),
        }
    }
    assert!(
        !String::from_utf8_lossy(&after).contains("secret"),
        "no message reaches a revoked key"
    );
    node.shutdown().await.unwrap();
}

/// Guessing credentials on the Redis port is slow: an address that failed `AUTH` a burst of
/// times is refused unchecked — even the right key — until its budget refills, and right keys
/// never spend the budget, so a pool of well-configured clients is never slowed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_auths_throttle_the_address_and_right_keys_never_spend_its_budget() {
    use larder::auth::failed_auths::{BURST, PER_SECOND};
    let node = server::start(&config(None)).await.unwrap();
    let (_, key) = make_key(&node, "pool", "read").await;
    let right = format!("AUTH {key}\r\n");

    // A pool's worth of right AUTHs, then all but one of the burst of wrong ones: not throttled.
    for _ in 0..50 {
        assert_eq!(raw(&node, right.as_bytes()).await, "+OK\r\n");
    }
    for _ in 0..(BURST as usize - 1) {
        assert_eq!(
            raw(&node, b"AUTH guess\r\n").await,
            "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
        );
    }
    assert_eq!(raw(&node, right.as_bytes()).await, "+OK\r\n");

    // The last failure of the burst spends it: the right key is now refused, on a new
    // connection as on an old one, and so is HELLO's AUTH.
    assert!(
        raw(&node, b"AUTH guess\r\n")
            .await
            .starts_with("-WRONGPASS")
    );
    let throttled = raw(&node, right.as_bytes()).await;
    assert!(
        throttled.starts_with(
            "-ERR too many failed authentication attempts from this address; retry in "
        ),
        "{throttled}"
    );
    let hello = raw(&node, format!("HELLO 3 AUTH pool {key}\r\n").as_bytes()).await;
    assert!(hello.starts_with("-ERR too many failed"), "{hello}");

    // The budget refills: after one failure's worth of time, the right key works again.
    tokio::time::sleep(Duration::from_secs_f64(1.5 / PER_SECOND)).await;
    assert_eq!(raw(&node, right.as_bytes()).await, "+OK\r\n");

    let metrics = Client::new()
        .get(format!("{}/metrics", base(&node)))
        .bearer_auth(OPERATOR_KEY)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let rate_limited = metrics
        .lines()
        .find(|l| l.contains("protocol=\"resp\"") && l.contains("reason=\"rate_limited\""))
        .unwrap_or_else(|| panic!("no resp rate_limited refusals in {metrics}"));
    assert!(rate_limited.ends_with(" 2"), "{rate_limited}");
    node.shutdown().await.unwrap();
}

/// Behind a load balancer every client shares its address: with the balancer's block in
/// `trusted_proxies`, the budget is kept per client its `X-Forwarded-For` names, so one client's
/// guesses do not lock the others out. A peer outside the trusted blocks cannot choose its
/// address by writing the header. The budget's size is configurable too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_the_budget_is_per_forwarded_client() {
    let mut cfg = config(None);
    cfg.auth_limits.failure_budget.burst = 3;
    cfg.auth_limits.trusted_proxies =
        larder::auth::client_addr::TrustedProxies::new(vec!["127.0.0.2/32".parse().unwrap()]);
    let node = server::start(&cfg).await.unwrap();
    let (_, key) = make_key(&node, "reader", "read").await;
    let from = |local: &str| {
        Client::builder()
            .local_address(local.parse::<std::net::IpAddr>().unwrap())
            .build()
            .unwrap()
    };
    let (proxy, stranger) = (from("127.0.0.2"), from("127.0.0.3"));
    let get = |client: &Client, forwarded: &str, token: &str| {
        client
            .get(format!("{}/v1/namespaces", base(&node)))
            .header("x-forwarded-for", forwarded)
            .bearer_auth(token)
            .send()
    };
    for _ in 0..3 {
        let r = get(&proxy, "203.0.113.5", "lk_000000000000_guess")
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let guesser = get(&proxy, "203.0.113.5", &key).await.unwrap();
    assert_eq!(
        guesser.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "three failures spend a budget of three"
    );
    let neighbour = get(&proxy, "203.0.113.6", &key).await.unwrap();
    assert_eq!(
        neighbour.status(),
        StatusCode::OK,
        "another client behind the same proxy"
    );
    // An untrusted peer's header is not believed: its failures are its own address's.
    for i in 0..3 {
        let r = get(
            &stranger,
            &format!("198.51.100.{i}"),
            "lk_000000000000_guess",
        )
        .await
        .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let spoofer = get(&stranger, "198.51.100.99", &key).await.unwrap();
    assert_eq!(spoofer.status(), StatusCode::TOO_MANY_REQUESTS);
    node.shutdown().await.unwrap();
}

/// Bad bearer tokens spend the same per-address budget as `AUTH`: once spent, REST answers `429`
/// with `Retry-After` before checking the token — the right key included — and the Redis port
/// refuses that address's `AUTH` too; right keys never spend it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bearer_tokens_spend_the_address_budget_shared_with_auth() {
    use larder::auth::failed_auths::{BURST, PER_SECOND};
    let node = server::start(&config(None)).await.unwrap();
    let (_, key) = make_key(&node, "reader", "read").await;
    let get = |token: String| {
        Client::new()
            .get(format!("{}/v1/namespaces", base(&node)))
            .bearer_auth(token)
            .send()
    };
    for _ in 0..50 {
        assert_eq!(get(key.clone()).await.unwrap().status(), StatusCode::OK);
    }
    for _ in 0..BURST as usize {
        let refused = get("lk_000000000000_guess".to_string()).await.unwrap();
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    }
    let throttled = get(key.clone()).await.unwrap();
    assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = throttled.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    let body: Value = throttled.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("too many failed authentication attempts from this address"),
        "{body}"
    );
    let resp = raw(&node, format!("AUTH {key}\r\n").as_bytes()).await;
    assert!(
        resp.starts_with("-ERR too many failed"),
        "shared with RESP: {resp}"
    );
    // A request without a credential is no guess: it still gets its 401.
    let anonymous = Client::new()
        .get(format!("{}/v1/namespaces", base(&node)))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    tokio::time::sleep(Duration::from_secs_f64(1.5 / PER_SECOND)).await;
    assert_eq!(get(key.clone()).await.unwrap().status(), StatusCode::OK);
    node.shutdown().await.unwrap();
}

/// The metrics token reads `/metrics` and nothing else: a Prometheus scraper's configuration
/// then holds no secret that reads or changes data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_token_reads_metrics_and_nothing_else() {
    const METRICS_TOKEN: &str = "metrics-token-for-tests-0123456789";
    let node = server::start(&Config {
        metrics_token: Some(Secret(METRICS_TOKEN.to_string())),
        ..config(None)
    })
    .await
    .unwrap();
    let get = |path: &str, token: &str| {
        Client::new()
            .get(format!("{}{path}", base(&node)))
            .bearer_auth(token)
            .send()
    };
    let scraped = get("/metrics", METRICS_TOKEN).await.unwrap();
    assert_eq!(scraped.status(), StatusCode::OK);
    let text = scraped.text().await.unwrap();
    assert!(
        text.contains("larder_auth_refusals_total") && text.contains("namespace=\"default\""),
        "the whole node's exposition: {text}"
    );
    for path in [
        "/v1/namespaces",
        "/v1/namespaces/default/keys/k",
        "/v1/node",
    ] {
        let refused = get(path, METRICS_TOKEN).await.unwrap();
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    let changed = Client::new()
        .put(format!("{}/v1/namespaces/default/keys/k", base(&node)))
        .bearer_auth(METRICS_TOKEN)
        .body("v")
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        raw(&node, format!("AUTH {METRICS_TOKEN}\r\n").as_bytes()).await,
        "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    let wrong = get("/metrics", "metrics-token-for-tests-012345678X")
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    node.shutdown().await.unwrap();
}

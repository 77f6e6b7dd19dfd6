//! Users with passwords end to end: a real node with an operator key on 127.0.0.1:0, tenants made
//! through the admin API, users made with `ACL SETUSER` and logged in with `AUTH tenant/user
//! password` by the `redis` crate and raw sockets.

mod auth_support;
use auth_support::{OPERATOR_KEY, config, raw};

use larder::server::{self, RunningServer};
use redis::AsyncCommands;
use serde_json::{Value, json};

/// Whether a refusal carries Redis's error code `code` (the crate rewords some codes' case).
fn says(err: &redis::RedisError, code: &str) -> bool {
    err.to_string().to_uppercase().contains(code)
}

/// Every string in a reply, depth first: what the assertions on `ACL LOG` look through.
fn texts(value: &redis::Value) -> Vec<String> {
    match value {
        redis::Value::BulkString(b) => vec![String::from_utf8_lossy(b).into_owned()],
        redis::Value::SimpleString(s) => vec![s.clone()],
        redis::Value::Array(items) | redis::Value::Set(items) => {
            items.iter().flat_map(texts).collect()
        }
        redis::Value::Map(pairs) => pairs
            .iter()
            .flat_map(|(k, v)| texts(k).into_iter().chain(texts(v)))
            .collect(),
        _ => Vec::new(),
    }
}

async fn connect(
    node: &RunningServer,
    user: &str,
    password: &str,
) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
    let escape = |text: &str| {
        text.replace('%', "%25")
            .replace('/', "%2F")
            .replace(' ', "%20")
    };
    let url = format!(
        "redis://{}:{}@{}/",
        escape(user),
        escape(password),
        node.resp_addr
    );
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
}

async fn acl(
    con: &mut redis::aio::MultiplexedConnection,
    args: &[&str],
) -> redis::RedisResult<redis::Value> {
    let mut cmd = redis::cmd("ACL");
    for a in args {
        cmd.arg(*a);
    }
    cmd.query_async(con).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_admin_makes_users_who_log_in_with_passwords_within_the_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let node = server::start(&config(Some(dir.path()))).await.unwrap();
    let acme = auth_support::tenant_admin(&node, "acme").await;
    let other = auth_support::tenant_admin(&node, "other").await;
    let mut admin = connect(&node, "default", &acme).await.unwrap();

    acl(
        &mut admin,
        &["SETUSER", "alice", "on", ">correct horse", "+@write"],
    )
    .await
    .expect("a user is made");
    let mut alice = connect(&node, "acme/alice", "correct horse")
        .await
        .expect("the user logs in with its password");
    let who: String = redis::cmd("ACL")
        .arg("WHOAMI")
        .query_async(&mut alice)
        .await
        .unwrap();
    assert_eq!(who, "alice");
    let () = alice.set("k", "from alice").await.unwrap();
    let seen: String = admin.get("k").await.unwrap();
    assert_eq!(seen, "from alice", "in the tenant's own default namespace");
    let err = redis::cmd("CONFIG")
        .arg("GET")
        .arg("maxmemory")
        .query_async::<redis::Value>(&mut alice)
        .await
        .unwrap_err();
    assert!(says(&err, "NOPERM"), "write is not admin: {err}");

    // Wrong passwords, unknown users and other tenants' names are all the same refusal.
    for (user, password) in [
        ("acme/alice", "wrong"),
        ("acme/bob", "correct horse"),
        ("other/alice", "correct horse"),
        ("alice", "correct horse"),
    ] {
        let line = raw(&node, format!("AUTH {user} \"{password}\"\r\n").as_bytes()).await;
        assert!(line.starts_with("-WRONGPASS"), "{user}/{password}: {line}");
    }
    let line = raw(&node, b"HELLO 3 AUTH acme/alice \"correct horse\"\r\n").await;
    assert!(
        line.starts_with("%"),
        "HELLO … AUTH logs a user in too: {line}"
    );

    // Another tenant cannot see, change or delete acme's user.
    let mut other_admin = connect(&node, "default", &other).await.unwrap();
    let users = acl(&mut other_admin, &["USERS"]).await.unwrap();
    assert!(!format!("{users:?}").contains("alice"), "{users:?}");
    assert_eq!(
        acl(&mut other_admin, &["GETUSER", "alice"]).await.unwrap(),
        redis::Value::Nil
    );
    assert_eq!(
        acl(&mut other_admin, &["DELUSER", "alice"]).await.unwrap(),
        redis::Value::Int(0)
    );
    let users = acl(&mut admin, &["LIST"]).await.unwrap();
    assert!(
        format!("{users:?}").contains("user alice on sanitize-payload ~* &* -@all +@read +@write"),
        "{users:?}"
    );

    // A failed dashboard login with acme's user name is acme's log-in too.
    let refused = reqwest::Client::new()
        .post(format!("http://{}/v1/session", node.http_addr))
        .json(&json!({"username": "acme/alice", "password": "not it"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);

    // ACL LOG: each tenant's admin sees its own callers' refusals and its own names' failed
    // log-ins (RESP and dashboard), grouped; nothing of the other tenant's.
    let acme_reply = acl(&mut admin, &["LOG"]).await.unwrap();
    let entries = |reply: &redis::Value| match reply {
        redis::Value::Array(items) => items.len(),
        other => panic!("ACL LOG answers an array: {other:?}"),
    };
    let acme_log = texts(&acme_reply);
    for seen in [
        "acme/alice",
        "acme/bob",
        "config",
        "alice",
        "POST /v1/session",
    ] {
        assert!(acme_log.iter().any(|t| t == seen), "{seen} in {acme_log:?}");
    }
    assert!(
        acme_log
            .iter()
            .any(|t| t.starts_with("http addr=127.0.0.1:") && t.ends_with(" user=acme/alice")),
        "the dashboard login's entry names the client's address: {acme_log:?}"
    );
    assert!(!acme_log.iter().any(|t| t == "other/alice"), "{acme_log:?}");
    let other_log = texts(&acl(&mut other_admin, &["LOG"]).await.unwrap());
    assert!(
        other_log.iter().any(|t| t == "other/alice"),
        "{other_log:?}"
    );
    assert!(
        !other_log.iter().any(|t| t.starts_with("acme")),
        "{other_log:?}"
    );
    acl(&mut other_admin, &["LOG", "RESET"]).await.unwrap();
    assert_eq!(
        acl(&mut other_admin, &["LOG"]).await.unwrap(),
        redis::Value::Array(vec![])
    );
    assert_eq!(
        entries(&acl(&mut admin, &["LOG"]).await.unwrap()),
        entries(&acme_reply),
        "a reset forgets the caller's own entries only"
    );

    // Rules outside the model are refused whole: nothing is made.
    for rule in ["nopass", "~cache:*", "+get", "<correct horse"] {
        let err = acl(&mut admin, &["SETUSER", "bob", "on", rule])
            .await
            .unwrap_err();
        assert!(err.to_string().contains(rule), "{rule}: {err}");
    }
    assert_eq!(
        acl(&mut admin, &["GETUSER", "bob"]).await.unwrap(),
        redis::Value::Nil
    );

    // Only argon2id hashes reach the disk.
    let catalog = std::fs::read_to_string(dir.path().join("catalog.json")).unwrap();
    assert!(catalog.contains("$argon2id$"), "{catalog}");
    assert!(!catalog.contains("correct horse"));

    // Narrowing the user ends the open session's rights before its next command.
    acl(&mut admin, &["SETUSER", "alice", "-@write"])
        .await
        .unwrap();
    let err = alice.get::<_, Option<String>>("k").await.unwrap_err();
    assert!(says(&err, "NOAUTH"), "{err}");
    let mut alice = connect(&node, "acme/alice", "correct horse").await.unwrap();
    let seen: String = alice.get("k").await.unwrap();
    assert_eq!(
        seen, "from alice",
        "it logs in again with what is left: read"
    );
    let err = alice.set::<_, _, ()>("k", "x").await.unwrap_err();
    assert!(says(&err, "NOPERM"), "{err}");

    // A second password, then the restart: the users come back from the catalog.
    acl(&mut admin, &["SETUSER", "alice", ">battery staple"])
        .await
        .unwrap();
    node.shutdown().await.unwrap();
    let node = server::start(&config(Some(dir.path()))).await.unwrap();
    for password in ["correct horse", "battery staple"] {
        connect(&node, "acme/alice", password)
            .await
            .expect("after a restart, either password logs in");
    }
    let mut admin = connect(&node, "default", &acme).await.unwrap();
    let mut alice = connect(&node, "acme/alice", "battery staple")
        .await
        .unwrap();
    assert_eq!(
        acl(&mut admin, &["DELUSER", "alice"]).await.unwrap(),
        redis::Value::Int(1)
    );
    let err = alice.get::<_, Option<String>>("k").await.unwrap_err();
    assert!(says(&err, "NOAUTH"), "deleting ends the session: {err}");
    assert!(
        connect(&node, "acme/alice", "battery staple")
            .await
            .is_err()
    );
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_makes_users_of_any_tenant_and_of_its_own() {
    let node = server::start(&config(None)).await.unwrap();
    auth_support::tenant_admin(&node, "acme").await;
    let mut op = connect(&node, "default", OPERATOR_KEY).await.unwrap();
    acl(
        &mut op,
        &["SETUSER", "acme/carol", "on", ">pw-carol", "+@read"],
    )
    .await
    .unwrap();
    acl(&mut op, &["SETUSER", "ops", "on", ">pw-ops", "+@all"])
        .await
        .unwrap();
    let users = acl(&mut op, &["USERS"]).await.unwrap();
    let shown = format!("{users:?}");
    assert!(
        shown.contains("acme/carol") && shown.contains("ops"),
        "{shown}"
    );
    let err = acl(&mut op, &["SETUSER", "nowhere/dave", "on"])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no tenant"), "{err}");

    let mut carol = connect(&node, "acme/carol", "pw-carol").await.unwrap();
    let err = carol.set::<_, _, ()>("k", "v").await.unwrap_err();
    assert!(says(&err, "NOPERM"), "{err}");
    let mut ops = connect(&node, "ops", "pw-ops").await.unwrap();
    let who: String = redis::cmd("ACL")
        .arg("WHOAMI")
        .query_async(&mut ops)
        .await
        .unwrap();
    assert_eq!(who, "ops");
    let () = ops.set("k", "v").await.unwrap();

    // The dashboard's login takes a user and password too.
    let session = |body: Value| {
        let url = format!("http://{}/v1/session", node.http_addr);
        async move {
            reqwest::Client::new()
                .post(url)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let logged_in = session(json!({"username": "acme/carol", "password": "pw-carol"})).await;
    assert_eq!(logged_in.status(), 201);
    assert!(logged_in.headers().contains_key("set-cookie"));
    let who: Value = logged_in.json().await.unwrap();
    assert_eq!(
        (who["name"].as_str(), who["tenant"].as_str()),
        (Some("carol"), Some("acme"))
    );
    assert_eq!(who["scope"], "read");
    let refused = session(json!({"username": "acme/carol", "password": "pw-wrong"})).await;
    assert_eq!(refused.status(), 401);
    let both = session(json!({"key": OPERATOR_KEY, "username": "ops", "password": "pw-ops"})).await;
    assert_eq!(both.status(), 400);

    // A user that is off cannot log in, and its open session ends.
    acl(&mut op, &["SETUSER", "ops", "off"]).await.unwrap();
    assert!(
        ops.get::<_, Option<String>>("k")
            .await
            .unwrap_err()
            .to_string()
            .to_uppercase()
            .contains("NOAUTH")
    );
    assert!(connect(&node, "ops", "pw-ops").await.is_err());

    // A SETUSER with a password cannot be queued in MULTI (the hash is made before it runs).
    let err = redis::pipe()
        .atomic()
        .cmd("ACL")
        .arg("SETUSER")
        .arg("eve")
        .arg("on")
        .arg(">pw")
        .query_async::<redis::Value>(&mut op)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("MULTI"), "{err}");
    assert_eq!(
        acl(&mut op, &["GETUSER", "eve"]).await.unwrap(),
        redis::Value::Nil
    );
    node.shutdown().await.unwrap();
}

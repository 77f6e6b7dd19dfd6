//! Users through the REST admin API (`/v1/users`): a real node with an operator key on
//! 127.0.0.1:0, tenants and their admin keys made over REST, users made with `PUT` and logged in
//! over RESP by the `redis` crate, as `ACL SETUSER`'s users are.

mod auth_support;
use auth_support::{OPERATOR_KEY, config};

use larder::server::{self, RunningServer};
use redis::AsyncCommands;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// `method path` with `body` as the bearer `key`: the status and the JSON answer (`Null` when
/// there is none).
async fn call(
    node: &RunningServer,
    key: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = reqwest::Client::new()
        .request(method, format!("http://{}{path}", node.http_addr))
        .bearer_auth(key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}"))
    };
    (status, value)
}

async fn login(
    node: &RunningServer,
    user: &str,
    password: &str,
) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
    let mut con = redis::Client::open(format!("redis://{}/", node.resp_addr))
        .unwrap()
        .get_multiplexed_async_connection()
        .await?;
    redis::cmd("AUTH")
        .arg(user)
        .arg(password)
        .query_async::<()>(&mut con)
        .await?;
    Ok(con)
}

fn code(answer: &Value) -> &str {
    answer["error"]["code"].as_str().unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_admin_manages_its_users_over_rest_and_they_log_in_over_resp() {
    let dir = tempfile::tempdir().unwrap();
    let node = server::start(&config(Some(dir.path()))).await.unwrap();
    let acme = auth_support::tenant_admin(&node, "acme").await;
    let other = auth_support::tenant_admin(&node, "other").await;

    let (status, alice) = call(
        &node,
        &acme,
        Method::PUT,
        "/v1/users/alice",
        Some(json!({"enabled": true, "scopes": ["write"], "passwords": ["correct horse"]})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{alice}");
    assert_eq!(alice["login"], "acme/alice");
    assert_eq!(alice["tenant"], "acme");
    assert_eq!(alice["scopes"], json!(["read", "write"]));
    assert_eq!(alice["passwords"], 1);
    assert!(!alice.to_string().contains("correct horse"), "{alice}");

    let mut session = login(&node, "acme/alice", "correct horse")
        .await
        .expect("the REST-made user logs in over RESP");
    let () = session.set("k", "v").await.unwrap();
    let err = redis::cmd("CONFIG")
        .arg("GET")
        .arg("maxmemory")
        .query_async::<redis::Value>(&mut session)
        .await;
    assert!(err.is_err(), "write is not admin");

    // The tenant lists and reads its own user; ACL sees the same user.
    let (status, list) = call(&node, &acme, Method::GET, "/v1/users", None).await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<_> = list["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["login"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["acme/alice"]);
    let mut acme_resp = auth_support::connect_with_key(&node, &acme).await;
    let users: Vec<String> = redis::cmd("ACL")
        .arg("USERS")
        .query_async(&mut acme_resp)
        .await
        .unwrap();
    assert!(users.contains(&"alice".to_string()), "{users:?}");

    // Another tenant sees nothing of it: the same answers as for a user that does not exist.
    let (status, list) = call(&node, &other, Method::GET, "/v1/users", None).await;
    assert_eq!((status, list), (StatusCode::OK, json!({"users": []})));
    for path in ["/v1/users/alice", "/v1/users/nobody"] {
        let (status, answer) = call(&node, &other, Method::GET, path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {answer}");
        assert_eq!(code(&answer), "user_not_found");
        let (status, answer) = call(&node, &other, Method::DELETE, path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {answer}");
    }
    for tenant in ["acme", "missing"] {
        let (status, answer) = call(
            &node,
            &other,
            Method::GET,
            &format!("/v1/users/alice?tenant={tenant}"),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
        assert_eq!(code(&answer), "tenant_not_found");
        assert_eq!(
            answer["error"]["message"],
            format!("tenant \"{tenant}\" does not exist")
        );
    }

    // Rotation: add a password, then keep only the new one.
    let (status, rotated) = call(
        &node,
        &acme,
        Method::PUT,
        "/v1/users/alice",
        Some(json!({"add_passwords": ["battery staple"]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    assert_eq!(rotated["passwords"], 2);
    assert_eq!(rotated["scopes"], json!(["read", "write"]), "kept");
    for password in ["correct horse", "battery staple"] {
        login(&node, "acme/alice", password)
            .await
            .expect("both passwords log in");
    }
    let (status, _) = call(
        &node,
        &acme,
        Method::PUT,
        "/v1/users/alice",
        Some(json!({"passwords": ["battery staple"]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(login(&node, "acme/alice", "correct horse").await.is_err());

    // Narrowing ends the open session's rights before its next command.
    let (status, narrowed) = call(
        &node,
        &acme,
        Method::PUT,
        "/v1/users/alice",
        Some(json!({"scopes": ["read"]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(narrowed["scopes"], json!(["read"]));
    let err = session.get::<_, Option<String>>("k").await.unwrap_err();
    assert!(err.to_string().to_uppercase().contains("NOAUTH"), "{err}");

    // Bad input is a 400 that changes nothing.
    for (path, body, want) in [
        ("/v1/users/bad%20name", json!({}), "invalid_user"),
        (
            "/v1/users/alice",
            json!({"passwords": [""]}),
            "invalid_user",
        ),
        (
            "/v1/users/alice",
            json!({"add_passwords": ["é".repeat(1025)]}),
            "invalid_user",
        ),
        ("/v1/users/alice", json!({"scopes": ["root"]}), "bad_json"),
        (
            "/v1/users/alice",
            json!({"enabled": true, "x": 1}),
            "bad_json",
        ),
    ] {
        let (status, answer) = call(&node, &acme, Method::PUT, path, Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {body}: {answer}");
        assert_eq!(code(&answer), want, "{path} {body}: {answer}");
    }
    let (status, longest) = call(
        &node,
        &acme,
        Method::PUT,
        "/v1/users/carol",
        Some(json!({"passwords": ["é".repeat(1024)]})),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "1024 characters of 2 bytes: {longest}"
    );
    // More passwords than a user holds: a conflict with what it holds, and nothing changes.
    for body in [
        json!({"passwords": ["1", "2", "3", "4", "5"], "add_passwords": ["6", "7", "8", "9"]}),
        json!({"add_passwords": ["1", "2", "3", "4", "5", "6", "7", "8"]}),
    ] {
        let (status, answer) = call(
            &node,
            &acme,
            Method::PUT,
            "/v1/users/alice",
            Some(body.clone()),
        )
        .await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}: {answer}");
        assert_eq!(code(&answer), "too_many_passwords", "{body}: {answer}");
    }
    let (_, unchanged) = call(&node, &acme, Method::GET, "/v1/users/alice", None).await;
    assert_eq!(unchanged["passwords"], 1);
    assert_eq!(unchanged["scopes"], json!(["read"]));

    // A key without the admin scope may not manage users.
    let reader = auth_support::post(
        &node,
        "/v1/api-keys",
        json!({"name": "acme-reader", "scopes": ["read"], "tenant": "acme"}),
    )
    .await;
    let (status, _) = call(
        &node,
        reader["key"].as_str().unwrap(),
        Method::GET,
        "/v1/users",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The user survives a restart (the catalog is written before the answer).
    node.shutdown().await.unwrap();
    let node = server::start(&config(Some(dir.path()))).await.unwrap();
    let mut session = login(&node, "acme/alice", "battery staple")
        .await
        .expect("after a restart the user logs in");
    let seen: String = session.get("k").await.unwrap();
    assert_eq!(seen, "v");

    let (status, _) = call(&node, &acme, Method::DELETE, "/v1/users/alice", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let err = session.get::<_, Option<String>>("k").await.unwrap_err();
    assert!(err.to_string().to_uppercase().contains("NOAUTH"), "{err}");
    assert!(login(&node, "acme/alice", "battery staple").await.is_err());
    let (status, _) = call(&node, &acme, Method::DELETE, "/v1/users/alice", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_names_a_tenants_user_with_a_query_and_its_own_without() {
    let node = server::start(&config(None)).await.unwrap();
    auth_support::tenant_admin(&node, "acme").await;

    let (status, ops) = call(
        &node,
        OPERATOR_KEY,
        Method::PUT,
        "/v1/users/ops",
        Some(json!({"enabled": true, "scopes": ["admin"], "passwords": ["operator pass"]})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{ops}");
    assert_eq!(ops["login"], "ops");
    assert!(ops.get("tenant").is_none(), "{ops}");
    let (status, bob) = call(
        &node,
        OPERATOR_KEY,
        Method::PUT,
        "/v1/users/bob?tenant=acme",
        Some(json!({"enabled": true, "scopes": ["read"], "passwords": ["bob pass"]})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{bob}");
    assert_eq!(bob["login"], "acme/bob");

    let mut ops_session = login(&node, "ops", "operator pass").await.unwrap();
    let info: String = redis::cmd("INFO")
        .arg("server")
        .query_async(&mut ops_session)
        .await
        .unwrap();
    assert!(info.contains("redis_version"));
    login(&node, "acme/bob", "bob pass").await.unwrap();
    assert!(
        login(&node, "bob", "bob pass").await.is_err(),
        "the tenant's bob is not an operator-level bob"
    );

    let (_, list) = call(&node, OPERATOR_KEY, Method::GET, "/v1/users", None).await;
    let logins: Vec<_> = list["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["login"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(logins, ["ops", "acme/bob"], "operator-level users first");
    let (status, _) = call(&node, OPERATOR_KEY, Method::GET, "/v1/users/bob", None).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "without ?tenant= it means 'ops'-level"
    );
    let (status, answer) = call(
        &node,
        OPERATOR_KEY,
        Method::PUT,
        "/v1/users/carol?tenant=missing",
        Some(json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(code(&answer), "tenant_not_found");
    let (status, answer) = call(
        &node,
        OPERATOR_KEY,
        Method::GET,
        "/v1/users/bob?tenant=acme&extra=1",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(code(&answer), "bad_query");
    node.shutdown().await.unwrap();
}

/// A tenant's users count against its `max_users` quota, over REST and `ACL SETUSER` alike;
/// changing an existing user is not a new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenants_users_are_held_to_its_quota() {
    let node = server::start(&config(None)).await.unwrap();
    auth_support::post(
        &node,
        "/v1/tenants",
        json!({"name": "small", "quotas": {"max_users": 1}}),
    )
    .await;
    let key = auth_support::post(
        &node,
        "/v1/api-keys",
        json!({"name": "small-admin", "scopes": ["admin"], "tenant": "small"}),
    )
    .await["key"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, _) = call(&node, &key, Method::PUT, "/v1/users/one", Some(json!({}))).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, again) = call(
        &node,
        &key,
        Method::PUT,
        "/v1/users/one",
        Some(json!({"enabled": true})),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "changing a user is not a new one: {again}"
    );
    let (status, refused) = call(&node, &key, Method::PUT, "/v1/users/two", Some(json!({}))).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{refused}");
    assert_eq!(code(&refused), "quota_exceeded");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("max_users"),
        "{refused}"
    );
    let mut resp = auth_support::connect_with_key(&node, &key).await;
    let err = redis::cmd("ACL")
        .arg("SETUSER")
        .arg("three")
        .query_async::<()>(&mut resp)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("quota exceeded"), "{err}");
    let (_, list) = call(&node, &key, Method::GET, "/v1/users", None).await;
    assert_eq!(list["users"].as_array().unwrap().len(), 1);
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn without_authentication_the_user_routes_say_so() {
    let node = server::start(&larder::config::Config {
        resp_addr: "127.0.0.1:0".parse().unwrap(),
        http_addr: "127.0.0.1:0".parse().unwrap(),
        ..Default::default()
    })
    .await
    .unwrap();
    for method in [Method::GET, Method::PUT] {
        let (status, answer) = call(
            &node,
            "none",
            method.clone(),
            "/v1/users/alice",
            (method == Method::PUT).then(|| json!({})),
        )
        .await;
        assert_eq!(status, StatusCode::CONFLICT, "{method}: {answer}");
        assert_eq!(code(&answer), "auth_disabled");
    }
    node.shutdown().await.unwrap();
}

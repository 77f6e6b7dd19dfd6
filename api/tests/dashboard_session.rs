//! The dashboard's login against a real node: a key in, an HttpOnly cookie out; changes need the
//! session's CSRF token; logout, expiry and a revoked key each end the session; logins are
//! rate-limited.

use std::time::Duration;

mod auth_support;
use auth_support::{OPERATOR_KEY, config};
use larder::config::Config;
use larder::server::{self, RunningServer};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

async fn node(session_ttl: Duration) -> RunningServer {
    server::start(&Config {
        session_ttl,
        ..config(None)
    })
    .await
    .unwrap()
}

fn url(node: &RunningServer, path: &str) -> String {
    format!("http://{}{path}", node.http_addr)
}

/// Log in with `key`: (status, the cookie pair to send back, the answer).
async fn login(node: &RunningServer, key: &str) -> (StatusCode, Option<String>, Value) {
    let r = Client::new()
        .post(url(node, "/v1/session"))
        .json(&json!({"key": key}))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let set_cookie = r
        .headers()
        .get("set-cookie")
        .map(|v| v.to_str().unwrap().to_string());
    if let Some(c) = &set_cookie {
        for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
            assert!(c.contains(attribute), "{attribute} missing: {c}");
        }
        assert!(
            !c.contains("Secure"),
            "no Secure flag on a plain-HTTP node: {c}"
        );
    }
    let cookie = set_cookie.map(|c| c.split(';').next().unwrap().to_string());
    (status, cookie, r.json().await.unwrap())
}

async fn with_cookie(
    node: &RunningServer,
    method: reqwest::Method,
    path: &str,
    cookie: &str,
    csrf: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut r = Client::new()
        .request(method, url(node, path))
        .header("cookie", cookie);
    if let Some(token) = csrf {
        r = r.header("x-csrf-token", token);
    }
    if let Some(body) = body {
        r = r.json(&body);
    }
    let r = r.send().await.unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_session_cookie_stands_in_for_the_key_and_changes_need_its_csrf_token() {
    let node = node(Duration::from_secs(3600)).await;
    let (status, cookie, err) = login(&node, "lk_000000000000_wrong").await;
    assert_eq!(
        (status, cookie.is_none()),
        (StatusCode::UNAUTHORIZED, true),
        "{err}"
    );
    assert_eq!(err["error"]["code"], "invalid_credentials");

    let (status, cookie, who) = login(&node, OPERATOR_KEY).await;
    assert_eq!(status, StatusCode::CREATED, "{who}");
    let cookie = cookie.expect("the login sets the cookie");
    assert_eq!(
        (&who["name"], &who["operator"]),
        (&json!("operator"), &json!(true))
    );
    let csrf = who["csrf_token"].as_str().unwrap().to_string();
    assert!(!cookie.contains(&csrf), "the CSRF token is not the cookie");

    let (status, list) = with_cookie(
        &node,
        reqwest::Method::GET,
        "/v1/namespaces",
        &cookie,
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "reads need only the cookie: {list}");
    let (status, session) = with_cookie(
        &node,
        reqwest::Method::GET,
        "/v1/session",
        &cookie,
        None,
        None,
    )
    .await;
    assert_eq!(
        (status, &session["csrf_token"]),
        (StatusCode::OK, &json!(csrf))
    );

    let create = json!({"name": "from-dashboard"});
    let (status, err) = with_cookie(
        &node,
        reqwest::Method::POST,
        "/v1/namespaces",
        &cookie,
        None,
        Some(create.clone()),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a change without the token: {err}"
    );
    assert_eq!(err["error"]["code"], "csrf_failed");
    let (status, _) = with_cookie(
        &node,
        reqwest::Method::POST,
        "/v1/namespaces",
        &cookie,
        Some("wrong"),
        Some(create.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, made) = with_cookie(
        &node,
        reqwest::Method::POST,
        "/v1/namespaces",
        &cookie,
        Some(&csrf),
        Some(create),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");

    // Logout ends it; the cookie is refused from then on.
    let (status, _) = with_cookie(
        &node,
        reqwest::Method::DELETE,
        "/v1/session",
        &cookie,
        Some(&csrf),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, err) = with_cookie(
        &node,
        reqwest::Method::GET,
        "/v1/namespaces",
        &cookie,
        None,
        None,
    )
    .await;
    assert_eq!(
        (status, &err["error"]["code"]),
        (StatusCode::UNAUTHORIZED, &json!("session_expired"))
    );
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn sessions_expire_end_with_their_key_and_logins_are_rate_limited() {
    let node = node(Duration::from_secs(1)).await;
    let key: Value = Client::new()
        .post(url(&node, "/v1/api-keys"))
        .bearer_auth(OPERATOR_KEY)
        .json(&json!({"name": "viewer", "scopes": ["read"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (status, cookie, who) = login(&node, key["key"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        (&who["scope"], &who["operator"]),
        (&json!("read"), &json!(false))
    );
    let cookie = cookie.unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let (status, err) = with_cookie(
        &node,
        reqwest::Method::GET,
        "/v1/namespaces",
        &cookie,
        None,
        None,
    )
    .await;
    assert_eq!(
        (status, &err["error"]["code"]),
        (StatusCode::UNAUTHORIZED, &json!("session_expired")),
        "expired"
    );

    // Revoking the key ends its sessions.
    let (_, cookie, _) = login(&node, key["key"].as_str().unwrap()).await;
    let cookie = cookie.unwrap();
    let (status, _) = with_cookie(
        &node,
        reqwest::Method::GET,
        "/v1/namespaces",
        &cookie,
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let revoked = Client::new()
        .delete(url(
            &node,
            &format!("/v1/api-keys/{}", key["id"].as_str().unwrap()),
        ))
        .bearer_auth(OPERATOR_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    let (status, _) = with_cookie(
        &node,
        reqwest::Method::GET,
        "/v1/namespaces",
        &cookie,
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "its key was revoked");

    // Guessing through the login form: refused past the node's login rate.
    let mut refused = 0;
    let mut limited = 0;
    for i in 0..60 {
        let (status, _, _) = login(&node, &format!("lk_{i:012}_guess")).await;
        match status {
            StatusCode::UNAUTHORIZED => refused += 1,
            StatusCode::TOO_MANY_REQUESTS => limited += 1,
            other => panic!("unexpected {other}"),
        }
    }
    eprintln!("60 wrong logins in a burst: {refused} checked and refused, {limited} rate-limited");
    assert!(
        limited > 0 && refused > 0,
        "{refused} refused, {limited} limited"
    );
    node.shutdown().await.unwrap();
}

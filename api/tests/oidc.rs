//! OIDC bearer tokens end to end: the test runs a real JWKS endpoint with EC keys it generates,
//! signs tokens with them, and uses them against a real node on REST and RESP.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::routing::get;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use larder::auth::jwt::OidcConfig;
use larder::config::{Config, Secret};
use larder::server::{self, RunningServer};
use parking_lot::RwLock;
use reqwest::StatusCode;
use serde_json::{Value, json};

const ISSUER: &str = "https://id.test/";
const AUDIENCE: &str = "larder";
const LEEWAY: u64 = 30;

struct SigningKey {
    kid: String,
    encoding: EncodingKey,
    jwk: Value,
}

fn signing_key(kid: &str) -> SigningKey {
    let key = rcgen::KeyPair::generate().unwrap();
    let raw = key.public_key_raw();
    assert_eq!(raw.len(), 65, "an uncompressed P-256 point");
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    SigningKey {
        kid: kid.to_string(),
        encoding: EncodingKey::from_ec_der(&key.serialize_der()),
        jwk: json!({"kty": "EC", "crv": "P-256", "x": b64(&raw[1..33]), "y": b64(&raw[33..]),
                    "kid": kid, "alg": "ES256", "use": "sig"}),
    }
}

/// The identity provider's JWKS endpoint: serves `keys`, counts fetches.
struct Provider {
    url: String,
    keys: Arc<RwLock<Vec<Value>>>,
    fetches: Arc<AtomicU64>,
}

async fn provider(initial: &[&SigningKey]) -> Provider {
    let keys = Arc::new(RwLock::new(initial.iter().map(|k| k.jwk.clone()).collect()));
    let fetches = Arc::new(AtomicU64::new(0));
    let app = {
        let (keys, fetches) = (Arc::clone(&keys), Arc::clone(&fetches));
        axum::Router::new().route(
            "/jwks.json",
            get(move || {
                let (keys, fetches) = (Arc::clone(&keys), Arc::clone(&fetches));
                async move {
                    fetches.fetch_add(1, Ordering::SeqCst);
                    axum::Json(json!({"keys": *keys.read()}))
                }
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Provider { url, keys, fetches }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn token(key: &SigningKey, claims: Value) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, &claims, &key.encoding).unwrap()
}

fn claims(scope: &str, exp: u64) -> Value {
    json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "svc-checkout", "scope": scope, "exp": exp})
}

async fn node(jwks_url: &str) -> RunningServer {
    server::start(&Config {
        resp_addr: "127.0.0.1:0".parse().unwrap(),
        http_addr: "127.0.0.1:0".parse().unwrap(),
        operator_key: Some(Secret("operator-key-for-tests-0123456789".into())),
        oidc: Some(OidcConfig {
            issuer: ISSUER.into(),
            audience: AUDIENCE.into(),
            jwks_url: Some(jwks_url.into()),
            algorithms: vec![Algorithm::ES256],
            leeway_secs: LEEWAY,
            scope_claim: "scope".into(),
            tenant_claim: "tenant".into(),
            require_tenant: false,
        }),
        ..Default::default()
    })
    .await
    .unwrap()
}

async fn get_status(node: &RunningServer, token: &str) -> StatusCode {
    // Refused tokens spend their address's failure budget (20, then `429`); each request comes
    // from the next loopback address, so the answers here are the token checks themselves.
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 3, (n % 250) as u8 + 1]))
        .build()
        .unwrap()
        .get(format!(
            "http://{}/v1/namespaces/default/keys/k",
            node.http_addr
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_checked_against_the_providers_keys_and_claims() {
    let k1 = signing_key("k1");
    let idp = provider(&[&k1]).await;
    let node = node(&idp.url).await;
    assert_eq!(
        idp.fetches.load(Ordering::SeqCst),
        1,
        "fetched once at start"
    );

    let valid = token(&k1, claims("read", now() + 300));
    // Accepted tokens pass authentication (the key itself is absent: 404).
    assert_eq!(get_status(&node, &valid).await, StatusCode::NOT_FOUND);
    let in_leeway = token(&k1, claims("read", now() - LEEWAY / 3));
    assert_eq!(
        get_status(&node, &in_leeway).await,
        StatusCode::NOT_FOUND,
        "inside the leeway"
    );

    let mut refused = Vec::new();
    refused.push((
        "expired beyond the leeway",
        token(&k1, claims("read", now() - LEEWAY - 60)),
    ));
    let mut c = claims("read", now() + 300);
    c["iss"] = json!("https://evil.test/");
    refused.push(("wrong issuer", token(&k1, c)));
    let mut c = claims("read", now() + 300);
    c["aud"] = json!("someone-else");
    refused.push(("wrong audience", token(&k1, c)));
    let mut c = claims("read", now() + 300);
    c["nbf"] = json!(now().to_string());
    refused.push(("string nbf", token(&k1, c)));
    let mut c = claims("read", now() + 300);
    c["exp"] = json!((now() + 300).to_string());
    refused.push(("string exp", token(&k1, c)));
    let mut c = claims("read", now() + 300);
    c["nbf"] = json!(now() + 3600);
    refused.push(("not yet valid", token(&k1, c)));
    refused.push(("no scope", token(&k1, claims("profile email", now() + 300))));
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT", "kid": "k1"})),
        b64(&claims("admin", now() + 300))
    );
    refused.push(("alg none", none));
    let forged = {
        let other = signing_key("k1"); // same kid, another key
        token(&other, claims("admin", now() + 300))
    };
    refused.push(("signed by another key", forged));
    for (what, t) in &refused {
        assert_eq!(
            get_status(&node, t).await,
            StatusCode::UNAUTHORIZED,
            "{what}"
        );
    }
    // A valid token's scope is enforced like an API key's.
    let put = reqwest::Client::new()
        .put(format!(
            "http://{}/v1/namespaces/default/keys/k",
            node.http_addr
        ))
        .bearer_auth(&valid)
        .body("v")
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::FORBIDDEN);

    // 1 000 requests with known keys cost no fetch.
    let before = idp.fetches.load(Ordering::SeqCst);
    for _ in 0..1000 {
        assert_eq!(get_status(&node, &valid).await, StatusCode::NOT_FOUND);
    }
    assert_eq!(
        idp.fetches.load(Ordering::SeqCst),
        before,
        "1000 requests, no new fetch"
    );

    // The provider rotates: a token with the new kid causes one refetch and is accepted.
    let k2 = signing_key("k2");
    idp.keys.write().push(k2.jwk.clone());
    tokio::time::sleep(larder::auth::jwt::MIN_REFETCH).await;
    let before = idp.fetches.load(Ordering::SeqCst);
    let rotated = token(&k2, claims("read", now() + 300));
    assert_eq!(get_status(&node, &rotated).await, StatusCode::NOT_FOUND);
    assert_eq!(
        idp.fetches.load(Ordering::SeqCst),
        before + 1,
        "one refetch for the new kid"
    );

    // 100 made-up kids within a second: at most 2 fetches.
    tokio::time::sleep(larder::auth::jwt::MIN_REFETCH).await;
    let before = idp.fetches.load(Ordering::SeqCst);
    let started = std::time::Instant::now();
    for i in 0..100 {
        let fake = signing_key(&format!("random-{i}"));
        let t = token(&fake, claims("read", now() + 300));
        assert_eq!(get_status(&node, &t).await, StatusCode::UNAUTHORIZED);
    }
    let extra = idp.fetches.load(Ordering::SeqCst) - before;
    println!(
        "100 unknown kids in {:?}: {extra} JWKS fetches; 1000 known-key requests: 0",
        started.elapsed()
    );
    assert!(extra <= 2 + started.elapsed().as_secs(), "{extra} fetches");
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resp_session_on_a_token_ends_when_the_token_expires() {
    let k1 = signing_key("k1");
    let idp = provider(&[&k1]).await;
    let node = node(&idp.url).await;
    let client = |password: String| {
        redis::Client::open(format!("redis://default:{password}@{}/", node.resp_addr)).unwrap()
    };
    let mut c = client(token(&k1, claims("write", now() + 300)))
        .get_multiplexed_async_connection()
        .await
        .expect("AUTH with a token");
    let () = redis::cmd("SET")
        .arg("k")
        .arg("v")
        .query_async(&mut c)
        .await
        .unwrap();
    assert!(
        client(token(&k1, claims("write", now() - LEEWAY - 60)))
            .get_multiplexed_async_connection()
            .await
            .is_err(),
        "an expired token is refused at AUTH"
    );

    // A token whose rights end in about 2 s (exp is in the past, within the leeway).
    let short = token(&k1, claims("read", now() + 2 - LEEWAY));
    let mut s = client(short)
        .get_multiplexed_async_connection()
        .await
        .expect("accepted inside the leeway");
    let got: String = redis::cmd("GET")
        .arg("k")
        .query_async(&mut s)
        .await
        .unwrap();
    assert_eq!(got, "v");
    tokio::time::sleep(Duration::from_millis(3200)).await;
    let after = redis::cmd("GET")
        .arg("k")
        .query_async::<String>(&mut s)
        .await
        .unwrap_err();
    assert_eq!(after.code(), Some("NOAUTH"), "{after}");
    node.shutdown().await.unwrap();
}

#[test]
fn a_jwks_url_must_be_https_beyond_loopback() {
    let with = |url: &str| Config {
        operator_key: Some(Secret("operator-key-for-tests-0123456789".into())),
        oidc: Some(OidcConfig {
            issuer: ISSUER.into(),
            audience: AUDIENCE.into(),
            jwks_url: Some(url.into()),
            algorithms: vec![Algorithm::ES256],
            leeway_secs: LEEWAY,
            scope_claim: "scope".into(),
            tenant_claim: "tenant".into(),
            require_tenant: false,
        }),
        ..Default::default()
    };
    assert!(with("https://id.example.com/jwks").validate().is_ok());
    assert!(with("http://127.0.0.1:9000/jwks").validate().is_ok());
    let refused = with("http://id.example.com/jwks")
        .validate()
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("jwks_url") && refused.contains("https"),
        "{refused}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tokens_tenant_claim_makes_it_speak_for_that_tenant_only() {
    let k1 = signing_key("k1");
    let idp = provider(&[&k1]).await;
    let node = node(&idp.url).await;
    let http = reqwest::Client::new();
    let base = format!("http://{}", node.http_addr);
    for name in ["acme", "globex"] {
        let made = http
            .post(format!("{base}/v1/tenants"))
            .bearer_auth("operator-key-for-tests-0123456789")
            .json(&json!({"name": name}))
            .send()
            .await
            .unwrap();
        assert_eq!(made.status(), StatusCode::CREATED);
    }
    let mut acme_claims = claims("admin", now() + 300);
    acme_claims["tenant"] = json!("acme");
    let acme = token(&k1, acme_claims);
    let list: Value = http
        .get(format!("{base}/v1/namespaces"))
        .bearer_auth(&acme)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<_> = list["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].clone())
        .collect();
    assert_eq!(names, [json!("default")], "acme's own default only: {list}");
    let theirs = http
        .get(format!("{base}/v1/namespaces/globex%2Fdefault"))
        .bearer_auth(&acme)
        .send()
        .await
        .unwrap();
    assert_eq!(theirs.status(), StatusCode::NOT_FOUND);
    let operator_route = http
        .get(format!("{base}/v1/tenants"))
        .bearer_auth(&acme)
        .send()
        .await
        .unwrap();
    assert_eq!(operator_route.status(), StatusCode::FORBIDDEN);
    // A tenant the node does not hold, or a claim that is not a string: no credential.
    for tenant in [json!("initech"), json!(42)] {
        let mut c = claims("admin", now() + 300);
        c["tenant"] = tenant.clone();
        assert_eq!(
            get_status(&node, &token(&k1, c)).await,
            StatusCode::UNAUTHORIZED,
            "{tenant}"
        );
    }
    // On the Redis port the token lands in acme's default.
    let mut con = redis::Client::open(format!("redis://default:{acme}@{}/", node.resp_addr))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let () = redis::AsyncCommands::set(&mut con, "k", "acme's")
        .await
        .unwrap();
    let got: Value = http
        .get(format!("{base}/v1/namespaces/acme%2Fdefault/keys/k"))
        .bearer_auth("operator-key-for-tests-0123456789")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .map(Value::String)
        .unwrap();
    assert_eq!(got, json!("acme's"));
    node.shutdown().await.unwrap();
}

/// A provider that publishes a discovery document: its issuer is its own address; `doc` makes
/// the document from (issuer, the real JWKS address). Returns the issuer and the count of
/// discovery fetches.
async fn discovering_provider(
    key: &SigningKey,
    doc: impl Fn(&str, &str) -> Value + Clone + Send + Sync + 'static,
) -> (String, Arc<AtomicU64>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}/realms/test", listener.local_addr().unwrap());
    let jwks_uri = format!("{issuer}/certs");
    let discoveries = Arc::new(AtomicU64::new(0));
    let jwks = json!({"keys": [key.jwk.clone()]});
    let app = axum::Router::new()
        .route(
            "/realms/test/.well-known/openid-configuration",
            get({
                let (issuer, discoveries) = (issuer.clone(), Arc::clone(&discoveries));
                move || {
                    discoveries.fetch_add(1, Ordering::SeqCst);
                    let body = doc(&issuer, &jwks_uri);
                    async move { axum::Json(body) }
                }
            }),
        )
        .route(
            "/realms/test/certs",
            get(move || {
                let jwks = jwks.clone();
                async move { axum::Json(jwks) }
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await });
    (issuer, discoveries)
}

async fn node_discovering(issuer: &str) -> RunningServer {
    server::start(&Config {
        resp_addr: "127.0.0.1:0".parse().unwrap(),
        http_addr: "127.0.0.1:0".parse().unwrap(),
        operator_key: Some(Secret("operator-key-for-tests-0123456789".into())),
        oidc: Some(OidcConfig {
            issuer: issuer.into(),
            audience: AUDIENCE.into(),
            jwks_url: None,
            algorithms: vec![Algorithm::ES256],
            leeway_secs: LEEWAY,
            scope_claim: "scope".into(),
            tenant_claim: "tenant".into(),
            require_tenant: false,
        }),
        ..Default::default()
    })
    .await
    .unwrap()
}

/// Without `jwks_url`, the keys are found through the issuer's discovery document — and only
/// when the document names the configured issuer and a safe JWKS address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_jwks_url_the_keys_are_discovered_from_the_issuer() {
    let k1 = signing_key("k1");
    let claims_for = |issuer: &str| {
        let mut c = claims("read", now() + 300);
        c["iss"] = json!(issuer);
        c
    };

    let (issuer, discoveries) = discovering_provider(
        &k1,
        |issuer, jwks| json!({"issuer": issuer, "jwks_uri": jwks}),
    )
    .await;
    let node = node_discovering(&issuer).await;
    let valid = token(&k1, claims_for(&issuer));
    assert_eq!(get_status(&node, &valid).await, StatusCode::NOT_FOUND);
    assert_eq!(
        discoveries.load(Ordering::SeqCst),
        1,
        "discovered once, at start"
    );
    let unknown_kid = signing_key("k2");
    assert_eq!(
        get_status(&node, &token(&unknown_kid, claims_for(&issuer))).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        discoveries.load(Ordering::SeqCst),
        1,
        "a refetch for an unknown kid reuses the address found"
    );
    node.shutdown().await.unwrap();

    // A document speaking for another issuer is not trusted: no keys, every token refused.
    let (issuer, discoveries) = discovering_provider(
        &k1,
        |_, jwks| json!({"issuer": "https://id.other.test/", "jwks_uri": jwks}),
    )
    .await;
    let node = node_discovering(&issuer).await;
    assert_eq!(
        get_status(&node, &token(&k1, claims_for(&issuer))).await,
        StatusCode::UNAUTHORIZED
    );
    assert!(discoveries.load(Ordering::SeqCst) >= 1);
    node.shutdown().await.unwrap();
}

#[test]
fn without_a_jwks_url_the_issuer_must_be_https_beyond_loopback() {
    let with = |issuer: &str| Config {
        operator_key: Some(Secret("operator-key-for-tests-0123456789".into())),
        oidc: Some(OidcConfig {
            issuer: issuer.into(),
            audience: AUDIENCE.into(),
            jwks_url: None,
            algorithms: vec![Algorithm::ES256],
            leeway_secs: LEEWAY,
            scope_claim: "scope".into(),
            tenant_claim: "tenant".into(),
            require_tenant: false,
        }),
        ..Default::default()
    };
    assert!(with("https://id.example.com/").validate().is_ok());
    assert!(with("http://127.0.0.1:9000/realms/x").validate().is_ok());
    let refused = with("http://id.example.com/")
        .validate()
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("oidc.issuer") && refused.contains("https"),
        "{refused}"
    );
}

//! Tenants end to end: a real node with an operator key on 127.0.0.1:0, two tenants made through
//! the admin API, each with its own admin key, driven by reqwest and the `redis` crate.
//!
//! The cross-tenant matrix runs every operation of the OpenAPI document, as tenant A, on the
//! names tenant B uses, and again on names that exist nowhere: each answer must be the same (no
//! existence oracle), none may carry B's data, and B's data must be byte-for-byte what it was.

mod auth_support;
use auth_support::{OPERATOR_KEY, config, raw};

/// A value only tenant B ever writes: seeing it anywhere in A's answers is a leak.
const B_SECRET: &str = "b-secret-value-7f3a";
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use larder::server::{self, RunningServer};
use larder_plugin_wasm as wasm;
use redis::AsyncCommands;
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

struct Http {
    client: Client,
    base: String,
}

impl Http {
    fn new(node: &RunningServer) -> Self {
        Self {
            client: Client::new(),
            base: format!("http://{}", node.http_addr),
        }
    }

    /// `method path` with `token` and an optional JSON or raw body: (status, headers, body).
    async fn send(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Body>,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        request = match body {
            Some(Body::Json(v)) => request.json(&v),
            Some(Body::Raw(bytes)) => request.body(bytes),
            None => request,
        };
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, headers, body)
    }

    async fn json(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Value,
    ) -> (StatusCode, Value) {
        let (status, _, body) = self.send(token, method, path, Some(Body::Json(body))).await;
        (status, body)
    }

    async fn get(&self, token: &str, path: &str) -> (StatusCode, Value) {
        let (status, _, body) = self.send(token, Method::GET, path, None).await;
        (status, body)
    }
}

enum Body {
    Json(Value),
    Raw(Vec<u8>),
}

/// Make tenant `name` with `quotas` and an admin key of it; returns the key text.
async fn tenant_with_key(http: &Http, name: &str, quotas: Value) -> String {
    let (status, made) = http
        .json(
            OPERATOR_KEY,
            Method::POST,
            "/v1/tenants",
            json!({"name": name, "quotas": quotas}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    tenant_key(http, name, "admin").await
}

async fn tenant_key(http: &Http, tenant: &str, scope: &str) -> String {
    let (status, key) = http
        .json(
            OPERATOR_KEY,
            Method::POST,
            "/v1/api-keys",
            json!({"name": format!("{tenant}-{scope}"), "scopes": [scope], "tenant": tenant}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    key["key"].as_str().unwrap().to_string()
}

async fn resp(node: &RunningServer, key: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(format!("redis://default:{key}@{}/", node.resp_addr))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .expect("connect and authenticate")
}

/// Every key and value of `namespaces` (engine names), read as the operator: what "B's data is
/// unchanged" compares.
async fn digest(
    node: &RunningServer,
    namespaces: &[&str],
) -> BTreeMap<String, Vec<(Vec<u8>, Vec<u8>)>> {
    let mut con = resp(node, OPERATOR_KEY).await;
    let mut out = BTreeMap::new();
    for ns in namespaces {
        let () = redis::cmd("SELECT")
            .arg(*ns)
            .query_async(&mut con)
            .await
            .unwrap();
        let mut keys: Vec<Vec<u8>> = redis::cmd("KEYS")
            .arg("*")
            .query_async(&mut con)
            .await
            .unwrap();
        keys.sort();
        let mut pairs = Vec::new();
        for k in keys {
            let v: Vec<u8> = con.get(&k).await.unwrap();
            pairs.push((k, v));
        }
        out.insert(ns.to_string(), pairs);
    }
    out
}

/// What tenant B holds before A starts probing: two namespaces with keys, a plugin, a key.
struct BHolds {
    plugin_id: String,
    key_id: String,
}

async fn fill_b(node: &RunningServer, http: &Http, b: &str) -> BHolds {
    let (status, made) = http
        .json(
            b,
            Method::POST,
            "/v1/namespaces",
            json!({"name": "carts", "config": {"capacity_bytes": 8388608}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    assert_eq!(
        made["name"], "carts",
        "a tenant sees its own name, without a prefix"
    );
    let (status, _, _) = http
        .send(
            b,
            Method::PUT,
            "/v1/namespaces/carts/keys/b-cart-1",
            Some(Body::Raw(B_SECRET.into())),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let mut con = resp(node, b).await;
    let () = con.set("b-only-key", B_SECRET).await.unwrap();
    let () = con.set("shared-name", "b's value").await.unwrap();
    let (status, _, plugin) = http
        .send(
            b,
            Method::POST,
            "/v1/plugins?name=b-lru",
            Some(Body::Raw(wasm::LRU.to_vec())),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{plugin}");
    let (status, key) = http
        .json(
            b,
            Method::POST,
            "/v1/api-keys",
            json!({"name": "b-reader", "scopes": ["read"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    assert_eq!(
        key["tenant"], "b",
        "a tenant's key makes keys of its own tenant"
    );
    BHolds {
        plugin_id: plugin["id"].as_str().unwrap().to_string(),
        key_id: key["id"].as_str().unwrap().to_string(),
    }
}

/// A request body the operation accepts in shape, so the answer is about the names, not the body.
fn body_for(method: &Method, path: &str, names: &BTreeMap<&str, String>) -> Option<Body> {
    if *method == Method::GET || *method == Method::DELETE {
        return None;
    }
    Some(if path.ends_with("/keys/{key}") && *method == Method::PUT {
        Body::Raw(b"from-a".to_vec())
    } else if path == "/v1/plugins" {
        Body::Raw(
            if names["module"] == "sieve" {
                wasm::SIEVE
            } else {
                wasm::WTINYLFU
            }
            .to_vec(),
        )
    } else if path.ends_with("/batch/get") || path.ends_with("/batch/delete") {
        Body::Json(json!({"keys": ["b-cart-1", "b-only-key"]}))
    } else if path.ends_with("/batch/set") {
        Body::Json(json!({"items": [{"key": "b-cart-1", "value": "from-a"}]}))
    } else if path.ends_with("/incr") {
        Body::Json(json!({"by": 1}))
    } else if path.ends_with("/expire") {
        Body::Json(json!({"ttl_ms": 60000}))
    } else if path.ends_with("/experiment") {
        Body::Json(
            json!({"arms": [{"name": "a", "eviction": "lru"}, {"name": "b", "eviction": "s3fifo"}]}),
        )
    } else if path.ends_with("/shadow") {
        Body::Json(json!({"candidates": [{"name": "c", "eviction": "lru"}]}))
    } else if path == "/v1/api-keys" {
        Body::Json(json!({"name": "probe", "scopes": ["read"], "tenant": "b"}))
    } else if path == "/v1/tenants" {
        Body::Json(json!({"name": "probe"}))
    } else if path.starts_with("/v1/tenants/") {
        Body::Json(json!({"quotas": {}}))
    } else if path == "/v1/namespaces" {
        Body::Json(json!({"name": names["ns"].replace("%2F", "/")}))
    } else if path.starts_with("/v1/alerts") {
        Body::Json(json!({"name": "r", "condition": {"hit_ratio_below": 0.5}}))
    } else {
        Body::Json(json!({}))
    })
}

/// The OpenAPI document's operations: (method, path template), in document order.
async fn operations(http: &Http) -> Vec<(Method, String)> {
    let (_, doc) = http.get(OPERATOR_KEY, "/openapi.json").await;
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "put", "post", "delete"] {
            if item.get(method).is_some() {
                ops.push((
                    Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
                    path.clone(),
                ));
            }
        }
    }
    ops
}

/// What A gets for every operation with the names in `names` substituted: (status, code).
async fn run_matrix(
    http: &Http,
    a: &str,
    ops: &[(Method, String)],
    names: &BTreeMap<&str, String>,
) -> Vec<(String, StatusCode, String, String)> {
    let mut out = Vec::new();
    for (method, template) in ops {
        let mut path = template.clone();
        for (param, value) in names {
            path = path.replace(&format!("{{{param}}}"), value);
        }
        if path.contains('{') {
            panic!("an operation with a parameter the matrix does not know: {template}");
        }
        let (status, _, body) = http
            .send(a, method.clone(), &path, body_for(method, template, names))
            .await;
        let code = body["error"]["code"].as_str().unwrap_or("").to_string();
        out.push((
            format!("{method} {template}"),
            status,
            code,
            body.to_string(),
        ));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_a_reaches_nothing_of_tenant_b_and_cannot_tell_what_exists() {
    let node = server::start(&config(None)).await.unwrap();
    let http = Http::new(&node);
    let a = tenant_with_key(&http, "a", json!({})).await;
    let b = tenant_with_key(&http, "b", json!({})).await;
    let held = fill_b(&node, &http, &b).await;
    let b_namespaces = ["b/default", "b/carts"];
    let before = digest(&node, &b_namespaces).await;
    assert_eq!(before["b/carts"].len(), 1);
    assert_eq!(before["b/default"].len(), 2);

    // Lists show A only its own: B's names, ids and values appear nowhere.
    for list in ["/v1/namespaces", "/v1/plugins", "/v1/api-keys"] {
        let (status, body) = http.get(&a, list).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        let text = body.to_string();
        for b_thing in [
            "carts",
            &held.plugin_id,
            &held.key_id,
            "b-reader",
            "b-lru",
            "\"b/",
        ] {
            assert!(
                !text.contains(b_thing),
                "{list} shows B's {b_thing}: {text}"
            );
        }
    }
    let (_, mine) = http.get(&a, "/v1/namespaces").await;
    let names: Vec<_> = mine["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].clone())
        .collect();
    assert_eq!(
        names,
        [json!("default")],
        "each tenant has its own default, and only it"
    );

    // The matrix: B's real names, then names that exist nowhere, through every operation.
    let ops = operations(&http).await;
    let b_names: BTreeMap<&str, String> = [
        ("ns", "carts".to_string()),
        ("key", "b-cart-1".to_string()),
        ("id", held.plugin_id.clone()),
        ("name", "b".to_string()),
        ("module", "sieve".to_string()),
    ]
    .into();
    let spelled_out: BTreeMap<&str, String> = [
        ("ns", "b%2Fcarts".to_string()),
        ("key", "b-cart-1".to_string()),
        ("id", held.key_id.clone()),
        ("name", "b".to_string()),
        ("module", "sieve".to_string()),
    ]
    .into();
    let fresh = |ns: &str, id: &str| -> BTreeMap<&'static str, String> {
        [
            ("ns", ns.to_string()),
            ("key", "never-written".to_string()),
            ("id", id.to_string()),
            ("name", "zz-nobody".to_string()),
            ("module", "wtinylfu".to_string()),
        ]
        .into()
    };
    let with_b = run_matrix(&http, &a, &ops, &b_names).await;
    let with_fresh = run_matrix(&http, &a, &ops, &fresh("nowhere", &"0".repeat(64))).await;
    let with_spelled = run_matrix(&http, &a, &ops, &spelled_out).await;
    let with_fresh_spelled =
        run_matrix(&http, &a, &ops, &fresh("zz%2Fnowhere", "0123456789ab")).await;
    let mut attempted = 0;
    let mut refused = 0;
    for (probe, control) in with_b
        .iter()
        .zip(&with_fresh)
        .chain(with_spelled.iter().zip(&with_fresh_spelled))
    {
        attempted += 1;
        refused += usize::from(!probe.1.is_success());
        assert_eq!(
            (probe.1, &probe.2),
            (control.1, &control.2),
            "{}: B's name answers differently from a name that exists nowhere ({} vs {})",
            probe.0,
            probe.3,
            control.3
        );
        assert!(
            !probe.3.contains(B_SECRET),
            "{} leaked B's value: {}",
            probe.0,
            probe.3
        );
    }
    let after = digest(&node, &b_namespaces).await;
    assert_eq!(before, after, "B's data is exactly as it was");
    eprintln!(
        "REST cross-tenant matrix: {attempted} attempted, {refused} refused, 0 leaked \
         (the rest acted on A's own namespaces of the same names)"
    );
    assert!(attempted >= 2 * ops.len());

    // Uploading the bytes B uploaded answers exactly as a first upload: 201, created, under the
    // name A gives, with nothing of B's upload in it.
    let (status, _, first) = http
        .send(
            &a,
            Method::POST,
            "/v1/plugins?name=a-copy",
            Some(Body::Raw(wasm::LRU.to_vec())),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(
        (&first["created"], &first["name"], &first["description"]),
        (&json!(true), &json!("a-copy"), &json!(""))
    );
    assert_eq!(
        first["id"].as_str(),
        Some(held.plugin_id.as_str()),
        "the same content address"
    );
    let (_, b_view) = http
        .get(&b, &format!("/v1/plugins/{}", held.plugin_id))
        .await;
    assert_eq!(b_view["name"], "b-lru", "B keeps its own name for it");

    // RESP: the same names, the same answers as names that exist nowhere.
    let mut con_a = resp(&node, &a).await;
    let probes: Vec<Vec<&str>> = vec![
        vec!["SELECT", "carts"],
        vec!["SELECT", "b/carts"],
        vec!["GET", "b-only-key"],
        vec!["EXISTS", "b-only-key"],
        vec!["TTL", "b-only-key"],
        vec!["TYPE", "b-only-key"],
        vec!["STRLEN", "b-only-key"],
        vec!["GETRANGE", "b-only-key", "0", "-1"],
        vec!["MGET", "b-only-key", "shared-name"],
        vec!["DEL", "b-only-key"],
        vec!["GETDEL", "b-only-key"],
        vec!["RENAME", "b-only-key", "mine"],
        vec!["COPY", "b-only-key", "mine"],
        vec!["MOVE", "b-only-key", "1"],
        vec!["OBJECT", "ENCODING", "b-only-key"],
        vec!["PUBSUB", "NUMSUB", "b-news"],
        vec!["CONFIG", "GET", "maxmemory"],
    ];
    let mut resp_attempted = 0;
    for probe in &probes {
        let answer = |args: Vec<String>| {
            let mut con = con_a.clone();
            async move {
                let mut cmd = redis::cmd(&args[0]);
                for a in &args[1..] {
                    cmd.arg(a);
                }
                match cmd.query_async::<redis::Value>(&mut con).await {
                    Ok(v) => format!("{v:?}"),
                    Err(e) => format!("error {e}"),
                }
            }
        };
        let real = answer(probe.iter().map(|s| s.to_string()).collect()).await;
        let control: Vec<String> = probe
            .iter()
            .map(|s| match *s {
                "carts" => "nowhere".to_string(),
                "b/carts" => "zz/nowhere".to_string(),
                "b-only-key" => "never-written".to_string(),
                "b-news" => "zz-news".to_string(),
                other => other.to_string(),
            })
            .collect();
        let control = answer(control).await;
        resp_attempted += 1;
        assert_eq!(
            real.replace("carts", "X")
                .replace("b-only-key", "X")
                .replace("b-news", "X"),
            control
                .replace("nowhere", "X")
                .replace("never-written", "X")
                .replace("zz-news", "X")
                .replace("zz/X", "b/X"),
            "{probe:?} answers differently for B's name"
        );
        assert!(
            !real.contains(B_SECRET),
            "{probe:?} leaked B's value: {real}"
        );
    }
    // A's FLUSHALL, KEYS and INFO keyspace reach A's namespaces only.
    let () = con_a.set("shared-name", "a's value").await.unwrap();
    let got: String = con_a.get("shared-name").await.unwrap();
    assert_eq!(got, "a's value", "the same key name in A's own default");
    let keyspace: String = redis::cmd("INFO")
        .arg("keyspace")
        .query_async(&mut con_a)
        .await
        .unwrap();
    assert!(
        !keyspace.contains("carts") && !keyspace.contains("b/"),
        "{keyspace}"
    );
    let () = redis::cmd("FLUSHALL")
        .query_async(&mut con_a)
        .await
        .unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut con_a)
        .await
        .unwrap();
    assert!(keys.is_empty());
    assert_eq!(
        before,
        digest(&node, &b_namespaces).await,
        "A's FLUSHALL left B intact"
    );
    // Tenant-scoped node commands.
    let err = redis::cmd("SAVE")
        .query_async::<()>(&mut con_a)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("no permissions to run the 'save' command"),
        "{err}"
    );
    eprintln!(
        "RESP cross-tenant probes: {resp_attempted} attempted, 0 leaked; FLUSHALL left B intact"
    );
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pub_sub_and_keyspace_events_stay_within_a_tenant() {
    let node = server::start(&config(None)).await.unwrap();
    let http = Http::new(&node);
    let a = tenant_with_key(&http, "a", json!({})).await;
    let b = tenant_with_key(&http, "b", json!({})).await;
    let mut sub_b = redis::Client::open(format!("redis://default:{b}@{}/", node.resp_addr))
        .unwrap()
        .get_async_pubsub()
        .await
        .unwrap();
    sub_b.subscribe("news").await.unwrap();
    sub_b.psubscribe("*").await.unwrap();
    let mut con_a = resp(&node, &a).await;
    let mut con_b = resp(&node, &b).await;
    let heard_by: i64 = con_a.publish("news", "from a").await.unwrap();
    assert_eq!(
        heard_by, 0,
        "B's subscriber on the same channel name hears nothing from A"
    );
    let channels: Vec<String> = redis::cmd("PUBSUB")
        .arg("CHANNELS")
        .query_async(&mut con_a)
        .await
        .unwrap();
    assert!(
        channels.is_empty(),
        "A sees no channel of B's: {channels:?}"
    );
    let numpat: i64 = redis::cmd("PUBSUB")
        .arg("NUMPAT")
        .query_async(&mut con_a)
        .await
        .unwrap();
    assert_eq!(numpat, 0);
    let heard_by: i64 = con_b.publish("news", "from b").await.unwrap();
    assert_eq!(heard_by, 2, "B's own subscription and pattern hear B");
    use futures_util::StreamExt;
    let mut messages = sub_b.on_message();
    let first = tokio::time::timeout(Duration::from_secs(5), messages.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        first.get_channel_name(),
        "news",
        "the channel as B named it"
    );
    assert_eq!(first.get_payload::<String>().unwrap(), "from b");
    let second = tokio::time::timeout(Duration::from_secs(5), messages.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second.get_channel_name(), "news");
    assert_eq!(second.get_pattern::<String>().unwrap(), "*");
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_refuse_what_does_not_fit_and_say_so() {
    let node = server::start(&config(None)).await.unwrap();
    let http = Http::new(&node);
    let quotas = json!({
        "max_namespaces": 2,
        "max_capacity_bytes": 96 * 1024 * 1024,
        "max_plugins": 1,
        "max_connections": 2,
    });
    let a = tenant_with_key(&http, "a", quotas).await;
    let (_, tenant) = http.get(OPERATOR_KEY, "/v1/tenants/a").await;
    assert_eq!(tenant["usage"]["namespaces"], 1, "{tenant}");
    let default_capacity = tenant["usage"]["capacity_bytes"].as_u64().unwrap();
    assert_eq!(
        default_capacity,
        96 * 1024 * 1024,
        "the default is sized to fit the quota"
    );
    // Room for a second namespace only after the default shrinks.
    let (status, err) = http
        .json(
            &a,
            Method::POST,
            "/v1/namespaces",
            json!({"name": "two", "config": {"capacity_bytes": 8388608}}),
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{err}");
    assert_eq!(err["error"]["code"], "quota_exceeded");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("max_capacity_bytes"),
        "{err}"
    );
    let (status, _) = http
        .json(
            &a,
            Method::PUT,
            "/v1/namespaces/default",
            json!({"capacity_bytes": 33554432}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = http
        .send(
            &a,
            Method::POST,
            "/v1/namespaces",
            Some(Body::Json(
                json!({"name": "two", "config": {"capacity_bytes": 8388608}}),
            )),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, headers, err) = http
        .send(
            &a,
            Method::PUT,
            "/v1/namespaces/three",
            Some(Body::Json(json!({"capacity_bytes": 8388608}))),
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{err}");
    assert!(headers.contains_key("retry-after"));
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("max_namespaces"),
        "{err}"
    );
    // One plugin, then no more.
    let (status, _, _) = http
        .send(
            &a,
            Method::POST,
            "/v1/plugins",
            Some(Body::Raw(wasm::LRU.to_vec())),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _, err) = http
        .send(
            &a,
            Method::POST,
            "/v1/plugins",
            Some(Body::Raw(wasm::S3FIFO.to_vec())),
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{err}");
    let (status, _, again) = http
        .send(
            &a,
            Method::POST,
            "/v1/plugins",
            Some(Body::Raw(wasm::LRU.to_vec())),
        )
        .await;
    assert_eq!(
        (status, &again["created"]),
        (StatusCode::OK, &json!(false)),
        "its own again"
    );
    // RESP: creating db<n> counts too; a third connection is one too many.
    let mut con = resp(&node, &a).await;
    let err = redis::cmd("SELECT")
        .arg(5)
        .query_async::<()>(&mut con)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("quota exceeded"), "{err}");
    let _second = resp(&node, &a).await;
    // The redis crate reports any AUTH refusal as "authentication failed"; the raw answer says why.
    let third = raw(&node, format!("AUTH default {a}\r\n").as_bytes()).await;
    assert_eq!(third, "-ERR max number of clients reached\r\n");
    let (_, tenant) = http.get(OPERATOR_KEY, "/v1/tenants/a").await;
    assert_eq!(tenant["usage"]["connections"], 2, "{tenant}");
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_rate_limit_admits_its_quota_and_leaves_others_alone() {
    let node = server::start(&config(None)).await.unwrap();
    let http = Http::new(&node);
    let a = tenant_with_key(
        &http,
        "a",
        json!({"ops_per_second": 1000, "ops_burst": 100}),
    )
    .await;
    let b = tenant_with_key(&http, "b", json!({})).await;
    let mut con_a = resp(&node, &a).await;
    let mut con_b = resp(&node, &b).await;
    // B alone first, for the comparison the note reports (no timing threshold here).
    let mut alone = Vec::new();
    for _ in 0..2000 {
        let t = Instant::now();
        let _: Option<String> = con_b.get("k").await.unwrap();
        alone.push(t.elapsed());
    }
    let hammer = tokio::spawn(async move {
        let mut admitted = 0;
        let started = Instant::now();
        for _ in 0..5000 {
            let r: redis::RedisResult<Option<String>> = con_a.get("k").await;
            match r {
                Ok(_) => admitted += 1,
                Err(e) => assert!(e.to_string().contains("rate limit exceeded"), "{e}"),
            }
        }
        (admitted, started.elapsed())
    });
    let mut b_latencies = Vec::new();
    let mut b_admitted = 0;
    while !hammer.is_finished() && b_latencies.len() < 5000 {
        let t = Instant::now();
        let r: redis::RedisResult<Option<String>> = con_b.get("k").await;
        b_latencies.push(t.elapsed());
        b_admitted += usize::from(r.is_ok());
    }
    let (admitted, elapsed) = hammer.await.unwrap();
    // The model: the burst, plus the rate over the time the 5 000 requests took.
    let expected = 100.0 + 1000.0 * elapsed.as_secs_f64();
    eprintln!(
        "tenant rate limit: {admitted} of 5000 admitted in {:.2} s (model {expected:.0}); \
         other tenant: {b_admitted} of {} admitted, p99 {:?} (alone before: p99 {:?})",
        elapsed.as_secs_f64(),
        b_latencies.len(),
        percentile(&mut b_latencies, 0.99),
        percentile(&mut alone, 0.99)
    );
    assert!(
        (admitted as f64 - expected).abs() <= expected * 0.1 + 5.0,
        "{admitted} admitted, model {expected:.0}"
    );
    assert_eq!(
        b_admitted,
        b_latencies.len(),
        "the other tenant is never limited"
    );
    node.shutdown().await.unwrap();
}

fn percentile(samples: &mut [Duration], q: f64) -> Duration {
    samples.sort();
    samples
        .get(((samples.len() as f64 * q) as usize).min(samples.len().saturating_sub(1)))
        .copied()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_origin_may_not_reach_private_addresses_unless_allowed() {
    let node = server::start(&config(None)).await.unwrap();
    let http = Http::new(&node);
    let a = tenant_with_key(&http, "a", json!({})).await;
    for url in [
        "http://127.0.0.1:9/{key}",
        "http://169.254.169.254/latest/{key}",
        "http://[::1]:9/{key}",
        "http://localhost:9/{key}",
    ] {
        let (status, err) = http
            .json(
                &a,
                Method::PUT,
                "/v1/namespaces/default",
                json!({"origin": {"url": url}}),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{url}: {err}");
        assert_eq!(err["error"]["code"], "origin_not_allowed", "{url}");
    }
    // The operator allows it for this tenant.
    let (status, _) = http
        .json(
            OPERATOR_KEY,
            Method::PUT,
            "/v1/tenants/a",
            json!({"quotas": {"allow_private_origins": true}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = http
        .json(
            &a,
            Method::PUT,
            "/v1/namespaces/default",
            json!({"origin": {"url": "http://127.0.0.1:9/{key}"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Operator routes stay the operator's.
    for path in ["/v1/tenants", "/v1/node"] {
        let (status, body) = http.get(&a, path).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
        assert_eq!(body["error"]["code"], "operator_only");
    }
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_survive_a_restart_and_deleting_one_ends_its_rights() {
    let dir = tempfile::tempdir().unwrap();
    let node = server::start(&config(Some(dir.path()))).await.unwrap();
    let http = Http::new(&node);
    let a = tenant_with_key(&http, "a", json!({"max_namespaces": 4})).await;
    let (status, _) = http
        .json(
            &a,
            Method::POST,
            "/v1/namespaces",
            json!({"name": "sessions"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _, plugin) = http
        .send(
            &a,
            Method::POST,
            "/v1/plugins?name=mine",
            Some(Body::Raw(wasm::LRU.to_vec())),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    node.shutdown().await.unwrap();

    let node = server::start(&config(Some(dir.path()))).await.unwrap();
    let http = Http::new(&node);
    let (status, list) = http.get(&a, "/v1/namespaces").await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the tenant's key still works: {list}"
    );
    let names: Vec<_> = list["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["default", "sessions"]);
    let (_, tenant) = http.get(OPERATOR_KEY, "/v1/tenants/a").await;
    assert_eq!(tenant["quotas"]["max_namespaces"], 4, "{tenant}");
    let (status, mine) = http
        .get(
            &a,
            &format!("/v1/plugins/{}", plugin["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        mine["name"], "mine",
        "the plugin is still the tenant's, under its name"
    );

    let mut con = resp(&node, &a).await;
    let () = con.set("k", "v").await.unwrap();
    let (status, _, _) = http
        .send(OPERATOR_KEY, Method::DELETE, "/v1/tenants/a", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let err = con.get::<_, Option<String>>("k").await.unwrap_err();
    assert!(
        err.to_string().contains("NOAUTH"),
        "an open session loses its rights: {err}"
    );
    let (status, _) = http.get(&a, "/v1/namespaces").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "its keys are revoked");
    let (_, all) = http.get(OPERATOR_KEY, "/v1/namespaces").await;
    let left: Vec<_> = all["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(left, ["default"], "its namespaces are gone");
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acl_commands_see_and_revoke_only_the_callers_own_keys() {
    let node = server::start(&config(None)).await.unwrap();
    let http = Http::new(&node);
    let a = tenant_with_key(&http, "a", json!({})).await;
    let b = tenant_with_key(&http, "b", json!({})).await;
    let a_reader = tenant_key(&http, "a", "read").await;
    let mut con = resp(&node, &a).await;
    let users: Vec<String> = redis::cmd("ACL")
        .arg("USERS")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(users, ["a-admin", "a-read", "default"], "A's keys only");
    let list: Vec<String> = redis::cmd("ACL")
        .arg("LIST")
        .query_async(&mut con)
        .await
        .unwrap();
    assert!(
        list.contains(&"user a-read on sanitize-payload ~* &* -@all +@read".to_string()),
        "{list:?}"
    );
    assert!(!list.iter().any(|l| l.contains("b-admin")), "{list:?}");
    let theirs: redis::Value = redis::cmd("ACL")
        .arg("GETUSER")
        .arg("b-admin")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(
        theirs,
        redis::Value::Nil,
        "B's user answers as a missing one"
    );
    let missing: redis::Value = redis::cmd("ACL")
        .arg("GETUSER")
        .arg("nobody")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(missing, redis::Value::Nil);
    let gone: i64 = redis::cmd("ACL")
        .arg("DELUSER")
        .arg("b-admin")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(gone, 0, "B's key is not A's to revoke");
    let mut con_b = resp(&node, &b).await;
    let who: String = redis::cmd("ACL")
        .arg("WHOAMI")
        .query_async(&mut con_b)
        .await
        .unwrap();
    assert_eq!(who, "b-admin", "B's key still works");
    let pass: String = redis::cmd("ACL")
        .arg("GENPASS")
        .arg(128)
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(pass.len(), 32);
    assert!(pass.bytes().all(|c| c.is_ascii_hexdigit()));
    let reads: Vec<String> = redis::cmd("ACL")
        .arg("CAT")
        .arg("read")
        .query_async(&mut con)
        .await
        .unwrap();
    assert!(reads.contains(&"get".to_string()) && !reads.contains(&"set".to_string()));
    // A reader may not list users; an admin revokes its tenant's key by name.
    let mut reader = resp(&node, &a_reader).await;
    let err = redis::cmd("ACL")
        .arg("USERS")
        .query_async::<Vec<String>>(&mut reader)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no permissions"), "{err}");
    let gone: i64 = redis::cmd("ACL")
        .arg("DELUSER")
        .arg("a-read")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(gone, 1);
    let err = reader.get::<_, Option<String>>("k").await.unwrap_err();
    assert!(
        err.to_string().contains("NOAUTH"),
        "the revoked key's session ends: {err}"
    );
    node.shutdown().await.unwrap();
}

/// Read from `s` until what arrived contains `needle` (or 5 s pass); everything read.
async fn read_until(s: &mut tokio::net::TcpStream, got: &mut Vec<u8>, needle: &[u8]) {
    use tokio::io::AsyncReadExt;
    let mut buf = vec![0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(5);
    while !got.windows(needle.len()).any(|w| w == needle) {
        let left = deadline.saturating_duration_since(Instant::now());
        let n = tokio::time::timeout(left, s.read(&mut buf))
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "no {:?} in {:?}",
                    String::from_utf8_lossy(needle),
                    String::from_utf8_lossy(got)
                )
            })
            .unwrap();
        assert!(n > 0, "closed");
        got.extend_from_slice(&buf[..n]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_side_caching_and_config_stay_within_a_tenant() {
    use tokio::io::AsyncWriteExt;
    let node = server::start(&config(None)).await.unwrap();
    let http = Http::new(&node);
    let a = tenant_with_key(&http, "a", json!({})).await;
    let b = tenant_with_key(&http, "b", json!({})).await;
    // A tracks in BCAST mode (every key), over RESP3.
    let mut tracker = tokio::net::TcpStream::connect(node.resp_addr)
        .await
        .unwrap();
    let mut got = Vec::new();
    tracker
        .write_all(format!("HELLO 3 AUTH default {a}\r\nCLIENT TRACKING ON BCAST\r\n").as_bytes())
        .await
        .unwrap();
    read_until(&mut tracker, &mut got, b"+OK\r\n").await;
    got.clear();
    // B writes, then A writes: invalidations arrive in order, so the first one A hears must be
    // its own key — B's would have come first had it been sent.
    let mut con_b = resp(&node, &b).await;
    let () = con_b.set("b-secret-key", "x").await.unwrap();
    let () = redis::cmd("FLUSHALL")
        .query_async(&mut con_b)
        .await
        .unwrap();
    let mut con_a = resp(&node, &a).await;
    let () = con_a.set("a-own-key", "x").await.unwrap();
    read_until(&mut tracker, &mut got, b"a-own-key").await;
    let heard = String::from_utf8_lossy(&got).to_string();
    assert!(
        heard.starts_with(">2\r\n$10\r\ninvalidate\r\n"),
        "{heard:?}"
    );
    assert!(
        !heard.contains("b-secret-key"),
        "A heard of B's key: {heard:?}"
    );
    assert!(
        !heard.contains("_\r\n"),
        "A heard B's FLUSHALL (a null invalidation): {heard:?}"
    );

    // CONFIG SET naming B's plugin answers as a version that does not exist.
    let (status, _, plugin) = http
        .send(
            &b,
            Method::POST,
            "/v1/plugins?name=b-lru",
            Some(Body::Raw(wasm::LRU.to_vec())),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let b_id = plugin["id"].as_str().unwrap();
    let set = |id: String| {
        let mut con = con_a.clone();
        async move {
            redis::cmd("CONFIG")
                .arg("SET")
                .arg("maxmemory-policy")
                .arg(format!("plugin:{id}"))
                .query_async::<()>(&mut con)
                .await
                .unwrap_err()
                .to_string()
        }
    };
    let theirs = set(b_id.to_string()).await;
    let nobodys = set("0".repeat(64)).await;
    assert_eq!(
        theirs.replace(b_id, "X"),
        nobodys.replace(&"0".repeat(64), "X")
    );
    let theirs_prefix = set(b_id[..8].to_string()).await;
    assert_eq!(
        theirs_prefix.replace(&b_id[..8], "X"),
        nobodys.replace(&"0".repeat(64), "X")
    );
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_list_and_kill_see_only_the_callers_tenant() {
    let node = server::start(&config(None)).await.unwrap();
    let http = Http::new(&node);
    let a = tenant_with_key(&http, "a", json!({})).await;
    let b = tenant_with_key(&http, "b", json!({})).await;
    let a_reader = tenant_key(&http, "a", "read").await;
    let mut con_a = resp(&node, &a).await;
    let mut con_b = resp(&node, &b).await;
    let mut operator = resp(&node, OPERATOR_KEY).await;
    let b_id: i64 = redis::cmd("CLIENT")
        .arg("ID")
        .query_async(&mut con_b)
        .await
        .unwrap();

    let users = |list: &str| -> Vec<String> {
        list.lines()
            .filter_map(|l| l.split(' ').find_map(|f| f.strip_prefix("user=")))
            .map(str::to_string)
            .collect()
    };
    let seen_by_a: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(&mut con_a)
        .await
        .unwrap();
    assert_eq!(users(&seen_by_a), ["a-admin"], "{seen_by_a}");
    let seen_by_operator: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(&mut operator)
        .await
        .unwrap();
    let mut all = users(&seen_by_operator);
    all.sort();
    assert_eq!(
        all,
        ["a-admin", "b-admin", "operator"],
        "{seen_by_operator}"
    );

    // A cannot end B's connection, by id or by user: nothing matches, as if B were not there.
    for filter in [["ID", &b_id.to_string()], ["USER", "b-admin"]] {
        let killed: i64 = redis::cmd("CLIENT")
            .arg("KILL")
            .arg(&filter)
            .query_async(&mut con_a)
            .await
            .unwrap();
        assert_eq!(killed, 0, "{filter:?}");
    }
    let pong: String = redis::cmd("PING").query_async(&mut con_b).await.unwrap();
    assert_eq!(pong, "PONG");

    // Listing and killing need the admin scope.
    let mut reader = resp(&node, &a_reader).await;
    let err = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async::<String>(&mut reader)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("NOPERM"), "{err}");

    // The operator can.
    let killed: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("ID")
        .arg(b_id)
        .query_async(&mut operator)
        .await
        .unwrap();
    assert_eq!(killed, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_keeps_its_own_alert_rules_and_sees_only_their_alerts() {
    let node = server::start(&config(None)).await.unwrap();
    let http = Http::new(&node);
    let a = tenant_with_key(&http, "a", json!({"max_alert_rules": 2})).await;
    let b = tenant_with_key(&http, "b", json!({})).await;
    let full = json!({"name": "full", "namespace": "default",
        "condition": {"kind": "memory_above", "share": 0.0}, "window_secs": 1, "cooldown_secs": 0});
    let (status, made) = http
        .json(&a, Method::POST, "/v1/alerts/rules", full.clone())
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    assert_eq!(
        (&made["name"], &made["namespace"]),
        (&json!("full"), &json!("default"))
    );
    // B may use the same name: nothing tells it A has one.
    let (status, made) = http
        .json(&b, Method::POST, "/v1/alerts/rules", full.clone())
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");

    let (_, mine) = http.get(&a, "/v1/alerts/rules").await;
    assert_eq!(mine["rules"].as_array().unwrap().len(), 1, "{mine}");
    assert_eq!(mine["rules"][0]["name"], "full");
    let (_, all) = http.get(OPERATOR_KEY, "/v1/alerts/rules").await;
    let names: Vec<_> = all["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["name"].clone(), r["namespace"].clone()))
        .collect();
    assert_eq!(
        names,
        [
            (json!("a/full"), json!("a/default")),
            (json!("b/full"), json!("b/default"))
        ]
    );

    // What A may not do, each answered as for a rule or namespace that does not exist.
    let refusals = [
        (
            Method::DELETE,
            "/v1/alerts/rules/b%2Ffull",
            None,
            StatusCode::NOT_FOUND,
            "alert_rule_not_found",
        ),
        (
            Method::POST,
            "/v1/alerts/rules",
            Some(
                json!({"name": "x", "namespace": "b/default", "condition": {"kind": "memory_above", "share": 0.5}}),
            ),
            StatusCode::BAD_REQUEST,
            "namespace_not_found",
        ),
        (
            Method::POST,
            "/v1/alerts/rules",
            Some(json!({"name": "down", "condition": {"kind": "member_down"}})),
            StatusCode::BAD_REQUEST,
            "invalid_alert_rule",
        ),
        (
            Method::POST,
            "/v1/alerts/rules",
            Some(
                json!({"name": "hook", "webhook": "http://127.0.0.1:9/x", "condition": {"kind": "memory_above", "share": 0.5}}),
            ),
            StatusCode::BAD_REQUEST,
            "webhook_not_allowed",
        ),
    ];
    for (method, path, body, want, code) in refusals {
        let (method_again, body_again) = (method.clone(), body.clone());
        let (status, _, answer) = http.send(&a, method, path, body.map(Body::Json)).await;
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (want, Some(code)),
            "{path}: {answer}"
        );
        // Only the name A gave is echoed: answered as B's name would be were it nobody's.
        let echoed = answer.to_string().replace("b/", "zz/");
        let control_path = path.replace("b%2F", "zz%2F");
        let control_body =
            body_again.map(|b| serde_json::from_str(&b.to_string().replace("b/", "zz/")).unwrap());
        let (_, _, control) = http
            .send(
                &a,
                method_again,
                &control_path,
                control_body.map(Body::Json),
            )
            .await;
        assert_eq!(echoed, control.to_string());
    }
    let second = json!({"name": "second", "condition": {"kind": "memory_above", "share": 0.9}});
    let (status, _) = http
        .json(&a, Method::POST, "/v1/alerts/rules", second)
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let third = json!({"name": "third", "condition": {"kind": "memory_above", "share": 0.9}});
    let (status, over) = http.json(&a, Method::POST, "/v1/alerts/rules", third).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{over}");
    assert_eq!(over["error"]["code"], "quota_exceeded");

    // A's namespace holds something, B's does not: only A's rule fires, and A sees it under
    // its own names; B sees no alert at all.
    let (status, _, _) = http
        .send(
            &a,
            Method::PUT,
            "/v1/namespaces/default/keys/k",
            Some(Body::Raw(b"v".to_vec())),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let deadline = Instant::now() + Duration::from_secs(20);
    let fired = loop {
        let (_, alerts) = http.get(&a, "/v1/alerts").await;
        if let Some(first) = alerts["active"].as_array().and_then(|a| a.first()) {
            break first.clone();
        }
        assert!(Instant::now() < deadline, "A's rule never fired: {alerts}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        (&fired["rule"], &fired["namespace"]),
        (&json!("full"), &json!("default"))
    );
    let (_, theirs) = http.get(&b, "/v1/alerts").await;
    assert_eq!(theirs["active"], json!([]), "{theirs}");
    assert_eq!(
        theirs["notifiers"],
        json!([]),
        "the node's notifiers are the operator's"
    );
    let (_, everything) = http.get(OPERATOR_KEY, "/v1/alerts").await;
    assert!(
        everything["active"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["rule"] == "a/full" && x["namespace"] == "a/default"),
        "{everything}"
    );

    // Deleting the tenant deletes its rules.
    let (status, _, _) = http
        .send(OPERATOR_KEY, Method::DELETE, "/v1/tenants/a", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, left) = http.get(OPERATOR_KEY, "/v1/alerts/rules").await;
    let left: Vec<_> = left["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].clone())
        .collect();
    assert_eq!(left, [json!("b/full")]);
    node.shutdown().await.unwrap();
}
